"""Secrets kbx keeps for a while (the password of a delivered file, for a resend), sealed with
the service key, and the loading of that key.

Token layout: ``version (1 byte) || nonce (12 bytes) || AES-256-GCM ciphertext and tag``. The
version byte is also authenticated (it leads the associated data), so a token cannot be passed
off as another format later. Random 96-bit nonces are safe here: NIST SP 800-38D allows 2^32
messages per key that way, and kbx seals one password per export run.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.key_files import KEY_BYTES, KeyFileError, KeySource

__all__ = ["KEY_BYTES", "SecretBox", "VaultError", "load_service_key"]

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


def load_service_key(*, env_key: str | None, key_file: Path, create_if_missing: bool) -> bytes:
    """The 32-byte service key: from the environment, else from ``key_file``, else a new one
    written there (development only: production passes ``create_if_missing=False``)."""
    source = KeySource("service key", "KBX_SECRET_KEY", key_file)
    try:
        return source.load(env_key, create_if_missing=create_if_missing)
    except KeyFileError as exc:
        raise VaultError(str(exc)) from None
