"""The one access point for export runs: load them, list them, and move them.

A run's state changes only here (``move``), always together with its audit event, in the
caller's transaction; an event about a run that does not change its state goes through ``note``.
Both build the event's details the same way (``details``): the run's identifiers, never a person.
The transitions themselves are the domain's (``exchange.exports.transition``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, inspect, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.errors import Conflict, NotFound
from app.store.audit import record
from app.store.db import aware
from exchange.clock import BRUSSELS
from exchange.exports import STATES_NL, InvalidTransition, RunState, run_reference, transition
from exchange.models import LIVE_RUN_STATES, AuditEvent, ExportRun
from exchange.requests import ListRequest
from exchange.shown import shown

__all__ = [
    "EVERY_RUN",
    "SHOWN_COLUMNS",
    "RunFilter",
    "awaiting_return",
    "by_file",
    "claim",
    "derived_from",
    "details",
    "expired_on_the_drop",
    "find",
    "history",
    "list_rows",
    "list_runs",
    "live_for_slot",
    "load",
    "move",
    "note",
    "passwords_to_destroy",
    "previous_list_on",
    "pushed_to_watch",
    "request_of",
    "run_events",
    "run_ids",
    "state_counts",
    "subject",
    "to_carry",
]

_SFTP_DROP = "sftp_drop"
_SFTP_PUSH = "sftp_push"

# The time column each state stamps when a run enters it (the others have no column of their own;
# the audit trail holds every transition's time).
_STAMPS = {
    RunState.APPROVED: "approved_at",
    RunState.DELIVERED: "delivered_at",
    RunState.KEY_SENT: "key_sent_at",
    RunState.FETCHED: "fetched_at",
    RunState.PURGED: "purged_at",
    RunState.RETURNED: "returned_at",
}


def subject(run: ExportRun) -> str:
    """The audit subject of a run: ``run:<id>``."""
    return f"run:{run.id}"


def details(run: ExportRun, **extra: Any) -> dict[str, Any]:
    """The details of an audit event about ``run``: reference, protocol, recipient, period, the
    request it answers when it answers one (``request``: its date and the municipality's
    reference, seed 000 overweging C), and the caller's extras (identifiers, counts, digests;
    never personal data)."""
    request = (
        {"request": {"requested_on": run.requested_on.isoformat(), "reference": run.request_ref}}
        if run.requested_on is not None
        else {}
    )
    return {
        "reference": run.reference,
        "protocol": run.protocol_id,
        "recipient": run.recipient_id,
        "period": run.period,
        **request,
        **extra,
    }


def request_of(run: ExportRun) -> ListRequest | None:
    """The request ``run`` answers, as recorded on it (``None`` when it answers none)."""
    if run.requested_on is None or run.request_ref is None:
        return None
    return ListRequest(run.requested_on, run.request_ref)


_REFERENCE = re.compile(r"KBX-[0-9]{4}-[0-9]{6}", re.IGNORECASE)


def _as_typed(text: str) -> str:
    """What a message may repeat of a run someone named: a reference as such, anything else
    only if it cannot be a national number (``exchange.shown``)."""
    return text.upper() if _REFERENCE.fullmatch(text) else shown(text)


def load(session: Session, run_id: int, *, for_update: bool = False) -> ExportRun:
    """The run with this id. Raises ``NotFound`` (``run.unknown``)."""
    run = session.get(ExportRun, run_id, with_for_update=for_update)
    if run is None:
        # An id of ten digits or more is no run of ours: it may be a national number typed
        # without its leading zero.
        named = str(run_id) if run_id < 10**9 else "(value not shown)"
        raise NotFound("run.unknown", f"unknown run {named}", f"onbekende export {named}")
    return run


def find(session: Session, text: str) -> ExportRun:
    """The run named by its id (``17``) or its reference (``KBX-2026-000017``, any case).
    Raises ``NotFound`` (``run.unknown``)."""
    value = text.strip()
    run: ExportRun | None
    if value.isdigit() and len(value) <= 9:  # a run id fits a 32-bit integer column
        run = session.get(ExportRun, int(value))
    else:
        run = session.scalar(select(ExportRun).where(ExportRun.reference == value.upper()))
    if run is None:
        named = _as_typed(value)
        raise NotFound("run.unknown", f"unknown run {named}", f"onbekende export {named}")
    return run


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs: every field given must hold (``since``: requested at or after, aware)."""

    batch: str | None = None
    states: tuple[RunState, ...] | None = None
    protocol: str | None = None
    recipient: str | None = None
    channel: str | None = None
    period: str | None = None
    since: datetime | None = None
    include_refused: bool = True
    before_id: int | None = None  # a page of a list: only runs older (by id) than this one

    def apply(self, query: Select[Any]) -> Select[Any]:
        """``query`` narrowed to the runs this filter names."""
        if self.batch is not None:
            query = query.where(ExportRun.batch_id == self.batch)
        if self.states is not None and len(self.states) == 1:
            # One state (the console asks for each in turn): a plain comparison is compiled
            # once, an IN list again on every execution.
            query = query.where(ExportRun.state == self.states[0].value)
        elif self.states is not None:
            query = query.where(ExportRun.state.in_([s.value for s in self.states]))
        if self.protocol is not None:
            query = query.where(ExportRun.protocol_id == self.protocol)
        if self.recipient is not None:
            query = query.where(ExportRun.recipient_id == self.recipient)
        if self.channel is not None:
            query = query.where(ExportRun.channel == self.channel)
        if self.period is not None:
            query = query.where(ExportRun.period == self.period)
        if self.since is not None:
            query = query.where(ExportRun.requested_at >= self.since)
        if not self.include_refused:
            query = query.where(ExportRun.state != RunState.REFUSED.value)
        if self.before_id is not None:
            query = query.where(ExportRun.id < self.before_id)
        return query


EVERY_RUN = RunFilter()


def list_runs(
    session: Session,
    where: RunFilter = EVERY_RUN,
    *,
    newest_first: bool = True,
    limit: int | None = None,
) -> list[ExportRun]:
    """The runs ``where`` names, newest first unless asked otherwise, at most ``limit``."""
    query = where.apply(select(ExportRun))
    query = query.order_by(ExportRun.id.desc() if newest_first else ExportRun.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# Every column of a run but its sealed passwords, by attribute name: what a list of runs shows.
SHOWN_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = tuple(
    getattr(ExportRun, column.key)
    for column in inspect(ExportRun).column_attrs
    if column.key not in ("password_sealed", "sent_sealed")
)


def list_rows(
    session: Session,
    where: RunFilter = EVERY_RUN,
    *,
    columns: Sequence[InstrumentedAttribute[Any] | ColumnElement[Any]] = SHOWN_COLUMNS,
    newest_first: bool = True,
    limit: int | None = None,
) -> list[Row[Any]]:
    """The runs of ``list_runs`` as read-only rows of ``columns`` (attributes named as on
    ``ExportRun``, or labelled expressions about the run; times as stored, see ``aware``). A
    page of runs is read per request: rows cost about half of what loading the runs into the
    session does, and never carry a sealed password."""
    query = where.apply(_selecting(tuple(columns)))
    query = query.order_by(ExportRun.id.desc() if newest_first else ExportRun.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query))


@functools.cache
def _selecting(columns: tuple[InstrumentedAttribute[Any] | ColumnElement[Any], ...]) -> Select[Any]:
    # A list's few column sets, each built once: building a select of twenty columns costs
    # about as much as running it.
    return select(*columns)


def run_ids(session: Session, where: RunFilter = EVERY_RUN) -> list[int]:
    """Ids of the runs ``where`` names, oldest first."""
    return list(session.scalars(where.apply(select(ExportRun.id)).order_by(ExportRun.id)))


def state_counts(session: Session, where: RunFilter = EVERY_RUN) -> dict[str, int]:
    """How many of the runs ``where`` names are in each state (states with none are left out),
    counted by the database (one ``GROUP BY``), not by loading the runs."""
    query = where.apply(select(ExportRun.state)).add_columns(func.count()).group_by(ExportRun.state)
    return {state: count for state, count in session.execute(query)}


def claim(
    session: Session,
    run: ExportRun,
    state: RunState,
    *,
    actor: str,
    action: str,
    now: datetime,
    today: date,
    **extra: Any,
) -> None:
    """Insert a new ``run`` in ``state`` (``requested``, or ``refused`` with its reasons), give it
    its reference and append its audit event, in the caller's transaction. For a live run the
    insert is the claim on its slot: the partial unique index raises SQLAlchemy's
    ``IntegrityError`` when another live run holds (protocol, recipient, period)."""
    run.state = state.value
    run.state_changed_at = now
    session.add(run)
    session.flush()
    run.reference = run_reference(run.id, today)
    note(session, run, actor=actor, action=action, now=now, state=state.value, **extra)


def expired_on_the_drop(session: Session, now: datetime) -> list[ExportRun]:
    """Runs whose file is still on kbx's own drop after its expiry (``expires_at <= now``)."""
    on_the_drop = [RunState.DELIVERED, RunState.KEY_SENT, RunState.FETCHED]
    return list(
        session.scalars(
            select(ExportRun)
            .where(
                ExportRun.state.in_(on_the_drop),
                ExportRun.expires_at <= now,
                ExportRun.channel == _SFTP_DROP,
            )
            .order_by(ExportRun.id)
        )
    )


def passwords_to_destroy(session: Session, key_sent_before: datetime) -> list[ExportRun]:
    """Runs that still hold a sealed password whose key SMS left before ``key_sent_before``; a
    round trip's run keeps it until its return is in (the return comes under that password)."""
    return list(
        session.scalars(
            select(ExportRun)
            .where(
                ExportRun.password_sealed.is_not(None),
                ExportRun.key_sent_at <= key_sent_before,
                ExportRun.sent_sealed.is_(None),
            )
            .order_by(ExportRun.id)
        )
    )


def by_file(session: Session, recipient: str, file_name: str) -> ExportRun | None:
    """The run that delivered ``file_name`` to ``recipient``, if any."""
    found: ExportRun | None = session.scalar(
        select(ExportRun).where(
            ExportRun.recipient_id == recipient, ExportRun.file_name == file_name
        )
    )
    return found


def to_carry(session: Session, *, retry_before: datetime | None) -> list[int]:
    """Ids of the runs the worker must carry on: approved, or stopped half-way (built,
    delivered); with ``retry_before``, a run waiting for an unreachable server only once its
    last attempt (``remote_checked_at``) lies before it."""
    live = select(ExportRun.id).where(
        ExportRun.state.in_([RunState.APPROVED, RunState.BUILT, RunState.DELIVERED])
    )
    if retry_before is not None:
        live = live.where(
            (ExportRun.state == RunState.DELIVERED)
            | ExportRun.remote_checked_at.is_(None)
            | (ExportRun.remote_checked_at <= retry_before)
        )
    return list(session.scalars(live.order_by(ExportRun.id)))


def pushed_to_watch(session: Session, now: datetime, checked_before: datetime) -> list[ExportRun]:
    """Runs whose file sits on a recipient's own server (``sftp_push``, delivered or key sent)
    and is due a look: never checked, last checked before ``checked_before``, or expired."""
    return list(
        session.scalars(
            select(ExportRun)
            .where(
                ExportRun.channel == _SFTP_PUSH,
                ExportRun.state.in_([RunState.DELIVERED, RunState.KEY_SENT]),
                ExportRun.file_name.is_not(None),
                ExportRun.remote_checked_at.is_(None)
                | (ExportRun.remote_checked_at <= checked_before)
                | (ExportRun.expires_at <= now),
            )
            .order_by(ExportRun.id)
        )
    )


def awaiting_return(session: Session) -> list[int]:
    """Ids of the round-trip runs whose return has not come in yet (they keep what was sent)."""
    waiting = [RunState.KEY_SENT, RunState.FETCHED, RunState.PURGED]
    return list(
        session.scalars(
            select(ExportRun.id)
            .where(ExportRun.sent_sealed.is_not(None), ExportRun.state.in_(waiting))
            .order_by(ExportRun.id)
        )
    )


def derived_from(session: Session, parent_id: int, recipient: str) -> ExportRun | None:
    """The run derived from run ``parent_id`` for ``recipient`` (a round trip's dataset for the
    BI working group or for VDAB), if made."""
    found: ExportRun | None = session.scalar(
        select(ExportRun).where(
            ExportRun.parent_id == parent_id, ExportRun.recipient_id == recipient
        )
    )
    return found


def live_for_slot(session: Session, protocol: str, recipient: str, period: str) -> ExportRun | None:
    """The newest run of (protocol, recipient, period) that was not refused."""
    found: ExportRun | None = session.scalar(
        select(ExportRun)
        .where(
            ExportRun.protocol_id == protocol,
            ExportRun.recipient_id == recipient,
            ExportRun.period == period,
            ExportRun.state != RunState.REFUSED.value,
            ExportRun.parent_id.is_(None),
        )
        .order_by(ExportRun.id.desc())
        .limit(1)
    )
    return found


def history(session: Session, protocol: str, recipient: str) -> list[tuple[str, str]]:
    """(period, state) of every run of ``protocol`` for ``recipient``: what the policy counts
    (not the runs derived from another one: a round trip's dataset is not a list of its own)."""
    rows = session.execute(
        select(ExportRun.period, ExportRun.state).where(
            ExportRun.protocol_id == protocol,
            ExportRun.recipient_id == recipient,
            ExportRun.parent_id.is_(None),
        )
    )
    return [(period, state) for period, state in rows]


def previous_list_on(session: Session, run: ExportRun) -> date | None:
    """The Brussels day the latest earlier list of ``run``'s protocol to its recipient was
    delivered (a refused, cancelled or failed run made none), or None."""
    delivered = session.scalar(
        select(func.max(ExportRun.delivered_at)).where(
            ExportRun.protocol_id == run.protocol_id,
            ExportRun.recipient_id == run.recipient_id,
            ExportRun.id != run.id,
            ExportRun.delivered_at.is_not(None),
            ExportRun.state.in_(LIVE_RUN_STATES),
        )
    )
    moment = aware(delivered)
    return None if moment is None else moment.astimezone(BRUSSELS).date()


def move(
    session: Session,
    run: ExportRun,
    target: RunState,
    *,
    actor: str,
    action: str,
    now: datetime,
    **extra: Any,
) -> None:
    """Move ``run`` to ``target`` and append its audit event (``action`` by ``actor``, the run's
    ``details`` plus ``extra`` and the new ``state``), in the caller's transaction. Stamps the
    state's own time column (``approved_at``, ``delivered_at``, ...) when it has one. Raises
    ``Conflict`` (``run.invalid_transition``) when the state machine does not allow the step."""
    try:
        run.state = transition(RunState(run.state), target).value
    except InvalidTransition as exc:
        raise Conflict(
            "run.invalid_transition",
            str(exc),
            f"De export kan niet van {STATES_NL.get(run.state, run.state)} naar "
            f"{STATES_NL.get(target, target.value)} gaan",
        ) from exc
    run.state_changed_at = now
    stamp = _STAMPS.get(target)
    if stamp is not None:
        setattr(run, stamp, now)
    note(session, run, actor=actor, action=action, now=now, state=target.value, **extra)


def note(
    session: Session, run: ExportRun, *, actor: str, action: str, now: datetime, **extra: Any
) -> None:
    """Append an audit event about ``run`` that does not change its state (a deferral, a resend
    request, a refused SMS), with the run's ``details`` plus ``extra``."""
    record(
        session,
        actor=actor,
        action=action,
        subject=subject(run),
        details=details(run, **extra),
        now=now,
    )


def run_events(session: Session, run_ids: Sequence[int]) -> list[AuditEvent]:
    """Every audit event about these runs, in the order of the chain."""
    subjects = [f"run:{i}" for i in run_ids]
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.subject.in_(subjects)).order_by(AuditEvent.seq)
        )
    )
