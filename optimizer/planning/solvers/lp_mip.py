"""Weighted plans: HiGHS branch-and-cut on the components where the gap sits.

The LP relaxation of :mod:`optimizer.planning.solvers.lp` is a true lower
bound, and the plan rounded from it is feasible, but each may be a few tenths
of a percent from the optimum. Measured on the generated 20,000-student
district with ``[student_weights] extensive = 1.5`` (12 components): LP bound
64,957.9 points, rounded plan 65,328.6 (gap 0.568 %), and the optimum, found
and proven by HiGHS's MIP solver on each component, 65,122.4: the plan was
0.32 % above it and the LP 0.25 % below. The MIP closed both sides at its
root node (cuts on the caps), so neither side alone was "the" weak one.

So when the proven gap is above :data:`GAP_TARGET` and time is left, the
components are taken in order of their own gap (largest first) and each is
solved as a MIP by HiGHS (the same columns as the LP, the students' shares
whole numbers), started from the current plan, until the whole gap is under
the target. Each MIP returns

* a **bound** for its component, from HiGHS's proof (its dual bound, never
  below the LP's, which it contains), which replaces the LP's there; and
* a **plan** for its component, kept only when it places as many students
  and has fewer points (checked on the real objective, caps included).

The MIP runs in the HiGHS child process with one thread and no randomness,
so the same district gives the same plan unless the time limit stops a MIP
first (then said in the engine line).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from optimizer.planning.problem import PlanningProblem, component_labels
from optimizer.planning.solvers import highs_child

__all__ = ["GAP_TARGET", "PART_GAP", "Tightened", "component_points", "tighten"]

#: The proven gap (of the plan's points) under which no MIP is started: a
#: margin under issue 12's 0.5 %.
GAP_TARGET = 0.004

#: Each component's MIP stops once its plan is within this share of the
#: component's points of its proven bound (a tighter aim than the target, so
#: one or two components usually suffice).
PART_GAP = 0.001


@dataclass(frozen=True)
class Tightened:
    """What the MIP step did: the plan, the bound's addition (points) over
    the LP's, and how many components it solved, proved, or left to the clock."""

    assignment: np.ndarray
    bound_gain: float
    solved: int
    proven: int
    stopped_by_clock: bool


def component_points(problem: PlanningProblem, assignment: np.ndarray, s_lab: np.ndarray,
                     e_lab: np.ndarray, n_labels: int) -> np.ndarray:
    """Points of ``assignment`` per connected component (label): each
    student's pair points (or unplaced points), each educator's balance
    penalty. They add up to the plan's total points.

    Examples
    --------
    >>> pts = component_points(problem, plan, s_lab, e_lab, n)     # doctest: +SKIP
    >>> round(float(pts.sum()), 6) == round(total_points, 6)        # doctest: +SKIP
    True
    """
    chosen = problem.chosen_edges(assignment)
    placed = chosen < problem.n_edges
    per_student = problem.unplaced_cost().astype(float).copy()
    per_student[placed] = problem.edge_cost()[chosen[placed]]
    penalty = problem.balance.penalty(problem, problem.loads(assignment))
    return (np.bincount(s_lab, weights=per_student, minlength=n_labels)
            + np.bincount(e_lab, weights=penalty, minlength=n_labels))


def _highs_mip(n_col: int, start: np.ndarray, index: np.ndarray, value: np.ndarray,
               row_hi: np.ndarray, col_hi: np.ndarray, cost: np.ndarray, n_x: int,
               x_start: np.ndarray, abs_gap: float, seconds: float
               ) -> tuple[str, float, float, np.ndarray | None]:
    """(In the HiGHS child process.) One component's LP with whole shares, by
    HiGHS's branch and cut, started from ``x_start`` (the seats are completed
    by HiGHS). Returns (status, objective of the best plan found or nan, dual
    bound or -inf, that plan's shares or None)."""
    import highspy  # only in the child process (see highs_child)

    h = highs_child.one_thread_solver(highspy)
    # As for the LP, presolve only slows these models (20,000-student weighted
    # district: 8 s with, 3 s without, for the largest component).
    h.setOptionValue("presolve", "off")
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", float(abs_gap))
    h.setOptionValue("time_limit", max(float(seconds), 0.01))
    whole = (np.arange(n_col) < n_x).astype(np.int32) * int(highspy.HighsVarType.kInteger)
    highs_child.pass_columnwise(h, highspy, cost, col_hi, row_hi, start, index, value, whole)
    h.setSolution(n_x, np.arange(n_x, dtype=np.int32), np.asarray(x_start, dtype=np.float64))
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    bound = float(info.mip_dual_bound)
    if not math.isfinite(bound):
        bound = -math.inf
    name = "optimal" if status == highspy.HighsModelStatus.kOptimal else \
        h.modelStatusToString(status)
    if info.primal_solution_status != 2:  # no feasible plan found
        return name, math.nan, bound, None
    x = np.rint(np.asarray(h.getSolution().col_value)[:n_x])
    return name, float(info.objective_function_value), bound, x


def _class_counts(problem: PlanningProblem, col_class: np.ndarray, col_educator: np.ndarray,
                  class_of: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """Per LP column: how many of its class's students ``assignment`` gives its educator."""
    n_e = problem.n_educators
    keys = col_class.astype(np.int64) * n_e + col_educator  # ascending (class, educator)
    s = np.nonzero((class_of >= 0) & (assignment >= 0))[0]
    cols = np.searchsorted(keys, class_of[s] * n_e + assignment[s])
    return np.bincount(cols, minlength=len(keys)).astype(float)


def tighten(problem: PlanningProblem, model: Any, parts: list, columns: list[np.ndarray],
            labels: np.ndarray, lp_costs: np.ndarray, assignment: np.ndarray,
            deadline: float, call: Callable[..., object],
            say: Callable[[str], None] | None = None) -> Tightened:
    """Solve the components where the gap sits as MIPs (module docstring).

    Parameters
    ----------
    problem, model
        The planning problem and its LP (:func:`lp.lp_bound_model`).
    parts, columns, labels, lp_costs
        The LP split by component (``lp._parts``): each part's model, its
        columns in the whole model, its component label and its LP optimum.
    assignment
        The current plan (placing every student who has an option).
    deadline
        ``time.perf_counter()`` value by which to stop.
    call
        Runs a function in the HiGHS child (``highs_child.call``).

    Returns
    -------
    Tightened

    Examples
    --------
    >>> t = tighten(problem, model, parts, cols, labels, costs, plan, end, call)  # doctest: +SKIP
    >>> t.bound_gain >= 0                                                         # doctest: +SKIP
    True
    """
    s_lab, e_lab = component_labels(problem)
    n_labels = int(max(s_lab.max(initial=-1), e_lab.max(initial=-1))) + 1
    n_x = len(model.col_edge)
    col_educator = problem.edge_educator[model.col_edge]
    class_of = np.full(problem.n_students, -1, dtype=np.int64)
    for c, m in enumerate(model.members):
        class_of[m] = c
    left_out = problem.unplaced_cost()
    pinned = problem.pinned_to >= 0
    base = problem.other_load + problem.pinned_load()
    # Each component's share of the LP's constant (lp.lp_bound_model): so a
    # part's LP optimum plus it is that component's bound in real points.
    pin_edges = np.nonzero(pinned[problem.edge_student]
                           & (problem.pinned_to[problem.edge_student] == problem.edge_educator))[0]
    pin_students = problem.edge_student[pin_edges]
    const = (np.bincount(s_lab, weights=left_out, minlength=n_labels)
             + np.bincount(s_lab[pin_students], weights=problem.edge_cost()[pin_edges]
                           - left_out[pin_students], minlength=n_labels)
             + np.bincount(e_lab, weights=problem.balance.penalty(problem, base),
                           minlength=n_labels))
    bound_k = np.asarray(lp_costs, dtype=float).copy()
    best = assignment.copy()
    points = component_points(problem, best, s_lab, e_lab, n_labels)
    total_points = float(points.sum())

    def gap_k() -> np.ndarray:
        return points[labels] - (bound_k + const[labels])

    def total_gap() -> float:
        return float(gap_k().sum()) / max(abs(total_points), 1e-9)

    tried = np.zeros(len(parts), dtype=bool)
    solved = proven = 0
    clock = False
    gain = 0.0
    while total_gap() > GAP_TARGET:
        left = deadline - time.perf_counter()
        g = np.where(tried, -np.inf, gap_k())
        k = int(np.argmax(g)) if len(g) else -1
        if k < 0 or g[k] <= 0 or left <= 0.05:
            clock = clock or left <= 0.05
            break
        tried[k] = True
        cols = columns[k][:parts[k][7]]
        x_start = _class_counts(problem, model.col_class[:n_x], col_educator, class_of,
                                best)[cols]
        if say:
            say(f"gap {total_gap():.3%}: component of {int((s_lab == labels[k]).sum()):,} "
                f"students by HiGHS's MIP ({gap_k()[k]:,.1f} points of gap there)")
        abs_gap = PART_GAP * max(abs(points[labels[k]]), 1.0)
        answer = call("optimizer.planning.solvers.lp_mip:_highs_mip", *parts[k], x_start,
                      abs_gap, left)
        status, _, mip_bound, x = cast(tuple[str, float, float, np.ndarray | None], answer)
        solved += 1
        if say:
            say(f"that component: {'within its aim' if status == 'optimal' else status}, "
                f"bound up {max(mip_bound - bound_k[k], 0):,.1f} points")
        if status == "optimal":
            proven += 1
        else:
            clock = True
        if mip_bound > bound_k[k]:
            gain += mip_bound - bound_k[k]
            bound_k[k] = mip_bound
        if x is None:
            continue
        candidate = best.copy()
        members = [model.members[c] for c in np.unique(model.col_class[cols])]
        for m in members:
            candidate[m] = -1
        counts = np.asarray(x, dtype=np.int64)
        for c, m in zip(np.unique(model.col_class[cols]).tolist(), members, strict=True):
            sel = model.col_class[cols] == c
            who = np.repeat(col_educator[cols][sel], counts[sel])[:len(m)]
            candidate[m[:len(who)]] = who
        if np.any(problem.loads(candidate) > problem.cap + 1e-9):
            continue  # outside HiGHS's tolerances: keep the current plan
        new_points = component_points(problem, candidate, s_lab, e_lab, n_labels)
        more = int((candidate >= 0).sum()) - int((best >= 0).sum())
        if more > 0 or (more == 0 and new_points.sum() < total_points - 1e-9):
            best, points, total_points = candidate, new_points, float(new_points.sum())
    return Tightened(best, gain, solved, proven, clock)
