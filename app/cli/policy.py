"""``kbx check`` (the policy's dry run) and ``kbx preview`` (the size of a list, never its
rows)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from app.cli.common import (
    EXIT_REFUSED,
    JsonOpt,
    RequestedOnOpt,
    RequestRefOpt,
    ctx_of,
    emit_json,
    fail,
    recipient_id,
)
from exchange.shown import shown_nl

__all__ = ["check", "preview"]

LookbackOpt = Annotated[
    int | None,
    typer.Option("--lookback-years", help="vcmp-ceremony: certificates of the last 1 or 2 years"),
]


def check(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="PROTOCOL")],
    recipient: Annotated[str, typer.Option(help="Recipient: NIS code, agency id or name")],
    period: Annotated[str, typer.Option(help="2026, or 2026-H1 / 2026-H2")],
    channel: Annotated[str, typer.Option(help="sftp_drop, sftp_push, secure_mail or zivver")],
    lookback_years: LookbackOpt = None,
    requested_on: RequestedOnOpt = None,
    request_ref: RequestRefOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Would this export be allowed today? Exit 0 when allowed, 3 when refused."""
    from app.flows.exports import check as dry_run
    from app.flows.exports import make_request

    c = ctx_of(ctx)
    request = make_request(requested_on.date() if requested_on else None, request_ref)
    c.definition(protocol_id)  # an unknown protocol: exit 2 naming the known ones
    recipient = recipient_id(c, recipient)
    result = dry_run(
        c.engine,
        c.deps,
        protocol_id=protocol_id,
        recipient_id=recipient,
        period=period,
        channel=channel,
        lookback_years=lookback_years,
        request=request,
    )
    if as_json:
        emit_json(
            {
                "allowed": result.allowed,
                "protocol": protocol_id,
                "definition_hash": result.definition.content_hash,
                "recipient": recipient,
                "period": period,
                "channel": channel,
                "today": result.today,
                "reasons": [asdict(r) for r in result.reasons],
                "not_ready": None
                if result.not_ready is None
                else {
                    "code": result.not_ready.code,
                    "message": result.not_ready.message,
                    "message_nl": result.not_ready.message_nl,
                },
            }
        )
    elif result.allowed:
        typer.echo(f"TOEGESTAAN / ALLOWED: {protocol_id} -> {recipient}, {period}, {channel}")
        if result.not_ready is not None:
            typer.echo(
                f"  maar nog niet klaar / but not ready: {result.not_ready.message_nl} "
                f"[{result.not_ready.code}]"
            )
    else:
        typer.echo(f"GEWEIGERD / REFUSED: {protocol_id} -> {recipient}, {period}, {channel}")
        for r in result.reasons:
            typer.echo(f"- [{r.rule}] {r.nl}\n  {r.en}\n  ({r.article})")
    if not result.allowed:
        raise typer.Exit(EXIT_REFUSED)


def preview(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="PROTOCOL")],
    recipient: Annotated[str, typer.Option(help="Recipient: NIS code, agency id or name")],
    period: Annotated[str, typer.Option(help="2026, or 2026-H1 / 2026-H2")],
    lookback_years: LookbackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many people the list would hold and which columns: never the rows."""
    from app.store.db import transaction
    from app.store.recipients import recipient_facts
    from exchange.periods import parse_period
    from exchange.selection import SelectionRequest, build_count

    c = ctx_of(ctx)
    definition = c.definition(protocol_id)
    recipient = recipient_id(c, recipient)
    parsed = parse_period(period)
    if parsed is None or parsed.unit is not definition.frequency.unit:
        unit = definition.frequency.unit.value
        fail(f"periode '{shown_nl(period)}' past niet bij {protocol_id} ({unit})")
    request = SelectionRequest(recipient, parsed, c.settings.current_date(), lookback_years)
    with transaction(c.engine) as session:
        recipient_facts(session, recipient)
        count = session.scalar(build_count(definition, request)) or 0
    columns = definition.field_names
    if as_json:
        emit_json(
            {
                "protocol": protocol_id,
                "recipient": recipient,
                "period": period,
                "rows": count,
                "columns": columns,
            }
        )
        return
    typer.echo(f"{protocol_id} -> {recipient}, {period}: {count} rij(en)")
    typer.echo("kolommen: " + ", ".join(columns))
