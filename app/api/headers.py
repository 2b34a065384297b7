"""Security headers on every answer outside the staff console (the console sets its own, with
its session: ``app.web.console``): the API's JSON, ``/health``, Twilio's callbacks and, in
development, the interactive docs.

JSON is never a page: ``default-src 'none'`` lets a browser that is tricked into rendering it
run, load and frame nothing (OWASP REST Security Cheat Sheet, "Security headers"), and
``no-store`` keeps answers about runs and recipients out of every cache. The docs (Swagger UI,
ReDoc: development only) start from an inline script the libraries write, so their pages allow
inline code from this site and nothing from elsewhere."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.docs import DOCS_URL, REDOC_URL
from app.web.console import HSTS, is_console_path

__all__ = ["API_HEADERS", "DOCS_CSP", "ApiHeaders"]

API_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'"
)


class ApiHeaders:
    """Adds ``API_HEADERS`` (the docs: ``DOCS_CSP``), ``Cache-Control: no-store`` unless the
    route set one, and HSTS when ``production``, to every HTTP answer outside the console
    (``app.web.console.is_console_path``). Plain ASGI (see ``app.api.app._AccessLog``)."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or is_console_path(path):
            await self.app(scope, receive, send)
            return
        docs = path.startswith((DOCS_URL, REDOC_URL))

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in API_HEADERS.items():
                    headers[name] = value
                if docs:
                    headers["Content-Security-Policy"] = DOCS_CSP
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if self.production:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, answer)
