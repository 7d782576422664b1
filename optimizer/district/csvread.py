"""Strict reading of the CSV files a planner hands us (district tables, plan folders).

Rules, so that a file is read the way a spreadsheet shows it or not at all:

- Only regular files are read (a FIFO, a device such as ``/dev/zero`` or a
  folder is an error; a symbolic link is followed to what it names).
- The file is UTF-8 (a byte-order mark is allowed); a bad byte is reported with
  its row.
- Rows are counted as a spreadsheet counts them: the header is row 1 and blank
  lines count, though they hold no data and are skipped.
- A row with more or fewer cells than the header is one error on that row,
  and the row is left out, so the columns of the other rows never shift.
- Cells are stripped of surrounding spaces and kept as text.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from optimizer.district.model import InputIssue

__all__ = ["CELL_LIMIT", "TextTable", "is_regular_file", "parse_csv_strict", "read_csv_strict",
           "read_text_file"]

#: Longest cell accepted, in characters (the csv module's default limit).
CELL_LIMIT = 131_072


@dataclass
class TextTable:
    """A CSV file as text: header, data rows, and each data row's spreadsheet row."""

    header: list[str]
    rows: list[list[str]]
    row_numbers: list[int]


def is_regular_file(path: Path, label: str, out: list[InputIssue]) -> bool:
    """True when ``path`` is a regular file (after links); else add a problem."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        out.append(InputIssue(label, None, None, None,
                           f"a readable file: {exc.strerror or exc}"))
        return False
    if not stat.S_ISREG(mode):
        what = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)"
                if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
                stat.S_ISBLK(mode) else "not a regular file")
        out.append(InputIssue(label, None, None, None,
                           f"a regular file; this is {what}, which is not read"))
        return False
    return True


def read_text_file(path: Path, label: str, out: list[InputIssue]) -> str | None:
    """A regular UTF-8 file's text (BOM removed), or None with a problem added."""
    if not is_regular_file(path, label, out):
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        out.append(InputIssue(label, None, None, None, f"a readable file: {exc.strerror or exc}"))
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data[:exc.start].count(b"\n") + 1
        bad = data[exc.start:exc.end].hex(" ")
        out.append(InputIssue(label, row, None, f"byte {bad}",
                           "UTF-8 text (save the file as 'CSV UTF-8'): this byte is not "
                           "UTF-8"))
        return None


def read_csv_strict(path: Path, out: list[InputIssue], label: str | None = None
                    ) -> TextTable | None:
    """Read a CSV file strictly (see the module notes).

    Returns the table, or None when the file cannot be read at all (not a
    regular file, not UTF-8, no header, a cell over :data:`CELL_LIMIT`); rows
    with the wrong number of cells are reported in ``out`` and left out.
    """
    label = label or path.name
    text = read_text_file(path, label, out)
    if text is None:
        return None
    return parse_csv_strict(text, out, label)


def parse_csv_strict(text: str, out: list[InputIssue], label: str) -> TextTable | None:
    """:func:`read_csv_strict` of a file's text (read by :func:`read_text_file`)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    row = 0
    strip = str.strip
    try:
        for record in reader:
            row += 1  # one record is one spreadsheet row, even with line breaks in a cell
            if header is None:
                header = [h.strip() for h in record]
                continue
            cells = list(map(strip, record))  # in C: a 100,000-row file reads in a blink
            if not any(cells):
                continue  # a blank line: counted, holds nothing
            if len(record) != len(header):
                out.append(InputIssue(label, row, None, _preview(record),
                                   f"{len(header)} cells, as in the header row; this row "
                                   f"has {len(record)} (a stray or missing comma, or a "
                                   "quote not closed)"))
                continue
            rows.append(cells)
            numbers.append(row)
    except csv.Error as exc:
        out.append(InputIssue(label, row + 1, None, None,
                           f"well-formed CSV: {exc} (cells hold at most {CELL_LIMIT:,} "
                           "characters)"))
        return None
    if header is None:
        out.append(InputIssue(label, 1, None, None, "a header row naming the columns; the file "
                                                 "is empty"))
        return None
    return TextTable(header, rows, numbers)


def _preview(record: list[str]) -> str:
    text = ",".join(record)
    return text if len(text) <= 60 else text[:57] + "…"
