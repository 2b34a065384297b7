"""Files pushed to a recipient's own SFTP server are watched there (channel ``sftp_push``).

kbx cannot see a download on somebody else's server, only whether the file is still there. Every
``remote_check_minutes`` each pushed file is looked at again:

- gone: the recipient took it and removed it; the run becomes ``fetched``
  (audit ``export.removed_by_recipient``);
- still there after the retention window (``expires_at``): kbx deletes it; the run becomes
  ``purged`` (audit ``export.expired``);
- unreachable server: logged by run id and counted, tried again at the next round.

A run still in ``delivered`` (its key SMS has not gone out yet) is only ever withdrawn at expiry:
marking it fetched would take it out of the worker's queue and its key would never be sent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.flows.deps import ExportDeps
from app.store import runs
from app.store.db import aware, transaction
from exchange.exports import RunState
from exchange.models import ExportRun
from exchange.ports import ChannelError
from exchange.protocols import Channel

__all__ = ["watch_pushed"]

log = logging.getLogger("kbx.remote_watch")

_WATCHED = (RunState.DELIVERED, RunState.KEY_SENT)


def watch_pushed(engine: Engine, deps: ExportDeps) -> dict[str, int]:
    """One round over the pushed files that are due; returns what it found, by kind."""
    now = deps.settings.now()
    due = now - timedelta(minutes=deps.settings.remote_check_minutes)
    counts = {"checked": 0, "removed_by_recipient": 0, "expired": 0, "unreachable": 0}
    with transaction(engine) as session:
        due_runs = [
            (r.id, r.recipient_id, r.file_name, r.expires_at)
            for r in runs.pushed_to_watch(session, now, due)
        ]
    for run_id, recipient_id, name, expires_at in due_runs:
        assert name is not None  # selected so
        expiry = aware(expires_at)
        expired = expiry is not None and expiry <= now
        digest: str | None = None
        withdrawn = False
        try:
            delivery = deps.delivery(Channel.SFTP_PUSH.value)
            if expired:
                withdrawn = delivery.withdraw(recipient_id, name)
            else:
                digest = delivery.present(recipient_id, name)
        except ChannelError as exc:
            log.warning("run %s: the recipient's server could not be checked: %s", run_id, exc)
            counts["unreachable"] += 1
            continue
        counts["checked"] += 1
        with transaction(engine) as session:
            run = runs.load(session, run_id)
            if RunState(run.state) not in _WATCHED:
                continue  # moved on meanwhile (withdrawn by staff, purged by another worker)
            run.remote_checked_at = now
            if expired:
                _move(session, run, RunState.PURGED, "export.expired", now, withdrawn=withdrawn)
                counts["expired"] += 1
            elif digest is None and run.state == RunState.KEY_SENT:
                _move(session, run, RunState.FETCHED, "export.removed_by_recipient", now)
                counts["removed_by_recipient"] += 1
            elif digest is None:
                log.info("run %s: the file is gone before its key was sent", run_id)
            elif digest != run.file_sha256:
                log.warning(
                    "run %s: the file on the recipient's server is not the one sent", run_id
                )
    return counts


def _move(
    session: Session,
    run: ExportRun,
    target: RunState,
    action: str,
    now: datetime,
    **details: object,
) -> None:
    runs.move(
        session,
        run,
        target,
        actor="worker",
        action=action,
        now=now,
        file=run.file_name,
        channel=run.channel,
        **details,
    )
