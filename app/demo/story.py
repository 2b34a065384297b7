"""The demo behind ``make run``: staff, Lommel's key pair and contact, and Lommel's list of this
year on the drop, so that a new user can fetch and open it with nothing but OpenSSH and Excel.

Dev only: the demo writes a private key and staff passwords into the data directory.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from app.cli.common import Context
from app.flows.execution import execute
from app.flows.exports import approve, request_export
from app.flows.recipient_changes import decide, propose
from app.flows.staff import add
from app.store import runs
from app.store.db import transaction
from app.store.users import Role, find_user
from app.wiring import host_key_file, sms_outbox_path
from channels.sftp_drop import host_public_key
from crypto import parse_public_key
from exchange.models import RecipientContact, RecipientKey
from exchange.recipient_changes import ChangeKind
from exchange.requests import ListRequest

__all__ = ["DemoStory", "prepare_story"]

MUNICIPALITY = "72020"  # Lommel: the one municipality the art. 20 protocol names as signed
PROTOCOL = "art20-municipal"
OPERATOR, APPROVER = "demo-operator", "demo-approver"
# Who else opens the console: the auditor (or DPO) who reads, the admin of the accounts.
AUDITOR, ADMIN = "demo-auditor", "demo-admin"
STAFF = (
    (OPERATOR, Role.OPERATOR),
    (APPROVER, Role.APPROVER),
    (AUDITOR, Role.AUDITOR),
    (ADMIN, Role.ADMIN),
)


@dataclass(frozen=True)
class DemoStory:
    run_id: int
    state: str
    file_name: str | None
    private_key: Path
    known_hosts: Path
    credentials: Path
    sms_outbox: Path


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _staff(c: Context, credentials: Path) -> None:
    lines = []
    for name, role in STAFF:
        with transaction(c.engine) as session:
            known = find_user(session, name) is not None
        if not known:
            password = secrets.token_urlsafe(12)
            add(c.engine, name, role, password, c.actor, c.now())  # audited, as `kbx users add`
            lines.append(f"{name} ({role.value}): {password}\n")
    if lines:
        # Added to what an earlier story wrote: those accounts keep their passwords.
        kept = credentials.read_bytes() if credentials.exists() else b""
        _write_private(credentials, kept + "".join(lines).encode())


def _municipality_key(c: Context, private_key: Path) -> None:
    if not private_key.exists():
        key = Ed25519PrivateKey.generate()
        _write_private(
            private_key,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ),
        )
        line = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        private_key.with_suffix(".pub").write_bytes(line + b" demo@lommel\n")
    public = private_key.with_suffix(".pub").read_text()
    parsed = parse_public_key(public)
    with transaction(c.engine) as session:
        known = session.scalar(
            select(RecipientKey.id).where(
                RecipientKey.recipient_id == MUNICIPALITY,
                RecipientKey.fingerprint == parsed.fingerprint,
            )
        )
        has_contact = session.get(RecipientContact, MUNICIPALITY) is not None
    # Even the demo goes through four eyes: the operator proposes, the approver applies.
    changes: list[tuple[ChangeKind, dict[str, str]]] = []
    if known is None:
        changes.append((ChangeKind.KEY, {"public_key": public}))
    if not has_contact:
        contact = {
            "name": "Dienst Burgerzaken (demo)",
            "phone": "+32470000072",
            "email": "burgerzaken@lommel.example",
        }
        changes.append((ChangeKind.CONTACT, contact))
    vault = c.deps.vault
    for kind, payload in changes:
        change = propose(c.engine, vault, kind, MUNICIPALITY, payload, OPERATOR, c.now())
        decide(c.engine, vault, change.id, APPROVER, approve=True, now=c.now())


def _this_years_run(c: Context) -> int:
    period = str(c.settings.current_date().year)
    with transaction(c.engine) as session:
        found = runs.live_for_slot(session, PROTOCOL, MUNICIPALITY, period)
        existing = None if found is None else found.id
    if existing is not None:
        return existing
    run = request_export(
        c.engine,
        c.deps,
        protocol_id=PROTOCOL,
        recipient_id=MUNICIPALITY,
        period=period,
        channel="sftp_drop",
        lookback_years=None,
        by=OPERATOR,
        # Lommel asked for its list (seed 000, overweging C): the run answers that request.
        request=ListRequest(c.settings.current_date(), f"LOM/BZ/{period}/001"),
    )
    approve(c.engine, c.deps, run.id, APPROVER)
    return run.id


def prepare_story(c: Context) -> DemoStory:
    """Idempotent: a second ``make run`` reuses what the first one made."""
    demo = c.settings.data_dir / "demo"
    credentials = demo / "staff-credentials.txt"
    private_key = demo / "lommel_ed25519"
    known_hosts = demo / "known_hosts"
    _staff(c, credentials)
    _municipality_key(c, private_key)
    run_id = _this_years_run(c)
    execute(c.engine, c.deps, run_id)
    host_line = host_public_key(host_key_file(c.settings))
    host = c.settings.sftp_host
    known_hosts.write_text(f"[{host}]:{c.settings.sftp_port} {host_line}\n")
    with transaction(c.engine) as session:
        run = runs.load(session, run_id)
        state, file_name = run.state, run.file_name
    return DemoStory(
        run_id, state, file_name, private_key, known_hosts, credentials, sms_outbox_path(c.settings)
    )
