"""``/api/v1/exports``: request, list, show, approve and cancel export runs, and the four-eyes
key resend. Every rule is the flows' (``app.flows.exports``, ``app.flows.key_sms``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import (
    PREFIX,
    Approver,
    Canceller,
    DepsDep,
    EngineDep,
    Reader,
    RecipientFilter,
    Requester,
    ResendApprover,
    ResendAsker,
    RunId,
)
from app.api.openapi import endpoint
from app.api.schemas import CancelRequest, ExportRequest, RunOut, run_out
from app.flows.exports import approve, cancel, make_request, request_export
from app.flows.key_sms import approve_resend, request_resend
from app.store import runs
from app.store.db import reading
from exchange.exports import RunState

__all__ = ["LIST_LIMIT", "router"]

router = APIRouter(prefix=PREFIX, tags=["exports"])

# The runs GET /exports answers by default: what a client shows on one screen. Each run costs
# the server its validation and serialization (about 20 us of CPU), and the answer ~500 bytes.
LIST_LIMIT = 50


@endpoint(
    router,
    "POST",
    "/exports",
    summary="Request an export",
    description="Claims the slot of (protocol, recipient, period): a second request for a slot "
    "that is taken is refused with 409 `policy.refused` (rule `frequency.exhausted`), even "
    "under concurrency. Every refusal names its rules and articles, and is recorded. An "
    "`art20-municipal` list answers the municipality's request (overweging C): give "
    "`requested_on` and `request_ref`, or it is refused (rule `request.missing`).",
    raises=(
        "protocol.unknown",
        "recipient.unknown",
        "recipient.ambiguous",
        "policy.refused",
        "recipient.no_contact",
        "recipient.no_key",
        "recipient.no_sftp_server",
        "recipient.no_mailbox",
        "channel.not_configured",
        "request.incomplete",
        "request.reference_invalid",
    ),
    status_code=201,
    response_model=RunOut,
)
def create_export(body: ExportRequest, user: Requester, engine: EngineDep, deps: DepsDep) -> RunOut:
    run = request_export(
        engine,
        deps,
        protocol_id=body.protocol,
        recipient_id=body.recipient,
        period=body.period,
        channel=body.channel,
        lookback_years=body.lookback_years,
        by=user.name,
        request=make_request(body.requested_on, body.request_ref),
    )
    return run_out(run)


@endpoint(
    router,
    "GET",
    "/exports",
    summary="List export runs",
    description="Newest first; optionally filtered. Refused requests are left out unless "
    "`include_refused=true` or `state=refused`, as in `kbx export list`. At most `limit` "
    f"runs (default {LIST_LIMIT}, up to 1000): ask for more, or filter, to see older ones.",
    raises=("recipient.unknown", "recipient.ambiguous"),
    response_model=list[RunOut],
)
def list_exports(
    _user: Reader,
    engine: EngineDep,
    state: RunState | None = None,
    protocol: Annotated[str | None, Query(max_length=48)] = None,
    recipient: RecipientFilter = None,
    batch: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="How many runs at most, newest first")
    ] = LIST_LIMIT,
    include_refused: bool = False,
) -> list[RunOut]:
    with reading(engine) as session:
        where = runs.RunFilter(
            states=None if state is None else (state,),
            protocol=protocol,
            recipient=recipient,
            batch=batch,
            include_refused=include_refused or state is RunState.REFUSED,
        )
        found = runs.list_rows(session, where, limit=limit)
    return [run_out(r) for r in found]


@endpoint(
    router,
    "GET",
    "/exports/{run_id}",
    summary="Show one export run",
    raises=("run.unknown",),
    response_model=RunOut,
)
def show_export(run_id: RunId, _user: Reader, engine: EngineDep) -> RunOut:
    with reading(engine) as session:
        return run_out(runs.load(session, run_id))


@endpoint(
    router,
    "POST",
    "/exports/{run_id}/approve",
    summary="Approve a requested run (four-eyes)",
    description="Never by the person who requested it (409 `run.four_eyes`). The worker then "
    "builds, seals and delivers the file and sends the key.",
    raises=("run.unknown", "run.four_eyes", "run.invalid_transition", "policy.refused"),
    response_model=RunOut,
)
def approve_export(run_id: RunId, user: Approver, engine: EngineDep, deps: DepsDep) -> RunOut:
    return run_out(approve(engine, deps, run_id, user.name))


@endpoint(
    router,
    "POST",
    "/exports/{run_id}/cancel",
    summary="Cancel a run, or reject one someone else requested",
    description="Only before the file is built (else 409 `run.invalid_transition`). Rejecting "
    "a run someone else requested needs a `reason` (3 to 300 characters, never a national "
    "number: the audit trail keeps it for good; else 400 `rejection.reason_missing`, "
    "`rejection.reason_invalid` or `rejection.reason_national_number`, and nothing is "
    "recorded); the requester cancelling their own run may give one.",
    raises=(
        "run.unknown",
        "run.not_requester",
        "run.invalid_transition",
        "rejection.reason_missing",
        "rejection.reason_invalid",
        "rejection.reason_national_number",
    ),
    response_model=RunOut,
)
def cancel_export(
    run_id: RunId,
    user: Canceller,
    engine: EngineDep,
    deps: DepsDep,
    body: CancelRequest | None = None,
) -> RunOut:
    reason = None if body is None else body.reason
    return run_out(cancel(engine, deps, run_id, user.name, reason))


@endpoint(
    router,
    "POST",
    "/exports/{run_id}/key-resend",
    summary="Ask for a resend of the key (first half of a four-eyes action)",
    description="The key goes again, by SMS, to the recipient's registered contact only, once a "
    "second person approves the resend.",
    raises=("run.unknown", "run.no_key_yet", "run.key_destroyed"),
    response_model=RunOut,
)
def ask_key_resend(run_id: RunId, user: ResendAsker, engine: EngineDep, deps: DepsDep) -> RunOut:
    return run_out(request_resend(engine, deps, run_id, user.name))


@endpoint(
    router,
    "POST",
    "/exports/{run_id}/key-resend/approve",
    summary="Approve a key resend (second half of the four-eyes action)",
    description="Never by the person who asked for the resend (409 `run.four_eyes`). Sends the "
    "key to the recipient's registered contact, never to another number. When the SMS provider "
    "refuses or cannot be reached (502 `sms.unavailable`) the request is kept, so the resend can "
    "be approved again.",
    raises=(
        "run.unknown",
        "run.no_resend_request",
        "run.four_eyes",
        "run.not_delivered",
        "run.key_destroyed",
        "recipient.no_contact",
        "sms.unavailable",
    ),
    response_model=RunOut,
)
def approve_key_resend(
    run_id: RunId, user: ResendApprover, engine: EngineDep, deps: DepsDep
) -> RunOut:
    return run_out(approve_resend(engine, deps, run_id, user.name))
