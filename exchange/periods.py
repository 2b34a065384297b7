"""Periods: the slot an export fills: ``2026`` a calendar year, ``2026-H1`` / ``2026-H2`` a half."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

__all__ = ["Period", "PeriodUnit", "parse_period", "period_containing"]


class PeriodUnit(enum.StrEnum):
    CALENDAR_YEAR = "calendar_year"
    HALF_YEAR = "half_year"


_YEAR = re.compile(r"(\d{4})")
_HALF = re.compile(r"(\d{4})-H([12])")


@dataclass(frozen=True, slots=True)
class Period:
    unit: PeriodUnit
    year: int
    half: int | None = None

    @property
    def start(self) -> date:
        return date(self.year, 7 if self.half == 2 else 1, 1)

    @property
    def end(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def __str__(self) -> str:
        return f"{self.year}-H{self.half}" if self.half else str(self.year)

    def following(self) -> Period:
        """The period of the same unit that starts the day after this one ends."""
        if self.unit is PeriodUnit.HALF_YEAR:
            return Period(self.unit, self.year + (self.half == 2), 1 if self.half == 2 else 2)
        return Period(self.unit, self.year + 1)


def parse_period(text: str) -> Period | None:
    """The period a label names, or None when the label has no known form."""
    if m := _YEAR.fullmatch(text):
        year = int(m.group(1))
        return Period(PeriodUnit.CALENDAR_YEAR, year) if 1900 < year < 2200 else None
    if m := _HALF.fullmatch(text):
        year = int(m.group(1))
        return Period(PeriodUnit.HALF_YEAR, year, int(m.group(2))) if 1900 < year < 2200 else None
    return None


def period_containing(unit: PeriodUnit, day: date) -> Period:
    if unit is PeriodUnit.HALF_YEAR:
        return Period(unit, day.year, 1 if day.month <= 6 else 2)
    return Period(unit, day.year)
