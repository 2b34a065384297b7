"""The streaming XLSX writer: what openpyxl reads back, what XML it holds, what it refuses."""

from __future__ import annotations

import io
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from crypto.xlsx_stream import Column, InfoValue, XlsxValueError, column_letter, write_workbook

COLUMNS = [
    Column("Rijksregisternummer", "text"),
    Column("Geboortedatum", "date"),
    Column("Contract", "boolean"),
    Column("Aantal", "number"),
    Column("Opmerking", "text"),
]
INFO = [("Referentie", "AGII-2026-000042"), ("Opmerking", "a & b <c>")]
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _write(
    rows: list[tuple[object, ...]],
    columns: list[Column] = COLUMNS,
    info: Sequence[tuple[str, InfoValue]] = INFO,
    **options: Any,
) -> bytes:
    out = io.BytesIO()
    assert write_workbook(out, columns, iter(rows), info, **options) == len(rows)
    return out.getvalue()


def _values(data: bytes, sheet: str = "Gegevens") -> list[list[Any]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return [[c.value for c in row] for row in workbook[sheet].iter_rows()]


def test_openpyxl_reads_typed_values_back() -> None:
    data = _write(
        [
            ("01073003328", date(1991, 4, 1), True, 3, "x"),
            ("85073003328", None, False, 2.5, None),
            (None, date(1900, 3, 1), None, -7, "laatste"),
        ]
    )
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Gegevens", "Info"]
    sheet = workbook["Gegevens"]
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == [c.header for c in COLUMNS]
    assert all(c.font.b for c in rows[0])
    national, born, contract, amount, remark = rows[1]
    assert (national.value, national.data_type) == ("01073003328", "s")  # leading zero kept
    assert isinstance(born.value, datetime)  # a date, not a number or a string
    assert born.value.date() == date(1991, 4, 1)
    assert born.value.time() == time(0)
    assert born.is_date
    assert born.number_format == "dd/mm/yyyy"
    assert (contract.value, amount.value, remark.value) == ("ja", 3, "x")
    assert amount.data_type == "n"
    # An empty cell leaves the others in their own columns.
    assert [c.value for c in rows[2]] == ["85073003328", None, "nee", 2.5, None]
    assert [c.value for c in rows[3]][2:] == [None, -7, "laatste"]
    assert rows[3][0].value is None
    assert rows[3][1].value.date() == date(1900, 3, 1)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E4"
    assert _values(data, "Info") == [list(pair) for pair in INFO]
    assert workbook["Info"]["A1"].font.b


def test_dates_are_excel_serial_numbers_with_a_date_style() -> None:
    with zipfile.ZipFile(io.BytesIO(_write([("x", date(2024, 3, 1), None, None, None)]))) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert '<c r="B2" s="1"><v>45352</v></c>' in sheet  # 2024-03-01 in Excel's 1900 system


def test_text_is_escaped_and_never_a_formula() -> None:
    tricky = [
        'Vermeërsch, "Jos" & <Zonen> \'t Stad',
        "=1+1",
        "@SUM(A1)",
        "]]>",
        "  leading and trailing  ",
        "two\nlines",
        "cr\r\nlf",
        "😀 astral",
    ]
    data = _write([(t, None, None, None, None) for t in [*tricky, "_x0041_ stays literal"]])
    assert [row[0] for row in _values(data)[1:-1]] == tricky
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml")
    ET.fromstring(sheet)  # noqa: S314  (our own output)
    assert b"<f>" not in sheet
    assert b"&lt;Zonen&gt;" in sheet
    # Excel and LibreOffice read _xHHHH_ in a string as an escaped character ("A" here) and
    # _x005F_ as "_"; openpyxl only does that in shared strings, so it shows the escape as is.
    assert b"<t>_x005F_x0041_ stays literal</t>" in sheet


def test_characters_illegal_in_xml_are_dropped() -> None:
    dirty = "a\x00b\x01c\x08d\x0be\x0cf\x1fg\ud800h\ufffei\uffffj\tk\nl"
    data = _write([(dirty, None, None, None, None)], info=[("Label\x07", "waarde\x1b")])
    assert _values(data)[1][0] == "abcdefghij\tk\nl"
    assert _values(data, "Info") == [["Label", "waarde"]]


def test_every_part_is_well_formed_and_declared() -> None:
    data = _write([("x", date(2024, 1, 1), True, 1, "y")])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
        for name in names:
            ET.fromstring(zf.read(name))  # noqa: S314  (our own output)
        types = zf.read("[Content_Types].xml").decode()
        workbook = ET.fromstring(zf.read("xl/workbook.xml"))  # noqa: S314
    assert set(names) == {
        "[Content_Types].xml",
        "_rels/.rels",
        "docProps/core.xml",
        "docProps/app.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/workbook.xml",
        "xl/worksheets/sheet1.xml",
        "xl/worksheets/sheet2.xml",
    }
    for part in ("workbook", "worksheets/sheet1", "worksheets/sheet2", "styles"):
        assert f'PartName="/xl/{part}.xml"' in types
    defined = workbook.find(f"{MAIN}definedNames/{MAIN}definedName")
    assert defined is not None
    assert defined.get("name") == "_xlnm._FilterDatabase"
    assert defined.text == "'Gegevens'!$A$1:$E$2"


def test_the_same_rows_give_the_same_bytes() -> None:
    rows: list[tuple[object, ...]] = [("x", date(2024, 1, 1), True, 1, "y")]
    assert _write(rows) == _write(rows)


def test_an_empty_list_has_the_header_only() -> None:
    data = _write([])
    assert _values(data) == [[c.header for c in COLUMNS]]
    assert openpyxl.load_workbook(io.BytesIO(data))["Gegevens"].auto_filter.ref == "A1:E1"


def test_columns_are_sized_from_the_header_and_the_first_rows() -> None:
    columns = [Column("Nr", "text"), Column("Datum", "date")]
    data = _write([("x" * 30, None), ("y", date(2024, 1, 1))], columns=columns, info=[])
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Gegevens"]
    assert sheet.column_dimensions["A"].width == 32
    assert sheet.column_dimensions["B"].width == 12  # dd/mm/yyyy, and a margin
    long = _write([("z" * 500, None)], columns=columns, info=[])
    assert openpyxl.load_workbook(io.BytesIO(long))["Gegevens"].column_dimensions["A"].width == 60


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ((1, None, None, None, None), r"row 1, column 1 \(Rijksregisternummer\): expected text"),
        (("x", "2024-01-01", None, None, None), r"column 2 \(Geboortedatum\): expected a date"),
        (("x", datetime(2024, 1, 1, tzinfo=UTC), None, None, None), "expected a date"),
        (("x", date(1899, 12, 31), None, None, None), "before 1900"),
        (("x", None, "ja", None, None), r"column 3 \(Contract\): expected a boolean"),
        (("x", None, 1, None, None), "expected a boolean"),
        (("x", None, None, True, None), r"column 4 \(Aantal\): expected a number"),
        (("x", None, None, "12", None), "expected a number"),
        (("x", None, None, float("nan"), None), "finite"),
        (("x", None, None, 2**60, None), "too large"),
        (("x", None, None, None, "y" * 32_768), "32,767"),
        (("x", None), "row 1 has 2 values for 5 columns"),
    ],
)
def test_wrong_values_are_refused_without_showing_them(
    row: tuple[object, ...], problem: str
) -> None:
    with pytest.raises(XlsxValueError, match=problem) as caught:
        _write([row])
    for value in row:
        if isinstance(value, str) and value != "x":
            assert value[:20] not in str(caught.value)


def test_rows_beyond_the_limit_are_refused() -> None:
    with pytest.raises(XlsxValueError, match="more than 2 rows"):
        _write([("x", None, None, None, None)] * 3, max_rows=2)


@pytest.mark.parametrize(("data_sheet", "info_sheet"), [("", "Info"), ("a/b", "Info"), ("X", "X")])
def test_bad_sheet_names_are_refused(data_sheet: str, info_sheet: str) -> None:
    with pytest.raises(XlsxValueError):
        _write([], data_sheet=data_sheet, info_sheet=info_sheet)


def test_a_sheet_needs_a_column() -> None:
    with pytest.raises(XlsxValueError):
        write_workbook(io.BytesIO(), [], iter([]), [])


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]


def test_rows_are_streamed_not_collected() -> None:
    """The writer pulls rows as it writes them and keeps no list: the Python heap stays small
    next to the rows that went through (100,000 rows of 3 cells as Python tuples alone would
    take about 20 MB)."""
    pulled = 0

    def rows() -> Iterator[tuple[object, ...]]:
        nonlocal pulled
        for n in range(100_000):
            pulled += 1
            yield (f"{n:011d}", n % 2 == 0, n % 3 == 0)

    columns = [Column("Nr", "text"), Column("Contract", "boolean"), Column("Attest", "boolean")]
    out = io.BytesIO()
    tracemalloc.start()
    try:
        count = write_workbook(out, columns, rows(), [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == pulled == 100_000
    assert peak < 8 * 2**20, f"peak Python heap {peak / 2**20:.1f} MB"
    assert len(out.getvalue()) < 4 * 2**20  # deflated
    with zipfile.ZipFile(out) as zf:
        assert zf.getinfo("xl/worksheets/sheet1.xml").compress_type == zipfile.ZIP_DEFLATED


# -- print setup and the typed information sheet -------------------------------------------------

# CT_Worksheet (ECMA-376 part 1, 18.3.1.99): the order of the children kbx writes.
SCHEMA_ORDER = [
    "sheetPr",
    "dimension",
    "sheetViews",
    "sheetFormatPr",
    "cols",
    "sheetData",
    "autoFilter",
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
]


def _children(data: bytes, part: str) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        root = ET.fromstring(zf.read(part))  # noqa: S314  (our own output)
    return [child.tag.removeprefix(MAIN) for child in root]


@pytest.mark.parametrize(("width", "orientation"), [(4, "portrait"), (5, "landscape")])
def test_every_sheet_prints_one_page_wide_on_a4_with_the_header_on_every_page(
    width: int, orientation: str
) -> None:
    columns = [Column(f"Kolom {i}", "text") for i in range(width)]
    data = _write([tuple("x" * width)], columns=columns, reference="KBX-2026-000042")
    for part in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"):
        children = _children(data, part)
        assert children == [c for c in SCHEMA_ORDER if c in children], part
        assert children[0] == "sheetPr"
        assert children[-3:] == ["pageMargins", "pageSetup", "headerFooter"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
        workbook = zf.read("xl/workbook.xml").decode()
    assert '<pageSetUpPr fitToPage="1"/>' in sheet
    assert (
        f'<pageSetup paperSize="9" orientation="{orientation}" fitToWidth="1" fitToHeight="0"/>'
        in sheet
    )
    assert "<oddFooter>&amp;LKBX-2026-000042&amp;Rpagina &amp;P van &amp;N</oddFooter>" in sheet
    assert (
        '<definedName name="_xlnm.Print_Titles" localSheetId="0">'
        "'Gegevens'!$1:$1</definedName>" in workbook
    )

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book["Gegevens"].print_title_rows == "$1:$1"
    assert book["Gegevens"].page_setup.orientation == orientation
    assert book["Info"].page_setup.orientation == "portrait"  # two columns
    for ws in book:
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
        assert ws.page_setup.paperSize == 9  # A4
        assert ws.oddFooter.left.text == "KBX-2026-000042"
        assert ws.oddFooter.right.text == "pagina &P van &N"


def test_an_ampersand_in_the_footer_is_text_not_a_code() -> None:
    data = _write([], reference="A&B")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheet = zf.read("xl/worksheets/sheet2.xml").decode()
    assert "<oddFooter>&amp;LA&amp;&amp;B&amp;Rpagina" in sheet


def test_information_values_are_typed_cells() -> None:
    info: list[tuple[str, Any]] = [
        ("Aantal personen", 1234),
        ("Aangemaakt op", datetime(2026, 11, 23, 9, 15, 42)),  # noqa: DTZ001  (Brussels, naive)
        ("Ondertekend op", date(2024, 4, 10)),
        ("Protocol", "tekst & meer"),
    ]
    data = _write([], info=info)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Info"]
    cells = {r[0].value: r[1] for r in sheet.iter_rows()}
    assert (cells["Aantal personen"].value, cells["Aantal personen"].data_type) == (1234, "n")
    made = cells["Aangemaakt op"]
    assert made.value == datetime(2026, 11, 23, 9, 15, 42)  # noqa: DTZ001  (a cell has no zone)
    assert made.number_format == "dd/mm/yyyy hh:mm"
    signed = cells["Ondertekend op"]
    assert signed.value == datetime(2024, 4, 10)  # noqa: DTZ001
    assert signed.number_format == "dd/mm/yyyy"
    assert cells["Protocol"].value == "tekst & meer"
    assert cells["Protocol"].alignment.wrap_text is True


def test_an_information_date_time_with_a_zone_is_refused() -> None:
    with pytest.raises(XlsxValueError, match=r"information row 1 \(Aangemaakt op\): .*time zone"):
        _write([], info=[("Aangemaakt op", datetime(2026, 11, 23, 9, 15, tzinfo=UTC))])
