"""The plan folder: its files, and reading one back validated like a district.

A plan folder is what ``caseload plan`` writes (docs/plan-format.md): one CSV
per table of :class:`~optimizer.planning.result.PlanTables` plus
``summary.json``; the exporters write it (:mod:`optimizer.outputs.export`).
A plan folder is input too:

``check``, ``report``, ``export``, ``compare`` and ``plan --published`` read a
plan folder a planner may have edited, copied or broken. Every file is read
strictly (:mod:`optimizer.district.csvread`): only regular UTF-8 files, one error per
malformed row, rows counted as a spreadsheet counts them. Then every column
the commands use must be there, ids must be filled in and unique, numbers must
be finite numbers, and ``summary.json`` must be a JSON object whose figures
have the right types. Every problem names the file, row, column, value and
what was expected, and all of them are reported at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from optimizer.district.bulk import without_collector_pauses
from optimizer.district.csvread import read_csv_strict, read_text_file
from optimizer.district.model import InputIssue
from optimizer.district.textsafe import restore_formula_rows
from optimizer.planning.check import AUDIT_COLUMNS
from optimizer.planning.result import (
    ASSIGNMENT_COLUMNS,
    CASELOAD_COLUMNS,
    HIRING_COLUMNS,
    SERVICE_CASELOAD_COLUMNS,
    SERVICE_COLUMNS,
    UNASSIGNED_COLUMNS,
    PlanTables,
)

__all__ = ["PLAN_TABLE_FILES", "SERVICES_FILE", "PlanFolderError", "read_plan",
           "read_plan_assignments", "read_plan_edits", "read_plan_services", "read_plan_sources"]

#: The tables of a plan folder and their files (docs/plan-format.md).
PLAN_TABLE_FILES = {"assignments": "assignments.csv", "caseloads": "caseloads.csv",
                    "unassigned": "unassigned.csv", "hiring_needs": "hiring_needs.csv",
                    "audit": "audit.csv"}
#: The plan's providers, written only by a plan that plans services (optional
#: when read back: PlanTables.services is then empty).
SERVICES_FILE = "services.csv"


class PlanFolderError(Exception):
    """A plan folder that cannot be used; ``problems`` lists every problem."""

    def __init__(self, problems: list[InputIssue]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the plan folder; first: "
                         f"{problems[0] if problems else '?'}")


_HOW = "make one with `caseload plan DISTRICT --out PLAN`"

#: Number columns per table; blank is allowed where the plan writes blanks.
_NUMBERS = {"caseloads": ("cap", "load", "load_ratio", "students", "best_practice_students",
                          "fte", "other_load", *SERVICE_CASELOAD_COLUMNS),
            "hiring_needs": ("students", "fte", "minutes"),
            "services": ("minutes",)}
_IDS = {"assignments": "student_id", "caseloads": "educator_id"}

_SUMMARY_TEXT = ("district", "rule_pack", "status", "engine", "balance", "made_at")
_SUMMARY_NUMBERS = ("students", "placed", "unplaced", "best_practice_share",
                    "continuity_share", "with_current_case_manager", "kept_current",
                    "components")
_SUMMARY_NUMBER_OR_NULL = ("objective", "bound", "gap")
_SUMMARY_TABLES = ("terms", "weights", "load_ratio", "rank_counts", "runtime_s", "sources",
                   "published_plan", "services")
_SUMMARY_NUMBER_TABLES = ("terms", "load_ratio", "rank_counts")


class _RowNumbers(tuple[int, ...]):
    """The spreadsheet row of each record of a plan file, in ``frame.attrs``.

    Immutable, so its deep copy is itself: pandas deep-copies a frame's
    ``attrs`` each time a column is taken, and as a list the row numbers of a
    100,000-student ``assignments.csv`` were copied 37 times, 4.7 s of the
    7.9 s its reading took.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, object]) -> _RowNumbers:
        return self


def _folder_problem(folder: Path) -> InputIssue | None:
    if not folder.exists():
        return InputIssue(str(folder), None, None, None, f"a plan folder: nothing is there; {_HOW}")
    if not folder.is_dir():
        return InputIssue(str(folder), None, None, None, f"a plan folder, not a file; {_HOW}")
    if not any((folder / n).exists() for n in ("assignments.csv", "summary.json")):
        return InputIssue(str(folder), None, None, None,
                       f"a plan folder: this is not a plan folder (no assignments.csv or "
                       f"summary.json); {_HOW}")
    return None


# A plan file's rows and cells, 1.8 million at 100,000 students, without
# cycles: district/bulk.py (the collector's passes doubled the read at times).
@without_collector_pauses
def _read(folder: Path, name: str, columns: list[str], out: list[InputIssue]
          ) -> pd.DataFrame | None:
    path = folder / name
    label = str(path)
    if not (path.exists() or path.is_symlink()):
        out.append(InputIssue(label, None, None, None, f"a file {name} in the plan folder; {_HOW}"))
        return None
    text = read_csv_strict(path, out, label)
    if text is None:
        return None
    missing = [c for c in columns if c not in text.header]
    for c in missing:
        out.append(InputIssue(label, 1, c, None, f"a column named '{c}'; found columns: "
                                             f"{', '.join(text.header) or 'none'}"))
    if len(set(text.header)) != len(text.header):
        dup = sorted({h for h in text.header if text.header.count(h) > 1})
        out.append(InputIssue(label, 1, dup[0], dup[0], "each column name once: this one repeats"))
        return None
    if missing:
        return None
    # The formula-injection guard's apostrophe undone, so values round-trip.
    rows = restore_formula_rows(text.rows)
    frame = pd.DataFrame(rows, columns=text.header, dtype=str) if rows else \
        pd.DataFrame({c: pd.Series([], dtype=str) for c in text.header})
    frame.attrs["rows"] = _RowNumbers(int(r) for r in text.row_numbers)
    frame.attrs["label"] = label
    return frame


def _check_ids(frame: pd.DataFrame, column: str, out: list[InputIssue]) -> None:
    rows, name = frame.attrs["rows"], frame.attrs["label"]
    first: dict[str, int] = {}
    for i, v in enumerate(frame[column].tolist()):
        if v == "":
            out.append(InputIssue(name, rows[i], column, v, f"a value: the {column} (required)"))
        elif v in first:
            out.append(InputIssue(name, rows[i], column, v,
                               f"a unique {column}: already on row {first[v]}"))
        else:
            first[v] = rows[i]


def _numbers(frame: pd.DataFrame, columns: tuple[str, ...], out: list[InputIssue]) -> None:
    rows, name = frame.attrs["rows"], frame.attrs["label"]
    for col in columns:
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col].where(frame[col] != ""), errors="coerce")
        for i, (text, x) in enumerate(zip(frame[col].tolist(), values.tolist(), strict=True)):
            if text != "" and not (isinstance(x, float | int) and math.isfinite(x)):
                out.append(InputIssue(name, rows[i], col, text, "a finite number, or blank"))
        frame[col] = values


def read_plan_assignments(folder: str | Path) -> tuple[pd.DataFrame | None, list[InputIssue]]:
    """Read and validate a plan folder's ``assignments.csv`` (text cells, as written).

    Only ``student_id`` and ``case_manager_id`` are required (a hand-made
    plan or published plan may have just those); student ids must be filled
    in and unique. A leading apostrophe added by the formula-injection guard
    is removed, so values round-trip.

    Parameters
    ----------
    folder
        A plan folder.

    Returns
    -------
    tuple of (DataFrame or None, list of InputIssue)
        The frame, or None with every problem found.

    Examples
    --------
    >>> frame, problems = read_plan_assignments("plan-sample")   # doctest: +SKIP
    """
    folder = Path(folder)
    problems: list[InputIssue] = []
    p = _folder_problem(folder)
    if p is not None:
        return None, [p]
    frame = _read(folder, "assignments.csv", ["student_id", "case_manager_id"], problems)
    if frame is not None:
        _check_ids(frame, "student_id", problems)
    if problems:
        return None, problems
    return frame, problems


def read_plan_services(folder: str | Path) -> tuple[pd.DataFrame | None, list[InputIssue]]:
    """Read and validate a plan folder's ``services.csv`` (a service plan's
    providers), for ``plan --published``: None without problems when the
    folder has no such file (a case-manager plan).

    Examples
    --------
    >>> frame, problems = read_plan_services("plan-sample")    # doctest: +SKIP
    """
    problems: list[InputIssue] = []
    frame = _read_services(Path(folder), None, problems)
    return (None if problems else frame), problems


def _cap_row(c: object) -> bool:
    # One entry of summary.json's "caps" as cap_rows writes it (docs/plan-format.md).
    def is_num(v: object) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    return (isinstance(c, dict) and all(isinstance(c.get(k), str) for k in ("role", "kind",
                                                                            "source"))
            and is_num(c.get("cap"))
            and is_num(c.get("educators_with_max_caseload", 0)))


def _read_summary(folder: Path, out: list[InputIssue]) -> dict | None:
    path = folder / "summary.json"
    name = str(path)
    if not (path.exists() or path.is_symlink()):
        out.append(InputIssue(name, None, None, None,
                           f"a file summary.json in the plan folder; {_HOW}"))
        return None
    text = read_text_file(path, name, out)
    if text is None:
        return None

    def _no_constant(word: str) -> float:
        raise ValueError(f"{word} is not a number JSON allows")

    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        out.append(InputIssue(name, getattr(exc, "lineno", None), None, None, f"valid JSON: {why}"))
        return None
    if not isinstance(data, dict):
        out.append(InputIssue(name, None, None, type(data).__name__,
                           "a JSON object ({...}) of plan figures"))
        return None

    def is_num(v: object) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    for key, v in data.items():
        bad = None
        if key in _SUMMARY_TEXT and not isinstance(v, str):
            bad = "text"
        elif key in _SUMMARY_NUMBERS and not is_num(v):
            bad = "a number"
        elif key in _SUMMARY_NUMBER_OR_NULL and not (v is None or is_num(v)):
            bad = "a number or null"
        elif key in _SUMMARY_TABLES and not isinstance(v, dict):
            bad = "an object ({...})"
        elif key in _SUMMARY_NUMBER_TABLES and not all(is_num(x) for x in v.values()):
            bad = "an object whose values are numbers"
        elif key == "caps" and not (isinstance(v, list) and all(_cap_row(c) for c in v)):
            # The Summary sheet lists each cap row; a hand-edited one must keep its shape.
            bad = ("a list of objects with role, kind and source (text), cap and "
                   "educators_with_max_caseload (numbers)")
        if bad:
            out.append(InputIssue(name, None, key, json.dumps(v)[:60], bad))
    return data


#: The outcomes edits.csv gives (nextyear/keep.edits_table).
_EDIT_OUTCOMES = ("kept", "not kept", "kept as a pin, not met")


def read_plan_edits(folder: str | Path) -> tuple[pd.DataFrame | None, list[InputIssue]]:
    """A plan's ``edits.csv`` (a plan made with ``plan --keep``): every edit
    and its outcome, for a what-if to keep them (``whatif --plan``). None and
    no problem when the plan has none.

    Examples
    --------
    >>> edits, problems = read_plan_edits("v2")                 # doctest: +SKIP
    """
    path = Path(folder) / "edits.csv"
    if not path.is_file():
        return None, []
    problems: list[InputIssue] = []
    # The columns a what-if reads; where, rule and detail may be gone.
    frame = _read(Path(folder), "edits.csv", ["student_id", "service", "plan_had", "chosen",
                                              "outcome"], problems)
    if frame is None:
        return None, _with_hint(problems)
    frame = frame.fillna("")
    if "where" not in frame.columns:
        frame["where"] = [f"{frame.attrs['label']} row {r}" for r in frame.attrs["rows"]]
    frame["outcome"] = frame["outcome"].str.strip().str.lower()
    for r, outcome in zip(frame.attrs["rows"], frame["outcome"], strict=True):
        if outcome not in _EDIT_OUTCOMES:
            problems.append(InputIssue(frame.attrs["label"], r, "outcome", outcome,
                                       "one of " + ", ".join(_EDIT_OUTCOMES)))
    return (None, _with_hint(problems)) if problems else (frame, [])


def _with_hint(problems: list[InputIssue]) -> list[InputIssue]:
    """The problems of an edits.csv, and how to go on without it."""
    if not problems:
        return problems
    first = problems[0]
    return [*problems, InputIssue(first.file, None, None, None,
                                  "an edits.csv as `plan --keep` wrote it, or none: remove it "
                                  "from the plan folder to run the what-if without the "
                                  "planner's edits")]


def read_plan_sources(folder: str | Path) -> Mapping[str, str] | None:
    """The files a plan was made from, as its ``summary.json`` records them
    (file name -> sha256, and the changes a what-if made under
    :data:`~optimizer.district.model.CHANGES_SOURCE`); None when the folder
    has no readable record of them (a hand-made plan).

    Examples
    --------
    >>> read_plan_sources("plan")["students.csv"][:8]          # doctest: +SKIP
    '41c09c0a'
    """
    data = _read_summary(Path(folder), [])
    sources = None if data is None else data.get("sources")
    if not isinstance(sources, dict):
        return None
    return {str(k): str(v) for k, v in sources.items()}


def read_plan(folder: str | Path) -> PlanTables:
    """Read and validate a plan folder written by ``caseload plan`` as :class:`PlanTables`.

    Numbers come back as numbers (``cap``, ``load``, ``load_ratio``, ``rank`` …),
    ``kept_current`` as booleans, everything else as text.

    Parameters
    ----------
    folder
        A plan folder written by ``caseload plan`` (or :func:`write_plan`).

    Returns
    -------
    PlanTables
        The plan's tables and its ``summary.json``, as the exports and
        :func:`optimizer.nextyear.compare.compare` read them.

    Raises
    ------
    PlanFolderError
        With every problem in the folder's files (file, row, column, value, expected).

    Examples
    --------
    >>> tables = read_plan("plan-sample")                        # doctest: +SKIP
    """
    folder = Path(folder)
    p = _folder_problem(folder)
    if p is not None:
        raise PlanFolderError([p])
    columns = {"assignments": ASSIGNMENT_COLUMNS, "caseloads": CASELOAD_COLUMNS,
               "unassigned": UNASSIGNED_COLUMNS, "hiring_needs": HIRING_COLUMNS,
               "audit": AUDIT_COLUMNS}
    problems: list[InputIssue] = []
    frames: dict[str, pd.DataFrame] = {}
    for key, name in PLAN_TABLE_FILES.items():
        frame = _read(folder, name, columns[key], problems)
        if frame is None:
            continue
        if key in _IDS:
            _check_ids(frame, _IDS[key], problems)
        _numbers(frame, _NUMBERS.get(key, ()), problems)
        frames[key] = frame
    a = frames.get("assignments")
    if a is not None:
        rows, label = a.attrs["rows"], a.attrs["label"]
        for i, (r, kept) in enumerate(zip(a["rank"].tolist(), a["kept_current"].tolist(),
                                          strict=True)):
            if r not in ("", "0", "1", "2"):
                problems.append(InputIssue(label, rows[i], "rank", r,
                                        "0, 1 or 2 (blank when unplaced)"))
            if kept.lower() not in ("true", "false"):
                problems.append(InputIssue(label, rows[i], "kept_current", kept,
                                        "true or false"))
    cl = frames.get("caseloads")
    if a is not None and cl is not None:  # every case manager is one of the plan's educators
        known = set(cl["educator_id"].tolist())
        rows, label = a.attrs["rows"], a.attrs["label"]
        for i, cm in enumerate(a["case_manager_id"].tolist()):
            if cm and cm not in known:
                problems.append(InputIssue(label, rows[i], "case_manager_id", cm,
                                        "an educator_id listed in caseloads.csv"))
    services = _read_services(folder, set(a["student_id"].tolist()) if a is not None else None,
                              problems)
    summary = _read_summary(folder, problems)
    if problems or a is None or summary is None:
        raise PlanFolderError(problems)
    a["rank"] = pd.to_numeric(a["rank"], errors="coerce").astype("Int64")
    a["kept_current"] = a["kept_current"].str.lower() == "true"
    return PlanTables(frames["assignments"], frames["caseloads"], frames["unassigned"],
                      frames["hiring_needs"], frames["audit"], summary,
                      *([] if services is None else [services]))


@without_collector_pauses  # (as _read: a (student, service) key a row)
def _read_services(folder: Path, students: set[str] | None, out: list[InputIssue]
                   ) -> pd.DataFrame | None:
    """``services.csv`` when the folder has one (a service plan): every
    column, each (student, service) once, students of assignments.csv,
    ``minutes`` a number or blank, ``kept_current`` true or false."""
    if not ((folder / SERVICES_FILE).exists() or (folder / SERVICES_FILE).is_symlink()):
        return None
    frame = _read(folder, SERVICES_FILE, SERVICE_COLUMNS, out)
    if frame is None:
        return None
    rows, label = frame.attrs["rows"], frame.attrs["label"]
    seen: dict[tuple[str, str], int] = {}
    # (Python lists: a text column's cells one at a time cost 2 µs each.)
    for i, (sid, svc, kept) in enumerate(zip(frame["student_id"].tolist(),
                                             frame["service"].tolist(),
                                             frame["kept_current"].tolist(), strict=True)):
        if sid == "" or svc == "":
            out.append(InputIssue(label, rows[i], "student_id" if sid == "" else "service",
                                  "", "a value (required)"))
        elif (sid, svc) in seen:
            out.append(InputIssue(label, rows[i], "service", svc,
                                  f"each student's service once: already on row "
                                  f"{seen[(sid, svc)]}"))
        else:
            seen[(sid, svc)] = rows[i]
        if students is not None and sid and sid not in students:
            out.append(InputIssue(label, rows[i], "student_id", sid,
                                  "a student_id listed in assignments.csv"))
        if kept.lower() not in ("true", "false"):
            out.append(InputIssue(label, rows[i], "kept_current", kept, "true or false"))
    _numbers(frame, _NUMBERS["services"], out)
    frame["kept_current"] = frame["kept_current"].str.lower() == "true"
    return frame
