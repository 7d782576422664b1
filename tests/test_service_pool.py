"""Coordinator pools (optimizer/planning/solvers/services_pool.py): a network
with pooled coordinator seats has the same optimum as one arc per option,
and reading the pooled flow back gives only the students' own options.

The oracle is networkx's network simplex on both networks, built here from
the options (no code of the solver's networks is reused).
"""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest

from optimizer.planning.solvers.services_pool import coordinator_pool


def _random_options(rng: random.Random):
    """Students at a few schools; each school has a set of coordinators; a
    student's options are the school's coordinators at the student's generic
    cost, their current case manager cheaper; some students have an odd set."""
    students, providers, costs = [], [], []
    n_students = rng.randint(2, 14)
    schools = [sorted(rng.sample(range(6), rng.randint(1, 4))) for _ in range(3)]
    for s in range(n_students):
        staff = list(schools[rng.randrange(3)])
        if rng.random() < 0.2 and len(staff) > 1:   # an odd set: one coordinator less
            staff.remove(rng.choice(staff))
        generic = rng.choice([2000, 2500])
        current = rng.choice(staff + [None])
        for e in staff:
            students.append(s)
            providers.append(e)
            costs.append(generic - (700 if e == current else 0))
    return (np.array(students), np.array(providers), np.array(costs), n_students)


def _solve(arcs, supply_nodes, seats, sink="sink"):
    """Min-cost max-flow: one unit from each student node, seats with
    rising costs per coordinator; returns (flow value, cost, flow dict)."""
    g = nx.DiGraph()
    g.add_node("src")
    for s in supply_nodes:
        g.add_edge("src", s, capacity=1, weight=0)
    for t, h, cap, cost in arcs:
        g.add_edge(t, h, capacity=cap, weight=cost)
    for e, (n_seats, step) in seats.items():
        # Seat k costs k * step: convex, so cheapest seats fill first.
        for k in range(n_seats):
            g.add_edge(e, ("seat", e, k), capacity=1, weight=step * (k + 1))
            g.add_edge(("seat", e, k), sink, capacity=1, weight=0)
    flow = nx.max_flow_min_cost(g, "src", sink)
    value = sum(flow["src"].values())
    return value, nx.cost_of_flow(g, flow), flow


@pytest.mark.parametrize("seed", range(40))
def test_pooled_network_has_the_same_optimum_and_reads_back_to_own_options(seed):
    rng = random.Random(seed)
    st, co, cost, n_s = _random_options(rng)
    seats = {("e", e): (rng.randint(0, 4), rng.choice([10, 40])) for e in range(6)}
    options = np.arange(len(st))
    # One arc per option.
    direct = [(("s", int(s)), ("e", int(e)), 1, int(c))
              for s, e, c in zip(st, co, cost, strict=True)]
    v1, c1, _ = _solve(direct, [("s", s) for s in range(n_s)], seats)
    # Pooled: nodes numbered as the solver does (students s0+, coordinators e0+).
    s0, e0, p0 = 100, 200, 300
    pool = coordinator_pool(st, co, cost, options, s0, e0, p0)

    def node(n: int):
        if n >= p0:
            return ("p", n - p0)
        return ("e", n - e0) if n >= e0 else ("s", n - s0)

    pooled = [(node(t), node(h), int(cap), int(c)) for t, h, cap, c in
              zip(pool.tails, pool.heads, pool.caps, pool.costs, strict=True)]
    v2, c2, flow = _solve(pooled, [("s", s) for s in range(n_s)], seats)
    assert (v2, c2) == (v1, c1)
    # Fewer or as many arcs, never more (a pool only where it saves).
    assert len(pool.tails) <= len(direct) + len(np.unique(st))
    # The flow read back: each placed student exactly once, to one of their own
    # options, no coordinator over the seats the flow gave it.
    f = np.array([flow[node(t)][node(h)] for t, h in zip(pool.tails, pool.heads, strict=True)])
    direct_opts, (p_st, p_e) = pool.choices(f)
    chosen = [(int(st[o]), int(co[o])) for o in direct_opts] + list(
        zip(p_st.tolist(), p_e.tolist(), strict=True))
    own = set(zip(st.tolist(), co.tolist(), strict=True))
    assert all(pair in own for pair in chosen)
    assert len({s for s, _ in chosen}) == len(chosen) == v2
    used = np.bincount([e for _, e in chosen], minlength=6)
    assert all(used[e] <= seats[("e", e)][0] for e in range(6))
    # And the chosen options cost, at most, what the pooled flow paid for them.
    paid = sum(int(cost[o]) for o in direct_opts)
    generic = {int(s): int(cost[st == s].max()) for s in np.unique(st)}
    paid += sum(generic[s] for s in p_st.tolist())
    best = {(int(s), int(e)): int(c) for s, e, c in zip(st, co, cost, strict=True)}
    assert sum(best[p] for p in chosen) <= paid


def test_a_student_alone_with_their_coordinators_keeps_direct_arcs():
    st, co = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2])
    pool = coordinator_pool(st, co, np.array([5, 5, 5, 5, 5]), np.arange(5), 0, 10, 20)
    # Students 0 and 1 share {0, 1}: one pool; student 2 alone with {2}: direct.
    assert pool.direct_option.tolist() == [4]
    assert pool.next_node == 21
    assert sorted(pool.pooled_student.tolist()) == [0, 1]
    # The pool's arcs to coordinators carry as many students as it has.
    assert pool.caps.tolist()[-2:] == [2, 2]


def test_choices_refuse_a_flow_that_does_not_balance():
    st, co = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    pool = coordinator_pool(st, co, np.array([5, 5, 5, 5]), np.arange(4), 0, 10, 20)
    # Two students into the pool but only one seat out of it.
    flows = np.array([1, 1, 1, 0])
    with pytest.raises(RuntimeError, match="does not balance"):
        pool.choices(flows)


def _cedar() -> dict:
    """Cedar Elementary: SLP L1 (cap 1) gives B speech; RSP R (cap 2) teaches
    B and is B's case manager; SLP L2 (cap 2, 60 minutes a week) may give B
    speech too. A has only OT (a role that does not case-manage) and may be
    coordinated by L1 alone. In the plan below L1's one seat holds B, whom
    L1 only serves, so A has no one: moving B's speech to L2 frees the seat.
    """
    from tests.test_service_planning import pair, stu

    providers = {"L1": {"role": "SLP", "cap": 1, "other": 0},
                 "L2": {"role": "SLP", "cap": 2, "other": 0, "minutes_cap": 60},
                 "R": {"role": "RSP", "cap": 2, "other": 0},
                 "O": {"role": "OT", "cap": 5, "other": 0}}
    students = {"A": stu(), "B": stu()}
    pairs = {("A", "OT"): pair(30), ("B", "SAI"): pair(120), ("B", "SPEECH"): pair(45)}
    options = {("A", "OT"): {"O": 0}, ("B", "SAI"): {"R": 0},
               ("B", "SPEECH"): {"L1": 0, "L2": 0}}
    cm = {"A": {("L1", "coordinator"): 2},
          "B": {("R", "own"): 0, ("L1", "own"): 1, ("L2", "own"): 1}}
    return {"providers": providers, "students": students, "pairs": pairs,
            "options": options, "cm_options": cm}


@pytest.mark.parametrize("minutes_cap, moves", [(60, True), (30, False)])
def test_a_service_moves_off_a_full_coordinator_for_a_student_without_one(minutes_cap, moves):
    from optimizer.planning.solvers.services_seats import free_coordinator_seats
    from tests.test_service_planning import to_problem

    spec = _cedar()
    spec["providers"]["L2"]["minutes_cap"] = minutes_cap
    p = to_problem(spec)
    ids = {e: i for i, e in enumerate(p.provider_ids.tolist())}
    pair_of = {(str(p.student_ids[p.pair_student[q]]), str(p.pair_service[q])): q
               for q in range(p.n_pairs)}
    provider = np.full(p.n_pairs, -1, dtype=np.int64)
    provider[pair_of[("A", "OT")]] = ids["O"]
    provider[pair_of[("B", "SAI")]] = ids["R"]
    provider[pair_of[("B", "SPEECH")]] = ids["L1"]
    sid = {s: i for i, s in enumerate(p.student_ids.tolist())}
    cm = np.full(p.n_students, -1, dtype=np.int64)
    cm[sid["B"]] = ids["R"]
    moved = free_coordinator_seats(p, provider, cm, minutes=True)
    if not moves:
        # L2 has 30 minutes a week, B's speech needs 45: no move within the minutes.
        assert moved is None
        return
    assert moved is not None
    # Only B's speech moved, to L2; every pair still served.
    assert moved[pair_of[("B", "SPEECH")]] == ids["L2"]
    changed = np.nonzero(moved != provider)[0].tolist()
    assert changed == [pair_of[("B", "SPEECH")]]
    # And the solver's plan places both, serving all three pairs.
    from optimizer.planning.solvers.services import ServiceParams, solve_services
    sol = solve_services(p, ServiceParams(lp_max_pairs=0))
    assert (sol.terms["unserved"], sol.terms["unplaced"]) == (0, 0)
