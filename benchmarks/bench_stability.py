"""Stable re-planning: students moved when one educator leaves, with and without the published plan.

Usage::

    .venv/bin/python benchmarks/bench_stability.py

For generated districts (several sizes and seeds): plan, remove the RSP or
SDC teacher with the largest caseload, then re-plan (a) with the first plan
as the published plan and (b) from scratch. Prints the leaver's students, students moved
each way, and the ratio (published / scratch; lower is more stable).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from optimizer import load_district, plan
from optimizer.generator import generate_district
from optimizer.nextyear.scenario import RemoveEducator, Scenario
from optimizer.outputs.export import write_district


def main() -> int:
    print(f"{'students':>9} {'seed':>4} | {'leaver':>7} {'their students':>14} | "
          f"{'moved (published)':>16} {'moved (scratch)':>15} {'ratio':>6} | {'time s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for n, seed in ((2000, 1), (2000, 2), (20000, 1), (20000, 2)):
            d = load_district(write_district(generate_district(n, seed=seed),
                                             Path(tmp) / f"d{n}-{seed}"))
            base = plan(d)
            cl = base.caseloads
            leaver = cl[cl["role"].isin(["RSP", "SDC"])].sort_values(
                ["students", "educator_id"]).iloc[-1]
            d2 = Scenario("leaves", (RemoveEducator(leaver.educator_id),)).apply(d)
            t = time.perf_counter()
            stable = plan(d2, published=base)
            elapsed = time.perf_counter() - t
            scratch = plan(d2)
            old = base.assignments.set_index("student_id")["case_manager_id"]

            def moved(r, old=old) -> int:
                new = r.assignments.set_index("student_id")["case_manager_id"]
                return int((new != old).sum())

            a, b = moved(stable), moved(scratch)
            print(f"{n:>9,} {seed:>4} | {leaver.educator_id:>7} {int(leaver.students):>14} | "
                  f"{a:>16,} {b:>15,} {a / b:>6.2f} | {elapsed:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
