"""Weighted students: solve time (wall and CPU, planner and HiGHS child), proven gap.

Usage::

    .venv/bin/python benchmarks/bench_weighted.py                 # 20k and 100k students
    .venv/bin/python benchmarks/bench_weighted.py --sizes 20000   # one size

Each district is generated (seeded) with ``[student_weights] extensive = 1.5``
and solved in a fresh Python process with ``--time-limit`` (default 60 s,
wall clock for the whole solve). Printed per size: solve seconds, CPU seconds
of the planner process and of the HiGHS child process (read from /proc while
it still runs; the LP and the MIPs run there), status, objective, bound and
proven gap, how many flows and MIPs ran, and a digest of the plan (the same
input must give the same plan). Targets (issue 12): 20,000 students in under
15 s and 100,000 in under 60 s, each with a proven gap under 0.5 %.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(folder: str, time_limit: float) -> dict:
    """(Child process.) Load, build, then the solve alone, timed."""
    from optimizer.district.validate import load_district
    from optimizer.planning.problem import build_problem
    from optimizer.planning.solvers import SolveParams, highs_child, solve

    problem = build_problem(load_district(folder))
    t, c = time.perf_counter(), time.process_time()
    s = solve(problem, SolveParams(time_limit=time_limit))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    child_cpu = None
    child = highs_child._CHILD
    if child is not None and Path(f"/proc/{child.pid}/stat").exists():
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        child_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {"students": problem.n_students, "solve_s": wall, "cpu_s": cpu,
            "highs_child_cpu_s": child_cpu, "status": s.status, "objective": s.objective,
            "bound": s.bound, "gap": s.gap, "placed": int((s.assignment >= 0).sum()),
            "flows": s.facts.get("weight_flows"), "mips": s.facts.get("mip_components", 0),
            "plan_digest": hashlib.sha256(s.assignment.tobytes()).hexdigest()[:12],
            "steps": {k: round(v, 2) for k, v in s.runtime.items()}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], float(args.child[1]))))
        return 0

    from optimizer.generator import generate_district
    from optimizer.outputs.export import write_district

    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            plain = write_district(generate_district(n, seed=args.seed), Path(tmp) / f"d{n}")
            folder = Path(tmp) / f"w{n}"
            shutil.copytree(plain, folder)
            with (folder / "district.toml").open("a") as f:
                f.write("\n[student_weights]\nextensive = 1.5\n")
            out = subprocess.run([sys.executable, __file__, "--child", str(folder),
                                  str(args.time_limit)], capture_output=True, text=True,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            gap = "no bound" if r["gap"] is None else f"gap {r['gap']:.3%}"
            child = ("?" if r["highs_child_cpu_s"] is None
                     else f"{r['highs_child_cpu_s']:.1f}")
            print(f"{r['students']:>9,} students: {r['solve_s']:.1f} s (CPU {r['cpu_s']:.1f} "
                  f"planner + {child} HiGHS child), {r['status']}, {gap}, objective "
                  f"{r['objective']:,.1f}, bound {r['bound'] or 0:,.1f}, placed "
                  f"{r['placed']:,}, {r['flows']} flows, {r['mips']} MIPs, plan "
                  f"{r['plan_digest']}; steps {r['steps']}")
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() \
        else "?"
    print(f"(--time-limit {args.time_limit:g}; load average {load} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
