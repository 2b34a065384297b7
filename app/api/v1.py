"""``/api/v1``: authentication, exports (request, approve, cancel, key resend, batches), policy
dry run, protocols and recipients (read-only).

Every endpoint but ``POST /auth/token`` needs a bearer token. The roles of an endpoint come from
its role guard (``RoleGuard``) and nowhere else; each operation's OpenAPI entry is generated from
that guard (``x-roles``, the description) and from the error codes it declares (``ERRORS``): every
status it can answer, with every code as a named example and in ``x-error-codes``.
"""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import Engine, select

from app.errors import Conflict, KbxError, NotFound
from app.flows.deps import ExportDeps
from app.flows.exports import approve, cancel, request_batch, request_export
from app.flows.key_sms import send_key
from app.flows.recipient_changes import decide, propose
from app.flows.recipient_changes import pending as pending_changes
from app.store.audit import record
from app.store.db import transaction
from app.store.recipients import get_recipient, list_recipients, recipient_facts, run_history
from app.store.users import Role, find_user, issue_token, password_matches, user_for_token
from exchange.exports import FourEyesViolation, RunState, check_four_eyes
from exchange.models import ExportRun, User
from exchange.policy import Allowed, evaluate
from exchange.ports import ChannelError
from exchange.protocols import ProtocolDefinition
from exchange.recipient_changes import ChangeKind

__all__ = ["ERRORS", "ApiError", "ErrorCode", "ErrorOut", "error_responses", "router"]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# -- errors -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorCode:
    status: int
    en: str
    nl: str


# Every code the API answers with: its status and a generic message in both languages (the
# Dutch one is used when the raising code carries only an English detail). A code a route raises
# must be declared on that route (see ``_endpoint``); the tests hold every answer to that.
ERRORS: dict[str, ErrorCode] = {
    "auth.failed": ErrorCode(401, "Wrong name or password", "Verkeerde naam of wachtwoord"),
    "auth.missing": ErrorCode(401, "Authentication required", "Aanmelding vereist"),
    "auth.invalid": ErrorCode(401, "Invalid or expired token", "Ongeldig of verlopen token"),
    "auth.role": ErrorCode(403, "Your role may not do this", "Uw rol mag dit niet"),
    "request.invalid": ErrorCode(422, "The request is not valid", "De aanvraag is ongeldig"),
    "batch.not_applicable": ErrorCode(
        400,
        "This protocol has fixed recipients; request them one by one",
        "Dit protocol heeft vaste ontvangers; vraag ze een voor een aan",
    ),
    "run.unknown": ErrorCode(404, "Unknown run", "Onbekende run"),
    "batch.unknown": ErrorCode(404, "Unknown batch", "Onbekende reeks"),
    "protocol.unknown": ErrorCode(404, "Unknown protocol", "Onbekend protocol"),
    "recipient.unknown": ErrorCode(404, "Unknown recipient", "Onbekende ontvanger"),
    "policy.refused": ErrorCode(
        409,
        "Refused by the protocol; every reason is listed",
        "Geweigerd door het protocol; elke reden staat erbij",
    ),
    "run.four_eyes": ErrorCode(
        409,
        "The requester cannot approve their own request",
        "Wie iets aanvraagt, kan het niet zelf goedkeuren",
    ),
    "run.invalid_transition": ErrorCode(
        409,
        "The run cannot take this step in its current state",
        "De run kan deze stap niet zetten in zijn huidige toestand",
    ),
    "recipient.no_contact": ErrorCode(
        409,
        "The recipient has no registered contact for the key SMS",
        "De ontvanger heeft geen geregistreerde contactpersoon voor de sleutel-sms",
    ),
    "recipient.no_key": ErrorCode(
        409,
        "The recipient has no SSH key registered for the SFTP drop",
        "De ontvanger heeft geen SSH-sleutel geregistreerd voor de SFTP-drop",
    ),
    "recipient.no_sftp_server": ErrorCode(
        409,
        "The recipient has no SFTP server registered for a push",
        "De ontvanger heeft geen SFTP-server geregistreerd voor een push",
    ),
    "recipient.no_mailbox": ErrorCode(
        409,
        "The recipient has no mailbox registered for this mail route",
        "De ontvanger heeft geen e-mailadres geregistreerd voor deze mailroute",
    ),
    "channel.not_configured": ErrorCode(
        409,
        "This channel is not configured on this service",
        "Dit kanaal is op deze dienst niet ingesteld",
    ),
    "run.no_key_yet": ErrorCode(
        409, "The key has not been sent yet", "De sleutel is nog niet verstuurd"
    ),
    "run.not_delivered": ErrorCode(
        409, "The key is only sent after delivery", "De sleutel gaat pas weg na de levering"
    ),
    "run.key_destroyed": ErrorCode(
        409,
        "The password of this run has been destroyed",
        "Het wachtwoord van deze run is vernietigd",
    ),
    "run.no_resend_request": ErrorCode(
        409,
        "Nobody asked for a resend of this key",
        "Niemand vroeg om deze sleutel opnieuw te versturen",
    ),
    "sms.unavailable": ErrorCode(
        502,
        "The key SMS could not be sent now; the resend can be approved again",
        "De sleutel-sms kon nu niet vertrekken; de herzending kan opnieuw worden goedgekeurd",
    ),
    "internal.error": ErrorCode(500, "Internal error", "Interne fout"),
}

_AUTH_CODES = ("auth.missing", "auth.invalid", "auth.role")


class ApiError(KbxError):
    """An error of the API itself (authentication, roles, unknown batch): status from ERRORS."""

    def __init__(self, code: str, message: str | None = None, message_nl: str | None = None):
        known = ERRORS[code]
        super().__init__(code, message or known.en)
        self.status = known.status
        self.message_nl = message_nl or known.nl


class ReasonOut(BaseModel):
    rule: str = Field(description="The rule of the protocol, e.g. frequency.exhausted")
    article: str = Field(description="The article of the protocol that sets the rule")
    nl: str
    en: str


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where in the request, e.g. ['body', 'period']")
    type: str = Field(description="Pydantic's error type, e.g. missing")
    msg: str


class ErrorOut(BaseModel):
    """Every error of the API has this shape; ``code`` is stable and machine-readable."""

    code: str = Field(description="Stable machine-readable reason, e.g. policy.refused")
    message: str = Field(description="English")
    message_nl: str = Field(description="Nederlands")
    reasons: list[ReasonOut] | None = Field(
        default=None, description="policy.refused: every rule that refused, with its article"
    )
    run_id: int | None = Field(
        default=None, description="policy.refused: the refused run as recorded, if it was"
    )
    errors: list[FieldError] | None = Field(
        default=None, description="request.invalid: what is wrong where (never the values)"
    )


def error_responses(codes: Iterable[str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes: one entry per status, every code a named
    example in the error shape."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERRORS[code].status, []).append(code)
    return {
        status: {
            "model": ErrorOut,
            "description": "; ".join(f"`{c}`: {ERRORS[c].en}" for c in group),
            "x-error-codes": group,
            "content": {
                "application/json": {
                    "examples": {
                        c: {
                            "summary": ERRORS[c].en,
                            "value": {
                                "code": c,
                                "message": ERRORS[c].en,
                                "message_nl": ERRORS[c].nl,
                            },
                        }
                        for c in group
                    }
                }
            },
        }
        for status, group in sorted(by_status.items())
    }


# -- dependencies -----------------------------------------------------------------------------


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _deps(request: Request) -> ExportDeps:
    deps: ExportDeps = request.app.state.deps
    return deps


EngineDep = Annotated[Engine, Depends(_engine)]
DepsDep = Annotated[ExportDeps, Depends(_deps)]


def _current_user(
    engine: EngineDep, deps: DepsDep, token: Annotated[str | None, Depends(oauth2)]
) -> User:
    if not token:
        raise ApiError("auth.missing")
    with transaction(engine) as session:
        user = user_for_token(session, token, deps.settings.now())
    if user is None:
        raise ApiError("auth.invalid")
    return user


class RoleGuard:
    """A dependency that lets through only the given roles; the OpenAPI entry of every operation
    that uses it lists exactly these roles."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    def __call__(self, user: Annotated[User, Depends(_current_user)]) -> User:
        if Role(user.role) not in self.roles:
            raise ApiError(
                "auth.role",
                f"Role {user.role} may not do this",
                f"Rol {user.role} mag dit niet",
            )
        return user


STAFF = (Role.OPERATOR, Role.APPROVER, Role.AUDITOR, Role.ADMIN)
Reader = Annotated[User, Depends(RoleGuard(*STAFF))]
Operator = Annotated[User, Depends(RoleGuard(Role.OPERATOR, Role.ADMIN))]
Approver = Annotated[User, Depends(RoleGuard(Role.APPROVER, Role.ADMIN))]
Canceller = Annotated[User, Depends(RoleGuard(Role.OPERATOR, Role.APPROVER, Role.ADMIN))]

router = APIRouter(prefix="/api/v1")

F = TypeVar("F", bound=Callable[..., Any])


def _roles_of(dependant: Dependant) -> tuple[Role, ...] | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleGuard):
            return sub.call.roles
        found = _roles_of(sub)
        if found is not None:
            return found
    return None


def _takes_input(dependant: Dependant) -> bool:
    """Whether FastAPI validates anything of the request for it (so it can answer 422)."""
    own = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    )
    return any(own) or any(_takes_input(sub) for sub in dependant.dependencies)


def _endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    description: str = "",
    raises: tuple[str, ...] = (),
    **options: Any,
) -> Callable[[F], F]:
    """Register a route with its roles and every error it can answer documented: the auth codes
    when it has a role guard, ``request.invalid`` when it takes parameters or a body, the codes
    it declares, and ``internal.error``."""

    def register(func: F) -> F:
        probe = APIRoute(path, func, methods=[method])
        roles = _roles_of(probe.dependant)
        validated = _takes_input(probe.dependant)
        codes = [*(_AUTH_CODES if roles is not None else ()), *raises]
        if validated:
            codes.append("request.invalid")
        codes.append("internal.error")
        unknown = [c for c in codes if c not in ERRORS]
        if unknown:
            raise ValueError(f"{path}: error codes missing from ERRORS: {unknown}")
        extra: dict[str, Any] = {"x-error-codes": codes}
        text = description
        if roles is not None:
            extra["x-roles"] = [r.value for r in roles]
            text = f"**Roles:** {', '.join(r.value for r in roles)}.\n\n{text}"
        else:
            text = f"**Open:** no token needed.\n\n{text}"
        text += "\n\n**Error codes:** " + ", ".join(f"`{c}` ({ERRORS[c].status})" for c in codes)
        router.add_api_route(
            path,
            func,
            methods=[method],
            summary=summary,
            description=text.strip(),
            responses=error_responses(codes),
            openapi_extra=extra,
            **options,
        )
        return func

    return register


# -- identifiers ------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PERIOD = re.compile(r"[0-9A-Za-z-]+")
_DIGIT_RUN = re.compile(r"\d{6}")


def _identifier(value: str) -> str:
    # Protocol, recipient and channel ids are short codes (a NIS code has five digits). Refusing
    # anything else at the edge keeps a mistyped national number out of every error message:
    # the domain's messages name the id they did not find, and a 422 never repeats a value.
    if not _IDENTIFIER.fullmatch(value) or _DIGIT_RUN.search(value):
        raise ValueError("not an identifier (lower-case letters, digits, - and _)")
    return value


def _period(value: str) -> str:
    if not _PERIOD.fullmatch(value) or _DIGIT_RUN.search(value):
        raise ValueError("not a period (e.g. 2026 or 2026-H2)")
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=48), AfterValidator(_identifier)]
PeriodText = Annotated[
    str, Field(min_length=1, max_length=10, examples=["2026", "2026-H2"]), AfterValidator(_period)
]
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The run's id")]
BatchId = Annotated[str, Path(pattern=r"^B-[0-9a-f]{12}$", description="e.g. B-0123456789ab")]
ProtocolId = Annotated[str, Path(min_length=1, max_length=48), AfterValidator(_identifier)]
RecipientId = Annotated[str, Path(min_length=1, max_length=48), AfterValidator(_identifier)]


# -- authentication ---------------------------------------------------------------------------


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_in: int = Field(description="Seconds until the token expires")


@_endpoint(
    "POST",
    "/auth/token",
    summary="Exchange a name and password for a bearer token",
    description="The OAuth2 password form (`username`, `password`); the token lives 30 minutes.",
    raises=("auth.failed",),
    response_model=Token,
    tags=["auth"],
)
def token(
    engine: EngineDep, deps: DepsDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    # Two short transactions around argon2: no lock is held while the hash is verified.
    with transaction(engine) as session:
        user = find_user(session, form.username)
    # An unknown name is verified against a dummy hash: it costs what a wrong password costs.
    if not password_matches(user, form.password) or user is None:
        raise ApiError("auth.failed")
    with transaction(engine) as session:
        value, ttl = issue_token(session, user, deps.settings.now())
    return Token(access_token=value, expires_in=ttl)


# -- export runs ------------------------------------------------------------------------------


class ExportRequest(BaseModel):
    protocol: Identifier = Field(examples=["art20-municipal"])
    recipient: Identifier = Field(examples=["72020"])
    period: PeriodText
    channel: Identifier = Field(examples=["sftp_drop"])
    lookback_years: int | None = Field(default=None, ge=0, le=99, description="vcmp: 1 or 2")


class RunOut(BaseModel):
    id: int
    reference: str | None
    protocol: str
    recipient: str
    period: str
    channel: str
    state: RunState
    batch: str | None
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    refusal: list[ReasonOut] | None
    rows: int | None
    fields: list[str] | None
    file: str | None
    sha256: str | None
    definition_hash: str
    delivered_at: datetime | None
    key_sent_at: datetime | None
    resend_requested_by: str | None
    expires_at: datetime | None
    failure: str | None


def _out(run: ExportRun) -> RunOut:
    return RunOut(
        id=run.id,
        reference=run.reference,
        protocol=run.protocol_id,
        recipient=run.recipient_id,
        period=run.period,
        channel=run.channel,
        state=RunState(run.state),
        batch=run.batch_id,
        requested_by=run.requested_by,
        requested_at=run.requested_at,
        approved_by=run.approved_by,
        approved_at=run.approved_at,
        refusal=[ReasonOut(**r) for r in json.loads(run.refusal)] if run.refusal else None,
        rows=run.row_count,
        fields=json.loads(run.field_list) if run.field_list else None,
        file=run.file_name,
        sha256=run.file_sha256,
        definition_hash=run.definition_hash,
        delivered_at=run.delivered_at,
        key_sent_at=run.key_sent_at,
        resend_requested_by=run.resend_requested_by,
        expires_at=run.expires_at,
        failure=run.failure,
    )


@_endpoint(
    "POST",
    "/exports",
    summary="Request an export",
    description="Claims the slot of (protocol, recipient, period): a second request for a slot "
    "that is taken is refused with 409 `policy.refused` (rule `frequency.exhausted`), even "
    "under concurrency. Every refusal names its rules and articles, and is recorded.",
    raises=(
        "protocol.unknown",
        "recipient.unknown",
        "policy.refused",
        "recipient.no_contact",
        "recipient.no_key",
        "recipient.no_sftp_server",
        "recipient.no_mailbox",
        "channel.not_configured",
    ),
    status_code=201,
    response_model=RunOut,
    tags=["exports"],
)
def create_export(body: ExportRequest, user: Operator, engine: EngineDep, deps: DepsDep) -> RunOut:
    run = request_export(
        engine,
        deps,
        protocol_id=body.protocol,
        recipient_id=body.recipient,
        period=body.period,
        channel=body.channel,
        lookback_years=body.lookback_years,
        by=user.name,
    )
    return _out(run)


@_endpoint(
    "GET",
    "/exports",
    summary="List export runs",
    description="Newest first; optionally filtered.",
    response_model=list[RunOut],
    tags=["exports"],
)
def list_exports(
    _user: Reader,
    engine: EngineDep,
    state: RunState | None = None,
    protocol: Annotated[str | None, Query(max_length=48)] = None,
    recipient: Annotated[str | None, Query(max_length=48)] = None,
    batch: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RunOut]:
    query = select(ExportRun).order_by(ExportRun.id.desc()).limit(limit)
    if state is not None:
        query = query.where(ExportRun.state == state.value)
    if protocol is not None:
        query = query.where(ExportRun.protocol_id == protocol)
    if recipient is not None:
        query = query.where(ExportRun.recipient_id == recipient)
    if batch is not None:
        query = query.where(ExportRun.batch_id == batch)
    with transaction(engine) as session:
        return [_out(r) for r in session.scalars(query)]


def _get(engine: Engine, run_id: int) -> ExportRun:
    with transaction(engine) as session:
        run = session.get(ExportRun, run_id)
    if run is None:
        raise NotFound("run.unknown", f"Unknown run {run_id}")
    return run


@_endpoint(
    "GET",
    "/exports/{run_id}",
    summary="Show one export run",
    raises=("run.unknown",),
    response_model=RunOut,
    tags=["exports"],
)
def show_export(run_id: RunId, _user: Reader, engine: EngineDep) -> RunOut:
    return _out(_get(engine, run_id))


@_endpoint(
    "POST",
    "/exports/{run_id}/approve",
    summary="Approve a requested run (four-eyes)",
    description="Never by the person who requested it (409 `run.four_eyes`). The worker then "
    "builds, seals and delivers the file and sends the key.",
    raises=("run.unknown", "run.four_eyes", "run.invalid_transition"),
    response_model=RunOut,
    tags=["exports"],
)
def approve_export(run_id: RunId, user: Approver, engine: EngineDep, deps: DepsDep) -> RunOut:
    return _out(approve(engine, deps, run_id, user.name))


@_endpoint(
    "POST",
    "/exports/{run_id}/cancel",
    summary="Cancel a run",
    description="Only before the file is built (else 409 `run.invalid_transition`).",
    raises=("run.unknown", "run.invalid_transition"),
    response_model=RunOut,
    tags=["exports"],
)
def cancel_export(run_id: RunId, user: Canceller, engine: EngineDep, deps: DepsDep) -> RunOut:
    return _out(cancel(engine, deps, run_id, user.name))


@_endpoint(
    "POST",
    "/exports/{run_id}/key-resend",
    summary="Ask for a resend of the key (first half of a four-eyes action)",
    description="The key goes again, by SMS, to the recipient's registered contact only, once a "
    "second person approves the resend.",
    raises=("run.unknown", "run.no_key_yet", "run.key_destroyed"),
    response_model=RunOut,
    tags=["exports"],
)
def ask_key_resend(run_id: RunId, user: Operator, engine: EngineDep, deps: DepsDep) -> RunOut:
    now = deps.settings.now()
    with transaction(engine) as session:
        run = session.get(ExportRun, run_id)
        if run is None:
            raise NotFound("run.unknown", f"Unknown run {run_id}")
        if run.state not in (RunState.KEY_SENT, RunState.FETCHED):
            raise Conflict("run.no_key_yet", "The key has not been sent yet")
        if run.password_sealed is None:
            raise Conflict("run.key_destroyed", "The password of this run has been destroyed")
        run.resend_requested_by = user.name
        record(
            session,
            actor=user.name,
            action="export.key_resend_requested",
            subject=f"run:{run.id}",
            details={
                "reference": run.reference,
                "protocol": run.protocol_id,
                "recipient": run.recipient_id,
                "period": run.period,
            },
            now=now,
        )
    return _out(run)


@_endpoint(
    "POST",
    "/exports/{run_id}/key-resend/approve",
    summary="Approve a key resend (second half of the four-eyes action)",
    description="Never by the person who asked for the resend (409 `run.four_eyes`). Sends the "
    "key to the recipient's registered contact, never to another number.",
    raises=(
        "run.unknown",
        "run.no_resend_request",
        "run.four_eyes",
        "run.not_delivered",
        "run.key_destroyed",
        "recipient.no_contact",
        "sms.unavailable",
    ),
    response_model=RunOut,
    tags=["exports"],
)
def approve_key_resend(run_id: RunId, user: Approver, engine: EngineDep, deps: DepsDep) -> RunOut:
    run = _get(engine, run_id)
    if run.resend_requested_by is None:
        raise Conflict("run.no_resend_request", "Nobody asked for a resend of this key")
    try:
        check_four_eyes(run.resend_requested_by, user.name)
    except FourEyesViolation as exc:
        raise Conflict("run.four_eyes", str(exc)) from exc
    try:
        send_key(engine, deps, run_id, actor=user.name)
    except ChannelError as exc:  # the provider refused or could not be reached; no value in it
        raise ApiError("sms.unavailable", f"the key SMS could not be sent: {exc}") from exc
    return _out(_get(engine, run_id))


# -- batches ----------------------------------------------------------------------------------


class BatchRequest(BaseModel):
    protocol: Identifier = Field(examples=["art20-municipal"])
    period: PeriodText
    channel: Identifier = Field(examples=["sftp_drop"])
    lookback_years: int | None = Field(default=None, ge=0, le=99, description="vcmp: 1 or 2")


class BatchOut(BaseModel):
    batch: str
    runs: list[RunOut]
    refused: dict[str, list[str]] = Field(
        description="Per recipient that got no run: the rules (or the reason) that refused it"
    )


@_endpoint(
    "POST",
    "/export-batches",
    summary="Request one run per signed (or acceded) recipient",
    description="Each run is its own claim, file and password; a second person approves the "
    "whole batch at once.",
    raises=("protocol.unknown", "batch.not_applicable"),
    status_code=201,
    response_model=BatchOut,
    tags=["exports"],
)
def create_batch(body: BatchRequest, user: Operator, engine: EngineDep, deps: DepsDep) -> BatchOut:
    result = request_batch(
        engine,
        deps,
        protocol_id=body.protocol,
        period=body.period,
        channel=body.channel,
        lookback_years=body.lookback_years,
        by=user.name,
    )
    return BatchOut(
        batch=result.batch_id,
        runs=[_out(r) for r in result.runs],
        refused={
            rid: [r.rule for r in why] if isinstance(why, list) else [why]
            for rid, why in result.refused
        },
    )


@_endpoint(
    "POST",
    "/export-batches/{batch_id}/approve",
    summary="Approve every requested run of a batch (four-eyes)",
    description="Never by the person who requested the batch (409 `run.four_eyes`).",
    raises=("batch.unknown", "run.four_eyes", "run.invalid_transition"),
    response_model=list[RunOut],
    tags=["exports"],
)
def approve_batch(
    batch_id: BatchId, user: Approver, engine: EngineDep, deps: DepsDep
) -> list[RunOut]:
    with transaction(engine) as session:
        runs = list(session.scalars(select(ExportRun).where(ExportRun.batch_id == batch_id)))
    if not runs:
        raise ApiError("batch.unknown", f"Unknown batch {batch_id}", f"Onbekende reeks {batch_id}")
    waiting = sorted(r.id for r in runs if r.state == RunState.REQUESTED)
    # Four-eyes for the whole batch before the first approval: all or none.
    for run in runs:
        if run.id in waiting:
            try:
                check_four_eyes(run.requested_by, user.name)
            except FourEyesViolation as exc:
                raise Conflict("run.four_eyes", str(exc)) from exc
    return [_out(approve(engine, deps, run_id, user.name)) for run_id in waiting]


# -- policy -----------------------------------------------------------------------------------


class CheckOut(BaseModel):
    allowed: bool
    definition_hash: str
    reasons: list[ReasonOut]


def _definition(deps: ExportDeps, protocol_id: str) -> ProtocolDefinition:
    definition = deps.registry.get(protocol_id)
    if definition is None:
        raise NotFound("protocol.unknown", f"Unknown protocol {protocol_id}")
    return definition


@_endpoint(
    "POST",
    "/policy/check",
    summary="Check a request against its protocol (dry run)",
    description="Evaluates every rule as a request would; nothing is claimed or recorded.",
    raises=("protocol.unknown", "recipient.unknown"),
    response_model=CheckOut,
    tags=["policy"],
)
def policy_check(body: ExportRequest, _user: Reader, engine: EngineDep, deps: DepsDep) -> CheckOut:
    definition = _definition(deps, body.protocol)
    with transaction(engine) as session:
        facts = recipient_facts(session, body.recipient)
        history = run_history(session, body.protocol, body.recipient)
    decision = evaluate(
        definition,
        facts,
        body.period,
        body.channel,
        deps.settings.current_date(),
        history,
        body.lookback_years,
    )
    reasons = (
        []
        if isinstance(decision, Allowed)
        else [ReasonOut(rule=r.rule, article=r.article, nl=r.nl, en=r.en) for r in decision.reasons]
    )
    return CheckOut(
        allowed=decision.allowed, definition_hash=definition.content_hash, reasons=reasons
    )


# -- protocols and recipients (read-only) -----------------------------------------------------


class ProtocolOut(BaseModel):
    id: str
    version: int
    title_nl: str
    content_hash: str
    valid_from: date
    valid_until: date | None
    fields: list[str]
    channels: list[str]


@_endpoint(
    "GET",
    "/protocols",
    summary="List the protocols",
    response_model=list[ProtocolOut],
    tags=["protocols"],
)
def protocols(_user: Reader, deps: DepsDep) -> list[ProtocolOut]:
    return [
        ProtocolOut(
            id=d.id,
            version=d.version,
            title_nl=d.title_nl,
            content_hash=d.content_hash,
            valid_from=d.validity.valid_from,
            valid_until=d.validity.until,
            fields=d.field_names,
            channels=[c.channel.value for c in d.channels],
        )
        for d in deps.registry
    ]


@_endpoint(
    "GET",
    "/protocols/{protocol_id}",
    summary="Show a protocol's whole definition",
    raises=("protocol.unknown",),
    tags=["protocols"],
)
def protocol(protocol_id: ProtocolId, _user: Reader, deps: DepsDep) -> dict[str, Any]:
    return _definition(deps, protocol_id).model_dump(mode="json", by_alias=True)


class RecipientOut(BaseModel):
    id: str
    kind: str
    name_nl: str
    province_nl: str | None
    has_contact: bool = Field(description="Whether a contact for the key SMS is registered")
    keys: int = Field(description="SSH keys registered for the SFTP drop")


@_endpoint(
    "GET",
    "/recipients",
    summary="List the recipients",
    description="The contact itself (a person) is never shown, only whether there is one.",
    response_model=list[RecipientOut],
    tags=["recipients"],
)
def recipients(_user: Reader, engine: EngineDep) -> list[RecipientOut]:
    with transaction(engine) as session:
        return [
            RecipientOut(
                id=r.id,
                kind=r.kind,
                name_nl=r.name_nl,
                province_nl=r.province_nl,
                has_contact=r.has_contact,
                keys=r.keys,
            )
            for r in list_recipients(session)
        ]


@_endpoint(
    "GET",
    "/recipients/{recipient_id}",
    summary="Show one recipient",
    description="The contact itself (a person) is never shown, only whether there is one.",
    raises=("recipient.unknown",),
    response_model=RecipientOut,
    tags=["recipients"],
)
def recipient(recipient_id: RecipientId, _user: Reader, engine: EngineDep) -> RecipientOut:
    with transaction(engine) as session:
        get_recipient(session, recipient_id)
        rows = [r for r in list_recipients(session) if r.id == recipient_id]
    [r] = rows
    return RecipientOut(
        id=r.id,
        kind=r.kind,
        name_nl=r.name_nl,
        province_nl=r.province_nl,
        has_contact=r.has_contact,
        keys=r.keys,
    )


# -- recipient changes (four-eyes) ------------------------------------------------------------

for _code, _error in {
    "change.unknown": ErrorCode(404, "Unknown change", "Onbekende wijziging"),
    "change.decided": ErrorCode(
        409, "This change was already decided", "Over deze wijziging is al beslist"
    ),
    "change.four_eyes": ErrorCode(
        409,
        "Who proposes a change cannot approve it",
        "Wie een wijziging voorstelt, kan ze niet zelf goedkeuren",
    ),
    "change.invalid_contact": ErrorCode(
        400, "The contact is not valid", "De contactpersoon is ongeldig"
    ),
    "change.invalid_key": ErrorCode(400, "The SSH key is not valid", "De SSH-sleutel is ongeldig"),
    "change.invalid_sftp": ErrorCode(
        400, "The SFTP settings are not valid", "De SFTP-instellingen zijn ongeldig"
    ),
    "change.invalid_mail": ErrorCode(
        400, "The mailbox settings are not valid", "De e-mailinstellingen zijn ongeldig"
    ),
    "key.duplicate": ErrorCode(
        409, "This key is already registered", "Deze sleutel is al geregistreerd"
    ),
}.items():
    ERRORS[_code] = _error


class ContactChange(BaseModel):
    kind: Literal["contact"]
    name: str = Field(max_length=120)
    phone: str = Field(max_length=32, description="Belgian mobile number; receives the key SMS")
    email: str = Field(max_length=254)


class KeyChange(BaseModel):
    kind: Literal["key"]
    public_key: str = Field(max_length=4000, description="One OpenSSH public key line")


class SftpChange(BaseModel):
    kind: Literal["sftp"]
    host: str = Field(max_length=253)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(max_length=64)
    private_key: str = Field(
        max_length=20000,
        description="kbx's unencrypted OpenSSH private key for this server; "
        "kept only sealed under the service key",
    )
    host_key: str = Field(max_length=4000, description='Pinned: "ssh-ed25519 AAAA..."')
    path: str = Field(max_length=255)
    return_path: str | None = Field(default=None, max_length=255)


class MailChange(BaseModel):
    kind: Literal["mail"]
    address: str = Field(max_length=254)
    route: Literal["secure_mail", "zivver"]


RecipientChange = Annotated[
    ContactChange | KeyChange | SftpChange | MailChange, Field(discriminator="kind")
]
ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The change's id")]


class ChangeOut(BaseModel):
    id: int
    kind: str
    recipient_id: str
    summary: str = Field(description="What the approver decides on; never a secret")
    state: Literal["pending", "applied", "rejected"]
    requested_by: str
    requested_at: datetime
    decided_by: str | None


def _change_out(change: Any) -> ChangeOut:
    return ChangeOut(
        id=change.id,
        kind=change.kind,
        recipient_id=change.recipient_id,
        summary=change.summary,
        state=change.state,
        requested_by=change.requested_by,
        requested_at=change.requested_at,
        decided_by=change.decided_by,
    )


@_endpoint(
    "POST",
    "/recipients/{recipient_id}/changes",
    summary="Propose a change to a recipient's contact, drop key, SFTP server or mailbox",
    description="Takes effect only when a second person approves it "
    "(`POST /recipient-changes/{change_id}/approve`). Secrets in the proposal are sealed "
    "under the service key while it waits and never shown again.",
    raises=(
        "recipient.unknown",
        "change.invalid_contact",
        "change.invalid_key",
        "change.invalid_sftp",
        "change.invalid_mail",
        "key.duplicate",
    ),
    response_model=ChangeOut,
    status_code=201,
    tags=["recipients"],
)
def propose_recipient_change(
    recipient_id: RecipientId,
    body: RecipientChange,
    user: Operator,
    engine: EngineDep,
    deps: DepsDep,
) -> ChangeOut:
    payload = body.model_dump(exclude={"kind"})
    kind = ChangeKind(body.kind)
    return _change_out(
        propose(engine, deps.vault, kind, recipient_id, payload, user.name, deps.settings.now())
    )


@_endpoint(
    "GET",
    "/recipient-changes",
    summary="Changes to recipients waiting for a second person",
    response_model=list[ChangeOut],
    tags=["recipients"],
)
def pending_recipient_changes(_user: Reader, engine: EngineDep) -> list[ChangeOut]:
    return [_change_out(c) for c in pending_changes(engine)]


def _decide_change(change_id: int, user: User, engine: Engine, deps: ExportDeps, ok: bool) -> Any:
    return decide(engine, deps.vault, change_id, user.name, approve=ok, now=deps.settings.now())


@_endpoint(
    "POST",
    "/recipient-changes/{change_id}/approve",
    summary="Approve and apply a proposed change (four-eyes)",
    raises=("change.unknown", "change.decided", "change.four_eyes", "key.duplicate"),
    response_model=ChangeOut,
    tags=["recipients"],
)
def approve_recipient_change(
    change_id: ChangeId, user: Approver, engine: EngineDep, deps: DepsDep
) -> ChangeOut:
    return _change_out(_decide_change(change_id, user, engine, deps, True))


@_endpoint(
    "POST",
    "/recipient-changes/{change_id}/reject",
    summary="Reject a proposed change; nothing of it is kept",
    raises=("change.unknown", "change.decided", "change.four_eyes"),
    response_model=ChangeOut,
    tags=["recipients"],
)
def reject_recipient_change(
    change_id: ChangeId, user: Approver, engine: EngineDep, deps: DepsDep
) -> ChangeOut:
    return _change_out(_decide_change(change_id, user, engine, deps, False))
