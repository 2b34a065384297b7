"""The statuses of a key SMS and their order (pure).

Twilio reports a message's life as ``accepted`` (a messaging service took it) -> ``queued`` ->
``sending`` -> ``sent`` -> one of ``delivered``, ``undelivered`` or ``failed``, the terminal ones.
Its status callbacks can arrive out of order and more than once, so a status only ever moves
forward: a late ``sent`` after ``delivered`` changes nothing, and a terminal status is final.

kbx adds one status of its own before all of them: ``unknown``, an attempt whose outcome kbx does
not know (the create call timed out, or the process died around it). Such an attempt is looked up
at the provider before the key is sent again.
"""

from __future__ import annotations

__all__ = [
    "DELIVERED",
    "FAILED",
    "NOT_DELIVERED",
    "STATUSES",
    "TERMINAL",
    "UNKNOWN",
    "advance",
    "is_terminal",
]

UNKNOWN = "unknown"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"
FAILED = "failed"

# Rank in a message's life; equal ranks do not replace each other.
_RANK = {
    UNKNOWN: 0,
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    DELIVERED: 5,
    UNDELIVERED: 5,
    FAILED: 5,
    "canceled": 5,  # a scheduled message cancelled before it left
}
STATUSES = frozenset(_RANK)
TERMINAL = frozenset({DELIVERED, UNDELIVERED, FAILED, "canceled"})
# The key did not reach the contact: the operator is alerted and may ask for a (four-eyes) resend.
NOT_DELIVERED = frozenset({UNDELIVERED, FAILED, "canceled"})


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def advance(current: str, new: str) -> str:
    """The status after ``new`` is reported for a message at ``current``: ``new`` when it comes
    later in a message's life, else ``current``. A status kbx does not know (Twilio's
    ``read`` or ``partially_delivered``, or a misspelling) changes nothing."""
    if new not in _RANK or current in TERMINAL:
        return current
    if current not in _RANK or _RANK[new] > _RANK[current]:
        return new
    return current
