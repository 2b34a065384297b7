"""What the SFTP drop tells kbx: logins, listings, downloads and deletions become audit events,
and a download or a deletion moves the run of that file on (fetched, purged)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine, select

from app.settings import Settings
from app.store import runs
from app.store.audit import record
from app.store.db import transaction
from exchange.exports import RunState, can_move
from exchange.models import RecipientKey

__all__ = ["RecordingDropEvents", "recipient_keys"]

log = logging.getLogger("kbx.sftp")


class RecordingDropEvents:
    """The kbx implementation of the drop's event port."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def _event(self, recipient: str, action: str, **details: object) -> None:
        with transaction(self.engine) as session:
            record(
                session,
                actor=f"sftp:{recipient}",
                action=action,
                subject=f"recipient:{recipient}",
                details=details,
                now=self.settings.now(),
            )

    def login(self, recipient: str, fingerprint: str, address: str) -> None:
        self._event(recipient, "sftp.login", key=fingerprint, address=address)

    def auth_failed(self, username: str, address: str, reason: str) -> None:
        # The username is what a client typed: keep it short; it is not trusted.
        self._event(username[:32], "sftp.auth_failed", address=address, reason=reason)

    def listed(self, recipient: str, folder: str) -> None:
        self._event(recipient, "sftp.listed", folder=folder)

    def uploaded(self, recipient: str, name: str, size: int) -> None:
        self._event(recipient, "sftp.uploaded", file=name, bytes=size)

    def downloaded(self, recipient: str, name: str, size: int) -> None:
        self._move(recipient, name, RunState.FETCHED, "sftp.downloaded", bytes=size)

    def deleted(self, recipient: str, name: str) -> None:
        self._move(recipient, name, RunState.PURGED, "sftp.deleted")

    def _move(
        self, recipient: str, name: str, target: RunState, action: str, **details: object
    ) -> None:
        now = self.settings.now()
        actor = f"sftp:{recipient}"
        with transaction(self.engine) as session:
            run = runs.by_file(session, recipient, name)
            if run is None:
                record(
                    session,
                    actor=actor,
                    action=action,
                    subject=f"recipient:{recipient}",
                    details={"file": name, **details},
                    now=now,
                )
                return
            if RunState(run.state) is target or not can_move(RunState(run.state), target):
                if RunState(run.state) is not target:
                    log.warning("run %s: %s while %s", run.id, action, run.state)
                runs.note(session, run, actor=actor, action=action, now=now, file=name, **details)
                return
            runs.move(
                session, run, target, actor=actor, action=action, now=now, file=name, **details
            )


def recipient_keys(engine: Engine) -> Callable[[str], list[str]]:
    """The drop's key lookup: the registered public key lines of a recipient, read per login so
    that a removed key stops working at once."""

    def lookup(recipient: str) -> list[str]:
        with transaction(engine) as session:
            return list(
                session.scalars(
                    select(RecipientKey.public_key).where(RecipientKey.recipient_id == recipient)
                )
            )

    return lookup
