"""Agreements and their lifecycle: ``GET /api/v1/agreements[/{protocol}/{recipient}]`` reads;
``POST /api/v1/agreements`` proposes a signature or an accession and
``POST /api/v1/agreements/{protocol}/{recipient}/transitions`` a notice, suspension, resumption,
end or withdrawal. Both take effect when a second person approves them
(``POST /api/v1/recipient-changes/{id}/approve``). Every rule is the flow's
(``app.flows.agreements``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from app.api.deps import (
    PREFIX,
    ChangeProposer,
    DepsDep,
    EngineDep,
    Reader,
    RecipientFilter,
    RecipientParam,
    RegistryDep,
)
from app.api.openapi import endpoint
from app.api.routes.changes import ChangeOut
from app.api.schemas import Identifier, ProtocolId, timestamp
from app.flows import agreements, recipient_changes
from exchange.recipient_changes import ChangeKind

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["agreements"])

_PROPOSE_CODES = (
    "protocol.unknown",
    "recipient.unknown",
    "recipient.not_covered",
    "agreement.not_municipality",
    "agreement.wrong_kind",
    "agreement.missing",
    "agreement.invalid",
    "agreement.invalid_date",
    "agreement.cadence",
    "agreement.future",
    "agreement.duplicate",
    "accession.before_deliberation",
)


class AgreementOut(BaseModel):
    protocol_id: str
    recipient_id: str
    recipient_name: str
    kind: Literal["signature", "accession", "party"]
    source: Literal["record", "definition"] = Field(
        description="record: in kbx's database; definition: named by the protocol file"
    )
    state: Literal[
        "not_yet_signed", "signed", "in_force", "notice_given", "suspended", "ended", "withdrawn"
    ]
    state_nl: str
    signed_on: date
    in_force_on: date | None
    document_ref: str | None
    cadence: Literal["yearly", "two-yearly"] | None = Field(
        description="The VCMP ceremony cadence the municipality declared (seed 003 rn. 42)"
    )
    notice_on: date | None
    ends_on: date | None = Field(description="No list from this day on")
    end_kind: Literal["notice", "termination", "withdrawal"] | None
    end_reason: str | None
    end_article: str | None
    suspended_on: date | None
    suspension_reason: str | None
    suspension_article: str | None
    recorded_by: str | None
    approved_by: str | None
    recorded_at: str | None = Field(description="ISO 8601, Brussels time")


def _out(view: agreements.AgreementView) -> AgreementOut:
    values = asdict(view)
    moment: datetime | None = values.pop("recorded_at")
    return AgreementOut(**values, recorded_at=timestamp(moment) if moment else None)


class AgreementProposal(BaseModel):
    protocol: Identifier
    recipient: Identifier = Field(description="NIS code")
    kind: Literal["signature", "accession"]
    signed_on: date
    in_force_on: date | None = None
    document: str | None = Field(default=None, max_length=200)
    cadence: Literal["yearly", "two-yearly"] | None = Field(
        default=None, description="Required for vcmp-ceremony (seed 003 rn. 42)"
    )


class TransitionProposal(BaseModel):
    transition: Literal["notice", "suspend", "resume", "end", "withdraw"]
    on: date | None = Field(default=None, description="Takes effect on (default: today)")
    reason: str | None = Field(
        default=None, max_length=200, description="Required to suspend, resume or end"
    )
    article: str | None = Field(
        default=None, max_length=200, description='Required to suspend, resume or end: "Art. 8"'
    )


@endpoint(
    router,
    "GET",
    "/agreements",
    summary="List the agreements with their state today",
    description="Signatures, accessions and the agencies' own parties to a protocol, those "
    "recorded and those a protocol definition names.",
    raises=("protocol.unknown", "recipient.unknown"),
    response_model=list[AgreementOut],
)
def list_agreements(
    _user: Reader,
    engine: EngineDep,
    registry: RegistryDep,
    deps: DepsDep,
    protocol: Annotated[str | None, Query(max_length=48)] = None,
    recipient: RecipientFilter = None,
) -> list[AgreementOut]:
    rows = agreements.list_agreements(
        engine,
        registry,
        deps.settings.current_date(),
        protocol_id=protocol,
        recipient_id=recipient,
    )
    return [_out(v) for v in rows]


@endpoint(
    router,
    "GET",
    "/agreements/{protocol_id}/{recipient_id}",
    summary="Show one agreement",
    raises=("protocol.unknown", "recipient.unknown", "agreement.unknown"),
    response_model=AgreementOut,
)
def show_agreement(
    protocol_id: ProtocolId,
    recipient_id: RecipientParam,
    _user: Reader,
    engine: EngineDep,
    registry: RegistryDep,
    deps: DepsDep,
) -> AgreementOut:
    view = agreements.find(
        engine, registry, deps.settings.current_date(), protocol_id, recipient_id
    )
    return _out(view)


@endpoint(
    router,
    "POST",
    "/agreements",
    summary="Propose a signature or an accession (four-eyes)",
    description="Recorded only when a second person approves it "
    "(`POST /recipient-changes/{change_id}/approve`).",
    raises=_PROPOSE_CODES,
    response_model=ChangeOut,
    status_code=201,
)
def propose_agreement(
    body: AgreementProposal,
    user: ChangeProposer,
    engine: EngineDep,
    registry: RegistryDep,
    deps: DepsDep,
) -> ChangeOut:
    payload = body.model_dump(mode="json", exclude={"recipient"})
    payload["in_force_on"] = payload["in_force_on"] or None
    change = recipient_changes.propose(
        engine,
        deps.vault,
        ChangeKind.AGREEMENT,
        body.recipient,
        payload,
        user.name,
        deps.settings.now(),
        registry=registry,
        today=deps.settings.current_date(),
    )
    return ChangeOut.model_validate(change, from_attributes=True)


@endpoint(
    router,
    "POST",
    "/agreements/{protocol_id}/{recipient_id}/transitions",
    summary="Propose a notice, suspension, resumption, end or withdrawal (four-eyes)",
    description="Notice ends the agreement on the notice date + the protocol's notice period "
    "(seed 000 art. 12: 12 months; seed 004 art. 12: 3 months); an end (seed 000 art. 8) or a "
    "withdrawal on the date given. Applied only when a second person approves it.",
    raises=(
        "protocol.unknown",
        "recipient.unknown",
        "agreement.unknown",
        "agreement.missing",
        "agreement.invalid",
        "agreement.invalid_date",
        "agreement.transition",
        *agreements.TRANSITION_CODES,
    ),
    response_model=ChangeOut,
    status_code=201,
)
def propose_transition(
    protocol_id: ProtocolId,
    recipient_id: RecipientParam,
    body: TransitionProposal,
    user: ChangeProposer,
    engine: EngineDep,
    registry: RegistryDep,
    deps: DepsDep,
) -> ChangeOut:
    payload = {"protocol": protocol_id, **body.model_dump(mode="json")}
    change = recipient_changes.propose(
        engine,
        deps.vault,
        ChangeKind.AGREEMENT_STATE,
        recipient_id,
        payload,
        user.name,
        deps.settings.now(),
        registry=registry,
        today=deps.settings.current_date(),
    )
    return ChangeOut.model_validate(change, from_attributes=True)
