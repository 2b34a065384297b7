"""The console's alerts, key resend and recipient proposals (issue 10) end to end: the real
application through Starlette's TestClient, on a migrated SQLite and PostgreSQL database, with
each situation made by kbx's own flows (a few stamps set in the store where only time would
make them: a file's expiry, an SMS whose outcome is not yet known).

The overview lists every alert kind with a link, and the recipient changes a person may decide
(never their own); a key resend is asked by one person and approved by another; a change is
proposed from a recipient's page, refused in Dutch when it is wrong (and then nothing is
recorded), and applied once a second person approves it; an auditor sees no form and every new
POST answers them 403.
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from app.flows import alerts, recipient_changes
from app.flows.execution import execute
from app.flows.sms_status import apply_callback
from app.settings import Settings
from app.store.db import transaction
from exchange import sms_status
from exchange.models import AuditEvent, ExportRun, PendingChange, RecipientContact, SmsMessage
from exchange.recipient_changes import ChangeKind
from tests.conftest import Kbx
from tests.console_helpers import Console, Harness, get_forms, open_console, post_forms
from tests.export_helpers import LOMMEL, agree, sms_messages


@pytest.fixture
def app_for(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[Harness]:
    yield from open_console(kbx, engine, settings, tmp_path, caplog)


def _yearly(channel: str = "sftp_drop") -> dict[str, str]:
    """Lommel's art. 20 list of 2026, on its request, as the request form posts it."""
    return {
        "protocol": "art20-municipal",
        "recipient": LOMMEL,
        "period": "2026",
        "channel": channel,
        "lookback_years": "",
        "requested_on": "2026-11-02",
        "request_ref": "BZ/2026/0117",
        "action": "request",
    }


def _run(engine: Engine, run_id: int) -> ExportRun:
    with Session(engine) as session:
        run = session.get(ExportRun, run_id)
        assert run is not None
        return run


def _approved_run(app_for: Harness, channel: str = "sftp_drop") -> ExportRun:
    """Lommel's list requested by olga and approved by arne, in the console."""
    olga, arne = app_for.browser(), app_for.browser()
    olga.login("olga")
    olga.get("/exports/new")
    asked = olga.post("/exports/new", _yearly(channel))
    assert asked.status_code == 200, asked.text
    ref = asked.url.path.rsplit("/", 1)[1]
    arne.login("arne")
    arne.get(f"/exports/{ref}")
    assert arne.post(f"/exports/{ref}/approve").status_code == 200
    with Session(app_for.app.state.engine) as session:
        run = session.scalar(select(ExportRun).where(ExportRun.reference == ref))
        assert run is not None
        return run


def _key_sent_run(app_for: Harness, engine: Engine) -> ExportRun:
    run = _approved_run(app_for)
    assert execute(engine, app_for.app.state.deps, run.id) == "key_sent"
    return _run(engine, run.id)


def _alerts_section(page: str) -> str:
    return page.split("<h2>Meldingen</h2>", 1)[1].split("</section>", 1)[0]


def _count(engine: Engine, model: type[PendingChange] | type[AuditEvent]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- the overview's alerts -------------------------------------------------------------------


def test_no_alerts_on_a_quiet_store(app_for: Harness, engine: Engine) -> None:
    _key_sent_run(app_for, engine)  # delivered, key sent, expiring in 14 days: nothing to say
    aude = app_for.browser()
    aude.login("aude")
    home = aude.get("/")
    assert "Geen meldingen." in _alerts_section(home.text)
    assert post_forms(home.text) == ["/logout"], "an auditor sees the alerts, no form"


def test_an_undelivered_key_sms_and_one_of_unknown_outcome_are_alerts(
    app_for: Harness, engine: Engine, settings: Settings
) -> None:
    run = _key_sent_run(app_for, engine)
    with Session(engine) as session:
        [sms] = session.scalars(select(SmsMessage).where(SmsMessage.run_id == run.id))
        assert sms.sid is not None
    assert apply_callback(engine, settings, sms.sid, "undelivered", "30003") == "undelivered"
    olga = app_for.browser()
    olga.login("olga")
    found = _alerts_section(olga.get("/").text)
    assert f'<a href="/exports/{run.reference}">{run.reference}</a>' in found
    assert f"De sleutel-sms voor {run.reference} (Lommel) is niet afgeleverd" in found
    assert "+32478123456" not in found, "never the contact's number"

    # A new attempt whose outcome kbx does not know yet (the provider's answer did not come):
    # the row send_key writes before it calls the provider. Only the latest attempt counts.
    now = settings.now()
    with transaction(engine) as session:
        session.add(
            SmsMessage(
                run_id=run.id,
                reference=run.reference,
                provider="outbox",
                status=sms_status.UNKNOWN,
                created_at=now,
                status_at=now,
            )
        )
    found = _alerts_section(olga.get("/").text)
    assert f"De uitkomst van de sleutel-sms voor {run.reference} (Lommel) is onbekend" in found
    assert "niet afgeleverd" not in found


def test_a_deferred_push_is_an_alert(
    app_for: Harness, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    # Lommel's own SFTP server, four eyes, on a port where nothing listens (the server is down).
    keys = {}
    for name in ("client", "host"):
        path = tmp_path / f"{name}_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
        keys[name] = path
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    deps = app_for.app.state.deps
    change = recipient_changes.propose(
        engine,
        deps.vault,
        ChangeKind.SFTP,
        LOMMEL,
        {
            "host": "127.0.0.1",
            "port": port,
            "username": "lommel",
            "private_key": keys["client"].read_text(),
            "host_key": keys["host"].with_suffix(".pub").read_text(),
            "path": "/upload",
        },
        "olga",
        settings.now(),
    )
    recipient_changes.decide(
        engine, deps.vault, change.id, "arne", approve=True, now=settings.now()
    )
    run = _approved_run(app_for, "sftp_push")
    assert execute(engine, deps, run.id) == "built", "deferred, not failed: the server is down"

    arne = app_for.browser()
    arne.login("arne")
    found = _alerts_section(arne.get("/").text)
    assert f'<a href="/exports/{run.reference}">' in found
    assert f"De aflevering van {run.reference} aan Lommel is uitgesteld" in found
    assert "kbx probeert opnieuw vanaf" in found


def test_a_file_about_to_expire_on_the_drop_is_an_alert(
    app_for: Harness, engine: Engine, settings: Settings
) -> None:
    run = _key_sent_run(app_for, engine)
    olga = app_for.browser()
    olga.login("olga")
    assert "Geen meldingen." in _alerts_section(olga.get("/").text), "14 days left"
    # A day before its expiry (KBX_DROP_RETENTION_DAYS after delivery), not fetched.
    soon = settings.now() + alerts.DROP_EXPIRY_HORIZON - timedelta(days=1)
    with transaction(engine) as session:
        session.execute(update(ExportRun).where(ExportRun.id == run.id).values(expires_at=soon))
    found = _alerts_section(olga.get("/").text)
    assert f"Het bestand {run.reference} voor Lommel staat op de SFTP-drop" in found
    assert "nog niet opgehaald" in found
    # Fetched, it is no alert any more.
    with transaction(engine) as session:
        session.execute(
            update(ExportRun)
            .where(ExportRun.id == run.id)
            .values(state="fetched", fetched_at=settings.now())
        )
    assert "Geen meldingen." in _alerts_section(olga.get("/").text)


def test_an_agreement_whose_notice_runs_is_an_alert(app_for: Harness, kbx: Kbx) -> None:
    agree(kbx, "agreements", "notice", "art20-municipal", "--recipient", "Lommel")
    aude = app_for.browser()
    aude.login("aude")
    found = _alerts_section(aude.get("/").text)
    assert f'<a href="/recipients/{LOMMEL}">Lommel</a>' in found
    assert "De overeenkomst van Lommel onder art20-municipal is opgezegd op 23-11-2026" in found
    assert "ze eindigt op 23-11-2027" in found


def test_the_overview_lists_the_changes_waiting_for_me_never_my_own(app_for: Harness) -> None:
    olga, ada, arne = app_for.browser(), app_for.browser(), app_for.browser()
    for person, mailbox in ((olga, "bz@lommel.be"), (ada, "archief@lommel.be")):
        person.login("olga" if person is olga else "ada")
        person.get(f"/recipients/{LOMMEL}")
        done = person.post(
            f"/recipients/{LOMMEL}/changes",
            {"kind": "mail", "address": mailbox, "route": "zivver"},
        )
        assert done.status_code == 200
    assert "Wijzigingen die op mijn goedkeuring wachten" not in olga.get("/").text, (
        "an operator does not decide"
    )
    arne.login("arne")
    mine = arne.get("/").text.split("Wijzigingen die op mijn goedkeuring wachten", 1)[1]
    mine = mine.split("</section>", 1)[0]
    assert "voorgesteld door olga" in mine
    assert "voorgesteld door ada" in mine
    assert mine.count('<a href="/changes">') == 2
    theirs = ada.get("/").text.split("Wijzigingen die op mijn goedkeuring wachten", 1)[1]
    theirs = theirs.split("</section>", 1)[0]
    assert "voorgesteld door olga" in theirs
    assert "voorgesteld door ada" not in theirs, "never one's own proposal"


# -- the key resend, four eyes -----------------------------------------------------------------


def test_a_key_resend_is_asked_by_one_and_approved_by_another(
    app_for: Harness, engine: Engine, settings: Settings
) -> None:
    run = _key_sent_run(app_for, engine)
    page = f"/exports/{run.reference}"
    ask, approve = f"{page}/resend", f"{page}/resend/approve"
    assert len(sms_messages(settings)) == 1

    arne = app_for.browser()
    arne.login("arne")
    assert ask not in post_forms(arne.get(page).text), "an approver does not ask"
    assert arne.post(ask).status_code == 403

    ada = app_for.browser()
    ada.login("ada")
    shown = ada.get(page)
    assert ask in post_forms(shown.text)
    assert "Herzending van de sleutel vragen" in shown.text
    asked = ada.post(ask)
    assert asked.status_code == 200
    assert asked.url.path == page
    assert "ada vroeg de sleutel opnieuw te versturen" in asked.text
    assert approve not in post_forms(asked.text), "never a button to approve one's own resend"
    assert "U vroeg de herzending zelf" in asked.text
    assert _run(engine, run.id).resend_requested_by == "ada"
    assert len(sms_messages(settings)) == 1, "asking sends nothing"
    own = ada.post(approve)
    assert own.status_code == 409
    assert "ada vroeg de herzending zelf en kan ze niet goedkeuren" in own.text
    assert len(sms_messages(settings)) == 1

    olga = app_for.browser()
    olga.login("olga")
    assert olga.post(approve).status_code == 403, "an operator does not approve"
    waiting = _alerts_section(olga.get("/").text)
    assert f"ada vroeg de sleutel van {run.reference} (Lommel) opnieuw te versturen" in waiting

    shown = arne.get(page)
    assert approve in post_forms(shown.text)
    done = arne.post(approve)
    assert done.status_code == 200
    assert done.url.path == page
    assert "export.key_resent" in done.text
    messages = sms_messages(settings)
    assert len(messages) == 2
    assert messages[0]["to"] == messages[1]["to"]
    assert _run(engine, run.id).resend_requested_by is None
    again = arne.post(approve)
    assert again.status_code == 409, "approved once"
    assert "niemand vroeg om de sleutel" in again.text
    assert len(sms_messages(settings)) == 2


def test_no_resend_before_the_key_left(app_for: Harness, engine: Engine) -> None:
    run = _approved_run(app_for)
    olga = app_for.browser()
    olga.login("olga")
    page = olga.get(f"/exports/{run.reference}")
    assert f"/exports/{run.reference}/resend" not in post_forms(page.text)
    refused = olga.post(f"/exports/{run.reference}/resend")
    assert refused.status_code == 409
    assert f"de sleutel van export {run.id} is nog niet verstuurd" in refused.text
    assert _run(engine, run.id).resend_requested_by is None


# -- proposals from a recipient's page ---------------------------------------------------------


def test_a_contact_proposed_on_the_page_is_applied_after_another_approves(
    app_for: Harness, engine: Engine
) -> None:
    olga = app_for.browser()
    olga.login("olga")
    page = olga.get(f"/recipients/{LOMMEL}")
    assert post_forms(page.text).count(f"/recipients/{LOMMEL}/changes") == 3
    assert "Wijziging voorstellen" in page.text
    before = (_count(engine, PendingChange), _count(engine, AuditEvent))

    contact = {"kind": "contact", "name": "Dienst Bevolking", "email": "bevolking@lommel.be"}
    landline = olga.post(f"/recipients/{LOMMEL}/changes", contact | {"phone": "011 39 11 11"})
    assert landline.status_code == 400
    assert "het nummer is geen Belgisch gsm-nummer (de sleutel gaat per sms)" in landline.text
    assert 'role="alert"' in landline.text
    assert 'value="Dienst Bevolking"' in landline.text, "what was typed stays"
    foreign = olga.post(f"/recipients/{LOMMEL}/changes", contact | {"phone": "+33612345678"})
    assert foreign.status_code == 400
    assert "het gsm-nummer is geen geldig Belgisch nummer" in foreign.text
    bad_key = olga.post(
        f"/recipients/{LOMMEL}/changes", {"kind": "key", "public_key": "ssh-ed25519 nietbase64"}
    )
    assert bad_key.status_code == 400
    assert "de sleutel is geen geldige publieke OpenSSH-sleutel" in bad_key.text
    unknown = olga.post(f"/recipients/{LOMMEL}/changes", {"kind": "sftp", "host": "x"})
    assert unknown.status_code == 400
    assert "Onbekende soort wijziging." in unknown.text
    assert (_count(engine, PendingChange), _count(engine, AuditEvent)) == before, (
        "a refused proposal records nothing"
    )

    done = olga.post(f"/recipients/{LOMMEL}/changes", contact | {"phone": "0470 12 34 99"})
    assert done.status_code == 200
    found = re.search(r"\?voorgesteld=(\d+)$", str(done.url))
    assert found is not None, done.url
    change = int(found.group(1))
    assert f"Wijziging {change} is voorgesteld" in done.text
    with Session(engine) as session:
        contact_now = session.get(RecipientContact, LOMMEL)
        assert contact_now is not None
        assert contact_now.phone == "+32478123456", "nothing applied before a second person"
    queue = olga.get("/changes")
    assert "uw eigen voorstel" in queue.text
    assert f"/changes/{change}/approve" not in get_forms(queue.text)

    arne = app_for.browser()
    arne.login("arne")
    queue = arne.get("/changes")
    assert f"/changes/{change}/approve" in get_forms(queue.text)
    confirm = arne.get(f"/changes/{change}/approve")
    assert f"/changes/{change}/approve" in post_forms(confirm.text)
    assert "De wijziging wordt meteen toegepast voor ontvanger 72020" in confirm.text
    # The approver sees where the file passwords will go: the new number masked, the domain.
    assert "nieuwe contactpersoon voor de sleutel-sms: gsm +32 4••••••99, e-mail bij lommel.be" in (
        queue.text
    )
    assert "+32470123499" not in queue.text
    assert arne.post(f"/changes/{change}/approve").url.path == "/changes"
    with Session(engine) as session:
        contact_now = session.get(RecipientContact, LOMMEL)
        assert contact_now is not None
        assert (contact_now.name, contact_now.phone) == ("Dienst Bevolking", "+32470123499")
    assert "+32 4••••••99" in arne.get(f"/recipients/{LOMMEL}").text


def test_a_drop_key_and_a_mailbox_are_proposed_on_the_page(
    app_for: Harness, engine: Engine, tmp_path: Path
) -> None:
    key = tmp_path / "second_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    otto = app_for.browser()
    otto.login("otto")
    otto.get(f"/recipients/{LOMMEL}")
    public = key.with_suffix(".pub").read_text()
    assert (
        otto.post(
            f"/recipients/{LOMMEL}/changes", {"kind": "key", "public_key": public}
        ).status_code
        == 200
    )
    first_key = (tmp_path / "lommel_ed25519.pub").read_text()
    taken = otto.post(f"/recipients/{LOMMEL}/changes", {"kind": "key", "public_key": first_key})
    assert taken.status_code == 409
    assert "is al geregistreerd" in taken.text
    mailbox = otto.post(
        f"/recipients/{LOMMEL}/changes",
        {"kind": "mail", "address": "veilig@lommel.be", "route": "secure_mail"},
    )
    assert mailbox.status_code == 200
    wrong = otto.post(
        f"/recipients/{LOMMEL}/changes",
        {"kind": "mail", "address": "geen adres", "route": "zivver"},
    )
    assert wrong.status_code == 400
    assert "het adres is geen geldig e-mailadres" in wrong.text
    queue = otto.get("/changes").text
    assert re.search(r"dropsleutel ssh-ed25519 SHA256:\S+ toevoegen", queue)
    assert "mail via secure_mail naar een mailbox bij lommel.be" in queue
    with Session(engine) as session:
        kinds = list(session.scalars(select(PendingChange.kind).order_by(PendingChange.id)))
    assert kinds[-2:] == ["key", "mail"]


# -- the auditor acts on nothing ---------------------------------------------------------------


def test_an_auditor_sees_no_form_and_every_new_post_is_refused(
    app_for: Harness, engine: Engine
) -> None:
    run = _key_sent_run(app_for, engine)
    ada = app_for.browser()
    ada.login("ada")
    ada.get(f"/exports/{run.reference}")
    ada.post(f"/exports/{run.reference}/resend")  # a resend waits: its approval is offered

    aude: Console = app_for.browser()
    aude.login("aude")
    before = (_count(engine, PendingChange), _count(engine, AuditEvent))
    for path in ("/", f"/exports/{run.reference}", f"/recipients/{LOMMEL}"):
        page = aude.get(path)
        assert page.status_code == 200, path
        assert post_forms(page.text) == ["/logout"], path
    assert "Wijziging voorstellen" not in aude.get(f"/recipients/{LOMMEL}").text
    for path, form in (
        (f"/exports/{run.reference}/resend", {}),
        (f"/exports/{run.reference}/resend/approve", {}),
        (
            f"/recipients/{LOMMEL}/changes",
            {"kind": "contact", "name": "X", "phone": "0470123499", "email": "x@lommel.be"},
        ),
    ):
        refused = aude.post(path, form)
        assert refused.status_code == 403, path
        assert "mag dit niet doen" in refused.text
    after = (_count(engine, PendingChange), _count(engine, AuditEvent))
    assert after == before, "nothing recorded"
    assert _run(engine, run.id).resend_requested_by == "ada"
    # And without the form's token, even the role that may is refused.
    olga = app_for.browser()
    olga.login("olga")
    olga.get(f"/recipients/{LOMMEL}")
    no_token = olga.post(f"/recipients/{LOMMEL}/changes", {"kind": "mail"}, csrf=False)
    assert no_token.status_code == 403
