"""Plain helpers that build test input: valid national numbers and small KBI extracts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

from exchange.kbi_extract import COLUMNS
from tests.leak_guard import GUARD


def national_number(birth: date, serial: int, *, bis_offset: int = 0) -> str:
    """A valid INSZ number; ``bis_offset`` 20 or 40 makes it a bis number."""
    base = f"{birth:%y}{birth.month + bis_offset:02d}{birth:%d}{serial:03d}"
    prefix = "2" if birth.year >= 2000 else ""
    return f"{base}{97 - int(prefix + base) % 97:02d}"


def person(number: str, nis_code: str, **fields: object) -> dict[str, str]:
    """One extract row with the required columns filled and any others given."""
    row: dict[str, str] = {
        "national_number": number,
        "last_name": "Testnaam",
        "first_name": "Testvoornaam",
        "birth_date": "1990-01-01",
        "nis_code": nis_code,
        "target_group": "obliged",
    }
    for name, value in fields.items():
        if isinstance(value, bool):
            row[name] = "true" if value else "false"
        elif value is None:
            row[name] = ""
        else:
            row[name] = str(value)
    GUARD.person(
        row.get(c)
        for c in ("national_number", "last_name", "first_name", "email", "phone", "street")
    )
    return row


def extract_text(rows: Iterable[Mapping[str, str]], columns: list[str] | None = None) -> str:
    names = columns or [c.name for c in COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_extract(
    path: Path, rows: Iterable[Mapping[str, str]], columns: list[str] | None = None
) -> Path:
    path.write_text(extract_text(rows, columns), encoding="utf-8")
    return path
