"""Export runs: the state machine and the rules around it. Pure; the edge persists each
transition together with its audit event in one transaction.

    requested -> approved -> built -> delivered -> key_sent -> fetched -> purged
    plus refused (by policy, at request), cancelled (before build) and failed; a run with a
    return leg (VDAB) ends in returned once the recipient's file is back and processed.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from exchange.fields import FIELD_CATALOGUE
from exchange.protocols import ProtocolDefinition
from exchange.selection import years_before

__all__ = [
    "FourEyesViolation",
    "InvalidTransition",
    "RunState",
    "can_move",
    "check_four_eyes",
    "expiry",
    "info_sheet",
    "key_sms_text",
    "retention_deadline",
    "run_reference",
    "transition",
]

# Dates and times a person in Flanders reads are Belgian; kbx stores UTC.
_BRUSSELS = ZoneInfo("Europe/Brussels")


class RunState(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    BUILT = "built"
    DELIVERED = "delivered"
    KEY_SENT = "key_sent"
    FETCHED = "fetched"
    PURGED = "purged"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    FAILED = "failed"
    RETURNED = "returned"


_NEXT: dict[RunState, frozenset[RunState]] = {
    RunState.REQUESTED: frozenset({RunState.APPROVED, RunState.CANCELLED, RunState.FAILED}),
    RunState.APPROVED: frozenset({RunState.BUILT, RunState.CANCELLED, RunState.FAILED}),
    # A built file that never reached the recipient is rebuilt (new password) or failed.
    RunState.BUILT: frozenset({RunState.BUILT, RunState.DELIVERED, RunState.FAILED}),
    # Delivered but no key yet: the key is sent, or the file is withdrawn (purged).
    RunState.DELIVERED: frozenset({RunState.KEY_SENT, RunState.FETCHED, RunState.PURGED}),
    RunState.KEY_SENT: frozenset({RunState.FETCHED, RunState.PURGED, RunState.RETURNED}),
    RunState.FETCHED: frozenset({RunState.PURGED, RunState.RETURNED}),
    RunState.RETURNED: frozenset(),
    # A purged outbound file does not end a round trip: the return may still come.
    RunState.PURGED: frozenset({RunState.RETURNED}),
    RunState.REFUSED: frozenset(),
    RunState.CANCELLED: frozenset(),
    RunState.FAILED: frozenset(),
}


class InvalidTransition(Exception):
    def __init__(self, current: RunState, target: RunState) -> None:
        super().__init__(f"a run in state {current} cannot become {target}")
        self.current, self.target = current, target


class FourEyesViolation(Exception):
    """The same person may not both ask for and approve an action."""


def can_move(current: RunState, target: RunState) -> bool:
    """Whether the state machine lets a run in ``current`` become ``target``."""
    return target in _NEXT[current]


def transition(current: RunState, target: RunState) -> RunState:
    """``target``, if a run in ``current`` may become it. Raises ``InvalidTransition``."""
    if target not in _NEXT[current]:
        raise InvalidTransition(current, target)
    return target


def check_four_eyes(requested_by: str, approved_by: str) -> None:
    if requested_by.casefold() == approved_by.casefold():
        raise FourEyesViolation("the requester cannot approve their own request")


def run_reference(run_id: int, requested_on: date) -> str:
    """What the file name, the drop and the SMS call a run: it names no person."""
    return f"KBX-{requested_on.year}-{run_id:06d}"


def retention_deadline(definition: ProtocolDefinition, delivered_on: date) -> date | None:
    years = definition.retention.years
    return None if years is None else years_before(delivered_on, -years)


def info_sheet(
    definition: ProtocolDefinition,
    *,
    reference: str,
    period: str,
    recipient_name: str,
    built_at: datetime,
    row_count: int,
    lookback_years: int | None,
) -> list[tuple[str, str]]:
    """The second sheet of a file: where it comes from and what the recipient must do with it."""
    deadline = retention_deadline(definition, built_at.astimezone(_BRUSSELS).date())
    retention = (
        f"uiterlijk {deadline:%d.%m.%Y} ({definition.retention.text_nl})"
        if deadline
        else definition.retention.text_nl
    )
    rows = [
        ("Referentie", reference),
        ("Protocol", f"{definition.title_nl} ({definition.id}, versie {definition.version})"),
        ("Bron", definition.source_document),
        ("Rechtsgrond", "; ".join(definition.legal_basis)),
        ("Ontvanger", recipient_name),
        ("Periode", period),
        ("Aangemaakt op", f"{built_at.astimezone(_BRUSSELS):%d.%m.%Y %H:%M}"),
        ("Aantal personen", str(row_count)),
        (
            "Kolommen",
            "; ".join(
                f"{FIELD_CATALOGUE[f.name].label_nl} ({f.article})" for f in definition.fields
            ),
        ),
        ("Bewaartermijn", f"{retention} [{definition.retention.article}]"),
        (
            "Instructie",
            (
                "Plaats dit bestand zo snel mogelijk in een door u gecontroleerde omgeving en "
                "verwijder het daarna van het transportmedium (SFTP-map of e-mail)."
            ),
        ),
        ("Definitie-hash", definition.content_hash),
    ]
    if lookback_years is not None:
        rows.insert(6, ("Terugblik", f"attesten van de laatste {lookback_years} jaar"))
    return rows


def key_sms_text(reference: str, password: str) -> str:
    """The only place a password leaves kbx. It names the file's reference, never a person."""
    return (
        f"AgII - wachtwoord voor bestand {reference}: {password} Deel dit wachtwoord met niemand."
    )


def expiry(delivered_at: datetime, days: int) -> datetime:
    return delivered_at + timedelta(days=days)
