"""The synthetic KBI extract: every row must import cleanly, and the mix must look like AgII's."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from stdnum.be import bis, nn

from app.demo.synthetic import Municipality, generate_rows
from exchange.kbi_extract import COLUMNS, COLUMNS_BY_NAME, ColumnKind, RowValidator
from exchange.national_number import NumberKind, ParsedNumber, parse_national_number

TODAY = date(2026, 11, 23)
NAMES = [c.name for c in COLUMNS]
DATE_COLUMNS = [c.name for c in COLUMNS if c.kind is ColumnKind.DATE and c.name != "birth_date"]

SMALL = [
    Municipality("11002", "Antwerpen", "Antwerpen"),
    Municipality("44021", "Gent", "Oost-Vlaanderen"),
    Municipality("72020", "Lommel", "Limburg"),
    Municipality("12025", "Mechelen", "Antwerpen"),
    Municipality("24062", "Leuven", "Vlaams-Brabant"),
    Municipality("23077", "Sint-Pieters-Leeuw", "Vlaams-Brabant"),
    Municipality("31022", "Oostkamp", "West-Vlaanderen"),
    Municipality("45063", "Lierde", "Oost-Vlaanderen"),
]

THIRTY = [
    *SMALL,
    Municipality("11035", "Ranst", "Antwerpen"),
    Municipality("12021", "Lier", "Antwerpen"),
    Municipality("13014", "Hoogstraten", "Antwerpen"),
    Municipality("13040", "Turnhout", "Antwerpen"),
    Municipality("23002", "Asse", "Vlaams-Brabant"),
    Municipality("24007", "Begijnendijk", "Vlaams-Brabant"),
    Municipality("31005", "Brugge", "West-Vlaanderen"),
    Municipality("33041", "Vleteren", "West-Vlaanderen"),
    Municipality("34022", "Kortrijk", "West-Vlaanderen"),
    Municipality("35013", "Oostende", "West-Vlaanderen"),
    Municipality("36015", "Roeselare", "West-Vlaanderen"),
    Municipality("37022", "Tielt", "West-Vlaanderen"),
    Municipality("38014", "Koksijde", "West-Vlaanderen"),
    Municipality("41002", "Aalst", "Oost-Vlaanderen"),
    Municipality("42004", "Buggenhout", "Oost-Vlaanderen"),
    Municipality("44020", "Gavere", "Oost-Vlaanderen"),
    Municipality("46021", "Sint-Niklaas", "Oost-Vlaanderen"),
    Municipality("71016", "Genk", "Limburg"),
    Municipality("71034", "Leopoldsburg", "Limburg"),
    Municipality("71072", "Hasselt", "Limburg"),
    Municipality("72039", "Houthalen-Helchteren", "Limburg"),
    Municipality("73042", "Lanaken", "Limburg"),
]

REGIONS = {
    "Antwerpen": "antwerpen",
    "Limburg": "limburg",
    "Oost-Vlaanderen": "oost_vlaanderen",
    "Vlaams-Brabant": "vlaams_brabant",
    "West-Vlaanderen": "west_vlaanderen",
}
POSTAL_RANGES = {
    "Antwerpen": [(2000, 2999)],
    "Limburg": [(3500, 3999)],
    "Oost-Vlaanderen": [(9000, 9999)],
    "Vlaams-Brabant": [(1500, 1999), (3000, 3499)],
    "West-Vlaanderen": [(8000, 8999)],
}


@pytest.fixture(scope="module")
def large() -> list[dict[str, str]]:
    return list(generate_rows(20_000, 2026, THIRTY, TODAY))


def _sixteenth_birthday(birth: date) -> date:
    try:
        return birth.replace(year=birth.year + 16)
    except ValueError:
        return date(birth.year + 16, 3, 1)


def test_every_row_passes_the_import_validation() -> None:
    validator = RowValidator(
        nis_codes=frozenset(m.nis_code for m in SMALL), merged_nis_codes=frozenset(), today=TODAY
    )
    provinces = {m.nis_code: m.province_nl for m in SMALL}
    for line, row in enumerate(generate_rows(5_000, 11, SMALL, TODAY), start=2):
        assert list(row) == NAMES
        _, problems = validator.validate(line, row)
        assert problems == [], (line, problems)

        number, birth = row["national_number"], date.fromisoformat(row["birth_date"])
        parsed = parse_national_number(number, TODAY)
        assert isinstance(parsed, ParsedNumber)
        if parsed.kind is NumberKind.BIS:
            assert bis.is_valid(number)
            assert not nn.is_valid(number)
        else:
            assert nn.is_valid(number)
            assert not bis.is_valid(number)
        assert (parsed.birth_year, parsed.birth_month) == (birth.year, birth.month)
        assert nn.get_birth_date(number) == birth
        if row["sex"] in ("M", "F"):
            assert nn.get_gender(number) == row["sex"]

        floor = _sixteenth_birthday(birth)
        for column in DATE_COLUMNS:
            if row[column]:
                assert floor <= date.fromisoformat(row[column]) <= TODAY, (line, column)
        assert birth <= TODAY.replace(year=TODAY.year - 18)

        if row["obligation_since"]:
            assert row["target_group"] == "obliged"
        if row["diploma_recognition_result"]:
            assert row["diploma_recognition_referral"] == "true"
        if row["certificate_on"]:
            assert row["contract_signed_on"] < row["certificate_on"]
        if row["trajectory_type"]:
            assert row["contract_signed_on"]
            expected = "TT_IBVP" if row["target_group"] == "obliged" else "TT_IBRH"
            assert row["trajectory_type"] == expected
        if row["registered_on"]:
            assert row["registered_on"] >= "2015-01-01"
        if row["vdab_referral_on"]:
            assert row["contract_signed_on"] >= "2022-03-01"
            assert row["vdab_referral_on"] > row["contract_signed_on"]

        nis = row["nis_code"]
        if nis == "11002":
            assert row["kbi_region"] == "antwerpen_stad"
        elif nis == "44021":
            assert row["kbi_region"] == "gent_stad"
        else:
            assert row["kbi_region"] == REGIONS[provinces[nis]]
        if row["postal_code"]:
            code = int(row["postal_code"])
            assert any(lo <= code <= hi for lo, hi in POSTAL_RANGES[provinces[nis]])
            assert row["city"] == next(m.name_nl for m in SMALL if m.nis_code == nis)
        if row["email"]:
            assert row["email"].isascii()
            assert row["email"].rpartition("@")[2] in ("example.org", "example.com", "example.net")
        if row["phone"]:
            assert row["phone"][:4] == "+324"
            assert row["phone"][4] in "56789"
            assert len(row["phone"]) == 12
            assert row["phone"][1:].isdigit()


def test_same_seed_gives_the_same_rows() -> None:
    first = list(generate_rows(500, 7, SMALL, TODAY))
    assert first == list(generate_rows(500, 7, SMALL, TODAY))
    assert first != list(generate_rows(500, 8, SMALL, TODAY))


def test_shares_look_like_the_agency(large: list[dict[str, str]]) -> None:
    n = len(large)
    municipalities = Counter(r["nis_code"] for r in large)
    groups = Counter(r["target_group"] for r in large)
    bis_numbers = sum(int(r["national_number"][2:4]) > 12 for r in large)
    sexes = Counter(r["sex"] for r in large)

    assert 0.11 <= municipalities["11002"] / n <= 0.19
    assert 0.03 <= municipalities["44021"] / n <= 0.07
    assert set(municipalities) == {m.nis_code for m in THIRTY}
    assert 0.015 <= bis_numbers / n <= 0.05
    assert 0.45 <= groups["obliged"] / n <= 0.65
    assert 0.25 <= groups["entitled"] / n <= 0.45
    assert 0.05 <= groups["none"] / n <= 0.15
    assert 0.45 <= sexes["M"] / n <= 0.55
    assert 0.45 <= sexes["F"] / n <= 0.55
    assert any(r["birth_date"] >= "2000" for r in large)
    assert any(r["birth_date"] < "1960" for r in large)
    assert 0.07 <= sum(r["pilot_consent"] == "true" for r in large) / n <= 0.13
    assert len({r["nationality"] for r in large}) >= 20
    assert len({r["last_name"] for r in large}) >= 500


def test_enum_columns_use_only_allowed_values(large: list[dict[str, str]]) -> None:
    for column in COLUMNS:
        if column.values:
            assert {r[column.name] for r in large} <= {*column.values, ""}, column.name
    assert COLUMNS_BY_NAME["target_group"].required


def test_numbers_stay_unique_when_everyone_lives_in_one_town() -> None:
    one = [Municipality("72020", "Lommel", "Limburg")]
    rows = list(generate_rows(3_000, 3, one, TODAY))
    assert len({r["national_number"] for r in rows}) == len(rows)
    assert {r["nis_code"] for r in rows} == {"72020"}


def test_no_municipalities_is_refused() -> None:
    with pytest.raises(ValueError, match="municipalities"):
        list(generate_rows(1, 1, [], TODAY))
