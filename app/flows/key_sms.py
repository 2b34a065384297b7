"""The key SMS: sent only after confirmed delivery, only to the registered contact, never twice
by accident; a resend is asked by one person and approved by another (four-eyes).

The SMS names the file's reference, never a person (``exchange.exports.key_sms_text``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.errors import Conflict, KbxError
from app.flows.deps import ExportDeps, crash_point
from app.flows.sms_status import record_status, warn_not_delivered
from app.store import runs
from app.store.db import aware, reading, transaction
from exchange import sms_status
from exchange.exports import FourEyesViolation, RunState, check_four_eyes, key_sms_text
from exchange.models import ExportRun, RecipientContact, SmsMessage
from exchange.ports import ChannelError, SmsRefused

__all__ = [
    "KeySmsUnavailable",
    "ResendState",
    "approve_resend",
    "request_resend",
    "resend_state",
    "send_key",
]

log = logging.getLogger("kbx.exports")


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
        run = runs.load(session, run_id, for_update=True)
        if run.state not in (RunState.DELIVERED, RunState.KEY_SENT, RunState.FETCHED):
            raise Conflict(
                "run.not_delivered",
                f"the key of run {run_id} is only sent after delivery",
                f"de sleutel van export {run_id} gaat pas weg na de levering",
            )
        if run.password_sealed is None:
            raise Conflict(
                "run.key_destroyed",
                f"the password of run {run_id} has been destroyed",
                f"het wachtwoord van export {run_id} is vernietigd",
            )
        contact = session.get(RecipientContact, run.recipient_id)
        if contact is None:
            raise Conflict(
                "recipient.no_contact",
                f"recipient {run.recipient_id} has no registered contact for the key SMS",
                f"ontvanger {run.recipient_id} heeft geen geregistreerde contactpersoon voor de "
                "sleutel-sms",
            )
        if run.state != RunState.DELIVERED and run.resend_requested_by is None:
            raise Conflict(
                "run.no_resend_request",
                f"nobody asked for a resend of the key of run {run_id}",
                f"niemand vroeg om de sleutel van export {run_id} opnieuw te versturen",
            )
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
                raise Conflict(
                    "run.no_resend_request",
                    f"the resend of the key of run {run_id} was handled meanwhile",
                    f"de herzending van de sleutel van export {run_id} werd intussen afgehandeld",
                )
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
            runs.note(
                session,
                run,
                actor=actor,
                action="export.key_reconciled",
                now=now,
                found=match is not None,
                sid=row.sid,
                status=row.status,
            )
            again = match is None or (not first_time and row.status in sms_status.NOT_DELIVERED)
            if again:
                attempt_id = attempt(session, run)
            elif first_time:
                runs.move(
                    session,
                    run,
                    RunState.KEY_SENT,
                    actor=actor,
                    action="export.key_sent",
                    now=now,
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
            run = runs.load(session, run_id)
            assert row is not None
            row.status, row.status_at = sms_status.FAILED, now
            row.error_code = exc.code or "refused"
            if asker is not None and run.resend_requested_by is None:
                run.resend_requested_by = asker
            runs.note(
                session,
                run,
                actor=actor,
                action="export.key_refused",
                now=now,
                error_code=exc.code,
            )
        raise
    crash_point(deps.settings, "sms")
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        row = session.get(SmsMessage, attempt_id)
        assert row is not None
        row.sid = sent.sid
        row.status = sms_status.advance(row.status, sent.status)
        row.error_code = sent.error_code
        sms = {"to": f"contact:{run.recipient_id}", "sid": row.sid, "status": row.status}
        if run.state == RunState.DELIVERED:
            runs.move(
                session,
                run,
                RunState.KEY_SENT,
                actor=actor,
                action="export.key_sent",
                now=now,
                **sms,
            )
        else:
            run.key_sent_at = now
            action = "export.key_sent" if first_time else "export.key_resent"
            runs.note(session, run, actor=actor, action=action, now=now, **sms)
    if sent.status == sms_status.UNKNOWN:
        log.warning(
            "run %s: the outcome of the key SMS for %s is unknown; a resend looks it up first",
            run_id,
            reference,
        )


class KeySmsUnavailable(KbxError):
    """The provider refused or could not be reached (502 ``sms.unavailable``); the resend
    request is kept, so it can be approved again."""

    status = 502
    exit_code = 1


def _no_resend(run: ExportRun) -> Conflict | None:
    """Why the key of ``run`` cannot be asked to go again (``None``: it can): only once the
    first key SMS left, and while the sealed password is kept (``KBX_KEY_RESEND_DAYS``)."""
    if run.state not in (RunState.KEY_SENT, RunState.FETCHED):
        return Conflict(
            "run.no_key_yet",
            f"the key of run {run.id} has not been sent yet",
            f"de sleutel van export {run.id} is nog niet verstuurd",
        )
    if run.password_sealed is None:
        return Conflict(
            "run.key_destroyed",
            f"the password of run {run.id} has been destroyed",
            f"het wachtwoord van export {run.id} is vernietigd",
        )
    return None


@dataclass(frozen=True, slots=True)
class ResendState:
    """Where a run stands for a key resend: whether one may be asked now (``askable``, by the
    rule ``request_resend`` applies) and who asked the one waiting for approval, if any."""

    askable: bool
    asked_by: str | None

    def approvable_by(self, name: str) -> bool:
        """Whether ``name`` may approve the waiting resend as far as four eyes go (never the
        person who asked: ``approve_resend``); the role is ``app.flows.roles``' question."""
        if self.asked_by is None:
            return False
        try:
            check_four_eyes(self.asked_by, name)
        except FourEyesViolation:
            return False
        return True


def resend_state(engine: Engine, run_id: int) -> ResendState:
    """The ``ResendState`` of run ``run_id``, for the console's buttons. Raises ``NotFound``."""
    with reading(engine) as session:
        run = runs.load(session, run_id)
        return ResendState(_no_resend(run) is None, run.resend_requested_by)


def request_resend(engine: Engine, deps: ExportDeps, run_id: int, by: str) -> ExportRun:
    """The first half of a four-eyes key resend: ``by`` asks that the key go again to the
    recipient's registered contact. Raises ``NotFound`` (``run.unknown``), ``Conflict``
    (``run.no_key_yet`` before the first key SMS, ``run.key_destroyed`` once the password is
    gone)."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        refusal = _no_resend(run)
        if refusal is not None:
            raise refusal
        run.resend_requested_by = by
        runs.note(session, run, actor=by, action="export.key_resend_requested", now=now)
    return run


def approve_resend(engine: Engine, deps: ExportDeps, run_id: int, by: str) -> ExportRun:
    """The second half: ``by`` (never who asked) approves, and the key SMS leaves now.

    Raises ``NotFound``, ``Conflict`` (``run.no_resend_request``, ``run.four_eyes``, and those
    of ``send_key``), ``KeySmsUnavailable`` when the provider refused or could not be reached
    (the request is kept, so the resend can be approved again)."""
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        asker = run.resend_requested_by
    if asker is None:
        raise Conflict(
            "run.no_resend_request",
            f"nobody asked for a resend of the key of run {run_id}",
            f"niemand vroeg om de sleutel van export {run_id} opnieuw te versturen",
        )
    try:
        check_four_eyes(asker, by)
    except FourEyesViolation as exc:
        raise Conflict(
            "run.four_eyes",
            str(exc),
            f"{by} vroeg de herzending zelf en kan ze niet goedkeuren",
        ) from exc
    try:
        send_key(engine, deps, run_id, actor=by)
    except ChannelError as exc:
        raise KeySmsUnavailable(
            "sms.unavailable",
            f"the key SMS for run {run_id} could not be sent now: {exc}",
            f"de sleutel-sms voor export {run_id} kon nu niet vertrekken: {exc}",
        ) from exc
    with transaction(engine) as session:
        return runs.load(session, run_id)
