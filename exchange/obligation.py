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

The reason of a NOK is one fixed Dutch sentence that states the rule, never a fact of the person
(no date, no stage of the pathway): the protocol allows a reason, not a file.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

__all__ = [
    "NOK_REASON_NL",
    "Check",
    "ObligationFacts",
    "Outcome",
    "check_obligation",
    "obliged_and_not_compliant",
]

NOK_REASON_NL = (
    "Valt op de gevraagde datum onder de inburgeringsplicht en voldoet er niet aan "
    "(decreet van 7 juni 2013 betreffende het Vlaamse integratie- en inburgeringsbeleid)."
)


class Outcome(enum.StrEnum):
    OK = "OK"
    NOK = "NOK"


@dataclass(frozen=True, slots=True)
class ObligationFacts:
    """What KBI knows of one person's integration obligation."""

    obligation_since: date | None  # the day the obligation began; None: never obliged
    obligation_met_on: date | None  # the day it was met; None: not (yet) met


@dataclass(frozen=True, slots=True)
class Check:
    outcome: Outcome
    reason_nl: str | None = None  # only for NOK

    @property
    def is_nok(self) -> bool:
        return self.outcome is Outcome.NOK


_OK = Check(Outcome.OK)
_NOK = Check(Outcome.NOK, NOK_REASON_NL)


def obliged_and_not_compliant(facts: ObligationFacts, day: date) -> bool:
    """``obligation_since <= day`` and not ``obligation_met_on <= day``."""
    since, met = facts.obligation_since, facts.obligation_met_on
    return since is not None and since <= day and (met is None or met > day)


def check_obligation(facts: ObligationFacts | None, day: date) -> Check:
    """OK or NOK (with its reason) for one person on ``day``; ``None`` is a person KBI does not
    know, who is not obliged: OK."""
    if facts is not None and obliged_and_not_compliant(facts, day):
        return _NOK
    return _OK
