"""Rate limits kept in the database, so that they hold across the HTTP processes of
``kbx serve --workers N`` and across restarts.

A sliding window: at most ``limit`` counted hits per ``kind`` and key in any
``window_seconds``. A row per counted hit (``exchange.models.RateLimitHit``); the key is stored
only as its SHA-256 (hex), never as the typed text (an account name, a source address).

Concurrency: on SQLite every writing transaction begins IMMEDIATE (``app.store.db``), so two
processes never count at once. On PostgreSQL the count and the insert happen under a
transaction-level advisory lock of the key, so two processes cannot both see the last free place
of one key. Old rows are swept with ``SKIP LOCKED``: no statement here waits for another's row
lock, so two keys' transactions cannot deadlock.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from app.store.db import aware
from exchange.models import RateLimitHit

__all__ = ["hit", "wait"]

# The advisory locks' space of rate limits, apart from the runs' (run_lock) and the audit's.
_NAMESPACE = 0x6B6272


def _digest(kind: str, key: str) -> bytes:
    return hashlib.sha256(f"{kind}\n{key}".encode()).digest()


def _seconds_to_wait(
    session: Session, kind: str, key_hash: str, limit: int, window_seconds: float, now: datetime
) -> int | None:
    cutoff = now - timedelta(seconds=window_seconds)
    in_window = (
        RateLimitHit.kind == kind,
        RateLimitHit.key_hash == key_hash,
        RateLimitHit.at > cutoff,
    )
    count, oldest = session.execute(
        select(func.count(), func.min(RateLimitHit.at)).where(*in_window)
    ).one()
    if count < limit:
        return None
    first = aware(oldest) or now  # a limit of 0: nothing counted, the whole window to wait
    return max(1, math.ceil((first - now).total_seconds() + window_seconds))


def _begin(session: Session, kind: str, key: str, window_seconds: float, now: datetime) -> str:
    """Serialise this key's counting (PostgreSQL), sweep the kind's hits that left the window;
    the key's hash."""
    digest = _digest(kind, key)
    if session.get_bind().dialect.name == "postgresql":
        lock = int.from_bytes(digest[:4], "big", signed=True)
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _NAMESPACE, "key": lock}
        )
    cutoff = now - timedelta(seconds=window_seconds)
    old = (
        select(RateLimitHit.id)
        .where(RateLimitHit.kind == kind, RateLimitHit.at <= cutoff)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(RateLimitHit).where(RateLimitHit.id.in_(old)))
    return digest.hex()


def hit(
    session: Session, kind: str, key: str, limit: int, window_seconds: float, now: datetime
) -> int | None:
    """Count a hit of ``key`` under the limit ``kind`` and return None, or refuse it (nothing
    counted) and return the whole seconds (>= 1) until the oldest hit of the window leaves it.

    ``now`` is an aware UTC datetime; ``session`` a writing one (``app.store.db.transaction``):
    the count and the new row are one transaction. The same semantics as the in-memory
    sliding window it replaced: a hit at exactly ``now - window_seconds`` has left the window;
    a limit of 0 refuses everything with the whole window to wait."""
    key_hash = _begin(session, kind, key, window_seconds, now)
    seconds = _seconds_to_wait(session, kind, key_hash, limit, window_seconds, now)
    if seconds is None:
        session.add(RateLimitHit(kind=kind, key_hash=key_hash, at=now))
        session.flush()
    return seconds


def wait(
    session: Session, kind: str, key: str, limit: int, window_seconds: float, now: datetime
) -> int | None:
    """Whether ``key`` has used up its ``limit`` under ``kind``: the whole seconds to wait, or
    None. Counts nothing (the console counts only failed logins, with ``hit``); sweeps old
    hits, so ``session`` is a writing one."""
    key_hash = _begin(session, kind, key, window_seconds, now)
    return _seconds_to_wait(session, kind, key_hash, limit, window_seconds, now)
