"""The HTTP service (FastAPI): ``/health`` (open) and ``/api/v1`` (bearer tokens)."""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
import logging
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.checks import install as install_checks
from app.api.docs import install_docs
from app.api.sms import router as sms_status_router
from app.api.v1 import ERRORS, router
from app.errors import KbxError
from app.flows.deps import ExportDeps
from app.flows.exports import PolicyRefusal
from app.registry import Registry
from app.settings import Environment, Settings
from app.store.db import make_engine
from app.wiring import build_deps

__all__ = ["create_app"]

log = logging.getLogger("kbx.api")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    protocols: int
    environment: str


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _error_body(code: str, message: str, message_nl: str | None = None) -> dict[str, Any]:
    known = ERRORS.get(code)
    return {
        "code": code,
        "message": message,
        "message_nl": message_nl or (known.nl if known else message),
    }


async def _kbx_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KbxError)
    content = _error_body(exc.code, exc.message, getattr(exc, "message_nl", None))
    if isinstance(exc, PolicyRefusal):
        content["reasons"] = [asdict(r) for r in exc.reasons]
        content["run_id"] = exc.run_id
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(status_code=exc.status, content=content, headers=headers)


_HTTP_CODES = {
    404: ("http.not_found", "No such path", "Dit pad bestaat niet"),
    405: ("http.method_not_allowed", "Method not allowed", "Deze methode is niet toegestaan"),
}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (an unknown path, a method a path does not have) in our shape."""
    assert isinstance(exc, StarletteHTTPException)
    code, en, nl = _HTTP_CODES.get(
        exc.status_code, (f"http.{exc.status_code}", str(exc.detail), str(exc.detail))
    )
    return JSONResponse(
        status_code=exc.status_code, content=_error_body(code, en, nl), headers=exc.headers
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 in our shape: where and what kind, never the value (it may be a password
    or a national number)."""
    assert isinstance(exc, RequestValidationError)
    content = _error_body("request.invalid", ERRORS["request.invalid"].en)
    content["errors"] = [
        {
            "loc": list(e.get("loc", ())),
            "type": str(e.get("type", "")),
            "msg": str(e.get("msg", "")),
        }
        for e in exc.errors()
    ]
    return JSONResponse(status_code=422, content=content)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The type and the path only: an exception's text may carry a value.
    log.error("internal error (%s) on %s %s", type(exc).__name__, request.method, request.url.path)
    error = ERRORS["internal.error"]
    return JSONResponse(status_code=500, content=_error_body("internal.error", error.en, error.nl))


def health(
    response: Response,
    engine: Annotated[Engine, Depends(get_engine)],
    registry: Annotated[Registry, Depends(get_registry)],
    settings: Annotated[Settings, Depends(get_settings)],
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
are JSON: a stable `code`, `message` (English) and `message_nl` (Nederlands)."""


async def _access_log(request: Request, call_next: Any) -> Response:
    """One line per request with the route's template, never the URL as sent: a path or query
    could carry a value somebody typed (uvicorn's own access log is off for that reason)."""
    response: Response = await call_next(request)
    route = request.scope.get("route")
    log.info("%s %s %s", request.method, getattr(route, "path", "(no route)"), response.status_code)
    return response


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
    api.middleware("http")(_access_log)
    api.state.settings = settings
    api.state.registry = registry
    api.state.engine = engine or make_engine(settings)
    api.state.deps = deps or build_deps(settings, registry)
    api.add_exception_handler(KbxError, _kbx_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(Exception, _internal_error)
    api.include_router(router)
    api.include_router(sms_status_router)  # Twilio's signed callbacks; no bearer token
    install_checks(api)  # the VSB individual check (app/api/checks.py)
    api.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=Health,
        tags=["service"],
        responses={503: {"model": Health, "description": "Database unreachable"}},
    )
    return api
