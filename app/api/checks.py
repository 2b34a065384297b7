"""``POST /api/v1/checks/integration-obligation``: the individual check of ``vsb-care`` (seed
002, art. 3 "individuele dossiers voor het zorgbudget voor zwaar zorgbehoevenden").

For the VSB client only (role ``vsb``). Given an INSZ number and a date it answers
``{"result": "OK"}``, or ``{"result": "NOK", "reason": "..."}`` when the person is under the
integration obligation and does not meet it on that date (``exchange.obligation``), and nothing
else about the person: an unknown number is OK (not obliged), exactly like a known person who is
not obliged. Every answered call is an audit event (``check.integration_obligation``: the caller,
the result and the person's pseudonym, never the number). Calls are limited per caller (a sliding
window of one minute, ``KBX_CHECK_RATE_PER_MINUTE``, in this process's memory): beyond it, 429
``check.rate_limited`` with ``Retry-After``.

``install(api)`` adds the route, the rate limiter and the pseudonymiser to an application.
"""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
import datetime as dt
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import Engine, select

from app.api.v1 import ERRORS, ApiError, ErrorCode, RoleGuard, error_responses
from app.flows.deps import ExportDeps
from app.flows.vdab_dataset import load_pseudonymiser
from app.store.audit import record
from app.store.db import transaction
from app.store.users import Role
from app.wiring import StartupError
from crypto.pseudonyms import Pseudonymiser, PseudonymKeyError, Purpose
from exchange.models import Integree, User
from exchange.national_number import NumberProblem, parse_national_number
from exchange.obligation import NOK_REASON_NL, ObligationFacts, Outcome, check_obligation

__all__ = ["CHECK_ERRORS", "SlidingWindow", "install", "router"]

log = logging.getLogger("kbx.api.checks")

PROTOCOL_ID = "vsb-care"
WINDOW_SECONDS = 60.0

# The codes this router adds to the API's one list (``app.api.v1.ERRORS``), so that the error
# shape, the OpenAPI document and its tests treat them as every other code.
CHECK_ERRORS: dict[str, ErrorCode] = {
    "check.not_in_force": ErrorCode(
        409,
        "The vsb-care protocol is not in force today",
        "Het protocol vsb-care is vandaag niet van kracht",
    ),
    "check.rate_limited": ErrorCode(
        429,
        "Too many checks; try again after the number of seconds in Retry-After",
        "Te veel controles; probeer opnieuw na het aantal seconden in Retry-After",
    ),
}
for _code, _error in CHECK_ERRORS.items():
    assert ERRORS.get(_code, _error) == _error, f"{_code} is declared twice, differently"
    ERRORS[_code] = _error


# -- rate limit -------------------------------------------------------------------------------


class SlidingWindow:
    """At most ``limit`` hits per key in any window of ``window`` seconds (monotonic clock).
    Thread-safe; memory: one timestamp per hit of the last window, per caller."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, now: float) -> int | None:
        """Count a hit and return None, or refuse it and return the whole seconds to wait."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                oldest = hits[0] if hits else now
                return max(1, math.ceil(oldest + self.window - now))
            hits.append(now)
            return None


class RateLimited(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__("check.rate_limited")
        self.retry_after = retry_after


async def _rate_limited_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return JSONResponse(
        status_code=429,
        content={"code": exc.code, "message": exc.message, "message_nl": exc.message_nl},
        headers={"Retry-After": str(exc.retry_after)},
    )


# -- dependencies -----------------------------------------------------------------------------

VsbClient = Annotated[User, Depends(RoleGuard(Role.VSB))]


def _within_rate(request: Request, user: VsbClient) -> User:
    """Counts every call of an authenticated VSB client, valid or not, before the body is
    looked at."""
    deps: ExportDeps = request.app.state.deps
    limiter: SlidingWindow = request.app.state.check_limiter
    wait = limiter.hit(user.name, deps.settings.check_rate_per_minute, time.monotonic())
    if wait is not None:
        log.warning("integration-obligation check refused: rate limit of %s", user.name)
        raise RateLimited(wait)
    return user


Caller = Annotated[User, Depends(_within_rate)]


# -- the check --------------------------------------------------------------------------------


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> object:
    # Only the ISO form: pydantic would also take a number of seconds or "2026-01-01T00:00".
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("not a date YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class ObligationCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    national_number: str = Field(
        pattern=r"^[0-9]{11}$",
        description="INSZ: national register or bis number, 11 digits without separators",
        examples=["85073003328"],
    )
    date: IsoDate = Field(
        description="The day the right to the care budget opens (YYYY-MM-DD), today at the latest",
        examples=["2026-01-01"],
    )


class ObligationCheckOut(BaseModel):
    result: Outcome = Field(
        description="NOK: under the integration obligation and not meeting it on that date"
    )
    reason: str | None = Field(
        default=None, description="Only with NOK, a fixed Dutch text", examples=[NOK_REASON_NL]
    )


def _invalid(field: str, rule: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "type": rule, "msg": message}])


_CODES = (
    "auth.missing",
    "auth.invalid",
    "auth.role",
    "check.not_in_force",
    "request.invalid",
    "check.rate_limited",
    "internal.error",
)


def _responses(codes: Iterable[str]) -> dict[int | str, dict[str, Any]]:
    responses = error_responses(codes)
    responses[200] = {
        "description": "OK, or NOK with its reason; no other key, ever",
        "content": {
            "application/json": {
                "examples": {
                    "OK": {"value": {"result": "OK"}},
                    "NOK": {"value": {"result": "NOK", "reason": NOK_REASON_NL}},
                }
            }
        },
    }
    responses[429]["headers"] = {
        "Retry-After": {
            "description": "Seconds until a call is counted again",
            "schema": {"type": "integer"},
        }
    }
    return dict(sorted(responses.items(), key=lambda item: int(item[0])))


DESCRIPTION = f"""**Roles:** vsb.

The individual check of the vsb-care protocol (AgII - Agentschap Vlaamse Sociale Bescherming,
01.10.2021, art. 3 and 6): `NOK` exactly when, on `date`, the person's integration obligation has
begun and has not been met (obligation begun on or before `date`, not met on or before `date`);
otherwise `OK`, also for a number KBI does not know. A `NOK` carries one fixed Dutch reason; no
other fact of the person is ever answered.

Each answered call is audited with the caller, the result and a keyed pseudonym of the number
(never the number). At most `KBX_CHECK_RATE_PER_MINUTE` calls per caller in any minute (default
60); beyond that `429` with `Retry-After`.

Refused as `request.invalid` (422): a number that is not 11 digits (`string_pattern_mismatch`) or
has wrong check digits (`national_number.checksum`) or month (`national_number.month`), a date
after today (`date.in_future`), any other key in the body (`extra_forbidden`).

**Error codes:** {", ".join(f"`{c}` ({ERRORS[c].status})" for c in _CODES)}"""

router = APIRouter(prefix="/api/v1")


@router.post(
    "/checks/integration-obligation",
    summary="Integration obligation on a date: OK or NOK (VSB)",
    description=DESCRIPTION,
    response_model=ObligationCheckOut,
    response_model_exclude_none=True,
    responses=_responses(_CODES),
    openapi_extra={"x-roles": [Role.VSB.value], "x-error-codes": list(_CODES)},
    tags=["checks"],
)
def integration_obligation(
    body: ObligationCheckIn, user: Caller, request: Request
) -> ObligationCheckOut:
    deps: ExportDeps = request.app.state.deps
    engine: Engine = request.app.state.engine
    pseudonymiser: Pseudonymiser = request.app.state.check_pseudonymiser
    today = deps.settings.current_date()
    definition = deps.registry.get(PROTOCOL_ID)
    if definition is None or not definition.validity.contains(today):
        raise ApiError("check.not_in_force")
    parsed = parse_national_number(body.national_number, today)
    if isinstance(parsed, NumberProblem):
        raise _invalid("national_number", parsed.value, "not a valid INSZ number")
    if body.date > today:
        raise _invalid("date", "date.in_future", "the facts of a day after today are not known")

    with transaction(engine) as session:
        found = session.execute(
            select(Integree.obligation_since, Integree.obligation_met_on).where(
                Integree.national_number == parsed.number
            )
        ).first()
        facts = ObligationFacts(found[0], found[1]) if found is not None else None
        answer = check_obligation(facts, body.date)
        record(
            session,
            actor=user.name,
            action="check.integration_obligation",
            subject=f"pseudonym:{pseudonymiser(parsed.number)}",
            details={"result": answer.outcome.value, "pseudonym_key_id": pseudonymiser.key_id},
            now=deps.settings.now(),
        )
    return ObligationCheckOut(result=answer.outcome, reason=answer.reason_nl)


def install(api: FastAPI) -> None:
    """Add the check to an application built by ``app.api.app.create_app`` (its settings are on
    ``api.state``). Raises ``StartupError`` when there is no usable pseudonym key."""
    settings = api.state.settings
    try:
        api.state.check_pseudonymiser = load_pseudonymiser(settings, Purpose.AUDIT)
    except PseudonymKeyError as exc:
        raise StartupError(str(exc)) from exc
    api.state.check_limiter = SlidingWindow()
    api.add_exception_handler(RateLimited, _rate_limited_error)
    api.include_router(router)
