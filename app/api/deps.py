"""What a route is given: the engine, the service's parts, the caller, and the role guard.

The roles of an operation come from ``app.flows.roles.ROLES`` through its ``RoleGuard(Action)``
and nowhere else: the guard refuses with ``require`` (403 ``auth.role``), and the OpenAPI entry
of every operation that uses it lists ``roles_of(action)`` (``app.api.openapi``).
"""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine

from app.api.errors import ApiError
from app.api.schemas import RecipientQuery, RecipientRef, RunRef
from app.flows.deps import ExportDeps
from app.flows.roles import ROLES, Action, Role, require
from app.registry import Registry
from app.settings import Settings
from app.store import runs
from app.store.db import reading
from app.store.recipients import resolve
from app.store.users import user_for_token
from exchange.models import User

__all__ = [
    "PREFIX",
    "Approver",
    "Canceller",
    "ChangeDecider",
    "ChangeProposer",
    "CurrentUser",
    "DepsDep",
    "EngineDep",
    "ObligationChecker",
    "Reader",
    "RecipientFilter",
    "RecipientParam",
    "RegistryDep",
    "Requester",
    "ResendApprover",
    "ResendAsker",
    "RoleGuard",
    "RunId",
    "SettingsDep",
    "current_user",
    "get_deps",
    "get_engine",
    "get_registry",
    "get_settings",
    "recipient_filter",
    "recipient_of",
    "roles_of",
    "run_id_of",
]

PREFIX = "/api/v1"
oauth2 = OAuth2PasswordBearer(tokenUrl=f"{PREFIX}/auth/token", auto_error=False)


# The dependencies that only look something up are coroutines: FastAPI runs a plain function
# in its thread pool, and each such hop costs ~0.3 ms of CPU, more than most reads themselves.
# Those that read the database stay plain functions, off the event loop.


async def get_engine(request: Request) -> Engine:
    """The application's database engine."""
    engine: Engine = request.app.state.engine
    return engine


async def get_deps(request: Request) -> ExportDeps:
    """The application's flow dependencies (registry, vault, channels)."""
    deps: ExportDeps = request.app.state.deps
    return deps


async def get_registry(request: Request) -> Registry:
    """The protocol registry loaded at start."""
    registry: Registry = request.app.state.registry
    return registry


async def get_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[Engine, Depends(get_engine)]
DepsDep = Annotated[ExportDeps, Depends(get_deps)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def current_user(
    engine: EngineDep, deps: DepsDep, token: Annotated[str | None, Depends(oauth2)]
) -> User:
    """The caller of the bearer token: 401 ``auth.missing`` without one, ``auth.invalid`` when
    it is unknown, expired, or its account is disabled (``user_for_token``)."""
    if not token:
        raise ApiError("auth.missing")
    with reading(engine) as session:
        user = user_for_token(session, token, deps.settings.now())
    if user is None:
        raise ApiError("auth.invalid")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def run_id_of(run_id: RunRef, _caller: CurrentUser, engine: EngineDep) -> int:
    """The id of the run a path names by id or by reference (``app.store.runs.find``, 404
    ``run.unknown``), as the command line takes either. The caller is authenticated first: a
    client without a token learns nothing of which runs exist."""
    with reading(engine) as session:
        return runs.find(session, run_id).id


RunId = Annotated[int, Depends(run_id_of)]


def recipient_of(recipient_id: RecipientRef, _caller: CurrentUser, engine: EngineDep) -> str:
    """The id of the recipient a path names by code or by name (``Gent``), as the command line
    takes either (``app.store.recipients.resolve``: 404 ``recipient.unknown``, 400
    ``recipient.ambiguous``). The caller is authenticated first."""
    with reading(engine) as session:
        return resolve(session, recipient_id).id


async def recipient_filter(
    _caller: CurrentUser, engine: EngineDep, recipient: RecipientQuery = None
) -> str | None:
    """A ``?recipient=`` filter by code or by name, resolved as ``recipient_of``; an unknown
    name is a 404, not an empty list."""
    if recipient is None:  # most lists: no thread-pool hop for nothing
        return None
    return await run_in_threadpool(_recipient_id, engine, recipient)


def _recipient_id(engine: Engine, text: str) -> str:
    with reading(engine) as session:
        return resolve(session, text).id


RecipientParam = Annotated[str, Depends(recipient_of)]
RecipientFilter = Annotated[str | None, Depends(recipient_filter)]


def roles_of(action: Action) -> list[Role]:
    """The roles that may do ``action``, in the order of ``Role``."""
    return [role for role in Role if role in ROLES[action]]


class RoleGuard:
    """A dependency that lets through only the roles that may do ``action``."""

    def __init__(self, action: Action) -> None:
        self.action = action

    async def __call__(self, user: CurrentUser) -> User:
        require(user.name, user.role, self.action)  # RoleRefused: 403 auth.role
        return user


Reader = Annotated[User, Depends(RoleGuard(Action.READ))]
Requester = Annotated[User, Depends(RoleGuard(Action.REQUEST))]
Approver = Annotated[User, Depends(RoleGuard(Action.APPROVE))]
Canceller = Annotated[User, Depends(RoleGuard(Action.CANCEL))]
ResendAsker = Annotated[User, Depends(RoleGuard(Action.ASK_RESEND))]
ResendApprover = Annotated[User, Depends(RoleGuard(Action.APPROVE_RESEND))]
ChangeProposer = Annotated[User, Depends(RoleGuard(Action.PROPOSE_CHANGE))]
ChangeDecider = Annotated[User, Depends(RoleGuard(Action.DECIDE_CHANGE))]
ObligationChecker = Annotated[User, Depends(RoleGuard(Action.CHECK_OBLIGATION))]
