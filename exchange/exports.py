"""Export runs: the state machine and the rules around it. Pure; the edge persists each
transition together with its audit event in one transaction.

    requested -> approved -> built -> delivered -> key_sent -> fetched -> purged
    plus refused (by policy, at request), cancelled (before build) and failed; a run with a
    return leg (VDAB) ends in returned once the recipient's file is back and processed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from exchange.fields import FIELD_CATALOGUE
from exchange.protocols import ProtocolDefinition, RecipientRequirement, term_end

__all__ = [
    "STATES_NL",
    "FourEyesViolation",
    "InfoValue",
    "InvalidTransition",
    "OwnAgreement",
    "RunState",
    "can_move",
    "check_four_eyes",
    "expiry",
    "info_sheet",
    "key_sms_text",
    "may_cancel",
    "readme_text",
    "retention_deadline",
    "retention_line",
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


# How a person reads a run's state (nl-BE): the console's pages, the Dutch messages.
STATES_NL: dict[str, str] = {
    RunState.REQUESTED: "aangevraagd",
    RunState.APPROVED: "goedgekeurd",
    RunState.BUILT: "aangemaakt",
    RunState.DELIVERED: "afgeleverd",
    RunState.KEY_SENT: "sleutel verstuurd",
    RunState.FETCHED: "opgehaald",
    RunState.PURGED: "verwijderd",
    RunState.REFUSED: "geweigerd",
    RunState.CANCELLED: "geannuleerd",
    RunState.FAILED: "mislukt",
    RunState.RETURNED: "teruggekomen",
}


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


def may_cancel(state: RunState, requested_by: str, by: str, *, approver: bool) -> bool:
    """Whether ``by`` may stop a run in ``state`` that ``requested_by`` asked for: its requester
    while it can still be cancelled (requested or approved: nothing built yet), or someone else
    who may approve (``approver``) while it waits for approval; that is a rejection, the other
    half of four eyes. Nobody else: an operator does not withdraw a colleague's request."""
    if not can_move(state, RunState.CANCELLED):
        return False
    if requested_by.casefold() == by.casefold():
        return True
    return approver and state is RunState.REQUESTED


def run_reference(run_id: int, requested_on: date) -> str:
    """What the file name, the drop and the SMS call a run: it names no person."""
    return f"KBX-{requested_on.year}-{run_id:06d}"


def retention_deadline(definition: ProtocolDefinition, made_on: date) -> date | None:
    """The last day the recipient may keep a file made on ``made_on`` (a Brussels date): "niet
    langer dan vijf jaar" is a term of ``[retention] years`` that begins that day, so it ends the
    day before the same calendar day ``years`` later (``exchange.protocols.term_end``, the one
    reading of a term kbx has: 23.11.2026 keeps up to and including 22.11.2031). ``None`` when
    the source text gives no period, or counts it from an event kbx does not know (seed 001
    art. 3: the end of the cooperation agreement)."""
    retention = definition.retention
    if retention.years is None or retention.counted_from != "file":
        return None
    return term_end(made_on, retention.years)


def retention_line(definition: ProtocolDefinition, made_on: date) -> str:
    """What a file says about keeping it: "bewaren tot uiterlijk DD.MM.YYYY: <the source's words>
    [article]", or the source's words and article alone when it gives no date."""
    retention = definition.retention
    deadline = retention_deadline(definition, made_on)
    said = f"{retention.text_nl} [{retention.article}]"
    return f"bewaren tot uiterlijk {deadline:%d.%m.%Y}: {said}" if deadline else said


@dataclass(frozen=True, slots=True)
class OwnAgreement:
    """The recipient's own signed copy of a protocol, or its accession to a deliberation: what
    its files name as their basis (a recorded agreement, or a definition's ``[[instances]]``)."""

    kind: RecipientRequirement  # SIGNATURE or ACCESSION
    signed_on: date
    document: str | None  # the recipient's document reference; None: none was recorded


# A value of the information sheet: text, a whole number, a date, or a naive Brussels date-time.
InfoValue = str | int | date | datetime


def _basis_rows(
    definition: ProtocolDefinition, agreement: OwnAgreement | None
) -> list[tuple[str, InfoValue]]:
    """Which signed text the file rests on. A municipality's own signed copy replaces the copy
    the definition was written from (art20-municipal: Lommel's); an accession comes next to the
    deliberation; an agency's file names its protocol (parties, title, date)."""
    if agreement is None:
        return [("Protocoldocument", definition.source_document)]
    missing = "(geen documentreferentie geregistreerd)"
    if agreement.kind is RecipientRequirement.ACCESSION:
        return [
            ("Beraadslaging", definition.source_document),
            ("Uw toetreding", agreement.document or missing),
            ("Toetreding ondertekend op", agreement.signed_on),
        ]
    return [
        ("Uw ondertekend protocol", agreement.document or missing),
        ("Ondertekend op", agreement.signed_on),
    ]


def info_sheet(
    definition: ProtocolDefinition,
    *,
    reference: str,
    period: str,
    recipient_name: str,
    built_at: datetime,
    row_count: int,
    lookback_years: int | None,
    agreement: OwnAgreement | None = None,
    field_names: bool = False,
    columns: Sequence[str] | None = None,
) -> list[tuple[str, InfoValue]]:
    """What a file says about itself: (label, value) rows of the "Info" sheet of a workbook,
    and the lines of the ``LEESMIJ.txt`` next to a CSV (``readme_text``).

    ``built_at`` is an aware date-time; the file shows it as a naive Brussels date-time (a
    cell has no zone), and the retention deadline counts from its Brussels date. ``agreement``
    is the recipient's own signed copy or accession (``None`` for an agency). With
    ``field_names`` the columns are listed by their CSV names; ``columns`` replaces the list for
    a file whose columns are not the definition's fields (the pseudonymised dataset of
    ``vdab-pillar3``). Never a repository path or an internal note: every text comes from the
    definition's recipient-facing fields."""
    local = built_at.astimezone(_BRUSSELS)
    rows: list[tuple[str, InfoValue]] = [
        ("Referentie", reference),
        ("Protocol", f"{definition.title_nl} ({definition.id}, versie {definition.version})"),
        ("Definitie-hash", definition.content_hash),
        *_basis_rows(definition, agreement),
        ("Rechtsgrond", "; ".join(definition.legal_basis)),
        ("Ontvanger", recipient_name),
        ("Periode", period),
    ]
    if lookback_years is not None:
        rows.append(("Terugblik", f"attesten van de laatste {lookback_years} jaar"))
    if columns is None:
        columns = [
            (f"{f.name}: " if field_names else "")
            + f"{FIELD_CATALOGUE[f.name].label_nl} ({f.article})"
            for f in definition.fields
        ]
    rows += [
        ("Aangemaakt op", local.replace(tzinfo=None, microsecond=0)),
        ("Aantal personen", row_count),
        ("Kolommen", "; ".join(columns)),
        ("Bewaartermijn", retention_line(definition, local.date())),
        (
            "Instructie",
            (
                "Plaats dit bestand zo snel mogelijk in een door u gecontroleerde omgeving en "
                "verwijder het daarna van het transportmedium (SFTP-map of e-mail)."
            ),
        ),
    ]
    return rows


def _readme_value(value: InfoValue) -> str:
    if isinstance(value, datetime):
        return f"{value:%d.%m.%Y %H:%M} (Brusselse tijd)"
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    return str(value)


def readme_text(info: list[tuple[str, InfoValue]], data_file: str) -> str:
    """The ``LEESMIJ.txt`` next to ``data_file`` (a CSV) in an archive: the same facts as a
    workbook's "Info" sheet, one "label: value" per line (LF; the archive writer makes CRLF)."""
    lines = [
        f"Agentschap Integratie en Inburgering - {data_file}",
        "",
        *(f"{label}: {_readme_value(value)}" for label, value in info),
        "",
        f"Het bestand {data_file} is UTF-8, met komma's gescheiden; de eerste regel noemt de "
        "kolommen.",
    ]
    return "\n".join(lines) + "\n"


def key_sms_text(reference: str, password: str) -> str:
    """The only place a password leaves kbx. It names the file's reference, never a person."""
    return (
        f"AgII - wachtwoord voor bestand {reference}: {password} Deel dit wachtwoord met niemand."
    )


def expiry(delivered_at: datetime, days: int) -> datetime:
    return delivered_at + timedelta(days=days)
