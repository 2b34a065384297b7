"""The ``kbx`` command line. Exit codes: 0 done, 1 internal or start-up failure, 2 bad input
(one line on stderr says why), 3 refused by policy, 4 audit trail broken.

One module per command group; this one holds only the root. Every command imports what it needs
(SQLAlchemy, FastAPI, paramiko, the flows) inside its body, so that ``kbx --help`` and a group's
help answer at once: the modules below import typer, the standard library and ``common``.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from app.cli import (
    accession,
    agreements,
    audit,
    db,
    demo,
    exports,
    kbi,
    policy,
    protocols,
    pseudonym,
    recipients,
    serve,
    users,
)
from app.cli.common import Context
from app.errors import KbxError

__all__ = ["app", "main", "said"]


def _say(exc: KbxError) -> typer.Exit:
    """The error as one line in Dutch, its code and its exit code: ``kbx: <Dutch> [code]``."""
    typer.echo(f"kbx: {said(exc)} [{exc.code}]", err=True)
    return typer.Exit(exc.exit_code)


def said(exc: KbxError) -> str:
    """The error's Dutch text as the API answers it (``app.error_catalogue.dutch``). An error
    raised without one gets the catalogue's generic Dutch line, and its own English message
    after it in brackets: the generic line alone would lose the facts an operator acts on (which
    run, which file)."""
    from app.error_catalogue import dutch

    text = dutch(exc)
    return text if exc.message_nl or text == exc.message else f"{text} ({exc.message})"


class _Group(TyperGroup):
    """Turns the project's own errors, a database kbx cannot use and click's usage errors into
    one line on stderr and their exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except KbxError as exc:
            raise _say(exc) from exc
        except Exception as exc:
            if not type(exc).__module__.startswith("sqlalchemy"):
                raise
            from app.store.db import database_problem

            problem = database_problem(exc)
            if problem is None:
                raise
            raise _say(problem) from exc

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # click prints a usage error as four lines (usage, hint, blank, error); kbx says one.
        kwargs["standalone_mode"] = False
        kwargs["prog_name"] = "kbx"  # also under `python -m app` and a test's runner
        # Typer vendors click; its exceptions share the public base TyperException.
        try:
            code = super().main(*args, **kwargs)
        except TyperException as exc:
            sys.exit(_usage(exc))
        except typer.Abort:
            typer.echo("kbx: afgebroken (aborted)", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _usage(exc: TyperException) -> int:
    """Print a usage error as one line naming the help to read; return its exit code (2)."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if type(exc).__name__ == "NoArgsIsHelpError":  # `kbx export`: the group's help, as is
        typer.echo(message)
        return 2
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", "") or "kbx"
    typer.echo(f"kbx: {message} (zie `{where} --help`) [usage]", err=True)
    code = getattr(exc, "exit_code", 2)
    return code if isinstance(code, int) else 2


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="kbx: beveiligde bestandsuitwisseling van AgII",
)

# Commands first, then the groups: the order ``kbx --help`` lists them in.
app.command("worker")(exports.worker)
app.command("check")(policy.check)
app.command("preview")(policy.preview)
app.command("serve")(serve.serve)
app.add_typer(db.db_app, name="db")
app.add_typer(kbi.kbi_app, name="kbi")
app.add_typer(demo.demo_app, name="demo")
app.add_typer(recipients.recipients_app, name="recipients")
app.add_typer(accession.accession_app, name="accession")
app.add_typer(protocols.protocols_app, name="protocols")
app.add_typer(agreements.agreements_app, name="agreements")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(serve.sftp_app, name="sftp")
app.add_typer(users.users_app, name="users")
app.add_typer(exports.export_app, name="export")
pseudonym.register(app)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # 0.1 s of imports: only when asked

        typer.echo(f"kbx {version('kbx')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print kbx's version and exit"
        ),
    ] = False,
) -> None:
    # Cheap on purpose: click runs this even for `kbx export list --help`. The context makes the
    # settings, engine and registry when a command first asks for them.
    ctx.obj = Context()
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    app()
