"""Fixtures: a migrated database on SQLite (always) and PostgreSQL (when KBX_TEST_POSTGRES_URL is
set), settings in a temporary data directory, and a CLI runner bound to them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from app.cli import app
from app.settings import Settings
from app.store.db import make_engine
from app.store.migrate import upgrade

# The leak guard's hooks run as this conftest's own (pytest finds them here by name).
from tests.leak_guard import GUARD, pytest_configure, pytest_sessionfinish  # noqa: F401

# The real OpenSSH sshd peer, for every test that pushes to a recipient's own server.
from tests.sshd_peer import sshd, start_sshd  # noqa: F401

TODAY = date(2026, 11, 23)
POSTGRES_URL = os.environ.get("KBX_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_MUTABLE_TABLES = (
    "audit_events",
    "api_tokens",
    "sms_messages",
    "pending_changes",
    "recipient_sftp",
    "recipient_mail",
    "users",
    "export_runs",
    "agreements",
    "recipient_keys",
    "recipient_contacts",
    "integrees",
    "protocol_dates",
    "rate_limit_hits",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    skip = pytest.mark.skip(reason="KBX_TEST_POSTGRES_URL not set (.ci/run sets it)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _postgres_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("pg"), database_url=POSTGRES_URL)
    engine = make_engine(settings)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def settings(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    url = POSTGRES_URL if backend == "postgresql" else ""
    for name, value in {
        "KBX_DATA_DIR": str(tmp_path / "var"),
        "KBX_DATABASE_URL": url,
        "KBX_TODAY": TODAY.isoformat(),
        "KBX_ENV": "dev",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    yield settings
    GUARD.harvest_sms(settings.data_dir / "sms-outbox.jsonl", request.node.nodeid)


@pytest.fixture
def engine(settings: Settings, backend: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    if backend == "postgresql":
        pg: Engine = request.getfixturevalue("_postgres_engine")
        with pg.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(_MUTABLE_TABLES)} RESTART IDENTITY"))
        yield pg
        GUARD.harvest_store(pg, request.node.nodeid)
        return
    engine = make_engine(settings)
    upgrade(engine)
    yield engine
    GUARD.harvest_store(engine, request.node.nodeid)
    engine.dispose()


class Kbx:
    """Runs ``kbx`` in-process against the test settings, as a user would type it."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        result = self.runner.invoke(app, list(args), input=input, catch_exceptions=False)
        GUARD.saw(f"kbx {' '.join(args[:2])}", result.output)
        return result


@pytest.fixture
def kbx(engine: Engine) -> Kbx:
    return Kbx()
