"""``kbx users``: staff accounts."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer

from app.cli.common import JsonOpt, ctx_of

__all__ = ["RoleName", "users_app"]

users_app = typer.Typer(no_args_is_help=True, help="Medewerkers")

# The values of ``app.store.users.Role``, spelled out so that this module need not import the
# store (tests/test_cli_startup.py keeps the two equal).
RoleName = Literal["operator", "approver", "auditor", "admin", "vsb"]


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    role: Annotated[RoleName, typer.Option(help="operator, approver, auditor, admin or vsb")],
) -> None:
    """Create a staff account; the password is read from standard input when it is not a
    terminal, else asked twice."""
    from app.flows.staff import add
    from app.store.users import Role

    password = _password()
    c = ctx_of(ctx)
    add(c.engine, name, Role(role), password, c.actor, c.now())
    typer.echo(f"gebruiker {name} toegevoegd met rol {role}")


def _password() -> str:
    if sys.stdin.isatty():
        entered: str = typer.prompt("Wachtwoord", hide_input=True, confirmation_prompt=True)
        return entered
    return sys.stdin.readline().rstrip("\n")


By = Annotated[str, typer.Option(help="The admin doing it")]


@users_app.command("list")
def users_list(ctx: typer.Context, by: By, as_json: JsonOpt = False) -> None:
    """Every staff account: role, active or not, live tokens (admin only)."""
    from app.cli import render
    from app.flows.staff import list_staff

    c = ctx_of(ctx)
    rows = list_staff(c.engine, by, c.now())
    if as_json:
        render.emit(rows)
    else:
        render.staff_rows(rows)


@users_app.command("disable")
def users_disable(ctx: typer.Context, name: Annotated[str, typer.Argument()], by: By) -> None:
    """Disable an account (admin only, audited): its tokens stop working at once."""
    from app.flows.staff import disable

    c = ctx_of(ctx)
    disable(c.engine, name, by, c.now())
    typer.echo(f"gebruiker {name} uitgeschakeld; de tokens ervan werken niet meer")


@users_app.command("enable")
def users_enable(ctx: typer.Context, name: Annotated[str, typer.Argument()], by: By) -> None:
    """Enable a disabled account again (admin only, audited)."""
    from app.flows.staff import enable

    c = ctx_of(ctx)
    enable(c.engine, name, by, c.now())
    typer.echo(f"gebruiker {name} ingeschakeld")


@users_app.command("reset-password")
def users_reset_password(
    ctx: typer.Context, name: Annotated[str, typer.Argument()], by: By
) -> None:
    """Give an account a new password (admin only, audited; from standard input, or asked
    twice on a terminal). Its tokens stop working: every session logs in again."""
    from app.flows.staff import reset_password

    c = ctx_of(ctx)
    reset_password(c.engine, name, _password(), by, c.now())
    typer.echo(f"wachtwoord van {name} opnieuw ingesteld; de tokens ervan werken niet meer")
