"""Reads that many requests make alike, shared for one second.

The console's overview reads the same lists (runs waiting, runs on their way, refusals, alerts)
for every person who opens it, and a browser tab or a wall screen opens it again and again.
``shared`` hands every caller within the same second the result the first one read, so that the
database work of the overview does not grow with the number of readers.

A result is never older than this process's last commit: any commit through any SQLAlchemy
engine of the process (a run approved here, a test's set-up) starts a new generation once it is
done (its connection back in the pool), and results of an older generation are not handed
out. Another process's commit (``kbx serve --workers N``) shows at the latest a second later.
Cached with ``cachetools`` (LRU with a time to live); the lock only guards the cache, never the
read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

from cachetools import TTLCache
from sqlalchemy import Connection, Engine, event
from sqlalchemy.pool import ConnectionPoolEntry, Pool

__all__ = ["MAX_AGE_SECONDS", "shared"]

T = TypeVar("T")

# How long a shared result may be handed out (seconds): also the latest another process's
# commit shows on the overview.
MAX_AGE_SECONDS = 1.0

_cache: TTLCache[Hashable, Any] = TTLCache(maxsize=64, ttl=MAX_AGE_SECONDS)
_lock = threading.Lock()
_generation = 0


# Set on a pooled connection by a commit, read when the connection goes back to the pool.
_COMMITTED = "kbx_snapshots_committed"


@event.listens_for(Engine, "commit")
def _committing(connection: Connection) -> None:
    # SQLAlchemy calls this *before* the database commits: a read in between would still see
    # the old rows, so the generation moves on only once the connection is back in the pool.
    connection.info[_COMMITTED] = True


@event.listens_for(Pool, "checkin")
def _returned(_dbapi_connection: object, record: ConnectionPoolEntry | None) -> None:
    # Every engine of the process (class-level listeners): after a commit, read again.
    global _generation  # one counter per process, by design
    if record is not None and record.info.pop(_COMMITTED, False):
        _generation += 1


def shared(engine: Engine, name: str, now: datetime, read: Callable[[], T]) -> T:
    """``read()``'s result, shared by the calls with the same ``engine``, ``name`` (what is read
    and with which arguments) and second of ``now`` (aware; a clock a test moves makes a new
    key) since this process's last commit, for at most ``MAX_AGE_SECONDS``. ``read`` must only
    read and return something no caller changes. Raises what ``read`` raises (nothing is kept
    then)."""
    key = (_generation, engine, name, now.replace(microsecond=0))
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    result = read()
    with _lock:
        _cache[key] = result
    return result
