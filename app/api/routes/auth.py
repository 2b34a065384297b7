"""``POST /api/v1/auth/token``: a name and password for a bearer token (the OAuth2 password
form). Tokens live 30 minutes; only their SHA-256 is stored (``app.store.users``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from app.api.deps import PREFIX, DepsDep, EngineDep
from app.api.errors import ApiError
from app.api.openapi import endpoint
from app.flows import login_throttle
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
    description="The OAuth2 password form (`username`, `password`); the token lives 30 minutes. "
    "Five failed logins of one name from one address in 15 minutes (the console's and this "
    "endpoint's together) hold that name back from that address: 429 `auth.throttled` with "
    "`Retry-After`, even for the right password.",
    raises=("auth.failed", "auth.throttled"),
    response_model=Token,
)
def token(
    request: Request,
    engine: EngineDep,
    deps: DepsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> Token:
    source = request.client.host if request.client else "-"
    wait = login_throttle.wait(engine, form.username, source)
    if wait is not None:
        raise ApiError("auth.throttled", headers={"Retry-After": str(wait)})
    # Two short transactions around argon2: no lock is held while the hash is verified.
    with transaction(engine) as session:
        user = find_user(session, form.username)
    # An unknown name is verified against a dummy hash: it costs what a wrong password costs.
    if not password_matches(user, form.password) or user is None:
        login_throttle.failed(engine, form.username, source)
        raise ApiError("auth.failed")
    with transaction(engine) as session:
        value, ttl = issue_token(session, user, deps.settings.now())
    return Token(access_token=value, expires_in=ttl)
