"""What every flow is given: settings, the protocol registry, the vault, and the channels by name.

``app.wiring.build_deps`` builds the real ones; the tests build theirs from the same adapters.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.registry import Registry
from app.settings import Environment, Settings
from crypto.vault import SecretBox
from exchange.ports import ChannelError, Delivery, KeySender, ReturnBox

__all__ = ["ExportDeps", "crash_point"]


@dataclass(frozen=True)
class ExportDeps:
    """The service's parts: ``deliveries`` and ``returns`` are keyed by channel name
    (``sftp_drop``, ``sftp_push``, ...), ``keys`` sends the key SMS."""

    settings: Settings
    registry: Registry
    vault: SecretBox
    deliveries: Mapping[str, Delivery]  # by channel
    keys: KeySender
    returns: Mapping[str, ReturnBox] = field(default_factory=dict)  # by channel

    def return_box(self, channel: str) -> ReturnBox:
        """The return folder of ``channel``. Raises ``ChannelError`` when it has none."""
        found = self.returns.get(channel)
        if found is None:
            raise ChannelError(f"channel {channel} has no return folder on this service")
        return found

    def delivery(self, channel: str) -> Delivery:
        """The delivery adapter of ``channel``. Raises ``ChannelError`` when not configured."""
        found = self.deliveries.get(channel)
        if found is None:
            raise ChannelError(f"channel {channel} is not configured on this service")
        return found


def crash_point(settings: Settings, name: str) -> None:
    """Lets the crash tests kill the process at a named point; inert in production."""
    if settings.env is not Environment.PRODUCTION and os.environ.get("KBX_TEST_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
