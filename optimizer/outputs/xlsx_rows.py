"""Data rows of a constant-memory XlsxWriter sheet, written without the per-cell calls.

XlsxWriter spends ~20 Python calls per cell (bounds and dimension checks, a
cell tuple, XML escapes, the cell reference) and a 100,000-student plan
workbook has ~3 million cells: that was most of the time of ``caseload plan``
at scale. Most cells of a column repeat a few values (schools, roles,
reasons), so each distinct value's XML is made once, by XlsxWriter's own
escape functions, and a cell costs one string join. The bytes written are the
ones XlsxWriter writes in ``constant_memory`` mode (a test compares the two
on the sample plan); where a sheet is outside what this covers (no
constant-memory mode, row formats or comments in the rows, over-long text,
formulas), :func:`write_rows` returns False and the caller writes cell by cell.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import io
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import compress, repeat
from typing import Any, BinaryIO, Literal

import numpy as np
import pandas as pd
import xlsxwriter.workbook
from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name

from optimizer.district.textsafe import (
    FIRST_CHARACTER,
    LAST_CHARACTER,
    end_codes,
    neutralize_formula,
    neutralize_texts,
)

try:
    # ISA-L's deflate (python-isal): the large sheets' XML, about 370 MB at
    # 100,000 students with services, deflated 3.4-4.3x faster than by zlib
    # at level 1 and no larger (see _Deflater).
    import isal.isal_zlib as _isal_zlib
    isal_zlib: Any = _isal_zlib
except ImportError:  # (a platform without its wheel: zlib, the same XML)
    isal_zlib = None

__all__ = ["Column", "Distinct", "SheetPart", "close_workbook", "deflate_threads",
           "discard_row_files", "distinct", "guarded_text", "may_be_part", "sheet_part",
           "spool_rows", "write_rows"]


@dataclass(frozen=True)
class Distinct:
    """A column as its distinct values and, per row, a code into them: row
    ``i`` holds ``values[codes[i]]``; code -1, or a value None, is a blank.

    A 100,000-row column holds a few thousand distinct values at most but
    student ids: converting and writing each once is what makes a large
    sheet fast.
    """

    codes: np.ndarray
    values: list[Any]

    def __len__(self) -> int:
        return len(self.codes)

    def take(self) -> list[Any]:
        """Row by row (None where blank)."""
        made = np.empty(len(self.values) + 1, dtype=object)  # the last, None: code -1
        made[:-1] = self.values
        return made.take(self.codes).tolist()


def distinct(values: Sequence[Any] | np.ndarray | pd.Series | pd.Index,
             how: Callable[[Any], Any] | None = None) -> Distinct:
    """Code a column by its distinct values (NA: blank), each converted by ``how``.

    Values equal by ``==`` are one (so 0.0 and -0.0: numbers for the sheet
    go to :func:`write_rows` as they are).

    Examples
    --------
    >>> distinct(["b", None, "a", "b"], str.upper).values
    ['B', 'A']
    >>> distinct(["b", None, "a", "b"]).take()
    ['b', None, 'a', 'b']
    """
    if not isinstance(values, (pd.Series, pd.Index, np.ndarray)) or values.dtype == object:
        values = np.asarray(values, dtype=object)
    elif isinstance(values, (pd.Series, pd.Index)) and isinstance(values.dtype, pd.StringDtype):
        # pandas' text arrays check every value for NA before coding them: as
        # objects (the same NA) a 100,000-row column is coded in about 60% of the time.
        values = values.to_numpy(dtype=object)
    # Typed arrays (text, dates) are coded as they are, without an object per row.
    codes, uniques = pd.factorize(values)
    found = uniques.tolist()
    return Distinct(np.asarray(codes, dtype=np.intp),
                    found if how is None else [how(v) for v in found])


def _guard(text: str) -> str | None:
    return neutralize_formula(text) if text else None


_FIRST, _LAST = FIRST_CHARACTER, LAST_CHARACTER


def _guard_all(texts: list[Any]) -> list[str | None]:
    """:func:`_guard` of each text (:func:`neutralize_texts`; blank: None)."""
    if not texts or not set(map(type, texts)) <= {str}:
        return [_guard(t) for t in texts]
    out: list[str | None] = list(neutralize_texts(texts))
    if not all(texts):
        out = [t or None for t in out]
    return out


def guarded_text(values: Sequence[Any] | np.ndarray | pd.Series | Distinct) -> Distinct:
    """Text cells for :func:`write_rows`: blank where ``""`` or NA, the rest
    guarded by :func:`~optimizer.district.textsafe.neutralize_formula`.

    Examples
    --------
    >>> guarded_text(["=1+1", "", "Ana", "Ana"]).take()
    ["'=1+1", None, 'Ana', 'Ana']
    """
    if not isinstance(values, Distinct):
        values = distinct(values)
    return Distinct(values.codes, _guard_all(values.values))


#: The kinds of cell :func:`write_rows` writes.
_KINDS = ("string", "number", "datetime", "boolean")

#: (kind, values with None for a blank cell, cell format or None); kind is
#: one of ``_KINDS``.
Column = tuple[str, "Sequence[Any] | np.ndarray | Distinct", Any]


def _style(ws: Any, col: int, fmt: Any) -> str:
    """The ``s`` attribute XlsxWriter gives a cell (its format, else the column's)."""
    if fmt is not None:
        xf = fmt._get_xf_index()
    else:
        info = ws.col_info.get(col)
        column_format = getattr(info, "column_format", None) if info is not None else None
        xf = column_format._get_xf_index() if column_format is not None else 0
    return f' s="{xf}"' if xf else ""


def _string_tail(ws: Any, style: str, value: str) -> str:
    """Everything of a text cell after its reference (``_write_cell``'s inline string)."""
    text = ws._escape_control_characters(value)
    if text.startswith("<r>") and text.endswith("</r>"):
        return f'{style} t="inlineStr"><is>{text}</is></c>'
    preserve = ' xml:space="preserve"' if _preserve_whitespace(text) else ""
    return f'{style} t="inlineStr"><is><t{preserve}>{ws._escape_data(text)}</t></is></c>'


#: What makes a text's XML more than ``<t>text</t>``: control characters (and a
#: literal ``_xHHHH_``, escaped in turn), XML escapes, and leading or trailing
#: whitespace (``xml:space``). Texts without any are most; the rest go through
#: :func:`_string_tail`. The first two are found in one scan of all the texts
#: joined by ``|`` (which neither can span), the whitespace from each text's
#: end characters as code points: a regular expression per text, or one
#: looking for the whitespace too, took ten times as long.
_ESCAPED = (re.compile(r"[\x00-\x1f&<>]"), re.compile(r"_x[0-9a-fA-F]{4}_"))

#: Which code points ``str.isspace`` (as ``\\s`` in XlsxWriter's test for
#: ``xml:space``); there is none above U+3000.
_SPACE = np.array([chr(i).isspace() for i in range(0x3001)] + [False], dtype=bool)


def _not_plain(texts: list[str]) -> np.ndarray:
    """Which texts need XlsxWriter's escapes (or ``xml:space``)."""
    top = len(_SPACE) - 1  # (an empty text's 0 is no space)
    odd = (_SPACE[np.minimum(end_codes(texts, _FIRST), top)]
           | _SPACE[np.minimum(end_codes(texts, _LAST), top)])
    lengths = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
    ends = np.cumsum(lengths + 1) - 1  # where each text's "|" falls
    joined = "|".join(texts)
    for pattern in _ESCAPED:
        found = [m.start() for m in pattern.finditer(joined)]
        # A character at p is in the text whose "|" comes first after it.
        odd[np.searchsorted(ends, found, side="left")] = True
    return odd


def _encoded(cells: list[str]) -> list[bytes]:
    """Each cell's XML in UTF-8, encoded in one call (a cell has no ``\\x01``:
    control characters are escaped)."""
    return "\x01".join(cells).encode("utf-8").split(b"\x01") if cells else []


def _string_cells(ws: Any, style: str, prefix: str, texts: list[str],
                  encode: bool = False) -> list[Any]:
    """:func:`_string_tail` of each text after ``prefix``, the plain ones without
    it (in UTF-8 with ``encode``)."""
    if not texts:
        return []
    odd = _not_plain(texts)
    head = f'{prefix}{style} t="inlineStr"><is><t>'
    plain = texts
    if odd.any():
        blanked = np.array(texts, dtype=object)
        blanked[odd] = ""  # made below (a control character would split the join)
        plain = blanked.tolist()
    # Every plain cell in one join, cut apart at "\x01" (not in a plain text).
    joined = head + ("</t></is></c>\x01" + head).join(plain) + "</t></is></c>"
    cells: list[Any] = joined.encode("utf-8").split(b"\x01") if encode else joined.split("\x01")
    for i in np.flatnonzero(odd).tolist():
        cell = prefix + _string_tail(ws, style, texts[i])
        cells[i] = cell.encode("utf-8") if encode else cell
    return cells


#: Bytes of a sheet's rows kept in memory before they go to a temporary file.
SPOOL_BYTES = 64 * 1024 * 1024


def spool_rows(ws: Any, max_bytes: int | None = None) -> None:
    """Keep a new constant-memory sheet's rows in memory (UTF-8, up to
    ``max_bytes``, default :data:`SPOOL_BYTES`, then in a temporary file)
    instead of XlsxWriter's file.

    XlsxWriter writes a sheet's rows to a temporary file and copies them into
    the sheet's XML when the workbook closes: a 100,000-student plan's rows
    were written to disk twice (~300 MB), the slowest part of the workbook on
    a busy disk. The bytes of the workbook are the same.

    Examples
    --------
    >>> ws = wb.add_worksheet("Rosters"); spool_rows(ws)   # doctest: +SKIP
    """
    if max_bytes is None:
        max_bytes = SPOOL_BYTES  # read when called: a second process sets its own
    fh = getattr(ws, "row_data_fh", None)
    if (not ws.constant_memory or fh is None or fh is not ws.fh or ws.row_data_fh_closed
            or fh.tell() != 0):
        return  # not a fresh constant-memory sheet: leave it as XlsxWriter made it
    # The same text mode as XlsxWriter's own file (UTF-8, newlines as the
    # platform's), over bytes that write_rows and close_workbook use as they are.
    ws.row_data_fh = ws.fh = io.TextIOWrapper(
        tempfile.SpooledTemporaryFile(max_size=max_bytes, mode="w+b", dir=ws.tmpdir),  # noqa: SIM115
        encoding="utf-8")
    fh.close()  # XlsxWriter removes its (empty) file when it assembles the sheet


def _row_tag(ws: Any, row: int) -> str:
    """The ``<row ...>`` tag XlsxWriter opens ``row`` with, its number a ``\\x00``
    placeholder (every row of a table gets the same attributes)."""
    fh = ws.fh
    ws.fh = probe = io.StringIO()
    try:
        ws._write_row(row, None)
    finally:
        ws.fh = fh
    return probe.getvalue().replace(f' r="{row + 1}"', ' r="\x00"', 1)


def _number_key(v: float) -> object:
    # 0.0 and -0.0 are equal (one dict key) but written "0" and "-0".
    return v if v else (v, math.copysign(1.0, v))


def _all_numbers(values: Sequence[Any] | np.ndarray) -> bool:
    """True when every value is None, a bool, an int or a float (NumPy's too)."""
    return set(map(type, values)) <= {type(None), bool, int, float, np.float64, np.bool_,
                                      np.int64}


def _code_numbers(kind: str, values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """(codes, distinct values) of numbers or booleans, None blank (code -1), in
    the order first seen; numbers told apart by their bits, so 0.0 and -0.0
    (written "0" and "-0") are two, as the by-hand coding keeps them."""
    blank = np.fromiter(map(_is_none, values), dtype=bool, count=len(values))
    filled = [v for v in values if v is not None] if blank.any() else list(values)
    if kind == "boolean":
        found = np.fromiter(map(bool, filled), dtype=np.int8, count=len(filled))
    else:
        found = np.fromiter(map(float, filled), dtype=np.float64, count=len(filled)).view(np.int64)
    got, uniques = pd.factorize(found)
    codes = np.full(len(values), -1, dtype=np.intp)
    codes[~blank] = got
    distinct_values = (uniques.astype(bool).tolist() if kind == "boolean"
                       else np.asarray(uniques, dtype=np.int64).view(np.float64).tolist())
    return codes, distinct_values


def _is_none(v: object) -> bool:
    return v is None


class _Coded:
    """One column as codes into its distinct values (code -1: a blank cell)."""

    def __init__(self, kind: str, values: Sequence[Any] | np.ndarray | Distinct,
                 n: int) -> None:
        self.kind = kind
        if isinstance(values, Distinct):
            codes = values.codes
            self.uniques: list[Any] = [v for v in values.values if v is not None]
            if len(self.uniques) < len(values.values):  # values converted to a blank
                kept = np.array([v is not None for v in values.values])
                new = np.append(np.where(kept, np.cumsum(kept) - 1, -1), -1)
                codes = new[codes]  # code -1 takes the last, -1
        elif kind == "string":
            codes, uniques = pd.factorize(np.asarray(values, dtype=object))
            self.uniques = list(uniques)
        elif kind in ("number", "boolean") and _all_numbers(values):
            codes, self.uniques = _code_numbers(kind, values)
        else:
            # Dates (and anything odd) by hand: factorize would make -0.0 one with 0.0.
            index: dict[object, int] = {}
            self.uniques = []
            codes = np.empty(len(values), dtype=np.intp)
            for i, v in enumerate(values):
                if v is None:
                    codes[i] = -1
                    continue
                key = _number_key(v) if kind == "number" else v
                code = index.get(key)
                if code is None:
                    code = index[key] = len(self.uniques)
                    self.uniques.append(v)
                codes[i] = code
        self.codes = np.full(n, -1, dtype=np.intp)
        self.codes[:len(codes)] = codes

    def cells(self, ws: Any, style: str, prefix: str, encode: bool = False) -> list[Any]:
        """Each row's cell XML (``""`` where blank): each distinct value's made
        once (and encoded to UTF-8 once with ``encode``)."""
        if self.kind == "string":  # encoded as they are made
            made = _string_cells(ws, style, prefix, self.uniques, encode)
        elif self.kind == "boolean":
            made = [f'{prefix}{style} t="b"><v>{int(bool(v))}</v></c>' for v in self.uniques]
        else:
            numbers = (self.uniques if self.kind == "number" else
                       [ws._convert_date_time(v) for v in self.uniques])
            made = [f"{prefix}{style}><v>{v:.16G}</v></c>" for v in numbers]
        # Code -1 (blank) takes the last, "".
        if encode:
            made = made if self.kind == "string" else _encoded(made)
            return np.array([*made, b""], dtype=object).take(self.codes).tolist()
        return np.array([*made, ""], dtype=object).take(self.codes).tolist()


def write_rows(ws: Any, first_row: int, columns: Sequence[Column]) -> bool:
    """Write rows ``first_row, first_row + 1, ...`` of ``ws``, column ``c`` from
    ``columns[c]``, as XlsxWriter would cell by cell in constant-memory mode.

    Call it after the rows above are written and before anything below;
    returns False (writing nothing) when the sheet is not one it covers.

    Examples
    --------
    >>> write_rows(ws, 1, [("string", ["S1", None], None)])   # doctest: +SKIP
    True
    """
    n = max((len(v) for _, v, _ in columns), default=0)
    if n == 0:
        return True
    last = first_row + n - 1
    if (not ws.constant_memory or ws.previous_row > first_row or last >= ws.xls_rowmax
            or len(columns) > ws.xls_colmax or any(kind not in _KINDS for kind, _, _ in columns)):
        return False
    if any(first_row <= r <= last for r in ws.row_info) or \
            any(first_row <= r <= last for r in ws.comments):
        return False
    coded = [_Coded(kind, values, n) for kind, values, _ in columns]
    limit = ws.xls_strmax // 2  # longer text may need XlsxWriter's truncation
    if any(c.kind == "string" and max(map(len, c.uniques), default=0) > limit for c in coded):
        return False
    ws._write_single_row(first_row)  # flush the row above, as the first cell would
    filled = np.array([c.codes >= 0 for c in coded])  # blanks (None) are not written
    # XlsxWriter numbers a format when a cell first uses it, in the order the
    # cells reach the file (row by row, left to right): number them so.
    first_use = {c: int(np.argmax(filled[c])) if filled[c].any() else n
                 for c in range(len(columns))}
    styles = {c: _style(ws, c, columns[c][2])
              for c in sorted(first_use, key=lambda c: (first_use[c], c)) if first_use[c] < n}
    # Each cell's XML with its row number left as a "\x00" placeholder (control
    # characters are escaped, so there is none in a text), filled in per row.
    raw = _bytes_under(ws.fh)
    cells = [col.cells(ws, styles.get(c, ""), f'<c r="{xl_col_to_name(c)}\x00"', raw is not None)
             for c, col in enumerate(coded)]
    has_cells = np.asarray(filled.any(axis=0))  # a row with no cell is not written
    rows = np.flatnonzero(has_cells)
    if not len(rows):
        return True
    tag = _row_tag(ws, first_row)
    fh = ws.fh
    every = bool(has_cells.all())
    if raw is not None:
        fh.flush()  # what XlsxWriter wrote, before these rows
        _write_blocks(raw.write, cells, tag.encode("utf-8"), b"</row>", b"\x00",
                      b"%d".__mod__, first_row, n, None if every else has_cells)
    else:
        _write_blocks(fh.write, cells, tag, "</row>", "\x00", str, first_row, n,
                      None if every else has_cells)
    lowest, highest = first_row + int(rows[0]), first_row + int(rows[-1])
    for c in range(len(columns)):
        if first_use[c] < n:  # the sheet's size, as each cell would set it
            ws._check_dimensions(lowest, c)
            ws._check_dimensions(highest, c)
    ws.previous_row = highest
    return True


def _write_blocks(write: Callable[[Any], Any], cells: list[list[Any]], tag: Any, end: Any,
                  mark: Any, number: Callable[[int], Any], first_row: int, n: int,
                  has_cells: np.ndarray | None) -> None:
    """Join the rows a block at a time and write them: ``str`` or ``bytes``
    pieces alike (``tag``, ``end``, ``mark`` and ``number`` of the same type)."""
    join, replace = type(tag)().join, type(tag).replace
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        xml: Iterable[Any] = map(join, zip(repeat(tag), *(col[a:b] for col in cells),
                                           repeat(end)))
        numbers: Iterable[Any] = map(number, range(first_row + a + 1, first_row + b + 1))
        if has_cells is not None:
            keep = has_cells[a:b].tolist()
            xml, numbers = compress(xml, keep), compress(numbers, keep)
        write(join(map(replace, xml, repeat(mark), numbers)))


def _bytes_under(fh: Any) -> BinaryIO | None:
    """The binary file under a sheet's text file when UTF-8 bytes written into it
    (after a flush) are what the text would have been: a UTF-8 ``TextIOWrapper``
    where lines end with ``\\n`` (XlsxWriter's row file and :func:`spool_rows`'s).

    Rows written as bytes skip a text encoding of every row: about half the
    time of joining them, as a drop-down label's ``—`` made each block of
    text two bytes a character."""
    if os.linesep != "\n" or not isinstance(fh, io.TextIOWrapper):
        return None
    if codecs.lookup(fh.encoding).name != "utf-8" or fh.errors != "strict":
        return None
    return fh.buffer


#: Rows joined into one string per write (bounds the memory of a large sheet).
_BLOCK = 20_000


#: Where a spooled sheet's rows go in the sheet XML XlsxWriter assembles at
#: close (:func:`close_workbook`); a NUL never reaches that XML otherwise
#: (control characters in cells are escaped as ``_x0000_``).
_ROWS_MARK = "\x00caseload: the rows go here\x00"
_ROWS_MARK_BYTES = _ROWS_MARK.encode("utf-8")

#: Bytes of spooled rows read at a time while they are zipped.
_CHUNK = 1 << 20


def _spooled_rows(ws: Any) -> BinaryIO | None:
    """The bytes (UTF-8) under a sheet's rows kept by :func:`spool_rows`, or None
    when the sheet's rows are not there (not spooled, or already closed)."""
    fh = getattr(ws, "row_data_fh", None)
    if (not getattr(ws, "constant_memory", False) or ws.row_data_fh_closed
            or not isinstance(fh, io.TextIOWrapper)
            or not isinstance(fh.buffer, tempfile.SpooledTemporaryFile)):
        return None
    fh.flush()
    rows: Any = fh.buffer
    return rows


def _mark_rows(ws: Any, sheet_files: dict[int, str]) -> None:
    """``Worksheet._write_optimized_sheet_data`` without copying the rows: the
    mark stands for them and :class:`_PartsZip` puts them in while it zips.
    ``sheet_files`` gets the sheet's XML file (by ``id(ws)``)."""
    if ws.dim_rowmin is None:
        ws._xml_empty_tag("sheetData")  # no data: as XlsxWriter writes it
        return
    ws._xml_start_tag("sheetData")
    ws.fh.write(_ROWS_MARK)
    ws._xml_end_tag("sheetData")
    sheet_files[id(ws)] = ws.fh.name
    os.unlink(ws.row_data_filename)  # XlsxWriter's own (empty) row file, as it removes it


def _sheet_pieces(xml: bytes, rows: BinaryIO) -> Iterator[bytes]:
    """A sheet's XML in pieces: ``xml`` (as XlsxWriter wrote it, with the
    mark) with the rows read from ``rows`` in the mark's place."""
    at = xml.find(_ROWS_MARK_BYTES)
    if at < 0:
        yield xml
        return
    yield xml[:at]
    rows.seek(0)
    while chunk := rows.read(_CHUNK):
        if chunk.endswith(b"\r"):  # keep "\r\n" together for the line below
            chunk += rows.read(1)
        if b"\r" in chunk:  # as XlsxWriter reads its row file back (universal newlines)
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        yield chunk
    yield xml[at + len(_ROWS_MARK_BYTES):]


def _deflated(path: str, rows: BinaryIO, level: int) -> bytes:
    """A sheet's member deflated at ``level`` (raw deflate, one stream, by
    :func:`_deflater`): run in a worker thread, the deflater lets go of the
    interpreter."""
    return _deflate_sheet(path, rows, level)[0]


def _deflate_sheet(path: str, rows: BinaryIO, level: int,
                   checked: bool = False) -> tuple[bytes, int, int]:
    """(deflated bytes, CRC-32, size) of the sheet XML in ``path`` with its
    rows spliced in; the CRC and size only when ``checked`` (else 0: ``ZipFile``
    counts them itself as the XML goes through it)."""
    with open(path, "rb") as f:
        xml = f.read()
    packer = _deflater(level)
    out, crc, size = [], 0, 0
    for piece in _sheet_pieces(xml, rows):
        if checked:
            crc, size = zlib.crc32(piece, crc), size + len(piece)
        out.append(packer.compress(piece))
    out.append(packer.flush())
    return b"".join(out), crc, size


#: Deflate the large sheets with ISA-L at level 1 where it is installed (a
#: dependency; False: zlib, as ``ZipFile`` deflates every other member, and
#: the very bytes XlsxWriter writes). ISA-L's bytes, like zlib's, may differ
#: with the library's version and the processor's instructions: the same
#: plan on the same machine gives the same workbook.
FAST_DEFLATE = True

#: The large sheets' XML goes to ISA-L in blocks of this size, whatever
#: pieces it comes in (see :class:`_Deflater`).
_BLOCK = 1 << 20


class _Deflater:
    """A raw deflate stream of a large sheet's XML at level 1, as ``ZipFile``
    would make it with zlib, but by ISA-L (``benchmarks/bench_workbook.py
    --zlib`` writes the workbook without it, for comparison).

    On the 100,000-student plan's two largest sheets (105 and 89 MB of XML),
    zlib at level 1 took 0.55 and 0.34 s, ISA-L at level 1 0.16 and 0.08 s,
    and made 0.5 % and 5 % fewer bytes. (At zlib's default level ISA-L's
    most, its level 3, made about 6 % more bytes than zlib: other levels
    stay with zlib.) ISA-L's output depends on how the input is cut into
    calls, so the XML is passed on in fixed blocks: the same XML gives the
    same bytes whichever way the sheet was made (in one process or two,
    deflated as zipped or beforehand in a thread). ISA-L lets go of the
    interpreter while it deflates, as zlib does.
    """

    def __init__(self) -> None:
        self._packer = isal_zlib.compressobj(1, zlib.DEFLATED, -15)
        self._pending = bytearray()

    def compress(self, data: bytes) -> bytes:
        self._pending += data
        out = []
        while len(self._pending) >= _BLOCK:
            out.append(self._packer.compress(self._pending[:_BLOCK]))
            del self._pending[:_BLOCK]
        return b"".join(out)

    def flush(self) -> bytes:
        out = self._packer.compress(bytes(self._pending)) + self._packer.flush()
        self._pending.clear()
        return out


def _deflater(level: int) -> Any:
    """The raw deflate stream a large sheet's member is made with at
    ``level``: at level 1 ISA-L's (:class:`_Deflater`) where installed and
    :data:`FAST_DEFLATE`, else zlib's."""
    if level == 1 and FAST_DEFLATE and isal_zlib is not None:
        return _Deflater()
    return zlib.compressobj(level, zlib.DEFLATED, -15)


def _zip_level(compresslevel: int | None) -> int:
    """The deflate level of a ``ZipFile``'s ``compresslevel`` (None: zlib's default)."""
    return zlib.Z_DEFAULT_COMPRESSION if compresslevel is None else compresslevel


@dataclass(frozen=True)
class SheetPart:
    """A sheet's member of the ``.xlsx``, made by :func:`sheet_part` (in
    another process): its XML deflated as :func:`close_workbook` deflates
    it, and the CRC-32 and size of the XML, which the zip's headers carry."""

    deflated: bytes
    crc: int
    size: int


def sheet_part(ws: Any, level: int | None = None) -> SheetPart:
    """A finished sheet's member, made now as :func:`close_workbook` would
    make it at close: for a sheet whose rows :func:`spool_rows` kept, written
    in a second process while the first writes the other sheets
    (``close_workbook(..., parts=)`` puts it in that workbook).

    The sheet's XML may depend only on the sheet: a sheet with links to other
    parts (images, comments, hyperlinks, tables) is refused (ValueError), as
    XlsxWriter numbers those parts at close.

    Examples
    --------
    >>> part = sheet_part(ws, 1)   # doctest: +SKIP
    """
    rows = _spooled_rows(ws)
    if rows is None or not may_be_part(ws):
        raise ValueError(f"sheet {ws.name!r} cannot be made apart from its workbook")
    level = _zip_level(level)
    ws._write_single_row()  # the row still open, as XlsxWriter writes it at close
    ws.row_data_fh.flush()  # (that row too, in the bytes read below)
    fd, path = tempfile.mkstemp(dir=ws.tmpdir)
    os.close(fd)
    files: dict[int, str] = {}
    ws._write_optimized_sheet_data = functools.partial(_mark_rows, ws, files)
    try:
        ws._set_xml_writer(path)
        ws._assemble_xml_file()  # (closes the XML file)
        return SheetPart(*_deflate_sheet(path, rows, level, checked=True))
    finally:
        vars(ws).pop("_write_optimized_sheet_data", None)
        os.unlink(path)
        _close_row_file(ws)


def may_be_part(ws: Any) -> bool:
    """Whether :func:`sheet_part` takes the sheet as it is now: its rows kept
    by :func:`spool_rows`, and nothing XlsxWriter numbers across the workbook
    at close (:data:`_PARTS_OF_A_SHEET`, embedded images).

    Examples
    --------
    >>> may_be_part(ws)   # doctest: +SKIP
    True
    """
    return (_spooled_rows(ws) is not None
            and not any(getattr(ws, a, None) for a in _PARTS_OF_A_SHEET)
            and not getattr(getattr(ws, "embedded_images", None), "images", None))


#: A worksheet's lists of what XlsxWriter makes parts of its own for (and
#: numbers across the workbook at close), and its settings the workbook's
#: own parts read (the sheet shown, dynamic arrays' metadata): a sheet with
#: any is not made apart. (Its defined names and whether it is hidden are
#: read at close too: the caller copies them to the placeholder.)
_PARTS_OF_A_SHEET = ("images", "charts", "shapes", "tables", "comments", "buttons_list",
                     "hyperlinks", "header_images", "footer_images", "background_image",
                     "has_vml", "has_header_vml", "selected", "has_dynamic_arrays")


class _Made:
    """A zip member made elsewhere (:class:`SheetPart`): the XML written into it
    here (a placeholder sheet's) is dropped; at the close, the part's deflated
    bytes, CRC and size go in."""

    def __init__(self, dest: Any, part: SheetPart) -> None:
        self.dest = dest
        self.part = part

    def write(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        self.dest._compressor = _AlreadyDeflated(self.part.deflated)
        self.dest._crc, self.dest._file_size = self.part.crc, self.part.size
        self.dest.close()

    def __enter__(self) -> _Made:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AlreadyDeflated:
    """Stands in for a member's compressor: the data written is only counted
    (size, CRC) by ``ZipFile``; the deflated bytes, made beforehand, come at
    the flush."""

    def __init__(self, deflated: bytes) -> None:
        self.deflated = deflated

    def compress(self, data: bytes) -> bytes:
        return b""

    def flush(self) -> bytes:
        return self.deflated


class _Spliced:
    """A zip member being written: the sheet's XML as XlsxWriter wrote it (with
    the mark), kept until closed, then written with the rows in the mark's place."""

    def __init__(self, dest: Any, rows: BinaryIO) -> None:
        self.dest = dest
        self.rows = rows
        self.xml = bytearray()

    def write(self, data: bytes) -> int:
        self.xml += data
        return len(data)

    def close(self) -> None:
        with self.dest:
            for piece in _sheet_pieces(bytes(self.xml), self.rows):
                self.dest.write(piece)
        self.rows.close()  # zipped: its memory back before the next sheet's

    def __enter__(self) -> _Spliced:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Threads deflating the large sheets beforehand at close; 0: each as it is
#: zipped; None: :func:`deflate_threads` decides. The deflater lets go of
#: the interpreter while it deflates, so a second core does half the work:
#: ``benchmarks/bench_workbook.py 100000 --services --deflate-threads 2`` on
#: a quiet 2-core machine, with zlib (before ISA-L, which deflates in about
#: a quarter of the time), the zip 1.11 -> 0.60 s and the workbook 6.37 ->
#: 5.60 s (without services 2.68 -> 2.47 s). Where no core is free the
#: threads only wait (on the shared machine, before: close 0.47 s with none,
#: 0.45-0.92 s with 2).
DEFLATE_THREADS: int | None = None


def deflate_threads() -> int:
    """The threads :func:`close_workbook` deflates with by default:
    :data:`DEFLATE_THREADS` when set, else 2 where this process may run on
    two cores or more, else 0.

    >>> deflate_threads() in (0, 2)
    True
    """
    if DEFLATE_THREADS is not None:
        return DEFLATE_THREADS
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # (not on Linux)
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 0

_ZLIB_COMPRESSOR = type(zlib.compressobj())


class _PartsZip(zipfile.ZipFile):
    """The ``ZipFile`` XlsxWriter zips the workbook's parts with at close: each
    spooled sheet's rows go from memory straight into its member; with a
    ``pool``, the member is deflated beforehand in a worker thread (the same
    bytes: one stream a member by :func:`_deflater`, at the archive's level)
    while the parts before it are zipped."""

    def __init__(self, *args: Any, rows: dict[str, Any], sheet_files: dict[int, str],
                 pool: ThreadPoolExecutor | None, made: dict[str, SheetPart] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sheet_rows = rows  # member name -> worksheet with spooled rows
        self.made = made or {}  # member name -> the part made elsewhere (sheet_part)
        self.sheet_files = sheet_files  # id(worksheet) -> its XML file, rows marked
        self.pool = pool
        self.deflating: dict[str, Future[bytes]] | None = None

    def _start_deflating(self) -> None:
        """At the first member: every sheet's XML is written; deflate the large ones."""
        self.deflating = {}
        level = _zip_level(self.compresslevel)
        if self.pool is None or self.compression != zipfile.ZIP_DEFLATED:
            return
        for member, ws in self.sheet_rows.items():
            rows = _spooled_rows(ws)  # flushed here, before any thread reads it
            path = self.sheet_files.get(id(ws))
            if rows is not None and path is not None:
                self.deflating[member] = self.pool.submit(_deflated, path, rows, level)

    def open(self, name: Any, mode: Literal["r", "w"] = "r", pwd: bytes | None = None, *,
             force_zip64: bool = False) -> Any:
        if mode == "w" and self.deflating is None:
            self._start_deflating()
        member = name.filename if isinstance(name, zipfile.ZipInfo) else name
        part = self.made.pop(member, None) if mode == "w" else None
        if part is not None:
            if isinstance(name, zipfile.ZipInfo):
                name.file_size = part.size  # (ZIP64 is decided on it)
            made = super().open(name, mode, pwd, force_zip64=force_zip64)
            if not isinstance(getattr(made, "_compressor", None), _ZLIB_COMPRESSOR):
                made.close()
                raise ValueError(f"{member}: a part made elsewhere needs deflated members")
            return _Made(made, part)
        ws = self.sheet_rows.pop(member, None) if mode == "w" else None
        job = (self.deflating or {}).pop(member, None)
        # Its thread is done with the rows before they are touched here.
        deflated = job.result() if job is not None else None
        rows = _spooled_rows(ws) if ws is not None else None
        if ws is None or rows is None:
            return super().open(name, mode, pwd, force_zip64=force_zip64)
        if isinstance(name, zipfile.ZipInfo) and ws.dim_rowmin is not None:
            # The size of the sheet with its rows (ZIP64 is decided on it).
            name.file_size += rows.seek(0, os.SEEK_END) - len(_ROWS_MARK_BYTES)
        dest: Any = super().open(name, mode, pwd, force_zip64=force_zip64)
        if isinstance(getattr(dest, "_compressor", None), _ZLIB_COMPRESSOR):
            # Deflated beforehand, or now as zipped: by the same deflater.
            dest._compressor = (_AlreadyDeflated(deflated) if deflated is not None
                                else _deflater(_zip_level(self.compresslevel)))
        return _Spliced(dest, rows)


def close_workbook(wb: Any, compresslevel: int | None = None,
                   threads: int | None = None, parts: Sequence[tuple[Any, SheetPart]] = ()
                   ) -> None:
    """Close (save) a workbook, its parts deflated at ``compresslevel`` (None:
    zlib's default; the spooled sheets by :func:`_deflater`), the rows that
    :func:`spool_rows` kept zipped from memory; with ``threads`` (default
    :func:`deflate_threads`) the large sheets are deflated beforehand in that
    many threads (the same bytes). ``parts``:
    (worksheet, :func:`sheet_part` of that sheet made in another process):
    the part is the sheet's member, whatever this worksheet holds (a
    placeholder of the same name); ValueError where a part cannot go in
    (a sheet of another workbook, another XlsxWriter, members not deflated).

    XlsxWriter writes each sheet's XML to a temporary file at close (copying
    the rows there, decoded and encoded again) and zips the files: at 100,000
    students that was ~150 MB written and read back. The workbook's members
    hold the same XML, and but for the spooled sheets (deflated by ISA-L where
    installed: :func:`_deflater`) the same bytes. Without the ``ZipFile``
    XlsxWriter is known to use, or where text files do not end lines with
    ``\\n``, the rows are copied as XlsxWriter does.

    Examples
    --------
    >>> close_workbook(wb, 1)   # doctest: +SKIP
    """
    if threads is None:
        threads = deflate_threads()
    module = xlsxwriter.workbook
    real = getattr(module, "ZipFile", None)
    level = {} if compresslevel is None else {"compresslevel": compresslevel}
    if parts and (real is not zipfile.ZipFile or os.linesep != "\n"):
        raise ValueError("parts made elsewhere go only into the ZipFile this XlsxWriter uses")
    if real is not zipfile.ZipFile:  # another XlsxWriter: leave it as it is
        wb.close()
        return
    rows: dict[str, Any] = {}
    sheet_files: dict[int, str] = {}
    sheets = [ws for ws in wb.worksheets() if not ws.is_chartsheet]
    # The packager names the sheets' parts so: sheet1.xml, sheet2.xml, ...
    member = {id(ws): f"xl/worksheets/sheet{i}.xml" for i, ws in enumerate(sheets, start=1)}
    made = {member.get(id(ws), ""): part for ws, part in parts}
    if "" in made or len(made) < len(parts):
        raise ValueError("a part made elsewhere for a sheet not in this workbook, or twice")
    for ws in sheets:
        if (member[id(ws)] in made and ws.dim_rowmin is not None
                and getattr(ws, "row_data_fh_closed", False)):
            # A sheet of this workbook whose part sheet_part made (its rows
            # closed): the XML XlsxWriter assembles for it is dropped, so its
            # rows are not copied (there are none left to copy).
            ws._write_optimized_sheet_data = functools.partial(_mark_rows, ws, {})
    if os.linesep == "\n":
        for ws in sheets:
            if member[id(ws)] in made:
                continue
            if _spooled_rows(ws) is not None:
                rows[member[id(ws)]] = ws
                ws._write_optimized_sheet_data = functools.partial(_mark_rows, ws, sheet_files)
    pool = ThreadPoolExecutor(threads) if rows and threads > 0 else None
    # The workbook is closed in this thread; nothing else zips meanwhile.
    module.ZipFile = lambda *a, **k: _PartsZip(*a, rows=dict(rows), sheet_files=sheet_files,
                                               pool=pool, made=dict(made), **level, **k)
    try:
        wb.close()
    finally:
        module.ZipFile = real
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for ws in sheets:
            vars(ws).pop("_write_optimized_sheet_data", None)
        discard_row_files(wb)  # (every sheet's row file closed, then removed)


def discard_row_files(wb: Any) -> None:
    """Remove the temporary row files XlsxWriter left of a workbook's sheets:
    it removes a constant-memory sheet's file when it copies the rows into the
    sheet, so a sheet without rows (or a workbook never closed) kept it.

    >>> discard_row_files(xlsxwriter.Workbook("never.xlsx"))
    """
    for ws in wb.worksheets():
        _close_row_file(ws)
        path = getattr(ws, "row_data_filename", None)
        if path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _close_row_file(ws: Any) -> None:
    """Close a constant-memory sheet's temporary row file, if still open."""
    fh = getattr(ws, "row_data_fh", None)
    if fh is not None and not getattr(ws, "row_data_fh_closed", True):
        fh.close()
        ws.row_data_fh_closed = True
