"""The audit trail's pages: ``/audit`` (newest first, at most ``LIMIT`` events, with filters on
the Brussels dates, run, recipient, actor and action), ``/audit/{seq}`` (one event) and the chain
check ``POST /audit/verify`` ("Controleer de keten": ``app.flows.history.verify_trail``, the
check ``kbx audit verify`` runs). Whoever may read the trail (``Action.READ``) sees them; the
check changes nothing, so it is a form every reader gets."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from fastapi import Request
from fastapi.responses import Response

from app.errors import KbxError
from app.flows.history import EventLine, audit_event, audit_events, verify_trail
from app.flows.roles import Action
from app.web.common import (
    NOT_A_VALUE,
    ConsoleRefused,
    Csrf,
    CurrentViewer,
    dutch,
    engine_of,
    new_router,
    next_page,
    older_than,
    optional_date,
    page,
    require,
    row_id,
)

__all__ = ["LIMIT", "router"]

# The events a page shows, newest first ("Oudere gebeurtenissen" shows the next page): a page
# is rendered per request, and each event row costs ~40 us to read and render.
LIMIT = 50

router = new_router()


@router.get("/audit")
def audit_list(
    request: Request,
    me: CurrentViewer,
    since: str = "",
    until: str = "",
    run: str = "",
    recipient: str = "",
    actor: str = "",
    action: str = "",
    voor: str = "",
) -> Response:
    """The trail, newest first, ``LIMIT`` a page (``voor``: older than that event); each event
    with its details (identifiers and counts only)."""
    require(me, Action.READ)
    filters = {
        "since": since,
        "until": until,
        "run": run.strip(),
        "recipient": recipient.strip(),
        "actor": actor.strip(),
        "action": action.strip(),
    }
    error = None
    events: list[EventLine] = []
    try:
        events = audit_events(
            engine_of(request),
            since=optional_date(since),
            until=optional_date(until),
            run=filters["run"] or None,
            recipient=filters["recipient"] or None,
            actor=filters["actor"] or None,
            action=filters["action"] or None,
            limit=LIMIT,
            before=older_than(voor),
        )
    except KbxError as exc:
        error = dutch(exc)
    except ValueError:
        error = NOT_A_VALUE
    older = next_page("/audit", filters, len(events), LIMIT, events[-1].seq) if events else None
    return page(
        request,
        "audit.html",
        me,
        events=events,
        filters=filters,
        error=error,
        limit=LIMIT,
        older=older,
        paged=older_than(voor) is not None,
    )


@router.get("/audit/{seq}")
def audit_detail(request: Request, me: CurrentViewer, seq: str) -> Response:
    """One event: its time, actor, action, subject, details and hashes."""
    require(me, Action.READ)
    number = row_id(seq, "auditgebeurtenis")
    try:
        event = audit_event(engine_of(request), number)
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc
    return page(request, "audit_event.html", me, event=event)


@router.post("/audit/verify", dependencies=[Csrf])
def audit_verify(request: Request, me: CurrentViewer) -> Response:
    """Walks the hash chain and shows the answer: intact with its number of events, or the
    first broken link."""
    require(me, Action.READ)
    report = verify_trail(engine_of(request))
    return page(request, "audit_verified.html", me, report=report)
