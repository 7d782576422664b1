"""Time and peak memory to read, validate and build the eligibility graph.

Usage::

    .venv/bin/python benchmarks/bench_graph.py              # 2k, 20k, 100k students
    .venv/bin/python benchmarks/bench_graph.py --sizes 2000 # just one size

Each size is generated (seeded) into a temporary folder, then measured in a
fresh Python process so its peak memory is its own. Targets: what
``caseload graph`` does (read, validate, rules and edges, the counts from the
edge arrays; no networkx graph) for 100k students in under 5 s (issue 12), and
the networkx graph too in under 15 s and 4 GB (issue 2), on a 2-core machine.
Seconds are wall clock; ``cpu`` is the process's CPU seconds for the
``caseload graph`` stages (the machine may be shared). The stages are timed
in a process that imports only what they need; the real ``caseload graph``
command (``optimizer.cli`` imports every command's modules) is timed too,
as a process of its own, start to exit.
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

TARGET_SECONDS = 15.0
TARGET_GB = 4.0
TARGET_GRAPH_COMMAND_SECONDS = 5.0


def measure(folder: str) -> dict:
    """Run in the child process: one district, every stage timed."""
    t0, c0 = time.perf_counter(), time.process_time()
    from optimizer.district.reader import read_district_files
    from optimizer.district.validate import validate_tables
    from optimizer.graph import build_graph, components, edge_table, school_table
    from optimizer.outputs.text import graph_summary

    t_import = time.perf_counter()
    raw = read_district_files(folder)
    t_read = time.perf_counter()
    district, problems = validate_tables(raw)
    assert district is not None, [str(p) for p in problems if p.severity == "error"][:5]
    t_valid = time.perf_counter()
    summary = graph_summary(district)  # what `caseload graph` prints, from arrays
    school_table(district)
    t_summary, c_summary = time.perf_counter(), time.process_time()
    edges = edge_table(district)
    t_edges = time.perf_counter()
    G = build_graph(district)
    t_graph = time.perf_counter()
    comps = components(G)
    t_comp = time.perf_counter()
    return {
        "students": len(district.students), "educators": len(district.educators),
        "edges": len(edges), "components": len(comps),
        "graph_summary_edges": summary["edges"],
        "largest_component_students": len(comps[0][0]),
        "import_s": t_import - t0, "read_s": t_read - t_import, "validate_s": t_valid - t_read,
        "rules_counts_s": t_summary - t_valid, "graph_command_s": t_summary - t0,
        "graph_command_cpu_s": c_summary - c0, "edge_table_s": t_edges - t_summary,
        "networkx_s": t_graph - t_edges,
        "components_s": t_comp - t_graph, "total_s": t_comp - t_import,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def cli_graph(folder: str) -> dict:
    """The real ``caseload graph`` command in its own process: wall-clock and
    CPU seconds from start to exit (interpreter start-up and every import of
    ``optimizer.cli`` included, as a planner would see it)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "optimizer.cli", "graph", folder],
                   capture_output=True, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cli_graph_s": wall, "cli_graph_cpu_s": cpu}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0

    from optimizer.generator import generate_district
    from optimizer.outputs.export import write_district

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            t = time.perf_counter()
            folder = write_district(generate_district(n, seed=args.seed), Path(tmp) / f"d{n}")
            gen_s = time.perf_counter() - t
            out = subprocess.run([sys.executable, __file__, "--child", str(folder)],
                                 capture_output=True, text=True, check=True)
            rows.append({"size": n, "generate_s": gen_s, **json.loads(out.stdout),
                         **cli_graph(str(folder))})

    print(f"{'students':>9} {'educators':>9} {'edges':>10} {'comps':>5} | {'read':>5} "
          f"{'valid':>5} {'rules':>5} {'graph':>6} {'(cpu)':>6} | {'table':>5} {'nx':>5} "
          f"{'comp':>5} | {'total s':>7} {'peak MB':>8} | {'vs 5 s':>6} {'vs 15 s':>7} "
          f"{'vs 4 GB':>7}")
    for r in rows:
        print(f"{r['students']:>9,} {r['educators']:>9,} {r['edges']:>10,} {r['components']:>5} | "
              f"{r['read_s']:>5.2f} {r['validate_s']:>5.2f} {r['rules_counts_s']:>5.2f} "
              f"{r['graph_command_s']:>6.2f} {r['graph_command_cpu_s']:>6.2f} | "
              f"{r['edge_table_s']:>5.2f} {r['networkx_s']:>5.2f} {r['components_s']:>5.2f} | "
              f"{r['total_s']:>7.2f} {r['peak_mb']:>8,.0f} | "
              f"{r['graph_command_s'] / TARGET_GRAPH_COMMAND_SECONDS:>6.2f} "
              f"{r['total_s'] / TARGET_SECONDS:>7.2f} {r['peak_mb'] / 1024 / TARGET_GB:>7.2f}")
    print("`caseload graph` itself (a process of its own, start-up and imports included), "
          "wall (CPU) seconds:")
    for r in rows:
        print(f"{r['students']:>9,} students: {r['cli_graph_s']:.2f} s "
              f"({r['cli_graph_cpu_s']:.2f}); target {TARGET_GRAPH_COMMAND_SECONDS:g} s")
    print("(read = CSV to text tables; valid = checks + records; rules = eligibility of every "
          "pair at each school and the counts `caseload graph` prints; graph = all of "
          "`caseload graph` with imports (cpu: its CPU seconds); table = the edge table's "
          "text columns; nx = networkx graph; ratios < 1 meet the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
