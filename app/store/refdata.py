"""Reference data shipped with kbx (see app/data/README.md for source and attribution)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from exchange.recipients import Municipality

__all__ = ["MunicipalityList", "municipalities"]

_CSV = Path(__file__).resolve().parents[1] / "data" / "flemish-municipalities.csv"


@dataclass(frozen=True, slots=True)
class MunicipalityList:
    current: tuple[Municipality, ...]  # the 285 valid from 2025-01-01
    merged: frozenset[str]  # codes that ended on 2024-12-31

    @property
    def current_codes(self) -> frozenset[str]:
        return frozenset(m.nis_code for m in self.current)


@cache
def municipalities() -> MunicipalityList:
    current: list[Municipality] = []
    merged: set[str] = set()
    with _CSV.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["in_2025"] == "True":
                current.append(Municipality(row["nis_code"], row["name_nl"], row["province_nl"]))
            else:
                merged.add(row["nis_code"])
    return MunicipalityList(tuple(current), frozenset(merged))
