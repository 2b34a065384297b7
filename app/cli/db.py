"""``kbx db``: the schema and the reference recipients."""

from __future__ import annotations

import typer

from app.cli.common import ctx_of

__all__ = ["db_app"]

db_app = typer.Typer(no_args_is_help=True, help="Database")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the schema to the latest version and load the reference recipients."""
    from app.store.migrate import upgrade

    c = ctx_of(ctx)
    c.may_create_database = True
    added = upgrade(c.engine)
    typer.echo(f"databank bijgewerkt; {added} referentieontvanger(s) toegevoegd")
