"""Every rule that can refuse, for each of the five protocols, on the shipped definitions.
Pure: no database; the recipient's agreements and the run history are plain values."""

from __future__ import annotations

from datetime import date

import pytest

from app.registry import load_registry
from app.settings import PROJECT_ROOT
from exchange.agreements import Cadence
from exchange.policy import (
    Agreement,
    Allowed,
    PastRun,
    RecipientFacts,
    Refused,
    evaluate,
    next_list_period,
)
from exchange.protocols import ProtocolDefinition, RecipientRequirement
from exchange.requests import ListRequest

REGISTRY = load_registry(PROJECT_ROOT / "protocols")
TODAY = date(2026, 11, 23)
LOMMEL, GENT, MECHELEN = "72020", "44021", "12025"

# The municipality's request an art20-municipal list answers (seed 000, overweging C).
ASKED = ListRequest(date(2026, 11, 2), "BZ/2026/0117")
_ASKED_IF_ON_REQUEST = object()

SIGN = RecipientRequirement.SIGNATURE
ACCEDE = RecipientRequirement.ACCESSION


def recipient(rid: str, *agreements: Agreement) -> RecipientFacts:
    kind = "agency" if rid in ("vdab", "vsb") else "municipality"
    return RecipientFacts(rid, kind, agreements)


def run(protocol: str, rid: str, period: str, state: str = "delivered") -> PastRun:
    return PastRun(protocol, rid, period, state)


def rules(
    protocol: str | ProtocolDefinition,
    who: RecipientFacts,
    period: str,
    channel: str,
    *,
    today: date = TODAY,
    history: tuple[PastRun, ...] = (),
    lookback: int | None = None,
    request: ListRequest | object | None = _ASKED_IF_ON_REQUEST,
) -> list[str]:
    """The refusal rule ids, in the order the engine reports them; [] when allowed. Unless
    ``request`` is given, a protocol whose lists go on request gets ``ASKED``, others none."""
    definition = REGISTRY.get(protocol) if isinstance(protocol, str) else protocol
    assert definition is not None
    if request is _ASKED_IF_ON_REQUEST:
        asked = ListRequest(min(ASKED.requested_on, today), ASKED.reference)
        request = asked if definition.on_request is not None else None
    assert request is None or isinstance(request, ListRequest)
    decision = evaluate(definition, who, period, channel, today, history, lookback, request)
    if isinstance(decision, Allowed):
        return []
    assert isinstance(decision, Refused)
    assert decision.reasons, "a refusal always says why"
    for reason in decision.reasons:
        assert reason.article
        assert reason.nl
        assert reason.en
    return [r.rule for r in decision.reasons]


def ended(protocol: str, until: date) -> ProtocolDefinition:
    """The definition as an admin would change it when the protocol is terminated."""
    definition = REGISTRY.get(protocol)
    assert definition is not None
    validity = definition.validity.model_copy(update={"until": until})
    return definition.model_copy(update={"validity": validity})


def test_all_five_protocols_load_with_a_content_hash() -> None:
    assert sorted(REGISTRY.definitions) == [
        "art20-municipal",
        "mechelen-amif507",
        "vcmp-ceremony",
        "vdab-pillar3",
        "vsb-care",
    ]
    hashes = {d.content_hash for d in REGISTRY}
    assert len(hashes) == 5
    assert all(h.startswith("sha256:") and len(h) == 71 for h in hashes)


class TestArt20Municipal:
    P = "art20-municipal"
    lommel = recipient(LOMMEL)

    def test_lommel_signed_instance_is_allowed_on_every_channel(self) -> None:
        for channel in ("sftp_drop", "sftp_push", "secure_mail", "zivver"):
            assert rules(self.P, self.lommel, "2026", channel) == []

    def test_municipality_that_did_not_sign(self) -> None:
        assert rules(self.P, recipient(GENT), "2026", "sftp_drop") == ["recipient.not_signed"]

    def test_recorded_signature_counts_from_its_entry_into_force(self) -> None:
        signed = Agreement(self.P, SIGN, date(2026, 2, 1), date(2026, 3, 1))
        assert rules(self.P, recipient(GENT, signed), "2026", "sftp_drop") == []
        assert rules(
            self.P, recipient(GENT, signed), "2026", "sftp_drop", today=date(2026, 2, 15)
        ) == ["recipient.signature_not_in_force"]

    def test_a_signature_of_another_protocol_does_not_count(self) -> None:
        other = Agreement("vcmp-ceremony", ACCEDE, date(2025, 1, 1))
        assert rules(self.P, recipient(GENT, other), "2026", "sftp_drop") == [
            "recipient.not_signed"
        ]

    def test_agency_is_not_a_party(self) -> None:
        assert rules(self.P, recipient("vdab"), "2026", "sftp_push") == ["recipient.not_covered"]

    def test_not_yet_in_force(self) -> None:
        assert rules(self.P, self.lommel, "2024", "sftp_drop", today=date(2024, 1, 31)) == [
            "protocol.not_in_force",
            "request.before_protocol",  # asked today, before the protocol
            "recipient.not_yet_signed",
            "channel.not_yet_open",
        ]

    def test_ended(self) -> None:
        assert rules(ended(self.P, date(2026, 6, 30)), self.lommel, "2026", "sftp_drop") == [
            "protocol.ended"
        ]

    @pytest.mark.parametrize("period", ["2026-H2", "26", "2026-1", "", "twee"])
    def test_wrong_period_form(self, period: str) -> None:
        assert rules(self.P, self.lommel, period, "sftp_drop") == ["period.form"]

    @pytest.mark.parametrize("period", ["2025", "2027"])
    def test_only_the_running_year(self, period: str) -> None:
        assert rules(self.P, self.lommel, period, "sftp_drop") == ["period.not_current"]

    def test_unknown_channel(self) -> None:
        assert rules(self.P, self.lommel, "2026", "ftp") == ["channel.not_allowed"]

    def test_second_list_in_the_same_year(self) -> None:
        for state in ("requested", "approved", "delivered", "key_sent", "fetched", "purged"):
            history = (run(self.P, LOMMEL, "2026", state),)
            assert rules(self.P, self.lommel, "2026", "sftp_drop", history=history) == [
                "frequency.exhausted"
            ]

    def test_runs_that_never_produced_a_list_do_not_count(self) -> None:
        history = tuple(run(self.P, LOMMEL, "2026", s) for s in ("refused", "cancelled", "failed"))
        history += (
            run(self.P, LOMMEL, "2025"),
            run(self.P, GENT, "2026"),
            run("vcmp-ceremony", LOMMEL, "2026"),
        )
        assert rules(self.P, self.lommel, "2026", "sftp_drop", history=history) == []

    def test_lookback_is_not_a_parameter_of_this_protocol(self) -> None:
        assert rules(self.P, self.lommel, "2026", "sftp_drop", lookback=1) == [
            "lookback.not_applicable"
        ]

    def test_a_list_answers_the_municipalitys_request(self) -> None:
        """Seed 000, overweging C: "kunnen gemeenten deze lijsten ... opvragen"."""
        assert rules(self.P, self.lommel, "2026", "sftp_drop", request=None) == ["request.missing"]
        definition = REGISTRY.get(self.P)
        assert definition is not None
        refused = evaluate(definition, self.lommel, "2026", "sftp_drop", TODAY, (), None, None)
        assert isinstance(refused, Refused)
        assert refused.reasons[0].article == (
            "Overweging C (gemeenten kunnen deze lijsten maximaal 1 keer per jaar opvragen)"
        )

    def test_a_request_dated_today_is_allowed_one_dated_tomorrow_refused(self) -> None:
        today = ListRequest(TODAY, "BZ/1")
        tomorrow = ListRequest(date(2026, 11, 24), "BZ/1")
        assert rules(self.P, self.lommel, "2026", "sftp_drop", request=today) == []
        assert rules(self.P, self.lommel, "2026", "sftp_drop", request=tomorrow) == [
            "request.date_in_future"
        ]

    def test_a_request_from_before_the_protocol_or_over_a_year_old_is_refused(self) -> None:
        # TODAY is 2026-11-23: a request answers this year's list, made in the past twelve months.
        def asked(day: date) -> list[str]:
            request = ListRequest(day, "BZ/1")
            return rules(self.P, self.lommel, "2026", "sftp_drop", request=request)

        assert asked(date(2025, 11, 23)) == []
        assert asked(date(2025, 11, 22)) == ["request.too_old"]
        assert asked(date(1990, 1, 1)) == ["request.before_protocol"]

    def test_other_protocols_take_no_request(self) -> None:
        assert rules("vsb-care", recipient("vsb"), "2026", "sftp_push", request=ASKED) == [
            "request.not_applicable"
        ]

    def test_every_reason_is_reported_at_once(self) -> None:
        assert rules(self.P, recipient(GENT), "2026-H1", "fax", lookback=2) == [
            "recipient.not_signed",
            "channel.not_allowed",
            "period.form",
            "lookback.not_applicable",
        ]


class TestVdabPillar3:
    P = "vdab-pillar3"
    vdab = recipient("vdab")

    def test_allowed_each_half_year(self) -> None:
        assert rules(self.P, self.vdab, "2026-H2", "sftp_push") == []
        assert rules(self.P, self.vdab, "2026-H1", "sftp_push", today=date(2026, 6, 30)) == []

    def test_only_vdab_receives(self) -> None:
        assert rules(self.P, recipient("vsb"), "2026-H2", "sftp_push") == ["recipient.not_covered"]
        assert rules(self.P, recipient(GENT), "2026-H2", "sftp_push") == ["recipient.not_covered"]

    def test_only_vdabs_sftp_server(self) -> None:
        for channel in ("sftp_drop", "secure_mail", "zivver"):
            assert rules(self.P, self.vdab, "2026-H2", channel) == ["channel.not_allowed"]

    def test_period_is_a_half_year(self) -> None:
        assert rules(self.P, self.vdab, "2026", "sftp_push") == ["period.form"]
        assert rules(self.P, self.vdab, "2026-H1", "sftp_push") == ["period.not_current"]

    def test_one_round_trip_per_half_year(self) -> None:
        history = (run(self.P, "vdab", "2026-H2"),)
        assert rules(self.P, self.vdab, "2026-H2", "sftp_push", history=history) == [
            "frequency.exhausted"
        ]
        history = (run(self.P, "vdab", "2026-H1"),)
        assert rules(self.P, self.vdab, "2026-H2", "sftp_push", history=history) == []

    def test_five_years_then_ended(self) -> None:
        assert rules(self.P, self.vdab, "2028-H1", "sftp_push", today=date(2028, 3, 2)) == []
        # Art. 5: five years from the entry into force; until the samenwerkingsovereenkomst's
        # date is recorded, the protocol's own (03.03.2023). The channel ends with the protocol.
        assert rules(self.P, self.vdab, "2028-H1", "sftp_push", today=date(2028, 3, 3)) == [
            "protocol.ended"
        ]

    def test_not_before_entry_into_force(self) -> None:
        assert rules(self.P, self.vdab, "2023-H1", "sftp_push", today=date(2023, 3, 2)) == [
            "protocol.not_in_force",
            "channel.not_yet_open",
        ]


class TestVsbCare:
    P = "vsb-care"
    vsb = recipient("vsb")

    def test_allowed_once_a_year(self) -> None:
        assert rules(self.P, self.vsb, "2026", "sftp_push") == []
        history = (run(self.P, "vsb", "2026"),)
        assert rules(self.P, self.vsb, "2026", "sftp_push", history=history) == [
            "frequency.exhausted"
        ]

    def test_only_the_agency(self) -> None:
        assert rules(self.P, recipient(LOMMEL), "2026", "sftp_push") == ["recipient.not_covered"]

    def test_channel(self) -> None:
        assert rules(self.P, self.vsb, "2026", "sftp_drop") == ["channel.not_allowed"]

    def test_list_route_is_transitional_five_lists(self) -> None:
        assert rules(self.P, self.vsb, "2027", "sftp_push", today=date(2027, 1, 4)) == [
            "channel.expired"
        ]
        assert rules(self.P, self.vsb, "2021", "sftp_push", today=date(2021, 12, 1)) == [
            "channel.not_yet_open"
        ]

    def test_period_form(self) -> None:
        assert rules(self.P, self.vsb, "2026-H2", "sftp_push") == ["period.form"]

    def test_ended_by_notice(self) -> None:
        assert rules(ended(self.P, date(2026, 9, 30)), self.vsb, "2026", "sftp_push") == [
            "protocol.ended"
        ]


class TestVcmpCeremony:
    P = "vcmp-ceremony"
    acceded = Agreement(P, ACCEDE, date(2025, 1, 10))
    lommel = recipient(LOMMEL, acceded)

    def test_zivver_with_accession_and_either_lookback(self) -> None:
        assert rules(self.P, self.lommel, "2026", "zivver") == []
        assert rules(self.P, self.lommel, "2026", "zivver", lookback=2) == []

    def test_lookback_is_one_or_two_years(self) -> None:
        assert rules(self.P, self.lommel, "2026", "zivver", lookback=3) == ["lookback.not_allowed"]

    def test_no_accession(self) -> None:
        assert rules(self.P, recipient(LOMMEL), "2026", "zivver") == ["recipient.no_accession"]
        signed_elsewhere = Agreement("art20-municipal", SIGN, date(2024, 4, 10))
        assert rules(self.P, recipient(LOMMEL, signed_elsewhere), "2026", "zivver") == [
            "recipient.no_accession"
        ]

    def test_accession_counts_from_its_signature(self) -> None:
        assert rules(self.P, self.lommel, "2025", "zivver", today=date(2025, 1, 9)) == [
            "recipient.not_yet_signed"
        ]

    def test_encrypted_mail_allowed_for_one_year_only(self) -> None:
        assert rules(self.P, self.lommel, "2025", "secure_mail", today=date(2025, 11, 17)) == []
        assert rules(self.P, self.lommel, "2025", "secure_mail", today=date(2025, 11, 18)) == [
            "channel.expired"
        ]
        assert rules(self.P, self.lommel, "2026", "secure_mail") == ["channel.expired"]

    def test_not_a_file_drop(self) -> None:
        assert rules(self.P, self.lommel, "2026", "sftp_drop") == ["channel.not_allowed"]

    def test_one_list_per_calendar_year(self) -> None:
        history = (run(self.P, LOMMEL, "2026", "key_sent"),)
        assert rules(self.P, self.lommel, "2026", "zivver", history=history) == [
            "frequency.exhausted"
        ]

    def test_period_form(self) -> None:
        assert rules(self.P, self.lommel, "2026-H2", "zivver") == ["period.form"]

    def test_agencies_cannot_accede(self) -> None:
        assert rules(self.P, recipient("vsb"), "2026", "zivver") == ["recipient.not_covered"]

    def test_not_before_the_deliberation(self) -> None:
        assert rules(self.P, self.lommel, "2024", "zivver", today=date(2024, 11, 17)) == [
            "protocol.not_in_force",
            "recipient.not_yet_signed",
            "channel.not_yet_open",
        ]

    def test_ended(self) -> None:
        assert rules(ended(self.P, date(2026, 1, 1)), self.lommel, "2026", "zivver") == [
            "protocol.ended"
        ]


class TestMechelenAmif507:
    P = "mechelen-amif507"
    mechelen = recipient(MECHELEN)

    def test_refused_today_because_the_protocol_ended(self) -> None:
        assert rules(self.P, self.mechelen, "2026", "sftp_drop") == [
            "protocol.ended",
            "channel.expired",
        ]

    def test_was_allowed_during_the_pilot_without_a_cap(self) -> None:
        during = date(2022, 3, 1)
        history = (run(self.P, MECHELEN, "2022"),)
        assert (
            rules(self.P, self.mechelen, "2022", "sftp_drop", today=during, history=history) == []
        )

    def test_only_mechelen(self) -> None:
        assert rules(self.P, recipient(GENT), "2022", "sftp_drop", today=date(2022, 3, 1)) == [
            "recipient.not_covered"
        ]

    def test_only_the_sharepoint_stand_in(self) -> None:
        assert rules(self.P, self.mechelen, "2022", "secure_mail", today=date(2022, 3, 1)) == [
            "channel.not_allowed"
        ]

    def test_period_form(self) -> None:
        assert rules(self.P, self.mechelen, "2022-H1", "sftp_drop", today=date(2022, 3, 1)) == [
            "period.form"
        ]


class TestNextListPeriod:
    """``next_list_period``: what the *Protocollen* page shows per recipient, from the same
    rules as ``evaluate`` (validity, agreement, lists per period, cadence)."""

    lommel = recipient(LOMMEL)  # art20's instance names Lommel: signed

    def next(
        self,
        protocol: str | ProtocolDefinition,
        who: RecipientFacts,
        history: tuple[PastRun, ...] = (),
        today: date = TODAY,
    ) -> str | None:
        definition = REGISTRY.get(protocol) if isinstance(protocol, str) else protocol
        assert definition is not None
        found = next_list_period(definition, who, today, history)
        return None if found is None else str(found)

    def test_the_running_year_while_its_list_is_not_made(self) -> None:
        assert self.next("art20-municipal", self.lommel) == "2026"
        refused = (run("art20-municipal", LOMMEL, "2026", "refused"),)
        assert self.next("art20-municipal", self.lommel, refused) == "2026"

    def test_the_next_year_once_this_years_list_is_made(self) -> None:
        made = (run("art20-municipal", LOMMEL, "2026", "key_sent"),)
        assert self.next("art20-municipal", self.lommel, made) == "2027"

    def test_half_years_roll_over_into_the_next_year(self) -> None:
        vdab = recipient("vdab")
        made = (run("vdab-pillar3", "vdab", "2026-H2"),)
        assert self.next("vdab-pillar3", vdab, made) == "2027-H1"
        assert self.next("vdab-pillar3", vdab, made, today=date(2026, 3, 1)) == "2026-H1"

    def test_a_two_yearly_ceremony_skips_a_year(self) -> None:
        two_yearly = Agreement(
            "vcmp-ceremony", ACCEDE, date(2025, 1, 10), cadence=Cadence.TWO_YEARLY
        )
        gent = recipient(GENT, two_yearly)
        made = (run("vcmp-ceremony", GENT, "2026", "key_sent"),)
        assert self.next("vcmp-ceremony", gent, made) == "2028"

    def test_none_when_the_protocol_ends_first_or_nothing_was_signed(self) -> None:
        made = (run("art20-municipal", LOMMEL, "2026", "key_sent"),)
        assert self.next(ended("art20-municipal", date(2026, 12, 31)), self.lommel, made) is None
        assert self.next("vcmp-ceremony", recipient(MECHELEN)) is None
