"""Population and fields of every protocol on a small hand-made extract whose right answer is
written here, by hand, on SQLite and PostgreSQL. The extract goes in through `kbx kbi import`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.registry import load_registry
from app.settings import Settings
from exchange.periods import parse_period
from exchange.selection import SelectionRequest, build_count, build_selection
from tests.conftest import TODAY, Kbx
from tests.factories import national_number, person, write_extract

LOMMEL, GENT, MECHELEN = "72020", "44021", "12025"


def nn(day: int, *, year: int = 1990, bis: bool = False) -> str:
    """Distinct numbers per person: the birth day tells them apart in this file."""
    return national_number(date(year, 3, day), 101, bis_offset=40 if bis else 0)


# Each person: (label, row). Labels make the expected answers below readable.
PEOPLE = {
    # art20-municipal, Lommel: obliged or entitled, national register only.
    "A": person(
        nn(1),
        LOMMEL,
        target_group="obliged",
        contract_signed_on="2024-05-01",
        certificate_on="2025-06-01",
        obligation_since="2024-01-01",
        obligation_met_on="2025-06-01",
    ),
    "B": person(nn(2), LOMMEL, target_group="entitled"),
    "C": person(nn(3), LOMMEL, target_group="none", certificate_on="2026-03-01"),
    "D": person(nn(4, bis=True), LOMMEL, target_group="obliged", contract_signed_on="2023-01-10"),
    "E": person(nn(5), GENT, target_group="obliged", contract_signed_on="2022-02-28"),
    # vcmp-ceremony, Lommel: certificate in (today - N years, today]
    "G": person(
        nn(6),
        LOMMEL,
        target_group="entitled",
        contract_signed_on="2025-01-01",
        certificate_on="2026-03-01",
        street="Markt",
        house_number="1",
        postal_code="3920",
        city="Lommel",
        email="g@example.org",
        phone="+32470000001",
    ),
    "I": person(nn(7), LOMMEL, target_group="obliged", certificate_on="2025-11-23"),
    "J": person(nn(8), LOMMEL, target_group="obliged", certificate_on="2025-11-24"),
    "K": person(nn(9, bis=True), LOMMEL, target_group="obliged", certificate_on="2026-01-01"),
    "L": person(nn(10), GENT, target_group="obliged", certificate_on="2026-01-01"),
    "F": person(nn(11), LOMMEL, target_group="obliged", certificate_on="2024-11-23"),
    # vsb-care 2026: obliged on 1 January 2026 and not compliant then.
    "M": person(nn(12), GENT, obligation_since="2024-01-01"),
    "N": person(nn(13), GENT, obligation_since="2024-01-01", obligation_met_on="2025-12-31"),
    "O": person(nn(14), GENT, obligation_since="2024-01-01", obligation_met_on="2026-01-01"),
    "P": person(nn(15), GENT, obligation_since="2024-01-01", obligation_met_on="2026-01-02"),
    "Q": person(nn(16), GENT, obligation_since="2026-01-01"),
    "R": person(nn(17), GENT, obligation_since="2026-01-02"),
    "S": person(nn(18, bis=True), GENT, obligation_since="2023-05-05"),
    # vdab-pillar3: contract signed from 2022-03-01 (anywhere, bis numbers included).
    "V1": person(nn(19), GENT, contract_signed_on="2022-03-01"),
    "V2": person(nn(20, bis=True), MECHELEN, contract_signed_on="2023-07-07"),
    # mechelen-amif507: consent given, resident of Mechelen.
    "T": person(
        nn(21),
        MECHELEN,
        pilot_consent=True,
        contact_language="ar",
        nt2_level="A2",
        civic_orientation_status="completed",
    ),
    "U": person(nn(22), MECHELEN, pilot_consent=False),
    "W": person(nn(23), GENT, pilot_consent=True),
}
NUMBER = {label: row["national_number"] for label, row in PEOPLE.items()}


@pytest.fixture
def store(kbx: Kbx, engine: Engine, tmp_path: Path) -> Engine:
    path = write_extract(tmp_path / "extract.csv", PEOPLE.values())
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 0, result.output
    assert f"imported {len(PEOPLE)} integrees" in result.output
    return engine


def select_rows(
    engine: Engine, protocol: str, recipient: str, period: str, lookback: int | None = None
) -> tuple[list[str], list[tuple[object, ...]]]:
    definition = load_registry(Settings().protocols_dir).get(protocol)
    assert definition is not None
    parsed = parse_period(period)
    assert parsed is not None
    request = SelectionRequest(recipient, parsed, TODAY, lookback)
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(
            build_selection(definition, request)
        )
        columns = list(result.keys())
        rows = [tuple(r) for r in result]
        count = connection.execute(build_count(definition, request)).scalar_one()
    assert count == len(rows)
    return columns, rows


def labels(rows: list[tuple[object, ...]], column: int = 0) -> set[str]:
    by_number = {v: k for k, v in NUMBER.items()}
    return {by_number[str(r[column])] for r in rows}


def test_art20_municipal(store: Engine) -> None:
    columns, rows = select_rows(store, "art20-municipal", LOMMEL, "2026")
    assert columns == ["national_number", "contract_signed", "certificate_obtained"]
    # C: target group none; D, K: bis numbers; E, L: Gent. I, J, F: obliged, no contract.
    assert sorted(rows) == sorted(
        [
            (NUMBER["A"], True, True),
            (NUMBER["B"], False, False),
            (NUMBER["G"], True, True),
            (NUMBER["I"], False, True),
            (NUMBER["J"], False, True),
            (NUMBER["F"], False, True),
        ]
    )


def test_vcmp_ceremony_one_year(store: Engine) -> None:
    columns, rows = select_rows(store, "vcmp-ceremony", LOMMEL, "2026", lookback=1)
    assert columns == [
        "national_number",
        "last_name",
        "first_name",
        "street",
        "house_number",
        "postal_code",
        "city",
        "email",
        "phone",
        "certificate_on",
    ]
    # today = 2026-11-23: after 2025-11-23, up to today. I (exactly one year) is out, K is bis.
    assert labels(rows) == {"C", "G", "J"}
    g = next(r for r in rows if r[0] == NUMBER["G"])
    assert g[1:] == (
        "Testnaam",
        "Testvoornaam",
        "Markt",
        "1",
        "3920",
        "Lommel",
        "g@example.org",
        "+32470000001",
        date(2026, 3, 1),
    )


def test_vcmp_ceremony_two_years(store: Engine) -> None:
    _, rows = select_rows(store, "vcmp-ceremony", LOMMEL, "2026", lookback=2)
    # F got it exactly two years ago: out. A (2025-06-01) and I (2025-11-23) come in.
    assert labels(rows) == {"A", "C", "G", "I", "J"}


def test_vsb_care(store: Engine) -> None:
    columns, rows = select_rows(store, "vsb-care", "vsb", "2026")
    assert columns == ["national_number"]
    # A met it in 2025; N met it the day before; O on 1 January itself; R only later obliged.
    assert labels(rows) == {"M", "P", "Q", "S"}


def test_vdab_pillar3(store: Engine) -> None:
    columns, rows = select_rows(store, "vdab-pillar3", "vdab", "2026-H2")
    assert columns == ["national_number"]
    # E signed on 2022-02-28: one day too early. Bis numbers are INSZ numbers too (D, V2).
    assert labels(rows) == {"A", "D", "G", "V1", "V2"}


def test_mechelen_amif507(store: Engine) -> None:
    columns, rows = select_rows(store, "mechelen-amif507", MECHELEN, "2022")
    assert columns == [
        "last_name",
        "first_name",
        "street",
        "house_number",
        "postal_code",
        "city",
        "phone",
        "email",
        "contact_language",
        "nt2_level",
        "civic_orientation_status",
    ]
    assert rows == [
        ("Testnaam", "Testvoornaam", None, None, None, None, None, None, "ar", "A2", "completed")
    ]


def test_preview_prints_count_and_columns_never_rows(kbx: Kbx, store: Engine) -> None:
    result = kbx("preview", "art20-municipal", "--recipient", LOMMEL, "--period", "2026")
    assert result.exit_code == 0, result.output
    assert "6 rij(en)" in result.output
    assert "national_number, contract_signed, certificate_obtained" in result.output
    assert not any(number in result.output for number in NUMBER.values())
    wrong = kbx("preview", "vdab-pillar3", "--recipient", "vdab", "--period", "2026")
    assert wrong.exit_code == 2
    assert wrong.output == "kbx: periode '2026' past niet bij vdab-pillar3 (half_year)\n"
