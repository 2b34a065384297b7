"""Four-eyes changes to a recipient's contact, drop key, SFTP server or mailbox:
``POST /api/v1/recipients/{id}/changes`` proposes, ``GET /api/v1/recipient-changes`` lists what
waits, ``POST /api/v1/recipient-changes/{id}/approve|reject`` decides (never the proposer).
Every rule is the flow's (``app.flows.recipient_changes``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import PREFIX, ChangeDecider, ChangeProposer, DepsDep, EngineDep, Reader
from app.api.openapi import endpoint
from app.api.schemas import CancelRequest, ChangeId, RecipientId, Timestamp
from app.flows import agreements, recipient_changes
from exchange.recipient_changes import ChangeKind

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["recipients"])


class ContactChange(BaseModel):
    kind: Literal["contact"]
    name: str = Field(max_length=120)
    phone: str = Field(max_length=32, description="Belgian mobile number; receives the key SMS")
    email: str = Field(max_length=254)


class KeyChange(BaseModel):
    kind: Literal["key"]
    public_key: str = Field(max_length=4000, description="One OpenSSH public key line")


class SftpChange(BaseModel):
    kind: Literal["sftp"]
    host: str = Field(max_length=253)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(max_length=64)
    private_key: str = Field(
        max_length=20000,
        description="kbx's unencrypted OpenSSH private key for this server; "
        "kept only sealed under the service key",
    )
    host_key: str = Field(max_length=4000, description='Pinned: "ssh-ed25519 AAAA..."')
    path: str = Field(max_length=255)
    return_path: str | None = Field(default=None, max_length=255)


class MailChange(BaseModel):
    kind: Literal["mail"]
    address: str = Field(max_length=254)
    route: Literal["secure_mail", "zivver"]


RecipientChange = Annotated[
    ContactChange | KeyChange | SftpChange | MailChange, Field(discriminator="kind")
]


class ChangeOut(BaseModel):
    id: int
    kind: str
    recipient_id: str
    summary: str = Field(description="What the approver decides on; never a secret")
    summary_nl: str = Field(description="The same in Dutch (as the console shows it)")
    state: Literal["pending", "applied", "rejected"]
    requested_by: str
    requested_at: Timestamp
    decided_by: str | None
    reason: str | None = Field(
        default=None, description="Reden van afwijzing, in the answer to a rejection"
    )


def _out(change: recipient_changes.ChangeOut) -> ChangeOut:
    return ChangeOut.model_validate(change, from_attributes=True)


@endpoint(
    router,
    "POST",
    "/recipients/{recipient_id}/changes",
    summary="Propose a change to a recipient's contact, drop key, SFTP server or mailbox",
    description="Takes effect only when a second person approves it "
    "(`POST /recipient-changes/{change_id}/approve`). Secrets in the proposal are sealed "
    "under the service key while it waits and never shown again.",
    raises=(
        "recipient.unknown",
        "change.invalid_contact",
        "change.invalid_key",
        "change.invalid_sftp",
        "change.invalid_mail",
        "key.duplicate",
        "key.other_recipient",
    ),
    response_model=ChangeOut,
    status_code=201,
)
def propose_recipient_change(
    recipient_id: RecipientId,
    body: RecipientChange,
    user: ChangeProposer,
    engine: EngineDep,
    deps: DepsDep,
) -> ChangeOut:
    change = recipient_changes.propose(
        engine,
        deps.vault,
        ChangeKind(body.kind),
        recipient_id,
        body.model_dump(exclude={"kind"}),
        user.name,
        deps.settings.now(),
    )
    return _out(change)


@endpoint(
    router,
    "GET",
    "/recipient-changes",
    summary="Changes to recipients waiting for a second person",
    response_model=list[ChangeOut],
)
def pending_recipient_changes(_user: Reader, engine: EngineDep) -> list[ChangeOut]:
    return [_out(c) for c in recipient_changes.pending(engine)]


@endpoint(
    router,
    "POST",
    "/recipient-changes/{change_id}/approve",
    summary="Approve and apply a proposed change (four-eyes)",
    raises=(
        "change.unknown",
        "change.decided",
        "change.four_eyes",
        "key.duplicate",
        "key.other_recipient",
        "contact.invalid",
        "agreement.duplicate",
        "agreement.unknown",
        *agreements.TRANSITION_CODES,
    ),
    response_model=ChangeOut,
)
def approve_recipient_change(
    change_id: ChangeId, user: ChangeDecider, engine: EngineDep, deps: DepsDep
) -> ChangeOut:
    change = recipient_changes.decide(
        engine, deps.vault, change_id, user.name, approve=True, now=deps.settings.now()
    )
    return _out(change)


@endpoint(
    router,
    "POST",
    "/recipient-changes/{change_id}/reject",
    summary="Reject a proposed change; nothing of it is kept but its summary and the reason",
    description="The body's `reason` is required (3 to 300 characters, never a national "
    "number: the audit trail keeps it for good; else 400 `rejection.reason_missing`, "
    "`rejection.reason_invalid` or `rejection.reason_national_number`, and nothing is "
    "recorded).",
    raises=(
        "change.unknown",
        "change.decided",
        "change.four_eyes",
        "rejection.reason_missing",
        "rejection.reason_invalid",
        "rejection.reason_national_number",
    ),
    response_model=ChangeOut,
)
def reject_recipient_change(
    change_id: ChangeId,
    user: ChangeDecider,
    engine: EngineDep,
    deps: DepsDep,
    body: CancelRequest | None = None,
) -> ChangeOut:
    change = recipient_changes.decide(
        engine,
        deps.vault,
        change_id,
        user.name,
        approve=False,
        now=deps.settings.now(),
        reason=None if body is None else body.reason,
    )
    return _out(change)
