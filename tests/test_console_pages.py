"""The console's remaining pages end to end (issue 10): the audit trail and its chain check,
the recipients and the approval queue of their changes, the protocols, and the staff accounts;
each for a role that may see it, refused (403) to one that may not, without forms for an
auditor where there is something to change, and refusing a POST without its CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.settings import PROJECT_ROOT, Settings
from app.store import runs
from app.store.db import transaction
from app.web.common import EVENTS_NL
from app.web.console import EXPORTS_SHOWN
from exchange.agreements import Transition
from exchange.clock import in_brussels
from exchange.exports import RunState
from exchange.models import AuditEvent, ExportRun, PendingChange, Recipient, User
from tests.conftest import Kbx
from tests.console_helpers import Harness, get_forms, open_console, post_forms, propose_contact
from tests.export_helpers import PASSWORD


@pytest.fixture
def app_for(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[Harness]:
    yield from open_console(kbx, engine, settings, tmp_path, caplog)


def _event_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


# -- audit -----------------------------------------------------------------------------------


def test_the_audit_trail_with_filters_and_details(app_for: Harness) -> None:
    aude = app_for.browser()
    aude.login("aude")
    page = aude.get("/audit")
    assert page.status_code == 200
    assert "Audittrail" in page.text
    assert "recipient.change_applied" in page.text
    assert "console.login" in page.text
    assert "Controleer de keten" in page.text
    assert sorted(post_forms(page.text)) == ["/audit/verify", "/logout"], "only the read-only check"

    mine = aude.get("/audit?actor=olga")
    assert "recipient.change_proposed" in mine.text
    assert "console.login" not in mine.text, "only olga's events"
    assert "user.added" not in aude.get("/audit?action=recipient.").text

    one = aude.get("/audit/1")
    assert one.status_code == 200
    assert "Auditgebeurtenis 1" in one.text

    unknown = aude.get("/audit?run=KBX-2026-999999")
    assert unknown.status_code == 200
    assert 'role="alert"' in unknown.text
    assert "ongeldig" in aude.get("/audit?since=30-11-2026").text
    assert aude.get("/audit/999999").status_code == 404


def test_the_chain_check_is_intact_on_a_fresh_store(
    app_for: Harness, engine: Engine, kbx: Kbx
) -> None:
    aude = app_for.browser()
    aude.login("aude")
    aude.get("/audit")
    checked = aude.post("/audit/verify")
    assert checked.status_code == 200
    events = _event_count(engine)
    assert f"De keten is intact: {events} gebeurtenissen gecontroleerd." in checked.text
    cli = kbx("audit", "verify")
    assert cli.exit_code == 0, cli.output
    assert f"audit trail intact: {events} event(s)" in cli.stdout, "the check kbx audit verify runs"


def test_a_number_or_a_path_that_names_nothing_gets_a_dutch_page(
    app_for: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Ids too large for a row, ids that are no number, a method a path lacks, a parameter
    that is none: each a Dutch page (never a 500 or the framework's JSON), nothing repeated."""
    aude, arne = app_for.browser(), app_for.browser()
    aude.login("aude")
    arne.login("arne")
    huge = "9" * 23
    for path in (f"/audit/{huge}", "/audit/abc", "/audit/0", "/audit/2147483648"):
        answer = aude.get(path)
        assert answer.status_code == 404, path
        assert "Er is geen auditgebeurtenis met dit nummer." in answer.text, path
    arne.get("/changes")
    for verb in ("approve", "reject"):
        answer = arne.post(f"/changes/{huge}/{verb}")
        assert answer.status_code == 404, verb
        assert "Er is geen wijziging met dit nummer." in answer.text
    wrong = aude.get("/login?verlopen=ja")
    assert wrong.status_code == 400
    assert "Dit verzoek is ongeldig" in wrong.text
    assert aude.client.put("/exports/new").status_code == 405
    assert "Deze pagina kan dat niet." in aude.client.put("/exports/new").text
    assert huge not in caplog.text
    # The API keeps its own shape for the same kinds of error.
    assert aude.client.get("/api/v1/nergens").json()["code"] == "http.not_found"


def test_the_audit_pages_are_refused_without_the_role_or_the_token(app_for: Harness) -> None:
    vera = app_for.browser()
    vera.login("vera")
    assert vera.get("/audit").status_code == 403
    assert vera.post("/audit/verify").status_code == 403
    assert "Audittrail" not in vera.get("/").text, "no link to a page the role may not see"
    # The VSB's one use of kbx is the API's individual check: no console page shows it a run.
    for path in ("/", "/exports", "/exports/1", "/rounds", "/changes"):
        refused = vera.get(path)
        assert refused.status_code == 403, path
        assert "uw rol (VSB) heeft er geen toegang" in refused.text, path
        assert "KBX-" not in refused.text, path
    aude = app_for.browser()
    aude.login("aude")
    aude.get("/audit")
    refused = aude.post("/audit/verify", csrf=False)
    assert refused.status_code == 403
    assert "Dit formulier is verlopen of ongeldig" in refused.text


# -- recipients and their changes ------------------------------------------------------------


def test_recipients_are_found_by_name_or_code(app_for: Harness) -> None:
    arne = app_for.browser()
    arne.login("arne")
    by_name = arne.get("/recipients?q=lommel")
    assert by_name.status_code == 200
    assert '<a href="/recipients/72020">Lommel</a>' in by_name.text
    assert "Lommel" in arne.get("/recipients?q=72020").text
    both = arne.get("/recipients?q=heist")
    assert "Heist-op-den-Berg" in both.text
    assert "Knokke-Heist" in both.text
    assert "Lommel" not in both.text
    assert "Geen ontvangers gevonden." in arne.get("/recipients?q=nergenshuizen").text


def test_a_recipients_page_masks_the_phone(app_for: Harness) -> None:
    aude = app_for.browser()
    aude.login("aude")
    page = aude.get("/recipients/72020")
    assert page.status_code == 200
    assert "Lommel (72020)" in page.text
    assert "Burgerzaken" in page.text
    assert "+32 4••••••56" in page.text
    assert "+32478123456" not in page.text, "a contact's phone is shown masked"
    assert "SHA256:" in page.text, "the drop key by its fingerprint"
    assert "art20-municipal" in page.text
    assert "Exports dit jaar" in page.text
    assert post_forms(page.text) == ["/logout"]
    unknown = aude.get("/recipients/nergenshuizen")
    assert unknown.status_code == 404
    assert "onbekende ontvanger" in unknown.text
    vera = app_for.browser()
    vera.login("vera")
    assert vera.get("/recipients?q=lommel").status_code == 403
    assert vera.get("/recipients/72020").status_code == 403


def test_the_approval_queue_keeps_four_eyes(app_for: Harness, kbx: Kbx, engine: Engine) -> None:
    change = propose_contact(kbx, "olga")
    approve, reject = f"/changes/{change}/approve", f"/changes/{change}/reject"

    olga = app_for.browser()
    olga.login("olga")
    own = olga.get("/changes")
    assert "Dienst Burgerzaken" in own.text or "contact" in own.text
    assert "uw eigen voorstel" in own.text
    assert approve not in get_forms(own.text)
    assert olga.post(approve).status_code == 403, "an operator may not decide"
    assert olga.get(approve).status_code == 403, "nor sees what deciding would do"
    assert "Wijzigingen in afwachting" in olga.get("/recipients/72020").text

    aude = app_for.browser()
    aude.login("aude")
    assert post_forms(aude.get("/changes").text) == ["/logout"], "no form for an auditor"
    assert get_forms(aude.get("/changes").text) == []
    assert aude.post(approve).status_code == 403
    for path in (approve, reject):
        assert aude.get(path).status_code == 403

    arne = app_for.browser()
    arne.login("arne")
    queue = arne.get("/changes")
    assert [approve, reject] == [f for f in get_forms(queue.text) if f.startswith("/changes")]
    assert [approve] == [f for f in post_forms(arne.get(approve).text) if f != "/logout"]
    assert arne.post(approve, csrf=False).status_code == 403
    done = arne.post(approve)
    assert done.status_code == 200
    assert done.url.path == "/changes"
    assert "Geen wijzigingen in afwachting." in done.text
    assert "+32 4••••••77" in arne.get("/recipients/72020").text

    # An admin who proposed cannot decide by a forged POST: the flow's four eyes (409).
    second = propose_contact(kbx, "ada")
    ada = app_for.browser()
    ada.login("ada")
    assert f"/changes/{second}/approve" not in get_forms(ada.get("/changes").text)
    assert ada.get(f"/changes/{second}/approve").status_code == 409
    assert ada.post(f"/changes/{second}/approve").status_code == 409
    with Session(engine) as session:
        assert session.get(PendingChange, second).state == "pending"  # type: ignore[union-attr]
    arne.get("/changes")
    arne.get(f"/changes/{second}/reject")
    rejected = arne.post(f"/changes/{second}/reject", {"reason": "Niet aangevraagd"})
    assert rejected.url.path == "/changes"
    with Session(engine) as session:
        assert session.get(PendingChange, second).state == "rejected"  # type: ignore[union-attr]
    assert "+32 4••••••77" in arne.get("/recipients/72020").text, (
        "the rejected change is not applied"
    )


# -- protocols -------------------------------------------------------------------------------


def test_the_protocol_pages(app_for: Harness) -> None:
    aude = app_for.browser()
    aude.login("aude")
    listed = aude.get("/protocols")
    assert listed.status_code == 200
    assert '<a href="/protocols/art20-municipal">art20-municipal</a>' in listed.text
    assert "vdab-pillar3" in listed.text
    page = aude.get("/protocols/art20-municipal")
    assert page.status_code == 200
    assert "Decreet van 7 juni 2013 betreffende het Vlaamse integratie- en inburgeringsbeleid" in (
        page.text
    )
    assert "Rijksregisternummer" in page.text
    assert "Art. 3, 2°" in page.text
    assert "ingeschreven inwoners" in page.text
    assert "per kalenderjaar, hoogstens 1 lijst(en)" in page.text
    assert "vanaf 01-02-2024" in page.text
    assert "SFTP-drop van AgII" in page.text
    assert "Zivver" in page.text
    assert "72020 Lommel" in page.text
    # Per recipient, the next period a list is allowed (exchange.policy.next_list_period).
    assert "<th>Volgende lijst</th>" in page.text
    lommel = re.search(r'<a href="/recipients/72020">72020 Lommel</a>.*?</tr>', page.text, re.S)
    assert lommel is not None
    assert re.search(r"<td>20\d\d( \(vanaf \d\d-\d\d-20\d\d\))?</td></tr>$", lommel.group(0))
    assert post_forms(page.text) == ["/logout"]
    assert aude.get("/protocols/nergens").status_code == 404
    vera = app_for.browser()
    vera.login("vera")
    assert vera.get("/protocols").status_code == 403
    assert vera.get("/protocols/art20-municipal").status_code == 403


# -- staff accounts --------------------------------------------------------------------------

NEW_PASSWORD = "another horse battery staple"


def _active(engine: Engine, name: str) -> bool:
    with Session(engine) as session:
        return bool(session.scalar(select(User.active).where(User.name == name)))


def test_an_admin_manages_accounts(app_for: Harness, engine: Engine) -> None:
    ada = app_for.browser()
    ada.login("ada")
    page = ada.get("/users")
    assert page.status_code == 200
    assert "Gebruikers" in page.text
    assert "<td>olga</td>" in page.text
    assert "aanvrager" in page.text
    assert "/users/ada/disable" not in post_forms(page.text), "never oneself"

    added = ada.post("/users/add", {"name": "nina", "role": "auditor", "password": PASSWORD})
    assert added.url.path == "/users"
    assert "<td>nina</td>" in added.text
    # Created now, shown in Brussels time as every moment of the console (not in UTC).
    with Session(engine) as session:
        created = session.scalar(select(User.created_at).where(User.name == "nina"))
    assert created is not None
    shown = in_brussels(created).strftime("%d-%m-%Y %H:%M")
    nina_row = re.search(r"<td>nina</td>.*?</tr>", added.text, re.S)
    assert nina_row is not None
    assert f"<td>{shown}</td>" in nina_row.group(0)
    weak = ada.post("/users/add", {"name": "nino", "role": "auditor", "password": "kort"})
    assert weak.status_code == 400
    assert 'role="alert"' in weak.text
    twice = ada.post("/users/add", {"name": "nina", "role": "operator", "password": PASSWORD})
    assert twice.status_code == 409

    nina = app_for.browser()
    assert nina.login("nina").url.path == "/"
    ada.get("/users")
    assert ada.post("/users/nina/disable").url.path == "/users"
    assert not _active(engine, "nina")
    assert nina.get("/").url.path == "/login", "a disabled account loses its session"
    ada.post("/users/nina/enable")
    assert _active(engine, "nina")
    ada.post("/users/nina/password", {"password": NEW_PASSWORD})
    assert nina.login("nina", NEW_PASSWORD).url.path == "/"
    assert nina.login("nina").status_code == 401, "the old password no longer works"
    assert ada.post("/users/nina/disable", csrf=False).status_code == 403
    assert _active(engine, "nina")


def test_only_an_admin_sees_the_accounts(app_for: Harness, engine: Engine) -> None:
    aude = app_for.browser()
    aude.login("aude")
    home = aude.get("/")
    assert "/users" not in home.text, "no link for a role that may not"
    assert '<a href="/audit">' in home.text
    assert aude.get("/users").status_code == 403
    refused = aude.post("/users/add", {"name": "mallory", "role": "admin", "password": PASSWORD})
    assert refused.status_code == 403
    assert aude.post("/users/olga/disable").status_code == 403
    assert _active(engine, "olga")
    ada = app_for.browser()
    ada.login("ada")
    assert '<a href="/users">Gebruikers</a>' in ada.get("/").text


def test_every_audited_action_has_a_dutch_label() -> None:
    """The audit trail is read in Dutch: each action kbx records (``action="..."`` in the code,
    the drop's events, the agreement transitions) has its label in ``EVENTS_NL``."""
    source = "\n".join(p.read_text() for p in (PROJECT_ROOT / "app").rglob("*.py"))
    actions = set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', source))
    actions |= set(re.findall(r'"(sftp\.[a-z_]+)"', source))
    actions |= {f"agreement.{kind}" for kind in ("signature", "accession")}
    actions |= {f"agreement.{transition.value}" for transition in Transition}
    assert len(actions) > 40, sorted(actions)
    assert sorted(actions - EVENTS_NL.keys()) == []


def test_the_exports_and_the_trail_are_read_page_by_page(app_for: Harness, engine: Engine) -> None:
    """Fifty a page, newest first; "Oudere ..." leads to the next fifty, keeping the filters,
    until a page is not full; no row shows twice and none is skipped."""
    now = datetime.now(UTC)
    today = in_brussels(now).date()
    with transaction(engine) as session:
        towns = session.scalars(
            select(Recipient.id).where(Recipient.kind == "municipality").order_by(Recipient.id)
        ).all()[: EXPORTS_SHOWN + 5]
        for town in towns:
            run = ExportRun(
                protocol_id="art20-municipal",
                recipient_id=town,
                period=str(today.year),
                channel="sftp_drop",
                definition_hash="sha256:test",
                requested_by="olga",
                requested_at=now,
            )
            runs.claim(
                session,
                run,
                RunState.REQUESTED,
                actor="olga",
                action="export.requested",
                now=now,
                today=today,
            )
    aude = app_for.browser()
    aude.login("aude")
    seen: list[str] = []
    page = aude.get("/exports?protocol=art20-municipal")
    for _ in range(5):
        refs = re.findall(r'<a href="/exports/(KBX-[0-9-]+)">', page.text)
        seen += refs
        older = re.search(r'<a href="([^"]+)">Oudere exports</a>', page.text)
        if older is None:
            break
        assert "protocol=art20-municipal" in older.group(1), "the filters are kept"
        page = aude.get(older.group(1).replace("&amp;", "&"))
        assert "Nieuwste exports" in page.text
    assert len(seen) == len(towns) == EXPORTS_SHOWN + 5
    assert len(set(seen)) == len(seen)

    events = 0
    page = aude.get("/audit?action=export.requested")
    for _ in range(5):
        numbers = [int(n) for n in re.findall(r'<td><a href="/audit/(\d+)">', page.text)]
        assert numbers == sorted(numbers, reverse=True)
        events += len(numbers)
        older = re.search(r'<a href="([^"]+)">Oudere gebeurtenissen</a>', page.text)
        if older is None:
            break
        page = aude.get(older.group(1).replace("&amp;", "&"))
    assert events == len(towns)
    assert aude.get("/audit?voor=abc").status_code == 200, "a page that is none: the newest"
