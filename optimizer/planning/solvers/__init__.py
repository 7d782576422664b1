"""Solving a planning problem: ``solve(problem, params) -> Solution``.

The engine is chosen by the problem: with every student weighing 1 the plan
is a min-cost flow on the pooled network (exact and fast, proven optimal, ties
broken by a stated rule: :mod:`optimizer.planning.solvers.pooled`); with weighted students
HiGHS's LP relaxation gives a bound and a plan rounded from it comes within a
proven gap (:mod:`optimizer.planning.solvers.lp`); min-max balance with
weights, or ``engine="cpsat"``, solves each connected component by CP-SAT,
hinted with a feasible plan built from the flow. Both keep to a wall-clock
time limit (the Solution then says what was proven: bound and gap, or none).
Only modules in this package import OR-Tools; the explained plan is made later, by
:func:`optimizer.planning.explain.explain_plan`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optimizer.planning.solution import Solution

if TYPE_CHECKING:
    # (Imported in solve: the planning problem loads pandas, which the
    # HiGHS child process, importing this package for its solver modules,
    # never needs; 0.3 s of each such process's start.)
    from optimizer.planning.problem import PlanningProblem

__all__ = ["SolveParams", "solve"]


@dataclass(frozen=True)
class SolveParams:
    """How to solve.

    Parameters
    ----------
    balance
        ``"convex"`` (default): the convex balance penalty spreads work evenly.
        ``"minmax"``: first make the highest load ratio as low as possible
        (without placing fewer students), then the usual objective.
    engine
        ``"auto"`` (flow for unit weights; otherwise the LP bound and a rounded
        plan, or CP-SAT for min-max balance), ``"flow"`` or ``"cpsat"``.
    time_limit
        Wall-clock seconds for the whole solve with weighted students (the
        flow hint and CP-SAT together); the flow needs none.
    deterministic
        CP-SAT with one worker and a deterministic work limit: same input,
        same plan, unless the wall clock stops a search first (then said).
    progress
        Called with a line of text as a long solve goes on (every few seconds).
    """

    balance: str = "convex"
    engine: str = "auto"
    time_limit: float = 30.0
    deterministic: bool = True
    progress: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.time_limit, int | float) and 0 < self.time_limit < 1e6):
            raise ValueError(f"time_limit must be a number of seconds between 0 and "
                             f"1,000,000, not {self.time_limit!r}")
        if self.balance not in ("convex", "minmax"):
            raise ValueError(f"balance must be 'convex' or 'minmax', not {self.balance!r}")
        if self.engine not in ("auto", "flow", "cpsat"):
            raise ValueError(f"engine must be 'auto', 'flow' or 'cpsat', not {self.engine!r}")


def solve(problem: PlanningProblem, params: SolveParams | None = None) -> Solution:
    """The best case manager for every student the caps allow.

    Parameters
    ----------
    problem
        From :func:`optimizer.planning.problem.build_problem`.
    params
        :class:`SolveParams`; defaults are right for most districts.

    Returns
    -------
    Solution
        The assignment, its status, points, bound and runtime.

    Examples
    --------
    >>> solution = solve(build_problem(load_district("data/sample")))   # doctest: +SKIP
    >>> solution.status                                                  # doctest: +SKIP
    'optimal'
    """
    from optimizer.planning.solvers import flow, pooled  # OR-Tools loads only when solving

    params = params or SolveParams()
    runtime = dict(problem.timings)
    started = t0 = time.perf_counter()
    from optimizer.planning.problem import component_labels  # (pandas: see the top)

    labels = component_labels(problem)
    s_lab = labels[0]
    has_edge = np.zeros(problem.n_students, dtype=bool)
    has_edge[problem.edge_student] = True
    n_components = len(np.unique(s_lab[has_edge])) if has_edge.any() else 0
    largest = int(np.bincount(s_lab[has_edge]).max()) if has_edge.any() else 0
    runtime["components"] = time.perf_counter() - t0

    use_cpsat = params.engine == "cpsat" or (params.engine == "auto"
                                             and not problem.unit_weights)
    if params.engine == "flow" and not problem.unit_weights:
        raise ValueError("engine 'flow' needs every student weight to be 1; use 'auto'")

    facts: dict[str, object] = {"components": n_components,
                                "largest_component_students": largest}
    t0 = time.perf_counter()
    if not use_cpsat:
        ratio = None
        if params.balance == "minmax":
            ratio = flow.min_max_ratio(problem)
            runtime["minmax_search"] = time.perf_counter() - t0
            t0 = time.perf_counter()
        # The pooled network: the plain one's optimum on far fewer arcs, and a
        # deliberate tie rule among equally good plans (pooled.py, tested
        # against flow.solve_flow, the straightforward model).
        assignment = pooled.solve_pooled_flow(problem, ratio=ratio)
        runtime["flow"] = time.perf_counter() - t0
        engine = ("min-cost flow (OR-Tools SimpleMinCostFlow, interchangeable students "
                  "and educators pooled): proven optimal; costs rounded to 1/1000 point; "
                  "ties by student_id and educator_id")
        if ratio is not None:
            engine += f"; min-max search (max flow) proved the lowest ceiling {ratio:.3f}"
        objective = sum(problem.objective_terms(assignment).values())
        return Solution(assignment, "optimal", engine, objective, objective, runtime,
                        {**facts, "max_ratio_ceiling": ratio})

    if (params.engine == "auto" and params.balance == "convex"
            and problem.balance.weight >= 0):
        # Weighted students: HiGHS's LP relaxation bounds the points, and a plan
        # rounded from it (repaired by a small CP-SAT model) comes within a
        # proven gap of it, in seconds even for 100,000 students (lp.py).
        from optimizer.planning.solvers import lp

        out = lp.solve_weighted(problem, time_limit=max(params.time_limit - (t0 - started),
                                                        0.5),
                                deterministic=params.deterministic, progress=params.progress)
        runtime.update(out.runtime)
        return Solution(out.assignment, out.status, out.engine, out.objective, out.bound,
                        runtime, {**facts, **out.facts})

    from optimizer.planning.solvers import cpsat  # CP-SAT loads only for weighted students

    if params.progress:
        params.progress("weighted students: building a feasible plan from min-cost flows")
    hint = flow.weighted_hint(problem)
    runtime["flow_hint"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    remaining = params.time_limit - (t0 - started)
    cp = cpsat.solve_cpsat(problem, hint, labels, time_limit=max(remaining, 0.0),
                           deterministic=params.deterministic,
                           minmax=params.balance == "minmax", progress=params.progress)
    runtime["cpsat"] = time.perf_counter() - t0
    engine = (f"CP-SAT per component ({cp.components_optimal} of {cp.components_solved} "
              "proven optimal), hinted with a weighted plan built from min-cost flows")
    if cp.max_ratio_ceiling is not None:
        engine += (f"; min-max first (per component, highest ceiling "
                   f"{cp.max_ratio_ceiling:.3f})")
    if cp.stopped_by_clock:
        engine += "; stopped by the time limit"
    objective = sum(problem.objective_terms(cp.assignment).values())
    # CP-SAT's bound covers the solved components; the rest of the objective
    # (pinned students, other load, components with nothing to decide) is the
    # same in every plan, so the plan's bound lies as far below its points as
    # CP-SAT's does. No bound when a component's most-placed phase was unproven.
    bound = None
    if cp.status == "optimal":
        bound = objective
    elif cp.bound is not None:
        bound = objective - (cp.objective - cp.bound)
    return Solution(cp.assignment, cp.status, engine, objective, bound, runtime,
                    {**facts, "max_ratio_ceiling": cp.max_ratio_ceiling,
                     "cpsat_objective": cp.objective, "cpsat_bound": cp.bound,
                     "stopped_by_time_limit": cp.stopped_by_clock})
