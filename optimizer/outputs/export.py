"""Writing files: district folders, plan folders, tables, transfer files, the report.

With the district reader, the outputs package is the only code that touches
files (an import-linter contract, docs/architecture.md). Folders are
written beside the target and renamed into place, so an interrupted run
never leaves a half-written folder over a good one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from optimizer.district.textsafe import neutralize_formula
from optimizer.generator import GeneratedDistrict
from optimizer.nextyear.rollover import Rollover
from optimizer.outputs.html_report import render_report
from optimizer.outputs.plan_folder import PLAN_TABLE_FILES
from optimizer.planning.result import PlanTables, Result

__all__ = ["atomic_file", "atomic_folder", "neutralize_formula", "redacted",
           "transfer_rows", "write_district", "write_plan", "write_report", "write_rollover",
           "write_table", "write_transfers"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _new_dir_beside(target: Path) -> Path:
    # mkdtemp makes a private (0700) folder; a plan folder gets the usual rights.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o777 & ~_umask())
    return tmp


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success.

    An exception (or an interrupted run) leaves ``target`` as it was and
    removes the temporary file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix,
                               dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a new folder beside ``target``; it replaces ``target`` on success.

    An exception (or an interrupted run) leaves ``target`` as it was and
    removes the half-written folder.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_dir_beside(target)
    try:
        yield tmp
        _replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_district_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        if name == "locks" and frame.empty:
            continue  # locks.csv is optional: no locks, no file
        _write_csv(frame, folder / f"{name}.csv")


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
    with atomic_folder(target) as tmp:
        _write_district_tables(tmp, district.tables)
        (tmp / "district.toml").write_text(district.settings_toml, encoding="utf-8")
    return target


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    # Booleans as `true`/`false`, as the plan format documents (pandas writes True).
    bools = [c for c in frame.columns if pd.api.types.is_bool_dtype(frame[c])]
    if bools:
        frame = frame.assign(**{c: frame[c].map({True: "true", False: "false"})
                                for c in bools})
    # "\n" line ends on every platform, so the same district is the same bytes.
    frame.to_csv(path, index=False, lineterminator="\n")


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV for a spreadsheet, with formula injection neutralized.

    Text cells that a spreadsheet would run as a formula get a leading
    apostrophe (see :func:`neutralize_formula`). The file is written beside
    the target and renamed into place.

    Parameters
    ----------
    frame
        The table.
    path
        The CSV file to write (UTF-8).

    Returns
    -------
    Path
        The file written.
    """
    target = Path(path)
    safe = _safe(frame)
    with atomic_file(target) as tmp:
        _write_csv(safe, tmp)
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


def redacted(tables: PlanTables) -> PlanTables:
    """The same tables with every educator name replaced by the educator's id."""

    cl = tables.caseloads.copy()
    if "name" in cl.columns:
        cl["name"] = cl["educator_id"]
    return dataclasses.replace(tables, caseloads=cl)


def write_plan(result: Result, folder: str | Path, *, xlsx: bool = True,
               redact: bool = False) -> Path:
    """Write a plan folder: assignments, caseloads, unassigned, hiring needs,
    audit, summary, and (unless ``xlsx=False``) the workbook ``plan.xlsx``.

    The folder is written beside the target and renamed into place, so an
    interrupted run never leaves half a plan over a good one. Text cells are
    guarded against spreadsheet formula injection. The CSV files are the same
    bytes for the same district; ``summary.json`` differs only in ``runtime_s``
    and ``made_at``.

    Parameters
    ----------
    result
        The plan (:func:`optimizer.plan`).
    folder
        The plan folder to write.
    xlsx
        Also write the workbook ``plan.xlsx``.
    redact
        Replace educator names with their ids everywhere.

    Returns
    -------
    Path
        The folder written.

    Examples
    --------
    >>> write_plan(plan(load_district("data/sample")), "plan")   # doctest: +SKIP
    """
    tables = result.tables()
    if redact:
        tables = redacted(tables)
    target = Path(folder)
    with atomic_folder(target) as tmp:
        for table, name in PLAN_TABLE_FILES.items():
            _write_csv(_safe(getattr(tables, table)), tmp / name)
        summary = json.dumps(dict(tables.summary), indent=2, default=_json)
        (tmp / "summary.json").write_text(summary + "\n", encoding="utf-8")
        if xlsx:
            # Here, not at the top: xlsxwriter loads only when a workbook is written.
            from optimizer.outputs.workbook import write_workbook

            write_workbook(tables, tmp / "plan.xlsx", redact=redact)
    return target


TRANSFER_COLUMNS = ["student_id", "from_case_manager_id", "to_case_manager_id",
                    "effective_date"]


def transfer_rows(tables: PlanTables, effective: str) -> pd.DataFrame:
    """Case-manager changes in the neutral transfer layout, grouped by receiver.

    Every student whose planned case manager differs from this year's; a
    student left unplaced has a blank ``to_case_manager_id``.

    Parameters
    ----------
    tables
        The plan's tables.
    effective
        The date the changes take effect (written on every row).

    Returns
    -------
    DataFrame
        The rows of ``transfers.csv``, columns ``TRANSFER_COLUMNS``.
    """
    a = tables.assignments
    changed = a[a["case_manager_id"] != a["current_case_manager_id"]]
    out = pd.DataFrame({
        "student_id": changed["student_id"].to_numpy(),
        "from_case_manager_id": changed["current_case_manager_id"].to_numpy(),
        "to_case_manager_id": changed["case_manager_id"].to_numpy(),
        "effective_date": effective,
    }, columns=TRANSFER_COLUMNS)
    return out.sort_values(["to_case_manager_id", "student_id"], kind="stable",
                           ignore_index=True)


def _file_name(educator_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in educator_id)
    return f"to-{safe or 'blank'}.csv"


def write_transfers(tables: PlanTables, folder: str | Path, effective: str,
                    per_case_manager: bool = False) -> Path:
    """Write IEP-system transfer files into ``folder`` (replaced atomically).

    ``transfers.csv`` holds every change; with ``per_case_manager`` there is
    also one ``by-case-manager/to-<id>.csv`` per receiving case manager, since
    the common IEP systems move caseloads one new owner at a time.

    Parameters
    ----------
    tables
        The plan's tables.
    folder
        The folder to write.
    effective
        The date the changes take effect.
    per_case_manager
        Also write one file per receiving case manager.

    Returns
    -------
    Path
        The folder written.
    """
    rows = transfer_rows(tables, effective)
    target = Path(folder)
    with atomic_folder(target) as tmp:
        _write_csv(_safe(rows), tmp / "transfers.csv")
        if per_case_manager:
            (tmp / "by-case-manager").mkdir()
            for to, group in rows[rows["to_case_manager_id"] != ""].groupby(
                    "to_case_manager_id", sort=True):
                _write_csv(_safe(group), tmp / "by-case-manager" / _file_name(to))
    return target


def write_rollover(rollover: Rollover, folder: str | Path) -> Path:
    """Write next year's district folder (and ``rollover_report.csv``), atomically.

    The tables are written as they are (text, every column kept), so the new
    folder reads exactly like the old one; the report sits beside them and is
    ignored by the reader.

    Parameters
    ----------
    rollover
        The result of :func:`optimizer.nextyear.rollover.roll_over`.
    folder
        Next year's district folder.

    Returns
    -------
    Path
        The folder written.
    """
    target = Path(folder)
    with atomic_folder(target) as tmp:
        _write_district_tables(tmp, rollover.tables)
        if rollover.settings_text:
            (tmp / "district.toml").write_text(rollover.settings_text, encoding="utf-8")
        _write_csv(_safe(rollover.report), tmp / "rollover_report.csv")
    return target


def write_report(tables: PlanTables, path: str | Path, *, redact: bool = False) -> Path:
    """Write the one-page HTML report (self-contained; written atomically).

    Parameters
    ----------
    tables
        The plan's tables (``Result.tables()`` or a plan folder read back).
    path
        The ``.html`` file to write.
    redact
        Replace educator names with their ids.

    Returns
    -------
    Path
        The file written.
    """

    if redact:
        tables = redacted(tables)
    target = Path(path)
    with atomic_file(target) as tmp:
        tmp.write_text(render_report(tables, redact=redact), encoding="utf-8")
    return target


def _json(value: object) -> object:
    if hasattr(value, "items"):
        return dict(value.items())
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
