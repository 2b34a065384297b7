"""Benchmark: seed a synthetic store, import it, and stream the largest municipality's selection.

Prints figures, asserts nothing: rows/s of the import (SQLite, and PostgreSQL when
KBX_BENCH_POSTGRES_URL is set), and the peak memory of selecting Antwerpen (11002) streamed versus
fetched whole, measured in the same run so the ratio means something on a noisy machine.

    .venv/bin/python -m bench.import_and_select [--persons 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text

from app.demo.synthetic import generate_rows
from app.flows.kbi_import import import_extract
from app.registry import load_registry
from app.settings import PROJECT_ROOT, Settings
from app.store.db import make_engine
from app.store.migrate import upgrade
from app.store.refdata import municipalities
from exchange.kbi_extract import COLUMNS
from exchange.periods import parse_period
from exchange.selection import SelectionRequest, build_selection

TODAY = date(2026, 11, 23)
ANTWERPEN = "11002"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _traced(work: Callable[[], int]) -> tuple[int, float, float]:
    """(result, seconds, peak Python heap MB while it ran)."""
    tracemalloc.start()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def _select(engine: Engine, stream: bool) -> int:
    definition = load_registry(PROJECT_ROOT / "protocols").get("art20-municipal")
    assert definition is not None
    period = parse_period(str(TODAY.year))
    assert period is not None
    statement = build_selection(definition, SelectionRequest(ANTWERPEN, period, TODAY))
    with engine.connect() as connection:
        if stream:
            result = connection.execution_options(stream_results=True, yield_per=2000).execute(
                statement
            )
            return sum(1 for _ in result)
        return len(connection.execute(statement).fetchall())


def _whole_store(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(text("SELECT * FROM integrees")).fetchall())


def run(url: str, label: str, extract: Path, persons: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=url, today=TODAY)
        engine = make_engine(settings)
        upgrade(engine)
        result = import_extract(engine, extract, TODAY)
        print(
            f"[{label}] import: {result.rows:,} rows in {result.seconds:.2f} s "
            f"= {result.rows / result.seconds:,.0f} rows/s"
        )
        # art20-municipal: every obliged or entitled resident, the largest list for one town.
        rows, seconds, heap = _traced(lambda: _select(engine, stream=True))
        print(
            f"[{label}] Antwerpen selection, streamed: {rows:,} rows in {seconds:.2f} s, "
            f"peak Python heap {heap:.1f} MB"
        )
        rows_all, seconds_all, heap_all = _traced(lambda: _select(engine, stream=False))
        print(
            f"[{label}] Antwerpen selection, fetched whole: {rows_all:,} rows in "
            f"{seconds_all:.2f} s, peak Python heap {heap_all:.1f} MB "
            f"(streamed uses {heap / heap_all:.0%} of that)"
        )
        total, _, heap_store = _traced(lambda: _whole_store(engine))
        print(
            f"[{label}] for scale, the whole store fetched at once: {total:,} rows, "
            f"peak Python heap {heap_store:.1f} MB"
        )
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        extract = Path(tmp) / "extract.csv"
        started = time.perf_counter()
        with extract.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=[c.name for c in COLUMNS])
            writer.writeheader()
            writer.writerows(
                generate_rows(args.persons, args.seed, municipalities().current, TODAY)
            )
        size = extract.stat().st_size / 2**20
        print(
            f"seed: {args.persons:,} persons written in {time.perf_counter() - started:.2f} s "
            f"({size:.1f} MB CSV)"
        )
        run("", "sqlite", extract, args.persons)
        if pg := os.environ.get("KBX_BENCH_POSTGRES_URL"):
            run(pg, "postgresql", extract, args.persons)
    print(f"process peak RSS: {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
