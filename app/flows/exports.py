"""Export runs at the edge: every transition and its audit event commit in one transaction.

The slot of a run (protocol, recipient, period) is claimed by the database's partial unique
index, so simultaneous requests yield one run and clear refusals. Execution is resumable: a run
found in ``approved``, ``built`` or ``delivered`` after a crash continues from there, and never
leaves a key without a file or two files for one run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.flows.sms_status import record_status, warn_not_delivered
from app.registry import Registry
from app.settings import Environment, Settings
from app.store.audit import record
from app.store.db import READ_ONLY, aware, transaction
from app.store.recipients import get_recipient, recipient_facts, run_history
from app.store.run_lock import exclusive_run
from crypto.passwords import new_password
from crypto.sealing import Column, SealedFile, build_csv, build_xlsx, seal
from crypto.vault import SecretBox
from exchange import sms_status
from exchange.exports import (
    FourEyesViolation,
    InvalidTransition,
    RunState,
    check_four_eyes,
    expiry,
    info_sheet,
    key_sms_text,
    run_reference,
    transition,
)
from exchange.fields import FIELD_CATALOGUE
from exchange.models import (
    Agreement,
    ExportRun,
    Recipient,
    RecipientContact,
    RecipientKey,
    RecipientMail,
    RecipientSftp,
    SmsMessage,
)
from exchange.periods import parse_period
from exchange.policy import Reason, Refused, evaluate
from exchange.ports import (
    ChannelError,
    ChannelUnavailable,
    Delivery,
    KeySender,
    Parcel,
    ReturnBox,
    SmsRefused,
)
from exchange.protocols import Channel, ProtocolDefinition, RecipientRequirement
from exchange.selection import SelectionRequest, build_count, build_selection
from exchange.shown import shown

__all__ = [
    "BatchResult",
    "ExportDeps",
    "PolicyRefusal",
    "approve",
    "cancel",
    "execute",
    "request_batch",
    "request_export",
]

log = logging.getLogger("kbx.exports")


@dataclass(frozen=True)
class ExportDeps:
    settings: Settings
    registry: Registry
    vault: SecretBox
    deliveries: Mapping[str, Delivery]  # by channel
    keys: KeySender
    returns: Mapping[str, ReturnBox] = field(default_factory=dict)  # by channel

    def return_box(self, channel: str) -> ReturnBox:
        found = self.returns.get(channel)
        if found is None:
            raise ChannelError(f"channel {channel} has no return folder on this service")
        return found

    def delivery(self, channel: str) -> Delivery:
        found = self.deliveries.get(channel)
        if found is None:
            raise ChannelError(f"channel {channel} is not configured on this service")
        return found


class PolicyRefusal(Conflict):
    """A request the protocol forbids; carries every reason."""

    def __init__(self, reasons: Sequence[Reason], run_id: int | None = None) -> None:
        super().__init__("policy.refused", "; ".join(r.en for r in reasons))
        self.message_nl = "; ".join(r.nl for r in reasons)
        self.reasons = list(reasons)
        self.run_id = run_id


def _crash_point(settings: Settings, name: str) -> None:
    """Lets the crash tests kill the process at a named point; inert in production."""
    if settings.env is not Environment.PRODUCTION and os.environ.get("KBX_TEST_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _definition(registry: Registry, protocol_id: str) -> ProtocolDefinition:
    definition = registry.get(protocol_id)
    if definition is None:
        raise NotFound("protocol.unknown", f"unknown protocol '{shown(protocol_id)}'")
    return definition


def _set_state(session: Session, run: ExportRun, target: RunState, now: datetime) -> None:
    try:
        run.state = transition(RunState(run.state), target).value
    except InvalidTransition as exc:
        raise Conflict("run.invalid_transition", str(exc)) from exc
    run.state_changed_at = now


def _audit(
    session: Session, run: ExportRun, actor: str, action: str, now: datetime, **details: Any
) -> None:
    record(
        session,
        actor=actor,
        action=action,
        subject=f"run:{run.id}",
        details={
            "reference": run.reference,
            "protocol": run.protocol_id,
            "recipient": run.recipient_id,
            "period": run.period,
            **details,
        },
        now=now,
    )


def _require_route(session: Session, deps: ExportDeps, recipient_id: str, channel: Channel) -> None:
    """A run needs a registered contact (the key goes to it) and a way to reach the recipient
    over its channel: a login key for the drop, a server for a push, a mailbox on that route."""
    if channel.value not in deps.deliveries:
        raise Conflict(
            "channel.not_configured", f"channel {channel.value} is not configured on this service"
        )
    if channel is Channel.SFTP_PUSH and session.get(RecipientSftp, recipient_id) is None:
        raise Conflict(
            "recipient.no_sftp_server", f"recipient {recipient_id} has no SFTP server registered"
        )
    if channel in (Channel.SECURE_MAIL, Channel.ZIVVER):
        mailbox = session.get(RecipientMail, recipient_id)
        if mailbox is None or mailbox.route != channel.value:
            raise Conflict(
                "recipient.no_mailbox",
                f"recipient {recipient_id} has no mailbox registered for {channel.value}",
            )
    if session.get(RecipientContact, recipient_id) is None:
        raise Conflict(
            "recipient.no_contact",
            f"recipient {recipient_id} has no registered contact for the key SMS",
        )
    if (
        channel is Channel.SFTP_DROP
        and session.scalar(
            select(RecipientKey.id).where(RecipientKey.recipient_id == recipient_id).limit(1)
        )
        is None
    ):
        raise Conflict(
            "recipient.no_key",
            f"recipient {recipient_id} has no SSH key registered for the SFTP drop",
        )


def request_export(
    engine: Engine,
    deps: ExportDeps,
    *,
    protocol_id: str,
    recipient_id: str,
    period: str,
    channel: str,
    lookback_years: int | None,
    by: str,
    batch_id: str | None = None,
) -> ExportRun:
    """Claim a slot for an export, or raise PolicyRefusal (recorded as a refused run)."""
    definition = _definition(deps.registry, protocol_id)
    now, today = deps.settings.now(), deps.settings.current_date()
    refusal: Refused | None = None

    def new_run() -> ExportRun:
        return ExportRun(
            protocol_id=protocol_id,
            recipient_id=recipient_id,
            period=period,
            channel=channel,
            lookback_years=lookback_years,
            definition_hash=definition.content_hash,
            requested_by=by,
            requested_at=now,
            state_changed_at=now,
            batch_id=batch_id,
        )

    try:
        with transaction(engine) as session:
            get_recipient(session, recipient_id)
            facts = recipient_facts(session, recipient_id)
            history = run_history(session, protocol_id, recipient_id)
            decision = evaluate(definition, facts, period, channel, today, history, lookback_years)
            run = new_run()
            if isinstance(decision, Refused):
                refusal = decision
                run.state = RunState.REFUSED.value
                run.refusal = json.dumps([asdict(r) for r in decision.reasons], ensure_ascii=False)
            else:
                _require_route(session, deps, recipient_id, decision.channel)
                run.state = RunState.REQUESTED.value
                run.lookback_years = decision.lookback_years
            session.add(run)
            session.flush()  # the claim: the unique index refuses a second live run here
            run.reference = run_reference(run.id, today)
            _audit(
                session,
                run,
                by,
                "export.refused" if refusal else "export.requested",
                now,
                rules=[r.rule for r in refusal.reasons] if refusal else [],
            )
    except IntegrityError as exc:
        reason = Reason(
            "frequency.exhausted",
            definition.frequency.article,
            f"Voor periode {period} loopt of bestaat al een lijst voor {recipient_id}.",
            f"A list for period {period} is already running or made for {recipient_id}.",
        )
        # Lost the race at the unique index: recorded like any other refusal.
        with transaction(engine) as session:
            lost = new_run()
            lost.state = RunState.REFUSED.value
            lost.refusal = json.dumps([asdict(reason)], ensure_ascii=False)
            session.add(lost)
            session.flush()
            lost.reference = run_reference(lost.id, today)
            _audit(session, lost, by, "export.refused", now, rules=[reason.rule])
        raise PolicyRefusal([reason], lost.id) from exc
    if refusal is not None:
        raise PolicyRefusal(refusal.reasons, run.id)
    return run


def _load(session: Session, run_id: int) -> ExportRun:
    run = session.get(ExportRun, run_id)
    if run is None:
        raise NotFound("run.unknown", f"unknown run {run_id}")
    return run


def approve(engine: Engine, deps: ExportDeps, run_id: int, by: str) -> ExportRun:
    now = deps.settings.now()
    with transaction(engine) as session:
        run = _load(session, run_id)
        try:
            check_four_eyes(run.requested_by, by)
        except FourEyesViolation as exc:
            raise Conflict("run.four_eyes", str(exc)) from exc
        _set_state(session, run, RunState.APPROVED, now)
        run.approved_by, run.approved_at = by, now
        _audit(session, run, by, "export.approved", now)
    return run


def cancel(engine: Engine, deps: ExportDeps, run_id: int, by: str) -> ExportRun:
    now = deps.settings.now()
    with transaction(engine) as session:
        run = _load(session, run_id)
        _set_state(session, run, RunState.CANCELLED, now)
        _audit(session, run, by, "export.cancelled", now)
    return run


# -- execution --------------------------------------------------------------------------------


def _fail(engine: Engine, deps: ExportDeps, run_id: int, why: str) -> None:
    now = deps.settings.now()
    with transaction(engine) as session:
        run = _load(session, run_id)
        _set_state(session, run, RunState.FAILED, now)
        run.failure = why[:200]
        run.password_sealed = None
        _audit(session, run, "worker", "export.failed", now, reason=why[:200])


def _remembering(
    rows: Iterator[Sequence[object]], column: int, sent: list[str]
) -> Iterator[Sequence[object]]:
    """Passes the rows through and keeps the national numbers (a run with a return leg checks
    the return against exactly what was sent)."""
    for row in rows:
        sent.append(str(row[column]))
        yield row


def _seal(
    engine: Engine,
    deps: ExportDeps,
    run: ExportRun,
    definition: ProtocolDefinition,
    recipient: Recipient,
    password: str,
    now: datetime,
    sent: list[str] | None = None,
) -> SealedFile:
    parsed = parse_period(run.period)
    assert parsed is not None  # the policy accepted it
    request = SelectionRequest(
        run.recipient_id, parsed, deps.settings.current_date(), run.lookback_years
    )
    statement = build_selection(definition, request)
    # Only the build reads the store, in a read-only transaction (on SQLite: DEFERRED, no write
    # lock), so parallel executors (app.flows.batch_runner) build side by side; the key
    # derivation and encryption, which cost more than building most files, run after the
    # connection is closed.
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        expected = connection.execute(build_count(definition, request)).scalar_one()
        result = connection.execution_options(stream_results=True, yield_per=2000).execute(
            statement
        )
        rows: Iterator[Sequence[object]] = (tuple(r) for r in result)
        if sent is not None:
            rows = _remembering(rows, definition.field_names.index("national_number"), sent)
        if recipient.kind == "municipality":
            # People open these: Excel with Dutch headers and an information sheet.
            columns = [
                Column(FIELD_CATALOGUE[n].label_nl, FIELD_CATALOGUE[n].value_type)
                for n in definition.field_names
            ]
            info = info_sheet(
                definition,
                reference=run.reference or "",
                period=run.period,
                recipient_name=recipient.name_nl,
                built_at=now,
                row_count=expected,
                lookback_years=run.lookback_years,
            )
            plain = build_xlsx(columns, rows, info)
        else:
            # Machines read these: CSV with the field names, in an AES-256 7z archive.
            plain = build_csv(definition.field_names, rows, inner_name=f"{run.reference}.csv")
    sealed = seal(plain, password)
    if sealed.rows != expected:
        raise ChannelError("the store changed while the file was built; request the export again")
    return sealed


def _build(engine: Engine, deps: ExportDeps, run_id: int) -> tuple[bytes, str] | None:
    """Select, seal, and record the built file. Returns (sealed bytes, file name)."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = _load(session, run_id)
        definition = _definition(deps.registry, run.protocol_id)
        recipient = get_recipient(session, run.recipient_id)
        problem = _still_allowed(session, deps, run, definition)
    if problem:
        _fail(engine, deps, run_id, problem)
        return None
    password = new_password()
    sent: list[str] | None = [] if definition.profile is not None else None
    sealed = _seal(engine, deps, run, definition, recipient, password, now, sent)
    name = f"{run.reference}{sealed.suffix}"
    with transaction(engine) as session:
        run = _load(session, run_id)
        _set_state(session, run, RunState.BUILT, now)
        run.row_count, run.file_name = sealed.rows, name
        run.file_size, run.file_sha256 = len(sealed.data), sealed.sha256
        run.field_list = json.dumps(definition.field_names)
        run.password_sealed = deps.vault.seal(password.encode(), (run.reference or "").encode())
        if sent is not None:
            packed = zlib.compress("\n".join(sent).encode())
            run.sent_sealed = deps.vault.seal(packed, f"sent:{run.reference}".encode())
        _audit(
            session,
            run,
            "worker",
            "export.built",
            now,
            rows=sealed.rows,
            sha256=sealed.sha256,
            fields=definition.field_names,
        )
    _crash_point(deps.settings, "sealed")
    return sealed.data, name


def _still_allowed(
    session: Session, deps: ExportDeps, run: ExportRun, definition: ProtocolDefinition
) -> str | None:
    """The protocol may have changed or ended between request and build: check again."""
    if definition.content_hash != run.definition_hash:
        return "the protocol definition changed after the request; request again"
    # This run holds the period's slot itself; other runs of the period cannot exist.
    history = [
        h for h in run_history(session, run.protocol_id, run.recipient_id) if h.period != run.period
    ]
    decision = evaluate(
        definition,
        recipient_facts(session, run.recipient_id),
        run.period,
        run.channel,
        deps.settings.current_date(),
        history,
        run.lookback_years,
    )
    if isinstance(decision, Refused):
        return "refused at build time: " + ", ".join(r.rule for r in decision.reasons)
    return None


_WITHDRAWABLE = (Channel.SFTP_DROP.value, Channel.SFTP_PUSH.value)

_MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "7z": "application/x-7z-compressed",
}


def _deliver(engine: Engine, deps: ExportDeps, run_id: int, data: bytes, name: str) -> None:
    with transaction(engine) as session:
        run = _load(session, run_id)
        definition = _definition(deps.registry, run.protocol_id)
        parcel = Parcel(
            recipient_id=run.recipient_id,
            name=name,
            data=data,
            reference=run.reference or "",
            media_type=_MEDIA_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream"),
            protocol_title_nl=definition.title_nl,
            disclaimer_nl=definition.mail_disclaimer_nl,
        )
        channel = run.channel
    deps.delivery(channel).deliver(parcel)
    _crash_point(deps.settings, "uploaded")
    _mark_delivered(engine, deps, run_id)


def _mark_delivered(engine: Engine, deps: ExportDeps, run_id: int) -> None:
    now = deps.settings.now()
    with transaction(engine) as session:
        run = _load(session, run_id)
        _set_state(session, run, RunState.DELIVERED, now)
        run.delivered_at = now
        # Files on a server (ours or the recipient's) expire; a mail cannot be called back.
        if run.channel in _WITHDRAWABLE:
            run.expires_at = expiry(now, deps.settings.drop_retention_days)
        _audit(
            session,
            run,
            "worker",
            "export.delivered",
            now,
            channel=run.channel,
            file=run.file_name,
            bytes=run.file_size,
            sha256=run.file_sha256,
        )


def send_key(engine: Engine, deps: ExportDeps, run_id: int, actor: str = "worker") -> None:
    """Only after confirmed delivery, only to the registered contact, never twice by accident.

    Every attempt is one ``SmsMessage`` row (never the body: it holds the password), written
    before the provider is called and completed after. An attempt whose outcome is unknown (the
    create call timed out, or the process died around it) is first looked up at the provider:
    found, it is recorded and no second SMS leaves (unless it was not delivered and this is an
    approved resend); not found, exactly one new SMS leaves. A resend (the run past
    ``delivered``) needs a pending four-eyes request, which it consumes once.
    """
    now = deps.settings.now()

    def checked(session: Session) -> tuple[ExportRun, RecipientContact]:
        run = session.get(ExportRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound("run.unknown", f"unknown run {run_id}")
        if run.state not in (RunState.DELIVERED, RunState.KEY_SENT, RunState.FETCHED):
            raise Conflict("run.not_delivered", "the key is only sent after delivery")
        if run.password_sealed is None:
            raise Conflict("run.key_destroyed", "the password of this run has been destroyed")
        contact = session.get(RecipientContact, run.recipient_id)
        if contact is None:
            raise Conflict("recipient.no_contact", "no registered contact for the key SMS")
        if run.state != RunState.DELIVERED and run.resend_requested_by is None:
            raise Conflict("run.no_resend_request", "Nobody asked for a resend of this key")
        return run, contact

    def attempt(session: Session, run: ExportRun) -> int:
        """The write-ahead row of one SMS; a resend consumes its request with it."""
        row = SmsMessage(
            run_id=run_id,
            reference=reference,
            provider=deps.keys.provider,
            status=sms_status.UNKNOWN,
            created_at=now,
            status_at=now,
        )
        session.add(row)
        run.resend_requested_by = None
        session.flush()
        return row.id

    with transaction(engine) as session:
        run, contact = checked(session)
        reference, phone = run.reference or "", contact.phone
        password = deps.vault.open(run.password_sealed or b"", reference.encode()).decode()
        first_time, asker = run.state == RunState.DELIVERED, run.resend_requested_by
        rows = list(
            session.scalars(
                select(SmsMessage).where(SmsMessage.run_id == run_id).order_by(SmsMessage.id)
            )
        )
        known = {r.sid for r in rows if r.sid is not None}
        last = rows[-1] if rows else None
        unsure = last is not None and last.status == sms_status.UNKNOWN and last.sid is None
        pending = (last.id, aware(last.created_at)) if unsure and last is not None else None
        if first_time and last is not None and last.status == sms_status.FAILED:
            # A refused first key (a blocked number, wrong credentials) waits for a while
            # instead of asking the provider again at every turn of the worker.
            refused_at = aware(last.status_at) or now
            if last.error_code != "not_found" and now - refused_at < timedelta(minutes=15):
                raise ChannelError(
                    f"the key SMS for {reference} was refused (error {last.error_code}); "
                    "kbx tries again 15 minutes after the refusal"
                )
        attempt_id = None if pending else attempt(session, run)

    if pending is not None:
        pending_id, since = pending
        assert since is not None
        found = [m for m in deps.keys.lookup(phone, reference, since) if m.sid not in known]
        match = found[-1] if found else None
        undelivered = ""
        with transaction(engine) as session:
            run, _contact = checked(session)
            if run.resend_requested_by != asker:
                raise Conflict("run.no_resend_request", "this resend was handled meanwhile")
            row = session.get(SmsMessage, pending_id)
            assert row is not None
            if match is not None:
                row.sid = match.sid
                moved = record_status(
                    session, row, match.status, match.error_code, actor=actor, now=now
                )
                if moved and row.status in sms_status.NOT_DELIVERED:
                    undelivered = row.status
            else:
                row.status, row.error_code, row.status_at = sms_status.FAILED, "not_found", now
            _audit(
                session,
                run,
                actor,
                "export.key_reconciled",
                now,
                found=match is not None,
                sid=row.sid,
                status=row.status,
            )
            again = match is None or (not first_time and row.status in sms_status.NOT_DELIVERED)
            if again:
                attempt_id = attempt(session, run)
            elif first_time:
                _set_state(session, run, RunState.KEY_SENT, now)
                run.key_sent_at = now
                _audit(
                    session,
                    run,
                    actor,
                    "export.key_sent",
                    now,
                    to=f"contact:{run.recipient_id}",
                    sid=row.sid,
                    status=row.status,
                )
            else:
                run.resend_requested_by = None  # the key did leave: nothing is sent again
        if undelivered:
            warn_not_delivered(run_id, reference, undelivered)
        if attempt_id is None:
            return

    assert attempt_id is not None
    try:
        sent = deps.keys.send(phone, key_sms_text(reference, password), reference)
    except SmsRefused as exc:
        # It certainly did not leave: the attempt failed, and an approved resend may be retried.
        with transaction(engine) as session:
            row = session.get(SmsMessage, attempt_id)
            run = _load(session, run_id)
            assert row is not None
            row.status, row.status_at = sms_status.FAILED, now
            row.error_code = exc.code or "refused"
            if asker is not None and run.resend_requested_by is None:
                run.resend_requested_by = asker
            _audit(session, run, actor, "export.key_refused", now, error_code=exc.code)
        raise
    _crash_point(deps.settings, "sms")
    with transaction(engine) as session:
        run = _load(session, run_id)
        row = session.get(SmsMessage, attempt_id)
        assert row is not None
        row.sid = sent.sid
        row.status = sms_status.advance(row.status, sent.status)
        row.error_code = sent.error_code
        if run.state == RunState.DELIVERED:
            _set_state(session, run, RunState.KEY_SENT, now)
        run.key_sent_at = now
        _audit(
            session,
            run,
            actor,
            "export.key_sent" if first_time else "export.key_resent",
            now,
            to=f"contact:{run.recipient_id}",
            sid=row.sid,
            status=row.status,
        )
    if sent.status == sms_status.UNKNOWN:
        log.warning(
            "run %s: the outcome of the key SMS for %s is unknown; a resend looks it up first",
            run_id,
            reference,
        )


def execute(engine: Engine, deps: ExportDeps, run_id: int) -> RunState:
    """Carry a run as far as it can go: build, seal, deliver, send the key. Resumable; a run
    that another process is carrying right now is left to it (its current state is returned)."""
    with exclusive_run(engine, deps.settings.data_dir / "locks", run_id) as mine:
        if mine:
            return _carry(engine, deps, run_id)
    log.info("run %s is being carried by another process", run_id)
    with transaction(engine) as session:
        return RunState(_load(session, run_id).state)


def _carry(engine: Engine, deps: ExportDeps, run_id: int) -> RunState:
    with transaction(engine) as session:
        run = _load(session, run_id)
        state, name, sha = RunState(run.state), run.file_name, run.file_sha256
        recipient_id, channel = run.recipient_id, run.channel
        derived = run.parent_id is not None
    if derived and state in (RunState.APPROVED, RunState.BUILT):
        # built from its parent's return, not from a selection: see app.flows.round_trip
        return state
    try:
        if state is RunState.BUILT:
            assert name is not None
            present = deps.delivery(channel).present(recipient_id, name)
            if present is not None and present == sha:
                _mark_delivered(engine, deps, run_id)  # uploaded before a crash: resume
                state = RunState.DELIVERED
            else:
                if present is not None:
                    deps.delivery(channel).withdraw(recipient_id, name)
                state = RunState.APPROVED  # the sealed bytes are gone: build again
        if state is RunState.APPROVED:
            built = _build(engine, deps, run_id)
            if built is None:
                return RunState.FAILED
            _deliver(engine, deps, run_id, *built)
            state = RunState.DELIVERED
        if state is RunState.DELIVERED:
            send_key(engine, deps, run_id)
            state = RunState.KEY_SENT
    except ChannelUnavailable as exc:
        return _defer(engine, deps, run_id, exc)
    except ChannelError as exc:
        log.warning("run %s: delivery failed: %s", run_id, exc)
        with transaction(engine) as session:
            current = RunState(_load(session, run_id).state)
        if current in (RunState.APPROVED, RunState.BUILT):
            _fail(engine, deps, run_id, f"channel: {exc}")
            return RunState.FAILED
        raise
    return state


# How long a recipient's server may stay unreachable before a built run fails for good.
DEFERRAL_LIMIT = timedelta(days=1)


def _defer(engine: Engine, deps: ExportDeps, run_id: int, exc: ChannelError) -> RunState:
    """The recipient's server could not be reached: the run waits (``remote_checked_at`` is its
    last attempt) and is tried again every ``remote_check_minutes``, for a day at most."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = _load(session, run_id)
        state = RunState(run.state)
        if state not in (RunState.APPROVED, RunState.BUILT):
            raise exc
        since = aware(run.state_changed_at) or now
        if now - since > DEFERRAL_LIMIT:
            give_up = True
        else:
            give_up = False
            first = run.remote_checked_at is None
            run.remote_checked_at = now
            if first:
                _audit(session, run, "worker", "export.delivery_deferred", now, reason=str(exc))
    if give_up:
        _fail(engine, deps, run_id, f"channel: unreachable for a day: {exc}")
        return RunState.FAILED
    log.warning("run %s: %s; kbx tries again later", run_id, exc)
    return state


def pending_runs(engine: Engine, deps: ExportDeps | None = None) -> list[int]:
    """Runs the worker must carry on: approved, or stopped half-way by a crash; a run waiting
    for an unreachable server only once ``remote_check_minutes`` have passed."""
    live = select(ExportRun.id).where(
        ExportRun.state.in_([RunState.APPROVED, RunState.BUILT, RunState.DELIVERED])
    )
    if deps is not None:
        retry = deps.settings.now() - timedelta(minutes=deps.settings.remote_check_minutes)
        live = live.where(
            (ExportRun.state == RunState.DELIVERED)
            | ExportRun.remote_checked_at.is_(None)
            | (ExportRun.remote_checked_at <= retry)
        )
    with transaction(engine) as session:
        return list(session.scalars(live.order_by(ExportRun.id)))


# -- batches ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    runs: list[ExportRun]
    refused: list[tuple[str, list[Reason] | str]]


def signed_recipients(session: Session, definition: ProtocolDefinition) -> list[str]:
    ids = {i.recipient for i in definition.instances}
    kind = (
        RecipientRequirement.SIGNATURE
        if definition.recipients.requires is RecipientRequirement.SIGNATURE
        else RecipientRequirement.ACCESSION
    )
    ids |= set(
        session.scalars(
            select(Agreement.recipient_id).where(
                Agreement.protocol_id == definition.id, Agreement.kind == kind.value
            )
        )
    )
    return sorted(ids)


def request_batch(
    engine: Engine,
    deps: ExportDeps,
    *,
    protocol_id: str,
    period: str,
    channel: str,
    lookback_years: int | None,
    by: str,
) -> BatchResult:
    """One run per recipient that signed (or acceded): each its own claim, file, password."""
    definition = _definition(deps.registry, protocol_id)
    if definition.recipients.requires is RecipientRequirement.NONE:
        raise InvalidInput(
            "batch.not_applicable", f"{protocol_id} has fixed recipients; request them one by one"
        )
    with transaction(engine) as session:
        recipients = signed_recipients(session, definition)
    batch_id = f"B-{uuid.uuid4().hex[:12]}"
    runs: list[ExportRun] = []
    refused: list[tuple[str, list[Reason] | str]] = []
    for recipient_id in recipients:
        try:
            runs.append(
                request_export(
                    engine,
                    deps,
                    protocol_id=protocol_id,
                    recipient_id=recipient_id,
                    period=period,
                    channel=channel,
                    lookback_years=lookback_years,
                    by=by,
                    batch_id=batch_id,
                )
            )
        except PolicyRefusal as exc:
            refused.append((recipient_id, exc.reasons))
        except Conflict as exc:
            refused.append((recipient_id, exc.message))
    return BatchResult(batch_id, runs, refused)


def batch_runs(engine: Engine, batch_id: str) -> list[int]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(ExportRun.id)
                .where(ExportRun.batch_id == batch_id, ExportRun.state == RunState.REQUESTED)
                .order_by(ExportRun.id)
            )
        )
