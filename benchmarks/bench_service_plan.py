"""How long building a district's service problem takes (issue 10, wiring).

Generates a synthetic district (``optimizer.generator``), writes and reads it
back, then times :func:`optimizer.planning.service_problem.build_district_service_problem`
(service options from the rules, case-manager options from the edge table) and,
with ``--explain``, a whole service plan (solve and explain too; the solver's
own figures are in ``bench_services.py``). Services come from
``students.services`` (no services.csv yet in the generator when written).

    .venv/bin/python benchmarks/bench_service_plan.py 100000

Measured on 2 shared cores (load ~8 from other jobs), 30 November 2026:
see the session's closing note (figures are re-measured there, not kept here).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import tempfile
import time

from optimizer import load_district
from optimizer.generator import generate_district
from optimizer.graph import edge_table
from optimizer.outputs.export import write_district
from optimizer.planning.service_problem import build_district_service_problem


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("students", type=int, nargs="?", default=100_000)
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--explain", action="store_true", help="also solve and explain")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_district(generate_district(args.students, seed=args.seed), f"{tmp}/d")
        d = load_district(f"{tmp}/d")
        d = dataclasses.replace(d, settings={**d.settings, "plan_services": True})
        print(f"generate + read: {time.perf_counter() - t0:.1f}s; "
              f"{len(d.students):,} students, {len(d.service_needs):,} service rows")
        t0 = time.perf_counter()
        edge_table(d)
        print(f"edge table (shared with the case-manager plan): {time.perf_counter() - t0:.1f}s")
        t0, c0 = time.perf_counter(), time.process_time()
        sp = build_district_service_problem(d)
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        # CPU seconds too: on a shared machine the wall clock also counts other jobs.
        print(f"service problem: {took:.2f}s wall, {cpu:.2f}s CPU (process peak RSS "
              f"{peak:.0f} MB); "
              f"{sp.problem.n_pairs:,} planned pairs, {len(sp.problem.edge_pair):,} "
              f"service options, {len(sp.problem.cm_student):,} case-manager options; "
              + ", ".join(f"{k} {v:.2f}s" for k, v in sp.timings.items()))
        if args.explain:
            from optimizer.planning.planner import plan

            t0 = time.perf_counter()
            r = plan(d)
            print(f"whole service plan: {time.perf_counter() - t0:.1f}s; {r.status}; "
                  + ", ".join(f"{k} {v:.2f}s" for k, v in r.figures["runtime_s"].items()))


if __name__ == "__main__":
    main()
