"""Plans with weighted students by CP-SAT, one connected component at a time.

A flow cannot carry weighted students (a student weighing 1.5 uses 1.5 seats),
so here each component is a small CP-SAT model, hinted with a feasible plan
derived from the flow solution. Variables exist only on eligible edges.

Each component is solved in up to two phases, as the objective orders them
(:mod:`optimizer.planning.objective`): first the most students placed (or,
for min-max balance, the most placed and then the lowest highest load
ratio), then the fewest points among plans placing that many. A component
is proven optimal only when every phase it needed was; the plan's bound is
reported only when every component's first phase was proven (otherwise no
bound on the points of the best plan is known).

Units: points in 1/1000 (as the flow), loads in 1/100 of a student, so
every coefficient is an integer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from optimizer.arraysets import stable_order
from optimizer.planning.problem import PlanningProblem
from optimizer.planning.solvers.flow import SCALE

__all__ = ["CpSatOutcome", "solve_cpsat"]

WEIGHT_SCALE = 100

#: Load ratios are compared in thousandths.
RATIO_SCALE = 1000

#: Seconds between progress lines during a long solve.
PROGRESS_EVERY = 5.0


@dataclass(frozen=True)
class CpSatOutcome:
    """What CP-SAT found over the components it solved.

    ``objective`` and ``bound`` are points over those components; ``bound``
    is None when some component's most-placed phase was not proven.
    """

    assignment: np.ndarray
    status: str  # "optimal" | "feasible"
    objective: float
    bound: float | None
    components_solved: int
    components_optimal: int
    max_ratio_ceiling: float | None = None  # min-max: the highest per-component ceiling
    stopped_by_clock: bool = False  # the wall clock, not CP-SAT's work counter, ended a search


def _positions(owners: np.ndarray) -> dict[int, list[int]]:
    """Positions of each value: the edges of each student (or educator)."""
    out: dict[int, list[int]] = {}
    for j, owner in enumerate(owners.tolist()):
        out.setdefault(owner, []).append(j)
    return out


def _groups(labels: np.ndarray, items: np.ndarray) -> dict[int, np.ndarray]:
    """``items`` split by their label, each group in its original order."""
    if not len(labels):
        return {}
    order = stable_order(labels)
    keys, starts = np.unique(labels[order], return_index=True)
    return {int(k): items[order][a:b] for k, a, b in
            zip(keys, starts, [*starts[1:], len(order)], strict=True)}


@dataclass(frozen=True)
class _Phase:
    """Which model to build: ``placed`` (most placed), ``minmax`` (most placed,
    then lowest highest ratio) or ``points`` (fewest points, given the
    placed count and ratio ceiling found before)."""

    kind: str
    min_placed: int | None = None
    ceiling: int | None = None


def _component_model(problem: PlanningProblem, students: np.ndarray, edges: np.ndarray,
                     educators: np.ndarray, fixed: np.ndarray, hint: np.ndarray,
                     phase: _Phase) -> tuple[cp_model.CpModel, list[cp_model.IntVar],
                                             np.ndarray, np.ndarray, cp_model.IntVar | None]:
    """The CP-SAT model of one component, for one phase."""
    m = cp_model.CpModel()
    es, ee = problem.edge_student[edges], problem.edge_educator[edges]
    x = [m.new_bool_var(f"x{j}") for j in range(len(edges))]
    # Each student has at most one case manager.
    placed_of: dict[int, cp_model.LinearExprT] = {}
    by_student = _positions(es)
    for s in students:
        js = by_student.get(int(s), [])
        if not js:
            continue
        placed = sum(x[j] for j in js)
        m.add(placed <= 1)
        placed_of[int(s)] = placed
    n_placed = cp_model.LinearExpr.sum(list(placed_of.values()))
    if phase.min_placed is not None:
        m.add(n_placed >= phase.min_placed)
    highest = None
    if phase.kind == "minmax":
        # Room for ratios up to 10, and for any educator whose other load alone
        # is above that (a warning at validation, not an error): a bound below
        # their own ratio would make the model infeasible.
        own = [-(-RATIO_SCALE * int(round((problem.other_load[e] + fixed[e]) * WEIGHT_SCALE))
                  // (int(problem.cap[e]) * WEIGHT_SCALE))  # ceil(load / cap), thousandths
               for e in educators if problem.cap[e] > 0]
        highest = m.new_int_var(0, max([10 * RATIO_SCALE, *own]), "highest_ratio")
    # Caps are hard: weighted load plus other load (and pins) within the cap.
    penalties = []
    by_educator = _positions(ee)
    # Every plan's load is an educator's fixed load plus whole multiples of
    # this step (the weights' greatest common divisor, in 1/WEIGHT_SCALE).
    scaled = np.rint(problem.weight[es] * WEIGHT_SCALE).astype(np.int64)
    step = float(np.gcd.reduce(np.append(scaled, WEIGHT_SCALE))) / WEIGHT_SCALE
    balance = problem.balance
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
        if cap > 0 and phase.ceiling is not None:
            m.add(RATIO_SCALE * load <= max(phase.ceiling * cap * WEIGHT_SCALE,
                                            RATIO_SCALE * base_i))
        if phase.kind != "points" or cap <= 0 or balance.weight == 0:
            continue
        # Balance: p >= each secant of the balance term's penalty between the
        # loads a plan can reach (the fixed load plus whole steps of the
        # weights' grid); exact there, and convex so p = max of lines. (Secants
        # between whole loads overcharged a load of 27.5 with students weighing
        # 1.5, so CP-SAT's "optimal" plan could be beaten: test_weighted_mip.py.)
        n_seg = int(np.ceil((top / WEIGHT_SCALE - base) / step - 1e-9))
        if n_seg <= 0:
            continue
        at = base + step * np.arange(n_seg + 1)
        ks = np.arange(1, n_seg + 1)
        e_arr = np.full(len(at), e)
        f_at = balance.penalty(problem, at, e_arr)
        at_k, at_prev = f_at[1:], f_at[:-1]
        p = m.new_int_var(0, int(balance.penalty(problem, np.array([cap]),
                                                 np.array([e]))[0] * SCALE) + 1, f"p{e}")
        # The hint's load, so p can be hinted too (a complete hint is one CP-SAT
        # can take as its first solution at once).
        hint_load = base_i + sum(wi for wi, j in zip(w, js, strict=True)
                                 if hint[es[j]] == ee[j])
        need = 0
        for k, g_k, g_prev in zip(ks.tolist(), at_k, at_prev, strict=True):
            # Per whole student of load, in 1/SCALE points (times the load's
            # 1/WEIGHT_SCALE units, and p's, on both sides).
            slope = int(round((g_k - g_prev) / step * SCALE))
            const = int(round(g_prev * SCALE)) * WEIGHT_SCALE
            from_i = base_i + int(round((k - 1) * step * WEIGHT_SCALE))
            m.add(WEIGHT_SCALE * p >= slope * (load - from_i) + const)
            need = max(need, -(-(slope * (hint_load - from_i) + const) // WEIGHT_SCALE))
        m.add_hint(p, need)
        penalties.append(p)
    if phase.kind == "placed":
        m.maximize(n_placed)
    elif highest is not None:  # the min-max phase
        # Placing one more student always beats any ratio (at most 10,000 here).
        m.minimize(100 * RATIO_SCALE * (len(placed_of) - n_placed) + highest)
    else:
        # Points, from the objective's terms: each edge's points when chosen,
        # each student's unplaced points when left out, the balance penalties.
        edge_cost = np.rint(problem.edge_cost()[edges] * SCALE).astype(np.int64)
        left_out = np.rint(problem.unplaced_cost() * SCALE).astype(np.int64)
        kept = list(placed_of)
        everyone_out = int(left_out[kept].sum()) if kept else 0
        m.minimize(everyone_out
                   - cp_model.LinearExpr.weighted_sum(list(placed_of.values()),
                                                      [int(left_out[s]) for s in kept])
                   + cp_model.LinearExpr.weighted_sum(x, [int(c) for c in edge_cost])
                   + cp_model.LinearExpr.sum(penalties))
    for j in range(len(edges)):
        m.add_hint(x[j], bool(hint[es[j]] == ee[j]))
    return m, x, es, ee, highest


class _Progress(cp_model.CpSolverSolutionCallback):
    """Reports the best plan and bound every few seconds while CP-SAT searches."""

    def __init__(self, say: Callable[[str], None], label: str) -> None:
        super().__init__()
        self.say, self.label = say, label
        self.last = time.perf_counter()

    def on_solution_callback(self) -> None:
        now = time.perf_counter()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.say(f"{self.label}: best so far {self.objective_value / SCALE:,.1f}, "
                     f"bound {self.best_objective_bound / SCALE:,.1f}")


def _solver(seconds: float, deterministic: bool) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    seconds = max(seconds, 0.05)
    # The wall clock bounds every search (the --time-limit promise). With one
    # worker, CP-SAT's own work counter is set to stop it first (a unit took
    # about two wall seconds here; a third leaves room on a busy machine), and
    # then the same input gives the same plan.
    solver.parameters.max_time_in_seconds = seconds
    if deterministic:
        solver.parameters.num_workers = 1
        solver.parameters.max_deterministic_time = seconds / 3
    else:
        solver.parameters.num_workers = 8  # a portfolio, even on 2 cores
    return solver


def _run(problem: PlanningProblem, students: np.ndarray, edges: np.ndarray,
         educators: np.ndarray, fixed: np.ndarray, hint: np.ndarray, phase: _Phase,
         until: float, deterministic: bool, say: Callable[[str], None] | None,
         label: str) -> tuple[Any, np.ndarray | None, cp_model.CpSolver,
                              cp_model.IntVar | None, bool, np.ndarray, np.ndarray]:
    """Build and solve one phase by ``until`` (a ``time.perf_counter`` instant):
    (status, chosen edge mask or None, solver, highest, stopped by the clock, es, ee)."""
    model, x, es, ee, highest = _component_model(problem, students, edges, educators, fixed,
                                                 hint, phase)
    seconds = until - time.perf_counter()  # building the model used some of the time
    solver = _solver(seconds, deterministic)
    callback = _Progress(say, label) if say else None
    status = solver.solve(model, callback) if callback else solver.solve(model)
    clock = solver.wall_time >= 0.98 * max(seconds, 0.05)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return status, None, solver, highest, clock, es, ee
    chosen = np.array([solver.boolean_value(xi) for xi in x], dtype=bool)
    return status, chosen, solver, highest, clock, es, ee


def solve_cpsat(problem: PlanningProblem, hint: np.ndarray, labels: tuple[np.ndarray, np.ndarray],
                time_limit: float = 30.0, deterministic: bool = True,
                minmax: bool = False,
                progress: Callable[[str], None] | None = None) -> CpSatOutcome:
    """Solve every component that has a free student, hinted with ``hint``.

    Parameters
    ----------
    problem
        The planning problem (any weights).
    hint
        A feasible assignment (educator index per student, -1 unplaced).
    labels
        Component label per student and per educator (``component_labels``).
    time_limit
        Wall-clock seconds for all components together, shared in proportion
        to their edges (time a component does not use passes to the next).
    deterministic
        One search worker with a deterministic work limit, so the same input
        gives the same plan unless the wall clock stops a search first.
    minmax
        Min-max balance: per component, first the lowest highest load ratio
        that places the most students, then the fewest points within it.
    progress
        Called with a line of text every few seconds during long searches.

    Returns
    -------
    CpSatOutcome
    """
    deadline = time.perf_counter() + time_limit
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
    edges_left = max(1, len(free_edge))
    obj = 0.0
    bound: float | None = 0.0
    optimal = 0
    clock = False
    ceilings = []
    for i, c in enumerate(comps, 1):
        edges, students, educators = edges_of[c], students_of[c], educators_of[c]
        share = max(0.0, deadline - time.perf_counter()) * len(edges) / edges_left
        edges_left -= len(edges)
        label = f"component {i} of {len(comps)}"
        args = (problem, students, edges, educators, fixed)
        proven = True  # the most-placed phase: proven, or not needed
        points_phase = _Phase("points")
        phase_hint = hint
        has_edge = np.isin(students, problem.edge_student[edges])
        hint_placed = int((hint[students[has_edge]] >= 0).sum())
        started = time.perf_counter()
        if minmax or hint_placed < int(has_edge.sum()):
            # First phase: the most students placed (and, for min-max, the lowest
            # highest ratio among those plans). Skipped when the hint already
            # places every student who has an option: nothing can beat that.
            first = _Phase("minmax" if minmax else "placed")
            status, chosen, solver, highest, stop, es, ee = _run(
                *args, hint, first, started + share / 2, deterministic, progress, label)
            clock |= stop
            if chosen is None:
                proven = False
            else:
                proven = status == cp_model.OPTIMAL
                phase_hint = hint.copy()
                phase_hint[students] = -1
                phase_hint[es[chosen]] = ee[chosen]
                ceiling = int(solver.value(highest)) if highest is not None else None
                if ceiling is not None:
                    ceilings.append(ceiling / RATIO_SCALE)
                points_phase = _Phase("points", min_placed=int(chosen.sum()), ceiling=ceiling)
        # The second phase has what is left of this component's share.
        status, chosen, solver, _, stop, es, ee = _run(
            *args, phase_hint, points_phase, min(started + share, deadline), deterministic,
            progress, label)
        clock |= stop
        if chosen is None:
            # No plan within the time: keep the (feasible) hint here, with no proof.
            assignment[students] = phase_hint[students]
            bound = None
            if progress:
                progress(f"{label}: no plan found in the time left; keeping the plan built "
                         "from flows (not proven)")
            continue
        if not proven:
            bound = None
        # A bound equal to the plan's points proves it, whatever the status says.
        closed = (status == cp_model.OPTIMAL
                  or solver.best_objective_bound >= solver.objective_value)
        optimal += closed and proven
        obj += solver.objective_value / SCALE
        if bound is not None:
            bound += solver.best_objective_bound / SCALE
        assignment[students] = -1
        assignment[es[chosen]] = ee[chosen]
        if progress:
            done = "proven optimal" if closed and proven else "best found"
            progress(f"{label}: {done} ({solver.objective_value / SCALE:,.1f} points)")
    return CpSatOutcome(assignment, "optimal" if optimal == len(comps) else "feasible",
                        obj, bound, len(comps), optimal,
                        max(ceilings) if ceilings else None, clock)
