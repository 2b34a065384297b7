"""The worker's look at key SMS whose outcome is unknown (a create call that timed out).

Without it, a first key that never left would wait until somebody asked for a resend. After a
grace period kbx looks the message up at the provider: found, it takes the provider's status;
not found, the attempt is marked failed and the operator alerted, so that a four-eyes resend
sends exactly one new SMS.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, select

from app.flows.deps import ExportDeps
from app.flows.sms_status import record_status, warn_not_delivered
from app.store.db import aware, transaction
from exchange import sms_status
from exchange.models import ExportRun, RecipientContact, SmsMessage
from exchange.ports import ChannelError

__all__ = ["GRACE", "reconcile_unknown"]

log = logging.getLogger("kbx.sms")

# Twilio answers a create within seconds; an outcome still unknown after this is worth a look.
GRACE = timedelta(minutes=10)


def reconcile_unknown(engine: Engine, deps: ExportDeps, grace: timedelta = GRACE) -> int:
    now = deps.settings.now()
    with transaction(engine) as session:
        due = [
            (m.id, m.run_id, m.reference, aware(m.created_at) or now, c.phone)
            for m, c in session.execute(
                select(SmsMessage, RecipientContact)
                .join(ExportRun, ExportRun.id == SmsMessage.run_id)
                .join(RecipientContact, RecipientContact.recipient_id == ExportRun.recipient_id)
                .where(
                    SmsMessage.status == sms_status.UNKNOWN,
                    SmsMessage.sid.is_(None),
                    SmsMessage.provider == deps.keys.provider,
                    SmsMessage.created_at <= now - grace,
                )
            )
        ]
    settled = 0
    for message_id, run_id, reference, since, phone in due:
        try:
            found = deps.keys.lookup(phone, reference, since)
        except ChannelError as exc:
            log.warning("run %s: looking up the key SMS failed: %s", run_id, exc)
            continue
        with transaction(engine) as session:
            message = session.get(SmsMessage, message_id)
            assert message is not None
            if message.status != sms_status.UNKNOWN or message.sid is not None:
                continue  # a resend reconciled it meanwhile
            known = select(SmsMessage.sid).where(SmsMessage.run_id == run_id)
            taken = {s for s in session.scalars(known) if s}
            match = next((m for m in reversed(found) if m.sid not in taken), None)
            if match is not None:
                message.sid = match.sid
                record_status(
                    session, message, match.status, match.error_code, actor="worker", now=now
                )
            else:
                message.error_code = "not_found"
                record_status(
                    session, message, sms_status.FAILED, "not_found", actor="worker", now=now
                )
            status = message.status
        if status in sms_status.NOT_DELIVERED:
            warn_not_delivered(run_id, reference, status)
        settled += 1
    return settled
