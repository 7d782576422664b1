"""A greedy benchmark plan, to measure the optimizer against what a careful hand
process would do: students with the fewest eligible case managers first,
each to the cheapest option (rank, then continuity), ties to the least loaded.
"""

from __future__ import annotations

import numpy as np

from optimizer.planning.problem import PlanningProblem

__all__ = ["greedy_assignment"]


def greedy_assignment(problem: PlanningProblem) -> np.ndarray:
    """Educator index per student (-1 unplaced), caps and pins respected.

    Examples
    --------
    >>> greedy_assignment(build_problem(district))   # doctest: +SKIP
    array([12,  3, ...])
    """
    ee = problem.edge_educator
    cost = problem.edge_cost()
    starts, ends = problem.edge_ranges
    options = ends - starts
    load = problem.other_load.copy()
    cap = problem.cap.astype(float)
    out = np.full(problem.n_students, -1, dtype=np.int64)
    pinned = problem.pinned_to >= 0
    for s in np.nonzero(pinned)[0]:
        out[s] = problem.pinned_to[s]
        load[out[s]] += problem.weight[s]
    # Fewest options first; ties by id (the problem's order), so it is deterministic.
    order = np.lexsort((np.arange(problem.n_students), options))
    for s in order:
        if pinned[s] or options[s] == 0:
            continue
        w = problem.weight[s]
        best, best_key = -1, None
        for k in range(starts[s], ends[s]):
            e = ee[k]
            if load[e] + w > cap[e] + 1e-9:
                continue
            key = (cost[k], (load[e] + w) / cap[e])
            if best_key is None or key < best_key:
                best, best_key = e, key
        if best >= 0:
            out[s] = best
            load[best] += w
    return out
