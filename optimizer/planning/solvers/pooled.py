"""The same min-cost flow on a smaller network: interchangeable pairs pooled.

Most eligible pairs are interchangeable: every coordinator at a school may
case-manage every student there, at the same points. The plain network
(:func:`optimizer.planning.solvers.flow.solve_flow`) has one arc per pair;
this one has one arc per *choice*::

    source --n students of the class, cost = -(points if unplaced)--> class
    class --n, cost = points of the choice--> pool
    pool --n users of the pool, cost 0--> educator
    educator --seat k, cost = balance increment of the k-th student--> sink

* a **pool** is a set of educators a student may have at the same points
  (the student's eligible educators grouped by the edge's points); students
  with the same set share one pool node;
* a **class** is a set of students with the same choices (the same pools at
  the same points) and the same points if left unplaced: one node, supplied
  with as many units as it has students.

The seat arcs are the plain network's, so the balance term stays exact, and
every plan of one network is a plan of the other with the same points
(a class's students may use any of its pools, a pool's users any of its
educators, at the same cost): the most placed and the fewest points are the
same. This is the planner's engine for unit weights (``solvers.solve``); the
plain network stays as the reference it is tested against.

**The tie rule.** Where several plans are equally good, the flow decides only
*how many* students go each way (how many of a class take each choice, how
many of a pool's users each educator takes); which students those are is
then fixed by their ids (compared as text, as the problem sorts them):

1. *Interchangeable students* — one class: the same eligible case managers
   at the same points, the same points if left unplaced — are placed in
   student_id order: if some are left out, they are those with the largest
   ids; of those placed, a smaller id never has more points for their pair
   (rank, continuity, change) than a larger one: the class's choices are
   taken cheapest first.
2. *Students served by one pool* — each may have any educator of the same
   set at the same points — get those educators in order: a smaller
   student_id never has a larger educator_id.

Both are swaps that change no points and no load, so the rule costs nothing;
the read-back (:func:`_disaggregate`) makes it hold in one sort. The counts
are OR-Tools' optimum on a network built in canonical order (students and
educators by id), so the same district gives the same plan whatever the
order of the rows in its files; which of two equally placed educators takes
one more student is that optimum's choice, not a rule. The plain network, which has no such rule,
may pick another of the tied plans: the same points and number placed,
other pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from optimizer.arraysets import first_seen, stable_order
from optimizer.planning.problem import PlanningProblem
from optimizer.planning.solvers.flow import flow_inputs, seat_arcs

__all__ = ["PooledNetwork", "pool_network", "solve_pooled_flow"]

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _hash64(x: np.ndarray, salt: int) -> np.ndarray:
    """A 64-bit mix (splitmix64's finaliser) of each integer, a different one per
    ``salt`` (so that hashes of different things do not cancel out): for
    grouping only, every group found by it is checked element by element."""
    z = (x.astype(np.uint64) + np.uint64(salt)) * _MIX
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _runs(*keys: np.ndarray) -> np.ndarray:
    """Start of each run of equal consecutive keys (arrays of equal length > 0)."""
    change = np.zeros(len(keys[0]), dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def _group_equal_sequences(seq_hash: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                           values: tuple[np.ndarray, ...]) -> np.ndarray:
    """Number the sequences ``values[starts[i]:ends[i]]`` so that equal ones get the
    same number, in order of first appearance (0, 1, ...).

    ``seq_hash`` groups them fast; each group is then checked element by element
    against its first sequence, and the rare sequence that only shares a hash is
    numbered by its exact bytes instead.
    """
    n = len(starts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = ends - starts
    _, first, inverse = np.unique(seq_hash ^ _hash64(lengths, 1), return_index=True,
                                  return_inverse=True)
    rep = first[inverse.reshape(-1)]  # the first sequence with the same hash
    # Element by element: sequence i against its representative rep[i].
    pos = np.repeat(starts, lengths) + (np.arange(lengths.sum()) - np.repeat(
        np.cumsum(lengths) - lengths, lengths))
    rep_pos = pos - np.repeat(starts - starts[rep], lengths)
    same = np.ones(len(pos), dtype=bool)
    for v in values:
        same &= v[pos] == v[rep_pos]
    bad_elem = ~same
    ok = np.ones(n, dtype=bool)
    if bad_elem.any():
        ok[np.repeat(np.arange(n), lengths)[bad_elem]] = False
    label = rep.astype(np.int64)
    if not ok.all():
        exact: dict[bytes, int] = {}
        for i in np.flatnonzero(ok):
            key = b"".join(v[starts[i]:ends[i]].tobytes() for v in values)
            exact.setdefault(key, int(rep[i]))
        for i in np.flatnonzero(~ok):
            key = b"".join(v[starts[i]:ends[i]].tobytes() for v in values)
            label[i] = exact.setdefault(key, int(i))
    return first_seen(label)[0]  # (numbered by first appearance)


@dataclass(frozen=True)
class PooledNetwork:
    """The pooled network's parts, in canonical order (see the module docstring).

    Attributes
    ----------
    class_students
        Students of each class, by class then student index (``class_start``
        gives each class's first position, one more entry at the end).
    class_left_out
        Per class: scaled points of leaving one of its students unplaced.
    choice_class, choice_pool, choice_cost
        One arc per (class, pool): its class, pool and scaled points; by class,
        then points ascending (one pool per points: the tie rule needs it).
    pool_educator, pool_start
        The educators of each pool, by pool then educator index.
    """

    class_students: np.ndarray
    class_start: np.ndarray
    class_left_out: np.ndarray
    choice_class: np.ndarray
    choice_pool: np.ndarray
    choice_cost: np.ndarray
    pool_educator: np.ndarray
    pool_start: np.ndarray

    @property
    def n_classes(self) -> int:
        return len(self.class_start) - 1

    @property
    def n_pools(self) -> int:
        return len(self.pool_start) - 1


def pool_network(es: np.ndarray, ee: np.ndarray, cost: np.ndarray,
                 left_out: np.ndarray) -> PooledNetwork:
    """Pools and classes of the free students' edges.

    Parameters
    ----------
    es, ee, cost
        The edges of the students the flow decides (sorted by student), and
        each edge's scaled points.
    left_out
        Per student (all students): scaled points of leaving them unplaced.

    Examples
    --------
    >>> net = pool_network(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]),
    ...                    np.array([5, 5, 5, 5]), np.zeros(2, dtype=np.int64))
    >>> net.n_classes, net.n_pools          # two students, one choice: {0, 1} at 5 points
    (1, 1)
    """
    if len(es) == 0:
        z = np.zeros(0, dtype=np.int64)
        return PooledNetwork(z, np.zeros(1, dtype=np.int64), z, z, z, z, z,
                             np.zeros(1, dtype=np.int64))
    # Groups: a student's edges at the same points (educators ascending inside).
    # By student, points, educator: the edges are sorted by (student, educator)
    # already, so a stable sort on one number (student, points) does it, ten
    # times faster than a lexsort on a million edges.
    low = int(cost.min())
    span = int(cost.max()) - low + 1
    if (int(es.max()) + 1) * span < 2 ** 62:
        order = stable_order(es * span + (cost - low))
    else:  # a number that would not fit: the slow, general way
        order = np.lexsort((ee, cost, es))
    gs, gc, ge = es[order], cost[order], ee[order]
    g_start = _runs(gs, gc)
    g_end = np.append(g_start[1:], len(gs))
    g_len = g_end - g_start
    e_hash = _hash64(ge, 2)
    # A set's hash: the sum of its educators' mixed ids (order-free, wraps mod 2^64).
    g_hash = np.add.reduceat(e_hash, g_start)
    g_pool = _group_equal_sequences(g_hash, g_start, g_end, (ge,))
    n_pools = int(g_pool.max()) + 1
    first_group = np.full(n_pools, -1, dtype=np.int64)
    first_group[g_pool[::-1]] = np.arange(len(g_pool))[::-1]  # first group of each pool
    pool_len = g_len[first_group]
    pool_start = np.concatenate([[0], np.cumsum(pool_len)])
    pool_educator = ge[np.repeat(g_start[first_group], pool_len)
                       + (np.arange(pool_start[-1]) - np.repeat(pool_start[:-1], pool_len))]
    # Classes: students with the same (pool, points) choices and unplaced points.
    g_student = gs[g_start]
    g_cost = gc[g_start]
    s_start = _runs(g_student)
    s_end = np.append(s_start[1:], len(g_student))
    students = g_student[s_start]
    choice_hash = _hash64(_hash64(g_pool, 3) ^ g_cost.astype(np.uint64), 4)
    s_hash = np.add.reduceat(choice_hash, s_start) ^ _hash64(left_out[students], 5)
    s_left = np.repeat(left_out[students], s_end - s_start)  # constant per student
    s_class = _group_equal_sequences(s_hash, s_start, s_end, (g_pool, g_cost, s_left))
    n_classes = int(s_class.max()) + 1
    by_class = stable_order(s_class)  # students by class, then index
    class_students = students[by_class]
    class_size = np.bincount(s_class, minlength=n_classes)
    class_start = np.concatenate([[0], np.cumsum(class_size)])
    rep = s_start[by_class[class_start[:-1]]]  # the first student's first group, per class
    rep_len = (s_end - s_start)[by_class[class_start[:-1]]]
    n_choice = int(rep_len.sum())
    choice_class = np.repeat(np.arange(n_classes), rep_len)
    idx = np.repeat(rep, rep_len) + (np.arange(n_choice) - np.repeat(
        np.cumsum(rep_len) - rep_len, rep_len))
    return PooledNetwork(class_students, class_start, left_out[class_students[
        class_start[:-1]]], choice_class, g_pool[idx], g_cost[idx], pool_educator,
        pool_start)


def solve_pooled_flow(problem: PlanningProblem, ratio: float | None = None,
                      seat_limit: np.ndarray | None = None) -> np.ndarray:
    """Optimal plan for unit weights by min-cost flow on the pooled network.

    The same optimum as :func:`optimizer.planning.solvers.flow.solve_flow` (most
    placed, then fewest points), with the same arguments. Among equally good
    plans it returns the one the tie rule (module docstring) picks:
    interchangeable students are placed in student_id order, cheapest choice
    first, and students served by one pool of equally good educators get them
    in id order (smaller student_id, smaller educator_id).

    Returns
    -------
    numpy.ndarray
        Educator index per student, -1 for unplaced.

    Examples
    --------
    >>> assignment = solve_pooled_flow(build_problem(district))   # doctest: +SKIP
    """
    inputs = flow_inputs(problem, ratio, seat_limit)
    net = pool_network(inputs.es, inputs.ee, inputs.cost, inputs.left_out)
    n_c, n_p = net.n_classes, net.n_pools
    class_size = np.diff(net.class_start)
    pool_of_arc = np.repeat(np.arange(n_p), np.diff(net.pool_start))
    users = np.bincount(net.choice_pool, weights=class_size[net.choice_class],
                        minlength=n_p).astype(np.int64)
    seat_e, seat_cost = seat_arcs(problem, inputs.start, inputs.free)
    # Nodes: 0 source, 1 sink, classes, pools, educators.
    src, sink, c0 = 0, 1, 2
    p0 = c0 + n_c
    e0 = p0 + n_p
    tails = np.concatenate([np.full(n_c, src), c0 + net.choice_class, p0 + pool_of_arc,
                            e0 + seat_e])
    heads = np.concatenate([c0 + np.arange(n_c), p0 + net.choice_pool,
                            e0 + net.pool_educator, np.full(len(seat_e), sink)])
    caps = np.concatenate([class_size, class_size[net.choice_class], users[pool_of_arc],
                           np.ones(len(seat_e), dtype=np.int64)])
    costs = np.concatenate([-net.class_left_out, net.choice_cost,
                            np.zeros(len(pool_of_arc), dtype=np.int64), seat_cost])
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.add_arc_with_capacity_and_unit_cost(sink, sink, 0, 0)  # make sure node 1 exists
    supply = int(class_size.sum())
    smcf.set_node_supply(src, supply)
    smcf.set_node_supply(sink, -supply)
    status = smcf.solve_max_flow_with_min_cost()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    n_choice = len(net.choice_class)
    choice_flow = smcf.flows(np.arange(n_c, n_c + n_choice))
    pool_flow = smcf.flows(np.arange(n_c + n_choice, n_c + n_choice + len(pool_of_arc)))
    return _disaggregate(problem, net, choice_flow, pool_flow)


def _disaggregate(problem: PlanningProblem, net: PooledNetwork, choice_flow: np.ndarray,
                  pool_flow: np.ndarray) -> np.ndarray:
    """Pairs from the pooled flow, in canonical order: a class's students (by
    index) take its choices in order, as many as each carries; then a pool's
    users (by index) take its educators in order, as many as each carries.
    This is the tie rule (module docstring): a class's choices come cheapest
    first (:func:`pool_network` orders them by points), and indices follow ids."""
    assignment = problem.pinned_to.copy()
    class_size = np.diff(net.class_start)
    placed_per_class = np.bincount(net.choice_class, weights=choice_flow,
                                   minlength=net.n_classes).astype(np.int64)
    # The first `placed` students of each class are placed, along its choices in order.
    rank_in_class = np.arange(len(net.class_students)) - np.repeat(net.class_start[:-1],
                                                                    class_size)
    placed_mask = rank_in_class < np.repeat(placed_per_class, class_size)
    placed_students = net.class_students[placed_mask]  # by class, then index
    pool_of_student = np.repeat(net.choice_pool, choice_flow)  # same order
    # Users of each pool by index; the pool's arcs, in educator order, carry them.
    by_pool = np.lexsort((placed_students, pool_of_student))
    educator_slot = np.repeat(net.pool_educator, pool_flow)  # by pool, then educator
    assignment[placed_students[by_pool]] = educator_slot
    return assignment
