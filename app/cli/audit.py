"""``kbx audit``: the audit trail listed, one event shown, the hash chain verified."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from app.cli.common import JsonOpt, ctx_of, fail

__all__ = ["EXIT_TAMPERED", "audit_app"]

EXIT_TAMPERED = 4

audit_app = typer.Typer(no_args_is_help=True, help="Audittrail")


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Walk the hash chain; exit 4 naming the first broken link if any event was edited, deleted
    or reordered."""
    from app.flows.history import verify_trail

    report = verify_trail(ctx_of(ctx).engine)
    if report.broken is not None:
        fail(f"audittrail gebroken bij {report.broken}", code=EXIT_TAMPERED)
    typer.echo(f"audit trail intact: {report.events} event(s), head {report.head}")


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="From this day (Brussels)")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="To this day, inclusive")
    ] = None,
    run: Annotated[str | None, typer.Option(help="One run: KBX-2026-000017 or 17")] = None,
    recipient: Annotated[
        str | None, typer.Option(help="One recipient (code or name) and its runs")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who: olga, worker, sftp:72020, ...")] = None,
    action: Annotated[
        str | None, typer.Option(help="An action (export.approved) or a prefix (export.)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """The audit trail, newest first: identifiers and counts only, never personal data."""
    from app.cli import render
    from app.flows.history import audit_events

    if since and until and since > until:
        fail("--since ligt na --until")
    events = audit_events(
        ctx_of(ctx).engine,
        since=since.date() if since else None,
        until=until.date() if until else None,
        run=run,
        recipient=recipient,
        actor=actor,
        action=action,
        limit=limit,
    )
    if as_json:
        render.emit(events)
    else:
        render.event_lines(events)


@audit_app.command("show")
def audit_show(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(metavar="SEQ", min=1, help="The event's number")],
    as_json: JsonOpt = False,
) -> None:
    """One audit event whole, with its place in the hash chain."""
    from app.cli import render
    from app.flows.history import audit_event

    event = audit_event(ctx_of(ctx).engine, seq)
    if as_json:
        render.emit(event)
        return
    typer.echo(f"#{event.seq}  {event.at.isoformat(sep=' ', timespec='seconds')} (Brussel)")
    typer.echo(f"  actor:      {event.actor}")
    typer.echo(f"  actie:      {event.action}")
    typer.echo(f"  onderwerp:  {event.subject}")
    for key, value in sorted(event.details.items()):
        typer.echo(f"  {key + ':':<11} {value}")
    typer.echo(f"  hash:       {event.hash}")
