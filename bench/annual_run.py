"""Benchmark: the yearly art20-municipal round for all 285 municipalities, against the
straightforward way of doing the same work.

Seeds a synthetic store (timed apart from the round), registers for every municipality a
contact phone, an SSH public key and its signature of art20-municipal, requests and approves the
batch, then runs the round: every list built, sealed and staged on the drop, its key "sent" to
the SMS outbox, by ``app.flows.batch_runner`` in N worker processes. Then, each in a fresh process:
Antwerpen's list (NIS 11002, the largest) built and sealed alone, for its peak memory; and the
straightforward way on the same store (per municipality ``pandas.read_sql``, ``to_excel`` with
XlsxWriter, ``msoffcrypto`` encryption, one process, no bookkeeping), and the ratio.

Prints figures; asserts nothing but sanity (every run delivered with its key sent, every file
on the drop with the digest its run recorded, one SMS per run).

    .venv/bin/python -m bench.annual_run [--persons 1000000] [--workers N] [--seed 1] [--keep DIR]

With ``--keep DIR`` the seeded store is kept in DIR and restored by a later run with the same
``--persons`` and ``--seed``, so that a repeated measurement skips the seed.

Each phase runs in its own process so that its peak RSS (``ru_maxrss``, of the process and of
its children) is its own.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from app.flows.batch_runner import default_workers, run_many
from app.flows.execution import seal_file as _seal
from app.flows.exports import approve, request_batch
from app.flows.kbi_import import import_extract
from app.registry import load_registry
from app.settings import Environment, Settings
from app.store.audit import record
from app.store.db import make_engine, transaction
from app.store.migrate import upgrade
from app.store.recipients import add_agreement, add_key, get_recipient, set_contact
from app.store.refdata import municipalities
from app.wiring import build_deps, drop_root, sms_outbox_path
from channels.drop_store import DropStore
from crypto import parse_public_key
from crypto.passwords import new_password
from exchange.exports import RunState
from exchange.kbi_extract import COLUMNS
from exchange.models import ExportRun
from exchange.periods import parse_period
from exchange.protocols import RecipientRequirement
from exchange.requests import ListRequest, RequestLine
from exchange.selection import SelectionRequest, build_selection

TODAY = date(2026, 11, 23)
PROTOCOL = "art20-municipal"
PERIOD = "2026"
ANTWERPEN = "11002"
OPERATOR, APPROVER = "bench-operator", "bench-approver"
MB = 1024  # ru_maxrss is in KiB on Linux


def _settings(data_dir: Path) -> Settings:
    # Explicit values: a KBX_DATABASE_URL or KBX_ENV in the caller's environment must not leak in.
    return Settings(
        env=Environment.DEV, data_dir=data_dir, database_url="", today=TODAY, secret_key=None
    )


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / MB


def _batch_runs(engine: Engine, batch_id: str) -> list[ExportRun]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(ExportRun).where(ExportRun.batch_id == batch_id).order_by(ExportRun.id)
            )
        )


# -- phases, each in its own process ----------------------------------------------------------


def phase_seed(data_dir: Path, persons: int, seed: int) -> dict[str, Any]:
    from app.demo.synthetic import (
        generate_rows,  # Faker is slow to import; only this phase needs it
    )

    settings = _settings(data_dir)
    engine = make_engine(settings)
    upgrade(engine)
    towns = municipalities().current
    extract = data_dir / "extract.csv"
    started = time.perf_counter()
    with extract.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[c.name for c in COLUMNS])
        writer.writeheader()
        writer.writerows(generate_rows(persons, seed, towns, TODAY))
    generated = time.perf_counter() - started
    imported = import_extract(engine, extract, TODAY)
    extract.unlink()

    # Every municipality signed art20-municipal and has the route a run needs: a contact phone
    # for the key SMS and an SSH key for the drop, each with its audit event, as the CLI does.
    started = time.perf_counter()
    now = settings.now()
    with transaction(engine) as session:
        for number, town in enumerate(towns, start=1):
            nis = town.nis_code
            subject = f"recipient:{nis}"
            set_contact(
                session,
                nis,
                f"Dienst Burgerzaken {town.name_nl}",
                f"+32470{number:06d}",
                f"burgerzaken-{nis}@example.org",
                now,
            )
            record(
                session,
                actor="bench",
                action="recipient.contact_set",
                subject=subject,
                details={},
                now=now,
            )
            public = (
                Ed25519PrivateKey.generate()
                .public_key()
                .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
                .decode()
            )
            key = parse_public_key(f"{public} {nis}@bench")
            add_key(session, nis, key, now)
            record(
                session,
                actor="bench",
                action="recipient.key_added",
                subject=subject,
                details={"algorithm": key.algorithm, "fingerprint": key.fingerprint},
                now=now,
            )
            add_agreement(
                session,
                recipient_id=nis,
                protocol_id=PROTOCOL,
                kind=RecipientRequirement.SIGNATURE,
                signed_on=date(2025, 1, 15),
                in_force_on=date(2025, 2, 1),
                document_ref=f"ART20-{nis}",
                now=now,
            )
            record(
                session,
                actor="bench",
                action="agreement.signature",
                subject=subject,
                details={"protocol": PROTOCOL, "signed_on": "2025-01-15"},
                now=now,
            )
    registered = time.perf_counter() - started

    started = time.perf_counter()
    deps = build_deps(settings, load_registry(settings.protocols_dir))
    batch = request_batch(
        engine,
        deps,
        protocol_id=PROTOCOL,
        period=PERIOD,
        channel="sftp_drop",
        lookback_years=None,
        by=OPERATOR,
        # Every municipality asked for its list this year (seed 000, overweging C).
        requests=[
            RequestLine(line, town.nis_code, ListRequest(TODAY, f"REQ-{town.nis_code}"))
            for line, town in enumerate(towns, start=2)
        ],
    )
    for run in batch.runs:
        approve(engine, deps, run.id, APPROVER)
    requested = time.perf_counter() - started
    engine.dispose()
    return {
        "generated": generated,
        "imported": imported.seconds,
        "rows": imported.rows,
        "municipalities": len(towns),
        "registered": registered,
        "requested": requested,
        "batch": batch.batch_id,
        "runs": len(batch.runs),
        "refused": len(batch.refused),
    }


def phase_round(data_dir: Path, batch_id: str, workers: int) -> dict[str, Any]:
    settings = _settings(data_dir)
    engine = make_engine(settings)
    ids = [r.id for r in _batch_runs(engine, batch_id) if r.state == RunState.APPROVED]
    started = time.perf_counter()
    outcomes = list(run_many(settings, ids, workers=workers))
    wall = time.perf_counter() - started
    peak_self, peak_children = _peak_mb(resource.RUSAGE_SELF), _peak_mb(resource.RUSAGE_CHILDREN)

    # Sanity: every run went all the way, every file is on the drop as its run recorded it.
    problems = [f"run {o.run_id}: {o.state} {o.error or ''}" for o in outcomes if o.error]
    runs = _batch_runs(engine, batch_id)
    drop = DropStore(drop_root(settings))
    rows = files = drop_bytes = 0
    for run in runs:
        if run.state != RunState.KEY_SENT:
            problems.append(f"run {run.id} ({run.recipient_id}) ended {run.state}")
            continue
        assert run.file_name is not None
        if drop.present(run.recipient_id, run.file_name) != run.file_sha256:
            problems.append(f"run {run.id}: {run.file_name} missing or altered on the drop")
        files += 1
        rows += run.row_count or 0
        drop_bytes += run.file_size or 0
    texts = sms_outbox_path(settings).read_text(encoding="utf-8").splitlines()
    if len(texts) != len(runs):
        problems.append(f"{len(texts)} key SMS for {len(runs)} runs")
    engine.dispose()
    return {
        "wall": wall,
        "runs": len(runs),
        "files": files,
        "rows": rows,
        "drop_mb": drop_bytes / 2**20,
        "peak_self": peak_self,
        "peak_children": peak_children,
        "problems": problems,
    }


def phase_antwerpen(data_dir: Path, batch_id: str) -> dict[str, Any]:
    """Antwerpen's list built and sealed alone, exactly as a run does
    (``app.flows.exports._seal``)."""
    settings = _settings(data_dir)
    engine = make_engine(settings)
    deps = build_deps(settings, load_registry(settings.protocols_dir))
    [run] = [r for r in _batch_runs(engine, batch_id) if r.recipient_id == ANTWERPEN]
    definition = deps.registry.get(PROTOCOL)
    assert definition is not None
    with transaction(engine) as session:
        recipient = get_recipient(session, ANTWERPEN)
    before = _peak_mb(resource.RUSAGE_SELF)
    started = time.perf_counter()
    sealed = _seal(engine, deps, run, definition, recipient, new_password(), settings.now())
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "rows": sealed.rows,
        "seconds": seconds,
        "mb": len(sealed.data) / 2**20,
        "peak_before": before,
        "peak": _peak_mb(resource.RUSAGE_SELF),
    }


def phase_baseline(data_dir: Path) -> dict[str, Any]:
    """The straightforward way: a DataFrame per municipality, ``to_excel``, msoffcrypto."""
    import pandas as pd  # type: ignore[import-untyped]
    from msoffcrypto.format.ooxml import OOXMLFile  # type: ignore[import-untyped]

    settings = _settings(data_dir)
    engine = make_engine(settings)
    definition = load_registry(settings.protocols_dir).get(PROTOCOL)
    assert definition is not None
    period = parse_period(PERIOD)
    assert period is not None
    out_dir = data_dir / "baseline"
    out_dir.mkdir()
    rows = 0
    started = time.perf_counter()
    for town in municipalities().current:
        statement = build_selection(definition, SelectionRequest(town.nis_code, period, TODAY))
        with engine.connect() as connection:
            frame = pd.read_sql(statement, connection)
        info = pd.DataFrame(
            [("Protocol", PROTOCOL), ("Gemeente", town.name_nl), ("Rijen", str(len(frame)))]
        )
        plain = io.BytesIO()
        with pd.ExcelWriter(plain, engine="xlsxwriter") as writer:
            frame.to_excel(writer, sheet_name="Gegevens", index=False)
            info.to_excel(writer, sheet_name="Info", index=False, header=False)
        plain.seek(0)
        sealed = io.BytesIO()
        OOXMLFile(plain).encrypt(new_password(), sealed)
        (out_dir / f"{town.nis_code}.xlsx").write_bytes(sealed.getvalue())
        rows += len(frame)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"seconds": seconds, "rows": rows, "peak": _peak_mb(resource.RUSAGE_SELF)}


# -- the conductor ----------------------------------------------------------------------------


def _phase(name: str, data_dir: Path, *extra: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.annual_run", "--phase", name, "--data-dir"]
    done = subprocess.run([*command, str(data_dir), *extra], check=True, stdout=subprocess.PIPE)
    result: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return result


def _seeded(persons: int, seed: int, data_dir: Path, keep: bool) -> dict[str, Any]:
    """Seed the store, or (with --keep) restore the one seeded earlier for these arguments."""
    marker, snapshot, store = (
        data_dir / "seeded.json",
        data_dir / "seeded.sqlite3",
        data_dir / "kbx.sqlite3",
    )
    if keep and marker.exists() and snapshot.exists():
        s: dict[str, Any] = json.loads(marker.read_text())
        if (s["persons"], s["seed"]) == (persons, seed):
            for path in (data_dir / "kbx.sqlite3-wal", data_dir / "kbx.sqlite3-shm"):
                path.unlink(missing_ok=True)
            shutil.copyfile(snapshot, store)
            for folder in ("drop", "locks", "baseline"):
                shutil.rmtree(data_dir / folder, ignore_errors=True)
            settings = _settings(data_dir)
            sms_outbox_path(settings).unlink(missing_ok=True)
            engine = make_engine(settings)
            upgrade(engine)  # the schema may have moved on since the seed
            engine.dispose()
            print(f"seed: the store seeded earlier in {data_dir} is restored")
            return s
    s = _phase("seed", data_dir, "--persons", str(persons), "--seed", str(seed))
    if keep:
        with sqlite3.connect(store) as source, sqlite3.connect(snapshot) as copy:
            source.backup(copy)  # consistent whatever the WAL still holds
        marker.write_text(json.dumps({**s, "persons": persons, "seed": seed}))
    return s


def _conduct(persons: int, workers: int, seed: int, data_dir: Path, keep: bool) -> None:
    print(f"annual round, {PROTOCOL} {PERIOD}, {persons:,} persons, {workers} worker(s)")
    s = _seeded(persons, seed, data_dir, keep)
    print(
        f"seed (not part of the round): {s['rows']:,} persons generated in "
        f"{s['generated']:.1f} s, imported in {s['imported']:.1f} s; "
        f"{s['municipalities']} municipalities registered (contact, SSH key, signature) in "
        f"{s['registered']:.1f} s; batch {s['batch']}: {s['runs']} runs requested and approved "
        f"in {s['requested']:.1f} s ({s['refused']} refused)"
    )
    r = _phase("round", data_dir, "--batch", s["batch"], "--workers", str(workers))
    print(
        f"round: {r['files']} of {r['runs']} files built, sealed and staged on the drop "
        f"({r['drop_mb']:.1f} MB), {r['rows']:,} rows in {r['wall']:.1f} s "
        f"= {r['rows'] / r['wall']:,.0f} rows/s"
    )
    print(
        f"round peak RSS: {r['peak_self']:.0f} MB coordinator, "
        f"{r['peak_children']:.0f} MB largest worker"
    )
    for problem in r["problems"]:
        print(f"  PROBLEM: {problem}")
    a = _phase("antwerpen", data_dir, "--batch", s["batch"])
    print(
        f"Antwerpen ({ANTWERPEN}) alone, fresh process: {a['rows']:,} rows built and sealed in "
        f"{a['seconds']:.2f} s ({a['mb']:.1f} MB sealed), peak RSS {a['peak']:.0f} MB "
        f"({a['peak_before']:.0f} MB before the build)"
    )
    b = _phase("baseline", data_dir)
    print(
        f"straightforward (pandas.read_sql, to_excel with XlsxWriter, msoffcrypto; 1 process, "
        f"no bookkeeping): {b['rows']:,} rows in {b['seconds']:.1f} s, "
        f"peak RSS {b['peak']:.0f} MB"
    )
    print(
        f"ratio: the round is {b['seconds'] / r['wall']:.1f}x faster than the straightforward "
        f"way (targets: round <= 30 s on 2 cores, >= 2x, Antwerpen < 200 MB)"
    )
    if r["problems"] or r["files"] != s["runs"] or s["runs"] != s["municipalities"]:
        sys.exit("sanity check failed: see PROBLEM lines above")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keep",
        type=Path,
        help="work in this folder and keep it; a later run with the same --persons and --seed "
        "restores the store seeded there instead of seeding again",
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        phases = {
            "seed": lambda: phase_seed(args.data_dir, args.persons, args.seed),
            "round": lambda: phase_round(args.data_dir, args.batch, args.workers),
            "antwerpen": lambda: phase_antwerpen(args.data_dir, args.batch),
            "baseline": lambda: phase_baseline(args.data_dir),
        }
        print(json.dumps(phases[args.phase]()))
        return
    started = datetime.now(UTC)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        _conduct(args.persons, args.workers, args.seed, args.keep.resolve(), keep=True)
    else:
        with tempfile.TemporaryDirectory(prefix="kbx-annual-") as tmp:
            _conduct(args.persons, args.workers, args.seed, Path(tmp), keep=False)
    print(f"benchmark took {(datetime.now(UTC) - started).total_seconds():.0f} s in all")


if __name__ == "__main__":
    main()
