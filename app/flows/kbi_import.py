"""``kbx kbi import``: load a KBI extract into the store, all or nothing.

The file is read once, streamed: each row is validated and inserted in batches inside one
transaction that first empties the store. Any problem anywhere stops the inserts and rolls the
whole transaction back, so a refused file leaves the previous store untouched.

The file is read as people save it (``exchange.csv_input``): blank rows and rows of bare
separators are skipped and counted, a byte that is not UTF-8 is reported at its own line, and a
``;``-separated file (Belgian Excel's "CSV") is refused with one line that says so.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert

from app.errors import InvalidInput
from app.store.audit import record
from app.store.db import transaction
from app.store.refdata import municipalities
from exchange.csv_input import decoded_lines, is_blank_row, uses_semicolons
from exchange.kbi_extract import COLUMNS_BY_NAME, Problem, RowValidator, check_header
from exchange.models import Base, Integree

__all__ = ["ExtractRefused", "ImportResult", "import_extract", "import_rows"]

_BATCH = 5000
MAX_REPORTED = 1000


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    seconds: float
    blank_rows: int = 0  # empty lines and rows of bare separators, skipped


class ExtractRefused(Exception):
    """The extract was refused whole; nothing was written."""

    def __init__(self, problems: list[Problem], total: int) -> None:
        super().__init__(f"extract refused: {total} problem(s)")
        self.problems = problems  # at most MAX_REPORTED
        self.total = total


def import_extract(
    engine: Engine, path: Path, today: date, *, actor: str = "system", now: datetime | None = None
) -> ImportResult:
    """Replace the store with the extract at ``path`` (docs/kbi-extract.md). Raises
    ``ExtractRefused`` (every problem by line, column and rule) or ``InvalidInput``
    (``kbi.semicolon_separated``); either way nothing was written."""
    # Read as bytes and decoded line by line: a bad byte is reported at its own line, and
    # Excel's byte-order mark is dropped (exchange.csv_input.decoded_lines).
    with path.open("rb") as handle:
        return import_rows(
            engine, decoded_lines(handle), today, actor=actor, now=now, source=path.name
        )


def import_rows(
    engine: Engine,
    lines: Iterable[str],
    today: date,
    *,
    actor: str = "system",
    now: datetime | None = None,
    source: str = "-",
) -> ImportResult:
    """Import the extract's ``lines`` (physical lines with their ends, as ``csv`` reads them)."""
    started = time.perf_counter()
    counts = _Counts()
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
        for values, row_problems in _validated(lines, validator, counts, source):
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
            details={"rows": rows, "blank_rows": counts.blank, "source": source},
            now=now or datetime.now(UTC),
        )
    return ImportResult(rows, time.perf_counter() - started, counts.blank)


@dataclass(slots=True)
class _Counts:
    blank: int = 0


def _validated(
    lines: Iterable[str], validator: RowValidator, counts: _Counts, source: str
) -> Iterator[tuple[dict[str, Any], list[Problem]]]:
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            yield {}, [Problem(1, "(header)", "header.missing")]
            return
        header = [name.strip() for name in header]
        if uses_semicolons(header, COLUMNS_BY_NAME):
            raise InvalidInput(
                "kbi.semicolon_separated",
                f"{source} uses ';' as separator: save it as CSV UTF-8 (comma delimited)",
                f"{source} gebruikt ';' als scheidingsteken: sla op als CSV UTF-8 "
                "(door komma's gescheiden)",
            )
        if header_problems := check_header(header):
            yield {}, header_problems
            return
        line = reader.line_num
        for cells in reader:
            # csv counts physical lines: a quoted field may span several; report where it starts.
            start, line = line + 1, reader.line_num
            if is_blank_row(cells):
                counts.blank += 1
                continue
            if len(cells) != len(header):
                yield {}, [Problem(start, "(row)", "row.column_count")]
                continue
            values, problems = validator.validate(start, dict(zip(header, cells, strict=True)))
            yield values, problems
    except UnicodeDecodeError:
        yield {}, [Problem(reader.line_num + 1, "(file)", "file.not_utf8")]
    except csv.Error:
        yield {}, [Problem(reader.line_num, "(row)", "csv.malformed")]
