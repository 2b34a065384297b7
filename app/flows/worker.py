"""The worker: carries approved (and crash-interrupted) runs through, withdraws expired files from
the drop, and destroys passwords once the resend window has passed. Also runs inside
``kbx serve``."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine

from app.flows.deps import ExportDeps
from app.flows.execution import execute, pending_runs
from app.flows.remote_watch import watch_pushed
from app.flows.round_trip import collect_due
from app.flows.sms_reconcile import reconcile_unknown
from app.store import runs
from app.store.db import transaction
from exchange.exports import RunState

__all__ = ["destroy_old_passwords", "purge_expired", "run_worker", "work_once"]

log = logging.getLogger("kbx.worker")

# When the worker last looked for each round trip's return (this process only).
_LAST_LOOK: dict[int, datetime] = {}

_ON_THE_DROP = (RunState.DELIVERED, RunState.KEY_SENT, RunState.FETCHED)


def purge_expired(engine: Engine, deps: ExportDeps) -> int:
    """Files still on the drop after the retention window leave it (pushed files: see
    app.flows.remote_watch, which also knows when the recipient's server cannot be reached)."""
    now = deps.settings.now()
    with transaction(engine) as session:
        due = runs.expired_on_the_drop(session, now)
        targets = [(r.id, r.recipient_id, r.file_name, r.channel) for r in due]
    purged = 0
    for run_id, recipient_id, name, channel in targets:
        if name is not None:
            deps.delivery(channel).withdraw(recipient_id, name)
        with transaction(engine) as session:
            run = runs.load(session, run_id)
            if RunState(run.state) not in _ON_THE_DROP:
                continue  # fetched-and-deleted by the recipient meanwhile
            runs.move(
                session,
                run,
                RunState.PURGED,
                actor="worker",
                action="export.expired",
                now=now,
                file=name,
            )
            purged += 1
    return purged


def destroy_old_passwords(engine: Engine, deps: ExportDeps) -> int:
    """The encrypted password is kept only for a resend; after the window it is destroyed."""
    now = deps.settings.now()
    limit = now - timedelta(days=deps.settings.key_resend_days)
    with transaction(engine) as session:
        due = runs.passwords_to_destroy(session, limit)
        for run in due:
            run.password_sealed = None
            run.password_destroyed_at = now
            runs.note(session, run, actor="worker", action="export.password_destroyed", now=now)
    return len(due)


def work_once(engine: Engine, deps: ExportDeps) -> dict[str, int]:
    done = 0
    for run_id in pending_runs(engine, deps):
        try:
            execute(engine, deps, run_id)
            done += 1
        except Exception:  # one bad run must not stop the others; it is logged by id only
            log.exception("run %s could not be completed", run_id)
    return {
        "runs": done,
        # before purge_expired: pushed files are withdrawn over SFTP, with their own audit
        **{f"pushed_{k}": v for k, v in watch_pushed(engine, deps).items()},
        "expired": purge_expired(engine, deps),
        "returns_collected": collect_due(engine, deps, _LAST_LOOK),
        "passwords_destroyed": destroy_old_passwords(engine, deps),
        "sms_reconciled": reconcile_unknown(engine, deps),
    }


def run_worker(engine: Engine, deps: ExportDeps, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    log.info("worker started, every %.1f s", deps.settings.worker_interval_seconds)
    while not stop.is_set():
        try:
            result = work_once(engine, deps)
        except Exception:  # the worker must outlive a bad pass (a database restart, say)
            log.exception(
                "worker pass failed; next pass in %.1f s", deps.settings.worker_interval_seconds
            )
            result = {}
        if any(result.values()):
            log.info("worker: %s", result)
        stop.wait(deps.settings.worker_interval_seconds)
