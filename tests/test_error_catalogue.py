"""The one error catalogue (``app.error_catalogue.ERRORS``: the API and the command line answer
with it) against the source: every code raised anywhere in ``app/`` is in it, with the status its
error class answers, and every code in it is raised somewhere or answered by the API's own
handlers. Read from the source with ``ast``, so that a code on a path no test walks is held to
the catalogue too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.error_catalogue import ERRORS
from app.flows.agreements import AGREEMENT_KINDS, TRANSITION_CODES
from exchange.recipient_changes import ChangeKind

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"

# The root of the hierarchy; every class of app/ that derives from it is found below.
ROOT_ERROR = "KbxError"

# Codes built at run time, and every code they can be.
DYNAMIC = {
    # Agreements and their transitions are checked by their own flow (app.flows.agreements).
    "change.invalid_{}": {
        f"change.invalid_{kind.value}" for kind in ChangeKind if kind not in AGREEMENT_KINDS
    },
    # A transition the lifecycle refuses (exchange.agreements.check_transition).
    "agreement.{}": set(TRANSITION_CODES),
}

# Answered by the API's own handlers (app/api/errors.py), not raised as an error.
HANDLER_CODES = {
    "request.invalid",
    "internal.error",
    "http.bad_request",
    "http.not_found",
    "http.method_not_allowed",
}


@dataclass(frozen=True)
class ErrorClass:
    name: str
    bases: tuple[str, ...]
    status: int | None  # its own class-level ``status = N``
    params: tuple[str, ...] | None  # its own ``__init__``'s parameters after self
    sets_status: bool  # its ``__init__`` assigns ``self.status`` (from an argument or a table)


@dataclass(frozen=True)
class Raised:
    code: str
    status: int | None  # None: taken from the catalogue itself (ApiError)
    where: str


def _sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _classes(root: Path) -> dict[str, list[ErrorClass]]:
    """Every class under ``root`` by name (each definition), with what decides its code and
    status."""
    found: dict[str, list[ErrorClass]] = {}
    for path in _sources(root):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            status = None
            params = None
            sets_status = False
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and [_name(t) for t in item.targets] == ["status"]
                    and isinstance(item.value, ast.Constant)
                    and isinstance(item.value.value, int)
                ):
                    status = item.value.value
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    params = tuple(a.arg for a in item.args.args[1:])
                    sets_status = any(
                        isinstance(n, ast.Assign)
                        and any(
                            isinstance(t, ast.Attribute)
                            and t.attr == "status"
                            and _name(t.value) == "self"
                            for t in n.targets
                        )
                        for n in ast.walk(item)
                    )
            bases = tuple(b for b in (_name(base) for base in node.bases) if b is not None)
            cls = ErrorClass(node.name, bases, status, params, sets_status)
            found.setdefault(node.name, []).append(cls)
    return found


def _family(classes: dict[str, list[ErrorClass]]) -> dict[str, ErrorClass]:
    """The classes that derive from ``KbxError`` (and it); each must be defined once, or the
    walk would not know which one a name means."""
    family = {ROOT_ERROR}
    grew = True
    while grew:
        grew = False
        for name, definitions in classes.items():
            if name not in family and any(b in family for c in definitions for b in c.bases):
                family.add(name)
                grew = True
    twice = sorted(name for name in family if len(classes[name]) != 1)
    assert twice == [], f"error classes defined more than once: {twice}"
    return {name: classes[name][0] for name in family}


def _mro(family: dict[str, ErrorClass], name: str) -> Iterator[ErrorClass]:
    while name in family:
        cls = family[name]
        yield cls
        parents = [b for b in cls.bases if b in family]
        if not parents:
            return
        name = parents[0]


def _init_params(family: dict[str, ErrorClass], name: str) -> tuple[str, ...]:
    return next(c.params for c in _mro(family, name) if c.params is not None)


def _static_status(family: dict[str, ErrorClass], name: str) -> int | None:
    """The status every instance of ``name`` answers, or None when an ``__init__`` sets it."""
    for cls in _mro(family, name):
        if cls.sets_status:
            return None
        if cls.status is not None:
            return cls.status
    raise AssertionError(f"{name}: no status")


def _argument(call: ast.Call, params: tuple[str, ...], name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if name in params:
        index = params.index(name)
        if index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args):
            return call.args[index]
    return None


def _pattern(node: ast.JoinedStr) -> str:
    return "".join(
        str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
    )


def _raised(root: Path = APP) -> list[Raised]:
    """Every code given to a constructor of the family, or to ``super().__init__`` in one."""
    family = _family(_classes(root))
    found: list[Raised] = []
    for path in _sources(root):
        tree = ast.parse(path.read_text(), str(path))
        for owner in [None, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]:
            body = tree if owner is None else owner
            for call in ast.walk(body):
                if not isinstance(call, ast.Call):
                    continue
                called = _name(call.func)
                if (
                    owner is not None
                    and owner.name in family
                    and called == "__init__"
                    and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Call)
                    and _name(call.func.value.func) == "super"
                ):
                    parents = [b for b in family[owner.name].bases if b in family]
                    if not parents:
                        continue  # the root's own super().__init__ (Exception's)
                    called = parents[0]
                elif owner is not None or called not in family:
                    continue  # module-level pass: constructors; class pass: super() only
                assert called is not None
                params = _init_params(family, called)
                if "code" not in params:
                    continue  # its code is given by its own super().__init__ (found there)
                code = _argument(call, params, "code")
                where = f"{path.relative_to(root.parent)}:{call.lineno}"
                assert code is not None, f"{where}: {called}(...) without a code"
                status = _static_status(family, called)
                if status is None and "status" in params:
                    given = _argument(call, params, "status")
                    if isinstance(given, ast.Constant) and isinstance(given.value, int):
                        status = given.value
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    found.append(Raised(code.value, status, where))
                elif isinstance(code, ast.JoinedStr):
                    pattern = _pattern(code)
                    assert pattern in DYNAMIC, f"{where}: a code built at run time: {pattern}"
                    found.extend(Raised(c, status, where) for c in sorted(DYNAMIC[pattern]))
                elif isinstance(code, ast.Name) and owner is not None:
                    continue  # a subclass passing its own ``code`` parameter on
                else:
                    raise AssertionError(f"{where}: {called}(...) with a code kbx cannot read")
    return found


def test_every_code_raised_in_app_is_in_the_catalogue_with_its_status() -> None:
    raised = _raised()
    assert len(raised) >= 50, "the walker finds the codes it should"
    missing = sorted({f"{r.code} ({r.where})" for r in raised if r.code not in ERRORS})
    assert missing == [], "codes raised in app/ that the catalogue does not hold"
    wrong = sorted(
        f"{r.code}: raised as {r.status}, catalogued as {ERRORS[r.code].status} ({r.where})"
        for r in raised
        if r.status is not None and ERRORS[r.code].status != r.status
    )
    assert wrong == []


def test_every_code_in_the_catalogue_is_raised_or_answered() -> None:
    raised = {r.code for r in _raised()}
    assert set(ERRORS) - raised - HANDLER_CODES == set(), "a code nothing raises any more"
    assert set(ERRORS) >= HANDLER_CODES
    assert HANDLER_CODES.isdisjoint(raised)


def test_the_catalogue_is_read_only() -> None:
    with pytest.raises(TypeError):
        ERRORS["new.code"] = ERRORS["run.unknown"]  # type: ignore[index]
    for code, error in ERRORS.items():
        assert code.count(".") == 1, code
        assert 400 <= error.status <= 599, code
        assert error.en, code
        assert error.nl, code
        assert error.en != error.nl, code


def test_the_walker_reads_what_it_should(tmp_path: Path) -> None:
    """A check that can never fail proves nothing: on a small made-up package, the walker finds
    a constructor's code (positional or keyword), a subclass's ``super().__init__``, a status
    given as an argument, and refuses a code it cannot read."""
    package = tmp_path / "app"
    package.mkdir()
    (package / "errors.py").write_text(
        "class KbxError(Exception):\n"
        "    status = 400\n"
        "    def __init__(self, code, message, message_nl=None):\n"
        "        super().__init__(message)\n"
        "class NotFound(KbxError):\n"
        "    status = 404\n"
        "class Conflict(KbxError):\n"
        "    status = 409\n"
        "class Teapot(KbxError):\n"
        "    def __init__(self, status, code, message):\n"
        "        super().__init__(code, message)\n"
        "        self.status = status\n"
    )
    (package / "flow.py").write_text(
        "from app.errors import Conflict, NotFound, Teapot\n"
        "class Gone(Conflict):\n"
        "    def __init__(self):\n"
        "        super().__init__('gone.away', 'gone')\n"
        "def f(kind):\n"
        "    raise NotFound(code='nowhere.found', message='x')\n"
        "def g():\n"
        "    raise Teapot(418, 'tea.pot', 'short and stout')\n"
        "def h(kind):\n"
        "    raise Conflict(f'change.invalid_{kind}', 'x')\n"
    )
    found = {(r.code, r.status) for r in _raised(package)}
    assert {("gone.away", 409), ("nowhere.found", 404), ("tea.pot", 418)} <= found
    kinds = [k for k in ChangeKind if k not in AGREEMENT_KINDS]
    assert {(f"change.invalid_{k.value}", 409) for k in kinds} <= found
    assert len(found) == 3 + len(kinds)

    (package / "other.py").write_text(
        "from app.errors import Conflict\ndef f(code):\n    raise Conflict(code, 'x')\n"
    )
    with pytest.raises(AssertionError, match="a code kbx cannot read"):
        _raised(package)
