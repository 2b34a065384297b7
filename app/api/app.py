"""The HTTP service (FastAPI): ``/health`` (open), ``/api/v1`` (bearer tokens) and the staff
console (``/``, ``/login``, ``/exports``: a session cookie; ``app.web``)."""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
import logging
from typing import Literal

from fastapi import FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import EngineDep, RegistryDep, SettingsDep
from app.api.docs import install_docs
from app.api.errors import install_handlers
from app.api.headers import SecurityHeaders
from app.api.routes import CALLBACKS, ROUTERS, checks
from app.flows.deps import ExportDeps
from app.registry import Registry
from app.settings import Environment, Settings
from app.store.db import make_engine
from app.web import install_console
from app.wiring import build_deps

__all__ = ["create_app"]

log = logging.getLogger("kbx.api")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    protocols: int
    environment: str


def health(
    response: Response, engine: EngineDep, registry: RegistryDep, settings: SettingsDep
) -> Health:
    """Open to everyone: whether the service can reach its database and how many protocols it
    loaded. Answers 503 when the database is unreachable."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database: Literal["ok", "unavailable"] = "ok"
    except SQLAlchemyError:
        database = "unavailable"
        response.status_code = 503
    return Health(
        status="ok" if database == "ok" else "degraded",
        database=database,
        protocols=len(registry),
        environment=settings.env.value,
    )


DESCRIPTION = """Beveiligde bestandsuitwisseling van AgII / secure file exchange of AgII.

Every endpoint but `GET /health` and `POST /api/v1/auth/token` needs a bearer token from
`POST /api/v1/auth/token` (the OAuth2 password form). Each operation lists the roles that may
call it (`x-roles`, and its description) and every error it can answer (`x-error-codes`). Errors
are JSON: a stable `code`, `message` (English) and `message_nl` (Nederlands). Every time in an
answer is ISO 8601 in Brussels time with its offset (`2026-11-23T10:15:02+01:00`)."""


class _AccessLog:
    """One line per request with the route's template, never the URL as sent: a path or query
    could carry a value somebody typed (uvicorn's own access log is off for that reason).
    Plain ASGI, not ``BaseHTTPMiddleware`` (a task group and memory streams per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, answer)
        route = scope.get("route")
        log.info("%s %s %s", scope["method"], getattr(route, "path", "(no route)"), status)


def create_app(
    settings: Settings,
    registry: Registry,
    engine: Engine | None = None,
    deps: ExportDeps | None = None,
) -> FastAPI:
    """Build the application; the registry was loaded (and validated) by the caller at start."""
    # The interactive docs are a development aid; in production only /health is open.
    dev = settings.env is not Environment.PRODUCTION
    api = FastAPI(
        title="kbx",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,  # FastAPI's own pages load from a CDN: install_docs serves local files
        redoc_url=None,
        openapi_url="/openapi.json" if dev else None,
    )
    if dev:
        install_docs(api)
    api.add_middleware(_AccessLog)
    api.add_middleware(SecurityHeaders, production=not dev)
    api.state.settings = settings
    api.state.registry = registry
    api.state.engine = engine or make_engine(settings)
    api.state.deps = deps or build_deps(settings, registry)
    checks.prepare(api)  # the VSB check's pseudonymiser
    install_handlers(api)  # every error in one shape (app/api/errors.py)
    install_console(api)  # the staff console (app/web/): Dutch pages, its own session
    for router in ROUTERS:  # /api/v1, one module per group (app/api/routes/)
        api.include_router(router)
    for router in CALLBACKS:  # Twilio's signed callbacks; no bearer token
        api.include_router(router)
    api.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=Health,
        tags=["service"],
        responses={503: {"model": Health, "description": "Database unreachable"}},
    )
    return api
