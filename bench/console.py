"""Benchmark: the staff console's pages and the API's reads under a fixed request rate.

Builds a store of 5,000 export runs and 100,000 audit events in a temporary data directory
(SQLite), starts ``kbx serve`` on free ports, logs in (a bearer token for the API, a session
cookie for the console) and drives each target for ``--seconds`` at each rate of ``--rates`` with
``hey`` (Debian's package), one target at a time, at even intervals (``_hey``: one hey process
per 10 requests a second). Prints the rate
answered and p50 and p99 latency per target and rate, and PASS or MISS against the targets of
issue 10: p99 < 50 ms at 200 requests per second for the API reads, < 150 ms for the pages (a
MISS too when fewer than 95% of the requests a second were answered, or any was not 2xx). The
load clients share the machine's cores with the server: the figures include that, and so each
rate is first sent to ``/health`` (the peer: the same server and clients, no database, no page)
and every p99 is also given as a multiple of the peer's. Asserts nothing.

``--workers N`` is passed to ``kbx serve --workers N`` (HTTP processes; default 2).

    .venv/bin/python -m bench.console [--rates 50,100,200] [--seconds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

KBX = str(Path(sys.executable).parent / "kbx")
RUNS, EVENTS = 5_000, 100_000
PASSWORD = "bench-password-of-staff"  # noqa: S105 (a throw-away store's accounts)
TARGET_API_MS, TARGET_PAGE_MS = 50.0, 150.0


@dataclass(frozen=True)
class Target:
    label: str
    path: str
    api: bool


TARGETS = (
    Target("API GET /api/v1/exports", "/api/v1/exports", api=True),
    Target("API GET /api/v1/recipients/72020", "/api/v1/recipients/72020", api=True),
    Target("page / (Overzicht)", "/", api=False),
    Target("page /exports", "/exports", api=False),
    Target("page /audit", "/audit", api=False),
)


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


def _store(env: dict[str, str]) -> None:
    """5,000 runs (through ``runs.claim``, each with its audit event) and the rest of the
    100,000 audit events appended to the chain in bulk, hashed by ``exchange.audit``."""
    from sqlalchemy import insert, select

    from app.flows.staff import add
    from app.settings import Settings
    from app.store import runs
    from app.store.db import make_engine, transaction
    from app.store.migrate import upgrade
    from app.store.users import Role
    from exchange.audit import GENESIS, canonical, chain_hash
    from exchange.exports import RunState
    from exchange.models import AuditEvent, ExportRun, Recipient

    started = time.perf_counter()
    settings = Settings(data_dir=Path(env["KBX_DATA_DIR"]))
    engine = make_engine(settings)
    upgrade(engine)
    now = datetime.now(UTC)
    for name, role in (("bench.operator", Role.OPERATOR), ("bench.auditor", Role.AUDITOR)):
        add(engine, name, role, PASSWORD, "bench", now)
    with transaction(engine) as session:
        towns = list(session.scalars(select(Recipient.id).where(Recipient.kind == "municipality")))
        slots = [(str(year), town) for year in range(2026, 2000, -1) for town in towns]
        for n, (period, town) in enumerate(slots[:RUNS]):
            run = ExportRun(
                protocol_id="art20-municipal",
                recipient_id=town,
                period=period,
                channel="sftp_drop",
                definition_hash="sha256:bench",
                requested_by="bench.operator",
                requested_at=now - timedelta(minutes=n),
            )
            state = RunState.REFUSED if n % 7 == 0 else RunState.REQUESTED
            runs.claim(
                session, run, state, actor="bench.operator", action="export.requested",
                now=now, today=now.date(),
            )  # fmt: skip
    with transaction(engine) as session:
        head = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
        seq, prev = head.seq, head.hash or GENESIS
        at = now.isoformat(timespec="seconds")
        rows: list[dict[str, object]] = []
        while seq < EVENTS:
            seq += 1
            details = {"bench": seq}
            digest = chain_hash(
                prev, canonical(seq, at, "bench.auditor", "audit.read", "audit", details)
            )
            rows.append(
                {
                    "seq": seq, "at": at, "actor": "bench.auditor", "action": "audit.read",
                    "subject": "audit", "details": json.dumps(details, separators=(",", ":")),
                    "prev_hash": prev, "hash": digest,
                }
            )  # fmt: skip
            prev = digest
            if len(rows) == 5000 or seq == EVENTS:
                session.execute(insert(AuditEvent), rows)
                rows = []
    engine.dispose()
    print(
        f"store: {RUNS:,} runs and {EVENTS:,} audit events in {env['KBX_DATA_DIR']}, "
        f"made in {time.perf_counter() - started:.1f} s"
    )


def _serve(env: dict[str, str], workers: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [KBX, "serve", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{env['KBX_HTTP_PORT']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.terminate()
    raise SystemExit("kbx serve did not answer /health within 60 s")


def _credentials(base: str) -> tuple[str, str]:
    """A bearer token (operator) and a console session cookie (auditor)."""
    token = httpx.post(
        f"{base}/api/v1/auth/token",
        data={"username": "bench.operator", "password": PASSWORD},
    ).json()["access_token"]
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        form = client.get("/login").text
        match = re.search(r'name="csrf_token" value="([^"]+)"', form)
        if match is None:
            raise SystemExit("the login page has no CSRF token")
        done = client.post(
            "/login",
            data={"csrf_token": match.group(1), "username": "bench.auditor", "password": PASSWORD},
        )
        if done.status_code != 303:
            raise SystemExit(f"console login failed: {done.status_code}")
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return token, cookie


# One hey client sends this many requests per second; a rate takes rate / PER_CLIENT clients.
PER_CLIENT = 10


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    answered_per_second: float  # below the rate asked: the server fell behind (or failed)
    failed: int  # non-2xx answers


def _hey(url: str, header: str, rate: int, seconds: int) -> Latency:
    """``rate`` requests per second at even intervals: ``rate / PER_CLIENT`` hey processes of one
    connection each (``-c 1 -q PER_CLIENT``), started ``1 / rate`` s apart. One hey process with
    ``-c N -q Q`` fires its N workers on the same tick (bursts of N every 1/Q s), which measures
    how long a burst takes to drain, not a fixed rate. Each client waits for its answer before
    the next request, so a server slower than ``1 / PER_CLIENT`` s lowers the rate answered
    (printed) instead of queueing without end. Latencies from hey's CSV output
    (``-o csv``: one line per answer)."""
    clients = max(1, rate // PER_CLIENT)
    command = ["hey", "-z", f"{seconds}s", "-c", "1", "-q", f"{rate / clients:g}", "-o", "csv"]
    started = time.monotonic()
    running = []
    for n in range(clients):
        time.sleep(max(0.0, started + n / rate - time.monotonic()))
        client = subprocess.Popen([*command, "-H", header, url], stdout=subprocess.PIPE, text=True)
        running.append(client)
    seconds_taken: list[float] = []
    failed = 0
    for each in running:
        out, _ = each.communicate()
        for line in out.splitlines()[1:]:  # response-time,...,status-code,offset
            cells = line.split(",")
            seconds_taken.append(float(cells[0]))
            failed += not cells[6].startswith("2")
    if not seconds_taken:  # no answer came back in time
        return Latency(math.nan, math.nan, 0.0, failed)
    seconds_taken.sort()
    n = len(seconds_taken)
    return Latency(
        seconds_taken[n // 2] * 1000,
        seconds_taken[min(n - 1, math.ceil(n * 0.99) - 1)] * 1000,
        n / seconds,
        failed,
    )


def _row(label: str, rate: int, got: Latency, peer: Latency, verdict: str) -> None:
    print(
        f"{label:<36}{rate:>8}{got.answered_per_second:>10.0f}{got.p50_ms:>8.1f}ms"
        f"{got.p99_ms:>8.1f}ms{got.p99_ms / peer.p99_ms:>8.1f}x{got.failed:>9}  {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="50,100,200")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="HTTP processes of kbx serve")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("bench.console needs hey: apt-get install hey (Debian)")
    rates = [int(r) for r in args.rates.split(",")]

    with tempfile.TemporaryDirectory(prefix="kbx-console-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
        env |= {
            "KBX_DATA_DIR": tmp,
            "KBX_HTTP_PORT": str(_free_port()),
            "KBX_SFTP_PORT": str(_free_port()),
            "KBX_WORKER_INTERVAL_SECONDS": "3600",  # the worker sleeps: only the reads count
        }
        _store(env)
        server = _serve(env, args.workers)
        try:
            base = f"http://127.0.0.1:{env['KBX_HTTP_PORT']}"
            token, cookie = _credentials(base)
            load = os.getloadavg()
            print(
                f"kbx serve --workers {args.workers}; "
                f"{args.seconds} s per rate, one target at a time; load average "
                f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}; at "
                f"{datetime.now(UTC) + timedelta(hours=1):%Y-%m-%d %H:%M} Brussels"
            )
            print(
                f"{'target':<36}{'rate/s':>8}{'answered':>10}{'p50':>10}{'p99':>10}"
                f"{'vs peer':>9}{'non-2xx':>9}  target"
            )
            # The peer: /health (no database, no page) through the same server and clients at
            # the same rates, in the same run; "vs peer" is a target's p99 over the peer's.
            peer = {
                rate: _hey(f"{base}/health", "Accept: */*", rate, args.seconds) for rate in rates
            }
            for rate in rates:
                _row("peer GET /health", rate, peer[rate], peer[rate], "")
            for target in TARGETS:
                header = f"Authorization: Bearer {token}" if target.api else f"Cookie: {cookie}"
                limit = TARGET_API_MS if target.api else TARGET_PAGE_MS
                name, value = header.split(": ", 1)
                first = httpx.get(base + target.path, headers={name: value})
                if first.status_code != 200:
                    print(f"{target.label:<36}  answers {first.status_code}: not measured")
                    continue
                for rate in rates:
                    got = _hey(base + target.path, header, rate, args.seconds)
                    verdict = ""
                    if rate == 200:
                        kept = got.answered_per_second >= rate * 0.95
                        verdict = f"p99 < {limit:.0f} ms " + (
                            "PASS" if got.p99_ms < limit and kept and not got.failed else "MISS"
                        )
                    _row(target.label, rate, got, peer[rate], verdict)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:  # still answering a backlog of requests
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
