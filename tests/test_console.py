"""The staff console end to end: the real application (``create_app``) through Starlette's
TestClient, on a migrated SQLite and PostgreSQL database, with staff made by the CLI.

Login (argon2, throttled, audited without an unknown name), a disabled account, logout, the idle
timeout, the security headers, CSRF, the request form with the policy's answer first, four-eyes
on the run's page and against a forged POST, an auditor who is shown no form, a refusal with its
rule and article, and pages that load nothing from another host.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.api.app import create_app
from app.api.headers import CONSOLE_HEADERS as HEADERS
from app.registry import load_registry
from app.settings import Environment, Settings
from app.web.console import LOGIN_ATTEMPTS, LOGIN_RATE_LIMIT, SESSION_HOURS
from app.web.session import COOKIE, open_session, seal
from app.wiring import build_deps
from exchange.models import AuditEvent, ExportRun, RateLimitHit
from tests.api_helpers import TestClient, make_app
from tests.conftest import Kbx
from tests.console_helpers import NOBODY, Console, Harness, get_forms, open_console, post_forms
from tests.export_helpers import LOMMEL, PASSWORD

LOMMEL_YEARLY = {
    "protocol": "art20-municipal",
    "recipient": "Lommel",
    "period": "2026",
    "channel": "sftp_drop",
    "lookback_years": "",
    "requested_on": "2026-11-02",
    "request_ref": "BZ/2026/0117",
}


@pytest.fixture
def app_for(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[Harness]:
    yield from open_console(kbx, engine, settings, tmp_path, caplog)


@pytest.fixture
def browser(app_for: Harness) -> Console:
    return app_for.browser()


def _events(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _runs(engine: Engine) -> list[ExportRun]:
    with Session(engine) as session:
        return list(session.scalars(select(ExportRun).order_by(ExportRun.id)))


# -- login, logout, idle ---------------------------------------------------------------------


def test_login_logout_and_the_overview(browser: Console, engine: Engine) -> None:
    first = browser.get("/")
    assert first.url.path == "/login", "the console needs a login"
    assert "Aanmelden" in first.text
    page = browser.login("arne")
    assert page.status_code == 200
    assert page.url.path == "/"
    assert "Overzicht" in page.text
    assert "Wachten op mijn goedkeuring" in page.text
    assert "arne (goedkeurder)" in page.text
    assert [e.actor for e in _events(engine, "console.login")] == ["arne"]

    # A copy of the cookie taken before Afmelden (another tab, a stolen copy): worth nothing
    # after it, because the server ends the session too (users.signed_out_at).
    copied = browser.client.cookies.get(COOKIE)
    assert copied is not None
    out = browser.post("/logout")
    assert out.url.path == "/login"
    assert browser.get("/exports").url.path == "/login", "the session is gone"
    assert [e.actor for e in _events(engine, "console.logout")] == ["arne"]
    thief = TestClient(browser.client.app)
    thief.cookies.set(COOKIE, copied)
    replayed = thief.get("/audit", follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/login?")
    # Signing in again after signing out works at once.
    assert browser.login("arne").url.path == "/"


def test_after_logging_in_the_page_asked_for_and_never_another_site(browser: Console) -> None:
    asked = browser.get("/audit?action=console.login")
    assert asked.url.path == "/login"
    assert asked.url.params["naar"] == "/audit?action=console.login"
    assert 'name="naar" value="/audit?action=console.login"' in asked.text
    landed = browser.post(
        "/login", {"username": "arne", "password": PASSWORD, "naar": asked.url.params["naar"]}
    )
    assert (landed.url.path, landed.url.params.get("action")) == ("/audit", "console.login")
    # Logged in already: the login page sends one on.
    assert browser.get("/login").url.path == "/"
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/logout"):
        other = Console(browser.client)
        other.client.cookies.clear()
        other.get("/login")
        done = other.post("/login", {"username": "arne", "password": PASSWORD, "naar": elsewhere})
        assert (done.url.host, done.url.path) == ("testserver", "/"), elsewhere


def test_a_wrong_password_is_refused_audited_and_throttled(
    browser: Console, engine: Engine
) -> None:
    for _ in range(LOGIN_ATTEMPTS):
        wrong = browser.login("olga", "not the password at all")
        assert wrong.status_code == 401
        assert "Onjuiste naam of wachtwoord." in wrong.text
    # The sixth try is refused before the password is looked at: even the right one.
    throttled = browser.login("olga")
    assert throttled.status_code == 429
    assert "Te veel mislukte pogingen" in throttled.text
    assert browser.get("/").url.path == "/login"
    # Another account from the same address is not held back by olga's failures.
    assert browser.login("otto").url.path == "/"

    failed = _events(engine, "console.login_failed")
    assert len(failed) == LOGIN_ATTEMPTS + 1
    assert {e.actor for e in failed} == {"olga"}
    assert [json.loads(e.details)["reason"] for e in failed] == ["password"] * 5 + ["throttled"]


def test_two_application_processes_share_the_login_throttle(
    app_for: Harness, engine: Engine, settings: Settings
) -> None:
    """`kbx serve --workers N`: every HTTP process counts the failures in the one database, so
    spreading the tries over processes (or a restart) gives a client no more of them."""
    first = app_for.browser()
    second = Console(TestClient(make_app(engine, settings)))
    app_for.consoles.append(second)  # its pages are checked for leaks too
    for attempt in range(LOGIN_ATTEMPTS):
        one = first if attempt % 2 else second
        assert one.login("olga", "not the password at all").status_code == 401
    for one in (first, second):
        throttled = one.login("olga")
        assert throttled.status_code == 429
        assert "Te veel mislukte pogingen" in throttled.text
    with Session(engine) as session:
        hits = list(session.scalars(select(RateLimitHit)))
    assert [h.kind for h in hits] == [LOGIN_RATE_LIMIT] * LOGIN_ATTEMPTS
    assert all(re.fullmatch(r"[0-9a-f]{64}", h.key_hash) for h in hits), "only the key's hash"


def test_an_unknown_name_is_audited_without_the_name(browser: Console, engine: Engine) -> None:
    refused = browser.login(NOBODY, "whatever it is")
    assert refused.status_code == 401
    assert "Onjuiste naam of wachtwoord." in refused.text
    assert NOBODY not in refused.text, "what an unauthenticated client typed is not echoed"
    [event] = _events(engine, "console.login_failed")
    assert (event.actor, event.subject) == ("anonymous", "user:unknown")
    assert json.loads(event.details) == {"reason": "unknown"}
    with Session(engine) as session:
        trail = [f"{e.actor} {e.subject} {e.details}" for e in session.scalars(select(AuditEvent))]
    assert not [line for line in trail if NOBODY in line]


def test_a_disabled_account_cannot_log_in_and_loses_its_session(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    olga, otto = app_for.browser(), app_for.browser()
    assert otto.login("otto").url.path == "/"
    assert kbx("users", "disable", "otto", "--by", "ada").exit_code == 0
    assert otto.get("/exports").url.path == "/login", "a disabled account loses access at once"
    again = otto.login("otto")
    assert again.status_code == 401
    assert "Onjuiste naam of wachtwoord." in again.text
    [event] = _events(engine, "console.login_failed")
    assert (event.actor, json.loads(event.details)["reason"]) == ("otto", "disabled")
    assert olga.login("olga").url.path == "/"
    new_password = "a new password of some length"
    reset = kbx("users", "reset-password", "olga", "--by", "ada", input=new_password + "\n")
    assert reset.exit_code == 0, reset.output
    assert olga.get("/exports").url.path == "/login", "a reset password ends the session"
    assert olga.login("olga", new_password).url.path == "/"


def test_an_idle_session_ends(app_for: Harness, settings: Settings) -> None:
    browser = app_for.browser()
    assert browser.login("olga").url.path == "/"
    assert browser.get("/exports").url.path == "/exports"
    # Move the session's last request back past the idle timeout (30 minutes by default).
    vault = app_for.app.state.deps.vault
    jar = browser.client.cookies
    session = open_session(vault, jar.get(COOKIE))
    assert session is not None
    assert session.user_id is not None
    session.last_seen -= settings.console_idle_minutes * 60 + 1
    jar.set(COOKIE, seal(vault, session))
    expired = browser.get("/exports")
    assert expired.url.path == "/login"
    assert "Uw sessie is verlopen" in expired.text
    assert browser.get("/").url.path == "/login", "not logged in again by the next request"

    # However busy, a session ends SESSION_HOURS after its login.
    busy = app_for.browser()
    assert busy.login("olga").url.path == "/"
    session = open_session(vault, busy.client.cookies.get(COOKIE))
    assert session is not None
    session.started -= SESSION_HOURS * 3600 + 1
    busy.client.cookies.set(COOKIE, seal(vault, session))
    assert busy.get("/").url.path == "/login"


def test_a_forged_cookie_is_no_session(browser: Console) -> None:
    browser.client.cookies.set(COOKIE, "AAAA" + "B" * 80)
    assert browser.get("/").url.path == "/login"


# -- headers and CSRF -------------------------------------------------------------------------


def test_every_console_answer_carries_the_security_headers(browser: Console) -> None:
    for path in ("/login", "/static/kbx.css", "/static/htmx.min.js"):
        response = browser.client.get(path)
        assert response.status_code == 200, path
        for name, value in HEADERS.items():
            assert response.headers[name] == value, (path, name)
        assert "Strict-Transport-Security" not in response.headers, "only in production"
    assert "'unsafe-inline'" not in HEADERS["Content-Security-Policy"]
    browser.login("olga")
    for path in ("/", "/exports", "/exports/new"):
        response = browser.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        cookie = response.headers["set-cookie"]
        assert "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in cookie.lower().replace("samesite", ""), "dev: plain http"
        assert "<style" not in response.text
        assert " style=" not in response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), "no inline script"


def test_production_adds_hsts_and_a_secure_cookie(engine: Engine, settings: Settings) -> None:
    # The transports are the dev ones (built under the test settings); the console reads only
    # the environment from the production settings it is given.
    registry = load_registry(settings.protocols_dir)
    deps = build_deps(settings, registry)
    production = settings.model_copy(
        update={
            "env": Environment.PRODUCTION,
            "today": None,
            "pseudonym_key": base64.b64encode(b"k" * 32).decode(),
        }
    )
    response = TestClient(create_app(production, registry, engine, deps)).get("/login")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = response.headers["set-cookie"].lower()
    assert "; secure" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_a_post_without_the_csrf_token_is_refused(browser: Console, engine: Engine) -> None:
    browser.get("/login")
    forged = browser.post("/login", {"username": "olga", "password": PASSWORD}, csrf=False)
    assert forged.status_code == 403
    assert "formulier is verlopen of ongeldig" in forged.text
    assert browser.get("/").url.path == "/login", "no login without the token"
    browser.login("olga")
    for path in ("/exports/new", "/exports/check", "/logout"):
        refused = browser.post(path, {**LOMMEL_YEARLY, "action": "request"}, csrf=False)
        assert refused.status_code == 403, path
    wrong = browser.client.post(
        "/exports/new", data={**LOMMEL_YEARLY, "action": "request", "csrf_token": "x" * 43}
    )
    assert wrong.status_code == 403
    assert _runs(engine) == [], "nothing was requested"


# -- requesting, approving, four-eyes --------------------------------------------------------


def _request_lommel(browser: Console) -> httpx.Response:
    form = browser.get("/exports/new")
    assert form.status_code == 200
    assert 'hx-post="/exports/check"' in form.text
    assert f'<option value="{LOMMEL}">Lommel</option>' in form.text, "recipients to pick from"
    checked = browser.post("/exports/new", {**LOMMEL_YEARLY, "action": "check"})
    assert checked.status_code == 200
    assert "Toegestaan" in checked.text
    assert 'value="request"' in checked.text, "the request button comes with the answer"
    return browser.post("/exports/new", {**LOMMEL_YEARLY, "action": "request"})


def test_an_allowed_request_kbx_cannot_yet_deliver_says_why_before_submitting(
    app_for: Harness, engine: Engine
) -> None:
    """The protocol allows Lommel's list over a push to its server, but Lommel registered none:
    the answer says so before submitting and offers no button (request_export would refuse)."""
    olga = app_for.browser()
    olga.login("olga")
    push = {**LOMMEL_YEARLY, "channel": "sftp_push"}
    for answer in (olga.post("/exports/check", push), olga.post("/exports/new", push)):
        assert answer.status_code == 200
        assert "kbx kan de lijst nog niet bezorgen" in answer.text
        assert "ontvanger 72020 heeft geen SFTP-server geregistreerd" in answer.text
        assert 'value="request"' not in answer.text
        assert "Toegestaan" not in answer.text
    refused = olga.post("/exports/new", {**push, "action": "request"})
    assert refused.status_code == 409
    assert _runs(engine) == [], "nothing was requested"


def test_an_operator_requests_and_an_approver_approves(app_for: Harness, engine: Engine) -> None:
    olga, arne = app_for.browser(), app_for.browser()
    olga.login("olga")
    # The htmx fragment gives the same answer as the button.
    partial = olga.post("/exports/check", LOMMEL_YEARLY)
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="policy"')
    assert "Toegestaan" in partial.text

    page = _request_lommel(olga)
    [run] = _runs(engine)
    assert (run.protocol_id, run.recipient_id, run.period) == ("art20-municipal", LOMMEL, "2026")
    assert (run.state, run.requested_by, run.request_ref) == ("requested", "olga", "BZ/2026/0117")
    assert page.url.path == f"/exports/{run.reference}"
    assert "aangevraagd" in page.text
    assert "Goedkeuren" not in page.text, "never a button to approve one's own run"
    assert f"/exports/{run.reference}/approve" not in get_forms(page.text)
    assert f"/exports/{run.reference}/cancel" in get_forms(page.text), "the requester cancels"
    assert post_forms(page.text) == ["/logout"], "every decision is confirmed first"
    # The operator sees the run wait too, under its own heading (she may not approve it).
    mine = olga.get("/").text.split("Wachten op goedkeuring door een tweede persoon", 1)
    assert len(mine) == 2
    assert str(run.reference) in mine[1].split("Lopende exports")[0]

    arne.login("arne")
    overview = arne.get("/")
    assert str(run.reference) in overview.text, "waiting for arne's approval"
    shown = arne.get(f"/exports/{run.reference}")
    assert f"/exports/{run.reference}/approve" in get_forms(shown.text)
    assert "Afwijzen" in shown.text
    confirm = arne.get(f"/exports/{run.reference}/approve")
    assert confirm.status_code == 200
    assert f"/exports/{run.reference}/approve" in post_forms(confirm.text)
    assert "Wat er gebeurt" in confirm.text
    approved = arne.post(f"/exports/{run.reference}/approve")
    assert approved.status_code == 200
    assert "goedgekeurd" in approved.text
    assert "arne" in approved.text
    [run] = _runs(engine)
    assert (run.state, run.approved_by) == ("approved", "arne")
    timeline = approved.text.split("Tijdlijn", 1)[1]
    assert 'aangevraagd <span class="code">export.requested</span>' in timeline
    assert "export.approved" in timeline
    assert re.search(r"\d{2}-\d{2}-\d{4} \d{2}:\d{2}</td><td>arne</td>", timeline)
    listed = arne.get("/exports?protocol=art20-municipal&recipient=72020")
    assert str(run.reference) in listed.text
    assert "Lommel" in listed.text
    assert "Laatste stap" in listed.text
    times = re.findall(r'<td class="when">(\d{2}-\d{2}-\d{4} \d{2}:\d{2})</td>', listed.text)
    assert len(times) == 2, "requested and approved, in Brussels time"


def test_the_requester_cannot_approve_by_a_forged_post(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    ada, olga = app_for.browser(), app_for.browser()
    ada.login("ada")  # an admin may request and approve, never both on one run
    page = _request_lommel(ada)
    [run] = _runs(engine)
    assert "Goedkeuren" not in page.text
    mine, others = ada.get("/").text.split("Mijn aanvragen die op een tweede persoon wachten")
    assert str(run.reference) not in mine, "not waiting for her own approval"
    assert str(run.reference) in others.split("Lopende exports")[0], "but for a second person"
    forged = ada.post(f"/exports/{run.reference}/approve")
    assert forged.status_code == 409
    assert "kan ze niet goedkeuren" in forged.text
    olga.login("olga")
    olga.get("/")
    by_operator = olga.post(f"/exports/{run.reference}/approve")
    assert by_operator.status_code == 403, "an operator may not approve"
    [run] = _runs(engine)
    assert (run.state, run.approved_by) == ("requested", None)


def test_an_auditor_is_shown_no_form_and_may_not_act(app_for: Harness, engine: Engine) -> None:
    olga, aude = app_for.browser(), app_for.browser()
    olga.login("olga")
    _request_lommel(olga)
    [run] = _runs(engine)
    aude.login("aude")
    for path in ("/", "/exports", f"/exports/{run.reference}"):
        page = aude.get(path)
        assert page.status_code == 200, path
        assert post_forms(page.text) == ["/logout"], path
        assert "Nieuwe export" not in page.text
    assert aude.get("/exports/new").status_code == 403
    for action in ("approve", "cancel"):
        assert aude.post(f"/exports/{run.reference}/{action}").status_code == 403
    assert aude.post("/exports/new", {**LOMMEL_YEARLY, "action": "request"}).status_code == 403
    [run] = _runs(engine)
    assert run.state == "requested"


def test_a_refused_request_shows_rule_and_article(browser: Console, engine: Engine) -> None:
    browser.login("olga")
    browser.get("/exports/new")
    ended = {**LOMMEL_YEARLY, "protocol": "mechelen-amif507", "recipient": "Mechelen"}
    checked = browser.post("/exports/new", {**ended, "action": "check"})
    assert "Geweigerd" in checked.text
    assert 'value="request"' not in checked.text, "no request button for a refused request"
    # Without the municipality's request, art20-municipal refuses (seed 000, overweging C).
    bare = {**LOMMEL_YEARLY, "requested_on": "", "request_ref": ""}
    refused = browser.post("/exports/new", {**bare, "action": "request"})
    assert refused.status_code == 409
    assert "Geweigerd" in refused.text
    match = re.search(r'<span class="rule">regel ([a-z_.]+), ([^<]+)</span>', refused.text)
    assert match, refused.text
    [run] = _runs(engine)
    assert run.state == "refused"
    assert match.group(1) in (run.refusal or "")
    shown = browser.get(f"/exports/{run.reference or run.id}")
    assert "Redenen van de weigering" in shown.text
    assert f"regel {match.group(1)}, {match.group(2)}" in shown.text
    assert "geweigerd" in browser.get("/").text


# -- no other host ----------------------------------------------------------------------------


def test_htmx_is_served_here_and_no_page_names_another_host(
    app_for: Harness, engine: Engine
) -> None:
    olga, arne = app_for.browser(), app_for.browser()
    htmx = olga.client.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert "javascript" in htmx.headers["content-type"]
    assert htmx.text.startswith("/*! htmx.org 2.")
    assert "Zero-Clause BSD" in htmx.text[:400]
    assert "htmx" in htmx.text
    assert len(htmx.text) > 40_000
    olga.login("olga")
    _request_lommel(olga)
    [run] = _runs(engine)
    arne.login("arne")
    arne.get(f"/exports/{run.reference}")
    arne.get("/exports")
    pages = olga.pages + arne.pages
    assert len(pages) >= 8
    for page in pages:
        assert '<script src="/static/htmx.min.js"' in page
        assert not re.search(r"(https?:)?//[a-z0-9.-]+", page.replace("http-equiv", "")), (
            "a page names another host"
        )


def test_bad_filters_and_unknown_runs_answer_in_dutch(browser: Console) -> None:
    browser.login("aude")
    bad = browser.get("/exports?since=gisteren")
    assert bad.status_code == 200
    assert "Een datum (JJJJ-MM-DD) of het aantal jaren terug is ongeldig." in bad.text
    typed = browser.get("/exports?recipient=%3Cscript%3Ex%3C/script%3E")
    assert "<script>x</script>" not in typed.text, "what is typed is escaped"
    unknown = browser.get("/exports/KBX-2026-999999")
    assert unknown.status_code == 404
    assert "Niet mogelijk" in unknown.text
