"""The protocols' pages: ``/protocols`` (every definition of the registry) and
``/protocols/{id}``: legal basis, fields with their articles, population, frequency, validity,
channels with their validity, and per recipient the agreement's state on today's date
(``app.flows.agreements.list_agreements``) and the next period a list is allowed
(``app.flows.next_list``). Read-only: whoever may read (``Action.READ``)."""

# No `from __future__ import annotations` here: FastAPI reads the route's annotations at runtime.
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from app.errors import KbxError
from app.flows.agreements import list_agreements
from app.flows.next_list import next_list_periods
from app.flows.roles import Action
from app.web.common import (
    ConsoleRefused,
    CurrentViewer,
    deps_of,
    dutch,
    engine_of,
    new_router,
    page,
    require,
    settings_of,
)
from exchange.fields import FIELD_CATALOGUE

__all__ = ["POPULATIONS_NL", "UNITS_NL", "router"]

POPULATIONS_NL = {
    "registered_residents": "ingeschreven inwoners",
    "contract_signed_since": "inburgeringscontract ondertekend sinds",
    "obligation_unmet_on_january_first": "inburgeringsplicht niet nagekomen op 1 januari",
    "certificate_within_lookback": "attest behaald in de voorbije jaren",
    "consented_residents": "inwoners die toestemming gaven",
}
UNITS_NL = {"calendar_year": "per kalenderjaar", "half_year": "per halfjaar"}
TARGET_GROUPS_NL = {"obliged": "verplichte inburgeraars", "entitled": "rechthebbende inburgeraars"}

router = new_router()


def _labels() -> dict[str, Any]:
    return {
        "POPULATIONS_NL": POPULATIONS_NL,
        "UNITS_NL": UNITS_NL,
        "TARGET_GROUPS_NL": TARGET_GROUPS_NL,
        "FIELDS_NL": {name: info.label_nl for name, info in FIELD_CATALOGUE.items()},
    }


@router.get("/protocols")
def protocol_list(request: Request, me: CurrentViewer) -> Response:
    """Every protocol definition, by id."""
    require(me, Action.READ)
    definitions = sorted(deps_of(request).registry, key=lambda d: d.id)
    return page(request, "protocols.html", me, definitions=definitions, **_labels())


@router.get("/protocols/{protocol_id}")
def protocol_detail(request: Request, me: CurrentViewer, protocol_id: str) -> Response:
    """One protocol and its agreements' states today."""
    require(me, Action.READ)
    registry = deps_of(request).registry
    today = settings_of(request).current_date()
    try:
        definition = registry.require(protocol_id)
        agreements = list_agreements(engine_of(request), registry, today, protocol_id=definition.id)
        next_lists = next_list_periods(
            engine_of(request), registry, definition.id, {a.recipient_id for a in agreements}, today
        )
    except KbxError as exc:
        raise ConsoleRefused(exc.status, dutch(exc)) from exc
    return page(
        request,
        "protocol.html",
        me,
        d=definition,
        agreements=agreements,
        next_lists=next_lists,
        today=today,
        **_labels(),
    )
