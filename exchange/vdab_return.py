"""The return leg of ``vdab-pillar3`` (seed 001), pure: read VDAB's enriched file, check it
against what AgII sent, and make the pseudonymised dataset for the BI working group.

Seed 001, recital F: AgII puts "een versleuteld bestand met enkel rijksregisternummers" on VDAB's
SFTP server; VDAB links it on INSZ with its own database, enriches it "met afgesproken kenmerken
(zie artikel 3)" and "zal hierna de data terug in het versleutelde bestand plaatsen"; AgII then
"voegt aan deze data de afgesproken profielkenmerken (zie artikel 3) toe en pseudonimiseert de data
door de rijksregisternummers te verwijderen". The format is in ``docs/vdab-return.md``.

A return file is accepted whole or refused whole. Every problem is reported as
``line N, column C: rule``, never with the value (a value may be a national number). Nothing here
reads a file or a database: the caller passes the CSV text (already taken out of its 7z archive),
the set of numbers that were sent, and the profiles it looked up.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date
from typing import Any

from exchange.csv_input import is_blank_row, uses_semicolons
from exchange.kbi_extract import Problem

__all__ = [
    "ACTION_TYPES",
    "JOBSEEKER_CATEGORIES",
    "MAX_REPORTED",
    "RETURN_COLUMNS",
    "SEMICOLON_SEPARATED",
    "SERVICE_STATUSES",
    "VDAB_COLUMNS",
    "Dataset",
    "ReturnRefused",
    "ReturnRow",
    "ReturnedFile",
    "dataset_columns",
    "parse_return",
    "pseudonymised_rows",
]

# The header of the return file, in this order (any order is accepted, nothing else).
RETURN_COLUMNS: tuple[str, ...] = (
    "national_number",
    "vdab_first_registration",
    "vdab_latest_registration",
    "jobseeker_category",
    "service_status",
    "action_types",
    "outflow_to_work",
)
VDAB_COLUMNS: tuple[str, ...] = RETURN_COLUMNS[1:]

# Art. 3 "huidige categorie werkzoekende".
JOBSEEKER_CATEGORIES: tuple[str, ...] = (
    "unemployed_benefit",  # uitkeringsgerechtigde volledig werkloze werkzoekende
    "unemployed_free",  # vrij ingeschreven niet-werkende werkzoekende
    "school_leaver",  # jongere in beroepsinschakelingstijd
    "unemployed_other",  # andere niet-werkende werkzoekende
    "employed",  # werkende werkzoekende
    "not_jobseeker",  # ingeschreven, maar geen werkzoekende
)
# Art. 3 "status dienstverlening bij VDAB".
SERVICE_STATUSES: tuple[str, ...] = (
    "active",  # in begeleiding
    "waiting",  # nog geen begeleiding gestart
    "paused",  # begeleiding opgeschort
    "ended",  # begeleiding afgesloten
)
# Art. 3 "type acties (oriëntatie, context, competentieversterking, solliciteren)"; a cell holds
# any of these, separated by ";", each at most once.
ACTION_TYPES: tuple[str, ...] = ("orientation", "context", "competence", "job_search")

MAX_REPORTED = 1000
_NATIONAL_NUMBER = re.compile(r"[0-9]{11}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A header cell is named in a report only when it looks like a column name (no run of three
# digits): a file without its header line would otherwise have its first person's values, a
# national number or a date, repeated in the report.
_PRINTABLE_NAME = re.compile(r"(?!.*\d{3})[A-Za-z_][A-Za-z0-9_ -]{0,39}")


@dataclass(frozen=True, slots=True)
class ReturnRow:
    """One person as VDAB returned them; an empty cell is ``None`` (``()`` for action types)."""

    national_number: str
    vdab_first_registration: date | None
    vdab_latest_registration: date | None
    jobseeker_category: str | None
    service_status: str | None
    action_types: tuple[str, ...]
    outflow_to_work: bool | None


@dataclass(frozen=True, slots=True)
class ReturnedFile:
    rows: tuple[ReturnRow, ...]
    sent: int  # how many numbers AgII sent
    blank_rows: int = 0  # empty lines and rows of bare separators (``,,,,,,``), skipped

    @property
    def not_returned(self) -> int:
        """Sent numbers VDAB did not return (allowed: VDAB may not know everyone)."""
        return self.sent - len(self.rows)


class ReturnRefused(Exception):
    """The return file was refused whole. ``problems`` holds at most ``MAX_REPORTED`` of the
    ``total``; none of them carries a value."""

    def __init__(self, problems: Sequence[Problem], total: int) -> None:
        super().__init__(f"return file refused: {total} problem(s)")
        self.problems = tuple(problems)
        self.total = total

    def report(self) -> list[str]:
        lines = [f"{p}{_HINTS.get(p.rule, '')}" for p in self.problems]
        if self.total > len(self.problems):
            lines.append(f"... and {self.total - len(self.problems)} more problem(s)")
        return lines


SEMICOLON_SEPARATED = "file.semicolon_separated"
_HINTS = {
    SEMICOLON_SEPARATED: (
        " (the file uses ';' as separator: save it as CSV UTF-8, comma delimited / het bestand "
        "gebruikt ';' als scheidingsteken: sla op als CSV UTF-8, door komma's gescheiden)"
    )
}


class _Problems:
    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.total = 0

    def add(self, line: int, column: str, rule: str) -> None:
        self.total += 1
        if len(self.kept) < MAX_REPORTED:
            self.kept.append(Problem(line, column, rule))


def _header_name(name: str, position: int) -> str:
    return name if _PRINTABLE_NAME.fullmatch(name) else f"(column {position})"


def _check_header(header: list[str], problems: _Problems) -> None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if name in seen:
            problems.add(1, _header_name(name, position), "header.duplicate_column")
        elif name not in RETURN_COLUMNS:
            problems.add(1, _header_name(name or "(empty)", position), "header.unknown_column")
        seen.add(name)
    for name in RETURN_COLUMNS:
        if name not in seen:
            problems.add(1, name, "header.missing_column")


def _date(text: str) -> date | str:
    if not _DATE.fullmatch(text):
        return "date.format"
    try:
        return date.fromisoformat(text)
    except ValueError:
        return "date.impossible"


class _RowReader:
    def __init__(self, sent: Set[str], today: date, problems: _Problems) -> None:
        self._sent = sent
        self._today = today
        self._problems = problems
        self._seen: dict[str, int] = {}

    def read(self, line: int, cells: Mapping[str, str]) -> ReturnRow | None:
        before = self._problems.total
        add = self._problems.add
        number = cells["national_number"].strip()
        if number == "":
            add(line, "national_number", "required")
        elif not _NATIONAL_NUMBER.fullmatch(number):
            add(line, "national_number", "national_number.format")
        elif number not in self._sent:
            add(line, "national_number", "national_number.not_sent")
        else:
            first = self._seen.setdefault(number, line)
            if first != line:
                add(line, "national_number", f"duplicate_of_line_{first}")

        dates: dict[str, date | None] = {}
        for name in ("vdab_first_registration", "vdab_latest_registration"):
            text = cells[name].strip()
            dates[name] = None
            if text:
                value = _date(text)
                if isinstance(value, str):
                    add(line, name, value)
                elif value > self._today:
                    add(line, name, "date.in_future")
                else:
                    dates[name] = value
        first_reg = dates["vdab_first_registration"]
        latest_reg = dates["vdab_latest_registration"]
        if latest_reg is not None:
            if not cells["vdab_first_registration"].strip():
                add(line, "vdab_latest_registration", "registration.latest_without_first")
            elif first_reg is not None and latest_reg < first_reg:
                add(line, "vdab_latest_registration", "date.before_first_registration")

        category = self._enum(line, cells, "jobseeker_category", JOBSEEKER_CATEGORIES)
        status = self._enum(line, cells, "service_status", SERVICE_STATUSES)
        actions = self._actions(line, cells["action_types"].strip())

        outflow_text = cells["outflow_to_work"].strip()
        outflow: bool | None = None
        if outflow_text in ("true", "false"):
            outflow = outflow_text == "true"
        elif outflow_text:
            add(line, "outflow_to_work", "boolean.format")

        if self._problems.total != before:
            return None
        return ReturnRow(number, first_reg, latest_reg, category, status, actions, outflow)

    def _enum(
        self, line: int, cells: Mapping[str, str], name: str, values: tuple[str, ...]
    ) -> str | None:
        text = cells[name].strip()
        if not text:
            return None
        if text not in values:
            self._problems.add(line, name, "enum.unknown_value")
            return None
        return text

    def _actions(self, line: int, text: str) -> tuple[str, ...]:
        if not text:
            return ()
        items = [item.strip() for item in text.split(";")]
        if any(item == "" for item in items):
            self._problems.add(line, "action_types", "list.empty_item")
        elif any(item not in ACTION_TYPES for item in items):
            self._problems.add(line, "action_types", "enum.unknown_value")
        elif len(set(items)) != len(items):
            self._problems.add(line, "action_types", "list.duplicate_value")
        # The documented order, whatever order VDAB wrote them in.
        return tuple(a for a in ACTION_TYPES if a in items)


def parse_return(lines: Iterable[str], sent: Set[str], today: date) -> ReturnedFile:
    """Validate the whole return file against the numbers that were sent; raise ``ReturnRefused``
    with every problem (at most ``MAX_REPORTED`` listed) when anything is wrong.

    ``lines`` is the CSV text as lines (``exchange.csv_input.decoded_lines`` over the file's
    bytes, so that a byte that is not UTF-8 is reported at its own line; or a text stream opened
    with ``newline=""``). Blank rows (empty, or bare separators) are skipped and counted; a
    ``;``-separated file is refused with the one problem ``file.semicolon_separated``. The
    accepted rows are held in memory (tens of thousands per half year): the file must be
    accepted whole before anything is made from it.
    """
    blank = 0
    problems = _Problems()
    rows: list[ReturnRow] = []
    reader = csv.reader(iter(lines), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ReturnRefused([Problem(1, "(header)", "header.missing")], 1)
        header = [name.strip() for name in header]
        if header:
            header[0] = header[0].removeprefix("\ufeff")  # Excel's byte-order mark
        if uses_semicolons(header, RETURN_COLUMNS):
            raise ReturnRefused([Problem(1, "(header)", SEMICOLON_SEPARATED)], 1)
        _check_header(header, problems)
        if problems.total:
            raise ReturnRefused(problems.kept, problems.total)
        row_reader = _RowReader(sent, today, problems)
        line = reader.line_num
        for cells in reader:
            # csv counts physical lines: a quoted value may span several; report where it starts.
            start, line = line + 1, reader.line_num
            if is_blank_row(cells):
                blank += 1  # an empty line, or a row of bare separators
                continue
            if len(cells) != len(header):
                problems.add(start, "(row)", "row.column_count")
                continue
            row = row_reader.read(start, dict(zip(header, cells, strict=True)))
            if row is not None:
                rows.append(row)
    except UnicodeDecodeError:
        problems.add(reader.line_num + 1, "(file)", "file.not_utf8")
    except csv.Error:
        problems.add(reader.line_num, "(row)", "csv.malformed")
    if problems.total:
        raise ReturnRefused(problems.kept, problems.total)
    return ReturnedFile(tuple(rows), len(sent), blank)


# -- the dataset for the BI working group ---------------------------------------------------


def dataset_columns(profile_fields: Sequence[str]) -> tuple[str, ...]:
    """``pseudonym``, VDAB's columns in the documented order, then the Art. 3 profile fields in
    the protocol definition's order. Never ``national_number``."""
    if "national_number" in profile_fields or "pseudonym" in profile_fields:
        raise ValueError("a profile field cannot be the national number or the pseudonym")
    return ("pseudonym", *VDAB_COLUMNS, *profile_fields)


@dataclass(frozen=True, slots=True)
class Dataset:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]  # ordered by pseudonym, never by national number
    without_profile: int  # returned people KBI no longer knows: their profile cells are empty


def pseudonymised_rows(
    returned: Iterable[ReturnRow],
    profiles: Mapping[str, Mapping[str, Any]],
    pseudonym: Callable[[str], str],
    *,
    profile_fields: Sequence[str],
) -> Dataset:
    """Join each returned row with its KBI profile (``profiles``: national number -> field ->
    value) and replace the national number by its pseudonym.

    The rows are sorted by pseudonym: an order by national number would leak the order of birth
    dates into a dataset that is supposed to have no national numbers.
    """
    columns = dataset_columns(profile_fields)
    rows: list[tuple[Any, ...]] = []
    without_profile = 0
    for row in returned:
        profile = profiles.get(row.national_number)
        if profile is None:
            without_profile += 1
            profile = {}
        rows.append(
            (
                pseudonym(row.national_number),
                row.vdab_first_registration,
                row.vdab_latest_registration,
                row.jobseeker_category,
                row.service_status,
                ";".join(row.action_types) or None,
                row.outflow_to_work,
                *(profile.get(name) for name in profile_fields),
            )
        )
    rows.sort(key=lambda r: str(r[0]))
    return Dataset(columns, tuple(rows), without_profile)
