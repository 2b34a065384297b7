"""``GET /api/v1/recipients[/{id}]``: the recipients (read-only). The contact itself (a person)
is never shown, only whether there is one; a recipient changes only by four eyes
(``app.api.routes.changes``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import PREFIX, EngineDep, Reader, RecipientParam
from app.api.openapi import endpoint
from app.store.db import reading
from app.store.recipients import RecipientRow, list_recipients

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["recipients"])


class RecipientOut(BaseModel):
    id: str
    kind: str
    name_nl: str
    province_nl: str | None
    has_contact: bool = Field(description="Whether a contact for the key SMS is registered")
    keys: int = Field(description="SSH keys registered for the SFTP drop")


def _out(row: RecipientRow) -> RecipientOut:
    return RecipientOut(
        id=row.id,
        kind=row.kind,
        name_nl=row.name_nl,
        province_nl=row.province_nl,
        has_contact=row.has_contact,
        keys=row.keys,
    )


@endpoint(
    router,
    "GET",
    "/recipients",
    summary="List the recipients",
    description="The contact itself (a person) is never shown, only whether there is one.",
    response_model=list[RecipientOut],
)
def recipients(_user: Reader, engine: EngineDep) -> list[RecipientOut]:
    with reading(engine) as session:
        return [_out(r) for r in list_recipients(session)]


@endpoint(
    router,
    "GET",
    "/recipients/{recipient_id}",
    summary="Show one recipient",
    description="The contact itself (a person) is never shown, only whether there is one.",
    raises=("recipient.unknown", "recipient.ambiguous"),
    response_model=RecipientOut,
)
def recipient(recipient_id: RecipientParam, _user: Reader, engine: EngineDep) -> RecipientOut:
    with reading(engine) as session:
        [row] = list_recipients(session, only=recipient_id)
    return _out(row)
