"""32-byte secret keys kbx loads at start: from an environment variable, else from a private key
file, else (development only) a new key written there. Shared by the service key (crypto.vault)
and the pseudonym key (crypto.pseudonyms); each names itself in the messages.

A key file is read only when it is a regular file that group and others cannot read (as sshd
treats its host keys); a new one is written under a private name and hard-linked into place, so
two processes starting together agree on one key and neither reads a half-written file.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KEY_BYTES", "KeyFileError", "KeySource", "decode_key"]

KEY_BYTES = 32


class KeyFileError(Exception):
    """A key kbx cannot use; the message says why and never contains the key."""


def decode_key(text: str) -> bytes | None:
    """The 32 bytes in standard or URL-safe base64 (padding optional), or None."""
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        key = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class KeySource:
    """Where one key comes from: ``label`` ("service key") and ``env_name`` ("KBX_SECRET_KEY")
    name it in messages."""

    label: str
    env_name: str
    key_file: Path

    def load(self, env_key: str | None, *, create_if_missing: bool) -> bytes:
        if env_key is not None:
            if not env_key.strip():
                raise KeyFileError(f"{self.env_name} is set but empty")
            key = decode_key(env_key)
            if key is None:
                raise KeyFileError(
                    f"{self.env_name} is not the base64 encoding of exactly {KEY_BYTES} bytes "
                    f'(generate one with: python -c "import base64, os; '
                    f'print(base64.b64encode(os.urandom({KEY_BYTES})).decode())")'
                )
            return key
        key = self.read()
        if key is not None:
            return key
        if create_if_missing:
            try:
                return self._create()
            except OSError as exc:
                raise KeyFileError(
                    f"cannot create the {self.label} file {self.key_file}: {exc.strerror}"
                ) from None
        raise KeyFileError(f"no {self.label}: set {self.env_name}")

    def read(self) -> bytes | None:
        """The key in the file, or None when there is no such file."""
        path = self.key_file
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyFileError(
                f"cannot read the {self.label} file {path}: {exc.strerror}"
            ) from None
        try:
            info = os.fstat(fd)  # the mode of the file actually read
            if not stat.S_ISREG(info.st_mode):
                raise KeyFileError(f"the {self.label} file {path} is not a regular file")
            if info.st_mode & 0o077:
                raise KeyFileError(
                    f"the {self.label} file {path} is readable by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
                )
            raw = os.read(fd, 4096)
        finally:
            os.close(fd)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        key = decode_key(text)
        if key is None:
            raise KeyFileError(
                f"the {self.label} file {path} does not hold the base64 encoding of "
                f"{KEY_BYTES} bytes"
            )
        return key

    def _staging(self, key: bytes) -> Path:
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        staging = self.key_file.with_name(f".{self.key_file.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(key) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return staging

    def _create(self) -> bytes:
        """A new random key; never replaces an existing file, never shows a half one."""
        key = secrets.token_bytes(KEY_BYTES)
        staging = self._staging(key)
        try:
            try:
                os.link(staging, self.key_file)  # refuses an existing target
            except FileExistsError:
                existing = self.read()
                if existing is None:
                    raise KeyFileError(f"the {self.label} file {self.key_file} vanished") from None
                return existing
        finally:
            staging.unlink(missing_ok=True)
        _fsync_dir(self.key_file.parent)
        return key

    def replace(self, key: bytes) -> None:
        """Put ``key`` in the file in one step (rename over the old one); the old key is gone."""
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"the {self.label} must be {KEY_BYTES} bytes")
        try:
            staging = self._staging(key)
            try:
                os.replace(staging, self.key_file)
            finally:
                staging.unlink(missing_ok=True)
            _fsync_dir(self.key_file.parent)
        except OSError as exc:
            raise KeyFileError(
                f"cannot write the {self.label} file {self.key_file}: {exc.strerror}"
            ) from None
