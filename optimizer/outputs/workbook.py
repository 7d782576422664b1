"""The plan as an Excel workbook a director reviews and a clerk prints.

Written with XlsxWriter in constant-memory mode: each large sheet's rows are
made a column's distinct value at a time (:mod:`optimizer.outputs.xlsx_rows`),
kept in memory (up to 64 MB a sheet, then in a temporary file) and zipped
straight from there. Every text cell goes
through :func:`optimizer.outputs.export.neutralize_formula` and is written as a
string, never a formula; numbers are numbers and dates are dates.

Sheets: Summary, Case managers, Rosters, Changes, Unplaced, Hiring needs, Audit (this
year), and the sheet a planner edits (:mod:`optimizer.outputs.edit_sheet`); a plan of
service providers adds Services and Provider rosters after Rosters
(:mod:`optimizer.outputs.service_sheets`).

A large plan's largest sheets (the service sheets, else the edit sheet and
its lists) can be made in a second process (:func:`sheet_parts`) and put
into the workbook in place of placeholders (``write_workbook(...,
apart=, made_apart=)``): the formats are numbered before any sheet, so the
bytes are the same as in one process (docs/exports.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xlsxwriter

from optimizer.district.bulk import without_collector_pauses
from optimizer.district.cap_sources import CHANGE_HINT
from optimizer.district.model import CHANGES_SOURCE
from optimizer.outputs.edit_sheet import (
    EDIT_SHEET,
    LISTS_SHEET,
    edit_sheet_placeholders,
    write_edit_sheet,
)
from optimizer.outputs.outfolder import atomic_file, source_date
from optimizer.outputs.redaction import redacted
from optimizer.outputs.service_sheets import (
    SERVICE_SHEETS,
    caseload_columns,
    column_map,
    has_services,
    hiring_columns,
    looked_up,
    service_sheet_placeholders,
    service_summary_rows,
    write_service_sheets,
)
from optimizer.outputs.xlsx_rows import (
    Distinct,
    SheetPart,
    close_workbook,
    deflate_threads,
    discard_row_files,
    distinct,
    guarded_text,
    may_be_part,
    sheet_part,
    spool_rows,
    write_rows,
)
from optimizer.planning.result import PlanTables, plan_title

__all__ = ["SHEETS", "SheetParts", "sheet_parts", "write_workbook"]

#: This year's assignments that break a rule (audit.csv).
AUDIT_SHEET = "Audit (this year)"
SHEETS = ("Summary", "Case managers", "Rosters", "Changes", "Unplaced", "Hiring needs",
          AUDIT_SHEET, EDIT_SHEET)

# Excel allows at most 1,023 manual page breaks per sheet.
_MAX_PAGE_BREAKS = 1023


class _Writer:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.wb = wb
        self.header = wb.add_format({"bold": True, "bg_color": "#DDE4EE", "text_wrap": True,
                                     "valign": "top", "border": 1})
        self.date = wb.add_format({"num_format": "yyyy-mm-dd"})
        self.pct = wb.add_format({"num_format": "0.0%"})
        self.ratio = wb.add_format({"num_format": "0.00"})
        # FTE and loads: Excel's General shows 1 and 0.5 (with "0.##", a whole
        # number showed as "1." in Excel; LibreOffice hides the point).
        self.num = wb.add_format({"num_format": "General"})
        self.bold = wb.add_format({"bold": True})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        # Conditional formats: the load ratio's colours (under 80% green,
        # 80-100% amber, at or over the cap red), a provider's total row.
        self.green = wb.add_format({"bg_color": "#C6EFCE"})
        self.amber = wb.add_format({"bg_color": "#FFEB9C"})
        self.red = wb.add_format({"bg_color": "#FFC7CE", "bold": True})
        self.total_row = wb.add_format({"bold": True, "top": 1})
        #: Called with each sheet :meth:`table` has finished (sheet_parts:
        #: its member made meanwhile), or None.
        self.finished: Callable[[Any], None] | None = None
        # Numbered now, not as cells first use them: a sheet's cells then refer
        # to the same numbers whichever sheets come before it, so a sheet made
        # in a second process fits (sheet_parts). (Formats made after
        # this, as the edit sheet's, are numbered as cells use them.)
        for f in (self.header, self.date, self.pct, self.ratio, self.num, self.bold, self.title):
            f._get_xf_index()
        for f in (self.red, self.amber, self.green, self.total_row):
            f._get_dxf_index()

    @staticmethod
    def _fast(ws: Any, method: str) -> Callable[..., Any]:
        # XlsxWriter's cell methods are wrapped to accept "A1" notation; we
        # always pass row and column numbers, so call the wrapped method itself
        # (about a fifth faster on a 100,000-row roster).
        bound = getattr(ws, method)
        inner = getattr(getattr(type(ws), method), "__wrapped__", None)
        return bound if inner is None else inner.__get__(ws)

    def _column(self, ws: Any, series: pd.Series,
                kind: str) -> tuple[Callable[..., Any], list[Any] | Distinct, Any]:
        """(write method, values with None for blank, format) for one column."""
        # Text and dates converted once per distinct value (a column repeats a few).
        if kind == "text":
            # str of each value, blank for NA or "" (the text as the CSVs have it).
            return self._fast(ws, "write_string"), guarded_text(_text(series)), None
        if kind == "date":
            parsed = pd.to_datetime(series.astype(object).where(series != "", None),
                                    format="%Y-%m-%d", errors="coerce")
            dates = distinct(parsed, lambda v: v.to_pydatetime())
            return self._fast(ws, "write_datetime"), dates, self.date
        if kind == "bool":
            return self._fast(ws, "write_boolean"), [bool(v) for v in series.tolist()], None
        numbers = pd.to_numeric(series, errors="coerce").astype(float)
        # NaN and infinities (a damaged summary.json) -> blank: Excel has no such numbers.
        values = [v if math.isfinite(v) else None for v in numbers.tolist()]
        fmt = {"int": None, "num": self.num, "ratio": self.ratio, "pct": self.pct}[kind]
        return self._fast(ws, "write_number"), values, fmt

    def table(self, name: str, frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]],
              after_header: Callable[[Any, int], None] | None = None,
              breaks: Sequence[int] = ()) -> Any:
        """One sheet: a header row (frozen, filtered) and a row per record.

        ``columns`` is (column in frame, header shown, kind).
        """
        ws = self.wb.add_worksheet(name)
        spool_rows(ws)
        # Convert each column once (text and dates once per distinct value).
        headers = [h for _, h, _ in columns]
        widths = [max(10, min(60, len(h) + 2)) for h in headers]
        cols = []
        for c, (col, _, kind) in enumerate(columns):
            if kind != "text":
                cols.append(self._column(ws, frame[col], kind))
            else:
                text = _text(frame[col])  # written, and measured for the column's width
                cols.append((self._fast(ws, "write_string"), guarded_text(text), None))
                if len(frame):
                    longest = _text_lengths(text).quantile(0.95)
                    widths[c] = int(max(widths[c], min(60, longest + 2)))
            if kind == "date":
                widths[c] = max(widths[c], 12)
            ws.set_column(c, c, widths[c])
        for c, h in enumerate(headers):
            ws.write_string(0, c, h, self.header)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
        ws.repeat_rows(0)
        if after_header:
            after_header(ws, len(frame))
        # Stream the rows: blanks are simply not written.
        if write_rows(ws, 1, [(_ROW_KIND.get(kind, "number"), values, fmt)
                              for (_, _, kind), (_, values, fmt) in zip(columns, cols,
                                                                         strict=True)]):
            cols = []  # written: the same bytes, without XlsxWriter's per-cell calls
        by_row = [(write, values.take() if isinstance(values, Distinct) else values, fmt)
                  for write, values, fmt in cols]
        for r in range(len(frame) if by_row else 0):
            row = r + 1
            for c, (write, cells, fmt) in enumerate(by_row):
                v = cells[r]
                if v is not None:
                    write(row, c, v, fmt)
        if breaks:
            ws.set_h_pagebreaks(list(breaks)[:_MAX_PAGE_BREAKS])
        if self.finished is not None:
            self.finished(ws)
        return ws


def _text(column: pd.Series) -> Distinct:
    """A text column as the CSVs have it: str of each value, NA blank."""
    return distinct(column.astype(str))


def _text_lengths(text: Distinct) -> pd.Series:
    """``column.astype(str).str.len()`` (NA skipped) from :func:`_text`, each
    distinct text measured once."""
    lengths = np.array([len(v) for v in text.values] + [0], dtype=float)
    return pd.Series(lengths.take(text.codes[text.codes >= 0]))


#: A table column's kind -> how :func:`write_rows` writes it.
_ROW_KIND = {"text": "string", "date": "datetime", "bool": "boolean"}


def _names(tables: PlanTables, redact: bool) -> dict[str, str]:
    cl = tables.caseloads
    if redact or "name" not in cl.columns:
        return {e: e for e in cl["educator_id"]}
    return dict(zip(cl["educator_id"].tolist(), cl["name"].tolist(), strict=True))


def _school_list(schools: pd.Series, school_names: Mapping[str, str]) -> pd.Series:
    """"SCH0001;SCH0002" -> "Lincoln Elementary; Jefferson Middle": an itinerant's
    schools in one cell, so the educator is listed once (ids stay in *Schools*)."""
    def one(cell: object) -> str:
        ids = [i for i in str(cell if isinstance(cell, str) else "").split(";") if i]
        return "; ".join(school_names.get(i) or i for i in ids)
    return schools.map(one)


#: zlib level of the parts zipped into the workbook. XlsxWriter leaves it at
#: zlib's default (6), which took a quarter of a 100,000-student workbook's
#: time; level 1 deflates about three times as fast for about a third more
#: bytes (benchmarks/bench_workbook.py).
DEFLATE_LEVEL = 1


#: The workbook's creation time when no SOURCE_DATE_EPOCH is set (the ZIP epoch,
#: as xlsxwriter uses for the files inside the workbook).
_NO_DATE = dt.datetime(1980, 1, 1)


def _summary_rows(tables: PlanTables, created: str | None) -> list[tuple[str, object, str]]:
    f: Mapping[str, Any] = tables.summary  # summary.json: values by key, types per key
    lr = f.get("load_ratio", {})
    terms = f.get("terms", {})
    weights = f.get("weights", {})
    rows: list[tuple[str, object, str]] = [
        ("District", f.get("district", ""), "text"),
        ("Status", f.get("status", ""), "text"),
        ("Engine (who proved what)", f.get("engine", ""), "text"),
        ("Balance mode", f.get("balance", ""), "text"),
        ("Students", f.get("students", 0), "int"),
        ("Placed", f.get("placed", 0), "int"),
        ("Unplaced", f.get("unplaced", 0), "int"),
        ("Best-practice share (rank 0 among placed)", f.get("best_practice_share", 0), "pct"),
        ("Continuity share (kept this year's case manager)", f.get("continuity_share", 0),
         "pct"),
        ("Highest load ratio", lr.get("max", 0), "ratio"),
        ("Mean load ratio", lr.get("mean", 0), "ratio"),
        ("Std of load ratio", lr.get("std", 0), "ratio"),
        ("Objective (points, lower is better)", f.get("objective", 0), "num"),
        *[(f"  term: {k}", v, "num") for k, v in terms.items()],
        ("Bound", f.get("bound", 0), "num"),
        ("Gap", f.get("gap", 0), "pct"),
        ("Rule pack", f.get("rule_pack", ""), "text"),
        *[(f"  weight: {k}", ", ".join(map(str, v)) if isinstance(v, list) else v,
           "text" if isinstance(v, list) else "num") for k, v in weights.items()],
        # (A figure of the case-manager solver: a service plan has none, not 0.)
        *([("Connected components", f["components"], "int")] if "components" in f else []),
    ]
    # Times only when the plan or the caller gives one (SOURCE_DATE_EPOCH).
    if f.get("made_at"):
        rows.append(("Plan made", str(f["made_at"]).replace("T", " "), "text"))
    if created:
        rows.append(("Workbook written", created, "text"))
    caps = list(f.get("caps", []))
    if caps:
        # Which caps are law and which are local figures, so a local default
        # is never read as a rule (issue 14).
        rows.append(("Caseload caps (full-time, prorated by FTE)",
                     "law = set by statute or regulation; local default = no law, the "
                     "district should set its own; district setting = from district.toml",
                     "text"))
        for c in caps:
            own = int(c.get("educators_with_max_caseload", 0) or 0)
            extra = (f" ({own} educator(s) have their own max_caseload)" if own else "")
            rows.append((f"  cap {c['role']}: {c['kind']}",
                         f"{c['cap']} students — {c['source']}{extra}", "text"))
        rows.append(("  where to change a cap", CHANGE_HINT, "text"))
    for name, digest in dict(f.get("sources", {})).items():
        rows.append(("Changes to the files (a what-if or kept edits)" if name == CHANGES_SOURCE
                     else f"Input file {name} (SHA-256)", digest, "text"))
    return rows


# A few million short-lived texts and lists and no reference cycles: the cyclic
# collector's passes walked the whole planning process's objects over and over
# (100,000 students, after planning: 3.3 -> 2.5 CPU s; district/bulk.py).
@without_collector_pauses
def write_workbook(tables: PlanTables, path: str | Path, *, redact: bool = False,
                   created: str | None = None, eligible: pd.DataFrame | None = None,
                   apart: Literal["services", "edit"] | None = None,
                   made_apart: Callable[[], SheetParts | None] | None = None) -> Path:
    """Write the plan workbook (written beside ``path`` and renamed into place).

    Parameters
    ----------
    tables
        ``Result.tables()`` or :func:`optimizer.outputs.plan_folder.read_plan`.
    path
        The ``.xlsx`` file to write.
    redact
        Replace educator names with their ids (for sharing outside the office).
    created
        Timestamp shown on the Summary sheet (default: ``SOURCE_DATE_EPOCH``
        when set, else none: the same plan gives the same bytes).
    eligible
        The edge table (:func:`optimizer.graph.edge_table`): each student's
        case-manager cell on the *Edit case managers* sheet gets a drop-down
        of exactly these educators. None: that sheet has no drop-downs.
    apart, made_apart
        A group of sheets made in a second process (the same bytes):
        ``"services"``, the Services and Provider rosters sheets, or
        ``"edit"``, the edit sheet and its lists; ``made_apart()`` (called
        once this workbook's other sheets are written) returns them
        (:func:`sheet_parts`), or None when they were not made there: they
        are then written here.

    Returns
    -------
    Path
        The workbook written.

    Examples
    --------
    >>> write_workbook(plan(district).tables(), "plan.xlsx")   # doctest: +SKIP
    """

    tables, names, created = _prepared(tables, redact, created)
    if apart is not None and made_apart is not None and _sheets_of(apart, tables, eligible):
        with contextlib.suppress(_NotMadeApart):  # (then written here, below)
            with atomic_file(Path(path)) as tmp:
                _write(tables, names, created, eligible, tmp, apart, made_apart)
            return Path(path)
    with atomic_file(Path(path)) as tmp:
        _write(tables, names, created, eligible, tmp, None, None)
    return Path(path)


def _prepared(tables: PlanTables, redact: bool,
              created: str | None) -> tuple[PlanTables, dict[str, str], str | None]:
    """The tables (redacted), educator names and creation time the sheets show."""
    stamp = source_date()
    if created is None and stamp is not None:
        created = stamp.strftime("%Y-%m-%d %H:%M UTC")
    if redact:
        tables = redacted(tables)  # lock reasons too, not only the names
    return tables, _names(tables, redact), created


#: How the workbook is written (constant memory: rows streamed, not kept).
_OPTIONS = {"constant_memory": True, "strings_to_formulas": False,
            "strings_to_numbers": False, "strings_to_urls": False}


class _NotMadeApart(Exception):
    """The sheets made in the second process do not fit this workbook."""


def _sheets_of(apart: str, tables: PlanTables, eligible: pd.DataFrame | None) -> list[str]:
    """The sheets of a group (see :func:`write_workbook`), as this plan has them."""
    if apart == "services":
        return list(SERVICE_SHEETS) if has_services(tables) else []
    return [EDIT_SHEET] + ([LISTS_SHEET] if eligible is not None else [])


def _sheets_before(apart: str, tables: PlanTables) -> list[str]:
    """The sheets before a group, in the workbook's order."""
    rosters = SHEETS.index("Rosters") + 1
    if apart == "services":
        return list(SHEETS[:rosters])
    return [*SHEETS[:rosters], *_sheets_of("services", tables, None),
            *SHEETS[rosters:SHEETS.index(EDIT_SHEET)]]


def _write(tables: PlanTables, names: dict[str, str], created: str | None,
           eligible: pd.DataFrame | None, path: Path, apart: str | None,
           made_apart: Callable[[], SheetParts | None] | None) -> None:
    wb = xlsxwriter.Workbook(str(path), _OPTIONS)
    try:
        # docProps/core.xml: a fixed creation time unless SOURCE_DATE_EPOCH
        # gives one (xlsxwriter would write the clock time).
        wb.set_properties({"created": (source_date() or _NO_DATE).replace(tzinfo=None)})
        w = _Writer(wb)
        if apart is None or made_apart is None:
            _fill(wb, w, tables, names, created, eligible)
            close_workbook(wb, DEFLATE_LEVEL)
            return
        # This process's large sheets made into their members as each is
        # finished, as sheet_parts does in the second process: the close then
        # only zips. Before, they were deflated at the close, after the second
        # process's sheets had come: 0.3-0.5 s at 100,000 students in which
        # that process had ended and this one deflated alone. (A sheet with
        # parts of its own is zipped at the close, as before.)
        with _members_as_finished(w) as own:
            placeholders, formats = _fill(wb, w, tables, names, created, eligible, apart)
            # Asked for last: the second process made them meanwhile.
            made = made_apart()
            try:
                parts = [(ws, own[ws.name].result()) for ws in wb.worksheets()
                         if ws.name in own]
            except ValueError as exc:  # (as close_workbook's, below: written again here)
                raise _NotMadeApart from exc
        if made is None or not made.fits(placeholders, formats):
            raise _NotMadeApart
        for ws, (settings, _) in zip(placeholders, made.sheets, strict=True):
            # What the workbook reads of a sheet at close (defined names: its
            # filter and the rows printed on every page).
            for attr, value in settings.items():
                setattr(ws, attr, value)
        try:
            close_workbook(wb, DEFLATE_LEVEL,
                           parts=[*parts, *((ws, part) for ws, (_, part) in zip(
                               placeholders, made.sheets, strict=True))])
        except ValueError as exc:  # (parts this XlsxWriter cannot take)
            raise _NotMadeApart from exc
    finally:
        discard_row_files(wb)  # (a workbook abandoned, or sheets without rows)


def _fill(wb: Any, w: _Writer, tables: PlanTables, names: dict[str, str],
          created: str | None, eligible: pd.DataFrame | None, apart: str | None = None,
          only: bool = False) -> tuple[list[Any], tuple[Any, ...]]:
    """Add the sheets, in order, but the group ``apart`` (see
    :func:`write_workbook`): empty placeholders in its place, for sheets
    made in a second process; with ``only``, that group alone (the sheets
    before it empty). Returns the placeholders (or the group's sheets, with
    ``only``) and the formats numbered (:func:`_numbered_formats`) when the
    group was added."""
    if only:
        # The sheets before them, empty: a sheet's cells do not depend on
        # them (_Writer numbers its formats first), only its place does.
        for name in _sheets_before(str(apart), tables):
            wb.add_worksheet(name)
        made = (write_service_sheets(w, tables, names) if apart == "services"
                else write_edit_sheet(wb, tables, names, w.header, eligible))
        return made, _numbered_formats(wb)
    placeholders: list[Any] = []
    formats: tuple[Any, ...] = ()
    # Names a person reads, beside the ids (from assignments.csv; blank when
    # the plan has none; student names are blank after redaction).
    school_names = column_map(tables.assignments, "school_id", "school_name")
    student_names = column_map(tables.assignments, "student_id", "student_name")
    ws = wb.add_worksheet("Summary")
    ws.set_column(0, 0, 48)
    ws.set_column(1, 1, 70)
    ws.write_string(0, 0, plan_title(tables.summary), w.title)
    rows = _summary_rows(tables, created) + service_summary_rows(tables.summary, names)
    for r, (label, value, kind) in enumerate(rows, start=2):
        ws.write_string(r, 0, label, w.bold)
        # One value of its own kind: converted like a table column's cells.
        write, values, fmt = w._column(ws, pd.Series([value], dtype=object), kind)
        cell = (values.take() if isinstance(values, Distinct) else values)[0]
        if cell is not None:
            write(r, 1, cell, fmt)

    cl = tables.caseloads.copy()
    cl["name"] = cl["educator_id"].map(names)
    cl["school_names"] = _school_list(cl["schools"], school_names)
    cl = cl[cl["cap"].fillna(0) > 0].sort_values(["role", "educator_id"], kind="stable")

    def colour(ws, n):
        # Under 80% green, 80-100% amber, at or over the cap red.
        last = max(n, 1)
        col = 7  # Load ratio
        ws.conditional_format(1, col, last, col, {"type": "cell", "criteria": ">=",
                                                  "value": 1, "format": w.red})
        ws.conditional_format(1, col, last, col, {"type": "cell", "criteria": "between",
                                                  "minimum": 0.8, "maximum": 0.99999,
                                                  "format": w.amber})
        ws.conditional_format(1, col, last, col, {"type": "cell", "criteria": "<",
                                                  "value": 0.8, "format": w.green})

    w.table("Case managers", cl, caseload_columns([
        ("educator_id", "Educator", "text"), ("name", "Name", "text"),
        ("role", "Role", "text"), ("school_names", "School names", "text"),
        ("schools", "Schools", "text"), ("fte", "FTE", "num"),
        ("cap", "Cap", "int"), ("load_ratio", "Load ratio", "ratio"),
        ("load", "Load", "num"), ("students", "Students", "int"),
        ("best_practice_students", "Best-practice students", "int"),
    ], cl), after_header=colour)

    a = tables.assignments
    # One block (and printed page) per case manager: an itinerant's
    # students of every school together, not split into a block per school.
    placed = a[a["case_manager_id"] != ""].sort_values(
        ["case_manager_id", "school_id", "student_id"], kind="stable").copy()
    placed["cm_name"] = looked_up(placed["case_manager_id"], names)
    placed["school_name_"] = looked_up(placed["school_id"], school_names)
    placed["student_name_"] = looked_up(placed["student_id"], student_names)
    change = (placed["case_manager_id"] != placed["case_manager_id"].shift()).to_numpy()
    breaks = (np.flatnonzero(change[1:]) + 2).tolist()  # the sheet row of a new block
    # A printable roster: who, and when their reviews fall (capacity and
    # rank are in assignments.csv and the Changes sheet's reasons).
    w.table("Rosters", placed, [
        ("case_manager_id", "Case manager", "text"),
        ("cm_name", "Case manager name", "text"), ("school_id", "School", "text"),
        ("school_name_", "School name", "text"), ("student_id", "Student", "text"),
        ("student_name_", "Student name", "text"), ("grade", "Grade", "text"),
        ("primary_disability", "Primary disability", "text"),
        ("services", "Services", "text"), ("annual_review", "Annual review", "date"),
        ("triennial_review", "Triennial review", "date"),
    ], breaks=breaks)
    if apart == "services":  # (made in another process: sheet_parts)
        placeholders = service_sheet_placeholders(w, tables)
        formats = _numbered_formats(wb)  # (as they were numbered when the sheets were made)
    else:
        write_service_sheets(w, tables, names)

    changed = a[a["case_manager_id"] != a["current_case_manager_id"]].copy()
    changed["from_name"] = looked_up(changed["current_case_manager_id"], names)
    changed["to_name"] = looked_up(changed["case_manager_id"], names)
    changed["school_name_"] = looked_up(changed["school_id"], school_names)
    changed["student_name_"] = looked_up(changed["student_id"], student_names)
    if "reason_detail" not in changed.columns:
        changed["reason_detail"] = ""
    w.table("Changes", changed, [
        ("student_id", "Student", "text"), ("student_name_", "Student name", "text"),
        ("school_id", "School", "text"), ("school_name_", "School name", "text"),
        ("grade", "Grade", "text"),
        ("current_case_manager_id", "From case manager", "text"),
        ("from_name", "From name", "text"), ("case_manager_id", "To case manager", "text"),
        ("to_name", "To name", "text"), ("reason", "Why", "text"),
        ("reason_detail", "Full reason", "text"),
    ])
    un = tables.unassigned.copy()
    un["school_name_"] = looked_up(un["school_id"], school_names)
    un["student_name_"] = looked_up(un["student_id"], student_names)
    un_cols = [("student_id", "Student", "text"), ("student_name_", "Student name", "text"),
               ("school_id", "School", "text"), ("school_name_", "School name", "text"),
               ("reason", "Why", "text")]
    if "reason_detail" not in un.columns:
        un["reason_detail"] = looked_up(
            un["student_id"], column_map(tables.assignments, "student_id", "reason_detail"))
    if un["reason_detail"].astype(str).str.len().any():
        un_cols.append(("reason_detail", "Full reason", "text"))
    w.table("Unplaced", un, un_cols)
    hn = tables.hiring_needs.copy()
    hn["school_name_"] = looked_up(hn["school_id"], school_names)
    w.table("Hiring needs", hn, hiring_columns([
        ("school_id", "School", "text"), ("school_name_", "School name", "text"),
        ("region", "Region", "text"),
        ("role", "Role", "text"), ("credential", "Credential", "text"),
        ("students", "Students", "int"), ("fte", "FTE", "num")], tables.hiring_needs))
    au = tables.audit.copy()
    au["student_name_"] = looked_up(au["student_id"], student_names)
    au["educator_name_"] = looked_up(au["educator_id"], names)
    # This year's assignments (audit.csv), not the plan's: the sheet says so.
    w.table(AUDIT_SHEET, au, [
        ("kind", "This year's violation", "text"), ("student_id", "Student", "text"),
        ("student_name_", "Student name", "text"), ("educator_id", "Educator", "text"),
        ("educator_name_", "Educator name", "text"), ("detail", "Rule", "text")])
    if apart == "edit":
        placeholders = edit_sheet_placeholders(wb, eligible)
        formats = _numbered_formats(wb)
    else:
        write_edit_sheet(wb, tables, names, w.header, eligible)
    return placeholders, formats


@dataclass(frozen=True)
class SheetParts:
    """A group of sheets of a workbook (see :func:`write_workbook`), made in
    another process by :func:`sheet_parts`.

    ``sheets``: per sheet, what the workbook reads of it at close and its
    zip member; ``formats``: the workbook's numbered formats after them
    (the cells refer to formats by number: the workbook they go into must
    have numbered the same).
    """

    names: tuple[str, ...]
    sheets: tuple[tuple[dict[str, Any], SheetPart], ...]
    formats: tuple[Any, ...]

    def fits(self, placeholders: Sequence[Any], formats: tuple[Any, ...]) -> bool:
        """Whether these sheets go in place of ``placeholders``, added where
        the workbook had numbered ``formats`` (:func:`_fill`)."""
        return self.names == tuple(ws.name for ws in placeholders) and self.formats == formats


#: A sheet's settings the workbook reads at close (its defined names; whether
#: it is hidden, as the edit sheet's lists are).
_READ_AT_CLOSE = ("autofilter_area", "print_area_range", "repeat_row_range", "repeat_col_range",
                  "hidden")


def _numbered_formats(wb: Any) -> tuple[Any, ...]:
    return (len(wb.formats), tuple(wb.xf_format_indices.items()),
            tuple(wb.dxf_format_indices.items()))


@without_collector_pauses
def sheet_parts(tables: PlanTables, apart: Literal["services", "edit"], *, redact: bool = False,
                created: str | None = None, eligible: pd.DataFrame | None = None,
                folder: str | None = None) -> SheetParts | None:
    """A group of sheets of :func:`write_workbook`'s workbook, made apart: in a
    second process while the first writes the CSV files and the other sheets
    (``write_workbook(..., apart=, made_apart=)``). ``apart``:
    ``"services"``, the Services and Provider rosters sheets (None without
    services), or ``"edit"``, the edit sheet and its lists.

    The sheets before them are left empty here: the cells refer to formats
    the workbook numbers before any sheet (``_Writer``), the same as in one
    process; :meth:`SheetParts.fits` checks it. Temporary files go to
    ``folder`` (default: a temporary folder removed on return); a caller
    that may kill this process gives one and removes it.

    Examples
    --------
    >>> parts = sheet_parts(tables, "services")                   # doctest: +SKIP
    >>> write_workbook(tables, "plan.xlsx", apart="services",
    ...                made_apart=lambda: parts)                   # doctest: +SKIP
    """
    tables, names, created = _prepared(tables, redact, created)
    if not _sheets_of(apart, tables, eligible):
        return None
    with (contextlib.nullcontext(folder) if folder is not None
          else tempfile.TemporaryDirectory()) as tmp:
        # Never closed: its temporary files go with the folder.
        wb = xlsxwriter.Workbook(os.path.join(tmp, "unused.xlsx"), {**_OPTIONS, "tmpdir": tmp})
        w = _Writer(wb)
        # This process is the one the workbook waits for: at 100,000 students
        # the Services sheet's member (0.4 s) is made while the rosters are.
        try:
            with _members_as_finished(w) as made:
                sheets, formats = _fill(wb, w, tables, names, created, eligible, apart,
                                        only=True)
                parts = tuple(
                    ({a: getattr(ws, a) for a in _READ_AT_CLOSE},
                     made[ws.name].result() if ws.name in made
                     else sheet_part(ws, DEFLATE_LEVEL))
                    for ws in sheets)
            return SheetParts(tuple(ws.name for ws in sheets), parts, formats)
        finally:
            discard_row_files(wb)  # (after the threads: their files were in use)


@contextlib.contextmanager
def _members_as_finished(w: _Writer) -> Iterator[dict[str, Future[SheetPart]]]:
    """Within the block, each sheet the table writer finishes that may be a
    part (:func:`~optimizer.outputs.xlsx_rows.may_be_part`) is made into its
    zip member (:func:`~optimizer.outputs.xlsx_rows.sheet_part`, its XML
    deflated) in a thread while the next sheet is written: the deflater
    (ISA-L or zlib) lets go of the interpreter. The members by sheet name;
    none where there is no second core
    (:func:`~optimizer.outputs.xlsx_rows.deflate_threads`). The thread has
    ended when the block is left."""
    made: dict[str, Future[SheetPart]] = {}
    with ThreadPoolExecutor(1) if deflate_threads() else contextlib.nullcontext() as pool:

        def finished(ws: Any) -> None:
            if pool is not None and may_be_part(ws):
                made[ws.name] = pool.submit(sheet_part, ws, DEFLATE_LEVEL)

        w.finished = finished
        try:
            yield made
        finally:
            w.finished = None
