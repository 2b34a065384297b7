"""Opening what comes back: a 7z archive (AES-256) that must hold exactly one file, in memory.

A return file is input from outside kbx: its size is capped before and while it is unpacked, so a
small archive cannot expand into all of the machine's memory.
"""

from __future__ import annotations

import io
from collections.abc import Collection

import py7zr
from py7zr.io import BytesIOFactory

__all__ = ["ArchiveError", "open_single_7z"]

MAX_UNPACKED_BYTES = 512 * 1024 * 1024


class ArchiveError(ValueError):
    """The archive cannot be opened as one file; the message says why (never its content)."""


def open_single_7z(
    data: bytes, password: str, limit: int = MAX_UNPACKED_BYTES, ignore: Collection[str] = ()
) -> tuple[str, bytes]:
    """(member name, bytes) of the one file in the archive, not counting files named in
    ``ignore`` (e.g. the ``LEESMIJ.txt`` kbx put next to the CSV it sent), which are not read."""
    try:
        with py7zr.SevenZipFile(io.BytesIO(data), "r", password=password) as archive:
            members = [m for m in archive.list() if not m.is_directory and m.filename not in ignore]
            if len(members) != 1:
                raise ArchiveError(f"the archive holds {len(members)} files, expected exactly one")
            if members[0].uncompressed > limit:
                raise ArchiveError(f"the archive's file is larger than {limit} bytes")
            factory = BytesIOFactory(limit)
            archive.extract(targets=[members[0].filename], factory=factory)
    except ArchiveError:
        raise
    except py7zr.PasswordRequired as exc:
        raise ArchiveError("the archive needs a password") from exc
    except (py7zr.Bad7zFile, py7zr.UnsupportedCompressionMethodError, EOFError) as exc:
        raise ArchiveError("not a readable 7z archive") from exc
    except Exception as exc:  # py7zr signals a wrong password as assorted decoding errors
        raise ArchiveError("the archive cannot be opened with this run's password") from exc
    name = members[0].filename
    member = factory.products[name]
    member.seek(0)
    return name, member.read()
