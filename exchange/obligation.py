"""The VSB individual check (seed 002, ``vsb-care``): is a person, on a given date, under the
integration obligation without meeting it?

The protocol (art. 3, "individuele dossiers voor het zorgbudget voor zwaar zorgbehoevenden")
lets AgII answer, for one INSZ number and one date (the date the right to the care budget opens):

- gegeven 3: "het antwoord op de vraag of de persoon valt onder de inburgeringsplicht en voldoet
  aan de inburgeringsplicht op de datum van de automatische opening van het recht", processed by
  MAGDA into OK or NOK;
- gegeven 4: "de vermelding van de reden waarom de persoon niet aan de inburgeringsvoorwaarde
  voldoet. Dit wordt alleen ingevuld indien de persoon valt onder de inburgeringsplicht en niet
  voldoet aan de inburgeringsplicht op de datum [...]";
- art. 6: "Er wordt enkel een JA/NEE en vermelding van de reden als het antwoord NEE is,
  doorgegeven".

So the answer is NOK exactly when, on day D, the person

1. *valt onder de inburgeringsplicht*: the obligation has begun, ``obligation_since <= D``; and
2. *voldoet niet aan de inburgeringsplicht*: it has not been met by D, ``obligation_met_on`` is
   unknown or later than D.

Everything else is OK: a person KBI does not know (not an integree, so not obliged), a person who
was never obliged, one whose obligation begins after D, and one who met it on or before D. Both
bounds are inclusive days: an obligation that begins on 1 January makes 1 January NOK and
31 December OK; an obligation met on 1 January makes 31 December NOK and 1 January OK.

This is the same rule as the yearly list of the same protocol (``exchange.selection``,
``obligation_unmet_on_january_first``, with D = 1 January): the check and the list never disagree.
The current ``target_group`` is not consulted: it describes today, not day D; the obligation's
own dates carry its history.

The reason of a NOK says *why* the person does not meet the obligation (gegeven 4: "de
vermelding van de reden waarom de persoon niet aan de inburgeringsvoorwaarde voldoet"), as one of
three fixed categories read from the pathway's own dates on day D, never a date or another fact:

- ``contract.not_signed``: no integration contract signed on or before D;
- ``certificate.not_obtained``: a contract signed on or before D, but no certificate of
  integration obtained on or before D;
- ``obligation.not_met``: a certificate obtained on or before D, yet the obligation is not
  recorded as met on D (the obligation asks more than the certificate, e.g. the Dutch level).

The condition itself only exists from 1 January 2022 (seed 002, overweging D: "Vanaf 1 januari
2022 is een bijkomende voorwaarde voor het verkrijgen van een zorgbudget voor zwaar
zorgbehoevenden ..."; overweging E: "die vanaf 1 januari 2022 een beroep wensen te doen"): a day
before ``CONDITION_START`` is outside the protocol's scope and is not answered (``in_scope``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

__all__ = [
    "CONDITION_START",
    "NOK_REASONS",
    "Check",
    "NokReason",
    "ObligationFacts",
    "Outcome",
    "check_obligation",
    "in_scope",
    "nok_reason",
    "obliged_and_not_compliant",
]

# Seed 002, overweging D: the condition applies "vanaf 1 januari 2022".
CONDITION_START = date(2022, 1, 1)


class Outcome(enum.StrEnum):
    OK = "OK"
    NOK = "NOK"


@dataclass(frozen=True, slots=True)
class NokReason:
    """Why a person does not meet the obligation on a day: a stable ``code`` and one fixed
    sentence in Dutch (``nl``) and English (``en``); never a fact of the person."""

    code: str
    nl: str
    en: str


# The categories, in the order of the pathway (seed 002, art. 3, gegeven 4).
NOK_REASONS: dict[str, NokReason] = {
    r.code: r
    for r in (
        NokReason(
            "contract.not_signed",
            "Valt op de gevraagde datum onder de inburgeringsplicht en heeft op die datum geen "
            "inburgeringscontract ondertekend.",
            "Under the integration obligation on the date asked, and no integration contract "
            "signed by that date.",
        ),
        NokReason(
            "certificate.not_obtained",
            "Valt op de gevraagde datum onder de inburgeringsplicht; het inburgeringscontract is "
            "ondertekend, maar op die datum is geen attest van inburgering behaald.",
            "Under the integration obligation on the date asked; the integration contract is "
            "signed, but no certificate of integration was obtained by that date.",
        ),
        NokReason(
            "obligation.not_met",
            "Valt op de gevraagde datum onder de inburgeringsplicht; het attest van inburgering "
            "is behaald, maar op die datum is nog niet aan de volledige inburgeringsplicht "
            "voldaan.",
            "Under the integration obligation on the date asked; the certificate of integration "
            "was obtained, but the whole integration obligation was not yet met by that date.",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class ObligationFacts:
    """What KBI knows of one person's integration obligation and pathway (days, or None)."""

    obligation_since: date | None  # the day the obligation began; None: never obliged
    obligation_met_on: date | None  # the day it was met; None: not (yet) met
    contract_signed_on: date | None = None  # the integration contract; None: not signed
    certificate_on: date | None = None  # the certificate of integration; None: not obtained


@dataclass(frozen=True, slots=True)
class Check:
    outcome: Outcome
    reason: NokReason | None = None  # only for NOK

    @property
    def reason_nl(self) -> str | None:
        return self.reason.nl if self.reason else None

    @property
    def is_nok(self) -> bool:
        return self.outcome is Outcome.NOK


_OK = Check(Outcome.OK)


def in_scope(day: date) -> bool:
    """Whether ``day`` lies in the check's scope: on or after 1 January 2022 (seed 002,
    overweging D and E), the day the integration condition of the care budget began."""
    return day >= CONDITION_START


def obliged_and_not_compliant(facts: ObligationFacts, day: date) -> bool:
    """``obligation_since <= day`` and not ``obligation_met_on <= day``."""
    since, met = facts.obligation_since, facts.obligation_met_on
    return since is not None and since <= day and (met is None or met > day)


def _on_or_before(when: date | None, day: date) -> bool:
    return when is not None and when <= day


def nok_reason(facts: ObligationFacts, day: date) -> NokReason:
    """Why ``facts`` do not meet the obligation on ``day`` (call it only for a NOK): the first
    step of the pathway (contract, then certificate) not reached by ``day``; both reached,
    ``obligation.not_met``. Seed 002, art. 3, gegeven 4."""
    if not _on_or_before(facts.contract_signed_on, day):
        return NOK_REASONS["contract.not_signed"]
    if not _on_or_before(facts.certificate_on, day):
        return NOK_REASONS["certificate.not_obtained"]
    return NOK_REASONS["obligation.not_met"]


def check_obligation(facts: ObligationFacts | None, day: date) -> Check:
    """OK or NOK (with its reason) for one person on ``day``; ``None`` is a person KBI does not
    know, who is not obliged: OK. Seed 002, art. 3, gegeven 3 and 4; art. 6."""
    if facts is not None and obliged_and_not_compliant(facts, day):
        return Check(Outcome.NOK, nok_reason(facts, day))
    return _OK
