"""The return leg of a round trip (``vdab-pillar3``, seed 001, recital F).

VDAB puts its enriched file back, in a 7z archive under the password of the file kbx sent. kbx
collects it from the return folder, checks it against exactly the numbers it sent (refused whole,
with a report of lines and columns but no values), joins the Art. 3 profile fields, replaces the
national numbers by keyed pseudonyms, and delivers the dataset to each of the definition's
``profile.dataset_recipients`` as a run of its own (its own file, password and key SMS): the BI
working group (art. 4) over the SFTP drop, and VDAB (recital F: "De Agentschappen en VDAB
verwerken het gepseudonimiseerde bestand") over the round trip's own channel, its SFTP server.
Only then does the return file leave VDAB's server and the parent run become ``returned``; a
crash before that point repeats the collection and rebuilds a dataset under the same run, never a
second one.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from app.errors import Conflict, InvalidInput
from app.flows.deps import ExportDeps
from app.flows.execution import deliver, execute
from app.flows.exports import require_route
from app.flows.vdab_dataset import load_pseudonymiser, profiles_for
from app.store import runs
from app.store.db import transaction
from app.store.recipients import get_recipient
from crypto.archives import ArchiveError, open_single_7z
from crypto.passwords import new_password
from crypto.pseudonyms import Purpose
from crypto.sealing import README_NAME, build_csv, seal
from exchange.csv_input import decoded_lines
from exchange.exports import RunState, info_sheet, readme_text
from exchange.models import ExportRun
from exchange.periods import parse_period
from exchange.protocols import Channel
from exchange.shown import shown
from exchange.vdab_return import ReturnRefused, parse_return, pseudonymised_rows

__all__ = [
    "BI_RECIPIENT",
    "Collected",
    "awaiting_return",
    "collect",
    "collect_due",
    "is_return_for",
]

log = logging.getLogger("kbx.round_trip")

BI_RECIPIENT = "bi-werkgroep"
_WAITING = (RunState.KEY_SENT, RunState.FETCHED, RunState.PURGED)


@dataclass(frozen=True)
class Collected:
    run_id: int
    outcome: str  # "waiting", "refused", "returned"
    rows: int = 0
    not_returned: int = 0
    dataset_run_id: int | None = None  # the first dataset run (the BI working group's)
    report: list[str] = field(default_factory=list)
    dataset_run_ids: tuple[int, ...] = ()  # every dataset run, in dataset_recipients' order
    reference: str = ""
    blank_rows: int = 0  # empty lines and rows of bare separators in the return file, skipped
    # "waiting" only: the files in the return folder that are not named after the reference,
    # as they may be shown (a name with a long run of digits is not repeated)
    unexpected: list[str] = field(default_factory=list)


_REFERENCE_NAME = re.compile(r"KBX-\d{4}-\d{6}[A-Za-z0-9_.-]{0,40}")


def _shown_name(name: str) -> str:
    """A file name from the recipient's server as kbx may repeat it: a kbx reference is an
    identifier; any other name with a run of six digits may hold a national number."""
    return name if _REFERENCE_NAME.fullmatch(name) else shown(name)


def is_return_for(name: str, reference: str) -> bool:
    """Whether a file in the return folder is the return of the run ``reference``: its name
    begins with the reference, in any case (``KBX-2026-000021.7z``,
    ``kbx-2026-000021-retour.7z``); docs/vdab-return.md."""
    return name.upper().startswith(reference.upper())


@dataclass(frozen=True)
class _Waiting:
    reference: str
    recipient_id: str
    channel: str
    period: str
    password: str
    sent: frozenset[str]
    profile_fields: list[str]
    refused_sha256: str | None
    # Who gets the dataset, and over which channel: the round trip's own recipient over the
    # round trip's channel, everyone else over the SFTP drop.
    targets: list[tuple[str, Channel]]


def _waiting(engine: Engine, deps: ExportDeps, run_id: int) -> _Waiting:
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        definition = deps.registry.require(run.protocol_id)
        if definition.profile is None:
            raise InvalidInput(
                "run.no_return_leg",
                f"{run.protocol_id} has no return leg",
                f"{run.protocol_id} heeft geen terugweg",
            )
        if RunState(run.state) not in _WAITING or run.sent_sealed is None:
            raise Conflict(
                "run.not_awaiting_return",
                f"run {run_id} is not awaiting a return",
                f"run {run_id} wacht niet op een terugbestand",
            )
        if run.password_sealed is None:
            raise Conflict(
                "run.key_destroyed",
                f"the password of run {run_id} has been destroyed",
                f"het wachtwoord van export {run_id} is vernietigd",
            )
        reference = run.reference or ""
        password = deps.vault.open(run.password_sealed, reference.encode()).decode()
        packed = deps.vault.open(run.sent_sealed, f"sent:{reference}".encode())
        sent = frozenset(n for n in zlib.decompress(packed).decode().split("\n") if n)
        return _Waiting(
            reference,
            run.recipient_id,
            run.channel,
            run.period,
            password,
            sent,
            [f.name for f in definition.profile.fields],
            run.return_sha256 if run.returned_at is None else None,
            [
                (rid, Channel(run.channel) if rid == run.recipient_id else Channel.SFTP_DROP)
                for rid in definition.profile.dataset_recipients
            ],
        )


def _refuse(
    engine: Engine, deps: ExportDeps, run_id: int, name: str, digest: str, report: list[str]
) -> Collected:
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        run.return_file, run.return_sha256 = name, digest
        runs.note(
            session,
            run,
            actor="worker",
            action="export.return_refused",
            now=now,
            file=name,
            sha256=digest,
            problems=report[:50],
        )
    log.warning("run %s: return file %s refused: %d problem line(s)", run_id, name, len(report))
    return Collected(run_id, "refused", report=report)


def collect(engine: Engine, deps: ExportDeps, run_id: int) -> Collected:
    """Look for the run's return file and take it in (module docstring). The return is the file
    whose name begins with the run's reference (``is_return_for``); when there is none, the
    answer is ``waiting`` and names every other file in the return folder (``unexpected``), so
    a file VDAB named otherwise is never waited past in silence."""
    w = _waiting(engine, deps, run_id)
    box = deps.return_box(w.channel)
    present = box.returned(w.recipient_id)
    candidates = [n for n in present if is_return_for(n, w.reference)]
    if not candidates:
        unexpected = [_shown_name(n) for n in sorted(present)]
        if unexpected:
            log.warning(
                "run %s: no return file named after %s, but %d other file(s) in the return folder",
                run_id,
                w.reference,
                len(unexpected),
            )
        return Collected(run_id, "waiting", reference=w.reference, unexpected=unexpected)
    name = sorted(candidates)[0]
    archive = box.fetch_return(w.recipient_id, name)
    digest = hashlib.sha256(archive).hexdigest()
    if digest == w.refused_sha256:
        return Collected(run_id, "refused", report=["the same file was refused before"])
    try:
        # VDAB may send back the archive it got, with kbx's LEESMIJ.txt still in it.
        _, csv_bytes = open_single_7z(archive, w.password, ignore=(README_NAME,))
        # Decoded line by line: a byte that is not UTF-8 is reported at its own line.
        lines = decoded_lines(io.BytesIO(csv_bytes))
        returned = parse_return(lines, w.sent, deps.settings.current_date())
    except ArchiveError as exc:
        return _refuse(engine, deps, run_id, name, digest, [f"archive: {exc}"])
    except ReturnRefused as exc:
        return _refuse(engine, deps, run_id, name, digest, exc.report())

    with transaction(engine) as session:
        for recipient_id, channel in w.targets:
            require_route(session, deps, recipient_id, channel)
        definition = deps.registry.require(runs.load(session, run_id).protocol_id)
        names = {rid: get_recipient(session, rid).name_nl for rid, _ in w.targets}
        period = parse_period(w.period)
        assert period is not None
        numbers = [r.national_number for r in returned.rows]
        profiles = dict(profiles_for(session, numbers, w.profile_fields, period.end))
    blank_rows = returned.blank_rows
    pseudonymiser = load_pseudonymiser(deps.settings, Purpose.BI_DATASET)
    dataset = pseudonymised_rows(
        returned.rows, profiles, pseudonymiser, profile_fields=w.profile_fields
    )
    del profiles, returned  # the national numbers go no further than this point

    children: list[int] = []
    profile = definition.profile.article if definition.profile else ""
    for recipient_id, channel in w.targets:
        child_id, child_reference, needs_build = _claim_dataset_run(
            engine, deps, run_id, recipient_id, channel
        )
        if needs_build:
            password = new_password()  # one per recipient: each its own file and key
            csv_name = f"{child_reference}.csv"
            info = info_sheet(
                definition,
                reference=child_reference,
                period=w.period,
                recipient_name=names[recipient_id],
                built_at=deps.settings.now(),
                row_count=len(dataset.rows),
                lookback_years=None,
                columns=[f"{', '.join(dataset.columns)} [{profile}]"],
            )
            plain = build_csv(
                dataset.columns, dataset.rows, csv_name, readme=readme_text(info, csv_name)
            )
            sealed = seal(plain, password)
            _record_built(
                engine, deps, child_id, sealed.data, sealed.rows, password, dataset.columns
            )
            del password  # from here on only sealed under the service key
            deliver(engine, deps, child_id, sealed.data, f"{child_reference}.7z")
        execute(engine, deps, child_id)  # sends this recipient's key
        children.append(child_id)

    box.remove_return(w.recipient_id, name)
    now = deps.settings.now()
    with transaction(engine) as session:
        run = runs.load(session, run_id)
        run.return_file, run.return_sha256 = name, digest
        run.return_rows = len(dataset.rows)
        # The return is in: what was kept for it goes.
        run.sent_sealed = None
        run.password_sealed = None
        run.password_destroyed_at = now
        runs.move(
            session,
            run,
            RunState.RETURNED,
            actor="worker",
            action="export.returned",
            now=now,
            file=name,
            sha256=digest,
            rows=len(dataset.rows),
            not_returned=len(w.sent) - len(dataset.rows),
            without_profile=dataset.without_profile,
            blank_rows=blank_rows,
            dataset_run=children[0],
            dataset_runs=children,
            pseudonym_key_id=pseudonymiser.key_id,
            columns=list(dataset.columns),
        )
    if w.channel == Channel.SFTP_PUSH.value:
        deps.delivery(w.channel).withdraw(w.recipient_id, f"{w.reference}.7z")
    return Collected(
        run_id,
        "returned",
        len(dataset.rows),
        len(w.sent) - len(dataset.rows),
        children[0],
        dataset_run_ids=tuple(children),
        reference=w.reference,
        blank_rows=blank_rows,
    )


def _claim_dataset_run(
    engine: Engine, deps: ExportDeps, parent_id: int, recipient_id: str, channel: Channel
) -> tuple[int, str, bool]:
    """``recipient_id``'s dataset run of this round trip: (id, reference, whether to build it).
    Created once; after a crash it is found again, and rebuilt only if it never left."""
    now, today = deps.settings.now(), deps.settings.current_date()
    with transaction(engine) as session:
        child = runs.derived_from(session, parent_id, recipient_id)
        if child is None:
            parent = runs.load(session, parent_id)
            child = ExportRun(
                protocol_id=parent.protocol_id,
                recipient_id=recipient_id,
                period=parent.period,
                channel=channel.value,
                lookback_years=None,
                definition_hash=parent.definition_hash,
                # The round trip was asked for and approved as a whole, by two people.
                requested_by=parent.requested_by,
                requested_at=now,
                approved_by=parent.approved_by,
                approved_at=now,
                parent_id=parent_id,
            )
            runs.claim(
                session,
                child,
                RunState.APPROVED,
                actor="worker",
                action="export.derived",
                now=now,
                today=today,
                parent=parent_id,
            )
        unbuilt = RunState(child.state) in (RunState.APPROVED, RunState.BUILT)
        return child.id, child.reference or "", unbuilt


def _record_built(
    engine: Engine,
    deps: ExportDeps,
    child_id: int,
    data: bytes,
    rows: int,
    password: str,
    columns: tuple[str, ...],
) -> None:
    now = deps.settings.now()
    with transaction(engine) as session:
        child = runs.load(session, child_id)
        child.row_count = rows
        child.file_name = f"{child.reference}.7z"
        child.file_size, child.file_sha256 = len(data), hashlib.sha256(data).hexdigest()
        child.field_list = json.dumps(list(columns))
        child.password_sealed = deps.vault.seal(password.encode(), (child.reference or "").encode())
        runs.move(
            session,
            child,
            RunState.BUILT,
            actor="worker",
            action="export.built",
            now=now,
            rows=rows,
            sha256=child.file_sha256,
        )


def awaiting_return(engine: Engine) -> list[int]:
    """Ids of the round trips whose return has not come in yet."""
    with transaction(engine) as session:
        return runs.awaiting_return(session)


def collect_due(engine: Engine, deps: ExportDeps, last: dict[int, datetime]) -> int:
    """The worker's pass: look for returns every ``remote_check_minutes`` per run."""
    now = deps.settings.now()
    collected = 0
    for run_id in awaiting_return(engine):
        seen = last.get(run_id)
        if (
            seen is not None
            and (now - seen).total_seconds() < deps.settings.remote_check_minutes * 60
        ):
            continue
        last[run_id] = now
        try:
            if collect(engine, deps, run_id).outcome == "returned":
                collected += 1
        except Exception:  # one recipient's server must not stop the others; logged by id only
            log.exception("run %s: collecting the return failed", run_id)
    return collected
