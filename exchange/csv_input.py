"""CSV files as people make them (Excel, LibreOffice, Notepad): what both the KBI extract and
VDAB's return file tolerate, and how they are told apart from what must be refused. Pure: the
callers hand in the lines they read.

- **Decoding line by line**: a byte that is not UTF-8 is reported at the physical line that holds
  it (a decoder fed the whole file stops on its first block, which csv reports as line 1).
- **Blank rows**: Excel leaves ``,,,,,,`` behind deleted rows, and editors add empty lines at the
  end; a row whose cells are all empty (or only spaces) holds nothing and is skipped and counted.
- **Semicolons**: Belgian Excel's "CSV" is ``;``-separated; such a header is recognised so that a
  file gets one line that says so, not a list of header errors.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence

__all__ = ["decoded_lines", "is_blank_row", "uses_semicolons"]

_NAME_CHARS = re.compile(r"[\s\"'\ufeff]")


def decoded_lines(raw: Iterable[bytes]) -> Iterator[str]:
    """Each physical line (split on ``\\n``, line end kept) decoded as UTF-8; a byte-order mark
    at the very start is dropped. A bad byte raises ``UnicodeDecodeError`` when its line is
    reached, so a ``csv.reader`` over these lines stands at the line before it."""
    first = True
    for line in raw:
        if first:
            line = line.removeprefix(b"\xef\xbb\xbf")
            first = False
        yield line.decode("utf-8")


def is_blank_row(cells: Sequence[str]) -> bool:
    """An empty line (``[]``) or a row of bare separators or spaces (``,,,,``)."""
    return all(not cell.strip() for cell in cells)


def uses_semicolons(header: Sequence[str], known_columns: Collection[str]) -> bool:
    """Whether a header read with ``,`` is really a ``;``-separated one: a cell holds ``;`` and
    splitting the header on ``;`` names at least two of the known columns."""
    if not any(";" in cell for cell in header):
        return False
    names = [_NAME_CHARS.sub("", part) for part in ",".join(header).split(";")]
    return sum(name in known_columns for name in names) >= 2
