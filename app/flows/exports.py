"""Export requests: ask, check, approve, cancel; one run or a batch of them.

Every rule of the protocol is the policy engine's (``exchange.policy``); this module gathers the
facts it needs, claims the slot (``app.store.runs.claim``: the database's partial unique index, so
simultaneous requests yield one run and clear refusals) and applies four-eyes. The CLI, the API
and the console call these functions and hold no rule of their own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput, NotFound
from app.flows.deps import ExportDeps
from app.flows.rejections import rejection_reason
from app.flows.roles import Action, may
from app.store import protocol_dates, runs
from app.store.db import transaction
from app.store.recipients import recipient_facts, resolve, run_history
from app.store.users import find_user
from exchange.exports import (
    FourEyesViolation,
    RunState,
    can_move,
    check_four_eyes,
    may_cancel,
)
from exchange.models import (
    Agreement,
    ExportRun,
    Recipient,
    RecipientContact,
    RecipientKey,
    RecipientMail,
    RecipientSftp,
)
from exchange.periods import parse_period
from exchange.policy import Allowed, Reason, Refused, evaluate
from exchange.protocols import Channel, ProtocolDefinition, RecipientRequirement
from exchange.requests import (
    ListRequest,
    RequestLine,
    RequestsFileError,
    parse_request_rows,
    parse_requests,
    reference_problem,
)
from exchange.shown import shown

__all__ = [
    "BatchRefused",
    "BatchResult",
    "Check",
    "PolicyRefusal",
    "approve",
    "approve_batch",
    "cancel",
    "check",
    "make_request",
    "read_requests",
    "request_batch",
    "request_export",
    "request_items",
    "require_route",
    "signed_recipients",
    "still_allowed",
]


class PolicyRefusal(Conflict):
    """A request the protocol forbids; carries every reason (rule, article, Dutch, English).
    CLI exit 3, HTTP 409 ``policy.refused``."""

    exit_code = 3

    def __init__(self, reasons: Sequence[Reason], run_id: int | None = None) -> None:
        super().__init__(
            "policy.refused",
            "; ".join(r.en for r in reasons),
            "; ".join(r.nl for r in reasons),
        )
        self.reasons = list(reasons)
        self.run_id = run_id


@dataclass(frozen=True)
class Check:
    """The policy's answer to a request that is not made (a dry run): ``reasons`` is empty when
    allowed. ``today`` is the date it was judged on (Brussels)."""

    decision: Allowed | Refused
    definition: ProtocolDefinition
    today: date
    # Allowed, but kbx cannot reach the recipient over that channel yet (``require_route``):
    # a request would be refused with this error until the set-up is done.
    not_ready: Conflict | None = None

    @property
    def allowed(self) -> bool:
        return isinstance(self.decision, Allowed)

    @property
    def reasons(self) -> list[Reason]:
        return [] if isinstance(self.decision, Allowed) else list(self.decision.reasons)


def _evaluate(
    session: Session,
    definition: ProtocolDefinition,
    deps: ExportDeps,
    recipient_id: str,
    period: str,
    channel: str,
    lookback_years: int | None,
    request: ListRequest | None,
) -> Allowed | Refused:
    definition = protocol_dates.effective(session, definition)  # a recorded term's end
    facts = recipient_facts(session, recipient_id)
    history = run_history(session, definition.id, recipient_id)
    today = deps.settings.current_date()
    return evaluate(definition, facts, period, channel, today, history, lookback_years, request)


def make_request(requested_on: date | None, reference: str | None) -> ListRequest | None:
    """The municipality's request from its two facts, or ``None`` when neither is given (the
    policy then refuses a protocol that needs one: ``request.missing``). Raises ``InvalidInput``
    (``request.incomplete``) when only one is given, (``request.reference_invalid``) for a
    reference that is not acceptable (``exchange.requests.reference_problem``)."""
    if requested_on is None and reference is None:
        return None
    if requested_on is None or reference is None:
        raise InvalidInput(
            "request.incomplete",
            "a request needs both its date (requested_on, --requested-on) and its reference "
            "(request_ref, --request-ref)",
            "een aanvraag heeft zowel een datum (requested_on, --requested-on) als een "
            "referentie (request_ref, --request-ref) nodig",
        )
    problem = reference_problem(reference)
    if problem is not None:
        raise InvalidInput("request.reference_invalid", problem[0], problem[1])
    return ListRequest(requested_on, reference.strip())


def _refused_file(exc: RequestsFileError, unit_en: str, unit_nl: str) -> InvalidInput:
    return InvalidInput(
        "requests.invalid",
        "the requests are refused, nothing is requested: "
        + "; ".join(f"{unit_en} {n}: {en}" for n, en, _ in exc.problems),
        "de aanvragen zijn geweigerd, er wordt niets aangevraagd: "
        + "; ".join(f"{unit_nl} {n}: {nl}" for n, _, nl in exc.problems),
    )


def read_requests(text: str) -> list[RequestLine]:
    """The requests of the yearly round's CSV (``exchange.requests.parse_requests``). Raises
    ``InvalidInput`` (``requests.invalid``) naming every bad line and what is wrong with it."""
    try:
        return parse_requests(text)
    except RequestsFileError as exc:
        raise _refused_file(exc, "line", "regel") from exc


def request_items(items: Sequence[tuple[str, date, str]]) -> list[RequestLine]:
    """The requests of the API's batch body, (NIS code, date, reference) each, checked as the
    CSV's lines are (numbered from 1). Raises ``InvalidInput`` (``requests.invalid``)."""
    try:
        return parse_request_rows(
            (n, (nis, day.isoformat(), ref)) for n, (nis, day, ref) in enumerate(items, start=1)
        )
    except RequestsFileError as exc:
        raise _refused_file(exc, "item", "aanvraag") from exc


def _readable_period(period: str) -> None:
    """Raise ``InvalidInput`` (``period.invalid``) for a text that is no period at all (``26``):
    a typing error, refused before anything is recorded. A period of the wrong kind for the
    protocol (``2026-H1`` for a yearly list) is the policy's refusal (``period.form``)."""
    if parse_period(period) is None:
        raise InvalidInput(
            "period.invalid",
            f"'{shown(period)}' is not a period: YYYY (2026) or YYYY-H1 / YYYY-H2",
            f"'{shown(period)}' is geen periode: JJJJ (2026) of JJJJ-H1 / JJJJ-H2",
        )


def check(
    engine: Engine,
    deps: ExportDeps,
    *,
    protocol_id: str,
    recipient_id: str,
    period: str,
    channel: str,
    lookback_years: int | None = None,
    request: ListRequest | None = None,
) -> Check:
    """Would this request be allowed today? Evaluates every rule as ``request_export`` does;
    nothing is claimed or recorded. The recipient may be named by id or name
    (``app.store.recipients.resolve``). An allowed request that kbx could not yet deliver (no
    contact for the key SMS, no key, server or mailbox for the channel) says so in
    ``not_ready``. Raises ``NotFound`` for an unknown protocol or recipient, ``InvalidInput``
    (``recipient.ambiguous``) for a name that fits several."""
    definition = deps.registry.require(protocol_id)
    _readable_period(period)
    with transaction(engine) as session:
        recipient_id = resolve(session, recipient_id).id
        decision = _evaluate(
            session, definition, deps, recipient_id, period, channel, lookback_years, request
        )
        not_ready = None
        if isinstance(decision, Allowed):
            try:
                require_route(session, deps, recipient_id, decision.channel)
            except Conflict as exc:
                not_ready = exc
    return Check(decision, definition, deps.settings.current_date(), not_ready)


def require_route(session: Session, deps: ExportDeps, recipient_id: str, channel: Channel) -> None:
    """Raises ``Conflict`` unless the run can reach the recipient.

    A run needs a registered contact (the key goes to it) and a way to reach the recipient
    over its channel: a login key for the drop, a server for a push, a mailbox on that route."""
    if channel.value not in deps.deliveries:
        raise Conflict(
            "channel.not_configured",
            f"channel {channel.value} is not configured on this service",
            f"kanaal {channel.value} is op deze dienst niet ingesteld",
        )
    if channel is Channel.SFTP_PUSH and session.get(RecipientSftp, recipient_id) is None:
        raise Conflict(
            "recipient.no_sftp_server",
            f"recipient {recipient_id} has no SFTP server registered",
            f"ontvanger {recipient_id} heeft geen SFTP-server geregistreerd",
        )
    if channel in (Channel.SECURE_MAIL, Channel.ZIVVER):
        mailbox = session.get(RecipientMail, recipient_id)
        if mailbox is None or mailbox.route != channel.value:
            raise Conflict(
                "recipient.no_mailbox",
                f"recipient {recipient_id} has no mailbox registered for {channel.value}",
                f"ontvanger {recipient_id} heeft geen e-mailadres geregistreerd voor "
                f"{channel.value}",
            )
    if session.get(RecipientContact, recipient_id) is None:
        raise Conflict(
            "recipient.no_contact",
            f"recipient {recipient_id} has no registered contact for the key SMS",
            f"ontvanger {recipient_id} heeft geen geregistreerde contactpersoon voor de "
            "sleutel-sms",
        )
    if (
        channel is Channel.SFTP_DROP
        and session.scalar(
            select(RecipientKey.id).where(RecipientKey.recipient_id == recipient_id).limit(1)
        )
        is None
    ):
        raise Conflict(
            "recipient.no_key",
            f"recipient {recipient_id} has no SSH key registered for the SFTP drop",
            f"ontvanger {recipient_id} heeft geen SSH-sleutel geregistreerd voor de SFTP-drop",
        )


def request_export(
    engine: Engine,
    deps: ExportDeps,
    *,
    protocol_id: str,
    recipient_id: str,
    period: str,
    channel: str,
    lookback_years: int | None,
    by: str,
    batch_id: str | None = None,
    request: ListRequest | None = None,
) -> ExportRun:
    """Claim the slot (protocol, recipient, period) for an export: the run in ``requested``.
    ``request`` is the recipient's request the list answers (``make_request``); it is recorded
    on the run, also on a refused one.

    Raises ``PolicyRefusal`` with every reason (the refusal is recorded as a ``refused`` run,
    also when this request lost a race for the slot at the unique index), ``NotFound`` for an
    unknown protocol or recipient, ``Conflict`` when the recipient cannot be reached over the
    channel (``require_route``)."""
    definition = deps.registry.require(protocol_id)
    _readable_period(period)
    now, today = deps.settings.now(), deps.settings.current_date()
    refusal: Refused | None = None

    def new_run() -> ExportRun:
        return ExportRun(
            protocol_id=protocol_id,
            recipient_id=recipient_id,
            period=period,
            channel=channel,
            lookback_years=lookback_years,
            definition_hash=definition.content_hash,
            requested_by=by,
            requested_at=now,
            state_changed_at=now,
            batch_id=batch_id,
            requested_on=request.requested_on if request else None,
            request_ref=request.reference if request else None,
        )

    try:
        with transaction(engine) as session:
            # By id or by name (``Gent``), as every front end lets a person name it.
            recipient_id = resolve(session, recipient_id).id
            decision = _evaluate(
                session, definition, deps, recipient_id, period, channel, lookback_years, request
            )
            run = new_run()
            if isinstance(decision, Refused):
                refusal = decision
                run.refusal = json.dumps([asdict(r) for r in decision.reasons], ensure_ascii=False)
                state = RunState.REFUSED
            else:
                require_route(session, deps, recipient_id, decision.channel)
                run.lookback_years = decision.lookback_years
                state = RunState.REQUESTED
            runs.claim(
                session,
                run,
                state,
                actor=by,
                action="export.refused" if refusal else "export.requested",
                now=now,
                today=today,
                rules=[r.rule for r in refusal.reasons] if refusal else [],
            )
    except IntegrityError as exc:
        reason = Reason(
            "frequency.exhausted",
            definition.frequency.article,
            f"Voor periode {period} loopt of bestaat al een lijst voor {recipient_id}.",
            f"A list for period {period} is already running or made for {recipient_id}.",
        )
        # Lost the race at the unique index: recorded like any other refusal.
        with transaction(engine) as session:
            lost = new_run()
            lost.refusal = json.dumps([asdict(reason)], ensure_ascii=False)
            runs.claim(
                session,
                lost,
                RunState.REFUSED,
                actor=by,
                action="export.refused",
                now=now,
                today=today,
                rules=[reason.rule],
            )
        raise PolicyRefusal([reason], lost.id) from exc
    if refusal is not None:
        raise PolicyRefusal(refusal.reasons, run.id)
    return run


def _approve(session: Session, deps: ExportDeps, run: ExportRun, by: str, now: datetime) -> None:
    try:
        check_four_eyes(run.requested_by, by)
    except FourEyesViolation as exc:
        raise Conflict(
            "run.four_eyes",
            str(exc),
            f"{by} vroeg export {run.id} zelf aan en kan ze niet goedkeuren",
        ) from exc
    if run.state == RunState.REQUESTED:  # else the move below says why it cannot be approved
        _approvable(session, deps, run)
    run.approved_by = by
    runs.move(session, run, RunState.APPROVED, actor=by, action="export.approved", now=now)


def still_allowed(session: Session, deps: ExportDeps, run: ExportRun) -> Refused | None:
    """The policy asked again for a run already requested: between the request and its approval
    or its build, an agreement may have been suspended or ended, the protocol or the period may
    have run out. This run holds its period's slot itself, so the other runs of the period are
    left out of the history. ``None`` when it is still allowed."""
    definition = protocol_dates.effective(session, deps.registry.require(run.protocol_id))
    history = [
        h for h in run_history(session, run.protocol_id, run.recipient_id) if h.period != run.period
    ]
    decision = evaluate(
        definition,
        recipient_facts(session, run.recipient_id),
        run.period,
        run.channel,
        deps.settings.current_date(),
        history,
        run.lookback_years,
        runs.request_of(run),
    )
    return decision if isinstance(decision, Refused) else None


def _approvable(session: Session, deps: ExportDeps, run: ExportRun) -> None:
    refusal = still_allowed(session, deps, run)
    if refusal is not None:
        raise PolicyRefusal(refusal.reasons, run_id=run.id)


def approve(engine: Engine, deps: ExportDeps, run_id: int, by: str) -> ExportRun:
    """Approve a requested run (four-eyes: never by its requester), if the policy still allows
    it today (``still_allowed``). Raises ``NotFound`` (``run.unknown``), ``Conflict``
    (``run.four_eyes``, ``run.invalid_transition``), ``PolicyRefusal`` with every reason (the
    run stays requested: its requester may cancel it)."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        _approve(session, deps, run, by, now)
    return run


def approve_batch(engine: Engine, deps: ExportDeps, batch_id: str, by: str) -> list[ExportRun]:
    """Approve every requested run of a batch, all or none, in one transaction: if ``by``
    requested any of them, none is approved. Returns the approved runs (oldest first).
    Raises ``NotFound`` (``batch.unknown``) when the batch has no run, ``Conflict``
    (``batch.nothing_to_approve``) when none waits, ``run.four_eyes``."""
    now = deps.settings.now()
    with transaction(engine) as session:
        members = runs.list_runs(session, runs.RunFilter(batch=batch_id), newest_first=False)
        if not members:
            raise NotFound(
                "batch.unknown", f"unknown batch {batch_id}", f"onbekende reeks {batch_id}"
            )
        waiting = [r for r in members if r.state == RunState.REQUESTED]
        if not waiting:
            raise Conflict(
                "batch.nothing_to_approve",
                f"batch {batch_id} has no run waiting for approval",
                f"reeks {batch_id} heeft geen run die op goedkeuring wacht",
            )
        for run in waiting:
            # One refused (``PolicyRefusal``): none is approved, the transaction rolls back.
            _approve(session, deps, run, by, now)
    return waiting


def cancel(
    engine: Engine, deps: ExportDeps, run_id: int, by: str, reason: str | None = None
) -> ExportRun:
    """Cancel a run before its file is built: its requester withdraws it, or someone else
    rejects it. A rejection needs a ``reason`` (``app.flows.rejections.rejection_reason``: 3 to
    300 characters, never a national number); a requester cancelling their own run may give
    one. The reason, as recorded, is in the ``export.cancelled`` event's details (``reason``),
    which the run's timeline shows. Who may cancel is ``exchange.exports.may_cancel``: the
    requester, or an approver while the run waits for approval. Raises ``NotFound``
    (``run.unknown``), ``Conflict`` (``run.not_requester``), ``InvalidInput``
    (``rejection.reason_missing``, ``rejection.reason_invalid``,
    ``rejection.reason_national_number``: nothing is recorded), ``Conflict``
    (``run.invalid_transition``)."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        state = RunState(run.state)
        # A run past cancelling says so first (``move`` below), not who may cancel it.
        if can_move(state, RunState.CANCELLED):
            canceller = find_user(session, by)
            approver = canceller is not None and may(canceller.role, Action.APPROVE)
            if not may_cancel(state, run.requested_by, by, approver=approver):
                raise Conflict(
                    "run.not_requester",
                    "only the requester may cancel this run; an approver may reject a run that "
                    "waits for approval",
                    "Alleen wie de export aanvroeg, kan ze annuleren; een goedkeurder kan een "
                    "aanvraag die op goedkeuring wacht, afwijzen",
                )
        rejects = run.requested_by.casefold() != by.casefold() and can_move(
            state, RunState.CANCELLED
        )
        said = rejection_reason(reason, required=rejects)
        extra = {} if said is None else {"reason": said}
        runs.move(
            session, run, RunState.CANCELLED, actor=by, action="export.cancelled", now=now, **extra
        )
    return run


@dataclass(frozen=True)
class BatchResult:
    """``refused``: per recipient without a run, the protocol's reasons or the error that kept
    it out (a ``Conflict`` such as ``recipient.no_contact``; ``str()`` gives its message)."""

    batch_id: str
    runs: list[ExportRun]
    refused: list[tuple[str, list[Reason] | Conflict]]


def signed_recipients(session: Session, definition: ProtocolDefinition) -> list[str]:
    ids = {i.recipient for i in definition.instances}
    kind = (
        RecipientRequirement.SIGNATURE
        if definition.recipients.requires is RecipientRequirement.SIGNATURE
        else RecipientRequirement.ACCESSION
    )
    ids |= set(
        session.scalars(
            select(Agreement.recipient_id).where(
                Agreement.protocol_id == definition.id, Agreement.kind == kind.value
            )
        )
    )
    return sorted(ids)


def request_batch(
    engine: Engine,
    deps: ExportDeps,
    *,
    protocol_id: str,
    period: str,
    channel: str,
    lookback_years: int | None,
    by: str,
    requests: Sequence[RequestLine] | None = None,
) -> BatchResult:
    """One run per recipient: for a protocol whose lists go on request (``art20-municipal``,
    seed 000 overweging C) exactly the municipalities of ``requests`` (``read_requests``), each
    with its request; otherwise every recipient that signed (or acceded). Each run its own
    claim, file, password.

    Raises ``InvalidInput``: ``batch.not_applicable`` (fixed recipients),
    ``batch.requests_required`` (an on-request protocol without ``requests``: the old
    ``all-signed`` round is refused for it), ``batch.not_on_request`` (``requests`` for another
    protocol), ``requests.unknown_recipient`` (a NIS code that is no municipality, with its line;
    nothing is requested then). Raises ``BatchRefused`` (409 ``batch.refused``, CLI exit 3) with
    every recipient's reasons when not one run could be requested; the refusals are recorded as
    refused runs."""
    definition = deps.registry.require(protocol_id)
    _readable_period(period)
    if definition.recipients.requires is RecipientRequirement.NONE:
        raise InvalidInput(
            "batch.not_applicable",
            f"{protocol_id} has fixed recipients; request them one by one",
            f"{protocol_id} heeft vaste ontvangers; vraag ze een voor een aan",
        )
    if definition.on_request is not None and requests is None:
        raise InvalidInput(
            "batch.requests_required",
            f"{protocol_id} lists go only to the municipalities that asked "
            f"({definition.on_request.article}): use --recipient all-requested --requests FILE",
            f"lijsten van {protocol_id} gaan enkel naar de gemeenten die ze opvroegen "
            f"({definition.on_request.article}): gebruik --recipient all-requested "
            "--requests BESTAND",
        )
    if definition.on_request is None and requests is not None:
        raise InvalidInput(
            "batch.not_on_request",
            f"{protocol_id} lists are not sent on request; use --recipient all-signed",
            f"lijsten van {protocol_id} worden niet op aanvraag bezorgd; gebruik --recipient "
            "all-signed",
        )
    asked: dict[str, ListRequest | None]
    with transaction(engine) as session:
        if requests is None:
            asked = dict.fromkeys(signed_recipients(session, definition))
        else:
            unknown = [
                line
                for line in requests
                if (found := session.get(Recipient, line.nis_code)) is None
                or found.kind != definition.recipients.kind
            ]
            if unknown:
                lines = ", ".join(f"{u.line} ({u.nis_code})" for u in unknown)
                raise InvalidInput(
                    "requests.unknown_recipient",
                    f"the file of requests is refused: no such municipality on line(s) {lines}",
                    f"het bestand met aanvragen is geweigerd: onbekende gemeente op regel(s) "
                    f"{lines}",
                )
            asked = {line.nis_code: line.request for line in requests}
    batch_id = f"B-{uuid.uuid4().hex[:12]}"
    made: list[ExportRun] = []
    refused: list[tuple[str, list[Reason] | Conflict]] = []
    for recipient_id, request in asked.items():
        try:
            made.append(
                request_export(
                    engine,
                    deps,
                    protocol_id=protocol_id,
                    recipient_id=recipient_id,
                    period=period,
                    channel=channel,
                    lookback_years=lookback_years,
                    by=by,
                    batch_id=batch_id,
                    request=request,
                )
            )
        except PolicyRefusal as exc:
            refused.append((recipient_id, exc.reasons))
        except Conflict as exc:
            refused.append((recipient_id, exc))
    result = BatchResult(batch_id, made, refused)
    if not made:
        raise BatchRefused(result)
    return result


class BatchRefused(Conflict):
    """Not one run of a batch could be requested: every recipient's reasons."""

    def __init__(self, result: BatchResult) -> None:
        count = len(result.refused)
        super().__init__(
            "batch.refused",
            f"no run requested: all {count} recipient(s) refused",
            f"geen run aangevraagd: alle {count} ontvanger(s) geweigerd",
        )
        self.result = result
