"""Service caseloads, the min-cost flows: the joint relaxation (services and
case managers in one network), its Lagrangian tightening, the services-only
flows and the case-manager flow given the providers.

OR-Tools is imported inside the functions that solve (see services_lp's
``_run_highs`` for why it never shares a process with highspy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from optimizer.arraysets import member, stable_order, unique
from optimizer.planning.solvers.services_objective import (
    ServiceParams,
    _cm_costs,
    _cm_could_serve,
    _distinct_served,
    _edge_costs,
    _memo,
    minutes_served,
)
from optimizer.planning.solvers.services_pool import CoordinatorPool, coordinator_pool, pool_shape
from optimizer.planning.solvers.services_problem import (
    COORDINATOR,
    OWN,
    SCALE,
    ServiceProblem,
)


def _seats(problem: ServiceProblem, start: np.ndarray, wanted: np.ndarray,
           balance: float) -> tuple[np.ndarray, np.ndarray]:
    """Seat arcs: provider index and milli-point cost of each free seat, the
    seats numbered from ``start`` (load already there); at most ``wanted``."""
    free = np.clip(problem.cap - start, 0, None)
    free = np.minimum(free, wanted)
    seat_e = np.repeat(np.arange(problem.n_providers), free)
    k = np.arange(len(seat_e)) - np.repeat(np.cumsum(free) - free, free) + 1
    load_after = start[seat_e] + k
    cap = problem.cap[seat_e].astype(np.float64)
    cost = np.rint(SCALE * balance * (2 * load_after - 1) / np.maximum(cap, 1)).astype(np.int64)
    return seat_e, cost


def _flow(tails: ArrayLike, heads: ArrayLike, caps: ArrayLike, costs: ArrayLike,
          supply: int, n_nodes: int) -> Any:
    """A solved SimpleMinCostFlow (OR-Tools ships no types: Any) sending
    ``supply`` from node 0 to node 1 at least cost; raises unless optimal."""
    from ortools.graph.python import min_cost_flow  # see services_lp._run_highs

    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(np.asarray(tails, dtype=np.int64),
                                              np.asarray(heads, dtype=np.int64),
                                              np.asarray(caps, dtype=np.int64),
                                              np.asarray(costs, dtype=np.int64))
    smcf.add_arc_with_capacity_and_unit_cost(n_nodes - 1, n_nodes - 1, 0, 0)
    smcf.set_node_supply(0, supply)
    smcf.set_node_supply(1, -supply)
    status = smcf.solve_max_flow_with_min_cost()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    return smcf


def _pool(problem: ServiceProblem, cost: np.ndarray, s0: int, e0: int,
          next_node: int) -> CoordinatorPool:
    """Every coordinator option's seat arc, through pools (services_pool: the
    same optimum with far fewer arcs); who shares a pool is worked out once
    per problem and cost."""
    coord = _memo(problem, "coordinators",
                  lambda: np.nonzero(problem.cm_kind == COORDINATOR)[0])
    shapes: list = _memo(problem, "pool shapes", list)
    shape = next((kept for kept_cost, kept in shapes if np.array_equal(kept_cost, cost)),
                 None)
    if shape is None:
        shape = pool_shape(problem.cm_student, problem.cm_provider, cost, coord)
        shapes.append((cost.copy(), shape))
    return coordinator_pool(problem.cm_student, problem.cm_provider, cost, coord, s0, e0,
                            next_node, shape=shape)


def _undominated(problem: ServiceProblem, free: np.ndarray) -> np.ndarray:
    """The ``free`` options (indices) without the coordinator options of a
    provider who is also listed as the student's own (a student's own
    provider is listed both ways). Such a provider is the student's case
    manager at the better rank of the two (``_cm_rank``), so the own
    option's arc is the one that counts; where the own option is blocked
    (the repair re-solves), the seat-free arc it was blocked from is not
    wanted either. Fewer arcs, the same optimum."""
    def twins() -> np.ndarray:
        # Per option: does the same (student, provider) have an own option?
        n_e = problem.n_providers
        key = problem.cm_student.astype(np.int64) * n_e + problem.cm_provider
        own = member(key, key[problem.cm_kind == OWN])
        return own & (problem.cm_kind == COORDINATOR)
    twin = _memo(problem, "own twins", twins)
    return free[~twin[free]]


def _cm_bonus(problem: ServiceProblem, params: ServiceParams) -> np.ndarray:
    """Per service edge: what serving the pair by this provider may save on the
    student's case manager (milli-points, >= 0). Only a tie-breaker for the
    primal plan: an own-provider case manager needs no seat, so among equally
    good service plans prefer the one that makes a good case manager free.

    The saving is the cost of the best other case-manager option (a
    coordinator, or another provider's own option; ``unplaced`` when none)
    minus the cost of this provider's own option.
    """
    n_s = problem.n_students
    cost, _ = _cm_costs(problem, params)
    cs, ce = problem.cm_student, problem.cm_provider
    big = params.milli(params.unplaced)
    order = np.lexsort((cost, cs))
    cs_o, ce_o, c_o = cs[order], ce[order], cost[order]
    first = np.searchsorted(cs_o, np.arange(n_s))
    last = np.searchsorted(cs_o, np.arange(n_s), side="right")
    best = np.full(n_s, big, dtype=np.int64)
    best_e = np.full(n_s, -1, dtype=np.int64)
    has = last > first
    best[has] = c_o[first[has]]
    best_e[has] = ce_o[first[has]]
    # The best option of another provider: the first one whose provider differs.
    second = np.full(n_s, big, dtype=np.int64)
    nxt = first + 1
    while True:
        open_ = (nxt < last) & (second == big)
        if not open_.any():
            break
        idx = np.nonzero(open_)[0]
        differs = ce_o[nxt[idx]] != best_e[idx]
        second[idx[differs]] = c_o[nxt[idx[differs]]]
        nxt[idx] += 1
    hit, ocost = _own_hits(problem, cost)
    st = problem.edge_student.astype(np.int64)
    other = np.where(best_e[st] == problem.edge_provider, second[st], best[st])
    bonus = np.zeros(len(st), dtype=np.int64)
    bonus[hit] = np.clip(other[hit] - ocost[hit], 0, None)
    return bonus


def _own_hits(problem: ServiceProblem, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per service edge: does its provider have an own case-manager option for
    the student, and that option's cost."""
    n_e = problem.n_providers
    own = problem.cm_kind == OWN
    ekey = problem.edge_student.astype(np.int64) * n_e + problem.edge_provider
    okey = problem.cm_student[own].astype(np.int64) * n_e + problem.cm_provider[own]
    o_order = stable_order(okey)
    okey, ocost = okey[o_order], cost[own][o_order]
    pos = np.searchsorted(okey, ekey)
    pos_c = np.minimum(pos, max(len(okey) - 1, 0))
    hit = (pos < len(okey)) & (okey[pos_c] == ekey) if len(okey) else np.zeros(
        len(ekey), dtype=bool)
    return hit, np.where(hit, ocost[pos_c] if len(okey) else 0, 0)


def _critical_bonus(problem: ServiceProblem, params: ServiceParams) -> np.ndarray:
    """Per service edge: ``unplaced`` (milli-points) when the pair is the
    student's only way to an own-provider case manager (every provider with an
    own option is eligible for this pair) and this provider has one. A
    tie-breaker for plans where coordinators are scarce: among plans serving
    the most pairs, leave unserved those whose students keep a case manager."""
    cost, _ = _cm_costs(problem, params)
    hit, _ = _own_hits(problem, cost)
    own_count = np.bincount(problem.cm_student[problem.cm_kind == OWN],
                            minlength=problem.n_students)
    hits_per_pair = np.bincount(problem.edge_pair, weights=hit, minlength=problem.n_pairs)
    st = problem.pair_student
    critical = (own_count[st] > 0) & (hits_per_pair == own_count[st])
    return np.where(hit & critical[problem.edge_pair], params.milli(params.unplaced), 0)


def _attach_shared(problem: ServiceProblem, provider: np.ndarray,
                   cost: np.ndarray) -> np.ndarray:
    """Serve unserved pairs by a provider who already serves the student
    (no new seat: caseloads count distinct students), minutes permitting."""
    n_e = problem.n_providers
    provider = provider.copy()
    ep, ee = problem.edge_pair, problem.edge_provider
    serving = set((problem.pair_student[provider >= 0].astype(np.int64) * n_e
                   + provider[provider >= 0]).tolist())
    minutes_left = problem.minutes_capacity - minutes_served(problem, provider)
    cand = np.nonzero(problem.shared_options() & (provider[ep] < 0))[0]
    for j in cand[stable_order(cost[cand])].tolist():
        p, e = int(ep[j]), int(ee[j])
        if provider[p] >= 0 or int(problem.pair_student[p]) * n_e + e not in serving:
            continue
        if minutes_left[e] + 1e-9 < problem.pair_minutes[p]:
            continue
        provider[p] = e
        minutes_left[e] -= problem.pair_minutes[p]
    return provider


@dataclass(frozen=True)
class _SharedNodes:
    """The (student, provider) nodes of a network for the service options in
    ``shared`` (their provider is eligible for another pair of the student).

    Each node has one arc to the provider (the student's seat) and one
    seat-free arc to the sink for the student's other pairs there: arcs
    ``tails``, ``heads``, ``caps`` (seat arcs first, then the seat-free ones).
    ``head`` is the head of every service edge (the provider node, or the
    edge's shared node); ``key``/``inverse`` map shared edges to nodes.
    """

    head: np.ndarray
    next_node: int
    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    key: np.ndarray
    inverse: np.ndarray


def _shared_nodes(problem: ServiceProblem, shared: np.ndarray, e0: int, next_node: int,
                  sink: int) -> _SharedNodes:
    """Route the ``shared`` service edges through (student, provider) nodes
    numbered from ``next_node`` (providers are nodes ``e0 + index``)."""
    n_e = problem.n_providers
    head = e0 + problem.edge_provider
    empty = np.zeros(0, dtype=np.int64)
    if not shared.any():
        return _SharedNodes(head, next_node, empty, empty, empty, empty, empty)
    st = problem.edge_student.astype(np.int64)
    key = st[shared] * n_e + problem.edge_provider[shared]
    ukey, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    vnode = next_node + np.arange(len(ukey))
    head = head.copy()
    head[np.nonzero(shared)[0]] = vnode[inv]
    return _SharedNodes(
        head, next_node + len(ukey), np.concatenate([vnode, vnode]),
        np.concatenate([e0 + ukey % n_e, np.full(len(ukey), sink)]),
        np.concatenate([np.ones(len(ukey), dtype=np.int64), cnt - 1]), ukey, inv)


def _service_flow(problem: ServiceProblem, params: ServiceParams,
                  relax_shared: bool, bonus: np.ndarray | None = None
                  ) -> tuple[np.ndarray, int, int]:
    """Stage 1 by min-cost flow: provider per pair, pairs served, cost (milli).

    Network: source -> pair (1) -> provider -> seat k -> sink. Every pair takes
    a seat (safe: distinct students never exceed pairs). With ``relax_shared``
    (for the bound), a pair whose provider is also eligible for another pair of
    the same student goes through a (student, provider) node with one seat arc
    and a seat-free arc for the rest: every joint plan maps into this network
    at no more than its cost, so its optimum is a lower bound.
    """
    n_p, n_e = problem.n_pairs, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    cost, base = _edge_costs(problem, params)
    if bonus is not None:
        cost = cost - bonus
    pairs = unique(ep)
    src, sink, p0 = 0, 1, 2
    e0 = p0 + n_p
    nxt = e0 + n_e
    shared = problem.shared_options() if relax_shared else np.zeros(len(ep), dtype=bool)
    # The most seats a provider can use: distinct students it could serve.
    st = problem.edge_student.astype(np.int64)
    uniq = unique(st * n_e + ee)
    wanted = np.bincount(uniq % n_e, minlength=n_e)
    if not relax_shared:
        wanted = np.bincount(ee, minlength=n_e)
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    sh = _shared_nodes(problem, shared, e0, nxt, sink)
    head, nxt, extra_t, extra_h, extra_c = sh.head, sh.next_node, sh.tails, sh.heads, sh.caps
    n_edge = len(ep)
    tails = np.concatenate([np.full(len(pairs), src), p0 + ep, e0 + seat_e,
                            np.asarray(extra_t, dtype=np.int64)])
    heads = np.concatenate([p0 + pairs, head, np.full(len(seat_e), sink),
                            np.asarray(extra_h, dtype=np.int64)])
    caps = np.concatenate([np.ones(len(pairs) + n_edge + len(seat_e), dtype=np.int64),
                           np.asarray(extra_c, dtype=np.int64)])
    costs = np.concatenate([np.zeros(len(pairs), dtype=np.int64), cost, seat_cost,
                            np.zeros(len(extra_t), dtype=np.int64)])
    smcf = _flow(tails, heads, caps, costs, len(pairs), nxt + 1)
    used = smcf.flows(np.arange(len(pairs), len(pairs) + n_edge)) > 0
    provider = np.full(n_p, -1, dtype=np.int64)
    provider[ep[used]] = ee[used]
    return provider, int(used.sum()), int(smcf.optimal_cost()) + base


def _levels(tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, sup: int,
            sink: int, src_p: int, src_c: int, n_pairs: int, n_students: int
            ) -> tuple[int, int]:
    """Most pairs, then most case managers, that a network can route: two max
    flows. The sets of units a network can route at once form a matroid
    (a gammoid), so every maximal routing has the same size F and one with
    the most pairs P* exists among them: the levels are (P*, F - P*)."""
    from ortools.graph.python import max_flow  # see services_lp._run_highs

    def routed(n_p: int, n_c: int) -> int:
        mf = max_flow.SimpleMaxFlow()
        mf.add_arcs_with_capacity(tails, heads, caps)
        mf.add_arcs_with_capacity(np.array([sup, sup]), np.array([src_p, src_c]),
                                  np.array([n_p, n_c]))
        if mf.solve(sup, sink) != mf.OPTIMAL:
            raise RuntimeError("max flow failed")
        return int(mf.optimal_flow())

    pairs_only = routed(n_pairs, 0)
    return pairs_only, routed(n_pairs, n_students) - pairs_only


def _fixed_supply_flow(tails: np.ndarray, heads: np.ndarray, caps: np.ndarray,
                       costs: np.ndarray, last_node: int, served: int, placed: int
                       ) -> Any:
    """A min-cost flow of the joint networks (``SRC_P`` 2, ``SRC_C`` 3, ``SINK``
    1) with exactly ``served`` pair units and ``placed`` case-manager units;
    the solved SimpleMinCostFlow, or None when it is not optimal."""
    from ortools.graph.python import min_cost_flow  # see services_lp._run_highs

    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.add_arc_with_capacity_and_unit_cost(last_node, last_node, 0, 0)
    smcf.set_node_supply(2, served)
    smcf.set_node_supply(3, placed)
    smcf.set_node_supply(1, -(served + placed))
    return smcf if smcf.solve() == smcf.OPTIMAL else None


def _joint_flow(problem: ServiceProblem, params: ServiceParams,
                blocked: np.ndarray | None = None, bonus: np.ndarray | None = None,
                levels: tuple[int, int] | None = None, cost: bool = True
                ) -> tuple[np.ndarray, np.ndarray, int, int, int, bool, np.ndarray]:
    """The joint relaxation, one network for services and case managers.

    ::

        srcP -> pair -> provider (or a (student, provider) node when shared)
        srcC -> student -> sink                  own provider or coordinator who
                                                 COULD serve the student: no seat
        srcC -> student -> provider              coordinator who cannot serve: a seat
        provider -> seat k -> sink               cap - other_load seats, convex costs

    Every joint plan maps into it at no more than its cost (an own-provider
    case manager is free here even when the plan does not make them a
    provider; a shared (student, provider) node has one seat arc and a
    seat-free arc for the student's other pairs). So, solved lexicographically
    -- the most pairs, then the most case managers, then the least cost -- it
    is a lower bound on the joint optimum at every level. The levels come from
    two max flows (:func:`_levels`), the cost from a min-cost flow with
    exactly those supplies.

    Returns provider per pair and case manager per student from the flow,
    pairs served, students placed, the cost bound (milli-points), whether
    the flow is itself a valid plan (then it is optimal), and the case-manager
    options it used for free without the provider serving the student.
    ``blocked`` options are never free and ``bonus`` lowers service costs (for
    re-solves that build plans; the result is then no bound). ``levels``
    skips the max flows when they are known (costs do not change them);
    without ``cost`` only the levels are computed (no plan, cost bound 0).
    """
    n_p, n_s, n_e = problem.n_pairs, problem.n_students, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    st = problem.edge_student.astype(np.int64)
    e_cost, e_base = _edge_costs(problem, params)
    if bonus is not None:  # heuristic re-solves only: then it is no bound
        e_cost = e_cost - bonus
    c_cost, c_base = _cm_costs(problem, params)
    cs, ce, ck = problem.cm_student, problem.cm_provider, problem.cm_kind
    could = _cm_could_serve(problem)
    if blocked is not None:  # heuristic re-solves only: then it is no bound
        could = could & ~blocked
    usable = could | (ck == COORDINATOR)
    opts = np.nonzero(usable)[0]
    free = could[opts]
    shared = problem.shared_options()
    SUP, SINK, SRC_P, SRC_C, p0 = 0, 1, 2, 3, 4
    s0 = p0 + n_p
    e0 = s0 + n_s
    nxt = e0 + n_e
    pairs = unique(ep)
    studs = unique(cs[opts])
    could_keys = unique(st * n_e + ee)
    wanted = (np.bincount(could_keys % n_e, minlength=n_e)
              + np.bincount(ce[opts[~free]], minlength=n_e))
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    nodes = _shared_nodes(problem, shared, e0, nxt, SINK)
    head, nxt, vt, vh, vc = (nodes.head, nodes.next_node, nodes.tails, nodes.heads,
                             nodes.caps)
    ukey, inv = nodes.key, nodes.inverse
    vcost = np.zeros(len(vt), dtype=np.int64)
    if len(ukey) and (bonus is not None or blocked is not None):
        # For plans: a (student, provider) node pays its seat before its
        # seat-free arc is worth using, or the plan would miss the seat.
        vcost[:len(ukey)] = -params.milli(params.unplaced)
    fo = _undominated(problem, opts[free])
    # Coordinator seats through pools (services_pool: same optimum, far fewer arcs).
    pool = _pool(problem, c_cost, s0, e0, nxt)
    nxt = pool.next_node
    parts = [  # (tails, heads, capacities, costs)
        (np.full(len(pairs), SRC_P), p0 + pairs, 1, 0),
        (p0 + ep, head, 1, e_cost),
        (vt, vh, vc, vcost),
        (np.full(len(studs), SRC_C), s0 + studs, 1, 0),
        (s0 + cs[fo], np.full(len(fo), SINK), 1, c_cost[fo]),
        (pool.tails, pool.heads, pool.caps, pool.costs),
        (e0 + seat_e, np.full(len(seat_e), SINK), 1, seat_cost),
    ]
    offsets = np.cumsum([0] + [len(t) for t, _, _, _ in parts])
    tails = np.concatenate([np.asarray(t, dtype=np.int64) for t, _, _, _ in parts])
    heads = np.concatenate([np.asarray(h, dtype=np.int64) for _, h, _, _ in parts])
    caps = np.concatenate([np.broadcast_to(np.asarray(c, dtype=np.int64), len(t))
                           for t, _, c, _ in parts])
    costs = np.concatenate([np.broadcast_to(np.asarray(c, dtype=np.int64), len(t))
                            for t, _, _, c in parts])

    if levels is None:
        levels = _levels(tails, heads, caps, SUP, SINK, SRC_P, SRC_C, len(pairs), len(studs))
    served, placed = levels
    if not cost:
        return (np.full(n_p, -1, dtype=np.int64), np.full(n_s, -1, dtype=np.int64),
                served, placed, 0, False, np.zeros(len(cs), dtype=bool))
    n_arcs = len(tails)
    # Cost: exactly those many of each.
    smcf = _fixed_supply_flow(tails, heads, caps, costs, nxt, served, placed)
    if smcf is None:
        raise RuntimeError("joint cost flow failed")
    cost_bound = int(smcf.optimal_cost()) + e_base + c_base
    flows = smcf.flows(np.arange(n_arcs))
    used_e = flows[offsets[1]:offsets[2]] > 0
    provider = np.full(n_p, -1, dtype=np.int64)
    provider[ep[used_e]] = ee[used_e]
    used_f = flows[offsets[4]:offsets[5]] > 0
    cm = np.full(n_s, -1, dtype=np.int64)
    cm[cs[fo[used_f]]] = ce[fo[used_f]]
    direct, (p_st, p_e) = pool.choices(flows[offsets[5]:offsets[6]])
    cm[cs[direct]] = ce[direct]
    cm[p_st] = p_e
    # Is the flow itself a plan? Each free case-manager arc used must be backed
    # by real service, and each shared node used must have paid its seat.
    chosen_free = fo[used_f]
    have = unique(problem.pair_student[provider >= 0].astype(np.int64) * n_e
                     + provider[provider >= 0])
    want = cs[chosen_free].astype(np.int64) * n_e + ce[chosen_free]
    unbacked = np.zeros(len(cs), dtype=bool)
    unbacked[chosen_free[~member(want, have)]] = True
    valid = not unbacked.any()
    if len(ukey):
        seat_flow = flows[offsets[2]:offsets[2] + len(ukey)]
        sh = np.nonzero(shared)[0]
        into = np.bincount(inv, weights=used_e[sh].astype(float), minlength=len(ukey))
        unpaid = (into > 0) & (seat_flow == 0)
        if unpaid.any():
            # A (student, provider) served without its seat: not a plan. Drop
            # those pairs from the returned plan (the bound is unaffected).
            valid = False
            drop = sh[used_e[sh] & unpaid[inv]]
            provider[ep[drop]] = -1
    return provider, cm, served, placed, cost_bound, valid, unbacked


def _natural_multipliers(problem: ServiceProblem, params: ServiceParams,
                         free_o: np.ndarray) -> np.ndarray:
    """Starting multipliers for :func:`_lagrangian_bound`, one per free option.

    A free option (the provider could serve the student, so as case manager
    they would take no seat) is worth, over the student's next-best way to a
    case manager, the difference in cost. Priced at that difference, the flow
    gains nothing by using the option without serving: its free arc costs as
    much as the alternative, and serving the pair by that provider earns the
    difference back. The alternative must be reachable while this provider
    serves the pair it is eligible for: an option whose provider is eligible
    for the same pair is no alternative (the student's several RSP teachers
    are interchangeable, so each would price the others at zero). So options
    are grouped by the first pair their provider may serve; a coordinator who
    could serve no pair is a group of its own; with none, the alternative is
    leaving the student without a case manager, which costs nothing at the
    cost level (no price then); and never above the student's cheapest
    coordinator option, whose seat the flow may take anywhere. Any
    multipliers >= 0 give a valid bound; these come close to the LP's.
    """
    n_e = problem.n_providers
    cost, _ = _cm_costs(problem, params)
    cs = problem.cm_student.astype(np.int64)
    ce = problem.cm_provider.astype(np.int64)
    ekey = problem.edge_student.astype(np.int64) * n_e + problem.edge_provider
    order = np.lexsort((problem.edge_pair, ekey))
    first = np.ones(len(order), dtype=bool)
    first[1:] = ekey[order][1:] != ekey[order][:-1]
    gkey, gpair = ekey[order][first], problem.edge_pair[order][first].astype(np.int64)
    okey = cs * n_e + ce
    pos = np.minimum(np.searchsorted(gkey, okey), max(len(gkey) - 1, 0))
    hit = (gkey[pos] == okey) if len(gkey) else np.zeros(len(okey), dtype=bool)
    # Group per option: the pair, or -(option + 2) for one that can serve no pair.
    group = np.where(hit, gpair[pos] if len(gkey) else 0, -(np.arange(len(cs)) + 2))
    # Per student, the cheapest option of each group, then the best two groups.
    o = np.lexsort((cost, group, cs))
    head = np.ones(len(o), dtype=bool)
    head[1:] = (cs[o][1:] != cs[o][:-1]) | (group[o][1:] != group[o][:-1])
    g_st, g_id, g_cost = cs[o][head], group[o][head], cost[o][head]
    o2 = np.lexsort((g_cost, g_st))
    g_st, g_id, g_cost = g_st[o2], g_id[o2], g_cost[o2]
    n_s = problem.n_students
    start = np.searchsorted(g_st, np.arange(n_s))
    count = np.bincount(g_st, minlength=n_s)
    big = params.milli(params.unplaced)
    best = np.full(n_s, big, dtype=np.int64)
    best_g = np.full(n_s, -1, dtype=np.int64)
    second = np.full(n_s, big, dtype=np.int64)
    has1 = count >= 1
    best[has1], best_g[has1] = g_cost[start[has1]], g_id[start[has1]]
    has2 = count >= 2
    second[has2] = g_cost[start[has2] + 1]
    st, gr = cs[free_o], group[free_o]
    alt = np.where(best_g[st] == gr, second[st], best[st])
    # A coordinator's seat is always there to be taken, even at a provider
    # who serves the student in the flow: priced above it, a free option
    # would lose its discount to a seat the plan never needs. (This also
    # leaves a coordinator option at a provider with an own option unpriced,
    # so serving there is not discounted twice for one case manager.)
    coord = np.full(n_s, big, dtype=np.int64)
    is_coord = problem.cm_kind == COORDINATOR
    np.minimum.at(coord, cs[is_coord], cost[is_coord])
    alt = np.minimum(alt, coord[st])
    # No alternative at all: the student's case manager is one of these
    # options or none. Leaving a student without one costs nothing at the
    # cost level (the number placed is fixed there), so a price would be a
    # discount the flow could take while leaving the student unplaced.
    alt = np.where(alt >= big, cost[free_o], alt)
    return np.clip(alt - cost[free_o], 0, None).astype(np.float64)


def _lagrangian_bound(problem: ServiceProblem, params: ServiceParams, served: int,
                      placed: int, target: int, deadline: float, rounds: int,
                      plans: list[np.ndarray] | None = None,
                      discounts: list[np.ndarray] | None = None,
                      first_discount: Callable[[np.ndarray], None] | None = None
                      ) -> tuple[int, int]:
    """Tighten the joint flow's cost bound by Lagrangian relaxation.

    The flow lets an own-provider case manager (or a coordinator who could
    serve) be free without serving. Price that: for each such option k of
    student i at provider j, the constraint "free use of k <= pairs of i that j
    serves" gets a multiplier lambda_k >= 0, added to k's free arc and taken
    off each of i's service options at j. For every lambda >= 0 the flow with
    those costs and the supplies fixed at the levels (``served`` pairs,
    ``placed`` case managers) is a lower bound on the cost of any plan at
    those levels. The prices start from :func:`_natural_multipliers` and rise
    where a flow still uses an option without serving (see the loop), until
    the bound reaches ``target`` (the best plan's cost, so it is proven),
    ``rounds`` flows ran, or the deadline (checked from the second flow on).
    Returns the best bound (milli-points, without the other-load constant)
    and the number of flows solved; each flow's services (provider per pair)
    are appended to ``plans`` when given: priced this way, they favour the
    providers who would also make a free case manager, so they are good
    candidate plans; and each flow's discount per service edge to
    ``discounts``. ``first_discount`` is called with the first flow's
    discounts before that flow is solved (services_ahead: the plan they
    nudge towards can be computed meanwhile).
    """

    n_p, n_s, n_e = problem.n_pairs, problem.n_students, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    st = problem.edge_student.astype(np.int64)
    e_cost, e_base = _edge_costs(problem, params)
    c_cost, c_base = _cm_costs(problem, params)
    cs, ce, ck = problem.cm_student, problem.cm_provider, problem.cm_kind
    could = _cm_could_serve(problem)
    free_o = np.nonzero(could)[0]  # priced: free only if serving
    seat_o = np.nonzero(ck == COORDINATOR)[0]  # a coordinator may always take a seat
    shared = problem.shared_options()
    SINK, SRC_P, SRC_C, p0 = 1, 2, 3, 4
    s0 = p0 + n_p
    e0 = s0 + n_s
    nxt = e0 + n_e
    pairs = unique(ep)
    studs = unique(cs[np.concatenate([free_o, seat_o])])
    could_keys = unique(st * n_e + ee)
    wanted = np.bincount(could_keys % n_e, minlength=n_e) + np.bincount(ce[seat_o],
                                                                         minlength=n_e)
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    sh = _shared_nodes(problem, shared, e0, nxt, SINK)
    head, nxt, vt, vh, vc = sh.head, sh.next_node, sh.tails, sh.heads, sh.caps
    # Which free option each service edge feeds (by (student, provider) key).
    fkey = cs[free_o].astype(np.int64) * n_e + ce[free_o]
    ekey = st * n_e + ee
    order = stable_order(fkey)
    lo = np.searchsorted(fkey[order], ekey)
    hi = np.searchsorted(fkey[order], ekey, side="right")
    # An edge may feed an own and a coordinator option of the same key.
    span = hi - lo
    feed_edge = np.repeat(np.arange(len(ep)), span)
    # lo[k], lo[k] + 1, ..., hi[k] - 1 for each edge k, in edge order.
    feed_opt = order[np.repeat(lo - (np.cumsum(span) - span), span)
                     + np.arange(int(span.sum()))]
    # Coordinator seats through pools (services_pool: same optimum, far fewer arcs).
    pool = _pool(problem, c_cost, s0, e0, nxt)
    nxt = pool.next_node
    tails = np.concatenate([np.full(len(pairs), SRC_P), p0 + ep, vt,
                            np.full(len(studs), SRC_C), s0 + cs[free_o], pool.tails,
                            e0 + seat_e]).astype(np.int64)
    heads = np.concatenate([p0 + pairs, head, vh, s0 + studs, np.full(len(free_o), SINK),
                            pool.heads, np.full(len(seat_e), SINK)]).astype(np.int64)
    caps = np.concatenate([np.ones(len(pairs) + len(ep), dtype=np.int64), vc,
                           np.ones(len(studs) + len(free_o), dtype=np.int64), pool.caps,
                           np.ones(len(seat_e), dtype=np.int64)])
    a_edge = len(pairs)
    a_free = a_edge + len(ep) + len(vt) + len(studs)
    lam = _natural_multipliers(problem, params, free_o)
    best, solved = -(1 << 62), 0
    # A work limit: the same district gets the same flows on any machine.
    rounds = max(1, min(rounds, params.lagrangian_work // max(1, len(tails))))
    for _ in range(rounds):
        # The first priced flow runs even past the deadline: it is the bound
        # and the plan that count at scale (the joint flow's own plan can
        # leave hundreds of students without a case manager).
        if solved and time.perf_counter() > deadline:
            break
        lam_i = np.floor(lam).astype(np.int64)  # whole milli-points keep the flow exact
        edge_pen = np.bincount(feed_edge, weights=lam_i[feed_opt], minlength=len(ep))
        if discounts is not None:
            discounts.append(edge_pen.astype(np.int64))
        if first_discount is not None and not solved:
            first_discount(edge_pen.astype(np.int64))
        costs = np.concatenate([np.zeros(len(pairs), dtype=np.int64),
                                e_cost - edge_pen.astype(np.int64),
                                np.zeros(len(vt) + len(studs), dtype=np.int64),
                                c_cost[free_o] + lam_i, pool.costs, seat_cost])
        smcf = _fixed_supply_flow(tails, heads, caps, costs, nxt, served, placed)
        if smcf is None:
            break
        solved += 1
        value = int(smcf.optimal_cost()) + e_base + c_base
        best = max(best, value)
        if best >= target:
            break
        flows = smcf.flows(np.arange(len(tails)))
        x = flows[a_edge:a_edge + len(ep)].astype(float)
        if plans is not None:
            plan = np.full(n_p, -1, dtype=np.int64)
            plan[ep[x > 0]] = ee[x > 0]
            plans.append(plan)
        # Raise the price of each free option the flow used without serving
        # the student to what a case manager backed by this flow would cost
        # there, priced alike (a served provider's option costs its own cost
        # plus its price, which the service edge took off; a coordinator its
        # own cost): where the flow paid less, the bound was loose by the
        # difference. Options priced alike are left alone: using one without
        # serving costs the bound nothing. (Plain subgradient steps, tried
        # first, hardly moved the bound: thousands of options priced alike,
        # with no flow through them, made every step mostly noise.)
        used = flows[a_free:a_free + len(free_o)] > 0
        back = np.bincount(feed_opt, weights=x[feed_edge], minlength=len(free_o)) > 0
        real = np.full(n_s, params.milli(params.unplaced), dtype=np.int64)
        np.minimum.at(real, cs[free_o[back]], c_cost[free_o[back]] + lam_i[back])
        np.minimum.at(real, cs[seat_o], c_cost[seat_o])
        k = np.nonzero(used & ~back)[0]
        rise = real[cs[free_o[k]]] - (c_cost[free_o[k]] + lam_i[k])
        k, rise = k[rise > 0], rise[rise > 0]
        if not len(k):
            break
        lam[k] += rise
    return best, solved


def _within_caps(problem: ServiceProblem, provider: np.ndarray,
                 cost: np.ndarray) -> np.ndarray:
    """A relaxed flow's services made legal: where a provider's distinct
    students exceed its seats (a shared node that skipped its seat), drop the
    students whose pairs cost most there until the caseload fits."""
    n_e = problem.n_providers
    served = np.nonzero(provider >= 0)[0]
    key = problem.pair_student[served].astype(np.int64) * n_e + provider[served]
    ukey, inv = np.unique(key, return_inverse=True)
    load = problem.other_load + np.bincount(ukey % n_e, minlength=n_e)
    excess = load - np.maximum(problem.cap, problem.other_load)
    if not (excess > 0).any():
        return provider
    # What each (student, provider) costs there: the edges of its pairs.
    ekey = problem.edge_pair.astype(np.int64) * n_e + problem.edge_provider
    order = stable_order(ekey)
    at = order[np.searchsorted(ekey[order], served.astype(np.int64) * n_e + provider[served])]
    dear = np.bincount(inv, weights=cost[at], minlength=len(ukey))
    # Per provider, its students dearest first (ties: the later student).
    e_of = ukey % n_e
    rank_in = np.lexsort((-(ukey // n_e), -dear, e_of))
    pos = np.empty(len(ukey), dtype=np.int64)
    starts = np.searchsorted(e_of[rank_in], np.arange(n_e))
    pos[rank_in] = np.arange(len(ukey)) - starts[e_of[rank_in]]
    drop = pos < np.maximum(excess, 0)[e_of]
    provider = provider.copy()
    provider[served[drop[inv]]] = -1
    return provider


def _refill(problem: ServiceProblem, params: ServiceParams, provider: np.ndarray
            ) -> np.ndarray:
    """Serve a plan's unserved pairs by min-cost flow on the seats left
    (each pair a new seat: safe), the served pairs kept as they are."""
    n_e = problem.n_providers
    open_ = provider < 0
    if not open_.any():
        return provider
    ep, ee = problem.edge_pair, problem.edge_provider
    cost, _ = _edge_costs(problem, params)
    start = problem.other_load + _distinct_served(problem, provider)
    sel = np.nonzero(open_[ep] & (start[ee] < problem.cap[ee]))[0]
    if not len(sel):
        return provider
    pairs = unique(ep[sel])
    src, sink, p0 = 0, 1, 2
    e0 = p0 + problem.n_pairs
    wanted = np.bincount(ee[sel], minlength=n_e)
    seat_e, seat_cost = _seats(problem, start, wanted, params.balance)
    tails = np.concatenate([np.full(len(pairs), src), p0 + ep[sel], e0 + seat_e])
    heads = np.concatenate([p0 + pairs, e0 + ee[sel], np.full(len(seat_e), sink)])
    caps = np.ones(len(tails), dtype=np.int64)
    costs = np.concatenate([np.zeros(len(pairs), dtype=np.int64), cost[sel], seat_cost])
    smcf = _flow(tails, heads, caps, costs, len(pairs), e0 + n_e + 1)
    used = smcf.flows(np.arange(len(pairs), len(pairs) + len(sel))) > 0
    provider = provider.copy()
    provider[ep[sel[used]]] = ee[sel[used]]
    return provider


def _cm_flow(problem: ServiceProblem, params: ServiceParams, serves: np.ndarray,
             start: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Stage 2 by min-cost flow: case manager per student, students placed,
    cost (milli-points, the balance counted from ``start``).

    ``serves`` marks the case-manager options whose provider serves the
    student (own options are usable only then; such options take no seat).
    A coordinator option that does not serve takes a seat of ``cap - start``.
    """
    n_s, n_e = problem.n_students, problem.n_providers
    cs, ce, ck = problem.cm_student, problem.cm_provider, problem.cm_kind
    cost, base = _cm_costs(problem, params)
    usable = serves | (ck == COORDINATOR)
    free = usable & serves
    seat_opt = usable & ~serves
    students = unique(cs[usable])
    src, sink, s0 = 0, 1, 2
    e0 = s0 + n_s
    wanted = np.bincount(ce[seat_opt], minlength=n_e)
    seat_e, seat_cost = _seats(problem, start, wanted, params.balance)
    fo = _undominated(problem, np.nonzero(free)[0])
    # Coordinator seats through pools (services_pool: same optimum, far fewer arcs).
    pool = _pool(problem, cost, s0, e0, e0 + n_e)
    tails = np.concatenate([np.full(len(students), src), s0 + cs[fo], pool.tails,
                            e0 + seat_e])
    heads = np.concatenate([s0 + students, np.full(len(fo), sink), pool.heads,
                            np.full(len(seat_e), sink)])
    caps = np.concatenate([np.ones(len(students) + len(fo), dtype=np.int64), pool.caps,
                           np.ones(len(seat_e), dtype=np.int64)])
    costs = np.concatenate([np.zeros(len(students), dtype=np.int64), cost[fo], pool.costs,
                            seat_cost])
    smcf = _flow(tails, heads, caps, costs, len(students), pool.next_node + 1)
    a = len(students)
    flows = smcf.flows(np.arange(a, a + len(fo) + len(pool.tails)))
    used = flows[:len(fo)] > 0
    cm = np.full(n_s, -1, dtype=np.int64)
    cm[cs[fo[used]]] = ce[fo[used]]
    direct, (p_st, p_e) = pool.choices(flows[len(fo):])
    cm[cs[direct]] = ce[direct]
    cm[p_st] = p_e
    return cm, int((cm >= 0).sum()), int(smcf.optimal_cost()) + base
