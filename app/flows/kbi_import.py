"""``kbx kbi import``: load a KBI extract into the store, all or nothing.

The file is read once, streamed: each row is validated and inserted in batches inside one
transaction that first empties the store. Any problem anywhere stops the inserts and rolls the
whole transaction back, so a refused file leaves the previous store untouched.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, delete, insert

from app.store.audit import record
from app.store.db import transaction
from app.store.refdata import municipalities
from exchange.kbi_extract import Problem, RowValidator, check_header
from exchange.models import Base, Integree

__all__ = ["ExtractRefused", "ImportResult", "import_extract", "import_rows"]

_BATCH = 5000
MAX_REPORTED = 1000


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    seconds: float


class ExtractRefused(Exception):
    """The extract was refused whole; nothing was written."""

    def __init__(self, problems: list[Problem], total: int) -> None:
        super().__init__(f"extract refused: {total} problem(s)")
        self.problems = problems  # at most MAX_REPORTED
        self.total = total


def import_extract(
    engine: Engine, path: Path, today: date, *, actor: str = "system", now: datetime | None = None
) -> ImportResult:
    # utf-8-sig: Excel writes a byte-order mark in front of UTF-8 CSV files.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return import_rows(engine, handle, today, actor=actor, now=now, source=path.name)


def import_rows(
    engine: Engine,
    handle: TextIO,
    today: date,
    *,
    actor: str = "system",
    now: datetime | None = None,
    source: str = "-",
) -> ImportResult:
    started = time.perf_counter()
    refdata = municipalities()
    validator = RowValidator(
        nis_codes=refdata.current_codes, merged_nis_codes=refdata.merged, today=today
    )
    problems: list[Problem] = []
    total_problems = 0
    rows = 0
    with transaction(engine) as session:
        session.execute(delete(Integree))
        # Core executemany on the table: the ORM bulk path would group rows by which columns are
        # empty and emit nearly one statement per row.
        rows_insert = insert(Base.metadata.tables[Integree.__tablename__])
        connection = session.connection()
        batch: list[dict[str, Any]] = []
        for values, row_problems in _validated(handle, validator):
            if row_problems:
                total_problems += len(row_problems)
                room = MAX_REPORTED - len(problems)
                problems.extend(row_problems[: max(room, 0)])
                batch.clear()
                continue
            rows += 1
            if total_problems:
                continue  # keep validating to report every problem, but write nothing more
            batch.append(values)
            if len(batch) >= _BATCH:
                connection.execute(rows_insert, batch)
                batch.clear()
        if total_problems:
            raise ExtractRefused(problems, total_problems)  # rolls the transaction back
        if batch:
            connection.execute(rows_insert, batch)
        record(
            session,
            actor=actor,
            action="kbi.import",
            subject="kbi",
            details={"rows": rows, "source": source},
            now=now or datetime.now(UTC),
        )
    return ImportResult(rows, time.perf_counter() - started)


def _validated(
    handle: TextIO, validator: RowValidator
) -> Iterator[tuple[dict[str, Any], list[Problem]]]:
    reader = csv.reader(handle, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            yield {}, [Problem(1, "(header)", "header.missing")]
            return
        header = [name.strip() for name in header]
        if header_problems := check_header(header):
            yield {}, header_problems
            return
        line = reader.line_num
        for cells in reader:
            # csv counts physical lines: a quoted field may span several; report where it starts.
            start, line = line + 1, reader.line_num
            if len(cells) != len(header):
                yield {}, [Problem(start, "(row)", "row.column_count")]
                continue
            values, problems = validator.validate(start, dict(zip(header, cells, strict=True)))
            yield values, problems
    except UnicodeDecodeError:
        yield {}, [Problem(reader.line_num + 1, "(file)", "file.not_utf8")]
    except csv.Error:
        yield {}, [Problem(reader.line_num, "(row)", "csv.malformed")]
