"""The database edge: engines and the one place that owns a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings

__all__ = ["READ_ONLY", "aware", "make_engine", "transaction"]

# Execution option of a connection that only reads (begins DEFERRED on SQLite).
READ_ONLY = "kbx_read_only"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN is deferred: two writers that both read first would fail on
    # the upgrade to a write lock. We issue BEGIN IMMEDIATE ourselves (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A read that writes nothing (building a file) takes no write lock, so that parallel
    # builds do not queue behind each other; in WAL mode it still reads one snapshot.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def aware(moment: datetime | None) -> datetime | None:
    """A timestamp as stored: SQLite gives it back without its zone; kbx stores UTC everywhere."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def make_engine(settings: Settings, url: str | None = None) -> Engine:
    url = url or settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # hide_parameters: an error message must never carry a value (a national number, a name).
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back on any exception.
    Nothing else in kbx calls ``commit()``."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
