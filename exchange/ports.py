"""The ports the export flow needs from the outside world; ``app`` wires real adapters in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = [
    "ChannelError",
    "ChannelUnavailable",
    "Delivery",
    "KeySender",
    "Parcel",
    "ReturnBox",
    "SentSms",
    "SftpTarget",
    "SmsRefused",
]


class ChannelError(Exception):
    """A transport failed; the message names the channel and the reason, never personal data."""


class ChannelUnavailable(ChannelError):
    """The other side could not be reached just now (refused, timed out, cut off): the same step
    may well succeed later, unlike a changed host key or a refused login."""


@dataclass(frozen=True)
class Parcel:
    """A sealed file on its way to a recipient, with what a channel may say about it."""

    recipient_id: str
    name: str  # the file name: the run's reference and the format's suffix
    data: bytes
    reference: str
    media_type: str
    protocol_title_nl: str
    disclaimer_nl: str | None  # the protocol's mail disclaimer; mail channels must carry it


@dataclass(frozen=True)
class SftpTarget:
    """A recipient's own SFTP server (channel ``sftp_push``). The host key is pinned: an unknown
    or changed key fails the delivery."""

    host: str
    port: int
    username: str
    private_key_pem: bytes = b""
    host_key: str = ""  # "ssh-ed25519 AAAA..."
    path: str = "."
    return_path: str | None = None

    def __repr__(self) -> str:  # the private key never ends up in a log line or traceback
        return f"SftpTarget({self.username}@{self.host}:{self.port}{self.path})"


class Delivery(Protocol):
    """Puts a sealed file where the recipient fetches it, atomically (never a partial file)."""

    def deliver(self, parcel: Parcel) -> None: ...

    def present(self, recipient: str, name: str) -> str | None:
        """SHA-256 (hex) of the delivered file, or None when it is not (or no longer) there.
        A channel that cannot look (mail) answers None."""
        ...

    def withdraw(self, recipient: str, name: str) -> bool: ...


class ReturnBox(Protocol):
    """Where a recipient puts files back for kbx (VDAB's return folder)."""

    def returned(self, recipient: str) -> list[str]: ...

    def fetch_return(self, recipient: str, name: str) -> bytes: ...

    def remove_return(self, recipient: str, name: str) -> None: ...


class SmsRefused(ChannelError):
    """The SMS provider refused the message: it certainly did not leave, so sending again is
    safe. ``code`` is the provider's error code (Twilio's 21211, ...), when it gave one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SentSms:
    """One key SMS as its provider knows it: ``sid`` is the provider's id of the message (None
    when not known) and ``status`` its status (see exchange.sms_status; ``unknown`` when the
    outcome of sending is not known)."""

    provider: str
    sid: str | None
    status: str
    error_code: str | None = None


class KeySender(Protocol):
    """Sends a file's password to the recipient's registered contact.

    Message creation has no idempotency key at the providers, so ``send`` never answers an
    unknown outcome with an exception: a timeout or a broken connection is a ``SentSms`` with
    status ``unknown``, and ``lookup`` tells later whether that message left after all. Only a
    certain refusal raises (``SmsRefused``): the message did not leave."""

    provider: str  # "outbox" or "twilio": what ``SmsMessage.provider`` records

    def send(self, to: str, body: str, reference: str) -> SentSms: ...

    def lookup(self, to: str, reference: str, since: datetime) -> list[SentSms]:
        """Every message to ``to`` that names ``reference``, created at or after ``since`` (with
        some slack for clocks), oldest first, with its current status. Raises ChannelError when
        the provider cannot be asked: then nobody knows, and nothing may be sent again."""
        ...
