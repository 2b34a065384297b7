"""``kbx users``: staff accounts."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer

from app.cli.common import ctx_of

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
    from app.store.audit import record
    from app.store.db import transaction
    from app.store.users import Role, add_user

    if sys.stdin.isatty():
        password = typer.prompt("Wachtwoord", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    c = ctx_of(ctx)
    with transaction(c.engine) as session:
        add_user(session, name, Role(role), password, c.now())
        record(
            session,
            actor=c.actor,
            action="user.added",
            subject=f"user:{name}",
            details={"role": role},
            now=c.now(),
        )
    typer.echo(f"user {name} added with role {role}")
