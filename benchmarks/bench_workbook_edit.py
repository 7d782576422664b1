"""What the Excel round trip costs: the workbook's drop-downs and reading it back.

For generated districts (default 20k and 100k students) prints: eligibility
profiles (one list and one validation rule each), the edge table's time, the
workbook's time and size without the edit sheet, with it but no drop-downs,
and with the drop-downs, and the time to
read the edited sheet back (``check`` / ``--keep``).

    .venv/bin/python benchmarks/bench_workbook_edit.py [20000 100000]
"""

from __future__ import annotations

import sys
import tempfile
import time
import zipfile
from pathlib import Path

from optimizer import edge_table, load_district, plan
from optimizer.generator import generate_district
from optimizer.outputs import workbook
from optimizer.outputs.edit_sheet import eligible_lists, read_edit_sheet
from optimizer.outputs.export import write_district
from optimizer.outputs.workbook import write_workbook


def _no_edit_sheet(*_args, **_kw):
    return None


def run(n: int, tmp: Path) -> None:
    folder = write_district(generate_district(n, seed=1), tmp / f"d{n}")
    district = load_district(folder)
    tables = plan(district).tables()
    t0 = time.process_time()
    edges = edge_table(district)[["student_id", "educator_id"]]
    t_edges = time.process_time() - t0
    profiles, _ = eligible_lists(edges, tables.assignments["student_id"].tolist())
    times, sizes = {}, {}
    real = workbook.write_edit_sheet
    for label, eligible in (("no sheet", None), ("without", None), ("with", edges)):
        # "no sheet": the workbook as before the round trip (the hook made a no-op).
        workbook.write_edit_sheet = _no_edit_sheet if label == "no sheet" else real
        path = tmp / f"plan-{n}-{label}.xlsx"
        t0 = time.process_time()
        write_workbook(tables, path, eligible=eligible)
        times[label] = time.process_time() - t0
        sizes[label] = path.stat().st_size / 1e6
    workbook.write_edit_sheet = real
    with zipfile.ZipFile(tmp / f"plan-{n}-with.xlsx") as z:
        parts = sorted(((i.filename, i.compress_size) for i in z.infolist()
                        if i.filename.startswith("xl/worksheets/sheet")),
                       key=lambda p: int(p[0].rsplit("sheet", 1)[1].split(".")[0]))
    edit_mb, lists_mb = parts[-2][1] / 1e6, parts[-1][1] / 1e6
    t0 = time.process_time()
    frame, problems = read_edit_sheet(tmp / f"plan-{n}-with.xlsx")
    t_read = time.process_time() - t0
    assert frame is not None and not problems and len(frame) == n
    print(f"{n:>7,} students  {len(edges):>9,} edges  {len(profiles):>6,} profiles | "
          f"edge table {t_edges:5.1f}s | workbook before the edit sheet "
          f"{times['no sheet']:5.1f}s {sizes['no sheet']:5.1f} MB, "
          f"with it but no drop-downs {times['without']:5.1f}s "
          f"{sizes['without']:5.1f} MB, with {times['with']:5.1f}s {sizes['with']:5.1f} MB | "
          f"read back {t_read:5.1f}s | inside: edit sheet {edit_mb:4.1f} MB, "
          f"lists sheet {lists_mb:5.2f} MB", flush=True)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [20_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            run(n, Path(tmp))


if __name__ == "__main__":
    main()
