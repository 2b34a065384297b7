"""The reason an approver gives when they reject: an export run someone else requested
(``app.flows.exports.cancel``) or a change to a recipient someone else proposed
(``app.flows.recipient_changes.decide``). The CLI (``--reason``), the API (the body's ``reason``)
and the console ("Reden van afwijzing") all pass what was typed to ``rejection_reason``: the rule
lives here once.

The reason is kept in the audit event's details, and the audit trail lasts for good (append-only,
hash-chained), so it must never hold an integree's national number
(``exchange.free_text.may_hold_national_number``). A refusal says what is wrong without repeating
the text.
"""

from __future__ import annotations

from app.errors import InvalidInput
from exchange.free_text import may_hold_national_number

__all__ = ["REASON_CODES", "REASON_MAX", "REASON_MIN", "rejection_reason"]

REASON_MIN = 3  # characters, after stripping
REASON_MAX = 300
# The codes ``rejection_reason`` refuses with: a front end shows its form again beside them.
REASON_CODES = frozenset(
    {"rejection.reason_missing", "rejection.reason_invalid", "rejection.reason_national_number"}
)


def rejection_reason(text: str | None, *, required: bool = True) -> str | None:
    """The reason as it is recorded: every run of white space one space, none at either end
    (the length is counted on that: a browser sends a line break as two characters). ``None``
    when ``text`` is absent or blank and ``required`` is false (a requester cancelling their
    own run need not say why; when they do, the same rule holds).

    Raises ``InvalidInput``: ``rejection.reason_missing`` (absent or blank while required),
    ``rejection.reason_invalid`` (fewer than ``REASON_MIN`` or more than ``REASON_MAX``
    characters as recorded, or a character that cannot be printed),
    ``rejection.reason_national_number`` (it may hold a national number)."""
    reason = " ".join((text or "").split())
    if not reason:
        if not required:
            return None
        raise InvalidInput(
            "rejection.reason_missing",
            "a rejection needs a reason",
            "Een afwijzing heeft een reden nodig: vul de reden van afwijzing in",
        )
    # First: whatever else is wrong, a text that may hold a national number is refused as
    # such, so that no front end shows it back to correct.
    if may_hold_national_number(reason):
        raise InvalidInput(
            "rejection.reason_national_number",
            "the reason holds a number that could be a national number; "
            "the audit trail keeps it for good",
            "De reden van afwijzing bevat een getal dat een rijksregisternummer zou kunnen zijn "
            "(de audittrail bewaart ze voor altijd): laat het nummer weg",
        )
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise InvalidInput(
            "rejection.reason_invalid",
            f"the reason must be {REASON_MIN} to {REASON_MAX} characters long",
            f"De reden van afwijzing moet {REASON_MIN} tot {REASON_MAX} tekens lang zijn",
        )
    if not reason.isprintable():
        raise InvalidInput(
            "rejection.reason_invalid",
            "the reason holds a character that cannot be printed",
            "De reden van afwijzing bevat een teken dat niet afdrukbaar is",
        )
    return reason
