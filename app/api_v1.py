"""``/api/v1``: authentication, exports (request, approve, cancel, key resend), policy dry run,
protocols and recipients (read-only). Every endpoint needs a bearer token; roles per endpoint
are listed in each operation's description."""

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from app.auth import Role, authenticate, issue_token, user_for_token
from app.db import transaction
from app.errors import Conflict
from app.exports import (
    ExportDeps,
    approve,
    batch_runs,
    cancel,
    request_batch,
    request_export,
    send_key,
)
from app.recipients import list_recipients, recipient_facts, run_history
from exchange.exports import FourEyesViolation, check_four_eyes
from exchange.models import ExportRun, User
from exchange.policy import Allowed, evaluate
from exchange.protocols import ProtocolDefinition

__all__ = ["ERROR_RESPONSES", "router"]

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class ErrorOut(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. policy.refused")
    message: str = Field(description="English")
    message_nl: str = Field(description="Nederlands")
    reasons: list[dict[str, str]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input"},
    401: {"model": ErrorOut, "description": "No or expired token"},
    403: {"model": ErrorOut, "description": "Role not allowed"},
    404: {"model": ErrorOut, "description": "Unknown run, protocol or recipient"},
    409: {"model": ErrorOut, "description": "Refused by policy, four-eyes or state"},
}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _deps(request: Request) -> ExportDeps:
    deps: ExportDeps = request.app.state.deps
    return deps


EngineDep = Annotated[Engine, Depends(_engine)]
DepsDep = Annotated[ExportDeps, Depends(_deps)]


def _problem(status_code: int, code: str, en: str, nl: str) -> HTTPException:
    return HTTPException(
        status_code,
        detail={"code": code, "message": en, "message_nl": nl},
        headers={"WWW-Authenticate": "Bearer"} if status_code == 401 else None,
    )


def _current_user(
    engine: EngineDep, deps: DepsDep, token: Annotated[str | None, Depends(oauth2)]
) -> User:
    if token is None:
        raise _problem(401, "auth.missing", "Authentication required", "Aanmelding vereist")
    with transaction(engine) as session:
        user = user_for_token(session, token, deps.settings.now())
    if user is None:
        raise _problem(
            401, "auth.invalid", "Invalid or expired token", "Ongeldig of verlopen token"
        )
    return user


def role(*allowed: Role) -> Callable[..., User]:
    def check(user: Annotated[User, Depends(_current_user)]) -> User:
        if Role(user.role) not in allowed:
            raise _problem(
                403,
                "auth.role",
                f"Role {user.role} may not do this",
                f"Rol {user.role} mag dit niet",
            )
        return user

    return check


STAFF = (Role.OPERATOR, Role.APPROVER, Role.AUDITOR, Role.ADMIN)
Reader = Annotated[User, Depends(role(*STAFF))]
Operator = Annotated[User, Depends(role(Role.OPERATOR, Role.ADMIN))]
Approver = Annotated[User, Depends(role(Role.APPROVER, Role.ADMIN))]
Canceller = Annotated[User, Depends(role(Role.OPERATOR, Role.APPROVER, Role.ADMIN))]

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_in: int


@router.post(
    "/auth/token",
    response_model=Token,
    tags=["auth"],
    description="Open: exchange a staff name and password for a bearer token (30 min).",
)
def token(
    engine: EngineDep, deps: DepsDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> Token:
    with transaction(engine) as session:
        user = authenticate(session, form.username, form.password)
        if user is None:
            raise _problem(
                401, "auth.failed", "Wrong name or password", "Verkeerde naam of wachtwoord"
            )
        value, ttl = issue_token(session, user, deps.settings.now())
    return Token(access_token=value, expires_in=ttl)


class ExportRequest(BaseModel):
    protocol: str
    recipient: str
    period: str = Field(examples=["2026", "2026-H2"])
    channel: str = Field(examples=["sftp_drop"])
    lookback_years: int | None = None


class RunOut(BaseModel):
    id: int
    reference: str | None
    protocol: str
    recipient: str
    period: str
    channel: str
    state: str
    batch: str | None
    requested_by: str
    approved_by: str | None
    rows: int | None
    fields: list[str] | None
    file: str | None
    sha256: str | None
    definition_hash: str
    failure: str | None


def _out(run: ExportRun) -> RunOut:
    return RunOut(
        id=run.id,
        reference=run.reference,
        protocol=run.protocol_id,
        recipient=run.recipient_id,
        period=run.period,
        channel=run.channel,
        state=run.state,
        batch=run.batch_id,
        requested_by=run.requested_by,
        approved_by=run.approved_by,
        rows=run.row_count,
        fields=json.loads(run.field_list) if run.field_list else None,
        file=run.file_name,
        sha256=run.file_sha256,
        definition_hash=run.definition_hash,
        failure=run.failure,
    )


@router.post(
    "/exports",
    status_code=201,
    response_model=RunOut,
    tags=["exports"],
    description="Roles: operator, admin. 409 `policy.refused` with every reason.",
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


class BatchRequest(BaseModel):
    protocol: str = Field(examples=["art20-municipal"])
    period: str
    channel: str
    lookback_years: int | None = None


class BatchOut(BaseModel):
    batch: str
    runs: list[RunOut]
    refused: dict[str, list[str]]


@router.post(
    "/export-batches",
    status_code=201,
    response_model=BatchOut,
    tags=["exports"],
    description="Roles: operator, admin. One run per signed (or acceded) recipient.",
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


@router.post(
    "/export-batches/{batch_id}/approve",
    response_model=list[RunOut],
    tags=["exports"],
    description="Roles: approver, admin; never the requester.",
)
def approve_batch(batch_id: str, user: Approver, engine: EngineDep, deps: DepsDep) -> list[RunOut]:
    return [
        _out(approve(engine, deps, run_id, user.name)) for run_id in batch_runs(engine, batch_id)
    ]


@router.get(
    "/exports",
    response_model=list[RunOut],
    tags=["exports"],
    description="Roles: operator, approver, auditor, admin.",
)
def list_exports(_user: Reader, engine: EngineDep) -> list[RunOut]:
    with transaction(engine) as session:
        return [_out(r) for r in session.scalars(select(ExportRun).order_by(ExportRun.id.desc()))]


def _get(engine: Engine, run_id: int) -> ExportRun:
    with transaction(engine) as session:
        run = session.get(ExportRun, run_id)
    if run is None:
        raise _problem(404, "run.unknown", f"Unknown run {run_id}", f"Onbekende run {run_id}")
    return run


@router.get(
    "/exports/{run_id}",
    response_model=RunOut,
    tags=["exports"],
    description="Roles: operator, approver, auditor, admin.",
)
def show_export(run_id: int, _user: Reader, engine: EngineDep) -> RunOut:
    return _out(_get(engine, run_id))


@router.post(
    "/exports/{run_id}/approve",
    response_model=RunOut,
    tags=["exports"],
    description="Roles: approver, admin; 409 `run.four_eyes` for the requester.",
)
def approve_export(run_id: int, user: Approver, engine: EngineDep, deps: DepsDep) -> RunOut:
    return _out(approve(engine, deps, run_id, user.name))


@router.post(
    "/exports/{run_id}/cancel",
    response_model=RunOut,
    tags=["exports"],
    description="Roles: operator, approver, admin; only before the file is built.",
)
def cancel_export(run_id: int, user: Canceller, engine: EngineDep, deps: DepsDep) -> RunOut:
    return _out(cancel(engine, deps, run_id, user.name))


@router.post(
    "/exports/{run_id}/key-resend",
    response_model=RunOut,
    tags=["exports"],
    description="Roles: operator, admin. Asks for a resend of the key to the "
    "registered contact; a second person approves it.",
)
def ask_key_resend(run_id: int, user: Operator, engine: EngineDep) -> RunOut:
    with transaction(engine) as session:
        run = session.get(ExportRun, run_id)
        if run is None:
            raise _problem(404, "run.unknown", f"Unknown run {run_id}", f"Onbekende run {run_id}")
        if run.state not in ("key_sent", "fetched"):
            raise Conflict("run.no_key_yet", "the key has not been sent yet")
        run.resend_requested_by = user.name
    return _out(run)


@router.post(
    "/exports/{run_id}/key-resend/approve",
    response_model=RunOut,
    tags=["exports"],
    description="Roles: approver, admin; never the person who asked for the resend.",
)
def approve_key_resend(run_id: int, user: Approver, engine: EngineDep, deps: DepsDep) -> RunOut:
    run = _get(engine, run_id)
    if run.resend_requested_by is None:
        raise Conflict("run.no_resend_request", "nobody asked for a resend of this key")
    try:
        check_four_eyes(run.resend_requested_by, user.name)
    except FourEyesViolation as exc:
        raise Conflict("run.four_eyes", str(exc)) from exc
    send_key(engine, deps, run_id, actor=user.name)
    return _out(_get(engine, run_id))


class CheckOut(BaseModel):
    allowed: bool
    definition_hash: str
    reasons: list[dict[str, str]]


@router.post(
    "/policy/check",
    response_model=CheckOut,
    tags=["policy"],
    description="Roles: operator, approver, auditor, admin. A dry run: nothing is "
    "claimed or recorded.",
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
        else [
            {"rule": r.rule, "article": r.article, "nl": r.nl, "en": r.en} for r in decision.reasons
        ]
    )
    return CheckOut(
        allowed=decision.allowed, definition_hash=definition.content_hash, reasons=reasons
    )


def _definition(deps: ExportDeps, protocol_id: str) -> ProtocolDefinition:
    definition = deps.registry.get(protocol_id)
    if definition is None:
        raise _problem(
            404,
            "protocol.unknown",
            f"Unknown protocol {protocol_id}",
            f"Onbekend protocol {protocol_id}",
        )
    return definition


class ProtocolOut(BaseModel):
    id: str
    version: int
    title_nl: str
    content_hash: str
    valid_from: date
    valid_until: date | None
    fields: list[str]
    channels: list[str]


@router.get(
    "/protocols",
    response_model=list[ProtocolOut],
    tags=["protocols"],
    description="Roles: operator, approver, auditor, admin.",
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


@router.get(
    "/protocols/{protocol_id}",
    tags=["protocols"],
    description="Roles: operator, approver, auditor, admin. The whole definition.",
)
def protocol(protocol_id: str, _user: Reader, deps: DepsDep) -> dict[str, Any]:
    return _definition(deps, protocol_id).model_dump(mode="json", by_alias=True)


class RecipientOut(BaseModel):
    id: str
    kind: str
    name_nl: str
    province_nl: str | None
    has_contact: bool
    keys: int


@router.get(
    "/recipients",
    response_model=list[RecipientOut],
    tags=["recipients"],
    description="Roles: operator, approver, auditor, admin.",
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
