"""Return archives: opened in memory with the right password, refused otherwise."""

from __future__ import annotations

import io

import py7zr
import pytest

from crypto.archives import ArchiveError, open_single_7z

PASSWORD = "k7wq3-hx9ta-m4rcz-2npve-y8bdf"


def archive(files: dict[str, bytes], password: str | None = PASSWORD) -> bytes:
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w", password=password, header_encryption=bool(password)) as z:
        for name, data in files.items():
            z.writestr(data, name)
    return out.getvalue()


def test_one_file_opens_with_the_password() -> None:
    data = archive({"KBX-2026-000001-return.csv": b"national_number\n"})
    assert open_single_7z(data, PASSWORD) == ("KBX-2026-000001-return.csv", b"national_number\n")


@pytest.mark.parametrize(
    ("data", "password", "why"),
    [
        (archive({"a.csv": b"x"}), "wrong-password", "password"),
        (archive({"a.csv": b"x", "b.csv": b"y"}), PASSWORD, "2 files"),
        (b"not an archive at all", PASSWORD, "not a readable 7z"),
        (archive({"a.csv": b"x" * 5000}), PASSWORD, "larger than 1000"),
    ],
)
def test_refusals_say_why(data: bytes, password: str, why: str) -> None:
    with pytest.raises(ArchiveError, match=why):
        open_single_7z(data, password, limit=1000)


def test_the_leesmij_kbx_sent_may_come_back_and_is_not_read() -> None:
    data = archive({"LEESMIJ.txt": b"\xef\xbb\xbfReferentie\r\n", "return.csv": b"x\n"})
    with pytest.raises(ArchiveError, match="2 files"):
        open_single_7z(data, PASSWORD)
    assert open_single_7z(data, PASSWORD, ignore=("LEESMIJ.txt",)) == ("return.csv", b"x\n")
    only_notice = archive({"LEESMIJ.txt": b"x"})
    with pytest.raises(ArchiveError, match="0 files"):
        open_single_7z(only_notice, PASSWORD, ignore=("LEESMIJ.txt",))
