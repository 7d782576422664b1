"""A plan table's CSV text, made a column's distinct values at a time.

``assignments.csv`` of a 100,000-student plan took about 2 CPU seconds
through pandas (``_safe`` guarding each cell against formula injection, then
``DataFrame.to_csv`` converting and quoting each cell): most of writing the
plan's CSVs. Its columns repeat a few values each (schools, roles, reasons,
review dates), so here each distinct value is guarded and quoted once and a
row costs one string join — the approach of :mod:`optimizer.outputs.xlsx_rows`
(the csv module's writer, fed the same cells, took longer than pandas).

The text is the bytes :func:`optimizer.outputs.export.write_table` writes for
the same frame (tests/test_csv_text.py compares the two on random tables and
on the plans): each text cell guarded by
:func:`~optimizer.district.textsafe.neutralize_formula`, quoted as the
``csv`` module quotes it for pandas (``QUOTE_MINIMAL``: a cell holding a
comma, a quote or a line end, its quotes doubled), ``true``/``false``
for booleans, blank for NA, ``"\\n"`` line ends. Frames outside what this
covers (a column of nullable floats, dates or mixed objects, a non-text column name, a
``"\\r"`` anywhere: then every cell is quoted) give None, and the caller
writes them through pandas as before.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from optimizer.district.textsafe import neutralize_formula, neutralize_texts

__all__ = ["BLOCK_ROWS", "guarded_csv_blocks", "guarded_csv_text"]

#: A cell holding one of these is quoted by the csv module (its delimiter,
#: quote character and line terminator "\n"); a "\r" makes the whole file quoted.
_SPECIAL = (",", '"', "\n")


def _csv_cell(text: str) -> str:
    """``text`` as the csv module writes it in a row: quoted (its quotes
    doubled) when it holds a delimiter, a quote or a line end."""
    if any(ch in text for ch in _SPECIAL):
        return '"' + text.replace('"', '""') + '"'
    return text


def _column_cells(series: pd.Series) -> list[bytes] | None:
    """Each row's cell (guarded and quoted) in UTF-8, or None when the column
    is not one covered here."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        if series.isna().any():
            return None
        return _BOOL_CELLS.take(series.to_numpy(dtype=bool).astype(np.intp)).tolist()
    if pd.api.types.is_integer_dtype(dtype):
        values = series.astype(object).tolist()  # Python ints; NA for a missing one
        return [b"" if v is pd.NA else str(v).encode("ascii") for v in values]
    if dtype == np.float64:
        # As pandas writes them (numpy's str of each; NaN blank), each distinct
        # number once: coded by its bits, so -0.0 stays apart from 0.0.
        values = series.to_numpy()
        na = np.isnan(values)
        codes, bits = pd.factorize(np.where(na, 0, values.view(np.int64)))
        codes[na] = -1
        made = [*np.asarray(bits, dtype=np.int64).view(np.float64).astype(str).tolist(), ""]
        return _encoded(made).take(codes).tolist()
    if not (isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype)):
        return None  # nullable floats, dates, categories: pandas formats those
    # (Factorized as an array of objects: pandas' string array took 1.7 times
    # as long, its own conversion first; NA is still code -1.)
    codes, uniques = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
    found = np.asarray(uniques, dtype=object).tolist()
    if not all(type(v) is str for v in found):
        return None  # numbers or other objects in a text column
    joined = "\x00".join(found)  # one scan of the column's texts for what is rare
    if "\r" in joined:
        return None  # every cell of the file gets quoted: pandas does that
    made = neutralize_texts(found)
    if any(ch in joined for ch in _SPECIAL):
        made = [_csv_cell(v) for v in made]
    made.append("")  # code -1: NA, a blank cell
    return _encoded(made).take(np.asarray(codes, dtype=np.intp)).tolist()


#: A boolean column's two cells, False then True (indexed by the value).
_BOOL_CELLS = np.array([b"false", b"true"], dtype=object)


def _encoded(cells: list[str]) -> np.ndarray:
    """Each distinct cell's UTF-8 bytes, once, as an array to take rows from.

    Rows are joined as bytes, not text: a file's text holding one character
    beyond ASCII (a dash in a reason) is stored wider than bytes, so joining
    and then encoding it cost twice as much (100,000-student
    ``assignments.csv``, 46 MB: 0.31 s as text and written, 0.13 as bytes).
    """
    return np.array([c.encode("utf-8") for c in cells], dtype=object)


def guarded_csv_text(frame: pd.DataFrame) -> str | None:
    """The CSV text of ``frame`` with text cells guarded against formula
    injection, as :func:`optimizer.outputs.export.write_table` writes it;
    None when the frame is not one this covers.

    Parameters
    ----------
    frame
        A table of text (string or object of ``str``), integer, float and boolean columns.

    Returns
    -------
    str or None
        The file's text (header, then one line per row), or None.

    Examples
    --------
    >>> guarded_csv_text(pd.DataFrame({"id": ["S1", "=1+1"], "note": ["a, b", None]}))
    'id,note\\nS1,"a, b"\\n\\'=1+1,\\n'
    """
    blocks = guarded_csv_blocks(frame)
    return None if blocks is None else b"".join(blocks).decode("utf-8")


#: Rows joined into one string at a time (bounds the memory of a large file).
BLOCK_ROWS = 20_000


def guarded_csv_blocks(frame: pd.DataFrame, rows: int = BLOCK_ROWS) -> Iterator[bytes] | None:
    """:func:`guarded_csv_text` in UTF-8 and in pieces of ``rows`` rows (the
    header with the first), to write one after another to a file opened in
    binary; None when the frame is not one this covers (decided before the
    first piece).

    Examples
    --------
    >>> list(guarded_csv_blocks(pd.DataFrame({"a": ["x", "y"], "b": [1, 2]}), rows=1))
    [b'a,b\\nx,1\\n', b'y,2\\n']
    """
    if frame.shape[1] < 2 or not all(isinstance(c, str) for c in frame.columns):
        return None  # one column: a blank row would be quoted; leave that to pandas
    header = [neutralize_formula(c) for c in frame.columns]
    if any("\r" in h for h in header):
        return None
    columns = []
    for _, series in frame.items():
        cells = _column_cells(series)
        if cells is None:
            return None
        columns.append(cells)
    head = ",".join(_csv_cell(h) for h in header).encode("utf-8")
    return _blocks(head, columns, len(frame), rows)


def _blocks(header: bytes, columns: list[list[bytes]], n: int, rows: int) -> Iterator[bytes]:
    yield from ()  # a generator: nothing is made until the first piece is asked for
    first = header + b"\n"
    for a in range(0, max(n, 1), rows):
        lines = b"\n".join(map(b",".join, zip(*(c[a:a + rows] for c in columns), strict=True)))
        # (One join, not a string per line: a row is never empty, as a frame
        # here has two columns or more, so only no rows gives b"".)
        yield first + (lines + b"\n" if lines else b"")
        first = b""
