"""The ports the export flow needs from the outside world; ``app`` wires real adapters in."""

from __future__ import annotations

from typing import Protocol

__all__ = ["ChannelError", "Delivery", "KeySender"]


class ChannelError(Exception):
    """A transport failed; the message names the channel and the reason, never personal data."""


class Delivery(Protocol):
    """Puts a sealed file where the recipient fetches it, atomically (never a partial file)."""

    def deliver(self, recipient: str, name: str, data: bytes) -> None: ...

    def present(self, recipient: str, name: str) -> str | None:
        """SHA-256 (hex) of the delivered file, or None when it is not there."""
        ...

    def withdraw(self, recipient: str, name: str) -> bool: ...


class KeySender(Protocol):
    """Sends a file's password to the recipient's registered contact."""

    def already_sent(self, reference: str) -> bool:
        """Whether a key for this reference left already (makes a resumed run idempotent)."""
        ...

    def send(self, to: str, body: str, reference: str) -> None: ...
