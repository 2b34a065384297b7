"""``kbx export`` and ``kbx worker``: the export flow on the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import typer

from app.cli.common import (
    EXIT_REFUSED,
    Context,
    JsonOpt,
    RequestedOnOpt,
    RequestRefOpt,
    configure_logging,
    ctx_of,
    emit_json,
    fail,
    recipient_id,
    staff,
)
from exchange.shown import shown_nl

if TYPE_CHECKING:
    from app.errors import Conflict
    from exchange.models import ExportRun
    from exchange.policy import Reason
    from exchange.requests import RequestLine

__all__ = ["ChannelName", "export_app", "worker"]

export_app = typer.Typer(no_args_is_help=True, help="Exports")


def _run_dict(run: ExportRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "reference": run.reference,
        "protocol": run.protocol_id,
        "recipient": run.recipient_id,
        "period": run.period,
        "channel": run.channel,
        "state": run.state,
        "batch": run.batch_id,
        "requested_by": run.requested_by,
        "approved_by": run.approved_by,
        "rows": run.row_count,
        "fields": json.loads(run.field_list) if run.field_list else None,
        "file": run.file_name,
        "sha256": run.file_sha256,
        "definition_hash": run.definition_hash,
        "refusal": json.loads(run.refusal) if run.refusal else None,
        "failure": run.failure,
        "requested_on": run.requested_on.isoformat() if run.requested_on else None,
        "request_ref": run.request_ref,
    }


# The channels of ``exchange.protocols.Channel``, spelled out so that ``kbx --help`` need not
# import the protocol models (a test keeps the two equal). A name outside them is a typing
# error (exit 2, nothing recorded); a channel the protocol does not allow is a refusal (exit 3).
ChannelName = Literal["sftp_drop", "sftp_push", "secure_mail", "zivver"]


def _print_refusal(reasons: list[Reason], indent: str = "") -> None:
    for r in reasons:
        typer.echo(
            f"{indent}- [{r.rule}] {r.nl}\n{indent}  {r.en}\n{indent}  ({r.article})", err=True
        )


def _reasons_json(why: list[Reason] | Conflict) -> list[dict[str, str]]:
    """Every reason as the API gives it: rule, article, Dutch and English sentence."""
    if isinstance(why, list):
        return [{"rule": r.rule, "article": r.article, "nl": r.nl, "en": r.en} for r in why]
    return [
        {"rule": why.code, "article": "", "nl": why.message_nl or why.message, "en": why.message}
    ]


def _print_refused(refused: list[tuple[str, list[Reason] | Conflict]], err: bool) -> None:
    """Each refused recipient with its reasons as sentences, rule and article."""
    for rid, why in refused:
        typer.echo(f"  {rid}: geweigerd / refused:", err=err)
        for r in _reasons_json(why):
            article = f" ({r['article']})" if r["article"] else ""
            typer.echo(f"    - [{r['rule']}] {r['nl']}{article}", err=err)


def _request_batch(
    ctx: typer.Context,
    protocol: str,
    period: str,
    channel: str,
    lookback_years: int | None,
    by: str,
    as_json: bool,
    requests: list[RequestLine] | None,
) -> None:
    from app.flows.exports import BatchRefused, request_batch

    c = ctx_of(ctx)
    who = "all-signed" if requests is None else "all-requested"
    try:
        result = request_batch(
            c.engine,
            c.deps,
            protocol_id=protocol,
            period=period,
            channel=channel,
            lookback_years=lookback_years,
            by=by,
            requests=requests,
        )
    except BatchRefused as exc:
        # Not one recipient could be asked for: a refusal, exit 3 with every recipient's rules.
        if as_json:
            refused = [
                {"recipient": rid, "reasons": _reasons_json(why)} for rid, why in exc.result.refused
            ]
            emit_json({"batch": None, "runs": [], "refused": refused})
        from app.error_catalogue import dutch

        typer.echo(
            f"kbx: GEWEIGERD / REFUSED: {protocol} -> {who}, {period}: {dutch(exc)}",
            err=True,
        )
        _print_refused(exc.result.refused, err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    if as_json:
        emit_json(
            {
                "batch": result.batch_id,
                "runs": [r.id for r in result.runs],
                "refused": [
                    {"recipient": rid, "reasons": _reasons_json(why)} for rid, why in result.refused
                ],
            }
        )
        return
    typer.echo(f"batch {result.batch_id}: {len(result.runs)} run(s) requested")
    _print_refused(result.refused, err=False)


@export_app.command("request")
def export_request(
    ctx: typer.Context,
    protocol: Annotated[str, typer.Argument()],
    recipient: Annotated[
        str,
        typer.Option(
            help="NIS code, agency id or name; all-signed for a batch; all-requested (with "
            "--requests) for art20-municipal's yearly round"
        ),
    ],
    period: Annotated[str, typer.Option(help="2026, or 2026-H1 / 2026-H2")],
    channel: Annotated[
        ChannelName, typer.Option(help="sftp_drop, sftp_push, secure_mail or zivver")
    ],
    by: Annotated[str, typer.Option(help="The operator asking")],
    lookback_years: Annotated[int | None, typer.Option("--lookback-years")] = None,
    requested_on: RequestedOnOpt = None,
    request_ref: RequestRefOpt = None,
    requests_file: Annotated[
        Path | None,
        typer.Option(
            "--requests",
            help="With all-requested: a CSV nis_code,requested_on,reference of the requests "
            "received (header row)",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask for an export; prints the run id (exit 3 with the reasons when refused).

    An art20-municipal list answers the municipality's request (seed 000, overweging C): give
    --requested-on and --request-ref, or, for the yearly round, --recipient all-requested
    --requests FILE."""
    from app.flows.exports import PolicyRefusal, make_request, read_requests, request_export
    from app.flows.roles import Action

    c = ctx_of(ctx)
    staff(c, by, Action.REQUEST)
    if recipient in ("all-signed", "all-requested"):
        if requested_on is not None or request_ref is not None:
            fail(
                "--requested-on en --request-ref gelden voor één ontvanger; "
                "een batch neemt --requests"
            )
        if (recipient == "all-requested") != (requests_file is not None):
            fail("--recipient all-requested gaat samen met --requests FILE, en enkel daarmee")
        requests = None
        if requests_file is not None:
            requests = read_requests(_read_text(requests_file))
        _request_batch(ctx, protocol, period, channel, lookback_years, by, as_json, requests)
        return
    if requests_file is not None:
        fail("--requests gaat enkel samen met --recipient all-requested")
    request = make_request(requested_on.date() if requested_on else None, request_ref)
    recipient = recipient_id(c, recipient)
    try:
        run = request_export(
            c.engine,
            c.deps,
            protocol_id=protocol,
            recipient_id=recipient,
            period=period,
            channel=channel,
            lookback_years=lookback_years,
            by=by,
            request=request,
        )
    except PolicyRefusal as exc:
        if as_json:
            emit_json(
                {"run": exc.run_id, "state": "refused", "reasons": _reasons_json(exc.reasons)}
            )
        typer.echo(f"kbx: GEWEIGERD / REFUSED: {protocol} -> {recipient}, {period}", err=True)
        _print_refusal(exc.reasons)
        raise typer.Exit(EXIT_REFUSED) from exc
    if as_json:
        emit_json(_run_dict(run))
    else:
        typer.echo(f"{run.id}")


def _read_text(path: Path) -> str:
    """A small UTF-8 text file the operator named; exits 2 when it cannot be read."""
    try:
        if path.stat().st_size > 1_000_000:
            fail(f"{path.name}: groter dan 1 MB")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{path.name}: bestand bestaat niet")
    except UnicodeDecodeError:
        fail(f"{path.name}: geen UTF-8-tekst")
    except OSError as exc:
        fail(f"{path.name}: kan niet gelezen worden ({exc.strerror})")


@export_app.command("approve")
def export_approve(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run id, or a batch id (B-...)")],
    by: Annotated[str, typer.Option(help="The approver (not the requester)")],
) -> None:
    """Approve a run or a whole batch (four eyes: never the requester); the policy is asked
    again first (exit 3 with the reasons when it no longer allows the run)."""
    from app.flows.exports import PolicyRefusal, approve, approve_batch
    from app.flows.roles import Action

    c = ctx_of(ctx)
    staff(c, by, Action.APPROVE)
    try:
        if run.startswith("B-"):
            approved = approve_batch(c.engine, c.deps, run, by)
        else:
            approved = [approve(c.engine, c.deps, _run_id(c, run), by)]
    except PolicyRefusal as exc:
        # Asked again today: the protocol no longer allows what was requested.
        typer.echo(f"kbx: GEWEIGERD / REFUSED: export {exc.run_id} is niet goedgekeurd", err=True)
        _print_refusal(exc.reasons)
        raise typer.Exit(EXIT_REFUSED) from exc
    for one in approved:
        typer.echo(f"run {one.id} ({one.reference}) approved")


def _run_id(c: Context, text: str) -> int:
    """The id of the run named by its id or its reference (``KBX-2026-000017``); an unknown one
    exits 2 (``run.unknown``)."""
    from app.store import runs
    from app.store.db import transaction

    with transaction(c.engine) as session:
        return runs.find(session, text).id


@export_app.command("run")
def export_run(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run id, or a batch id (B-...)")],
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes for a batch (default: one per core)"),
    ] = None,
) -> None:
    """Build, seal, deliver and send the key of approved runs, with progress."""
    from app.flows.batch_runner import run_many
    from app.flows.execution import execute
    from app.store import runs
    from app.store.db import transaction

    c = ctx_of(ctx)
    summary: dict[str, int] = {}
    if run.startswith("B-"):
        # The batch's refused requests never were runs to carry out: they stay out of the count.
        with transaction(c.engine) as session:
            ids = runs.run_ids(session, runs.RunFilter(batch=run, include_refused=False))
        errors: list[str] = []
        with _progress(len(ids)) as progress:
            for outcome in run_many(c.settings, ids, workers=workers, engine=c.engine, deps=c.deps):
                progress.update(1)
                if outcome.state is None:
                    errors.append(f"kbx: run {outcome.run_id}: {outcome.error}")
                key = outcome.state.value if outcome.state is not None else "error"
                summary[key] = summary.get(key, 0) + 1
        for line in errors:
            typer.echo(line, err=True)
    else:
        state = execute(c.engine, c.deps, _run_id(c, run))
        summary[state.value] = 1
    typer.echo(", ".join(f"{n} {state}" for state, n in sorted(summary.items())))
    if set(summary) - {"key_sent", "fetched", "purged"}:
        raise typer.Exit(1)


class _Progress(Protocol):
    def update(self, n_steps: int) -> None: ...


class _Quiet:
    def update(self, n_steps: int) -> None:
        pass


@contextmanager
def _progress(length: int) -> Iterator[_Progress]:
    """A progress bar on a terminal's stderr; nothing at all when stderr is a file or a pipe
    (click would print its label there once, a stray word in a log)."""
    if not sys.stderr.isatty():
        yield _Quiet()
        return
    with typer.progressbar(length=length, label="exports", file=sys.stderr) as bar:
        yield bar


@export_app.command("collect")
def export_collect(
    ctx: typer.Context, run: Annotated[str, typer.Argument(help="A round trip's run id")]
) -> None:
    """Collect a round trip's return (VDAB): check it, pseudonymise it, deliver the dataset to
    the BI working group. Exit 3 with the report when the return file is refused."""
    from app.flows.round_trip import collect

    c = ctx_of(ctx)
    done = collect(c.engine, c.deps, _run_id(c, run))
    if done.outcome == "waiting" and not done.unexpected:
        typer.echo(f"run {done.run_id}: no return file yet (a name beginning {done.reference})")
    elif done.outcome == "waiting":
        typer.echo(
            f"run {done.run_id}: no return file named after {done.reference} yet, but the return "
            f"folder holds {len(done.unexpected)} other file(s), not taken:"
        )
        for name in done.unexpected:
            typer.echo(f"  {name}")
        typer.echo(
            f"  a return file's name begins with the run's reference: ask VDAB to rename it "
            f"{done.reference}.7z (docs/vdab-return.md)"
        )
    elif done.outcome == "refused":
        for line in done.report:
            typer.echo(f"  {line}", err=True)
        fail(f"export {done.run_id}: het retourbestand is volledig geweigerd", code=EXIT_REFUSED)
    else:
        blank = f"; {done.blank_rows} blank row(s) skipped" if done.blank_rows else ""
        typer.echo(
            f"run {done.run_id}: {done.rows} people returned ({done.not_returned} not known to "
            f"VDAB{blank}); pseudonymised dataset in run(s) "
            f"{', '.join(str(i) for i in done.dataset_run_ids)}"
        )


@export_app.command("cancel")
def export_cancel(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument()],
    by: Annotated[str, typer.Option()],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Reden van afwijzing: required to reject a run someone else requested "
            "(3 to 300 characters, never a national number)",
        ),
    ] = None,
) -> None:
    """Cancel a run that has not been built yet, or reject one someone else requested."""
    from app.flows.exports import cancel
    from app.flows.roles import Action

    c = ctx_of(ctx)
    staff(c, by, Action.CANCEL)
    cancelled = cancel(c.engine, c.deps, _run_id(c, run), by, reason)
    typer.echo(f"run {cancelled.id} cancelled")


@export_app.command("show")
def export_show(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(metavar="REF|ID", help="KBX-2026-000017 or 17")],
    as_json: JsonOpt = False,
) -> None:
    """One run as a timeline: every transition with its time and actor, the reasons of a
    refusal with rule and article, the file's name, size and SHA-256, the definition hash."""
    from app.cli import render
    from app.flows.history import run_story

    story = run_story(ctx_of(ctx).engine, run)
    if as_json:
        render.emit(story)
    else:
        render.run_story(story)


_STATES = (
    "requested, approved, built, delivered, key_sent, fetched, purged, returned, refused, "
    "cancelled, failed"
)


@export_app.command("list")
def export_list(
    ctx: typer.Context,
    protocol: Annotated[str | None, typer.Option(help="Only this protocol")] = None,
    recipient: Annotated[str | None, typer.Option(help="Only this recipient: code or name")] = None,
    state: Annotated[str | None, typer.Option(help=f"Only this state: {_STATES}")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Requested on or after (YYYY-MM-DD, Brussels)"),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Refused requests too (hidden by default)")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first")] = 500,
    as_json: JsonOpt = False,
) -> None:
    """Runs, newest first: what left, to whom, when (Brussels time)."""
    from app.cli import render
    from app.flows.history import run_lines
    from exchange.exports import RunState

    c = ctx_of(ctx)
    wanted = None
    if state is not None:
        try:
            wanted = RunState(state)
        except ValueError:
            fail(f"onbekende toestand '{shown_nl(state)}' (toestanden: {_STATES})")
    if protocol is not None:
        c.definition(protocol)
    lines = run_lines(
        c.engine,
        protocol=protocol,
        recipient=recipient,
        state=wanted,
        since=since.date() if since else None,
        include_refused=show_all,
        limit=limit,
    )
    if as_json:
        render.emit(lines)
    else:
        render.run_lines(lines)


@export_app.command("resend-key")
def export_resend_key(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(metavar="REF|ID")],
    by: Annotated[str, typer.Option(help="Who asks (operator), or who approves (--approve)")],
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve a resend someone else asked for")
    ] = False,
) -> None:
    """Send a run's key again to the recipient's registered contact: one person asks, another
    approves (--approve); only then does the SMS leave (the same rule as the API)."""
    from app.flows.key_sms import approve_resend, request_resend
    from app.flows.roles import Action
    from app.store import runs
    from app.store.db import transaction

    c = ctx_of(ctx)
    staff(c, by, Action.APPROVE_RESEND if approve else Action.ASK_RESEND)
    with transaction(c.engine) as session:
        found = runs.find(session, run)
        run_id, reference = found.id, found.reference
    if approve:
        approve_resend(c.engine, c.deps, run_id, by)
        typer.echo(f"key of {reference} sent again to the registered contact (approved by {by})")
        return
    request_resend(c.engine, c.deps, run_id, by)
    typer.echo(
        f"key resend of {reference} asked by {by}; another person approves it:\n"
        f"  kbx export resend-key {reference} --approve --by NAME"
    )


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit")] = False,
) -> None:
    """Carry approved and interrupted runs through, purge expired files, destroy old keys."""
    from app.flows.worker import run_worker, work_once

    c = ctx_of(ctx)
    if once:
        done = work_once(c.engine, c.deps)
        typer.echo(", ".join(f"{n} {what}" for what, n in done.items()))
        return
    configure_logging()
    run_worker(c.engine, c.deps)
