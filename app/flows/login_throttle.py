"""Failed logins, held back per account name and source address: one rule for the console's
login form and the API's token endpoint, counted in the database (``app.store.rate_limits``) so
that it holds across the HTTP processes of ``kbx serve --workers N`` and across restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from app.store import rate_limits
from app.store.db import transaction

__all__ = ["LOGIN_ATTEMPTS", "LOGIN_RATE_LIMIT", "LOGIN_WINDOW_SECONDS", "failed", "wait"]

# Failed logins per account name and source address in any 15 minutes, before refusing.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW_SECONDS = 15 * 60.0
# The kind of limit in ``app.store.rate_limits`` (the console and the API share it).
LOGIN_RATE_LIMIT = "console_login"


def _key(name: str, source: str) -> str:
    return f"{name[:64]}\n{source}"  # no account name is longer (check_name); stored hashed


def wait(engine: Engine, name: str, source: str) -> int | None:
    """Whether ``name`` from ``source`` (an IP address) used up its failed logins: the whole
    seconds to wait, or None. Counts nothing."""
    with transaction(engine) as db:
        return rate_limits.wait(
            db,
            LOGIN_RATE_LIMIT,
            _key(name, source),
            LOGIN_ATTEMPTS,
            LOGIN_WINDOW_SECONDS,
            datetime.now(UTC),
        )


def failed(engine: Engine, name: str, source: str) -> None:
    """Counts one failed login of ``name`` from ``source``."""
    with transaction(engine) as db:
        rate_limits.hit(
            db,
            LOGIN_RATE_LIMIT,
            _key(name, source),
            LOGIN_ATTEMPTS,
            LOGIN_WINDOW_SECONDS,
            datetime.now(UTC),
        )
