"""A batch carried by worker processes: every run completes, the files and the audit chain hold,
and one failing run does not stop the others."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from app.flows.batch_runner import Outcome, run_many
from app.settings import Settings
from app.store.db import transaction
from app.wiring import drop_root, sms_outbox_path
from channels.drop_store import DropStore
from exchange.exports import RunState
from exchange.models import ExportRun
from tests.conftest import Kbx
from tests.export_helpers import agree, four_eyes, register_contact, requests_file, staff
from tests.factories import national_number, person, write_extract

PASSWORD = "correct horse battery staple"
# Four municipalities, with 1 to 4 residents on the list each.
TOWNS = {"72020": 1, "44021": 2, "11002": 3, "71016": 4}


def _prepare(kbx: Kbx, tmp_path: Path) -> None:
    people = [
        person(national_number(date(1990, 1, day), 100 + index), nis, target_group="obliged")
        for index, (nis, count) in enumerate(TOWNS.items())
        for day in range(1, count + 1)
    ]
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", people))).exit_code == 0
    staff(kbx)
    for number, nis in enumerate(TOWNS):
        public = (
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        )
        key = tmp_path / f"{nis}.pub"
        key.write_bytes(public + b"\n")
        four_eyes(kbx, "recipients", "key", "add", nis, "--public-key", str(key))
        register_contact(kbx, nis, f"+3247812345{number}", f"bz{nis}@example.org")
        agree(
            kbx,
            *("protocols", "sign", "art20-municipal", "--recipient", nis),
            *("--signed-on", "2025-01-15", "--in-force", "2025-02-01"),
        )


def test_a_batch_runs_in_two_worker_processes(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    _prepare(kbx, tmp_path)
    asked = requests_file(tmp_path / "aanvragen.csv", list(TOWNS))
    requested = kbx(
        *("export", "request", "art20-municipal", "--recipient", "all-requested"),
        *("--requests", str(asked), "--period", "2026", "--channel", "sftp_drop", "--by", "olga"),
    )
    assert requested.exit_code == 0, requested.output
    found = re.search(r"batch (B-[0-9a-f]+): 4 run\(s\) requested", requested.stdout)
    assert found is not None, requested.stdout
    batch = found.group(1)
    assert kbx("export", "approve", batch, "--by", "arne").exit_code == 0

    done = kbx("export", "run", batch, "--workers", "2")
    assert done.exit_code == 0, done.output
    assert "4 key_sent" in done.stdout

    with transaction(engine) as session:
        runs = list(session.scalars(select(ExportRun).where(ExportRun.batch_id == batch)))
    drop = DropStore(drop_root(settings))
    assert {r.recipient_id: r.row_count for r in runs} == TOWNS
    for run in runs:
        assert run.state == RunState.KEY_SENT
        assert run.file_name is not None
        assert drop.present(run.recipient_id, run.file_name) == run.file_sha256
    sms = [json.loads(line) for line in sms_outbox_path(settings).read_text().splitlines()]
    assert sorted(m["reference"] for m in sms) == sorted(r.reference or "" for r in runs)
    # Two processes appended to the audit trail side by side: the chain still holds.
    verified = kbx("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_a_failing_run_is_reported_and_the_others_go_on(
    kbx: Kbx, engine: Engine, settings: Settings
) -> None:
    for workers in (1, 2):
        outcomes = sorted(
            run_many(settings, [999_999, 999_998], workers=workers), key=lambda o: o.run_id
        )
        assert outcomes == [
            Outcome(999_998, None, "unknown run 999998"),
            Outcome(999_999, None, "unknown run 999999"),
        ]
    assert list(run_many(settings, [], workers=2)) == []
