"""``POST /api/v1/policy/check``: the policy dry run (``app.flows.exports.check``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import PREFIX, DepsDep, EngineDep, Reader
from app.api.errors import ReasonOut, reason_out
from app.api.openapi import endpoint
from app.api.schemas import ExportRequest
from app.flows.exports import check, make_request

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["policy"])


class NotReadyOut(BaseModel):
    """Why a request the policy allows would still be refused today: kbx cannot reach the
    recipient over that channel yet (no contact for the key SMS, no key, server or mailbox)."""

    code: str
    message: str
    message_nl: str | None


class CheckOut(BaseModel):
    allowed: bool
    definition_hash: str
    reasons: list[ReasonOut]
    not_ready: NotReadyOut | None = None


@endpoint(
    router,
    "POST",
    "/policy/check",
    summary="Check a request against its protocol (dry run)",
    description="Evaluates every rule as a request would; nothing is claimed or recorded.",
    raises=(
        "protocol.unknown",
        "recipient.unknown",
        "recipient.ambiguous",
        "request.incomplete",
        "request.reference_invalid",
    ),
    response_model=CheckOut,
)
def policy_check(body: ExportRequest, _user: Reader, engine: EngineDep, deps: DepsDep) -> CheckOut:
    answer = check(
        engine,
        deps,
        protocol_id=body.protocol,
        recipient_id=body.recipient,
        period=body.period,
        channel=body.channel,
        lookback_years=body.lookback_years,
        request=make_request(body.requested_on, body.request_ref),
    )
    return CheckOut(
        allowed=answer.allowed,
        definition_hash=answer.definition.content_hash,
        reasons=[reason_out(r) for r in answer.reasons],
        not_ready=None
        if answer.not_ready is None
        else NotReadyOut(
            code=answer.not_ready.code,
            message=answer.not_ready.message,
            message_nl=answer.not_ready.message_nl,
        ),
    )
