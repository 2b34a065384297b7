"""Recipients, contacts, keys, signatures and accessions through the CLI, and `kbx check`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from exchange.models import RecipientContact, RecipientKey
from tests.conftest import Kbx
from tests.export_helpers import REQUEST, agree, four_eyes, staff

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
    assert "geen Belgisch gsm-nummer" in landline.stderr
    assert landline.stderr.endswith("[change.invalid_contact]\n")
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
    assert unknown.stderr == "kbx: onbekende ontvanger '99999' [recipient.unknown]\n"


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
    assert "is al geregistreerd [key.duplicate]" in again.stderr


def test_weak_private_or_garbage_keys_are_refused(kbx: Kbx, tmp_path: Path) -> None:
    staff(kbx)
    key = tmp_path / "id"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(key)], check=True
    )
    weak = kbx("recipients", "key", "add", LOMMEL, "--public-key", f"{key}.pub", "--by", "olga")
    assert weak.exit_code == 2
    assert "de sleutel is geen geldige publieke OpenSSH-sleutel" in weak.stderr
    assert "at least 3072" in weak.stderr  # crypto's reason, in brackets
    private = kbx("recipients", "key", "add", LOMMEL, "--public-key", str(key), "--by", "olga")
    assert private.exit_code == 2
    assert "nooit een privésleutel" in private.stderr
    assert "private key" in private.stderr  # crypto's reason, in brackets
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
        *REQUEST,
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
        *REQUEST,
        "--recipient",
        GENT,
        "--period",
        "2026",
        "--channel",
        "sftp_drop",
    )
    assert allowed.exit_code == 0
    assert "TOEGESTAAN" in allowed.stdout
    # Allowed by the protocol, but a request would still be refused: Gent has no contact yet.
    assert allowed.stdout.splitlines()[1] == (
        "  maar nog niet klaar / but not ready: ontvanger 44021 heeft geen geregistreerde "
        "contactpersoon voor de sleutel-sms [recipient.no_contact]"
    )

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
    assert "werkt niet met een toetreding" in wrong_kind.stderr
    assert wrong_kind.stderr.endswith("[agreement.wrong_kind]\n")
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
    assert "ligt in de toekomst" in future.stderr
    assert future.stderr.endswith("[agreement.future]\n")
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
    assert "onbekend protocol" in unknown.stderr


def _ssh_keygen(tmp_path: Path, name: str, *args: str) -> Path:
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", *args, "-N", "", "-C", "gemeente", "-f", str(key)], check=True
    )
    return key


def _fingerprint(public: Path) -> str:
    return subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(public)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[1]


def test_a_puttygen_key_saved_by_notepad_registers_with_the_openssh_fingerprint(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    """PuTTYgen saves RFC 4716 ("---- BEGIN SSH2 PUBLIC KEY ----", a Comment: header, 64-column
    lines); Notepad adds a byte-order mark and CRLF. kbx registers it in OpenSSH form, with the
    fingerprint ssh-keygen shows for the OpenSSH file."""
    key = _ssh_keygen(tmp_path, "putty", "-t", "rsa", "-b", "3072")
    expected = _fingerprint(key.with_suffix(".pub"))
    rfc4716 = subprocess.run(
        ["ssh-keygen", "-e", "-f", f"{key}.pub"], check=True, capture_output=True, text=True
    ).stdout
    lines = rfc4716.splitlines()
    assert lines[0] == "---- BEGIN SSH2 PUBLIC KEY ----"
    # As PuTTYgen writes it: its own Comment header, here continued over two lines.
    body = [line for line in lines[1:-1] if ":" not in line]
    putty = [lines[0], 'Comment: "rsa-key-\\', '20260101"', *body, lines[-1]]
    saved = tmp_path / "gemeente.pub"
    saved.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(putty).encode() + b"\r\n")

    staff(kbx)
    result = four_eyes(kbx, "recipients", "key", "add", LOMMEL, "--public-key", str(saved))
    assert expected in result.stdout
    openssh_line = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    with engine.connect() as connection:
        stored = connection.execute(select(RecipientKey.public_key, RecipientKey.fingerprint))
        assert [tuple(r) for r in stored] == [(openssh_line, expected)]
    # The same key again, now in its OpenSSH form: the same key, so already registered.
    again = kbx(
        "recipients", "key", "add", LOMMEL, "--public-key", f"{key}.pub", "--by", "olga"
    )  # fmt: skip
    assert again.exit_code == 2
    assert "is al geregistreerd [key.duplicate]" in again.stderr


def test_a_utf16_key_file_from_notepad_is_read(kbx: Kbx, tmp_path: Path) -> None:
    key = _ssh_keygen(tmp_path, "id", "-t", "ed25519")
    saved = tmp_path / "unicode.pub"
    saved.write_bytes(key.with_suffix(".pub").read_text().replace("\n", "\r\n").encode("utf-16"))
    staff(kbx)
    result = kbx("recipients", "key", "add", LOMMEL, "--public-key", str(saved), "--by", "olga")
    assert result.exit_code == 0, result.output
    assert _fingerprint(key.with_suffix(".pub")) in result.stdout


def test_key_files_are_refused_by_naming_the_problem_never_the_content(
    kbx: Kbx, tmp_path: Path
) -> None:
    staff(kbx)
    key = _ssh_keygen(tmp_path, "id", "-t", "ed25519")
    public = key.with_suffix(".pub").read_text().strip()
    secret = "85073003328 Jan Peeters"  # what a wrong file could hold
    cases = {
        "options": (
            f'from="10.0.0.0/8",command="/bin/true" {public}',
            "an authorized_keys line with options (from=, command=, ...): give the key alone, "
            "'<type> <base64> [comment]'; kbx does not apply such options",
        ),
        "private": (key.read_text(), "this is a private key: register the public key"),
        "putty-private": (
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
            "this is a private key: register the public key",
        ),
        "ssh2-cut": (
            "---- BEGIN SSH2 PUBLIC KEY ----\nAAAAC3NzaC1lZDI1NTE5AAAAI\n",
            "an SSH2 (RFC 4716) key without its '---- END SSH2 PUBLIC KEY ----' line",
        ),
        "ssh2-garbage": (
            f"---- BEGIN SSH2 PUBLIC KEY ----\n{secret}\n---- END SSH2 PUBLIC KEY ----\n",
            "an SSH2 (RFC 4716) key whose key lines are not base64",
        ),
        "text": (secret, "not an OpenSSH public key line ('<type> <base64> [comment]')"),
        "damaged": (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtc",
            "not a valid ssh-ed25519 public key",
        ),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}.pub"
        path.write_text(content)
        result = kbx("recipients", "key", "add", LOMMEL, "--public-key", str(path), "--by", "olga")
        assert result.exit_code == 2, name
        # The Dutch line first, crypto's English reason in brackets (or after the file's name).
        dutch = ("de sleutel is geen geldige publieke OpenSSH-sleutel", "kan de publieke sleutel")
        assert any(words in result.stderr for words in dutch), (name, result.stderr)
        assert message in result.stderr, (name, result.stderr)
        assert result.stderr.count("\n") == 1, (name, result.stderr)
        assert "b'" not in result.stderr, name
        assert "85073003328" not in result.stderr, name
    binary = tmp_path / "photo.pub"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + secret.encode("latin-1") + b"\xe9")
    result = kbx("recipients", "key", "add", LOMMEL, "--public-key", str(binary), "--by", "olga")
    assert result.exit_code == 2
    assert "kan de publieke sleutel niet lezen: the file is not a text file" in result.stderr
    assert "codec" not in result.stderr
    assert "Peeters" not in result.stderr


def test_the_sftp_host_key_may_be_a_file_and_is_never_echoed(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    staff(kbx)
    client = _ssh_keygen(tmp_path, "kbx_to_vdab", "-t", "ed25519")
    server = _ssh_keygen(tmp_path, "vdab_host", "-t", "ed25519")
    rfc4716 = tmp_path / "vdab_host.ssh2"
    rfc4716.write_text(
        subprocess.run(
            ["ssh-keygen", "-e", "-f", f"{server}.pub"], check=True, capture_output=True, text=True
        ).stdout.replace("\n", "\r\n")
    )
    common = [
        "recipients", "sftp", "set", "vdab", "--host", "sftp.vdab.example", "--username",
        "agii", "--private-key", str(client), "--path", "in", "--by", "olga",
    ]  # fmt: skip
    bad = kbx(*common, "--host-key", "sftp.vdab.example 85073003328")
    assert bad.exit_code == 2
    assert "de hostsleutel is geen geldige publieke OpenSSH-sleutel" in bad.stderr
    assert "(not an OpenSSH public key line" in bad.stderr
    assert bad.stderr.endswith("[change.invalid_sftp]\n")
    assert "85073003328" not in bad.stderr
    known_hosts = kbx(
        *common, "--host-key", f"sftp.vdab.example {server.with_suffix('.pub').read_text()}"
    )
    assert known_hosts.exit_code == 2
    assert "a known_hosts line (a host name before the key)" in known_hosts.stderr
    ok = kbx(*common, "--host-key", str(rfc4716))
    assert ok.exit_code == 0, ok.output
    assert _fingerprint(server.with_suffix(".pub")) in ok.stdout
