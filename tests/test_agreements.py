"""Agreements as records with a lifecycle, through the real CLI on SQLite and PostgreSQL: four eyes
for signatures, accessions and every transition; the policy's refusals before the signature,
during a suspension, after an end or a withdrawal, for an accession dated before the
deliberation and for an inactive recipient; notice periods (seed 000 art. 12, seed 004 art. 12);
the VCMP ceremony cadence over three years (seed 003 rn. 42)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update
from typer.testing import Result

from exchange.models import Agreement, AuditEvent, Recipient
from exchange.periods import parse_period
from exchange.selection import SelectionRequest, build_selection
from tests.conftest import Kbx
from tests.export_helpers import PASSWORD, REQUEST, agree, prepare, register_contact, staff
from tests.factories import national_number, person, write_extract

LOMMEL, GENT, MECHELEN = "72020", "44021", "12025"


def _proposed(result: Result) -> str:
    assert result.exit_code == 0, result.output
    match = re.search(r"change (\d+) proposed", result.stdout)
    assert match, result.stdout
    return match.group(1)


def _rules(kbx: Kbx, protocol: str, recipient: str, period: str, channel: str) -> list[str]:
    # An art. 20 list answers the municipality's request (seed 000, recital C): one made early
    # in the period's year (never in the future of the day asked about), and not before the
    # protocol entered into force on 01.02.2024.
    day = "2024-02-01" if period.startswith("2024") else f"{period[:4]}-01-02"
    asked = ("--requested-on", day, "--request-ref", "BZ/1")
    result = kbx(
        *("check", protocol, "--recipient", recipient, "--period", period),
        *("--channel", channel, "--json"),
        *(asked if protocol == "art20-municipal" else ()),
    )
    assert result.exit_code in (0, 3), result.output
    return [r["rule"] for r in json.loads(result.stdout)["reasons"]]


def _gent_holds_ceremonies(kbx: Kbx, cadence: str) -> None:
    """Gent accedes to the VCMP deliberation with its ceremony cadence, and can be reached:
    a contact for the key SMS and a Zivver mailbox (each through four eyes)."""
    agree(
        kbx,
        *("accession", "add", GENT, "--protocol", "vcmp-ceremony", "--signed-on", "2025-02-03"),
        *("--document", "GENT-VCMP", "--cadence", cadence),
    )
    register_contact(kbx, GENT, "+32479654321", "burgerzaken@gent.example.be")
    agree(
        kbx, "recipients", "mail", "set", GENT, "--address", "bz@gent.example.be",
        "--route", "zivver",
    )  # fmt: skip


def _today(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    monkeypatch.setenv("KBX_TODAY", day)


def test_a_signature_is_recorded_only_when_a_second_person_approves(
    kbx: Kbx, engine: Engine
) -> None:
    staff(kbx)
    assert kbx("users", "add", "ada", "--role", "admin", input=PASSWORD + "\n").exit_code == 0
    sign = [
        *("protocols", "sign", "art20-municipal", "--recipient", "Gent"),
        *("--signed-on", "2026-01-15", "--in-force", "2026-02-01", "--document", "GENT-ART20"),
    ]
    change = _proposed(kbx(*sign, "--by", "olga"))
    with engine.connect() as connection:
        assert connection.execute(select(Agreement)).all() == [], "not before approval"
    assert _rules(kbx, "art20-municipal", GENT, "2026", "sftp_drop") == ["recipient.not_signed"]
    # The proposer cannot approve, even an admin who may do both.
    own = _proposed(
        kbx(
            *("accession", "add", GENT, "--protocol", "vcmp-ceremony", "--signed-on"),
            *("2025-02-03", "--document", "GENT-VCMP", "--cadence", "yearly", "--by", "ada"),
        )
    )
    refused = kbx("recipients", "changes", "approve", own, "--by", "ada")
    assert refused.exit_code == 2
    assert "[change.four_eyes]" in refused.stderr
    approved = kbx("recipients", "changes", "approve", change, "--by", "arne")
    assert approved.exit_code == 0, approved.output
    assert kbx("recipients", "changes", "approve", own, "--by", "arne").exit_code == 0

    with engine.connect() as connection:
        rows = connection.execute(
            select(Agreement.protocol_id, Agreement.recorded_by, Agreement.approved_by)
            .where(Agreement.recipient_id == GENT)
            .order_by(Agreement.protocol_id)
        ).all()
        actors = connection.execute(
            select(AuditEvent.action, AuditEvent.actor).where(
                AuditEvent.action.in_(["agreement.signature", "agreement.accession"])
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("art20-municipal", "olga", "arne"),
        ("vcmp-ceremony", "ada", "arne"),
    ]
    assert sorted(tuple(a) for a in actors) == [
        ("agreement.accession", "arne"),
        ("agreement.signature", "arne"),
    ]
    assert _rules(kbx, "art20-municipal", GENT, "2026", "sftp_drop") == []
    shown = kbx("protocols", "show", "art20-municipal")
    assert "44021 Gent: signature ondertekend 2026-01-15, in werking 2026-02-01" in shown.stdout
    assert "goedgekeurd door arne" in shown.stdout
    overview = json.loads(kbx("recipients", "show", "Gent", "--json").stdout)
    assert [(a["protocol"], a["state"]) for a in overview["agreements"]] == [
        ("art20-municipal", "in_force"),
        ("vcmp-ceremony", "in_force"),
    ]
    # A second signature of the same protocol is refused when proposed.
    duplicate = kbx(*sign, "--by", "olga")
    assert duplicate.exit_code == 2
    assert "[agreement.duplicate]" in duplicate.stderr


def test_no_list_before_the_signature_date(kbx: Kbx, monkeypatch: pytest.MonkeyPatch) -> None:
    # Seed 000: Lommel signed on 10.04.2024 a protocol in force from 01.02.2024.
    _today(monkeypatch, "2024-03-01")
    assert _rules(kbx, "art20-municipal", LOMMEL, "2024", "sftp_drop") == [
        "recipient.not_yet_signed"
    ]
    _today(monkeypatch, "2024-04-10")
    assert _rules(kbx, "art20-municipal", LOMMEL, "2024", "sftp_drop") == []


def test_notice_ends_the_art20_protocol_twelve_months_later(
    kbx: Kbx, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    _today(monkeypatch, "2026-03-01")
    agree(kbx, "agreements", "notice", "art20-municipal", "--recipient", "Lommel")
    shown = json.loads(
        kbx("agreements", "show", "art20-municipal", "--recipient", LOMMEL, "--json").stdout
    )
    assert (shown["state"], shown["notice_on"], shown["ends_on"]) == (
        "notice_given",
        "2026-03-01",
        "2027-03-01",
    )
    assert (shown["source"], shown["recorded_by"], shown["approved_by"]) == ("record", None, None)
    assert _rules(kbx, "art20-municipal", LOMMEL, "2026", "sftp_drop") == []
    _today(monkeypatch, "2027-02-28")
    assert _rules(kbx, "art20-municipal", LOMMEL, "2027", "sftp_drop") == []
    _today(monkeypatch, "2027-03-01")
    assert _rules(kbx, "art20-municipal", LOMMEL, "2027", "sftp_drop") == ["agreement.ended"]
    again = kbx(*("agreements", "notice", "art20-municipal", "--recipient", LOMMEL, "--by", "olga"))
    assert again.exit_code == 2
    assert "[agreement.ended]" in again.stderr
    with engine.connect() as connection:
        event = connection.execute(
            select(AuditEvent.actor, AuditEvent.details).where(
                AuditEvent.action == "agreement.notice"
            )
        ).one()
    assert event.actor == "arne"
    assert json.loads(event.details)["ends_on"] == "2027-03-01"


def test_notice_of_the_mechelen_protocol_is_three_months(
    kbx: Kbx, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seed 004 art. 12: "mits inachtneming van een opzegtermijn van 3 maanden".
    _today(monkeypatch, "2021-12-01")
    agree(
        kbx,
        *("agreements", "notice", "mechelen-amif507", "--recipient", "Mechelen"),
        *("--on", "2021-11-30"),
    )
    shown = json.loads(
        kbx("agreements", "show", "mechelen-amif507", "--recipient", MECHELEN, "--json").stdout
    )
    assert (shown["notice_on"], shown["ends_on"]) == ("2021-11-30", "2022-02-28")
    assert _rules(kbx, "mechelen-amif507", MECHELEN, "2021", "sftp_drop") == []
    _today(monkeypatch, "2022-02-28")
    assert _rules(kbx, "mechelen-amif507", MECHELEN, "2022", "sftp_drop") == ["agreement.ended"]


def test_suspended_then_resumed_allows_again(kbx: Kbx, monkeypatch: pytest.MonkeyPatch) -> None:
    _today(monkeypatch, "2026-05-04")
    suspend = [
        *("agreements", "suspend", "art20-municipal", "--recipient", LOMMEL),
        *("--reason", "datalek niet gemeld binnen 24 uur", "--article", "Art. 8"),
    ]
    agree(kbx, *suspend)
    assert _rules(kbx, "art20-municipal", LOMMEL, "2026", "sftp_drop") == ["agreement.suspended"]
    listed = kbx("agreements", "list", "--protocol", "art20-municipal")
    assert "geschorst sinds 2026-05-04 [Art. 8]" in listed.stdout
    twice = kbx(*suspend, "--by", "olga")
    assert "[agreement.suspended]" in twice.stderr
    _today(monkeypatch, "2026-06-01")
    agree(
        kbx,
        *("agreements", "resume", "art20-municipal", "--recipient", LOMMEL),
        *("--reason", "maatregelen genomen", "--article", "Art. 8"),
    )
    assert _rules(kbx, "art20-municipal", LOMMEL, "2026", "sftp_drop") == []
    no_reason = kbx(
        *("agreements", "end", "art20-municipal", "--recipient", LOMMEL, "--by", "olga")
    )
    assert no_reason.exit_code == 2, "an end names its reason and article"


def test_ended_at_once_under_art_8(kbx: Kbx, monkeypatch: pytest.MonkeyPatch) -> None:
    _today(monkeypatch, "2026-09-01")
    agree(
        kbx,
        *("agreements", "end", "art20-municipal", "--recipient", LOMMEL),
        *("--reason", "verwerking in strijd met het protocol", "--article", "Art. 8"),
    )
    assert _rules(kbx, "art20-municipal", LOMMEL, "2026", "sftp_drop") == ["agreement.ended"]
    shown = kbx("agreements", "show", "art20-municipal", "--recipient", LOMMEL)
    assert "Einde: 2026-09-01 (termination) [Art. 8]" in shown.stdout


def test_accessions_before_the_deliberation_and_withdrawn(
    kbx: Kbx, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff(kbx)
    accede = [*("accession", "add", GENT, "--protocol", "vcmp-ceremony", "--document", "G-1")]
    early = kbx(*accede, "--signed-on", "2024-06-01", "--cadence", "yearly", "--by", "olga")
    assert early.exit_code == 2
    assert "[accession.before_deliberation]" in early.stderr
    no_cadence = kbx(*accede, "--signed-on", "2025-02-03", "--by", "olga")
    assert "[agreement.cadence]" in no_cadence.stderr
    agree(kbx, *accede, "--signed-on", "2025-02-03", "--cadence", "yearly")
    assert _rules(kbx, "vcmp-ceremony", GENT, "2026", "zivver") == []
    # A row written before the rule (or by hand) is refused by the policy too.
    with engine.begin() as connection:
        connection.execute(
            update(Agreement)
            .where(Agreement.recipient_id == GENT)
            .values(signed_on=date(2024, 6, 1))
        )
    assert _rules(kbx, "vcmp-ceremony", GENT, "2026", "zivver") == ["accession.before_deliberation"]
    with engine.begin() as connection:
        connection.execute(
            update(Agreement)
            .where(Agreement.recipient_id == GENT)
            .values(signed_on=date(2025, 2, 3))
        )
    notice = kbx(*("agreements", "notice", "vcmp-ceremony", "--recipient", GENT, "--by", "olga"))
    assert "[agreement.no_notice_period]" in notice.stderr
    agree(kbx, "agreements", "withdraw", "vcmp-ceremony", "--recipient", GENT)
    assert _rules(kbx, "vcmp-ceremony", GENT, "2026", "zivver") == ["accession.withdrawn"]


def test_an_inactive_recipient_gets_nothing(kbx: Kbx, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(update(Recipient).where(Recipient.id == LOMMEL).values(active=False))
    try:
        assert _rules(kbx, "art20-municipal", LOMMEL, "2026", "sftp_drop") == ["recipient.inactive"]
    finally:  # the recipients are reference data: PostgreSQL keeps them between tests
        with engine.begin() as connection:
            connection.execute(update(Recipient).where(Recipient.id == LOMMEL).values(active=True))


def _certified(n: int, on: str) -> dict[str, str]:
    return person(national_number(date(1985, 3, n), 311), GENT, certificate_on=on)


def test_a_two_yearly_ceremony_gets_two_years_then_skips_a_year(
    kbx: Kbx, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Seed 003 rn. 42 over 2025, 2026 and 2027: no person goes twice to the same municipality."""
    people = [
        _certified(1, "2023-05-01"),  # more than two years before 2025-06-01: never
        _certified(2, "2023-07-01"),
        _certified(3, "2024-12-01"),
        _certified(4, "2025-06-01"),  # the last day of the 2025 list's window
        _certified(5, "2025-06-02"),  # the first day of the 2027 list's window
        _certified(6, "2026-03-15"),
        _certified(7, "2027-06-01"),
    ]
    assert kbx("kbi", "import", str(write_extract(tmp_path / "k.csv", people))).exit_code == 0
    _today(monkeypatch, "2025-06-01")
    _gent_holds_ceremonies(kbx, "two-yearly")
    request = [
        *("export", "request", "vcmp-ceremony", "--recipient", GENT, "--channel", "zivver"),
        *("--by", "olga", "--period"),
    ]
    sent: dict[str, set[str]] = {}

    def selected(year: str, lookback: int) -> set[str]:
        period = parse_period(year)
        assert period is not None
        today = date.fromisoformat(f"{year}-06-01")
        from app.registry import load_registry
        from app.settings import PROJECT_ROOT

        definition = load_registry(PROJECT_ROOT / "protocols").require("vcmp-ceremony")
        statement = build_selection(definition, SelectionRequest(GENT, period, today, lookback))
        with engine.connect() as connection:
            return {str(r[0]) for r in connection.execute(statement)}

    one_year = kbx(*request, "2025", "--lookback-years", "1")
    assert one_year.exit_code == 3
    assert "[lookback.not_cadence]" in one_year.stdout + one_year.stderr
    first = kbx(*request, "2025")
    assert first.exit_code == 0, first.output
    sent["2025"] = selected("2025", 2)

    _today(monkeypatch, "2026-06-01")
    skipped = kbx(*request, "2026")
    assert skipped.exit_code == 3
    assert "[frequency.two_yearly_cadence]" in skipped.stdout + skipped.stderr

    _today(monkeypatch, "2027-06-01")
    third = kbx(*request, "2027", "--lookback-years", "2")
    assert third.exit_code == 0, third.output
    sent["2027"] = selected("2027", 2)

    with engine.connect() as connection:
        live = connection.execute(
            text(
                "SELECT period, lookback_years FROM export_runs WHERE state <> 'refused' "
                "ORDER BY period"
            )
        ).all()
    assert [tuple(r) for r in live] == [("2025", 2), ("2027", 2)]
    numbers = [p["national_number"] for p in people]
    assert sent["2025"] == {numbers[1], numbers[2], numbers[3]}
    assert sent["2027"] == {numbers[4], numbers[5], numbers[6]}
    assert sent["2025"].isdisjoint(sent["2027"]), "no person twice to the same municipality"


def test_a_yearly_list_never_repeats_a_person_whatever_the_days_it_is_made_on(
    kbx: Kbx, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Lists made on 01.12.2025 and 15.01.2026 (each in its own calendar year) have overlapping
    one-year windows; the second takes only certificates after the first was delivered."""
    people = [
        _certified(1, "2024-11-30"),  # before the first window
        _certified(2, "2025-03-01"),  # in both windows: only in the first list
        _certified(3, "2025-12-01"),  # the first list's last day
        _certified(4, "2025-12-24"),  # only in the second
    ]
    assert kbx("kbi", "import", str(write_extract(tmp_path / "k.csv", people))).exit_code == 0
    _today(monkeypatch, "2025-12-01")
    _gent_holds_ceremonies(kbx, "yearly")
    for day, period in (("2025-12-01", "2025"), ("2026-01-15", "2026")):
        _today(monkeypatch, day)
        requested = kbx(
            *("export", "request", "vcmp-ceremony", "--recipient", GENT, "--channel", "zivver"),
            *("--period", period, "--by", "olga", "--json"),
        )
        assert requested.exit_code == 0, requested.output
        run_id = str(json.loads(requested.stdout)["id"])
        assert kbx("export", "approve", run_id, "--by", "arne").exit_code == 0
        ran = kbx("export", "run", run_id)
        assert ran.exit_code == 0, ran.output
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT period, state, row_count FROM export_runs ORDER BY period")
        ).all()
    assert [tuple(r) for r in rows] == [("2025", "key_sent", 2), ("2026", "key_sent", 1)]


def test_an_approval_asks_the_policy_again(kbx: Kbx, tmp_path: Path) -> None:
    prepare(kbx, tmp_path)
    requested = kbx(
        *("export", "request", "art20-municipal", "--recipient", LOMMEL, "--period", "2026"),
        *("--channel", "sftp_drop", *REQUEST, "--by", "olga"),
    )
    assert requested.exit_code == 0, requested.output
    run_id = requested.stdout.strip()
    agree(
        kbx,
        *("agreements", "suspend", "art20-municipal", "--recipient", LOMMEL),
        *("--reason", "datalek niet gemeld", "--article", "Art. 8"),
    )
    refused = kbx("export", "approve", run_id, "--by", "arne")
    assert refused.exit_code == 3, refused.output
    assert refused.stderr.splitlines()[:2] == [
        f"kbx: GEWEIGERD / REFUSED: export {run_id} is niet goedgekeurd",
        "- [agreement.suspended] " + refused.stderr.splitlines()[1].split("] ", 1)[1],
    ]
    assert "(Art. 8)" in refused.stderr
    shown = json.loads(kbx("export", "show", run_id, "--json").stdout)
    assert shown["line"]["state"] == "requested", "not approved: still the requester's to cancel"
