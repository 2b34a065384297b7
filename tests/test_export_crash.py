"""SIGKILL at each dangerous point of a run, then a restart: the run resumes or fails cleanly,
never two files for one run, never a key for a file that is not there."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import msoffcrypto  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.flows.execution import execute
from app.registry import load_registry
from app.settings import Settings
from app.store.run_lock import exclusive_run
from app.wiring import build_deps, drop_root
from exchange.models import ExportRun
from tests.conftest import Kbx
from tests.export_helpers import LOMMEL, REQUEST, kbx_process, password_from, prepare, sms_messages

# where the process dies -> (state left behind, files on the drop, SMS sent)
CRASH_POINTS = {
    "sealed": ("built", 0, 0),
    "uploaded": ("built", 1, 0),
    "sms": ("delivered", 1, 1),
}


def approved_run(kbx: Kbx) -> int:
    requested = kbx(
        "export", "request", "art20-municipal", *REQUEST, "--recipient", LOMMEL, "--period", "2026",
        "--channel", "sftp_drop", "--by", "olga",
    )  # fmt: skip
    assert requested.exit_code == 0, requested.output
    run_id = int(requested.stdout.strip())
    assert kbx("export", "approve", str(run_id), "--by", "arne").exit_code == 0
    return run_id


def outbox_entries(settings: Settings) -> list[Path]:
    """Everything in Lommel's outbox folder, hidden temporary files included."""
    folder = drop_root(settings) / LOMMEL / "outbox"
    return sorted(folder.iterdir()) if folder.exists() else []


def state_of(engine: Engine, run_id: int) -> ExportRun:
    with Session(engine) as session:
        run = session.get(ExportRun, run_id)
        assert run is not None
        return run


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_then_restart_resumes_with_one_file_and_one_key(
    point: str, kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    prepare(kbx, tmp_path)
    run_id = approved_run(kbx)

    killed = kbx_process("export", "run", str(run_id), crash_at=point)
    assert killed.returncode == -9, killed.stderr
    state, files, messages = CRASH_POINTS[point]
    assert state_of(engine, run_id).state == state
    assert len(outbox_entries(settings)) == files
    assert len(sms_messages(settings)) == messages

    restarted = kbx_process("worker", "--once")
    assert restarted.returncode == 0, restarted.stderr

    run = state_of(engine, run_id)
    assert run.state == "key_sent"
    [file] = outbox_entries(settings)
    assert file.name == run.file_name
    data = file.read_bytes()
    assert hashlib.sha256(data).hexdigest() == run.file_sha256
    [sms] = sms_messages(settings)  # exactly one key, and it opens the file that is there
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password_from(sms), verify_password=True)
    office.decrypt(io.BytesIO())


def test_a_run_carried_elsewhere_is_left_alone(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    prepare(kbx, tmp_path)
    run_id = approved_run(kbx)
    deps = build_deps(settings, load_registry(settings.protocols_dir))
    with exclusive_run(engine, settings.data_dir / "locks", run_id) as held:
        assert held
        assert execute(engine, deps, run_id).value == "approved"
        assert outbox_entries(settings) == []
    assert execute(engine, deps, run_id).value == "key_sent"
    assert len(sms_messages(settings)) == 1
