"""The staff console in a real browser (issue 10): Debian's Chromium, driven by Playwright, against
``kbx serve`` started as in production (a subprocess on free ports, SQLite in a temporary data
directory, the worker in the same process).

Every page a test visits is photographed at 1280x800 into ``var/screenshots/`` (not committed) and
scanned with axe-core (``tests/browser``, installed by ``make test``) for WCAG 2.1 A/AA: no serious
or critical violation; the others are printed. axe is put into each page with
``add_init_script`` (the DevTools protocol), so the console's CSP, which forbids inline script,
stays on for every test.

Skips when Chromium (``/usr/bin/chromium``, installed by ``.ci/run``), Playwright or axe-core are
absent, so ``make test`` passes on a machine without them. SQLite only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.settings import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("KBX_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = PROJECT_ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = PROJECT_ROOT / "var" / "screenshots"
KBX = [sys.executable, "-m", "app"]
VIEWPORT = {"width": 1280, "height": 800}
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "browser-test-wachtwoord-1"
TODAY = datetime.now(ZoneInfo("Europe/Brussels")).date()  # kbx's today, at the agency
YEAR = TODAY.year
LOMMEL, HASSELT, GENK = "72020", "71072", "71016"  # Genk signed no art. 20 protocol
# The yearly round's own municipalities (Brugge, Leuven, Oostende): no other test asks for them.
ROUND_TOWNS = {"31005": "BRG", "24062": "LEU", "35013": "OOS"}

if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )
if not AXE.exists():
    pytest.skip(
        f"axe-core missing ({AXE}): make test installs it (npm ci)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
expect = sync_api.expect
# As the pages' own timeout: on a loaded machine (two cores, the worker beside) 5 s is short.
expect.set_options(timeout=15_000)

pytestmark = pytest.mark.slow

USERS = {
    "olga": "operator",
    "anna": "approver",
    "ouder": "auditor",
    "admin": "admin",
    "dirk": "operator",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Console:
    url: str
    visited: list[str]


# Four-eyes changes in one process: olga proposes each (a JSON list of commands on stdin), anna
# approves it. One interpreter for all of them, not two per change: the set-up stays short.
_PROPOSE_AND_APPROVE = """
import json, re, sys
from typer.testing import CliRunner
from app.cli import app
runner = CliRunner()
for proposal in json.load(sys.stdin):
    proposed = runner.invoke(app, [*proposal, "--by", "olga"])
    change = re.search(r"change (\\d+) proposed", proposed.stdout)
    assert proposed.exit_code == 0 and change, proposed.output
    approve = ["recipients", "changes", "approve", change.group(1), "--by", "anna"]
    approved = runner.invoke(app, approve)
    assert approved.exit_code == 0, approved.output
"""


def _round_towns(run: dict[str, Any], data: Path, dates: list[str]) -> None:
    """The yearly round's towns sign art20-municipal, with a contact and a drop key each."""
    proposals: list[list[str]] = []
    for nis in ROUND_TOWNS:
        key = Ed25519PrivateKey.generate().public_key()
        public = data / f"{nis}.pub"
        public.write_bytes(key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH) + b"\n")
        contact = ["--name", "Burgerzaken", "--phone", f"+3247000{nis[:4]}"]
        proposals += [
            ["protocols", "sign", "art20-municipal", "--recipient", nis, *dates],
            ["recipients", "contact", "set", nis, *contact, "--email", f"bz@{nis}.example"],
            ["recipients", "key", "add", nis, "--public-key", str(public)],
        ]
    script = [sys.executable, "-c", _PROPOSE_AND_APPROVE]
    done = subprocess.run(script, input=json.dumps(proposals), **run)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """``kbx serve`` on a fresh data directory: 300 synthetic integrees, the demo story told a
    year ago (Lommel's key and contact; last year's list), and one account per role."""
    data = tmp_path_factory.mktemp("browser") / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBX_")}
    env |= {"KBX_DATA_DIR": str(data), "KBX_WORKER_INTERVAL_SECONDS": "0.5"}
    run: dict[str, Any] = {"cwd": PROJECT_ROOT, "env": env, "capture_output": True, "text": True}

    def kbx(*args: str, stdin: str | None = None, **extra: str) -> str:
        done = subprocess.run([*KBX, *args], input=stdin, **(run | {"env": env | extra}))
        assert done.returncode == 0, f"kbx {' '.join(args)}: {done.stdout}{done.stderr}"
        return str(done.stdout)

    kbx("db", "upgrade")
    kbx("demo", "seed", "--persons", "300")
    # Told last year, so that this year's list of Lommel is still the operator's to ask for.
    kbx("demo", "story", KBX_TODAY=f"{YEAR - 1}-11-23")
    for name, role in USERS.items():
        kbx("users", "add", name, "--role", role, stdin=f"{PASSWORD}\n")
    kbx("users", "disable", "dirk", "--by", "admin")
    # Hasselt signs too, with a contact and a drop key (four eyes each), for the tests that ask
    # for this year's list without approving it.
    key = Ed25519PrivateKey.generate().public_key()
    public = data / "hasselt.pub"
    public.write_bytes(key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH) + b" hasselt\n")
    dates = ["--signed-on", f"{YEAR}-01-10", "--in-force", f"{YEAR}-01-10"]
    contact = ["--name", "Burgerzaken", "--phone", "+32470000071", "--email", "bz@hasselt.example"]
    for proposal in (
        ["protocols", "sign", "art20-municipal", "--recipient", HASSELT, *dates],
        ["recipients", "contact", "set", HASSELT, *contact],
        ["recipients", "key", "add", HASSELT, "--public-key", str(public)],
    ):
        proposed = kbx(*proposal, "--by", "olga")
        change = re.search(r"change (\d+) proposed", proposed)
        assert change is not None, proposed
        kbx("recipients", "changes", "approve", change.group(1), "--by", "anna")
    _round_towns(run, data, dates)  # as Hasselt

    port = _free_port()
    log = (data / "serve.log").open("w")
    server = subprocess.Popen(
        [*KBX, "serve", "--port", str(port), "--sftp-port", str(_free_port())],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):  # noqa: S310 (http)
                    break
            except OSError:
                assert server.poll() is None, (data / "serve.log").read_text()
                time.sleep(0.1)
        visited: list[str] = []
        yield Console(url, visited)
        print(f"\nscreenshots of {len(visited)} pages in {SHOTS}")
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", autouse=True)
def _shots() -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh context (no cookies) at 1280x800, in Dutch, with axe-core in every document."""
    context = browser.new_context(viewport=VIEWPORT, locale="nl-BE", base_url=console.url)
    context.add_init_script(path=str(AXE))
    context.set_default_timeout(15_000)
    tab = context.new_page()
    # What the browser complains of (a script or style the CSP blocked, a failed request).
    errors: list[str] = []
    # An answer of 401/403/409 is the console's meant answer; the console has no favicon (yet).
    tab.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400
            and r.status not in (401, 403, 409)
            and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    tab.kbx_errors = errors
    yield tab
    context.close()


def check(page: Any, console: Console, name: str) -> None:
    """Photographs the page and scans it with axe-core: no serious or critical violation, and
    nothing the browser complained of (a blocked script or style, a failed request)."""
    page.wait_for_load_state("load")
    shot = SHOTS / f"{len(console.visited) + 1:02d}-{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    console.visited.append(page.url)
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return {passes: r.passes.length, violations: r.violations.map(v => ({id: v.id,
                impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))};
        }""",
        WCAG,
    )
    assert result["passes"] > 0, f"axe checked nothing on {page.url}"
    assert not page.kbx_errors, f"{name} ({page.url}): {page.kbx_errors}"
    violations = result["violations"]
    for v in violations:
        print(f"axe {name} {page.url}: {v['impact']} {v['id']}: {v['help']} {v['nodes']}")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name} ({page.url}): {bad}"


def login(page: Any, console: Console, name: str, shoot: str | None = None) -> None:
    page.goto("/login")
    if shoot:
        check(page, console, shoot)
    page.get_by_label("Gebruikersnaam").fill(name)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Aanmelden").click()
    expect(page.get_by_role("heading", name="Overzicht", level=1)).to_be_visible()


def logout(page: Any) -> None:
    page.get_by_role("button", name="Afmelden").click()
    expect(page.get_by_role("heading", name="Aanmelden", level=1)).to_be_visible()


def fill_request(page: Any, recipient: str, request_ref: str) -> None:
    """The municipality's yearly list of this year, on its request of today."""
    page.get_by_label("Protocol").select_option("art20-municipal")
    page.get_by_label("Ontvanger").fill(recipient)
    page.get_by_label("Periode").fill(str(YEAR))
    page.get_by_label("Datum van de aanvraag").fill(TODAY.isoformat())
    page.get_by_label("Referentie van de aanvraag").fill(request_ref)
    # The last change asks the policy (htmx): the answer shows before anything is submitted.
    page.get_by_label("Kanaal").select_option("sftp_drop")


def run_ref(page: Any) -> str:
    found = re.search(r"/exports/([^/?#]+)$", page.url)
    assert found is not None, page.url
    assert found.group(1) != "new", page.url
    return found.group(1)


# -- 1. the yearly list of Lommel, from request to key sent ---------------------------------------


def test_lommels_yearly_list_from_request_to_key_sent(page: Any, console: Console) -> None:
    login(page, console, "olga", shoot="login")
    check(page, console, "overview-operator")
    page.get_by_role("link", name="Nieuwe export").click()
    expect(page.get_by_role("heading", name="Nieuwe export aanvragen")).to_be_visible()
    check(page, console, "new-export-empty")
    fill_request(page, LOMMEL, f"LOM/BZ/{YEAR}/002")
    policy = page.locator("#policy")
    expect(policy).to_contain_text("Toegestaan")
    assert page.url.endswith("/exports/new"), "the answer came before submitting"
    check(page, console, "new-export-allowed")
    page.get_by_role("button", name="Aanvragen").click()
    expect(page).to_have_url(re.compile(r"/exports/KBX-"))
    ref = run_ref(page)
    expect(page.get_by_text("aangevraagd").first).to_be_visible()
    expect(page.get_by_text(f"LOM/BZ/{YEAR}/002")).to_be_visible()
    check(page, console, "run-requested-operator")
    logout(page)

    login(page, console, "anna")
    expect(page.get_by_role("link", name=ref)).to_be_visible()  # waiting for her approval
    check(page, console, "overview-approver")
    page.goto(f"/exports/{ref}")
    page.get_by_role("button", name="Goedkeuren").click()
    # A confirmation page first (no JavaScript needed): what approving does, then the POST.
    expect(page.get_by_role("heading", name=f"Export {ref} goedkeuren")).to_be_visible()
    expect(page.locator("main")).to_contain_text("De sleutel gaat pas na de bezorging per sms")
    check(page, console, "run-approve-confirm")
    page.get_by_role("button", name="Goedkeuren").click()
    expect(page).to_have_url(re.compile(f"/exports/{ref}$"))
    state = page.locator("dl.facts .state")
    for _ in range(120):  # the worker builds, delivers and sends the key; up to 60 s
        if state.inner_text() == "sleutel verstuurd":
            break
        time.sleep(0.5)
        page.reload()
    assert state.inner_text() == "sleutel verstuurd"
    timeline = page.locator("section", has=page.get_by_role("heading", name="Tijdlijn"))
    expect(timeline.locator("tbody tr").first).to_be_visible()
    for who in ("olga", "anna"):
        expect(timeline.get_by_role("cell", name=who, exact=True).first).to_be_visible()
    expect(timeline.get_by_role("cell", name="sleutel verstuurd").first).to_be_visible()
    check(page, console, "run-key-sent")
    page.get_by_role("link", name="Exports").first.click()
    expect(page.get_by_role("link", name=ref)).to_be_visible()
    check(page, console, "exports-approver")


# -- 2. refusals, four eyes, CSRF, the auditor, a disabled account --------------------------------


def test_a_refused_request_shows_the_rule_and_the_article(page: Any, console: Console) -> None:
    login(page, console, "olga")
    page.goto("/exports/new")
    fill_request(page, GENK, f"GNK/{YEAR}/1")
    # Without JavaScript's help: the "Controleer" button posts the form and shows the answer.
    page.get_by_role("button", name="Controleer").click()
    policy = page.locator("#policy")
    expect(policy).to_contain_text("Geweigerd")
    reasons = policy.locator("ul.reasons li")
    expect(reasons.first).to_be_visible()
    for text in reasons.all_inner_texts():
        assert re.search(r"regel \S+, .*Art", text, re.IGNORECASE), text
    expect(page.get_by_role("button", name="Aanvragen")).to_have_count(0)
    check(page, console, "new-export-refused")


def test_the_requester_sees_no_approve_button_on_their_own_run(page: Any, console: Console) -> None:
    # An admin may both ask and approve: never their own run.
    login(page, console, "admin")
    page.goto("/exports/new")
    fill_request(page, HASSELT, f"HAS/{YEAR}/001")
    expect(page.locator("#policy")).to_contain_text("Toegestaan")
    page.get_by_role("button", name="Aanvragen").click()
    expect(page).to_have_url(re.compile(r"/exports/KBX-"))
    expect(page.get_by_role("button", name="Goedkeuren")).to_have_count(0)
    check(page, console, "run-own-admin")
    # A forged approval, with the session's own CSRF token: four eyes refuses it all the same.
    token = page.locator("form.logout input[name=csrf_token]").input_value()
    ref = run_ref(page)
    forged = page.request.post(f"/exports/{ref}/approve", form={"csrf_token": token})
    assert forged.status == 409, forged.status
    page.reload()
    expect(page.locator("dl.facts .state")).to_have_text("aangevraagd")
    # Cancelled, so that the keyboard test may ask for that year again: the requester
    # confirms, and gives no reason.
    page.get_by_role("button", name="Annuleren").click()
    expect(page.get_by_role("heading", name=f"Export {ref} annuleren")).to_be_visible()
    expect(page.get_by_label("Reden van afwijzing")).to_have_count(0)
    page.get_by_role("button", name="Annuleren").click()
    expect(page.locator("dl.facts .state")).to_have_text("geannuleerd")


def test_an_approver_rejects_a_run_with_a_reason(page: Any, console: Console) -> None:
    login(page, console, "olga")
    page.goto("/exports/new")
    fill_request(page, HASSELT, f"HAS/{YEAR}/002")
    expect(page.locator("#policy")).to_contain_text("Toegestaan")
    page.get_by_role("button", name="Aanvragen").click()
    expect(page).to_have_url(re.compile(r"/exports/KBX-"))
    ref = run_ref(page)
    logout(page)

    login(page, console, "anna")
    page.goto(f"/exports/{ref}")
    page.get_by_role("button", name="Afwijzen").click()
    expect(page.get_by_role("heading", name=f"Export {ref} afwijzen")).to_be_visible()
    reason = page.get_by_label("Reden van afwijzing")
    expect(reason).to_be_visible()
    check(page, console, "run-reject-confirm")
    # Empty, the browser itself asks for the reason (required): nothing is posted.
    page.get_by_role("button", name="Afwijzen").click()
    expect(page.get_by_role("heading", name=f"Export {ref} afwijzen")).to_be_visible()
    # A national number: refused in Dutch, not shown again, nothing recorded.
    reason.fill("Dossier 85.07.30-033.28")
    page.get_by_role("button", name="Afwijzen").click()
    expect(page.get_by_role("alert")).to_contain_text("rijksregisternummer")
    expect(page.get_by_label("Reden van afwijzing")).to_have_value("")
    page.kbx_errors.clear()  # the 400 of the refused reason is the point
    check(page, console, "run-reject-refused")
    page.get_by_label("Reden van afwijzing").fill("De gemeente trok haar aanvraag in")
    page.get_by_role("button", name="Afwijzen").click()
    expect(page).to_have_url(re.compile(f"/exports/{ref}$"))
    expect(page.locator("dl.facts .state")).to_have_text("geannuleerd")
    expect(page.locator("dd.reason")).to_have_text("De gemeente trok haar aanvraag in")
    check(page, console, "run-rejected")


def test_a_form_without_its_csrf_token_is_refused(page: Any, console: Console) -> None:
    login(page, console, "olga")
    form = {"protocol": "art20-municipal", "recipient": "72020", "period": str(YEAR)}
    for path in ("/exports/new", "/exports/check", "/logout"):
        answer = page.request.post(path, form=form, max_redirects=0)
        assert answer.status == 403, (path, answer.status)
        answer = page.request.post(path, form=form | {"csrf_token": "x" * 43}, max_redirects=0)
        assert answer.status == 403, (path, answer.status)
    # A form whose token went stale, in the browser: a Dutch page of refusal, as accessible.
    page.goto("/exports/new")
    fill_request(page, GENK, f"GNK/{YEAR}/2")
    expect(page.locator("#policy")).to_contain_text("Geweigerd")  # htmx asked, with the token
    page.locator("main input[name=csrf_token]").evaluate("i => { i.value = 'verlopen'; }")
    with page.expect_response(lambda r: r.url.endswith("/exports/new")) as posted:
        page.get_by_role("button", name="Controleer").click()
    assert posted.value.status == 403
    expect(page.get_by_text("Dit formulier is verlopen of ongeldig.")).to_be_visible()
    page.kbx_errors.clear()  # the 403s provoked here, htmx's among them, are the point
    check(page, console, "csrf-refused")
    # still logged in: the refused logout did nothing
    page.goto("/")
    expect(page.get_by_role("heading", name="Overzicht")).to_be_visible()


# What an auditor may not do shows as no form at all: none that posts (a change), but for logging
# out. The exports page's filter is a GET form (reading), and stays.
WRITING_FORMS = "form[method='post' i]:not([action='/logout'])"


def test_an_auditor_sees_no_form_but_logging_out(page: Any, console: Console) -> None:
    login(page, console, "ouder")
    check(page, console, "overview-auditor")
    page.goto("/exports")
    check(page, console, "exports-auditor")
    runs = page.locator("main a[href^='/exports/KBX-']")
    expect(runs.first).to_be_visible()
    pages = ["/", "/exports", runs.first.get_attribute("href")]
    page.goto(pages[-1])
    check(page, console, "run-auditor")
    expect(page.get_by_role("link", name="Nieuwe export")).to_have_count(0)
    for path in pages:
        page.goto(path)
        forms = page.locator(WRITING_FORMS)
        assert forms.count() == 0, f"{path}: {forms.evaluate_all('fs => fs.map(f => f.action)')}"
        expect(page.get_by_role("button", name="Goedkeuren")).to_have_count(0)
    answer = page.goto("/exports/new")
    assert answer is not None
    assert answer.status == 403
    assert page.locator(WRITING_FORMS).count() == 0
    check(page, console, "new-export-auditor-refused")


def test_a_disabled_account_cannot_log_in(page: Any, console: Console) -> None:
    page.goto("/login")
    page.get_by_label("Gebruikersnaam").fill("dirk")
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Aanmelden").click()
    expect(page.get_by_role("alert")).to_have_text("Onjuiste naam of wachtwoord.")
    expect(page).to_have_url(re.compile(r"/login$"))
    check(page, console, "login-failed")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


# -- 3. the keyboard only -------------------------------------------------------------------------


def _tab_to(page: Any, element_id: str, order: list[str]) -> None:
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.tagName")
        order.append(focused)
        # WCAG 2.4.7: whatever has the keyboard's focus shows it (a date field shows it on its
        # day, month or year inside, highlighted, not as an outline of the field).
        ring = page.evaluate(
            "document.activeElement.type === 'date' ? 'segment'"
            " : getComputedStyle(document.activeElement).outlineStyle"
        )
        assert ring != "none", f"no visible focus on {focused}"
        if focused == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}: {order}")


def _choose(page: Any, element_id: str, value: str) -> None:
    """Arrow keys on a focused, closed select change its value, as a keyboard user does."""
    for _ in range(30):
        if page.locator(f"#{element_id}").input_value() == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"#{element_id} never took {value}")


def _type_date(page: Any, element_id: str, day: date) -> None:
    """Types a date into a focused date field, segment by segment. The order of its segments is
    Chromium's own locale (not the page's), so: dd-mm-jjjj, else mm/dd/yyyy, else yyyy-mm-dd."""
    for order in ("%d%m%Y", "%m%d%Y", "%Y%m%d"):
        page.keyboard.type(day.strftime(order))
        if page.locator(f"#{element_id}").input_value() == day.isoformat():
            return
        for _ in range(3):  # clear the three segments, back to the field's start
            page.keyboard.press("Backspace")
            page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} never took {day}")


def test_the_request_form_with_the_keyboard_only(page: Any, console: Console) -> None:
    login(page, console, "olga")
    page.goto("/exports/new")
    period = str(YEAR)
    order: list[str] = []
    _tab_to(page, "protocol", order)
    _choose(page, "protocol", "art20-municipal")
    _tab_to(page, "recipient", order)
    page.keyboard.type(HASSELT)
    _tab_to(page, "period", order)
    page.keyboard.type(period)
    _tab_to(page, "channel", order)
    _choose(page, "channel", "sftp_drop")
    _tab_to(page, "lookback_years", order)
    _tab_to(page, "requested_on", order)
    _type_date(page, "requested_on", TODAY)
    _tab_to(page, "request_ref", order)
    page.keyboard.type(f"HAS/{period}/002")
    # To "Controleer": leaving the reference is a change, and htmx asks the policy again. Its
    # answer replaces the "Aanvragen" button; wait for it, as a person sees it come.
    # Every change asked (htmx, one question at a time, the last change winning): wait for the
    # last answer, as a person waits for it to show.
    with page.expect_response(lambda r: r.url.endswith("/exports/check")):
        page.keyboard.press("Tab")
    page.wait_for_load_state("networkidle")
    policy = page.locator("#policy")
    expect(policy).to_contain_text("Toegestaan")
    expect(policy).not_to_have_class(re.compile("htmx-"))
    # The focus order follows the form's visual order.
    fields = [f for f in order if f in {"protocol", "recipient", "period", "channel"}]
    assert fields == ["protocol", "recipient", "period", "channel"], order
    focused = page.evaluate("document.activeElement.textContent.trim()")
    if focused != "Aanvragen":
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Aanvragen"
    # A visible focus indicator on the button the keyboard user is about to press.
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "no visible focus on the submit button"
    check(page, console, "new-export-keyboard")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/exports/KBX-" in page.url, page.locator("main").inner_text()
    expect(page.locator("dl.facts .state")).to_have_text("aangevraagd")
    check(page, console, "run-requested-keyboard")


# -- 4. the pages that read: audit, recipients, protocols, users ---------------------------------

# Besides logging out, the one POST form an auditor has: "Controleer de keten" changes nothing
# (it walks the hash chain), and is a POST so that no prefetch or crawler starts that walk.
READING_POSTS = ("/logout", "/audit/verify")


def _writing_forms(page: Any) -> list[str]:
    actions: list[str] = page.locator("form[method='post' i]").evaluate_all(
        "fs => fs.map(f => new URL(f.action).pathname)"
    )
    return [a for a in actions if a not in READING_POSTS]


def test_the_auditor_reads_the_trail_and_checks_the_chain(page: Any, console: Console) -> None:
    login(page, console, "ouder")
    page.get_by_role("link", name="Audittrail").click()
    expect(page.get_by_role("heading", name="Audittrail", level=1)).to_be_visible()
    # The navigation says where one is (WCAG 2.4.8): one link, the page's own section.
    expect(page.locator("nav a[aria-current=page]")).to_have_text(["Audittrail"])
    check(page, console, "audit")
    page.get_by_label("Actie").fill("console.login")
    page.get_by_role("button", name="Filteren").click()
    expect(page).to_have_url(re.compile(r"action=console\.login"))
    events = page.locator("main tbody tr")
    expect(events.first).to_be_visible()
    # Only logins, and none of them a failed one (console.login_failed is another action).
    for row in events.all_inner_texts():
        assert "console.login" in row, row
        assert "login_failed" not in row, row
    check(page, console, "audit-filtered")
    page.locator("main tbody a[href^='/audit/']").first.click()
    expect(page.get_by_role("heading", name=re.compile(r"Auditgebeurtenis \d+"))).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("console.login")
    expect(page.locator("nav a[aria-current=page]")).to_have_text(["Audittrail"])
    check(page, console, "audit-event")
    page.goto("/audit")
    page.get_by_role("button", name="Controleer de keten").click()
    expect(page.get_by_text(re.compile(r"De keten is intact: \d+ gebeurtenissen"))).to_be_visible()
    check(page, console, "audit-chain-intact")
    for path in ("/audit", "/recipients", f"/recipients/{LOMMEL}", "/changes", "/protocols"):
        page.goto(path)
        assert _writing_forms(page) == [], path
    assert page.goto("/users") is not None
    expect(page.get_by_role("heading", name="Gebruikers")).to_have_count(0)


def test_recipients_and_protocols_as_the_operator_reads_them(page: Any, console: Console) -> None:
    login(page, console, "olga")
    page.get_by_role("link", name="Ontvangers").click()
    page.get_by_label("Naam of NIS-code").fill("lomm")
    page.get_by_role("button", name="Zoeken").click()
    found = page.get_by_role("link", name="Lommel")
    expect(found).to_be_visible()
    check(page, console, "recipients-search")
    found.click()
    expect(page.get_by_role("heading", name=f"Lommel ({LOMMEL})")).to_be_visible()
    contact = page.locator("section", has=page.get_by_role("heading", name="Contactpersoon"))
    # The phone is shown masked: never the whole number of the recipient's contact.
    phone = contact.locator("dd").nth(1).inner_text()
    assert re.fullmatch(r"\+?[\d ]*[•*x]+[\d ]*\d{2,3}", phone), phone
    keys = page.locator("section", has=page.get_by_role("heading", name="Sleutels"))
    expect(keys.locator("td.code").first).to_contain_text("SHA256:")
    check(page, console, "recipient-lommel")
    page.get_by_role("link", name="Wijzigingen").click()
    check(page, console, "changes")
    page.get_by_role("link", name="Protocollen").click()
    expect(page.get_by_role("link", name="art20-municipal")).to_be_visible()
    check(page, console, "protocols")
    page.get_by_role("link", name="art20-municipal").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("art20-municipal")
    expect(page.locator("main")).to_contain_text("Lommel")
    check(page, console, "protocol-art20")


def test_the_admin_adds_a_colleague_who_then_logs_in(page: Any, console: Console) -> None:
    login(page, console, "admin")
    page.get_by_role("link", name="Gebruikers").click()
    expect(page.get_by_role("heading", name="Gebruikers", level=1)).to_be_visible()
    check(page, console, "users")
    adding = page.locator("section", has=page.get_by_role("heading", name="Gebruiker toevoegen"))
    adding.get_by_label("Naam").fill("bert")
    adding.get_by_label("Rol").select_option("auditor")
    adding.get_by_label(re.compile("Wachtwoord")).fill(PASSWORD)
    adding.get_by_role("button", name="Toevoegen").click()
    row = page.locator("main tbody tr", has=page.get_by_role("cell", name="bert", exact=True))
    expect(row).to_contain_text("actief")
    check(page, console, "users-added")
    logout(page)
    login(page, console, "bert")
    expect(page.locator(".who")).to_contain_text("bert")


# -- without JavaScript ---------------------------------------------------------------------------


def test_the_policy_answers_without_javascript(browser: Any, console: Console) -> None:
    """htmx is a help, not a need: with JavaScript off, "Controleer" shows the same answer."""
    context = browser.new_context(
        viewport=VIEWPORT, locale="nl-BE", base_url=console.url, java_script_enabled=False
    )
    try:
        page = context.new_page()
        login(page, console, "olga")
        page.goto("/exports/new")
        fill_request(page, LOMMEL, f"LOM/BZ/{YEAR}/003")
        page.get_by_role("button", name="Controleer").click()
        policy = page.locator("#policy")
        # This year's list of Lommel was asked for (the first test, or not): allowed, or refused
        # with its rule; either way an answer with the form filled in as it was.
        expect(policy).to_contain_text(re.compile("Toegestaan|Geweigerd"))
        expect(page.get_by_label("Referentie van de aanvraag")).to_have_value(f"LOM/BZ/{YEAR}/003")
        page.screenshot(path=str(SHOTS / "zz-new-export-without-javascript.png"), full_page=True)
    finally:
        context.close()


# -- 5. alerts, resend, proposals -----------------------------------------------------------------


def _a_run_with_its_key_sent(page: Any, console: Console) -> str:
    """A run whose key SMS left: this year's list of Lommel (test 1 makes it; run alone, this
    test makes it the same way: olga asks, anna approves, the worker carries it)."""
    page.goto("/exports?state=key_sent")
    runs = page.locator("main a[href^='/exports/KBX-']")
    if runs.count() == 0:
        page.goto("/exports/new")
        fill_request(page, LOMMEL, f"LOM/BZ/{YEAR}/004")
        expect(page.locator("#policy")).to_contain_text("Toegestaan")
        page.get_by_role("button", name="Aanvragen").click()
        expect(page).to_have_url(re.compile(r"/exports/KBX-"))
        ref = run_ref(page)
        logout(page)
        login(page, console, "anna")
        page.goto(f"/exports/{ref}")
        page.get_by_role("button", name="Goedkeuren").click()
        page.get_by_role("button", name="Goedkeuren").click()  # on the confirmation page
        state = page.locator("dl.facts .state")
        for _ in range(120):
            if state.inner_text() == "sleutel verstuurd":
                break
            time.sleep(0.5)
            page.reload()
        logout(page)
        login(page, console, "olga")
        return ref
    href: str | None = runs.first.get_attribute("href")
    assert href is not None
    return href.rsplit("/", 1)[1]


def test_alerts_a_key_resend_and_a_proposal_with_four_eyes(page: Any, console: Console) -> None:
    login(page, console, "olga")
    ref = _a_run_with_its_key_sent(page, console)

    # The operator asks for a resend of the key on the run's page.
    page.goto(f"/exports/{ref}")
    expect(page.locator("dl.facts .state")).to_have_text("sleutel verstuurd")
    page.get_by_role("button", name="Herzending van de sleutel vragen").click()
    expect(page.get_by_text("olga vroeg de sleutel opnieuw te versturen")).to_be_visible()
    expect(page.get_by_role("button", name="Herzending goedkeuren")).to_have_count(0)
    check(page, console, "run-resend-asked")

    # The overview's alerts: the resend waits for a second person, with a link to the run.
    page.get_by_role("link", name="Overzicht").click()
    alerts = page.locator("ul.alerts")
    expect(alerts.get_by_role("link", name=ref)).to_be_visible()
    expect(alerts).to_contain_text(f"olga vroeg de sleutel van {ref}")
    check(page, console, "overview-alerts-operator")

    # A new contact for Lommel, proposed on its page; a wrong number first, refused in Dutch.
    page.goto(f"/recipients/{LOMMEL}")
    expect(page.get_by_role("heading", name="Wijziging voorstellen")).to_be_visible()
    check(page, console, "recipient-propose-form")
    page.locator("#contact-name").fill("Dienst Bevolking")
    page.locator("#contact-phone").fill("011 39 11 11")
    page.locator("#contact-email").fill("bevolking@lommel.example")
    page.get_by_role("button", name="Contactpersoon voorstellen").click()
    expect(page.get_by_role("alert")).to_contain_text("geen Belgisch gsm-nummer")
    page.kbx_errors.clear()  # the 400 of the refused proposal is the point
    check(page, console, "recipient-propose-refused")
    page.locator("#contact-phone").fill("+32470000073")
    page.get_by_role("button", name="Contactpersoon voorstellen").click()
    expect(page.get_by_role("status")).to_contain_text("is voorgesteld")
    check(page, console, "recipient-proposed")
    logout(page)

    # The approver: the change and the resend wait for her on the overview.
    login(page, console, "anna")
    expect(
        page.get_by_role("heading", name="Wijzigingen die op mijn goedkeuring wachten")
    ).to_be_visible()
    expect(page.locator("main")).to_contain_text("voorgesteld door olga")
    expect(page.locator("ul.alerts").get_by_role("link", name=ref)).to_be_visible()
    check(page, console, "overview-alerts-approver")
    page.goto("/changes")
    row = page.locator("tr", has_text="contactpersoon").filter(has_text="olga")
    row.get_by_role("button", name="Goedkeuren").first.click()
    confirming = page.get_by_role("heading", name=re.compile(r"Wijziging \d+ goedkeuren"))
    expect(confirming).to_be_visible()
    check(page, console, "change-approve-confirm")
    page.get_by_role("button", name="Goedkeuren").click()
    expect(page).to_have_url(re.compile(r"/changes$"))
    check(page, console, "changes-after-approval")
    page.goto(f"/recipients/{LOMMEL}")
    expect(page.locator("main")).to_contain_text("+32 4••••••73")

    page.goto(f"/exports/{ref}")
    page.get_by_role("button", name="Herzending goedkeuren").click()
    expect(page).to_have_url(re.compile(f"/exports/{ref}$"))
    timeline = page.locator("section", has=page.get_by_role("heading", name="Tijdlijn"))
    expect(timeline.get_by_text("sleutel opnieuw verstuurd").first).to_be_visible()
    expect(page.get_by_role("button", name="Herzending goedkeuren")).to_have_count(0)
    check(page, console, "run-resent")


# -- 6. the yearly round -----------------------------------------------------------------------


def test_the_yearly_round_reaches_every_key_sms(page: Any, console: Console) -> None:
    """An operator asks for the round from the requests received; an approver approves the whole
    batch and watches its progress (htmx polling) reach the last key SMS."""
    login(page, console, "olga")
    page.get_by_role("link", name="Jaarronde").click()
    expect(page.get_by_role("heading", name="Jaarronde", level=1)).to_be_visible()
    check(page, console, "rounds-operator")
    expect(page.get_by_label("Periode")).to_have_value(str(YEAR))
    page.get_by_label("Kanaal").select_option("sftp_drop")
    lines = [f"{nis},{TODAY.isoformat()},{code}/{YEAR}/1" for nis, code in ROUND_TOWNS.items()]
    page.get_by_label("Ontvangen aanvragen").fill(
        "\n".join(["nis_code,requested_on,reference", *lines])
    )
    page.get_by_role("button", name="Jaarronde aanvragen").click()
    expect(page).to_have_url(re.compile(r"/rounds/B-[0-9a-f]{12}$"))
    batch = page.url.rsplit("/", 1)[1]
    label = page.locator("#round-label")
    expect(label).to_contain_text("0 van 3 gemeenten: sleutel-sms verstuurd")
    expect(label).to_contain_text("3 wachten op goedkeuring")
    expect(page.get_by_role("button", name=re.compile("goedkeuren"))).to_have_count(0)
    check(page, console, "round-requested-operator")
    logout(page)

    login(page, console, "anna")
    page.get_by_role("link", name="Jaarronde").click()
    page.get_by_role("link", name=batch).first.click()
    expect(page.get_by_role("heading", name=f"Jaarronde: reeks {batch}")).to_be_visible()
    check(page, console, "round-approver")
    page.get_by_role("button", name="Reeks goedkeuren (3)").click()
    expect(page).to_have_url(re.compile(f"/rounds/{batch}$"))
    # No reload from here: htmx asks for the progress every 2 s until the last key SMS left.
    expect(label).to_contain_text("3 van 3 gemeenten: sleutel-sms verstuurd", timeout=120_000)
    expect(label).to_contain_text("De reeks is klaar.")
    bar = page.locator("progress#round-bar")
    assert (bar.get_attribute("max"), bar.get_attribute("value")) == ("3", "3")
    expect(page.locator("#round-runs .state")).to_have_text(["sleutel verstuurd"] * 3)
    expect(page.locator("#round-progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    check(page, console, "round-done")
    logout(page)

    # An auditor reads the round and is shown no form (the year's is a GET form: reading).
    login(page, console, "ouder")
    page.get_by_role("link", name="Jaarronde").click()
    expect(page.get_by_role("link", name=batch).first).to_be_visible()
    check(page, console, "rounds-auditor")
    assert page.locator(WRITING_FORMS).count() == 0
    page.get_by_role("link", name=batch).first.click()
    expect(page.locator("#round-label")).to_contain_text("3 van 3 gemeenten")
    check(page, console, "round-auditor")
    assert page.locator(WRITING_FORMS).count() == 0


def test_the_yearly_round_reads_without_javascript(browser: Any, console: Console) -> None:
    """htmx only keeps the progress up to date: without JavaScript the pages read the same."""
    context = browser.new_context(
        viewport=VIEWPORT, locale="nl-BE", base_url=console.url, java_script_enabled=False
    )
    try:
        page = context.new_page()
        login(page, console, "anna")
        page.goto(f"/rounds?year={YEAR}")
        expect(page.get_by_role("heading", name=f"Aanvragen voor {YEAR}")).to_be_visible()
        rounds = page.locator("main a[href^='/rounds/B-']")
        if rounds.count():  # the round of the test above, when it ran
            rounds.first.click()
            expect(page.locator("#round-label")).to_contain_text("gemeenten: sleutel-sms")
            expect(page.get_by_role("link", name="Vernieuwen")).to_be_visible()
        page.screenshot(path=str(SHOTS / "zz-round-without-javascript.png"), full_page=True)
    finally:
        context.close()
