from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.be import bis, nn

from exchange.national_number import (
    NumberKind,
    NumberProblem,
    ParsedNumber,
    parse_national_number,
)
from tests.factories import national_number

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("85073003328", NumberKind.NATIONAL_REGISTER),  # stdnum's own example
        ("17073003384", NumberKind.NATIONAL_REGISTER),  # born 2017: the 2000 rule
        ("98472899765", NumberKind.BIS),  # month + 40
        ("01490700185", NumberKind.BIS),  # born 2001, month + 40
    ],
)
def test_known_numbers(number: str, expected: NumberKind) -> None:
    parsed = parse_national_number(number, TODAY)
    assert isinstance(parsed, ParsedNumber)
    assert parsed.kind is expected


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("85073003329", NumberProblem.CHECKSUM),
        ("8507300332", NumberProblem.FORMAT),
        ("85O73003328", NumberProblem.FORMAT),
        ("00000000000", NumberProblem.FORMAT),
        ("８５０７３００３３２８", NumberProblem.FORMAT),  # full-width digits are not digits here
    ],
)
def test_broken_numbers(number: str, problem: NumberProblem) -> None:
    assert parse_national_number(number, TODAY) is problem


def test_month_out_of_every_range_is_refused_even_with_good_check_digits() -> None:
    base = "851330033"  # month 13
    number = f"{base}{97 - int(base) % 97:02d}"
    assert parse_national_number(number, TODAY) is NumberProblem.MONTH


def test_2000_rule_applies_only_to_years_that_have_begun() -> None:
    # Check digits computed with the 2000 rule for "born 2030" are not valid in 2026.
    base = "300101001"
    number = f"{base}{97 - int('2' + base) % 97:02d}"
    assert parse_national_number(number, TODAY) is NumberProblem.CHECKSUM
    assert isinstance(parse_national_number(number, date(2031, 1, 1)), ParsedNumber)


def test_factory_numbers_classify_as_intended() -> None:
    for birth in (date(1975, 2, 28), date(2004, 12, 31)):
        for offset, kind in (
            (0, NumberKind.NATIONAL_REGISTER),
            (20, NumberKind.BIS),
            (40, NumberKind.BIS),
        ):
            parsed = parse_national_number(national_number(birth, 123, bis_offset=offset), TODAY)
            assert isinstance(parsed, ParsedNumber)
            assert parsed.kind is kind
            assert parsed.birth_year == birth.year


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"[0-9]{11}", fullmatch=True),
        st.builds(
            lambda yy, mm, dd, serial, modern: (
                lambda base: base + f"{97 - int(('2' if modern else '') + base) % 97:02d}"
            )(f"{yy:02d}{mm:02d}{dd:02d}{serial:03d}"),
            st.integers(0, 99),
            st.sampled_from([0, 1, 6, 12, 13, 19, 20, 26, 32, 33, 40, 47, 52, 53, 60]),
            st.integers(0, 35),
            st.integers(0, 999),
            st.booleans(),
        ),
    )
)
def test_agrees_with_python_stdnum(number: str) -> None:
    """python-stdnum is the oracle: same verdict, same classification (it reads today's date,
    so this runs with the real date too)."""
    parsed = parse_national_number(number, date.today())  # noqa: DTZ011 - stdnum uses it
    oracle_nn, oracle_bis = nn.is_valid(number), bis.is_valid(number)
    assert isinstance(parsed, ParsedNumber) == (oracle_nn or oracle_bis)
    if isinstance(parsed, ParsedNumber):
        assert (parsed.kind is NumberKind.BIS) == oracle_bis
