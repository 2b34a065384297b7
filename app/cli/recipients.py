"""``kbx recipients``: the list, and (``app.cli.changes``) the four-eyes changes to a
recipient's contact, keys, SFTP server and mailbox."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from app.cli import changes
from app.cli.common import JsonOpt, ctx_of, emit_json

__all__ = ["recipients_app"]

recipients_app = typer.Typer(no_args_is_help=True, help="Ontvangers")


@recipients_app.command("list")
def recipients_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """All recipients: the 285 Flemish municipalities and the agencies."""
    from app.store.db import transaction
    from app.store.recipients import list_recipients

    with transaction(ctx_of(ctx).engine) as session:
        rows = list_recipients(session)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    for r in rows:
        contact = "contact" if r.has_contact else "-"
        typer.echo(f"{r.id:<8} {r.kind:<12} {r.name_nl:<40} {contact:<8} {r.keys} key(s)")


@recipients_app.command("show")
def recipients_show(
    ctx: typer.Context,
    recipient: Annotated[str, typer.Argument(metavar="ID", help="NIS code, agency id or name")],
    as_json: JsonOpt = False,
) -> None:
    """One recipient: contact (phone masked), drop keys with fingerprints, SFTP server and
    mailbox, changes waiting for approval, signatures and accessions, and this year's runs."""
    from app.cli import render
    from app.flows.history import recipient_overview

    c = ctx_of(ctx)
    view = recipient_overview(c.engine, recipient, c.settings.current_date(), c.registry)
    if as_json:
        render.emit(view)
    else:
        render.recipient_overview(view)


changes.register(recipients_app)
