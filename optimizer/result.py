"""The plan as a director can defend it: assignments with reasons, caseloads,
unplaced students with what would place them, hiring needs and the figures.

:class:`Result` is immutable; its frames are the plan's tables (see
docs/plan-format.md) and :meth:`Result.summary` is the readable report.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from optimizer.check import audit_current
from optimizer.graph import unplaceable_students
from optimizer.model import Educator
from optimizer.problem import PlanningProblem
from optimizer.rules import authorized_for_grade, best_practice, decide

__all__ = ["PLAN_TABLE_FILES", "PlanTables", "Result", "build_result", "RANK_LABEL"]

RANK_LABEL = {0: "best-practice case manager", 1: "teaches or serves this student",
              2: "coordinator only"}

ASSIGNMENT_COLUMNS = ["student_id", "school_id", "case_manager_id", "role", "capacity",
                      "rank", "kept_current", "reason",
                      # Context for exports (rosters, change letters, transfer files):
                      "current_case_manager_id", "grade", "primary_disability", "services",
                      "annual_review", "triennial_review"]
CASELOAD_COLUMNS = ["educator_id", "role", "schools", "cap", "load", "load_ratio", "students",
                    "best_practice_students", "name", "fte", "other_load"]
AUDIT_COLUMNS = ["kind", "student_id", "educator_id", "detail"]

#: The tables of a plan folder and their files (docs/plan-format.md).
PLAN_TABLE_FILES = {"assignments": "assignments.csv", "caseloads": "caseloads.csv",
                    "unassigned": "unassigned.csv", "hiring_needs": "hiring_needs.csv",
                    "audit": "audit.csv"}
UNASSIGNED_COLUMNS = ["student_id", "school_id", "reason"]
HIRING_COLUMNS = ["school_id", "region", "role", "credential", "students", "fte"]


@dataclass(frozen=True)
class PlanTables:
    """A plan's tables and summary figures: what the exports need, whether the
    plan was just made (:meth:`Result.tables`) or read back from its folder."""

    assignments: pd.DataFrame
    caseloads: pd.DataFrame
    unassigned: pd.DataFrame
    hiring_needs: pd.DataFrame
    audit: pd.DataFrame
    summary: Mapping[str, object]


@dataclass(frozen=True)
class Result:
    """An immutable plan and everything said about it.

    Attributes
    ----------
    status
        ``optimal`` (proven), ``feasible`` (a plan, optimality not proven) or
        ``infeasible``.
    engine
        Which engine proved what, in words.
    objective, bound, gap
        Objective in points (lower is better), best proven lower bound, and
        relative gap (0 when proven optimal).
    terms
        The objective's terms: ``unplaced``, ``rank``, ``continuity``, ``balance``.
    assignments, caseloads, unassigned, hiring_needs
        The plan's tables (docs/plan-format.md).
    audit
        This year's assignments that break a rule (``caseload audit``).
    figures
        Everything in ``summary.json``.
    """

    status: str
    engine: str
    objective: float
    bound: float
    gap: float
    terms: Mapping[str, float]
    assignments: pd.DataFrame
    caseloads: pd.DataFrame
    unassigned: pd.DataFrame
    hiring_needs: pd.DataFrame
    audit: pd.DataFrame
    figures: Mapping[str, object]
    assignment: np.ndarray = field(repr=False)  # educator index per student, -1 unplaced

    def summary(self) -> str:
        """A one-screen report of the plan, for the terminal or a notebook."""
        f = self.figures
        lr = f["load_ratio"]
        lines = [
            f"Plan for {f['district']} — {self.status.upper()} ({self.engine})",
            "",
            f"  students placed        {f['placed']:>7,} of {f['students']:,}"
            f"   unplaced {f['unplaced']:,}",
            f"  best-practice share    {f['best_practice_share']:>7.1%}   "
            f"(rank 0 among placed; rank 1 {f['rank_counts']['1']:,}, "
            f"coordinator only {f['rank_counts']['2']:,})",
            f"  continuity share       {f['continuity_share']:>7.1%}   "
            f"(kept this year's case manager, of {f['with_current_case_manager']:,} "
            "who have one on staff)",
            f"  load ratio             max {lr['max']:.2f}  mean {lr['mean']:.2f}  "
            f"std {lr['std']:.3f}  (over {lr['educators']:,} case managers)",
            f"  objective              {self.objective:,.1f} points  "
            f"(bound {self.bound:,.1f}, gap {self.gap:.2%})",
            "      " + ", ".join(f"{k} {v:,.1f}" for k, v in self.terms.items()),
            *([f"  moved from baseline    {f['baseline']['moved']:>7,} of "
               f"{f['baseline']['students_in_baseline']:,}   ("
               + ", ".join(f"{k} {v}" for k, v in sorted(f['baseline']['moved_because'].items()))
               + ")"] if "baseline" in f else []),
            f"  components             {f['components']:,}  (largest: "
            f"{f['largest_component_students']:,} students)",
            "  time                   " + ", ".join(
                f"{k} {v:.2f}s" for k, v in f["runtime_s"].items()),
        ]
        if len(self.hiring_needs):
            lines.append("")
            lines.append("Hiring needs (to place the unplaced students):")
            for r in self.hiring_needs.head(10).itertuples():
                where = r.school_id or f"region {r.region}"
                cred = f" with {r.credential}" if r.credential else ""
                lines.append(f"  {where}: {r.role}{cred} for {r.students} student(s) "
                             f"= {r.fte:.1f} FTE")
            if len(self.hiring_needs) > 10:
                lines.append(f"  … and {len(self.hiring_needs) - 10} more (hiring_needs.csv)")
        return "\n".join(lines)

    def tables(self) -> PlanTables:
        """The plan's tables, as the exporters take them."""
        return PlanTables(self.assignments, self.caseloads, self.unassigned, self.hiring_needs,
                          self.audit, self.figures)

    def __repr__(self) -> str:
        f = self.figures
        return (f"Result(status={self.status!r}, objective={self.objective:.1f}, "
                f"placed={f['placed']}/{f['students']})")


def _iso(value) -> str:
    return value.isoformat() if value is not None else ""


def _educator_needed(problem: PlanningProblem, sid: str) -> tuple[str, str]:
    """The role and credential that would let someone case-manage this student
    at best practice (or as coordinator when there is no best-practice type)."""
    d = problem.district
    pack = d.rules
    s = d.students[sid]
    bp = best_practice(pack, s)
    if bp is None:
        return "COORD", ""
    role = pack.roles[bp[0]]
    if role.teaches:
        for code, cred in pack.credentials.items():
            if not cred.teaching:
                continue
            probe = Educator("?", "?", role.code, frozenset([code]), (s.school_id,), 1.0,
                             None, 0.0, None, 0)
            if authorized_for_grade(pack, s, probe).ok:
                return role.code, code
        return role.code, ""
    for svc in sorted(role.provides & s.services):
        creds = sorted(pack.services[svc].credentials)
        if creds:
            return role.code, creds[0]
    return role.code, ""


def _hiring_needs(problem: PlanningProblem, unplaced: list[str]) -> pd.DataFrame:
    d = problem.district
    groups: dict[tuple[str, str, str, str], int] = {}
    for sid in unplaced:
        role, cred = _educator_needed(problem, sid)
        school = d.schools[d.students[sid].school_id]
        if d.rules.roles[role].itinerant:
            key = ("", school.region or "", role, cred)
        else:
            key = (school.school_id, school.region or "", role, cred)
        groups[key] = groups.get(key, 0) + 1
    rows = []
    for (school, region, role, cred), n in sorted(groups.items()):
        cap = d.rules.roles[role].cap or 1
        rows.append({"school_id": school, "region": region, "role": role, "credential": cred,
                     "students": n, "fte": math.ceil(10 * n / cap) / 10})
    return pd.DataFrame(rows, columns=HIRING_COLUMNS)


def build_result(problem: PlanningProblem, assignment: np.ndarray, *, status: str,
                 engine: str, bound: float | None, runtime: Mapping[str, float],
                 balance_mode: str, extra: Mapping[str, object] | None = None) -> Result:
    """Explain an assignment: tables, reasons, hiring needs and figures.

    ``assignment`` holds the educator index of each student (-1 unplaced), in
    the problem's order. ``bound`` None means the objective itself (proven optimal).
    """
    import time

    t0 = time.perf_counter()
    d = problem.district
    pack = d.rules
    o = problem.objective
    S, E = problem.n_students, problem.n_educators
    sids, eids = problem.student_ids, problem.educator_ids
    es, ee = problem.edge_student, problem.edge_educator
    placed = assignment >= 0

    # Each placed student's edge; unplaced students point one past the last edge,
    # where every per-edge array below gets a blank sentinel.
    chosen = problem.chosen_edges(assignment)
    edge_rank = np.append(problem.edge_rank, -1)
    edge_current = np.append(problem.edge_current, False)
    edge_capacity = np.append(problem.edge_capacity, "")
    edge_reason = np.append(problem.edge_reason, "")
    rank = edge_rank[chosen]
    kept = edge_current[chosen]
    load = problem.loads(assignment)
    cap = problem.cap.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cap > 0, load / cap, np.where(load > 0, np.inf, 0.0))

    terms = problem.objective_terms(assignment)
    objective = sum(terms.values())
    bound_v = objective if bound is None else min(bound, objective)
    gap = 0.0 if objective == bound_v else (objective - bound_v) / max(abs(objective), 1e-9)

    # Best rank each student could have had, and who offered it.
    starts, ends = problem.edge_ranges
    has_edge = ends > starts
    best_rank = np.full(S, -1, dtype=np.int64)
    if len(es):
        best_rank[has_edge] = np.minimum.reduceat(problem.edge_rank, starts[has_edge])
    e_pos = {e: i for i, e in enumerate(eids)}
    role_of = np.array([d.educators[e].role for e in eids], dtype=object)

    def who(e: int) -> str:
        return f"{eids[e]} ({role_of[e]}, {load[e]:g}/{problem.cap[e]})"

    pin_lock = {lk.student_id: lk for lk in d.locks if lk.kind == "pin"}
    reasons = []
    for s in range(S):
        sid = sids[s]
        st = d.students[sid]
        if not placed[s]:
            reasons.append("")
            continue
        j = chosen[s]
        e = assignment[s]
        text = f"{RANK_LABEL[int(rank[s])].capitalize()}: {edge_reason[j]}"
        if problem.pinned_to[s] >= 0:
            lk = pin_lock[sid]
            text = f"Pinned in locks.csv row {lk.row}" + (f" ({lk.reason})" if lk.reason
                                                          else "") + ". " + text
        elif rank[s] > best_rank[s]:
            better = [int(ee[k]) for k in range(starts[s], ends[s])
                      if problem.edge_rank[k] == best_rank[s]]
            text += (f". A better fit (rank {best_rank[s]}) had no room: "
                     + ", ".join(who(b) for b in better))
        cm = st.current_case_manager
        if kept[s]:
            text += ". Keeps this year's case manager"
        elif cm:
            text += ". " + _why_not(problem, s, cm, e, e_pos, load, rank)[1]
        reasons.append(text)

    baseline_figures = None
    if problem.baseline_to is not None:
        base = problem.baseline_to
        moved = problem.moved_from_baseline(assignment)
        why_moved: dict[str, int] = {}
        for s in np.nonzero(moved)[0]:
            if base[s] == -2:  # the baseline's case manager is not in this district
                category, sentence = "no longer on staff", \
                    "The baseline plan's case manager is no longer on staff"
            else:
                category, sentence = _why_not(problem, s, eids[base[s]], int(assignment[s]),
                                              e_pos, load, rank,
                                              who="The baseline plan's case manager")
            why_moved[category] = why_moved.get(category, 0) + 1
            if reasons[s]:
                reasons[s] += f". Moved from the baseline plan: {sentence}"
        baseline_figures = {"students_in_baseline": int((base != -1).sum()),
                            "moved": int(moved.sum()), "moved_because": why_moved}

    assignments = pd.DataFrame({
        "student_id": sids,
        "school_id": [d.students[s].school_id for s in sids],
        # Index -1 (unplaced) reads the blank appended last; works with no educators too.
        "case_manager_id": np.append(eids, "")[assignment],
        "role": np.append(role_of, "")[assignment],
        "capacity": edge_capacity[chosen],
        "rank": pd.array(np.where(placed, rank, -1), dtype="Int64"),
        "kept_current": kept,
        "reason": reasons,
        "current_case_manager_id": [d.students[s].current_case_manager or "" for s in sids],
        "grade": [d.students[s].grade for s in sids],
        "primary_disability": [d.students[s].primary_disability for s in sids],
        "services": [";".join(sorted(d.students[s].services)) for s in sids],
        "annual_review": [_iso(d.students[s].annual_review) for s in sids],
        "triennial_review": [_iso(d.students[s].triennial_review) for s in sids],
    }, columns=ASSIGNMENT_COLUMNS)
    assignments.loc[~placed, "rank"] = pd.NA

    may_cm = np.bincount(ee, minlength=E) > 0
    n_students = np.bincount(assignment[placed], minlength=E)
    n_best = np.bincount(assignment[placed & (rank == 0)], minlength=E)
    caseloads = pd.DataFrame({
        "educator_id": eids, "role": role_of,
        "schools": [";".join(d.educators[e].schools) for e in eids],
        "cap": problem.cap, "load": np.round(load, 4),
        "load_ratio": np.round(np.where(np.isfinite(ratio), ratio, np.nan), 4),
        "students": n_students, "best_practice_students": n_best,
        "name": [d.educators[e].name for e in eids],
        "fte": [d.educators[e].fte for e in eids],
        "other_load": problem.other_load,
    }, columns=CASELOAD_COLUMNS)

    unplaced_ids = [str(x) for x in sids[~placed]]
    why_unplaced = {}
    no_option = {u["student_id"]: u for u in unplaceable_students(d)}
    for s in np.nonzero(~placed)[0]:
        sid = sids[s]
        if sid in no_option:
            u = no_option[sid]
            details = "; ".join(f"{c['educator_id']} ({c['role']}): {' / '.join(c['why_not'])}"
                                for c in u["candidates"])
            why_unplaced[sid] = ("No one at this school may case-manage this student: "
                                 + u["summary"] + (f". {details}" if details else ""))
        else:
            options = [int(ee[k]) for k in range(starts[s], ends[s])]
            why_unplaced[sid] = ("Every eligible case manager is full: "
                                 + ", ".join(who(e) for e in options))
    unassigned = pd.DataFrame({
        "student_id": unplaced_ids,
        "school_id": [d.students[s].school_id for s in unplaced_ids],
        "reason": [why_unplaced[s] for s in unplaced_ids],
    }, columns=UNASSIGNED_COLUMNS)
    hiring = _hiring_needs(problem, unplaced_ids)
    audit = pd.DataFrame([{"kind": v.kind, "student_id": v.student_id,
                           "educator_id": v.educator_id, "detail": v.detail}
                          for v in audit_current(d)], columns=AUDIT_COLUMNS)

    with_current = np.array([bool(d.students[s].current_case_manager) and
                             d.students[s].current_case_manager in d.educators for s in sids])
    cm_ratio = ratio[may_cm & (cap > 0)]
    placed_n = int(placed.sum())
    t_explain = time.perf_counter() - t0
    runtime = {**dict(runtime), "explain": t_explain}
    figures = {
        "district": d.name, "rule_pack": pack.name, "status": status, "engine": engine,
        "balance": balance_mode,
        "objective": objective, "terms": terms, "bound": bound_v, "gap": gap,
        "weights": {"unplaced": o.unplaced, "rank": list(o.rank), "continuity": o.continuity,
                    "balance": o.balance},
        "students": S, "placed": placed_n, "unplaced": S - placed_n,
        "rank_counts": {str(r): int((rank == r).sum()) for r in (0, 1, 2)},
        "best_practice_share": float((rank == 0).sum() / placed_n) if placed_n else 0.0,
        "with_current_case_manager": int(with_current.sum()),
        "kept_current": int(kept.sum()),
        "continuity_share": float(kept.sum() / with_current.sum()) if with_current.any()
        else 0.0,
        "load_ratio": {
            "educators": int(len(cm_ratio)),
            "max": float(cm_ratio.max()) if len(cm_ratio) else 0.0,
            "mean": float(cm_ratio.mean()) if len(cm_ratio) else 0.0,
            "std": float(cm_ratio.std()) if len(cm_ratio) else 0.0,
        },
        "runtime_s": {k: round(v, 4) for k, v in runtime.items()},
        "made_at": _dt.datetime.now().isoformat(timespec="seconds"),
        "sources": dict(d.sources),
        **({"baseline": baseline_figures} if baseline_figures else {}),
        **(extra or {}),
    }
    frozen = {k: v for k, v in figures.items()}
    return Result(status=status, engine=engine, objective=objective, bound=bound_v, gap=gap,
                  terms=MappingProxyType(terms), assignments=assignments, caseloads=caseloads,
                  unassigned=unassigned, hiring_needs=hiring, audit=audit,
                  figures=MappingProxyType(frozen), assignment=assignment)


def _why_not(problem: PlanningProblem, s: int, cm: str, e_new: int,
             e_pos: Mapping[str, int], load: np.ndarray, rank: np.ndarray,
             who: str = "This year's case manager") -> tuple[str, str]:
    """(category, one sentence): why ``cm`` is not this student's case manager."""
    d = problem.district
    sid = problem.student_ids[s]
    new = problem.educator_ids[e_new] if e_new >= 0 else "nobody"
    if cm not in d.educators:
        return "no longer on staff", f"{who} {cm} is no longer on staff"
    if (sid, cm) in d.forbids:
        return "forbidden", f"{who} {cm} is forbidden in locks.csv"
    if problem.pinned_to[s] >= 0:
        return "pinned elsewhere", f"{who} {cm} was replaced by the pin"
    decision = decide(d, d.students[sid], d.educators[cm])
    if not decision.eligible:
        return "no longer eligible", (f"{who} {cm} may no longer case-manage this student: "
                                      + "; ".join(decision.failed_text()))
    e = e_pos[cm]
    cap = problem.cap[e]
    if e_new >= 0 and decision.rank > rank[s]:
        return "weaker fit", (f"{who} {cm} is a weaker fit ({RANK_LABEL[decision.rank]}, "
                              f"rank {decision.rank}) than {new} (rank {rank[s]})")
    if load[e] + problem.weight[s] > cap + 1e-9:
        return "full", f"{who} {cm} is full ({load[e]:g}/{cap})"
    if e_new < 0:
        return "full", f"{who} {cm} has room ({load[e]:g}/{cap}) but placing others needed it"
    return "balance", (f"Moved to balance caseloads: {cm} carries {load[e]:g}/{cap}, "
                       f"{new} {load[e_new]:g}/{problem.cap[e_new]}")
