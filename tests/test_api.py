"""The HTTP API end to end: tokens, roles, four-eyes, the claim under concurrency (a real uvicorn
server, SQLite and PostgreSQL), cancel, key resend, batches, the policy dry run, the read-only
registry, the error shape, and an OpenAPI document that lists every role and every error.

Every answer a test receives through ``Api`` is checked against the OpenAPI document (its status
and, for an error, its code must be documented on that operation); every error body and every log
line of a test is checked for personal data and passwords when the test ends.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from app.api.errors import ERRORS
from app.api.routes import ROUTERS
from app.api.routes.exports import LIST_LIMIT
from app.flows.execution import execute
from app.flows.login_throttle import LOGIN_ATTEMPTS
from app.settings import Settings
from app.store import runs
from app.store.db import aware, transaction
from exchange.exports import RunState
from exchange.models import ApiToken, AuditEvent, ExportRun, Recipient, RecipientSftp, User
from tests.api_helpers import (
    API,
    ROLES,
    STAFF_BY_ROLE,
    Api,
    TestClient,
    add_staff,
    check_against_openapi,
    make_app,
    serving,
)
from tests.conftest import TODAY, Kbx
from tests.export_helpers import (
    LOMMEL,
    PASSWORD,
    REQUEST_BODY,
    agree,
    nn,
    password_from,
    personal_data,
    prepare,
    register_contact,
    register_drop_key,
    sms_messages,
)

GENT, ANTWERPEN = "44021", "11002"
LOMMEL_PHONE, GENT_PHONE = "+32478123456", "+32479654321"
REQUEST = {
    "protocol": "art20-municipal",
    "recipient": LOMMEL,
    "period": "2026",
    "channel": "sftp_drop",
    **REQUEST_BODY,
}


def _asked(*nis_codes: str) -> list[dict[str, str]]:
    """The requests received, as the batch body lists them (seed 000, overweging C)."""
    return [
        {"nis_code": n, "requested_on": "2026-11-02", "reference": f"REQ-{n}"} for n in nis_codes
    ]


NOT_LIVE = ("refused", "cancelled", "failed")


@pytest.fixture
def api(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Api]:
    caplog.set_level(logging.DEBUG)
    # httpx is the test's own client: it logs the URLs the tests type (some carry a national
    # number on purpose, to show that kbx never repeats it). kbx's own logs stay at DEBUG.
    caplog.set_level(logging.WARNING, logger="httpx")
    prepare(kbx, tmp_path)
    add_staff(kbx)
    client = Api(make_app(engine, settings))
    yield client
    # Invariant 6: no personal data or password in an error message or a log line.
    leaks = "\n".join([*client.errors, caplog.text])
    for value in [*personal_data(), PASSWORD, *(password_from(m) for m in sms_messages(settings))]:
        assert value not in leaks, "personal data or a password leaked"


def _live_runs(engine: Engine) -> list[ExportRun]:
    with Session(engine) as session:
        return list(session.scalars(select(ExportRun).where(ExportRun.state.not_in(NOT_LIVE))))


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def _request(api: Api, by: str = "olga", **changes: Any) -> httpx.Response:
    return api.post("/exports", as_=by, json={**REQUEST, **changes})


def _code(response: httpx.Response) -> str:
    code: str = response.json()["code"]
    return code


# -- health and tokens ------------------------------------------------------------------------


def test_health_is_open(api: Api) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_failed_token_logins_are_throttled_with_the_consoles(api: Api) -> None:
    """Five failed logins of one name from one address in 15 minutes, the console's form and
    this endpoint together: then 429 with Retry-After, even for the right password; another
    name is not held back."""
    for _ in range(LOGIN_ATTEMPTS):
        wrong = api.post("/auth/token", data={"username": "olga", "password": "not it at all"})
        assert wrong.status_code == 401
    held = api.post("/auth/token", data={"username": "olga", "password": PASSWORD})
    assert (held.status_code, _code(held)) == (429, "auth.throttled")
    assert 800 < int(held.headers["Retry-After"]) <= 900
    assert api.post("/auth/token", data={"username": "otto", "password": PASSWORD}).status_code == (
        200
    )


def test_token_flow(api: Api, engine: Engine, settings: Settings) -> None:
    granted = api.post("/auth/token", data={"username": "olga", "password": PASSWORD})
    assert granted.status_code == 200
    body = granted.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    token = body["access_token"]
    assert api.get("/exports", token=token).status_code == 200

    with engine.connect() as connection:
        stored = list(connection.execute(select(ApiToken.token_hash, ApiToken.expires_at)))
    assert token not in {h for h, _ in stored}, "only the token's digest is stored"

    for username, password in (("olga", "wrong password!"), ("nobody", PASSWORD)):
        refused = api.post("/auth/token", data={"username": username, "password": password})
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.json() == {
            "code": "auth.failed",
            "message": "Wrong name or password",
            "message_nl": "Verkeerde naam of wachtwoord",
        }, "the same answer for an unknown name and a wrong password"

    missing = api.post("/auth/token", data={"username": "olga"})
    assert missing.status_code == 422
    assert _code(missing) == "request.invalid"
    assert ["body", "password"] in [e["loc"] for e in missing.json()["errors"]]
    as_json = api.post("/auth/token", json={"username": "olga", "password": PASSWORD})
    assert as_json.status_code == 422, "the OAuth2 password flow is a form, not JSON"

    # A deactivated account: its tokens stop working and it cannot log in.
    otto = api.login("otto")
    with engine.begin() as connection:
        connection.execute(update(User).where(User.name == "otto").values(active=False))
    disabled = api.get("/exports", token=otto)
    assert (disabled.status_code, _code(disabled)) == (401, "auth.invalid"), "at once"
    retired = api.post("/auth/token", data={"username": "otto", "password": PASSWORD})
    assert (retired.status_code, _code(retired)) == (401, "auth.failed")

    # The clock moves on a day: the token has expired.
    settings.today = TODAY + timedelta(days=1)
    expired = api.get("/exports", token=token)
    assert expired.status_code == 401
    assert _code(expired) == "auth.invalid"
    assert api.post("/auth/token", data={"username": "olga", "password": PASSWORD}).is_success


def _concrete(path: str) -> str:
    values = {
        "{run_id}": "1",
        "{batch_id}": "B-0123456789ab",
        "{protocol_id}": "art20-municipal",
        "{recipient_id}": LOMMEL,
    }
    for name, value in values.items():
        path = path.replace(name, value)
    return path.removeprefix(API)


def _api_routes() -> list[tuple[str, str]]:
    """Every (method, path) the ``/api/v1`` router serves, from the router itself."""
    every = [route for router in ROUTERS for route in router.routes]
    routes = [r for r in every if isinstance(r, APIRoute)]
    assert len(routes) == len(every)
    return sorted((method, route.path) for route in routes for method in route.methods or ())


def test_every_endpoint_but_health_and_token_needs_a_token(api: Api) -> None:
    routes = [(m, p) for m, p in _api_routes() if p != f"{API}/auth/token"]
    assert len(routes) >= 14
    for method, template in routes:
        path = _concrete(template)
        for token, code in ((None, "auth.missing"), ("not-a-token", "auth.invalid")):
            response = api.call(method, path, token=token, json=REQUEST)
            assert response.status_code == 401, f"{method} {template}"
            assert _code(response) == code
            assert response.headers["WWW-Authenticate"] == "Bearer"


# -- roles ------------------------------------------------------------------------------------


def _body_for(template: str) -> dict[str, Any] | None:
    if template.endswith("/exports") or template.endswith("/policy/check"):
        return REQUEST
    if template.endswith("/export-batches"):
        return {
            "protocol": "art20-municipal",
            "period": "2026",
            "channel": "sftp_drop",
            "requests": _asked(LOMMEL),
        }
    return None


def test_roles_are_enforced_as_documented(api: Api) -> None:
    """Every role against every operation: the roles in ``x-roles`` get through, the others get
    403 ``auth.role``. The document and the behaviour cannot drift apart."""
    run_id = _request(api).json()["id"]
    document = api.app.openapi()["paths"]
    checked = 0
    for method, template in _api_routes():
        operation = document[template][method.lower()]
        if template.endswith("/auth/token"):
            assert "x-roles" not in operation
            continue
        allowed = set(operation["x-roles"])
        assert allowed <= set(ROLES)
        path = _concrete(template).replace("/exports/1", f"/exports/{run_id}")
        for role in ROLES:
            response = api.call(method, path, as_=STAFF_BY_ROLE[role], json=_body_for(template))
            where = f"{role}: {method} {template}"
            if role in allowed:
                assert response.status_code not in (401, 403), where
            else:
                assert response.status_code == 403, where
                assert _code(response) == "auth.role", where
                assert role in response.json()["message"]
            checked += 1
    assert checked >= 14 * len(ROLES)


def test_the_roles_of_the_issue(api: Api) -> None:
    run_id = _request(api).json()["id"]
    forbidden = [
        ("aude", "POST", "/exports", "an auditor cannot request"),
        ("aude", "POST", f"/exports/{run_id}/approve", "an auditor cannot approve"),
        ("olga", "POST", f"/exports/{run_id}/approve", "an operator cannot approve"),
        ("arne", "POST", "/exports", "an approver cannot request"),
        ("arne", "POST", "/export-batches", "an approver cannot request a batch"),
        ("vera", "GET", "/exports", "the VSB client sees no runs"),
    ]
    for who, method, path, why in forbidden:
        response = api.call(method, path, as_=who, json=_body_for(path))
        assert (response.status_code, _code(response)) == (403, "auth.role"), why
    assert api.get(f"/exports/{run_id}", as_="aude").json()["state"] == "requested"


def test_the_requester_can_never_approve_their_own_run(api: Api, engine: Engine) -> None:
    created = _request(api, by="ada")  # an admin may request and approve, never both
    assert created.status_code == 201
    run_id = created.json()["id"]
    own = api.post(f"/exports/{run_id}/approve", as_="ada")
    assert own.status_code == 409
    assert _code(own) == "run.four_eyes"
    assert api.get(f"/exports/{run_id}", as_="ada").json()["state"] == "requested"

    approved = api.post(f"/exports/{run_id}/approve", as_="adam")
    assert approved.status_code == 200
    assert approved.json()["approved_by"] == "adam"
    assert approved.json()["state"] == "approved"
    again = api.post(f"/exports/{run_id}/approve", as_="arne")
    assert (again.status_code, _code(again)) == (409, "run.invalid_transition")
    assert _code(api.post("/exports/999/approve", as_="arne")) == "run.unknown"


# -- requests, the claim, concurrency ---------------------------------------------------------


def test_request_show_list_and_a_second_request_refused(api: Api) -> None:
    created = _request(api, recipient="Lommel")  # by name, as the CLI takes it too
    assert created.status_code == 201
    run = created.json()
    assert run["recipient"] == LOMMEL
    assert run["state"] == "requested"
    assert run["requested_by"] == "olga"
    assert run["reference"] == f"KBX-{TODAY.year}-{run['id']:06d}"
    assert run["definition_hash"].startswith("sha256:")

    second = _request(api, by="otto")
    assert second.status_code == 409
    body = second.json()
    assert body["code"] == "policy.refused"
    assert "frequency.exhausted" in [r["rule"] for r in body["reasons"]]
    assert all(r["article"] and r["nl"] and r["en"] for r in body["reasons"])
    assert body["message_nl"] != body["message"]
    refused = api.get(f"/exports/{body['run_id']}", as_="aude").json()
    assert refused["state"] == "refused"
    assert [r["rule"] for r in refused["refusal"]] == [r["rule"] for r in body["reasons"]]

    listed = api.get("/exports", as_="aude").json()
    assert [r["id"] for r in listed] == [run["id"]], "refused requests are not runs"
    every = api.get("/exports", as_="aude", params={"include_refused": "true"}).json()
    assert [r["id"] for r in every] == [refused["id"], run["id"]]
    only_refused = api.get("/exports", as_="aude", params={"state": "refused"}).json()
    assert [r["id"] for r in only_refused] == [refused["id"]]
    only = api.get("/exports", as_="aude", params={"state": "requested"}).json()
    assert [r["id"] for r in only] == [run["id"]]
    assert api.get("/exports", as_="aude", params={"recipient": GENT}).json() == []
    bad_state = api.get("/exports", as_="aude", params={"state": "lost"})
    assert (bad_state.status_code, _code(bad_state)) == (422, "request.invalid")
    assert _code(api.get("/exports/4242", as_="aude")) == "run.unknown"

    ended = _request(api, protocol="mechelen-amif507", recipient="12025")
    assert _code(ended) == "policy.refused"
    assert "protocol.ended" in [r["rule"] for r in ended.json()["reasons"]]
    unknown = _request(api, protocol="no-such-protocol")
    assert (unknown.status_code, _code(unknown)) == (404, "protocol.unknown")
    nowhere = _request(api, recipient="99999")
    assert (nowhere.status_code, _code(nowhere)) == (404, "recipient.unknown")
    no_contact = _request(api, recipient=GENT)
    assert _code(no_contact) == "policy.refused"  # Gent did not sign art20


def test_the_list_answers_the_newest_fifty_runs_unless_asked_for_more(
    api: Api, engine: Engine
) -> None:
    now = datetime.now(UTC)
    with transaction(engine) as session:
        towns = list(
            session.scalars(
                select(Recipient.id)
                .where(Recipient.kind == "municipality")
                .order_by(Recipient.id)
                .limit(LIST_LIMIT + 5)
            )
        )
        for town in towns:
            run = ExportRun(
                protocol_id="art20-municipal",
                recipient_id=town,
                period=str(TODAY.year),
                channel="sftp_drop",
                definition_hash="sha256:test",
                requested_by="olga",
                requested_at=now,
            )
            runs.claim(
                session, run, RunState.REQUESTED, actor="olga", action="export.requested",
                now=now, today=TODAY,
            )  # fmt: skip
    listed = api.get("/exports", as_="aude").json()
    assert len(listed) == LIST_LIMIT == 50
    ids = [r["id"] for r in listed]
    assert ids == sorted(ids, reverse=True), "newest first"
    every = api.get("/exports", as_="aude", params={"limit": 1000}).json()
    assert len(every) == LIST_LIMIT + 5
    assert every[:LIST_LIMIT] == listed
    assert {r["recipient"] for r in every} == set(towns)
    assert all(r["requested_at"] and r["state"] == "requested" for r in every)
    too_many = api.get("/exports", as_="aude", params={"limit": 1001})
    assert (too_many.status_code, _code(too_many)) == (422, "request.invalid")


def test_twenty_simultaneous_requests_yield_exactly_one_run(
    api: Api, engine: Engine, settings: Settings
) -> None:
    tokens = [api.login(name) for name in ("olga", "otto", "ada", "adam")]
    barrier = threading.Barrier(20)

    with serving(api.app) as base:

        def fire(i: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=60) as client:
                barrier.wait()
                return client.post(
                    f"{API}/exports",
                    json=REQUEST,
                    headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                )

        with ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(fire, range(20)))

    for response in responses:
        check_against_openapi(api.app, "POST", f"{API}/exports", response)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    for response in responses:
        if response.status_code == 409:
            body = response.json()
            assert body["code"] == "policy.refused"
            assert "frequency.exhausted" in [r["rule"] for r in body["reasons"]]
    [winner] = [r.json() for r in responses if r.status_code == 201]
    [live] = _live_runs(engine)
    assert live.id == winner["id"]
    assert live.state == "requested"


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_frees_the_slot_and_only_before_the_build(
    api: Api, engine: Engine, settings: Settings
) -> None:
    run_id = _request(api).json()["id"]
    forbidden = api.post(f"/exports/{run_id}/cancel", as_="aude")
    assert (forbidden.status_code, _code(forbidden)) == (403, "auth.role")
    cancelled = api.post(f"/exports/{run_id}/cancel", as_="olga")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    twice = api.post(f"/exports/{run_id}/cancel", as_="arne")
    assert (twice.status_code, _code(twice)) == (409, "run.invalid_transition")
    late = api.post(f"/exports/{run_id}/approve", as_="arne")
    assert (late.status_code, _code(late)) == (409, "run.invalid_transition")
    assert _code(api.post("/exports/4242/cancel", as_="olga")) == "run.unknown"

    again = _request(api)
    assert again.status_code == 201, "a cancelled run frees its slot"
    new_id = again.json()["id"]
    assert api.post(f"/exports/{new_id}/approve", as_="arne").status_code == 200
    # Approved, it is no longer an approver's to reject (exchange.exports.may_cancel) ...
    late_reject = api.post(f"/exports/{new_id}/cancel", as_="arne", json={"reason": "Dubbel"})
    assert (late_reject.status_code, _code(late_reject)) == (409, "run.not_requester")
    # ... but its requester still withdraws it before the build.
    withdrawn = api.post(f"/exports/{new_id}/cancel", as_="olga")
    assert withdrawn.json()["state"] == "cancelled"

    third = _request(api).json()["id"]
    assert api.post(f"/exports/{third}/approve", as_="arne").status_code == 200
    assert execute(engine, api.app.state.deps, third) == "key_sent"
    built = api.post(f"/exports/{third}/cancel", as_="olga")
    assert (built.status_code, _code(built)) == (409, "run.invalid_transition")


# -- key resend -------------------------------------------------------------------------------


def _delivered_run(api: Api, engine: Engine) -> int:
    run_id: int = _request(api).json()["id"]
    too_early = api.post(f"/exports/{run_id}/key-resend", as_="olga")
    assert (too_early.status_code, _code(too_early)) == (409, "run.no_key_yet")
    assert api.post(f"/exports/{run_id}/approve", as_="arne").status_code == 200
    assert execute(engine, api.app.state.deps, run_id) == "key_sent"
    return run_id


def test_a_key_resend_is_four_eyes_and_goes_only_to_the_registered_contact(
    api: Api, engine: Engine, settings: Settings
) -> None:
    run_id = _delivered_run(api, engine)
    [first] = sms_messages(settings)
    assert first["to"] == LOMMEL_PHONE

    nothing_asked = api.post(f"/exports/{run_id}/key-resend/approve", as_="arne")
    assert (nothing_asked.status_code, _code(nothing_asked)) == (409, "run.no_resend_request")
    not_an_operator = api.post(f"/exports/{run_id}/key-resend", as_="arne")
    assert (not_an_operator.status_code, _code(not_an_operator)) == (403, "auth.role")

    # A phone number in the request is not even read: the key goes to the registered contact.
    asked = api.post(f"/exports/{run_id}/key-resend", as_="ada", json={"phone": "+32470999999"})
    assert asked.status_code == 200
    assert asked.json()["resend_requested_by"] == "ada"
    assert len(sms_messages(settings)) == 1, "asking sends nothing"
    own = api.post(f"/exports/{run_id}/key-resend/approve", as_="ada")
    assert (own.status_code, _code(own)) == (409, "run.four_eyes")
    by_operator = api.post(f"/exports/{run_id}/key-resend/approve", as_="olga")
    assert (by_operator.status_code, _code(by_operator)) == (403, "auth.role")
    assert len(sms_messages(settings)) == 1

    approved = api.post(f"/exports/{run_id}/key-resend/approve", as_="arne")
    assert approved.status_code == 200
    assert approved.json()["resend_requested_by"] is None
    messages = sms_messages(settings)
    assert len(messages) == 2
    assert [m["to"] for m in messages] == [LOMMEL_PHONE, LOMMEL_PHONE]
    assert messages[1]["reference"] == first["reference"]
    assert password_from(messages[1]) == password_from(first), "the same file, the same key"

    once = api.post(f"/exports/{run_id}/key-resend/approve", as_="adam")
    assert (once.status_code, _code(once)) == (409, "run.no_resend_request")
    assert len(sms_messages(settings)) == 2

    with engine.connect() as connection:
        events = list(
            connection.execute(
                select(AuditEvent.actor, AuditEvent.action).where(
                    AuditEvent.subject == f"run:{run_id}"
                )
            )
        )
    assert ("ada", "export.key_resend_requested") in events
    assert ("arne", "export.key_resent") in events
    assert _code(api.post("/exports/4242/key-resend", as_="olga")) == "run.unknown"


def test_no_resend_once_the_password_is_destroyed(api: Api, engine: Engine) -> None:
    run_id = _delivered_run(api, engine)
    with engine.begin() as connection:
        connection.execute(
            update(ExportRun).where(ExportRun.id == run_id).values(password_sealed=None)
        )
    gone = api.post(f"/exports/{run_id}/key-resend", as_="olga")
    assert (gone.status_code, _code(gone)) == (409, "run.key_destroyed")


# -- batches ----------------------------------------------------------------------------------


def _sign(kbx: Kbx, tmp_path: Path, nis: str, phone: str | None) -> None:
    agree(
        kbx,
        *("protocols", "sign", "art20-municipal", "--recipient", nis),
        *("--signed-on", "2026-01-15", "--in-force", "2026-02-01"),
    )
    if phone is None:
        return
    key = tmp_path / f"{nis}_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    register_drop_key(kbx, nis, key)
    register_contact(kbx, nis, phone, f"burgerzaken@{nis}.example.be")


def test_a_batch_makes_one_run_per_signed_recipient_approved_once_by_a_second_person(
    api: Api, kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    _sign(kbx, tmp_path, GENT, GENT_PHONE)
    _sign(kbx, tmp_path, ANTWERPEN, None)  # signed, but no contact for the key: no run
    batch_body = {
        "protocol": "art20-municipal",
        "period": "2026",
        "channel": "sftp_drop",
        "requests": _asked(LOMMEL, GENT, ANTWERPEN),
    }
    created = api.post("/export-batches", as_="olga", json=batch_body)
    assert created.status_code == 201
    batch = created.json()
    assert sorted(r["recipient"] for r in batch["runs"]) == [GENT, LOMMEL]
    assert {r["batch"] for r in batch["runs"]} == {batch["batch"]}
    assert list(batch["refused"]) == [ANTWERPEN]
    [unreachable] = batch["refused"][ANTWERPEN]
    assert unreachable["rule"] == "recipient.no_contact"
    assert unreachable["article"] is None
    assert unreachable["en"] == f"recipient {ANTWERPEN} has no registered contact for the key SMS"
    assert unreachable["nl"] == (
        f"ontvanger {ANTWERPEN} heeft geen geregistreerde contactpersoon voor de sleutel-sms"
    )

    # Not one recipient can have a run: nothing is requested, and every reason is answered.
    again = api.post("/export-batches", as_="otto", json=batch_body)
    assert (again.status_code, _code(again)) == (409, "batch.refused")
    refused = again.json()
    assert set(refused["refused"]) == {GENT, LOMMEL, ANTWERPEN}
    assert "frequency.exhausted" in [r["rule"] for r in refused["refused"][LOMMEL]]
    for reasons in refused["refused"].values():
        assert reasons
        assert all(r["rule"] and r["nl"] and r["en"] and "article" in r for r in reasons)
    assert all(r["article"] for r in refused["refused"][LOMMEL]), "a protocol rule's article"
    assert refused["refused"][ANTWERPEN] == batch["refused"][ANTWERPEN]
    assert refused["message_nl"] != refused["message"]
    recorded = api.get(
        "/exports", as_="aude", params={"batch": refused["batch"], "include_refused": "true"}
    ).json()
    assert {(r["recipient"], r["state"]) for r in recorded} == {
        (GENT, "refused"),
        (LOMMEL, "refused"),
    }, "the policy refusals are recorded under the batch id"

    listed = api.get("/exports", as_="aude", params={"batch": batch["batch"]}).json()
    assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in batch["runs"])

    operator = api.post(f"/export-batches/{batch['batch']}/approve", as_="olga")
    assert (operator.status_code, _code(operator)) == (403, "auth.role")
    approved = api.post(f"/export-batches/{batch['batch']}/approve", as_="arne")
    assert approved.status_code == 200
    assert sorted(r["recipient"] for r in approved.json()) == [GENT, LOMMEL]
    assert {(r["state"], r["approved_by"]) for r in approved.json()} == {("approved", "arne")}
    nothing = api.post(f"/export-batches/{batch['batch']}/approve", as_="adam")
    assert (nothing.status_code, _code(nothing)) == (409, "batch.nothing_to_approve")
    unknown = api.post("/export-batches/B-000000000000/approve", as_="arne")
    assert (unknown.status_code, _code(unknown)) == (404, "batch.unknown")
    malformed = api.post("/export-batches/nonsense/approve", as_="arne")
    assert (malformed.status_code, _code(malformed)) == (422, "request.invalid")

    for run in approved.json():
        assert execute(engine, api.app.state.deps, run["id"]) == "key_sent"
    assert sorted(m["to"] for m in sms_messages(settings)) == sorted([LOMMEL_PHONE, GENT_PHONE])

    fixed = api.post(
        "/export-batches",
        as_="olga",
        json={"protocol": "vsb-care", "period": "2026", "channel": "sftp_push"},
    )
    assert (fixed.status_code, _code(fixed)) == (400, "batch.not_applicable")
    unknown_protocol = api.post("/export-batches", as_="olga", json={**batch_body, "protocol": "x"})
    assert (unknown_protocol.status_code, _code(unknown_protocol)) == (404, "protocol.unknown")


def test_a_batch_is_approved_all_or_nothing_and_never_by_its_requester(
    api: Api, kbx: Kbx, tmp_path: Path
) -> None:
    _sign(kbx, tmp_path, GENT, GENT_PHONE)
    body = {
        "protocol": "art20-municipal",
        "period": "2026",
        "channel": "sftp_drop",
        "requests": _asked(LOMMEL, GENT),
    }
    batch = api.post("/export-batches", as_="ada", json=body).json()
    assert len(batch["runs"]) == 2
    own = api.post(f"/export-batches/{batch['batch']}/approve", as_="ada")
    assert (own.status_code, _code(own)) == (409, "run.four_eyes")
    states = {r["state"] for r in api.get("/exports", as_="ada").json()}
    assert states == {"requested"}, "nothing of the batch was approved"
    approved = api.post(f"/export-batches/{batch['batch']}/approve", as_="adam")
    assert [r["approved_by"] for r in approved.json()] == ["adam", "adam"]


# -- the policy dry run -----------------------------------------------------------------------


def test_a_recipient_is_named_by_code_or_name_and_a_vague_name_is_refused(api: Api) -> None:
    def checked(recipient: str) -> httpx.Response:
        return api.post("/policy/check", as_="olga", json={**REQUEST, "recipient": recipient})

    assert checked("lommel").status_code == 200
    vague = checked("Sint")
    assert (vague.status_code, _code(vague)) == (400, "recipient.ambiguous")
    assert vague.json()["message"].startswith(
        "'Sint' names 10 recipients: Puurs-Sint-Amands (12041)"
    )
    typo = checked("Gnet")
    assert (typo.status_code, _code(typo)) == (404, "recipient.unknown")
    assert "Gent (44021)" in typo.json()["message"]
    number = checked("85073003328")
    assert (number.status_code, _code(number)) == (422, "request.invalid")
    assert "85073003328" not in number.text

    # Paths and filters take names and references as the command line does.
    assert api.get("/recipients/Gent", as_="aude").json()["id"] == GENT
    assert _code(api.get("/recipients/Heist", as_="aude")) == "recipient.ambiguous"
    run = _request(api, recipient="Lommel").json()
    by_reference = api.get(f"/exports/{run['reference'].lower()}", as_="aude")
    assert by_reference.json()["id"] == run["id"]
    listed = api.get("/exports", as_="aude", params={"recipient": "lommel"}).json()
    assert [r["id"] for r in listed] == [run["id"]]
    unknown = api.get("/exports", as_="aude", params={"recipient": "Gnet"})
    assert (unknown.status_code, _code(unknown)) == (404, "recipient.unknown")
    assert api.get("/exports/KBX-2026-999999", as_="aude").status_code == 404
    assert api.get("/exports/KBX-2026-999999").status_code == 401, "who may not ask learns nothing"


def test_the_policy_check_is_a_dry_run(api: Api, engine: Engine) -> None:
    before = (_count(engine, ExportRun), _count(engine, AuditEvent))
    for who in ("olga", "arne", "aude", "ada"):
        allowed = api.post("/policy/check", as_=who, json=REQUEST)
        assert allowed.status_code == 200
        assert allowed.json()["allowed"] is True
        assert allowed.json()["reasons"] == []
    refused = api.post(
        "/policy/check",
        as_="olga",
        json={**REQUEST, "protocol": "vcmp-ceremony", "channel": "secure_mail", "period": "2025"},
    ).json()
    assert refused["allowed"] is False
    rules = {r["rule"] for r in refused["reasons"]}
    assert {"channel.expired", "period.not_current"} <= rules, rules
    assert refused["definition_hash"].startswith("sha256:")
    assert (_count(engine, ExportRun), _count(engine, AuditEvent)) == before, "nothing recorded"

    unknown = api.post("/policy/check", as_="olga", json={**REQUEST, "protocol": "nope"})
    assert (unknown.status_code, _code(unknown)) == (404, "protocol.unknown")
    nowhere = api.post("/policy/check", as_="olga", json={**REQUEST, "recipient": "99999"})
    assert (nowhere.status_code, _code(nowhere)) == (404, "recipient.unknown")

    assert _request(api).status_code == 201
    taken = api.post("/policy/check", as_="aude", json=REQUEST).json()
    assert taken["allowed"] is False
    assert [r["rule"] for r in taken["reasons"]] == ["frequency.exhausted"]


# -- protocols and recipients -----------------------------------------------------------------


def test_protocols_and_recipients_are_read_only(api: Api) -> None:
    protocols = api.get("/protocols", as_="aude").json()
    assert [p["id"] for p in protocols] == [
        "art20-municipal",
        "mechelen-amif507",
        "vcmp-ceremony",
        "vdab-pillar3",
        "vsb-care",
    ]
    shown = api.get("/protocols/art20-municipal", as_="aude").json()
    assert shown["id"] == "art20-municipal"
    assert _code(api.get("/protocols/nope", as_="aude")) == "protocol.unknown"

    recipients = {r["id"]: r for r in api.get("/recipients", as_="aude").json()}
    assert len(recipients) >= 287
    assert recipients[LOMMEL]["has_contact"] is True
    assert recipients[LOMMEL]["keys"] == 1
    lommel = api.get(f"/recipients/{LOMMEL}", as_="aude").json()
    assert lommel == recipients[LOMMEL]
    assert "+32" not in str(lommel), "no contact details"
    assert _code(api.get("/recipients/99999", as_="aude")) == "recipient.unknown"

    for method, path in _api_routes():
        # A recipient changes only through a four-eyes proposal (/recipients/{id}/changes).
        if path.startswith((f"{API}/protocols", f"{API}/recipients")) and not path.endswith(
            "/changes"
        ):
            assert method == "GET", path
    for path in (
        "/protocols",
        "/protocols/art20-municipal",
        "/recipients",
        f"/recipients/{LOMMEL}",
    ):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = api.client.request(
                method, API + path, headers={"Authorization": f"Bearer {api.login('ada')}"}
            )
            assert response.status_code == 405, f"{method} {path}"
            assert response.json()["code"] == "http.method_not_allowed"


# -- the error shape --------------------------------------------------------------------------


def test_validation_errors_have_the_error_shape_and_never_repeat_a_value(api: Api) -> None:
    national_number = nn(1)
    missing = api.post("/exports", as_="olga", json={"protocol": "art20-municipal"})
    assert missing.status_code == 422
    body = missing.json()
    assert body["code"] == "request.invalid"
    assert body["message_nl"] == "De aanvraag is ongeldig"
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "recipient"),
        ("body", "period"),
        ("body", "channel"),
    }
    # A national number typed where an id belongs is refused before anything can repeat it.
    for field in ("recipient", "protocol", "period", "channel"):
        typo = _request(api, **{field: national_number})
        assert (typo.status_code, _code(typo)) == (422, "request.invalid"), field
        assert national_number not in typo.text
    lookback = _request(api, lookback_years=national_number)
    assert (lookback.status_code, _code(lookback)) == (422, "request.invalid")
    assert national_number not in lookback.text
    for path in (f"/exports/{national_number}", "/exports/abc", f"/recipients/{national_number}"):
        response = api.get(path, as_="aude")
        assert (response.status_code, _code(response)) == (422, "request.invalid"), path
        assert national_number not in response.text
    broken = api.post(
        "/exports",
        as_="olga",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (broken.status_code, _code(broken)) == (422, "request.invalid")

    nowhere = api.client.get(f"{API}/nowhere")
    assert nowhere.status_code == 404
    assert nowhere.json()["code"] == "http.not_found"
    unreadable = api.client.post(
        f"{API}/auth/token", content=b"--x", headers={"Content-Type": "multipart/form-data"}
    )
    assert (unreadable.status_code, unreadable.json()) == (
        400,
        {
            "code": "http.bad_request",
            "message": ERRORS["http.bad_request"].en,
            "message_nl": ERRORS["http.bad_request"].nl,
        },
    )


def test_an_unexpected_failure_is_a_json_500_without_its_text(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = nn(2)

    def boom(*_args: object) -> None:
        raise RuntimeError(f"something about {secret}")

    monkeypatch.setattr("app.api.routes.recipients.list_recipients", boom)
    client = TestClient(api.app, raise_server_exceptions=False)
    response = client.get(
        f"{API}/recipients", headers={"Authorization": f"Bearer {api.login('aude')}"}
    )
    check_against_openapi(api.app, "GET", f"{API}/recipients", response)
    assert response.status_code == 500
    assert response.json()["code"] == "internal.error"
    assert secret not in response.text
    assert secret not in caplog.text
    assert "RuntimeError" in caplog.text


def test_an_answer_carries_the_flows_own_dutch_message(api: Api) -> None:
    """Dutch and English carry the same facts: a flow's own Dutch message is answered, the
    catalogue's generic one only when the flow gave none."""
    by_mail = _request(api, channel="zivver").json()
    assert by_mail["code"] == "recipient.no_mailbox"
    assert by_mail["message"] == "recipient 72020 has no mailbox registered for zivver"
    assert (
        by_mail["message_nl"] == "ontvanger 72020 heeft geen e-mailadres geregistreerd voor zivver"
    )

    run_id = _request(api, by="ada").json()["id"]
    own = api.post(f"/exports/{run_id}/approve", as_="ada").json()
    assert own["message_nl"] == f"ada vroeg export {run_id} zelf aan en kan ze niet goedkeuren"
    unknown = api.get("/exports/4242", as_="aude").json()
    assert unknown["message"] == "unknown run 4242"
    assert unknown["message_nl"] == "onbekende export 4242"
    early = api.post(f"/exports/{run_id}/key-resend", as_="olga").json()
    assert early["message_nl"] == f"de sleutel van export {run_id} is nog niet verstuurd"
    role = api.post("/exports", as_="aude", json=REQUEST).json()
    assert role["message"] == "user 'aude' (auditor) may not request exports"
    assert role["message_nl"] == "gebruiker 'aude' (auditor) mag geen exports aanvragen"


# -- timestamps -------------------------------------------------------------------------------

ISO_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")


def test_a_timestamp_reads_the_same_with_its_offset_in_every_answer(
    api: Api, engine: Engine
) -> None:
    """SQLite gives a stored moment back without its zone, PostgreSQL in the session's: the
    answers show it the same, ISO 8601 in Brussels time with the offset."""
    created = _request(api).json()
    run_id = created["id"]
    requested_at = created["requested_at"]
    assert ISO_WITH_OFFSET.fullmatch(requested_at), requested_at
    assert requested_at.endswith("+01:00"), "Brussels time in November"
    shown = api.get(f"/exports/{run_id}", as_="aude").json()
    [listed] = api.get("/exports", as_="aude").json()
    assert shown["requested_at"] == listed["requested_at"] == requested_at

    approved = api.post(f"/exports/{run_id}/approve", as_="arne").json()
    assert approved["requested_at"] == requested_at
    assert ISO_WITH_OFFSET.fullmatch(approved["approved_at"])
    assert (
        api.get(f"/exports/{run_id}", as_="aude").json()["approved_at"] == approved["approved_at"]
    )
    assert execute(engine, api.app.state.deps, run_id) == "key_sent"
    done = api.get(f"/exports/{run_id}", as_="aude").json()
    for field in ("requested_at", "approved_at", "delivered_at", "key_sent_at", "expires_at"):
        assert ISO_WITH_OFFSET.fullmatch(done[field]), field
    with Session(engine) as session:
        run = session.get(ExportRun, run_id)
        assert run is not None
        stored = aware(run.requested_at)
    assert stored is not None
    assert datetime.fromisoformat(requested_at) == stored.replace(microsecond=0)

    proposed = api.post(
        f"/recipients/{LOMMEL}/changes",
        as_="olga",
        json={"kind": "mail", "address": "burgerzaken@lommel.be", "route": "zivver"},
    ).json()
    assert ISO_WITH_OFFSET.fullmatch(proposed["requested_at"])
    [waiting] = api.get("/recipient-changes", as_="aude").json()
    assert waiting["requested_at"] == proposed["requested_at"]


# -- the OpenAPI document ---------------------------------------------------------------------


def test_the_openapi_document_lists_every_role_and_every_error(api: Api) -> None:
    document = api.app.openapi()
    schemas = document["components"]["schemas"]
    error = schemas["ErrorOut"]
    assert {"code", "message", "message_nl"} <= set(error["required"])
    assert "HTTPValidationError" not in schemas, "FastAPI's own 422 shape is replaced by ours"
    assert (
        document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"][
            "tokenUrl"
        ]
        == f"{API}/auth/token"
    )

    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert set(_api_routes()) <= documented

    operations = 0
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            where = f"{method.upper()} {path}"
            operations += 1
            responses = operation["responses"]
            if path in ("/health", f"{API}/auth/token"):
                assert "security" not in operation, where
            else:
                assert operation["security"] == [{"OAuth2PasswordBearer": []}], where
                roles = operation["x-roles"]
                assert roles, where
                assert set(roles) <= set(ROLES), where
                assert f"**Roles:** {', '.join(roles)}." in operation["description"], where
                assert set(responses["401"]["x-error-codes"]) == {"auth.missing", "auth.invalid"}
                assert responses["403"]["x-error-codes"] == ["auth.role"], where
            if path == "/health":
                continue
            takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
            assert ("422" in responses) == takes_input, where
            assert "500" in responses, where
            codes = operation["x-error-codes"]
            assert len(codes) == len(set(codes)), where
            for status, response in responses.items():
                if int(status) < 400:
                    continue
                content = response["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, where
                for code in response["x-error-codes"]:
                    assert ERRORS[code].status == int(status), f"{where}: {code}"
                    assert code in codes, where
                    assert f"`{code}`" in operation["description"], where
                    example = content["examples"][code]["value"]
                    assert example["code"] == code
                    assert example["message"]
                    assert example["message_nl"]
            by_status = {c for r in responses.values() for c in r.get("x-error-codes", [])}
            assert by_status == set(codes), where
    assert operations >= 16

    # What the issue names, where it belongs.
    paths = document["paths"]
    assert "policy.refused" in paths[f"{API}/exports"]["post"]["x-error-codes"]
    assert "run.four_eyes" in paths[f"{API}/exports/{{run_id}}/approve"]["post"]["x-error-codes"]
    resend = paths[f"{API}/exports/{{run_id}}/key-resend/approve"]["post"]
    assert "run.four_eyes" in resend["x-error-codes"]
    assert set(paths[f"{API}/auth/token"]["post"]["x-error-codes"]) == {
        "auth.failed",
        "auth.throttled",
        "request.invalid",
        "internal.error",
    }


# The codes of the catalogue that no operation of the OpenAPI document answers, and why.
NOT_IN_THE_DOCUMENT = {
    # the framework's own answers, to a path or method no operation has, or a body it cannot read
    "http.bad_request": "framework",
    "http.not_found": "framework",
    "http.method_not_allowed": "framework",
    # Twilio's status callback, which the document (of the staff API) leaves out
    "sms.bad_signature": "callback",
    "sms.invalid_callback": "callback",
    "sms.unknown": "callback",
    # the command line's today: agreements, staff accounts, the VDAB round trip
    "user.weak_password": "cli",
    "user.name_invalid": "cli",
    "user.exists": "cli",
    "user.unknown": "cli",
    "user.self": "cli",
    "user.unchanged": "cli",
    "audit.unknown": "cli",
    "run.no_return_leg": "cli",
    "run.not_awaiting_return": "cli",
    # the command line's start: a database it cannot use (the service does not start then)
    "period.invalid": "cli",  # the API's body validation answers 422 first
    "database.not_migrated": "cli",
    "database.unreachable": "cli",
    "database.url_invalid": "cli",
    "kbi.semicolon_separated": "cli",
    # protocol dates (vdab-pillar3 art. 5) are recorded by an admin on the command line
    "protocol.no_such_date": "cli",
    "protocol.date_in_future": "cli",
}


def test_every_error_code_is_documented_somewhere(api: Api) -> None:
    document = api.app.openapi()
    used = {
        code
        for ops in document["paths"].values()
        for operation in ops.values()
        for code in operation.get("x-error-codes", [])
    }
    assert used <= set(ERRORS), "a route declares a code the catalogue does not hold"
    assert used.isdisjoint(NOT_IN_THE_DOCUMENT), "a code said to be undocumented is documented"
    assert used | set(NOT_IN_THE_DOCUMENT) == set(ERRORS), "a code in ERRORS no route answers"


# -- recipient changes ------------------------------------------------------------------------


def test_recipient_changes_through_the_api_need_a_second_person(
    api: Api, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    key = tmp_path / "kbx_to_vsb"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    host = tmp_path / "vsb_host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host)], check=True)
    body = {
        "kind": "sftp",
        "host": "sftp.vsb.example",
        "port": 2022,
        "username": "agii",
        "private_key": key.read_text(),
        "host_key": " ".join(host.with_suffix(".pub").read_text().split()[:2]),
        "path": "in",
    }
    proposed = api.post("/recipients/vsb/changes", as_="olga", json=body)
    assert proposed.status_code == 201, proposed.text
    change = proposed.json()
    assert change["state"] == "pending"
    assert "BEGIN OPENSSH" not in proposed.text
    listed = api.get("/recipient-changes", as_="aude").json()
    assert [c["id"] for c in listed] == [change["id"]]

    own = api.post(f"/recipient-changes/{change['id']}/approve", as_="otto")
    assert own.status_code == 403, "an operator does not decide"
    same = api.post(f"/recipient-changes/{change['id']}/approve", as_="ada")
    assert same.status_code == 200, "an admin who did not propose may"
    assert same.json()["state"] == "applied"
    again = api.post(f"/recipient-changes/{change['id']}/reject", as_="arne")
    assert _code(again) == "change.decided"
    with Session(engine) as session:
        row = session.get(RecipientSftp, "vsb")
        assert row is not None
        assert (row.host, row.port, row.path) == ("sftp.vsb.example", 2022, "in")

    mine = api.post(
        "/recipients/72020/changes",
        as_="ada",
        json={"kind": "mail", "address": "burgerzaken@lommel.be", "route": "zivver"},
    )
    assert mine.status_code == 201
    assert _code(api.post(f"/recipient-changes/{mine.json()['id']}/approve", as_="ada")) == (
        "change.four_eyes"
    )
    bad = api.post(
        "/recipients/72020/changes",
        as_="olga",
        json={"kind": "contact", "name": "X", "phone": "+3211540000", "email": "x@lommel.be"},
    )
    assert _code(bad) == "change.invalid_contact"
    assert "+3211540000" not in bad.text


def test_a_puttygen_key_is_accepted_and_a_broken_one_refused_without_its_text(
    api: Api, tmp_path: Path
) -> None:
    key = tmp_path / "gemeente"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    rfc4716 = subprocess.run(
        ["ssh-keygen", "-e", "-f", f"{key}.pub"], check=True, capture_output=True, text=True
    ).stdout
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    body = {"kind": "key", "public_key": "\ufeff" + rfc4716.replace("\n", "\r\n")}
    proposed = api.post("/recipients/72020/changes", as_="olga", json=body)
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["summary"] == f"add drop key ssh-ed25519 {fingerprint}"

    broken = "---- BEGIN SSH2 PUBLIC KEY ----\n85073003328\n---- END SSH2 PUBLIC KEY ----\n"
    refused = api.post(
        "/recipients/72020/changes", as_="olga", json={"kind": "key", "public_key": broken}
    )
    assert (refused.status_code, _code(refused)) == (400, "change.invalid_key")
    assert refused.json()["message"] == "an SSH2 (RFC 4716) key whose key lines are not base64"
    assert "85073003328" not in refused.text


def test_agreements_through_the_api(api: Api, engine: Engine) -> None:
    listed = api.get("/agreements", as_="aude")
    assert listed.status_code == 200, listed.text
    assert [
        (a["protocol_id"], a["recipient_id"], a["kind"], a["state"]) for a in listed.json()
    ] == [
        ("art20-municipal", LOMMEL, "signature", "in_force"),
        ("mechelen-amif507", "12025", "signature", "ended"),
        ("vdab-pillar3", "vdab", "party", "in_force"),
        ("vsb-care", "vsb", "party", "in_force"),
    ]
    lommel = api.get(f"/agreements/art20-municipal/{LOMMEL}", as_="aude").json()
    assert (lommel["signed_on"], lommel["in_force_on"], lommel["source"]) == (
        "2024-04-10",
        "2024-02-01",
        "definition",
    )
    unknown = api.get(f"/agreements/art20-municipal/{GENT}", as_="aude")
    assert (unknown.status_code, _code(unknown)) == (404, "agreement.unknown")

    suspend = {"transition": "suspend", "reason": "datalek", "article": "Art. 8"}
    path = f"/agreements/art20-municipal/{LOMMEL}/transitions"
    by_auditor = api.post(path, as_="aude", json=suspend)
    assert (by_auditor.status_code, _code(by_auditor)) == (403, "auth.role")
    no_article = api.post(path, as_="olga", json={"transition": "suspend", "reason": "datalek"})
    assert (no_article.status_code, _code(no_article)) == (400, "agreement.missing")
    proposed = api.post(path, as_="olga", json=suspend)
    assert proposed.status_code == 201, proposed.text
    change = proposed.json()
    assert (change["kind"], change["state"]) == ("agreement_state", "pending")
    assert api.get(f"/agreements/art20-municipal/{LOMMEL}", as_="aude").json()["state"] == (
        "in_force"
    ), "not before approval"
    approved = api.post(f"/recipient-changes/{change['id']}/approve", as_="arne")
    assert approved.status_code == 200, approved.text
    after = api.get(f"/agreements/art20-municipal/{LOMMEL}", as_="aude").json()
    assert (after["state"], after["suspended_on"], after["suspension_article"]) == (
        "suspended",
        TODAY.isoformat(),
        "Art. 8",
    )
    assert (after["source"], after["approved_by"]) == ("record", None)
    checked = api.post("/policy/check", as_="olga", json=REQUEST)
    assert [r["rule"] for r in checked.json()["reasons"]] == ["agreement.suspended"]
    twice = api.post(path, as_="olga", json=suspend)
    assert (twice.status_code, _code(twice)) == (409, "agreement.suspended")

    accession = {
        "protocol": "vcmp-ceremony",
        "recipient": GENT,
        "kind": "accession",
        "signed_on": "2024-06-01",
        "document": "GENT-VCMP",
        "cadence": "two-yearly",
    }
    early = api.post("/agreements", as_="olga", json=accession)
    assert (early.status_code, _code(early)) == (400, "accession.before_deliberation")
    ok = api.post("/agreements", as_="olga", json={**accession, "signed_on": "2025-02-03"})
    assert ok.status_code == 201, ok.text
    own = api.post(f"/recipient-changes/{ok.json()['id']}/approve", as_="olga")
    assert own.status_code == 403
    assert api.post(f"/recipient-changes/{ok.json()['id']}/approve", as_="ada").status_code == 200
    gent = api.get("/agreements", as_="aude", params={"recipient": GENT}).json()
    assert [(a["protocol_id"], a["cadence"], a["recorded_by"], a["approved_by"]) for a in gent] == [
        ("vcmp-ceremony", "two-yearly", "olga", "ada")
    ]


def test_a_request_needs_a_way_to_reach_the_recipient_over_its_channel(
    api: Api, engine: Engine
) -> None:
    by_mail = _request(api, channel="zivver")
    assert (by_mail.status_code, _code(by_mail)) == (409, "recipient.no_mailbox")
    assert _live_runs(engine) == []
