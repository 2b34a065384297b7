"""A command line that answers at once: importing ``app.cli`` and building the help of every
group and command loads none of the heavy libraries; ``--version``."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

from typer.testing import CliRunner

from app.cli import app
from app.cli.users import RoleName
from app.settings import PROJECT_ROOT
from app.store.users import Role

HEAVY = ("sqlalchemy", "fastapi", "paramiko", "alembic")


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
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_the_help_of_every_group_and_command_loads_no_heavy_library() -> None:
    assert _python(HELP_OF_EVERYTHING) == "[]"


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"kbx {version('kbx')}\n"


def test_the_role_names_of_users_add_are_the_roles() -> None:
    assert get_args(RoleName) == tuple(role.value for role in Role)
