"""Files a recipient opens with the password from the SMS, built and encrypted in memory.

- For people (municipal clerks): an Excel workbook with ECMA-376 agile encryption, the Office
  2013+ default (AES-256-CBC, SHA-512, 100,000 key-derivation spins, HMAC integrity), which
  Excel and LibreOffice open after asking for the password.
- For machines: a UTF-8 CSV inside a 7z archive with AES-256 and encrypted headers, so that even
  the name of the file inside needs the password; next to it a ``LEESMIJ.txt`` (UTF-8 with BOM,
  CRLF: Notepad opens it) that says what the file is and how long it may be kept. Never ZIP
  encryption (ZipCrypto is broken; WinZip AES derives its key with only 1,000 PBKDF2-SHA1
  rounds).

The plaintext never touches a disk: no library here is allowed a temporary file. The workbook is
written by ``crypto.xlsx_stream`` straight from the row iterator into a deflated ZIP in memory
(XlsxWriter held every cell in memory, or spilled rows to temporary files in its
``constant_memory`` mode). Error messages name a column and a row number, never a value: the
values are personal data.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import secrets
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from xml.parsers.expat import ExpatError

import py7zr
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from msoffcrypto import exceptions as office_errors  # type: ignore[import-untyped]
from msoffcrypto.format.ooxml import OOXMLFile  # type: ignore[import-untyped]
from msoffcrypto.method.container.ecma376_encrypted import (  # type: ignore[import-untyped]
    ECMA376Encrypted,
)
from msoffcrypto.method.ecma376_agile import (  # type: ignore[import-untyped]
    ECMA376Agile,
    ECMA376AgileEncryptionInfo,
)

from crypto.xlsx_stream import MAX_ROWS, Column, InfoValue, XlsxValueError, write_workbook

__all__ = [
    "README_NAME",
    "XLSX_MAX_ROWS",
    "Column",
    "InfoValue",
    "Plaintext",
    "SealedFile",
    "SealingError",
    "build_csv",
    "build_xlsx",
    "open_xlsx",
    "readme_bytes",
    "seal",
    "seal_csv_7z",
    "seal_xlsx",
]

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SEVEN_ZIP_MEDIA_TYPE = "application/x-7z-compressed"
XLSX_MAX_ROWS = MAX_ROWS
DATA_SHEET = "Gegevens"
INFO_SHEET = "Info"
# The notice next to a CSV inside its archive: what Windows users open first, with Notepad.
README_NAME = "LEESMIJ.txt"
SPIN_COUNT = 100_000  # key-derivation rounds of an encrypted workbook, Office's default
# MS-OFFCRYPTO 2.3.4.13: the block keys of the verifier input, verifier hash and data key.
_BLOCK_VERIFIER_INPUT = bytes.fromhex("fea7d2763b4b9e79")
_BLOCK_VERIFIER_VALUE = bytes.fromhex("d7aa0f6d3061344e")
_BLOCK_KEY_VALUE = bytes.fromhex("146e0be7abacd0d6")


class SealingError(Exception):
    """A file kbx cannot seal or open; the message never contains a value from the file."""


@dataclass(frozen=True, slots=True)
class SealedFile:
    data: bytes = field(repr=False)  # megabytes of ciphertext help no log line
    sha256: str  # hex digest of ``data``, as delivered
    rows: int  # data rows, header excluded
    media_type: str
    suffix: str  # ".xlsx" or ".7z"

    @classmethod
    def of(cls, data: bytes, rows: int, media_type: str, suffix: str) -> SealedFile:
        return cls(data, hashlib.sha256(data).hexdigest(), rows, media_type, suffix)


@dataclass(frozen=True, slots=True)
class Plaintext:
    """A built file, not yet sealed: bytes in memory only, dropped by ``seal``."""

    buffer: io.BytesIO = field(repr=False)
    rows: int  # data rows, header excluded
    kind: Literal["xlsx", "csv"]
    inner_name: str  # the CSV's name inside the 7z archive; "" for a workbook
    readme: bytes = field(default=b"", repr=False)  # LEESMIJ.txt next to the CSV; b"": none


def _require_password(password: str) -> None:
    if not password:
        raise SealingError("a sealed file needs a non-empty password")


# -- Excel ------------------------------------------------------------------------------------


def build_xlsx(
    columns: Sequence[Column],
    rows: Iterable[Sequence[object]],
    info: Sequence[tuple[str, InfoValue]],
    reference: str = "",
) -> Plaintext:
    """Sheet "Gegevens" (one row per person, typed cells) and sheet "Info" (label, value: text,
    number, date or naive local date-time), as a plain workbook in memory, set up for printing
    with ``reference`` in every page's footer. ``rows`` is consumed once, as a stream."""
    if not columns:
        raise SealingError("a sheet needs at least one column")
    plain = io.BytesIO()
    try:
        count = write_workbook(
            plain,
            columns,
            rows,
            info,
            data_sheet=DATA_SHEET,
            info_sheet=INFO_SHEET,
            max_rows=XLSX_MAX_ROWS,
            reference=reference,
        )
    except XlsxValueError as exc:
        plain.close()  # a partial package: dropped, never sealed
        raise SealingError(str(exc)) from None
    return Plaintext(plain, count, "xlsx", "")


@functools.cache
def _spin_counters() -> tuple[bytes, ...]:
    # The 4-byte little-endian counters of the key derivation, made once per process (4 MB):
    # packing them inside the loop costs about a fifth of its time.
    return tuple(map(struct.Struct("<I").pack, range(SPIN_COUNT)))


def _spin(password: str, salt: bytes) -> bytes:
    """ECMA-376 agile password hash (MS-OFFCRYPTO 2.3.4.11): H0 = SHA-512(salt + password as
    UTF-16LE), then H(n+1) = SHA-512(n as 4 bytes LE + H(n)), 100,000 times. The same values as
    msoffcrypto's loop, about a quarter faster; it is most of the cost of sealing a list."""
    sha512 = hashlib.sha512
    digest = sha512(salt + password.encode("utf-16-le")).digest()
    for counter in _spin_counters():
        digest = sha512(counter + digest).digest()
    return digest


def _aes_cbc(data: bytes, key: bytes, iv: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _encrypt_xlsx(plain: io.BytesIO, password: str) -> bytes:
    """ECMA-376 agile encryption of the package, as msoffcrypto's ``OOXMLFile.encrypt`` does it
    (its payload encryption, integrity HMAC and OLE container are used as they are), with two
    differences: the faster password hash above, and a data key of 32 random bytes, where
    msoffcrypto 6.1 draws 16 and pads them to 32 with 0x36.

    Memory: msoffcrypto reads the package in 4 KiB segments; the ciphertext is then copied about
    three times (payload, OLE container, result), each the size of the compressed package."""
    info = ECMA376AgileEncryptionInfo()
    key_params = info.encryptedKey
    if (key_params.cipherName, key_params.hashName, key_params.keyBits, info.spinCount) != (
        "AES",
        "SHA512",
        256,
        SPIN_COUNT,
    ):
        raise SealingError("msoffcrypto no longer encrypts with AES-256, SHA-512, 100,000 spins")
    salt = key_params.saltValue = secrets.token_bytes(key_params.saltSize)
    hashed_password = _spin(password, salt)

    def block_key(block: bytes) -> bytes:  # MS-OFFCRYPTO 2.3.4.11, truncated to 256 bits
        return hashlib.sha512(hashed_password + block).digest()[:32]

    verifier = secrets.token_bytes(key_params.saltSize)
    info.encryptedVerifierHashInput = _aes_cbc(verifier, block_key(_BLOCK_VERIFIER_INPUT), salt)
    info.encryptedVerifierHashValue = _aes_cbc(
        hashlib.sha512(verifier).digest(), block_key(_BLOCK_VERIFIER_VALUE), salt
    )
    secret_key = secrets.token_bytes(32)
    info.encryptedKeyValue = _aes_cbc(secret_key, block_key(_BLOCK_KEY_VALUE), salt)
    info.keyData.saltValue = secrets.token_bytes(info.keyData.saltSize)
    plain.seek(0)
    try:
        payload = ECMA376Agile.encrypt_payload(
            plain, key_params, secret_key, info.keyData.saltValue
        )
        descriptor = ECMA376Agile.get_encryption_information(info, payload, secret_key)
        sealed = io.BytesIO()
        ECMA376Encrypted(payload, descriptor).write_to(sealed)
    except office_errors.EncryptionError as exc:
        raise SealingError(f"the workbook could not be encrypted: {exc}") from None
    return sealed.getvalue()


def seal_xlsx(
    columns: Sequence[Column],
    rows: Iterable[Sequence[object]],
    info: Sequence[tuple[str, InfoValue]],
    password: str,
    reference: str = "",
) -> SealedFile:
    """``build_xlsx``, then ``seal``: the workbook encrypted with ``password``."""
    _require_password(password)
    return seal(build_xlsx(columns, rows, info, reference), password)


def open_xlsx(data: bytes, password: str) -> bytes:
    """The plain workbook inside a sealed one; checks the password and the integrity HMAC."""
    _require_password(password)
    try:
        office_file = OOXMLFile(io.BytesIO(data))
        if not office_file.is_encrypted():
            raise SealingError("not an encrypted workbook")
        office_file.load_key(password=password, verify_password=True)
        plain = io.BytesIO()
        office_file.decrypt(plain, verify_integrity=True)
    except office_errors.InvalidKeyError:
        raise SealingError("wrong password, or the file was altered") from None
    except (
        office_errors.FileFormatError,
        office_errors.ParseError,
        office_errors.DecryptionError,
        ExpatError,
        struct.error,
        IndexError,
        ValueError,
        OSError,
    ):
        raise SealingError("not an encrypted workbook kbx can open") from None
    return plain.getvalue()


# -- CSV in 7z --------------------------------------------------------------------------------


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):  # datetime included: isoformat keeps its time and zone
        return value.isoformat()
    return value


def readme_bytes(text: str) -> bytes:
    """``text`` as Windows Notepad opens it everywhere: UTF-8 with a byte-order mark, CRLF."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return ("\ufeff" + "\r\n".join(lines)).encode("utf-8")


def build_csv(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    inner_name: str,
    readme: str | None = None,
) -> Plaintext:
    """``inner_name``: a UTF-8 CSV with a header row (RFC 4180 quoting and CRLF line ends), in
    memory, for a 7z archive; with ``readme``, a ``LEESMIJ.txt`` next to it in the archive
    (UTF-8 with BOM, CRLF). ``rows`` is consumed once, as a stream."""
    if not inner_name or inner_name in (".", "..") or any(c in inner_name for c in "/\\\x00"):
        raise SealingError("the name inside the archive must be a plain file name")
    if readme is not None and inner_name == README_NAME:
        raise SealingError(f"the CSV cannot be called {README_NAME}")
    if not headers:
        raise SealingError("a CSV file needs at least one column")
    # Encoded as it is written, so the plaintext exists once in memory, as bytes.
    plain = io.BytesIO()
    text = io.TextIOWrapper(plain, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(headers)
    count = 0
    for count, row in enumerate(rows, start=1):
        if len(row) != len(headers):
            plain.close()
            raise SealingError(f"row {count} has {len(row)} values for {len(headers)} columns")
        writer.writerow([_csv_value(v) for v in row])
    text.flush()
    text.detach()
    notice = readme_bytes(readme) if readme is not None else b""
    return Plaintext(plain, count, "csv", inner_name, notice)


def _encrypt_7z(plain: io.BytesIO, password: str, inner_name: str, readme: bytes = b"") -> bytes:
    plain.seek(0)
    sealed = io.BytesIO()
    with py7zr.SevenZipFile(
        sealed,
        "w",
        filters=[
            # The fastest preset: for 150,000 rows 0.3 s and 10 MB of encoder instead of
            # 2.4 s and 65 MB at py7zr's default 7, for an archive about a fifth larger.
            {"id": py7zr.FILTER_LZMA2, "preset": 1},
            {"id": py7zr.FILTER_CRYPTO_AES256_SHA256},
        ],
        password=password,
        header_encryption=True,
    ) as archive:
        archive.writef(plain, inner_name)
        if readme:
            archive.writef(io.BytesIO(readme), README_NAME)
    return sealed.getvalue()


def seal_csv_7z(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    password: str,
    inner_name: str,
    readme: str | None = None,
) -> SealedFile:
    """``build_csv``, then ``seal``: the CSV (and ``LEESMIJ.txt``) in a 7z archive with AES-256
    and encrypted headers."""
    _require_password(password)
    return seal(build_csv(headers, rows, inner_name, readme), password)


# -- sealing ----------------------------------------------------------------------------------


def seal(plain: Plaintext, password: str) -> SealedFile:
    """Encrypt a built file with ``password``, and drop the plaintext (also on failure).

    Building and sealing are separate steps so that a caller streaming rows from a database can
    end its read transaction before the key derivation (100,000 SHA-512 rounds for a workbook,
    2^19 SHA-256 rounds for a 7z archive), which costs more than building most files."""
    try:
        _require_password(password)
        if plain.kind == "xlsx":
            data = _encrypt_xlsx(plain.buffer, password)
            return SealedFile.of(data, plain.rows, XLSX_MEDIA_TYPE, ".xlsx")
        data = _encrypt_7z(plain.buffer, password, plain.inner_name, plain.readme)
        return SealedFile.of(data, plain.rows, SEVEN_ZIP_MEDIA_TYPE, ".7z")
    finally:
        plain.buffer.close()
