"""The workbook's editable sheet: the plan a planner changes in Excel and gives back.

``plan.xlsx`` has a sheet **Edit case managers** with one row per student. Its
*Case manager* cell is where a planner changes the plan; when the workbook is
written with the district's eligibility (``caseload plan`` does), that cell
has a drop-down (Excel data validation, list type) of exactly the educators
the rules allow for that student. A hidden last column keeps what the plan
chose, so the workbook alone says what the planner changed
(``caseload plan DISTRICT --keep plan.xlsx``) and ``caseload check DISTRICT
plan.xlsx`` checks the edited sheet like a plan folder.

Excel limits a list typed into a validation to 255 characters, so each list
is a row of the hidden sheet **Eligible case managers**: one row per
*eligibility profile* (students with the same eligible educators share one
row and one validation rule), the profile's educators across the row from
column B (column A counts the students who share it). The choices read
``E00007 — Ana Lopez``; the reader takes the id before `` — ``, and a bare
id typed by hand works too.

This module writes the sheets (with XlsxWriter, from
:func:`optimizer.outputs.workbook.write_workbook`) and reads them back (with
openpyxl, already the dependency that reads district workbooks).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from optimizer.arraysets import stable_order
from optimizer.district.model import InputIssue
from optimizer.district.textsafe import neutralize_formula, restore_formula_text
from optimizer.outputs.service_sheets import (
    MINUTES_HEADER,
    PROVIDER_HEADER,
    SERVICE_HEADER,
    SERVICE_SHEETS,
)
from optimizer.outputs.xlsx_rows import Column, distinct, guarded_text, spool_rows, write_rows
from optimizer.planning.result import RANK_LABEL, PlanTables

__all__ = ["EDIT_SHEET", "LISTS_SHEET", "PLANNED_HEADER", "CASE_MANAGER_HEADER",
           "PROVIDER_HEADER", "SERVICES_SHEET", "choice_label", "edit_sheet_placeholders",
           "eligible_lists", "read_edit_sheet", "read_services_sheet", "services_location",
           "sheet_location", "write_edit_sheet"]

EDIT_SHEET = "Edit case managers"
LISTS_SHEET = "Eligible case managers"
STUDENT_HEADER = "Student"
CASE_MANAGER_HEADER = "Case manager"
PLANNED_HEADER = "Plan's case manager (do not edit)"
#: A service plan's Services sheet: its Provider column may be edited, and
#: ``plan --keep`` reads it back (the names service_sheets.py writes).
SERVICES_SHEET = SERVICE_SHEETS[0]

#: (header, width) of the editable sheet, in order; the last column is hidden.
_COLUMNS = ((STUDENT_HEADER, 12), ("School", 12), ("Grade", 10), (CASE_MANAGER_HEADER, 34),
            ("This year's case manager", 34), ("Fit", 28), ("Why", 60), (PLANNED_HEADER, 14))
_CM_COL = 3
#: Between an educator's id and name in a drop-down choice.
SEPARATOR = " — "


def choice_label(educator_id: str, name: str | None) -> str:
    """The drop-down text for one educator: ``id — name`` (the id alone when
    there is no name, or names are redacted to ids).

    Examples
    --------
    >>> choice_label("E00007", "Ana Lopez")
    'E00007 — Ana Lopez'
    >>> choice_label("E00007", "E00007")
    'E00007'
    """
    if not name or name == educator_id:
        return educator_id
    return f"{educator_id}{SEPARATOR}{name}"


def _chosen_id(text: str) -> str:
    # "E00007 — Ana Lopez" or a bare "E00007" typed by hand.
    return text.split(SEPARATOR, 1)[0].strip()


def eligible_lists(edges: pd.DataFrame, student_ids: list[str]
                   ) -> tuple[list[tuple[str, ...]], dict[str, int]]:
    """Group students by their eligible educators (an *eligibility profile*).

    Parameters
    ----------
    edges
        The edge table (``student_id``, ``educator_id``; e.g.
        :func:`optimizer.graph.edge_table`); its educator order is kept.
    student_ids
        The students of the sheet.

    Returns
    -------
    (profiles, profile_of)
        Distinct eligible lists in first-seen order, and each student's index
        into them (students with no eligible educator are left out).

    Examples
    --------
    >>> e = pd.DataFrame({"student_id": ["S1", "S2", "S2"], "educator_id": ["E1", "E1", "E2"]})
    >>> eligible_lists(e, ["S1", "S2", "S3"])
    ([('E1',), ('E1', 'E2')], {'S1': 0, 'S2': 1})
    """
    # A 100,000-student district has ~1.4 million edges: no Python per edge.
    # Each student's educators are one run of the edges, in edge order (the
    # edge table lists a student's edges together; otherwise a stable sort
    # by student makes it so).
    sids = np.asarray(edges["student_id"].astype(str), dtype=object)
    eids = np.asarray(edges["educator_id"].astype(str), dtype=object)
    if len(sids):
        starts = np.flatnonzero(np.concatenate(([True], sids[1:] != sids[:-1])))
        if not pd.Index(sids[starts]).is_unique:
            by = stable_order(pd.factorize(sids)[0])
            sids, eids = sids[by], eids[by]
            starts = np.flatnonzero(np.concatenate(([True], sids[1:] != sids[:-1])))
    else:
        starts = np.zeros(0, dtype=np.intp)
    ends = np.append(starts[1:], len(sids)).tolist()
    educators = eids.tolist()
    run_of = dict(zip(sids[starts].tolist(), zip(starts.tolist(), ends, strict=True),
                      strict=True))
    index: dict[tuple[str, ...], int] = {}
    profile_of: dict[str, int] = {}
    for sid in student_ids:
        run = run_of.get(sid)
        if run is not None:  # else: no eligible educator
            profile_of[sid] = index.setdefault(tuple(educators[run[0]:run[1]]), len(index))
    return list(index), profile_of


def _col_letter(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _ranges(rows: list[int], col: str) -> str:
    """``D2:D5 D9`` for sheet rows (1-based), runs merged, for one validation."""
    out: list[str] = []
    start = prev = rows[0]
    for r in [*rows[1:], -1]:
        if r == prev + 1:
            prev = r
            continue
        out.append(f"{col}{start}" if start == prev else f"{col}{start}:{col}{prev}")
        start = prev = r
    return " ".join(out)


def _plain_formulas(ws: Any) -> None:
    """Let ``ws`` skip XlsxWriter's search for newer Excel functions in formulas
    that call none.

    XlsxWriter runs ~155 regular expressions over each drop-down's list formula
    to spell newer functions the way Excel stores them (``FILTER(`` ->
    ``_xlfn._xlws.FILTER(``); every one of them needs a ``(``, which a range
    like ``='Eligible case managers'!$B$2:$K$2`` has none of. A 100,000-student
    workbook has ~1,000 lists: about 0.15 s. A formula with a ``(`` still goes
    through XlsxWriter; the rest are stripped of ``{``, ``=`` and ``}`` as it does.
    """
    real = ws._prepare_formula

    def prepare(formula: str, expand_future_functions: bool = False) -> str:
        if "(" in formula:
            return str(real(formula, expand_future_functions))
        if formula.startswith("{"):
            formula = formula[1:]
        if formula.startswith("="):
            formula = formula[1:]
        if formula.endswith("}"):
            formula = formula[:-1]
        return formula

    ws._prepare_formula = prepare


def write_edit_sheet(wb: Any, tables: PlanTables, names: Mapping[str, str],
                     header: Any, eligible: pd.DataFrame | None = None) -> list[Any]:
    """Add the editable sheet (and, with ``eligible``, the drop-downs and their
    lists); returns the sheets added.

    Parameters
    ----------
    wb
        An open ``xlsxwriter.Workbook``.
    tables
        The plan's tables (redacted already when names are to be hidden).
    names
        educator_id -> the name shown in choices (the id when redacted).
    header
        The header cell format.
    eligible
        The edge table (``student_id``, ``educator_id``): each student's
        drop-down lists exactly these educators. None: no drop-downs (the
        plan folder alone does not know the rules; ``caseload plan`` passes it).

    Examples
    --------
    >>> write_edit_sheet(wb, result.tables(), names, fmt, edge_table(district))  # doctest: +SKIP
    """
    a = tables.assignments.sort_values(["school_id", "case_manager_id", "student_id"],
                                       kind="stable")
    students = a["student_id"].astype(str).tolist()

    def label(eid: str) -> str:
        return choice_label(eid, names.get(eid)) if eid else ""

    ws = wb.add_worksheet(EDIT_SHEET)
    spool_rows(ws)
    for c, (h, width) in enumerate(_COLUMNS):
        ws.set_column(c, c, width, None, {"hidden": h == PLANNED_HEADER})
        ws.write_string(0, c, h, header)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(a), 1), len(_COLUMNS) - 1)
    ws.repeat_rows(0)
    # Each distinct id, rank and reason converted once (a column is mostly repeats).
    cm = a["case_manager_id"].fillna("").astype(str)
    labelled = {c: distinct(a[c].fillna("").astype(str), label)
                for c in ("case_manager_id", "current_case_manager_id")}
    ranks = pd.to_numeric(a["rank"], errors="coerce").astype(float)
    fit = distinct(ranks, lambda rank: RANK_LABEL.get(int(rank), ""))  # NA: unplaced
    by_column = [guarded_text(values) for values in (
        students, a["school_id"].astype(str), a["grade"].astype(str),
        labelled["case_manager_id"], labelled["current_case_manager_id"], fit,
        a["reason"].fillna("").astype(str), cm)]
    if not write_rows(ws, 1, [("string", values, None) for values in by_column]):
        for r, row in enumerate(zip(*(c.take() for c in by_column), strict=True),
                                start=1):  # row by row
            for c, v in enumerate(row):
                if v is not None:
                    ws.write_string(r, c, v)
    if eligible is None:
        return [ws]
    profiles, profile_of = eligible_lists(eligible, students)
    lists = wb.add_worksheet(LISTS_SHEET)
    spool_rows(lists)  # (its rows zipped from memory, or made in a second process)
    lists.hide()
    lists.write_string(0, 0, "Students")
    lists.write_string(0, 1, "Eligible case managers (one row per group of students "
                             "with the same choices)")
    rows_of: dict[int, list[int]] = {}
    for r, sid in enumerate(students, start=2):
        if sid in profile_of:
            rows_of.setdefault(profile_of[sid], []).append(r)
    # The lists, a row per profile: the count, then the choices (each educator's
    # label made once).
    labels = {eid: neutralize_formula(label(eid)) for eid in {e for p in profiles for e in p}}
    widest = max((len(p) for p in profiles), default=0)
    list_columns: list[Column] = [("number", [float(len(rows_of[p])) for p in
                                              range(len(profiles))], None)]
    list_columns += [("string", [labels[p[c]] if c < len(p) else None for p in profiles], None)
                     for c in range(widest)]
    if not write_rows(lists, 1, list_columns):
        for p, choices in enumerate(profiles, start=1):
            lists.write_number(p, 0, len(rows_of[p - 1]))
            for c, eid in enumerate(choices, start=1):
                lists.write_string(p, c, labels[eid])
    col = _col_letter(_CM_COL)
    _plain_formulas(ws)
    for p, choices in enumerate(profiles, start=1):
        source = (f"='{LISTS_SHEET}'!$B${p + 1}:${_col_letter(len(choices))}${p + 1}")
        cells = _ranges(rows_of[p - 1], col)
        ws.data_validation(rows_of[p - 1][0] - 1, _CM_COL, rows_of[p - 1][0] - 1, _CM_COL, {
            "validate": "list", "source": source, "multi_range": cells,
            "error_title": "Not eligible",
            "error_message": "The rules do not allow this educator as this student's case "
                             "manager. Pick one from the list.",
            "input_title": "Case manager", "input_message": "Pick from the eligible educators.",
        })
    return [ws, lists]


def edit_sheet_placeholders(wb: Any, eligible: pd.DataFrame | None = None) -> list[Any]:
    """Empty sheets in place of :func:`write_edit_sheet`'s, for the sheets made
    in a second process (:func:`optimizer.outputs.workbook.sheet_parts`).

    Examples
    --------
    >>> [ws.name for ws in edit_sheet_placeholders(wb, eligible)]   # doctest: +SKIP
    ['Edit case managers', 'Eligible case managers']
    """
    names = [EDIT_SHEET] + ([LISTS_SHEET] if eligible is not None else [])
    return [wb.add_worksheet(name) for name in names]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id a spreadsheet turned into a number
    text = str(value).strip()
    # (Only a text starting with the guard's apostrophe can change: the
    # others skip the regular expression, half a million cells at 100,000.)
    return restore_formula_text(text) if text.startswith("'") else text


def _sheet_rows(path: Path, sheet: str, how: str
                ) -> tuple[list[list[Any]] | None, list[str], InputIssue | None]:
    """One sheet of a workbook as rows of cell values (a blank cell is ``""``,
    a number a float), from its first row, so that row numbers are the
    sheet's; None when there is no such sheet, with the sheets' names; or
    the problem when the file cannot be opened.

    Read with calamine (python-calamine): a 100,000-student plan's sheets
    take 1-2 s where openpyxl's read-only mode took 14-26 s.
    """
    # Here, not at the top: it loads only when a workbook is read back.
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        return None, [], InputIssue(str(path), None, None, None,
                                    f"{how}; it cannot be opened as .xlsx ({exc})")
    try:
        names = list(wb.sheet_names)
        if sheet not in names:
            return None, names, None
        try:
            rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except (CalamineError, ValueError) as exc:
            return None, names, InputIssue(str(path), None, None, None,
                                           f"{how}; its sheet '{sheet}' cannot be read ({exc})")
    finally:
        wb.close()
    # calamine reads an error cell (#N/A, #REF!: a formula the planner typed)
    # as blank, which would read as a cleared cell: those cells are given
    # their error text from the sheet's XML, to be refused as what they are.
    for (r, c), text in _error_cells(path, sheet).items():
        if r < len(rows):
            row = rows[r]
            if c >= len(row):
                row.extend([""] * (c + 1 - len(row)))
            row[c] = text
    return rows, names, None


# A cell, self-closing or not, with any namespace prefix; its reference; its
# value; whether it holds a formula.
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
_REF = re.compile(rb"""\br=["']([A-Z]+)([0-9]+)["']""")
_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)", re.DOTALL)
_ROW_REF = re.compile(rb"""\br=["']([0-9]+)["']""")
_ERROR = re.compile(rb"""\bt=["']e["']""")
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
# What every match of _ERROR holds, without its word boundary: searched first,
# as a boundary is tried at every byte (0.6 s against 0.06 on a 93 MB sheet).
_ERROR_LOOSE = re.compile(rb"""t=["']e["']""")
#: The bytes \w matches in a bytes pattern (letters, digits, underscore).
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _may_hold_formula(data: bytes) -> bool:
    """False only where _FORMULA cannot match: no "<f" or ":f" that ends a word
    (a sheet's few "<formula>" of conditional formats do not), found by
    substring search, not by trying the pattern at every "<" (0.4 s on 93 MB)."""
    for needle in (b"<f", b":f"):
        at = data.find(needle)
        while at >= 0:
            after = at + len(needle)
            if after == len(data) or data[after] not in _WORD_BYTES:
                return True
            at = data.find(needle, after)
    return False
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_DOC_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _error_cells(path: Path, sheet: str) -> dict[tuple[int, int], str]:
    """(row, column) from 0 -> the text to read for each cell of ``sheet`` in
    an .xlsx file that calamine reads as blank though it is not: an error
    (#N/A, #REF!) and a formula with no saved result (a tool that does not
    compute formulas saved it) ({} when there is none, or not an .xlsx zip)."""
    try:
        with zipfile.ZipFile(path) as zf:
            book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
            rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
            target = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_RELS}Relationship")}
            rid = next((s.get(_DOC_REL) for s in book.iter(f"{_MAIN}sheet")
                        if s.get("name") == sheet), None)
            part = target.get(rid, "")
            if not part:
                return {}
            part = part.lstrip("/") if part.startswith("/") else f"xl/{part}"
            data = zf.read(part)
    except (zipfile.BadZipFile, KeyError, OSError, ElementTree.ParseError):
        return {}
    if not ((_ERROR_LOOSE.search(data) and _ERROR.search(data))
            or (_may_hold_formula(data) and _FORMULA.search(data))):
        return {}
    out: dict[tuple[int, int], str] = {}
    row = -1
    for rm in _ROW.finditer(data):
        # A row or a cell without r follows the one before it.
        r_at = _ROW_REF.search(rm.group(1))
        row = int(r_at.group(1)) - 1 if r_at else row + 1
        col = -1
        for m in _CELL.finditer(rm.group(2) or b""):
            attrs, inner = m.group(1), m.group(2) or b""
            ref = _REF.search(attrs)
            if ref is not None:
                col = 0
                for ch in ref.group(1):
                    col = col * 26 + ch - 64
                col -= 1
            else:
                col += 1
            value = _VALUE.search(inner)
            if _ERROR.search(attrs):
                out[(row, col)] = (value.group(1).decode("utf-8", "replace")
                                   if value and value.group(1) else "#ERROR")
            elif (value is None or not value.group(1)) and _FORMULA.search(inner):
                out[(row, col)] = "#FORMULA (no saved result: open and save it in Excel)"
    return out


def read_edit_sheet(path: str | Path) -> tuple[pd.DataFrame | None, list[InputIssue]]:
    """Read the *Edit case managers* sheet of a plan workbook.

    Parameters
    ----------
    path
        A ``plan.xlsx`` written by ``caseload plan`` (possibly edited).

    Returns
    -------
    tuple of (DataFrame or None, list of InputIssue)
        Columns ``student_id``, ``case_manager_id`` (the chosen id, blank for
        none), ``planned_case_manager_id`` (what the plan had; blank when the
        hidden column was removed) and ``row`` (the sheet row). None with
        every problem (sheet, row, column, value, expected) when unreadable.
        ``frame.attrs`` holds ``sheet`` (the label used in messages) and
        ``columns`` (header -> column letter).

    Examples
    --------
    >>> frame, problems = read_edit_sheet("plan/plan.xlsx")   # doctest: +SKIP
    """
    path = Path(path)
    how = "a plan workbook written by `caseload plan` (plan.xlsx)"
    if not path.is_file():
        return None, [InputIssue(str(path), None, None, None, f"{how}: no such file")]
    sheet_rows, names, problem = _sheet_rows(path, EDIT_SHEET, how)
    if problem is not None:
        return None, [problem]
    if sheet_rows is None:
        return None, [InputIssue(str(path), None, None, None,
                                 f"{how}, with a sheet '{EDIT_SHEET}'; found sheets: "
                                 f"{', '.join(names) or 'none'}")]
    where = f"{path}, sheet '{EDIT_SHEET}'"
    rows = iter(sheet_rows)
    head = [_text(v) for v in next(rows, ())]
    problems: list[InputIssue] = []
    at: dict[str, int] = {}
    for h in (STUDENT_HEADER, CASE_MANAGER_HEADER):
        if h not in head:
            problems.append(InputIssue(where, 1, None, None,
                                       f"a column headed '{h}'; found: "
                                       f"{', '.join(x for x in head if x) or 'none'}"))
    for i, h in enumerate(head):
        at.setdefault(h, i)
    if problems:
        return None, problems
    letter = {h: _col_letter(i) for h, i in at.items()}

    def cell(h: str) -> str:
        return f"{letter[h]} ({h})"

    got: list[tuple[str, str, str, int]] = []
    first: dict[str, int] = {}
    for r, values in enumerate(rows, start=2):
        def value(h: str, values: list = values) -> str:
            i = at.get(h)
            return _text(values[i]) if i is not None and i < len(values) else ""

        sid, cm, planned = value(STUDENT_HEADER), value(CASE_MANAGER_HEADER), \
            value(PLANNED_HEADER)
        if not (sid or cm or planned):
            continue  # an empty row: nothing to read
        if not sid:
            problems.append(InputIssue(where, r, cell(STUDENT_HEADER), sid,
                                       "a student id (required on every row with a "
                                       "case manager)"))
            continue
        if sid in first:
            problems.append(InputIssue(where, r, cell(STUDENT_HEADER), sid,
                                       f"each student once: already on row {first[sid]}"))
            continue
        first[sid] = r
        got.append((sid, _chosen_id(cm), _chosen_id(planned), r))
    if problems:
        return None, problems
    frame = pd.DataFrame(got, columns=["student_id", "case_manager_id",
                                       "planned_case_manager_id", "row"])
    frame.attrs["sheet"] = where
    frame.attrs["columns"] = {h: cell(h) for h in letter}
    frame.attrs["has_planned"] = PLANNED_HEADER in at
    return frame, []


def services_location(sheet: pd.DataFrame, student_id: str, educator_id: str) -> str:
    """Where a provider's finding is on an edited Services sheet
    (:func:`read_services_sheet`): the first row giving that student's
    service by that provider, or the rows naming the provider (a cap).

    Examples
    --------
    >>> services_location(sheet, "S000042", "E00101")               # doctest: +SKIP
    "plan.xlsx, sheet 'Services' row 88, column D (Provider)"
    """
    mine = sheet["provider_id"] == educator_id
    theirs = sheet["student_id"] == student_id
    rows = sheet.loc[mine & theirs if student_id else mine, "row"].tolist()
    if not rows and student_id:  # (a pin broken: the pinned educator is on no row)
        rows = sheet.loc[theirs, "row"].tolist()
    if not rows:
        return f"{sheet.attrs['sheet']}: no row names them"
    shown = ", ".join(map(str, rows[:10])) + (f" … ({len(rows)} rows)" if len(rows) > 10 else "")
    return f"{sheet.attrs['sheet']} row{'s' if len(rows) > 1 else ''} {shown}, column " \
           f"{sheet.attrs['column']}"


def sheet_location(frame: pd.DataFrame, student_id: str, educator_id: str = "") -> str:
    """Where a check's finding is on the edited sheet: sheet, row and column.

    A student's finding names their row; an educator's (a cap) names the
    rows that choose them.

    Examples
    --------
    >>> sheet_location(frame, "S000042")                     # doctest: +SKIP
    "plan.xlsx, sheet 'Edit case managers' row 17, column D (Case manager)"
    """
    sheet, column = frame.attrs["sheet"], frame.attrs["columns"][CASE_MANAGER_HEADER]
    if student_id:
        hit = frame.loc[frame["student_id"] == student_id, "row"].tolist()
        if not hit:
            return f"{sheet}: no row for this student"
        return f"{sheet} row {hit[0]}, column {column}"
    rows = frame.loc[frame["case_manager_id"] == educator_id, "row"].tolist()
    shown = ", ".join(map(str, rows[:10])) + (f" … ({len(rows)} rows)" if len(rows) > 10 else "")
    return f"{sheet} column {column}, rows {shown}"


def read_services_sheet(path: str | Path) -> tuple[pd.DataFrame | None, list[InputIssue]]:
    """Read the provider chosen on each row of a service plan's *Services*
    sheet (the planner may retype a Provider cell, or clear it).

    Returns
    -------
    tuple of (DataFrame or None, list of InputIssue)
        Columns ``student_id``, ``service``, ``provider_id`` (the id typed,
        before an em dash if any; blank for none), ``minutes`` (IEP minutes a
        week, NaN where blank or not a number) and ``row``; None and no
        problem when the workbook has no Services sheet (a case-manager
        plan); None with every problem (sheet, row, column, value, expected)
        when a row cannot be read. ``frame.attrs``: ``sheet`` and ``column``
        (the Provider column's letter and header), for messages.

    Examples
    --------
    >>> frame, problems = read_services_sheet("plan/plan.xlsx")   # doctest: +SKIP
    """
    path = Path(path)
    sheet_rows, _names, problem = _sheet_rows(
        path, SERVICES_SHEET, "a plan workbook written by `caseload plan`")
    if problem is not None:
        return None, [problem]
    if sheet_rows is None:
        return None, []
    where = f"{path}, sheet '{SERVICES_SHEET}'"
    rows = iter(sheet_rows)
    head = [_text(v) for v in next(rows, ())]
    missing = [h for h in (STUDENT_HEADER, SERVICE_HEADER, PROVIDER_HEADER) if h not in head]
    if missing:
        return None, [InputIssue(where, 1, None, None,
                                 f"a column headed '{h}'; found: "
                                 f"{', '.join(x for x in head if x) or 'none'}")
                      for h in missing]
    at = {h: head.index(h) for h in (STUDENT_HEADER, SERVICE_HEADER, PROVIDER_HEADER)}
    at_minutes = head.index(MINUTES_HEADER) if MINUTES_HEADER in head else None
    problems: list[InputIssue] = []
    got: list[tuple[str, str, str, float, int]] = []
    first: dict[tuple[str, str], int] = {}
    last = max(at.values())
    for r, values in enumerate(rows, start=2):
        if len(values) <= last:
            values = [*values, *([None] * (last + 1 - len(values)))]
        sid, svc = _text(values[at[STUDENT_HEADER]]), _text(values[at[SERVICE_HEADER]])
        chosen = _chosen_id(_text(values[at[PROVIDER_HEADER]]))
        if not (sid or svc or chosen):
            continue  # an empty row
        if not (sid and svc):
            h = STUDENT_HEADER if not sid else SERVICE_HEADER
            problems.append(InputIssue(where, r, f"{_col_letter(at[h])} ({h})", "",
                                       "a student id and a service on every row"))
            continue
        if (sid, svc) in first:
            problems.append(InputIssue(where, r, f"{_col_letter(at[SERVICE_HEADER])} "
                                       f"({SERVICE_HEADER})", svc,
                                       f"each student's service once: {sid}'s {svc} is "
                                       f"already on row {first[(sid, svc)]}"))
            continue
        first[(sid, svc)] = r
        m = values[at_minutes] if at_minutes is not None and at_minutes < len(values) else None
        got.append((sid, svc, chosen,
                    float(m) if isinstance(m, int | float) and not isinstance(m, bool)
                    else np.nan, r))
    if problems:
        return None, problems
    frame = pd.DataFrame(got, columns=["student_id", "service", "provider_id", "minutes",
                                       "row"])
    frame.attrs["sheet"] = where
    frame.attrs["column"] = f"{_col_letter(at[PROVIDER_HEADER])} ({PROVIDER_HEADER})"
    return frame, []
