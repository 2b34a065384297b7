"""Dev-only mail transport: each message becomes an ``.eml`` file under the data directory.

It is what a mail route uses when its relay host is empty (``KBX_SECURE_MAIL_HOST``,
``KBX_ZIVVER_HOST``), so that ``kbx serve`` works on a laptop with no relay at all. It refuses
to exist when KBX_ENV=production (the caller passes ``production``): a real deployment sends
through a relay over TLS (``channels.mail.SmtpSender``).

The files hold the sealed attachment, never a password; they are written atomically with mode
0600 in a folder of mode 0700, and an operator reads them with any mail client.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import EmailMessage
from io import BytesIO
from pathlib import Path

from channels.drop_store import fsync_dir
from exchange.ports import ChannelError

__all__ = ["MailCapture"]


class MailCapture:
    def __init__(self, folder: Path, *, route: str, production: bool) -> None:
        if production:
            raise ChannelError(
                f"{route}: the mail capture is a development stand-in; "
                "set the route's relay host in production"
            )
        self.folder = folder
        self.route = route

    def __repr__(self) -> str:
        return f"MailCapture({self.route}: {self.folder})"

    def send(self, message: EmailMessage, *, sender: str, to: str) -> None:
        buffer = BytesIO()
        # The envelope, as a relay would have seen it, above the message itself.
        buffer.write(f"X-Kbx-Envelope-From: {sender}\r\nX-Kbx-Envelope-To: {to}\r\n".encode())
        BytesGenerator(buffer, policy=message.policy).flatten(message)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{self.route}-{secrets.token_hex(4)}.eml"
        try:
            self._write(name, buffer.getvalue())
        except OSError as exc:
            raise ChannelError(f"{self.route}: the mail capture failed: {exc.strerror}") from exc

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self.folder / name
        temp = self.folder / f".{name}.tmp"
        fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        fsync_dir(self.folder)

    def messages(self) -> list[Path]:
        """The captured files, oldest first."""
        if not self.folder.exists():
            return []
        return sorted(p for p in self.folder.iterdir() if p.suffix == ".eml")
