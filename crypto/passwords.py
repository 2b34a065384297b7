"""One-time passwords for sealed files, sent by SMS and typed by hand by the recipient.

Format: 5 groups of 5 characters from a 31-character alphabet, joined by ``-``, for example
``k7wq3-hx9ta-m4rcz-2npve-y8bdf``. That is 25 * log2(31) ≈ 123.9 bits of entropy: far beyond
brute force even before the key derivation of the file format adds its own cost. Lowercase and
digits only, so a phone keyboard never needs the shift key, and without the characters people
confuse when reading an SMS aloud or copying it (0/o, 1/l/i).
"""

from __future__ import annotations

import math
import secrets

__all__ = ["ALPHABET", "GROUPS", "GROUP_LENGTH", "PASSWORD_ENTROPY_BITS", "new_password"]

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
GROUPS = 5
GROUP_LENGTH = 5
PASSWORD_ENTROPY_BITS = GROUPS * GROUP_LENGTH * math.log2(len(ALPHABET))


def new_password() -> str:
    return "-".join(
        "".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS)
    )
