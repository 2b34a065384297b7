"""The console's session: a cookie sealed with the service key (AES-256-GCM, ``crypto.vault``).

The cookie holds the account id, the times of the login and of the last request (for the
session's lifetime and idle timeout) and the
CSRF token bound to the session; sealing makes it unreadable and unforgeable without the service
key. Nothing is kept on the server: each request re-reads the account (``app.store.users``), so a
disabled account, or one whose password was reset, loses access at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

from crypto.vault import SecretBox, VaultError

__all__ = [
    "COOKIE",
    "ConsoleSession",
    "credential_tag",
    "csrf_matches",
    "new_session",
    "open_session",
    "seal",
]

COOKIE = "kbx_console"
# The associated data binds a sealed value to this use: a sealed file password never opens here.
_CONTEXT = b"kbx console session v1"


@dataclass(slots=True)
class ConsoleSession:
    """``user_id``: the logged-in account, or ``None`` before login; ``started`` and
    ``last_seen``: POSIX seconds of the login and of the last request (``Settings.now``);
    ``csrf``: the token every form carries."""

    csrf: str
    user_id: int | None = None
    started: float = 0.0
    last_seen: float = 0.0
    credential: str = ""  # ``credential_tag`` of the password the session was opened with


def new_session() -> ConsoleSession:
    """A session with no account and a fresh CSRF token (256 random bits)."""
    return ConsoleSession(csrf=secrets.token_urlsafe(32))


def seal(vault: SecretBox, session: ConsoleSession) -> str:
    """The cookie value: base64url of the sealed JSON of ``session``."""
    plain = json.dumps(asdict(session), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(vault.seal(plain, _CONTEXT)).decode("ascii")


def open_session(vault: SecretBox, value: str | None) -> ConsoleSession | None:
    """The session of a cookie value, or ``None`` when there is none or it was not sealed by
    this service key (altered, truncated, another key: all look the same)."""
    if not value:
        return None
    try:
        data = json.loads(vault.open(base64.urlsafe_b64decode(value.encode("ascii")), _CONTEXT))
        return ConsoleSession(
            csrf=str(data["csrf"]),
            user_id=None if data["user_id"] is None else int(data["user_id"]),
            started=float(data["started"]),
            credential=str(data["credential"]),
            last_seen=float(data["last_seen"]),
        )
    except (VaultError, binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        return None


def credential_tag(password_hash: str) -> str:
    """A short digest of an account's password hash: a session opened before the password was
    reset no longer matches it and ends."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def csrf_matches(session: ConsoleSession, sent: str) -> bool:
    """Whether a form's token is the session's (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), sent.encode("utf-8"))
