"""End-to-end planning: time per stage, peak memory, and quality against a greedy baseline.

Usage::

    .venv/bin/python benchmarks/bench_plan.py                 # 2k, 20k, 100k students
    .venv/bin/python benchmarks/bench_plan.py --sizes 20000

Each size is generated (seeded), then planned read -> write in a fresh Python
process (so peak memory is its own). The baseline is
:func:`optimizer.planning.greedy.greedy_assignment` (fewest options first, cheapest,
least loaded). Targets (issue 3): 100k students end to end in under 30 s and
4 GB, proven optimal; the sample district in under 3 s with interpreter start.
Issue 5: the plan workbook must not take longer than planning itself.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(folder: str, out: str) -> dict:
    t0 = time.perf_counter()
    from optimizer.district.validate import load_district
    from optimizer.outputs.export import write_plan
    from optimizer.outputs.workbook import write_workbook
    from optimizer.planning.check import audit_table
    from optimizer.planning.explain import explain_plan
    from optimizer.planning.greedy import greedy_assignment
    from optimizer.planning.problem import build_problem
    from optimizer.planning.solution import Solution
    from optimizer.planning.solvers import solve

    t_import = time.perf_counter()
    district = load_district(folder)
    t_read = time.perf_counter()
    problem = build_problem(district)
    audit = audit_table(district)
    result = explain_plan(problem, solve(problem), audit=audit)
    t_solve = time.perf_counter()
    write_plan(result, out, xlsx=False)
    t_write = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tw = time.perf_counter()
    write_workbook(result.tables(), Path(out) / "plan.xlsx")
    workbook_s = time.perf_counter() - tw
    peak_wb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tg = time.perf_counter()
    greedy = greedy_assignment(problem)
    greedy_s = time.perf_counter() - tg
    greedy_points = sum(problem.objective_terms(greedy).values())
    base = explain_plan(problem, Solution(greedy, "feasible", "greedy", greedy_points, None),
                        audit=audit)
    rt = result.figures["runtime_s"]

    def quality(r) -> dict:
        f = r.figures
        return {"placed": f["placed"], "best_practice": f["best_practice_share"],
                "continuity": f["continuity_share"], "max_ratio": f["load_ratio"]["max"],
                "std_ratio": f["load_ratio"]["std"], "objective": r.objective}

    return {
        "students": problem.n_students, "educators": problem.n_educators,
        "edges": problem.n_edges, "status": result.status, "gap": result.gap,
        "import_s": t_import - t0, "read_validate_s": t_read - t_import,
        "rules_s": rt["rules_and_edges"] + rt["problem"],
        "solve_s": rt.get("flow", 0) + rt.get("cpsat", 0) + rt["components"],
        "explain_s": rt["explain"], "write_s": t_write - t_solve,
        "end_to_end_s": t_write - t_import, "peak_mb": peak, "greedy_s": greedy_s,
        "workbook_s": workbook_s, "peak_with_workbook_mb": peak_wb,
        "optimal": quality(result), "greedy": quality(base),
    }


def sample_cli_seconds() -> float:
    """The sample district planned by the CLI, interpreter start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "optimizer.cli", "plan", str(ROOT / "data" /
                        "sample"), "--out", str(Path(tmp) / "p"), "--quiet"],
                       check=True, capture_output=True)
        return time.perf_counter() - t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return 0
    from optimizer.generator import generate_district
    from optimizer.outputs.export import write_district

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            folder = write_district(generate_district(n, seed=args.seed), Path(tmp) / f"d{n}")
            out = subprocess.run([sys.executable, __file__, "--child", str(folder),
                                  str(Path(tmp) / f"plan{n}")],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout))

    print("Time per stage (s), peak memory (MB):")
    print(f"{'students':>9} {'edges':>10} | {'read':>5} {'rules':>5} {'solve':>5} "
          f"{'expl':>5} {'write':>5} | {'total':>6} {'peak':>6} | {'status':>8} "
          f"| {'vs 30s':>6} {'vs 4GB':>6}")
    for r in rows:
        print(f"{r['students']:>9,} {r['edges']:>10,} | {r['read_validate_s']:>5.2f} "
              f"{r['rules_s']:>5.2f} {r['solve_s']:>5.2f} {r['explain_s']:>5.2f} "
              f"{r['write_s']:>5.2f} | {r['end_to_end_s']:>6.2f} {r['peak_mb']:>6,.0f} | "
              f"{r['status']:>8} | {r['end_to_end_s'] / 30:>6.2f} "
              f"{r['peak_mb'] / 4096:>6.2f}")
    print("\nWorkbook (plan.xlsx, every sheet), against planning read -> write:")
    for r in rows:
        print(f"{r['students']:>9,} students: workbook {r['workbook_s']:.2f} s, planning "
              f"{r['end_to_end_s']:.2f} s, ratio {r['workbook_s'] / r['end_to_end_s']:.2f} "
              f"(target <= 1); peak with workbook {r['peak_with_workbook_mb']:,.0f} MB")
    print("\nQuality, optimal vs greedy baseline (ratio = optimal / greedy):")
    print(f"{'students':>9} | {'placed':>15} | {'best practice':>19} | {'continuity':>19} | "
          f"{'max load ratio':>19} | {'std load ratio':>19} | {'objective':>9}")
    for r in rows:
        o, g = r["optimal"], r["greedy"]

        def cell(key: str, pct: bool = False, o=o, g=g) -> str:
            a, b = o[key], g[key]
            ratio = a / b if b else float("nan")
            fmt = "{:.1%}" if pct else "{:.3f}"
            return f"{fmt.format(a):>6} {fmt.format(b):>6} {ratio:>5.2f}"

        print(f"{r['students']:>9,} | {o['placed']:>6,} {g['placed']:>6,} "
              f"{o['placed'] / max(g['placed'], 1):>1.2f} | {cell('best_practice', True)} | "
              f"{cell('continuity', True)} | {cell('max_ratio')} | {cell('std_ratio')} | "
              f"{o['objective'] / g['objective']:>9.3f}")
    print(f"\nSample district via the CLI, interpreter start-up included: "
          f"{sample_cli_seconds():.2f} s (target 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
