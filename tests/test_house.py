"""The house's rules, read from the source: no module reaches into another's private names, and
only the runs access point (``app/store/runs.py``) assigns an export run's state."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "exchange", "crypto", "channels", "tests", "bench", "migrations")


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_imports_another_modules_private_name() -> None:
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                hits = [a.name for a in node.names if _private(a.name)]
                hits += [part for part in module.split(".") if _private(part)]
                if hits and node.level == 0 and module != "__future__":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module} {hits}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}")
    assert found == []


def _assigns_state(node: ast.AST) -> bool:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        targets = [node.target]
    flat: list[ast.expr] = []
    for target in targets:
        flat.extend(target.elts if isinstance(target, ast.Tuple) else [target])
    return any(isinstance(t, ast.Attribute) and t.attr == "state" for t in flat)


def _sets_state_by_keyword(node: ast.AST) -> bool:
    """``ExportRun(..., state=...)``: a run created in a state, outside the access point."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "ExportRun"
        and any(k.arg == "state" for k in node.keywords)
    )


def test_only_the_runs_access_point_assigns_a_runs_state() -> None:
    allowed = {ROOT / "app" / "store" / "runs.py"}
    # Other tables have a state column of their own (recipient changes, agreements later).
    own_state = {ROOT / "app" / "flows" / "recipient_changes.py"}
    found = []
    for path in _sources():
        if path in allowed or path.is_relative_to(ROOT / "tests"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (_assigns_state(node) and path not in own_state) or _sets_state_by_keyword(node):
                found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    assert found == []


def _queries_runs(node: ast.AST) -> bool:
    """``select(ExportRun...)`` or ``session.get(ExportRun, ...)``: reading runs by hand."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    first = node.args[0]
    names_runs = (isinstance(first, ast.Name) and first.id == "ExportRun") or (
        isinstance(first, ast.Attribute)
        and isinstance(first.value, ast.Name)
        and first.value.id == "ExportRun"
    )
    func = node.func
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return names_runs and called in ("select", "get")


def test_only_the_store_reads_export_runs() -> None:
    """Runs are loaded and listed through ``app.store.runs`` (and the store's own modules)."""
    found = [
        f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        for path in _sources()
        if path.is_relative_to(ROOT / "app") and not path.is_relative_to(ROOT / "app" / "store")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if _queries_runs(node)
    ]
    assert found == []


# The error classes a person reads (KbxError and its direct kin): each raise gives the Dutch
# message too, so the Dutch and the English answer carry the same facts.
_TWO_LANGUAGE_ERRORS = {"KbxError", "InvalidInput", "NotFound", "Conflict", "KeySmsUnavailable"}


def _english_only(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return (
        name in _TWO_LANGUAGE_ERRORS
        and len(node.args) < 3
        and "message_nl" not in {k.arg for k in node.keywords}
    )


def test_every_error_says_the_same_in_dutch() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        for path in _sources()
        if path.is_relative_to(ROOT / "app")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if _english_only(node)
    ]
    assert found == []


def test_the_checks_themselves_would_catch_a_breach() -> None:
    """The two walkers above find what they look for (a check that can never fail proves
    nothing)."""
    tree = ast.parse(
        "from app.flows.exports import _load\nrun.state = 'x'\nExportRun(state='y')\n"
        "session.get(ExportRun, 1)\nselect(ExportRun.id)\nConflict('x.y', 'only English')\n"
    )
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert any(_private(a.name) for n in imports for a in n.names)
    assert any(_assigns_state(n) for n in ast.walk(tree))
    assert any(_sets_state_by_keyword(n) for n in ast.walk(tree))
    assert sum(_queries_runs(n) for n in ast.walk(tree)) == 2
    assert any(_english_only(n) for n in ast.walk(tree))
