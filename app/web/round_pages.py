"""The yearly art. 20 round (*Jaarronde*, issue 10): ``/rounds`` (who asked for a year's list,
and for an operator the form that requests the round from the requests received),
``/rounds/{batch_id}`` (the batch's runs, its progress, the approve button for an approver who
did not request it) and ``/rounds/{batch_id}/progress`` (the progress as an htmx fragment, polled
every two seconds while the worker carries a run of the batch, then without its trigger).

The round is ``app.flows.exports.request_batch`` and ``approve_batch`` (four eyes is theirs);
what the pages read is ``app.flows.rounds``; what a role may do is ``app.flows.roles.may``.
Every page reads fully without JavaScript: htmx only keeps the progress up to date.
"""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
import re
from typing import Annotated, Any

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from app.api.errors import refusals
from app.errors import KbxError
from app.flows import exports as export_flows
from app.flows import rounds
from app.flows.roles import Action
from app.web.common import (
    ConsoleRefused,
    Csrf,
    CurrentViewer,
    Viewer,
    deps_of,
    dutch,
    engine_of,
    new_router,
    page,
    require,
    session_of,
    viewer,
)
from exchange.protocols import Channel

__all__ = ["POLL", "router", "watcher"]

# How often the progress fragment asks again while a batch is being carried (htmx's trigger).
POLL = "every 2s"
_YEAR = re.compile(r"[0-9]{4}")

router = new_router()


def _this_year(request: Request) -> int:
    return deps_of(request).settings.current_date().year  # Brussels (KBX_TODAY in tests)


def _rounds_page(
    request: Request,
    me: Viewer,
    year: int,
    status: int = 200,
    **values: Any,
) -> Response:
    lines = rounds.year_lines(engine_of(request), year)
    batches = list(dict.fromkeys(line.batch for line in lines if line.batch))
    form = {"period": str(year), "channel": Channel.SFTP_DROP.value, "requests": ""}
    return page(
        request,
        "rounds.html",
        me,
        status=status,
        year=year,
        lines=lines,
        batches=batches,
        channels=list(Channel),
        form=form | values.pop("form", {}),
        **values,
    )


@router.get("/rounds")
def round_list(request: Request, me: CurrentViewer, year: str = "") -> Response:
    """Who asked for ``year``'s art. 20 list (default: this Brussels year), the batches of that
    year, and for a role that may request (``Action.REQUEST``) the form that asks for the round."""
    require(me, Action.READ)
    if not year:
        return _rounds_page(request, me, _this_year(request))
    if not _YEAR.fullmatch(year.strip()):
        error = "Een jaar heeft vier cijfers, bijvoorbeeld 2026."
        return _rounds_page(request, me, _this_year(request), status=400, year_error=error)
    return _rounds_page(request, me, int(year))


@router.post("/rounds", dependencies=[Csrf])
def request_round(
    request: Request,
    me: CurrentViewer,
    period: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "",
    requests: Annotated[str, Form()] = "",
    requests_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Asks for the round (``request_batch``): one run per municipality of the requests (typed
    or uploaded, ``nis_code,requested_on,reference``), then the batch's page. A file with one bad
    line, an unknown municipality, or a period that is none requests nothing (400, every line
    named); when not one municipality may have its list, every recipient's reasons (409)."""
    require(me, Action.REQUEST)
    period, channel = period.strip(), channel.strip()
    typed = {"period": period, "channel": channel, "requests": requests}
    year = int(period[:4]) if _YEAR.fullmatch(period[:4]) else _this_year(request)
    uploaded = requests_file.file.read() if requests_file is not None else None
    try:
        text = rounds.requests_text(requests, uploaded)
        result = export_flows.request_batch(
            engine_of(request),
            deps_of(request),
            protocol_id=rounds.PROTOCOL,
            period=period,
            channel=channel,
            lookback_years=None,
            by=me.name,
            requests=export_flows.read_requests(text),
        )
    except export_flows.BatchRefused as exc:
        refused = refusals(exc.result.refused)
        return _rounds_page(
            request,
            me,
            year,
            status=409,
            form=typed,
            error=dutch(exc),
            refused=refused,
            names=rounds.recipient_names(engine_of(request), refused),
        )
    except KbxError as exc:
        return _rounds_page(request, me, year, status=exc.status, form=typed, error=dutch(exc))
    if result.refused:
        # Some municipalities were kept out: show why at once (a refusal the policy made is
        # recorded in the batch, but one that a missing contact or key made is not).
        refused = refusals(result.refused)
        names = rounds.recipient_names(engine_of(request), refused)
        return _batch_page(request, me, result.batch_id, refused=refused, names=names)
    return RedirectResponse(f"/rounds/{result.batch_id}", status_code=303)


def _batch_page(
    request: Request, me: Viewer, batch_id: str, status: int = 200, **values: Any
) -> Response:
    engine = engine_of(request)
    try:
        lines = rounds.batch_lines(engine, batch_id)
        progress = rounds.batch_progress(engine, batch_id)
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc
    requesters = {line.requested_by for line in lines}
    mine = me.name in requesters
    can_approve = progress.waiting > 0 and me.may(Action.APPROVE) and not mine
    return page(
        request,
        "round.html",
        me,
        status=status,
        batch_id=batch_id,
        lines=lines,
        progress=progress,
        requesters=sorted(requesters),
        can_approve=can_approve,
        mine=mine,
        poll=POLL,
        **values,
    )


@router.get("/rounds/{batch_id}")
def round_detail(request: Request, me: CurrentViewer, batch_id: str) -> Response:
    """One batch: its progress to the last key SMS, every run (refused ones with their rule and
    article), and the approve button for an approver who requested none of it."""
    require(me, Action.READ)
    return _batch_page(request, me, batch_id)


def watcher(request: Request) -> Viewer:
    """As ``app.web.common.viewer`` (the same checks, the same refusals), but a poll is no
    activity: a batch's page left open does not keep its session alive past
    ``KBX_CONSOLE_IDLE_MINUTES``; once that has passed, htmx is sent to the login page."""
    session = session_of(request)
    seen = session.last_seen
    person = viewer(request)
    session.last_seen = seen
    return person


@router.get("/rounds/{batch_id}/progress")
def round_progress(
    request: Request, me: Annotated[Viewer, Depends(watcher)], batch_id: str
) -> Response:
    """The progress fragment (htmx): polled while the worker carries a run of the batch; the
    fragment of a batch at rest comes without its trigger, so the polling stops. The runs'
    table comes along, swapped out of band."""
    require(me, Action.READ)
    engine = engine_of(request)
    try:
        progress = rounds.batch_progress(engine, batch_id)
        lines = rounds.batch_lines(engine, batch_id)
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc
    return page(
        request,
        "_round_progress.html",
        me,
        batch_id=batch_id,
        progress=progress,
        lines=lines,
        poll=POLL,
        oob=True,
    )


@router.post("/rounds/{batch_id}/approve", dependencies=[Csrf])
def approve_round(request: Request, me: CurrentViewer, batch_id: str) -> Response:
    """Approves every waiting run of the batch, all or none (``approve_batch``: never by one who
    requested any of it, 409), then the batch's page, where the progress follows the worker."""
    require(me, Action.APPROVE)
    try:
        export_flows.approve_batch(engine_of(request), deps_of(request), batch_id, me.name)
    except export_flows.PolicyRefusal as exc:
        return _batch_page(
            request, me, batch_id, status=exc.status, error=dutch(exc), reasons=exc.reasons
        )
    except KbxError as exc:
        return _batch_page(request, me, batch_id, status=exc.status, error=dutch(exc))
    return RedirectResponse(f"/rounds/{batch_id}", status_code=303)
