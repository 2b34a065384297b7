"""The overview's shared reads (``app.store.snapshots``): one read per second for every reader,
never older than the process's last commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, text

from app.store.db import transaction
from app.store.snapshots import shared


def test_a_shared_read_is_read_again_after_a_commit_or_in_the_next_second(engine: Engine) -> None:
    reads: list[int] = []

    def read() -> tuple[int, ...]:
        reads.append(1)
        return (len(reads),)

    now = datetime(2026, 11, 30, 9, 15, 0, 100_000, tzinfo=UTC)
    first = shared(engine, "test.count", now, read)
    # The same second, nothing committed: the first read is handed out again.
    assert shared(engine, "test.count", now.replace(microsecond=900_000), read) is first
    assert shared(engine, "test.other", now, read) == (2,)  # another name is its own read

    with transaction(engine) as session:  # any commit of this process, through any engine
        session.execute(text("SELECT 1"))
    assert shared(engine, "test.count", now, read) == (3,)
    assert shared(engine, "test.count", now + timedelta(seconds=1), read) == (4,)
    assert len(reads) == 4


def test_a_failed_read_is_not_kept(engine: Engine) -> None:
    now = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)

    def broken() -> int:
        raise LookupError("the database is away")

    with pytest.raises(LookupError):
        shared(engine, "test.broken", now, broken)
    assert shared(engine, "test.broken", now, lambda: 7) == 7


def test_a_read_made_while_a_commit_is_under_way_is_not_handed_out_after_it(
    engine: Engine,
) -> None:
    """SQLAlchemy's ``commit`` event comes before the database commits: a read in that gap
    sees the old rows and must not outlive the commit (the review's race: an approver saw the
    run they had just rejected still waiting)."""
    now = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    reads: list[str] = []

    def old_rows() -> tuple[str]:
        reads.append("old")
        return ("old",)

    def read_in_the_gap(_connection: object) -> None:
        shared(engine, "test.gap", now, old_rows)

    event.listen(engine, "commit", read_in_the_gap)
    try:
        with transaction(engine) as session:
            session.execute(text("SELECT 1"))
    finally:
        event.remove(engine, "commit", read_in_the_gap)
    assert reads == ["old"]
    assert shared(engine, "test.gap", now, lambda: ("new",)) == ("new",)
