"""Twilio as the key sender, end to end: the real ``twilio`` client against a local stand-in of
Twilio's REST API (tests/twilio_standin.py), signed and badly signed status callbacks through
the real application, the four-eyes resend, and the unknown outcome of a create call that timed
out, reconciled by a lookup before anything is sent again. SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msoffcrypto  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Engine, select, update

from app.flows.execution import execute
from app.flows.sms_reconcile import reconcile_unknown
from app.settings import Settings
from app.wiring import drop_root, key_sender
from channels.twilio_sms import TwilioKeySender
from exchange.models import AuditEvent, ExportRun, SmsMessage
from exchange.ports import ChannelError, SmsRefused
from exchange.sms_status import advance
from tests.api_helpers import Api, add_staff, make_app
from tests.conftest import Kbx
from tests.export_helpers import LOMMEL, REQUEST_BODY, kbx_process, personal_data, prepare
from tests.leak_guard import GUARD
from tests.twilio_standin import (
    AUTH_TOKEN,
    MESSAGING_SERVICE_SID,
    Refusal,
    TwilioStandIn,
    twilio_standin,
)

LOMMEL_PHONE = "+32478123456"  # the registered contact (tests/export_helpers.prepare)
CALLBACK_URL = "http://testserver/api/v1/sms/status"
TIMEOUT = 0.75  # seconds; the stand-in stalls longer to provoke it
_PASSWORD = re.compile(r": (\S+) Deel")
REQUEST = {
    "protocol": "art20-municipal",
    "recipient": LOMMEL,
    "period": "2026",
    "channel": "sftp_drop",
    **REQUEST_BODY,
}


@dataclass
class Kit:
    standin: TwilioStandIn
    settings: Settings
    api: Api
    engine: Engine

    @property
    def client(self) -> httpx.Client:
        """The application as Twilio reaches it (no token, no OpenAPI check)."""
        client: httpx.Client = self.api.client
        return client

    def run(self) -> int:
        """Lommel's list: asked by olga, approved by arne, carried to the key SMS."""
        asked = self.api.post("/exports", as_="olga", json=REQUEST)
        assert asked.status_code == 201, asked.text
        run_id: int = asked.json()["id"]
        assert self.api.post(f"/exports/{run_id}/approve", as_="arne").status_code == 200
        assert execute(self.engine, self.api.app.state.deps, run_id) == "key_sent"
        return run_id

    def resend(self, run_id: int) -> httpx.Response:
        """The four-eyes resend: olga asks, arne approves."""
        asked = self.api.post(f"/exports/{run_id}/key-resend", as_="olga")
        assert asked.status_code == 200, asked.text
        return self.api.post(f"/exports/{run_id}/key-resend/approve", as_="arne")

    def rows(self) -> list[tuple[str, str | None, str, str | None]]:
        with self.engine.connect() as connection:
            return [
                (r.provider, r.sid, r.status, r.error_code)
                for r in connection.execute(select(SmsMessage).order_by(SmsMessage.id))
            ]

    def events(self, action: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [
                {"actor": e.actor, **json.loads(e.details)}
                for e in connection.execute(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
                )
            ]


def twilio_env(standin: TwilioStandIn) -> dict[str, str]:
    return {
        "KBX_SMS_PROVIDER": "twilio",
        "KBX_TWILIO_ACCOUNT_SID": standin.account_sid,
        "KBX_TWILIO_AUTH_TOKEN": standin.auth_token,
        "KBX_TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
        "KBX_TWILIO_BASE_URL": standin.url,
        "KBX_TWILIO_TIMEOUT_SECONDS": str(TIMEOUT),
        "KBX_PUBLIC_BASE_URL": "http://testserver",
    }


@pytest.fixture
def kit(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Kit]:
    caplog.set_level(logging.INFO)
    with twilio_standin(clock=settings.now) as standin:
        for name, value in twilio_env(standin).items():
            monkeypatch.setenv(name, value)
        prepare(kbx, tmp_path)
        add_staff(kbx)
        ours = Settings()
        api = Api(make_app(engine, ours))
        yield Kit(standin, ours, api, engine)
    bodies = [m["body"] for m in standin.messages]
    passwords = [m.group(1) for m in map(_PASSWORD.search, bodies) if m]
    for body, password in zip(bodies, passwords, strict=True):
        GUARD.passwords.add(password)
        GUARD.saw(f"Twilio SMS body ({tmp_path.name})", body.replace(password, ""))
    # Invariant 6: no personal data, password, phone number or auth token in an error or a log.
    said = "\n".join([*api.errors, caplog.text])
    for value in [*personal_data(), *passwords, LOMMEL_PHONE, LOMMEL_PHONE[1:], AUTH_TOKEN]:
        assert value not in said, "personal data, a password or the auth token leaked"


# -- the key goes through Twilio ----------------------------------------------------------------


def test_a_runs_key_goes_through_twilio_to_the_registered_contact(kit: Kit) -> None:
    run_id = kit.run()

    [sms] = kit.standin.messages
    assert sms["to"] == LOMMEL_PHONE
    assert sms["messaging_service_sid"] == MESSAGING_SERVICE_SID
    assert sms["status_callback"] == CALLBACK_URL
    with kit.engine.connect() as connection:
        run = connection.execute(select(ExportRun).where(ExportRun.id == run_id)).one()
    body: str = sms["body"]
    assert run.reference in body
    for value in personal_data():
        assert value not in body, "the SMS names the file, never a person"
    password = _PASSWORD.search(body)
    assert password is not None
    # The password in the SMS opens the file on the drop.
    data = (drop_root(kit.settings) / LOMMEL / "outbox" / run.file_name).read_bytes()
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password.group(1), verify_password=True)
    office.decrypt(io.BytesIO())

    # One row per attempt, with Twilio's sid and status, never the body.
    assert kit.rows() == [("twilio", sms["sid"], "accepted", None)]
    [sent] = kit.events("export.key_sent")
    assert (sent["sid"], sent["status"], sent["to"]) == (
        sms["sid"],
        "accepted",
        f"contact:{LOMMEL}",
    )


def test_a_signed_delivered_callback_confirms_the_key_and_statuses_never_regress(
    kit: Kit,
) -> None:
    kit.run()
    [sms] = kit.standin.messages
    sid = sms["sid"]

    for status in ("queued", "sent"):
        answer = kit.standin.callback(kit.client, sid, status)
        assert (answer.status_code, answer.json()["status"]) == (200, status)
    delivered = kit.standin.callback(kit.client, sid, "delivered")
    assert (delivered.status_code, delivered.json()["status"]) == (200, "delivered")
    assert kit.rows() == [("twilio", sid, "delivered", None)]
    [confirmed] = kit.events("export.key_delivered")
    assert (confirmed["actor"], confirmed["sid"], confirmed["status"]) == (
        "twilio",
        sid,
        "delivered",
    )

    # Out of order and repeated: a late "sent", a second "delivered", even a late "undelivered".
    for late in ("sent", "delivered", "undelivered", "queued"):
        answer = kit.standin.callback(kit.client, sid, late)
        assert (answer.status_code, answer.json()["status"]) == (200, "delivered")
    assert kit.rows() == [("twilio", sid, "delivered", None)]
    assert len(kit.events("export.key_delivered")) == 1
    assert kit.events("export.key_undelivered") == []


def test_badly_signed_and_unsigned_callbacks_are_refused_and_change_nothing(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    kit.run()
    [sms] = kit.standin.messages
    sid = sms["sid"]
    before = kit.rows()
    params = kit.standin.callback_params(sid, "delivered")

    refused = [
        kit.standin.callback(kit.client, sid, "delivered", signature=""),  # unsigned
        kit.standin.callback(kit.client, sid, "delivered", signature="bm90IGEgc2lnbmF0dXJl"),
        # signed with another account's token
        kit.standin.callback(
            kit.client,
            sid,
            "delivered",
            signature=kit.standin.sign(CALLBACK_URL, params, token="another-token"),
        ),
        # signed for "failed", sent as "delivered"
        kit.client.post(
            CALLBACK_URL,
            data=params,
            headers={
                "X-Twilio-Signature": kit.standin.sign(
                    CALLBACK_URL, {**params, "MessageStatus": "failed", "SmsStatus": "failed"}
                )
            },
        ),
        # signed over another URL (what a proxy in front would make of it)
        kit.standin.callback(
            kit.client,
            sid,
            "delivered",
            signature=kit.standin.sign("https://kbx.example/api/v1/sms/status", params),
        ),
    ]
    for answer in refused:
        assert answer.status_code == 403
        body = answer.json()
        assert body["code"] == "sms.bad_signature"
        assert body["message"]
        assert body["message_nl"]
    assert kit.rows() == before
    assert kit.events("export.key_delivered") == []
    assert "bad or missing signature" in caplog.text

    unknown = dict(params, MessageSid="SM" + "0" * 32, SmsSid="SM" + "0" * 32)
    answer = kit.client.post(
        CALLBACK_URL,
        data=unknown,
        headers={"X-Twilio-Signature": kit.standin.sign(CALLBACK_URL, unknown)},
    )
    assert (answer.status_code, answer.json()["code"]) == (404, "sms.unknown")
    incomplete = {k: v for k, v in params.items() if k not in ("MessageStatus", "SmsStatus")}
    answer = kit.client.post(
        CALLBACK_URL,
        data=incomplete,
        headers={"X-Twilio-Signature": kit.standin.sign(CALLBACK_URL, incomplete)},
    )
    assert (answer.status_code, answer.json()["code"]) == (400, "sms.invalid_callback")
    assert kit.rows() == before


def test_undelivered_alerts_the_operator_and_a_four_eyes_resend_sends_a_second_sms(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = kit.run()
    [first] = kit.standin.messages
    with kit.engine.connect() as connection:
        reference = connection.scalar(select(ExportRun.reference).where(ExportRun.id == run_id))

    answer = kit.standin.callback(kit.client, first["sid"], "undelivered", error_code="30003")
    assert (answer.status_code, answer.json()["status"]) == (200, "undelivered")
    assert kit.rows() == [("twilio", first["sid"], "undelivered", "30003")]
    [alert] = kit.events("export.key_undelivered")
    assert (alert["sid"], alert["error_code"], alert["reference"]) == (
        first["sid"],
        "30003",
        reference,
    )
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "kbx.sms"]
    assert f"run {run_id}" in warning.getMessage()
    assert str(reference) in warning.getMessage()

    # Asking alone sends nothing; the approver may not be the one who asked.
    asked = kit.api.post(f"/exports/{run_id}/key-resend", as_="ada")
    assert asked.status_code == 200
    own = kit.api.post(f"/exports/{run_id}/key-resend/approve", as_="ada")
    assert (own.status_code, own.json()["code"]) == (409, "run.four_eyes")
    assert len(kit.standin.messages) == 1
    approved = kit.api.post(f"/exports/{run_id}/key-resend/approve", as_="arne")
    assert approved.status_code == 200, approved.text
    assert approved.json()["resend_requested_by"] is None

    _first_again, second = kit.standin.messages
    assert second["to"] == LOMMEL_PHONE
    assert _PASSWORD.search(second["body"]) is not None
    assert second["body"] == first["body"], "the same password, for the same file"
    assert kit.rows() == [
        ("twilio", first["sid"], "undelivered", "30003"),
        ("twilio", second["sid"], "accepted", None),
    ]
    [resent] = kit.events("export.key_resent")
    assert (resent["actor"], resent["sid"]) == ("arne", second["sid"])
    # A second approval of the same request sends nothing.
    again = kit.api.post(f"/exports/{run_id}/key-resend/approve", as_="adam")
    assert (again.status_code, again.json()["code"]) == (409, "run.no_resend_request")
    assert len(kit.standin.messages) == 2


def test_a_timed_out_create_is_unknown_and_a_resend_that_finds_it_sends_nothing(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    kit.standin.stall_creates(TIMEOUT * 4, keep=True)  # Twilio takes it; the answer is lost
    run_id = kit.run()
    assert kit.standin.creates == 1
    [sms] = kit.standin.messages
    assert kit.rows() == [("twilio", None, "unknown", None)]
    [sent] = kit.events("export.key_sent")
    assert sent["status"] == "unknown"
    assert "outcome of the key SMS" in caplog.text

    # Twilio delivered it meanwhile; the callback named a sid kbx did not know yet.
    kit.standin.behave()
    kit.standin.set_status(sms["sid"], "delivered")
    late = kit.standin.callback(kit.client, sms["sid"], "delivered")
    assert (late.status_code, late.json()["code"]) == (404, "sms.unknown")

    answer = kit.resend(run_id)
    assert answer.status_code == 200, answer.text
    assert answer.json()["resend_requested_by"] is None
    assert kit.standin.creates == 1, "the lookup found the SMS: no second one"
    assert kit.rows() == [("twilio", sms["sid"], "delivered", None)]
    [reconciled] = kit.events("export.key_reconciled")
    assert (reconciled["found"], reconciled["sid"], reconciled["actor"]) == (
        True,
        sms["sid"],
        "arne",
    )
    assert kit.events("export.key_resent") == []
    assert len(kit.events("export.key_delivered")) == 1

    # Asked again now that the outcome is known: the approved resend sends one.
    assert kit.resend(run_id).status_code == 200
    assert kit.standin.creates == 2
    assert len(kit.standin.messages) == 2


def test_a_timed_out_create_that_never_left_is_sent_exactly_once_on_resend(kit: Kit) -> None:
    kit.standin.stall_creates(TIMEOUT * 4, keep=False)  # lost before Twilio took it
    run_id = kit.run()
    assert kit.standin.messages == []
    assert kit.rows() == [("twilio", None, "unknown", None)]

    kit.standin.behave()
    answer = kit.resend(run_id)
    assert answer.status_code == 200, answer.text
    [sms] = kit.standin.messages
    assert sms["to"] == LOMMEL_PHONE
    assert kit.rows() == [
        ("twilio", None, "failed", "not_found"),
        ("twilio", sms["sid"], "accepted", None),
    ]
    [reconciled] = kit.events("export.key_reconciled")
    assert reconciled["found"] is False
    [resent] = kit.events("export.key_resent")
    assert resent["sid"] == sms["sid"]


def test_a_refused_sms_fails_its_attempt_and_the_worker_sends_it_once_later(kit: Kit) -> None:
    kit.standin.refuse_creates(Refusal(400, 21610, f"Attempt to send to {LOMMEL_PHONE}: STOP"))
    asked = kit.api.post("/exports", as_="olga", json=REQUEST)
    run_id = asked.json()["id"]
    assert kit.api.post(f"/exports/{run_id}/approve", as_="arne").status_code == 200
    deps = kit.api.app.state.deps
    with pytest.raises(SmsRefused, match="21610") as refused:
        execute(kit.engine, deps, run_id)
    assert LOMMEL_PHONE not in str(refused.value)
    assert refused.value.__suppress_context__, "Twilio's text (it names the number) stays out"
    assert kit.rows() == [("twilio", None, "failed", "21610")]
    [event] = kit.events("export.key_refused")
    assert event["error_code"] == "21610"
    with kit.engine.connect() as connection:
        assert connection.scalar(select(ExportRun.state).where(ExportRun.id == run_id)) == (
            "delivered"
        )

    # The worker does not ask again at every turn: 15 minutes after the refusal.
    kit.standin.behave()
    with pytest.raises(ChannelError, match="15 minutes"):
        execute(kit.engine, deps, run_id)
    assert kit.standin.creates == 1
    with kit.engine.begin() as connection:
        connection.execute(
            update(SmsMessage).values(status_at=kit.settings.now() - timedelta(minutes=16))
        )
    assert execute(kit.engine, deps, run_id) == "key_sent"
    assert kit.standin.creates == 2
    [sms] = kit.standin.messages
    assert kit.rows() == [
        ("twilio", None, "failed", "21610"),
        ("twilio", sms["sid"], "accepted", None),
    ]


# -- a crash around the create call -------------------------------------------------------------


def test_a_crash_after_the_create_call_is_reconciled_without_a_second_sms(kit: Kit) -> None:
    asked = kit.api.post("/exports", as_="olga", json=REQUEST)
    run_id = asked.json()["id"]
    assert kit.api.post(f"/exports/{run_id}/approve", as_="arne").status_code == 200

    killed = kbx_process("export", "run", str(run_id), crash_at="sms")
    assert killed.returncode == -9, killed.stderr
    [sms] = kit.standin.messages
    assert kit.rows() == [("twilio", None, "unknown", None)]

    restarted = kbx_process("worker", "--once")
    assert restarted.returncode == 0, restarted.stderr
    assert kit.standin.creates == 1
    assert kit.rows() == [("twilio", sms["sid"], "accepted", None)]
    with kit.engine.connect() as connection:
        assert connection.scalar(select(ExportRun.state).where(ExportRun.id == run_id)) == (
            "key_sent"
        )


# -- the status order, the wiring ---------------------------------------------------------------


def test_statuses_only_move_forward() -> None:
    life = ["unknown", "accepted", "queued", "sending", "sent", "delivered"]
    for i, current in enumerate(life):
        for j, new in enumerate(life):
            assert advance(current, new) == (new if j > i else current)
    for terminal in ("delivered", "undelivered", "failed"):
        for new in (*life, "undelivered", "failed", "delivered"):
            assert advance(terminal, new) == terminal
    assert advance("sent", "undelivered") == "undelivered"
    assert advance("queued", "failed") == "failed"
    assert advance("sent", "read") == "sent", "a status kbx does not know changes nothing"
    assert advance("sent", "") == "sent"


def test_twilio_is_wired_by_settings_and_its_token_stays_secret(tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "data_dir": tmp_path,
        "sms_provider": "twilio",
        "twilio_account_sid": "AC" + "1" * 32,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_messaging_service_sid": MESSAGING_SERVICE_SID,
    }
    sender = key_sender(Settings(**base))
    assert isinstance(sender, TwilioKeySender)
    assert sender.status_callback == "http://127.0.0.1:8000/api/v1/sms/status"
    assert AUTH_TOKEN not in repr(sender)
    assert AUTH_TOKEN not in repr(Settings(**base))

    production = {**base, "env": "production", "public_base_url": "https://kbx.example/"}
    sender = key_sender(Settings(**production))
    assert isinstance(sender, TwilioKeySender)
    assert sender.status_callback == "https://kbx.example/api/v1/sms/status"
    refusals = {
        "token": {**base, "twilio_auth_token": None},
        "origin": {**base, "twilio_messaging_service_sid": ""},
        "provider": {**base, "sms_provider": "carrier-pigeon"},
        "outbox in production": {**production, "sms_provider": "outbox"},
        "http callback in production": {**production, "public_base_url": "http://kbx.example"},
        "stand-in in production": {**production, "twilio_base_url": "http://127.0.0.1:9"},
    }
    for why, values in refusals.items():
        with pytest.raises(ChannelError) as refused:
            key_sender(Settings(**values))
        assert AUTH_TOKEN not in str(refused.value), why


def test_a_refused_resend_answers_502_and_keeps_the_request_for_another_approval(
    kit: Kit,
) -> None:
    run_id = kit.run()
    kit.standin.refuse_creates(Refusal(400, 21610, f"Attempt to send to {LOMMEL_PHONE}: STOP"))
    refused = kit.resend(run_id)
    assert (refused.status_code, refused.json()["code"]) == (502, "sms.unavailable")
    assert "21610" in refused.json()["message"]
    kit.standin.behave()
    again = kit.api.post(f"/exports/{run_id}/key-resend/approve", as_="ada")
    assert again.status_code == 200, again.text
    assert len(kit.standin.messages) == 2


@pytest.mark.parametrize("left", [True, False])
def test_the_worker_settles_an_unknown_key_and_alerts_when_it_never_left(
    kit: Kit, left: bool, caplog: pytest.LogCaptureFixture
) -> None:
    kit.standin.stall_creates(TIMEOUT * 4, keep=left)
    run_id = kit.run()
    assert kit.rows() == [("twilio", None, "unknown", None)]
    kit.standin.behave()
    deps = kit.api.app.state.deps
    assert reconcile_unknown(kit.engine, deps, grace=timedelta(minutes=10)) == 0, "not yet due"
    assert reconcile_unknown(kit.engine, deps, grace=timedelta(0)) == 1
    if left:
        [sms] = kit.standin.messages
        assert kit.rows() == [("twilio", sms["sid"], "accepted", None)]
        assert kit.events("export.key_undelivered") == []
    else:
        assert kit.standin.messages == []
        assert kit.rows() == [("twilio", None, "failed", "not_found")]
        [alert] = kit.events("export.key_undelivered")
        assert alert["status"] == "failed"
        assert any(
            f"run {run_id}" in r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING
        )
        # The operator's four-eyes resend now sends exactly one new SMS, without a lookup.
        assert kit.resend(run_id).status_code == 200
        assert len(kit.standin.messages) == 1
    assert reconcile_unknown(kit.engine, deps, grace=timedelta(0)) == 0, "settled once"
