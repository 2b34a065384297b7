"""Files that say the truth (issue 9, point 3): what a recipient finds in a decrypted file about
the file itself.

A municipality's workbook names its own signed copy of the protocol (or its accession), the
protocol's id, version and content hash, the legal basis, the person count as a number, the
creation time as a date-time, and the retention deadline as a date where the seed gives a
period; it prints one page wide with the header row on every page. An agency's 7z archive holds
a LEESMIJ.txt with the same facts. No file names a repository path or an internal note.
"""

from __future__ import annotations

import email
import io
import re
import zipfile
from datetime import UTC, date, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import msoffcrypto  # type: ignore[import-untyped]
import openpyxl  # type: ignore[import-untyped]
import py7zr
import pytest
from py7zr.io import BytesIOFactory
from sqlalchemy import Engine

from app.flows.execution import seal_file
from app.registry import load_registry
from app.settings import PROJECT_ROOT, Settings
from app.store.db import transaction
from app.store.recipients import get_recipient, own_agreement
from app.wiring import build_deps, drop_root
from app.wiring.mail_targets import mail_outbox_path
from exchange.exports import OwnAgreement, info_sheet, retention_deadline
from exchange.models import ExportRun, RecipientSftp
from exchange.protocols import DefinitionError, RecipientRequirement, parse_definition
from tests.conftest import TODAY, Kbx
from tests.export_helpers import (
    REQUEST,
    agree,
    four_eyes,
    password_from,
    register_contact,
    register_drop_key,
    sms_messages,
    staff,
)
from tests.factories import national_number, person, write_extract

REGISTRY = load_registry(PROJECT_ROOT / "protocols")
LOMMEL, GENT = "72020", "44021"
LOMMEL_DOCUMENT = (
    "Protocol AgII - stadsbestuur Lommel, 01.03.2024, ondertekend te Lommel op 10.04.2024"
)
GENT_DOCUMENT = "Protocol AgII - stad Gent, 06.01.2025, ondertekend op 15.01.2025 (GENT/2025/12)"
GENT_ACCESSION = "Verbintenis stad Gent VCMP 05/2024, ondertekend op 03.02.2025 (GENT/2025/0031)"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
# Words that must never reach a file: a repository path, the extraction's own notes.
NEVER = ("seeds/", ".txt (", "ontbreekt", "beschikbare tekst")


def _nn(day: int) -> str:
    return national_number(date(1987, 2, day), 417)


PEOPLE = [
    person(_nn(1), LOMMEL, target_group="obliged", contract_signed_on="2024-05-02"),
    person(_nn(2), LOMMEL, target_group="entitled"),
    person(_nn(3), GENT, target_group="obliged", contract_signed_on="2023-01-10"),
    person(
        _nn(4),
        GENT,
        target_group="obliged",
        certificate_on="2026-06-12",
        street="Veldstraat",
        house_number="12",
        postal_code="9000",
        city="Gent",
        email="lid@example.org",
        phone="+32470111222",
    ),
    person(_nn(5), GENT, target_group="entitled", obligation_since="2024-01-01"),
    person(_nn(6), "11002", target_group="obliged", contract_signed_on="2025-04-01"),
]


# -- reading a delivered file -----------------------------------------------------------------


def _decrypt(data: bytes, password: str) -> bytes:
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password)
    plain = io.BytesIO()
    office.decrypt(plain)
    return plain.getvalue()


def _parts(plain: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(plain)) as package:
        return {n: package.read(n).decode("utf-8") for n in package.namelist()}


def _members(data: bytes, password: str) -> dict[str, bytes]:
    factory = BytesIOFactory(10_000_000)
    with py7zr.SevenZipFile(io.BytesIO(data), "r", password=password) as archive:
        archive.extractall(factory=factory)
    out = {}
    for name, member in factory.products.items():
        member.seek(0)
        out[name] = member.read()
    return out


def _assert_truthful_workbook(
    plain: bytes, *, reference: str, count: int, columns: int, retention: str
) -> dict[str, Any]:
    """The checks every municipal workbook passes; returns its Info sheet as a dict."""
    parts = _parts(plain)
    everything = "\n".join(parts.values())
    for word in NEVER:
        assert word not in everything, word

    book = openpyxl.load_workbook(io.BytesIO(plain))
    info_sheet_ = book["Info"]
    info = {r[0].value: r[1] for r in info_sheet_.iter_rows()}
    assert info["Referentie"].value == reference
    assert info["Aantal personen"].value == count
    assert info["Aantal personen"].data_type == "n"
    made = info["Aangemaakt op"]
    assert isinstance(made.value, datetime)
    assert made.number_format == "dd/mm/yyyy hh:mm"
    assert made.value.date() == TODAY  # Brussels time: the test clock's day
    assert info["Bewaartermijn"].value == retention

    # Printed: A4, one page wide, the header row on every page, the reference in the footer.
    data = book["Gegevens"]
    assert data.print_title_rows == "$1:$1"
    assert data.page_setup.orientation == ("landscape" if columns > 4 else "portrait")
    for sheet in (data, info_sheet_):
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
        assert sheet.page_setup.paperSize == 9
        assert sheet.oddFooter.left.text == reference
        assert sheet.oddFooter.right.text == "pagina &P van &N"
    for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"):
        assert 'fitToWidth="1"' in parts[name]
        assert parts[name].index("<sheetPr>") < parts[name].index("<sheetData>")
    assert (
        '<definedName name="_xlnm.Print_Titles" localSheetId="0">\'Gegevens\'!$1:$1'
        in parts["xl/workbook.xml"]
    )
    return {label: cell.value for label, cell in info.items()}


# -- art20-municipal: each municipality's own signed copy --------------------------------------


def _drop_run(kbx: Kbx, recipient: str) -> str:
    requested = kbx(
        "export", "request", "art20-municipal", "--recipient", recipient, "--period", "2026",
        "--channel", "sftp_drop", *REQUEST, "--by", "olga",
    )  # fmt: skip
    assert requested.exit_code == 0, requested.output
    run_id = requested.stdout.strip()
    assert kbx("export", "approve", run_id, "--by", "arne").exit_code == 0
    assert "1 key_sent" in kbx("export", "run", run_id).stdout
    return run_id


def _load_run(engine: Engine, run_id: str) -> ExportRun:
    with transaction(engine) as session:
        run = session.get(ExportRun, int(run_id))
        assert run is not None
        session.expunge(run)
        return run


def _key(tmp_path: Path, name: str) -> Path:
    import subprocess

    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_each_municipality_s_list_names_its_own_signed_protocol(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", PEOPLE))).exit_code == 0
    staff(kbx)
    agree(
        kbx, "protocols", "sign", "art20-municipal", "--recipient", GENT,
        "--signed-on", "2025-01-15", "--in-force", "2025-02-01", "--document", GENT_DOCUMENT,
    )  # fmt: skip
    for nis, phone in ((LOMMEL, "+32478123456"), (GENT, "+32478654321")):
        register_drop_key(kbx, nis, _key(tmp_path, f"key_{nis}"))
        register_contact(kbx, nis, phone, f"burgerzaken@{nis}.example")

    files: dict[str, dict[str, Any]] = {}
    texts: dict[str, str] = {}
    for nis in (LOMMEL, GENT):
        run = _load_run(engine, _drop_run(kbx, nis))
        assert run.file_name is not None
        assert run.reference is not None
        [sms] = [m for m in sms_messages(settings) if m["reference"] == run.reference]
        sealed = (drop_root(settings) / nis / "outbox" / run.file_name).read_bytes()
        plain = _decrypt(sealed, password_from(sms))
        files[nis] = _assert_truthful_workbook(
            plain,
            reference=run.reference,
            count=2 if nis == LOMMEL else 3,  # Lommel: _nn(1), _nn(2); Gent: _nn(3) to _nn(5)
            columns=3,
            retention=(
                "bewaren tot uiterlijk 22.11.2031: De gemeente bewaart de gegevens niet langer "
                "dan vijf jaar in een vorm die identificatie mogelijk maakt. "
                "[Art. 3; decreet art. 20, §1, derde lid]"
            ),
        )
        texts[nis] = "\n".join(_parts(plain).values())

    definition = REGISTRY.require("art20-municipal")
    for info in files.values():
        assert info["Protocol"] == (
            "Jaarlijkse lijst van inburgeraars ingeschreven in de gemeente (art. 20 "
            "inburgeringsdecreet) (art20-municipal, versie 1)"
        )
        assert info["Definitie-hash"] == definition.content_hash
        assert info["Rechtsgrond"] == "; ".join(definition.legal_basis)
    assert files[LOMMEL]["Uw ondertekend protocol"] == LOMMEL_DOCUMENT
    assert files[LOMMEL]["Ondertekend op"].date() == date(2024, 4, 10)
    assert files[GENT]["Uw ondertekend protocol"] == GENT_DOCUMENT
    assert files[GENT]["Ondertekend op"].date() == date(2025, 1, 15)
    assert "Lommel" not in texts[GENT], "Gent's list does not name Lommel's protocol"
    assert "Gent" not in texts[LOMMEL]


# -- vcmp-ceremony: the accession, by Zivver -------------------------------------------------


def _attachment(message: Message) -> bytes:
    for part in message.walk():
        if part.get_filename():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise AssertionError("the mail carries no attachment")


def test_the_ceremony_list_names_the_accession_and_no_internal_note(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", PEOPLE))).exit_code == 0
    staff(kbx)
    agree(
        kbx, "accession", "add", GENT, "--protocol", "vcmp-ceremony", "--signed-on", "2025-02-03",
        "--document", GENT_ACCESSION, "--cadence", "yearly",
    )  # fmt: skip
    register_contact(kbx, GENT, "+32478654321", "burgerzaken@gent.example")
    four_eyes(
        kbx, "recipients", "mail", "set", GENT, "--address", "ceremonie@gent.example",
        "--route", "zivver",
    )  # fmt: skip
    requested = kbx(
        "export", "request", "vcmp-ceremony", "--recipient", GENT, "--period", "2026",
        "--channel", "zivver", "--by", "olga", "--lookback-years", "1",
    )  # fmt: skip
    assert requested.exit_code == 0, requested.output
    run_id = requested.stdout.strip()
    assert kbx("export", "approve", run_id, "--by", "arne").exit_code == 0
    assert "1 key_sent" in kbx("export", "run", run_id).stdout
    run = _load_run(engine, run_id)
    assert run.reference is not None

    [eml] = sorted(mail_outbox_path(settings).glob("*.eml"))
    sealed = _attachment(email.message_from_bytes(eml.read_bytes()))
    [sms] = [m for m in sms_messages(settings) if m["reference"] == run.reference]
    plain = _decrypt(sealed, password_from(sms))
    info = _assert_truthful_workbook(
        plain,
        reference=run.reference,
        count=1,
        columns=10,
        retention=(
            "Verwijderen na het verstrijken van de bewaartermijn van randnummer 41 van "
            "beraadslaging VCMP nr. 05/2024. [Besluit, verwijzing naar randnr. 41]"
        ),
    )
    assert info["Beraadslaging"] == "Algemene beraadslaging VCMP nr. 05/2024 van 18.11.2024"
    assert info["Uw toetreding"] == GENT_ACCESSION
    assert info["Toetreding ondertekend op"].date() == date(2025, 2, 3)
    assert info["Protocol"].endswith("(vcmp-ceremony, versie 1)")
    assert info["Terugblik"] == "attesten van de laatste 1 jaar"


# -- agencies: LEESMIJ.txt in the 7z archive ---------------------------------------------------


AGENCY_CASES = {
    "vsb-care": (
        "vsb",
        "2026",
        1,  # _nn(5): obliged since 2024 and not compliant on 1 January 2026
        "Protocoldocument: Protocol voor de elektronische mededeling van persoonsgegevens van "
        "het Agentschap Integratie en Inburgering aan het Agentschap voor Vlaamse Sociale "
        "Bescherming, 01.10.2021",
        "Bewaartermijn: De gegevens over de zorgpremie worden bijgehouden tot aan het "
        "overlijden van de betrokkene. [Art. 3]",
    ),
    "vdab-pillar3": (
        "vdab",
        "2026-H2",
        3,  # a contract signed from 1 March 2022 on: _nn(1), _nn(3), _nn(6)
        "Protocoldocument: Protocol voor de elektronische mededeling van persoonsgegevens van "
        "het Agentschap Integratie en Inburgering, Integratie en Inburgering Gent en Atlas "
        "Antwerpen aan VDAB, 14.02.2023",
        "Bewaartermijn: VDAB en de Agentschappen bewaren de gegevens maximaal 5 jaar na het "
        "einde van de samenwerkingsovereenkomst. [Art. 3]",
    ),
}


@pytest.mark.parametrize("protocol", sorted(AGENCY_CASES))
def test_an_agency_archive_holds_a_leesmij_with_the_same_facts(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path, protocol: str
) -> None:
    agency, period, count, document_line, retention_line = AGENCY_CASES[protocol]
    assert kbx("kbi", "import", str(write_extract(tmp_path / "kbi.csv", PEOPLE))).exit_code == 0
    staff(kbx)
    register_contact(kbx, agency, "+32478999000", f"data@{agency}.example")
    deps = build_deps(settings, REGISTRY)
    with transaction(engine) as session:  # a server on record; nothing is pushed in this test
        session.add(
            RecipientSftp(
                recipient_id=agency,
                host="sftp.invalid",
                port=22,
                username="agii",
                private_key_sealed=deps.vault.seal(b"not used", agency.encode()),
                host_key=HOST_KEY,
                path="/upload",
                return_path="/return",
                updated_at=settings.now(),
            )
        )
    requested = kbx(
        "export", "request", protocol, "--recipient", agency, "--period", period,
        "--channel", "sftp_push", "--by", "olga",
    )  # fmt: skip
    assert requested.exit_code == 0, requested.output
    run_id = requested.stdout.strip()
    assert kbx("export", "approve", run_id, "--by", "arne").exit_code == 0
    run = _load_run(engine, run_id)
    assert run.reference is not None
    definition = REGISTRY.require(protocol)
    with transaction(engine) as session:
        recipient = get_recipient(session, agency)
        session.expunge(recipient)
    password = "paard batterij nietje correct"
    sealed = seal_file(engine, deps, run, definition, recipient, password, settings.now())

    members = _members(sealed.data, password)
    assert sorted(members) == sorted([f"{run.reference}.csv", "LEESMIJ.txt"])
    raw = members["LEESMIJ.txt"]
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark, for Notepad"
    assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends in CRLF"
    text = raw.decode("utf-8-sig")
    for word in NEVER:
        assert word not in text
    lines = text.split("\r\n")
    assert f"Referentie: {run.reference}" in lines
    assert f"Protocol: {definition.title_nl} ({protocol}, versie 1)" in lines
    assert f"Definitie-hash: {definition.content_hash}" in lines
    assert document_line in lines
    assert f"Rechtsgrond: {'; '.join(definition.legal_basis)}" in lines
    assert f"Aantal personen: {sealed.rows}" in lines
    assert sealed.rows == count
    [made] = [line for line in lines if line.startswith("Aangemaakt op: ")]
    assert re.fullmatch(r"Aangemaakt op: 23\.11\.2026 \d\d:\d\d \(Brusselse tijd\)", made)
    assert retention_line in lines
    assert not any("bewaren tot uiterlijk" in line for line in lines), "no date the seed lacks"
    assert any(line.startswith("Kolommen: national_number: Rijksregisternummer") for line in lines)


# -- the rules, without a store ----------------------------------------------------------------


def test_retention_deadlines_follow_each_seed() -> None:
    made = date(2026, 11, 23)
    deadlines = {d.id: retention_deadline(d, made) for d in REGISTRY}
    assert deadlines == {
        "art20-municipal": date(2031, 11, 22),  # seed 000 art. 3: five years, day one included
        "mechelen-amif507": date(2031, 11, 22),  # seed 004 art. 2: five years
        "vcmp-ceremony": None,  # seed 003: randnr. 41 is not in the text
        "vdab-pillar3": None,  # seed 001 art. 3: five years after the cooperation ends
        "vsb-care": None,  # seed 002 art. 3: until the person's death
    }
    leap = REGISTRY.require("art20-municipal")
    assert retention_deadline(leap, date(2028, 2, 29)) == date(2033, 2, 28)
    assert retention_deadline(leap, date(2028, 3, 1)) == date(2033, 2, 28)


def test_nothing_a_definition_puts_in_a_file_is_a_path_or_an_internal_note() -> None:
    built = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    for definition in REGISTRY:
        agreements: list[OwnAgreement | None] = [None]
        if definition.recipients.requires is not RecipientRequirement.NONE:
            agreements.append(OwnAgreement(definition.recipients.requires, date(2025, 1, 1), None))
        for agreement in agreements:
            rows = info_sheet(
                definition,
                reference="KBX-2026-000001",
                period="2026",
                recipient_name="Ontvanger",
                built_at=built,
                row_count=0,
                lookback_years=None,
                agreement=agreement,
            )
            said = " ".join(str(v) for _, v in rows)
            for word in NEVER:
                assert word not in said, (definition.id, word)


def test_the_mechelen_pilot_names_its_own_protocol_and_a_five_year_deadline() -> None:
    # The protocol ended on 30.06.2022: no file can be made today; what one said, then.
    definition = REGISTRY.require("mechelen-amif507")
    instance = definition.instance_for("12025")
    assert instance is not None
    rows = dict(
        info_sheet(
            definition,
            reference="KBX-2022-000007",
            period="2022",
            recipient_name="Mechelen",
            built_at=datetime.fromisoformat("2022-03-01T23:30:00+00:00"),
            row_count=4,
            lookback_years=None,
            agreement=OwnAgreement(RecipientRequirement.SIGNATURE, instance.signed_on, None),
        )
    )
    assert rows["Uw ondertekend protocol"] == "(geen documentreferentie geregistreerd)"
    assert rows["Ondertekend op"] == date(2021, 7, 1)
    # 23:30 UTC is 00:30 on 2 March in Brussels: the day counts in Brussels.
    made = rows["Aangemaakt op"]
    assert isinstance(made, datetime)
    assert made.tzinfo is None  # a cell has no zone: Brussels time, written as such
    assert made.isoformat() == "2022-03-02T00:30:00"
    assert rows["Aantal personen"] == 4
    assert str(rows["Bewaartermijn"]).startswith("bewaren tot uiterlijk 01.03.2027: ")


def test_a_definition_with_a_path_as_its_document_is_refused() -> None:
    source = (PROJECT_ROOT / "protocols" / "vsb-care.toml").read_text(encoding="utf-8")
    broken = re.sub(
        r'source_document = "([^"]*)"',
        r'source_document = "\1 (seeds/002_fe0a9711275a707c.txt)"',
        source,
    )
    with pytest.raises(DefinitionError, match="source_document names the document"):
        parse_definition(broken.encode(), "vsb-care.toml")


def test_the_latest_signed_copy_is_the_one_a_file_names(
    kbx: Kbx, engine: Engine, tmp_path: Path
) -> None:
    definition = REGISTRY.require("art20-municipal")
    with transaction(engine) as session:
        assert own_agreement(session, LOMMEL, definition) == OwnAgreement(
            RecipientRequirement.SIGNATURE, date(2024, 4, 10), LOMMEL_DOCUMENT
        )
        assert own_agreement(session, GENT, definition) is None
        assert own_agreement(session, "vsb", REGISTRY.require("vsb-care")) is None
    agree(
        kbx, "protocols", "sign", "art20-municipal", "--recipient", LOMMEL, "--signed-on",
        "2026-09-01", "--in-force", "2026-09-01", "--document", "Protocol AgII - Lommel, 2026",
    )  # fmt: skip
    with transaction(engine) as session:
        assert own_agreement(session, LOMMEL, definition) == OwnAgreement(
            RecipientRequirement.SIGNATURE, date(2026, 9, 1), "Protocol AgII - Lommel, 2026"
        )
