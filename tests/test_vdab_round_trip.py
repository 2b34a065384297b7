"""The VDAB round trip end to end (seed 001): national numbers out to VDAB's own server (a real
sshd), VDAB's enriched file back in the same encrypted form, checked, joined with the Art. 3
profile, pseudonymised and delivered to the BI working group and to VDAB (recital F: "De
Agentschappen en VDAB verwerken het gepseudonimiseerde bestand"), each its own file, password and
SMS. Not one national number reaches the dataset; a return with a stranger or an unknown column is
refused whole."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import py7zr
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.flows.vdab_dataset import pseudonym_key
from app.settings import Settings
from app.wiring import drop_root
from crypto.archives import open_single_7z
from crypto.pseudonyms import Pseudonymiser, Purpose
from exchange.models import ExportRun
from tests.conftest import Kbx
from tests.export_helpers import (
    four_eyes,
    password_from,
    register_contact,
    register_drop_key,
    sms_messages,
    staff,
)
from tests.factories import national_number, person, write_extract
from tests.sshd_peer import RETURN, UPLOAD, SshdPeer

VDAB, BI = "vdab", "bi-werkgroep"


def _nn(day: int) -> str:
    return national_number(date(1985, 3, day), 421)


PEOPLE = [
    person(_nn(1), "44021", contract_signed_on="2023-05-02", sex="F", nationality="SY",
           education_level="high", nt2_level="A2", kbi_region="gent_stad"),
    person(_nn(2), "11002", contract_signed_on="2026-01-15", sex="M", nationality="AF"),
    person(_nn(3), "72020", contract_signed_on="2025-10-01", sex="F", nationality="UA"),
    person(_nn(4), "72020", contract_signed_on="2021-12-01"),  # before 2022-03-01: not sent
    person(_nn(5), "44021"),  # no contract: not sent
]  # fmt: skip
SENT = sorted([_nn(1), _nn(2), _nn(3)])


def _prepare(kbx: Kbx, sshd: SshdPeer, tmp_path: Path) -> None:
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", PEOPLE))).exit_code == 0
    staff(kbx)
    client_key = tmp_path / "kbx_to_vdab"
    client_key.write_bytes(sshd.client_key_pem)
    four_eyes(
        kbx, "recipients", "sftp", "set", VDAB, "--host", sshd.host, "--port", str(sshd.port),
        "--username", sshd.username, "--private-key", str(client_key),
        "--host-key", sshd.host_key, "--path", f"/{UPLOAD}", "--return-path", f"/{RETURN}",
    )  # fmt: skip
    register_contact(kbx, VDAB, "+32478111222", "monitoring@vdab.example")
    register_contact(kbx, BI, "+32478333444", "bi@integratie.example")
    bi_key = tmp_path / "bi_ed25519"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(bi_key)], check=True)
    register_drop_key(kbx, BI, bi_key)


def _send(kbx: Kbx, engine: Engine) -> ExportRun:
    requested = kbx(
        "export", "request", "vdab-pillar3", "--recipient", VDAB, "--period", "2026-H2",
        "--channel", "sftp_push", "--by", "olga",
    )  # fmt: skip
    assert requested.exit_code == 0, requested.output
    run_id = int(requested.stdout)
    assert kbx("export", "approve", str(run_id), "--by", "arne").exit_code == 0
    ran = kbx("export", "run", str(run_id))
    assert ran.exit_code == 0, ran.output
    with Session(engine) as session:
        run = session.get(ExportRun, run_id)
        assert run is not None
        return run


def _archive(csv_text: str, password: str, name: str, encoding: str = "utf-8") -> bytes:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password=password, header_encryption=True) as archive:
        archive.writestr(csv_text.encode(encoding), name)
    return out.getvalue()


HEADER = (
    "national_number,vdab_first_registration,vdab_latest_registration,jobseeker_category,"
    "service_status,action_types,outflow_to_work\n"
)


def test_round_trip_delivers_a_pseudonymised_dataset_to_the_bi_working_group_and_vdab(
    kbx: Kbx, engine: Engine, settings: Settings, sshd: SshdPeer, tmp_path: Path
) -> None:
    _prepare(kbx, sshd, tmp_path)
    run = _send(kbx, engine)
    assert run.state == "key_sent"
    [vdab_sms] = sms_messages(settings)
    assert vdab_sms["to"] == "+32478111222"
    password = password_from(vdab_sms)
    _, outbound = open_single_7z(
        (sshd.upload / f"{run.reference}.7z").read_bytes(), password, ignore=("LEESMIJ.txt",)
    )
    assert sorted(outbound.decode().split()[1:]) == SENT  # national numbers only

    waiting = kbx("export", "collect", str(run.id))
    assert waiting.exit_code == 0
    assert "no return file yet" in waiting.stdout

    # VDAB links on the national number and returns two of the three, in the same encryption.
    returned = (
        HEADER
        + f"{_nn(1)},2023-06-01,2026-09-01,unemployed_free,active,orientation;job_search,false\n"
        + f"{_nn(3)},2025-11-03,,employed,ended,,true\n"
    )
    name = f"{run.reference}-return.7z"
    sshd.as_recipient(sshd.returns / name, _archive(returned, password, "return.csv"))

    collected = kbx("export", "collect", str(run.id))
    assert collected.exit_code == 0, collected.output
    assert "2 people returned (1 not known to VDAB)" in collected.stdout

    with Session(engine) as session:
        parent = session.get(ExportRun, run.id)
        assert parent is not None
        assert parent.state == "returned"
        assert parent.return_rows == 2
        assert parent.sent_sealed is None
        assert parent.password_sealed is None
        child, vdab_child = (
            session.query(ExportRun)
            .filter(ExportRun.parent_id == run.id)
            .order_by(ExportRun.id)
            .all()
        )
        assert (child.recipient_id, child.state, child.channel) == (BI, "key_sent", "sftp_drop")
        assert (child.requested_by, child.approved_by) == ("olga", "arne")
        assert (vdab_child.recipient_id, vdab_child.state, vdab_child.channel) == (
            VDAB,
            "key_sent",
            "sftp_push",
        )
        assert vdab_child.period == "2026-H2"
    assert sshd.files(sshd.returns) == [], "the return file leaves VDAB's server"
    assert sshd.files() == [f"{vdab_child.reference}.7z"], "the outbound list left; VDAB's dataset"

    _, bi_sms, vdab_dataset_sms = sms_messages(settings)
    assert bi_sms["to"] == "+32478333444"
    assert vdab_dataset_sms["to"] == "+32478111222"
    assert f"{vdab_child.reference}" in vdab_dataset_sms["body"]
    assert password_from(vdab_dataset_sms) != password_from(bi_sms), "each its own password"
    _, vdab_plain = open_single_7z(
        (sshd.upload / f"{vdab_child.reference}.7z").read_bytes(),
        password_from(vdab_dataset_sms),
        ignore=("LEESMIJ.txt",),
    )
    dataset = drop_root(settings) / BI / "outbox" / f"{child.reference}.7z"
    bi_password = password_from(bi_sms)
    _, plain = open_single_7z(dataset.read_bytes(), bi_password, ignore=("LEESMIJ.txt",))
    _, notice = open_single_7z(
        dataset.read_bytes(), bi_password, ignore=(f"{child.reference}.csv",)
    )
    readme = notice.decode("utf-8-sig").split("\r\n")
    assert f"Referentie: {child.reference}" in readme
    assert "Aantal personen: 2" in readme
    assert (
        "Bewaartermijn: VDAB en de Agentschappen bewaren de gegevens maximaal 5 jaar na het "
        "einde van de samenwerkingsovereenkomst. [Art. 3]"
    ) in readme
    text_out = plain.decode()
    assert vdab_plain.decode().replace(vdab_child.reference or "", "") == text_out.replace(
        child.reference or "", ""
    ), "VDAB gets the same dataset"
    rows = list(csv.reader(io.StringIO(text_out)))
    assert rows[0][:7] == [
        "pseudonym", "vdab_first_registration", "vdab_latest_registration",
        "jobseeker_category", "service_status", "action_types", "outflow_to_work",
    ]  # fmt: skip
    assert "national_number" not in rows[0]
    assert {"age_category", "sex", "nationality", "contract_signed_on"} <= set(rows[0])
    assert len(rows) == 3
    for number in (p["national_number"] for p in PEOPLE):
        assert number not in text_out
    pseudonym = Pseudonymiser(pseudonym_key(settings), Purpose.BI_DATASET)
    by_pseudonym = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    first = by_pseudonym[pseudonym(_nn(1))]
    assert (first["sex"], first["nationality"], first["action_types"]) == (
        "F",
        "SY",
        "orientation;job_search",
    )
    assert by_pseudonym[pseudonym(_nn(3))]["outflow_to_work"] in ("True", "true", "1")
    assert kbx("audit", "verify").exit_code == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (HEADER + "{stranger},2023-06-01,,employed,active,,false\n", "line 2"),
        (HEADER.replace("outflow_to_work", "shoe_size") + "{first},,,,,,\n", "shoe_size"),
    ],
)
def test_a_return_with_a_stranger_or_an_unknown_column_is_refused_whole(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    sshd: SshdPeer,
    tmp_path: Path,
    body: str,
    problem: str,
) -> None:
    _prepare(kbx, sshd, tmp_path)
    run = _send(kbx, engine)
    password = password_from(sms_messages(settings)[0])
    stranger = national_number(date(1979, 8, 8), 77)
    csv_text = body.format(stranger=stranger, first=_nn(1))
    name = f"{run.reference}-return.7z"
    sshd.as_recipient(sshd.returns / name, _archive(csv_text, password, "return.csv"))

    refused = kbx("export", "collect", str(run.id))
    assert refused.exit_code == 3
    assert problem in refused.stderr
    assert stranger not in refused.output
    assert sshd.files(sshd.returns) == [name], "a refused return stays for VDAB to replace"
    assert not (drop_root(settings) / BI / "outbox").exists() or not list(
        (drop_root(settings) / BI / "outbox").iterdir()
    )
    with engine.connect() as connection:
        actions = list(connection.scalars(text("SELECT action FROM audit_events")))
        states = list(connection.scalars(text("SELECT state FROM export_runs")))
    assert "export.return_refused" in actions
    assert states == ["key_sent"], "no dataset run, and the round trip still waits"


def test_a_return_file_named_otherwise_is_named_in_the_answer_never_waited_past(
    kbx: Kbx, engine: Engine, settings: Settings, sshd: SshdPeer, tmp_path: Path
) -> None:
    _prepare(kbx, sshd, tmp_path)
    run = _send(kbx, engine)
    password = password_from(sms_messages(settings)[0])
    good = (
        HEADER
        + f"{_nn(1)},2023-06-01,2026-09-01,unemployed_free,active,orientation,false\n"
        + ",,,,,,\n"  # Excel's leftovers of deleted rows, and empty lines at the end
        + f"{_nn(3)},2025-11-03,,employed,ended,,true\n"
        + ",,,,,,\n\n\n"
    ).replace("\n", "\r\n")
    sshd.as_recipient(sshd.returns / "retour_agii_2026H2.7z", _archive(good, password, "r.csv"))
    sshd.as_recipient(sshd.returns / "85030142176.7z", b"a name that may be a national number")

    waiting = kbx("export", "collect", str(run.id))
    assert waiting.exit_code == 0, waiting.output
    assert waiting.stdout.splitlines() == [
        f"run {run.id}: no return file named after {run.reference} yet, but the return folder "
        "holds 2 other file(s), not taken:",
        "  (value not shown)",
        "  retour_agii_2026H2.7z",
        "  a return file's name begins with the run's reference: ask VDAB to rename it "
        f"{run.reference}.7z (docs/vdab-return.md)",
    ]
    with Session(engine) as session:
        assert [r.state for r in session.query(ExportRun)] == ["key_sent"]

    # Renamed after the reference, in lower case, with a cp1252 byte on line 3: refused there.
    assert run.reference is not None
    named = f"{run.reference.lower()}-retour.7z"
    cp1252 = HEADER + f"{_nn(1)},,,,,,\n{_nn(3)},,,employ\u00e9,,,\n"
    sshd.as_recipient(sshd.returns / named, _archive(cp1252, password, "r.csv", "cp1252"))
    refused = kbx("export", "collect", str(run.id))
    assert refused.exit_code == 3
    assert "  line 3, column (file): file.not_utf8\n" in refused.stderr

    sshd.as_recipient(sshd.returns / named, _archive(good, password, "r.csv"))
    collected = kbx("export", "collect", str(run.id))
    assert collected.exit_code == 0, collected.output
    assert (
        f"run {run.id}: 2 people returned (1 not known to VDAB; 4 blank row(s) skipped)"
        in collected.stdout
    )
    assert sshd.files(sshd.returns) == ["85030142176.7z", "retour_agii_2026H2.7z"]
