"""Free text that staff type into records that last: an art. 20 request's reference, an
agreement's reason, article and document reference, a contact's name. The audit trail keeps
them for good (it is append-only and hash-chained) and a document reference goes onto the files,
so none may hold an integree's national number, in whatever form it is written.

A Belgian national number (INSZ) has eleven digits, written plain (``85073003328``) or grouped as
``85.07.30-033.28`` / ``850730 033 28``; a run of ten or more digits is refused as well (a number
with a digit missing is still personal data).
"""

from __future__ import annotations

import re

__all__ = ["may_hold_national_number"]

_SEPARATOR = r"[ .\-/]?"
_GROUPED = re.compile(
    rf"(?<!\d)\d{{2}}{_SEPARATOR}\d{{2}}{_SEPARATOR}\d{{2}}{_SEPARATOR}\d{{3}}{_SEPARATOR}\d{{2}}(?!\d)"
)
_LONG_NUMBER = re.compile(r"\d{10}")


def may_hold_national_number(text: str) -> bool:
    """Whether ``text`` holds ten or more digits in a row, or eleven digits grouped as a
    national number is written (2-2-2-3-2, each group separated by at most one space, dot,
    hyphen or slash)."""
    return bool(_LONG_NUMBER.search(text) or _GROUPED.search(text))
