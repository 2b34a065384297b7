"""How the command line shows what left, to whom, when: tables for people (``rich``, which typer
already brings), JSON for machines. Times are Brussels time: ``2026-11-23 10:15`` in tables,
ISO 8601 with the offset (``2026-11-23T10:15:02+01:00``) in JSON.

Only light imports at module level: the CLI imports this when a command runs, not at start.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import typer

from exchange.clock import in_brussels

if TYPE_CHECKING:
    from app.flows.agreements import AgreementView
    from app.flows.history import EventLine, RecipientOverview, RunLine, RunStory
    from app.flows.recipient_changes import ChangeOut
    from app.flows.staff import StaffRow


__all__ = [
    "agreement_rows",
    "as_json",
    "change_rows",
    "emit",
    "event_lines",
    "recipient_overview",
    "run_lines",
    "run_story",
    "short_time",
    "staff_rows",
]


def short_time(moment: datetime | None) -> str:
    """``2026-11-23 10:15`` in Brussels time (a naive moment is UTC), or ``-``."""
    return "-" if moment is None else f"{in_brussels(moment):%Y-%m-%d %H:%M}"


def _long_time(moment: datetime | None) -> str:
    return "-" if moment is None else in_brussels(moment).isoformat(sep=" ", timespec="seconds")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return in_brussels(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def as_json(value: Any) -> str:
    """``value`` (dataclasses, dicts, lists, aware datetimes, dates) as indented JSON; every
    datetime ISO 8601 with its offset."""
    return json.dumps(_plain(value), ensure_ascii=False, indent=2)


def emit(value: Any) -> None:
    """Print ``as_json(value)``."""
    typer.echo(as_json(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # On a terminal narrower than the table, the text columns wrap inside their width (never
    # cut, never a column dropped) while identifiers stay whole: a reference or a sequence
    # number broken over two lines cannot be copied. On a pipe or in a file the table is as
    # wide as it needs.
    wrap = sys.stdout.isatty()
    for header in headers:
        whole = not wrap or header in _WHOLE
        table.add_column(header, no_wrap=whole, overflow="fold")
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    width = None if wrap else 100_000
    Console(width=width, highlight=False, soft_wrap=False).print(table)


# Columns that hold identifiers a person copies into the next command.
_WHOLE = frozenset(
    {"referentie", "protocol", "seq", "periode", "kanaal", "toestand", "actie", "id"}
)


def run_lines(lines: Sequence[RunLine]) -> None:
    """``kbx export list``: one row per run."""
    if not lines:
        typer.echo("geen runs / no runs")
        return
    _table(
        [
            "referentie",
            "protocol",
            "ontvanger",
            "periode",
            "kanaal",
            "toestand",
            "aangevraagd",
            "goedgekeurd",
            "geleverd",
            "sleutel-sms",
            "opgehaald",
            "verwijderd",
        ],
        (
            [
                line.reference or f"run {line.id}",
                line.protocol,
                f"{line.recipient} {line.recipient_name}",
                line.period,
                line.channel,
                line.state,
                short_time(line.requested_at),
                short_time(line.approved_at),
                short_time(line.delivered_at),
                short_time(line.key_sent_at),
                short_time(line.fetched_at),
                short_time(line.purged_at),
            ]
            for line in lines
        ),
    )
    typer.echo("tijden: Brussel / times: Brussels")


def run_story(story: RunStory) -> None:
    """``kbx export show``: the run, its file, its refusal reasons and its timeline."""
    line = story.line
    typer.echo(f"{line.reference or '-'} (run {line.id})")
    typer.echo(f"  protocol:      {line.protocol}")
    typer.echo(f"  ontvanger:     {line.recipient} {line.recipient_name}")
    typer.echo(f"  periode:       {line.period}")
    typer.echo(f"  kanaal:        {line.channel}")
    typer.echo(f"  toestand:      {line.state}")
    if line.batch:
        typer.echo(f"  reeks:         {line.batch}")
    if line.requested_on is not None:
        typer.echo(
            f"  aanvraag:      {line.requested_on.strftime('%d.%m.%Y')}, referentie "
            f"{line.request_ref}"
        )
    if story.parent_id:
        typer.echo(f"  afgeleid van:  run {story.parent_id}")
    typer.echo(f"  aangevraagd:   {_long_time(line.requested_at)} door {story.requested_by}")
    if story.approved_by:
        typer.echo(f"  goedgekeurd:   {_long_time(line.approved_at)} door {story.approved_by}")
    typer.echo(f"  definitie:     {story.definition_hash}")
    if story.file_name:
        size = f"{story.file_size:,}".replace(",", ".") if story.file_size is not None else "?"
        typer.echo(f"  bestand:       {story.file_name} ({size} bytes)")
        typer.echo(f"  sha256:        {story.file_sha256}")
        typer.echo(f"  rijen:         {story.rows}")
        typer.echo(f"  velden:        {', '.join(story.fields or [])}")
    if story.expires_at:
        typer.echo(f"  verloopt:      {_long_time(story.expires_at)}")
    if story.failure:
        typer.echo(f"  mislukt:       {story.failure}")
    if story.reasons:
        typer.echo("geweigerd omdat / refused because:")
        for reason in story.reasons:
            typer.echo(f"  - {reason.nl} ({reason.article}; regel {reason.rule})")
            typer.echo(f"    {reason.en}")
    typer.echo("tijdlijn / timeline (Brussel):")
    for step in story.steps:
        to = f" -> {step.state}" if step.state else ""
        typer.echo(f"  {_long_time(step.at)}  #{step.seq:<6} {step.actor:<16} {step.action}{to}")
        if step.action == "export.cancelled" and step.details.get("reason"):
            typer.echo(f"    reden / reason: {step.details['reason']}")


def event_lines(lines: Sequence[EventLine]) -> None:
    """``kbx audit list``: one row per event, newest first."""
    if not lines:
        typer.echo("geen gebeurtenissen / no events")
        return
    _table(
        ["seq", "tijd (Brussel)", "actor", "actie", "onderwerp", "details"],
        (
            [
                e.seq,
                _long_time(e.at),
                e.actor,
                e.action,
                e.subject,
                json.dumps(e.details, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
            ]
            for e in lines
        ),
    )


def staff_rows(rows: Sequence[StaffRow]) -> None:
    """``kbx users list``."""
    _table(
        ["naam", "rol", "actief", "aangemaakt", "tokens"],
        (
            [r.name, r.role, "ja" if r.active else "nee", short_time(r.created_at), r.tokens]
            for r in rows
        ),
    )


def recipient_overview(view: RecipientOverview) -> None:
    """``kbx recipients show``."""
    state = "actief" if view.active else "niet actief"
    typer.echo(f"{view.id} {view.name} ({view.kind}, {view.province or '-'}, {state})")
    typer.echo("contactpersoon (sleutel-sms):")
    if view.contact_name is None:
        typer.echo("  geen / none")
    else:
        typer.echo(f"  {view.contact_name}, {view.contact_phone_masked}")
        typer.echo(f"  gewijzigd: {_long_time(view.contact_updated_at)}")
    typer.echo("SSH-sleutels voor de SFTP-drop:")
    for key in view.keys or [{"algorithm": "geen / none", "fingerprint": "", "added_at": None}]:
        added = f" (toegevoegd {short_time(key['added_at'])})" if key["added_at"] else ""
        typer.echo(f"  {key['algorithm']} {key['fingerprint']}{added}")
    typer.echo("eigen SFTP-server:")
    if view.sftp is None:
        typer.echo("  geen / none")
    else:
        s = view.sftp
        back = f", retour {s['return_path']}" if s["return_path"] else ""
        typer.echo(f"  {s['username']}@{s['host']}:{s['port']} {s['path']}{back}")
    typer.echo("e-mail:")
    if view.mailbox is None:
        typer.echo("  geen / none")
    else:
        typer.echo(f"  {view.mailbox['address']} via {view.mailbox['route']}")
    typer.echo("wijzigingen die op goedkeuring wachten:")
    for change in view.pending_changes:
        typer.echo(
            f"  #{change['id']} {change['kind']}: {change['summary']} "
            f"(door {change['requested_by']}, {short_time(change['requested_at'])})"
        )
    if not view.pending_changes:
        typer.echo("  geen / none")
    typer.echo("overeenkomsten (ondertekening, toetreding):")
    for a in view.agreements:
        force = f", in werking {a['in_force_on']}" if a["in_force_on"] else ""
        document = f", document {a['document']}" if a["document"] else ""
        cadence = f", ceremonie {a['cadence']}" if a["cadence"] else ""
        state = a["state_nl"]
        if a["notice_on"]:
            state += f" op {a['notice_on']}"
        if a["ends_on"]:
            state += f", einde {a['ends_on']}"
        if a["suspended_on"]:
            state += f", geschorst sinds {a['suspended_on']}"
        typer.echo(
            f"  {a['protocol']} {a['kind']}: ondertekend {a['signed_on']}{force}{cadence}"
            f"{document} [{state}]"
        )
    if not view.agreements:
        typer.echo("  geen / none")
    typer.echo("runs dit jaar:")
    if view.runs_this_year:
        run_lines(view.runs_this_year)
    else:
        typer.echo("  geen / none")


def agreement_rows(
    views: Sequence[AgreementView], describe: Callable[[AgreementView], str]
) -> None:
    """``kbx agreements list``: one row per agreement, its state and dates described in Dutch."""
    if not views:
        typer.echo("geen overeenkomsten / no agreements")
        return
    _table(
        ["protocol", "id", "ontvanger", "soort", "toestand en data"],
        ([v.protocol_id, v.recipient_id, v.recipient_name, v.kind, describe(v)] for v in views),
    )


def change_rows(changes: Sequence[ChangeOut]) -> None:
    """``kbx recipients changes list``: the changes waiting for a second person."""
    if not changes:
        typer.echo("geen wijzigingen die op goedkeuring wachten / no change waits for approval")
        return
    _table(
        ["id", "ontvanger", "soort", "voorgesteld door", "voorgesteld op", "samenvatting"],
        (
            [c.id, c.recipient_id, c.kind, c.requested_by, short_time(c.requested_at), c.summary]
            for c in changes
        ),
    )
