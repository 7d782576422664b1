"""Service caseloads at district scale: solve time, peak memory, proof.

Usage::

    .venv/bin/python benchmarks/bench_services.py                  # 100,000 students
    .venv/bin/python benchmarks/bench_services.py --students 20000 --seed 3
    .venv/bin/python benchmarks/bench_services.py --regional --modes count

Generates a synthetic district straight into arrays (no files: this measures
the solver, not reading CSVs) and solves it twice in fresh processes (so each
peak memory is its own): with count caps only, then with minute capacities.
Targets (issue 10): count caps proven optimal well under 30 s; minute
capacities with a proven gap under 0.5 % within 60 s.

Every figure below is ILLUSTRATIVE (synthetic data), chosen to look like a
large California district; the sources are in docs/service-caseloads.md:

- services per student (LAO overview: ~69 % SAI, 38 %+ speech; others each
  small) -- here SAI 69 % (a quarter in SDC), speech 55 %, OT 14 %, counseling
  15 %, behavior 7 %, APE 5 %, PT 2 %, DHH 1.5 %, VI 1 %: about 1.7 rows a
  student, ~170,000 rows for 100,000 students;
- minutes per week from the illustrative ranges (SAI RSP 60-600, SDC
  900-1,800, speech 30-120, OT/PT 15-60, ...);
- caps: RSP 28 (EC 56362(c)), SLP 55 per FTE as the local planning cap
  (EC 56363.3 average), SDC 14, psychologist 60, itinerants 20 (local,
  illustrative); staffing drawn at 90-115 % of need, so some schools are short;
- minute capacities: SLP 2,400 min per FTE (North Carolina's 35-40 IEP hours
  ~ 1 FTE), itinerants and psychologists 1,800 (illustrative); RSP and SDC
  none (group instruction: minutes do not add up per teacher).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCHOOL_SIZE = 125  # students with IEPs per school
CLUSTER = 5  # schools per itinerant cluster

SERVICE_SHARE = {"SAI": 0.69, "SPEECH": 0.55, "OT": 0.14, "COUNSELING": 0.15,
                 "BEHAVIOR": 0.07, "APE": 0.05, "PT": 0.02, "DHH": 0.015, "VI": 0.01}
MINUTES = {"SAI_RSP": (60, 600), "SAI_SDC": (900, 1800), "SPEECH": (30, 120), "OT": (15, 60),
           "PT": (15, 60), "APE": (60, 120), "COUNSELING": (30, 60), "BEHAVIOR": (30, 60),
           "DHH": (30, 180), "VI": (30, 180)}
ROLE_OF = {"SPEECH": "SLP", "OT": "OT", "PT": "PT", "APE": "APE", "COUNSELING": "PSY",
           "BEHAVIOR": "PSY", "DHH": "DHH", "VI": "VI"}
CAP = {"RSP": 28, "SDC": 14, "SLP": 55, "PSY": 60, "OT": 20, "PT": 20, "APE": 20, "DHH": 20,
       "VI": 20, "COORD": 30}
MINUTES_CAP = {"SLP": 2400, "PSY": 1800, "OT": 1800, "PT": 1800, "APE": 1800, "DHH": 1800,
               "VI": 1800}
ITINERANT = {"OT", "PT", "APE", "DHH", "VI", "COORD"}


def generate(n_students: int, seed: int, regional: bool = False) -> dict:
    """Arrays for ServiceProblem.from_arrays (plus the minute capacities apart).

    ``regional``: itinerants, SLPs and psychologists never cross a cluster of
    schools (clusters of 6, so psychologist teams of two schools stay inside),
    so the district falls into independent regions.
    """
    rng = np.random.default_rng(seed)
    n_schools = max(1, n_students // SCHOOL_SIZE)
    school = np.sort(rng.integers(0, n_schools, n_students))
    size = 6 if regional else CLUSTER
    cluster = school // size
    has = {s: rng.random(n_students) < p for s, p in SERVICE_SHARE.items()}
    sdc = has["SAI"] & (rng.random(n_students) < 0.25)
    # Every student has at least one service: those with none get speech.
    none = ~np.any(np.stack(list(has.values())), axis=0)
    has["SPEECH"] |= none

    providers: list[tuple[str, int, float, int]] = []  # role, unit (school/cluster), fte, other
    by_unit: dict[tuple[str, int], list[int]] = {}

    def staff(role: str, unit: int, demand: float) -> None:
        need = demand / CAP[role] * rng.uniform(0.90, 1.15)
        n_full = int(need)
        ftes = [1.0] * n_full
        rest = need - n_full
        if rest > 0.15 or not ftes:
            ftes.append(round(max(rest, 0.5), 1))
        for fte in ftes:
            other = int(rng.integers(0, 4)) if role in ("SLP", "RSP") else 0
            by_unit.setdefault((role, unit), []).append(len(providers))
            providers.append((role, unit, fte, other))

    for sc in range(n_schools):
        here = school == sc
        staff("RSP", sc, float((has["SAI"] & ~sdc & here).sum()))
        staff("SDC", sc, float((sdc & here).sum()))
        staff("SLP", sc, float((has["SPEECH"] & here).sum()))
        if sc % 2 == 0:  # a psychologist team for two schools
            pair_here = (school == sc) | (school == sc + 1)
            staff("PSY", sc, float(((has["COUNSELING"] | has["BEHAVIOR"]) & pair_here).sum()))
    for cl in range(int(cluster.max()) + 1):
        here = cluster == cl
        for svc in ("OT", "PT", "APE", "DHH", "VI"):
            staff(ROLE_OF[svc], cl, float((has[svc] & here).sum()))
        # Program specialists for the students no teacher or SLP serves.
        alone = ~(has["SAI"] | has["SPEECH"] | has["DHH"] | has["VI"])
        staff("COORD", cl, float((alone & here).sum()))

    def unit_of(role: str, sc: np.ndarray) -> np.ndarray:
        if role in ITINERANT:
            return sc // size
        if role == "PSY":
            return sc - sc % 2
        return sc

    def eligible(role: str, st: int, keep: float) -> list[int]:
        sc = school[st]
        out = list(by_unit.get((role, int(unit_of(role, np.array(sc)))), []))
        if role in ITINERANT and not regional:
            # Neighbours' itinerants too: one district-wide component.
            out += by_unit.get((role, int(unit_of(role, np.array(sc))) + 1), [])[:1]
        if role == "SLP" and (not regional or (sc + 1) // size == sc // size):
            # An SLP of the next school covers some days here.
            out += by_unit.get(("SLP", int(sc) + 1), [])[:1]
        return [e for e in out if rng.random() < keep] or out[:1]

    pair_student, pair_service, pair_minutes, pair_current = [], [], [], []
    edge_pair, edge_provider, edge_rank = [], [], []
    cm_student, cm_provider, cm_kind, cm_rank = [], [], [], []
    current_cm = np.full(n_students, -1, dtype=np.int64)
    order = ["SAI", "SPEECH", "OT", "PT", "APE", "COUNSELING", "BEHAVIOR", "DHH", "VI"]
    for st in range(n_students):
        own: dict[int, int] = {}
        first_pair = len(pair_student)
        for svc in order:
            if not has[svc][st]:
                continue
            if svc == "SAI":
                role = "SDC" if sdc[st] else "RSP"
                lo, hi = MINUTES["SAI_SDC" if sdc[st] else "SAI_RSP"]
                elig = eligible(role, st, 0.85)
            else:
                role = ROLE_OF[svc]
                lo, hi = MINUTES[svc]
                elig = eligible(role, st, 1.0)
            p = len(pair_student)
            pair_student.append(st)
            pair_service.append(svc)
            pair_minutes.append(float(rng.integers(lo // 15, hi // 15 + 1) * 15))
            pair_current.append(int(rng.choice(elig)) if elig and rng.random() < 0.7 else -1)
            for e in elig:
                edge_pair.append(p)
                edge_provider.append(e)
                edge_rank.append(0)
            if svc == "SAI":
                for e in elig:
                    own[e] = 0
            elif svc in ("SPEECH", "DHH", "VI"):
                for e in elig:
                    own.setdefault(e, 0 if not has["SAI"][st] else 1)
        for e, r in own.items():
            cm_student.append(st)
            cm_provider.append(e)
            cm_kind.append(0)
            cm_rank.append(r)
        coords = by_unit.get(("COORD", int(cluster[st])), [])[:2]
        coords += by_unit.get(("RSP", int(school[st])), [])[:1]
        for e in coords:
            cm_student.append(st)
            cm_provider.append(e)
            cm_kind.append(1)
            cm_rank.append(2)
        # This year's case manager: usually this year's SAI teacher (or the
        # SLP, DHH or VI teacher who serves the student), sometimes someone else.
        mine = [pair_current[q] for q in range(first_pair, len(pair_student))
                if pair_current[q] in own]
        if mine and rng.random() < 0.9:
            current_cm[st] = mine[0]
        elif own and rng.random() < 0.5:
            current_cm[st] = int(rng.choice(list(own)))
    roles = np.array([p[0] for p in providers], dtype=object)
    fte = np.array([p[2] for p in providers])
    cap = np.array([int(CAP[r] * f + 1e-9) for r, f in zip(roles, fte, strict=True)])
    minutes_cap = np.array([MINUTES_CAP.get(r, np.inf) * f for r, f in
                            zip(roles, fte, strict=True)])
    return dict(
        student_ids=[f"S{i:06d}" for i in range(n_students)], current_cm=current_cm,
        pair_student=pair_student, pair_service=pair_service, pair_minutes=pair_minutes,
        pair_current=pair_current, provider_ids=[f"E{i:05d}" for i in range(len(providers))],
        provider_role=roles, cap=cap, fte=fte, other_load=[p[3] for p in providers],
        edge_pair=edge_pair, edge_provider=edge_provider, edge_rank=edge_rank,
        cm_student=cm_student, cm_provider=cm_provider, cm_kind=cm_kind, cm_rank=cm_rank,
        minutes_capacity=minutes_cap)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished or running children (the
    HiGHS child is counted when it ends): on a shared machine the wall clock
    also counts other people's work."""
    import os

    from optimizer.planning.solvers import highs_child

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    child = highs_child._CHILD  # kept alive between solves: read its clock
    if child is not None and child.poll() is None:
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(n_students: int, seed: int, minutes: bool, regional: bool = False,
            time_limit: float = 60.0) -> dict:
    from optimizer.planning.solvers.services import (
        ServiceParams,
        ServiceProblem,
        caseloads,
        role_average,
        solve_services,
    )

    t0 = time.perf_counter()
    arrays = generate(n_students, seed, regional)
    if not minutes:
        arrays["minutes_capacity"] = None
    problem = ServiceProblem.from_arrays(**arrays)
    t_build = time.perf_counter() - t0
    cpu0 = cpu_seconds()
    sol = solve_services(problem, ServiceParams(time_limit=time_limit))
    cpu = cpu_seconds() - cpu0
    # The LP runs in a child process (see optimizer/planning/solvers/services_lp.py): count it too.
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    load = caseloads(problem, sol.provider, sol.case_manager)
    over = int(np.sum((load > problem.cap) & (load > problem.other_load)))
    return {
        "minutes": minutes, "students": problem.n_students, "pairs": problem.n_pairs,
        "providers": problem.n_providers, "service_options": len(problem.edge_pair),
        "cm_options": len(problem.cm_student), "generate_s": round(t_build, 2),
        "status": sol.status, "objective": list(sol.objective),
        "bound": [sol.bound["unserved"], sol.bound["unplaced"], sol.bound["cost"]],
        "gap": sol.gap, "solve_s": round(sol.runtime["total"], 2), "cpu_s": round(cpu, 1),
        "runtime_s": {k: round(v, 2) for k, v in sol.runtime.items()},
        "peak_mb": round(peak), "over_cap": over,
        "slp_cases_per_fte": round(role_average(problem, sol.provider, sol.case_manager,
                                                    ("SLP",)), 1),
        "components": sol.extra.get("components"), "notes": list(sol.notes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--regional", action="store_true",
                    help="staff never crosses a cluster of schools: independent regions")
    ap.add_argument("--modes", default="count,minutes",
                    help="which runs, comma-separated: count, minutes")
    ap.add_argument("--time-limit", type=float, default=60.0,
                    help="the solver's time_limit in seconds (the targets are for 60)")
    ap.add_argument("--one", choices=["count", "minutes"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.students, args.seed, args.one == "minutes",
                                 args.regional, args.time_limit)))
        return
    for mode in args.modes.split(","):
        out = subprocess.run([sys.executable, __file__, "--students", str(args.students),
                              "--seed", str(args.seed), "--one", mode,
                              "--time-limit", str(args.time_limit)]
                             + (["--regional"] if args.regional else []), cwd=ROOT,
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        gap = "-" if r["gap"] is None else f"{100 * r['gap']:.4f} %"
        print(f"\n== {mode} caps: {r['students']:,} students, {r['pairs']:,} service rows, "
              f"{r['providers']:,} providers, {r['service_options']:,} service options, "
              f"{r['cm_options']:,} case-manager options, "
              f"{r['components']:,} independent part(s)")
        print(f"   status {r['status']}, objective {r['objective']} (unserved, unplaced, "
              f"milli-points), bound {r['bound']}, gap {gap}")
        print(f"   solve {r['solve_s']} s (CPU {r['cpu_s']} s) {r['runtime_s']}, "
              f"peak {r['peak_mb']} MB, "
              f"generate {r['generate_s']} s")
        print(f"   providers over cap: {r['over_cap']}; SLP cases per FTE "
              f"{r['slp_cases_per_fte']} (EC 56363.3 average: 55)")
        for n in r["notes"]:
            print(f"   - {n}")


if __name__ == "__main__":
    main()
