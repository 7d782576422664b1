"""Writing files: district folders, plan folders, tables, transfer files, the report.

With the district reader, the outputs package is the only code that touches
files (an import-linter contract, docs/architecture.md). Folders are
written beside the target and renamed into place, so an interrupted run
never leaves a half-written folder over a good one.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from optimizer.district.textsafe import FORMULA_START, neutralize_formula
from optimizer.generator import GeneratedDistrict
from optimizer.nextyear.rollover import Rollover
from optimizer.outputs.csv_text import guarded_csv_blocks
from optimizer.outputs.html_report import render_report
from optimizer.outputs.outfolder import (
    OutputError,
    atomic_file,
    atomic_folder,
    source_date,
)
from optimizer.outputs.plan_folder import PLAN_TABLE_FILES, SERVICES_FILE
from optimizer.outputs.redaction import redacted
from optimizer.outputs.service_sheets import has_services
from optimizer.outputs.side_process import SideProcessError, beside, can_fork, computed_beside
from optimizer.planning.result import PlanTables, Result

__all__ = ["plan_summary_json", "transfer_file_names", "transfer_rows", "write_district",
           "write_plan", "write_report", "write_rollover", "write_table", "write_transfers"]


def plan_summary_json(summary: Mapping[str, Any]) -> str:
    """``summary.json`` text: the same bytes for the same plan. Run times are
    left out (they are printed, not stored); ``made_at`` is written only from
    ``SOURCE_DATE_EPOCH``."""
    figures = {k: v for k, v in dict(summary).items() if k not in ("runtime_s", "made_at")}
    made = source_date()
    if made is not None:
        figures["made_at"] = made.isoformat(timespec="seconds")
    return json.dumps(figures, indent=2, default=_json) + "\n"


def _write_district_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        if name == "locks" and frame.empty:
            continue  # locks.csv is optional: no locks, no file
        # Guarded like every CSV the tool writes; the reader removes the guard,
        # so the district reads back as it was.
        _write_csv(_safe(frame), folder / f"{name}.csv")


def write_district(district: GeneratedDistrict, folder: str | Path, *,
                   force: bool = False) -> Path:
    """Write a generated district as a district folder (CSV files + district.toml).

    Parameters
    ----------
    district
        Tables from :func:`optimizer.generator.generate_district`.
    folder
        Target folder; replaced atomically if it is a folder the tool wrote
        (or, with ``force``, any folder: see :mod:`optimizer.outputs.outfolder`).

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
    with atomic_folder(target, kind="district", force=force) as tmp:
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
    # Python's csv quotes a cell holding the delimiter, a quote or "\n", but not
    # one holding a lone "\r", which a spreadsheet reads as a line break (and a
    # row injected after it). When any cell holds one, every cell is quoted.
    quoting = csv.QUOTE_ALL if _has_cr(frame) else csv.QUOTE_MINIMAL
    frame.to_csv(path, index=False, lineterminator="\n", quoting=quoting)


def _write_guarded_csv(frame: pd.DataFrame, path: Path) -> None:
    """``_write_csv(_safe(frame), path)``: the same bytes, made by distinct
    values where the frame allows it (csv_text.py; a plan's assignments)."""
    blocks = guarded_csv_blocks(frame)
    if blocks is None:
        _write_csv(_safe(frame), path)
        return
    with path.open("wb") as f:
        f.writelines(blocks)


def _has_cr(frame: pd.DataFrame) -> bool:
    if any("\r" in str(c) for c in frame.columns):
        return True
    for col in frame.columns:
        s = frame[col]
        # One C-level join and search per column: a plan's text columns hold
        # hundreds of thousands of cells (str.contains costs ~1 s a plan at 100k).
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)) and \
                "\r" in _joined_text(s):
            return True
    return False


def _joined_text(column: pd.Series) -> str:
    """The column's cells as text, joined (str() only where a cell is not text)."""
    values = column.to_numpy(dtype=object)
    try:
        return "".join(values)
    except TypeError:
        return "".join(map(str, values))


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
    safe.columns = [neutralize_formula(c) if isinstance(c, str) else c for c in safe.columns]
    for col in safe.columns:
        # Any column that may hold text (object, string or category dtype).
        if not (pd.api.types.is_numeric_dtype(safe[col]) or
                pd.api.types.is_bool_dtype(safe[col])):
            safe[col] = _neutralized(safe[col].astype(object))
    return safe


#: A line of text that starts like a formula (FORMULA_START), in a multi-line string.
_STARTS_LIKE_FORMULA = re.compile("^[" + re.escape("".join(FORMULA_START)) + "]", re.MULTILINE)


def _neutralized(column: pd.Series) -> pd.Series:
    """:func:`neutralize_formula` on each text cell (others as they are), by
    array: only the few cells that start like a formula are touched."""
    # Most columns have no such cell: one regular-expression search over the
    # column's text joined by newlines proves it in C. A match (which may be a
    # cell's own newline followed by "=") falls through to the cell-by-cell test.
    try:  # join refuses a column holding anything but text: then cell by cell
        joined = "\n".join(column.to_numpy(dtype=object))
    except TypeError:
        joined = "="
    if not _STARTS_LIKE_FORMULA.search(joined):
        return column
    try:
        risky = column.str.startswith(FORMULA_START, na=False).to_numpy(dtype=bool)
    except AttributeError:  # no text in the column at all (pandas refuses .str)
        # As objects: map() would infer a dtype, making 5 of a column of 5 and
        # 0.3 a float (5.0).
        return pd.Series([neutralize_formula(v) if isinstance(v, str) else v
                          for v in column.to_numpy(dtype=object)],
                         index=column.index, name=column.name, dtype=object)
    if not risky.any():
        return column
    values = column.to_numpy(dtype=object, copy=True)
    values[risky] = [neutralize_formula(v) for v in values[risky]]
    return pd.Series(values, index=column.index, name=column.name, dtype=object)


def write_plan(result: Result, folder: str | Path, *, xlsx: bool = True,
               redact: bool = False, inputs: Sequence[str | Path] = (),
               force: bool = False, eligible: pd.DataFrame | None = None,
               extra_tables: Mapping[str, pd.DataFrame] | None = None,
               extra_files: Mapping[str, Callable[[Path], object]] | None = None,
               side_process: bool | None = None) -> Path:
    """Write a plan folder: assignments, caseloads, unassigned, hiring needs,
    audit, summary, ``services.csv`` when the plan plans service providers, and
    (unless ``xlsx=False``) the workbook ``plan.xlsx``.

    The folder is written beside the target and renamed into place, so an
    interrupted run never leaves half a plan over a good one. Text cells are
    guarded against spreadsheet formula injection. Every file is the same
    bytes for the same district (no run times; a time only from
    ``SOURCE_DATE_EPOCH``, see :func:`source_date`).

    Parameters
    ----------
    result
        The plan (:func:`optimizer.plan`).
    folder
        The plan folder to write. An existing folder is replaced only if the
        tool wrote it or ``force`` is given
        (:func:`optimizer.outputs.outfolder.check_target`).
    xlsx
        Also write the workbook ``plan.xlsx``.
    redact
        Replace educator names with their ids, and withhold lock reasons.
    inputs
        Files and folders this run read (the district, a published plan):
        never replaced.
    force
        Replace a folder the tool did not write.
    eligible
        The district's edge table (:func:`optimizer.graph.edge_table`): the
        workbook's *Edit case managers* sheet then offers each student a
        drop-down of exactly their eligible educators.
    extra_tables
        More CSV files for the folder, by file name (``warnings.csv``, a
        what-if's comparison), written with the same guards.
    extra_files
        More files by name, each written by its function given the path (a
        comparison workbook or page), inside the same atomic folder.
    side_process
        Write ``plan.xlsx`` in a second process while this one writes the
        other files (:func:`optimizer.outputs.side_process.beside`; the same
        bytes): True where ``os.fork`` exists; False: everything in this process.
        None (default): in this process (its largest sheets in a second one
        from :data:`SHEETS_APART_ROWS` rows), unless the environment variable
        ``CASELOAD_WORKBOOK_PROCESS`` is ``1`` (then where
        :func:`~optimizer.outputs.side_process.can_fork` says so). Off by default because it did
        not pay: at 100,000 students on 2 cores (``make bench``, quiet
        machine) the folder took 20.1 s with the workbook beside against
        18.7 s in turn, the child's workbook costing 8.2 CPU s instead of 5.8
        (its pages copied on write) and 670 MB more at the peak.

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
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_folder(target, kind="plan", inputs=inputs,
                                                force=force))
        fork: bool | None = side_process
        if side_process is None and os.environ.get("CASELOAD_WORKBOOK_PROCESS") != "1":
            fork = False  # (with the variable: where side_process.can_fork() says so)
        apart = _sheets_apart(tables) if xlsx and side_process is None else None
        made_apart: Callable[[], Any] | None = None
        services_csv = "services" in tables.summary  # only a plan that plans service providers
        services_apart = False
        if apart is not None and fork is False:
            # The workbook's largest sheets (Services and Provider rosters, or
            # else the edit sheet and its lists) made in a second process while
            # this one writes the CSVs and the other sheets (the same bytes;
            # written here if that fails). Its temporary files in a folder
            # this process removes, after the child is stopped (a killed
            # child cleans up nothing). With the service sheets, services.csv
            # too: this process was the one waited for (100,000 students: its
            # CSVs and sheets about 3.5 s of CPU, the second's 3.2 s; the file
            # 0.4 s), and is written here again if the second process fails.
            # (Not when the caller gives a services.csv of its own: written
            # here after ours, as before, not raced by the second process.)
            services_apart = (apart == "services" and services_csv
                              and SERVICES_FILE not in {*(extra_tables or {}),
                                                        *(extra_files or {})})
            scratch = stack.enter_context(tempfile.TemporaryDirectory())
            made_beside = _or_none(stack.enter_context(computed_beside(
                functools.partial(_made_apart, tables, apart, redact, eligible, scratch,
                                  tmp / SERVICES_FILE if services_apart else None),
                f"plan.xlsx's {apart} sheets")))

            def sheets_made() -> Any:
                made = made_beside()
                return None if made is None else made[1]

            made_apart = sheets_made
        # The whole workbook in a second process while this one writes the
        # CSVs, where asked (side_process.py: same bytes, its error raised
        # here, nothing renamed into place unless both finished).
        workbook = (functools.partial(_write_plan_workbook, tables, tmp / "plan.xlsx",
                                      redact, eligible, os.getpid(),
                                      apart if made_apart is not None else None, made_apart)
                    if xlsx else None)
        with (beside(workbook, "plan.xlsx", fork=fork) if workbook is not None
              else contextlib.nullcontext()):
            for table, name in PLAN_TABLE_FILES.items():
                _write_guarded_csv(getattr(tables, table), tmp / name)
            if services_csv and not services_apart:
                _write_guarded_csv(tables.services, tmp / SERVICES_FILE)
            (tmp / "summary.json").write_text(plan_summary_json(tables.summary),
                                              encoding="utf-8")
            for name, frame in (extra_tables or {}).items():
                _write_guarded_csv(frame, tmp / name)
            for name, writer in (extra_files or {}).items():
                writer(tmp / name)
        if services_apart and made_beside() is None:  # (the second process failed)
            _write_guarded_csv(tables.services, tmp / SERVICES_FILE)
    return target


def _made_apart(tables: PlanTables, apart: Literal["services", "edit"], redact: bool,
                eligible: pd.DataFrame | None, scratch: str, services_csv: Path | None
                ) -> tuple[bool, Any]:
    """(In the second process of :func:`write_plan`.) ``services.csv`` when
    ``services_csv`` names it, then the workbook's sheets made apart
    (:func:`optimizer.outputs.workbook.sheet_parts`); the True first says
    that it got this far."""
    from optimizer.outputs.workbook import sheet_parts  # (see _write_plan_workbook)

    if services_csv is not None:
        _write_guarded_csv(tables.services, services_csv)
    return True, sheet_parts(tables, apart, redact=redact, eligible=eligible, folder=scratch)


#: Bytes of a workbook sheet's rows kept in memory when the workbook is written
#: in a second process (:data:`optimizer.outputs.xlsx_rows.SPOOL_BYTES` in one):
#: the two processes' memory adds up, and beyond this a sheet's rows go to a
#: temporary file (100,000 students: about 115 MB less at the peak).
BESIDE_SPOOL_BYTES = 16 * 1024 * 1024


def _write_plan_workbook(tables: PlanTables, path: Path, redact: bool,
                         eligible: pd.DataFrame | None, planner_pid: int,
                         apart: Literal["services", "edit"] | None = None,
                         made_apart: Callable[[], Any] | None = None) -> None:
    # Imported here, not at the top: xlsxwriter loads only when a workbook is written.
    from optimizer.outputs import xlsx_rows  # (xlsx_rows imports xlsxwriter too)
    from optimizer.outputs.workbook import write_workbook  # see above

    if os.getpid() != planner_pid:  # the second process (its own copy of the module)
        xlsx_rows.SPOOL_BYTES = min(xlsx_rows.SPOOL_BYTES, BESIDE_SPOOL_BYTES)
    write_workbook(tables, path, redact=redact, eligible=eligible, apart=apart,
                   made_apart=made_apart)


#: Rows from which ``write_plan`` makes the workbook's largest sheets in a
#: second process (where :func:`~optimizer.outputs.side_process.can_fork`
#: and the whole workbook is not written in one already): service rows for
#: the service sheets, else students for the edit sheet and its lists. On
#: small plans the fork costs about what it saves. At 100,000 students on
#: 2 cores, the plan folder with its workbook took 4.8 s instead of 7.5 with
#: services (docs/exports.md).
SHEETS_APART_ROWS = 20_000


def _sheets_apart(tables: PlanTables) -> Literal["services", "edit"] | None:
    """The group of sheets ``write_plan`` makes in a second process, if any."""
    if not can_fork():
        return None
    if has_services(tables) and len(tables.services) >= SHEETS_APART_ROWS:
        return "services"
    # (A plan with few service rows for its students: its edit sheet, as without.)
    return "edit" if len(tables.assignments) >= SHEETS_APART_ROWS else None


def _or_none(made: Callable[[], Any]) -> Callable[[], Any]:
    """``made()``, or None when the second process failed: its sheets are then
    written in this one, where an error in them is raised as it would be
    without a second process. Asked once; later calls give the same answer
    (write_plan asks again for services.csv, and a failed child is not
    waited for twice)."""
    answer: list[Any] = []

    def get() -> Any:
        if not answer:
            try:
                answer.append(made())
            except (SideProcessError, OSError):
                answer.append(None)
        return answer[0]
    return get


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


def transfer_file_names(educator_ids: Sequence[str]) -> dict[str, str]:
    """One distinct, portable file name per receiving case manager.

    An id made only of ASCII letters, digits, ``-`` and ``_`` is used as it
    is (``to-E12.csv``). Any other id, and any id whose name would clash with
    another one's on a case-insensitive file system (``E1`` and ``e1``), gets
    a short digest of the id appended (``E.1`` -> ``to-E_1-3f2a9c1b.csv``), so
    no two case managers ever share a file.
    """

    def plain(eid: str) -> str:
        return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else "_"
                       for ch in eid) or "blank"

    def digest(eid: str) -> str:
        return hashlib.sha256(eid.encode("utf-8")).hexdigest()[:8]

    base = {eid: plain(eid) for eid in educator_ids}
    clash = Counter(name.casefold() for name in base.values())
    names = {eid: f"to-{name}.csv" if name == eid and clash[name.casefold()] == 1
             else f"to-{name}-{digest(eid)}.csv" for eid, name in base.items()}
    if len({n.casefold() for n in names.values()}) != len(names):  # digests collide: never
        raise OutputError("two case managers' transfer files would share a name")
    return names


def write_transfers(tables: PlanTables, folder: str | Path, effective: str,
                    per_case_manager: bool = False, *, inputs: Sequence[str | Path] = (),
                    force: bool = False) -> Path:
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
    with atomic_folder(target, kind="transfers", inputs=inputs, force=force) as tmp:
        _write_csv(_safe(rows), tmp / "transfers.csv")
        if per_case_manager:
            (tmp / "by-case-manager").mkdir()
            receiving = rows[rows["to_case_manager_id"] != ""]
            names = transfer_file_names(sorted(set(receiving["to_case_manager_id"])))
            for to, group in receiving.groupby("to_case_manager_id", sort=True):
                _write_csv(_safe(group), tmp / "by-case-manager" / names[to])
    return target


def write_rollover(rollover: Rollover, folder: str | Path, *,
                   inputs: Sequence[str | Path] = (), force: bool = False) -> Path:
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
    with atomic_folder(target, kind="district", inputs=inputs, force=force) as tmp:
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
