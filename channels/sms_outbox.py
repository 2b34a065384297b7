"""Dev-only key sender: the SMS goes to a JSON-lines outbox file an operator can read.

It refuses to exist when KBX_ENV=production (the caller passes ``production``): a real deployment
sends the key with Twilio.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange.ports import ChannelError, SentSms

__all__ = ["SmsOutbox"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SmsOutbox:
    provider = "outbox"

    def __init__(
        self, path: Path, *, production: bool, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        if production:
            raise ChannelError("the SMS outbox is a development stand-in; use Twilio in production")
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()

    def send(self, to: str, body: str, reference: str) -> SentSms:
        sid = f"outbox-{uuid.uuid4().hex}"
        line = json.dumps(
            {
                "sid": sid,
                "to": to,
                "body": body,
                "reference": reference,
                "created_at": self._clock().isoformat(timespec="seconds"),
            },
            ensure_ascii=False,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (line + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        return SentSms(self.provider, sid, "sent")

    def lookup(self, to: str, reference: str, since: datetime) -> list[SentSms]:
        earliest = since - timedelta(seconds=1)  # the file keeps whole seconds
        return [
            SentSms(self.provider, m.get("sid"), "sent")
            for m in self.messages()
            if m.get("reference") == reference
            and m.get("to") == to
            and datetime.fromisoformat(m["created_at"]) >= earliest
        ]

    def messages(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
