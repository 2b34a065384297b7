"""The interactive docs work on a network without a CDN: every script, style sheet and icon that
``/docs`` and ``/redoc`` reference is served by kbx itself. In production there are no docs."""

from __future__ import annotations

import base64
import re
import secrets
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import Engine

from app.api.app import create_app
from app.api.headers import API_HEADERS, DOCS_CSP
from app.registry import load_registry
from app.settings import Environment, Settings
from app.wiring import build_deps
from tests.api_helpers import TestClient, make_app

BASE = "http://testserver"  # TestClient's own origin
# Swagger UI's script and style sheet weigh well over a megabyte and 100 kB: a stub would not
PAGES = {
    "/docs": {"swagger-ui-bundle.js": 500_000, "swagger-ui.css": 50_000, "favicon.png": 1_000},
    "/redoc": {"redoc.standalone.js": 500_000, "favicon.png": 1_000},
}

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


class _Links(HTMLParser):
    """Every src= and href= of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.links


@pytest.mark.parametrize("page", PAGES)
def test_docs_load_everything_from_kbx_itself(
    engine: Engine, settings: Settings, page: str
) -> None:
    client = TestClient(make_app(engine, settings))
    response = client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text

    links = _links(html)
    absolute = re.findall(r"""https?://[^\s"'<>)]+""", html)
    foreign = [
        url
        for url in [*links, *absolute]
        if urlsplit(urljoin(BASE + page, url)).netloc != urlsplit(BASE).netloc
    ]
    assert not foreign, f"{page} loads from other hosts: {foreign}"

    served = {urlsplit(url).path.rsplit("/", 1)[-1]: url for url in links}
    assert set(PAGES[page]) <= set(served), f"{page} references {links}"
    for name, minimum in PAGES[page].items():
        asset = client.get(urljoin(BASE + page, served[name]))
        assert asset.status_code == 200, f"{served[name]}: {asset.status_code}"
        assert len(asset.content) >= minimum, f"{served[name]}: {len(asset.content)} bytes"

    # the document the page renders, by the URL in its script
    [spec_url] = re.findall(r"""['"](/openapi\.json)['"]""", html)
    spec = client.get(spec_url)
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "kbx"


def test_swagger_ui_oauth2_redirect_is_local(engine: Engine, settings: Settings) -> None:
    client = TestClient(make_app(engine, settings))
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert not re.findall(r"https?://", response.text)


def test_docs_are_not_in_the_openapi_document(engine: Engine, settings: Settings) -> None:
    paths = make_app(engine, settings).openapi()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


def test_no_docs_in_production(engine: Engine, settings: Settings) -> None:
    registry = load_registry(settings.protocols_dir)
    production = settings.model_copy(
        update={
            "env": Environment.PRODUCTION,
            "today": None,
            "pseudonym_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
    )
    app = create_app(production, registry, engine, build_deps(settings, registry))
    client = TestClient(app)
    for path in (
        "/docs",
        "/docs/oauth2-redirect",
        "/docs/static/swagger-ui-bundle.js",
        "/redoc",
        "/openapi.json",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/health").status_code == 200


def test_every_answer_outside_the_console_carries_security_headers(
    engine: Engine, settings: Settings
) -> None:
    """JSON is never a page (CSP ``default-src 'none'``) nor cached; the docs allow only this
    site's code; the console keeps its own policy."""
    client = TestClient(make_app(engine, settings))
    for path in ("/health", "/api/v1/exports", "/openapi.json", "/api/v1/nowhere"):
        answer = client.get(path)
        assert answer.status_code in (200, 401, 404), path
        assert answer.headers["content-security-policy"] == API_HEADERS["Content-Security-Policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in answer.headers  # development
    docs = client.get("/docs")
    assert docs.headers["content-security-policy"] == DOCS_CSP
    assert "frame-ancestors 'none'" in DOCS_CSP
    assert "https:" not in DOCS_CSP  # nothing from elsewhere
    login = client.get("/login")
    assert "script-src 'self';" in login.headers["content-security-policy"]
    assert "unsafe-inline" not in login.headers["content-security-policy"]
