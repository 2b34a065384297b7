"""Keyed pseudonyms of national numbers: HMAC-SHA-256 under a secret key, as lowercase hex.

``pseudonym = hex(HMAC-SHA-256(key, purpose || 0x00 || national_number))``: 64 hex characters.
The same key and purpose always give the same pseudonym (so the BI working group can compare one
half year's dataset with the next), and without the key nobody can compute one from a national
number, not even by trying all 10^11 of them, which a plain hash would allow in hours.

The purpose separates uses of the one key: the BI dataset (``bi-dataset``) and the audit trail of
the VSB check (``audit``) get different pseudonyms for the same person, so neither can be joined
to the other by someone who holds only the two tables.

A key is known by its id, ``HMAC-SHA-256(key, "kbx pseudonym key id")`` cut to 16 hex digits:
datasets and audit events record it, so it is clear which key made a pseudonym, and rotating the
key (a new random key) is visible as a new id. The id reveals nothing of the key.

The key is 32 random bytes, given as base64 in ``KBX_PSEUDONYM_KEY``; in development only it may
live in a key file (mode 0600) that is created when missing. Same pattern as ``crypto.vault``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from crypto.key_files import KEY_BYTES, KeyFileError, KeySource

__all__ = [
    "KEY_BYTES",
    "PseudonymKeyError",
    "Pseudonymiser",
    "Purpose",
    "key_id",
    "load_pseudonym_key",
    "new_pseudonym_key",
    "replace_key_file",
]

_KEY_ID_LABEL = b"kbx pseudonym key id"
_ENV = "KBX_PSEUDONYM_KEY"
_ELEVEN_DIGITS = re.compile(r"[0-9]{11}")


class PseudonymKeyError(Exception):
    """A pseudonym key kbx cannot use; the message says why and never contains the key."""


class Purpose(enum.StrEnum):
    BI_DATASET = "bi-dataset"  # the vdab-pillar3 dataset for the BI working group
    AUDIT = "audit"  # the audit event of a VSB individual check


def key_id(key: bytes) -> str:
    """16 hex digits that name the key without revealing it."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


class Pseudonymiser:
    """``pseudonymiser(national_number) -> 64 hex digits`` for one key and one purpose."""

    __slots__ = ("_key", "key_id", "purpose")

    def __init__(self, key: bytes, purpose: Purpose) -> None:
        if len(key) != KEY_BYTES:
            raise PseudonymKeyError(f"the pseudonym key must be {KEY_BYTES} bytes")
        self._key = key
        self.purpose = purpose
        self.key_id = key_id(key)

    def __repr__(self) -> str:
        return f"Pseudonymiser(key_id={self.key_id}, purpose={self.purpose.value})"

    def __call__(self, national_number: str) -> str:
        if not _ELEVEN_DIGITS.fullmatch(national_number):
            # The value is not repeated: it may be (part of) a national number.
            raise ValueError("a national number has 11 digits")
        message = self.purpose.value.encode("ascii") + b"\x00" + national_number.encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def new_pseudonym_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _source(key_file: Path) -> KeySource:
    return KeySource("pseudonym key", _ENV, key_file)


def replace_key_file(key_file: Path, key: bytes) -> None:
    """Put ``key`` in ``key_file`` in one step (rename over the old file); the old key is gone.
    Development only: in production the key lives in ``KBX_PSEUDONYM_KEY``."""
    try:
        _source(key_file).replace(key)
    except KeyFileError as exc:
        raise PseudonymKeyError(str(exc)) from None


def load_pseudonym_key(*, env_key: str | None, key_file: Path, create_if_missing: bool) -> bytes:
    """The 32-byte pseudonym key: from ``KBX_PSEUDONYM_KEY``, else from ``key_file``, else a new
    one written there (development only: production passes ``create_if_missing=False``)."""
    try:
        return _source(key_file).load(env_key, create_if_missing=create_if_missing)
    except KeyFileError as exc:
        raise PseudonymKeyError(str(exc)) from None
