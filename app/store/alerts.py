"""The database side of the overview's alerts (``app.flows.alerts``): one query per kind, each
with a limit, each returning the rows with their recipient's Dutch name. The states and
statuses that make an alert are the flow's; these only ask for them.

Each query reads the few columns an alert shows (``AlertRun``), not whole runs: loading forty
columns into ``ExportRun`` objects cost more than running the query (the overview asks all five
on every request). Every statement is built once, with bound parameters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, bindparam, exists, select
from sqlalchemy.orm import Session, aliased

from exchange.agreements import EndKind
from exchange.models import Agreement, ExportRun, Recipient, SmsMessage

__all__ = [
    "AlertRun",
    "deferred_deliveries",
    "expiring_on_the_drop",
    "last_key_sms_in",
    "notices_running",
    "resends_asked",
]

_SFTP_DROP = "sftp_drop"

# What an alert about a run reads of it, as a row with these attribute names (times as stored:
# see app.store.db.aware), and ``name``: the recipient's Dutch name.
AlertRun = Row[Any]
_RUN = (
    ExportRun.id,
    ExportRun.reference,
    ExportRun.recipient_id,
    ExportRun.requested_at,
    ExportRun.key_sent_at,
    ExportRun.resend_requested_by,
    ExportRun.remote_checked_at,
    ExportRun.state_changed_at,
    ExportRun.expires_at,
    Recipient.name_nl.label("name"),
)

_later = aliased(SmsMessage)
_KEY_SMS = (
    select(*_RUN, SmsMessage.status, SmsMessage.status_at)
    .join(ExportRun, ExportRun.id == SmsMessage.run_id)
    .join(Recipient, Recipient.id == ExportRun.recipient_id)
    .where(
        SmsMessage.status.in_(bindparam("statuses", expanding=True)),
        ~exists().where(_later.run_id == SmsMessage.run_id, _later.id > SmsMessage.id),
        ExportRun.state.in_(bindparam("states", expanding=True)),
    )
    .order_by(SmsMessage.status_at.desc(), SmsMessage.id.desc())
    .limit(bindparam("limit"))
)
# The partial index ix_export_runs_resend_asked holds exactly these runs (migration 0011).
_RESENDS = (
    select(*_RUN)
    .join(Recipient, Recipient.id == ExportRun.recipient_id)
    .where(ExportRun.resend_requested_by.is_not(None))
    .order_by(ExportRun.id)
    .limit(bindparam("limit"))
)
_DEFERRED = (
    select(*_RUN)
    .join(Recipient, Recipient.id == ExportRun.recipient_id)
    .where(
        ExportRun.state.in_(bindparam("states", expanding=True)),
        ExportRun.remote_checked_at.is_not(None),
    )
    .order_by(ExportRun.state_changed_at, ExportRun.id)
    .limit(bindparam("limit"))
)
_EXPIRING = (
    select(*_RUN)
    .join(Recipient, Recipient.id == ExportRun.recipient_id)
    .where(
        ExportRun.channel == _SFTP_DROP,
        ExportRun.state.in_(bindparam("states", expanding=True)),
        ExportRun.fetched_at.is_(None),
        ExportRun.expires_at <= bindparam("before"),
    )
    .order_by(ExportRun.expires_at, ExportRun.id)
    .limit(bindparam("limit"))
)
_NOTICES = (
    select(
        Agreement.recipient_id,
        Agreement.protocol_id,
        Agreement.notice_on,
        Agreement.ends_on,
        Recipient.name_nl.label("name"),
    )
    .join(Recipient, Recipient.id == Agreement.recipient_id)
    .where(
        Agreement.end_kind == EndKind.NOTICE.value,
        Agreement.notice_on <= bindparam("today"),
        Agreement.ends_on > bindparam("today"),
    )
    .order_by(Agreement.ends_on, Agreement.id)
    .limit(bindparam("limit"))
)


def last_key_sms_in(
    session: Session, statuses: Sequence[str], states: Sequence[str], limit: int
) -> list[AlertRun]:
    """Runs in one of ``states`` whose latest key SMS has one of ``statuses``, as rows of
    ``AlertRun`` plus ``status`` and ``status_at`` (as stored), the latest status first, at
    most ``limit``."""
    parameters = {"statuses": list(statuses), "states": list(states), "limit": limit}
    return list(session.execute(_KEY_SMS, parameters))


def resends_asked(session: Session, limit: int) -> list[AlertRun]:
    """Runs whose key resend was asked and not yet approved, oldest run first."""
    return list(session.execute(_RESENDS, {"limit": limit}))


def deferred_deliveries(session: Session, states: Sequence[str], limit: int) -> list[AlertRun]:
    """Runs in one of ``states`` that have had a delivery attempt on a server that could not be
    reached (``remote_checked_at`` set: ``app.flows.execution``), the longest waiting first."""
    return list(session.execute(_DEFERRED, {"states": list(states), "limit": limit}))


def expiring_on_the_drop(
    session: Session, states: Sequence[str], before: datetime, limit: int
) -> list[AlertRun]:
    """Runs in one of ``states`` whose file is on kbx's own drop, not fetched, and expires at or
    before ``before`` (aware), the soonest first."""
    parameters = {"states": list(states), "before": before, "limit": limit}
    return list(session.execute(_EXPIRING, parameters))


def notices_running(session: Session, today: date, limit: int) -> list[Row[Any]]:
    """Agreements with notice given on or before ``today`` that end after it, the soonest end
    first, as rows of ``recipient_id``, ``protocol_id``, ``notice_on``, ``ends_on`` and the
    recipient's Dutch ``name``."""
    return list(session.execute(_NOTICES, {"today": today, "limit": limit}))
