"""A small streaming XLSX writer: rows go from an iterator into a deflated ZIP in memory.

Why not a library: XlsxWriter keeps every cell in memory unless ``constant_memory`` is on, and
that mode spills rows to temporary files (and ``in_memory`` switches it off again); openpyxl's
write-only mode also writes each sheet to a temporary file first, at about 100 us a row;
PyExcelerate takes the whole sheet as a list of rows; xlsx_streaming (GPLv3) streams from a
template through the unmaintained ``zipstream``. kbx needs neither disk nor a list of rows, and
a sheet of typed cells is a small, well-specified piece of SpreadsheetML (ECMA-376 part 1, 18.3).

What is written: sheet 1 with one bold header row (frozen, with an autofilter) and one row per
record; sheet 2 with (label, value) pairs. Cells are typed: text as inline strings (no shared
string table, so nothing is held back until the end), dates as serial numbers with a
``dd/mm/yyyy`` style (date-times ``dd/mm/yyyy hh:mm``), numbers as numbers, and yes/no as the
Dutch words a clerk filters on.

Both sheets print on A4, one page wide (as many pages long as needed), landscape when the sheet
has more than four columns; the data sheet repeats its header row on every printed page (the
defined name ``_xlnm.Print_Titles``), and every page's footer names the file's reference and
"pagina X van Y" (ECMA-376 part 1, 18.3.1.63 pageSetup, 18.3.1.46 headerFooter, 18.2.6).
Text is XML-escaped; characters XML 1.0 forbids (most control characters, lone surrogates,
U+FFFE/U+FFFF) are dropped, and a literal ``_xHHHH_`` is protected from Excel's unescaping.

The sheet's XML goes through ``ZipFile.open(name, "w")`` in batches of rows, so memory holds
the compressed package, one batch, and the first rows used to size the columns. Errors name a
row, a column and what was expected, never the value.
"""

from __future__ import annotations

import itertools
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Literal

__all__ = [
    "MAX_ROWS",
    "MAX_TEXT",
    "NO",
    "YES",
    "Column",
    "InfoValue",
    "XlsxValueError",
    "write_workbook",
]

MAX_ROWS = 1_048_575  # Excel's 1,048,576 rows, less the header row
MAX_TEXT = 32_767  # characters in one cell
# Booleans are written as the Dutch words a clerk reads, not as Excel TRUE/FALSE: Excel shows
# those as WAAR/ONWAAR or TRUE/FALSE depending on the clerk's language settings, and a filter on
# "ja"/"nee" reads naturally in the Dutch headers of the sheet.
YES, NO = "ja", "nee"
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
LANDSCAPE_ABOVE = 4  # columns: a wider sheet prints landscape
PAPER_A4 = 9  # ECMA-376 part 1, 18.3.1.63: paperSize 9 is A4 (210 mm x 297 mm)
SAMPLE_ROWS = 1_000  # rows read ahead to size the columns (the <cols> element precedes the data)
_BATCH = 512  # rows rendered into one string before it goes to the compressor
_MAX_WIDTH = 60
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()  # serial 1 = 1900-01-01 (after the 1900 leap bug)

Kind = Literal["text", "date", "boolean", "number"]
# A value of the information sheet: text, a number, a date, or a local date-time (naive: the
# caller converts to the reader's time zone, a cell has none).
InfoValue = str | int | float | date | datetime


class XlsxValueError(ValueError):
    """A value the sheet cannot hold; the message names its place, never the value."""


@dataclass(frozen=True, slots=True)
class Column:
    header: str  # Dutch label, as the clerk sees it
    kind: Kind


# -- text -------------------------------------------------------------------------------------

# XML 1.0, production [2] Char: tab, LF, CR, and the ranges below; everything else is dropped.
_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Excel reads _xHHHH_ inside a string as an escaped character; _x005F_ is its escaped "_".
_EXCEL_ESCAPE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_XML_SPECIAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_SPACE = " \t\n\r"


def clean_text(value: str) -> str:
    """``value`` as it will read in the sheet: without the characters XML 1.0 forbids."""
    if _ILLEGAL.search(value) is not None:
        return _ILLEGAL.sub("", value)
    return value


def _t(value: str) -> str:
    """The ``<t>`` element of an inline string (``value`` already cleaned)."""
    if "_x" in value:
        value = _EXCEL_ESCAPE.sub(r"_x005F_\1", value)
    if "&" in value or "<" in value or ">" in value or "\r" in value:
        value = value.translate(_XML_SPECIAL)
    if value and (value[0] in _SPACE or value[-1] in _SPACE):
        return f'<t xml:space="preserve">{value}</t>'
    return f"<t>{value}</t>"


def _attr(value: str) -> str:
    return clean_text(value).translate(_XML_SPECIAL).replace('"', "&quot;")


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# -- cells ------------------------------------------------------------------------------------

_STYLE_DATE, _STYLE_BOLD, _STYLE_DATETIME, _STYLE_WRAP, _STYLE_LABEL = 1, 2, 3, 4, 5
_STYLE_TOP_DATE, _STYLE_TOP_NUMBER = 6, 7  # dates and numbers of the information sheet


class _Refused(Exception):
    """Raised by a cell renderer; the message says what was expected, never the value."""


_Render = Callable[[object, str], str]  # (value, cell reference) -> <c> element


def _render_text(value: object, ref: str) -> str:
    if not isinstance(value, str):
        raise _Refused("expected text")
    text = clean_text(value)
    if len(text) > MAX_TEXT:
        raise _Refused("longer than Excel's 32,767 characters")
    return f'<c r="{ref}" t="inlineStr"><is>{_t(text)}</is></c>'


def _render_date(value: object, ref: str, style: int = _STYLE_DATE) -> str:
    # A datetime is a date too, but would carry a time of day into a date column.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _Refused("expected a date")
    if value.year < 1900:
        raise _Refused("a date before 1900")
    serial = value.toordinal() - _EXCEL_EPOCH
    return f'<c r="{ref}" s="{style}"><v>{serial}</v></c>'


def _render_datetime(value: object, ref: str, style: int = _STYLE_DATETIME) -> str:
    if not isinstance(value, datetime):
        raise _Refused("expected a date-time")
    if value.tzinfo is not None:
        raise _Refused("expected a local date-time without a time zone")
    if value.year < 1900:
        raise _Refused("a date before 1900")
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    serial = value.toordinal() - _EXCEL_EPOCH + seconds / 86400
    return f'<c r="{ref}" s="{style}"><v>{serial!r}</v></c>'


_YES_CELL = f'" t="inlineStr"><is><t>{YES}</t></is></c>'
_NO_CELL = f'" t="inlineStr"><is><t>{NO}</t></is></c>'


def _render_boolean(value: object, ref: str) -> str:
    if value is True:
        return f'<c r="{ref}{_YES_CELL}'
    if value is False:
        return f'<c r="{ref}{_NO_CELL}'
    raise _Refused("expected a boolean")


def _render_number(value: object, ref: str, style: int = 0) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused("expected a number")
    styled = f' s="{style}"' if style else ""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Refused("expected a finite number")
        return f'<c r="{ref}"{styled}><v>{value!r}</v></c>'
    if abs(value) >= 2**53:  # a cell holds a double: larger integers would not stay exact
        raise _Refused("a number too large for Excel")
    return f'<c r="{ref}"{styled}><v>{value}</v></c>'


_RENDER: dict[str, _Render] = {
    "text": _render_text,
    "date": _render_date,
    "boolean": _render_boolean,
    "number": _render_number,
}
_KIND_WIDTH = {"date": 10, "boolean": 3, "number": 8}


def _width(kind: str, value: object) -> int:
    if value is None:
        return 0
    if kind == "text":
        return len(value) if isinstance(value, str) else 0
    if kind == "number":
        return len(str(value))
    return _KIND_WIDTH[kind]


# -- package parts ----------------------------------------------------------------------------

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"

_CONTENT_TYPES = (
    _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" '
    f'ContentType="{_CT}.spreadsheetml.worksheet+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet2.xml" '
    f'ContentType="{_CT}.spreadsheetml.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" '
    'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    f'<Override PartName="/docProps/app.xml" ContentType="{_CT}.extended-properties+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    _XML + f'<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_DOC_REL}/officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
    'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_DOC_REL}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    _XML + f'<Relationships xmlns="{_PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{_DOC_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC_REL}/worksheet" Target="worksheets/sheet2.xml"/>'
    f'<Relationship Id="rId3" Type="{_DOC_REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_CORE = (
    _XML + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
    'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/'
    'XMLSchema-instance"><dc:creator>kbx</dc:creator></cp:coreProperties>'
)
_APP = (
    _XML + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
    'extended-properties"><Application>kbx</Application></Properties>'
)
# Style 0: default; 1: date; 2: bold (headers); 3: date-time; 4: wrapped text at the top (values
# of the information sheet); 5: bold at the top (its labels); 6: date and 7: number, at the top
# and left (its dates and numbers).
_STYLES = (
    _XML + f'<styleSheet xmlns="{_MAIN_NS}">'
    f'<numFmts count="2"><numFmt numFmtId="164" formatCode="{DATE_FORMAT}"/>'
    f'<numFmt numFmtId="165" formatCode="{DATETIME_FORMAT}"/></numFmts>'
    '<fonts count="2">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="8">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" '
    'applyAlignment="1"><alignment horizontal="left" vertical="top"/></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyAlignment="1"><alignment vertical="top"/></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" '
    'applyAlignment="1"><alignment horizontal="left" vertical="top"/></xf>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    '<alignment horizontal="left" vertical="top"/></xf>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0"/>'
    "</styleSheet>"
)


def _sheet_name(name: str) -> str:
    if not name or len(name) > 31 or any(c in name for c in "[]:*?/\\'"):
        raise XlsxValueError("a sheet name has 1 to 31 characters and none of []:*?/\\'")
    return name


def _workbook_xml(data_sheet: str, info_sheet: str, filter_ref: str) -> str:
    name = f"'{_attr(data_sheet)}'"
    return (
        _XML + f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
        '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
        f'<sheet name="{_attr(data_sheet)}" sheetId="1" r:id="rId1"/>'
        f'<sheet name="{_attr(info_sheet)}" sheetId="2" r:id="rId2"/>'
        "</sheets><definedNames>"
        '<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{name}!{filter_ref}</definedName>"
        # The header row, repeated at the top of every printed page.
        f'<definedName name="_xlnm.Print_Titles" localSheetId="0">{name}!$1:$1</definedName>'
        "</definedNames></workbook>"
    )


# Element order inside <worksheet> is fixed by the schema (ECMA-376 part 1, 18.3.1.99):
# sheetPr first; pageMargins, pageSetup, headerFooter after sheetData and autoFilter.
_FIT_TO_PAGE = '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'


def _footer_text(reference: str) -> str:
    """Left: the file's reference; right: "pagina X van Y" (&P, &N: page, pages)."""
    left = clean_text(reference).replace("&", "&&")  # "&" starts a code in a footer
    return (f"&L{left}" if left else "") + "&Rpagina &P van &N"


def _print_setup(columns: int, reference: str) -> str:
    """A4, one page wide and as many long as needed, landscape above four columns."""
    orientation = "landscape" if columns > LANDSCAPE_ABOVE else "portrait"
    return (
        '<pageMargins left="0.5" right="0.5" top="0.6" bottom="0.7" header="0.3" footer="0.3"/>'
        f'<pageSetup paperSize="{PAPER_A4}" orientation="{orientation}" fitToWidth="1" '
        'fitToHeight="0"/>'
        f"<headerFooter><oddFooter>{_attr(_footer_text(reference))}</oddFooter></headerFooter>"
    )


def _cols(widths: Sequence[int]) -> str:
    return (
        "<cols>"
        + "".join(
            f'<col min="{i}" max="{i}" width="{min(w + 2, _MAX_WIDTH)}" customWidth="1"/>'
            for i, w in enumerate(widths, start=1)
        )
        + "</cols>"
    )


def _header_row(headers: Sequence[str]) -> str:
    cells = "".join(
        f'<c r="{column_letter(i)}1" s="{_STYLE_BOLD}" t="inlineStr"><is>{_t(clean_text(h))}'
        "</is></c>"
        for i, h in enumerate(headers)
    )
    return f'<row r="1">{cells}</row>'


def _info_value(value: InfoValue, ref: str) -> str:
    if isinstance(value, bool):
        word = YES if value else NO
        return f'<c r="{ref}" s="{_STYLE_WRAP}" t="inlineStr"><is><t>{word}</t></is></c>'
    if isinstance(value, str):
        text = clean_text(value)
        if len(text) > MAX_TEXT:
            raise _Refused("longer than Excel's 32,767 characters")
        return f'<c r="{ref}" s="{_STYLE_WRAP}" t="inlineStr"><is>{_t(text)}</is></c>'
    if isinstance(value, datetime):
        return _render_datetime(value, ref)
    if isinstance(value, date):
        return _render_date(value, ref, _STYLE_TOP_DATE)
    return _render_number(value, ref, _STYLE_TOP_NUMBER)


def _info_text_width(value: InfoValue) -> int:
    if isinstance(value, str):
        return max((len(line) for line in value.splitlines()), default=0)
    return 16  # a number, a date or a date-time


def _info_xml(info: Sequence[tuple[str, InfoValue]], reference: str) -> str:
    label_width = min(max((len(k) for k, _ in info), default=10) + 2, 40)
    # Long values wrap inside their cell rather than running off the printed page: with the
    # label column, about the width of a portrait A4 page at 100 %.
    value_width = min(max((_info_text_width(v) for _, v in info), default=10) + 2, 72)
    rows: list[str] = []
    for n, (label, value) in enumerate(info, start=1):
        try:
            cell = _info_value(value, f"B{n}")
        except _Refused as exc:
            raise XlsxValueError(f"information row {n} ({clean_text(label)}): {exc}") from None
        rows.append(
            f'<row r="{n}"><c r="A{n}" s="{_STYLE_LABEL}" t="inlineStr">'
            f"<is>{_t(clean_text(label))}</is></c>{cell}</row>"
        )
    return (
        _XML + f'<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">{_FIT_TO_PAGE}'
        '<sheetViews><sheetView workbookViewId="0"/></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f'<cols><col min="1" max="1" width="{label_width}" customWidth="1"/>'
        f'<col min="2" max="2" width="{value_width}" customWidth="1"/></cols>'
        f"<sheetData>{''.join(rows)}</sheetData>{_print_setup(2, reference)}</worksheet>"
    )


# -- the workbook -----------------------------------------------------------------------------


def _member(zf: zipfile.ZipFile, name: str, text: str) -> None:
    # A fixed timestamp: the same rows give the same package, byte for byte.
    zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text.encode("utf-8"))


def write_workbook(
    out: IO[bytes],
    columns: Sequence[Column],
    rows: Iterable[Sequence[object]],
    info: Sequence[tuple[str, InfoValue]],
    *,
    data_sheet: str = "Gegevens",
    info_sheet: str = "Info",
    max_rows: int = MAX_ROWS,
    reference: str = "",
) -> int:
    """Write the workbook to ``out`` (a seekable binary stream); returns the data rows written.

    ``rows`` is consumed once, as a stream; each row has one value per column, ``None`` for an
    empty cell. ``info`` holds the (label, value) rows of the second sheet: text, a number, a
    date or a naive local date-time, each written as a typed cell. ``reference`` names the file
    in the footer of every printed page. Raises XlsxValueError for a row that does not fit;
    ``out`` then holds a partial package and must be discarded."""
    if not columns:
        raise XlsxValueError("a sheet needs at least one column")
    data_sheet, info_sheet = _sheet_name(data_sheet), _sheet_name(info_sheet)
    if data_sheet == info_sheet:
        raise XlsxValueError("the two sheets need different names")
    width = len(columns)
    letters = [column_letter(i) for i in range(width)]
    renders = [_RENDER[c.kind] for c in columns]
    kinds = [c.kind for c in columns]
    last = letters[-1]

    stream = iter(rows)
    sample = list(itertools.islice(stream, SAMPLE_ROWS))
    widths = [len(c.header) for c in columns]
    for row in sample:
        if len(row) == width:
            for i, value in enumerate(row):
                w = _width(kinds[i], value)
                if w > widths[i]:
                    widths[i] = w

    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        _member(zf, "[Content_Types].xml", _CONTENT_TYPES)
        _member(zf, "_rels/.rels", _ROOT_RELS)
        _member(zf, "docProps/core.xml", _CORE)
        _member(zf, "docProps/app.xml", _APP)
        _member(zf, "xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        _member(zf, "xl/styles.xml", _STYLES)
        sheet_entry = zipfile.ZipInfo("xl/worksheets/sheet1.xml", date_time=(1980, 1, 1, 0, 0, 0))
        sheet_entry.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(sheet_entry, "w") as sheet:
            sheet.write(
                (
                    _XML + f'<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">{_FIT_TO_PAGE}'
                    '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
                    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
                    "</sheetView></sheetViews>"
                    '<sheetFormatPr defaultRowHeight="15"/>'
                    f"{_cols(widths)}<sheetData>{_header_row([c.header for c in columns])}"
                ).encode("utf-8")
            )
            batch: list[str] = []
            for count, row in enumerate(itertools.chain(sample, stream), start=1):
                if count > max_rows:
                    raise XlsxValueError(f"more than {max_rows} rows do not fit in one sheet")
                if len(row) != width:
                    raise XlsxValueError(f"row {count} has {len(row)} values for {width} columns")
                number = str(count + 1)
                batch.append(f'<row r="{number}">')
                for i, value in enumerate(row):
                    if value is None:
                        continue
                    try:
                        batch.append(renders[i](value, letters[i] + number))
                    except _Refused as exc:
                        raise XlsxValueError(
                            f"row {count}, column {i + 1} ({columns[i].header}): {exc}"
                        ) from None
                batch.append("</row>")
                if count % _BATCH == 0:
                    sheet.write("".join(batch).encode("utf-8"))
                    batch.clear()
            filter_ref = f"$A$1:${last}${count + 1}"
            batch.append(
                f'</sheetData><autoFilter ref="A1:{last}{count + 1}"/>'
                f"{_print_setup(width, reference)}</worksheet>"
            )
            sheet.write("".join(batch).encode("utf-8"))
        _member(zf, "xl/worksheets/sheet2.xml", _info_xml(info, reference))
        _member(zf, "xl/workbook.xml", _workbook_xml(data_sheet, info_sheet, filter_ref))
    return count
