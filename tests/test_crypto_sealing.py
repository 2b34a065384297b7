from __future__ import annotations

import hashlib
import io
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import msoffcrypto  # type: ignore[import-untyped]
import olefile  # type: ignore[import-untyped]
import openpyxl  # type: ignore[import-untyped]
import py7zr
import pytest
from msoffcrypto.format.ooxml import OOXMLFile  # type: ignore[import-untyped]
from msoffcrypto.method.ecma376_agile import ECMA376Agile  # type: ignore[import-untyped]
from py7zr.io import BytesIOFactory

import crypto.sealing
from crypto.sealing import (
    Column,
    SealedFile,
    SealingError,
    build_csv,
    build_xlsx,
    open_xlsx,
    readme_bytes,
    seal,
    seal_csv_7z,
    seal_xlsx,
)
from crypto.xlsx_stream import write_workbook

PASSWORD = "k7wq3-hx9ta-m4rcz-2npve-y8bdf"
COLUMNS = [
    Column("Rijksregisternummer", "text"),
    Column("Naam", "text"),
    Column("Datum inburgeringsattest", "date"),
    Column("Inburgeringscontract ondertekend", "boolean"),
    Column("OCMW-leefloon", "boolean"),
]
ROWS: list[tuple[object, ...]] = [
    ("01073003328", "Peeters", date(2024, 3, 1), True, False),
    ("85073003328", "=1+1", None, False, None),
    ("99123199912", 'Vermeërsch, "Jos"', date(2025, 12, 31), None, True),
]
INFO = [("Referentie", "AGII-2026-000042"), ("Periode", "2026-Q3")]
ENCRYPTION_NS = "{http://schemas.microsoft.com/office/2006/encryption}"
PASSWORD_NS = "{http://schemas.microsoft.com/office/2006/keyEncryptor/password}"


def _rows() -> Iterator[tuple[object, ...]]:
    # A generator, as the database gives them: seal_* must not need len() or a second pass.
    yield from ROWS


@pytest.fixture(scope="module")
def sealed_xlsx() -> SealedFile:
    return seal_xlsx(COLUMNS, _rows(), INFO, PASSWORD)


def _decrypt(data: bytes, password: str) -> bytes:
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password, verify_password=True)
    plain = io.BytesIO()
    office.decrypt(plain, verify_integrity=True)
    return plain.getvalue()


def _workbook(plain: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(plain))


# -- Excel ------------------------------------------------------------------------------------


def test_xlsx_is_an_encrypted_ole_file(sealed_xlsx: SealedFile) -> None:
    assert sealed_xlsx.data.startswith(bytes.fromhex("D0CF11E0A1B11AE1"))
    assert not sealed_xlsx.data.startswith(b"PK\x03\x04")
    assert b"Peeters" not in sealed_xlsx.data
    assert b"01073003328" not in sealed_xlsx.data
    assert sealed_xlsx.sha256 == hashlib.sha256(sealed_xlsx.data).hexdigest()
    assert sealed_xlsx.rows == 3
    assert sealed_xlsx.suffix == ".xlsx"
    assert sealed_xlsx.media_type.endswith("spreadsheetml.sheet")
    assert "sha256" in repr(sealed_xlsx)
    assert len(repr(sealed_xlsx)) < 300  # no ciphertext dump in log lines


def test_xlsx_opens_with_the_password_and_has_typed_cells(sealed_xlsx: SealedFile) -> None:
    workbook = _workbook(_decrypt(sealed_xlsx.data, PASSWORD))
    assert workbook.sheetnames == ["Gegevens", "Info"]
    sheet = workbook["Gegevens"]
    cells = list(sheet.iter_rows())
    assert [c.value for c in cells[0]] == [c.header for c in COLUMNS]
    assert all(c.font.b for c in cells[0])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E4"
    assert len(cells) == 4

    national, name, certified, contract, wage = cells[1]
    assert national.value == "01073003328"
    assert national.data_type == "s"
    assert name.value == "Peeters"
    assert isinstance(certified.value, datetime)
    assert certified.value.date() == date(2024, 3, 1)
    assert certified.value.time() == time(0)
    assert certified.number_format == "dd/mm/yyyy"
    assert (contract.value, wage.value) == ("ja", "nee")

    national, name, certified, contract, wage = cells[2]
    assert (national.value, national.data_type) == ("85073003328", "s")
    assert (name.value, name.data_type) == ("=1+1", "s")  # text, never a formula
    assert certified.value is None
    assert contract.value == "nee"
    assert wage.value is None

    national, name, certified, contract, wage = cells[3]
    assert (national.value, name.value) == ("99123199912", 'Vermeërsch, "Jos"')
    assert certified.value.date() == date(2025, 12, 31)
    assert (contract.value, wage.value) == (None, "ja")

    info = [[c.value for c in row] for row in workbook["Info"].iter_rows()]
    assert info == [list(pair) for pair in INFO]


def test_open_xlsx_gives_the_same_workbook(sealed_xlsx: SealedFile) -> None:
    plain = open_xlsx(sealed_xlsx.data, PASSWORD)
    assert plain.startswith(b"PK\x03\x04")
    assert plain == _decrypt(sealed_xlsx.data, PASSWORD)


def test_wrong_password_fails(sealed_xlsx: SealedFile) -> None:
    with pytest.raises(SealingError, match="wrong password"):
        open_xlsx(sealed_xlsx.data, "k7wq3-hx9ta-m4rcz-2npve-y8bdg")
    with pytest.raises(msoffcrypto.exceptions.InvalidKeyError):
        _decrypt(sealed_xlsx.data, "wrong")


def test_tampered_xlsx_fails_the_integrity_check(sealed_xlsx: SealedFile) -> None:
    with olefile.OleFileIO(io.BytesIO(sealed_xlsx.data)) as ole:
        package = ole.openstream("EncryptedPackage").read()
    offset = sealed_xlsx.data.find(package[:512])
    assert offset > 0
    tampered = bytearray(sealed_xlsx.data)
    tampered[offset + 300] ^= 0x01
    with pytest.raises(SealingError):
        open_xlsx(bytes(tampered), PASSWORD)


def test_open_xlsx_refuses_what_is_not_an_encrypted_workbook() -> None:
    with pytest.raises(SealingError):
        open_xlsx(b"not a workbook", PASSWORD)
    plain = io.BytesIO()
    write_workbook(plain, COLUMNS, iter(ROWS), INFO)
    with pytest.raises(SealingError):
        open_xlsx(plain.getvalue(), PASSWORD)


def test_encryption_is_agile_aes256_sha512_100000_spins(sealed_xlsx: SealedFile) -> None:
    with olefile.OleFileIO(io.BytesIO(sealed_xlsx.data)) as ole:
        info = ole.openstream("EncryptionInfo").read()
    assert info[:4] == b"\x04\x00\x04\x00"  # version 4.4: agile encryption
    root = ET.fromstring(info[8:])  # noqa: S314  (our own output, not untrusted input)
    key_data = root.find(f"{ENCRYPTION_NS}keyData")
    password_key = root.find(
        f"{ENCRYPTION_NS}keyEncryptors/{ENCRYPTION_NS}keyEncryptor/{PASSWORD_NS}encryptedKey"
    )
    assert key_data is not None
    assert password_key is not None
    assert root.find(f"{ENCRYPTION_NS}dataIntegrity") is not None
    for element in (key_data, password_key):
        assert element.get("cipherAlgorithm") == "AES"
        assert element.get("keyBits") == "256"
        assert element.get("hashAlgorithm") == "SHA512"
    assert password_key.get("spinCount") == "100000"


def test_the_fast_password_hash_is_msoffcryptos() -> None:
    salt = bytes(range(16))
    reference = ECMA376Agile._derive_iterated_hash_from_password(PASSWORD, salt, "SHA512", 100_000)
    assert crypto.sealing._spin(PASSWORD, salt) == reference.digest()


def test_the_data_key_is_256_random_bits(sealed_xlsx: SealedFile) -> None:
    office = OOXMLFile(io.BytesIO(sealed_xlsx.data))
    office.load_key(password=PASSWORD, verify_password=True)
    key = office.secret_key
    assert len(key) == 32
    assert key[16:] != b"\x36" * 16  # msoffcrypto 6.1's own encrypt pads 16 random bytes so


def test_every_file_gets_its_own_salts() -> None:
    first = seal_xlsx(COLUMNS, _rows(), INFO, PASSWORD)
    second = seal_xlsx(COLUMNS, _rows(), INFO, PASSWORD)
    assert first.data != second.data


def test_xlsx_with_no_rows_has_the_header_only() -> None:
    sealed = seal_xlsx(COLUMNS, iter([]), INFO, PASSWORD)
    assert sealed.rows == 0
    sheet = _workbook(open_xlsx(sealed.data, PASSWORD))["Gegevens"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [[c.header for c in COLUMNS]]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            (85073003328, "x", None, None, None),
            r"row 1, column 1 \(Rijksregisternummer\): expected text",
        ),
        (
            ("secretvalue", "x", datetime(2024, 1, 1, 12, tzinfo=UTC), None, None),
            "column 3 .*: expected a date",
        ),
        (("secretvalue", "x", "2024-01-01", None, None), "expected a date"),
        (("secretvalue", "x", date(1899, 12, 31), None, None), "before 1900"),
        (("secretvalue", "x", None, "ja", None), "column 4 .*: expected a boolean"),
        (("secretvalue", "x", None, 1, None), "expected a boolean"),
        (("secretvalue", "x", None), "row 1 has 3 values for 5 columns"),
        (("secretvalue", "x" * 32_768, None, None, None), "32,767"),
    ],
)
def test_wrong_values_are_refused_without_showing_them(
    row: tuple[object, ...], problem: str
) -> None:
    with pytest.raises(SealingError, match=problem) as caught:
        seal_xlsx(COLUMNS, iter([row]), INFO, PASSWORD)
    assert "secretvalue" not in str(caught.value)
    assert "85073003328" not in str(caught.value)


def test_more_rows_than_a_sheet_holds_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto.sealing, "XLSX_MAX_ROWS", 2)
    with pytest.raises(SealingError, match="do not fit"):
        seal_xlsx(COLUMNS, _rows(), INFO, PASSWORD)


def test_building_and_sealing_are_two_steps_and_the_plaintext_is_dropped() -> None:
    plain = build_xlsx(COLUMNS, _rows(), INFO)
    assert plain.rows == 3
    assert plain.buffer.getvalue().startswith(b"PK\x03\x04")
    assert "buffer" not in repr(plain)
    sealed = seal(plain, PASSWORD)
    assert plain.buffer.closed
    assert sealed.rows == 3
    assert sealed.suffix == ".xlsx"
    workbook = _workbook(open_xlsx(sealed.data, PASSWORD))
    assert workbook["Gegevens"]["A2"].value == "01073003328"

    csv_plain = build_csv(HEADERS, _rows(), "AGII-2026-000042.csv")
    csv_sealed = seal(csv_plain, PASSWORD)
    assert csv_plain.buffer.closed
    assert csv_sealed.suffix == ".7z"
    assert _read_7z(csv_sealed.data, PASSWORD) == {
        "AGII-2026-000042.csv": EXPECTED_CSV.encode("utf-8")
    }


def test_a_refused_seal_drops_the_plaintext_too() -> None:
    plain = build_xlsx(COLUMNS, _rows(), INFO)
    with pytest.raises(SealingError):
        seal(plain, "")
    assert plain.buffer.closed


def test_empty_password_is_refused() -> None:
    with pytest.raises(SealingError):
        seal_xlsx(COLUMNS, _rows(), INFO, "")
    with pytest.raises(SealingError):
        seal_csv_7z(["a"], iter([]), "", "x.csv")


# -- CSV in 7z --------------------------------------------------------------------------------

HEADERS = ["national_number", "last_name", "certificate_on", "contract_signed", "living_wage"]
EXPECTED_CSV = (
    "national_number,last_name,certificate_on,contract_signed,living_wage\r\n"
    "01073003328,Peeters,2024-03-01,true,false\r\n"
    "85073003328,=1+1,,false,\r\n"
    '99123199912,"Vermeërsch, ""Jos""",2025-12-31,,true\r\n'
)


@pytest.fixture(scope="module")
def sealed_7z() -> SealedFile:
    return seal_csv_7z(HEADERS, _rows(), PASSWORD, inner_name="AGII-2026-000042.csv")


def _read_7z(data: bytes, password: str | None) -> dict[str, bytes]:
    with py7zr.SevenZipFile(io.BytesIO(data), "r", password=password) as archive:
        factory = BytesIOFactory(10_000_000)
        names = archive.getnames()
        archive.extractall(factory=factory)
    contents = {}
    for name in names:
        member = factory.products[name]
        member.seek(0)
        contents[name] = member.read()
    return contents


def test_7z_opens_with_the_password_and_holds_the_exact_csv(sealed_7z: SealedFile) -> None:
    assert _read_7z(sealed_7z.data, PASSWORD) == {
        "AGII-2026-000042.csv": EXPECTED_CSV.encode("utf-8")
    }
    assert sealed_7z.rows == 3
    assert sealed_7z.suffix == ".7z"
    assert sealed_7z.media_type == "application/x-7z-compressed"
    assert sealed_7z.sha256 == hashlib.sha256(sealed_7z.data).hexdigest()
    assert sealed_7z.data.startswith(b"7z\xbc\xaf\x27\x1c")


def test_7z_carries_a_leesmij_for_notepad_next_to_the_csv() -> None:
    sealed = seal_csv_7z(
        HEADERS,
        _rows(),
        PASSWORD,
        inner_name="AGII-2026-000042.csv",
        readme="Referentie: AGII-2026-000042\nAantal personen: 3\n",
    )
    contents = _read_7z(sealed.data, PASSWORD)
    assert contents == {
        "AGII-2026-000042.csv": EXPECTED_CSV.encode("utf-8"),
        "LEESMIJ.txt": b"\xef\xbb\xbfReferentie: AGII-2026-000042\r\nAantal personen: 3\r\n",
    }
    # Any line end becomes CRLF; "één" is UTF-8 after the byte-order mark.
    expected = b"\xef\xbb\xbf\xc3\xa9\xc3\xa9n\r\ntwee\r\ndrie\r\n"
    assert readme_bytes("\u00e9\u00e9n\r\ntwee\rdrie\n") == expected
    with pytest.raises(SealingError, match=r"cannot be called LEESMIJ\.txt"):
        build_csv(HEADERS, _rows(), "LEESMIJ.txt", readme="x")


def test_7z_hides_even_the_file_list_without_the_password(sealed_7z: SealedFile) -> None:
    # With encrypted headers py7zr cannot even read the archive's table of contents.
    with pytest.raises(py7zr.PasswordRequired):
        py7zr.SevenZipFile(io.BytesIO(sealed_7z.data), "r")
    assert "AGII-2026-000042".encode("utf-16-le") not in sealed_7z.data
    assert b"AGII-2026-000042" not in sealed_7z.data
    assert b"Peeters" not in sealed_7z.data

    # The contrast: without header encryption the name is readable by anyone.
    plain_headers = io.BytesIO()
    with py7zr.SevenZipFile(plain_headers, "w", password=PASSWORD) as archive:
        archive.writestr(b"x", "AGII-2026-000042.csv")
    with py7zr.SevenZipFile(io.BytesIO(plain_headers.getvalue()), "r") as archive:
        assert archive.getnames() == ["AGII-2026-000042.csv"]


def test_7z_with_a_wrong_password_does_not_open(sealed_7z: SealedFile) -> None:
    try:
        contents = _read_7z(sealed_7z.data, "k7wq3-hx9ta-m4rcz-2npve-y8bdg")
    except Exception:  # py7zr fails in various ways on a header decrypted with a wrong key
        contents = {}
    assert contents == {}


@pytest.mark.parametrize("name", ["", ".", "..", "../x.csv", "a/b.csv", "a\\b.csv", "x\0.csv"])
def test_7z_inner_name_must_be_a_plain_file_name(name: str) -> None:
    with pytest.raises(SealingError, match="plain file name"):
        seal_csv_7z(HEADERS, _rows(), PASSWORD, inner_name=name)


def test_7z_row_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(SealingError, match="row 2 has 1 values for 5 columns"):
        seal_csv_7z(HEADERS, iter([ROWS[0], ("secretvalue",)]), PASSWORD, "x.csv")


# -- no plaintext on disk ---------------------------------------------------------------------


@pytest.fixture
def temp_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], list[str]]]:
    """Points every temporary-file location at an empty directory and records every use of the
    tempfile module; yields a function that reports what was created or asked for."""
    temp_dir = tmp_path / "tmp"
    work_dir = tmp_path / "cwd"
    temp_dir.mkdir()
    work_dir.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp_dir))
    monkeypatch.setattr(tempfile, "tempdir", None)  # forget the cached location
    monkeypatch.chdir(work_dir)
    calls: list[str] = []
    for name in (
        "mkstemp",
        "mkdtemp",
        "TemporaryFile",
        "NamedTemporaryFile",
        "SpooledTemporaryFile",
    ):
        real = getattr(tempfile, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(tempfile, name, spy)
    assert tempfile.gettempdir() == str(temp_dir)
    before = sorted(os.listdir(temp_dir)), sorted(os.listdir(work_dir))

    def report() -> list[str]:
        created = [
            f"{where}/{name}"
            for where, names, old in (
                ("tmp", os.listdir(temp_dir), before[0]),
                ("cwd", os.listdir(work_dir), before[1]),
            )
            for name in names
            if name not in old
        ]
        return calls + created

    yield report
    tempfile.tempdir = None


def test_the_guard_sees_a_library_that_uses_temporary_files(
    temp_guard: Callable[[], list[str]],
) -> None:
    # Keeps the guard honest: openpyxl's write-only mode spools each sheet to a temporary file
    # (as XlsxWriter's constant_memory mode does).
    workbook = openpyxl.Workbook(write_only=True)
    workbook.create_sheet().append(["dummy"])
    assert any(name.startswith("tmp/openpyxl") for name in temp_guard())
    workbook.save(io.BytesIO())


def test_sealing_creates_no_file_anywhere(temp_guard: Callable[[], list[str]]) -> None:
    xlsx = seal_xlsx(COLUMNS, _rows(), INFO, PASSWORD)
    seven = seal_csv_7z(HEADERS, _rows(), PASSWORD, "AGII-2026-000042.csv")
    assert temp_guard() == []
    assert open_xlsx(xlsx.data, PASSWORD).startswith(b"PK")
    assert seven.rows == 3
    assert temp_guard() == []
