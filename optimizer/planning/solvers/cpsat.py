"""Plans with weighted students by CP-SAT, one connected component at a time.

A flow cannot carry weighted students (a student weighing 1.5 uses 1.5 seats),
so here each component is a small CP-SAT model, hinted with a feasible plan
derived from the flow solution, under a time limit; the result carries the
best bound and the gap. Variables exist only on eligible edges.

Units: the objective is in 1/1000 of a point (as the flow), loads in 1/100 of a
student, so every coefficient is an integer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from optimizer.planning.problem import PlanningProblem
from optimizer.planning.solvers.flow import SCALE

__all__ = ["CpSatOutcome", "solve_cpsat"]

WEIGHT_SCALE = 100


@dataclass(frozen=True)
class CpSatOutcome:
    assignment: np.ndarray
    status: str  # "optimal" | "feasible"
    objective: float  # points, over the solved components (CP-SAT's view)
    bound: float  # points: best proven lower bound for the same
    components_solved: int
    components_optimal: int
    max_ratio_ceiling: float | None = None  # min-max: the highest per-component ceiling


def _positions(owners: np.ndarray) -> dict[int, list[int]]:
    """Positions of each value: the edges of each student (or educator)."""
    out: dict[int, list[int]] = {}
    for j, owner in enumerate(owners.tolist()):
        out.setdefault(owner, []).append(j)
    return out


#: Load ratios are compared in thousandths.
RATIO_SCALE = 1000


def _groups(labels: np.ndarray, items: np.ndarray) -> dict[int, np.ndarray]:
    """``items`` split by their label, each group in its original order."""
    order = np.argsort(labels, kind="stable")
    keys, starts = np.unique(labels[order], return_index=True)
    return {int(k): items[order][a:b] for k, a, b in
            zip(keys, starts, [*starts[1:], len(order)], strict=True)}


def _component_model(problem: PlanningProblem, students: np.ndarray, edges: np.ndarray,
                     educators: np.ndarray, fixed: np.ndarray, hint: np.ndarray, *,
                     minmax_phase: bool = False, ceiling: int | None = None,
                     min_placed: int | None = None):
    """The CP-SAT model of one component.

    ``minmax_phase``: minimize the number unplaced, then the highest load ratio
    (variable ``M``, in thousandths). ``ceiling``/``min_placed``: the second
    phase of min-max balance, keeping every ratio at or under the ceiling found
    and placing at least as many students.
    """
    o = problem.objective
    m = cp_model.CpModel()
    es, ee = problem.edge_student[edges], problem.edge_educator[edges]
    cost = np.rint(problem.edge_cost()[edges] * SCALE).astype(np.int64)
    x = [m.new_bool_var(f"x{j}") for j in range(len(edges))]
    # Each student has at most one case manager; an unplaced student costs `unplaced`.
    unplaced_terms = []
    placed_terms = []
    by_student = _positions(es)
    for s in students:
        js = by_student.get(int(s), [])
        if not js:
            continue
        placed = sum(x[j] for j in js)
        m.add(placed <= 1)
        unplaced_terms.append(1 - placed)
        placed_terms.append(placed)
    if min_placed is not None:
        m.add(sum(placed_terms) >= min_placed)
    highest = None
    if minmax_phase:
        highest = m.new_int_var(0, 10 * RATIO_SCALE, "highest_ratio")
    # Caps are hard: weighted load plus other load (and pins) within the cap.
    penalties = []
    by_educator = _positions(ee)
    for e in educators:
        js = by_educator.get(int(e), [])
        cap = int(problem.cap[e])
        base = problem.other_load[e] + fixed[e]
        base_i = int(round(base * WEIGHT_SCALE))
        w = [int(round(problem.weight[es[j]] * WEIGHT_SCALE)) for j in js]
        load = sum(wi * x[j] for wi, j in zip(w, js, strict=True)) + base_i
        # Other load above the cap (a warning at validation) leaves no room, but
        # must not make the model infeasible: then no new student may be added.
        top = max(cap * WEIGHT_SCALE, base_i)
        m.add(load <= top)
        if cap > 0 and highest is not None:
            # The highest load ratio, in thousandths: load / cap <= highest / 1000.
            m.add(RATIO_SCALE * load <= highest * cap * WEIGHT_SCALE)
        if cap > 0 and ceiling is not None:
            m.add(RATIO_SCALE * load <= max(ceiling * cap * WEIGHT_SCALE,
                                            RATIO_SCALE * base_i))
        if cap <= 0 or o.balance == 0 or minmax_phase:
            continue
        # Balance: p >= each secant of g(L) = balance * L^2 / cap between whole
        # students k-1 and k; exact at whole loads, and convex so p = max of lines.
        p = m.new_int_var(0, int(o.balance * cap * SCALE) + 1, f"p{e}")

        def g(v: float, cap: int = cap) -> float:
            return o.balance * v * v / cap

        lo = int(np.floor(base))
        for k in range(max(lo, 0) + 1, cap + 1):
            slope = int(round((g(k) - g(k - 1)) * SCALE))
            const = int(round(g(k - 1) * SCALE)) * WEIGHT_SCALE
            m.add(WEIGHT_SCALE * p >= slope * (load - (k - 1) * WEIGHT_SCALE) + const)
        penalties.append(p)
    if highest is not None:
        # Placing one more student always beats any ratio (at most 10,000 here).
        m.minimize(100 * RATIO_SCALE * sum(unplaced_terms) + highest)
    else:
        unplaced_cost = int(round(o.unplaced * SCALE))
        m.minimize(unplaced_cost * sum(unplaced_terms)
                   + sum(int(c) * xi for c, xi in zip(cost, x, strict=True))
                   + sum(penalties))
    for j in range(len(edges)):
        m.add_hint(x[j], bool(hint[es[j]] == ee[j]))
    return m, x, es, ee, highest, placed_terms


def _solver(seconds: float, deterministic: bool) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    if deterministic:
        solver.parameters.num_workers = 1
        # Deterministic time is CP-SAT's own work counter (here about two wall
        # seconds a unit): same input, same stop. The wall clock is a safety net.
        solver.parameters.max_deterministic_time = seconds
        solver.parameters.max_time_in_seconds = 3 * seconds + 5
    else:
        solver.parameters.num_workers = 8  # a portfolio, even on 2 cores
        solver.parameters.max_time_in_seconds = seconds
    return solver


def solve_cpsat(problem: PlanningProblem, hint: np.ndarray, labels: np.ndarray,
                time_limit: float = 30.0, deterministic: bool = True,
                minmax: bool = False) -> CpSatOutcome:
    """Solve every component that has a free student, hinted with ``hint``.

    Parameters
    ----------
    problem
        The planning problem (any weights).
    hint
        A feasible assignment (educator index per student, -1 unplaced).
    labels
        Component label per student and educator (``component_labels``).
    time_limit
        Seconds for all components, shared in proportion to their edges.
    deterministic
        One search worker with a deterministic time limit, so the same input
        always gives the same plan (at the cost of parallel speed).
    minmax
        Min-max balance: per component, first the lowest highest load ratio
        that places the most students (half the time), then the objective
        within that ceiling.
    """
    s_lab, e_lab = labels
    pinned = problem.pinned_to >= 0
    fixed = problem.pinned_load()
    free_edge = np.nonzero(~pinned[problem.edge_student])[0]
    assignment = hint.copy()
    # Group edges, free students and educators by component once (a district
    # can have hundreds of components; scanning every edge per component would
    # be quadratic). Only components with a free student's edge need a model.
    edges_of = _groups(s_lab[problem.edge_student[free_edge]], free_edge)
    students_of = _groups(s_lab[~pinned], np.nonzero(~pinned)[0])
    educators_of = _groups(e_lab, np.arange(problem.n_educators))
    comps = sorted(edges_of)
    total_edges = max(1, len(free_edge))
    obj = bound = 0.0
    optimal = 0
    ceilings = []
    for c in comps:
        edges, students, educators = edges_of[c], students_of[c], educators_of[c]
        share = max(1.0, time_limit * len(edges) / total_edges)
        phase_hint, extra = hint, {}
        proven = True
        if minmax:
            # Phase 1: the lowest highest load ratio that places the most students.
            model, x, es, ee, highest, _ = _component_model(
                problem, students, edges, educators, fixed, hint, minmax_phase=True)
            solver = _solver(share / 2, deterministic)
            status = solver.solve(model)
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                proven = status == cp_model.OPTIMAL
                chosen = np.array([solver.boolean_value(xi) for xi in x], dtype=bool)
                phase_hint = hint.copy()
                phase_hint[students] = -1
                phase_hint[es[chosen]] = ee[chosen]
                extra = {"ceiling": int(solver.value(highest)),
                         "min_placed": int(chosen.sum())}
                ceilings.append(extra["ceiling"] / RATIO_SCALE)
            share /= 2
        model, x, es, ee, _, _ = _component_model(problem, students, edges, educators, fixed,
                                                  phase_hint, **extra)
        solver = _solver(share, deterministic)
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            assignment[students] = phase_hint[students]  # keep the (feasible) hint here
            continue
        optimal += status == cp_model.OPTIMAL and proven
        obj += solver.objective_value / SCALE
        bound += solver.best_objective_bound / SCALE
        chosen = np.array([solver.boolean_value(xi) for xi in x], dtype=bool)
        assignment[students] = -1
        assignment[es[chosen]] = ee[chosen]
    return CpSatOutcome(assignment, "optimal" if optimal == len(comps) else "feasible",
                        obj, bound, len(comps), optimal,
                        max(ceilings) if ceilings else None)
