"""The service as a user starts it: settings, protocol registry at start, migrations, health,
and the compose file."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import Engine

from app.cli.serve import listen
from app.settings import PROJECT_ROOT, Settings
from app.store.migrate import alembic_config
from tests.conftest import Kbx

KBX = [sys.executable, "-m", "app"]
PASSWORD = "wachtwoord-van-olga-1"


def test_kbx_today_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="refused when KBX_ENV=production"):
        Settings(env="production", today="2026-01-01")


def test_cli_refuses_to_start_with_a_fake_clock_in_production(
    kbx: Kbx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KBX_ENV", "production")
    result = kbx("protocols", "list")
    assert result.exit_code == 1
    assert "KBX_TODAY" in result.stderr


def test_protocols_list_and_show(kbx: Kbx) -> None:
    listed = json.loads(kbx("protocols", "list", "--json").stdout)
    assert [p["id"] for p in listed] == [
        "art20-municipal",
        "mechelen-amif507",
        "vcmp-ceremony",
        "vdab-pillar3",
        "vsb-care",
    ]
    shown = json.loads(kbx("protocols", "show", "vcmp-ceremony", "--json").stdout)
    assert [c["channel"] for c in shown["channels"]] == ["secure_mail", "zivver"]
    assert shown["channels"][0]["until"] == "2025-11-17"
    assert all(f["article"] for f in shown["fields"])
    text = kbx("protocols", "show", "art20-municipal").stdout
    assert "Art. 3, 2°" in text
    assert "72020" in text


def test_a_malformed_definition_stops_kbx_with_a_clear_message(
    kbx: Kbx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "protocols"
    shutil.copytree(PROJECT_ROOT / "protocols", bad)
    path = bad / "vsb-care.toml"
    path.write_text(path.read_text().replace('name = "national_number"', 'name = "shoe_size"'))
    monkeypatch.setenv("KBX_PROTOCOLS_DIR", str(bad))
    result = kbx("protocols", "list")
    assert result.exit_code == 1
    assert "vsb-care.toml" in result.stderr
    assert "unknown field 'shoe_size'" in result.stderr

    path.write_text("id = [broken")
    assert "not valid UTF-8 TOML" in kbx("protocols", "list").stderr
    path.unlink()
    (bad / "other-name.toml").write_bytes((PROJECT_ROOT / "protocols/vsb-care.toml").read_bytes())
    assert "does not match the file name" in kbx("protocols", "list").stderr


def test_models_and_migrations_agree(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)  # raises when autogenerate would find a difference


def test_migrations_downgrade_and_upgrade_again(engine: Engine, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the shared PostgreSQL database stays at head")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        command.upgrade(config, "head")


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian docker-compose missing")
def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config", "--quiet"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _nodelay_of_a_connection(listener: socket.socket) -> int:
    """TCP_NODELAY of a connection asyncio accepts on ``listener`` (as uvicorn's server does)."""

    async def accept_one() -> int:
        got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            got.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            value = await asyncio.wait_for(got, 30)
            writer.close()
        return value

    return asyncio.run(accept_one())


def test_serve_answers_without_waiting_for_the_clients_ack() -> None:
    """`kbx serve` hands uvicorn its own listening socket: asyncio turns Nagle's algorithm off
    only on connections of a socket that says IPPROTO_TCP. Without it each answer written in
    two parts (head, then body) waited for the client's delayed ACK: 40 ms per request."""
    assert _nodelay_of_a_connection(listen("127.0.0.1", 0, "KBX_HTTP_PORT", "--port")) != 0
    plain = socket.create_server(("127.0.0.1", 0))  # what `kbx serve` used to hand over
    assert _nodelay_of_a_connection(plain) == 0, "the check can tell the two apart"


def test_serve_answers_health_with_the_embedded_defaults(tmp_path: Path) -> None:
    """What `make run` does, on a fresh data directory: migrate, seed, serve, ask /health."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
    env |= {"KBX_DATA_DIR": str(tmp_path / "var"), "KBX_TODAY": "2026-11-23"}
    run = {"cwd": PROJECT_ROOT, "env": env, "capture_output": True, "text": True, "check": True}
    subprocess.run([*KBX, "db", "upgrade"], **run)  # type: ignore[call-overload]
    seeded = subprocess.run([*KBX, "demo", "seed", "--persons", "300", "--if-empty"], **run)  # type: ignore[call-overload]
    assert "imported 300 integrees" in seeded.stdout
    again = subprocess.run([*KBX, "demo", "seed", "--persons", "300", "--if-empty"], **run)  # type: ignore[call-overload]
    assert "skipped" in again.stdout

    port = _free_port()
    server = subprocess.Popen(
        # Not the default SFTP port: another run of the suite on this host may hold it.
        [*KBX, "serve", "--port", str(port), "--sftp-port", str(_free_port())],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = None
        # Up to 60 s: on a loaded machine (CI runs beside other suites) start-up is slow.
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.1)
        assert body == {"status": "ok", "database": "ok", "protocols": 5, "environment": "dev"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        assert server.stdout is not None
        server.stdout.close()


def test_http_workers_are_one_to_sixteen(kbx: Kbx) -> None:
    assert Settings(http_workers=16).http_workers == 16
    for wrong in (0, 17):
        with pytest.raises(ValidationError, match="http_workers"):
            Settings(http_workers=wrong)
    refused = kbx("serve", "--workers", "17")
    assert refused.exit_code == 2
    assert "--workers" in refused.stderr


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports in LISTEN state whose socket ``pid`` holds (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed in between
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_serve_with_two_http_processes_and_one_drop(tmp_path: Path) -> None:
    """`kbx serve --workers 2`: two HTTP processes answer on the one port, the SFTP drop and
    the worker stay in the parent (one drop listens), and SIGTERM ends every process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
    env |= {"KBX_DATA_DIR": str(tmp_path / "var"), "KBX_TODAY": "2026-11-23"}
    run = {"cwd": PROJECT_ROOT, "env": env, "capture_output": True, "text": True, "check": True}
    subprocess.run([*KBX, "db", "upgrade"], **run)  # type: ignore[call-overload]
    olga = [*KBX, "users", "add", "olga", "--role", "operator"]
    subprocess.run(olga, input=f"{PASSWORD}\n", **run)  # type: ignore[call-overload]
    port, sftp_port = _free_port(), _free_port()
    server = subprocess.Popen(
        [*KBX, "serve", "--workers", "2", "--port", str(port), "--sftp-port", str(sftp_port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = None
        for _ in range(600):  # up to 60 s on a loaded machine
            try:
                health = httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert health is not None
        assert health.json()["status"] == "ok"
        form = {"username": "olga", "password": PASSWORD}
        token = httpx.post(f"{base}/api/v1/auth/token", data=form, timeout=10).json()
        read = httpx.get(
            f"{base}/api/v1/protocols",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=10,
        )
        assert read.status_code == 200
        assert len(read.json()) == 5
        # Two HTTP processes (uvicorn may add a helper of multiprocessing: count those that
        # hold the HTTP socket); the drop's port is held by the parent alone.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            children = _children(server.pid)
            http = [c for c in children if port in _listening_ports(c)]
            if len(http) == 2:
                break
            time.sleep(0.2)
        assert len(http) == 2, children
        assert {port, sftp_port} <= _listening_ports(server.pid)
        assert all(sftp_port not in _listening_ports(c) for c in children), "one drop only"
    finally:
        server.terminate()
        server.wait(timeout=30)
        assert server.stdout is not None
        output = server.stdout.read()
        server.stdout.close()
    assert output.count("kbx: SFTP drop on") == 1
    assert "in 2 HTTP processes" in output
    assert server.returncode == 0, output
    deadline = time.monotonic() + 10  # an orphan would be reaped by init, not by the parent
    while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [c for c in children if Path(f"/proc/{c}").exists()], "outlived SIGTERM"
