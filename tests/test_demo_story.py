"""`make run`'s story: the printed next step, copied as it stands, fetches a file that opens."""

from __future__ import annotations

import io
import shlex
import socket
import subprocess
from pathlib import Path

import msoffcrypto  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Engine

from app.flows.drop_events import RecordingDropEvents, recipient_keys
from app.settings import Settings
from app.wiring import drop_root, host_key_file
from channels.sftp_drop import DropServer
from tests.conftest import Kbx
from tests.export_helpers import password_from, sms_messages


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_printed_sftp_command_fetches_the_demo_file(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("KBX_SFTP_PORT", str(port))
    assert kbx("demo", "seed", "--persons", "3000").exit_code == 0
    extract = settings.data_dir / "demo" / "kbi-extract-seed1-3000.csv"
    assert extract.stat().st_mode & 0o777 == 0o600, "shaped as personal data: owner only"
    story = kbx("demo", "story")
    assert story.exit_code == 0, story.output
    again = kbx("demo", "story")
    assert again.exit_code == 0, again.output
    assert len(sms_messages(settings)) == 1, "a second make run makes no second list"

    lines = story.stdout.splitlines()
    command = next(line.strip() for line in lines if line.strip().startswith("sftp -i"))
    get = next(line.strip() for line in lines if line.strip().startswith("sftp> get"))
    name = get.rsplit("/", 1)[1]

    drop = DropServer(
        drop_root(settings),
        host_key_file(settings),
        recipient_keys(engine),
        RecordingDropEvents(engine, settings),
        port=port,
    )
    drop.start()
    try:
        fetched = subprocess.run(
            # as typed, only with batch mode so that no prompt waits for a person
            ["sftp", "-o", "BatchMode=yes", "-b", "-", *shlex.split(command)[1:]],
            input=get.removeprefix("sftp> ") + "\n",
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        drop.stop()
    assert fetched.returncode == 0, fetched.stderr

    [sms] = sms_messages(settings)
    office = msoffcrypto.OfficeFile(io.BytesIO((tmp_path / name).read_bytes()))
    office.load_key(password=password_from(sms), verify_password=True)
    office.decrypt(io.BytesIO())
