"""``POST /api/v1/checks/integration-obligation``: the individual check of ``vsb-care`` (seed
002, art. 3 "individuele dossiers voor het zorgbudget voor zwaar zorgbehoevenden").

For the VSB client only (role ``vsb``). Given an INSZ number and a date it answers
``{"result": "OK"}``, or ``{"result": "NOK", "reason": "..."}`` when the person is under the
integration obligation and does not meet it on that date (``exchange.obligation``), and nothing
else about the person: an unknown number is OK (not obliged), exactly like a known person who is
not obliged. Every answered call is an audit event (``check.integration_obligation``: the caller,
the result and the person's pseudonym, never the number). Calls are limited per caller (a sliding
window of one minute, ``KBX_CHECK_RATE_PER_MINUTE``, counted in the database
(``app.store.rate_limits``) so that it holds across processes): beyond it, 429
``check.rate_limited`` with ``Retry-After``.

``prepare(api)`` gives an application the pseudonymiser the route needs.
"""

# No `from __future__ import annotations` here: FastAPI reads the dependency annotations at runtime.
import datetime as dt
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.api.deps import PREFIX, DepsDep, EngineDep, ObligationChecker
from app.api.errors import ApiError
from app.api.openapi import endpoint
from app.flows.obligation_check import CheckInputRefused, check_integration_obligation
from app.flows.vdab_dataset import load_pseudonymiser
from app.store import rate_limits
from app.store.db import transaction
from app.wiring import StartupError
from crypto.pseudonyms import Pseudonymiser, PseudonymKeyError, Purpose
from exchange.models import User
from exchange.obligation import NOK_REASONS, Outcome

__all__ = ["RATE_LIMIT", "prepare", "router"]

log = logging.getLogger("kbx.api.checks")

WINDOW_SECONDS = 60.0

# -- dependencies -----------------------------------------------------------------------------

# The kind of limit in ``app.store.rate_limits``.
RATE_LIMIT = "vsb_check"


def _pseudonymiser(request: Request) -> Pseudonymiser:
    pseudonymiser: Pseudonymiser = request.app.state.check_pseudonymiser
    return pseudonymiser


def _within_rate(user: ObligationChecker, deps: DepsDep, engine: EngineDep) -> User:
    """Counts every call of an authenticated VSB client, valid or not, before the body is
    looked at; in the database, so the limit holds across HTTP processes and restarts."""
    limit = deps.settings.check_rate_per_minute
    with transaction(engine) as db:
        wait = rate_limits.hit(
            db, RATE_LIMIT, user.name, limit, WINDOW_SECONDS, dt.datetime.now(dt.UTC)
        )
    if wait is not None:
        log.warning("integration-obligation check refused: rate limit of %s", user.name)
        raise ApiError("check.rate_limited", headers={"Retry-After": str(wait)})
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


_EXAMPLE = NOK_REASONS["certificate.not_obtained"]


class ObligationCheckOut(BaseModel):
    result: Outcome = Field(
        description="NOK: under the integration obligation and not meeting it on that date"
    )
    reason: str | None = Field(
        default=None,
        description="Only with NOK: why, one fixed Dutch sentence per category",
        examples=[_EXAMPLE.nl],
    )
    reason_en: str | None = Field(
        default=None,
        description="Only with NOK: the same reason in English",
        examples=[_EXAMPLE.en],
    )
    reason_code: str | None = Field(
        default=None,
        description="Only with NOK: the category, one of " + ", ".join(NOK_REASONS),
        examples=[_EXAMPLE.code],
    )


def _invalid(field: str, rule: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "type": rule, "msg": message}])


_OK_OR_NOK: dict[int, dict[str, Any]] = {
    200: {
        "description": "OK, or NOK with its reason; no other key, ever",
        "content": {
            "application/json": {
                "examples": {
                    "OK": {"value": {"result": "OK"}},
                    "NOK": {
                        "value": {
                            "result": "NOK",
                            "reason": _EXAMPLE.nl,
                            "reason_en": _EXAMPLE.en,
                            "reason_code": _EXAMPLE.code,
                        }
                    },
                }
            }
        },
    },
    429: {
        "headers": {
            "Retry-After": {
                "description": "Seconds until a call is counted again",
                "schema": {"type": "integer"},
            }
        }
    },
}

DESCRIPTION = """The individual check of the vsb-care protocol (AgII - Agentschap Vlaamse
Sociale Bescherming, 01.10.2021, art. 3 and 6): `NOK` exactly when, on `date`, the person's
integration obligation has begun and has not been met (obligation begun on or before `date`, not
met on or before `date`); otherwise `OK`, also for a number KBI does not know. A `NOK` carries why
(art. 3, gegeven 4), one of three fixed categories in Dutch (`reason`), English (`reason_en`) and
as a code (`reason_code`): `contract.not_signed` (no integration contract signed by `date`),
`certificate.not_obtained` (contract signed, no certificate of integration by `date`),
`obligation.not_met` (certificate obtained, obligation not yet met on `date`). No other fact of
the person (no date, no name) is ever answered.

A `date` before 2022-01-01, when the integration condition began (overweging D), is answered
`422 check.date_out_of_scope`.

Each answered call is audited with the caller, the result and a keyed pseudonym of the number
(never the number). At most `KBX_CHECK_RATE_PER_MINUTE` calls per caller in any minute (default
60); beyond that `429` with `Retry-After`.

Refused as `request.invalid` (422): a number that is not 11 digits (`string_pattern_mismatch`) or
has wrong check digits (`national_number.checksum`) or month (`national_number.month`), a date
after today (`date.in_future`), any other key in the body (`extra_forbidden`)."""

router = APIRouter(prefix=PREFIX, tags=["checks"])


@endpoint(
    router,
    "POST",
    "/checks/integration-obligation",
    summary="Integration obligation on a date: OK or NOK (VSB)",
    description=DESCRIPTION,
    raises=("check.not_in_force", "check.rate_limited", "check.date_out_of_scope"),
    responses=_OK_OR_NOK,
    response_model=ObligationCheckOut,
    response_model_exclude_none=True,
)
def integration_obligation(
    body: ObligationCheckIn,
    user: Caller,
    engine: EngineDep,
    deps: DepsDep,
    pseudonymiser: Annotated[Pseudonymiser, Depends(_pseudonymiser)],
) -> ObligationCheckOut:
    try:
        answer = check_integration_obligation(
            engine,
            deps,
            pseudonymiser,
            caller=user.name,
            national_number=body.national_number,
            on=body.date,
        )
    except CheckInputRefused as exc:
        raise _invalid(exc.field, exc.rule, exc.message) from exc
    reason = answer.reason
    if reason is None:
        return ObligationCheckOut(result=answer.outcome)
    return ObligationCheckOut(
        result=answer.outcome, reason=reason.nl, reason_en=reason.en, reason_code=reason.code
    )


def prepare(api: FastAPI) -> None:
    """Give an application built by ``app.api.app.create_app`` (its settings on ``api.state``)
    the check's pseudonymiser. Raises ``StartupError`` when there is no usable
    pseudonym key."""
    try:
        api.state.check_pseudonymiser = load_pseudonymiser(api.state.settings, Purpose.AUDIT)
    except PseudonymKeyError as exc:
        raise StartupError(str(exc)) from exc
