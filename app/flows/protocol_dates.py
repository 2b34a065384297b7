"""Recording a date a protocol's text names but does not give (seed 001, art. 5: the five years of
``vdab-pillar3`` run "na in voege treden van de samenwerkingsovereenkomst"), and the definitions
with the recorded dates applied. The CLI (``kbx protocols set-date``) and ``protocols show`` call
these; the arithmetic is the domain's (``exchange.protocols.term_end``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from app.errors import InvalidInput
from app.flows.deps import ExportDeps
from app.registry import Registry
from app.store import protocol_dates
from app.store.audit import record
from app.store.db import transaction
from exchange.protocols import ProtocolDefinition

__all__ = ["DateRecorded", "effective_definition", "effective_definitions", "set_protocol_date"]


@dataclass(frozen=True)
class DateRecorded:
    """The recorded date, the one it replaced (``None``: the first), and the definition as it
    now stands (its ``validity.until`` computed from the date)."""

    day: date
    previous: date | None
    definition: ProtocolDefinition


def effective_definition(
    engine: Engine, registry: Registry, protocol_id: str
) -> ProtocolDefinition:
    """The loaded definition with its recorded dates applied. Raises ``NotFound``
    (``protocol.unknown``)."""
    definition = registry.require(protocol_id)
    if definition.validity.term is None:
        return definition
    with transaction(engine) as session:
        return protocol_dates.effective(session, definition)


def effective_definitions(engine: Engine, registry: Registry) -> list[ProtocolDefinition]:
    """Every loaded definition with its recorded dates applied, in the registry's order."""
    with transaction(engine) as session:
        return [protocol_dates.effective(session, d) for d in registry]


def set_protocol_date(
    engine: Engine, deps: ExportDeps, *, protocol_id: str, kind: str, day: date, by: str
) -> DateRecorded:
    """Record the date ``kind`` of ``protocol_id`` (e.g. ``cooperation_agreement_in_force`` for
    ``vdab-pillar3``, seed 001 art. 5) with its audit event (``protocol.date_set``: the kind,
    the day, the previous day and the end it now gives), in one transaction.

    Raises ``NotFound`` (``protocol.unknown``), ``InvalidInput`` (``protocol.no_such_date``)
    when the protocol's validity does not count from such a date, (``protocol.date_in_future``)
    for a day after today: an entry into force is recorded once it happened."""
    definition = deps.registry.require(protocol_id)
    term = definition.validity.term
    if term is None or term.counted_from != kind:
        raise InvalidInput(
            "protocol.no_such_date",
            f"the validity of {protocol_id} does not count from a date '{kind}'",
            f"de geldigheid van {protocol_id} wordt niet geteld vanaf een datum '{kind}'",
        )
    today, now = deps.settings.current_date(), deps.settings.now()
    if day > today:
        raise InvalidInput(
            "protocol.date_in_future",
            f"{day.isoformat()} is after today: record the {kind} once it happened",
            f"{day:%d.%m.%Y} ligt na vandaag: leg de {term.label_nl} vast zodra ze plaatsvond",
        )
    with transaction(engine) as session:
        previous = protocol_dates.store(session, protocol_id, kind, day, by, now)
        updated = protocol_dates.effective(session, definition)
        record(
            session,
            actor=by,
            action="protocol.date_set",
            subject=f"protocol:{protocol_id}",
            details={
                "kind": kind,
                "day": day.isoformat(),
                "previous": previous.isoformat() if previous else None,
                "until": updated.validity.until.isoformat() if updated.validity.until else None,
                "article": term.article,
            },
            now=now,
        )
    return DateRecorded(day, previous, updated)
