"""The VSB individual check as a pure rule (seed 002, art. 3, gegeven 3 and 4): NOK exactly when
the person is under the integration obligation and does not meet it on the date; a hand-made
table around the 1 January boundary."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.obligation import (
    NOK_REASONS,
    Check,
    ObligationFacts,
    Outcome,
    check_obligation,
    in_scope,
    obliged_and_not_compliant,
)

D = date
NEW_YEAR = D(2026, 1, 1)
NEW_YEARS_EVE = D(2025, 12, 31)

# (why, obligation_since, obligation_met_on, day, expected)
TABLE = [
    # not obliged at all
    ("never obliged", None, None, NEW_YEAR, "OK"),
    ("never obliged, odd met date", None, D(2024, 5, 1), NEW_YEAR, "OK"),
    # obliged, not met
    ("obliged long before, never met", D(2023, 4, 1), None, NEW_YEAR, "NOK"),
    ("obliged since 1 January, asked on 1 January", NEW_YEAR, None, NEW_YEAR, "NOK"),
    ("obliged since 1 January, asked on 31 December", NEW_YEAR, None, NEW_YEARS_EVE, "OK"),
    ("obliged since 31 December, asked on 31 December", NEW_YEARS_EVE, None, NEW_YEARS_EVE, "NOK"),
    ("obliged since 31 December, asked on 1 January", NEW_YEARS_EVE, None, NEW_YEAR, "NOK"),
    ("obliged since 2 January, asked on 1 January", D(2026, 1, 2), None, NEW_YEAR, "OK"),
    # obliged and met
    ("met on 1 January, asked on 1 January", D(2023, 4, 1), NEW_YEAR, NEW_YEAR, "OK"),
    ("met on 1 January, asked on 31 December", D(2023, 4, 1), NEW_YEAR, NEW_YEARS_EVE, "NOK"),
    ("met on 31 December, asked on 1 January", D(2023, 4, 1), NEW_YEARS_EVE, NEW_YEAR, "OK"),
    ("met on 31 December, asked on 31 December", D(2023, 4, 1), NEW_YEARS_EVE, NEW_YEARS_EVE, "OK"),
    (
        "met on 30 December, asked on 31 December",
        D(2023, 4, 1),
        D(2025, 12, 30),
        NEW_YEARS_EVE,
        "OK",
    ),
    ("met on 2 January, asked on 1 January", D(2023, 4, 1), D(2026, 1, 2), NEW_YEAR, "NOK"),
    ("met later in the year, asked on 1 January", D(2023, 4, 1), D(2026, 6, 30), NEW_YEAR, "NOK"),
    ("met years ago", D(2022, 3, 1), D(2024, 2, 29), NEW_YEAR, "OK"),
    ("obliged and met on the same day, asked that day", NEW_YEAR, NEW_YEAR, NEW_YEAR, "OK"),
    (
        "obliged and met on the same day, asked the day before",
        NEW_YEAR,
        NEW_YEAR,
        NEW_YEARS_EVE,
        "OK",
    ),
    # a date before the obligation began, even though it was later met
    ("asked before the obligation began", D(2026, 3, 1), D(2027, 1, 5), NEW_YEAR, "OK"),
    # leap days
    ("obliged on 29 February, asked on 28 February", D(2024, 2, 29), None, D(2024, 2, 28), "OK"),
    ("obliged on 29 February, asked on 29 February", D(2024, 2, 29), None, D(2024, 2, 29), "NOK"),
    ("met on 29 February, asked on 1 March", D(2023, 1, 1), D(2024, 2, 29), D(2024, 3, 1), "OK"),
]


@pytest.mark.parametrize(
    ("why", "since", "met", "day", "expected"), TABLE, ids=[t[0] for t in TABLE]
)
def test_the_table(
    why: str, since: date | None, met: date | None, day: date, expected: str
) -> None:
    answer = check_obligation(ObligationFacts(since, met), day)
    assert answer.outcome == Outcome(expected), why
    assert obliged_and_not_compliant(ObligationFacts(since, met), day) == (expected == "NOK")
    if expected == "NOK":
        assert answer == Check(Outcome.NOK, NOK_REASONS["contract.not_signed"])
        assert answer.is_nok
    else:
        assert answer == Check(Outcome.OK, None), "an OK never carries a reason"


def test_a_person_kbi_does_not_know_is_not_obliged() -> None:
    for day in (NEW_YEARS_EVE, NEW_YEAR, D(2022, 1, 1)):
        assert check_obligation(None, day) == Check(Outcome.OK)


# (why, contract_signed_on, certificate_on, obligation_met_on, expected reason code), all obliged
# since 2023-04-01 and asked on NEW_YEAR.
REASONS = [
    ("no contract at all", None, None, None, "contract.not_signed"),
    ("contract signed the day after", D(2026, 1, 2), None, None, "contract.not_signed"),
    ("contract signed that day, no certificate", NEW_YEAR, None, None, "certificate.not_obtained"),
    ("contract, certificate later", D(2024, 1, 1), D(2026, 1, 2), None, "certificate.not_obtained"),
    ("contract and certificate, not met", D(2024, 1, 1), NEW_YEAR, None, "obligation.not_met"),
    (
        "contract and certificate, met later",
        D(2024, 1, 1),
        D(2025, 6, 1),
        D(2026, 2, 1),
        "obligation.not_met",
    ),
]


@pytest.mark.parametrize(
    ("why", "contract", "certificate", "met", "code"), REASONS, ids=[r[0] for r in REASONS]
)
def test_the_nok_reason_says_why(
    why: str, contract: date | None, certificate: date | None, met: date | None, code: str
) -> None:
    facts = ObligationFacts(D(2023, 4, 1), met, contract, certificate)
    answer = check_obligation(facts, NEW_YEAR)
    assert answer.outcome is Outcome.NOK, why
    assert answer.reason is not None
    assert answer.reason.code == code, why
    assert answer.reason_nl == NOK_REASONS[code].nl


def test_the_reasons_in_dutch_and_english() -> None:
    assert NOK_REASONS["contract.not_signed"].nl == (
        "Valt op de gevraagde datum onder de inburgeringsplicht en heeft op die datum geen "
        "inburgeringscontract ondertekend."
    )
    assert NOK_REASONS["certificate.not_obtained"].nl == (
        "Valt op de gevraagde datum onder de inburgeringsplicht; het inburgeringscontract is "
        "ondertekend, maar op die datum is geen attest van inburgering behaald."
    )
    assert NOK_REASONS["obligation.not_met"].en == (
        "Under the integration obligation on the date asked; the certificate of integration "
        "was obtained, but the whole integration obligation was not yet met by that date."
    )


def test_the_scope_begins_on_1_january_2022() -> None:
    assert not in_scope(D(2021, 12, 31))
    assert in_scope(D(2022, 1, 1))


def test_the_reason_is_a_fixed_text_without_facts_of_the_person() -> None:
    answers = {
        check_obligation(ObligationFacts(since, met), day).reason_nl
        for _, since, met, day, expected in TABLE
        if expected == "NOK"
    }
    assert answers == {NOK_REASONS["contract.not_signed"].nl}
    for reason in NOK_REASONS.values():
        assert "inburgeringsplicht" in reason.nl
        assert not any(ch.isdigit() for ch in reason.nl + reason.en)
