"""`kbx kbi import`: all or nothing, problems named by line, column and rule, never by value."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from exchange.kbi_extract import COLUMNS
from exchange.models import Integree
from exchange.selection import column_of
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
    assert "kbx: extract.csv geweigerd: 1 probleem; er werd niets geschreven\n" in result.stderr
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
    assert missing.stderr.endswith("nope.csv: bestand bestaat niet\n")


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


def number_with_unknown_birth_date(prefix: str, serial: int) -> str:
    """A valid national number whose date part ``prefix`` (YYMMDD) says the date is unknown."""
    base = f"{prefix}{serial:03d}"
    return f"{base}{97 - int(base) % 97:02d}"


def test_a_birth_date_the_national_number_says_is_unknown_is_stored_as_unknown(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    unknown = {
        number_with_unknown_birth_date("850000", 11): "",  # YY0000: day and month unknown
        number_with_unknown_birth_date("790300", 13): "1979-03-00",  # day 00
        number_with_unknown_birth_date("920000", 15): "1992",
        number_with_unknown_birth_date("884000", 17): "1988-00-00",  # a bis number, month 40
        number_with_unknown_birth_date("770500", 19): "1977-05",
    }
    known = national_number(date(1979, 2, 3), 21)
    rows = [person(number, LOMMEL, birth_date=text) for number, text in unknown.items()]
    rows.append(person(known, LOMMEL, birth_date="1979-02-03"))
    result = kbx("kbi", "import", str(write_extract(tmp_path / "extract.csv", rows)))
    assert result.exit_code == 0, result.output
    assert "imported 6 integrees" in result.stdout
    with engine.connect() as connection:
        stored = {
            r[0]: r[1]
            for r in connection.execute(select(Integree.national_number, Integree.birth_date))
        }
        ages = {
            r[0]: r[1]
            for r in connection.execute(
                select(Integree.national_number, column_of("age_category", date(2026, 6, 30)))
            )
        }
    assert stored == {**dict.fromkeys(unknown), known: date(1979, 2, 3)}
    # An unknown birth date is an unknown age category, never "55+".
    assert ages == {**dict.fromkeys(unknown), known: "45-54"}


def test_a_missing_or_partial_birth_date_is_refused_when_the_number_knows_it(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    rows = [
        person(national_number(date(1985, 3, 4), 11), LOMMEL, birth_date=""),
        person(national_number(date(1985, 3, 4), 13), LOMMEL, birth_date="1985-03"),
        person(national_number(date(1985, 3, 4), 15), LOMMEL, birth_date="1985-03-00"),
        person(number_with_unknown_birth_date("850000", 17), LOMMEL, birth_date="1985-13-00"),
    ]
    result = kbx("kbi", "import", str(write_extract(tmp_path / "extract.csv", rows)))
    assert result.exit_code == 2
    problems = [line.split(": ", 2)[2] for line in result.stderr.splitlines() if ": line " in line]
    assert problems == [
        "line 2, column birth_date: required",
        "line 3, column birth_date: date.format",
        "line 4, column birth_date: date.impossible",
        "line 5, column birth_date: date.impossible",
    ]
    assert store_numbers(engine) == set()


def test_dates_before_1_march_1900_are_refused_per_row(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    rows = good_rows(4)
    rows[0]["certificate_on"] = "1899-12-31"
    rows[1]["contract_signed_on"] = "1900-02-28"  # Excel's 1900 system is a day off up to here
    rows[2]["registered_on"] = "1900-03-01"  # the first day Excel writes right: accepted
    rows[3]["birth_date"] = "1900-01-01"
    result = kbx("kbi", "import", str(write_extract(tmp_path / "extract.csv", rows)))
    assert result.exit_code == 2
    problems = [line.split(": ", 2)[2] for line in result.stderr.splitlines() if ": line " in line]
    assert problems == [
        "line 2, column certificate_on: date.before_1900",
        "line 3, column contract_signed_on: date.before_1900",
        "line 5, column birth_date: date.before_1900",
    ]
    assert "kbx: extract.csv geweigerd: 3 problemen; er werd niets geschreven\n" in result.stderr


def test_blank_rows_and_rows_of_bare_separators_are_skipped_and_counted(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    rows = good_rows(3)
    lines = extract_text(rows).splitlines()
    separators = "," * (len(COLUMNS) - 1)
    # Excel leaves bare separators where rows were deleted; editors add empty lines at the end.
    text = "\r\n".join([*lines[:2], separators, *lines[2:], separators, "", ""]) + "\r\n"
    path = tmp_path / "extract.csv"
    path.write_text(text, encoding="utf-8")
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 3 integrees" in result.stdout
    assert result.stdout.rstrip().endswith("; 4 blank row(s) skipped")
    assert store_numbers(engine) == {r["national_number"] for r in rows}

    as_json = kbx("kbi", "import", str(path), "--json")
    assert as_json.exit_code == 0, as_json.output
    summary = json.loads(as_json.stdout)
    assert (summary["file"], summary["rows"], summary["blank_rows_skipped"]) == (
        "extract.csv",
        3,
        4,
    )

    # A row after a blank one keeps its own line number in a report.
    rows[2]["nis_code"] = "99999"
    lines = extract_text(rows).splitlines()
    path.write_text("\n".join([*lines[:2], separators, "", *lines[2:]]) + "\n", encoding="utf-8")
    refused = kbx("kbi", "import", str(path))
    assert refused.exit_code == 2
    assert "line 6, column nis_code: nis_code.unknown" in refused.stderr
    refused = kbx("kbi", "import", str(path), "--json")
    assert refused.exit_code == 2
    assert json.loads(refused.stdout) == {
        "file": "extract.csv",
        "refused": True,
        "problems_total": 1,
        "problems": [{"line": 6, "column": "nis_code", "rule": "nis_code.unknown"}],
    }


def test_a_byte_that_is_not_utf8_is_reported_at_its_own_line(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    rows = good_rows(2000)
    lines = extract_text(rows).encode().split(b"\n")
    # Line 5 holds a name saved by Excel as cp1252 ("Dupré"), the rest is UTF-8.
    lines[4] = lines[4].replace(b"Naam3", "Dupr\u00e9".encode("cp1252"))
    path = tmp_path / "cp1252.csv"
    path.write_bytes(b"\n".join(lines))
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 2
    assert "cp1252.csv: line 5, column (file): file.not_utf8" in result.stderr
    assert "save it as CSV UTF-8 (comma delimited)" in result.stderr
    assert "Dupr" not in result.output


def test_a_semicolon_separated_file_gets_one_line_that_says_so(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    before = good_rows(2, start=300)
    assert kbx("kbi", "import", str(write_extract(tmp_path / "first.csv", before))).exit_code == 0
    path = tmp_path / "excel.csv"
    # Belgian Excel's "CSV (gescheiden door lijstscheidingsteken)", with its byte-order mark.
    path.write_text("\ufeff" + extract_text(good_rows(3)).replace(",", ";"), encoding="utf-8")
    result = kbx("kbi", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr == (
        "kbx: excel.csv gebruikt ';' als scheidingsteken: sla op als CSV UTF-8 "
        "(door komma's gescheiden) [kbi.semicolon_separated]\n"
    )
    assert result.stdout == ""
    assert store_numbers(engine) == {r["national_number"] for r in before}
