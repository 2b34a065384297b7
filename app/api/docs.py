"""The interactive API docs (development only), served without a CDN: Swagger UI at ``/docs`` and
ReDoc at ``/redoc`` load their scripts, style sheet and icon from ``/docs/static``, which serves
the files that the ``fastapi-offline`` package ships. The agency's offline network reaches no CDN,
and a page that waits for one stays blank."""

# No `from __future__ import annotations` here: FastAPI reads the route annotations at runtime.
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["DOCS_URL", "REDOC_URL", "STATIC_URL", "install_docs"]

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and favicon.png
STATIC_DIR = Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI and ReDoc from local files. Build the app with ``docs_url=None`` and
    ``redoc_url=None`` (FastAPI's own pages load from a CDN), and its ``openapi_url`` set."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the docs need the OpenAPI document: build the app with openapi_url")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")

    def _root(request: Request) -> str:
        root: str = request.scope.get("root_path", "")
        return root

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            # validatorUrl null: no badge that asks validator.swagger.io about the document
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        OAUTH2_REDIRECT_URL, oauth2_redirect, methods=["GET"], include_in_schema=False
    )
    app.add_api_route(REDOC_URL, redoc, methods=["GET"], include_in_schema=False)
