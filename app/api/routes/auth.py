"""``POST /api/v1/auth/token``: a name and password for a bearer token (the OAuth2 password
form). Tokens live 30 minutes; only their SHA-256 is stored (``app.store.users``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from app.api.deps import PREFIX, DepsDep, EngineDep
from app.api.errors import ApiError
from app.api.openapi import endpoint
from app.store.db import transaction
from app.store.users import find_user, issue_token, password_matches

__all__ = ["Token", "router"]

router = APIRouter(prefix=PREFIX, tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_in: int = Field(description="Seconds until the token expires")


@endpoint(
    router,
    "POST",
    "/auth/token",
    summary="Exchange a name and password for a bearer token",
    description="The OAuth2 password form (`username`, `password`); the token lives 30 minutes.",
    raises=("auth.failed",),
    response_model=Token,
)
def token(
    engine: EngineDep, deps: DepsDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    # Two short transactions around argon2: no lock is held while the hash is verified.
    with transaction(engine) as session:
        user = find_user(session, form.username)
    # An unknown name is verified against a dummy hash: it costs what a wrong password costs.
    if not password_matches(user, form.password) or user is None:
        raise ApiError("auth.failed")
    with transaction(engine) as session:
        value, ttl = issue_token(session, user, deps.settings.now())
    return Token(access_token=value, expires_in=ttl)
