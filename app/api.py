"""The HTTP service (FastAPI): ``/health`` (open) and ``/api/v1`` (bearer tokens)."""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.api_v1 import router
from app.db import make_engine
from app.errors import KbxError
from app.exports import ExportDeps, PolicyRefusal
from app.registry import Registry
from app.settings import Settings
from app.wiring import build_deps

__all__ = ["create_app"]


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


async def _kbx_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KbxError)
    content: dict[str, Any] = {
        "code": exc.code,
        "message": exc.message,
        "message_nl": getattr(exc, "message_nl", None) or exc.message,
    }
    if isinstance(exc, PolicyRefusal):
        content["reasons"] = [asdict(r) for r in exc.reasons]
    return JSONResponse(status_code=exc.status, content=content)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = (
        exc.detail
        if isinstance(exc.detail, dict)
        else {
            "code": f"http.{exc.status_code}",
            "message": str(exc.detail),
            "message_nl": str(exc.detail),
        }
    )
    return JSONResponse(status_code=exc.status_code, content=detail, headers=exc.headers)


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


def create_app(
    settings: Settings,
    registry: Registry,
    engine: Engine | None = None,
    deps: ExportDeps | None = None,
) -> FastAPI:
    """Build the application; the registry was loaded (and validated) by the caller at start."""
    api = FastAPI(
        title="kbx", version="0.1.0", description="Beveiligde bestandsuitwisseling van AgII"
    )
    api.state.settings = settings
    api.state.registry = registry
    api.state.engine = engine or make_engine(settings)
    api.state.deps = deps or build_deps(settings, registry)
    api.add_exception_handler(KbxError, _kbx_error)
    api.add_exception_handler(HTTPException, _http_error)
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
