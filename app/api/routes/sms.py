"""``POST /api/v1/sms/status``: Twilio's status callback for a key SMS.

Called by Twilio, not by staff: it carries no bearer token but an ``X-Twilio-Signature``
(HMAC-SHA1 under the account's auth token over the callback URL and the form parameters), checked
with ``twilio.request_validator.RequestValidator`` over exactly the URL kbx gave Twilio
(``public_base_url`` + the path; a TLS proxy in front does not change it). A bad or missing
signature is 403 ``sms.bad_signature`` and changes nothing. What a status does is
``app.flows.sms_status``'s. The route is left out of the OpenAPI document, which describes the
staff API.
"""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from app.api.deps import PREFIX, EngineDep, SettingsDep
from app.flows.sms_status import SmsStatusError, apply_callback, bad_signature
from channels.twilio_sms import status_callback_url

__all__ = ["router"]

log = logging.getLogger("kbx.sms")

router = APIRouter(prefix=PREFIX)


@router.post("/sms/status", include_in_schema=False)
async def sms_status(request: Request, settings: SettingsDep, engine: EngineDep) -> JSONResponse:
    """Twilio's status callback for a key SMS (form-encoded, signed)."""
    form = await request.form()
    params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.twilio_auth_token
    if (
        not token
        or not signature
        or len(params) != len(form.multi_items())  # a file, or a repeated field
        or not RequestValidator(token).validate(
            status_callback_url(settings.public_base_url), params, signature
        )
    ):
        log.warning("an SMS status callback was refused: bad or missing signature")
        raise bad_signature()
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not sid or not status:
        raise SmsStatusError(
            400,
            "sms.invalid_callback",
            "A status callback needs MessageSid and MessageStatus",
            "Een statusmelding heeft MessageSid en MessageStatus nodig",
        )
    current = await run_in_threadpool(
        apply_callback, engine, settings, sid, status, params.get("ErrorCode") or None
    )
    return JSONResponse({"sid": sid, "status": current})
