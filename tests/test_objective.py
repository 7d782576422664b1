"""Each objective term is defined once: its value on a plan, its flow arc costs and
its CP-SAT terms must agree. Checked term by term on random small problems:

* the term's value equals a formula written here from docs/plan-format.md;
* with only that term weighted, the min-cost flow and CP-SAT reach the optimum
  that brute force finds over every plan (most placed first, then fewest points).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.planning.greedy import greedy_assignment
from optimizer.planning.objective import Objective
from optimizer.planning.problem import PlanningProblem, component_labels
from optimizer.planning.solvers import cpsat, flow

ZERO = Objective(unplaced=1000.0, rank=(0.0, 0.0, 0.0), continuity=0.0, balance=0.0,
                 change=0.0)


def _problem(draw_edges, n_s, n_e, caps, other, published, objective) -> PlanningProblem:
    edges = sorted(draw_edges)
    es = np.array([s for s, _, _, _ in edges], dtype=np.int64)
    ee = np.array([e for _, e, _, _ in edges], dtype=np.int64)
    rank = np.array([r for _, _, r, _ in edges], dtype=np.int64)
    current = np.array([c for _, _, _, c in edges], dtype=bool)
    pub = None if published is None else np.array(published[:n_s], dtype=np.int64)
    return PlanningProblem(
        district=None, objective=objective,  # type: ignore[arg-type]
        student_ids=np.array([f"S{i}" for i in range(n_s)], dtype=object),
        educator_ids=np.array([f"E{i}" for i in range(n_e)], dtype=object),
        edge_student=es, edge_educator=ee, edge_rank=rank, edge_current=current,
        edge_capacity=np.array(["coordination"] * len(es), dtype=object),
        edge_reason=np.array([""] * len(es), dtype=object),
        weight=np.ones(n_s), pinned_to=np.full(n_s, -1, dtype=np.int64),
        cap=np.array(caps[:n_e], dtype=np.int64), other_load=np.array(other[:n_e], dtype=float),
        published_to=pub)


@st.composite
def problems(draw, objective: Objective):
    n_s = draw(st.integers(1, 5))
    n_e = draw(st.integers(1, 3))
    pairs = draw(st.sets(st.tuples(st.integers(0, n_s - 1), st.integers(0, n_e - 1)),
                         max_size=n_s * n_e))
    edges = [(s, e, draw(st.integers(0, 2)), draw(st.booleans())) for s, e in sorted(pairs)]
    caps = draw(st.lists(st.integers(0, 3), min_size=3, max_size=3))
    other = draw(st.lists(st.sampled_from([0, 0, 1]), min_size=3, max_size=3))
    published = draw(st.none() | st.lists(st.integers(-2, n_e - 1), min_size=5, max_size=5))
    return _problem(edges, n_s, n_e, caps, other, published, objective)


def _plans(problem: PlanningProblem):
    """Every assignment that respects the caps (unit weights)."""
    options = [[-1] + [int(e) for s2, e in zip(problem.edge_student, problem.edge_educator,
                                                strict=True) if s2 == s]
               for s in range(problem.n_students)]
    # Seats: the cap less other load (none when other load fills the cap).
    seats = np.maximum(np.floor(problem.cap - problem.other_load + 1e-9), 0)
    for combo in itertools.product(*options):
        a = np.array(combo, dtype=np.int64)
        if np.all(np.bincount(a[a >= 0], minlength=problem.n_educators) <= seats):
            yield a


def _best(problem: PlanningProblem) -> tuple[int, float]:
    return min(((int((a < 0).sum()), sum(problem.objective_terms(a).values()))
                for a in _plans(problem)), default=(0, 0.0))


def _by_hand(problem: PlanningProblem, a: np.ndarray) -> dict[str, float]:
    """The terms from docs/plan-format.md, written out without the tool's code."""
    o = problem.objective
    pairs = {(int(s), int(e)): k for k, (s, e) in
             enumerate(zip(problem.edge_student, problem.edge_educator, strict=True))}
    out = {"unplaced": 0.0, "rank": 0.0, "continuity": 0.0, "balance": 0.0}
    load = problem.other_load.astype(float).copy()
    for s, e in enumerate(a.tolist()):
        if e < 0:
            out["unplaced"] += o.unplaced
            continue
        k = pairs[(s, e)]
        out["rank"] += o.rank[problem.edge_rank[k]]
        out["continuity"] -= o.continuity * problem.edge_current[k]
        load[e] += 1
    for e in range(problem.n_educators):
        if problem.cap[e] > 0:
            out["balance"] += o.balance * load[e] ** 2 / problem.cap[e]
    if problem.published_to is not None:
        out["change"] = o.change * sum(1 for s, e in enumerate(a.tolist())
                                       if problem.published_to[s] != -1
                                       and problem.published_to[s] != e)
    return out


WEIGHTED = {
    "rank": Objective(unplaced=1000.0, rank=(0.0, 10.0, 30.0), continuity=0.0, balance=0.0,
                      change=0.0),
    "continuity": Objective(unplaced=1000.0, rank=(0.0, 0.0, 0.0), continuity=5.0,
                            balance=0.0, change=0.0),
    "balance": Objective(unplaced=1000.0, rank=(0.0, 0.0, 0.0), continuity=0.0, balance=2.0,
                         change=0.0),
    "change": Objective(unplaced=1000.0, rank=(0.0, 0.0, 0.0), continuity=0.0, balance=0.0,
                        change=50.0),
    "all": Objective(),
}


@pytest.mark.parametrize("term", sorted(WEIGHTED))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_each_term_agrees_in_value_flow_and_cpsat(term, data):
    problem = data.draw(problems(WEIGHTED[term]))
    plans = list(_plans(problem))
    # Value: the term's definition equals the hand formula on every plan.
    for a in plans[:50]:
        assert problem.objective_terms(a) == pytest.approx(_by_hand(problem, a), abs=1e-9)
    placed_out, points = _best(problem)
    # Flow arc costs: the min-cost flow reaches the brute-force optimum.
    by_flow = flow.solve_flow(problem)
    assert int((by_flow < 0).sum()) == placed_out
    assert sum(problem.objective_terms(by_flow).values()) == pytest.approx(points, abs=0.01)
    # CP-SAT terms: CP-SAT, hinted with a greedy plan, reaches it too.
    outcome = cpsat.solve_cpsat(problem, greedy_assignment(problem),
                                component_labels(problem), time_limit=10)
    assert outcome.status == "optimal"
    assert int((outcome.assignment < 0).sum()) == placed_out
    assert sum(problem.objective_terms(outcome.assignment).values()) == pytest.approx(
        points, abs=0.01)


@pytest.mark.parametrize("chain, x_gets", [(1, "A"), (3, "B")])
def test_the_weights_trade_across_students_as_documented(chain, x_gets):
    # docs/plan-format.md: "a chain of moves may give one student a rank step
    # so that ... others keep theirs". X may have A (rank 0) or B (rank 1).
    # Y1 has A today; Y_i may move on to C_i, whose own student Y_{i+1} has it
    # today, and so on; the last C is free. Giving X the seat at A moves the
    # whole chain: `chain` continuities (5 each) against one rank step (10).
    objective = Objective(unplaced=1000.0, rank=(0.0, 10.0, 30.0), continuity=5.0,
                          balance=0.0, change=0.0)
    n_e = 2 + chain  # A=0, B=1, C_1..C_chain = 2..
    edges = [(0, 0, 0, False), (0, 1, 1, False)]  # X
    for i in range(1, chain + 1):
        today = 0 if i == 1 else 1 + i - 1  # Y1 has A; Y_i has C_{i-1}
        edges += [(i, today, 0, True), (i, 1 + i, 0, False)]
    problem = _problem(edges, chain + 1, n_e, [1] * n_e, [0] * n_e, None, objective)
    assignment = flow.solve_flow(problem)
    assert problem.educator_ids[assignment[0]] == f"E{'AB'.index(x_gets)}"
    kept = sum(bool(problem.edge_current[k]) for k in problem.chosen_edges(assignment))
    # X at A: the whole chain (here one student) moved; X at B: all keep theirs.
    assert kept == (0 if x_gets == "A" else chain)
