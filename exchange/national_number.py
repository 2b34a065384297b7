"""Belgian national register (INSZ) numbers: the rijksregisternummer and the bis number.

Eleven digits ``YYMMDD SSS CC``: a birth date, a serial number (odd for men, even for women) and
two check digits, ``97 - (first nine digits mod 97)``; for people born from 2000 on the check is
computed over ``"2" + first nine digits``. A bis number (given by the Crossroads Bank for Social
Security to people not in the national register) adds 20 to the month when the sex was unknown at
issue, 40 when it was known. A month of 0, or a day of 0 or past the month's end, means that part of
the birth date was unknown when the number was issued.

We keep this small rule set here rather than calling python-stdnum at run time because the import
must say *which* rule failed and must classify the number (national register or bis) for the
population rules; the test suite checks it against python-stdnum as an oracle.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date

__all__ = ["NumberKind", "NumberProblem", "ParsedNumber", "parse_national_number"]


class NumberKind(enum.StrEnum):
    NATIONAL_REGISTER = "nn"
    BIS = "bis"


class NumberProblem(enum.StrEnum):
    FORMAT = "national_number.format"
    CHECKSUM = "national_number.checksum"
    MONTH = "national_number.month"


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    number: str
    kind: NumberKind
    birth_year: int | None
    birth_month: int | None
    # False when the number itself says the birth date was (partly) unknown at issue: month 0,
    # day 0 or past the month's end (e.g. ``850000``, ``851200``).
    birth_date_known: bool = True


def _century(number: str, today: date) -> int | None:
    check = int(number[9:])
    if 97 - int(number[:9]) % 97 == check:
        return 1900
    # The 2000 rule only exists for years that have already begun.
    if 2000 + int(number[:2]) <= today.year and 97 - int("2" + number[:9]) % 97 == check:
        return 2000
    return None


def parse_national_number(number: str, today: date) -> ParsedNumber | NumberProblem:
    """Validate an 11-digit INSZ number; return what it encodes or the rule it breaks."""
    if len(number) != 11 or not number.isascii() or not number.isdigit() or int(number) == 0:
        return NumberProblem.FORMAT
    century = _century(number, today)
    if century is None:
        return NumberProblem.CHECKSUM
    raw_month = int(number[2:4])
    if raw_month <= 12:
        kind = NumberKind.NATIONAL_REGISTER
    elif 20 <= raw_month <= 32 or 40 <= raw_month <= 52:
        kind = NumberKind.BIS
    else:
        return NumberProblem.MONTH
    if number[:6] in ("000001", "002001", "004001"):
        return ParsedNumber(number, kind, None, None, birth_date_known=False)
    month = raw_month % 20
    year = century + int(number[:2])
    day = int(number[4:6])
    known = month != 0 and 1 <= day <= calendar.monthrange(year, month)[1]
    return ParsedNumber(number, kind, year, month or None, birth_date_known=known)
