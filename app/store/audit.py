"""The audit trail at the edge: append an event in the caller's transaction; read the chain."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from exchange.audit import GENESIS, AuditRecord, canonical, chain_hash
from exchange.models import AuditEvent

__all__ = ["read_chain", "record"]

_CHAIN_LOCK = 0x6B6278  # "kbx": an application-wide advisory lock id


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    now: datetime,
) -> AuditEvent:
    """Append one event. It commits with the change it describes (same transaction); the unique
    ``prev_hash`` makes a concurrent append fail instead of forking the chain."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appenders for the rest of this transaction; SQLite's BEGIN IMMEDIATE does it.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    head = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    at = now.isoformat(timespec="seconds")
    payload = canonical(seq, at, actor, action, subject, details)
    event = AuditEvent(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        prev_hash=prev,
        hash=chain_hash(prev, payload),
    )
    session.add(event)
    session.flush()
    return event


def read_chain(session: Session) -> Iterator[AuditRecord]:
    for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).yield_per(1000):
        yield AuditRecord(
            e.seq, e.at, e.actor, e.action, e.subject, json.loads(e.details), e.prev_hash, e.hash
        )
