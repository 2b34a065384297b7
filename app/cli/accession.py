"""``kbx accession``: a municipality's signed commitment to a general deliberation. The proposal
made here is also how ``kbx protocols sign`` proposes a signature: one staff member proposes,
another approves (``kbx recipients changes approve N --by OTHER``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.changes import By, propose_change
from app.cli.common import Context, DateOpt, ctx_of

if TYPE_CHECKING:
    from exchange.protocols import RecipientRequirement

__all__ = ["accession_app", "propose_agreement"]

accession_app = typer.Typer(no_args_is_help=True, help="Toetredingen tot een beraadslaging")


def propose_agreement(
    c: Context,
    *,
    recipient_id: str,
    protocol_id: str,
    kind: RecipientRequirement,
    signed_on: datetime,
    in_force: datetime | None,
    document: str | None,
    cadence: str | None,
    by: str,
) -> None:
    """Propose a signature or an accession; it is recorded once another person approves
    (``app.flows.agreements``: four eyes, the deliberation date, the ceremony cadence)."""
    from exchange.recipient_changes import ChangeKind

    payload = {
        "protocol": c.definition(protocol_id).id,
        "kind": kind.value,
        "signed_on": signed_on.date().isoformat(),
        "in_force_on": in_force.date().isoformat() if in_force else None,
        "document": document,
        "cadence": cadence,
    }
    propose_change(c, ChangeKind.AGREEMENT, recipient_id, payload, by)


@accession_app.command("add")
def accession_add(
    ctx: typer.Context,
    recipient_id: Annotated[str, typer.Argument(metavar="ID", help="NIS code or name")],
    protocol: Annotated[str, typer.Option(help="The general deliberation, e.g. vcmp-ceremony")],
    signed_on: DateOpt,
    document: Annotated[str, typer.Option(help="Reference of the signed commitment")],
    by: By,
    cadence: Annotated[
        str | None,
        typer.Option(help="The ceremony cadence the municipality declared: yearly or two-yearly"),
    ] = None,
) -> None:
    """Propose a municipality's signed commitment to a general deliberation (four eyes)."""
    from exchange.protocols import RecipientRequirement

    propose_agreement(
        ctx_of(ctx),
        recipient_id=recipient_id,
        protocol_id=protocol,
        kind=RecipientRequirement.ACCESSION,
        signed_on=signed_on,
        in_force=None,
        document=document,
        cadence=cadence,
        by=by,
    )
