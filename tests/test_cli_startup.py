"""A command line that answers at once: importing ``app.cli`` and building the help of every
group and command loads none of the heavy libraries; ``--version``; a busy port is one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.cli.users import RoleName
from app.settings import PROJECT_ROOT
from app.store.users import Role

HEAVY = ("sqlalchemy", "fastapi", "paramiko", "alembic")
KBX = [sys.executable, "-m", "app"]


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_cli_loads_no_heavy_library() -> None:
    loaded = _python(
        f"import app.cli, sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    assert loaded == "[]"


HELP_OF_EVERYTHING = f"""
import sys
import typer
from typer.testing import CliRunner
from app.cli import app

def paths(command, path):
    yield path
    for name, sub in getattr(command, "commands", {{}}).items():
        yield from paths(sub, [*path, name])

runner = CliRunner()
for path in paths(typer.main.get_command(app), []):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (path, result.output)
    assert "Usage:" in result.output, (path, result.output)
print(sorted(m for m in {(*HEAVY, "rich")!r} if m in sys.modules))
"""


def test_the_help_of_every_group_and_command_loads_no_heavy_library() -> None:
    # Nor rich: typer renders help with it unless rich_markup_mode is None (0.5 s of CPU).
    assert _python(HELP_OF_EVERYTHING) == "[]"


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"kbx {version('kbx')}\n"


def test_the_role_names_of_users_add_are_the_roles() -> None:
    assert get_args(RoleName) == tuple(role.value for role in Role)


# -- a busy port ----------------------------------------------------------------------------


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.create_server(("127.0.0.1", 0)) as held:
        port: int = held.getsockname()[1]
        yield port


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


def _kbx(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
    env["KBX_DATA_DIR"] = str(tmp_path / "var")
    return subprocess.run(
        [*KBX, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "serving on" not in done.stdout, "nothing starts when a port is taken"
    return lines[0]


def test_serve_on_a_busy_http_port_says_so_in_one_line(tmp_path: Path, held_port: int) -> None:
    line = _one_line(
        _kbx(tmp_path, "serve", "--port", str(held_port), "--sftp-port", str(_free_port()))
    )
    assert line == (
        f"kbx: poort {held_port} op 127.0.0.1 is in gebruik; stel KBX_HTTP_PORT of --port in"
    )


def test_serve_on_a_busy_sftp_port_says_so_in_one_line(tmp_path: Path, held_port: int) -> None:
    done = _kbx(tmp_path, "serve", "--port", str(_free_port()), "--sftp-port", str(held_port))
    line = _one_line(done)
    assert line == (
        f"kbx: poort {held_port} op 127.0.0.1 is in gebruik; stel KBX_SFTP_PORT of --sftp-port in"
    )


def test_sftp_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path, held_port: int) -> None:
    line = _one_line(_kbx(tmp_path, "sftp", "serve", "--port", str(held_port)))
    assert line == (
        f"kbx: poort {held_port} op 127.0.0.1 is in gebruik; stel KBX_SFTP_PORT of --port in"
    )


def test_a_port_out_of_range_is_one_line(tmp_path: Path) -> None:
    line = _one_line(_kbx(tmp_path, "serve", "--port", "99999"))
    assert line == "kbx: poort 99999 is geen TCP-poort (0-65535); stel KBX_HTTP_PORT of --port in"


# -- a database kbx cannot use: one line, exit 1, nothing left behind --------------------------


def test_a_data_directory_without_a_database_is_one_line_and_stays_empty(tmp_path: Path) -> None:
    line = _one_line(_kbx(tmp_path, "export", "list"))
    assert line == (
        "kbx: de databank heeft het schema van deze kbx niet: voer `kbx db upgrade` "
        "(of `make run`) uit [database.not_migrated]"
    )
    assert not (tmp_path / "var" / "kbx.sqlite3").exists()


def _kbx_on(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
    env |= {"KBX_DATA_DIR": str(tmp_path / "var"), "KBX_DATABASE_URL": url}
    return subprocess.run(
        [*KBX, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_database_url_kbx_cannot_use_is_one_line(tmp_path: Path) -> None:
    line = _one_line(_kbx_on(tmp_path, "mysql+nodriver://u:secret@h/db", "export", "list"))
    assert line.startswith("kbx: KBX_DATABASE_URL is geen databank-URL die kbx kan gebruiken ")
    assert line.endswith("[database.url_invalid]")
    assert "secret" not in line


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{_free_port()}/kbx"
    line = _one_line(_kbx_on(tmp_path, url, "export", "list"))
    assert line == (
        "kbx: kan geen verbinding maken met de databank (KBX_DATABASE_URL, KBX_DATA_DIR) "
        "[database.unreachable]"
    )


# -- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["export", "list", "--bogus"],
            "kbx: No such option: --bogus (zie `kbx export list --help`) [usage]",
        ),
        (
            ["users", "add"],
            "kbx: Missing argument 'name'. (zie `kbx users add --help`) [usage]",
        ),
        (["export", "bogus"], "kbx: No such command 'bogus'. (zie `kbx export --help`) [usage]"),
    ],
)
def test_a_usage_error_is_one_line_with_exit_2(tmp_path: Path, args: list[str], line: str) -> None:
    done = _kbx(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [line]
    assert done.stdout == ""


def test_a_bad_setting_is_named_without_its_value(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
    env |= {"KBX_DATA_DIR": str(tmp_path / "var"), "KBX_HTTP_PORT": "eighty-eighty"}
    done = subprocess.run(
        [*KBX, "export", "list"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert _one_line(done) == (
        "kbx: instellingen geweigerd: KBX_HTTP_PORT: Input should be a valid integer, unable to "
        "parse string as an integer [settings.invalid]"
    )
