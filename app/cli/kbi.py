"""``kbx kbi``: the KBI store, replaced by an extract all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import Context, JsonOpt, ctx_of, emit_json, fail

__all__ = ["import_extract_file", "kbi_app"]

kbi_app = typer.Typer(no_args_is_help=True, help="De KBI-bron")


def import_extract_file(c: Context, path: Path, *, as_json: bool = False) -> None:
    """Import ``path`` through the one import path; a refused extract lists its problems (with
    ``as_json`` also as JSON on stdout: ``refused``, ``problems_total``, ``problems`` of line,
    column and rule) and exits 2 with nothing written. The summary counts the rows imported
    and the blank rows (empty lines, rows of bare separators) skipped."""
    from app.flows.kbi_import import MAX_REPORTED, ExtractRefused, import_extract

    try:
        result = import_extract(
            c.engine, path, c.settings.current_date(), actor=c.actor, now=c.now()
        )
    except ExtractRefused as exc:
        if as_json:
            # Stdout holds the machine's answer, stderr the person's: a script reads either.
            emit_json(
                {
                    "file": path.name,
                    "refused": True,
                    "problems_total": exc.total,
                    "problems": [
                        {"line": p.line, "column": p.column, "rule": p.rule} for p in exc.problems
                    ],
                }
            )
        for problem in exc.problems:
            typer.echo(f"kbx: {path.name}: {problem}", err=True)
        if exc.total > len(exc.problems):
            more = exc.total - MAX_REPORTED
            typer.echo(
                f"kbx: ... en nog {more} {'probleem' if more == 1 else 'problemen'}", err=True
            )
        if any(p.rule == "file.not_utf8" for p in exc.problems):
            typer.echo(
                "kbx: sla het bestand op als CSV UTF-8 (door komma's gescheiden) / "
                "save it as CSV UTF-8 (comma delimited)",
                err=True,
            )
        problems = "1 probleem" if exc.total == 1 else f"{exc.total} problemen"
        fail(f"{path.name} geweigerd: {problems}; er werd niets geschreven")
    if as_json:
        emit_json(
            {
                "file": path.name,
                "rows": result.rows,
                "blank_rows_skipped": result.blank_rows,
                "seconds": round(result.seconds, 3),
            }
        )
        return
    rate = result.rows / result.seconds if result.seconds else 0.0
    skipped = f"; {result.blank_rows} blank row(s) skipped" if result.blank_rows else ""
    typer.echo(
        f"imported {result.rows} integrees in {result.seconds:.2f} s ({rate:,.0f} rows/s){skipped}"
    )


@kbi_app.command("import")
def kbi_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="KBI extract (CSV, UTF-8)")],
    as_json: JsonOpt = False,
) -> None:
    """Replace the store with a KBI extract, all or nothing (see docs/kbi-extract.md)."""
    if not file.is_file():
        fail(f"{file}: bestand bestaat niet")
    import_extract_file(ctx_of(ctx), file, as_json=as_json)
