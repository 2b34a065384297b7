"""The database edge: engines and the one place that owns a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import Unavailable
from app.settings import Settings

__all__ = [
    "READ_ONLY",
    "aware",
    "database_problem",
    "make_engine",
    "not_migrated",
    "reading",
    "transaction",
]

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


_MISSING_ON_POSTGRESQL = ("UndefinedTable", "UndefinedColumn")


def not_migrated() -> Unavailable:
    """The error of a database without kbx's schema (exit 1, HTTP 503)."""
    return Unavailable(
        "database.not_migrated",
        "the database does not have this kbx's schema: run `kbx db upgrade` (or `make run`)",
        "de databank heeft het schema van deze kbx niet: voer `kbx db upgrade` (of `make run`) uit",
    )


def database_problem(exc: BaseException) -> Unavailable | None:
    """What a person can do about a SQLAlchemy error met before any of kbx's own work: a URL kbx
    cannot use (``database.url_invalid``), a server it cannot reach (``database.unreachable``),
    a database without the schema (``database.not_migrated``); ``None`` for anything else, which
    stays a fault. The messages name the setting, never the URL (it may hold a password) nor the
    driver's text (it may hold a value)."""
    if isinstance(exc, NoSuchModuleError | ArgumentError):
        return Unavailable(
            "database.url_invalid",
            "KBX_DATABASE_URL is not a database URL kbx can use "
            "(sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB)",
            "KBX_DATABASE_URL is geen databank-URL die kbx kan gebruiken "
            "(sqlite:///PAD of postgresql+psycopg://GEBRUIKER@HOST:POORT/DB)",
        )
    # A table or a column that is not there: no schema yet, or an older one than this kbx's.
    if isinstance(exc, ProgrammingError) and type(exc.orig).__name__ in _MISSING_ON_POSTGRESQL:
        return not_migrated()
    if isinstance(exc, OperationalError):
        if any(missing in str(exc.orig) for missing in ("no such table", "no such column")):
            return not_migrated()
        if exc.connection_invalidated or exc.statement is None or "connect" in str(exc.orig):
            return Unavailable(
                "database.unreachable",
                "cannot connect to the database (KBX_DATABASE_URL, KBX_DATA_DIR)",
                "kan geen verbinding maken met de databank (KBX_DATABASE_URL, KBX_DATA_DIR)",
            )
    return None


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit when the block ends normally, roll back on any exception.
    Nothing else in kbx calls ``commit()``."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A session that only reads, from one snapshot: on SQLite it begins DEFERRED and so takes
    no write lock, so that readers (an API GET, a token check, ``kbx export list``) never queue
    behind each other or behind a writer. Whatever the block changes is rolled back, never
    committed."""
    # Closing the session detaches what it loaded (still readable, as after ``transaction``);
    # closing the connection rolls its transaction back.
    connection = engine.connect().execution_options(**{READ_ONLY: True})
    with connection, Session(bind=connection) as session:
        yield session
