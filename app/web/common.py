"""What every console page module shares: the viewer and CSRF dependencies, the refusals the
console answers as pages, the templates and their Dutch label maps, and page rendering.

``app.web.console`` mounts the console (session middleware, error handlers, routers); each page
group (``console``, ``audit_pages``, ``recipient_pages``, ``protocol_pages``, ``staff_pages``)
holds its own ``APIRouter`` built on these names. No rule lives here: what a role may do is
``app.flows.roles.may``.
"""

# No `from __future__ import annotations` here: FastAPI reads the dependencies' annotations.
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from app.api.errors import ERRORS
from app.errors import KbxError
from app.flows.deps import ExportDeps
from app.flows.roles import Action, may
from app.settings import Settings
from app.store.db import aware, reading
from app.store.users import active_user
from app.web.session import ConsoleSession, credential_tag, csrf_matches
from exchange.clock import in_brussels
from exchange.exports import STATES_NL
from exchange.protocols import Channel

__all__ = [
    "CHANNELS_NL",
    "EVENTS_NL",
    "HERE",
    "NOT_A_VALUE",
    "ROLES_NL",
    "SESSION_HOURS",
    "STATES_NL",
    "Confirmation",
    "ConsoleRefused",
    "Csrf",
    "CurrentViewer",
    "LoginRequired",
    "Viewer",
    "confirm_page",
    "csrf_checked",
    "deps_of",
    "dutch",
    "engine_of",
    "new_router",
    "next_page",
    "older_than",
    "optional_date",
    "page",
    "require",
    "row_id",
    "session_of",
    "settings_of",
    "templates",
    "viewer",
    "when",
]

HERE = Path(__file__).resolve().parent
# A session ends this long after its login however busy it is (idle: KBX_CONSOLE_IDLE_MINUTES).
SESSION_HOURS = 12

CHANNELS_NL = {
    Channel.SFTP_DROP: "SFTP-drop van AgII",
    Channel.SFTP_PUSH: "SFTP-server van de ontvanger",
    Channel.SECURE_MAIL: "beveiligde e-mail",
    Channel.ZIVVER: "Zivver",
}
ROLES_NL = {
    "operator": "aanvrager",
    "approver": "goedkeurder",
    "auditor": "auditor",
    "admin": "beheerder",
    "vsb": "VSB",
}
# What the timeline says of an audit event; an action not listed is shown by its code.
EVENTS_NL = {
    "export.requested": "aangevraagd",
    "export.refused": "geweigerd door het protocol",
    "export.approved": "goedgekeurd",
    "export.cancelled": "geannuleerd",
    "export.built": "bestand aangemaakt en versleuteld",
    "export.delivered": "afgeleverd",
    "export.delivery_deferred": "aflevering uitgesteld",
    "export.key_sent": "sleutel per sms verstuurd",
    "export.key_delivered": "sleutel-sms afgeleverd",
    "export.key_undelivered": "sleutel-sms niet afgeleverd",
    "export.key_refused": "sleutel-sms geweigerd",
    "export.key_reconciled": "sleutel-sms nagekeken",
    "export.key_resend_requested": "herzending van de sleutel gevraagd",
    "export.key_resent": "sleutel opnieuw verstuurd",
    "export.password_destroyed": "wachtwoord vernietigd",
    "export.expired": "bestand vervallen",
    "export.removed_by_recipient": "bestand verwijderd door de ontvanger",
    "export.failed": "mislukt",
    "export.derived": "afgeleid bestand gemaakt",
    "export.returned": "teruggekomen bestand ontvangen",
    "export.return_refused": "teruggekomen bestand geweigerd",
    "sftp.downloaded": "opgehaald door de ontvanger",
    "sftp.deleted": "verwijderd door de ontvanger",
    "sftp.login": "aangemeld op de SFTP-drop",
    "sftp.auth_failed": "mislukte aanmelding op de SFTP-drop",
    "sftp.listed": "map bekeken op de SFTP-drop",
    "sftp.uploaded": "bestand opgeladen op de SFTP-drop",
    "console.login": "aangemeld in de console",
    "console.login_failed": "mislukte aanmelding in de console",
    "console.logout": "afgemeld in de console",
    "user.added": "gebruiker toegevoegd",
    "user.disabled": "gebruiker uitgeschakeld",
    "user.enabled": "gebruiker ingeschakeld",
    "user.password_reset": "wachtwoord opnieuw ingesteld",
    "recipient.change_proposed": "wijziging voorgesteld",
    "recipient.change_applied": "wijziging goedgekeurd en toegepast",
    "recipient.change_rejected": "wijziging afgewezen",
    "agreement.signature": "ondertekening geregistreerd",
    "agreement.accession": "toetreding geregistreerd",
    "agreement.notice": "opzegging geregistreerd",
    "agreement.suspend": "schorsing geregistreerd",
    "agreement.resume": "hervatting geregistreerd",
    "agreement.end": "beëindiging geregistreerd",
    "agreement.withdraw": "intrekking geregistreerd",
    "protocol.date_set": "datum van een protocol vastgelegd",
    "kbi.import": "KBI-extract ingelezen",
    "check.integration_obligation": "individuele controle van de inburgeringsplicht (VSB)",
}
NOT_A_VALUE = "Een datum (JJJJ-MM-DD) of het aantal jaren terug is ongeldig."


def when(moment: datetime | None) -> str:
    """A moment as the pages show it, in Brussels time: ``30-11-2026 09:15``, or nothing. A
    naive value is UTC (as SQLite gives a stored one back), like every moment kbx stores."""
    return "" if moment is None else in_brussels(moment).strftime("%d-%m-%Y %H:%M")


# Row ids are 32-bit integers on PostgreSQL; a larger number typed in a path names no row.
_MAX_ROW_ID = 2**31 - 1


def row_id(text: str, what_nl: str) -> int:
    """The id a path names (``/audit/17``): digits, 1 to 2**31 - 1. Anything else names no row
    and gets the same Dutch 404 as an unknown id (``ConsoleRefused``), never a database error;
    the text is not repeated (it could be anything a person typed)."""
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else 0
    if not 1 <= number <= _MAX_ROW_ID:
        raise ConsoleRefused(404, f"Er is geen {what_nl} met dit nummer.")
    return number


def older_than(text: str) -> int | None:
    """The ``voor`` parameter of a list's next page (a run id or an audit number), or None for
    the first page (also for a value that is no such number: the list starts at the newest)."""
    if text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= _MAX_ROW_ID:
        return int(text)
    return None


def next_page(path: str, filters: dict[str, str], rows: int, shown: int, last: int) -> str | None:
    """The link to the next (older) page of a list of ``shown`` rows per page, keeping its
    ``filters``; None when this page is not full (nothing older to show)."""
    if rows < shown:
        return None
    kept = {name: value for name, value in filters.items() if value}
    return f"{path}?{urlencode({**kept, 'voor': last})}"


def optional_date(text: str) -> date | None:
    """A date typed as JJJJ-MM-DD (the date field's value), or None; raises ``ValueError``."""
    return date.fromisoformat(text) if text else None


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["when"] = when


def detail(value: object) -> str:
    """An audit event's detail as a person reads it (not Python's repr): nothing as ``–``, yes
    or no, a mapping as ``key: value, ...``, a list as ``a, b``."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {detail(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(detail(v) for v in value)
    return str(value)


templates.env.filters["detail"] = detail
templates.env.globals["STATES_NL"] = STATES_NL
templates.env.globals["CHANNELS_NL"] = CHANNELS_NL
templates.env.globals["ROLES_NL"] = ROLES_NL
templates.env.globals["EVENTS_NL"] = EVENTS_NL
templates.env.globals["KINDS_NL"] = {
    # a recipient's kind
    "municipality": "gemeente",
    "agency": "agentschap",
    # an agreement's kind
    "signature": "ondertekening",
    "accession": "toetreding",
    "party": "partij bij het protocol",
}


# -- errors the console answers as pages ---------------------------------------------------------


class LoginRequired(Exception):
    """No logged-in session (or it expired): the console sends the person to ``/login``."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("login required")
        self.expired = expired


class ConsoleRefused(Exception):
    """A request the console refuses with ``status`` and a Dutch message (403 for a role or a
    CSRF token, 404, 409 for a flow's conflict)."""

    def __init__(self, status: int, message_nl: str) -> None:
        super().__init__(message_nl)
        self.status = status
        self.message_nl = message_nl


def dutch(exc: KbxError) -> str:
    """The Dutch message of a flow's error, else the catalogue's Dutch line for its code."""
    if exc.message_nl:
        return exc.message_nl
    known = ERRORS.get(exc.code)
    return known.nl if known is not None else "Dit kan niet."


# -- the session, per request --------------------------------------------------------------------


def settings_of(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def deps_of(request: Request) -> ExportDeps:
    """The application's flow dependencies (registry, vault, channels)."""
    deps: ExportDeps = request.app.state.deps
    return deps


def engine_of(request: Request) -> Engine:
    """The application's database engine."""
    engine: Engine = request.app.state.engine
    return engine


def session_of(request: Request) -> ConsoleSession:
    """The console session the middleware opened for this request."""
    session: ConsoleSession = request.state.console_session
    return session


@dataclass(frozen=True)
class Viewer:
    """The logged-in staff member of a request, as re-read from the database."""

    name: str
    role: str
    csrf: str

    def may(self, action: Action) -> bool:
        """Whether this person's role may do ``action`` (``app.flows.roles``)."""
        return may(self.role, action)


def viewer(request: Request) -> Viewer:
    """The logged-in, active account of the session; raises ``LoginRequired`` without one, when
    the session was idle longer than ``KBX_CONSOLE_IDLE_MINUTES``, began more than
    ``SESSION_HOURS`` ago, or its account is disabled or has had its password reset since;
    ``ConsoleRefused`` (403) for a role that may not read (``Action.READ``: the VSB)."""
    session = session_of(request)
    settings = settings_of(request)
    if session.user_id is None:
        raise LoginRequired()
    now = settings.now().timestamp()
    idle = now - session.last_seen > settings.console_idle_minutes * 60
    if idle or now - session.started > SESSION_HOURS * 3600:
        session.user_id = None
        raise LoginRequired(expired=True)
    with reading(engine_of(request)) as db:
        user = active_user(db, session.user_id)
    signed_out = aware(user.signed_out_at) if user is not None else None
    if (
        user is None
        or credential_tag(user.password_hash) != session.credential
        or (signed_out is not None and session.started <= signed_out.timestamp())
    ):
        session.user_id = None
        raise LoginRequired()
    session.last_seen = now
    person = Viewer(user.name, user.role, session.csrf)
    # The console is AgII staff's: a role that may read nothing of it (the VSB, whose one use is
    # the API's individual check) is refused every page, as the API refuses it every list.
    if not person.may(Action.READ):
        role = ROLES_NL.get(person.role, person.role)
        raise ConsoleRefused(
            403,
            f"De console is er voor de medewerkers van AgII; uw rol ({role}) heeft er geen "
            "toegang.",
        )
    return person


def csrf_checked(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    """Refuses (403) a form whose token is not the session's."""
    if not csrf_matches(session_of(request), csrf_token):
        raise ConsoleRefused(
            403,
            "Dit formulier is verlopen of ongeldig. "
            "Laad de pagina opnieuw en probeer het nog eens.",
        )


CurrentViewer = Annotated[Viewer, Depends(viewer)]
Csrf = Depends(csrf_checked)


def require(person: Viewer, action: Action) -> None:
    """Refuses (403) unless ``person``'s role may do ``action`` (``app.flows.roles.may``)."""
    if not person.may(action):
        role = ROLES_NL.get(person.role, person.role)
        raise ConsoleRefused(403, f"U ({person.name}, {role}) mag dit niet doen.")


# The navigation's targets (base.html): the page a path belongs to is the longest that starts it.
_SECTIONS = (
    "/exports/new",
    "/exports",
    "/rounds",
    "/recipients",
    "/changes",
    "/protocols",
    "/audit",
    "/users",
)


def section_of(path: str) -> str:
    """The navigation link a page belongs to (``/exports/KBX-2026-000002`` -> ``/exports``), or
    ``/`` for the overview, ``""`` for a path of none; base.html marks it
    ``aria-current="page"``."""
    for section in _SECTIONS:  # longest first where one starts another
        if path == section or path.startswith(section + "/"):
            return section
    return "/" if path == "/" else ""


def page(
    request: Request, template: str, person: Viewer | None, status: int = 200, **values: Any
) -> HTMLResponse:
    """``template`` rendered for ``person`` with the session's CSRF token and ``values``."""
    context = {
        "me": person,
        "csrf": session_of(request).csrf,
        "Action": Action,
        "section": section_of(request.url.path),
        **values,
    }
    return templates.TemplateResponse(request, template, context, status_code=status)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What ``confirm.html`` shows before a person approves or rejects (a run, a change): a
    ``title``, the ``facts`` decided on (label, value), what will happen (``consequences``, one
    paragraph each), and a POST form to ``action`` (with the CSRF token) whose ``button`` says
    the decision, with the "Reden van afwijzing" field when ``asks_reason``; ``back`` leads away
    without deciding. All text in Dutch; no fact holds personal data."""

    title: str
    facts: list[tuple[str, str]]
    consequences: list[str]
    action: str
    button: str
    back: str
    asks_reason: bool = False
    secondary: bool = False


def confirm_page(
    request: Request,
    person: Viewer,
    confirmation: Confirmation,
    status: int = 200,
    error: str | None = None,
    reason: str = "",
) -> HTMLResponse:
    """The confirmation page (GET), or again with the Dutch ``error`` of a refused decision and
    the ``reason`` typed (empty when it must not be shown again)."""
    return page(
        request,
        "confirm.html",
        person,
        status=status,
        confirm=confirmation,
        error=error,
        reason=reason,
    )


def new_router() -> APIRouter:
    """A page group's router: HTML answers, outside the API's OpenAPI document."""
    return APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
