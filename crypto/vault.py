"""Secrets kbx keeps for a while (the password of a delivered file, for a resend), sealed with
the service key, and the loading of that key.

Token layout: ``version (1 byte) || nonce (12 bytes) || AES-256-GCM ciphertext and tag``. The
version byte is also authenticated (it leads the associated data), so a token cannot be passed
off as another format later. Random 96-bit nonces are safe here: NIST SP 800-38D allows 2^32
messages per key that way, and kbx seals one password per export run.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_BYTES", "SecretBox", "VaultError", "load_service_key"]

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16


class VaultError(Exception):
    """A secret or key kbx cannot use; the message says why and never contains the secret."""


class SecretBox:
    """AES-256-GCM with a fixed key; the associated data binds a token to its context."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise VaultError(f"the service key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, _VERSION + associated_data)
        return _VERSION + nonce + sealed

    def open(self, token: bytes, associated_data: bytes) -> bytes:
        if len(token) < 1 + _NONCE_BYTES + _TAG_BYTES:
            raise VaultError("sealed secret is truncated")
        if token[:1] != _VERSION:
            raise VaultError("sealed secret has an unknown format version")
        nonce, sealed = token[1 : 1 + _NONCE_BYTES], token[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, _VERSION + associated_data)
        except InvalidTag:
            # Wrong key, wrong context and tampering look the same, on purpose.
            raise VaultError(
                "sealed secret cannot be opened: wrong key, wrong context or altered"
            ) from None


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
        fd = os.open(key_file, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VaultError(f"cannot read the service key file {key_file}: {exc.strerror}") from None
    try:
        # fstat on the open descriptor: the mode checked is that of the file actually read.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise VaultError(f"the service key file {key_file} is not a regular file")
        if info.st_mode & 0o077:
            raise VaultError(
                f"the service key file {key_file} is readable by group or others "
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
        raise VaultError(
            f"the service key file {key_file} does not hold the base64 encoding of "
            f"{KEY_BYTES} bytes"
        )
    return key


def _create_key_file(key_file: Path) -> bytes:
    """Write a new random key; never replaces an existing file, and never shows a half one."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    # Written under a private name and then hard-linked into place: link() refuses an existing
    # target, so two processes starting together agree on one key and neither reads a file the
    # other is still writing.
    staging = key_file.with_name(f".{key_file.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(key) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(staging, key_file)
        except FileExistsError:
            existing = _read_key_file(key_file)
            if existing is None:
                raise VaultError(f"the service key file {key_file} vanished") from None
            return existing
    finally:
        staging.unlink(missing_ok=True)
    _fsync_dir(key_file.parent)
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_service_key(*, env_key: str | None, key_file: Path, create_if_missing: bool) -> bytes:
    """The 32-byte service key: from the environment, else from ``key_file``, else a new one
    written there (development only: production passes ``create_if_missing=False``)."""
    if env_key is not None:
        if not env_key.strip():
            raise VaultError("KBX_SECRET_KEY is set but empty")
        key = _decode_key(env_key)
        if key is None:
            raise VaultError(
                f"KBX_SECRET_KEY is not the base64 encoding of exactly {KEY_BYTES} bytes "
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
            raise VaultError(
                f"cannot create the service key file {key_file}: {exc.strerror}"
            ) from None
    raise VaultError("no service key: set KBX_SECRET_KEY")
