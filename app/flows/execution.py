"""Carrying an approved run: build, seal, deliver, send the key; resumable after a crash.

A run found in ``approved``, ``built`` or ``delivered`` after a crash continues from there, and
never leaves a key without a file or two files for one run. Only one process carries a run at a
time (``app.store.run_lock``). Every state change goes through ``app.store.runs.move``.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.flows.deps import ExportDeps, crash_point
from app.flows.exports import still_allowed
from app.flows.key_sms import send_key
from app.store import runs
from app.store.db import READ_ONLY, aware, transaction
from app.store.recipients import get_recipient, own_agreement
from app.store.run_lock import exclusive_run
from crypto.passwords import new_password
from crypto.sealing import Column, SealedFile, build_csv, build_xlsx, seal
from exchange.exports import RunState, expiry, info_sheet, readme_text
from exchange.fields import FIELD_CATALOGUE
from exchange.models import ExportRun, Recipient
from exchange.periods import parse_period
from exchange.ports import ChannelError, ChannelUnavailable, Parcel
from exchange.protocols import Channel, ProtocolDefinition
from exchange.selection import SelectionRequest, build_count, build_selection

__all__ = ["DEFERRAL_LIMIT", "deliver", "execute", "fail", "pending_runs", "seal_file"]

log = logging.getLogger("kbx.exports")


def fail(engine: Engine, deps: ExportDeps, run_id: int, why: str) -> None:
    """Fail a run for good, saying why (at most 200 characters, never personal data); its
    password is destroyed."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        run.failure = why[:200]
        run.password_sealed = None
        runs.move(
            session,
            run,
            RunState.FAILED,
            actor="worker",
            action="export.failed",
            now=now,
            reason=why[:200],
        )


def _remembering(
    rows: Iterator[Sequence[object]], column: int, sent: list[str]
) -> Iterator[Sequence[object]]:
    """Passes the rows through and keeps the national numbers (a run with a return leg checks
    the return against exactly what was sent)."""
    for row in rows:
        sent.append(str(row[column]))
        yield row


def seal_file(
    engine: Engine,
    deps: ExportDeps,
    run: ExportRun,
    definition: ProtocolDefinition,
    recipient: Recipient,
    password: str,
    now: datetime,
    sent: list[str] | None = None,
    previous_list_on: date | None = None,
) -> SealedFile:
    parsed = parse_period(run.period)
    assert parsed is not None  # the policy accepted it
    request = SelectionRequest(
        run.recipient_id,
        parsed,
        deps.settings.current_date(),
        run.lookback_years,
        previous_list_on=previous_list_on,
    )
    statement = build_selection(definition, request)
    reference = run.reference or ""
    # Only the build reads the store, in a read-only transaction (on SQLite: DEFERRED, no write
    # lock), so parallel executors (app.flows.batch_runner) build side by side; the key
    # derivation and encryption, which cost more than building most files, run after the
    # connection is closed.
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        with Session(bind=connection) as session:  # the file names the recipient's own copy
            agreement = own_agreement(session, run.recipient_id, definition)
        expected = connection.execute(build_count(definition, request)).scalar_one()
        result = connection.execution_options(stream_results=True, yield_per=2000).execute(
            statement
        )
        rows: Iterator[Sequence[object]] = (tuple(r) for r in result)
        if sent is not None:
            rows = _remembering(rows, definition.field_names.index("national_number"), sent)
        # What the file says about itself (seeds: the retention clause and the instruction to
        # move the file off the transport medium): the "Info" sheet, or LEESMIJ.txt in the 7z.
        info = info_sheet(
            definition,
            reference=reference,
            period=run.period,
            recipient_name=recipient.name_nl,
            built_at=now,
            row_count=expected,
            lookback_years=run.lookback_years,
            agreement=agreement,
            field_names=recipient.kind != "municipality",
        )
        if recipient.kind == "municipality":
            # People open these: Excel with Dutch headers and an information sheet.
            columns = [
                Column(FIELD_CATALOGUE[n].label_nl, FIELD_CATALOGUE[n].value_type)
                for n in definition.field_names
            ]
            plain = build_xlsx(columns, rows, info, reference)
        else:
            # Machines read these: CSV with the field names, in an AES-256 7z archive.
            csv_name = f"{reference}.csv"
            plain = build_csv(
                definition.field_names, rows, csv_name, readme=readme_text(info, csv_name)
            )
    sealed = seal(plain, password)
    if sealed.rows != expected:
        raise ChannelError("the store changed while the file was built; request the export again")
    return sealed


def _build(engine: Engine, deps: ExportDeps, run_id: int) -> tuple[bytes, str] | None:
    """Select, seal, and record the built file. Returns (sealed bytes, file name)."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        definition = deps.registry.require(run.protocol_id)
        recipient = get_recipient(session, run.recipient_id)
        problem = _still_allowed(session, deps, run, definition)
        previous = runs.previous_list_on(session, run)
    if problem:
        fail(engine, deps, run_id, problem)
        return None
    password = new_password()
    sent: list[str] | None = [] if definition.profile is not None else None
    sealed = seal_file(engine, deps, run, definition, recipient, password, now, sent, previous)
    name = f"{run.reference}{sealed.suffix}"
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        run.row_count, run.file_name = sealed.rows, name
        run.file_size, run.file_sha256 = len(sealed.data), sealed.sha256
        run.field_list = json.dumps(definition.field_names)
        run.password_sealed = deps.vault.seal(password.encode(), (run.reference or "").encode())
        if sent is not None:
            packed = zlib.compress("\n".join(sent).encode())
            run.sent_sealed = deps.vault.seal(packed, f"sent:{run.reference}".encode())
        runs.move(
            session,
            run,
            RunState.BUILT,
            actor="worker",
            action="export.built",
            now=now,
            rows=sealed.rows,
            sha256=sealed.sha256,
            fields=definition.field_names,
        )
    crash_point(deps.settings, "sealed")
    return sealed.data, name


def _still_allowed(
    session: Session, deps: ExportDeps, run: ExportRun, definition: ProtocolDefinition
) -> str | None:
    """The protocol may have changed or ended between request and build: check again."""
    if definition.content_hash != run.definition_hash:
        return "the protocol definition changed after the request; request again"
    decision = still_allowed(session, deps, run)
    if decision is not None:
        return "refused at build time: " + ", ".join(r.rule for r in decision.reasons)
    return None


_WITHDRAWABLE = (Channel.SFTP_DROP.value, Channel.SFTP_PUSH.value)

_MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "7z": "application/x-7z-compressed",
}


def deliver(engine: Engine, deps: ExportDeps, run_id: int, data: bytes, name: str) -> None:
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        definition = deps.registry.require(run.protocol_id)
        parcel = Parcel(
            recipient_id=run.recipient_id,
            name=name,
            data=data,
            reference=run.reference or "",
            media_type=_MEDIA_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream"),
            protocol_title_nl=definition.title_nl,
            disclaimer_nl=definition.mail_disclaimer_nl,
        )
        channel = run.channel
    deps.delivery(channel).deliver(parcel)
    crash_point(deps.settings, "uploaded")
    _mark_delivered(engine, deps, run_id)


def _mark_delivered(engine: Engine, deps: ExportDeps, run_id: int) -> None:
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        # Files on a server (ours or the recipient's) expire; a mail cannot be called back.
        if run.channel in _WITHDRAWABLE:
            run.expires_at = expiry(now, deps.settings.drop_retention_days)
        runs.move(
            session,
            run,
            RunState.DELIVERED,
            actor="worker",
            action="export.delivered",
            now=now,
            channel=run.channel,
            file=run.file_name,
            bytes=run.file_size,
            sha256=run.file_sha256,
        )


def execute(engine: Engine, deps: ExportDeps, run_id: int) -> RunState:
    """Carry a run as far as it can go: build, seal, deliver, send the key. Resumable; a run
    that another process is carrying right now is left to it (its current state is returned)."""
    with exclusive_run(engine, deps.settings.data_dir / "locks", run_id) as mine:
        if mine:
            return _carry(engine, deps, run_id)
    log.info("run %s is being carried by another process", run_id)
    with transaction(engine) as session:
        return RunState(runs.load(session, run_id).state)


def _carry(engine: Engine, deps: ExportDeps, run_id: int) -> RunState:
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        state, name, sha = RunState(run.state), run.file_name, run.file_sha256
        recipient_id, channel = run.recipient_id, run.channel
        derived = run.parent_id is not None
    if derived and state in (RunState.APPROVED, RunState.BUILT):
        # built from its parent's return, not from a selection: see app.flows.round_trip
        return state
    try:
        if state is RunState.BUILT:
            assert name is not None
            present = deps.delivery(channel).present(recipient_id, name)
            if present is not None and present == sha:
                _mark_delivered(engine, deps, run_id)  # uploaded before a crash: resume
                state = RunState.DELIVERED
            else:
                if present is not None:
                    deps.delivery(channel).withdraw(recipient_id, name)
                state = RunState.APPROVED  # the sealed bytes are gone: build again
        if state is RunState.APPROVED:
            built = _build(engine, deps, run_id)
            if built is None:
                return RunState.FAILED
            deliver(engine, deps, run_id, *built)
            state = RunState.DELIVERED
        if state is RunState.DELIVERED:
            send_key(engine, deps, run_id)
            state = RunState.KEY_SENT
    except ChannelUnavailable as exc:
        return _defer(engine, deps, run_id, exc)
    except ChannelError as exc:
        log.warning("run %s: delivery failed: %s", run_id, exc)
        with transaction(engine) as session:
            current = RunState(runs.load(session, run_id).state)
        if current in (RunState.APPROVED, RunState.BUILT):
            fail(engine, deps, run_id, f"channel: {exc}")
            return RunState.FAILED
        raise
    return state


# How long a recipient's server may stay unreachable before a built run fails for good.
DEFERRAL_LIMIT = timedelta(days=1)


def _defer(engine: Engine, deps: ExportDeps, run_id: int, exc: ChannelError) -> RunState:
    """The recipient's server could not be reached: the run waits (``remote_checked_at`` is its
    last attempt) and is tried again every ``remote_check_minutes``, for a day at most."""
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        state = RunState(run.state)
        if state not in (RunState.APPROVED, RunState.BUILT):
            raise exc
        since = aware(run.state_changed_at) or now
        if now - since > DEFERRAL_LIMIT:
            give_up = True
        else:
            give_up = False
            first = run.remote_checked_at is None
            run.remote_checked_at = now
            if first:
                runs.note(
                    session,
                    run,
                    actor="worker",
                    action="export.delivery_deferred",
                    now=now,
                    reason=str(exc),
                )
    if give_up:
        fail(engine, deps, run_id, f"channel: unreachable for a day: {exc}")
        return RunState.FAILED
    log.warning("run %s: %s; kbx tries again later", run_id, exc)
    return state


def pending_runs(engine: Engine, deps: ExportDeps | None = None) -> list[int]:
    """Runs the worker must carry on: approved, or stopped half-way by a crash; a run waiting
    for an unreachable server only once ``remote_check_minutes`` have passed."""
    retry = None
    if deps is not None:
        retry = deps.settings.now() - timedelta(minutes=deps.settings.remote_check_minutes)
    with transaction(engine) as session:
        return runs.to_carry(session, retry_before=retry)
