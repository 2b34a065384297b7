"""Recipients, contacts, keys, signatures and accessions through the CLI, and `kbx check`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from exchange.models import RecipientContact
from tests.conftest import Kbx
from tests.export_helpers import agree, four_eyes, staff

LOMMEL, GENT = "72020", "44021"


def test_recipients_are_the_285_municipalities_and_the_agencies(kbx: Kbx) -> None:
    result = kbx("recipients", "list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    municipalities = [r for r in rows if r["kind"] == "municipality"]
    assert len(municipalities) == 285
    assert {r["id"] for r in rows if r["kind"] == "agency"} == {"vdab", "vsb", "bi-werkgroep"}
    by_id = {r["id"]: r["name_nl"] for r in rows}
    assert by_id["11002"] == "Antwerpen"
    assert by_id["72020"] == "Lommel"
    assert by_id["71072"] == "Hasselt"  # the 2025 code
    assert "71022" not in by_id
    assert "11056" not in by_id


def test_contact_needs_a_belgian_mobile_number(kbx: Kbx, engine: Engine) -> None:
    staff(kbx)
    ok = kbx(
        "recipients",
        "contact",
        "set",
        LOMMEL,
        "--name",
        "An Peeters",
        "--phone",
        "0470 12 34 56",
        "--email",
        "an.peeters@lommel.be",
        "--by",
        "olga",
    )
    assert ok.exit_code == 0, ok.output
    with engine.connect() as connection:
        assert connection.execute(select(RecipientContact)).all() == [], "not before approval"
    assert kbx("recipients", "changes", "approve", "1", "--by", "arne").exit_code == 0
    with engine.connect() as connection:
        contact = connection.execute(select(RecipientContact)).one()
    assert contact.phone == "+32470123456"

    landline = kbx(
        "recipients",
        "contact",
        "set",
        LOMMEL,
        "--name",
        "X",
        "--phone",
        "+3211540000",
        "--email",
        "x@lommel.be",
        "--by",
        "olga",
    )
    assert landline.exit_code == 2
    assert "not a Belgian mobile number" in landline.stderr
    foreign = kbx(
        "recipients",
        "contact",
        "set",
        LOMMEL,
        "--name",
        "X",
        "--phone",
        "+31612345678",
        "--email",
        "x@lommel.be",
        "--by",
        "olga",
    )
    assert foreign.exit_code == 2
    bad_mail = kbx(
        "recipients",
        "contact",
        "set",
        LOMMEL,
        "--name",
        "X",
        "--phone",
        "+32470123456",
        "--email",
        "x@@lommel",
        "--by",
        "olga",
    )
    assert bad_mail.exit_code == 2
    unknown = kbx(
        "recipients",
        "contact",
        "set",
        "99999",
        "--name",
        "X",
        "--phone",
        "+32470123456",
        "--email",
        "x@lommel.be",
        "--by",
        "olga",
    )
    assert unknown.exit_code == 2
    assert "unknown recipient '99999'" in unknown.stderr


@pytest.mark.parametrize(
    ("key_type", "bits"), [("ed25519", None), ("rsa", "3072"), ("ecdsa", "256")]
)
def test_key_fingerprint_is_the_one_ssh_keygen_shows(
    kbx: Kbx, tmp_path: Path, key_type: str, bits: str | None
) -> None:
    key = tmp_path / "id"
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            key_type,
            *(["-b", bits] if bits else []),
            "-N",
            "",
            "-C",
            "gemeente",
            "-f",
            str(key),
        ],
        check=True,
    )
    expected = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]
    staff(kbx)
    result = four_eyes(kbx, "recipients", "key", "add", LOMMEL, "--public-key", f"{key}.pub")
    assert expected in result.stdout
    again = kbx("recipients", "key", "add", LOMMEL, "--public-key", f"{key}.pub", "--by", "olga")
    assert again.exit_code == 2
    assert "already registered" in again.stderr


def test_weak_private_or_garbage_keys_are_refused(kbx: Kbx, tmp_path: Path) -> None:
    staff(kbx)
    key = tmp_path / "id"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(key)], check=True
    )
    weak = kbx("recipients", "key", "add", LOMMEL, "--public-key", f"{key}.pub", "--by", "olga")
    assert weak.exit_code == 2
    assert "at least 3072" in weak.stderr
    private = kbx("recipients", "key", "add", LOMMEL, "--public-key", str(key), "--by", "olga")
    assert private.exit_code == 2
    assert "private key" in private.stderr
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("ssh-ed25519 AAAAnotbase64!!\n")
    assert (
        kbx(
            "recipients", "key", "add", LOMMEL, "--public-key", str(garbage), "--by", "olga"
        ).exit_code
        == 2
    )


def test_check_follows_signatures_and_accessions(kbx: Kbx) -> None:
    refused = kbx(
        "check",
        "art20-municipal",
        "--recipient",
        GENT,
        "--period",
        "2026",
        "--channel",
        "sftp_drop",
        "--json",
    )
    assert refused.exit_code == 3
    decision = json.loads(refused.stdout)
    assert decision["allowed"] is False
    assert [r["rule"] for r in decision["reasons"]] == ["recipient.not_signed"]
    assert decision["definition_hash"].startswith("sha256:")

    agree(
        kbx,
        *("protocols", "sign", "art20-municipal", "--recipient", GENT),
        *("--signed-on", "2026-01-15", "--in-force", "2026-02-01"),
    )
    allowed = kbx(
        "check",
        "art20-municipal",
        "--recipient",
        GENT,
        "--period",
        "2026",
        "--channel",
        "sftp_drop",
    )
    assert allowed.exit_code == 0
    assert "TOEGESTAAN" in allowed.stdout

    vcmp = [
        "check",
        "vcmp-ceremony",
        "--recipient",
        GENT,
        "--period",
        "2026",
        "--channel",
        "zivver",
    ]
    assert kbx(*vcmp).exit_code == 3
    agree(
        kbx,
        *("accession", "add", GENT, "--protocol", "vcmp-ceremony"),
        *("--signed-on", "2025-02-03", "--document", "GENT-VCMP-2025-001"),
        *("--cadence", "two-yearly"),
    )
    assert kbx(*vcmp, "--lookback-years", "2").exit_code == 0
    expired = kbx(
        "check",
        "vcmp-ceremony",
        "--recipient",
        GENT,
        "--period",
        "2026",
        "--channel",
        "secure_mail",
    )
    assert expired.exit_code == 3
    assert "[channel.expired]" in expired.stdout
    assert "Randnr. 10 en 43" in expired.stdout


def test_agreements_are_checked_against_what_the_protocol_requires(kbx: Kbx) -> None:
    staff(kbx)
    wrong_kind = kbx(
        "accession",
        "add",
        GENT,
        "--protocol",
        "art20-municipal",
        "--signed-on",
        "2025-02-03",
        "--document",
        "X",
        "--cadence",
        "yearly",
        "--by",
        "olga",
    )
    assert wrong_kind.exit_code == 2
    assert "does not work with a accession" in wrong_kind.stderr
    agency = kbx(
        "accession",
        "add",
        "vdab",
        "--protocol",
        "vcmp-ceremony",
        "--signed-on",
        "2025-02-03",
        "--document",
        "X",
        "--cadence",
        "yearly",
        "--by",
        "olga",
    )
    assert agency.exit_code == 2
    future = kbx(
        "accession",
        "add",
        GENT,
        "--protocol",
        "vcmp-ceremony",
        "--signed-on",
        "2027-01-01",
        "--document",
        "X",
        "--cadence",
        "yearly",
        "--by",
        "olga",
    )
    assert future.exit_code == 2
    assert "future" in future.stderr
    bad_date = kbx(
        "accession",
        "add",
        GENT,
        "--protocol",
        "vcmp-ceremony",
        "--signed-on",
        "03/02/2025",
        "--document",
        "X",
        "--cadence",
        "yearly",
        "--by",
        "olga",
    )
    assert bad_date.exit_code == 2
    unknown = kbx(
        "check", "no-such-protocol", "--recipient", GENT, "--period", "2026", "--channel", "zivver"
    )
    assert unknown.exit_code == 2
    assert "unknown protocol" in unknown.stderr
