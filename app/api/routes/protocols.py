"""``GET /api/v1/protocols[/{id}]``: the protocol definitions kbx loaded (read-only)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import PREFIX, EngineDep, Reader, RegistryDep
from app.api.openapi import endpoint
from app.api.schemas import ProtocolId
from app.flows.protocol_dates import effective_definition, effective_definitions

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, tags=["protocols"])


class ProtocolOut(BaseModel):
    id: str
    version: int
    title_nl: str
    content_hash: str
    valid_from: date
    valid_until: date | None
    valid_until_basis: str | None = None
    fields: list[str]
    channels: list[str]


@endpoint(
    router,
    "GET",
    "/protocols",
    summary="List the protocols",
    response_model=list[ProtocolOut],
)
def protocols(_user: Reader, engine: EngineDep, registry: RegistryDep) -> list[ProtocolOut]:
    return [
        ProtocolOut(
            id=d.id,
            version=d.version,
            title_nl=d.title_nl,
            content_hash=d.content_hash,
            valid_from=d.validity.valid_from,
            valid_until=d.validity.until,
            valid_until_basis=d.validity.until_basis_nl,
            fields=d.field_names,
            channels=[c.channel.value for c in d.channels],
        )
        for d in effective_definitions(engine, registry)
    ]


@endpoint(
    router,
    "GET",
    "/protocols/{protocol_id}",
    summary="Show a protocol's whole definition",
    raises=("protocol.unknown",),
)
def protocol(
    protocol_id: ProtocolId, _user: Reader, engine: EngineDep, registry: RegistryDep
) -> dict[str, Any]:
    definition = effective_definition(engine, registry, protocol_id)
    return definition.model_dump(mode="json", by_alias=True)
