"""The plan folder: its files, and reading one back.

A plan folder is what ``caseload plan`` writes (docs/plan-format.md): one CSV
per table of :class:`~optimizer.planning.result.PlanTables` plus
``summary.json``. The exporters write it (:mod:`optimizer.outputs.export`);
this module names its files and reads it back for ``check``, ``report``,
``export``, ``compare`` and stable re-planning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from optimizer.district.model import InputIssue
from optimizer.district.textsafe import restore_formula_text
from optimizer.planning.result import PlanTables

__all__ = ["PLAN_TABLE_FILES", "read_plan", "read_plan_assignments"]

#: The tables of a plan folder and their files (docs/plan-format.md).
PLAN_TABLE_FILES = {"assignments": "assignments.csv", "caseloads": "caseloads.csv",
                    "unassigned": "unassigned.csv", "hiring_needs": "hiring_needs.csv",
                    "audit": "audit.csv"}


def read_plan_assignments(folder: str | Path) -> tuple[pd.DataFrame | None, list[InputIssue]]:
    """Read a plan folder's ``assignments.csv`` (text cells, as written).

    A leading apostrophe added by the formula-injection guard is removed, so
    values round-trip.

    Parameters
    ----------
    folder
        A plan folder written by ``caseload plan`` (or :func:`write_plan`).

    Returns
    -------
    tuple of (DataFrame or None, list of InputIssue)
        The assignments as text, or None with the problems (missing file or
        missing ``student_id`` / ``case_manager_id`` column).

    Examples
    --------
    >>> frame, problems = read_plan_assignments("plan-sample")   # doctest: +SKIP
    """
    path = Path(folder) / "assignments.csv"
    problems: list[InputIssue] = []
    if not path.exists():
        problems.append(InputIssue(str(path), None, None, None,
                                "a plan folder with assignments.csv (from caseload plan)"))
        return None, problems
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for col in ("student_id", "case_manager_id"):
        if col not in frame.columns:
            problems.append(InputIssue("assignments.csv", 1, col, None, f"a column named '{col}'"))
    if problems:
        return None, problems
    return _unguard(frame), problems


def _unguard(frame: pd.DataFrame) -> pd.DataFrame:
    # Undo the formula-injection guard's apostrophe, so values round-trip.
    for col in frame.columns:
        frame[col] = frame[col].map(restore_formula_text)
    return frame


def read_plan(folder: str | Path) -> PlanTables:
    """Read a plan folder written by ``caseload plan`` back as :class:`PlanTables`.

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
    FileNotFoundError
        Naming the first missing file, when the folder is not a complete plan.

    Examples
    --------
    >>> tables = read_plan("plan-sample")                        # doctest: +SKIP
    """
    folder = Path(folder)
    frames = {}
    for key, name in PLAN_TABLE_FILES.items():
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: not a plan folder (no {name}); "
                                    "make one with `caseload plan DISTRICT --out PLAN`")
        frames[key] = _unguard(pd.read_csv(path, dtype=str, keep_default_na=False,
                                           encoding="utf-8-sig"))
    numeric = {"caseloads": ["cap", "load", "load_ratio", "students", "best_practice_students",
                             "fte", "other_load"],
               "hiring_needs": ["students", "fte"]}
    for key, cols in numeric.items():
        for col in cols:
            if col in frames[key].columns:
                frames[key][col] = pd.to_numeric(frames[key][col], errors="coerce")
    a = frames["assignments"]
    a["rank"] = pd.to_numeric(a["rank"], errors="coerce").astype("Int64")
    a["kept_current"] = a["kept_current"].str.lower() == "true"
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        raise FileNotFoundError(f"{summary_path}: not a plan folder (no summary.json)")
    summary = json.loads(summary_path.read_text("utf-8"))
    return PlanTables(frames["assignments"], frames["caseloads"], frames["unassigned"],
                      frames["hiring_needs"], frames["audit"], summary)
