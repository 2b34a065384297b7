"""The yearly art. 20 round as staff follow it: who asked for this year's list, the runs of one
batch, and how far the batch has come (the console's *Jaarronde*).

Seed 000, overweging C: municipalities "kunnen ... deze lijsten maximaal 1 keer per jaar
opvragen"; the round answers every request received in one batch
(``app.flows.exports.request_batch``), approved at once by a second person (``approve_batch``).
This module only reads: it asks for nothing and approves nothing. The counts of a batch's states
are the database's (``app.store.runs.state_counts``, one ``GROUP BY``), not a count of loaded
runs; a batch's runs are listed with one query (at most one run per municipality: 285).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.errors import InvalidInput, NotFound
from app.store import runs
from app.store.db import reading
from exchange.exports import RunState
from exchange.models import ExportRun, Recipient
from exchange.policy import Reason
from exchange.shown import shown

__all__ = [
    "PROTOCOL",
    "BatchProgress",
    "RoundLine",
    "batch_lines",
    "batch_progress",
    "recipient_names",
    "requests_text",
    "year_lines",
]

# The one protocol whose lists go on request, once a year (seed 000, overweging C).
PROTOCOL = "art20-municipal"
_BATCH = re.compile(r"B-[0-9a-f]{12}")
# Still on its way to the key SMS: a batch with a run in one of these is not done.
_PENDING = (RunState.REQUESTED, RunState.APPROVED, RunState.BUILT, RunState.DELIVERED)
# On its way, and no person needs to act for it to go on (the worker carries it).
_MOVING = (RunState.APPROVED, RunState.BUILT, RunState.DELIVERED)
# The key SMS left: the list reached the municipality (later states keep that true).
_KEY_SENT = (RunState.KEY_SENT, RunState.FETCHED, RunState.PURGED, RunState.RETURNED)
# Not part of the round's progress: no list was or will be made for these.
_LEFT_OUT = (RunState.REFUSED, RunState.CANCELLED)


@dataclass(frozen=True, slots=True)
class RoundLine:
    """One run of a round: the municipality, its request (day and own reference), the run's
    state and batch, who asked, and for a refused run the policy's reasons."""

    id: int
    reference: str | None
    recipient: str
    recipient_name: str
    requested_on: date | None
    request_ref: str | None
    state: str
    batch: str | None
    requested_by: str
    reasons: list[Reason]


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """How far a batch has come. ``counts``: runs per state (refused and cancelled ones too);
    ``total``: the runs that make a list (neither refused nor cancelled); ``key_sent``: those
    whose key SMS left; ``failed``: those that need a person's attention; ``waiting``: those
    waiting for approval."""

    batch_id: str
    counts: dict[str, int]
    total: int
    key_sent: int
    failed: int
    waiting: int
    moving: int

    @property
    def done(self) -> bool:
        """No run is still requested, approved, built or delivered (and there was one)."""
        return self.total > 0 and self.waiting == 0 and self.moving == 0

    @property
    def following(self) -> bool:
        """Worth watching live: the worker is carrying a run of it (nobody needs to act)."""
        return self.moving > 0

    @property
    def percent(self) -> int:
        """The share of ``total`` whose key SMS left, 0-100 (rounded down)."""
        return 100 * self.key_sent // self.total if self.total else 0


def _batch_filter(batch_id: str) -> runs.RunFilter:
    """The runs of ``batch_id``; raises ``NotFound`` (``batch.unknown``) for a text that is no
    batch id (named only if it cannot be a national number: ``exchange.shown``)."""
    if not _BATCH.fullmatch(batch_id):
        named = shown(batch_id)
        raise NotFound("batch.unknown", f"unknown batch {named}", f"onbekende reeks {named}")
    return runs.RunFilter(batch=batch_id)


def batch_progress(engine: Engine, batch_id: str) -> BatchProgress:
    """The counts of ``batch_id``'s runs per state, by the database. Raises ``NotFound``
    (``batch.unknown``) when the batch has no run."""
    where = _batch_filter(batch_id)
    with reading(engine) as session:
        counts = runs.state_counts(session, where)
    if not counts:
        raise NotFound("batch.unknown", f"unknown batch {batch_id}", f"onbekende reeks {batch_id}")

    def of(states: tuple[RunState, ...]) -> int:
        return sum(counts.get(s.value, 0) for s in states)

    return BatchProgress(
        batch_id=batch_id,
        counts=counts,
        total=sum(counts.values()) - of(_LEFT_OUT),
        key_sent=of(_KEY_SENT),
        failed=of((RunState.FAILED,)),
        waiting=of((RunState.REQUESTED,)),
        moving=of(_MOVING),
    )


def _names(session: Session, ids: Collection[str]) -> dict[str, str]:
    rows = session.execute(select(Recipient.id, Recipient.name_nl).where(Recipient.id.in_(ids)))
    return {recipient: name for recipient, name in rows}


def recipient_names(engine: Engine, ids: Collection[str]) -> dict[str, str]:
    """The Dutch names of the recipients ``ids`` (an unknown id is left out)."""
    with reading(engine) as session:
        return _names(session, ids)


def _lines(engine: Engine, where: runs.RunFilter) -> list[RoundLine]:
    with reading(engine) as session:
        found = runs.list_runs(session, where, newest_first=False)
        names = _names(session, {r.recipient_id for r in found})
        return [_line(run, names.get(run.recipient_id, run.recipient_id)) for run in found]


def _line(run: ExportRun, name: str) -> RoundLine:
    reasons = [Reason(**r) for r in json.loads(run.refusal)] if run.refusal else []
    return RoundLine(
        id=run.id,
        reference=run.reference,
        recipient=run.recipient_id,
        recipient_name=name,
        requested_on=run.requested_on,
        request_ref=run.request_ref,
        state=run.state,
        batch=run.batch_id,
        requested_by=run.requested_by,
        reasons=reasons,
    )


def batch_lines(engine: Engine, batch_id: str) -> list[RoundLine]:
    """Every run of ``batch_id``, refused ones with their reasons, oldest first. Raises
    ``NotFound`` (``batch.unknown``) when the batch has no run."""
    lines = _lines(engine, _batch_filter(batch_id))
    if not lines:
        raise NotFound("batch.unknown", f"unknown batch {batch_id}", f"onbekende reeks {batch_id}")
    return lines


def year_lines(engine: Engine, year: int) -> list[RoundLine]:
    """Every ``art20-municipal`` run of period ``year`` (the municipalities that asked for that
    year's list, in a round or one by one), refused ones too, oldest first."""
    return _lines(engine, runs.RunFilter(protocol=PROTOCOL, period=str(year)))


def requests_text(typed: str, uploaded: bytes | None) -> str:
    """The round's requests as CSV text (``app.flows.exports.read_requests`` reads it): typed
    into the form, or the bytes of an uploaded file (UTF-8, a BOM allowed), not both. Raises
    ``InvalidInput`` (``requests.invalid``) for both, or for a file that is no UTF-8 text;
    nothing is requested then (an empty text is ``read_requests``'s to refuse)."""
    if uploaded and typed.strip():
        raise InvalidInput(
            "requests.invalid",
            "the requests are refused, nothing is requested: give them typed or as a file, "
            "not both",
            "de aanvragen zijn geweigerd, er wordt niets aangevraagd: geef ze in het tekstvak "
            "of als bestand, niet allebei",
        )
    if not uploaded:
        return typed
    try:
        return uploaded.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "requests.invalid",
            "the requests are refused, nothing is requested: the file is not UTF-8 text "
            "(save it as CSV UTF-8)",
            "de aanvragen zijn geweigerd, er wordt niets aangevraagd: het bestand is geen "
            "UTF-8-tekst (sla op als CSV UTF-8)",
        ) from None
