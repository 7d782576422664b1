"""The service plan's workbook sheets and report section at scale.

Usage::

    .venv/bin/python benchmarks/bench_service_outputs.py              # 100k students
    .venv/bin/python benchmarks/bench_service_outputs.py --students 20000

Builds a service plan's tables directly (seeded, synthetic: about 1.7 service
rows per student, providers of six roles at ~1 per 14 students, a fifth of
pairs without minutes, 2 % not served), then times the workbook with and
without its services (same assignments and caseloads; the difference is the
Services and Provider rosters sheets and the service columns) and the HTML
report. No solver runs: this measures the presentation only. Wall and CPU
seconds are both printed: on a shared machine the CPU time is the steadier.

Measured (2 cores shared with other jobs, load ~9; 2026-11-30)::

    100,000 students, 164,532 service rows, 11,751 providers
    workbook without services      82.4 s wall   14.8 s CPU    7.7 MB
    workbook with services        174.1 s wall   48.6 s CPU   24.1 MB
    report with services            6.8 s wall    1.7 s CPU    2.7 MB

The service sheets add about 3.5 million cells (Services: 9 columns a pair;
Provider rosters: 12 a provider-student, plus a total row a provider); the
time is XlsxWriter's per-cell writing (about 10 us a cell here, profiled),
the same cost per cell as the other sheets: building the rows takes well under
a second (``provider_rosters`` 0.4 s CPU at 20,000 students).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.outputs.html_report import render_report
from optimizer.outputs.workbook import write_workbook
from optimizer.planning.check import AUDIT_COLUMNS
from optimizer.planning.result import (
    ASSIGNMENT_COLUMNS,
    HIRING_COLUMNS,
    SERVICE_COLUMNS,
    UNASSIGNED_COLUMNS,
    PlanTables,
)

ROLES = {"SAI": ("RSP", 28), "SPEECH": ("SLP", 55), "OT": ("OT", 40), "COUNSELING": ("PSY", 40),
         "BEHAVIOR": ("PSY", 40), "DHH": ("DHH", 20)}


def tables(n: int, seed: int = 2027) -> tuple[PlanTables, PlanTables]:
    rng = np.random.default_rng(seed)
    schools = np.array([f"SCH{i:03d}" for i in range(max(1, n // 500))])
    sid = np.array([f"S{i:06d}" for i in range(n)])
    school = schools[rng.integers(0, len(schools), n)]
    codes = list(ROLES)
    # Every student has SAI or SPEECH; about 0.7 more services on average.
    first = np.where(rng.random(n) < 0.6, "SAI", "SPEECH")
    extra = rng.random(n) < 0.7
    second = np.array(codes)[rng.integers(1, len(codes), n)]
    svc_student = np.concatenate([sid, sid[extra]])
    svc_code = np.concatenate([first, second[extra]])
    svc_school = np.concatenate([school, school[extra]])
    keep = ~pd.DataFrame({"s": svc_student, "c": svc_code}).duplicated().to_numpy()
    svc_student, svc_code, svc_school = svc_student[keep], svc_code[keep], svc_school[keep]
    m = len(svc_student)
    roles = np.array([ROLES[c][0] for c in svc_code])
    # Providers: per role, one per ~14 students of the role, spread over its pairs.
    provider = np.empty(m, dtype=object)
    prov_rows = []
    for role in sorted(set(roles)):
        at = np.flatnonzero(roles == role)
        k = max(1, len(at) // 14)
        ids = np.array([f"{role}{i:05d}" for i in range(k)], dtype=object)
        provider[at] = ids[rng.integers(0, k, len(at))]
        cap = next(c for r, c in ROLES.values() if r == role)
        prov_rows += [(e, role, cap) for e in ids]
    unserved = rng.random(m) < 0.02
    provider[unserved] = ""
    minutes = rng.choice([30, 45, 60, 120, 300], m).astype(float)
    minutes[rng.random(m) < 0.2] = np.nan
    services = pd.DataFrame({
        "student_id": svc_student, "school_id": svc_school, "service": svc_code,
        "provider_id": provider, "role": roles, "minutes": minutes,
        "kept_current": rng.random(m) < 0.7,
        "reason": np.where(unserved, "Not served: every eligible provider is full",
                           "This year's provider")}, columns=SERVICE_COLUMNS)
    services = services.sort_values(["student_id", "service"], ignore_index=True)
    # Case manager: the first provider of the student's first service.
    cm = services.drop_duplicates("student_id").set_index("student_id")["provider_id"]
    a = pd.DataFrame({"student_id": sid, "school_id": school, "case_manager_id": cm.reindex(sid)
                      .fillna("").to_numpy(), "role": "", "capacity": "instruction", "rank": 0,
                      "kept_current": True, "reason": "Best practice",
                      "current_case_manager_id": "", "grade": "3", "primary_disability": "SLD",
                      "services": "SAI", "annual_review": "2027-03-01",
                      "triennial_review": "2028-03-01"}, columns=ASSIGNMENT_COLUMNS)
    served = services[services["provider_id"] != ""]
    per = served.groupby("provider_id")
    cl = pd.DataFrame(prov_rows, columns=["educator_id", "role", "cap"])
    cl["served"] = cl["educator_id"].map(per["student_id"].nunique()).fillna(0)
    cl["case_managed"] = cl["educator_id"].map(a["case_manager_id"].value_counts()).fillna(0)
    cl["caseload"] = cl[["served", "case_managed"]].max(axis=1)
    cl["minutes"] = cl["educator_id"].map(per["minutes"].sum()).fillna(0)
    cl["minutes_capacity"] = np.where(cl["role"] == "SLP", 2250.0, np.nan)
    cl = cl.assign(schools="SCH000", load=cl["caseload"], load_ratio=cl["caseload"] / cl["cap"],
                   students=cl["case_managed"], best_practice_students=0,
                   name="Provider " + cl["educator_id"], fte=1.0, other_load=0)
    base_cols = ["educator_id", "role", "schools", "cap", "load", "load_ratio", "students",
                 "best_practice_students", "name", "fte", "other_load"]
    hiring = pd.DataFrame(columns=HIRING_COLUMNS)
    summary = {"district": "bench", "status": "optimal", "students": n, "placed": n,
               "services": {"by_service": {c: {"pairs": int((svc_code == c).sum()),
                                               "served": 0, "not_served": 0,
                                               "not_planned": 0} for c in codes},
                            "role_average": {"SLP": {"caseload": 1, "fte": 1, "average": 1,
                                                     "limit": 55, "source": "EC 56363.3"}},
                            "over_minutes_capacity": [], "minutes_capacity_used": True}}
    with_services = PlanTables(a, cl, pd.DataFrame(columns=UNASSIGNED_COLUMNS),
                               hiring.assign(service="", minutes=np.nan),
                               pd.DataFrame(columns=AUDIT_COLUMNS), summary, services)
    without = PlanTables(a, cl[base_cols], pd.DataFrame(columns=UNASSIGNED_COLUMNS), hiring,
                         pd.DataFrame(columns=AUDIT_COLUMNS),
                         {k: v for k, v in summary.items() if k != "services"})
    return with_services, without


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    svc, bare = tables(args.students)
    print(f"{args.students:,} students, {len(svc.services):,} service rows, "
          f"{len(svc.caseloads):,} providers: tables built in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for label, t in (("workbook without services", bare), ("workbook with services", svc)):
            t0, c0 = time.perf_counter(), time.process_time()
            write_workbook(t, Path(tmp) / "plan.xlsx")
            size = (Path(tmp) / "plan.xlsx").stat().st_size / 1e6
            print(f"{label:28s} {time.perf_counter() - t0:6.1f} s wall "
                  f"{time.process_time() - c0:6.1f} s CPU  {size:5.1f} MB")
    t0, c0 = time.perf_counter(), time.process_time()
    text = render_report(svc)
    print(f"{'report with services':28s} {time.perf_counter() - t0:6.1f} s wall "
          f"{time.process_time() - c0:6.1f} s CPU  {len(text) / 1e6:5.1f} MB")


if __name__ == "__main__":
    main()
