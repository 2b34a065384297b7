"""``kbx pseudonym``: the key of the pseudonyms (BI dataset of vdab-pillar3, VSB check audit).

- ``kbx pseudonym show-key-id``: the id of the key in use (never the key), and the id the audit
  trail last recorded.
- ``kbx pseudonym rotate --by ADMIN``: an explicit admin action, audited with the old and the new
  key id. Pseudonyms made after a rotation cannot be linked to those made before: the BI working
  group loses the comparison with earlier half years, which is the point when a key may have
  leaked, and the reason it never happens by itself.
  In development without ``KBX_PSEUDONYM_KEY`` it writes a new key file (the old key is gone).
  Otherwise the key lives in ``KBX_PSEUDONYM_KEY``, which only the operator changes; once the
  service runs with the new key, ``rotate --by ADMIN --confirm-key-id ID`` records it.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.cli.common import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_REFUSED,
    Context,
    JsonOpt,
    ctx_of,
    emit_json,
    fail,
    staff,
)

__all__ = ["ROTATED", "pseudonym_app", "register"]

ROTATED = "pseudonym.key_rotated"

pseudonym_app = typer.Typer(no_args_is_help=True, help="Sleutel van de pseudoniemen")


def _current_key_id(c: Context) -> str:
    from app.flows.vdab_dataset import pseudonym_key
    from crypto.pseudonyms import PseudonymKeyError, key_id

    try:
        return key_id(pseudonym_key(c.settings))
    except PseudonymKeyError as exc:
        fail(f"de pseudoniemsleutel is onbruikbaar: {exc}", code=EXIT_INTERNAL)


def _source(c: Context) -> str:
    from app.flows.vdab_dataset import pseudonym_key_file

    if c.settings.pseudonym_key is not None:
        return "KBX_PSEUDONYM_KEY"
    return f"key file {pseudonym_key_file(c.settings)}"


def _last_recorded(c: Context) -> str | None:
    """The key id the last rotation recorded, if any."""
    from sqlalchemy import select

    from app.store.db import transaction
    from exchange.models import AuditEvent

    with transaction(c.engine) as session:
        details = session.scalar(
            select(AuditEvent.details)
            .where(AuditEvent.action == ROTATED)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    if details is None:
        return None
    recorded = json.loads(details).get("new_key_id")
    return recorded if isinstance(recorded, str) else None


@pseudonym_app.command("show-key-id")
def show_key_id(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The id of the pseudonym key in use (the key itself is never shown)."""
    c = ctx_of(ctx)
    current = _current_key_id(c)
    recorded = _last_recorded(c)
    if as_json:
        emit_json({"key_id": current, "source": _source(c), "last_recorded_key_id": recorded})
        return
    typer.echo(f"{current} ({_source(c)})")
    if recorded is not None and recorded != current:
        typer.echo(
            f"kbx: de laatst geregistreerde rotatie noemt sleutel {recorded}; registreer deze "
            f"sleutel met `kbx pseudonym rotate --by ADMIN --confirm-key-id {current}`",
            err=True,
        )


def _record(c: Context, by: str, old: str | None, new: str, how: str) -> None:
    from app.store.audit import record
    from app.store.db import transaction

    with transaction(c.engine) as session:
        record(
            session,
            actor=by,
            action=ROTATED,
            subject="pseudonym-key",
            details={"old_key_id": old, "new_key_id": new, "how": how},
            now=c.now(),
        )


def _confirm_operator_rotation(c: Context, by: str, confirm: str) -> None:
    current = _current_key_id(c)
    if confirm != current:
        fail(
            f"de sleutel in KBX_PSEUDONYM_KEY heeft id {current}, niet {confirm}: de dienst "
            "draait niet met de sleutel die u wilt registreren",
            code=EXIT_INPUT,
        )
    previous = _last_recorded(c)
    if previous == current:
        fail(
            f"sleutel {current} is al de geregistreerde sleutel: wijzig eerst KBX_PSEUDONYM_KEY",
            code=EXIT_REFUSED,
        )
    _record(c, by, previous, current, "operator")
    typer.echo(
        f"rotatie van de pseudoniemsleutel geregistreerd: {previous or '(geen geregistreerd)'} "
        f"-> {current}"
    )


def _rotate_key_file(c: Context, by: str) -> None:
    from app.flows.vdab_dataset import pseudonym_key_file
    from app.store.audit import record
    from app.store.db import transaction
    from crypto.pseudonyms import (
        PseudonymKeyError,
        key_id,
        load_pseudonym_key,
        new_pseudonym_key,
        replace_key_file,
    )

    key_file = pseudonym_key_file(c.settings)
    try:
        old = (
            key_id(load_pseudonym_key(env_key=None, key_file=key_file, create_if_missing=False))
            if key_file.exists()
            else None
        )
        key = new_pseudonym_key()
        new = key_id(key)
        # The event and the new file go together: the file is replaced inside the transaction,
        # so a failed write records nothing.
        with transaction(c.engine) as session:
            record(
                session,
                actor=by,
                action=ROTATED,
                subject="pseudonym-key",
                details={"old_key_id": old, "new_key_id": new, "how": "key_file"},
                now=c.now(),
            )
            replace_key_file(key_file, key)
    except PseudonymKeyError as exc:
        fail(f"de pseudoniemsleutel is onbruikbaar: {exc}", code=EXIT_INTERNAL)
    typer.echo(f"pseudoniemsleutel vervangen: {old or '(geen)'} -> {new}")
    typer.echo(
        "pseudoniemen die vanaf nu gemaakt worden, zijn niet te koppelen aan eerdere; herstart "
        "een draaiende `kbx serve` zodat die de nieuwe sleutel gebruikt"
    )


@pseudonym_app.command("rotate")
def rotate(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="The admin who rotates the key")],
    confirm_key_id: Annotated[
        str | None,
        typer.Option(
            "--confirm-key-id",
            help="With KBX_PSEUDONYM_KEY: record the operator's new key, by its id "
            "(kbx pseudonym show-key-id)",
        ),
    ] = None,
) -> None:
    """Replace the pseudonym key (an explicit admin action, audited with the old and new key
    ids). Datasets made afterwards cannot be compared with earlier ones."""
    from app.flows.roles import Action
    from app.settings import Environment

    c = ctx_of(ctx)
    by = staff(c, by, Action.ROTATE_PSEUDONYM_KEY)
    if c.settings.pseudonym_key is not None:
        if confirm_key_id is None:
            fail(
                "de pseudoniemsleutel komt uit KBX_PSEUDONYM_KEY, die enkel de operator "
                "wijzigt: zet daar een nieuwe base64-sleutel van 32 bytes, herstart kbx en "
                f"registreer dan de rotatie met `kbx pseudonym rotate --by {by} --confirm-key-id "
                "ID` (ID uit `kbx pseudonym show-key-id`)",
                code=EXIT_REFUSED,
            )
        _confirm_operator_rotation(c, by, confirm_key_id)
        return
    if c.settings.env is Environment.PRODUCTION:
        fail(
            "in productie staat de pseudoniemsleutel enkel in KBX_PSEUDONYM_KEY, die de "
            "operator instelt: kbx schrijft hem nooit. Zet daar een nieuwe base64-sleutel van "
            f"32 bytes, herstart kbx en voer dan `kbx pseudonym rotate --by {by} "
            "--confirm-key-id ID` uit, met de ID die `kbx pseudonym show-key-id` toont",
            code=EXIT_REFUSED,
        )
    if confirm_key_id is not None:
        fail("--confirm-key-id registreert een sleutel uit KBX_PSEUDONYM_KEY, en er is er geen")
    _rotate_key_file(c, by)


def register(app: typer.Typer) -> None:
    app.add_typer(pseudonym_app, name="pseudonym")
