"""A district with services.csv from its CSV files to a written plan folder,
stage by stage (issue 10's and issue 12's end-to-end figure with services).

Usage::

    .venv/bin/python benchmarks/bench_service_e2e.py                  # 100,000 students
    .venv/bin/python benchmarks/bench_service_e2e.py --students 20000 --xlsx

Generates a synthetic district with services.csv (``caseload generate
--services``: minutes and this year's providers, about 1.7 service rows a
student), writes it to CSV files, then times what ``caseload plan`` does with
them: read and validate, the service problem (rules for every service pair
and case-manager option), the solve, the audit of today's providers and the
explanations, and writing the plan folder's CSVs (and, with ``--xlsx``, the
workbook). Wall and CPU seconds of each stage (CPU is the steadier figure on
a shared machine), peak memory, and what the solver proved: status, the two
levels (pairs unserved, students without a case manager) of the plan against
its bound, and the gap on the cost level.

The stages call the same functions as ``optimizer.planning.service_plan.plan_services``,
in the same order; the plan written is the one ``caseload plan`` writes.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from bench_services import cpu_seconds  # (this folder: the scripts run from it)

from optimizer import load_district
from optimizer.generator import generate_district
from optimizer.outputs.export import write_district, write_plan
from optimizer.planning.check import audit_table
from optimizer.planning.objective import Objective
from optimizer.planning.service_explain import explain_service_plan
from optimizer.planning.service_problem import build_district_service_problem, service_params
from optimizer.planning.solvers import SolveParams
from optimizer.planning.solvers.services_exact import ExactParams, solve_services_exact


class Clock:
    """Wall and CPU seconds of each stage, in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()

    def lap(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), cpu_seconds()
        self.rows.append((stage, wall - self._wall, cpu - self._cpu))
        self._wall, self._cpu = wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--xlsx", action="store_true", help="also write plan.xlsx")
    ap.add_argument("--time-limit", type=float, default=SolveParams().time_limit)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "district"
        write_district(generate_district(args.students, seed=args.seed, services=True), folder)
        with open(folder / "services.csv", encoding="utf-8") as f:
            rows = sum(1 for _ in f) - 1
        clock = Clock()
        district = load_district(folder)
        clock.lap("read + validate")
        objective = Objective.from_settings(district.rules.objective)
        sp = build_district_service_problem(district, objective, None, None)
        clock.lap("service problem (rules)")
        params = service_params(objective, args.time_limit)
        sol = solve_services_exact(sp.problem, params, ExactParams())
        clock.lap("solve")
        audit = audit_table(district)
        result = explain_service_plan(sp, sol, params, audit=audit,
                                      balance_mode=SolveParams().balance, made_at=None,
                                      runtime=dict(sp.timings))
        clock.lap("audit + explain")
        write_plan(result, Path(tmp) / "plan", xlsx=False)
        clock.lap("write CSVs")
        if args.xlsx:
            write_plan(result, Path(tmp) / "plan-xlsx", xlsx=True)
            clock.lap("write CSVs + workbook")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p = sp.problem
    print(f"{args.students:,} students, {rows:,} service rows ({p.n_pairs:,} planned), "
          f"{len(p.edge_pair):,} provider options, {len(p.cm_student):,} case-manager "
          f"options; seed {args.seed}, 2 cores")
    print(f"{'stage':<28}{'wall s':>9}{'CPU s':>9}")
    for stage, wall, cpu in clock.rows:
        print(f"{stage:<28}{wall:>9.2f}{cpu:>9.2f}")
    main_rows = [r for r in clock.rows if r[0] != "write CSVs + workbook"]
    print(f"{'total (CSV to plan folder)':<28}{sum(r[1] for r in main_rows):>9.2f}"
          f"{sum(r[2] for r in main_rows):>9.2f}")
    print(f"peak memory {peak:,.0f} MB (the process, generation included)")
    t, b = sol.terms, sol.bound
    print(f"status {sol.status}; unserved pairs {t['unserved']:,} (bound {b['unserved']:,}), "
          f"without a case manager {t['unplaced']:,} (bound {b['unplaced']:,}); "
          + (f"cost gap {sol.gap:.3%}" if sol.gap is not None else
             "cost gap not proven (the levels are apart)"))


if __name__ == "__main__":
    main()
