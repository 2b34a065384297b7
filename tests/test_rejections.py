"""A rejection records its reason (``app.flows.rejections``): an approver who rejects a run
someone else requested, or a change to a recipient someone else proposed, says why in 3 to 300
characters, never with a national number (the audit trail keeps the reason for good). The same
rule answers in the console (a Dutch page, the form again), the API (400 with a code) and the
CLI (one line, exit 2), and a refusal records nothing. The console confirms every approval and
rejection on a page of its own (GET) before its POST form decides.

End to end on SQLite and PostgreSQL: the console and the API through the real application, the
CLI through its runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.flows.rejections import REASON_MAX, rejection_reason
from app.settings import Settings
from exchange.models import AuditEvent, ExportRun, PendingChange
from tests.api_helpers import Api
from tests.conftest import Kbx
from tests.console_helpers import Harness, get_forms, open_console, post_forms, propose_contact
from tests.export_helpers import LOMMEL, REQUEST

NUMBER = "85073003328"  # a national number with valid check digits
GROUPED = "85.07.30-033.28"  # the same, as it is often written
REASON = "De gemeente trok haar aanvraag in"


@pytest.fixture
def app_for(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[Harness]:
    yield from open_console(kbx, engine, settings, tmp_path, caplog)


def _request(kbx: Kbx, engine: Engine, by: str = "olga") -> ExportRun:
    """Lommel's 2026 list, requested by ``by`` in the CLI; the run as stored."""
    asked = kbx(
        "export", "request", "art20-municipal", "--recipient", LOMMEL, "--period", "2026",
        "--channel", "sftp_drop", *REQUEST, "--by", by,
    )  # fmt: skip
    assert asked.exit_code == 0, asked.output
    return _newest_run(engine)


def _newest_run(engine: Engine) -> ExportRun:
    with Session(engine) as session:
        run = session.scalars(select(ExportRun).order_by(ExportRun.id.desc())).first()
        assert run is not None
        return run


def _change_state(engine: Engine, change_id: int) -> str:
    with Session(engine) as session:
        change = session.get(PendingChange, change_id)
        assert change is not None
        return change.state


def _events(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _last_event(engine: Engine) -> tuple[int, str, str, dict[str, Any]]:
    """The newest audit event: its number, actor, action and details."""
    with Session(engine) as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        return event.seq, event.actor, event.action, json.loads(event.details)


# -- the rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        (None, "rejection.reason_missing"),
        ("", "rejection.reason_missing"),
        (" \n\t ", "rejection.reason_missing"),
        (" ok ", "rejection.reason_invalid"),
        ("x" * (REASON_MAX + 1), "rejection.reason_invalid"),
        ("a\x00bc", "rejection.reason_invalid"),
        (NUMBER, "rejection.reason_national_number"),
        (f"Brief {GROUPED}", "rejection.reason_national_number"),
        ("zie 850730 033 28", "rejection.reason_national_number"),
        ("8507300332 ontbreekt", "rejection.reason_national_number"),
        ("zie 8507 3003 328", "rejection.reason_national_number"),
        ("85,07,30,033,28 niet", "rejection.reason_national_number"),
        # Whatever else is wrong, a number that may be a person's is what is said first, so
        # that no front end shows the text again to be corrected.
        ("x" * REASON_MAX + " " + NUMBER, "rejection.reason_national_number"),
        ("ok\x01 " + GROUPED, "rejection.reason_national_number"),
    ],
)
def test_a_reason_is_refused_with_its_code(typed: str | None, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        rejection_reason(typed)
    assert refused.value.code == code
    assert refused.value.message_nl
    if typed and typed.strip():
        assert typed.strip() not in str(refused.value), "never repeated"
        assert typed.strip() not in (refused.value.message_nl or "")


def test_a_reason_is_kept_on_one_line_and_optional_only_when_allowed() -> None:
    assert rejection_reason("  Dubbel \n aangevraagd  ") == "Dubbel aangevraagd"
    assert rejection_reason("abc") == "abc"
    assert rejection_reason("  " + "x" * REASON_MAX + "  ") == "x" * REASON_MAX
    # A browser sends each line break as CR LF: the length is counted as the reason is kept.
    lines = "\r\n".join(["y" * 29] * 10)
    assert len(lines) > REASON_MAX
    assert rejection_reason(lines) == " ".join(["y" * 29] * 10)
    assert rejection_reason("BZ/2026/0117 is ingetrokken") == "BZ/2026/0117 is ingetrokken"
    assert rejection_reason(None, required=False) is None
    assert rejection_reason("  ", required=False) is None
    with pytest.raises(InvalidInput):
        rejection_reason(NUMBER, required=False)


# -- the console -----------------------------------------------------------------------------


def test_an_approver_rejects_a_run_in_the_console_only_with_a_reason(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    run = _request(kbx, engine)
    ref = str(run.reference)
    arne = app_for.browser()
    arne.login("arne")
    shown = arne.get(f"/exports/{ref}")
    assert f"/exports/{ref}/cancel" in get_forms(shown.text), "Afwijzen leads to a confirmation"
    assert f"/exports/{ref}/cancel" not in post_forms(shown.text), "it does not reject at once"

    confirm = arne.get(f"/exports/{ref}/cancel")
    assert confirm.status_code == 200
    assert f"Export {ref} afwijzen" in confirm.text
    assert "De aanvraag van olga wordt afgewezen" in confirm.text
    assert '<label for="reason">Reden van afwijzing</label>' in confirm.text
    assert f"/exports/{ref}/cancel" in post_forms(confirm.text)
    assert 'name="csrf_token"' in confirm.text

    before = _events(engine)
    tries = [
        ({"reason": ""}, "Een afwijzing heeft een reden nodig"),
        ({}, "Een afwijzing heeft een reden nodig"),  # a forged POST without the field
        ({"reason": " ok "}, "3 tot 300 tekens"),
        ({"reason": NUMBER}, "rijksregisternummer"),
        ({"reason": f"Brief {GROUPED}"}, "rijksregisternummer"),
    ]
    for form, says in tries:
        refused = arne.post(f"/exports/{ref}/cancel", form)
        assert refused.status_code == 400, form
        assert says in refused.text, form
        assert 'role="alert"' in refused.text
        assert f"/exports/{ref}/cancel" in post_forms(refused.text), "the form again"
        assert "033" not in refused.text, "a number that may be a person's is not shown again"
    assert _events(engine) == before, "a refused rejection records nothing"
    assert _newest_run(engine).state == "requested"
    assert arne.post(f"/exports/{ref}/cancel", {"reason": REASON}, csrf=False).status_code == 403

    done = arne.post(f"/exports/{ref}/cancel", {"reason": f"  {REASON} \n"})
    assert done.status_code == 200
    assert done.url.path == f"/exports/{ref}"
    assert _newest_run(engine).state == "cancelled"
    seq, actor, action, details = _last_event(engine)
    assert (actor, action, details["reason"]) == ("arne", "export.cancelled", REASON)
    assert "Afgewezen door</dt><dd>arne" in done.text
    assert f'Reden van afwijzing</dt><dd class="reason">{REASON}</dd>' in done.text
    timeline = done.text.split("Tijdlijn", 1)[1]
    assert f"Reden van afwijzing: {REASON}" in timeline
    event = arne.get(f"/audit/{seq}")
    assert f"<dt>Reden van afwijzing</dt><dd>{REASON}</dd>" in event.text


def test_the_requester_cancels_without_a_reason_after_confirming(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    run = _request(kbx, engine)
    ref = str(run.reference)
    olga = app_for.browser()
    olga.login("olga")
    assert f"/exports/{ref}/cancel" in get_forms(olga.get(f"/exports/{ref}").text)
    confirm = olga.get(f"/exports/{ref}/cancel")
    assert confirm.status_code == 200
    assert f"Export {ref} annuleren" in confirm.text
    assert "Reden van afwijzing" not in confirm.text, "no reason asked of the requester"
    assert olga.get(f"/exports/{ref}/approve").status_code == 403, "an operator approves nothing"
    done = olga.post(f"/exports/{ref}/cancel")
    assert done.url.path == f"/exports/{ref}"
    assert _newest_run(engine).state == "cancelled"
    _, actor, action, details = _last_event(engine)
    assert (actor, action) == ("olga", "export.cancelled")
    assert "reason" not in details
    assert "Geannuleerd door</dt><dd>olga" in done.text
    assert olga.get(f"/exports/{ref}/cancel").status_code == 409, "nothing left to cancel"


def test_the_approval_is_confirmed_and_four_eyes_and_roles_hold(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    run = _request(kbx, engine, by="ada")  # an admin may request and approve, never both
    ref = str(run.reference)
    ada, aude, arne = app_for.browser(), app_for.browser(), app_for.browser()
    ada.login("ada")
    own = ada.get(f"/exports/{ref}")
    assert f"/exports/{ref}/approve" not in get_forms(own.text)
    mine = ada.get(f"/exports/{ref}/approve")
    assert mine.status_code == 409
    assert "een andere goedkeurder moet ze goedkeuren" in mine.text
    assert f"/exports/{ref}/approve" not in post_forms(mine.text)
    assert ada.post(f"/exports/{ref}/approve").status_code == 409, "four eyes, forged or not"

    aude.login("aude")
    assert get_forms(aude.get(f"/exports/{ref}").text) == []
    for verb in ("approve", "cancel"):
        answer = aude.get(f"/exports/{ref}/{verb}")
        assert answer.status_code == 403, verb
        assert not [f for f in post_forms(answer.text) if f != "/logout"], "no form for her"

    arne.login("arne")
    confirm = arne.get(f"/exports/{ref}/approve")
    assert confirm.status_code == 200
    assert f"Export {ref} goedkeuren" in confirm.text
    assert "De sleutel gaat pas na de bezorging per sms" in confirm.text
    assert "SFTP-drop van AgII" in confirm.text
    assert "BZ/2026/0117 van 02-11-2026" in confirm.text, "the municipality's request"
    assert post_forms(confirm.text) == ["/logout", f"/exports/{ref}/approve"]
    approved = arne.post(f"/exports/{ref}/approve")
    assert approved.url.path == f"/exports/{ref}"
    assert _newest_run(engine).state == "approved"
    assert arne.get(f"/exports/{ref}/approve").status_code == 409, "approved once"


def test_an_approver_rejects_a_change_in_the_console_only_with_a_reason(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    change = propose_contact(kbx, "olga")
    reject = f"/changes/{change}/reject"
    arne = app_for.browser()
    arne.login("arne")
    assert reject in get_forms(arne.get("/changes").text)
    shown = arne.get(f"/recipients/{LOMMEL}").text
    assert "contactpersoon: nieuwe contactpersoon voor de sleutel-sms: gsm" in shown
    assert "e-mail bij lommel.be (voorgesteld door olga" in shown, "the summary, in Dutch"
    confirm = arne.get(reject)
    assert confirm.status_code == 200
    assert f"Wijziging {change} afwijzen" in confirm.text
    assert "contactpersoon" in confirm.text
    assert "Reden van afwijzing" in confirm.text
    assert reject in post_forms(confirm.text)

    before = _events(engine)
    for form, says in (
        ({}, "Een afwijzing heeft een reden nodig"),
        ({"reason": "  "}, "Een afwijzing heeft een reden nodig"),
        ({"reason": f"Jan meldde {NUMBER}"}, "rijksregisternummer"),
    ):
        refused = arne.post(reject, form)
        assert refused.status_code == 400, form
        assert says in refused.text
        assert reject in post_forms(refused.text)
        assert NUMBER not in refused.text
    assert _events(engine) == before, "a refused rejection records nothing"
    assert _change_state(engine, change) == "pending"

    done = arne.post(reject, {"reason": "Gemeente bevestigde dit niet"})
    assert done.url.path == "/changes"
    assert _change_state(engine, change) == "rejected"
    seq, actor, action, details = _last_event(engine)
    assert (actor, action) == ("arne", "recipient.change_rejected")
    assert details["reason"] == "Gemeente bevestigde dit niet"
    trail = arne.get("/audit?action=recipient.change_rejected")
    assert "reason=Gemeente bevestigde dit niet" in trail.text
    one = arne.get(f"/audit/{seq}")
    assert "<dt>Reden van afwijzing</dt><dd>Gemeente bevestigde dit niet</dd>" in one.text
    assert arne.get(reject).status_code == 409, "decided once"


# -- the API ---------------------------------------------------------------------------------


def test_the_api_rejects_a_run_or_a_change_only_with_a_reason(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    api = Api(app_for.app)
    run = _request(kbx, engine)
    before = _events(engine)
    for body, code in (
        (None, "rejection.reason_missing"),
        ({}, "rejection.reason_missing"),
        ({"reason": "no"}, "rejection.reason_invalid"),
        ({"reason": GROUPED}, "rejection.reason_national_number"),
    ):
        refused = api.post(f"/exports/{run.id}/cancel", as_="arne", json=body)
        assert (refused.status_code, refused.json()["code"]) == (400, code), body
        assert refused.json()["message_nl"]
        assert "033" not in refused.text
    assert _events(engine) == before
    assert _newest_run(engine).state == "requested"
    rejected = api.post(f"/exports/{run.id}/cancel", as_="arne", json={"reason": REASON})
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "cancelled"
    assert _last_event(engine)[3]["reason"] == REASON

    own = _request(kbx, engine)
    cancelled = api.post(f"/exports/{own.id}/cancel", as_="olga")
    assert cancelled.status_code == 200, "the requester needs no reason"
    assert "reason" not in _last_event(engine)[3]

    change = propose_contact(kbx, "olga")
    before = _events(engine)
    for body, code in (
        (None, "rejection.reason_missing"),
        ({"reason": NUMBER}, "rejection.reason_national_number"),
    ):
        refused = api.post(f"/recipient-changes/{change}/reject", as_="arne", json=body)
        assert (refused.status_code, refused.json()["code"]) == (400, code), body
    assert _events(engine) == before
    assert _change_state(engine, change) == "pending"
    done = api.post(f"/recipient-changes/{change}/reject", as_="arne", json={"reason": REASON})
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["reason"]) == ("rejected", REASON)
    assert _last_event(engine)[3]["reason"] == REASON


# -- the CLI ---------------------------------------------------------------------------------


def test_the_cli_rejects_a_run_or_a_change_only_with_a_reason(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    run = _request(kbx, engine)
    ref = str(run.reference)
    change = propose_contact(kbx, "olga")
    before = _events(engine)
    tries = [
        (("export", "cancel", ref, "--by", "arne"), "[rejection.reason_missing]"),
        (
            ("export", "cancel", ref, "--by", "arne", "--reason", NUMBER),
            "rijksregisternummer zou kunnen zijn",
        ),
        (("recipients", "changes", "reject", str(change), "--by", "arne"), "reason_missing"),
        (
            ("recipients", "changes", "reject", str(change), "--by", "arne", "--reason", GROUPED),
            "[rejection.reason_national_number]",
        ),
    ]
    for args, says in tries:
        refused = kbx(*args)
        assert refused.exit_code == 2, (args, refused.output)
        assert refused.stderr.count("\n") == 1, "one line says why"
        assert refused.stderr.startswith("kbx: ")
        assert says in refused.stderr
        assert "033" not in refused.output
    assert _events(engine) == before, "a refused rejection records nothing"
    assert _newest_run(engine).state == "requested"
    assert _change_state(engine, change) == "pending"

    rejected = kbx("export", "cancel", ref, "--by", "arne", "--reason", REASON)
    assert rejected.exit_code == 0, rejected.output
    assert _last_event(engine)[3]["reason"] == REASON
    shown = kbx("export", "show", ref)
    assert f"reden / reason: {REASON}" in shown.stdout, "the timeline says why"
    decided = kbx(
        "recipients", "changes", "reject", str(change), "--by", "arne", "--reason", REASON
    )
    assert decided.exit_code == 0, decided.output
    assert _change_state(engine, change) == "rejected"
    assert _last_event(engine)[3]["reason"] == REASON


# -- who may stop someone else's run ---------------------------------------------------------


def test_only_the_requester_or_an_approver_of_a_waiting_run_stops_it(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    """``exchange.exports.may_cancel``, the same in the console, the API and the CLI: otto
    (operator) may not withdraw olga's request, and an approver may not stop a run someone else
    requested once it is approved; nothing is recorded."""
    api = Api(app_for.app)
    run = _request(kbx, engine)
    ref = str(run.reference)
    otto = app_for.browser()
    otto.login("otto")
    before = _events(engine)
    assert otto.get(f"/exports/{ref}/cancel").status_code == 403
    forged = otto.post(f"/exports/{ref}/cancel", {"reason": REASON})
    assert forged.status_code == 409
    assert "Alleen wie de export aanvroeg" in forged.text
    by_api = api.post(f"/exports/{run.id}/cancel", as_="otto", json={"reason": REASON})
    assert (by_api.status_code, by_api.json()["code"]) == (409, "run.not_requester")
    by_cli = kbx("export", "cancel", ref, "--by", "otto", "--reason", REASON)
    assert by_cli.exit_code != 0
    assert "[run.not_requester]" in by_cli.stderr
    assert _events(engine) == before
    assert _newest_run(engine).state == "requested"

    approved = kbx("export", "approve", ref, "--by", "arne")
    assert approved.exit_code == 0, approved.output
    before = _events(engine)
    anna = api.post(f"/exports/{run.id}/cancel", as_="anna", json={"reason": REASON})
    assert (anna.status_code, anna.json()["code"]) == (409, "run.not_requester")
    assert _events(engine) == before
    own = api.post(f"/exports/{run.id}/cancel", as_="olga")
    assert own.status_code == 200, "the requester still withdraws an approved run"
    assert _newest_run(engine).state == "cancelled"
