"""The individual check of ``vsb-care`` (seed 002, art. 3): is this person, on this date, under
the integration obligation without meeting it? OK or NOK, and nothing else about the person.

The rule itself is the domain's (``exchange.obligation.check_obligation``); this flow checks the
protocol is in force and the input is a real INSZ number and a known day, reads the two facts
from the store, and audits the call with the caller, the result and a keyed pseudonym of the
number (never the number), in one transaction. The API's route calls it and shapes the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, select

from app.errors import Conflict, KbxError
from app.flows.deps import ExportDeps
from app.store.audit import record
from app.store.db import transaction
from crypto.pseudonyms import Pseudonymiser
from exchange.models import Integree
from exchange.national_number import NumberProblem, parse_national_number
from exchange.obligation import (
    CONDITION_START,
    Check,
    ObligationFacts,
    check_obligation,
    in_scope,
)

__all__ = ["PROTOCOL_ID", "CheckInputRefused", "DateOutOfScope", "check_integration_obligation"]

PROTOCOL_ID = "vsb-care"


@dataclass(frozen=True)
class CheckInputRefused(Exception):
    """The number or the date cannot be checked: ``field`` (``national_number`` or ``date``),
    a stable ``rule`` (``national_number.checksum``, ``date.in_future``, ...) and an English
    ``message`` that never repeats the value."""

    field: str
    rule: str
    message: str


class DateOutOfScope(KbxError):
    """A day before the integration condition began (seed 002, overweging D: 1 January 2022):
    the protocol does not cover it, so it is not answered."""

    status = 422
    exit_code = 2


def check_integration_obligation(
    engine: Engine,
    deps: ExportDeps,
    pseudonymiser: Pseudonymiser,
    *,
    caller: str,
    national_number: str,
    on: date,
) -> Check:
    """The answer for ``national_number`` on ``on`` (a Brussels date, today at the latest).

    Raises ``Conflict`` (``check.not_in_force``) outside the protocol's validity,
    ``CheckInputRefused`` for a number that is no INSZ or a date after today, ``DateOutOfScope``
    (``check.date_out_of_scope``) for a date before 1 January 2022 (seed 002, overweging D)."""
    today = deps.settings.current_date()
    definition = deps.registry.get(PROTOCOL_ID)
    if definition is None or not definition.validity.contains(today):
        raise Conflict(
            "check.not_in_force",
            f"the {PROTOCOL_ID} protocol is not in force on {today.isoformat()}",
            f"het protocol {PROTOCOL_ID} is op {today.isoformat()} niet van kracht",
        )
    parsed = parse_national_number(national_number, today)
    if isinstance(parsed, NumberProblem):
        raise CheckInputRefused("national_number", parsed.value, "not a valid INSZ number")
    if on > today:
        raise CheckInputRefused(
            "date", "date.in_future", "the facts of a day after today are not known"
        )
    if not in_scope(on):
        start = CONDITION_START
        raise DateOutOfScope(
            "check.date_out_of_scope",
            f"the integration condition applies from {start.isoformat()} on "
            "(VSB protocol, recital D); an earlier date is not answered",
            f"de inburgeringsvoorwaarde geldt pas vanaf {start.strftime('%d.%m.%Y')} "
            "(overweging D van het protocol); een vroegere datum wordt niet beantwoord",
        )
    with transaction(engine) as session:
        found = session.execute(
            select(
                Integree.obligation_since,
                Integree.obligation_met_on,
                Integree.contract_signed_on,
                Integree.certificate_on,
            ).where(Integree.national_number == parsed.number)
        ).first()
        facts = ObligationFacts(*found) if found is not None else None
        answer = check_obligation(facts, on)
        record(
            session,
            actor=caller,
            action="check.integration_obligation",
            subject=f"pseudonym:{pseudonymiser(parsed.number)}",
            details={
                "result": answer.outcome.value,
                **({"reason": answer.reason.code} if answer.reason else {}),
                "pseudonym_key_id": pseudonymiser.key_id,
            },
            now=deps.settings.now(),
        )
    return answer
