"""Shared set-up for the export tests: a small store, staff, a municipality's key and contact,
and the OpenSSH client fetching from the drop."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from typer.testing import Result

from app.flows.drop_events import RecordingDropEvents, recipient_keys
from app.settings import Settings
from app.wiring import drop_root, host_key_file, sms_outbox_path
from channels.sftp_drop import DropServer
from tests.conftest import Kbx
from tests.factories import national_number, person, write_extract

LOMMEL = "72020"
PASSWORD = "correct horse battery staple"

# A municipality's request for its art20-municipal list (seed 000, overweging C): every art20
# request of the tests answers one, on the CLI (REQUEST) and in the API's body (REQUEST_BODY).
REQUEST = ("--requested-on", "2026-11-02", "--request-ref", "BZ/2026/0117")
REQUEST_BODY = {"requested_on": "2026-11-02", "request_ref": "BZ/2026/0117"}


def requests_file(path: Path, nis_codes: list[str], on: str = "2026-11-02") -> Path:
    """The yearly round's CSV of requests received: one line per municipality."""
    lines = ["nis_code,requested_on,reference"]
    lines += [f"{nis},{on},REQ-{nis}" for nis in nis_codes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def nn(day: int, *, bis: bool = False) -> str:
    return national_number(date(1991, 4, day), 205, bis_offset=40 if bis else 0)


# The store of these tests, and (below) the answer computed from it independently.
PEOPLE = [
    person(
        nn(1),
        LOMMEL,
        last_name="Haddad",
        first_name="Rania",
        target_group="obliged",
        contract_signed_on="2024-03-04",
        certificate_on="2025-05-06",
        phone="+32471000001",
    ),
    person(
        nn(2),
        LOMMEL,
        last_name="Kovalenko",
        first_name="Olena",
        target_group="entitled",
        contract_signed_on="2025-09-10",
        email="olena@example.org",
    ),
    person(nn(3), LOMMEL, last_name="Ahmadi", first_name="Farid", target_group="obliged"),
    person(nn(4), LOMMEL, last_name="Yilmaz", first_name="Emre", target_group="none"),
    person(nn(5, bis=True), LOMMEL, last_name="Diallo", first_name="Awa", target_group="obliged"),
    person(nn(6), "44021", last_name="Bakker", first_name="Joost", target_group="obliged"),
]


def expected_art20_rows() -> list[tuple[str, str, str]]:
    """Art. 3: national register residents of Lommel, obliged or entitled; yes/no in Dutch."""
    rows = []
    for p in PEOPLE:
        bis = int(p["national_number"][2:4]) > 12
        if p["nis_code"] == LOMMEL and p["target_group"] in ("obliged", "entitled") and not bis:
            rows.append(
                (
                    p["national_number"],
                    "ja" if p.get("contract_signed_on") else "nee",
                    "ja" if p.get("certificate_on") else "nee",
                )
            )
    return sorted(rows)


def personal_data() -> list[str]:
    values = []
    for p in PEOPLE:
        values += [p["national_number"], p["last_name"], p["first_name"]]
        values += [p[k] for k in ("phone", "email") if p.get(k)]
    return values


def staff(kbx: Kbx) -> None:
    """olga (operator) and arne (approver), once."""
    for name, role in (("olga", "operator"), ("arne", "approver")):
        added = kbx("users", "add", name, "--role", role, input=PASSWORD + "\n")
        assert added.exit_code == 0 or "[user.exists]" in added.output, added.output


def four_eyes(kbx: Kbx, *args: str) -> Result:
    """A recipient change as the CLI makes it: olga proposes, arne approves. Returns the proposal
    (whose output names the change)."""
    proposed = kbx(*args, "--by", "olga")
    assert proposed.exit_code == 0, proposed.output
    match = re.search(r"change (\d+) proposed", proposed.stdout)
    assert match, proposed.stdout
    approved = kbx("recipients", "changes", "approve", match.group(1), "--by", "arne")
    assert approved.exit_code == 0, approved.output
    return proposed


def agree(kbx: Kbx, *args: str) -> Result:
    """A signature (``protocols sign``), an accession (``accession add``) or an agreement's
    transition (``agreements ...``) as staff record it: olga proposes, arne approves."""
    staff(kbx)
    return four_eyes(kbx, *args)


def register_drop_key(kbx: Kbx, recipient: str, key: Path) -> None:
    four_eyes(kbx, "recipients", "key", "add", recipient, "--public-key", f"{key}.pub")


def register_contact(kbx: Kbx, recipient: str, phone: str, email: str) -> None:
    four_eyes(
        kbx, "recipients", "contact", "set", recipient, "--name", "Burgerzaken",
        "--phone", phone, "--email", email,
    )  # fmt: skip


def prepare(kbx: Kbx, tmp_path: Path) -> Path:
    """Store, two staff members, Lommel's key and contact. Returns the private key path."""
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", PEOPLE))).exit_code == 0
    staff(kbx)
    key = tmp_path / "lommel_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    register_drop_key(kbx, LOMMEL, key)
    register_contact(kbx, LOMMEL, "+32478123456", "burgerzaken@lommel.be")
    return key


@contextmanager
def running_drop(engine: Engine, settings: Settings) -> Iterator[DropServer]:
    drop = DropServer(
        drop_root(settings),
        host_key_file(settings),
        recipient_keys(engine),
        RecordingDropEvents(engine, settings),
        port=0,
    )
    drop.start()
    try:
        yield drop
    finally:
        drop.stop()


def sftp(drop: DropServer, key: Path, user: str, commands: str, workdir: Path) -> str:
    """Runs the real OpenSSH sftp client in batch mode, with the host key pinned."""
    known = workdir / "known_hosts"
    public = host_key_file_public(drop)
    known.write_text(f"[127.0.0.1]:{drop.port} {public}\n")
    batch = workdir / "batch"
    batch.write_text(commands)
    result = subprocess.run(
        [
            "sftp",
            "-b",
            str(batch),
            "-i",
            str(key),
            "-P",
            str(drop.port),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            f"{user}@127.0.0.1",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def host_key_file_public(drop: DropServer) -> str:
    return drop.host_public_key


def sms_messages(settings: Settings) -> list[dict[str, str]]:
    path = sms_outbox_path(settings)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def password_from(sms: dict[str, str]) -> str:
    match = re.search(r": (\S+) Deel", sms["body"])
    assert match, "the SMS carries the password"
    return match.group(1)


def kbx_process(*args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    """kbx as a separate process (the fixtures' environment names the database and data dir);
    with ``crash_at`` it kills itself with SIGKILL at that point of a run."""
    env = dict(os.environ)
    env.pop("KBX_TEST_CRASH_AT", None)
    if crash_at:
        env["KBX_TEST_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
