"""The console's *Jaarronde* (issue 10) through Starlette's TestClient on the real application, on
SQLite and PostgreSQL: the page per role, a file of requests with a bad line (a Dutch answer,
nothing requested), a round requested with every refusal's rule and article, four eyes on the
whole batch, and the progress fragment that polls while the runs are carried and stops when the
last key SMS has left."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.flows.rounds import BatchProgress
from app.settings import Settings
from app.web.common import templates
from app.web.round_pages import POLL
from app.web.session import COOKIE, open_session, seal
from exchange.exports import RunState
from exchange.models import ExportRun
from tests.conftest import Kbx
from tests.console_helpers import Console, Harness, open_console, post_forms
from tests.export_helpers import LOMMEL, agree

GENT = "44021"  # signed here, but without a contact for the key SMS: kept out, not recorded
GENK = "71016"  # signed no art. 20 protocol: refused by the policy, recorded in the batch
HEADER = "nis_code,requested_on,reference"
ROUND = f"{HEADER}\n{LOMMEL},2026-11-02,BZ/2026/0117\n{GENT},2026-11-03,GENT-17\n"
POLLING = 'hx-trigger="every 2s"'


@pytest.fixture
def app_for(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[Harness]:
    yield from open_console(kbx, engine, settings, tmp_path, caplog)


def _as(harness: Harness, name: str) -> Console:
    browser = harness.browser()
    assert browser.login(name).url.path == "/"
    return browser


def _runs(engine: Engine) -> list[ExportRun]:
    with Session(engine) as session:
        return list(session.scalars(select(ExportRun).order_by(ExportRun.id)))


def _request(olga: Console, requests: str, period: str = "2026") -> httpx.Response:
    olga.get("/rounds")
    return olga.post("/rounds", {"period": period, "channel": "sftp_drop", "requests": requests})


def test_the_round_page_for_each_role(app_for: Harness) -> None:
    olga = _as(app_for, "olga")
    page = olga.get("/rounds")
    assert page.status_code == 200
    assert "<h1>Jaarronde</h1>" in page.text
    assert re.search(r'href="/rounds"[^>]*>Jaarronde</a>', page.text), "in the navigation"
    assert 'value="2026"' in page.text, "this Brussels year by default (KBX_TODAY)"
    assert "Nog geen aanvragen voor 2026." in page.text
    assert post_forms(page.text) == ["/logout", "/rounds"]

    for name in ("arne", "aude"):  # an approver and an auditor read, and request nothing
        page = _as(app_for, name).get("/rounds?year=2025")
        assert page.status_code == 200
        assert "Aanvragen voor 2025" in page.text
        assert post_forms(page.text) == ["/logout"], name
        assert "Jaarronde aanvragen" not in page.text

    bad_year = olga.get("/rounds?year=twintig")
    assert bad_year.status_code == 400
    assert "Een jaar heeft vier cijfers" in bad_year.text

    assert _as(app_for, "vera").get("/rounds").status_code == 403, "VSB reads no runs"
    forged = _as(app_for, "aude").post("/rounds", {"period": "2026", "requests": ROUND})
    assert forged.status_code == 403
    assert "mag dit niet doen" in forged.text


def test_a_file_with_one_bad_line_requests_nothing(app_for: Harness, engine: Engine) -> None:
    olga = _as(app_for, "olga")
    bad = f"{HEADER}\n{LOMMEL},2026-11-02,BZ/2026/0117\n7202,2026-11-02,X-1\n"
    answer = _request(olga, bad)
    assert answer.status_code == 400
    assert "de aanvragen zijn geweigerd, er wordt niets aangevraagd" in answer.text
    assert "regel 3: nis_code is geen 5 cijfers" in answer.text
    assert "BZ/2026/0117" in answer.text, "the text typed stays in the form"
    assert _runs(engine) == [], "nothing is requested"

    # The same refusal for a municipality that does not exist, or a text that is no period.
    unknown = _request(olga, f"{HEADER}\n99999,2026-11-02,X-1\n")
    assert unknown.status_code == 400
    assert "onbekende gemeente op regel(s) 2 (99999)" in unknown.text
    assert _request(olga, ROUND, period="26").status_code == 400
    # Typed and uploaded at once: which one was meant is not guessed.
    olga.get("/rounds")
    both = olga.client.post(
        "/rounds",
        data={"period": "2026", "channel": "sftp_drop", "requests": ROUND, "csrf_token": olga.csrf},
        files={"requests_file": ("aanvragen.csv", ROUND.encode(), "text/csv")},
    )
    assert both.status_code == 400
    assert "niet allebei" in both.text
    assert _runs(engine) == []


def test_an_uploaded_file_requests_the_round(app_for: Harness, engine: Engine) -> None:
    olga = _as(app_for, "olga")
    olga.get("/rounds")
    sent = olga.client.post(
        "/rounds",
        data={"period": "2026", "channel": "sftp_drop", "csrf_token": olga.csrf},
        files={
            "requests_file": (
                "aanvragen.csv",
                ("\ufeff" + HEADER + f"\r\n{LOMMEL},2026-11-02,BZ/1\r\n").encode(),
                "text/csv",
            )
        },
        follow_redirects=True,
    )
    assert sent.status_code == 200
    assert sent.url.path.startswith("/rounds/B-")
    [run] = _runs(engine)
    assert (run.recipient_id, run.request_ref, run.state) == (LOMMEL, "BZ/1", RunState.REQUESTED)


def test_a_round_from_request_to_the_last_key_sms(
    app_for: Harness, kbx: Kbx, engine: Engine
) -> None:
    agree(
        kbx,
        *("protocols", "sign", "art20-municipal", "--recipient", GENT),
        *("--signed-on", "2026-01-15", "--in-force", "2026-02-01"),
    )
    olga = _as(app_for, "olga")
    asked = _request(olga, ROUND + f"{GENK},2026-11-04,GNK-1\n")
    assert asked.status_code == 200
    # Some were kept out: the batch's page answers the form at once, with why.
    found = re.search(r"Jaarronde: reeks (B-[0-9a-f]{12})", asked.text)
    assert found is not None, asked.text
    batch = found.group(1)
    # Kept out, each with its reasons: Gent (no contact: the error's code as its rule) and Genk
    # (the policy's rule and article, recorded as a refused run of the batch).
    assert "Niet aangevraagd" in asked.text
    assert f"{GENT} Gent:" in asked.text
    assert "regel recipient.no_contact" in asked.text
    assert f"{GENK} Genk:" in asked.text
    assert "regel recipient.not_signed, Art. 12" in asked.text
    runs = _runs(engine)
    assert {(r.recipient_id, r.state) for r in runs} == {
        (LOMMEL, RunState.REQUESTED),
        (GENK, RunState.REFUSED),
    }
    assert {r.batch_id for r in runs} == {batch}
    assert "0 van 1 gemeenten: sleutel-sms verstuurd" in asked.text
    assert "wacht op goedkeuring" in asked.text
    assert POLLING not in asked.text, "nothing moves until it is approved: no polling"
    assert f"/rounds/{batch}/approve" not in post_forms(asked.text), "never one's own"

    # Who asked this year, on the year's page: Lommel's request and its batch.
    year = olga.get("/rounds")
    assert "BZ/2026/0117" in year.text
    assert f'href="/rounds/{batch}"' in year.text

    arne = _as(app_for, "arne")
    shown = arne.get(f"/rounds/{batch}")
    assert f"/rounds/{batch}/approve" in post_forms(shown.text)
    assert "regel recipient.not_signed, Art. 12" in shown.text, "the refused run, recorded"
    approved = arne.post(f"/rounds/{batch}/approve")
    assert approved.status_code == 200
    assert approved.url.path == f"/rounds/{batch}"
    assert POLLING in approved.text, "the worker carries it now: the page polls"
    fragment = arne.get(f"/rounds/{batch}/progress")
    assert POLLING in fragment.text
    assert 'hx-swap="outerHTML"' in fragment.text
    assert 'hx-swap-oob="true"' in fragment.text, "the runs' table rides along"
    assert "<html" not in fragment.text, "a fragment, not a page"

    done = kbx("export", "run", batch, "--workers", "1")
    assert done.exit_code == 0, done.output
    fragment = arne.get(f"/rounds/{batch}/progress")
    assert POLLING not in fragment.text, "done: the fragment stops the polling"
    assert "hx-get" not in fragment.text.split('id="round-runs"')[0]
    assert "1 van 1 gemeenten: sleutel-sms verstuurd" in fragment.text
    assert '<progress id="round-bar" max="1" value="1"' in fragment.text
    assert "De reeks is klaar." in fragment.text
    assert "sleutel verstuurd" in fragment.text
    page = arne.get(f"/rounds/{batch}")
    assert POLLING not in page.text
    assert post_forms(page.text) == ["/logout"], "nothing left to approve"


def test_four_eyes_on_the_whole_batch(app_for: Harness, engine: Engine) -> None:
    # An admin may both request and approve: never a batch of their own.
    ada = _as(app_for, "ada")
    asked = _request(ada, ROUND.replace(f"{GENT},2026-11-03,GENT-17\n", ""))
    batch = asked.url.path.removeprefix("/rounds/")
    assert batch.startswith("B-"), asked.text
    assert f"/rounds/{batch}/approve" not in post_forms(asked.text)
    assert "U vroeg deze reeks zelf aan" in asked.text
    forged = ada.post(f"/rounds/{batch}/approve")
    assert forged.status_code == 409
    assert "zelf aan en kan ze niet goedkeuren" in forged.text
    assert [r.state for r in _runs(engine)] == [RunState.REQUESTED], "nothing approved"
    # The same round again: not one municipality may have its list, and each one says why.
    again = _request(ada, ROUND.replace(f"{GENT},2026-11-03,GENT-17\n", ""))
    assert again.status_code == 409
    assert "geen run aangevraagd: alle 1 ontvanger(s) geweigerd" in again.text
    assert f"{LOMMEL} Lommel:" in again.text
    assert "regel frequency.exhausted, Overweging C" in again.text
    # An operator may not approve at all; a batch that is none is a Dutch 404.
    olga = _as(app_for, "olga")
    olga.get(f"/rounds/{batch}")
    assert olga.post(f"/rounds/{batch}/approve").status_code == 403
    assert olga.get("/rounds/B-000000000000").status_code == 404
    unknown = olga.get("/rounds/12345678901")
    assert unknown.status_code == 404
    assert "12345678901" not in unknown.text, "a text that may be a national number"
    with Session(engine) as session:
        approved = session.scalar(
            select(func.count()).select_from(ExportRun).where(ExportRun.approved_by.is_not(None))
        )
    assert approved == 0


def test_a_failed_run_ends_the_polling_and_asks_for_attention() -> None:
    # Failed is no state the worker carries on: the batch is at rest, and a person must look.
    failed = BatchProgress(
        batch_id="B-0123456789ab",
        counts={"key_sent": 2, "failed": 1, "refused": 1},
        total=3,
        key_sent=2,
        failed=1,
        waiting=0,
        moving=0,
    )
    assert (failed.done, failed.following, failed.percent) == (True, False, 66)
    html = templates.get_template("_round_progress.html").render(
        batch_id=failed.batch_id, progress=failed, lines=[], poll=POLL, oob=False
    )
    assert "hx-get" not in html
    assert "2 van 3 gemeenten: sleutel-sms verstuurd" in html
    assert "1 mislukt: vraagt aandacht" in html
    carried = BatchProgress("B-0123456789ab", {"built": 1}, 1, 0, 0, 0, 1)
    assert (carried.done, carried.following) == (False, True)
    html = templates.get_template("_round_progress.html").render(
        batch_id=carried.batch_id, progress=carried, lines=[], poll=POLL, oob=False
    )
    assert POLLING in html


def test_polling_the_progress_keeps_no_session_alive(app_for: Harness, settings: Settings) -> None:
    olga = _as(app_for, "olga")
    asked = _request(olga, f"{HEADER}\n{LOMMEL},2026-11-02,BZ/2026/0117\n")
    batch = asked.url.path.removeprefix("/rounds/")
    vault = app_for.app.state.deps.vault

    def last_seen() -> float:
        session = open_session(vault, olga.client.cookies.get(COOKIE))
        assert session is not None
        return session.last_seen

    def idle_for(seconds: float) -> None:
        session = open_session(vault, olga.client.cookies.get(COOKIE))
        assert session is not None
        session.last_seen -= seconds
        [cookie] = [c for c in olga.client.cookies.jar if c.name == COOKIE]
        olga.client.cookies.set(COOKIE, seal(vault, session), domain=cookie.domain)

    idle_for(60)
    before = last_seen()
    assert olga.get(f"/rounds/{batch}/progress").status_code == 200
    assert last_seen() == before, "a poll is no activity"
    assert olga.get(f"/rounds/{batch}").status_code == 200
    assert last_seen() > before, "opening a page is"

    idle_for(settings.console_idle_minutes * 60 + 1)
    polled = olga.client.get(f"/rounds/{batch}/progress", headers={"HX-Request": "true"})
    assert polled.status_code == 401
    assert polled.headers["HX-Redirect"] == "/login?verlopen=1"
