"""Dev-only key sender: the SMS goes to a JSON-lines outbox file an operator can read.

It refuses to exist when KBX_ENV=production (the caller passes ``production``): a real deployment
sends the key with Twilio.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from exchange.ports import ChannelError

__all__ = ["SmsOutbox"]


class SmsOutbox:
    def __init__(self, path: Path, *, production: bool) -> None:
        if production:
            raise ChannelError("the SMS outbox is a development stand-in; use Twilio in production")
        self.path = path
        self._lock = threading.Lock()

    def already_sent(self, reference: str) -> bool:
        return any(m.get("reference") == reference for m in self.messages())

    def send(self, to: str, body: str, reference: str) -> None:
        line = json.dumps(
            {
                "to": to,
                "body": body,
                "reference": reference,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
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

    def messages(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
