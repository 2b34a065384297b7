"""The staff console: Dutch pages served by the API's own application (``install_console``).

Login (``/login``, ``/logout``), the overview (``/``), the runs (``/exports``, ``/exports/{ref}``,
and the confirmation pages of approving and of cancelling or rejecting one,
``/exports/{ref}/approve|cancel``: a GET shows what will happen, the POST decides) and the request
form (``/exports/new``). Every rule is a flow's: the pages read through
``app.flows.history``, act through ``app.flows.exports`` and ask ``app.flows.roles.may`` what a
role may do, so a form is rendered only for a role that may use it and a forged POST is refused
(403) by the same table. Every console answer carries the security headers
(``app.api.headers``); every form carries the session's CSRF token, and a POST without it is
refused with 403. The other page groups (``audit_pages``, ``recipient_pages``,
``protocol_pages``, ``staff_pages``) have their own routers, built on ``app.web.common``, and
are mounted here with this one.
"""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from http.cookies import SimpleCookie
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import http_error, validation_error
from app.errors import KbxError
from app.flows import alerts as alert_flows
from app.flows import exports as export_flows
from app.flows import key_sms, login_throttle, staff
from app.flows.history import RunLine, RunStory, board, run_lines, run_story
from app.flows.login_throttle import LOGIN_ATTEMPTS, LOGIN_RATE_LIMIT, LOGIN_WINDOW_SECONDS
from app.flows.rejections import REASON_CODES
from app.flows.roles import Action
from app.settings import Environment, Settings
from app.store.audit import record
from app.store.db import reading, transaction
from app.store.recipients import list_recipients
from app.store.users import account_named, password_matches
from app.web import audit_pages, protocol_pages, recipient_pages, round_pages, staff_pages
from app.web.common import (
    CHANNELS_NL,
    HERE,
    NOT_A_VALUE,
    SESSION_HOURS,
    Confirmation,
    ConsoleRefused,
    Csrf,
    CurrentViewer,
    LoginRequired,
    Viewer,
    confirm_page,
    deps_of,
    dutch,
    engine_of,
    new_router,
    next_page,
    older_than,
    optional_date,
    page,
    require,
    session_of,
    settings_of,
    templates,
    viewer,
    when,
)
from app.web.session import COOKIE, credential_tag, new_session, open_session, seal
from exchange.exports import RunState, can_move, may_cancel
from exchange.policy import Reason
from exchange.protocols import Channel

__all__ = [
    "EXPORTS_SHOWN",
    "LOGIN_ATTEMPTS",
    "LOGIN_RATE_LIMIT",
    "LOGIN_WINDOW_SECONDS",
    "OVERVIEW_SHOWN",
    "SESSION_HOURS",
    "install_console",
]

# The runs a page of the list shows, newest first ("Oudere exports" shows the next page).
EXPORTS_SHOWN = 50
# The newest runs of each of the overview's lists (waiting, in progress); Exports has them all.
OVERVIEW_SHOWN = 50

log = logging.getLogger("kbx.web")

_CONSOLE_PATHS = (
    "/login",
    "/logout",
    "/exports",
    "/audit",
    "/recipients",
    "/changes",
    "/protocols",
    "/users",
    "/rounds",
    "/static/",
)


def is_console_path(path: str) -> bool:
    """Whether ``path`` is the console's (its pages, ``/login``, ``/static/``): the answers that
    carry the console's session and headers (``app.api.headers`` heads the others)."""
    return path == "/" or path.startswith(_CONSOLE_PATHS)


# -- the session, per request --------------------------------------------------------------------


class _ConsoleSessions:
    """Opens the session cookie before a console route and seals it back after (the security
    headers are ``app.api.headers``'s, for every path). Plain ASGI, not ``BaseHTTPMiddleware``: that
    one runs each request through a task group and memory streams, ~0.3 ms per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        deps = deps_of(request)
        opened = open_session(deps.vault, request.cookies.get(COOKIE))
        request.state.console_session = opened or new_session()
        production = settings_of(request).env is Environment.PRODUCTION

        async def answer(message: Message) -> None:
            static = scope["path"].startswith("/static/")
            if message["type"] == "http.response.start" and not static:
                # The route has run: the session is sealed as it left it.
                sealed = seal(deps.vault, session_of(request))
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", _cookie(sealed, secure=production))
            await send(message)

        await self.app(scope, receive, answer)


def _cookie(value: str, *, secure: bool) -> str:
    """The ``Set-Cookie`` value of the session, as ``Response.set_cookie`` writes it."""
    jar: SimpleCookie = SimpleCookie()
    jar[COOKIE] = value
    jar[COOKIE]["path"] = "/"
    jar[COOKIE]["httponly"] = True
    jar[COOKIE]["samesite"] = "strict"
    if secure:
        jar[COOKIE]["secure"] = True
    return jar.output(header="").strip()


router = new_router()


# -- login ---------------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, verlopen: int = 0, naar: str = "") -> Response:
    """The login form; ``verlopen=1`` says the session ended after idling; ``naar`` is the
    console page to show after logging in (``return_path``)."""
    if session_of(request).user_id is not None:
        try:
            viewer(request)  # already logged in: straight to the page
            return RedirectResponse(return_path(naar) or "/", status_code=303)
        except (LoginRequired, ConsoleRefused):
            pass
    notice = "Uw sessie is verlopen. Meld u opnieuw aan." if verlopen else None
    return page(request, "login.html", None, notice=notice, naar=return_path(naar))


def _login_failed(engine: Engine, settings: Settings, name: str, exists: bool, reason: str) -> None:
    # The typed name is recorded only when such an account exists: a name that is not one may
    # be anything (a password typed in the wrong field, a person's name).
    with transaction(engine) as db:
        record(
            db,
            actor=name if exists else "anonymous",
            action="console.login_failed",
            subject=f"user:{name}" if exists else "user:unknown",
            details={"reason": reason},
            now=settings.now(),
        )


@router.post("/login", dependencies=[Csrf])
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    naar: Annotated[str, Form()] = "",
) -> Response:
    """Checks the name and password (argon2); a wrong one, a disabled account and too many
    failures (``LOGIN_ATTEMPTS`` per ``LOGIN_WINDOW_SECONDS``, per name and source address)
    all get the same Dutch answer and an audit event ``console.login_failed``."""
    settings, engine = settings_of(request), engine_of(request)
    source = request.client.host if request.client else "-"
    with reading(engine) as db:
        account = account_named(db, username)
    exists = account is not None
    active = account if account is not None and account.active else None
    wait = login_throttle.wait(engine, username, source)
    if wait is not None:
        _login_failed(engine, settings, username, exists, "throttled")
        log.warning("console login refused: too many failures from one source")
        minutes = max(1, math.ceil(wait / 60))
        return page(
            request,
            "login.html",
            None,
            status=429,
            error=f"Te veel mislukte pogingen. Probeer het over {minutes} minuten opnieuw.",
        )
    if not password_matches(active, password) or active is None:
        login_throttle.failed(engine, username, source)
        reason = "password" if active is not None else "disabled" if exists else "unknown"
        _login_failed(engine, settings, username, exists, reason)
        log.info("console login failed")
        return page(request, "login.html", None, status=401, error="Onjuiste naam of wachtwoord.")
    fresh = new_session()  # a new CSRF token with every login: no fixation
    fresh.user_id = active.id
    fresh.started = fresh.last_seen = settings.now().timestamp()
    fresh.credential = credential_tag(active.password_hash)
    request.state.console_session = fresh
    with transaction(engine) as db:
        record(
            db,
            actor=active.name,
            action="console.login",
            subject=f"user:{active.name}",
            details={},
            now=settings.now(),
        )
    return RedirectResponse(return_path(naar) or "/", status_code=303)


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> Response:
    """Ends the session: on the server (``app.flows.staff.sign_out``: no cookie of this account
    from before now is accepted any more) and in the browser (sealed back without an
    account)."""
    user_id = session_of(request).user_id
    if user_id is not None:
        staff.sign_out(engine_of(request), user_id, settings_of(request).now())
    request.state.console_session = new_session()
    return RedirectResponse("/login", status_code=303)


# -- overview and runs ---------------------------------------------------------------------------


@router.get("/")
def overview(request: Request, me: CurrentViewer) -> Response:
    """Runs and recipient changes waiting for my approval (never my own), the alerts
    (``app.flows.alerts``), runs in progress, recent refusals."""
    engine, settings = engine_of(request), settings_of(request)
    now = settings.now()
    runs_now = board(engine, now, limit=OVERVIEW_SHOWN, refused_limit=10)
    approver = me.may(Action.APPROVE)
    # Mine to approve (never my own); the others wait for a second person: an approver's own
    # requests, or for whoever may not approve, every request (they wait too).
    waiting = [line for line in runs_now.requested if approver and line.requested_by != me.name]
    pending = [line for line in runs_now.requested if not approver or line.requested_by == me.name]
    retry = timedelta(minutes=settings.remote_check_minutes)
    return page(
        request,
        "overview.html",
        me,
        waiting=waiting,
        pending=pending,
        busy=runs_now.busy,
        overview_shown=OVERVIEW_SHOWN,
        refused=runs_now.refused,
        alerts=alert_flows.alerts(engine, now, retry),
        changes=alert_flows.changes_for(engine, me.name) if me.may(Action.DECIDE_CHANGE) else [],
        shown=alert_flows.ALERTS_SHOWN,
        kinds=recipient_pages.CHANGE_KINDS_NL,
    )


@router.get("/exports")
def export_list(
    request: Request,
    me: CurrentViewer,
    protocol: str = "",
    recipient: str = "",
    state: str = "",
    since: str = "",
    voor: str = "",
) -> Response:
    """Every run, newest first, ``EXPORTS_SHOWN`` a page (``voor``: older than that run id),
    with filters on protocol, recipient (name or code), state and the first day requested;
    refused requests only when that state is asked for."""
    filters = {"protocol": protocol, "recipient": recipient, "state": state, "since": since}
    error = None
    lines: list[RunLine] = []
    try:
        lines = run_lines(
            engine_of(request),
            protocol=protocol or None,
            recipient=recipient or None,
            state=RunState(state) if state in RunState.__members__.values() else None,
            since=optional_date(since),
            limit=EXPORTS_SHOWN,
            before=older_than(voor),
        )
    except KbxError as exc:
        error = dutch(exc)
    except ValueError:
        error = NOT_A_VALUE
    protocols = [d.id for d in deps_of(request).registry]
    return page(
        request,
        "exports.html",
        me,
        lines=lines,
        filters=filters,
        error=error,
        protocols=protocols,
        shown=EXPORTS_SHOWN,
        paged=older_than(voor) is not None,
        older=next_page("/exports", filters, len(lines), EXPORTS_SHOWN, lines[-1].id)
        if lines
        else None,
    )


class ExportForm(BaseModel):
    """The request form's fields as typed (stripped text; empty when left blank)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    protocol: str = ""
    recipient: str = ""
    period: str = ""
    channel: str = ""
    lookback_years: str = ""
    requested_on: str = ""
    request_ref: str = ""

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments ``check`` and ``request_export`` both take. Raises
        ``ValueError`` for a look-back or a date that is none, ``KbxError`` for a request
        without its date or reference (``make_request``)."""
        return {
            "protocol_id": self.protocol,
            "recipient_id": self.recipient,
            "period": self.period,
            "channel": self.channel,
            "lookback_years": int(self.lookback_years) if self.lookback_years else None,
            "request": export_flows.make_request(
                optional_date(self.requested_on), self.request_ref or None
            ),
        }


class RequestForm(ExportForm):
    """The form as submitted: ``action`` is "check" ("Controleer") or "request"."""

    action: str = "check"


@router.get("/exports/new")
def new_export_form(request: Request, me: CurrentViewer) -> Response:
    """The request form; rendered only for a role that may request."""
    require(me, Action.REQUEST)
    return _new_page(request, me, ExportForm())


def _new_page(
    request: Request,
    me: Viewer,
    form: ExportForm,
    status: int = 200,
    **values: Any,
) -> Response:
    definitions = list(deps_of(request).registry)
    with reading(engine_of(request)) as db:
        recipients = [(r.id, r.name_nl) for r in list_recipients(db)]
    return page(
        request,
        "new_export.html",
        me,
        status=status,
        form=form,
        definitions=definitions,
        channels=list(Channel),
        recipients=recipients,
        **values,
    )


@dataclass(frozen=True)
class PolicyAnswer:
    """What the page shows of ``app.flows.exports.check``: allowed, or every reason."""

    allowed: bool
    reasons: list[Reason]
    today: date | None = None
    error: str | None = None
    # Allowed by the protocol, but kbx cannot deliver it yet (no contact, key, server or
    # mailbox): the request would be refused, so the page says why and offers no button.
    not_ready: str | None = None


def _ask_policy(request: Request, form: ExportForm) -> PolicyAnswer:
    try:
        answer = export_flows.check(engine_of(request), deps_of(request), **form.arguments())
    except KbxError as exc:
        return PolicyAnswer(False, [], error=dutch(exc))
    except ValueError:
        return PolicyAnswer(False, [], error=NOT_A_VALUE)
    not_ready = None if answer.not_ready is None else dutch(answer.not_ready)
    return PolicyAnswer(answer.allowed, answer.reasons, answer.today, not_ready=not_ready)


@router.post("/exports/check", dependencies=[Csrf])
def check_partial(
    request: Request, me: CurrentViewer, form: Annotated[ExportForm, Form()]
) -> Response:
    """The policy's answer as a fragment of the form (htmx, on every change)."""
    require(me, Action.REQUEST)
    answer = _ask_policy(request, form)
    return page(request, "_policy.html", me, answer=answer)


@router.post("/exports/new", dependencies=[Csrf])
def new_export(
    request: Request, me: CurrentViewer, form: Annotated[RequestForm, Form()]
) -> Response:
    """``action=check`` ("Controleer"): the form again with the policy's answer, without
    JavaScript; ``action=request``: ``request_export``, then the new run's page (or the form
    with every reason of a refusal, rule and article)."""
    require(me, Action.REQUEST)
    if form.action != "request":
        return _new_page(request, me, form, answer=_ask_policy(request, form))
    try:
        run = export_flows.request_export(
            engine_of(request), deps_of(request), by=me.name, **form.arguments()
        )
    except export_flows.PolicyRefusal as exc:
        answer = PolicyAnswer(False, exc.reasons)
        return _new_page(request, me, form, status=409, answer=answer, refused_run=exc.run_id)
    except KbxError as exc:
        return _new_page(
            request, me, form, status=exc.status, answer=PolicyAnswer(False, [], error=dutch(exc))
        )
    except ValueError:
        answer = PolicyAnswer(False, [], error=NOT_A_VALUE)
        return _new_page(request, me, form, status=400, answer=answer)
    return RedirectResponse(f"/exports/{run.reference or run.id}", status_code=303)


def _story(request: Request, ref: str) -> RunStory:
    try:
        return run_story(engine_of(request), ref)
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc


@dataclass(frozen=True, slots=True)
class _Choices:
    """What a person may decide on a run: ``mine`` (they requested it), ``approve`` (an
    approver who did not), ``cancel`` (cancel their own, or reject as that approver)."""

    mine: bool
    approve: bool
    cancel: bool


def _choices(story: RunStory, me: Viewer) -> _Choices:
    state = story.line.state
    mine = story.requested_by == me.name
    approver = me.may(Action.APPROVE)
    approve = state == RunState.REQUESTED and approver and not mine
    cancel = me.may(Action.CANCEL) and may_cancel(
        RunState(state), story.requested_by, me.name, approver=approver
    )
    return _Choices(mine, approve, cancel)


@router.get("/exports/{ref}")
def export_detail(request: Request, me: CurrentViewer, ref: str) -> Response:
    """One run: its facts, its timeline (with a rejection's reason), the reasons of a refusal,
    and the buttons this person may use on it (approve or reject for an approver who did not
    ask for it, cancel for the requester); each leads to its confirmation page."""
    story = _story(request, ref)
    choices = _choices(story, me)
    resend = key_sms.resend_state(engine_of(request), story.line.id)
    return page(
        request,
        "export.html",
        me,
        story=story,
        ref=ref,
        can_approve=choices.approve,
        can_cancel=choices.cancel,
        mine=choices.mine,
        resend=resend,
        can_ask_resend=(me.may(Action.ASK_RESEND) and resend.askable and resend.asked_by is None),
        can_approve_resend=me.may(Action.APPROVE_RESEND) and resend.approvable_by(me.name),
    )


def _run_facts(story: RunStory) -> list[tuple[str, str]]:
    line = story.line
    facts = [
        ("Export", str(line.reference or line.id)),
        ("Protocol", line.protocol),
        ("Ontvanger", f"{line.recipient} {line.recipient_name}"),
        ("Periode", line.period),
        ("Kanaal", CHANNELS_NL.get(Channel(line.channel), line.channel)),
        ("Aangevraagd door", f"{story.requested_by} op {when(line.requested_at)}"),
    ]
    if line.request_ref and line.requested_on:
        facts.append(
            (
                "Aanvraag van de gemeente",
                f"{line.request_ref} van {line.requested_on.strftime('%d-%m-%Y')}",
            )
        )
    return facts


def _approval(story: RunStory) -> Confirmation:
    ref = story.line.reference or story.line.id
    channel = CHANNELS_NL.get(Channel(story.line.channel), story.line.channel)
    return Confirmation(
        title=f"Export {ref} goedkeuren",
        facts=_run_facts(story),
        consequences=[
            "kbx vraagt het protocol eerst opnieuw of deze lijst vandaag nog toegestaan is; "
            "zo niet, dan blijft de export aangevraagd en ziet u waarom.",
            "Daarna stelt kbx het bestand samen met enkel de velden van het protocol, "
            f"versleutelt het en bezorgt het via {channel}. De sleutel gaat pas na de bezorging "
            "per sms naar de geregistreerde contactpersoon van de ontvanger.",
            "Een goedgekeurde export kan nog geannuleerd worden tot het bestand aangemaakt is.",
        ],
        action=f"/exports/{ref}/approve",
        button="Goedkeuren",
        back=f"/exports/{ref}",
    )


def _cancellation(story: RunStory, mine: bool) -> Confirmation:
    ref = story.line.reference or story.line.id
    if mine:
        return Confirmation(
            title=f"Export {ref} annuleren",
            facts=_run_facts(story),
            consequences=[
                "Uw aanvraag wordt geannuleerd: kbx maakt geen bestand aan en er vertrekt niets "
                "naar de ontvanger.",
                "De periode komt vrij voor een nieuwe aanvraag.",
            ],
            action=f"/exports/{ref}/cancel",
            button="Annuleren",
            back=f"/exports/{ref}",
            secondary=True,
        )
    return Confirmation(
        title=f"Export {ref} afwijzen",
        facts=_run_facts(story),
        consequences=[
            f"De aanvraag van {story.requested_by} wordt afgewezen: kbx maakt geen bestand aan "
            "en er vertrekt niets naar de ontvanger.",
            "De periode komt vrij voor een nieuwe aanvraag.",
            "Uw reden van afwijzing komt in de audittrail en staat op de pagina van de export.",
        ],
        action=f"/exports/{ref}/cancel",
        button="Afwijzen",
        back=f"/exports/{ref}",
        asks_reason=True,
        secondary=True,
    )


@router.get("/exports/{ref}/approve")
def confirm_approval(request: Request, me: CurrentViewer, ref: str) -> Response:
    """What approving the run does, and the form that does it (403 for a role that may not
    approve, 409 for the requester or a run that waits for no approval)."""
    require(me, Action.APPROVE)
    story = _story(request, ref)
    choices = _choices(story, me)
    if not choices.approve:
        raise ConsoleRefused(
            409,
            "U vroeg deze export zelf aan: een andere goedkeurder moet ze goedkeuren."
            if choices.mine
            else "Deze export wacht niet op goedkeuring.",
        )
    return confirm_page(request, me, _approval(story))


@router.get("/exports/{ref}/cancel")
def confirm_cancellation(request: Request, me: CurrentViewer, ref: str) -> Response:
    """What cancelling (the requester) or rejecting (an approver who did not ask for it) does,
    and the form that does it, with the reason a rejection needs (403 for a role that may not
    cancel or a person who may neither, 409 for a run past cancelling)."""
    require(me, Action.CANCEL)
    story = _story(request, ref)
    choices = _choices(story, me)
    if not can_move(RunState(story.line.state), RunState.CANCELLED):
        raise ConsoleRefused(409, "Deze export kan niet meer geannuleerd of afgewezen worden.")
    if not choices.cancel:
        raise ConsoleRefused(
            403, "Alleen wie de export aanvroeg of een goedkeurder kan ze annuleren of afwijzen."
        )
    return confirm_page(request, me, _cancellation(story, choices.mine))


def _act(request: Request, ref: str, do: Callable[[int], object]) -> Response:
    try:
        line = run_story(engine_of(request), ref).line
        do(line.id)
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc
    return RedirectResponse(f"/exports/{line.reference or line.id}", status_code=303)


@router.post("/exports/{ref}/approve", dependencies=[Csrf])
def approve_run(request: Request, me: CurrentViewer, ref: str) -> Response:
    """Approve (``app.flows.exports.approve``: four-eyes refuses the requester, 409)."""
    require(me, Action.APPROVE)
    return _act(
        request,
        ref,
        lambda run_id: export_flows.approve(engine_of(request), deps_of(request), run_id, me.name),
    )


@router.post("/exports/{ref}/cancel", dependencies=[Csrf])
def cancel_run(
    request: Request,
    me: CurrentViewer,
    ref: str,
    reason: Annotated[str | None, Form()] = None,
) -> Response:
    """Cancel, or reject as an approver (``app.flows.exports.cancel``: a rejection needs its
    reason; refused, the confirmation page again with the Dutch reason why, 400, and nothing
    recorded)."""
    require(me, Action.CANCEL)
    story = _story(request, ref)
    try:
        export_flows.cancel(engine_of(request), deps_of(request), story.line.id, me.name, reason)
    except KbxError as exc:
        if exc.code not in REASON_CODES:
            raise ConsoleRefused(exc.status, dutch(exc)) from exc
        # A reason that may hold a national number is not shown again.
        typed = "" if exc.code == "rejection.reason_national_number" else (reason or "")
        confirmation = _cancellation(story, mine=story.requested_by == me.name)
        return confirm_page(
            request, me, confirmation, status=exc.status, error=dutch(exc), reason=typed
        )
    return RedirectResponse(f"/exports/{story.line.reference or story.line.id}", status_code=303)


@router.post("/exports/{ref}/resend", dependencies=[Csrf])
def ask_resend(request: Request, me: CurrentViewer, ref: str) -> Response:
    """Ask for a key resend, the first half of four eyes (``app.flows.key_sms.request_resend``:
    only once the key left and while its password is kept, 409)."""
    require(me, Action.ASK_RESEND)
    engine, deps = engine_of(request), deps_of(request)
    return _act(request, ref, lambda run_id: key_sms.request_resend(engine, deps, run_id, me.name))


@router.post("/exports/{ref}/resend/approve", dependencies=[Csrf])
def approve_key_resend(request: Request, me: CurrentViewer, ref: str) -> Response:
    """Approve the key resend; the SMS leaves now (``app.flows.key_sms.approve_resend``: never
    by the person who asked, 409; 502 when the provider refused, the request is kept)."""
    require(me, Action.APPROVE_RESEND)
    engine, deps = engine_of(request), deps_of(request)
    return _act(request, ref, lambda run_id: key_sms.approve_resend(engine, deps, run_id, me.name))


# -- mounting ------------------------------------------------------------------------------------


def return_path(text: str) -> str | None:
    """Where to go after logging in: a console page of this site (a path, never another host:
    no scheme, no ``//`` or backslash), not the login or logout itself; else None."""
    path = text.split("?", 1)[0]
    if (
        not text.startswith("/")
        or text.startswith(("//", "/\\"))
        or "\\" in text
        or len(text) > 512
        or not is_console_path(path)
        or path.startswith(("/login", "/logout", "/static/"))
    ):
        return None
    return text


def _login_required(request: Request, exc: Exception) -> Response:
    expired = isinstance(exc, LoginRequired) and exc.expired
    query = {"verlopen": "1"} if expired else {}
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    htmx = bool(request.headers.get("HX-Request"))  # a fragment is no page to return to
    if request.method == "GET" and not htmx and asked != "/" and return_path(asked) is not None:
        query["naar"] = asked  # the page asked for, shown again after logging in
    target = "/login" + (f"?{urlencode(query)}" if query else "")
    if htmx:
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefused)
    return page(request, "error.html", None, status=exc.status, message=exc.message_nl)


_FRAMEWORK_NL = {
    404: "Deze pagina bestaat niet.",
    405: "Deze pagina kan dat niet.",
}


async def _framework_error(request: Request, exc: Exception) -> Response:
    """The framework's own refusals (an unknown path, a method a path lacks, a parameter that is
    not one) as a Dutch page on the console's paths; the API keeps its JSON shape."""
    if not is_console_path(request.url.path):
        if isinstance(exc, RequestValidationError):
            return await validation_error(request, exc)
        return await http_error(request, exc)
    if isinstance(exc, StarletteHTTPException) and exc.status_code in _FRAMEWORK_NL:
        status, message = exc.status_code, _FRAMEWORK_NL[exc.status_code]
    else:  # never the value: it may be anything a person typed
        status, message = 400, "Dit verzoek is ongeldig: een van de waarden is er geen."
    return page(request, "error.html", None, status=status, message=message)


def install_console(api: FastAPI) -> None:
    """Mount the console on ``api`` (built by ``app.api.app.create_app``, its settings, engine
    and deps on ``api.state``): the routes, ``/static`` and the session middleware."""
    # Each template is compiled once; only in development does a page look (a stat per
    # template and render) whether its file changed since.
    templates.env.auto_reload = api.state.settings.env is not Environment.PRODUCTION
    api.add_exception_handler(LoginRequired, _login_required)
    api.add_exception_handler(ConsoleRefused, _refused)
    # After app.api.errors.install_handlers: these two answer the API's paths as before.
    api.add_exception_handler(StarletteHTTPException, _framework_error)
    api.add_exception_handler(RequestValidationError, _framework_error)
    api.add_middleware(_ConsoleSessions)
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    api.include_router(router)
    for pages in (audit_pages, recipient_pages, protocol_pages, staff_pages, round_pages):
        api.include_router(pages.router)
