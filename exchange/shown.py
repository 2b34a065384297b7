"""What kbx may repeat of a value somebody typed, in an error message or a log line.

Identifiers (a NIS code, a protocol id, a period) are worth repeating: they make the message
useful. A mistyped field can also hold a national number (11 digits) or a name; a value with a
run of six or more digits, or with characters no identifier has, is not repeated.
"""

from __future__ import annotations

import re

__all__ = ["shown"]

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}")
_DIGIT_RUN = re.compile(r"\d{6}")


def shown(value: str) -> str:
    if _IDENTIFIER.fullmatch(value) and not _DIGIT_RUN.search(value):
        return value
    return "(value not shown)"
