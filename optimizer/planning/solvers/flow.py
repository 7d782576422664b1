"""Exact plans by min-cost flow (OR-Tools ``SimpleMinCostFlow``), for unit weights.

The network (docs/solver-design.md, docs/plan-format.md)::

    source --1, cost = -(points if left unplaced)--> student
    student --1, cost = points of the edge (rank, continuity, change)--> educator
    educator --seat k, cost = balance increment of the k-th student--> sink

Every cost comes from the objective's terms (:mod:`optimizer.planning.objective`).
A student's arc from the source is credited with what leaving them unplaced
would cost (e.g. the change penalty for a student the published plan placed),
so among plans that place the most students the flow prefers to leave out
those whose absence costs least.

Each educator's link to the sink is split into one unit arc per free seat,
costing the *increment* of the convex balance penalty; increments grow, so
the flow fills the cheap seats first and the penalty is exact. Only the free
seats exist, so caps are hard. ``solve_max_flow_with_min_cost`` places as
many students as possible first and then minimizes cost among those plans,
which makes "place the most students" strictly first, as the objective says.

Pinned students are fixed before the flow: they take their educator's first
seats, which costs the same as any seats (the penalty depends only on load).
Costs are scaled by :data:`SCALE` and rounded to integers, as the flow needs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from ortools.graph.python import max_flow, min_cost_flow

from optimizer.arraysets import stable_order
from optimizer.planning.problem import PlanningProblem

__all__ = ["SCALE", "FlowInputs", "flow_inputs", "min_max_ratio", "solve_flow",
           "weighted_hint"]

#: Costs are multiplied by this and rounded: exact to 1/1000 of a point.
SCALE = 1000


def _free_edges(problem: PlanningProblem) -> tuple[np.ndarray, np.ndarray]:
    """Pinned load per educator, and the mask of the free (unpinned) students'
    edges: pinned students are fixed before any flow, on their educator's first seats."""
    return problem.pinned_load(), problem.pinned_to[problem.edge_student] < 0


def _seat_counts(problem: PlanningProblem, fixed: np.ndarray, degree: np.ndarray,
                 ratio: float | None) -> tuple[np.ndarray, np.ndarray]:
    """First free seat number and number of free seats per educator."""
    cap = problem.cap.astype(float)
    # Not floored: with a fractional other load (0.5), the ceiling 0.3 x cap 5
    # = 1.5 leaves room for one student (0.5 + 1); only the seats are whole.
    limit = cap if ratio is None else np.minimum(cap, ratio * cap)
    start = problem.other_load + fixed  # load already there
    free = np.floor(limit - start + 1e-9).astype(np.int64)
    free = np.clip(free, 0, None)
    free = np.minimum(free, degree)  # no more seats than eligible students
    return start, free


def seat_arcs(problem: PlanningProblem, start: np.ndarray,
              free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The educator -> sink seat arcs: educator index and scaled cost of each,
    by educator then seat.

    The k-th free seat of educator e takes load from start+k-1 to start+k;
    its cost is the penalty increment balance * ((start+k)^2 - (start+k-1)^2) / cap.
    """
    seat_e = np.repeat(np.arange(problem.n_educators), free)
    k = np.arange(len(seat_e)) - np.repeat(np.cumsum(free) - free, free) + 1
    load_after = start[seat_e] + k
    inc = problem.balance.increment(problem, seat_e, load_after)
    return seat_e, np.rint(inc * SCALE).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class FlowInputs:
    """What every unit-weight flow network is built from (the plain one here,
    the pooled one in :mod:`optimizer.planning.solvers.pooled`).

    Attributes
    ----------
    es, ee
        The free (unpinned) students' edges, sorted by (student, educator).
    cost
        Each of those edges' points, scaled by :data:`SCALE` and rounded.
    left_out
        Per student (all students): scaled points of leaving them unplaced,
        less the smallest such (a cost every student shares changes nothing).
    start, free
        Per educator: the load already there (other load and pins) and the
        number of free seats (cap, ceiling and seat limit applied).
    """

    es: np.ndarray
    ee: np.ndarray
    cost: np.ndarray
    left_out: np.ndarray
    start: np.ndarray
    free: np.ndarray


def flow_inputs(problem: PlanningProblem, ratio: float | None = None,
                seat_limit: np.ndarray | None = None) -> FlowInputs:
    """The free edges, integer costs and seat counts of a unit-weight problem.

    Parameters
    ----------
    problem
        A planning problem whose students all weigh 1.
    ratio
        Optional ceiling on every educator's load / cap (min-max balance).
    seat_limit
        Optional most free students per educator (the weighted hint).

    Raises
    ------
    ValueError
        When some student weighs other than 1 (a flow counts students).

    Examples
    --------
    >>> inputs = flow_inputs(build_problem(district))   # doctest: +SKIP
    >>> int(inputs.free.sum()) >= 0                     # doctest: +SKIP
    True
    """
    if not problem.unit_weights:
        raise ValueError("the flow engine needs every student weight to be 1")
    fixed, keep = _free_edges(problem)
    es, ee = problem.edge_student[keep], problem.edge_educator[keep]
    cost = np.rint(problem.edge_cost()[keep] * SCALE).astype(np.int64)
    left_out = np.rint(problem.unplaced_cost() * SCALE).astype(np.int64)
    # Only differences between students matter once the most are placed: a
    # cost every student shares is dropped, so the network (and its ties) stays
    # that of the plain problem when nothing distinguishes them.
    if len(left_out):
        left_out -= left_out.min()
    degree = np.bincount(ee, minlength=problem.n_educators)
    start, free = _seat_counts(problem, fixed, degree, ratio)
    if seat_limit is not None:
        free = np.minimum(free, np.clip(seat_limit, 0, None))
    return FlowInputs(es, ee, cost, left_out, start, free)


def solve_flow(problem: PlanningProblem, ratio: float | None = None,
               seat_limit: np.ndarray | None = None) -> np.ndarray:
    """Optimal plan for unit weights (placed first, then cost) by min-cost flow.

    The straightforward model, one arc per eligible pair:
    :func:`optimizer.planning.solvers.pooled.solve_pooled_flow` reaches the same
    optimum on far fewer arcs and is tested against it. Among equally good
    plans, which one comes out here follows from OR-Tools' order of arcs (no
    tie rule).

    Parameters
    ----------
    problem
        A planning problem whose students all weigh 1.
    ratio
        Optional ceiling on every educator's load / cap (used by min-max balance).
    seat_limit
        Optional most free students per educator (used to build a weighted hint).

    Returns
    -------
    numpy.ndarray
        Educator index per student, -1 for unplaced.
    """
    n_s = problem.n_students
    inputs = flow_inputs(problem, ratio, seat_limit)
    es, ee, cost, left_out = inputs.es, inputs.ee, inputs.cost, inputs.left_out

    # Node numbering: 0 source, 1 sink, students 2..2+S-1, educators after.
    src, sink, s0, e0 = 0, 1, 2, 2 + n_s
    # The students with an edge, ascending (as np.unique would give, without sorting).
    students_with_edges = np.flatnonzero(np.bincount(es, minlength=n_s))
    seat_e, seat_cost = seat_arcs(problem, inputs.start, inputs.free)

    tails = np.concatenate([np.full(len(students_with_edges), src), s0 + es, e0 + seat_e])
    heads = np.concatenate([s0 + students_with_edges, e0 + ee, np.full(len(seat_e), sink)])
    caps = np.ones(len(tails), dtype=np.int64)
    # Total points = sum over all students of their unplaced points (a constant)
    # + for each placed student (edge points - unplaced points): so the source
    # arc of each student costs minus their unplaced points.
    costs = np.concatenate([-left_out[students_with_edges], cost, seat_cost])
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.add_arc_with_capacity_and_unit_cost(sink, sink, 0, 0)  # make sure node 1 exists
    smcf.set_node_supply(src, len(students_with_edges))
    smcf.set_node_supply(sink, -len(students_with_edges))
    status = smcf.solve_max_flow_with_min_cost()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    edge_arcs = np.arange(len(students_with_edges), len(students_with_edges) + len(es))
    used = smcf.flows(edge_arcs) > 0
    assignment = problem.pinned_to.copy()
    assignment[es[used]] = ee[used]
    return assignment


def weighted_hint(problem: PlanningProblem, rounds: int = 25) -> np.ndarray:
    """A feasible plan for weighted students, built from unit-weight flows.

    Solve the flow as if every student weighed 1; wherever the real weights
    overfill an educator, give that educator fewer seats by the excess and
    solve again. A few rounds settle it; anything still over is dropped
    (heaviest first) so the result always respects every cap.
    """
    unit = dataclasses.replace(problem, weight=np.ones(problem.n_students))
    limit = np.full(problem.n_educators, np.iinfo(np.int64).max // 4, dtype=np.int64)
    pinned = problem.pinned_to >= 0
    assignment = solve_flow(unit)
    for _ in range(rounds):
        over = problem.loads(assignment) - problem.cap
        if np.all(over <= 1e-9):
            return assignment
        free = (assignment >= 0) & ~pinned
        free_count = np.bincount(assignment[free], minlength=problem.n_educators)
        bad = over > 1e-9
        limit[bad] = np.minimum(limit[bad], free_count[bad]) - np.ceil(over[bad]).astype(
            np.int64)
        assignment = solve_flow(unit, seat_limit=limit)
    out = assignment.copy()
    load = problem.loads(out)
    for e in np.nonzero(load > problem.cap + 1e-9)[0]:
        mine = np.nonzero((out == e) & ~pinned)[0]
        for st in mine[stable_order(-problem.weight[mine])]:
            if load[e] <= problem.cap[e] + 1e-9:
                break
            out[st] = -1
            load[e] -= problem.weight[st]
    return out


class _MaxFlow:
    """One max-flow network whose educator->sink capacities are changed per ratio."""

    def __init__(self, problem: PlanningProblem) -> None:
        self.problem = problem
        n_s, n_e = problem.n_students, problem.n_educators
        self.fixed, keep = _free_edges(problem)
        es, ee = problem.edge_student[keep], problem.edge_educator[keep]
        self.degree = np.bincount(ee, minlength=n_e)
        studs = np.unique(es)
        s0, e0 = 2, 2 + n_s
        tails = np.concatenate([np.zeros(len(studs), dtype=np.int64), s0 + es,
                                e0 + np.arange(n_e)])
        heads = np.concatenate([s0 + studs, e0 + ee, np.ones(n_e, dtype=np.int64)])
        caps = np.concatenate([np.ones(len(studs) + len(es), dtype=np.int64),
                               np.zeros(n_e, dtype=np.int64)])
        self.flow = max_flow.SimpleMaxFlow()
        self.flow.add_arcs_with_capacity(tails, heads, caps)
        self.seat_arcs = np.arange(len(studs) + len(es), len(tails))

    def placed(self, ratio: float | None) -> int:
        _, free = _seat_counts(self.problem, self.fixed, self.degree, ratio)
        self.flow.set_arcs_capacity(self.seat_arcs, free)
        if self.flow.solve(0, 1) != self.flow.OPTIMAL:
            raise RuntimeError("max flow failed")
        return int(self.flow.optimal_flow())


def min_max_ratio(problem: PlanningProblem) -> float:
    """The smallest ceiling on load / cap that still places the most students.

    Binary search over the load ratios that can occur (k / cap), one max flow
    each, on a network whose educator capacities change between searches.
    """
    net = _MaxFlow(problem)
    best = net.placed(None)
    cap = problem.cap.astype(float)
    base = problem.other_load + net.fixed
    has_cap = cap > 0
    floor_ratio = float(np.max(base[has_cap] / cap[has_cap], initial=0.0))
    # Every ratio a load can reach: (base + n) / cap for each educator and n
    # new students, n up to its eligible students and the room left under its
    # cap. The base is not rounded: other load may be fractional (0.5 + 1 = 1.5
    # of a cap of 5 is the ratio 0.3). Other load above a cap (a warning, not an
    # error) puts the floor above 1.
    top_ratio = max(1.0, floor_ratio)
    cands = [np.array([floor_ratio, top_ratio])]
    for e in np.nonzero(has_cap)[0]:
        room = int(np.floor(cap[e] - base[e] + 1e-9))
        ns = np.arange(min(int(net.degree[e]), room) + 1)
        cands.append((base[e] + ns) / cap[e])
    ratios = np.unique(np.concatenate(cands))
    ratios = ratios[(ratios >= floor_ratio - 1e-12) & (ratios <= top_ratio + 1e-12)]
    # The largest candidate (1.0, the cap itself, or the floor) always places `best`.
    lo, hi = 0, len(ratios) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if net.placed(float(ratios[mid])) >= best:
            hi = mid
        else:
            lo = mid + 1
    return float(ratios[lo])
