"""``kbx recipients sftp|mail set`` and ``kbx recipients changes``: every change to how kbx
reaches a recipient is proposed by one staff member and applied only when another approves it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli import common
from app.cli.common import Context, JsonOpt, ctx_of, emit_json, fail, staff

if TYPE_CHECKING:
    from app.flows.recipient_changes import ChangeOut
    from exchange.recipient_changes import ChangeKind

__all__ = ["propose_change", "register"]

contact_app = typer.Typer(no_args_is_help=True, help="Contactpersoon van een ontvanger")
key_app = typer.Typer(no_args_is_help=True, help="SSH-sleutels van een ontvanger")
sftp_app = typer.Typer(no_args_is_help=True, help="Eigen SFTP-server van een ontvanger")
mail_app = typer.Typer(no_args_is_help=True, help="Geregistreerd e-mailadres van een ontvanger")
changes_app = typer.Typer(no_args_is_help=True, help="Wijzigingen die op goedkeuring wachten")

By = Annotated[str, typer.Option("--by", help="Staff member who proposes or decides")]


def _read(path: Path, what: str) -> str:
    """The text of a key file a person named. A message names the problem, never the file's
    content nor a codec's text (the file may hold anything)."""
    from crypto import KeyError_, decode_key_file

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: kan {what} niet lezen: {exc.strerror or 'onleesbaar'}")
    try:
        return decode_key_file(data)
    except KeyError_ as exc:
        fail(f"{path}: kan {what} niet lezen: {exc}")


def _is_file(value: str) -> bool:
    """Whether an option's value names a file (a key given as a path) rather than a key."""
    try:
        return len(value) < 4096 and "\n" not in value and Path(value).is_file()
    except OSError:
        return False


def propose_change(
    c: Context, kind: ChangeKind, recipient_id: str, payload: dict[str, Any], by: str
) -> ChangeOut:
    from app.flows.recipient_changes import propose
    from app.flows.roles import Action

    staff(c, by, Action.PROPOSE_CHANGE)
    recipient_id = common.recipient_id(c, recipient_id)
    change = propose(
        c.engine,
        c.deps.vault,
        kind,
        recipient_id,
        payload,
        by,
        c.now(),
        registry=c.registry,
        today=c.settings.current_date(),
    )
    typer.echo(
        f"change {change.id} proposed for {recipient_id}: {change.summary}\n"
        f"  it takes effect once another person approves: "
        f"kbx recipients changes approve {change.id} --by NAME"
    )
    return change


@contact_app.command("set")
def contact_set(
    ctx: typer.Context,
    recipient_id: Annotated[str, typer.Argument(metavar="ID", help="NIS code or name")],
    name: Annotated[str, typer.Option(help="Name of the contact person")],
    phone: Annotated[str, typer.Option(help="Belgian mobile number, receives the key SMS")],
    email: Annotated[str, typer.Option(help="E-mail address of the contact person")],
    by: By,
) -> None:
    """Propose the contact person who receives the key by SMS."""
    from exchange.recipient_changes import ChangeKind

    payload = {"name": name, "phone": phone, "email": email}
    propose_change(ctx_of(ctx), ChangeKind.CONTACT, recipient_id, payload, by)


@key_app.command("add")
def key_add(
    ctx: typer.Context,
    recipient_id: Annotated[str, typer.Argument(metavar="ID", help="NIS code or name")],
    public_key: Annotated[Path, typer.Option("--public-key", help="OpenSSH public key file")],
    by: By,
) -> None:
    """Propose an SSH public key the recipient logs in with on the SFTP drop."""
    from exchange.recipient_changes import ChangeKind

    payload = {"public_key": _read(public_key, "de publieke sleutel")}
    propose_change(ctx_of(ctx), ChangeKind.KEY, recipient_id, payload, by)


@sftp_app.command("set")
def sftp_set(
    ctx: typer.Context,
    recipient_id: Annotated[str, typer.Argument(metavar="ID", help="NIS code or name")],
    host: Annotated[str, typer.Option()],
    username: Annotated[str, typer.Option()],
    private_key: Annotated[Path, typer.Option(help="kbx's OpenSSH private key for this server")],
    host_key: Annotated[
        str,
        typer.Option(help='The server\'s key: "ssh-ed25519 AAAA...", or a file that holds it'),
    ],
    path: Annotated[str, typer.Option(help="Remote folder for files from kbx")],
    by: By,
    port: Annotated[int, typer.Option()] = 22,
    return_path: Annotated[str | None, typer.Option(help="Remote folder for return files")] = None,
) -> None:
    """Propose the recipient's own SFTP server (channel sftp_push); the host key is pinned."""
    from exchange.recipient_changes import ChangeKind

    c = ctx_of(ctx)
    payload = {
        "host": host,
        "port": port,
        "username": username,
        "private_key": _read(private_key, "de privésleutel"),
        "host_key": _read(Path(host_key), "de hostsleutel") if _is_file(host_key) else host_key,
        "path": path,
        "return_path": return_path,
    }
    propose_change(c, ChangeKind.SFTP, recipient_id, payload, by)


@mail_app.command("set")
def mail_set(
    ctx: typer.Context,
    recipient_id: Annotated[str, typer.Argument(metavar="ID", help="NIS code or name")],
    address: Annotated[str, typer.Option(help="The recipient's functional mailbox")],
    route: Annotated[str, typer.Option(help="secure_mail or zivver")],
    by: By,
) -> None:
    """Propose the mailbox that files by mail go to, and the relay route it uses."""
    from exchange.recipient_changes import ChangeKind

    c = ctx_of(ctx)
    propose_change(c, ChangeKind.MAIL, recipient_id, {"address": address, "route": route}, by)


@changes_app.command("list")
def changes_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Changes waiting for a second person."""
    from app.flows.recipient_changes import pending

    rows = pending(ctx_of(ctx).engine)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    from app.cli import render

    render.change_rows(rows)


def _decide(
    ctx: typer.Context, change_id: int, by: str, *, approve: bool, reason: str | None = None
) -> None:
    from app.flows.recipient_changes import decide
    from app.flows.roles import Action

    c = ctx_of(ctx)
    staff(c, by, Action.DECIDE_CHANGE)
    change = decide(
        c.engine, c.deps.vault, change_id, by, approve=approve, now=c.now(), reason=reason
    )
    typer.echo(f"change {change.id} {change.state}: {change.summary}")


@changes_app.command("approve")
def changes_approve(
    ctx: typer.Context,
    change_id: Annotated[
        int, typer.Argument(metavar="ID", help="The change's number (kbx recipients changes list)")
    ],
    by: By,
) -> None:
    """Apply a proposed change (never by the person who proposed it)."""
    _decide(ctx, change_id, by, approve=True)


@changes_app.command("reject")
def changes_reject(
    ctx: typer.Context,
    change_id: Annotated[
        int, typer.Argument(metavar="ID", help="The change's number (kbx recipients changes list)")
    ],
    by: By,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Reden van afwijzing, required (3 to 300 characters, never a national number)",
        ),
    ] = None,
) -> None:
    """Reject a proposed change; nothing of it is kept but its summary and the reason."""
    _decide(ctx, change_id, by, approve=False, reason=reason)


def register(recipients_app: typer.Typer) -> None:
    recipients_app.add_typer(contact_app, name="contact")
    recipients_app.add_typer(key_app, name="key")
    recipients_app.add_typer(sftp_app, name="sftp")
    recipients_app.add_typer(mail_app, name="mail")
    recipients_app.add_typer(changes_app, name="changes")
