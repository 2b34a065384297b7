"""After delivery the worker keeps the promises of the protocol: a file that nobody fetched leaves
the drop when its window closes, and the sealed password is destroyed once the resend window has
passed. Both are audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.settings import Settings
from app.wiring import drop_root
from exchange.models import ExportRun
from tests.conftest import Kbx
from tests.export_helpers import LOMMEL, REQUEST, prepare


def lommel_list(kbx: Kbx) -> int:
    requested = kbx(
        "export", "request", "art20-municipal", *REQUEST, "--recipient", LOMMEL, "--period", "2026",
        "--channel", "sftp_drop", "--by", "olga",
    )  # fmt: skip
    assert requested.exit_code == 0, requested.output
    run_id = int(requested.stdout)
    assert kbx("export", "approve", str(run_id), "--by", "arne").exit_code == 0
    assert kbx("export", "run", str(run_id)).exit_code == 0
    return run_id


def test_unfetched_file_expires_and_the_password_is_destroyed(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(kbx, tmp_path)
    run_id = lommel_list(kbx)
    outbox = drop_root(settings) / LOMMEL / "outbox"
    assert len(list(outbox.iterdir())) == 1

    monkeypatch.setenv("KBX_TODAY", "2026-12-06")  # 13 days later: nothing is due yet
    early = kbx("worker", "--once")
    assert early.exit_code == 0
    assert " 0 expired," in early.stdout
    assert " 0 passwords_destroyed" in early.stdout
    assert len(list(outbox.iterdir())) == 1

    monkeypatch.setenv("KBX_TODAY", "2026-12-08")  # 15 days after delivery
    due = kbx("worker", "--once")
    assert due.exit_code == 0
    assert " 1 expired," in due.stdout
    assert " 1 passwords_destroyed" in due.stdout
    assert list(outbox.iterdir()) == []
    with Session(engine) as session:
        run = session.get(ExportRun, run_id)
        assert run is not None
        assert run.state == "purged"
        assert run.password_sealed is None
        assert run.password_destroyed_at is not None
    with engine.connect() as connection:
        actions = list(connection.scalars(text("SELECT action FROM audit_events ORDER BY seq")))
    assert actions[-2:] == ["export.expired", "export.password_destroyed"]
    assert kbx("audit", "verify").exit_code == 0
