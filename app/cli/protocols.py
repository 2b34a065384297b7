"""``kbx protocols``: the loaded definitions, and a municipality's signature of one."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.accession import propose_agreement
from app.cli.changes import By
from app.cli.common import DateOpt, JsonOpt, ctx_of, emit_json

if TYPE_CHECKING:
    from exchange.protocols import ProtocolDefinition

__all__ = ["protocols_app"]

protocols_app = typer.Typer(no_args_is_help=True, help="Protocollen")


def _summary(d: ProtocolDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "version": d.version,
        "title_nl": d.title_nl,
        "valid_from": d.validity.valid_from,
        "valid_until": d.validity.until,
        "valid_until_basis": d.validity.until_basis_nl,
        "channels": [c.channel.value for c in d.channels],
        "fields": d.field_names,
        "content_hash": d.content_hash,
    }


@protocols_app.command("list")
def protocols_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The loaded protocol definitions."""
    from app.flows.protocol_dates import effective_definitions

    c = ctx_of(ctx)
    today = c.settings.current_date()
    definitions = effective_definitions(c.engine, c.registry)
    if as_json:
        emit_json([_summary(d) for d in definitions])
        return
    for d in definitions:
        state = "in werking" if d.validity.contains(today) else "niet in werking"
        typer.echo(f"{d.id:<18} v{d.version}  {state:<16} {d.content_hash[:19]}  {d.title_nl}")


@protocols_app.command("show")
def protocols_show(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonOpt = False,
) -> None:
    """One definition in full: legal basis, fields with their articles, rules, channels."""
    from app.cli.agreements import describe
    from app.flows.agreements import list_agreements
    from app.flows.protocol_dates import effective_definition
    from exchange.fields import FIELD_CATALOGUE

    c = ctx_of(ctx)
    d = effective_definition(c.engine, c.registry, c.definition(protocol_id).id)
    agreements = list_agreements(c.engine, c.registry, c.settings.current_date(), protocol_id=d.id)
    if as_json:
        emit_json(
            {
                **d.model_dump(mode="json", by_alias=True),
                "agreements": [asdict(a) for a in agreements],
            }
        )
        return
    v = d.validity
    lines = [
        f"{d.id} (versie {d.version}) {d.content_hash}",
        d.title_nl,
        f"Bron: {d.source_document}" + (f" ({d.source_file})" if d.source_file else ""),
        "Rechtsgrond:",
        *(f"  - {b}" for b in d.legal_basis),
        f"Geldig: {v.valid_from} tot {v.until or 'onbepaald'} [{v.article}]",
        *(
            [f"  einde: {v.until_basis_nl} [{v.term.article}]"]
            if v.term is not None and v.until_basis_nl
            else []
        ),
        f"Opzegtermijn: {v.notice_months} maanden" if v.notice_months else "Opzegtermijn: geen",
        f"Ontvangers: {d.recipients.kind}, vereist: {d.recipients.requires.value}"
        f" [{d.recipients.article}]",
        "Overeenkomsten:" if agreements else "Overeenkomsten: geen",
        *(f"  - {a.recipient_id} {a.recipient_name}: {describe(a)}" for a in agreements),
        f"Populatie: {d.population.kind} [{d.population.article}]",
        "Velden:",
        *(f"  - {f.name} ({FIELD_CATALOGUE[f.name].label_nl}) [{f.article}]" for f in d.fields),
        f"Frequentie: max. {d.frequency.max_lists or 'onbeperkt'} per {d.frequency.unit.value}"
        f" [{d.frequency.article}]",
        "Kanalen:",
        *(
            f"  - {c.channel.value}: {c.valid_from} tot {c.until or 'onbepaald'} [{c.article}]"
            for c in d.channels
        ),
        f"Bewaartermijn ontvanger: {d.retention.years or '-'} jaar: {d.retention.text_nl}"
        f" [{d.retention.article}]",
    ]
    typer.echo("\n".join(lines))


@protocols_app.command("set-date")
def protocols_set_date(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="ID")],
    cooperation_agreement_in_force: Annotated[
        datetime,
        typer.Option(
            "--cooperation-agreement-in-force",
            formats=["%Y-%m-%d"],
            help="vdab-pillar3 (art. 5): the day the samenwerkingsovereenkomst entered into force",
        ),
    ],
    by: Annotated[str, typer.Option(help="The admin recording it")],
) -> None:
    """Record a date the protocol's text names but does not give (admin only, audited); prints
    the validity's end it now gives."""
    from app.cli.common import staff
    from app.flows.protocol_dates import set_protocol_date
    from app.flows.roles import Action

    c = ctx_of(ctx)
    c.definition(protocol_id)  # an unknown protocol: exit 2 naming the known ones
    staff(c, by, Action.RECORD_PROTOCOL_DATE)
    done = set_protocol_date(
        c.engine,
        c.deps,
        protocol_id=protocol_id,
        kind="cooperation_agreement_in_force",
        day=cooperation_agreement_in_force.date(),
        by=by,
    )
    v = done.definition.validity
    until = v.until.isoformat() if v.until else "onbepaald"
    typer.echo(f"{protocol_id}: geldig tot en met {until} ({v.until_basis_nl})")


@protocols_app.command("sign")
def protocols_sign(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="ID")],
    recipient: Annotated[str, typer.Option(help="NIS code or name of the municipality")],
    signed_on: DateOpt,
    in_force: DateOpt,
    by: By,
    document: Annotated[str | None, typer.Option(help="Reference of the signed protocol")] = None,
) -> None:
    """Propose that a municipality signed the protocol text (e.g. art20-municipal); it is
    recorded once another person approves."""
    from exchange.protocols import RecipientRequirement

    propose_agreement(
        ctx_of(ctx),
        recipient_id=recipient,
        protocol_id=protocol_id,
        kind=RecipientRequirement.SIGNATURE,
        signed_on=signed_on,
        in_force=in_force,
        document=document,
        cadence=None,
        by=by,
    )
