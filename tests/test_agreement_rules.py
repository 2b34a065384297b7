"""Agreements with a lifecycle, as the policy engine reads them (seed 000 art. 8 and 12; seed 003
Besluit and rn. 42; seed 004 art. 12). Pure: no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from exchange.agreements import (
    Agreement,
    AgreementState,
    Cadence,
    EndKind,
    Transition,
    TransitionProblem,
    add_months,
    check_transition,
    transition_updates,
)
from exchange.policy import RecipientFacts
from exchange.protocols import RecipientRequirement
from tests.test_policy import ACCEDE, GENT, LOMMEL, MECHELEN, REGISTRY, SIGN, recipient, rules, run

ART20, VCMP, MECHELEN_P = "art20-municipal", "vcmp-ceremony", "mechelen-amif507"
GENT_SIGNED = Agreement(ART20, SIGN, date(2024, 4, 10), date(2024, 2, 1))
GENT_ACCEDED = Agreement(VCMP, ACCEDE, date(2025, 1, 10), cadence=Cadence.YEARLY)


def _applied(a: Agreement, transition: Transition, on: date, **kw: str) -> Agreement:
    definition = REGISTRY.get(a.protocol_id)
    assert definition is not None
    months = definition.validity.notice_months
    check_transition(a, transition, on, on, months)
    updates = transition_updates(transition, on, months, kw.get("reason"), kw.get("article"))
    fields = {
        k: (EndKind(v) if k == "end_kind" and isinstance(v, str) else v)
        for k, v in updates.items()
        if k in Agreement.__dataclass_fields__
    }
    return replace(a, **fields)  # type: ignore[arg-type]


def test_no_art20_list_before_the_signature_date() -> None:
    # Lommel signed on 2024-04-10 a protocol in force from 2024-02-01 (seed 000 art. 12).
    assert rules(ART20, recipient(LOMMEL), "2024", "sftp_drop", today=date(2024, 3, 1)) == [
        "recipient.not_yet_signed"
    ]
    assert rules(ART20, recipient(LOMMEL), "2024", "sftp_drop", today=date(2024, 4, 10)) == []
    gent = recipient(GENT, GENT_SIGNED)
    assert rules(ART20, gent, "2024", "sftp_drop", today=date(2024, 3, 1)) == [
        "recipient.not_yet_signed"
    ]


def test_notice_ends_an_art20_protocol_twelve_months_later() -> None:
    noticed = _applied(GENT_SIGNED, Transition.NOTICE, date(2026, 3, 1))
    assert noticed.ends_on == date(2027, 3, 1)
    assert noticed.state_on(date(2027, 2, 28)) is AgreementState.NOTICE_GIVEN
    assert noticed.state_on(date(2027, 3, 1)) is AgreementState.ENDED
    assert rules(ART20, recipient(GENT, noticed), "2026", "sftp_drop") == []
    assert rules(ART20, recipient(GENT, noticed), "2027", "sftp_drop", today=date(2027, 3, 1)) == [
        "agreement.ended"
    ]


def test_notice_of_the_mechelen_protocol_is_three_months() -> None:
    definition = REGISTRY.get(MECHELEN_P)
    assert definition is not None
    assert definition.validity.notice_months == 3  # seed 004 art. 12
    signed = Agreement(MECHELEN_P, SIGN, date(2021, 7, 1), date(2021, 7, 1))
    noticed = _applied(signed, Transition.NOTICE, date(2021, 11, 30))
    assert noticed.ends_on == date(2022, 2, 28)
    assert rules(
        MECHELEN_P, recipient(MECHELEN, noticed), "2022", "sftp_drop", today=date(2022, 3, 1)
    ) == ["agreement.ended"]


def test_suspended_then_resumed_allows_again() -> None:
    suspended = _applied(
        GENT_SIGNED,
        Transition.SUSPEND,
        date(2026, 5, 4),
        reason="datalek gemeld",
        article="Art. 8",
    )
    assert rules(ART20, recipient(GENT, suspended), "2026", "sftp_drop") == ["agreement.suspended"]
    resumed = _applied(suspended, Transition.RESUME, date(2026, 6, 1), reason="ok", article="8")
    assert resumed.state_on(date(2026, 11, 23)) is AgreementState.IN_FORCE
    assert rules(ART20, recipient(GENT, resumed), "2026", "sftp_drop") == []


def test_ended_at_once_under_art_8() -> None:
    ended = _applied(
        GENT_SIGNED, Transition.END, date(2026, 9, 1), reason="inbreuk", article="Art. 8"
    )
    assert rules(ART20, recipient(GENT, ended), "2026", "sftp_drop") == ["agreement.ended"]
    with pytest.raises(TransitionProblem) as problem:
        check_transition(ended, Transition.SUSPEND, date(2026, 9, 2), date(2026, 11, 23), 12)
    assert problem.value.code == "agreement.ended"


def test_a_signature_ended_before_its_entry_into_force_gives_both_reasons() -> None:
    # Signed 01.10.2026 for an entry into force on 01.12.2026, ended on 30.11.2026: "wait a
    # day" would be wrong; the refusal names the end as well.
    later = Agreement(ART20, SIGN, date(2026, 10, 1), date(2026, 12, 1))
    ended = _applied(later, Transition.END, date(2026, 11, 30), reason="inbreuk", article="Art. 8")
    assert rules(ART20, recipient(GENT, ended), "2026", "sftp_drop", today=date(2026, 11, 30)) == [
        "recipient.signature_not_in_force",
        "agreement.ended",
    ]


def test_a_withdrawn_accession_allows_nothing() -> None:
    withdrawn = _applied(GENT_ACCEDED, Transition.WITHDRAW, date(2026, 2, 1))
    assert withdrawn.state_on(date(2026, 2, 1)) is AgreementState.WITHDRAWN
    assert rules(VCMP, recipient(GENT, withdrawn), "2026", "zivver") == ["accession.withdrawn"]


def test_an_accession_dated_before_the_deliberation_is_not_valid() -> None:
    early = Agreement(VCMP, ACCEDE, date(2024, 6, 1), cadence=Cadence.YEARLY)
    assert rules(VCMP, recipient(GENT, early), "2026", "zivver") == [
        "accession.before_deliberation"
    ]


def test_an_inactive_recipient_gets_nothing() -> None:
    inactive = RecipientFacts(LOMMEL, "municipality", (), active=False)
    assert rules(ART20, inactive, "2026", "sftp_drop") == ["recipient.inactive"]


def test_notice_only_where_the_protocol_has_a_notice_period() -> None:
    with pytest.raises(TransitionProblem) as problem:
        check_transition(GENT_ACCEDED, Transition.NOTICE, date(2026, 1, 5), date(2026, 1, 5), None)
    assert problem.value.code == "agreement.no_notice_period"
    with pytest.raises(TransitionProblem) as problem:
        check_transition(GENT_SIGNED, Transition.WITHDRAW, date(2026, 1, 5), date(2026, 1, 5), 12)
    assert problem.value.code == "agreement.not_accession"
    with pytest.raises(TransitionProblem) as problem:
        check_transition(GENT_SIGNED, Transition.RESUME, date(2026, 1, 5), date(2026, 1, 5), 12)
    assert problem.value.code == "agreement.not_suspended"
    with pytest.raises(TransitionProblem) as problem:
        check_transition(GENT_SIGNED, Transition.NOTICE, date(2026, 1, 6), date(2026, 1, 5), 12)
    assert problem.value.code == "agreement.future_date"


def test_months_are_calendar_months() -> None:
    assert add_months(date(2026, 3, 1), 12) == date(2027, 3, 1)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


class TestCeremonyCadence:
    """Seed 003 rn. 42: yearly -> the last year; two-yearly -> the last two years, then no list
    the next year."""

    yearly = recipient(GENT, GENT_ACCEDED)
    two_yearly = recipient(GENT, replace(GENT_ACCEDED, cadence=Cadence.TWO_YEARLY))

    def test_the_look_back_follows_the_declared_cadence(self) -> None:
        assert rules(VCMP, self.yearly, "2026", "zivver") == []
        assert rules(VCMP, self.yearly, "2026", "zivver", lookback=2) == ["lookback.not_cadence"]
        assert rules(VCMP, self.two_yearly, "2026", "zivver", lookback=1) == [
            "lookback.not_cadence"
        ]
        assert rules(VCMP, self.two_yearly, "2026", "zivver", lookback=2) == []

    def test_two_yearly_skips_the_year_after_a_list(self) -> None:
        history = (run(VCMP, GENT, "2025", "key_sent"),)
        assert rules(VCMP, self.two_yearly, "2026", "zivver", history=history) == [
            "frequency.two_yearly_cadence"
        ]
        assert rules(VCMP, self.yearly, "2026", "zivver", history=history) == []
        cancelled = (run(VCMP, GENT, "2025", "cancelled"),)
        assert rules(VCMP, self.two_yearly, "2026", "zivver", history=cancelled) == []


def test_an_agency_party_suspended_gets_nothing() -> None:
    # Seed 002 art. 8: AgII may end (and so suspend) the VSB protocol on a breach.
    party = Agreement("vsb-care", RecipientRequirement.NONE, date(2021, 10, 1), date(2021, 10, 1))
    assert rules("vsb-care", recipient("vsb", party), "2026", "sftp_push") == []
    suspended = _applied(
        party, Transition.SUSPEND, date(2026, 2, 1), reason="onderzoek", article="Art. 8"
    )
    assert rules("vsb-care", recipient("vsb", suspended), "2026", "sftp_push") == [
        "agreement.suspended"
    ]
    noticed = _applied(party, Transition.NOTICE, date(2025, 11, 23))
    assert noticed.ends_on == date(2026, 11, 23)  # seed 002 art. 12: 12 months
    assert rules("vsb-care", recipient("vsb", noticed), "2026", "sftp_push") == ["agreement.ended"]
