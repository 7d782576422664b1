"""write_rows writes the very XML XlsxWriter writes cell by cell (constant-memory
mode), for the awkward values too: escapes, control characters, whitespace,
rich-text look-alikes, blanks, formats, dates, negative zero."""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
import zlib
from pathlib import Path

import pytest
import xlsxwriter

from optimizer.outputs.xlsx_rows import write_rows

TEXT = ["S1", None, " lead space", "trail ", "a & b <c> \"q\"", "tab\there", "bell\x07",
        "_x0041_ literal", "<r>not rich</r>", "=SUM(A1)", "S1", "é ü 中", "line\nbreak", ""]
NUMBERS = [1.0, None, -0.0, 0.0, 2.5, 1e-20, 123456789012345.0, 1 / 3, -7.0, 3.0, None, 0.1,
           1e16, 42.0]
DATES = [dt.datetime(2026, 8, 1), None] * 7
FLAGS = [True, False, None, True] * 3 + [False, None]


def _sheet_xml(path, fast: bool) -> bytes:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("T")
    bold, pct = wb.add_format({"bold": True}), wb.add_format({"num_format": "0%"})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.set_column(1, 1, 12, wb.add_format({"italic": True}))  # a column format
    ws.set_column(2, 2, 30, None, {"hidden": True})
    for c, h in enumerate(["Text", "Column-formatted", "Hidden", "Blank", "Number", "Date",
                           "Flag"]):
        ws.write_string(0, c, h, bold)
    texts = [None if v == "" else v for v in TEXT]
    unused = wb.add_format({"underline": 1})  # only on blank cells: never numbered
    columns = [("string", texts, None), ("string", list(reversed(texts)), None),
               ("string", texts, bold), ("string", [None] * len(TEXT), unused),
               ("number", NUMBERS, pct), ("datetime", DATES, date), ("boolean", FLAGS, bold)]
    if fast:
        assert write_rows(ws, 1, columns)
    else:
        for r in range(len(TEXT)):
            for c, (kind, values, fmt) in enumerate(columns):
                v = values[r]
                if v is None:
                    continue
                {"string": ws.write_string, "number": ws.write_number,
                 "datetime": ws.write_datetime, "boolean": ws.write_boolean}[kind](r + 1, c, v,
                                                                                    fmt)
    ws.write_string(len(TEXT) + 3, 0, "after the table")
    wb.close()
    with zipfile.ZipFile(path) as z:  # every part but the creation time
        return b"".join(z.read(n) for n in sorted(z.namelist()) if n != "docProps/core.xml")


def test_fast_rows_are_byte_identical_to_cell_by_cell(tmp_path):
    slow = _sheet_xml(tmp_path / "slow.xlsx", fast=False)
    fast = _sheet_xml(tmp_path / "fast.xlsx", fast=True)
    assert b"_x0007_" in slow and b'xml:space="preserve"' in slow  # the awkward cases ran
    assert fast == slow


def test_rows_written_as_text_or_as_bytes_are_the_same(tmp_path, monkeypatch):
    """Rows go to the sheet's file as UTF-8 bytes where that file allows it;
    as text otherwise (another encoding, or lines ending in \\r\\n): the same XML."""
    from optimizer.outputs import xlsx_rows

    as_bytes = _sheet_xml(tmp_path / "bytes.xlsx", fast=True)
    calls = []
    monkeypatch.setattr(xlsx_rows, "_bytes_under", lambda fh: calls.append(fh))
    assert _sheet_xml(tmp_path / "text.xlsx", fast=True) == as_bytes
    assert calls  # the text path ran


def test_sheets_it_does_not_cover_are_left_to_the_caller(tmp_path):
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"))  # not constant-memory
    ws = wb.add_worksheet()
    assert not write_rows(ws, 1, [("string", ["a"], None)])
    wb2 = xlsxwriter.Workbook(str(tmp_path / "y.xlsx"), {"constant_memory": True})
    ws2 = wb2.add_worksheet()
    ws2.set_row(2, 30)  # a row format inside the rows
    assert not write_rows(ws2, 1, [("string", ["a", "b", "c"], None)])
    assert not write_rows(ws2, 5, [("formula", ["=1+1"], None)])
    assert not write_rows(ws2, 5, [("string", ["x" * 20000], None)])
    wb.close()
    wb2.close()


def _ragged_xml(path, fast: bool) -> bytes:
    """A taller default row, a row with every cell blank, a column shorter than
    the others and one never written: rows and sizes as XlsxWriter makes them."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("T")
    ws.set_default_row(24)
    ws.write_string(0, 0, "head")
    columns = [("string", ["a", None, None, "a", "=b"], None),
               ("number", [None, None, None, 2.0], None),
               ("string", [None] * 5, None),
               ("datetime", [dt.datetime(1900, 1, 1), None, None, dt.datetime(2027, 6, 30),
                             dt.datetime(2027, 6, 30, 12)], wb.add_format({"num_format": "d"}))]
    if fast:
        assert write_rows(ws, 3, columns)
    else:
        for r in range(5):
            for c, (kind, values, fmt) in enumerate(columns):
                v = values[r] if r < len(values) else None
                if v is not None:
                    {"string": ws.write_string, "number": ws.write_number,
                     "datetime": ws.write_datetime}[kind](r + 3, c, v, fmt)
    ws.write_string(20, 1, "after")
    wb.close()
    with zipfile.ZipFile(path) as z:
        return b"".join(z.read(n) for n in sorted(z.namelist()) if n != "docProps/core.xml")


def test_blank_rows_short_columns_and_row_height_match_cell_by_cell(tmp_path):
    slow = _ragged_xml(tmp_path / "slow.xlsx", fast=False)
    fast = _ragged_xml(tmp_path / "fast.xlsx", fast=True)
    assert b'<row r="5"' not in slow and b'ht="24"' in slow  # the cases ran
    assert fast == slow


def test_plain_texts_are_told_apart_in_any_order(tmp_path):
    """Texts made of the awkward pieces, side by side in every order: each
    cell is what XlsxWriter's own escapes make of it."""
    import random

    from optimizer.outputs.xlsx_rows import _string_cells, _string_tail

    pieces = ["a", " ", "\t", "\n", "|", "&", "<", ">", '"', "_x0041_", "_x00", "41_", "\x07",
              "é", "\u00a0", "<r>", "</r>", "_", "x", "\x01", "\x1c", "\u3000", "\u2028", "—",
              "\U0001f600", "="]
    rng = random.Random(5)
    wb = xlsxwriter.Workbook(str(tmp_path / "t.xlsx"), {"constant_memory": True})
    ws = wb.add_worksheet()
    for _ in range(600):
        texts = list({"".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
                      for _ in range(rng.randint(1, 12))})
        want = ["<c" + _string_tail(ws, ' s="1"', t) for t in texts]
        assert _string_cells(ws, ' s="1"', "<c", texts) == want, texts
        assert _string_cells(ws, ' s="1"', "<c", texts, encode=True) == \
            [w.encode("utf-8") for w in want], texts
    wb.close()


def test_whitespace_code_points_end_at_u3000():
    """_not_plain's table of whitespace stops at U+3000: nothing above is space."""
    import sys

    from optimizer.outputs.xlsx_rows import _SPACE

    assert not any(chr(i).isspace() for i in range(len(_SPACE) - 1, sys.maxunicode + 1))
    assert _SPACE[0x3000] and _SPACE[ord(" ")] and not _SPACE[ord("a")]


def test_texts_are_guarded_as_one_by_one():
    """guarded_text guards all the texts at once: as neutralize_formula does one
    by one, blank for an empty text."""
    import random

    from optimizer.district.textsafe import neutralize_formula
    from optimizer.outputs.xlsx_rows import guarded_text

    pieces = ["=", "+", "-", "@", "\t", "\r", "'", "a", " ", "é", "\U0001f600", "\ud800", "1"]
    rng = random.Random(7)
    for _ in range(300):
        texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))
                 for _ in range(rng.randint(0, 15))]
        want = [neutralize_formula(t) if t else None for t in texts]
        assert guarded_text(texts).take() == want, texts


def test_rows_kept_in_memory_or_spilled_give_the_same_bytes(tmp_path):
    from optimizer.outputs.xlsx_rows import spool_rows

    def book(path, spool: int | None) -> bytes:
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        temp_files = []
        for name in ("A", "B"):
            ws = wb.add_worksheet(name)
            temp_files.append(Path(ws.row_data_filename))
            if spool is not None:
                spool_rows(ws, spool)
                assert ws.row_data_fh.buffer._max_size == spool  # ours, not XlsxWriter's file
            ws.write_string(0, 0, "head é —")
            assert write_rows(ws, 1, [("string", [f"S{i} — line\nbreak" for i in range(300)],
                                       None), ("number", [float(i) for i in range(300)], None)])
            ws.write_string(400, 1, "after")
        wb.close()
        assert not any(f.exists() for f in temp_files)  # XlsxWriter's files removed
        with zipfile.ZipFile(path) as z:
            return b"".join(z.read(n) for n in sorted(z.namelist()) if n != "docProps/core.xml")

    plain = book(tmp_path / "plain.xlsx", None)
    assert book(tmp_path / "memory.xlsx", 1 << 20) == plain
    assert book(tmp_path / "spilled.xlsx", 1000) == plain  # rolled over to a file


def test_rows_zipped_from_memory_give_the_bytes_xlsxwriter_closes_with(tmp_path, monkeypatch):
    """close_workbook puts spooled rows (in memory or spilled to a file) straight
    into the zip: the same file, byte for byte, as XlsxWriter's own close (at
    the same zlib level), for a sheet with rows, one spooled without any, and
    one not spooled."""
    import functools

    import xlsxwriter.workbook

    from optimizer.outputs import xlsx_rows
    from optimizer.outputs.xlsx_rows import close_workbook, spool_rows

    deflated_in_threads = []
    real_deflated = xlsx_rows._deflated

    def deflated(*args):
        deflated_in_threads.append(args[0])
        return real_deflated(*args)

    monkeypatch.setattr(xlsx_rows, "_deflated", deflated)

    def book(path, spool: int, ours: bool, threads: int | None = 2) -> bytes:
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        wb.set_properties({"created": dt.datetime(2026, 1, 1)})
        temp_files = []
        for name in ("A", "Empty", "B", "Plain"):
            ws = wb.add_worksheet(name)
            if name != "Empty":  # (XlsxWriter leaves an empty sheet's file, either way)
                temp_files.append(Path(ws.row_data_filename))
            if name != "Plain":
                spool_rows(ws, spool)
            if name == "Empty":
                ws.set_column(0, 0, 20)
                continue
            ws.write_string(0, 0, f"{name} é —")
            assert write_rows(ws, 1, [("string", [f"S{i} — line\nbreak\r\n" for i in range(3000)],
                                       None), ("number", [float(i) for i in range(3000)], None)])
            ws.data_validation(1, 0, 5, 0, {"validate": "list", "source": ["x", "y"]})
        if ours:
            close_workbook(wb, 1, threads)
        else:
            with monkeypatch.context() as m:  # XlsxWriter's close, deflating at level 1
                m.setattr(xlsxwriter.workbook, "ZipFile",
                          functools.partial(zipfile.ZipFile, compresslevel=1))
                wb.close()
        assert not any(f.exists() for f in temp_files)  # XlsxWriter's files removed
        return Path(path).read_bytes()

    def members(data: bytes) -> list[tuple[str, bytes]]:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.testzip() is None  # every member's CRC-32 as its header says
            return [(i.filename, z.read(i)) for i in z.infolist()]

    made_by_isal = set()
    for spool in (1 << 22, 1000):  # rows in memory; rolled over to a file
        plain = book(tmp_path / "plain.xlsx", spool, ours=False)
        # With zlib (FAST_DEFLATE off), the very bytes XlsxWriter closes with;
        # with ISA-L, the same members holding the same XML, and the same
        # bytes whichever way the sheets were deflated.
        for fast_deflate in (False, True):
            monkeypatch.setattr(xlsx_rows, "FAST_DEFLATE", fast_deflate)
            # Deflated as zipped, or beforehand in threads; None: as many as
            # xlsx_rows.deflate_threads() says (2 on two cores or more).
            for threads in (0, 2, None):
                deflated_in_threads.clear()
                fast = book(tmp_path / "fast.xlsx", spool, ours=True, threads=threads)
                with zipfile.ZipFile(tmp_path / "fast.xlsx") as z:
                    assert z.read("xl/worksheets/sheet1.xml").count(b"line\nbreak_x000D_") == 3000
                    assert b"<sheetData/>" in z.read("xl/worksheets/sheet2.xml")
                if fast_deflate:
                    assert members(fast) == members(plain)
                    made_by_isal.add(fast)
                else:
                    assert fast == plain
                in_threads = xlsx_rows.deflate_threads() if threads is None else threads
                assert len(deflated_in_threads) == (2 if in_threads else 0)  # sheets A and B
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile  # put back after the close
    # One workbook for all six ways (ISA-L's output would depend on the pieces
    # it is given: the XML goes to it in fixed blocks), other than zlib's.
    assert len(made_by_isal) == 1
    if xlsx_rows.isal_zlib is not None:  # (without it: zlib's, the same bytes)
        assert made_by_isal != {plain}


def test_a_large_sheet_deflates_to_the_same_bytes_however_its_xml_is_cut():
    """The deflater of the spooled sheets gives one raw deflate stream of the
    XML, the same bytes whatever pieces the XML comes in (ISA-L's own output
    depends on them), several blocks long here."""
    from optimizer.outputs import xlsx_rows

    rng = random.Random(7)
    xml = b"".join(f'<row r="{i}"><c t="inlineStr"><is><t>S{rng.randrange(10 ** 6)}</t>'
                   f"</is></c></row>".encode() for i in range(120_000))
    assert len(xml) > 3 * xlsx_rows._BLOCK

    def deflated(cuts: list[int]) -> bytes:
        packer = xlsx_rows._deflater(1)
        out, at = [], 0
        for cut in [*cuts, len(xml)]:
            out.append(packer.compress(xml[at:cut]))
            at = cut
        return b"".join(out) + packer.flush()

    whole = deflated([])
    assert zlib.decompress(whole, -15) == xml
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(xml)), rng.randrange(1, 40)))
        assert deflated(cuts) == whole
    assert deflated(list(range(65536, len(xml), 65536))) == whole
    if xlsx_rows.isal_zlib is not None:  # (the dependency: ISA-L's stream, not zlib's)
        packer = zlib.compressobj(1, zlib.DEFLATED, -15)
        assert whole != packer.compress(xml) + packer.flush()


@pytest.mark.parametrize("level", [-1, 0, 1, 2, 6, 9])
def test_isal_deflates_at_level_1_only(level):
    # Level 1 (the workbook's): ISA-L's level 1 fed in blocks; any other
    # level, zlib's (ISA-L's most made bigger files than zlib's default).
    from optimizer.outputs import xlsx_rows

    data = b"".join(b'<row r="%d"><c><v>%d</v></c></row>' % (i, i * 7919 % 1000)
                    for i in range(200_000))
    assert len(data) > 2 * xlsx_rows._BLOCK
    packer = xlsx_rows._deflater(level)
    made = packer.compress(data) + packer.flush()
    if level == 1 and xlsx_rows.isal_zlib is not None:
        isal = xlsx_rows.isal_zlib.compressobj(1, zlib.DEFLATED, -15)
        blocks = [data[i:i + xlsx_rows._BLOCK] for i in range(0, len(data), xlsx_rows._BLOCK)]
        expected = b"".join(isal.compress(b) for b in blocks) + isal.flush()
    else:
        plain = zlib.compressobj(level, zlib.DEFLATED, -15)
        expected = plain.compress(data) + plain.flush()
    assert made == expected
    assert zlib.decompress(made, -15) == data


def test_the_sheets_are_deflated_in_two_threads_only_where_two_cores_may_run(monkeypatch):
    from optimizer.outputs import xlsx_rows

    monkeypatch.setattr(xlsx_rows, "DEFLATE_THREADS", None)
    for cores, threads in ((1, 0), (2, 2), (8, 2)):
        monkeypatch.setattr(xlsx_rows.os, "sched_getaffinity",
                            lambda _pid, n=cores: set(range(n)), raising=False)
        assert xlsx_rows.deflate_threads() == threads
    monkeypatch.setattr(xlsx_rows, "DEFLATE_THREADS", 0)  # (set: as set)
    assert xlsx_rows.deflate_threads() == 0
