"""Reading a plan folder back, validated like a district (a plan folder is input too).

``check``, ``report``, ``export``, ``compare`` and ``plan --baseline`` read a
plan folder a planner may have edited, copied or broken. Every file is read
strictly (:mod:`optimizer.csvread`): only regular UTF-8 files, one error per
malformed row, rows counted as a spreadsheet counts them. Then every column
the commands use must be there, ids must be filled in and unique, numbers must
be finite numbers, and ``summary.json`` must be a JSON object whose figures
have the right types. Every problem names the file, row, column, value and
what was expected, and all of them are reported at once.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from optimizer.csvread import read_csv_strict, read_text_file
from optimizer.model import Problem
from optimizer.textsafe import restore_formula_text

__all__ = ["PlanFolderError", "read_plan_assignments", "read_plan_folder"]


class PlanFolderError(Exception):
    """A plan folder that cannot be used; ``problems`` lists every problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the plan folder; first: "
                         f"{problems[0] if problems else '?'}")


_HOW = "make one with `caseload plan DISTRICT --out PLAN`"

#: Number columns per table; blank is allowed where the plan writes blanks.
_NUMBERS = {"caseloads": ("cap", "load", "load_ratio", "students", "best_practice_students",
                          "fte", "other_load"),
            "hiring_needs": ("students", "fte")}
_IDS = {"assignments": "student_id", "caseloads": "educator_id"}

_SUMMARY_TEXT = ("district", "rule_pack", "status", "engine", "balance", "made_at")
_SUMMARY_NUMBERS = ("students", "placed", "unplaced", "best_practice_share",
                    "continuity_share", "with_current_case_manager", "kept_current",
                    "components")
_SUMMARY_NUMBER_OR_NULL = ("objective", "bound", "gap")
_SUMMARY_TABLES = ("terms", "weights", "load_ratio", "rank_counts", "runtime_s", "sources",
                   "baseline")
_SUMMARY_NUMBER_TABLES = ("terms", "load_ratio", "rank_counts")


def _unguard(frame: pd.DataFrame) -> pd.DataFrame:
    # Undo the formula-injection guard's apostrophe, so values round-trip.
    for col in frame.columns:
        frame[col] = frame[col].map(restore_formula_text)
    return frame


def _folder_problem(folder: Path) -> Problem | None:
    if not folder.exists():
        return Problem(str(folder), None, None, None, f"a plan folder: nothing is there; {_HOW}")
    if not folder.is_dir():
        return Problem(str(folder), None, None, None, f"a plan folder, not a file; {_HOW}")
    if not any((folder / n).exists() for n in ("assignments.csv", "summary.json")):
        return Problem(str(folder), None, None, None,
                       f"a plan folder: this is not a plan folder (no assignments.csv or "
                       f"summary.json); {_HOW}")
    return None


def _read(folder: Path, name: str, columns: list[str], out: list[Problem]
          ) -> pd.DataFrame | None:
    path = folder / name
    label = str(path)
    if not (path.exists() or path.is_symlink()):
        out.append(Problem(label, None, None, None, f"a file {name} in the plan folder; {_HOW}"))
        return None
    text = read_csv_strict(path, out, label)
    if text is None:
        return None
    missing = [c for c in columns if c not in text.header]
    for c in missing:
        out.append(Problem(label, 1, c, None, f"a column named '{c}'; found columns: "
                                             f"{', '.join(text.header) or 'none'}"))
    if len(set(text.header)) != len(text.header):
        dup = sorted({h for h in text.header if text.header.count(h) > 1})
        out.append(Problem(label, 1, dup[0], dup[0], "each column name once: this one repeats"))
        return None
    if missing:
        return None
    frame = pd.DataFrame(text.rows, columns=text.header, dtype=str) if text.rows else \
        pd.DataFrame({c: pd.Series([], dtype=str) for c in text.header})
    frame.attrs["rows"] = [int(r) for r in text.row_numbers]  # plan files are small
    frame.attrs["label"] = label
    return _unguard(frame)


def _check_ids(frame: pd.DataFrame, column: str, out: list[Problem]) -> None:
    rows, name = frame.attrs["rows"], frame.attrs["label"]
    first: dict[str, int] = {}
    for i, v in enumerate(frame[column].tolist()):
        if v == "":
            out.append(Problem(name, rows[i], column, v, f"a value: the {column} (required)"))
        elif v in first:
            out.append(Problem(name, rows[i], column, v,
                               f"a unique {column}: already on row {first[v]}"))
        else:
            first[v] = rows[i]


def _numbers(frame: pd.DataFrame, columns: tuple[str, ...], out: list[Problem]) -> None:
    rows, name = frame.attrs["rows"], frame.attrs["label"]
    for col in columns:
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col].where(frame[col] != ""), errors="coerce")
        for i, (text, x) in enumerate(zip(frame[col].tolist(), values.tolist(), strict=True)):
            if text != "" and not (isinstance(x, float | int) and math.isfinite(x)):
                out.append(Problem(name, rows[i], col, text, "a finite number, or blank"))
        frame[col] = values


def read_plan_assignments(folder: str | Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read and validate a plan folder's ``assignments.csv`` (text cells, as written).

    Only ``student_id`` and ``case_manager_id`` are required (a hand-made
    plan or baseline may have just those); student ids must be filled in and
    unique. Returns the frame, or None with every problem found.
    """
    folder = Path(folder)
    problems: list[Problem] = []
    p = _folder_problem(folder)
    if p is not None:
        return None, [p]
    frame = _read(folder, "assignments.csv", ["student_id", "case_manager_id"], problems)
    if frame is not None:
        _check_ids(frame, "student_id", problems)
    if problems:
        return None, problems
    return frame, problems


def _read_summary(folder: Path, out: list[Problem]) -> dict | None:
    path = folder / "summary.json"
    name = str(path)
    if not (path.exists() or path.is_symlink()):
        out.append(Problem(name, None, None, None,
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
        out.append(Problem(name, getattr(exc, "lineno", None), None, None, f"valid JSON: {why}"))
        return None
    if not isinstance(data, dict):
        out.append(Problem(name, None, None, type(data).__name__,
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
        if bad:
            out.append(Problem(name, None, key, json.dumps(v)[:60], bad))
    return data


def read_plan_folder(folder: str | Path):
    """Read and validate a plan folder written by ``caseload plan`` as :class:`PlanTables`.

    Numbers come back as numbers (``cap``, ``load``, ``load_ratio``, ``rank`` …),
    everything else as text.

    Raises
    ------
    PlanFolderError
        With every problem in the folder's files.
    """
    from optimizer.result import (
        ASSIGNMENT_COLUMNS,
        AUDIT_COLUMNS,
        CASELOAD_COLUMNS,
        HIRING_COLUMNS,
        PLAN_TABLE_FILES,
        UNASSIGNED_COLUMNS,
        PlanTables,
    )

    folder = Path(folder)
    p = _folder_problem(folder)
    if p is not None:
        raise PlanFolderError([p])
    columns = {"assignments": ASSIGNMENT_COLUMNS, "caseloads": CASELOAD_COLUMNS,
               "unassigned": UNASSIGNED_COLUMNS, "hiring_needs": HIRING_COLUMNS,
               "audit": AUDIT_COLUMNS}
    problems: list[Problem] = []
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
        for i, (r, kept) in enumerate(zip(a["rank"], a["kept_current"], strict=True)):
            if r not in ("", "0", "1", "2"):
                problems.append(Problem(label, rows[i], "rank", r,
                                        "0, 1 or 2 (blank when unplaced)"))
            if kept.lower() not in ("true", "false"):
                problems.append(Problem(label, rows[i], "kept_current", kept,
                                        "true or false"))
    cl = frames.get("caseloads")
    if a is not None and cl is not None:  # every case manager is one of the plan's educators
        known = set(cl["educator_id"])
        rows, label = a.attrs["rows"], a.attrs["label"]
        for i, cm in enumerate(a["case_manager_id"].tolist()):
            if cm and cm not in known:
                problems.append(Problem(label, rows[i], "case_manager_id", cm,
                                        "an educator_id listed in caseloads.csv"))
    summary = _read_summary(folder, problems)
    if problems:
        raise PlanFolderError(problems)
    a["rank"] = pd.to_numeric(a["rank"], errors="coerce").astype("Int64")
    a["kept_current"] = a["kept_current"].str.lower() == "true"
    return PlanTables(frames["assignments"], frames["caseloads"], frames["unassigned"],
                      frames["hiring_needs"], frames["audit"], summary)
