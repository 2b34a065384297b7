"""`kbx kbi import`: all or nothing, problems named by line, column and rule, never by value."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from exchange.kbi_extract import COLUMNS
from exchange.models import Integree
from tests.conftest import Kbx
from tests.factories import extract_text, national_number, person, write_extract

LOMMEL = "72020"


def good_rows(n: int, start: int = 0) -> list[dict[str, str]]:
    rows = []
    for i in range(start, start + n):
        birth = date(1970, 1, 1) + timedelta(days=i // 900)
        rows.append(
            person(
                national_number(birth, 1 + i % 900),
                LOMMEL,
                last_name=f"Naam{i}",
                birth_date=birth.isoformat(),
            )
        )
    return rows


def store_numbers(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(Integree.national_number)))


def test_one_bad_check_digit_among_10000_refuses_the_whole_file(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    before = good_rows(3, start=50_000)
    assert kbx("kbi", "import", str(write_extract(tmp_path / "first.csv", before))).exit_code == 0

    rows = good_rows(10_000)
    bad = rows[6_789]
    number = bad["national_number"]
    bad["national_number"] = number[:9] + f"{(int(number[9:]) + 1) % 100:02d}"
    result = kbx("kbi", "import", str(write_extract(tmp_path / "extract.csv", rows)))

    assert result.exit_code == 2
    # Header is line 1, so row index 6789 is on line 6791.
    assert "line 6791, column national_number: national_number.checksum" in result.stderr
    assert "nothing was written" in result.stderr
    assert bad["national_number"] not in result.output
    assert bad["last_name"] not in result.output
    assert store_numbers(engine) == {r["national_number"] for r in before}


def test_every_problem_named_by_line_column_and_rule(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    rows = good_rows(8)
    rows[0]["nis_code"] = "99999"  # no such municipality
    rows[1]["nis_code"] = "11056"  # Zwijndrecht: merged into Beveren-Kruibeke-Zwijndrecht in 2025
    rows[2]["birth_date"] = "1990-02-30"
    rows[3]["target_group"] = "verplicht"
    rows[4]["certificate_on"] = "12/03/2024"
    rows[5]["pilot_consent"] = "ja"
    rows[6]["national_number"] = rows[7]["national_number"]
    rows[7]["last_name"] = ""
    result = kbx("kbi", "import", str(write_extract(tmp_path / "extract.csv", rows)))
    assert result.exit_code == 2
    problems = [line for line in result.stderr.splitlines() if ": line " in line]
    assert [p.split(": ", 2)[2] for p in problems] == [
        "line 2, column nis_code: nis_code.unknown",
        "line 3, column nis_code: nis_code.merged",
        "line 4, column birth_date: date.impossible",
        "line 5, column target_group: enum.unknown_value",
        "line 6, column certificate_on: date.format",
        "line 7, column pilot_consent: boolean.format",
        "line 9, column last_name: required",
        "line 9, column national_number: duplicate_of_line_8",
    ]
    assert "verplicht" not in result.output
    assert "1990-02-30" not in result.output
    assert store_numbers(engine) == set()


def test_unknown_and_missing_columns_refuse_the_file(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "extract.csv"
    path.write_text("national_number,last_name,first_name,birth_date,target_group,shoe_size\n")
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 2
    assert "line 1, column shoe_size: header.unknown_column" in result.stderr
    assert "line 1, column nis_code: header.missing_column" in result.stderr


def test_optional_columns_may_be_absent_and_import_as_unknown(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    required = [
        "national_number",
        "last_name",
        "first_name",
        "birth_date",
        "nis_code",
        "target_group",
    ]
    rows = [{k: v for k, v in r.items() if k in required} for r in good_rows(2)]
    path = tmp_path / "minimal.csv"
    # A byte-order mark, as Excel writes it, is accepted.
    path.write_text("\ufeff" + extract_text(rows, required), encoding="utf-8")
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 0, result.output
    with engine.connect() as connection:
        person_row = connection.execute(select(Integree)).first()
    assert person_row is not None
    assert person_row.contract_signed_on is None
    assert person_row.pilot_consent is None
    assert person_row.number_kind == "nn"


def test_reimport_replaces_the_store(kbx: Kbx, engine: Engine, tmp_path: Path) -> None:
    first, second = good_rows(5), good_rows(4, start=100)
    assert kbx("kbi", "import", str(write_extract(tmp_path / "a.csv", first))).exit_code == 0
    assert kbx("kbi", "import", str(write_extract(tmp_path / "b.csv", second))).exit_code == 0
    assert store_numbers(engine) == {r["national_number"] for r in second}
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Integree)) == 4


def test_not_a_csv_or_not_utf8(kbx: Kbx, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    header = ",".join(c.name for c in COLUMNS).encode()
    path.write_bytes(header + b"\n" + "Dupr\u00e9".encode("latin-1") + b"\n")
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 2
    assert "file.not_utf8" in result.stderr
    missing = kbx("kbi", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr


def test_the_format_document_lists_every_column() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "kbi-extract.md").read_text(encoding="utf-8")
    for column in COLUMNS:
        assert f"| `{column.name}` |" in doc
        for value in column.values:
            assert f"`{value}`" in doc


def test_a_file_without_its_header_line_does_not_echo_the_first_person(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    first = person(national_number(date(1988, 2, 3), 17), "72020", last_name="Okafor")
    text = extract_text([first]).split("\n", 1)[1]  # the header line is missing
    path = tmp_path / "headless.csv"
    path.write_text(text, encoding="utf-8")
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 2
    assert "header.unknown_column" in result.output
    assert "(column 1)" in result.output
    assert first["national_number"] not in result.output
    assert "Okafor" not in result.output
