"""Writing files: district folders (from the generator) and, later, plans.

With the reader, this is the only module that touches files. Folders are
written beside the target and renamed into place, so an interrupted run
never leaves a half-written folder over a good one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from optimizer.generator import GeneratedDistrict
from optimizer.result import Result

__all__ = ["PLAN_FILES", "neutralize_formula", "write_district", "write_plan", "write_table"]

#: The files of a plan folder (docs/plan-format.md).
PLAN_FILES = ("assignments.csv", "caseloads.csv", "unassigned.csv", "hiring_needs.csv",
              "summary.json")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(value: str) -> str:
    """Make a text cell safe to open in a spreadsheet.

    A cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return
    is prefixed with an apostrophe so spreadsheet programs show it as text
    instead of running it as a formula (CSV/formula injection).

    Examples
    --------
    >>> neutralize_formula("=HYPERLINK(\\"x\\")")
    '\\'=HYPERLINK("x")'
    >>> neutralize_formula("Ana Lopez")
    'Ana Lopez'
    """
    return "'" + value if value.startswith(_FORMULA_START) else value


def _replace_folder(tmp: Path, target: Path) -> None:
    # Move the old folder aside first so the target is never half-written;
    # the swap is two renames on the same file system.
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_district(district: GeneratedDistrict, folder: str | Path) -> Path:
    """Write a generated district as a district folder (CSV files + district.toml).

    Parameters
    ----------
    district
        Tables from :func:`optimizer.generator.generate_district`.
    folder
        Target folder; replaced atomically if it exists.

    Returns
    -------
    Path
        The folder written.

    Examples
    --------
    >>> from optimizer.generator import generate_district
    >>> write_district(generate_district(300, seed=1), "/tmp/tiny")  # doctest: +SKIP
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, frame in district.tables.items():
            if name == "locks" and frame.empty:
                continue
            _write_csv(frame, tmp / f"{name}.csv")
        (tmp / "district.toml").write_text(district.settings_toml, encoding="utf-8")
        _replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    # "\n" line ends on every platform, so the same district is the same bytes.
    frame.to_csv(path, index=False, lineterminator="\n")


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV for a spreadsheet, with formula injection neutralized.

    Text cells that a spreadsheet would run as a formula get a leading
    apostrophe (see :func:`neutralize_formula`). The file is written beside
    the target and renamed into place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    safe = _safe(frame)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        _write_csv(safe, Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _safe(frame: pd.DataFrame) -> pd.DataFrame:
    safe = frame.copy()
    for col in safe.columns:
        # Any column that may hold text (object, string or category dtype).
        if not (pd.api.types.is_numeric_dtype(safe[col]) or
                pd.api.types.is_bool_dtype(safe[col])):
            safe[col] = safe[col].astype(object).map(
                lambda v: neutralize_formula(v) if isinstance(v, str) else v)
    return safe


def write_plan(result: Result, folder: str | Path) -> Path:
    """Write a plan folder: assignments, caseloads, unassigned, hiring needs, summary.

    The folder is written beside the target and renamed into place, so an
    interrupted run never leaves half a plan over a good one. Text cells are
    guarded against spreadsheet formula injection. The CSV files are the same
    bytes for the same district; ``summary.json`` differs only in ``runtime_s``.

    Examples
    --------
    >>> write_plan(plan(load_district("data/sample")), "plan")   # doctest: +SKIP
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tables = {"assignments.csv": result.assignments, "caseloads.csv": result.caseloads,
                  "unassigned.csv": result.unassigned, "hiring_needs.csv": result.hiring_needs}
        for name, frame in tables.items():
            _write_csv(_safe(frame), tmp / name)
        summary = json.dumps(dict(result.figures), indent=2, sort_keys=False, default=_json)
        (tmp / "summary.json").write_text(summary + "\n", encoding="utf-8")
        _replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _json(value: object) -> object:
    if hasattr(value, "items"):
        return dict(value.items())
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
