"""What left, to whom, when: the read side staff use to follow runs, recipients and the audit
trail (``kbx export list|show``, ``kbx audit list|show``, ``kbx recipients show``, the console).

Every time is given aware, in Brussels time (``Europe/Brussels``); front ends print it as
ISO 8601 with its offset. Nothing here returns personal data of an integree: runs and audit
events hold identifiers and counts only, and a contact's phone number is masked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Row, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.errors import NotFound
from app.flows.agreements import views as agreement_views
from app.store import runs
from app.store.audit import read_chain
from app.store.db import reading, transaction
from app.store.recipients import resolve
from app.store.snapshots import shared
from exchange.audit import ChainReport, verify_chain
from exchange.clock import BRUSSELS, in_brussels
from exchange.exports import RunState
from exchange.models import (
    AuditEvent,
    ExportRun,
    PendingChange,
    Recipient,
    RecipientContact,
    RecipientKey,
    RecipientMail,
    RecipientSftp,
)
from exchange.policy import Reason
from exchange.recipients import mask_phone

if TYPE_CHECKING:
    from app.registry import Registry

__all__ = [
    "IN_PROGRESS",
    "Board",
    "EventLine",
    "RecipientOverview",
    "RunLine",
    "RunStory",
    "Step",
    "audit_event",
    "audit_events",
    "board",
    "local",
    "mask_phone",
    "recipient_overview",
    "run_lines",
    "run_story",
    "verify_trail",
]


def local(moment: datetime | None) -> datetime | None:
    """``moment`` in Brussels time (a naive value from SQLite is UTC), or ``None``."""
    return None if moment is None else in_brussels(moment)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=BRUSSELS)


@dataclass(frozen=True, slots=True)
class RunLine:
    """One run as a row of ``kbx export list``; times in Brussels time, ``None`` if not yet."""

    id: int
    reference: str | None
    protocol: str
    recipient: str
    recipient_name: str
    period: str
    channel: str
    state: str
    batch: str | None
    requested_at: datetime | None
    approved_at: datetime | None
    delivered_at: datetime | None
    key_sent_at: datetime | None
    fetched_at: datetime | None
    purged_at: datetime | None
    requested_on: date | None = None  # the municipality's request this run answers
    request_ref: str | None = None
    requested_by: str = ""  # the staff member who asked (four-eyes: never its approver)

    @property
    def last_step_at(self) -> datetime | None:
        """The latest of approval, delivery, key SMS, fetch and purge (Brussels time), or
        ``None`` before approval."""
        if self.approved_at is None:
            return None
        steps = (self.approved_at, self.delivered_at, self.key_sent_at, self.fetched_at)
        return max(s for s in (*steps, self.purged_at) if s is not None)


def _line(run: ExportRun | Row[Any], name: str) -> RunLine:
    return RunLine(
        id=run.id,
        reference=run.reference,
        protocol=run.protocol_id,
        recipient=run.recipient_id,
        recipient_name=name,
        period=run.period,
        channel=run.channel,
        state=run.state,
        batch=run.batch_id,
        requested_at=local(run.requested_at),
        approved_at=local(run.approved_at),
        delivered_at=local(run.delivered_at),
        key_sent_at=local(run.key_sent_at),
        fetched_at=local(run.fetched_at),
        purged_at=local(run.purged_at),
        requested_on=run.requested_on,
        request_ref=run.request_ref,
        requested_by=run.requested_by,
    )


# What a line of ``run_lines`` reads of a run: not the whole run (a page lists up to a hundred).
_LINE_COLUMNS = (
    ExportRun.id,
    ExportRun.reference,
    ExportRun.protocol_id,
    ExportRun.recipient_id,
    ExportRun.period,
    ExportRun.channel,
    ExportRun.state,
    ExportRun.batch_id,
    ExportRun.requested_at,
    ExportRun.approved_at,
    ExportRun.delivered_at,
    ExportRun.key_sent_at,
    ExportRun.fetched_at,
    ExportRun.purged_at,
    ExportRun.requested_on,
    ExportRun.request_ref,
    ExportRun.requested_by,
    # The recipient's name in the same query: not one query per run, nor every name per page.
    select(Recipient.name_nl)
    .where(Recipient.id == ExportRun.recipient_id)
    .scalar_subquery()
    .label("recipient_name"),
)


def run_lines(
    engine: Engine,
    *,
    protocol: str | None = None,
    recipient: str | None = None,
    state: RunState | None = None,
    since: date | None = None,
    include_refused: bool = False,
    limit: int | None = None,
    before: int | None = None,
) -> list[RunLine]:
    """Runs newest first. ``recipient`` is an id or a name (``resolve``); ``since`` a date in
    Brussels (requested on or after it); refused requests only with ``include_refused`` or when
    ``state`` asks for them; ``before`` a run id (the next page: older runs only). Raises
    ``NotFound``/``InvalidInput`` for an unknown or ambiguous
    recipient."""
    with reading(engine) as session:
        recipient_id = resolve(session, recipient).id if recipient else None
        where = runs.RunFilter(
            protocol=protocol,
            recipient=recipient_id,
            states=(state,) if state is not None else None,
            since=_day_start(since) if since is not None else None,
            include_refused=include_refused or state is RunState.REFUSED,
            before_id=before,
        )
        found = runs.list_rows(session, where, columns=_LINE_COLUMNS, limit=limit)
    return [_line(r, r.recipient_name or r.recipient_id) for r in found]


@dataclass(frozen=True, slots=True)
class Board:
    """The runs the console's overview lists, newest first: ``requested`` (waiting for a second
    person), ``busy`` (approved and on their way: ``IN_PROGRESS``) and the latest ``refused``
    requests."""

    requested: tuple[RunLine, ...]
    busy: tuple[RunLine, ...]
    refused: tuple[RunLine, ...]


# A run on its way: approved, built, delivered or its key sent (not yet fetched or purged).
IN_PROGRESS = (RunState.APPROVED, RunState.BUILT, RunState.DELIVERED, RunState.KEY_SENT)


def board(engine: Engine, now: datetime, *, limit: int, refused_limit: int) -> Board:
    """The overview's three lists, at most ``limit`` runs each (``refused_limit`` refusals),
    read from one snapshot in three indexed queries (``ix_export_runs_state``) and shared by
    the requests of the same second (``app.store.snapshots.shared``: never older than this
    process's last commit; ``now`` aware). Raises nothing of its own."""

    def lines(session: Session, where: runs.RunFilter, most: int) -> tuple[RunLine, ...]:
        found = runs.list_rows(session, where, columns=_LINE_COLUMNS, limit=most)
        return tuple(_line(r, r.recipient_name or r.recipient_id) for r in found)

    def read() -> Board:
        with reading(engine) as session:
            return Board(
                requested=lines(session, runs.RunFilter(states=(RunState.REQUESTED,)), limit),
                busy=lines(session, runs.RunFilter(states=IN_PROGRESS), limit),
                refused=lines(
                    session,
                    runs.RunFilter(states=(RunState.REFUSED,), include_refused=True),
                    refused_limit,
                ),
            )

    return shared(engine, f"board:{limit}:{refused_limit}", now, read)


@dataclass(frozen=True, slots=True)
class Step:
    """One event of a run's life: when (Brussels), who, what, and the state it led to."""

    seq: int
    at: datetime
    actor: str
    action: str
    state: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunStory:
    """A run whole: its line, its timeline, the reasons of a refusal, its file."""

    line: RunLine
    requested_by: str
    approved_by: str | None
    steps: list[Step]
    reasons: list[Reason]
    file_name: str | None
    file_size: int | None
    file_sha256: str | None
    rows: int | None
    fields: list[str] | None
    definition_hash: str
    expires_at: datetime | None
    failure: str | None
    parent_id: int | None


def _step(event: AuditEvent) -> Step:
    details = json.loads(event.details)
    at = datetime.fromisoformat(event.at)
    return Step(
        seq=event.seq,
        at=in_brussels(at),
        actor=event.actor,
        action=event.action,
        state=details.get("state"),
        details=details,
    )


def run_story(engine: Engine, text: str) -> RunStory:
    """The run named by id or reference, with every audit event about it in chain order.
    Raises ``NotFound`` (``run.unknown``)."""
    with reading(engine) as session:
        run = runs.find(session, text)
        name = session.scalar(select(Recipient.name_nl).where(Recipient.id == run.recipient_id))
        steps = [_step(e) for e in runs.run_events(session, [run.id])]
        reasons = [Reason(**r) for r in json.loads(run.refusal)] if run.refusal else []
        return RunStory(
            line=_line(run, name or run.recipient_id),
            requested_by=run.requested_by,
            approved_by=run.approved_by,
            steps=steps,
            reasons=reasons,
            file_name=run.file_name,
            file_size=run.file_size,
            file_sha256=run.file_sha256,
            rows=run.row_count,
            fields=json.loads(run.field_list) if run.field_list else None,
            definition_hash=run.definition_hash,
            expires_at=local(run.expires_at),
            failure=run.failure,
            parent_id=run.parent_id,
        )


@dataclass(frozen=True, slots=True)
class EventLine:
    """One audit event as staff read it (the events hold identifiers and counts only)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    hash: str


def _event_line(event: AuditEvent | Row[Any]) -> EventLine:
    return EventLine(
        event.seq,
        in_brussels(datetime.fromisoformat(event.at)),
        event.actor,
        event.action,
        event.subject,
        json.loads(event.details),
        event.hash,
    )


# What a line of ``audit_events`` reads of an event (as rows: a page shows up to 200).
_EVENT_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    AuditEvent.seq,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.subject,
    AuditEvent.details,
    AuditEvent.hash,
)


def audit_events(
    engine: Engine,
    *,
    since: date | None = None,
    until: date | None = None,
    run: str | None = None,
    recipient: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 200,
    before: int | None = None,
) -> list[EventLine]:
    """Audit events newest first, at most ``limit``, older than event ``before`` if given (the
    next page). ``since``/``until`` are Brussels dates
    (inclusive); ``run`` an id or reference (its events); ``recipient`` an id or name (events
    about it or about its runs); ``action`` an exact action or a prefix ending in ``.``
    (``export.``). Raises ``NotFound``/``InvalidInput`` for an unknown run or recipient."""
    query = select(*_EVENT_COLUMNS)
    with reading(engine) as session:
        if run is not None:
            query = query.where(AuditEvent.subject == runs.subject(runs.find(session, run)))
        if recipient is not None:
            recipient_id = resolve(session, recipient).id
            run_ids = runs.run_ids(session, runs.RunFilter(recipient=recipient_id))
            subjects = [f"recipient:{recipient_id}", *(f"run:{i}" for i in run_ids)]
            query = query.where(AuditEvent.subject.in_(subjects))
        if actor is not None:
            query = query.where(AuditEvent.actor == actor)
        if action is not None:
            query = query.where(
                AuditEvent.action.startswith(action, autoescape=True)
                if action.endswith(".")
                else AuditEvent.action == action
            )
        # Events are stamped in UTC ("...+00:00"), so the text of two stamps sorts as their
        # instants do: a Brussels day becomes a range of stamps, and the database does the rest
        # (with its limit: 100,000 events are never read to show 200).
        if since is not None:
            query = query.where(AuditEvent.at >= _utc_stamp(_day_start(since)))
        if until is not None:
            query = query.where(AuditEvent.at < _utc_stamp(_day_start(until + timedelta(days=1))))
        if before is not None:
            query = query.where(AuditEvent.seq < before)
        events = session.execute(query.order_by(AuditEvent.seq.desc()).limit(limit)).all()
    return [_event_line(e) for e in events]


def _utc_stamp(moment: datetime) -> str:
    """``moment`` as the audit trail writes its stamps (``app.store.audit.record``)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def audit_event(engine: Engine, seq: int) -> EventLine:
    """The audit event number ``seq``. Raises ``NotFound`` (``audit.unknown``)."""
    with reading(engine) as session:
        event = session.get(AuditEvent, seq)
        if event is None:
            raise NotFound("audit.unknown", f"no audit event {seq}", f"geen auditgebeurtenis {seq}")
        return _event_line(event)


def verify_trail(engine: Engine) -> ChainReport:
    """Walk the audit trail's hash chain (``kbx audit verify``, the console's "Controleer de
    keten"): how many events hold, the head's hash, and the first broken link if any."""
    with transaction(engine) as session:
        return verify_chain(read_chain(session))


@dataclass(frozen=True, slots=True)
class RecipientOverview:
    """One recipient's settings and agreements, as ``kbx recipients show`` prints them."""

    id: str
    name: str
    kind: str
    province: str | None
    active: bool
    contact_name: str | None
    contact_phone_masked: str | None
    contact_updated_at: datetime | None
    keys: list[dict[str, Any]] = field(default_factory=list)
    sftp: dict[str, Any] | None = None
    mailbox: dict[str, Any] | None = None
    pending_changes: list[dict[str, Any]] = field(default_factory=list)
    agreements: list[dict[str, Any]] = field(default_factory=list)
    runs_this_year: list[RunLine] = field(default_factory=list)


def recipient_overview(
    engine: Engine, text: str, today: date, registry: Registry | None = None
) -> RecipientOverview:
    """The recipient named by ``text`` (id or name): contact (phone masked), drop keys with
    fingerprints, SFTP server and mailbox, pending changes (their summaries: never a secret),
    agreements (those recorded, and the signed instances a protocol definition names, e.g.
    Lommel's in ``art20-municipal``), and the runs requested in ``today``'s year (refused ones
    too)."""
    with reading(engine) as session:
        recipient = resolve(session, text)
        rid = recipient.id
        contact = session.get(RecipientContact, rid)
        sftp = session.get(RecipientSftp, rid)
        mailbox = session.get(RecipientMail, rid)
        keys = session.scalars(
            select(RecipientKey).where(RecipientKey.recipient_id == rid).order_by(RecipientKey.id)
        )
        pending = session.scalars(
            select(PendingChange)
            .where(PendingChange.recipient_id == rid, PendingChange.state == "pending")
            .order_by(PendingChange.id)
        )
        agreements = agreement_views(session, registry, today, recipient_id=rid) if registry else []
        this_year = runs.RunFilter(recipient=rid, since=_day_start(date(today.year, 1, 1)))
        year = runs.list_runs(session, this_year, newest_first=False)
        overview = RecipientOverview(
            id=rid,
            name=recipient.name_nl,
            kind=recipient.kind,
            province=recipient.province_nl,
            active=recipient.active,
            contact_name=contact.name if contact else None,
            contact_phone_masked=mask_phone(contact.phone) if contact else None,
            contact_updated_at=local(contact.updated_at) if contact else None,
            keys=[
                {
                    "algorithm": k.algorithm,
                    "fingerprint": k.fingerprint,
                    "added_at": local(k.added_at),
                }
                for k in keys
            ],
            sftp=None
            if sftp is None
            else {
                "host": sftp.host,
                "port": sftp.port,
                "username": sftp.username,
                "path": sftp.path,
                "return_path": sftp.return_path,
            },
            mailbox=None
            if mailbox is None
            else {"address": mailbox.address, "route": mailbox.route},
            pending_changes=[
                {
                    "id": c.id,
                    "kind": c.kind,
                    "summary": c.summary,
                    "summary_nl": c.summary_nl or c.summary,
                    "requested_by": c.requested_by,
                    "requested_at": local(c.requested_at),
                }
                for c in pending
            ],
            agreements=[
                {
                    "protocol": a.protocol_id,
                    "kind": a.kind,
                    "state": a.state,
                    "state_nl": a.state_nl,
                    "signed_on": a.signed_on,
                    "in_force_on": a.in_force_on,
                    "document": a.document_ref,
                    "cadence": a.cadence,
                    "notice_on": a.notice_on,
                    "ends_on": a.ends_on,
                    "end_kind": a.end_kind,
                    "end_article": a.end_article,
                    "suspended_on": a.suspended_on,
                    "suspension_article": a.suspension_article,
                    "recorded_by": a.recorded_by,
                    "approved_by": a.approved_by,
                    "recorded_at": local(a.recorded_at) if a.recorded_at else None,
                }
                for a in agreements
            ],
            runs_this_year=[_line(r, recipient.name_nl) for r in year],
        )
        return overview
