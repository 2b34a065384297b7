"""The database side of the overview's alerts (``app.flows.alerts``): one query per kind, each
with a limit, each returning the rows with their recipient's Dutch name. The states and
statuses that make an alert are the flow's; these only ask for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from exchange.agreements import EndKind
from exchange.models import Agreement, ExportRun, Recipient, SmsMessage

__all__ = [
    "deferred_deliveries",
    "expiring_on_the_drop",
    "last_key_sms_in",
    "notices_running",
    "resends_asked",
]

_SFTP_DROP = "sftp_drop"


def last_key_sms_in(
    session: Session, statuses: Sequence[str], states: Sequence[str], limit: int
) -> list[tuple[ExportRun, str, str, datetime]]:
    """Runs in one of ``states`` whose latest key SMS has one of ``statuses``, as (run,
    recipient name, status, status time), the latest status first, at most ``limit``."""
    later = aliased(SmsMessage)
    newer = exists().where(later.run_id == SmsMessage.run_id, later.id > SmsMessage.id)
    rows = session.execute(
        select(ExportRun, Recipient.name_nl, SmsMessage.status, SmsMessage.status_at)
        .join(ExportRun, ExportRun.id == SmsMessage.run_id)
        .join(Recipient, Recipient.id == ExportRun.recipient_id)
        .where(SmsMessage.status.in_(statuses), ~newer, ExportRun.state.in_(states))
        .order_by(SmsMessage.status_at.desc(), SmsMessage.id.desc())
        .limit(limit)
    )
    return [(run, name, status, at) for run, name, status, at in rows]


def resends_asked(session: Session, limit: int) -> list[tuple[ExportRun, str]]:
    """Runs whose key resend was asked and not yet approved, oldest run first."""
    rows = session.execute(
        select(ExportRun, Recipient.name_nl)
        .join(Recipient, Recipient.id == ExportRun.recipient_id)
        .where(ExportRun.resend_requested_by.is_not(None))
        .order_by(ExportRun.id)
        .limit(limit)
    )
    return [(run, name) for run, name in rows]


def deferred_deliveries(
    session: Session, states: Sequence[str], limit: int
) -> list[tuple[ExportRun, str]]:
    """Runs in one of ``states`` that have had a delivery attempt on a server that could not be
    reached (``remote_checked_at`` set: ``app.flows.execution``), the longest waiting first."""
    rows = session.execute(
        select(ExportRun, Recipient.name_nl)
        .join(Recipient, Recipient.id == ExportRun.recipient_id)
        .where(ExportRun.state.in_(states), ExportRun.remote_checked_at.is_not(None))
        .order_by(ExportRun.state_changed_at, ExportRun.id)
        .limit(limit)
    )
    return [(run, name) for run, name in rows]


def expiring_on_the_drop(
    session: Session, states: Sequence[str], before: datetime, limit: int
) -> list[tuple[ExportRun, str]]:
    """Runs in one of ``states`` whose file is on kbx's own drop, not fetched, and expires at or
    before ``before`` (aware), the soonest first."""
    rows = session.execute(
        select(ExportRun, Recipient.name_nl)
        .join(Recipient, Recipient.id == ExportRun.recipient_id)
        .where(
            ExportRun.channel == _SFTP_DROP,
            ExportRun.state.in_(states),
            ExportRun.fetched_at.is_(None),
            ExportRun.expires_at <= before,
        )
        .order_by(ExportRun.expires_at, ExportRun.id)
        .limit(limit)
    )
    return [(run, name) for run, name in rows]


def notices_running(session: Session, today: date, limit: int) -> list[tuple[Agreement, str]]:
    """Agreements with notice given on or before ``today`` that end after it, the soonest end
    first."""
    rows = session.execute(
        select(Agreement, Recipient.name_nl)
        .join(Recipient, Recipient.id == Agreement.recipient_id)
        .where(
            Agreement.end_kind == EndKind.NOTICE.value,
            Agreement.notice_on <= today,
            Agreement.ends_on > today,
        )
        .order_by(Agreement.ends_on, Agreement.id)
        .limit(limit)
    )
    return [(agreement, name) for agreement, name in rows]
