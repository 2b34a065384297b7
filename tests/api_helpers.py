"""Helpers for the API tests: the app bound to the test's engine and settings, a client that holds
every answer to the OpenAPI document, staff of every role, and uvicorn on a free port."""

from __future__ import annotations

import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from app.api.app import create_app
from app.registry import load_registry
from app.settings import Settings
from tests.conftest import Kbx
from tests.export_helpers import PASSWORD

with warnings.catch_warnings():
    # Starlette 1.x would rather drive its TestClient with httpx2; the locked environment has
    # httpx, which it still supports. (Adding httpx2 to the dev group removes this.)
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient"]

API = "/api/v1"
ROLES = ("operator", "approver", "auditor", "admin", "vsb")
# prepare() adds olga (operator) and arne (approver); these complete the cast.
EXTRA_STAFF = {
    "otto": "operator",
    "anna": "approver",
    "aude": "auditor",
    "ada": "admin",
    "adam": "admin",
    "vera": "vsb",
}
STAFF_BY_ROLE = {
    "operator": "olga",
    "approver": "arne",
    "auditor": "aude",
    "admin": "ada",
    "vsb": "vera",
}


def make_app(engine: Engine, settings: Settings) -> FastAPI:
    return create_app(settings, load_registry(settings.protocols_dir), engine)


def add_staff(kbx: Kbx) -> None:
    for name, role in EXTRA_STAFF.items():
        added = kbx("users", "add", name, "--role", role, input=PASSWORD + "\n")
        assert added.exit_code == 0, added.output


def operation_of(app: FastAPI, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The OpenAPI template and operation that serve this concrete request (a literal segment
    wins over a parameter, as in the router)."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    candidates = []
    for template, operations in paths.items():
        pattern = re.sub(r"\{[^}/]+\}", "[^/]+", template)
        if method.lower() in operations and re.fullmatch(pattern, path):
            candidates.append((template.count("{"), template))
    assert candidates, f"no operation documents {method} {path}"
    template = min(candidates)[1]
    return template, paths[template][method.lower()]


# A datetime in an answer: ISO 8601 to the second, with its offset (``app.api.schemas``).
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T.*")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")


def check_timestamps(value: Any, where: str) -> None:
    """Every datetime anywhere in an answer carries its offset, in the one format."""
    if isinstance(value, str) and DATETIME.fullmatch(value):
        assert TIMESTAMP.fullmatch(value), f"{where}: {value} is not ISO 8601 with an offset"
    elif isinstance(value, dict):
        for item in value.values():
            check_timestamps(item, where)
    elif isinstance(value, list):
        for item in value:
            check_timestamps(item, where)


def check_against_openapi(app: FastAPI, method: str, path: str, response: httpx.Response) -> None:
    """Every answer must be documented: its status on the operation and, for an error, its code
    under that status, in the error shape with a message in both languages. Every datetime in
    it carries its offset."""
    template, operation = operation_of(app, method, path)
    status = str(response.status_code)
    where = f"{method} {template} -> {status}"
    assert status in operation["responses"], f"{where} is not in the OpenAPI document"
    if response.headers.get("content-type", "").startswith("application/json"):
        check_timestamps(response.json(), where)
    if response.status_code < 400:
        return
    body = response.json()
    assert set(body) >= {"code", "message", "message_nl"}, where
    assert body["message"], where
    assert body["message_nl"], where
    documented = operation["responses"][status]
    assert body["code"] in documented["x-error-codes"], f"{where}: {body['code']} not documented"
    assert body["code"] in documented["content"]["application/json"]["examples"], where
    assert body["code"] in operation["x-error-codes"], where


class Api:
    """A TestClient that checks every answer against the OpenAPI document."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.client = TestClient(app)
        self.tokens: dict[str, str] = {}
        self.errors: list[str] = []  # every error body, checked for personal data at the end

    def login(self, name: str, password: str = PASSWORD) -> str:
        if name not in self.tokens:
            response = self.call(
                "POST", "/auth/token", data={"username": name, "password": password}
            )
            assert response.status_code == 200, response.text
            self.tokens[name] = response.json()["access_token"]
        return self.tokens[name]

    def call(
        self, method: str, path: str, *, as_: str | None = None, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if as_ is not None:
            token = self.login(as_)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("/health") else API + path
        response: httpx.Response = self.client.request(method, url, headers=headers, **kw)
        check_against_openapi(self.app, method, url, response)
        if response.status_code >= 400:
            self.errors.append(response.text)
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("POST", path, **kw)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """uvicorn in a thread on a free port; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        limit_concurrency=100,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
