"""The drop's folders on disk, as kbx itself uses them: stage a sealed file, check it, purge it.

This is the `exchange.ports.Delivery` for the SFTP drop. It works whether or not the SFTP server
runs, so that a worker can stage files while a separate `kbx sftp serve` process serves them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import secrets
from pathlib import Path

from channels.sftp_confine import (
    OUTBOX,
    check_name,
    ensure_folders,
    is_valid_name,
    recipient_base,
    resolve,
)
from exchange.ports import ChannelError, Parcel

__all__ = ["DropStore", "fsync_dir"]

log = logging.getLogger("kbx.drop")


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DropStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _final(self, recipient: str, name: str) -> Path:
        base = recipient_base(self.root, recipient)
        check_name(name)
        ensure_folders(base)
        return resolve(base, f"/{OUTBOX}/{name}").real

    def stage(self, recipient: str, name: str, data: bytes) -> Path:
        """Put ``data`` into the recipient's outbox as ``name``, atomically: clients see either
        nothing or the whole file. Replaces an earlier file of that name."""
        final = self._final(recipient, name)
        temp = final.with_name(f".{name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            try:
                os.fchmod(fd, 0o600)  # the umask may only take bits away; be exact anyway
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if size != len(data):
                raise OSError(errno.EIO, f"staged {size} of {len(data)} bytes", str(temp))
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        fsync_dir(final.parent)
        log.info("staged %s for %s: %d bytes", name, recipient, size)
        return final

    def remove(self, recipient: str, name: str) -> bool:
        """Purge a file from the recipient's outbox; True if it was there."""
        base = recipient_base(self.root, recipient)
        check_name(name)
        try:
            os.unlink(resolve(base, f"/{OUTBOX}/{name}").real)
        except FileNotFoundError:
            return False
        log.info("removed %s from the outbox of %s", name, recipient)
        return True

    def outbox(self, recipient: str) -> list[str]:
        """The names a client would see in the recipient's outbox."""
        folder = recipient_base(self.root, recipient) / OUTBOX
        try:
            with os.scandir(folder) as it:
                return sorted(
                    e.name for e in it if is_valid_name(e.name) and e.is_file(follow_symlinks=False)
                )
        except FileNotFoundError:
            return []

    # -- exchange.ports.Delivery ---------------------------------------------------------------

    def deliver(self, parcel: Parcel) -> None:
        try:
            self.stage(parcel.recipient_id, parcel.name, parcel.data)
        except OSError as exc:
            raise ChannelError(f"drop: staging {parcel.name} failed: {exc.strerror}") from exc

    def present(self, recipient: str, name: str) -> str | None:
        base = recipient_base(self.root, recipient)
        check_name(name)
        path = base / OUTBOX / name
        try:
            with path.open("rb") as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest()
        except FileNotFoundError:
            return None

    def withdraw(self, recipient: str, name: str) -> bool:
        return self.remove(recipient, name)
