"""Explaining a solution: reasons, tables, unplaced students, hiring needs, figures.

:func:`explain_plan` turns a solver's :class:`~optimizer.planning.solution.Solution`
into the :class:`~optimizer.planning.result.Result` a planner reads, in named
steps: each placed student's reason; the moves against a published plan;
the assignments and caseloads tables; the unplaced students with why and the
hires that would place them; the summary figures.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer.district.bulk import without_collector_pauses
from optimizer.district.cap_sources import cap_rows
from optimizer.district.model import District, Educator
from optimizer.graph import unplaceable_students
from optimizer.planning.objective import Objective
from optimizer.planning.problem import PlanningProblem
from optimizer.planning.result import (
    ASSIGNMENT_COLUMNS,
    CASELOAD_COLUMNS,
    CHANGED_IN_WORKBOOK,
    CHANGED_IN_WORKBOOK_WORDS,
    CLEARED_IN_WORKBOOK,
    HIRING_COLUMNS,
    KEPT_EDIT,
    LOCK_REASON,
    RANK_LABEL,
    RANK_WORDS,
    UNASSIGNED_COLUMNS,
    Result,
    changed_in_workbook,
    pin_opening,
)
from optimizer.planning.solution import Solution
from optimizer.rulepacks import RulePack
from optimizer.rules import authorized_for_grade, best_practice, decide

__all__ = ["case_manager_needed", "explain_plan"]


@dataclass(frozen=True)
class _Plan:
    """What every step reads: the problem, the assignment and arrays derived once."""

    problem: PlanningProblem
    assignment: np.ndarray
    placed: np.ndarray
    chosen: np.ndarray  # edge index per student; n_edges (a blank sentinel) if unplaced
    rank: np.ndarray  # rank of the chosen edge, -1 unplaced
    kept: np.ndarray  # the chosen edge is this year's case manager
    load: np.ndarray
    ratio: np.ndarray
    role_of: np.ndarray
    e_pos: Mapping[str, int]

    def who(self, e: int) -> str:
        p = self.problem
        return f"{p.educator_ids[e]} ({self.role_of[e]}, {self.load[e]:g}/{p.cap[e]})"

    def edge_values(self, values: np.ndarray, blank: object) -> np.ndarray:
        """A per-edge array read at each student's chosen edge (``blank`` if unplaced)."""
        return _at_chosen(values, self.chosen, blank)


def _at_chosen(values: np.ndarray, chosen: np.ndarray, blank: object) -> np.ndarray:
    return np.append(values, np.array([blank], dtype=values.dtype))[chosen]


def _derive(problem: PlanningProblem, assignment: np.ndarray) -> _Plan:
    d = problem.district
    chosen = problem.chosen_edges(assignment)
    load = problem.loads(assignment)
    cap = problem.cap.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cap > 0, load / cap, np.where(load > 0, np.inf, 0.0))
    return _Plan(problem, assignment, assignment >= 0, chosen,
                 _at_chosen(problem.edge_rank, chosen, -1),
                 _at_chosen(problem.edge_current, chosen, False), load, ratio,
                 np.array([d.educators[e].role for e in problem.educator_ids], dtype=object),
                 {e: i for i, e in enumerate(problem.educator_ids)})


def _best_rank(problem: PlanningProblem) -> np.ndarray:
    """The best rank each student could have had (-1: no option)."""
    starts, ends = problem.edge_ranges
    has_edge = ends > starts
    best = np.full(problem.n_students, -1, dtype=np.int64)
    if problem.n_edges:
        best[has_edge] = np.minimum.reduceat(problem.edge_rank, starts[has_edge])
    return best


#: The capacity of a chosen case manager, in the short reason's words.
_CAPACITY_WORDS = {"instruction": "teaches their SAI", "service": "serves them on the IEP",
                   "coordination": "coordinates the IEP"}
#: ``_why_not``'s categories, in the short reason's words.
_NOT_KEPT_WORDS = {"no longer on staff": "is no longer on staff",
                   "forbidden": "is forbidden in locks.csv",
                   "pinned elsewhere": "was replaced by a pin",
                   "no longer eligible": "may no longer case-manage them",
                   "weaker fit": "is a weaker fit", "full": "is full",
                   "balance": "moved to balance caseloads",
                   CHANGED_IN_WORKBOOK: CHANGED_IN_WORKBOOK_WORDS}
#: The longest short reason (docs/plan-format.md); the full trail is in reason_detail.
SHORT_REASON_MAX = 160


def _short(parts: list[str]) -> str:
    """The short reason: sentences joined, at most SHORT_REASON_MAX characters."""
    text = ". ".join(p for p in parts if p)
    return text if len(text) <= SHORT_REASON_MAX else text[:SHORT_REASON_MAX - 1] + "…"


def placement_reasons(plan: _Plan, short: list[list[str]] | None = None
                      ) -> tuple[list[str], dict[int, str]]:
    """Why each placed student has their case manager (blank for unplaced), and
    the pinned students' lock reasons, to be added last (see ``LOCK_REASON``).

    ``short``, when given, receives the short reason's sentences per student
    (planner words, no ids or codes: ``reason``; the full text is ``reason_detail``)."""
    problem = plan.problem
    d = problem.district
    ee = problem.edge_educator
    starts, ends = problem.edge_ranges
    best_rank = _best_rank(problem)
    pin_lock = {lk.student_id: lk for lk in d.locks
                if lk.kind == "pin" and lk.service is None}
    lock_notes: dict[int, str] = {}
    reasons = []
    # One pass over the students in plain Python lists (100,000 students: numpy
    # scalars read one at a time cost more than the sentences themselves).
    placed = plan.placed.tolist()
    ranks = plan.rank.tolist()
    best = best_rank.tolist()
    pinned = (problem.pinned_to >= 0).tolist()
    kept = plan.kept.tolist()
    reason_of = plan.edge_values(problem.edge_reason, "").tolist()
    capacity_of = plan.edge_values(problem.edge_capacity, "").tolist()
    students = d.students
    # The short opening sentence depends only on (rank, capacity): made once for each pair.
    brief_head: dict[tuple[int, object], str] = {}
    label = {r: RANK_LABEL[r].capitalize() for r in RANK_LABEL}
    for s, sid in enumerate(problem.student_ids.tolist()):
        if not placed[s]:
            reasons.append("")
            if short is not None:
                short.append([])
            continue
        rank = ranks[s]
        capacity = capacity_of[s]
        head = brief_head.get((rank, capacity))
        if head is None:
            head = brief_head[(rank, capacity)] = (
                f"{RANK_WORDS[rank].capitalize()}: "
                f"{_CAPACITY_WORDS.get(str(capacity), str(capacity))}")
        brief = [head]
        text = f"{label[rank]}: {reason_of[s]}"
        if pinned[s]:
            # Named by student and educator, not by row: the same lock gives the
            # same text however locks.csv is ordered. Its free-text reason goes
            # last (see LOCK_REASON), so that redaction can drop it.
            lk = pin_lock[sid]
            opening = pin_opening(d, lk.student_id, lk.educator_id)
            text = f"{opening} ({lk.student_id} to {lk.educator_id}). " + text
            brief.insert(0, opening)
            if lk.reason and opening != KEPT_EDIT:  # (an edit's reason is its opening)
                lock_notes[s] = f". {LOCK_REASON}{lk.reason}"
        elif rank > best[s]:
            better = [int(ee[k]) for k in range(starts[s], ends[s])
                      if problem.edge_rank[k] == best[s]]
            text += (f". A better fit (rank {best[s]}) had no room: "
                     + ", ".join(plan.who(b) for b in better))
            brief.append(f"The {RANK_WORDS[best[s]]}"
                         f"{'es' if len(better) > 1 else ''} had no room")
        cm = students[sid].current_case_manager
        if kept[s]:
            text += ". Keeps this year's case manager"
            brief.append("Keeps this year's case manager")
        elif cm:
            category, sentence = _why_not(plan, s, cm)
            text += ". " + sentence
            brief.append("This year's case manager "
                         + _NOT_KEPT_WORDS.get(category, category))
        reasons.append(text)
        if short is not None:
            short.append(brief)
    return reasons, lock_notes


def published_plan_moves(plan: _Plan, reasons: list[str],
                         short: list[list[str]] | None = None) -> dict[str, object] | None:
    """Who moved away from the published plan and why (added to their reasons);
    the figures for ``summary.json``. None when not re-planning against a plan."""
    problem = plan.problem
    published = problem.published_to
    if published is None:
        return None
    moved = problem.moved_from_published(plan.assignment)
    why_moved: dict[str, int] = {}
    for s in np.nonzero(moved)[0]:
        if published[s] == -2:  # the published plan's case manager is not in this district
            category, sentence = ("no longer on staff",
                                  "The published plan's case manager is no longer on staff")
        else:
            category, sentence = _why_not(plan, int(s), problem.educator_ids[published[s]],
                                          who="The published plan's case manager")
        why_moved[category] = why_moved.get(category, 0) + 1
        if reasons[s]:
            reasons[s] += f". Moved from the published plan: {sentence}"
            if short is not None:
                # First, so that the cap at 160 characters never cuts it. A
                # planner's edit says so once: a chosen case manager opens
                # with KEPT_EDIT already, a cleared cell here.
                if category != CHANGED_IN_WORKBOOK:
                    short[s].insert(0, f"Moved from the published plan ({category})")
                elif KEPT_EDIT not in short[s]:
                    short[s].insert(0, CLEARED_IN_WORKBOOK)
    return {"students_in_published_plan": int((published != -1).sum()),
            "moved": int(moved.sum()), "moved_because": why_moved}


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else ""


def _each_once(fn: Any, values: list[Any]) -> list[Any]:
    """``[fn(v) for v in values]``, with ``fn`` called once per distinct value
    (a district has a few hundred review dates and service sets, not 100,000)."""
    done = {v: fn(v) for v in set(values)}
    return [done[v] for v in values]


def assignment_table(plan: _Plan, reasons: list[str],
                     short: list[str] | None = None) -> pd.DataFrame:
    """One row per student: case manager, capacity, rank, continuity, reason, context;
    then the full reason and the names (ASSIGNMENT_DETAIL_COLUMNS)."""
    problem = plan.problem
    d = problem.district
    sids, eids = problem.student_ids, problem.educator_ids
    students = [d.students[s] for s in sids]
    frame = pd.DataFrame({
        "student_id": sids,
        "school_id": [s.school_id for s in students],
        # Index -1 (unplaced) reads the blank appended last; works with no educators too.
        "case_manager_id": np.append(eids, "")[plan.assignment],
        "role": np.append(plan.role_of, "")[plan.assignment],
        "capacity": plan.edge_values(problem.edge_capacity, ""),
        "rank": pd.array(np.where(plan.placed, plan.rank, -1), dtype="Int64"),
        "kept_current": plan.kept,
        "reason": reasons if short is None else short,
        "current_case_manager_id": [s.current_case_manager or "" for s in students],
        "grade": [s.grade for s in students],
        "primary_disability": [s.primary_disability for s in students],
        "services": _each_once(lambda v: ";".join(sorted(v)), [s.services for s in students]),
        "annual_review": _each_once(_iso, [s.annual_review for s in students]),
        "triennial_review": _each_once(_iso, [s.triennial_review for s in students]),
    }, columns=ASSIGNMENT_COLUMNS)
    frame.loc[~plan.placed, "rank"] = pd.NA
    # After the contract's columns: the full rule trail, then names for people
    # (ids stay in their own columns; --redact blanks or replaces the names).
    frame["reason_detail"] = reasons
    frame["student_name"] = [s.name or "" for s in students]
    frame["school_name"] = [d.schools[s.school_id].name for s in students]
    frame["case_manager_name"] = np.append(
        np.array([d.educators[e].name for e in eids], dtype=object), "")[plan.assignment]
    return frame


def caseload_table(plan: _Plan) -> pd.DataFrame:
    """One row per educator: cap, load, load ratio, students, best-practice students."""
    problem = plan.problem
    d = problem.district
    E = problem.n_educators
    eids = problem.educator_ids
    placed = plan.placed
    return pd.DataFrame({
        "educator_id": eids, "role": plan.role_of,
        "schools": [";".join(d.educators[e].schools) for e in eids],
        "cap": problem.cap, "load": np.round(plan.load, 4),
        "load_ratio": np.round(np.where(np.isfinite(plan.ratio), plan.ratio, np.nan), 4),
        "students": np.bincount(plan.assignment[placed], minlength=E),
        "best_practice_students": np.bincount(plan.assignment[placed & (plan.rank == 0)],
                                              minlength=E),
        "name": [d.educators[e].name for e in eids],
        "fte": [d.educators[e].fte for e in eids],
        "other_load": problem.other_load,
    }, columns=CASELOAD_COLUMNS)


def unplaced_table(plan: _Plan) -> pd.DataFrame:
    """One row per unplaced student: no one may case-manage them, or everyone is full."""
    problem = plan.problem
    d = problem.district
    sids = problem.student_ids
    ee = problem.edge_educator
    starts, ends = problem.edge_ranges
    unplaced = np.nonzero(~plan.placed)[0]
    # Finding why a student has no option re-reads every edge: only when someone is unplaced.
    no_option = ({u["student_id"]: u for u in unplaceable_students(d)} if len(unplaced)
                 else {})
    rows = []
    for s in unplaced:
        sid = str(sids[s])
        if sid in no_option:
            u = no_option[sid]
            details = "; ".join(f"{c['educator_id']} ({c['role']}): {' / '.join(c['why_not'])}"
                                for c in u["candidates"])
            why = ("No one at this school may case-manage this student: "
                   + u["summary"] + (f". {details}" if details else ""))
        else:
            options = [int(ee[k]) for k in range(starts[s], ends[s])]
            why = "Every eligible case manager is full: " + ", ".join(plan.who(e)
                                                                     for e in options)
        rows.append({"student_id": sid, "school_id": d.students[sid].school_id, "reason": why})
    return pd.DataFrame(rows, columns=UNASSIGNED_COLUMNS)


def _coordinator_role(pack: RulePack) -> str:
    """The role that coordinates without teaching or serving (the pack's coordinator)."""
    roles = sorted(code for code, r in pack.roles.items()
                   if r.coordinates and r.teaches is None and not r.provides)
    return roles[0] if roles else ""


def _educator_needed(problem: PlanningProblem, sid: str) -> tuple[str, str]:
    return case_manager_needed(problem.district, sid)


def case_manager_needed(district: District, sid: str) -> tuple[str, str]:
    """The role and credential that would let someone case-manage this student
    at best practice (or as coordinator when there is no best-practice type).

    Examples
    --------
    >>> case_manager_needed(district, "S1")     # doctest: +SKIP
    ('RSP', 'ES-MMSN')
    """
    pack = district.rules
    s = district.students[sid]
    bp = best_practice(pack, s)
    if bp is None:
        return _coordinator_role(pack), ""
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


def hiring_needs(problem: PlanningProblem, unplaced: list[str]) -> pd.DataFrame:
    """The hires that would place the unplaced students: per school (per region
    for itinerant roles), role and credential, with FTE rounded up to 0.1."""
    d = problem.district
    groups: dict[tuple[str, str, str, str], int] = {}
    for sid in unplaced:
        role, cred = _educator_needed(problem, sid)
        school = d.schools[d.students[sid].school_id]
        itinerant = role in d.rules.roles and d.rules.roles[role].itinerant
        key = ("" if itinerant else school.school_id, school.region or "", role, cred)
        groups[key] = groups.get(key, 0) + 1
    rows = []
    for (school_id, region, role, cred), n in sorted(groups.items()):
        cap = (d.rules.roles[role].cap if role in d.rules.roles else 0) or 1
        rows.append({"school_id": school_id, "region": region, "role": role,
                     "credential": cred, "students": n, "fte": math.ceil(10 * n / cap) / 10})
    return pd.DataFrame(rows, columns=HIRING_COLUMNS)


def placement_figures(o: Objective, n_students: int, placed_n: int, rank: np.ndarray,
                      kept: np.ndarray, with_current: np.ndarray,
                      ratio: np.ndarray) -> dict[str, Any]:
    """The summary.json figures every plan has, case-manager or service plan
    alike: weights, placed, ranks, continuity and the load-ratio spread (in
    this key order, which the plan's bytes depend on)."""
    return {
        "weights": {"unplaced": o.unplaced, "rank": list(o.rank), "continuity": o.continuity,
                    "balance": o.balance},
        "students": n_students, "placed": placed_n, "unplaced": n_students - placed_n,
        "rank_counts": {str(r): int((rank == r).sum()) for r in (0, 1, 2)},
        "best_practice_share": float((rank == 0).sum() / placed_n) if placed_n else 0.0,
        "with_current_case_manager": int(with_current.sum()),
        "kept_current": int(kept.sum()),
        "continuity_share": float(kept.sum() / with_current.sum()) if with_current.any()
        else 0.0,
        "load_ratio": {
            "educators": int(len(ratio)),
            "max": float(ratio.max()) if len(ratio) else 0.0,
            "mean": float(ratio.mean()) if len(ratio) else 0.0,
            "std": float(ratio.std()) if len(ratio) else 0.0,
        },
    }


def plan_figures(plan: _Plan, solution: Solution, terms: Mapping[str, float],
                 balance_mode: str, published: Mapping[str, object] | None,
                 made_at: str | None, explain_seconds: float) -> dict[str, object]:
    """Everything in ``summary.json``: status, points, shares, load ratios, runtime."""
    problem = plan.problem
    d = problem.district
    o = problem.objective
    S = problem.n_students
    sids = problem.student_ids
    rank, kept = plan.rank, plan.kept
    educators = d.educators
    with_current = np.array([bool(cm) and cm in educators for cm in
                             (d.students[s].current_case_manager for s in sids)], dtype=bool)
    may_cm = np.bincount(problem.edge_educator, minlength=problem.n_educators) > 0
    cm_ratio = plan.ratio[may_cm & (problem.cap > 0)]
    placed_n = int(plan.placed.sum())
    return {
        "district": d.name, "rule_pack": d.rules.name, "status": solution.status,
        "engine": solution.engine, "balance": balance_mode,
        "objective": solution.objective, "terms": dict(terms), "bound": solution.bound,
        "gap": solution.gap,
        **placement_figures(o, S, placed_n, rank, kept, with_current, cm_ratio),
        "runtime_s": {k: round(v, 4) for k, v in
                      {**dict(solution.runtime), "explain": explain_seconds}.items()},
        # A time only when given (SOURCE_DATE_EPOCH): the same district, the same bytes.
        **({"made_at": made_at} if made_at else {}),
        "sources": dict(d.sources),
        "caps": cap_rows(d),
        **({"published_plan": published} if published else {}),
        **dict(solution.facts),
    }


# 100,000 reasons, no cycles: district/bulk.py (at 100k: 0.98 -> 0.64 CPU s)
@without_collector_pauses
def explain_plan(problem: PlanningProblem, solution: Solution, *, audit: pd.DataFrame,
                 balance_mode: str = "convex", made_at: str | None = None) -> Result:
    """The explained plan: tables with reasons, unplaced students, hiring needs, figures.

    Parameters
    ----------
    problem
        The planning problem the solution is for.
    solution
        From :func:`optimizer.planning.solvers.solve` (or any assignment wrapped
        in a :class:`~optimizer.planning.solution.Solution`).
    audit
        This year's assignments that break a rule
        (:func:`optimizer.planning.check.audit_table`), carried to the plan folder.
    balance_mode
        ``convex`` or ``minmax``, as solved (reported in the figures).
    made_at
        When the plan was made (ISO time), written to ``summary.json``; None
        writes no time, so the same input gives the same bytes.

    Returns
    -------
    Result

    Examples
    --------
    >>> result = explain_plan(problem, solve(problem), audit=audit_table(d))  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    plan = _derive(problem, np.asarray(solution.assignment))
    short: list[list[str]] = []
    reasons, lock_notes = placement_reasons(plan, short)
    published = published_plan_moves(plan, reasons, short)
    for s, note in lock_notes.items():
        reasons[s] += note
    assignments = assignment_table(plan, reasons, [_short(b) for b in short])
    caseloads = caseload_table(plan)
    unassigned = unplaced_table(plan)
    hiring = hiring_needs(problem, unassigned["student_id"].tolist())
    terms = problem.objective_terms(plan.assignment)
    figures = plan_figures(plan, solution, terms, balance_mode, published, made_at,
                           time.perf_counter() - t0)
    return Result(status=solution.status, engine=solution.engine,
                  objective=solution.objective, bound=solution.bound, gap=solution.gap,
                  terms=terms, assignments=assignments, caseloads=caseloads,
                  unassigned=unassigned, hiring_needs=hiring, audit=audit, figures=figures,
                  assignment=plan.assignment)


def _why_not(plan: _Plan, s: int, cm: str,
             who: str = "This year's case manager") -> tuple[str, str]:
    """(category, one sentence): why ``cm`` is not this student's case manager."""
    problem = plan.problem
    d = problem.district
    sid = problem.student_ids[s]
    e_new = int(plan.assignment[s])
    new = problem.educator_ids[e_new] if e_new >= 0 else "nobody"
    if cm not in d.educators:
        return "no longer on staff", f"{who} {cm} is no longer on staff"
    edited = changed_in_workbook(d, sid, cm, who)
    if edited is not None:
        return CHANGED_IN_WORKBOOK, edited
    if (sid, cm) in d.forbids:
        return "forbidden", f"{who} {cm} is forbidden in locks.csv"
    if problem.pinned_to[s] >= 0:
        return "pinned elsewhere", f"{who} {cm} was replaced by the pin"
    decision = decide(d, d.students[sid], d.educators[cm])
    if not decision.eligible:
        return "no longer eligible", (f"{who} {cm} may no longer case-manage this student: "
                                      + "; ".join(decision.failed_text()))
    e = plan.e_pos[cm]
    cap = problem.cap[e]
    load = plan.load
    if e_new >= 0 and decision.rank is not None and decision.rank > plan.rank[s]:
        return "weaker fit", (f"{who} {cm} is a weaker fit ({RANK_LABEL[decision.rank]}, "
                              f"rank {decision.rank}) than {new} (rank {plan.rank[s]})")
    if load[e] + problem.weight[s] > cap + 1e-9:
        return "full", f"{who} {cm} is full ({load[e]:g}/{cap})"
    if e_new < 0:
        return "full", f"{who} {cm} has room ({load[e]:g}/{cap}) but placing others needed it"
    return "balance", (f"Moved to balance caseloads: {cm} carries {load[e]:g}/{cap}, "
                       f"{new} {load[e_new]:g}/{problem.cap[e_new]}")
