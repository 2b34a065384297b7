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

import base64
import binascii
import enum
import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

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

KEY_BYTES = 32
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


def _decode_key(text: str) -> bytes | None:
    """The 32 bytes in standard or URL-safe base64 (padding optional), or None."""
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        key = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


def _read_key_file(key_file: Path) -> bytes | None:
    """The key in ``key_file``, or None when there is no such file."""
    try:
        fd = os.open(key_file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PseudonymKeyError(
            f"cannot read the pseudonym key file {key_file}: {exc.strerror}"
        ) from None
    try:
        info = os.fstat(fd)  # the mode of the file actually read
        if not stat.S_ISREG(info.st_mode):
            raise PseudonymKeyError(f"the pseudonym key file {key_file} is not a regular file")
        if info.st_mode & 0o077:
            raise PseudonymKeyError(
                f"the pseudonym key file {key_file} is readable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {key_file}"
            )
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    key = _decode_key(text)
    if key is None:
        raise PseudonymKeyError(
            f"the pseudonym key file {key_file} does not hold the base64 encoding of "
            f"{KEY_BYTES} bytes"
        )
    return key


def _write_staging(key_file: Path, key: bytes) -> Path:
    """The key in a new private file next to ``key_file`` (mode 0600, synced)."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    staging = key_file.with_name(f".{key_file.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(key) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return staging


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_key_file(key_file: Path) -> bytes:
    """Write a new random key; never replaces an existing file, and never shows a half one."""
    key = new_pseudonym_key()
    staging = _write_staging(key_file, key)
    try:
        # link() refuses an existing target: two processes starting together agree on one key.
        try:
            os.link(staging, key_file)
        except FileExistsError:
            existing = _read_key_file(key_file)
            if existing is None:
                raise PseudonymKeyError(f"the pseudonym key file {key_file} vanished") from None
            return existing
    finally:
        staging.unlink(missing_ok=True)
    _fsync_dir(key_file.parent)
    return key


def replace_key_file(key_file: Path, key: bytes) -> None:
    """Put ``key`` in ``key_file`` in one step (rename over the old file); the old key is gone.
    Development only: in production the key lives in ``KBX_PSEUDONYM_KEY``."""
    if len(key) != KEY_BYTES:
        raise PseudonymKeyError(f"the pseudonym key must be {KEY_BYTES} bytes")
    try:
        staging = _write_staging(key_file, key)
        try:
            os.replace(staging, key_file)
        finally:
            staging.unlink(missing_ok=True)
        _fsync_dir(key_file.parent)
    except OSError as exc:
        raise PseudonymKeyError(
            f"cannot write the pseudonym key file {key_file}: {exc.strerror}"
        ) from None


def load_pseudonym_key(*, env_key: str | None, key_file: Path, create_if_missing: bool) -> bytes:
    """The 32-byte pseudonym key: from ``KBX_PSEUDONYM_KEY``, else from ``key_file``, else a new
    one written there (development only: production passes ``create_if_missing=False``)."""
    if env_key is not None:
        if not env_key.strip():
            raise PseudonymKeyError(f"{_ENV} is set but empty")
        key = _decode_key(env_key)
        if key is None:
            raise PseudonymKeyError(
                f"{_ENV} is not the base64 encoding of exactly {KEY_BYTES} bytes "
                f'(generate one with: python -c "import base64, os; '
                f'print(base64.b64encode(os.urandom({KEY_BYTES})).decode())")'
            )
        return key
    key = _read_key_file(key_file)
    if key is not None:
        return key
    if create_if_missing:
        try:
            return _create_key_file(key_file)
        except OSError as exc:
            raise PseudonymKeyError(
                f"cannot create the pseudonym key file {key_file}: {exc.strerror}"
            ) from None
    raise PseudonymKeyError(f"no pseudonym key: set {_ENV}")
