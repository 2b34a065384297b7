"""A municipality's request for its art. 20 list (seed 000, overweging C: "In afwachting van
deze service kunnen gemeenten deze lijsten maximaal 1 keer per jaar opvragen rechtstreeks bij het
Agentschap Integratie en Inburgering").

A list under ``art20-municipal`` answers a request of the municipality: the run records the day
the request was made and the municipality's own reference (its letter's or mail's reference, as
given). Whether a request is needed and whether it is acceptable is the policy's
(``exchange.policy``, rules ``request.*``); this module holds the request's shape, the check of a
reference as text, and the reading of the yearly round's file of requests (``parse_requests``).

A reference is kept as given, so it must be harmless to show and to audit: 1 to
``REFERENCE_MAX`` printable characters, and no run of ten or more digits (a national number, with
or without its leading zero, is never a reference).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from exchange.csv_input import uses_semicolons
from exchange.free_text import may_hold_national_number

__all__ = [
    "REFERENCE_MAX",
    "ListRequest",
    "RequestLine",
    "RequestsFileError",
    "parse_request_rows",
    "parse_requests",
    "reference_problem",
]

REFERENCE_MAX = 64
_NIS = re.compile(r"[0-9]{5}")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
HEADER = ("nis_code", "requested_on", "reference")


@dataclass(frozen=True, slots=True)
class ListRequest:
    """A municipality's request: the day it was made and its own reference."""

    requested_on: date
    reference: str


@dataclass(frozen=True, slots=True)
class RequestLine:
    """One request of the yearly round's file: its line number (1 = the header), the
    municipality's NIS code and its request."""

    line: int
    nis_code: str
    request: ListRequest


class RequestsFileError(Exception):
    """A file of requests that cannot be used: ``problems`` is a list of (line number, English
    text, Dutch text), never a value from the file."""

    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        super().__init__("; ".join(f"line {n}: {en}" for n, en, _ in problems))
        self.problems = problems


def reference_problem(reference: str) -> tuple[str, str] | None:
    """``None`` for an acceptable reference, else (English, Dutch) saying what is wrong without
    repeating it: empty, longer than ``REFERENCE_MAX``, not printable, or holding a run of ten or
    more digits."""
    if not reference.strip():
        return "the request reference is empty", "de referentie van de aanvraag is leeg"
    if len(reference) > REFERENCE_MAX:
        return (
            f"the request reference is longer than {REFERENCE_MAX} characters",
            f"de referentie van de aanvraag is langer dan {REFERENCE_MAX} tekens",
        )
    if not reference.isprintable():
        return (
            "the request reference holds a character that cannot be printed",
            "de referentie van de aanvraag bevat een teken dat niet afdrukbaar is",
        )
    if may_hold_national_number(reference):
        return (
            "the request reference holds a number that could be a national number",
            "de referentie van de aanvraag bevat een getal dat een rijksregisternummer zou "
            "kunnen zijn",
        )
    return None


def _day(text: str) -> date | None:
    if not _ISO.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_requests(text: str) -> list[RequestLine]:
    """The requests of a CSV text with the header ``nis_code,requested_on,reference`` (a BOM
    and CRLF line ends are tolerated; blank lines are skipped). Every line is checked: a NIS code
    of five digits, a date YYYY-MM-DD, an acceptable reference (``reference_problem``), no
    municipality twice. Raises ``RequestsFileError`` with every problem and its line number, so
    that nothing is requested from a file with one bad line."""
    # strict: a quote left open (``72020,2027-02-01,"LOM``) is an error, not a cell
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error:
        raise RequestsFileError(
            [
                (
                    len(rows) + 1,
                    "not valid CSV from this line on (a quote left open?)",
                    "geen geldige CSV vanaf deze regel (een aanhalingsteken niet gesloten?)",
                )
            ]
        ) from None
    if rows and uses_semicolons(rows[0], HEADER):
        raise RequestsFileError(
            [
                (
                    1,
                    "the file uses ';' as separator: save it as CSV UTF-8 (comma delimited)",
                    "het bestand gebruikt ';' als scheidingsteken: sla op als CSV UTF-8 "
                    "(door komma's gescheiden)",
                )
            ]
        )
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        raise RequestsFileError(
            [
                (
                    1,
                    "the first line must be the header nis_code,requested_on,reference",
                    "de eerste regel moet de kop nis_code,requested_on,reference zijn",
                )
            ]
        )
    return parse_request_rows(enumerate(rows[1:], start=2))


def parse_request_rows(rows: Iterable[tuple[int, Sequence[str]]]) -> list[RequestLine]:
    """The requests of numbered rows of three texts (NIS code, date YYYY-MM-DD, reference), as
    ``parse_requests`` checks them; the API's batch body uses it with item numbers. Raises
    ``RequestsFileError`` with every problem."""
    problems: list[tuple[int, str, str]] = []
    lines: list[RequestLine] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(HEADER):  # a CSV row of the wrong width
            problems.append(
                (
                    number,
                    f"expected 3 columns, found {len(row)}",
                    f"3 kolommen verwacht, {len(row)} gevonden",
                )
            )
            continue
        nis, day_text, reference = row[0].strip(), row[1].strip(), row[2].strip()
        day = _day(day_text)
        if not _NIS.fullmatch(nis):
            problems.append((number, "nis_code is not 5 digits", "nis_code is geen 5 cijfers"))
        elif nis in seen:
            problems.append(
                (
                    number,
                    f"municipality {nis} is already on line {seen[nis]}",
                    f"gemeente {nis} staat al op regel {seen[nis]}",
                )
            )
        else:
            seen[nis] = number
        if day is None:
            problems.append(
                (
                    number,
                    "requested_on is not a date YYYY-MM-DD",
                    "requested_on is geen datum JJJJ-MM-DD",
                )
            )
        if (problem := reference_problem(reference)) is not None:
            problems.append((number, *problem))
        if day is not None and not problems:
            lines.append(RequestLine(number, nis, ListRequest(day, reference)))
    if problems:
        raise RequestsFileError(problems)
    if not lines:
        raise RequestsFileError(
            [(1, "the file holds no request", "het bestand bevat geen enkele aanvraag")]
        )
    return lines
