"""The recipients' pages: ``/recipients?q=`` (the recipients a name, a part of one or a NIS code
may mean: ``app.store.recipients.search_recipients``), ``/recipients/{id}`` (contact with the
phone masked, keys by fingerprint, SFTP server, mailbox, agreements with their state, pending
changes and this year's runs: ``app.flows.history.recipient_overview``; for a role that may
propose, the forms of a new contact, drop key or mailbox: ``recipient_changes.propose``) and
the approval queue
``/changes``, whose approve and reject buttons a person sees who may decide
(``Action.DECIDE_CHANGE``) and did not propose the change; each leads to a confirmation page
(``/changes/{id}/approve|reject``, a GET) whose POST form decides, a rejection with its reason
(``app.flows.rejections``). ``app.flows.recipient_changes.decide`` refuses the proposer (four
eyes, 409) and the role table a forged POST (403)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict

from app.errors import KbxError
from app.flows import recipient_changes
from app.flows.history import local, recipient_overview
from app.flows.recipient_changes import ChangeOut
from app.flows.rejections import REASON_CODES
from app.flows.roles import Action
from app.store.db import reading
from app.store.recipients import search_recipients
from app.web.common import (
    Confirmation,
    ConsoleRefused,
    Csrf,
    CurrentViewer,
    Viewer,
    confirm_page,
    deps_of,
    dutch,
    engine_of,
    new_router,
    page,
    require,
    row_id,
    settings_of,
    when,
)
from exchange.protocols import Channel
from exchange.recipient_changes import ChangeKind

__all__ = ["CHANGE_KINDS_NL", "MAIL_ROUTES", "PROPOSABLE", "ProposalForm", "router"]

CHANGE_KINDS_NL = {
    "contact": "contactpersoon",
    "key": "sleutel",
    "sftp": "SFTP-server",
    "mail": "mailbox",
    "agreement": "overeenkomst",
    "agreement_state": "toestand van een overeenkomst",
}

router = new_router()


@router.get("/recipients")
def recipient_search(request: Request, me: CurrentViewer, q: str = "") -> Response:
    """Every recipient whose code or name matches ``q`` (all without one)."""
    require(me, Action.READ)
    with reading(engine_of(request)) as db:
        found = search_recipients(db, q)
    return page(request, "recipients.html", me, q=q, found=found)


class ProposalForm(BaseModel):
    """A proposed change as typed on a recipient's page: ``kind`` (one of ``PROPOSABLE``) and
    the fields of that kind (stripped text; empty when left blank)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    kind: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""
    public_key: str = ""
    address: str = ""
    route: str = ""

    def payload(self) -> dict[str, Any]:
        """What ``recipient_changes.propose`` checks for this kind: only its own fields."""
        return {name: getattr(self, name) for name in _FIELDS[ChangeKind(self.kind)]}


# The changes a recipient's page proposes, with their fields. An SFTP server (its private key)
# and agreements are proposed with the CLI or the API.
_FIELDS = {
    ChangeKind.CONTACT: ("name", "phone", "email"),
    ChangeKind.KEY: ("public_key",),
    ChangeKind.MAIL: ("address", "route"),
}
PROPOSABLE = tuple(_FIELDS)
MAIL_ROUTES = (Channel.SECURE_MAIL, Channel.ZIVVER)


def _detail(
    request: Request, me: Viewer, recipient_id: str, status: int = 200, **values: Any
) -> Response:
    try:
        view = recipient_overview(
            engine_of(request),
            recipient_id,
            settings_of(request).current_date(),
            deps_of(request).registry,
        )
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc
    return page(
        request,
        "recipient.html",
        me,
        status=status,
        view=view,
        kinds=CHANGE_KINDS_NL,
        may_propose=me.may(Action.PROPOSE_CHANGE),
        routes=MAIL_ROUTES,
        **({"form": ProposalForm()} | values),
    )


@router.get("/recipients/{recipient_id}")
def recipient_detail(
    request: Request, me: CurrentViewer, recipient_id: str, voorgesteld: int = 0
) -> Response:
    """One recipient's settings, agreements, pending changes and this year's runs, and the
    forms to propose a change for a role that may (``voorgesteld``: the change just made)."""
    require(me, Action.READ)
    return _detail(request, me, recipient_id, proposed=voorgesteld or None)


@router.post("/recipients/{recipient_id}/changes", dependencies=[Csrf])
def propose_change(
    request: Request,
    me: CurrentViewer,
    recipient_id: str,
    form: Annotated[ProposalForm, Form()],
) -> Response:
    """Propose a contact, drop key or mailbox (``app.flows.recipient_changes.propose``); it
    waits in ``/changes`` for a second person. A refused proposal records nothing and shows
    the page again with the Dutch reason beside its form."""
    require(me, Action.PROPOSE_CHANGE)
    if form.kind not in PROPOSABLE:
        return _detail(
            request, me, recipient_id, 400, form=form, error="Onbekende soort wijziging."
        )
    try:
        change = recipient_changes.propose(
            engine_of(request),
            deps_of(request).vault,
            ChangeKind(form.kind),
            recipient_id,
            form.payload(),
            me.name,
            settings_of(request).now(),
        )
    except KbxError as exc:
        return _detail(request, me, recipient_id, exc.status, form=form, error=dutch(exc))
    return RedirectResponse(
        f"/recipients/{change.recipient_id}?voorgesteld={change.id}", status_code=303
    )


@router.get("/changes")
def change_queue(request: Request, me: CurrentViewer) -> Response:
    """The changes waiting for a second person, oldest first."""
    require(me, Action.READ)
    changes = [
        replace(c, requested_at=local(c.requested_at) or c.requested_at)
        for c in recipient_changes.pending(engine_of(request))
    ]
    return page(
        request,
        "changes.html",
        me,
        changes=changes,
        kinds=CHANGE_KINDS_NL,
        may_decide=me.may(Action.DECIDE_CHANGE),
    )


def _change_to_decide(request: Request, me: Viewer, change_id: str) -> ChangeOut:
    """The pending change ``me`` may decide on: 403 for a role that may not decide, 404 for no
    such change, 409 for one already decided or proposed by ``me`` (four eyes)."""
    require(me, Action.DECIDE_CHANGE)
    number = row_id(change_id, "wijziging")
    try:
        change = recipient_changes.one(engine_of(request), number)
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc
    if change.state != "pending":
        raise ConsoleRefused(409, f"Over wijziging {number} is al beslist.")
    if change.requested_by == me.name:
        raise ConsoleRefused(
            409, f"U stelde wijziging {number} zelf voor: een tweede persoon beslist erover."
        )
    return change


def _decision(change: ChangeOut, approve: bool) -> Confirmation:
    facts = [
        ("Wijziging", str(change.id)),
        ("Ontvanger", change.recipient_id),
        ("Soort", CHANGE_KINDS_NL.get(change.kind, change.kind)),
        ("Voorstel", change.summary_nl),
        ("Voorgesteld door", f"{change.requested_by} op {when(change.requested_at)}"),
    ]
    if approve:
        return Confirmation(
            title=f"Wijziging {change.id} goedkeuren",
            facts=facts,
            consequences=[
                f"De wijziging wordt meteen toegepast voor ontvanger {change.recipient_id}; "
                "wat ze vervangt, geldt vanaf dan niet meer.",
                "Uw goedkeuring komt in de audittrail.",
            ],
            action=f"/changes/{change.id}/approve",
            button="Goedkeuren",
            back="/changes",
        )
    return Confirmation(
        title=f"Wijziging {change.id} afwijzen",
        facts=facts,
        consequences=[
            "De wijziging wordt niet toegepast en de voorgestelde gegevens worden gewist.",
            "Alleen de samenvatting en uw reden van afwijzing blijven in de audittrail.",
        ],
        action=f"/changes/{change.id}/reject",
        button="Afwijzen",
        back="/changes",
        asks_reason=True,
        secondary=True,
    )


@router.get("/changes/{change_id}/approve")
def confirm_change_approval(request: Request, me: CurrentViewer, change_id: str) -> Response:
    """What approving the change does, and the form that does it."""
    return confirm_page(request, me, _decision(_change_to_decide(request, me, change_id), True))


@router.get("/changes/{change_id}/reject")
def confirm_change_rejection(request: Request, me: CurrentViewer, change_id: str) -> Response:
    """What rejecting the change does, and the form that does it, with its reason."""
    return confirm_page(request, me, _decision(_change_to_decide(request, me, change_id), False))


def _decide_change(
    request: Request, me: Viewer, change_id: str, approve: bool, reason: str | None = None
) -> Response:
    require(me, Action.DECIDE_CHANGE)
    engine, deps = engine_of(request), deps_of(request)
    number = row_id(change_id, "wijziging")
    now = settings_of(request).now()
    try:
        recipient_changes.decide(
            engine, deps.vault, number, me.name, approve=approve, now=now, reason=reason
        )
    except KbxError as exc:
        if exc.code not in REASON_CODES:
            raise ConsoleRefused(exc.status, dutch(exc)) from exc
        # A reason that may hold a national number is not shown again.
        typed = "" if exc.code == "rejection.reason_national_number" else (reason or "")
        change = _change_to_decide(request, me, change_id)
        return confirm_page(
            request, me, _decision(change, False), exc.status, error=dutch(exc), reason=typed
        )
    return RedirectResponse("/changes", status_code=303)


@router.post("/changes/{change_id}/approve", dependencies=[Csrf])
def approve_change(request: Request, me: CurrentViewer, change_id: str) -> Response:
    """Approve and apply a change (four eyes: never the proposer's own)."""
    return _decide_change(request, me, change_id, approve=True)


@router.post("/changes/{change_id}/reject", dependencies=[Csrf])
def reject_change(
    request: Request,
    me: CurrentViewer,
    change_id: str,
    reason: Annotated[str | None, Form()] = None,
) -> Response:
    """Reject a change with its reason (required: refused, the confirmation page again with
    the Dutch reason why, 400, and nothing recorded); nothing of the change is kept but its
    summary and the reason, in the audit trail."""
    return _decide_change(request, me, change_id, approve=False, reason=reason)
