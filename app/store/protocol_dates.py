"""Dates of protocols that their texts name but do not give, as an admin recorded them
(``protocol_dates``), and a definition with them applied (``effective``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.models import ProtocolDate
from exchange.protocols import ProtocolDefinition

__all__ = ["effective", "recorded", "store"]


def recorded(session: Session, protocol_id: str) -> dict[str, date]:
    """The recorded dates of ``protocol_id``, by kind (``cooperation_agreement_in_force``)."""
    rows = session.execute(
        select(ProtocolDate.kind, ProtocolDate.day).where(ProtocolDate.protocol_id == protocol_id)
    )
    return {kind: day for kind, day in rows}


def effective(session: Session, definition: ProtocolDefinition) -> ProtocolDefinition:
    """``definition`` with its recorded dates applied (``ProtocolDefinition.with_dates``): the
    one the policy judges and ``protocols show`` shows."""
    if definition.validity.term is None:
        return definition
    return definition.with_dates(recorded(session, definition.id))


def store(
    session: Session, protocol_id: str, kind: str, day: date, by: str, now: datetime
) -> date | None:
    """Record (or replace) the date ``kind`` of ``protocol_id``; returns the previous one."""
    row = session.get(ProtocolDate, (protocol_id, kind), with_for_update=True)
    if row is None:
        session.add(
            ProtocolDate(
                protocol_id=protocol_id, kind=kind, day=day, recorded_by=by, recorded_at=now
            )
        )
        return None
    previous = row.day
    row.day, row.recorded_by, row.recorded_at = day, by, now
    return previous
