"""The ``kbx`` command line. Exit codes: 0 done, 1 internal or start-up failure, 2 bad input
(one line on stderr says why), 3 refused by policy."""

from __future__ import annotations

import csv
import threading
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.core import TyperGroup

from app.cli.changes import register as register_change_commands
from app.cli.common import (
    EXIT_INTERNAL,
    EXIT_REFUSED,
    Context,
    JsonOpt,
    configure_logging,
    ctx_of,
    emit_json,
    fail,
)
from app.cli.exports import register as register_export_commands
from app.cli.pseudonym import register as register_pseudonym_commands
from app.errors import KbxError
from app.flows.drop_events import RecordingDropEvents, recipient_keys
from app.flows.kbi_import import MAX_REPORTED, ExtractRefused, import_extract
from app.flows.worker import run_worker
from app.settings import Settings
from app.store.audit import read_chain, record
from app.store.db import transaction
from app.store.migrate import upgrade
from app.store.recipients import (
    add_agreement,
    list_recipients,
    recipient_facts,
    run_history,
)
from app.store.refdata import municipalities
from app.wiring import StartupError, drop_root, host_key_file
from channels.sftp_drop import DropServer
from exchange.audit import verify_chain
from exchange.fields import FIELD_CATALOGUE
from exchange.kbi_extract import COLUMNS
from exchange.models import Integree
from exchange.periods import parse_period
from exchange.policy import Allowed, evaluate
from exchange.protocols import ProtocolDefinition, RecipientRequirement
from exchange.selection import SelectionRequest, build_count
from exchange.shown import shown


class _Group(TyperGroup):
    """Turns the project's own errors into one line on stderr and their exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context type is private
        try:
            return super().invoke(ctx)
        except KbxError as exc:
            typer.echo(f"kbx: {exc.message} [{exc.code}]", err=True)
            raise typer.Exit(exc.exit_code) from exc


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="kbx: beveiligde bestandsuitwisseling van AgII",
)
db_app = typer.Typer(no_args_is_help=True, help="Database")
kbi_app = typer.Typer(no_args_is_help=True, help="De KBI-bron")
demo_app = typer.Typer(no_args_is_help=True, help="Demogegevens")
recipients_app = typer.Typer(no_args_is_help=True, help="Ontvangers")
accession_app = typer.Typer(no_args_is_help=True, help="Toetredingen tot een beraadslaging")
protocols_app = typer.Typer(no_args_is_help=True, help="Protocollen")
audit_app = typer.Typer(no_args_is_help=True, help="Audittrail")
sftp_app = typer.Typer(no_args_is_help=True, help="De SFTP-drop")
app.add_typer(db_app, name="db")
app.add_typer(kbi_app, name="kbi")
app.add_typer(demo_app, name="demo")
app.add_typer(recipients_app, name="recipients")
register_change_commands(recipients_app)
app.add_typer(accession_app, name="accession")
app.add_typer(protocols_app, name="protocols")
app.add_typer(audit_app, name="audit")
app.add_typer(sftp_app, name="sftp")
register_export_commands(app)
register_pseudonym_commands(app)


@app.callback()
def _root(ctx: typer.Context) -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        fail("settings refused: " + "; ".join(str(e["msg"]) for e in exc.errors()), code=1)
    ctx.obj = Context(settings)
    ctx.call_on_close(ctx.obj.close)


# -- database -------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the schema to the latest version and load the reference recipients."""
    added = upgrade(ctx_of(ctx).engine)
    typer.echo(f"database up to date; {added} reference recipient(s) added")


# -- KBI store ------------------------------------------------------------------------------


def _import(c: Context, path: Path) -> None:
    try:
        result = import_extract(
            c.engine, path, c.settings.current_date(), actor=c.actor, now=c.now()
        )
    except ExtractRefused as exc:
        for problem in exc.problems:
            typer.echo(f"kbx: {path.name}: {problem}", err=True)
        if exc.total > len(exc.problems):
            typer.echo(f"kbx: ... and {exc.total - MAX_REPORTED} more problem(s)", err=True)
        fail(f"{path.name} refused: {exc.total} problem(s); nothing was written")
    rate = result.rows / result.seconds if result.seconds else 0.0
    typer.echo(f"imported {result.rows} integrees in {result.seconds:.2f} s ({rate:,.0f} rows/s)")


@kbi_app.command("import")
def kbi_import(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="KBI extract (CSV, UTF-8)")]
) -> None:
    """Replace the store with a KBI extract, all or nothing (see docs/kbi-extract.md)."""
    if not file.is_file():
        fail(f"{file}: no such file")
    _import(ctx_of(ctx), file)


def _store_size(c: Context) -> int:
    with transaction(c.engine) as session:
        return session.scalar(select(func.count()).select_from(Integree)) or 0


@demo_app.command("seed")
def demo_seed(
    ctx: typer.Context,
    persons: Annotated[int, typer.Option(min=1, help="Number of synthetic integrees")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same store)")] = 1,
    out: Annotated[Path | None, typer.Option(help="Where to write the extract")] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the store has data")
    ] = False,
) -> None:
    """Write a realistic synthetic KBI extract and import it through the normal import path."""
    from app.demo.synthetic import (
        generate_rows,  # Faker is slow to import; only this command needs it
    )

    c = ctx_of(ctx)
    if if_empty and _store_size(c) > 0:
        typer.echo("store not empty: demo seed skipped")
        return
    path = out or c.settings.data_dir / "demo" / f"kbi-extract-seed{seed}-{persons}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[col.name for col in COLUMNS])
        writer.writeheader()
        writer.writerows(
            generate_rows(persons, seed, municipalities().current, c.settings.current_date())
        )
    typer.echo(f"wrote synthetic extract {path}")
    _import(c, path)


@demo_app.command("story")
def demo_story(ctx: typer.Context) -> None:
    """Demo: staff, Lommel's key pair and contact, this year's list on the drop; prints how to
    fetch it with OpenSSH's sftp."""
    from app.demo.story import prepare_story

    c = ctx_of(ctx)
    story = prepare_story(c)
    port, host = c.settings.sftp_port, c.settings.sftp_host
    lines = [
        "",
        f"Demo klaar: export {story.run_id} voor Lommel (72020), status {story.state}.",
        f"  Medewerkers (demo-operator, demo-approver): wachtwoorden in {story.credentials}",
    ]
    if story.file_name and story.state in ("delivered", "key_sent"):
        lines += [
            "  Volgende stap, zodra 'kbx serve' draait: haal het bestand op met OpenSSH.",
            f"    sftp -i {story.private_key} -P {port} "
            f"-o UserKnownHostsFile={story.known_hosts} 72020@{host}",
            f"    sftp> get /outbox/{story.file_name}",
            "  Het wachtwoord staat in de SMS (dev: JSON-regels in "
            f"{story.sms_outbox}); open het bestand ermee in Excel of LibreOffice.",
        ]
    else:
        lines.append("  Het bestand van dit jaar is al opgehaald of verwijderd van de drop.")
    lines.append(f"  API: http://{c.settings.http_host}:{c.settings.http_port}/docs")
    typer.echo("\n".join(lines))


# -- recipients -----------------------------------------------------------------------------


@recipients_app.command("list")
def recipients_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """All recipients: the 285 Flemish municipalities and the agencies."""
    with transaction(ctx_of(ctx).engine) as session:
        rows = list_recipients(session)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    for r in rows:
        contact = "contact" if r.has_contact else "-"
        typer.echo(f"{r.id:<8} {r.kind:<12} {r.name_nl:<40} {contact:<8} {r.keys} key(s)")


def _agreement(
    c: Context,
    *,
    recipient_id: str,
    protocol_id: str,
    kind: RecipientRequirement,
    signed_on: datetime,
    in_force: datetime | None,
    document: str | None,
) -> None:
    definition = c.definition(protocol_id)
    if definition.recipients.requires is not kind:
        fail(
            f"protocol {protocol_id} does not work with a {kind.value} "
            f"(it requires: {definition.recipients.requires.value})"
        )
    with transaction(c.engine) as session:
        add_agreement(
            session,
            recipient_id=recipient_id,
            protocol_id=protocol_id,
            kind=kind,
            signed_on=signed_on.date(),
            in_force_on=in_force.date() if in_force else None,
            document_ref=document,
            now=c.now(),
        )
        record(
            session,
            actor=c.actor,
            action=f"agreement.{kind.value}",
            subject=f"recipient:{recipient_id}",
            details={
                "protocol": protocol_id,
                "signed_on": signed_on.date().isoformat(),
                "in_force": in_force.date().isoformat() if in_force else None,
                "document": document,
            },
            now=c.now(),
        )
    typer.echo(f"{kind.value} of {recipient_id} for {protocol_id} recorded")


DateOpt = Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")]


@accession_app.command("add")
def accession_add(
    ctx: typer.Context,
    recipient_id: Annotated[str, typer.Argument(metavar="ID")],
    protocol: Annotated[str, typer.Option(help="The general deliberation, e.g. vcmp-ceremony")],
    signed_on: DateOpt,
    document: Annotated[str, typer.Option(help="Reference of the signed commitment")],
) -> None:
    """Record a municipality's signed commitment to a general deliberation."""
    _agreement(
        ctx_of(ctx),
        recipient_id=recipient_id,
        protocol_id=protocol,
        kind=RecipientRequirement.ACCESSION,
        signed_on=signed_on,
        in_force=None,
        document=document,
    )


# -- protocols ------------------------------------------------------------------------------


def _summary(d: ProtocolDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "version": d.version,
        "title_nl": d.title_nl,
        "valid_from": d.validity.valid_from,
        "valid_until": d.validity.until,
        "channels": [c.channel.value for c in d.channels],
        "fields": d.field_names,
        "content_hash": d.content_hash,
    }


@protocols_app.command("list")
def protocols_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The loaded protocol definitions."""
    c = ctx_of(ctx)
    today = c.settings.current_date()
    if as_json:
        emit_json([_summary(d) for d in c.registry])
        return
    for d in c.registry:
        state = "in werking" if d.validity.contains(today) else "niet in werking"
        typer.echo(f"{d.id:<18} v{d.version}  {state:<16} {d.content_hash[:19]}  {d.title_nl}")


@protocols_app.command("show")
def protocols_show(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonOpt = False,
) -> None:
    """One definition in full: legal basis, fields with their articles, rules, channels."""
    d = ctx_of(ctx).definition(protocol_id)
    if as_json:
        emit_json(d.model_dump(mode="json", by_alias=True))
        return
    v = d.validity
    lines = [
        f"{d.id} (versie {d.version}) {d.content_hash}",
        d.title_nl,
        f"Bron: {d.source_document}",
        "Rechtsgrond:",
        *(f"  - {b}" for b in d.legal_basis),
        f"Geldig: {v.valid_from} tot {v.until or 'onbepaald'} [{v.article}]",
        f"Ontvangers: {d.recipients.kind}, vereist: {d.recipients.requires.value}"
        f" [{d.recipients.article}]",
        *(
            f"  ondertekend: {i.recipient} op {i.signed_on}, in werking {i.in_force}"
            for i in d.instances
        ),
        f"Populatie: {d.population.kind} [{d.population.article}]",
        "Velden:",
        *(f"  - {f.name} ({FIELD_CATALOGUE[f.name].label_nl}) [{f.article}]" for f in d.fields),
        f"Frequentie: max. {d.frequency.max_lists or 'onbeperkt'} per {d.frequency.unit.value}"
        f" [{d.frequency.article}]",
        "Kanalen:",
        *(
            f"  - {c.channel.value}: {c.valid_from} tot {c.until or 'onbepaald'} [{c.article}]"
            for c in d.channels
        ),
        f"Bewaartermijn ontvanger: {d.retention.years or '-'} jaar: {d.retention.text_nl}"
        f" [{d.retention.article}]",
    ]
    typer.echo("\n".join(lines))


@protocols_app.command("sign")
def protocols_sign(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="ID")],
    recipient: Annotated[str, typer.Option(help="NIS code of the municipality")],
    signed_on: DateOpt,
    in_force: DateOpt,
    document: Annotated[str | None, typer.Option(help="Reference of the signed protocol")] = None,
) -> None:
    """Record that a municipality signed the protocol text (e.g. art20-municipal)."""
    _agreement(
        ctx_of(ctx),
        recipient_id=recipient,
        protocol_id=protocol_id,
        kind=RecipientRequirement.SIGNATURE,
        signed_on=signed_on,
        in_force=in_force,
        document=document,
    )


# -- policy and selection -------------------------------------------------------------------

LookbackOpt = Annotated[
    int | None,
    typer.Option("--lookback-years", help="vcmp-ceremony: certificates of the last 1 or 2 years"),
]


@app.command("check")
def check(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="PROTOCOL")],
    recipient: Annotated[str, typer.Option(help="Recipient id (NIS code or agency)")],
    period: Annotated[str, typer.Option(help="2026, or 2026-H1 / 2026-H2")],
    channel: Annotated[str, typer.Option(help="sftp_drop, sftp_push, secure_mail or zivver")],
    lookback_years: LookbackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Would this export be allowed today? Exit 0 when allowed, 3 when refused."""
    c = ctx_of(ctx)
    definition = c.definition(protocol_id)
    today = c.settings.current_date()
    with transaction(c.engine) as session:
        facts = recipient_facts(session, recipient)
        history = run_history(session, protocol_id, recipient)
    decision = evaluate(definition, facts, period, channel, today, history, lookback_years)
    if as_json:
        emit_json(
            {
                "allowed": decision.allowed,
                "protocol": protocol_id,
                "definition_hash": definition.content_hash,
                "recipient": recipient,
                "period": period,
                "channel": channel,
                "today": today,
                "reasons": []
                if isinstance(decision, Allowed)
                else [asdict(r) for r in decision.reasons],
            }
        )
    elif isinstance(decision, Allowed):
        typer.echo(f"TOEGESTAAN / ALLOWED: {protocol_id} -> {recipient}, {period}, {channel}")
    else:
        typer.echo(f"GEWEIGERD / REFUSED: {protocol_id} -> {recipient}, {period}, {channel}")
        for r in decision.reasons:
            typer.echo(f"- [{r.rule}] {r.nl}\n  {r.en}\n  ({r.article})")
    if not decision.allowed:
        raise typer.Exit(EXIT_REFUSED)


@app.command("preview")
def preview(
    ctx: typer.Context,
    protocol_id: Annotated[str, typer.Argument(metavar="PROTOCOL")],
    recipient: Annotated[str, typer.Option(help="Recipient id (NIS code or agency)")],
    period: Annotated[str, typer.Option(help="2026, or 2026-H1 / 2026-H2")],
    lookback_years: LookbackOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many people the list would hold and which columns: never the rows."""
    c = ctx_of(ctx)
    definition = c.definition(protocol_id)
    parsed = parse_period(period)
    if parsed is None or parsed.unit is not definition.frequency.unit:
        unit = definition.frequency.unit.value
        fail(f"period '{shown(period)}' does not fit {protocol_id} ({unit})")
    request = SelectionRequest(recipient, parsed, c.settings.current_date(), lookback_years)
    with transaction(c.engine) as session:
        recipient_facts(session, recipient)
        count = session.scalar(build_count(definition, request)) or 0
    columns = definition.field_names
    if as_json:
        emit_json(
            {
                "protocol": protocol_id,
                "recipient": recipient,
                "period": period,
                "rows": count,
                "columns": columns,
            }
        )
        return
    typer.echo(f"{protocol_id} -> {recipient}, {period}: {count} rij(en)")
    typer.echo("kolommen: " + ", ".join(columns))


# -- audit ----------------------------------------------------------------------------------

EXIT_TAMPERED = 4


@audit_app.command("verify")
def audit_verify(ctx: typer.Context) -> None:
    """Walk the hash chain; exit 4 naming the first broken link if any event was edited, deleted
    or reordered."""
    with transaction(ctx_of(ctx).engine) as session:
        report = verify_chain(read_chain(session))
    if report.broken is not None:
        fail(f"audit trail broken at {report.broken}", code=EXIT_TAMPERED)
    typer.echo(f"audit trail intact: {report.events} event(s), head {report.head}")


# -- service --------------------------------------------------------------------------------


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default 127.0.0.1 or KBX_HTTP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default 8000 or KBX_HTTP_PORT")] = None,
    sftp_port: Annotated[int | None, typer.Option(help="Default 2222 or KBX_SFTP_PORT")] = None,
) -> None:
    """Run the service: HTTP API, the SFTP drop and the worker."""
    import uvicorn

    from app.api.app import create_app

    c = ctx_of(ctx)
    configure_logging()
    try:
        api = create_app(c.settings, c.registry, c.engine, c.deps)
    except StartupError as exc:
        fail(str(exc), code=EXIT_INTERNAL)
    drop = start_drop(c, c.settings.sftp_host, sftp_port or c.settings.sftp_port)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(c.engine, c.deps, stop), daemon=True)
    worker.start()
    bind_host, bind_port = host or c.settings.http_host, port or c.settings.http_port
    typer.echo(
        f"kbx: {len(c.registry)} protocol(s) loaded; serving on http://{bind_host}:{bind_port}"
    )
    try:
        uvicorn.run(api, host=bind_host, port=bind_port, log_level="info", access_log=False)
    finally:
        stop.set()
        drop.stop()


@sftp_app.command("serve")
def sftp_serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default 127.0.0.1 or KBX_SFTP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default 2222 or KBX_SFTP_PORT")] = None,
) -> None:
    """Run only the SFTP drop (recipients log in with their own key)."""
    c = ctx_of(ctx)
    configure_logging()
    drop = start_drop(c, host or c.settings.sftp_host, port or c.settings.sftp_port)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        drop.stop()


def start_drop(c: Context, host: str, port: int) -> DropServer:
    c.deps  # noqa: B018 - fails early, with its message, when the service key is missing
    drop = DropServer(
        drop_root(c.settings),
        host_key_file(c.settings),
        recipient_keys(c.engine),
        RecordingDropEvents(c.engine, c.settings),
        host=host,
        port=port,
    )
    drop.start()
    typer.echo(f"kbx: SFTP drop on {host}:{drop.port}, host key {drop.host_key_fingerprint}")
    return drop


def main() -> None:
    app()


__all__ = ["app", "main"]
