"""``/api/v1/export-batches``: one run per signed (or acceded) recipient, approved as a whole
by a second person. Every rule is the flows' (``app.flows.exports``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import PREFIX, Approver, DepsDep, EngineDep, Requester
from app.api.errors import RefusalOut, refusals
from app.api.openapi import endpoint
from app.api.schemas import BatchId, Identifier, PeriodText, RunOut, run_out
from app.flows.exports import approve_batch, request_batch, request_items

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["exports"])


class MunicipalRequest(BaseModel):
    nis_code: str = Field(pattern=r"^[0-9]{5}$", examples=["72020"])
    requested_on: date = Field(description="The day the municipality asked for its list")
    reference: str = Field(
        min_length=1, max_length=64, description="The municipality's reference of its request"
    )


class BatchRequest(BaseModel):
    protocol: Identifier = Field(examples=["art20-municipal"])
    period: PeriodText
    channel: Identifier = Field(examples=["sftp_drop"])
    lookback_years: int | None = Field(default=None, ge=0, le=99, description="vcmp: 1 or 2")
    requests: list[MunicipalRequest] | None = Field(
        default=None,
        max_length=400,
        description="art20-municipal (required there, refused elsewhere): the requests "
        "received; one run per listed municipality, each recording its request",
    )


class BatchOut(BaseModel):
    batch: str
    runs: list[RunOut]
    refused: dict[str, list[RefusalOut]] = Field(
        description="Per recipient that got no run: every reason (a protocol rule with its "
        "article, or the error that kept it out); the same shape as in `batch.refused`"
    )


@endpoint(
    router,
    "POST",
    "/export-batches",
    summary="Request one run per signed (or acceded) recipient, or per request received",
    description="For `art20-municipal` one run per municipality of `requests` (the requests "
    "received, overweging C), each recording its request; otherwise one per signed (or "
    "acceded) recipient. "
    "Each run is its own claim, file and password; a second person approves the "
    "whole batch at once. When not one recipient can have a run, nothing is requested: 409 "
    "`batch.refused` with every recipient's reasons (`refused`); the refusals are recorded "
    "under the batch id (`batch`).",
    raises=(
        "protocol.unknown",
        "batch.not_applicable",
        "batch.refused",
        "batch.requests_required",
        "batch.not_on_request",
        "requests.invalid",
        "requests.unknown_recipient",
    ),
    status_code=201,
    response_model=BatchOut,
)
def create_batch(body: BatchRequest, user: Requester, engine: EngineDep, deps: DepsDep) -> BatchOut:
    result = request_batch(
        engine,
        deps,
        protocol_id=body.protocol,
        period=body.period,
        channel=body.channel,
        lookback_years=body.lookback_years,
        by=user.name,
        requests=None
        if body.requests is None
        else request_items([(r.nis_code, r.requested_on, r.reference) for r in body.requests]),
    )
    return BatchOut(
        batch=result.batch_id,
        runs=[run_out(r) for r in result.runs],
        refused=refusals(result.refused),
    )


@endpoint(
    router,
    "POST",
    "/export-batches/{batch_id}/approve",
    summary="Approve every requested run of a batch (four-eyes)",
    description="All or none, never by a person who requested any of them (409 "
    "`run.four_eyes`); 409 `batch.nothing_to_approve` when no run of the batch waits.",
    raises=(
        "batch.unknown",
        "batch.nothing_to_approve",
        "run.four_eyes",
        "run.invalid_transition",
        "policy.refused",
    ),
    response_model=list[RunOut],
)
def approve_whole_batch(
    batch_id: BatchId, user: Approver, engine: EngineDep, deps: DepsDep
) -> list[RunOut]:
    return [run_out(r) for r in approve_batch(engine, deps, batch_id, user.name)]
