"""When each recipient of a protocol may next have a list: the console's *Protocollen* page.

The rule is the policy's (``exchange.policy.next_list_period``); this module only reads what the
policy needs from the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import Engine

from app.registry import Registry
from app.store.db import reading
from app.store.recipients import recipient_facts, run_history
from exchange.periods import Period
from exchange.policy import next_list_period

__all__ = ["next_list_periods"]


def next_list_periods(
    engine: Engine,
    registry: Registry,
    protocol_id: str,
    recipient_ids: Iterable[str],
    today: date,
) -> dict[str, Period | None]:
    """Per recipient id, the first period from the one running on ``today`` (Brussels) for which
    ``protocol_id`` allows it a list, or None when none of the next periods does. Two queries
    per recipient. Raises ``NotFound`` for an unknown protocol or recipient."""
    definition = registry.require(protocol_id)
    with reading(engine) as session:
        return {
            recipient_id: next_list_period(
                definition,
                recipient_facts(session, recipient_id),
                today,
                run_history(session, protocol_id, recipient_id),
            )
            for recipient_id in recipient_ids
        }
