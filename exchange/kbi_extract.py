"""The KBI extract: one CSV row per integree, as documented in ``docs/kbi-extract.md``.

This module holds the column specification and the validation of one row; reading the file and
writing the store happen at the edge (``app.flows.kbi_import``). Problems name the line, the
column and the rule, never the value: a value may be a national number or a name.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from exchange.national_number import NumberProblem, ParsedNumber, parse_national_number

__all__ = [
    "COLUMNS",
    "COLUMNS_BY_NAME",
    "REQUIRED_COLUMNS",
    "ColumnKind",
    "ExtractColumn",
    "Problem",
    "RowValidator",
    "check_header",
]


class ColumnKind(enum.StrEnum):
    TEXT = "text"
    DATE = "date"
    BOOLEAN = "boolean"
    ENUM = "enum"
    NATIONAL_NUMBER = "national_number"
    NIS_CODE = "nis_code"
    PHONE = "phone"
    EMAIL = "email"
    COUNTRY = "country"
    LANGUAGE = "language"
    POSTAL_CODE = "postal_code"


@dataclass(frozen=True, slots=True)
class ExtractColumn:
    name: str
    kind: ColumnKind
    description: str
    required: bool = False
    max_length: int | None = None
    values: tuple[str, ...] = ()


def _c(name: str, kind: ColumnKind, description: str, **kw: Any) -> ExtractColumn:
    return ExtractColumn(name, kind, description, **kw)


K = ColumnKind
# Lengths follow the MAGDA GeefDossierKBI schema (KBISimple.xsd): names 48, e-mail 120, phone 20.
COLUMNS: tuple[ExtractColumn, ...] = (
    _c(
        "national_number", K.NATIONAL_NUMBER, "INSZ: national register or bis number", required=True
    ),
    _c("last_name", K.TEXT, "Family name", required=True, max_length=48),
    _c("first_name", K.TEXT, "First name(s)", required=True, max_length=48),
    _c(
        "birth_date",
        K.DATE,
        "Date of birth; empty or partial only when the national number says it is unknown",
        required=True,
    ),
    _c("sex", K.ENUM, "Sex as in the national register", values=("M", "F", "X")),
    _c("nationality", K.COUNTRY, "Oldest nationality, ISO 3166-1 alpha-2"),
    _c("nis_code", K.NIS_CODE, "Municipality of main residence (NIS code)", required=True),
    _c("street", K.TEXT, "Street of the main residence", max_length=100),
    _c("house_number", K.TEXT, "House number and box", max_length=16),
    _c("postal_code", K.POSTAL_CODE, "Belgian postal code"),
    _c("city", K.TEXT, "Municipality or borough name of the address", max_length=48),
    _c("email", K.EMAIL, "E-mail address the integree gave", max_length=120),
    _c("phone", K.PHONE, "Phone number, E.164", max_length=20),
    _c(
        "target_group",
        K.ENUM,
        "Civic-integration target group",
        required=True,
        values=("obliged", "entitled", "none"),
    ),
    _c("target_group_since", K.DATE, "Date the person entered the target group"),
    _c("registered_on", K.DATE, "Date of registration (aanmelding) with the agency"),
    _c("contract_signed_on", K.DATE, "Date the integration contract was signed"),
    _c("certificate_on", K.DATE, "Date the integration certificate was obtained"),
    _c("obligation_since", K.DATE, "Date the integration obligation began"),
    _c("obligation_met_on", K.DATE, "Date the integration obligation was met"),
    _c("contact_language", K.LANGUAGE, "Contact language, ISO 639-1"),
    _c(
        "nt2_level",
        K.ENUM,
        "Highest Dutch (NT2) level reached, CEFR",
        values=("A1", "A2", "B1", "B2", "C1", "C2"),
    ),
    _c(
        "civic_orientation_status",
        K.ENUM,
        "Status of the civic orientation (MO) course",
        values=("not_started", "in_progress", "completed", "exempt"),
    ),
    _c("pilot_consent", K.BOOLEAN, "Consent to share contact data with pilot projects"),
    _c("education_level", K.ENUM, "Education level", values=("low", "medium", "high")),
    _c(
        "kbi_region",
        K.ENUM,
        "KBI region of the file",
        values=(
            "antwerpen_stad",
            "gent_stad",
            "antwerpen",
            "limburg",
            "oost_vlaanderen",
            "vlaams_brabant",
            "west_vlaanderen",
            "brussel",
        ),
    ),
    _c(
        "residence_status",
        K.ENUM,
        "Residence status",
        values=(
            "family_reunification",
            "recognised_refugee",
            "subsidiary_protection",
            "labour_migrant",
            "student",
            "eu_citizen",
            "other",
        ),
    ),
    _c(
        "trajectory_type",
        K.ENUM,
        "Pathway type (KBI: TT_IBVP obliged, TT_IBRH entitled)",
        values=("TT_IBVP", "TT_IBRH"),
    ),
    _c("vdab_referral_on", K.DATE, "Date of referral to VDAB by the agencies"),
    _c(
        "career_orientation_decision",
        K.ENUM,
        "Decision of the career orientation (PLO)",
        values=("work", "training", "education", "not_applicable"),
    ),
    _c(
        "career_orientation_reason",
        K.ENUM,
        "Reason for that decision",
        values=("employed", "in_education", "health", "care_duties", "language_first", "other"),
    ),
    _c(
        "language_learning_ability",
        K.ENUM,
        "Estimated language-learning ability",
        values=("slow", "average", "fast"),
    ),
    _c("diploma_recognition_referral", K.BOOLEAN, "Referred to diploma recognition"),
    _c(
        "diploma_recognition_result",
        K.ENUM,
        "Result of that referral",
        values=("recognised", "partially_recognised", "refused", "pending"),
    ),
    _c("living_wage", K.BOOLEAN, "Receives a living wage (leefloon) from the OCMW"),
)
del K

COLUMNS_BY_NAME: Mapping[str, ExtractColumn] = {c.name: c for c in COLUMNS}
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a file is refused; ``line`` is the 1-based line of the CSV (header = 1)."""

    line: int
    column: str
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.rule}"


_COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def check_header(header: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        # A file without its header line has a person's data in line 1: echo only what looks
        # like a column name, else the position.
        shown = name if _COLUMN_NAME.fullmatch(name) else f"(column {position})"
        if name in seen:
            problems.append(Problem(1, shown, "header.duplicate_column"))
        elif name not in COLUMNS_BY_NAME:
            problems.append(Problem(1, shown, "header.unknown_column"))
        seen.add(name)
    problems.extend(
        Problem(1, n, "header.missing_column") for n in REQUIRED_COLUMNS if n not in seen
    )
    return problems


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PHONE = re.compile(r"\+[1-9]\d{7,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[a-z]{2}")
_POSTAL = re.compile(r"[1-9]\d{3}")


class RowValidator:
    """Validates rows of one import; remembers national numbers to refuse duplicates."""

    def __init__(self, *, nis_codes: frozenset[str], merged_nis_codes: frozenset[str], today: date):
        self._nis_codes = nis_codes
        self._merged = merged_nis_codes
        self._today = today
        self._seen_numbers: dict[str, int] = {}

    def validate(self, line: int, row: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
        """Typed values (plus ``number_kind``) and the problems of one row."""
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        number = parse_national_number(row.get("national_number", "").strip(), self._today)
        birth_unknown = isinstance(number, ParsedNumber) and not number.birth_date_known
        for name, text in row.items():
            column = COLUMNS_BY_NAME[name]
            text = text.strip()
            result: Any
            if column.kind is ColumnKind.NATIONAL_NUMBER and text:
                result = _Invalid(number.value) if isinstance(number, NumberProblem) else number
            elif name == "birth_date" and birth_unknown:
                result = _unknown_birth_date(text)
            elif text == "":
                if column.required:
                    problems.append(Problem(line, name, "required"))
                values[name] = None
                continue
            else:
                result = self._convert(column, text)
            if isinstance(result, _Invalid):
                problems.append(Problem(line, name, result.rule))
            else:
                values[name] = result
        parsed = values.get("national_number")
        if isinstance(parsed, ParsedNumber):
            values["national_number"] = parsed.number
            values["number_kind"] = parsed.kind.value
            first = self._seen_numbers.setdefault(parsed.number, line)
            if first != line:
                problems.append(Problem(line, "national_number", f"duplicate_of_line_{first}"))
        problems.extend(self._cross_checks(line, values))
        return values, problems

    def _convert(self, column: ExtractColumn, text: str) -> Any:
        if column.max_length is not None and len(text) > column.max_length:
            return _Invalid("text.too_long")
        match column.kind:
            case ColumnKind.TEXT:
                return text
            case ColumnKind.DATE:
                return _parse_date(text)
            case ColumnKind.BOOLEAN:
                if text in ("true", "false"):
                    return text == "true"
                return _Invalid("boolean.format")
            case ColumnKind.ENUM:
                return text if text in column.values else _Invalid("enum.unknown_value")
            case ColumnKind.NATIONAL_NUMBER:
                parsed = parse_national_number(text, self._today)
                return _Invalid(parsed.value) if isinstance(parsed, NumberProblem) else parsed
            case ColumnKind.NIS_CODE:
                if text in self._nis_codes:
                    return text
                return _Invalid("nis_code.merged" if text in self._merged else "nis_code.unknown")
            case ColumnKind.PHONE:
                return text if _PHONE.fullmatch(text) else _Invalid("phone.format")
            case ColumnKind.EMAIL:
                return text if _EMAIL.fullmatch(text) else _Invalid("email.format")
            case ColumnKind.COUNTRY:
                return text if _COUNTRY.fullmatch(text) else _Invalid("country.format")
            case ColumnKind.LANGUAGE:
                return text if _LANGUAGE.fullmatch(text) else _Invalid("language.format")
            case ColumnKind.POSTAL_CODE:
                return text if _POSTAL.fullmatch(text) else _Invalid("postal_code.format")

    def _cross_checks(self, line: int, values: Mapping[str, Any]) -> list[Problem]:
        problems = []
        birth = values.get("birth_date")
        if isinstance(birth, date) and birth > self._today:
            problems.append(Problem(line, "birth_date", "date.in_future"))
        met, since = values.get("obligation_met_on"), values.get("obligation_since")
        if isinstance(met, date) and not isinstance(since, date):
            problems.append(Problem(line, "obligation_met_on", "obligation.met_without_obligation"))
        elif isinstance(met, date) and isinstance(since, date) and met < since:
            problems.append(Problem(line, "obligation_met_on", "date.before_obligation_since"))
        return problems


@dataclass(frozen=True, slots=True)
class _Invalid:
    rule: str


# Excel's 1900 date system counts 29 February 1900, a day that never was: every date before
# 1 March 1900 that passed through a spreadsheet is a day off, or was typed as text.
EARLIEST_DATE = date(1900, 3, 1)
_PARTIAL_DATE = re.compile(r"\d{4}(-(0\d|1[0-2])(-00)?)?")  # 1985, 1985-03, 1985-00-00


def _parse_date(text: str) -> date | _Invalid:
    if not _DATE.fullmatch(text):
        return _Invalid("date.format")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return _Invalid("date.impossible")
    return _Invalid("date.before_1900") if day < EARLIEST_DATE else day


def _unknown_birth_date(text: str) -> date | _Invalid | None:
    """The birth date of someone whose national number says it is (partly) unknown: empty, or
    partial as registers write it (``1985``, ``1985-03``, ``1985-00-00``, ``1985-03-00``), is
    stored as unknown; kbx never makes a date up. A full date is taken as given."""
    if text == "" or (_PARTIAL_DATE.fullmatch(text) and not _DATE.fullmatch(text)):
        return None
    if text.endswith("-00") and _PARTIAL_DATE.fullmatch(text):
        return None
    return _parse_date(text)
