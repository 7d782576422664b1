"""Solving a planning problem: ``solve(problem, params) -> Result``.

The engine is chosen by the problem: with every student weighing 1 the plan
is a min-cost flow (exact and fast, proven optimal); with weighted students
each connected component goes to CP-SAT, hinted with a feasible plan built
from the flow, under a time limit (the Result then reports bound and gap).
Only modules in this package import OR-Tools.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from optimizer.planning.problem import PlanningProblem, component_labels
from optimizer.planning.result import Result, build_result

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
        ``"auto"`` (flow for unit weights, CP-SAT otherwise), ``"flow"`` or ``"cpsat"``.
    time_limit
        Seconds for CP-SAT (all components together).
    deterministic
        CP-SAT with one worker and a deterministic work limit: same input, same plan.
    """

    balance: str = "convex"
    engine: str = "auto"
    time_limit: float = 30.0
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.balance not in ("convex", "minmax"):
            raise ValueError(f"balance must be 'convex' or 'minmax', not {self.balance!r}")
        if self.engine not in ("auto", "flow", "cpsat"):
            raise ValueError(f"engine must be 'auto', 'flow' or 'cpsat', not {self.engine!r}")


def solve(problem: PlanningProblem, params: SolveParams | None = None) -> Result:
    """Plan: the best case manager for every student the caps allow.

    Parameters
    ----------
    problem
        From :func:`optimizer.planning.problem.build_problem`.
    params
        :class:`SolveParams`; defaults are right for most districts.

    Returns
    -------
    Result
        Immutable: status, objective and its terms, bound and gap, the plan's
        tables, figures and ``summary()``.

    Examples
    --------
    >>> result = solve(build_problem(load_district("data/sample")))   # doctest: +SKIP
    >>> result.status                                                  # doctest: +SKIP
    'optimal'
    """
    from optimizer.planning.solvers import flow

    params = params or SolveParams()
    runtime = dict(problem.timings)
    t0 = time.perf_counter()
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

    extra = {"components": n_components, "largest_component_students": largest}
    t0 = time.perf_counter()
    if not use_cpsat:
        ratio = None
        if params.balance == "minmax":
            ratio = flow.min_max_ratio(problem)
            runtime["minmax_search"] = time.perf_counter() - t0
            t0 = time.perf_counter()
        assignment = flow.solve_flow(problem, ratio=ratio)
        runtime["flow"] = time.perf_counter() - t0
        engine = ("min-cost flow (OR-Tools SimpleMinCostFlow): proven optimal; costs "
                  "rounded to 1/1000 point")
        if ratio is not None:
            engine += f"; min-max search (max flow) proved the lowest ceiling {ratio:.3f}"
        return build_result(problem, assignment, status="optimal", engine=engine,
                            bound=None, runtime=runtime, balance_mode=params.balance,
                            extra={**extra, "max_ratio_ceiling": ratio})

    from optimizer.planning.solvers import cpsat

    hint = flow.weighted_hint(problem)
    runtime["flow_hint"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cp = cpsat.solve_cpsat(problem, hint, labels, time_limit=params.time_limit,
                           deterministic=params.deterministic,
                           minmax=params.balance == "minmax")
    runtime["cpsat"] = time.perf_counter() - t0
    engine = (f"CP-SAT per component ({cp.components_optimal} of {cp.components_solved} "
              "proven optimal), hinted with a weighted plan built from min-cost flows")
    if cp.max_ratio_ceiling is not None:
        engine += (f"; min-max first (per component, highest ceiling "
                   f"{cp.max_ratio_ceiling:.3f})")
    extra["max_ratio_ceiling"] = cp.max_ratio_ceiling
    # CP-SAT's bound covers the solved components; the rest of the objective
    # (pinned students, other load) is constant and equal in both, so the
    # plan's proven bound lies as far below its objective as CP-SAT's does.
    bound = None
    if cp.status != "optimal":
        objective = sum(problem.objective_terms(cp.assignment).values())
        bound = objective - (cp.objective - cp.bound)
    return build_result(problem, cp.assignment, status=cp.status, engine=engine,
                        bound=bound, runtime=runtime, balance_mode=params.balance,
                        extra={**extra, "cpsat_objective": cp.objective,
                               "cpsat_bound": cp.bound})
