"""Key SMS statuses: what Twilio's status callbacks (``app.api.sms``) and
``app.flows.exports.send_key`` share.

``POST /api/v1/sms/status`` is called by Twilio, not by staff: it carries no bearer token but an
``X-Twilio-Signature`` (HMAC-SHA1 under the account's auth token over the callback URL and the
form parameters), checked with ``twilio.request_validator.RequestValidator`` over exactly the URL
kbx gave Twilio (``public_base_url`` + the path; a TLS proxy in front does not change it). A bad
or missing signature is 403 ``sms.bad_signature`` and changes nothing. A status only moves a
message forward (``exchange.sms_status.advance``); ``delivered`` confirms the key
(``export.key_delivered``), ``undelivered``/``failed`` alert the operator
(``export.key_undelivered`` and a WARNING naming the run and the reference), who may ask for a
four-eyes resend. The route is left out of the OpenAPI document, which describes the staff API.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.errors import KbxError
from app.settings import Settings
from app.store.audit import record
from app.store.db import transaction
from exchange.models import SmsMessage
from exchange.sms_status import DELIVERED, NOT_DELIVERED, advance

__all__ = [
    "SmsStatusError",
    "apply_callback",
    "bad_signature",
    "record_status",
    "warn_not_delivered",
]

log = logging.getLogger("kbx.sms")


class SmsStatusError(KbxError):
    """An answer to a status callback, in the API's error shape."""

    def __init__(self, status: int, code: str, message: str, message_nl: str) -> None:
        super().__init__(code, message)
        self.status = status
        self.message_nl = message_nl


def bad_signature() -> SmsStatusError:
    return SmsStatusError(
        403,
        "sms.bad_signature",
        "The request is not signed by Twilio",
        "De aanvraag is niet door Twilio ondertekend",
    )


def record_status(
    session: Session,
    message: SmsMessage,
    status: str,
    error_code: str | None,
    *,
    actor: str,
    now: datetime,
) -> bool:
    """Move a key SMS to ``status`` when that is forward in its life, in the caller's
    transaction, with the audit event a terminal status calls for. Returns whether it moved; the
    caller warns (``warn_not_delivered``) once the transaction has committed."""
    new = advance(message.status, status)
    if new == message.status:
        return False
    message.status, message.status_at = new, now
    if new in NOT_DELIVERED and error_code:
        message.error_code = error_code[:16]
    if new == DELIVERED or new in NOT_DELIVERED:
        record(
            session,
            actor=actor,
            action="export.key_delivered" if new == DELIVERED else "export.key_undelivered",
            subject=f"run:{message.run_id}",
            details={
                "reference": message.reference,
                "sid": message.sid,
                "status": new,
                "error_code": message.error_code,
            },
            now=now,
        )
    return True


def warn_not_delivered(run_id: int, reference: str, status: str) -> None:
    """The operator's alert: the run and the reference only (never the number)."""
    log.warning(
        "run %s: the key SMS for %s was not delivered (%s); a resend needs two people",
        run_id,
        reference,
        status,
    )


def apply_callback(
    engine: Engine, settings: Settings, sid: str, status: str, error: str | None
) -> str:
    """Apply one verified status callback to the key SMS ``sid``; returns its status now.

    Raises ``SmsStatusError`` 404 ``sms.unknown`` for a sid kbx did not send."""
    now = settings.now()
    with transaction(engine) as session:
        message = session.scalars(
            select(SmsMessage).where(SmsMessage.sid == sid).with_for_update()
        ).first()
        if message is None:
            raise SmsStatusError(
                404, "sms.unknown", "No key SMS with this id", "Geen sleutel-sms met deze id"
            )
        moved = record_status(session, message, status, error, actor="twilio", now=now)
        current, run_id, reference = message.status, message.run_id, message.reference
    if moved and current == DELIVERED:
        log.info("run %s: the key SMS for %s was delivered", run_id, reference)
    if moved and current in NOT_DELIVERED:
        warn_not_delivered(run_id, reference, current)
    return current
