"""The HTTP service (FastAPI): the health endpoint; the export API builds on it."""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.db import make_engine
from app.errors import KbxError
from app.registry import Registry
from app.settings import Settings

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
    return JSONResponse(status_code=exc.status, content={"code": exc.code, "message": exc.message})


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


def create_app(settings: Settings, registry: Registry, engine: Engine | None = None) -> FastAPI:
    """Build the application; the registry was loaded (and validated) by the caller at start."""
    api = FastAPI(
        title="kbx", version="0.1.0", description="Beveiligde bestandsuitwisseling van AgII"
    )
    api.state.settings = settings
    api.state.registry = registry
    api.state.engine = engine or make_engine(settings)
    api.add_exception_handler(KbxError, _kbx_error)
    api.add_api_route(
        "/health",
        health,
        methods=["GET"],
        response_model=Health,
        tags=["service"],
        responses={503: {"model": Health, "description": "Database unreachable"}},
    )
    return api
