"""Reading a district folder or workbook into plain text tables.

This module (with the exporters) is the only one that touches files. It keeps
every cell as text exactly as given, so the validator can quote the value back
to the planner, and it never drops a row or a column: extra columns are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from optimizer.district.contract import CONTRACT, FILES, OPTIONAL_FILES
from optimizer.district.model import InputIssue

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
            out.append(InputIssue(label, 1, column.name, None,
                               f"a column named '{column.name}' ({column.meaning}); "
                               f"found columns: {', '.join(header) or 'none'}"))
            ok = False
    return ok


def _read_csv(table: str, path: Path, out: list[InputIssue]) -> pd.DataFrame | None:
    label = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except UnicodeDecodeError as exc:
        out.append(InputIssue(label, None, None, None,
                           f"a UTF-8 text file (CSV); byte {exc.start} is not UTF-8"))
        return None
    header = [h.strip() for h in header]
    if not _check_header(table, label, header, out):
        return None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            skipinitialspace=False)
    except (pd.errors.ParserError, ValueError) as exc:
        out.append(InputIssue(label, None, None, None, f"a well-formed CSV file: {exc}"))
        return None
    frame.columns = header
    return frame.apply(lambda c: c.str.strip())


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
        if not _check_header(table, label, header, raw.problems):
            continue
        body = [(r + [""] * len(header))[: len(header)] for r in rows[1:]]
        raw.tables[table] = pd.DataFrame(body, columns=header, dtype=str)
        raw.labels[table] = label
    wb.close()


def read_district_files(path: str | Path) -> RawDistrict:
    """Read a district folder (CSV files) or an Excel workbook as text tables.

    Parameters
    ----------
    path
        A folder holding ``schools.csv``, ``educators.csv``, ``students.csv``
        and optionally ``locks.csv`` and ``district.toml``; or an ``.xlsx``
        workbook with sheets of the same names (a ``district.toml`` beside it
        is read too).

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
            raw.sources[f.name] = _sha256(f)
            frame = _read_csv(table, f, raw.problems)
            if frame is not None:
                raw.tables[table] = frame
                raw.labels[table] = f.name
    toml_path = folder / "district.toml"
    if toml_path.exists():
        raw.sources[toml_path.name] = _sha256(toml_path)
        try:
            raw.settings_text = toml_path.read_text("utf-8")
            raw.settings = tomllib.loads(raw.settings_text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raw.problems.append(InputIssue("district.toml", None, None, None,
                                        f"valid TOML: {exc}"))
    return raw


def read_table(path: str | Path, required: tuple[str, ...]) -> tuple[pd.DataFrame | None,
                                                                   list[InputIssue]]:
    """Read one extra CSV (new students, staff changes) as text, checking its header.

    Parameters
    ----------
    path
        The CSV file.
    required
        Columns the file must have.

    Returns
    -------
    tuple of (DataFrame or None, list of InputIssue)
        The table as text, or None with the problems (missing file, missing or
        repeated columns).
    """
    path = Path(path)
    if not path.exists():
        return None, [InputIssue(str(path), None, None, None, "a CSV file: nothing is there")]
    problems: list[InputIssue] = []
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        return None, [InputIssue(path.name, None, None, None, f"a well-formed UTF-8 CSV: {exc}")]
    frame.columns = [c.strip() for c in frame.columns]
    for col in required:
        if col not in frame.columns:
            problems.append(InputIssue(path.name, 1, col, None,
                                    f"a column named '{col}'; found: {', '.join(frame.columns)}"))
    if problems:
        return None, problems
    return frame.apply(lambda c: c.str.strip()), problems
