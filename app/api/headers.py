"""The security headers of every answer, in one place: the staff console's pages, the API's
JSON, ``/health``, Twilio's callbacks and, in development, the interactive docs.

- The console (``app.web.console.is_console_path``) allows its own scripts, styles and forms
  and nothing inline (``CONSOLE_HEADERS``).
- JSON is never a page: ``default-src 'none'`` lets a browser that is tricked into rendering it
  run, load and frame nothing (OWASP REST Security Cheat Sheet, "Security headers").
- The docs (Swagger UI, ReDoc: development only) start from an inline script the libraries
  write, so their pages allow inline code from this site and nothing from elsewhere.

Every answer but a static file is ``no-store`` (pages and JSON about runs and recipients stay
out of every cache), and in production every answer carries HSTS."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.docs import DOCS_URL, REDOC_URL
from app.web.console import is_console_path

__all__ = ["API_HEADERS", "CONSOLE_HEADERS", "DOCS_CSP", "HSTS", "SecurityHeaders"]

CONSOLE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
API_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
_STATIC = ("/static/", f"{DOCS_URL}/static/")


def headers_for(path: str) -> dict[str, str]:
    """The security headers (HSTS and caching aside) of an answer to ``path``."""
    if is_console_path(path):
        return CONSOLE_HEADERS
    if path.startswith((DOCS_URL, REDOC_URL)):
        return {**API_HEADERS, "Content-Security-Policy": DOCS_CSP}
    return API_HEADERS


class SecurityHeaders:
    """Adds ``headers_for(path)``, ``Cache-Control: no-store`` (not on static files, nor where
    the route set its own) and HSTS when ``production`` to every HTTP answer. Plain ASGI (see
    ``app.api.app._AccessLog``)."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in headers_for(path).items():
                    headers[name] = value
                if not path.startswith(_STATIC) and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if self.production:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, answer)
