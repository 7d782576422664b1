"""Reading a district folder or workbook into plain text tables.

This module (with the exporters) is the only one that touches files. It keeps
every cell as text exactly as given, so the validator can quote the value back
to the planner, and it never drops a row or a column: extra columns are kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.district.bulk import without_collector_pauses
from optimizer.district.contract import CONTRACT, FILES, OPTIONAL_FILES
from optimizer.district.csvread import (
    CELL_LIMIT,
    TextTable,
    is_regular_file,
    parse_csv_strict,
    read_csv_strict,
    read_text_file,
)
from optimizer.district.model import InputIssue
from optimizer.district.textsafe import restore_formula_rows, restore_formula_text

__all__ = ["RawDistrict", "read_district_files", "read_table"]


@dataclass
class RawDistrict:
    """What was read, before validation: text tables and where they came from."""

    name: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # table -> "students.csv"
    settings: dict = field(default_factory=dict)  # parsed district.toml
    settings_text: str = ""  # district.toml as written (copied on by rollover)
    settings_label: str = "district.toml"
    sources: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    problems: list[InputIssue] = field(default_factory=list)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _header_as_named(table: str, header: list[str]) -> list[str]:
    """The header with each contract column's name where the file spells it
    in other case or with spaces around it (``FTE``, `` Student_ID``), when
    that is the only such column and the exact name is absent: a planner
    typed it so in Excel, and the name is not data (a planner trial's
    ``FTE`` dropped the whole educators file).

    >>> _header_as_named("educators", ["educator_id", "FTE", "Role "])[1:]
    ['fte', 'role']
    >>> _header_as_named("educators", ["fte", "FTE"])
    ['fte', 'FTE']
    """
    folded: dict[str, list[int]] = {}
    for i, col in enumerate(header):
        folded.setdefault(col.strip().lower(), []).append(i)
    out = list(header)
    for column in CONTRACT[table]:
        at = folded.get(column.name, [])
        if column.name not in header and len(at) == 1:
            out[at[0]] = column.name
    return out


def _check_header(table: str, label: str, header: list[str], out: list[InputIssue]) -> bool:
    seen: set[str] = set()
    ok = True
    for col in header:
        if col in seen:
            out.append(InputIssue(label, 1, col, col, "each column name once: this one repeats"))
            ok = False
        seen.add(col)
    for column in CONTRACT[table]:
        if column.required and column.name not in seen:
            # (Two spellings of one name, "FTE" and "Fte": neither is taken for it.)
            alike = [c for c in header if c.strip().lower() == column.name]
            out.append(InputIssue(label, 1, column.name, None,
                               f"a column named '{column.name}' ({column.meaning}); "
                               f"found columns: {', '.join(header) or 'none'}"
                               + (f" ({' and '.join(alike)} both spell it: keep one)"
                                  if len(alike) > 1 else "")))
            ok = False
    return ok


def _read_csv(table: str, path: Path, out: list[InputIssue]) -> pd.DataFrame | None:
    label = path.name
    content = read_text_file(path, label, out)
    if content is None:
        return None
    plain = plain_csv_frame(content)
    if plain is not None:
        plain.columns = _header_as_named(table, list(plain.columns))
        if not _check_header(table, label, list(plain.columns), out):
            return None
        return plain
    text = parse_csv_strict(content, out, label)
    if text is not None:
        text.header = _header_as_named(table, text.header)
    if text is None or not _check_header(table, label, text.header, out):
        return None
    return text_frame(_unguard_rows(text))


#: Any white space but a space or a line end (a tab, a no-break space...).
_OTHER_SPACE = re.compile(r"[^\S \n]")


def _edge_space(text: str) -> bool:
    """Whether a cell of ``text`` (its lines ending in a line feed) may start
    or end with white space: a space beside a comma or a line end, or any
    other white space anywhere. (Four substring searches and one for a
    character class: a regular expression for the edges themselves took
    0.2-0.3 s on a students.csv of 100,000 rows.)"""
    return bool(_OTHER_SPACE.search(text)) or text.startswith(" ") or text.endswith(" ") \
        or any(pair in text for pair in (" ,", ", ", "\n ", " \n"))


def plain_csv_frame(text: str) -> pd.DataFrame | None:
    """:func:`text_frame` of :func:`~optimizer.district.csvread.read_csv_strict`
    (formula guards undone), by pandas' C parser, for a *plain* file; None for
    any other, which the strict reader then reads and reports on.

    Plain: no quote, no NUL, no byte-order mark left at the start, no
    carriage return but in a CRLF line end, no white space that could be at
    the edge of a cell (read_csv_strict strips it), a header of distinct,
    non-blank names (none starting with an apostrophe), no line longer (in
    bytes) than a cell may be (in characters), and every line not blank
    holding the header's number of cells; and pandas reads it without a
    warning or an error. Such a file has one record per line, so its rows
    are counted as the strict reader counts them, and its cells are the same
    text. A students.csv of 100,000 rows: 0.25 s, against 0.45-0.6 s for the
    strict reader's loop in Python and its frame. Files exported with quotes
    take the strict reader, as before (tests/test_plain_csv.py compares the
    two).

    Examples
    --------
    >>> plain_csv_frame("a,b\\n1,2\\n").to_dict("list")
    {'a': ['1'], 'b': ['2']}
    >>> plain_csv_frame('a,b\\n"1",2\\n') is None
    True
    """
    if '"' in text or "\x00" in text or text.startswith("\ufeff"):
        return None  # (a second byte-order mark: pandas would drop it, the strict reader not)
    if "\r" in text:  # (a carriage return left alone is white space: declined below)
        text = text.replace("\r\n", "\n")
    if _edge_space(text):
        return None
    # Lines, their cells and their length, from the bytes (a comma or a line
    # feed is one byte in UTF-8, never part of another character's).
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if len(data) and data[-1] != 10:
        ends = np.append(ends, len(data))  # (no line end after the last line)
    starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else ends
    length = ends - starts
    # Commas per line: a sum per slice (an empty line's "slice" gives the byte
    # at its start, its own line feed: 0). Not a running count: an array of
    # 8 bytes per byte of the file, new memory that cost 0.25 s for a
    # students.csv of 8.6 MB.
    commas = (np.add.reduceat((data == 44).view(np.uint8), starts, dtype=np.int64)
              if len(data) else length)
    blank = commas == length  # commas only, or nothing
    # (From the text, not at the byte offset: a name beyond ASCII takes more bytes.)
    header = text.split("\n", 1)[0].split(",")
    if (len(ends) < 2 or "" in header or len(set(header)) != len(header)
            or any(h.startswith("'") for h in header)
            or int(length.max()) > CELL_LIMIT):
        return None
    blank = blank[1:]
    # Every row the header's cells; a blank line no more (pandas warns of more).
    if np.any(commas[1:][~blank] != len(header) - 1) or np.any(commas > len(header) - 1):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (pandas doubting the file: the strict reader)
            frame = pd.read_csv(io.StringIO(text), dtype=str, na_filter=False,
                                keep_default_na=False, skip_blank_lines=False, engine="c",
                                index_col=False)
    except (ValueError, Warning):  # pandas' ParserError and EmptyDataError are ValueErrors
        return None
    if len(frame) != len(blank) or list(frame.columns) != header:
        return None  # (not read as expected: the strict reader says why)
    rows = np.arange(2, len(blank) + 2, dtype=np.int64)
    if blank.any():
        keep = ~blank
        frame = frame[keep].reset_index(drop=True)
        rows = rows[keep]
    if "'" in text:  # cells the formula guard wrote as '=...: read back as typed
        for col in frame.columns:
            guarded = frame[col].str.startswith("'")
            if guarded.any():
                frame[col] = frame[col].map(restore_formula_text)
    frame.attrs["rows"] = rows
    return frame


def text_frame(text: TextTable) -> pd.DataFrame:
    """A strictly read CSV as a frame of text; ``frame.attrs["rows"]`` holds each
    row's spreadsheet row (blank lines counted), for the validator's messages."""
    frame = pd.DataFrame(text.rows, columns=text.header, dtype=str)
    if not text.rows:
        frame = pd.DataFrame({c: pd.Series([], dtype=str) for c in dict.fromkeys(text.header)})
        frame.columns = text.header
    # An array, not a list: pandas deep-copies attrs on every column access.
    frame.attrs["rows"] = np.asarray(text.row_numbers, dtype=np.int64)
    return frame


def _cell_text(value: object) -> str:
    # Excel stores every number as a float and dates as datetimes: show them
    # the way the planner typed them, so grade 3 is "3" and a date is ISO.
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


def _read_workbook(path: Path, raw: RawDistrict) -> None:
    from openpyxl import load_workbook  # imported here: only workbook users pay for it

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a file that is not xlsx
        raw.problems.append(InputIssue(path.name, None, None, None,
                                    f"an Excel .xlsx workbook: {type(exc).__name__}: {exc}"))
        return
    for table in FILES + OPTIONAL_FILES:
        label = f"{path.name} [{table}]"
        if table not in wb.sheetnames:
            if table in FILES:
                raw.problems.append(InputIssue(path.name, None, None, table,
                                            f"a sheet named '{table}'; found sheets: "
                                            f"{', '.join(wb.sheetnames)}"))
            continue
        rows = [[_cell_text(v) for v in r] for r in wb[table].iter_rows(values_only=True)]
        # Trailing empty rows are formatting, not data.
        while rows and not any(rows[-1]):
            rows.pop()
        header = rows[0] if rows else []
        while header and header[-1] == "":
            header = header[:-1]
        header = _header_as_named(table, header)
        if not _check_header(table, label, header, raw.problems):
            continue
        body, numbers = [], []
        for n, r in enumerate(rows[1:], start=2):
            if any(r):  # a blank row is counted (row numbers match the sheet) but skipped
                body.append((r + [""] * len(header))[: len(header)])
                numbers.append(n)
        raw.tables[table] = text_frame(TextTable(header, body, numbers))
        raw.labels[table] = label
    wb.close()


@without_collector_pauses  # many rows, no cycles: see district/bulk.py
def read_district_files(path: str | Path) -> RawDistrict:
    """Read a district folder (CSV files) or an Excel workbook as text tables.

    Parameters
    ----------
    path
        A folder holding ``schools.csv``, ``educators.csv``, ``students.csv``
        and optionally ``locks.csv``, ``services.csv`` and ``district.toml``;
        or an ``.xlsx`` workbook with sheets of the same names (a
        ``district.toml`` beside it is read too).

    Returns
    -------
    RawDistrict
        Tables of text cells, with every problem met while reading
        (missing file, missing column, unreadable file) in ``problems``.

    Examples
    --------
    >>> raw = read_district_files("data/sample")     # doctest: +SKIP
    >>> raw.tables["students"].shape[0] > 0          # doctest: +SKIP
    True
    """
    path = Path(path)
    raw = RawDistrict(name=path.stem if path.suffix else path.name)
    if not path.exists():
        raw.problems.append(InputIssue(str(path), None, None, None,
                                    "a district folder or .xlsx workbook: nothing is there"))
        return raw
    if path.is_file():
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            raw.problems.append(InputIssue(path.name, None, None, None,
                                        "a district folder or an .xlsx workbook"))
            return raw
        if not is_regular_file(path, path.name, raw.problems):
            return raw
        raw.sources[path.name] = _sha256(path)
        _read_workbook(path, raw)
        folder = path.parent
    else:
        folder = path
        for table in FILES + OPTIONAL_FILES:
            f = folder / f"{table}.csv"
            if not f.exists():
                if table in FILES:
                    raw.problems.append(InputIssue(f.name, None, None, None,
                                                f"a file {f.name} in {folder}"))
                continue
            frame = _read_csv(table, f, raw.problems)
            if frame is not None:
                raw.sources[f.name] = _sha256(f)
            if frame is not None:
                raw.tables[table] = frame
                raw.labels[table] = f.name
    toml_path = folder / "district.toml"
    if toml_path.exists() or toml_path.is_symlink():
        text = read_text_file(toml_path, "district.toml", raw.problems)
        if text is not None:
            raw.sources[toml_path.name] = _sha256(toml_path)
            raw.settings_text = text
            try:
                raw.settings = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raw.problems.append(InputIssue("district.toml", None, None, None,
                                            f"valid TOML: {exc}"))
    return raw


def read_table(path: str | Path, required: tuple[str, ...]) -> tuple[pd.DataFrame | None,
                                                                   list[InputIssue]]:
    """Read one extra CSV (new students, staff changes) as text, strictly, checking its header."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return None, [InputIssue(str(path), None, None, None, "a CSV file: nothing is there")]
    problems: list[InputIssue] = []
    text = read_csv_strict(path, problems, path.name)
    if text is None:
        return None, problems
    for col in required:
        if col not in text.header:
            problems.append(InputIssue(path.name, 1, col, None,
                                    f"a column named '{col}'; found: {', '.join(text.header)}"))
    if len(set(text.header)) != len(text.header):
        problems.append(InputIssue(path.name, 1, None, None, "each column name once"))
    if problems:
        return None, problems
    return text_frame(_unguard_rows(text)), problems


def _unguard_rows(text: TextTable) -> TextTable:
    # Cells the formula-injection guard wrote as '=… (rollover, exports) read
    # back as typed, so a district written by the tool reads as it was.
    text.header = [restore_formula_text(c) for c in text.header]
    text.rows = restore_formula_rows(text.rows)
    return text
