"""The ``sftp_push`` channel: kbx logs in to the recipient's own SFTP server and leaves the file.

One connection per call, with paramiko's client. The server's host key is pinned per recipient:
the SSH client knows that one key and nothing else (no ``~/.ssh/known_hosts``, no system host
keys) and rejects any other with ``RejectPolicy``, before authenticating, so an unknown or
changed key fails the call without a byte of the file leaving.

A delivery is atomic for whoever watches the folder: the file is written under a hidden temporary
name (``.NAME.<random>.part``, mode 0600 before any byte is written), its size is checked with
``stat`` and its SHA-256 by reading it back, and only then is it renamed to its final name. The
rename is the standard SFTP one, which refuses to replace an existing file (OpenSSH implements it
with ``link`` + ``unlink``): a different file under the final name is never overwritten. On any
failure the temporary file is removed, over a new connection if the old one broke.

Errors become `exchange.ports.ChannelError`: the message names the channel, the server and the
reason; never a key, never a file's content, never a name a recipient chose.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import logging
import posixpath
import secrets
import socket
import stat
from collections.abc import Callable, Iterator
from typing import Any

import paramiko  # type: ignore[import-untyped]
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from channels.sftp_confine import is_valid_name
from exchange.ports import ChannelError, ChannelUnavailable, Parcel, SftpTarget

__all__ = ["DISABLED_ALGORITHMS", "MAX_RETURN_BYTES", "SftpPush", "is_temporary_name"]

log = logging.getLogger("kbx.sftp_push")

# The same choices as the drop's server (channels/sftp_drop.py): no CBC, no 3DES, no SHA-1 or
# MD5 MACs, no RSA with SHA-1 signatures. Strict kex (Terrapin) is paramiko's default and is
# passed explicitly below.
DISABLED_ALGORITHMS: dict[str, list[str]] = {
    "kex": ["diffie-hellman-group-exchange-sha1"],
    "ciphers": ["aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc"],
    "macs": ["hmac-sha1", "hmac-sha1-96", "hmac-md5", "hmac-md5-96"],
    "keys": ["ssh-rsa", "ssh-dss"],
    "pubkeys": ["ssh-rsa", "ssh-dss"],
}
# A returned file is read into memory; VDAB's enriched round trip is a few MB.
MAX_RETURN_BYTES = 256 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_TEMP_SUFFIX = ".part"
_CHANNEL = "sftp_push"


def is_temporary_name(name: str) -> bool:
    """kbx's own upload names, and anything hidden: never a delivered or returned file."""
    return name.startswith(".") or name.endswith(_TEMP_SUFFIX)


def _temporary_name(name: str) -> str:
    return f".{name}.{secrets.token_hex(8)}{_TEMP_SUFFIX}"


def _checked(name: str) -> str:
    if not is_valid_name(name) or is_temporary_name(name):
        raise ChannelError(f"{_CHANNEL}: invalid file name")  # a name may come from a recipient
    return name


def _fingerprint(key: Any) -> str:
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _pinned_key(target: SftpTarget) -> Any:  # paramiko.PKey
    parts = target.host_key.split()
    try:
        if len(parts) < 2:
            raise ValueError("not '<type> <base64>'")
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (ValueError, binascii.Error, paramiko.SSHException, paramiko.UnknownKeyType):
        raise ChannelError(
            f"{_CHANNEL}: the pinned host key for {target.host}:{target.port} is not a usable "
            "OpenSSH public key line ('ssh-ed25519 AAAA...')"
        ) from None


def _client_key(target: SftpTarget) -> Any:  # paramiko.PKey
    """kbx's private key for this server, in OpenSSH or PEM (PKCS#1/PKCS#8) form, unencrypted
    (it is kept sealed under the service key instead)."""
    problem = f"{_CHANNEL}: kbx's client key for {target.host}:{target.port} cannot be used"
    # Errors from here on are raised "from None": no parser message next to key material.
    loaded: Any
    try:
        try:
            loaded = serialization.load_ssh_private_key(target.private_key_pem, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(target.private_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ChannelError(problem) from None
    kinds: list[tuple[type[Any], Any]] = [
        (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
        (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
        (rsa.RSAPrivateKey, paramiko.RSAKey),
    ]
    for crypto_type, paramiko_type in kinds:
        if isinstance(loaded, crypto_type):
            text = loaded.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ).decode("ascii")
            try:
                return paramiko_type.from_private_key(io.StringIO(text))
            except paramiko.SSHException:
                raise ChannelError(problem) from None
    raise ChannelError(f"{problem}: use an ed25519, ECDSA or RSA key")


class _HostKeyUnknown(paramiko.SSHException):  # type: ignore[misc]
    pass


class _RejectUnpinned(paramiko.RejectPolicy):  # type: ignore[misc]
    """`RejectPolicy`, with an error of its own so that the message can say what happened."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise _HostKeyUnknown(_fingerprint(key))


def _strict_transport(sock: Any, disabled_algorithms: Any = None) -> Any:
    return paramiko.Transport(sock, disabled_algorithms=disabled_algorithms, strict_kex=True)


def _explain(exc: BaseException) -> str:
    """The reason of a paramiko, socket or SFTP failure, without anything of a file in it."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    if isinstance(exc, paramiko.AuthenticationException):
        return "the server refused kbx's client key"
    if isinstance(exc, paramiko.SSHException):
        return f"SSH failure: {exc}"
    if isinstance(exc, OSError):
        # paramiko maps SFTP status codes onto errno; its text is the server's status message
        return exc.strerror or str(exc) or type(exc).__name__
    return type(exc).__name__


class SftpPush:
    """`exchange.ports.Delivery` and `exchange.ports.ReturnBox` over the recipient's own SFTP
    server. ``targets`` gives a recipient's server settings (and raises ChannelError for a
    recipient without them); ``timeout`` bounds each network step, in seconds."""

    def __init__(self, targets: Callable[[str], SftpTarget], timeout: float = 30.0) -> None:
        self._targets = targets
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SftpPush(timeout={self.timeout})"

    # -- connections ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _sftp(self, recipient: str, doing: str) -> Iterator[tuple[SftpTarget, Any]]:
        """An SFTP session with the recipient's server; failures become ChannelError."""
        target = self._targets(recipient)
        where = f"{target.host}:{target.port}"
        pinned = _pinned_key(target)
        client_key = _client_key(target)
        client = paramiko.SSHClient()
        # Only the pinned key is known; nothing is loaded from ~/.ssh or /etc/ssh.
        client.set_missing_host_key_policy(_RejectUnpinned())
        known_as = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        client.get_host_keys().add(known_as, pinned.get_name(), pinned)
        try:
            try:
                client.connect(
                    target.host,
                    port=target.port,
                    username=target.username,
                    pkey=client_key,
                    look_for_keys=False,
                    allow_agent=False,
                    timeout=self.timeout,
                    banner_timeout=self.timeout,
                    auth_timeout=self.timeout,
                    channel_timeout=self.timeout,
                    disabled_algorithms=DISABLED_ALGORITHMS,
                    transport_factory=_strict_transport,
                )
            except paramiko.BadHostKeyException as exc:
                # Short enough for a run's failure column: both fingerprints must survive.
                raise ChannelError(
                    f"{_CHANNEL}: host key mismatch at {where}: server {_fingerprint(exc.key)}, "
                    f"pinned {_fingerprint(pinned)}; nothing was sent"
                ) from None
            except _HostKeyUnknown as exc:
                raise ChannelError(
                    f"{_CHANNEL}: host key mismatch at {where}: server {exc}, "
                    f"pinned {_fingerprint(pinned)}; nothing was sent"
                ) from None
            except (OSError, EOFError) as exc:  # refused, unreachable, timed out, cut off
                raise ChannelUnavailable(
                    f"{_CHANNEL}: cannot connect to {where}: {_explain(exc)}"
                ) from exc
            except paramiko.SSHException as exc:  # a refused key, no common algorithm
                raise ChannelError(
                    f"{_CHANNEL}: cannot connect to {where}: {_explain(exc)}"
                ) from exc
            try:
                sftp = client.open_sftp()
                sftp.get_channel().settimeout(self.timeout)
                yield target, sftp
            except (paramiko.SSHException, paramiko.SFTPError, OSError, EOFError) as exc:
                raise ChannelError(
                    f"{_CHANNEL}: {doing} on {where} failed: {_explain(exc)}"
                ) from exc
        finally:
            client.close()

    # -- exchange.ports.Delivery ---------------------------------------------------------------

    def deliver(self, parcel: Parcel) -> None:
        name = _checked(parcel.name)
        expected = hashlib.sha256(parcel.data).hexdigest()
        temp: str | None = None  # set while a temporary file of ours may exist remotely
        try:
            with self._sftp(parcel.recipient_id, f"delivering {name}") as (target, sftp):
                final = posixpath.join(target.path, name)
                self._sweep(sftp, target.path, name)
                there = self._digest(sftp, final)
                if there == expected:
                    log.info("%s was already on the server of %s", name, parcel.recipient_id)
                    return
                if there is not None:
                    raise ChannelError(
                        f"{_CHANNEL}: a different file named {name} is already on "
                        f"{target.host}:{target.port}; kbx does not overwrite it"
                    )
                temp = upload = posixpath.join(target.path, _temporary_name(name))
                try:
                    self._upload(sftp, upload, parcel.data, expected)
                    self._rename(sftp, upload, final, expected)
                    temp = None
                except Exception:
                    if self._remove_quietly(sftp, upload):
                        temp = None
                    raise
        except Exception:
            if temp is not None:  # the connection broke: clean up over a new one
                self._cleanup(parcel.recipient_id, temp)
            raise
        log.info(
            "pushed %s to the server of %s: %d bytes", name, parcel.recipient_id, len(parcel.data)
        )

    def present(self, recipient: str, name: str) -> str | None:
        name = _checked(name)
        with self._sftp(recipient, f"checking {name}") as (target, sftp):
            digest = self._digest(sftp, posixpath.join(target.path, name))
            if digest is None:
                # "Gone" counts as fetched: make sure it is not the folder that went missing
                # (a changed chroot, a renamed folder); that raises here instead.
                sftp.stat(target.path)
            return digest

    def withdraw(self, recipient: str, name: str) -> bool:
        name = _checked(name)
        with self._sftp(recipient, f"withdrawing {name}") as (target, sftp):
            try:
                sftp.remove(posixpath.join(target.path, name))
            except FileNotFoundError:
                return False
        log.info("withdrew %s from the server of %s", name, recipient)
        return True

    # -- exchange.ports.ReturnBox --------------------------------------------------------------

    def returned(self, recipient: str) -> list[str]:
        """Plain files in the return folder; hidden and temporary names (uploads in progress)
        are not listed. A recipient without a return folder has returned nothing."""
        with self._sftp(recipient, "listing the return folder") as (target, sftp):
            if target.return_path is None:
                return []
            return sorted(
                entry.filename
                for entry in sftp.listdir_attr(target.return_path)
                if is_valid_name(entry.filename)
                and not is_temporary_name(entry.filename)
                and entry.st_mode is not None
                and stat.S_ISREG(entry.st_mode)
            )

    def fetch_return(self, recipient: str, name: str) -> bytes:
        name = _checked(name)
        with self._sftp(recipient, "fetching a returned file") as (target, sftp):
            path = self._return_file(target, name)
            size = sftp.stat(path).st_size or 0
            if size > MAX_RETURN_BYTES:
                raise ChannelError(
                    f"{_CHANNEL}: a returned file of {size} bytes is larger than kbx accepts"
                )
            with sftp.open(path, "rb") as fh:
                fh.prefetch(size)
                data: bytes = fh.read(MAX_RETURN_BYTES + 1)
            if len(data) > MAX_RETURN_BYTES:
                raise ChannelError(f"{_CHANNEL}: a returned file grew past what kbx accepts")
        log.info("fetched a returned file of %d bytes from %s", len(data), recipient)
        return data

    def remove_return(self, recipient: str, name: str) -> None:
        name = _checked(name)
        with (
            self._sftp(recipient, "removing a returned file") as (target, sftp),
            contextlib.suppress(FileNotFoundError),
        ):
            sftp.remove(self._return_file(target, name))
        log.info("removed a returned file from the server of %s", recipient)

    # -- the steps -----------------------------------------------------------------------------

    @staticmethod
    def _return_file(target: SftpTarget, name: str) -> str:
        if target.return_path is None:
            raise ChannelError(f"{_CHANNEL}: no return folder is configured for this server")
        return posixpath.join(target.return_path, name)

    def _upload(self, sftp: Any, temp: str, data: bytes, expected: str) -> None:
        # "x": O_EXCL, never into somebody else's file. paramiko sends no mode with OPEN, so the
        # server creates the file by its umask; it is made 0600 before a byte is written.
        with sftp.open(temp, "wbx") as fh:
            with contextlib.suppress(OSError):  # a server without POSIX modes: checked below
                fh.chmod(0o600)
            fh.set_pipelined(True)
            fh.write(data)  # paramiko splits it into 32 KiB requests; close() awaits every ack
        attrs = sftp.stat(temp)
        if attrs.st_mode is not None and attrs.st_mode & 0o077:
            raise ChannelError(
                f"{_CHANNEL}: the server keeps the upload readable to others "
                f"(mode {stat.S_IMODE(attrs.st_mode):o}) and refused to restrict it"
            )
        if attrs.st_size != len(data):
            raise ChannelError(
                f"{_CHANNEL}: the server holds {attrs.st_size} of {len(data)} bytes after upload"
            )
        if self._read_digest(sftp, temp, len(data)) != expected:
            raise ChannelError(f"{_CHANNEL}: the uploaded bytes read back differently")

    def _rename(self, sftp: Any, temp: str, final: str, expected: str) -> None:
        """The standard SFTP rename: it fails when ``final`` exists instead of replacing it."""
        try:
            sftp.rename(temp, final)
        except OSError:
            # Someone put a file there since we looked; the same bytes are a success.
            if self._digest(sftp, final) != expected:
                raise
            self._remove_quietly(sftp, temp)

    def _digest(self, sftp: Any, path: str) -> str | None:
        try:
            attrs = sftp.stat(path)
        except FileNotFoundError:
            return None
        return self._read_digest(sftp, path, attrs.st_size or 0)

    @staticmethod
    def _read_digest(sftp: Any, path: str, size: int) -> str:
        digest = hashlib.sha256()
        with sftp.open(path, "rb") as fh:
            fh.prefetch(size)
            while chunk := fh.read(_READ_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    @staticmethod
    def _sweep(sftp: Any, folder: str, name: str) -> None:
        """Temporary files of this name left by a kbx that died mid-upload."""
        prefix = f".{name}."
        for entry in sftp.listdir(folder):
            if entry.startswith(prefix) and entry.endswith(_TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    sftp.remove(posixpath.join(folder, entry))
                    log.info("removed a stale partial upload of %s", name)

    @staticmethod
    def _remove_quietly(sftp: Any, path: str) -> bool:
        try:
            sftp.remove(path)
        except FileNotFoundError:
            return True
        except Exception:  # the connection is gone; the caller tries again on a new one
            return False
        return True

    def _cleanup(self, recipient: str, temp: str) -> None:
        try:
            with (
                self._sftp(recipient, "removing a partial upload") as (_target, sftp),
                contextlib.suppress(FileNotFoundError),
            ):
                sftp.remove(temp)
        except ChannelError as exc:
            # The next delivery of this name sweeps it; hidden names are never fetched.
            log.warning("a partial upload stays on the server of %s for now: %s", recipient, exc)
