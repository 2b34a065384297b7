"""``kbx accession``: a municipality's signed commitment to a general deliberation. The
agreement recorded here is also how ``kbx protocols sign`` records a signature."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import common
from app.cli.common import Context, DateOpt, ctx_of, fail

if TYPE_CHECKING:
    from exchange.protocols import RecipientRequirement

__all__ = ["accession_app", "record_agreement"]

accession_app = typer.Typer(no_args_is_help=True, help="Toetredingen tot een beraadslaging")


def record_agreement(
    c: Context,
    *,
    recipient_id: str,
    protocol_id: str,
    kind: RecipientRequirement,
    signed_on: datetime,
    in_force: datetime | None,
    document: str | None,
) -> None:
    """Record a signature or an accession, with its audit event, in one transaction."""
    from app.store.audit import record
    from app.store.db import transaction
    from app.store.recipients import add_agreement

    definition = c.definition(protocol_id)
    recipient_id = common.recipient_id(c, recipient_id)
    if definition.recipients.requires is not kind:
        fail(
            f"protocol {protocol_id} does not work with a {kind.value} "
            f"(it requires: {definition.recipients.requires.value})"
        )
    with transaction(c.engine) as session:
        add_agreement(
            session,
            recipient_id=recipient_id,
            protocol_id=protocol_id,
            kind=kind,
            signed_on=signed_on.date(),
            in_force_on=in_force.date() if in_force else None,
            document_ref=document,
            now=c.now(),
        )
        record(
            session,
            actor=c.actor,
            action=f"agreement.{kind.value}",
            subject=f"recipient:{recipient_id}",
            details={
                "protocol": protocol_id,
                "signed_on": signed_on.date().isoformat(),
                "in_force": in_force.date().isoformat() if in_force else None,
                "document": document,
            },
            now=c.now(),
        )
    typer.echo(f"{kind.value} of {recipient_id} for {protocol_id} recorded")


@accession_app.command("add")
def accession_add(
    ctx: typer.Context,
    recipient_id: Annotated[str, typer.Argument(metavar="ID", help="NIS code or name")],
    protocol: Annotated[str, typer.Option(help="The general deliberation, e.g. vcmp-ceremony")],
    signed_on: DateOpt,
    document: Annotated[str, typer.Option(help="Reference of the signed commitment")],
) -> None:
    """Record a municipality's signed commitment to a general deliberation."""
    from exchange.protocols import RecipientRequirement

    record_agreement(
        ctx_of(ctx),
        recipient_id=recipient_id,
        protocol_id=protocol,
        kind=RecipientRequirement.ACCESSION,
        signed_on=signed_on,
        in_force=None,
        document=document,
    )
