"""What each sheet of ``plan.xlsx`` costs, for generated districts.

For each size (default 2k, 20k and 100k students; seeded) the district is
generated, planned, and its workbook written as ``caseload plan`` writes it
(with the *Edit case managers* drop-downs), every step timed in wall-clock and
CPU seconds of this process:

* each sheet's table (the sheet's own data conversion and rows; names looked
  up for a sheet outside its table count as *prep*),
* the edit sheet with its drop-downs and the hidden lists sheet,
* *assemble*: XlsxWriter putting each sheet's XML together at close,
* *zip*: compressing the parts into the ``.xlsx``.

    .venv/bin/python benchmarks/bench_workbook.py                 # 2k 20k 100k
    .venv/bin/python benchmarks/bench_workbook.py 100000 --services

``--services`` plans service providers too (the Services and Provider rosters
sheets); ``--no-dropdowns`` writes the workbook as ``bench_plan.py`` does
(without the eligibility lists); ``--deflate-threads N`` deflates the large
sheets in N threads at close (default
:func:`optimizer.outputs.xlsx_rows.deflate_threads`: 2 on two cores or more; 0: as
they are zipped).
The machine may be shared: CPU seconds (of every thread) say what the work
itself costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xlsxwriter.packager

from optimizer import load_district, plan
from optimizer.generator import generate_district
from optimizer.graph import eligible_pairs
from optimizer.outputs import edit_sheet, service_sheets, workbook, xlsx_rows
from optimizer.outputs.export import write_district

Clock = tuple[float, float]


def _now() -> Clock:
    return time.perf_counter(), time.process_time()


def _since(t: Clock) -> Clock:
    return time.perf_counter() - t[0], time.process_time() - t[1]


class Timer:
    """Wraps the workbook's steps (by attribute) and adds up their time by label."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.undo: list[tuple[Any, str, Any]] = []

    def add(self, label: str, t: Clock) -> None:
        wall, cpu = _since(t)
        acc = self.times.setdefault(label, [0.0, 0.0])
        acc[0] += wall
        acc[1] += cpu

    def wrap(self, owner: Any, attr: str, label: Callable[..., str]) -> None:
        real = getattr(owner, attr)

        def timed(*args: Any, **kw: Any) -> Any:
            t = _now()
            try:
                return real(*args, **kw)
            finally:
                self.add(label(*args, **kw), t)

        setattr(owner, attr, timed)
        self.undo.append((owner, attr, real))

    def restore(self) -> None:
        for owner, attr, real in reversed(self.undo):
            setattr(owner, attr, real)


def measure(tables: Any, eligible: Any, path: Path) -> tuple[dict[str, list[float]], Clock]:
    timer = Timer()
    # Tables by sheet name; the edit sheet (with its lists); XlsxWriter's close.
    timer.wrap(workbook._Writer, "table", lambda self, name, *a, **k: name)
    timer.wrap(workbook, "write_edit_sheet", lambda *a, **k: "Edit case managers + lists")
    timer.wrap(xlsxwriter.packager.Packager, "_create_package", lambda *a, **k: "assemble")
    timer.wrap(xlsxwriter.Workbook, "close", lambda *a, **k: "close")
    t = _now()
    try:
        workbook.write_workbook(tables, path, eligible=eligible)
    finally:
        timer.restore()
    total = _since(t)
    times = timer.times
    close = times.pop("close")
    times["zip"] = [close[0] - times["assemble"][0], close[1] - times["assemble"][1]]
    inside = [sum(v[i] for v in times.values()) for i in (0, 1)]
    times["prep (outside the sheets)"] = [total[0] - inside[0], total[1] - inside[1]]
    return times, total


ORDER = ["Case managers", "Rosters", *service_sheets.SERVICE_SHEETS, "Changes", "Unplaced",
         "Hiring needs", "Audit", "Edit case managers + lists", "prep (outside the sheets)",
         "assemble", "zip"]


def run(n: int, tmp: Path, services: bool, dropdowns: bool) -> None:
    folder = write_district(generate_district(n, seed=1, services=services), tmp / f"d{n}")
    district = load_district(folder)
    tables = plan(district).tables()
    eligible = eligible_pairs(district) if dropdowns else None
    path = tmp / f"plan{n}.xlsx"
    times, total = measure(tables, eligible, path)
    profiles = (len(edit_sheet.eligible_lists(eligible, tables.assignments["student_id"]
                                              .astype(str).tolist())[0])
                if eligible is not None else 0)
    print(f"\n{n:,} students{' with services' if services else ''}: "
          f"{len(tables.assignments):,} assignment rows, {len(tables.services):,} service "
          f"rows, {profiles:,} eligibility profiles; plan.xlsx "
          f"{path.stat().st_size / 1e6:.1f} MB; large sheets deflated in "
          f"{xlsx_rows.deflate_threads()} thread(s) at close")
    print(f"  {'step':<28} {'wall s':>7} {'CPU s':>7}")
    for label in [*ORDER, *sorted(set(times) - set(ORDER))]:
        if label in times:
            wall, cpu = times[label]
            print(f"  {label:<28} {wall:>7.2f} {cpu:>7.2f}")
    print(f"  {'total':<28} {total[0]:>7.2f} {total[1]:>7.2f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sizes", type=int, nargs="*", default=[2000, 20000, 100000])
    p.add_argument("--services", action="store_true", help="plan service providers too")
    p.add_argument("--no-dropdowns", action="store_true",
                   help="no eligibility drop-downs (as bench_plan.py writes it)")
    p.add_argument("--deflate-threads", type=int, default=xlsx_rows.DEFLATE_THREADS,
                   help="threads deflating the large sheets at close (0: as zipped)")
    p.add_argument("--zlib", action="store_true",
                   help="deflate the large sheets by zlib, not ISA-L (xlsx_rows.FAST_DEFLATE)")
    args = p.parse_args()
    xlsx_rows.DEFLATE_THREADS = args.deflate_threads
    xlsx_rows.FAST_DEFLATE = not args.zlib
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            run(n, Path(tmp), args.services, not args.no_dropdowns)


if __name__ == "__main__":
    main()
