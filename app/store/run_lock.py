"""One executor per run: a lock that dies with its process.

Two executors of one run (the worker inside ``kbx serve`` and an operator's ``kbx export run``)
would each build a file with its own password, and one key could go out for the other's file.
A lease column would outlive a SIGKILL and hold the run until it timed out; these locks are
released by the operating system (flock) or the database server (advisory lock) the moment the
holder dies, so the next start resumes at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["exclusive_run"]

# Two-key advisory locks live in their own space, apart from the audit chain's one-key lock.
_RUN_NAMESPACE = 0x6B6278


@contextmanager
def exclusive_run(engine: Engine, lock_dir: Path, run_id: int) -> Iterator[bool]:
    """Yields True when this process now executes the run alone, False when another does."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine, run_id) as held:
            yield held
        return
    with _flock(lock_dir / f"run-{run_id}.lock") as held:
        yield held


@contextmanager
def _advisory(engine: Engine, run_id: int) -> Iterator[bool]:
    # AUTOCOMMIT: the session lock must not keep a transaction open for the whole build.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        held = bool(
            connection.scalar(
                text("SELECT pg_try_advisory_lock(:ns, :run)"),
                {"ns": _RUN_NAMESPACE, "run": run_id},
            )
        )
        try:
            yield held
        finally:
            if held:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:ns, :run)"),
                    {"ns": _RUN_NAMESPACE, "run": run_id},
                )


@contextmanager
def _flock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
