"""Four-eyes changes to how kbx reaches a recipient: proposed by one, applied only when another
approves, audited without secrets."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.registry import load_registry
from app.settings import Settings
from app.wiring import build_deps
from exchange.models import PendingChange, RecipientMail, RecipientSftp
from tests.conftest import Kbx
from tests.export_helpers import PASSWORD

VSB = "vsb"


def staff(kbx: Kbx) -> None:
    for name, role in (("olga", "operator"), ("arne", "approver"), ("ada", "admin")):
        assert kbx("users", "add", name, "--role", role, input=PASSWORD + "\n").exit_code == 0


def keypair(tmp_path: Path, name: str) -> Path:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_sftp_settings_take_effect_only_after_a_second_person_approves(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    staff(kbx)
    client, server = keypair(tmp_path, "kbx_to_vsb"), keypair(tmp_path, "vsb_host")
    host_key = server.with_suffix(".pub").read_text().split(" demo")[0].strip()
    proposed = kbx(
        "recipients", "sftp", "set", VSB, "--host", "sftp.vsb.example", "--port", "2022",
        "--username", "agii", "--private-key", str(client), "--host-key", host_key,
        "--path", "in/kbx", "--return-path", "out/kbx", "--by", "olga",
    )  # fmt: skip
    assert proposed.exit_code == 0, proposed.output
    assert "change 1 proposed" in proposed.stdout
    with Session(engine) as session:
        assert session.get(RecipientSftp, VSB) is None, "nothing applies before approval"

    own = kbx("recipients", "changes", "approve", "1", "--by", "olga")
    assert own.exit_code == 2
    assert "four_eyes" in own.stderr or "operator" in own.stderr
    operator = kbx("users", "add", "otto", "--role", "operator", input=PASSWORD + "\n")
    assert operator.exit_code == 0
    assert kbx("recipients", "changes", "approve", "1", "--by", "otto").exit_code == 2

    approved = kbx("recipients", "changes", "approve", "1", "--by", "arne")
    assert approved.exit_code == 0, approved.output
    deps = build_deps(settings, load_registry(settings.protocols_dir))
    with Session(engine) as session:
        row = session.get(RecipientSftp, VSB)
        assert row is not None
        assert (row.host, row.port, row.username) == ("sftp.vsb.example", 2022, "agii")
        assert (row.path, row.return_path) == ("in/kbx", "out/kbx")
        assert deps.vault.open(row.private_key_sealed, VSB.encode()) == client.read_bytes()
        change = session.get(PendingChange, 1)
        assert change is not None
        assert (change.state, change.decided_by, change.payload_sealed) == ("applied", "arne", b"")
    again = kbx("recipients", "changes", "approve", "1", "--by", "ada")
    assert again.exit_code == 2, "a change is decided once"

    private_body = client.read_text().splitlines()[1]
    with engine.connect() as connection:
        audit = " ".join(
            str(tuple(r)) for r in connection.execute(text("SELECT * FROM audit_events"))
        )
    assert "recipient.change_proposed" in audit
    assert "recipient.change_applied" in audit
    assert private_body not in audit


def test_rejected_and_invalid_changes_leave_nothing(kbx: Kbx, engine: Engine) -> None:
    staff(kbx)
    bad = kbx(
        "recipients", "mail", "set", "72020", "--address", "burgerzaken@lommel.be",
        "--route", "fax", "--by", "olga",
    )  # fmt: skip
    assert bad.exit_code == 2
    assert bad.stderr.count("\n") == 1, "one line says why"
    assert "route" in bad.stderr
    with Session(engine) as session:
        assert session.scalars(select(PendingChange)).all() == []

    ok = kbx(
        "recipients", "mail", "set", "72020", "--address", "burgerzaken@lommel.be",
        "--route", "zivver", "--by", "olga",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    listed = kbx("recipients", "changes", "list")
    assert "mail by zivver to a mailbox at lommel.be" in listed.stdout
    assert "burgerzaken@" not in listed.stdout
    rejected = kbx("recipients", "changes", "reject", "1", "--by", "ada", "--reason", "Geen mail")
    assert rejected.exit_code == 0
    with Session(engine) as session:
        assert session.get(RecipientMail, "72020") is None
    assert kbx("recipients", "changes", "list").stdout == (
        "geen wijzigingen die op goedkeuring wachten / no change waits for approval\n"
    )
