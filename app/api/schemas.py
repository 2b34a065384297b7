"""What several route groups share: the identifiers a request may carry, the one timestamp type
of every answer, and an export run as the API shows it.

**Timestamps.** Every datetime in every answer is a ``Timestamp``: ISO 8601 in Brussels time
with its offset, to the second (``2026-11-23T10:15:02+01:00``), as the command line writes
them. A stored moment is UTC; SQLite gives it back without its zone (``app.store.db.aware``
puts it back), PostgreSQL in the session's zone: either way the same instant reads the same in
a POST answer and in a later GET.
"""

# No `from __future__ import annotations` here: pydantic and FastAPI read these at runtime.
import json
import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, WithJsonSchema
from sqlalchemy import Row

from app.api.errors import ReasonOut
from exchange.clock import in_brussels
from exchange.exports import RunState
from exchange.models import ExportRun

__all__ = [
    "BatchId",
    "CancelRequest",
    "ChangeId",
    "ExportRequest",
    "Identifier",
    "PeriodText",
    "ProtocolId",
    "RecipientId",
    "RecipientQuery",
    "RecipientRef",
    "RunOut",
    "RunRef",
    "Timestamp",
    "run_out",
    "timestamp",
]


# -- timestamps -------------------------------------------------------------------------------


def timestamp(moment: datetime) -> str:
    """``moment`` as every answer shows it: ISO 8601, Brussels time, with its offset."""
    return in_brussels(moment).isoformat(timespec="seconds")


Timestamp = Annotated[
    datetime,
    PlainSerializer(timestamp, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601, Brussels time, with its offset",
            "examples": ["2026-11-23T10:15:02+01:00"],
        }
    ),
]


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

_RECIPIENT = re.compile(r"\w[\w .'-]*")


def _recipient(value: str) -> str:
    # A NIS code, an agency id or a municipality's name as people write it ("Sint-Niklaas",
    # "Gent", "'s Gravenbrakel"); never six digits in a row beyond the NIS code's five.
    if not _RECIPIENT.fullmatch(value) or _DIGIT_RUN.search(value):
        raise ValueError("not a recipient id or name")
    return value


RecipientText = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["72020", "Gent"]),
    AfterValidator(_recipient),
]
PeriodText = Annotated[
    str, Field(min_length=1, max_length=10, examples=["2026", "2026-H2"]), AfterValidator(_period)
]
RunRef = Annotated[
    str,
    Path(
        pattern=r"^([1-9][0-9]{0,8}|[Kk][Bb][Xx]-[0-9]{4}-[0-9]{6})$",
        description="The run's id (`17`) or its reference (`KBX-2026-000017`)",
    ),
]
BatchId = Annotated[str, Path(pattern=r"^B-[0-9a-f]{12}$", description="e.g. B-0123456789ab")]
ProtocolId = Annotated[str, Path(min_length=1, max_length=48), AfterValidator(_identifier)]
RecipientId = Annotated[str, Path(min_length=1, max_length=48), AfterValidator(_identifier)]
RecipientRef = Annotated[
    str,
    Path(min_length=1, max_length=64, description="NIS code, agency id or name (`Gent`)"),
    AfterValidator(_recipient),
]
RecipientQuery = Annotated[
    str | None,
    Query(max_length=64, description="NIS code, agency id or name (`Gent`)"),
    AfterValidator(lambda v: None if v is None else _recipient(v)),
]
ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The change's id")]


# -- export runs ------------------------------------------------------------------------------


class CancelRequest(BaseModel):
    """The optional body of a cancel or a rejection (of a run, of a change to a recipient)."""

    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Reden van afwijzing: required to reject what someone else asked for, 3 to "
        "300 characters after stripping, never a national number (the audit trail keeps it "
        "for good); optional when the requester cancels their own run",
        examples=["De gemeente trok haar aanvraag in"],
    )


class ExportRequest(BaseModel):
    protocol: Identifier = Field(examples=["art20-municipal"])
    recipient: RecipientText = Field(description="NIS code, agency id or name (`Gent`)")
    period: PeriodText
    channel: Identifier = Field(examples=["sftp_drop"])
    lookback_years: int | None = Field(default=None, ge=0, le=99, description="vcmp: 1 or 2")
    requested_on: date | None = Field(
        default=None,
        description="art20-municipal: the day the municipality asked for its list (overweging C)",
    )
    request_ref: str | None = Field(
        default=None,
        max_length=64,
        description="art20-municipal: the municipality's own reference of its request",
        examples=["BB/2026/0142"],
    )


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
    requested_at: Timestamp
    approved_by: str | None
    approved_at: Timestamp | None
    refusal: list[ReasonOut] | None
    rows: int | None
    fields: list[str] | None
    file: str | None
    sha256: str | None
    definition_hash: str
    delivered_at: Timestamp | None
    key_sent_at: Timestamp | None
    resend_requested_by: str | None
    expires_at: Timestamp | None
    failure: str | None
    requested_on: date | None = Field(
        default=None, description="The day of the municipality's request this run answers"
    )
    request_ref: str | None = Field(
        default=None, description="The municipality's reference of that request"
    )


def run_out(run: ExportRun | Row[Any]) -> RunOut:
    """``run`` as the API shows it: a loaded run, or a row of ``app.store.runs.list_rows``."""
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
        requested_on=run.requested_on,
        request_ref=run.request_ref,
    )
