"""Brussels time, the one zone kbx shows people: tables, files, JSON and the API give every
instant in it, with its offset. kbx stores instants in UTC (a naive value read back from SQLite
is UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["BRUSSELS", "in_brussels"]

BRUSSELS = ZoneInfo("Europe/Brussels")


def in_brussels(moment: datetime) -> datetime:
    """``moment`` as an aware datetime in Europe/Brussels (CET/CEST); naive means UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(BRUSSELS)
