"""Free text that staff type into records that last: an art. 20 request's reference, an
agreement's reason, article and document reference, a contact's name. The audit trail keeps
them for good (it is append-only and hash-chained) and a document reference goes onto the files,
so none may hold an integree's national number, in whatever form it is written.

A Belgian national number (INSZ) has eleven digits, written plain (``85073003328``) or grouped as
``85.07.30-033.28`` / ``850730 033 28``; a run of ten or more digits is refused as well (a number
with a digit missing is still personal data). People group the digits in other ways too
(``8507 3003 328``, ``85,07,30,033,28``, ``85.07.30 - 033.28``): any eleven digits joined by short
runs of anything but letters and digits are refused when they carry a national number's check
digits (``exchange.national_number``: 97 minus the first nine digits, or ``"2"`` and them, mod 97).
The check keeps dates, times and run references (``KBX-2026-000017``: ten digits) out: about one
eleven-digit window in fifty has valid check digits by chance.
"""

from __future__ import annotations

import re

__all__ = ["may_hold_national_number"]

_SEPARATOR = r"[ .\-/]?"
_GROUPED = re.compile(
    rf"(?<!\d)\d{{2}}{_SEPARATOR}\d{{2}}{_SEPARATOR}\d{{2}}{_SEPARATOR}\d{{3}}{_SEPARATOR}\d{{2}}(?!\d)"
)
_LONG_NUMBER = re.compile(r"\d{10}")
# Digits joined by runs of at most three characters that are neither letters nor digits.
_JOINED_DIGITS = re.compile(r"\d(?:[\W_]{1,3}\d|\d)*")


def _has_check_digits(eleven: str) -> bool:
    nine, check = int(eleven[:9]), int(eleven[9:])
    return 97 - nine % 97 == check or 97 - int("2" + eleven[:9]) % 97 == check


def _joined_national_number(text: str) -> bool:
    for found in _JOINED_DIGITS.finditer(text):
        digits = "".join(str(int(c)) for c in found.group() if c.isdecimal())
        windows = (digits[i : i + 11] for i in range(len(digits) - 10))
        if any(_has_check_digits(window) for window in windows):
            return True
    return False


def may_hold_national_number(text: str) -> bool:
    """Whether ``text`` holds ten or more digits in a row; eleven digits grouped as a national
    number is written (2-2-2-3-2, each group separated by at most one space, dot, hyphen or
    slash); or eleven digits joined by any short separators (at most three characters that are
    neither letters nor digits between two digits) that carry a national number's check
    digits."""
    return bool(_LONG_NUMBER.search(text) or _GROUPED.search(text) or _joined_national_number(text))
