"""Carry many approved runs through at once: a pool of worker processes, one run at a time each.

A yearly round (285 municipalities) is CPU-bound: every workbook's key derivation alone is
100,000 SHA-512 rounds in a pure-Python loop (about 0.1 s), and building the sheet is Python too,
so threads would share one core. Each worker is a fresh process (``spawn``: no database
connection or lock crosses a fork) with its own engine, registry and adapters built from the
caller's settings, and calls ``app.flows.exports.execute`` for one run id at a time;
``execute`` takes the run's exclusive lock, so this runner and the worker inside ``kbx serve``
never carry the same run twice.

On SQLite the workers' transactions take turns on the database's write lock (``BEGIN
IMMEDIATE`` with a 10 s busy timeout, see app/store/db.py). The longest of them is the read that
builds a file (about 0.6 s for Antwerpen in a store of 1,000,000 integrees); sealing happens
after it, so one worker seals while the other builds. On PostgreSQL the workers do not wait for
each other at all.

Failures stay per run: an exception in one run is reported for that run (its message only for
kbx's own errors, which never carry personal data; otherwise the exception's type, with the
details in the worker's log) and the others go on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from app.errors import KbxError
from app.flows.deps import ExportDeps
from app.flows.execution import execute
from app.registry import load_registry
from app.settings import Settings
from app.store.db import make_engine
from app.wiring import build_deps
from crypto.sealing import SealingError
from exchange.exports import RunState
from exchange.ports import ChannelError

__all__ = ["Outcome", "default_workers", "run_many"]

log = logging.getLogger("kbx.batch")


@dataclass(frozen=True, slots=True)
class Outcome:
    run_id: int
    state: RunState | None  # None when the run raised; then ``error`` says what
    error: str | None = None


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _carry(engine: Engine, deps: ExportDeps, run_id: int) -> Outcome:
    try:
        return Outcome(run_id, execute(engine, deps, run_id))
    except (KbxError, ChannelError, SealingError) as exc:
        log.warning("run %s could not be completed: %s", run_id, exc)
        return Outcome(run_id, None, str(exc)[:200])
    except Exception as exc:  # one bad run must not stop the others; logged by id only
        log.exception("run %s could not be completed", run_id)
        return Outcome(run_id, None, f"internal error ({type(exc).__name__})")


# -- in the worker processes ------------------------------------------------------------------

_worker: tuple[Engine, ExportDeps] | None = None


def _start_worker(settings: Settings) -> None:
    global _worker
    engine = make_engine(settings)
    _worker = (engine, build_deps(settings, load_registry(settings.protocols_dir)))


def _work(run_id: int) -> Outcome:
    assert _worker is not None, "worker not started"
    return _carry(*_worker, run_id)


# -- in the caller ----------------------------------------------------------------------------


def run_many(
    settings: Settings,
    run_ids: Sequence[int],
    *,
    workers: int | None = None,
    engine: Engine | None = None,
    deps: ExportDeps | None = None,
) -> Iterator[Outcome]:
    """Execute ``run_ids`` in ``workers`` processes (default: one per core); yields each
    outcome as it comes, in completion order.

    With one worker (or one run) the runs are carried in this process, in order, with
    ``engine`` and ``deps`` when given. Raises what ``build_deps`` raises before any run starts
    (a missing service key in production, for instance), never halfway."""
    ids = list(run_ids)
    count = max(1, min(workers or default_workers(), len(ids)))
    if deps is None:
        # Also creates the development service key, once, before the workers race to.
        deps = build_deps(settings, load_registry(settings.protocols_dir))
    if count == 1:
        local = engine or make_engine(settings)
        try:
            for run_id in ids:
                yield _carry(local, deps, run_id)
        finally:
            if engine is None:
                local.dispose()
        return
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(count, initializer=_start_worker, initargs=(settings,))
    try:
        yield from pool.imap_unordered(_work, ids, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()  # an interrupted run resumes at the next start (app.flows.exports.execute)
        raise
    finally:
        pool.join()
