"""The kbx SFTP drop: municipalities log in with their own SSH key and fetch their files.

The username is the recipient id; each recipient sees ``/outbox`` (list, read, delete) and
``/inbox`` (list, upload, read back) of its own folder ``<root>/<recipient>`` and nothing else.
Path confinement lives in `channels.sftp_confine`; this module is the paramiko glue, the
authentication policy (public keys only, failure caps, per-address bans, a connection cap) and
the staging API kbx itself uses to put files into an outbox.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import logging
import os
import secrets
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import paramiko  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from channels.drop_store import DropStore, fsync_dir
from channels.sftp_confine import (
    INBOX,
    OUTBOX,
    Kind,
    PathDenied,
    PathMissing,
    Target,
    check_recipient,
    ensure_folders,
    is_valid_name,
    recipient_base,
    resolve,
)
from crypto import KeyError_, parse_public_key

__all__ = ["DropEvents", "DropLimits", "DropServer", "KeyLookup", "host_public_key"]

log = logging.getLogger("kbx.sftp")

# paramiko ships no type information; pin the constants we use to their real types once.
_SFTP_OK: int = paramiko.SFTP_OK
_SFTP_NO_SUCH_FILE: int = paramiko.SFTP_NO_SUCH_FILE
_SFTP_PERMISSION_DENIED: int = paramiko.SFTP_PERMISSION_DENIED
_SFTP_FAILURE: int = paramiko.SFTP_FAILURE
_SFTP_OP_UNSUPPORTED: int = paramiko.SFTP_OP_UNSUPPORTED
_AUTH_FAILED: int = paramiko.AUTH_FAILED
_AUTH_SUCCESSFUL: int = paramiko.AUTH_SUCCESSFUL
_OPEN_SUCCEEDED: int = paramiko.OPEN_SUCCEEDED
_OPEN_PROHIBITED: int = paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

# Terrapin (CVE-2023-48795) needs strict kex, which paramiko advertises by default; we pass
# strict_kex=True explicitly so that a changed default cannot switch it off. CBC modes and 3DES are
# what Terrapin-style prefix attacks and SWEET32 exploit; SHA-1/MD5 MACs have no place in 2026.
# ssh-rsa (RSA with SHA-1 signatures) is not in paramiko 5's lists at all; listing it keeps it out
# should a later release bring it back. Group exchange needs a moduli file we do not load; paramiko
# would still advertise it and then refuse it.
_DISABLED_ALGORITHMS: dict[str, list[str]] = {
    "kex": ["diffie-hellman-group-exchange-sha256", "diffie-hellman-group-exchange-sha1"],
    "ciphers": ["aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc"],
    "macs": ["hmac-sha1", "hmac-sha1-96", "hmac-md5", "hmac-md5-96"],
    "keys": ["ssh-rsa", "ssh-dss"],
    "pubkeys": ["ssh-rsa", "ssh-dss"],
}

# paramiko has no server-side deadline for authentication: without ours, a client that completes
# the key exchange and then idles would hold a connection slot forever (sshd: LoginGraceTime).
LOGIN_GRACE_SECONDS = 30.0
# A READ request names its own length (up to 4 GiB); pread allocates that much up front.
# OpenSSH's sftp-server caps at 256 KiB too; clients handle short reads.
MAX_READ_BYTES = 256 * 1024
_POLL_SECONDS = 0.1
# Each open handle is a file descriptor of this process; without a cap one session could exhaust
# them for everybody. OpenSSH's client keeps one file open at a time.
MAX_OPEN_FILES_PER_SESSION = 32
# Out-of-order read ranges remembered per handle before they join the contiguous prefix.
_MAX_PENDING_RANGES = 4096

T = TypeVar("T")


class DropEvents(Protocol):
    """What the drop reports to kbx (audit, run states). Called from server threads."""

    def login(self, recipient: str, fingerprint: str, address: str) -> None: ...

    def auth_failed(self, username: str, address: str, reason: str) -> None: ...

    def listed(self, recipient: str, folder: str) -> None: ...

    def downloaded(self, recipient: str, name: str, size: int) -> None: ...

    def deleted(self, recipient: str, name: str) -> None: ...

    def uploaded(self, recipient: str, name: str, size: int) -> None: ...


class KeyLookup(Protocol):
    # Positional-only so that any plain ``Callable[[str], Sequence[str]]`` fits.
    def __call__(self, recipient: str, /) -> Sequence[str]:
        """The recipient's authorised public key lines ("alg base64"); empty if unknown."""
        ...


@dataclass(frozen=True)
class DropLimits:
    max_connections: int = 32
    max_auth_failures_per_connection: int = 3
    ban_after_failures: int = 10  # per source IP, within ban_window_seconds
    ban_window_seconds: float = 600
    ban_seconds: float = 900

    def __post_init__(self) -> None:
        for name in (
            "max_connections",
            "max_auth_failures_per_connection",
            "ban_after_failures",
            "ban_window_seconds",
            "ban_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"DropLimits.{name} must be positive")


def _fingerprint(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return f"SHA256:{digest}"


def _printable(text: str, limit: int = 64) -> str:
    """A client-chosen string made safe for log lines and audit details."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def _load_or_create_host_key(path: Path) -> Any:  # paramiko.Ed25519Key
    try:
        info = path.stat()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # another process won the race; use its key
        else:
            try:
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
            log.info("generated SFTP host key %s", path)
    else:
        # sshd refuses such a key too: anyone who can read it can impersonate the drop
        if info.st_mode & 0o077:
            raise PermissionError(f"host key {path} is readable by others; chmod 600 it")
    return paramiko.Ed25519Key(filename=str(path))


def host_public_key(path: Path) -> str:
    """The drop's public host key ("ssh-ed25519 AAAA..."), created first if need be: what a
    client pins in its known_hosts before it ever connects."""
    key = _load_or_create_host_key(path)
    return f"{key.get_name()} {base64.b64encode(key.asbytes()).decode()}"


class _Throttle:
    """Per-address failure counting and bans. Shared by all connection threads."""

    def __init__(self, limits: DropLimits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._banned_until: dict[str, float] = {}

    def banned(self, address: str) -> bool:
        with self._lock:
            until = self._banned_until.get(address)
            if until is None:
                return False
            if self._clock() < until:
                return True
            del self._banned_until[address]
            return False

    def failure(self, address: str) -> bool:
        """Count one failure; True when this address is (now) banned."""
        now = self._clock()
        with self._lock:
            if self._banned_until.get(address, 0.0) > now:
                return True
            times = self._failures.setdefault(address, deque())
            times.append(now)
            while times and times[0] <= now - self._limits.ban_window_seconds:
                times.popleft()
            if len(times) < self._limits.ban_after_failures:
                self._sweep(now)
                return False
            del self._failures[address]
            self._banned_until[address] = now + self._limits.ban_seconds
            return True

    def success(self, address: str) -> None:
        # A client whose agent offers a few unregistered keys before the right one fails on
        # every login; without this, a municipality would ban itself after a few sessions.
        with self._lock:
            self._failures.pop(address, None)

    def _sweep(self, now: float) -> None:
        # Bound memory under a spray of failing addresses; cheap enough to run rarely.
        if len(self._failures) < 4096:
            return
        horizon = now - self._limits.ban_window_seconds
        for address in [a for a, t in self._failures.items() if not t or t[-1] <= horizon]:
            del self._failures[address]
        for address in [a for a, u in self._banned_until.items() if u <= now]:
            del self._banned_until[address]


class _Session:
    """What one authenticated connection knows; shared by its SFTP handler and file handles."""

    def __init__(self, recipient: str, base: Path, events: DropEvents) -> None:
        self.recipient = recipient
        self.base = base
        self.events = events
        # Set when the SFTP subsystem ends; handles closed after that were abandoned, not closed
        # by the client, so uploads must not be committed.
        self.ended = False
        self.open_files = 0

    def notify(self, what: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:
            log.exception("drop event %s for %s failed", what, self.recipient)


class _Auth(paramiko.ServerInterface):  # type: ignore[misc]
    """Authentication and channel policy of one connection (runs in paramiko's thread)."""

    def __init__(self, drop: DropServer, address: str, transport: Any) -> None:
        self._drop = drop
        self._address = address
        self._transport = transport
        self._failures = 0
        self._keys: dict[str, dict[bytes, str]] = {}
        self._approved: tuple[str, str] | None = None  # (recipient, fingerprint)
        self._channel_opened = False
        self._subsystem_started = False
        self.session: _Session | None = None
        self.hang_up = threading.Event()

    # -- authentication ----------------------------------------------------------------------

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        # Every client probes with "none" to learn the methods: not a failure worth counting.
        return _AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        self._fail(username, "password authentication is not offered")
        return _AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> int:
        self._fail(username, "keyboard-interactive authentication is not offered")
        return _AUTH_FAILED

    def check_auth_publickey(self, username: str, key: Any) -> int:
        # paramiko calls this for the unsigned probe and again, before verifying the signature,
        # for the signed request; it is never called after a success.
        if self.hang_up.is_set():
            return _AUTH_FAILED
        if self._drop._throttle.banned(self._address):
            self._fail(username, "address banned", count=False)
            self.hang_up.set()
            return _AUTH_FAILED
        try:
            check_recipient(username)
        except ValueError:
            self._fail(username, "invalid username")
            return _AUTH_FAILED
        try:
            registered = self._registered(username)
        except Exception:
            log.exception("key lookup for %s failed", username)
            # Not the client's fault: do not count it towards a ban.
            self._fail(username, "key lookup failed", count=False)
            return _AUTH_FAILED
        fingerprint = registered.get(key.asbytes())
        if fingerprint is None:
            # Unknown user and unknown key get the same answer; only the log tells them apart.
            self._fail(username, "key not registered" if registered else "unknown recipient")
            return _AUTH_FAILED
        self._approved = (username, fingerprint)
        return _AUTH_SUCCESSFUL

    def _registered(self, recipient: str) -> dict[bytes, str]:
        cached = self._keys.get(recipient)
        if cached is not None:
            return cached
        blobs: dict[bytes, str] = {}
        for line in self._drop._keys(recipient):
            try:
                key = parse_public_key(line)
                blob = base64.b64decode(key.line.split()[1], validate=True)
            except (KeyError_, binascii.Error, IndexError) as exc:
                log.warning("ignoring a registered key of %s: %s", recipient, exc)
                continue
            blobs[blob] = key.fingerprint
        self._keys[recipient] = blobs
        return blobs

    def _fail(self, username: str, reason: str, *, count: bool = True) -> None:
        if self.hang_up.is_set():
            return  # already being disconnected; attempts in flight add nothing
        username = _printable(username)
        log.warning("auth failed: user %r from %s: %s", username, self._address, reason)
        try:
            self._drop._events.auth_failed(username, self._address, reason)
        except Exception:
            log.exception("drop event auth_failed failed")
        if not count:
            return
        self._failures += 1
        banned = self._drop._throttle.failure(self._address)
        if banned:
            log.warning("banning %s after repeated authentication failures", self._address)
        if banned or self._failures >= self._drop.limits.max_auth_failures_per_connection:
            self.hang_up.set()

    # -- channels ----------------------------------------------------------------------------

    def check_channel_request(self, kind: str, chanid: int) -> int:
        # paramiko already refuses channels before authentication (CVE-2018-7750); checking
        # again costs nothing. One session per connection is all an SFTP client needs.
        if kind != "session" or self._channel_opened or not self._transport.is_authenticated():
            return _OPEN_PROHIBITED
        approved = self._approved
        if approved is None or approved[0] != self._transport.get_username():
            return _OPEN_PROHIBITED
        recipient, fingerprint = approved
        try:
            base = recipient_base(self._drop.root, recipient)
            ensure_folders(base)
            # In the transport thread, before the client can send a single SFTP request: the
            # login event always precedes what the session does. If it cannot be recorded the
            # session does not start (no unaudited access).
            self._drop._events.login(recipient, fingerprint, self._address)
        except Exception:
            log.exception("login of %s from %s could not be completed", recipient, self._address)
            self.hang_up.set()
            return _OPEN_PROHIBITED
        self._drop._throttle.success(self._address)
        self.session = _Session(recipient, base, self._drop._events)
        self._channel_opened = True
        log.info("login: %s from %s with key %s", recipient, self._address, fingerprint)
        return _OPEN_SUCCEEDED

    def check_channel_subsystem_request(self, channel: Any, name: str) -> bool:
        # One SFTP server per connection: a second one on the same channel would interleave.
        if name != "sftp" or self.session is None or self._subsystem_started:
            return False
        self._subsystem_started = True
        started: bool = super().check_channel_subsystem_request(channel, name)
        return started


class _Coverage:
    """Which bytes of a file a handle has returned; reads may come out of order or repeat."""

    def __init__(self) -> None:
        self.prefix = 0  # bytes [0, prefix) have all been returned
        self._pending: dict[int, int] = {}  # start -> end of ranges beyond the prefix

    def add(self, start: int, length: int) -> None:
        end = start + length
        if start > self.prefix:
            if len(self._pending) < _MAX_PENDING_RANGES or start in self._pending:
                self._pending[start] = max(end, self._pending.get(start, end))
            return
        self.prefix = max(self.prefix, end)
        while self._pending:
            joinable = [s for s in self._pending if s <= self.prefix]
            if not joinable:
                break
            for s in joinable:
                self.prefix = max(self.prefix, self._pending.pop(s))


class _ReadHandle(paramiko.SFTPHandle):  # type: ignore[misc]
    def __init__(self, session: _Session, target: Target, fd: int, size: int) -> None:
        super().__init__(os.O_RDONLY)
        self._session = session
        self._target = target
        self._fd: int | None = fd
        self._size = size
        self._coverage = _Coverage()

    def read(self, offset: int, length: int) -> bytes | int:
        if self._fd is None or offset < 0:
            return _SFTP_FAILURE
        try:
            data = os.pread(self._fd, min(length, MAX_READ_BYTES), offset)
        except OSError as exc:
            return _errno_status(exc)
        self._coverage.add(offset, len(data))
        return data

    def stat(self) -> Any:
        if self._fd is None:
            return _SFTP_FAILURE
        return paramiko.SFTPAttributes.from_stat(os.fstat(self._fd), self._target.name)

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)
        s, t = self._session, self._target
        s.open_files -= 1
        complete = self._coverage.prefix >= self._size
        log.info(
            "closed %s/%s of %s: %d of %d bytes sent",
            t.folder,
            t.name,
            s.recipient,
            min(self._coverage.prefix, self._size),
            self._size,
        )
        if complete and t.folder == OUTBOX:
            s.notify("downloaded", lambda: s.events.downloaded(s.recipient, t.name, self._size))


class _UploadHandle(paramiko.SFTPHandle):  # type: ignore[misc]
    def __init__(self, session: _Session, target: Target, temp: Path, fd: int) -> None:
        super().__init__(os.O_WRONLY)
        self._session = session
        self._target = target
        self._temp = temp
        self._fd: int | None = fd

    def write(self, offset: int, data: bytes) -> int:
        if self._fd is None or offset < 0:
            return _SFTP_FAILURE
        try:
            view = memoryview(data)
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            return _errno_status(exc)
        return _SFTP_OK

    def stat(self) -> Any:
        if self._fd is None:
            return _SFTP_FAILURE
        return paramiko.SFTPAttributes.from_stat(os.fstat(self._fd), self._target.name)

    def close(self) -> None:
        if self._fd is None:
            return  # paramiko closes again at session end when a close raised
        fd, self._fd = self._fd, None
        s, t = self._session, self._target
        s.open_files -= 1
        try:
            if s.ended:
                # The connection dropped mid-upload: a partial file must never get its name.
                log.warning("upload of %s by %s interrupted; discarded", t.name, s.recipient)
                return
            os.fsync(fd)
            size = os.fstat(fd).st_size
            try:
                # link, unlike rename, refuses to replace an existing name: no overwriting even
                # when two uploads of the same name race.
                os.link(self._temp, t.real, follow_symlinks=False)
            except FileExistsError:
                log.warning("upload of %s by %s refused: name already taken", t.name, s.recipient)
                # paramiko answers an exception in close() with SSH_FX_FAILURE
                raise PermissionError(errno.EEXIST, "file exists", t.virtual) from None
            fsync_dir(t.real.parent)
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)
        log.info("uploaded %s by %s: %d bytes", t.name, s.recipient, size)
        s.notify("uploaded", lambda: s.events.uploaded(s.recipient, t.name, size))


def _errno_status(exc: OSError) -> int:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return _SFTP_NO_SUCH_FILE
    if exc.errno in (errno.EACCES, errno.EPERM, errno.ELOOP, errno.EEXIST):
        return _SFTP_PERMISSION_DENIED
    return _SFTP_FAILURE


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_EXCL


class _DropSFTP(paramiko.SFTPServerInterface):  # type: ignore[misc]
    """The SFTP operations of one session, all through `resolve`."""

    def __init__(self, server: _Auth, *args: object, **kwargs: object) -> None:
        super().__init__(server, *args, **kwargs)
        if server.session is None:  # the subsystem check already refused this
            raise PermissionError("SFTP before login")
        self._s: _Session = server.session

    def session_ended(self) -> None:
        self._s.ended = True

    def _guard(self, what: str, path: str, op: Callable[[Target], T]) -> T | int:
        try:
            return op(resolve(self._s.base, path))
        except PathDenied:
            log.warning("%s refused for %s: %r", what, self._s.recipient, _printable(path, 256))
            return _SFTP_PERMISSION_DENIED
        except PathMissing:
            return _SFTP_NO_SUCH_FILE
        except OSError as exc:
            return _errno_status(exc)
        except Exception:
            log.exception("%s of %r for %s failed", what, _printable(path, 256), self._s.recipient)
            return _SFTP_FAILURE

    def canonicalize(self, path: str) -> str:
        # paramiko cannot send an error status from here; an exception becomes SSH_FX_FAILURE.
        return resolve(self._s.base, path).virtual

    def list_folder(self, path: str) -> list[Any] | int:
        return self._guard("list", path, self._list)

    def _list(self, target: Target) -> list[Any] | int:
        if target.kind is Kind.FILE:
            return _SFTP_NO_SUCH_FILE
        if target.kind is Kind.ROOT:
            entries = [
                paramiko.SFTPAttributes.from_stat(os.lstat(target.real / f), f)
                for f in (OUTBOX, INBOX)
            ]
        else:
            entries = []
            with os.scandir(target.real) as it:
                for entry in it:
                    # Symlinks, folders and our hidden temporary files are not part of the view.
                    if is_valid_name(entry.name) and entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        entries.append(paramiko.SFTPAttributes.from_stat(st, entry.name))
        s = self._s
        log.info("listed %s of %s: %d entries", target.virtual, s.recipient, len(entries))
        s.notify("listed", lambda: s.events.listed(s.recipient, target.virtual))
        return entries

    def stat(self, path: str) -> Any:
        return self._guard("stat", path, self._stat)

    def lstat(self, path: str) -> Any:
        return self._guard("stat", path, self._stat)

    def _stat(self, target: Target) -> Any:
        st = os.lstat(target.real)
        expected = stat.S_ISREG if target.kind is Kind.FILE else stat.S_ISDIR
        if not expected(st.st_mode):
            return _SFTP_NO_SUCH_FILE  # never reveal what a planted symlink is
        return paramiko.SFTPAttributes.from_stat(st, target.name or target.virtual)

    def open(self, path: str, flags: int, attr: Any) -> Any:
        def op(target: Target) -> Any:
            if target.kind is not Kind.FILE:
                return _SFTP_PERMISSION_DENIED
            if self._s.open_files >= MAX_OPEN_FILES_PER_SESSION:
                log.warning("open refused for %s: too many open files", self._s.recipient)
                return _SFTP_FAILURE
            if flags & _WRITE_FLAGS:
                handle = self._open_upload(target, flags)
            else:
                handle = self._open_read(target)
            if not isinstance(handle, int):
                self._s.open_files += 1
            return handle

        return self._guard("open", path, op)

    def _open_read(self, target: Target) -> Any:
        # O_NONBLOCK: opening a planted FIFO must not hang the session; no effect on files.
        fd = os.open(target.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                return _SFTP_NO_SUCH_FILE
        except BaseException:
            os.close(fd)
            raise
        log.info(
            "open %s/%s for %s: %d bytes", target.folder, target.name, self._s.recipient, st.st_size
        )
        return _ReadHandle(self._s, target, fd, st.st_size)

    def _open_upload(self, target: Target, flags: int) -> Any:
        if target.folder != INBOX or flags & os.O_APPEND or not flags & os.O_CREAT:
            return _SFTP_PERMISSION_DENIED
        if os.path.lexists(target.real):
            log.warning("upload of %s by %s refused: exists", target.name, self._s.recipient)
            return _SFTP_PERMISSION_DENIED
        temp = target.real.with_name(f".{target.name}.{secrets.token_hex(8)}.part")
        # The client's requested mode is ignored: the drop decides who may read what.
        fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        log.info("upload of %s by %s started", target.name, self._s.recipient)
        return _UploadHandle(self._s, target, temp, fd)

    def remove(self, path: str) -> int:
        def op(target: Target) -> int:
            if target.kind is not Kind.FILE or target.folder != OUTBOX:
                return _SFTP_PERMISSION_DENIED
            if not stat.S_ISREG(os.lstat(target.real).st_mode):
                return _SFTP_NO_SUCH_FILE
            os.unlink(target.real)
            s = self._s
            log.info("deleted %s by %s", target.name, s.recipient)
            s.notify("deleted", lambda: s.events.deleted(s.recipient, target.name))
            return _SFTP_OK

        return self._guard("remove", path, op)

    def _refuse(self, what: str, *paths: str) -> int:
        shown = ", ".join(repr(_printable(p, 256)) for p in paths)
        log.warning("%s refused for %s: %s", what, self._s.recipient, shown)
        return _SFTP_PERMISSION_DENIED

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._refuse("rename", oldpath, newpath)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._refuse("rename", oldpath, newpath)

    def mkdir(self, path: str, attr: Any) -> int:
        return self._refuse("mkdir", path)

    def rmdir(self, path: str) -> int:
        return self._refuse("rmdir", path)

    def chattr(self, path: str, attr: Any) -> int:
        return self._refuse("setstat", path)

    def symlink(self, target_path: str, path: str) -> int:
        return self._refuse("symlink", target_path, path)

    def readlink(self, path: str) -> int:
        return _SFTP_OP_UNSUPPORTED


class DropServer:
    """The SFTP drop. `start` serves in background threads; `stage`, `remove` and `outbox` are
    for kbx itself and work whether or not the server runs."""

    def __init__(
        self,
        root: Path,
        host_key_file: Path,
        keys: KeyLookup,
        events: DropEvents,
        host: str = "127.0.0.1",
        port: int = 2222,
        limits: DropLimits = DropLimits(),
    ) -> None:
        self.root = root
        self.host = host
        self.port = port
        self.limits = limits
        self._keys = keys
        self._events = events
        self._host_key = _load_or_create_host_key(host_key_file)
        blob: bytes = self._host_key.asbytes()
        self.host_key_fingerprint = _fingerprint(blob)
        #: "ssh-ed25519 AAAA..." for known_hosts files of clients
        self.host_public_key = f"{self._host_key.get_name()} {base64.b64encode(blob).decode()}"
        self._throttle = _Throttle(limits, time.monotonic)
        self._lock = threading.Lock()
        self._connections: dict[int, Any] = {}  # id -> paramiko.Transport (None while starting)
        self._next_id = 0
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()
        self.store = DropStore(root)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._connections)

    # -- serving -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._acceptor is not None:
            raise RuntimeError("the drop is already started")
        # paramiko logs every transport step at INFO/DEBUG; kbx's own lines say what matters.
        logging.getLogger("paramiko").setLevel(logging.WARNING)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self.port), family=family, backlog=64)
        listener.settimeout(_POLL_SECONDS * 5)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._acceptor = threading.Thread(target=self._accept_loop, name="kbx-sftp", daemon=True)
        self._acceptor.start()
        log.info("SFTP drop on %s:%d, host key %s", self.host, self.port, self.host_key_fingerprint)

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            # wakes the acceptor's accept() at once instead of at its next timeout
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
        if self._acceptor is not None:
            self._acceptor.join()
            self._acceptor = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            transports = [t for t in self._connections.values() if t is not None]
        for transport in transports:
            transport.close()
        deadline = time.monotonic() + 5
        while self.connections and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS / 2)

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                sock, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("accept failed")
                time.sleep(_POLL_SECONDS)
                continue
            address = str(peer[0])
            try:
                self._admit(sock, address)
            except Exception:
                log.exception("could not start a connection from %s", address)
                sock.close()

    def _admit(self, sock: socket.socket, address: str) -> None:
        # Refused before any SSH byte is exchanged: a banned or excess client costs no key
        # exchange.
        if self._throttle.banned(address):
            log.warning("refused connection from %s: banned", address)
            sock.close()
            return
        conn_id = self._reserve_slot()
        if conn_id is None:
            log.warning(
                "refused connection from %s: %d connections open",
                address,
                self.limits.max_connections,
            )
            sock.close()
            return
        thread = threading.Thread(
            target=self._serve,
            args=(conn_id, sock, address),
            name=f"kbx-sftp-{conn_id}",
            daemon=True,
        )
        try:
            thread.start()
        except BaseException:
            with self._lock:
                del self._connections[conn_id]
            raise

    def _reserve_slot(self) -> int | None:
        with self._lock:
            if len(self._connections) >= self.limits.max_connections:
                return None
            conn_id = self._next_id
            self._next_id += 1
            self._connections[conn_id] = None
            return conn_id

    def _serve(self, conn_id: int, sock: socket.socket, address: str) -> None:
        transport: Any = None
        started = time.monotonic()
        auth: _Auth | None = None
        try:
            transport = paramiko.Transport(
                sock, disabled_algorithms=_DISABLED_ALGORITHMS, strict_kex=True
            )
            with self._lock:
                self._connections[conn_id] = transport
            if self._stopping.is_set():
                return
            transport.add_server_key(self._host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _DropSFTP)
            auth = _Auth(self, address, transport)
            transport.start_server(server=auth)
            # Keep the channel referenced for the whole session: paramiko closes a channel whose
            # last reference goes away.
            channel = None
            deadline = started + LOGIN_GRACE_SECONDS
            while channel is None:
                if not self._running(transport, auth):
                    return
                if time.monotonic() > deadline:
                    log.warning("%s did not log in within the grace time", address)
                    return
                channel = transport.accept(_POLL_SECONDS)
            while self._running(transport, auth):
                transport.join(_POLL_SECONDS)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # Scanners, clients that give up, incompatible algorithms: routine, not errors.
            log.info("connection from %s ended: %s", address, exc)
        except Exception:
            log.exception("connection from %s failed", address)
        finally:
            if transport is not None:
                transport.close()
            else:
                sock.close()
            with self._lock:
                self._connections.pop(conn_id, None)
            session = auth.session if auth is not None else None
            if session is not None:
                log.info(
                    "session of %s from %s closed after %.1f s",
                    session.recipient,
                    address,
                    time.monotonic() - started,
                )

    def _running(self, transport: Any, auth: _Auth) -> bool:
        return bool(
            transport.is_active() and not auth.hang_up.is_set() and not self._stopping.is_set()
        )

    # -- staging (kbx itself, not over SSH) ----------------------------------------------------

    def stage(self, recipient: str, name: str, data: bytes) -> Path:
        """Put ``data`` into the recipient's outbox, atomically (see `DropStore.stage`)."""
        return self.store.stage(recipient, name, data)

    def remove(self, recipient: str, name: str) -> bool:
        """Purge a file from the recipient's outbox; True if it was there."""
        return self.store.remove(recipient, name)

    def outbox(self, recipient: str) -> list[str]:
        """The names a client would see in the recipient's outbox."""
        return self.store.outbox(recipient)
