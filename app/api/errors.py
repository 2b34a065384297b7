"""Every error the API answers, and how it answers it.

``ERRORS`` is the one catalogue (kept in ``app.error_catalogue``, which the command line shares
without importing FastAPI): every code raised anywhere in ``app/`` and every code the API's own
handlers answer, each with its HTTP status and a generic message in English and Dutch.

An answer carries the error's own messages: ``message`` is the English one it was raised with,
``message_nl`` its Dutch one, and only when the raiser gave none the catalogue's generic Dutch
text (``app.error_catalogue.dutch``). ``ErrorOut`` is the shape of every error answer (the one
exception handler, ``kbx_error``, and FastAPI's own errors rendered by ``http_error``,
``validation_error`` and ``internal_error``); ``error_responses`` documents a set of codes in
OpenAPI.
"""

# No `from __future__ import annotations` here: pydantic and FastAPI read these at runtime.
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.error_catalogue import ERRORS, ErrorCode, dutch
from app.errors import KbxError
from app.flows.exports import BatchRefused, PolicyRefusal
from exchange.policy import Reason

__all__ = [
    "ERRORS",
    "ApiError",
    "ErrorCode",
    "ErrorOut",
    "FieldError",
    "ReasonOut",
    "RefusalOut",
    "error_responses",
    "install_handlers",
    "refusals",
]

log = logging.getLogger("kbx.api")

# The framework's own errors (an unknown path, a method a path does not have, a form that cannot
# be parsed), by status.
_FRAMEWORK = {400: "http.bad_request", 404: "http.not_found", 405: "http.method_not_allowed"}


class ApiError(KbxError):
    """An error of the API itself (authentication, a rate limit): its status from ``ERRORS``.
    ``headers`` go with the answer (e.g. ``Retry-After``)."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        message_nl: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        known = ERRORS[code]
        super().__init__(code, message or known.en, message_nl or known.nl)
        self.status = known.status
        self.headers = dict(headers or {})


# -- the shape of an error --------------------------------------------------------------------


class ReasonOut(BaseModel):
    """A rule of the protocol that refused."""

    rule: str = Field(description="The rule of the protocol, e.g. frequency.exhausted")
    article: str = Field(description="The article of the protocol that sets the rule")
    nl: str
    en: str


class RefusalOut(BaseModel):
    """Why one recipient of a batch got no run: a rule of the protocol (with its article), or
    an error code (``recipient.no_contact``, ...) when the recipient cannot be reached."""

    rule: str = Field(description="A rule of the protocol, or an error code")
    article: str | None = Field(description="The protocol's article; null for an error code")
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
    message_nl: str = Field(description="Nederlands, with the same facts")
    reasons: list[ReasonOut] | None = Field(
        default=None, description="policy.refused: every rule that refused, with its article"
    )
    run_id: int | None = Field(
        default=None, description="policy.refused: the refused run as recorded, if it was"
    )
    batch: str | None = Field(
        default=None, description="batch.refused: the batch its refused runs are recorded under"
    )
    refused: dict[str, list[RefusalOut]] | None = Field(
        default=None, description="batch.refused: per recipient, every reason it was refused"
    )
    errors: list[FieldError] | None = Field(
        default=None, description="request.invalid: what is wrong where (never the values)"
    )


def reason_out(reason: Reason) -> ReasonOut:
    return ReasonOut(rule=reason.rule, article=reason.article, nl=reason.nl, en=reason.en)


def refusals(
    refused: Iterable[tuple[str, Sequence[Reason] | KbxError]],
) -> dict[str, list[RefusalOut]]:
    """A batch's refusals by recipient: the protocol's reasons, or the error that kept the
    recipient out (its code as the rule, its own messages)."""
    out: dict[str, list[RefusalOut]] = {}
    for recipient, why in refused:
        if isinstance(why, KbxError):
            out[recipient] = [
                RefusalOut(rule=why.code, article=None, nl=dutch(why), en=why.message)
            ]
        else:
            out[recipient] = [
                RefusalOut(rule=r.rule, article=r.article, nl=r.nl, en=r.en) for r in why
            ]
    return out


def _body(error: ErrorOut) -> dict[str, Any]:
    """The answer: the fields an error has (``reasons`` only for a policy refusal, ...); inside
    them every key, also a null one."""
    return {k: v for k, v in error.model_dump(mode="json").items() if v is not None}


def _generic(code: str) -> ErrorOut:
    known = ERRORS[code]
    return ErrorOut(code=code, message=known.en, message_nl=known.nl)


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
                        c: {"summary": ERRORS[c].en, "value": _body(_generic(c))} for c in group
                    }
                }
            },
        }
        for status, group in sorted(by_status.items())
    }


# -- the handlers -----------------------------------------------------------------------------


async def kbx_error(_request: Request, exc: Exception) -> JSONResponse:
    """Every ``KbxError``: its status, its code and its own messages in both languages; a
    policy refusal with every reason, a refused batch with every recipient's reasons."""
    assert isinstance(exc, KbxError)
    error = ErrorOut(code=exc.code, message=exc.message, message_nl=dutch(exc))
    if isinstance(exc, PolicyRefusal):
        error.reasons = [reason_out(r) for r in exc.reasons]
        error.run_id = exc.run_id
    if isinstance(exc, BatchRefused):
        error.batch = exc.result.batch_id
        error.refused = refusals(exc.result.refused)
    headers = dict(exc.headers) if isinstance(exc, ApiError) else {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(status_code=exc.status, content=_body(error), headers=headers or None)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own errors (an unknown path, a method a path does not have, a body that
    cannot be parsed) in our shape."""
    assert isinstance(exc, StarletteHTTPException)
    code = _FRAMEWORK.get(exc.status_code)
    if code is None:  # nothing of ours or of the framework raises another one
        return await internal_error(request, exc)
    return JSONResponse(
        status_code=exc.status_code, content=_body(_generic(code)), headers=exc.headers
    )


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 in our shape: where and what kind, never the value (it may be a password
    or a national number)."""
    assert isinstance(exc, RequestValidationError)
    error = _generic("request.invalid")
    error.errors = [
        FieldError(
            loc=list(e.get("loc", ())), type=str(e.get("type", "")), msg=str(e.get("msg", ""))
        )
        for e in exc.errors()
    ]
    return JSONResponse(status_code=422, content=_body(error))


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The type and the route's template only: an exception's text, and a path as sent, may
    # carry a value (a national number typed in a URL).
    route = getattr(request.scope.get("route"), "path", "(no route)")
    log.error("internal error (%s) on %s %s", type(exc).__name__, request.method, route)
    return JSONResponse(status_code=500, content=_body(_generic("internal.error")))


def install_handlers(api: FastAPI) -> None:
    """Every error of ``api`` answered in the shape of ``ErrorOut``."""
    api.add_exception_handler(KbxError, kbx_error)
    api.add_exception_handler(StarletteHTTPException, http_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(Exception, internal_error)
