"""The main job end to end: an operator asks for Lommel's list, an approver approves, kbx builds,
seals and drops it and sends the key; the municipality fetches it with OpenSSH's sftp and opens
it with the password from the SMS."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import msoffcrypto  # type: ignore[import-untyped]
import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Engine, select, text

from app.settings import Settings
from exchange.models import ExportRun
from tests.conftest import Kbx
from tests.export_helpers import (
    LOMMEL,
    REQUEST,
    expected_art20_rows,
    password_from,
    personal_data,
    prepare,
    running_drop,
    sftp,
    sms_messages,
)


def test_lommel_list_from_request_to_purge(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = prepare(kbx, tmp_path)
    outputs: list[str] = []

    def run(*args: str) -> str:
        result = kbx(*args)
        outputs.append(result.output)
        assert result.exit_code == 0, result.output
        return result.stdout

    run_id = run(
        "export",
        "request",
        "art20-municipal",
        *REQUEST,
        "--recipient",
        LOMMEL,
        "--period",
        "2026",
        "--channel",
        "sftp_drop",
        "--by",
        "olga",
    ).strip()
    own = kbx("export", "approve", run_id, "--by", "olga")
    outputs.append(own.output)
    assert own.exit_code == 2, "olga is an operator: she may not approve"
    run("export", "approve", run_id, "--by", "arne")
    assert "1 key_sent" in run("export", "run", run_id)

    second = kbx(
        "export",
        "request",
        "art20-municipal",
        *REQUEST,
        "--recipient",
        LOMMEL,
        "--period",
        "2026",
        "--channel",
        "sftp_drop",
        "--by",
        "olga",
    )
    outputs.append(second.output)
    assert second.exit_code == 3
    assert "frequency.exhausted" in second.stderr

    with engine.connect() as connection:
        row = connection.execute(select(ExportRun).where(ExportRun.id == int(run_id))).one()
    reference, file_name = row.reference, row.file_name
    assert row.state == "key_sent"
    assert row.requested_by == "olga"
    assert row.approved_by == "arne"
    assert row.row_count == len(expected_art20_rows())
    assert row.definition_hash.startswith("sha256:")

    [sms] = sms_messages(settings)
    assert sms["to"] == "+32478123456"
    assert sms["reference"] == reference
    assert reference in sms["body"]
    password = password_from(sms)

    download = tmp_path / "download"
    download.mkdir()
    with running_drop(engine, settings) as drop:
        listing = sftp(drop, key, LOMMEL, "ls -l /outbox\n", download)
        assert file_name in listing
        sftp(drop, key, LOMMEL, f"get /outbox/{file_name}\n", download)
        with engine.connect() as connection:
            assert (
                connection.scalar(select(ExportRun.state).where(ExportRun.id == int(run_id)))
                == "fetched"
            )

        decrypted = io.BytesIO()
        office = msoffcrypto.OfficeFile(io.BytesIO((download / file_name).read_bytes()))
        office.load_key(password=password)
        office.decrypt(decrypted)
        book = openpyxl.load_workbook(decrypted)
        assert book.sheetnames == ["Gegevens", "Info"]
        cells = [tuple(c.value for c in r) for r in book["Gegevens"].iter_rows()]
        assert cells[0] == (
            "Rijksregisternummer",
            "Inburgeringscontract ondertekend",
            "Inburgeringsattest behaald",
        )
        assert sorted(cells[1:]) == expected_art20_rows()
        info = {r[0].value: r[1].value for r in book["Info"].iter_rows()}
        assert info["Referentie"] == reference
        assert info["Aantal personen"] == len(expected_art20_rows())  # a number, not text
        assert info["Uw ondertekend protocol"] == (
            "Protocol AgII - stadsbestuur Lommel, 01.03.2024, ondertekend te Lommel op 10.04.2024"
        )
        assert book["Gegevens"].print_title_rows == "$1:$1"
        assert "gecontroleerde omgeving" in str(info["Instructie"])

        sftp(drop, key, LOMMEL, f"rm /outbox/{file_name}\n", download)
    with engine.connect() as connection:
        assert (
            connection.scalar(select(ExportRun.state).where(ExportRun.id == int(run_id)))
            == "purged"
        )

    verified = run("audit", "verify")
    assert "intact" in verified

    # No personal data anywhere but in the file itself; the password only in its own SMS.
    with engine.connect() as connection:
        audit = " ".join(
            str(tuple(r)) for r in connection.execute(text("SELECT * FROM audit_events"))
        )
    leaks = "\n".join([audit, caplog.text, *outputs])
    for value in personal_data():
        assert value not in leaks, "personal data leaked"
    assert password not in leaks
