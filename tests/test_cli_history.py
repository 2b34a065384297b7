"""What left, to whom, when, on the command line: ``export list|show``, ``audit list|show``,
``recipients show``, recipients named by name, ``users`` and ``export resend-key``.

Every command runs through the ``kbx`` fixture, whose output the leak guard reads at the end of
the suite: none of it may carry an integree's data or a file password."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.settings import Settings
from tests.api_helpers import Api, make_app
from tests.conftest import Kbx
from tests.export_helpers import LOMMEL, PASSWORD, REQUEST, personal_data, prepare, sms_messages

GENT = "44021"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


def ok(kbx: Kbx, *args: str, input: str | None = None) -> str:
    result = kbx(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def _lommel_delivered(kbx: Kbx) -> str:
    """Lommel's yearly list requested by olga, approved by arne, carried to key_sent; returns
    its reference."""
    run_id = ok(
        kbx, "export", "request", "art20-municipal", *REQUEST, "--recipient", "Lommel",
        "--period", "2026", "--channel", "sftp_drop", "--by", "olga",
    ).strip()  # fmt: skip
    ok(kbx, "export", "approve", run_id, "--by", "arne")
    assert "1 key_sent" in ok(kbx, "export", "run", run_id)
    shown = json.loads(ok(kbx, "export", "show", run_id, "--json"))
    reference: str = shown["line"]["reference"]
    return reference


@pytest.fixture
def story(kbx: Kbx, tmp_path: Path) -> str:
    prepare(kbx, tmp_path)
    reference = _lommel_delivered(kbx)
    # A second list in the same year: refused and recorded.
    refused = kbx(
        "export", "request", "art20-municipal", *REQUEST, "--recipient", LOMMEL, "--period", "2026",
        "--channel", "sftp_drop", "--by", "olga",
    )  # fmt: skip
    assert refused.exit_code == 3, refused.output
    return reference


def test_export_list_shows_what_left_to_whom_and_when(kbx: Kbx, story: str) -> None:
    table = ok(kbx, "export", "list")
    assert story in table
    assert f"{LOMMEL} Lommel" in table
    assert "refused" not in table  # refused requests are hidden by default
    for header in ("referentie", "aangevraagd", "goedgekeurd", "geleverd", "sleutel-sms"):
        assert header in table
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", table), "times in the table"

    everything = json.loads(ok(kbx, "export", "list", "--all", "--json"))
    assert [r["state"] for r in everything] == ["refused", "key_sent"]  # newest first
    sent = everything[1]
    assert sent["reference"] == story
    for moment in ("requested_at", "approved_at", "delivered_at", "key_sent_at"):
        assert ISO_WITH_OFFSET.match(sent[moment]), (moment, sent[moment])
    assert sent["fetched_at"] is None
    assert sent["purged_at"] is None
    # Brussels time in November is UTC+1.
    assert sent["requested_at"].endswith("+01:00")

    def refs(*filters: str) -> list[str | None]:
        return [r["reference"] for r in json.loads(ok(kbx, "export", "list", "--json", *filters))]

    assert refs("--state", "refused") == [everything[0]["reference"]]
    assert refs("--recipient", "lommel") == [story]
    assert refs("--recipient", GENT) == []
    assert refs("--protocol", "vcmp-ceremony") == []
    assert refs("--since", "2026-11-23") == [story]
    assert refs("--since", "2026-11-24") == []
    bad = kbx("export", "list", "--state", "lost")
    assert bad.exit_code == 2
    assert bad.output.startswith("kbx: onbekende toestand 'lost' (toestanden: requested, ")


def test_export_show_is_a_timeline(kbx: Kbx, story: str) -> None:
    text = ok(kbx, "export", "show", story)
    assert "tijdlijn" in text
    assert "sha256" in text
    assert ".xlsx" in text
    data = json.loads(ok(kbx, "export", "show", story.lower(), "--json"))
    steps = data["steps"]
    assert [s["state"] for s in steps if s["state"]] == [
        "requested",
        "approved",
        "built",
        "delivered",
        "key_sent",
    ]
    assert [s["actor"] for s in steps[:2]] == ["olga", "arne"]
    assert [s["seq"] for s in steps] == sorted(s["seq"] for s in steps)
    times = [datetime.fromisoformat(s["at"]) for s in steps]
    assert times == sorted(times)
    assert all(ISO_WITH_OFFSET.match(s["at"]) for s in steps)
    assert data["file_name"] == f"{story}.xlsx"
    assert data["file_size"] > 0
    assert re.fullmatch(r"[0-9a-f]{64}", data["file_sha256"])
    assert data["definition_hash"].startswith("sha256:")
    assert data["reasons"] == []


def test_a_refused_request_shows_its_reasons_as_sentences(kbx: Kbx, story: str) -> None:
    refused = json.loads(ok(kbx, "export", "list", "--state", "refused", "--json"))[0]
    text = ok(kbx, "export", "show", str(refused["id"]))
    assert "geweigerd omdat / refused because:" in text
    assert "regel frequency.exhausted" in text
    [reason] = json.loads(ok(kbx, "export", "show", str(refused["id"]), "--json"))["reasons"]
    assert f"({reason['article']}; regel frequency.exhausted)" in text
    assert reason["nl"] in text
    assert reason["en"] in text
    assert "{" not in text, "no Python dict text"
    unknown = kbx("export", "show", "KBX-2026-999999")
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "kbx: onbekende export KBX-2026-999999 [run.unknown]"
    # A national number typed where a run belongs is never repeated, with or without its zero.
    for typed in ("01092262490", "1092262490"):
        for args in (("export", "show", typed), ("export", "cancel", typed, "--by", "olga")):
            mistyped = kbx(*args)
            assert mistyped.exit_code == 2
            assert "1092262490" not in mistyped.output
            assert "[run.unknown]" in mistyped.output
    by_reference = kbx("export", "cancel", story, "--by", "olga")
    assert by_reference.exit_code == 2  # found by its reference; delivered runs cannot be cancelled
    assert "[run.invalid_transition]" in by_reference.output


def test_audit_list_filters_and_show(kbx: Kbx, story: str) -> None:
    events = json.loads(ok(kbx, "audit", "list", "--run", story, "--json"))
    actions = [e["action"] for e in reversed(events)]
    assert actions[:5] == [
        "export.requested",
        "export.approved",
        "export.built",
        "export.delivered",
        "export.key_sent",
    ]
    assert all(e["subject"] == events[0]["subject"] for e in events)
    assert all(ISO_WITH_OFFSET.match(e["at"]) for e in events)

    by_arne = json.loads(ok(kbx, "audit", "list", "--actor", "arne", "--json"))
    assert by_arne
    assert {e["actor"] for e in by_arne} == {"arne"}
    exports = json.loads(ok(kbx, "audit", "list", "--action", "export.", "--json"))
    assert {e["action"].split(".")[0] for e in exports} == {"export"}
    assert "export.refused" in {e["action"] for e in exports}
    lommel = json.loads(ok(kbx, "audit", "list", "--recipient", "Lommel", "--json"))
    assert {e["subject"].split(":")[0] for e in lommel} == {"run", "recipient"}
    assert json.loads(ok(kbx, "audit", "list", "--until", "2026-11-22", "--json")) == []
    assert len(json.loads(ok(kbx, "audit", "list", "--limit", "3", "--json"))) == 3

    table = ok(kbx, "audit", "list")
    assert "export.key_sent" in table
    for value in personal_data():
        assert value not in table

    seq = events[0]["seq"]
    one = ok(kbx, "audit", "show", str(seq))
    assert f"#{seq}" in one
    assert events[0]["hash"] in one
    missing = kbx("audit", "show", "999999")
    assert missing.exit_code == 2
    assert missing.output == "kbx: geen auditgebeurtenis 999999 [audit.unknown]\n"


def test_recipients_show_and_names(kbx: Kbx, story: str) -> None:
    text = ok(kbx, "recipients", "show", "lommel")
    assert text.startswith(f"{LOMMEL} Lommel")
    assert "+32 4" in text, "the phone is shown masked"
    assert "+32478123456" not in text
    assert re.search(r"ssh-ed25519 SHA256:\S+", text), "the key's fingerprint"
    assert story in text, "this year's runs"
    data = json.loads(ok(kbx, "recipients", "show", LOMMEL, "--json"))
    assert data["contact_phone_masked"].endswith("56")
    assert next(r["reference"] for r in data["runs_this_year"]) == story
    assert data["keys"][0]["fingerprint"].startswith("SHA256:")
    # Lommel's signed instance lives in the protocol definition (seed 000), not in a table.
    [signed] = data["agreements"]
    assert (signed["protocol"], signed["signed_on"]) == ("art20-municipal", "2024-04-10")

    proposed = ok(
        kbx, "recipients", "mail", "set", "Lommel", "--address", "burgerzaken@lommel.be",
        "--route", "zivver", "--by", "olga",
    )  # fmt: skip
    assert "change" in proposed
    pending = json.loads(ok(kbx, "recipients", "show", LOMMEL, "--json"))["pending_changes"]
    assert [c["kind"] for c in pending] == ["mail"]
    assert ISO_WITH_OFFSET.match(pending[0]["requested_at"])
    [listed] = json.loads(ok(kbx, "recipients", "changes", "list", "--json"))
    assert listed["requested_at"] == pending[0]["requested_at"]

    for name in ("Gent", "gent", " GENT "):
        assert json.loads(ok(kbx, "recipients", "show", name, "--json"))["id"] == GENT
    assert json.loads(ok(kbx, "recipients", "show", "sint-niklaas", "--json"))["name"] == (
        "Sint-Niklaas"
    )

    ambiguous = kbx("recipients", "show", "Sint")
    assert ambiguous.exit_code == 2
    assert "[recipient.ambiguous]" in ambiguous.output
    assert "'Sint' wijst 10 ontvangers aan: Puurs-Sint-Amands (12041), Sint-Genesius-Rode" in (
        ambiguous.output
    )
    assert "en nog 5 [recipient.ambiguous]" in ambiguous.output
    # A part of a name never picks a recipient: a list sent to the wrong town cannot be undone.
    part = kbx("recipients", "show", "sint-nik")
    assert part.exit_code == 2
    assert part.output == (
        "kbx: onbekende ontvanger 'sint-nik'; bedoelde u Sint-Niklaas (46021)? "
        "[recipient.unknown]\n"
    )
    heist = kbx("recipients", "show", "Heist")
    assert heist.exit_code == 2
    assert heist.output == (
        "kbx: 'Heist' wijst 2 ontvangers aan: Heist-op-den-Berg (12014), Knokke-Heist (31043) "
        "[recipient.ambiguous]\n"
    )

    unknown = kbx("recipients", "show", "Gentt")
    assert unknown.exit_code == 2
    assert "kbx: onbekende ontvanger 'Gentt'; bedoelde u " in unknown.output
    assert "Gent (44021)" in unknown.output
    assert "[recipient.unknown]" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1


def test_a_disabled_account_is_refused_at_once(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    prepare(kbx, tmp_path)
    ok(kbx, "users", "add", "ada", "--role", "admin", input=PASSWORD + "\n")
    api = Api(make_app(engine, settings))
    assert api.get("/exports", as_="olga").status_code == 200

    refused = kbx("users", "disable", "olga", "--by", "arne")
    assert refused.exit_code == 2
    assert "mag geen medewerkersaccounts beheren [auth.role]" in refused.output
    ok(kbx, "users", "disable", "olga", "--by", "ada")
    after = api.get("/exports", as_="olga")
    assert after.status_code == 401
    assert after.json()["code"] == "auth.invalid"
    staff_rows = {
        r["name"]: r for r in json.loads(ok(kbx, "users", "list", "--by", "ada", "--json"))
    }
    assert staff_rows["olga"]["active"] is False
    assert staff_rows["olga"]["tokens"] == 0
    login = api.client.post("/api/v1/auth/token", data={"username": "olga", "password": PASSWORD})
    assert login.status_code == 401

    ok(kbx, "users", "enable", "olga", "--by", "ada")
    api.tokens.clear()
    old_token = api.login("olga")
    ok(kbx, "users", "reset-password", "olga", "--by", "ada", input="a new long passphrase\n")
    assert api.get("/exports", token=old_token).status_code == 401
    fresh = api.client.post(
        "/api/v1/auth/token", data={"username": "olga", "password": "a new long passphrase"}
    )
    assert fresh.status_code == 200
    self_disable = kbx("users", "disable", "ada", "--by", "ada")
    assert self_disable.exit_code == 2
    assert "[user.self]" in self_disable.output
    actions = [e["action"] for e in json.loads(ok(kbx, "audit", "list", "--json"))]
    assert {"user.disabled", "user.enabled", "user.password_reset"} <= set(actions)


def test_resend_key_needs_two_people(kbx: Kbx, settings: Settings, tmp_path: Path) -> None:
    prepare(kbx, tmp_path)
    reference = _lommel_delivered(kbx)
    assert len(sms_messages(settings)) == 1

    ok(kbx, "users", "add", "ada", "--role", "admin", input=PASSWORD + "\n")
    early = kbx("export", "resend-key", reference, "--approve", "--by", "arne")
    assert early.exit_code == 2
    assert "[run.no_resend_request]" in early.output
    ok(kbx, "export", "resend-key", reference, "--by", "ada")
    own = kbx("export", "resend-key", reference, "--approve", "--by", "ada")
    assert own.exit_code == 2
    assert "[run.four_eyes]" in own.output
    operator = kbx("export", "resend-key", reference, "--approve", "--by", "olga")
    assert operator.exit_code == 2
    assert "mag geen herzending van de sleutel goedkeuren [auth.role]" in operator.output
    assert len(sms_messages(settings)) == 1
    ok(kbx, "export", "resend-key", reference, "--approve", "--by", "arne")
    sent = sms_messages(settings)
    assert len(sent) == 2
    assert sent[0]["to"] == sent[1]["to"]
    actions = [
        e["action"] for e in json.loads(ok(kbx, "audit", "list", "--run", reference, "--json"))
    ]
    assert "export.key_resend_requested" in actions
    assert "export.key_resent" in actions
