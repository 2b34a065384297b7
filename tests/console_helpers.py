"""The console's test browser and harness, shared by the console's test modules: a ``Console``
keeps one cookie jar and the CSRF token of the last page; ``open_console`` prepares the store and
staff, serves the real application and, when the test ends, checks every page and log line for
personal data, a password or an unknown login name."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from app.settings import Settings
from tests.api_helpers import TestClient, add_staff, make_app
from tests.conftest import Kbx
from tests.export_helpers import LOMMEL, PASSWORD, personal_data, prepare

__all__ = [
    "NOBODY",
    "Console",
    "Harness",
    "get_forms",
    "open_console",
    "post_forms",
    "propose_contact",
]

# A login name no account has; it must never reach the audit trail or a log line.
NOBODY = "zz.nobody-typed-this"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    """A browser: one cookie jar, the CSRF token of the last page, forms posted as a person
    would post them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""
        self.pages: list[str] = []

    def get(self, path: str) -> httpx.Response:
        response: httpx.Response = self.client.get(path, follow_redirects=True)
        self._saw(response)
        return response

    def post(
        self, path: str, data: dict[str, str] | None = None, csrf: bool = True
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        response: httpx.Response = self.client.post(path, data=form, follow_redirects=True)
        self._saw(response)
        return response

    def _saw(self, response: httpx.Response) -> None:
        if response.headers.get("content-type", "").startswith("text/html"):
            self.pages.append(response.text)
            found = _CSRF.search(response.text)
            if found:
                self.csrf = found.group(1)

    def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/login")
        return self.post("/login", {"username": name, "password": password})


@dataclass
class Harness:
    """The application under test and every browser opened on it (their pages are checked for
    leaks when the test ends)."""

    app: FastAPI
    consoles: list[Console] = field(default_factory=list)

    def browser(self) -> Console:
        console = Console(TestClient(self.app))
        self.consoles.append(console)
        return console


def open_console(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[Harness]:
    """The ``app_for`` fixture's body: store, staff (olga, arne and ``EXTRA_STAFF``), the app."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.WARNING, logger="httpx")
    prepare(kbx, tmp_path)
    add_staff(kbx)
    harness = Harness(make_app(engine, settings))
    yield harness
    # Invariant 6 and the brief: no personal data, password or unknown login name in a page
    # or a log line.
    seen = "\n".join([caplog.text, *(p for c in harness.consoles for p in c.pages)])
    for value in [*personal_data(), PASSWORD]:
        # A name as a word: a short one ("Awa") is found now and then inside a random base64
        # value a page shows (a key's fingerprint, a token), which leaks nobody.
        pattern = rf"(?<![A-Za-z0-9+/]){re.escape(value)}(?![A-Za-z0-9+/])"
        assert re.search(pattern, seen) is None, "personal data or a password leaked"
    assert NOBODY not in caplog.text


def post_forms(html: str) -> list[str]:
    """The targets of a page's POST forms."""
    return re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html)


def get_forms(html: str) -> list[str]:
    """The targets of a page's GET forms (a button that leads to a confirmation page)."""
    return re.findall(r'<form[^>]*method="get"[^>]*action="([^"]+)"', html)


def propose_contact(kbx: Kbx, by: str) -> int:
    """Lommel's new key-SMS contact, proposed by ``by`` in the CLI; the change's number."""
    proposed = kbx(
        "recipients", "contact", "set", LOMMEL, "--name", "Dienst Burgerzaken",
        "--phone", "+32470998877", "--email", "bz@lommel.be", "--by", by,
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    found = re.search(r"change (\d+) proposed", proposed.stdout)
    assert found, proposed.stdout
    return int(found.group(1))
