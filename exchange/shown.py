"""What kbx may repeat of a value somebody typed, in an error message or a log line.

Identifiers (a NIS code, a protocol id, a period) are worth repeating: they make the message
useful. A mistyped field can also hold a national number (11 digits) or a name; a value with a
run of six or more digits, or with characters no identifier has, is not repeated.
"""

from __future__ import annotations

import re

__all__ = ["NOT_SHOWN", "NOT_SHOWN_NL", "in_dutch", "shown", "shown_nl"]

NOT_SHOWN = "(value not shown)"
NOT_SHOWN_NL = "(waarde niet getoond)"

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}")
_DIGIT_RUN = re.compile(r"\d{6}")


def shown(value: str) -> str:
    """``value`` when it looks like an identifier (and holds no run of six digits), else
    ``NOT_SHOWN``."""
    if _IDENTIFIER.fullmatch(value) and not _DIGIT_RUN.search(value):
        return value
    return NOT_SHOWN


def shown_nl(value: str) -> str:
    """``shown`` for a Dutch sentence: ``NOT_SHOWN_NL`` in place of the English words."""
    return in_dutch(shown(value))


def in_dutch(text: str) -> str:
    """A Dutch message built with ``shown``: its English placeholder in Dutch."""
    return text.replace(NOT_SHOWN, NOT_SHOWN_NL)
