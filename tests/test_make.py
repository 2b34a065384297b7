"""`make run` sets the demo up once and then only serves; `make reset` leaves nothing of the demo,
so that the next `make run` tells the whole story again. Make itself runs here (`make -n` for what
`make run` would do: it prints the commands without running them), never `kbx serve`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.settings import Settings
from tests.conftest import Kbx
from tests.leak_guard import GUARD

ROOT = Path(__file__).resolve().parent.parent
SETUP = ("kbx db upgrade", "kbx demo seed", "kbx demo story")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def make(data_dir: Path, *args: str, **kbx_env: str) -> subprocess.CompletedProcess[str]:
    # not the outer make's flags either (pytest under `make test`)
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_") and k not in outer}
    env |= {"KBX_DATA_DIR": str(data_dir), **kbx_env}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def planned(data_dir: Path) -> str:
    """The commands `make run` would run; the environment counts as installed (-o)."""
    dry = make(data_dir, "-n", "-o", ".venv/.synced", "run")
    assert dry.returncode == 0, dry.stderr
    return dry.stdout


def test_a_second_make_run_only_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first = planned(data_dir)
    assert all(step in first for step in SETUP), first
    assert "kbx serve" in first

    # what the first run leaves: the database and the story it told
    (data_dir / "demo").mkdir(parents=True)
    (data_dir / "kbx.sqlite3").touch()
    (data_dir / "demo" / "story.txt").write_text("Demo klaar\n")
    (data_dir / "demo" / "story.txt.settings").write_text(
        "KBX_SFTP_HOST= KBX_SFTP_PORT= KBX_HTTP_HOST= KBX_HTTP_PORT=\n"
    )
    second = planned(data_dir)
    assert not [step for step in SETUP if step in second], second
    assert f"cat {data_dir}/demo/story.txt" in second
    assert "kbx serve" in second

    # told for another SFTP port, the kept story would send people to the wrong one
    moved = make(data_dir, "-n", "-o", ".venv/.synced", "run", KBX_SFTP_PORT="2299")
    assert all(step in moved.stdout for step in SETUP), moved.stdout

    # without its database the kept story means nothing: the setup runs again
    (data_dir / "kbx.sqlite3").unlink()
    assert all(step in planned(data_dir) for step in SETUP)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reset_leaves_nothing_of_the_demo(settings: Settings) -> None:
    data_dir = settings.data_dir
    kbx = Kbx()
    for args in (("db", "upgrade"), ("demo", "seed", "--persons", "300", "--seed", "1")):
        assert kbx(*args).exit_code == 0
    story = kbx("demo", "story")
    assert story.exit_code == 0, story.output
    (data_dir / "demo" / "story.txt").write_text(story.stdout)  # as make run keeps it
    GUARD.harvest_sms(settings.data_dir / "sms-outbox.jsonl", "test_make")
    assert (data_dir / "drop").is_dir()
    assert (data_dir / "service.key").is_file()

    reset = make(data_dir, "reset")
    assert reset.returncode == 0, reset.stderr
    left = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))
    assert not data_dir.exists(), f"make reset left {left}: add them to DEMO_STATE"
    assert "tells the whole story again" in reset.stdout
    assert all(step in planned(data_dir) for step in SETUP)


def test_reset_keeps_what_is_not_the_demo(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    (data_dir / "demo").mkdir(parents=True)
    (data_dir / "kbx.sqlite3").touch()
    (data_dir / "notes.txt").write_text("mine\n")
    assert make(data_dir, "reset").returncode == 0
    assert sorted(p.name for p in data_dir.iterdir()) == ["notes.txt"]


def test_reset_refuses_another_database(tmp_path: Path) -> None:
    (tmp_path / "kbx.sqlite3").touch()
    url = "postgresql+psycopg://kbx@db:5432/kbx"
    refused = make(tmp_path, "reset", KBX_DATABASE_URL=url)
    assert refused.returncode != 0
    assert "KBX_DATABASE_URL" in refused.stderr
    assert (tmp_path / "kbx.sqlite3").exists()
