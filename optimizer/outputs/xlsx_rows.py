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
booleans), :func:`write_rows` returns False and the caller writes cell by cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name

__all__ = ["write_rows"]

#: (kind, values with None for a blank cell, cell format or None); kind is
#: "string", "number" or "datetime".
Column = tuple[str, Sequence[Any], Any]


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
            or len(columns) > ws.xls_colmax or any(kind not in ("string", "number", "datetime")
                                                   for kind, _, _ in columns)):
        return False
    if any(first_row <= r <= last for r in ws.row_info) or \
            any(first_row <= r <= last for r in ws.comments):
        return False
    limit = ws.xls_strmax // 2  # longer text may need XlsxWriter's truncation
    for kind, values, _ in columns:
        if kind == "string" and any(v is not None and len(v) > limit for v in values):
            return False
    ws._write_single_row(first_row)  # flush the row above, as the first cell would
    # XlsxWriter numbers a format when a cell first uses it, in the order the
    # cells reach the file (row by row, left to right): number them so.
    first_use = {c: next((i for i, v in enumerate(values) if v is not None), n)
                 for c, (_, values, _) in enumerate(columns)}
    styles = {c: _style(ws, c, columns[c][2])
              for c in sorted(first_use, key=lambda c: (first_use[c], c)) if first_use[c] < n}
    cells: list[list[str | None]] = []
    for c, (kind, values, _) in enumerate(columns):
        style = styles.get(c, "")
        if kind == "string":
            tails: dict[str, str] = {}
            col = [None if v is None else tails.get(v) or tails.setdefault(
                v, _string_tail(ws, style, v)) for v in values]
        else:
            numbers = [v if kind == "number" or v is None else ws._convert_date_time(v)
                       for v in values]
            col = [None if v is None else f"{style}><v>{v:.16G}</v></c>" for v in numbers]
        cells.append(col)
    letters = [f'<c r="{xl_col_to_name(c)}' for c in range(len(columns))]
    fh = ws.fh
    lowest = highest = -1
    for i in range(n):
        row = first_row + i
        ref = f'{row + 1}"'
        parts = [letters[c] + ref + tail for c, col in enumerate(cells)
                 if i < len(col) and (tail := col[i]) is not None]
        if not parts:
            continue
        ws._write_row(row, None)
        fh.write("".join(parts))
        fh.write("</row>")
        if lowest < 0:
            lowest = row
        highest = row
    if highest < 0:
        return True
    for c, col in enumerate(cells):
        if any(v is not None for v in col):  # the sheet's size, as each cell would set it
            ws._check_dimensions(lowest, c)
            ws._check_dimensions(highest, c)
    ws.previous_row = highest
    return True

