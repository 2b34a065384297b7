"""Population selection: one SQL statement per export, built from the protocol definition.

The statement yields only the people in the protocol's population for that recipient and period,
and only the columns the definition lists, in its order. It is built here (pure) and executed at
the edge with streaming, so that no list of rows is ever held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    case,
    false,
    null,
    or_,
    select,
    true,
)
from sqlalchemy import func as sa_func

from exchange.models import Integree
from exchange.periods import Period
from exchange.protocols import (
    CertificateWithinLookback,
    ConsentedResidents,
    ContractSignedSince,
    ObligationUnmetOnJanuaryFirst,
    ProtocolDefinition,
    RegisteredResidents,
)

__all__ = ["SelectionRequest", "build_count", "build_selection", "column_of", "years_before"]


@dataclass(frozen=True, slots=True)
class SelectionRequest:
    recipient_id: str
    period: Period
    today: date
    lookback_years: int | None = None
    # The day the recipient's previous list under this protocol was made: a certificate-based
    # list takes only certificates after it, so no person goes twice to the same municipality
    # (seed 003 rn. 42), whatever the days the lists were made on.
    previous_list_on: date | None = None


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return case((condition, true()), else_=false()).cast(Boolean)


def _age_category(as_of: date) -> ColumnElement[str]:
    # Bounds are computed here so that the SQL is the same on SQLite and PostgreSQL. An unknown
    # birth date (the national number says so) gives an unknown category, never "55+".
    b = Integree.birth_date
    return case(
        (b.is_(None), null()),
        (b > years_before(as_of, 18), "<18"),
        (b > years_before(as_of, 25), "18-24"),
        (b > years_before(as_of, 35), "25-34"),
        (b > years_before(as_of, 45), "35-44"),
        (b > years_before(as_of, 55), "45-54"),
        else_="55+",
    )


_Column = Callable[[date], ColumnElement[Any]]

# How each catalogue field is read from the store; ``as_of`` is the date the list describes.
_COLUMNS: dict[str, _Column] = {
    "contract_signed": lambda as_of: _flag(
        and_(Integree.contract_signed_on.is_not(None), Integree.contract_signed_on <= as_of)
    ),
    "certificate_obtained": lambda as_of: _flag(
        and_(Integree.certificate_on.is_not(None), Integree.certificate_on <= as_of)
    ),
    "age_category": _age_category,
}


def column_of(name: str, as_of: date) -> ColumnElement[Any]:
    """The SQL expression of catalogue field ``name`` as of ``as_of`` (derived fields such as an
    age category are computed on that date), labelled with the field's name."""
    if name in _COLUMNS:
        return _COLUMNS[name](as_of).label(name)
    column: ColumnElement[Any] = getattr(Integree, name)
    return column.label(name)


def _population(
    definition: ProtocolDefinition, request: SelectionRequest
) -> tuple[list[ColumnElement[bool]], date]:
    """The WHERE conditions of the protocol's population, and the date the list describes."""
    rule = definition.population
    today = request.today
    conditions: list[ColumnElement[bool]] = []
    if definition.recipients.national_register_only:
        conditions.append(Integree.number_kind == "nn")
    match rule:
        case RegisteredResidents():
            conditions += [
                Integree.nis_code == request.recipient_id,
                Integree.target_group.in_(rule.target_groups),
            ]
            return conditions, today
        case ContractSignedSince():
            as_of = min(today, request.period.end)
            conditions += [
                Integree.contract_signed_on >= rule.since,
                Integree.contract_signed_on <= as_of,
            ]
            return conditions, as_of
        case ObligationUnmetOnJanuaryFirst():
            january_first = date(request.period.year, 1, 1)
            conditions += [
                Integree.obligation_since <= january_first,
                or_(
                    Integree.obligation_met_on.is_(None),
                    Integree.obligation_met_on > january_first,
                ),
            ]
            return conditions, january_first
        case CertificateWithinLookback():
            years = request.lookback_years or rule.default_lookback_years
            since = years_before(today, years)
            if request.previous_list_on is not None:
                since = max(since, request.previous_list_on)
            conditions += [
                Integree.nis_code == request.recipient_id,
                Integree.certificate_on > since,
                Integree.certificate_on <= today,
            ]
            return conditions, today
        case ConsentedResidents():
            conditions += [
                Integree.nis_code == request.recipient_id,
                Integree.pilot_consent.is_(True),
            ]
            return conditions, today


def build_selection(definition: ProtocolDefinition, request: SelectionRequest) -> Select[Any]:
    """SELECT the definition's fields, in its order, for the population, in a stable order."""
    conditions, as_of = _population(definition, request)
    columns = [column_of(name, as_of) for name in definition.field_names]
    return select(*columns).where(and_(*conditions)).order_by(Integree.national_number)


def build_count(definition: ProtocolDefinition, request: SelectionRequest) -> Select[int]:
    conditions, _ = _population(definition, request)
    return select(sa_func.count()).select_from(Integree).where(and_(*conditions))
