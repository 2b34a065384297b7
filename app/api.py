"""The HTTP service (FastAPI): the health endpoint; the export API builds on it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine, text

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


def create_app(settings: Settings, registry: Registry, engine: Engine | None = None) -> FastAPI:
    """Build the application; the registry was loaded (and validated) by the caller at start."""
    api = FastAPI(
        title="kbx", version="0.1.0", description="Beveiligde bestandsuitwisseling van AgII"
    )
    api.state.settings = settings
    api.state.registry = registry
    api.state.engine = engine or make_engine(settings)

    @api.exception_handler(KbxError)
    async def _kbx_error(_request: Request, exc: KbxError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status, content={"code": exc.code, "message": exc.message}
        )

    def get_engine(request: Request) -> Engine:
        engine: Engine = request.app.state.engine
        return engine

    @api.get("/health", response_model=Health, tags=["service"])
    def health(engine: Annotated[Engine, Depends(get_engine)]) -> Health:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database: Literal["ok", "unavailable"] = "ok"
        except Exception:  # any failure means the same thing to a load balancer
            database = "unavailable"
        return Health(
            status="ok" if database == "ok" else "degraded",
            database=database,
            protocols=len(registry),
            environment=settings.env.value,
        )

    return api
