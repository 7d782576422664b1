"""The pooled min-cost flow (solvers/pooled.py) against the plain network
(solvers/flow.py, the straightforward model: one arc per eligible pair).

Both must reach the same optimum — the same number placed and the same
points — on random districts: with shortages (students left unplaced), pins,
a published plan to keep stable (the change term), a ceiling on load ratios
(min-max) and per-educator seat limits (the weighted hint). The pairs may
differ where several plans tie (the module docstring says why)."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from optimizer.district.validate import load_district
from optimizer.generator import generate_district
from optimizer.outputs.export import write_district
from optimizer.planning.problem import PlanningProblem, build_problem
from optimizer.planning.solvers import flow, pooled
from tests.conftest import SAMPLE


def _points(problem: PlanningProblem, assignment: np.ndarray) -> float:
    return sum(problem.objective_terms(assignment).values())


def _assert_valid(problem: PlanningProblem, assignment: np.ndarray,
                  ratio: float | None = None) -> None:
    """Every placed student along an eligible edge, every cap (or ceiling)
    kept, every pin kept."""
    problem.chosen_edges(assignment)  # raises on a pair that is not an edge
    load = problem.loads(assignment)
    limit = problem.cap.astype(float) if ratio is None else np.minimum(
        problem.cap, np.floor(ratio * problem.cap + 1e-9))
    pinned = problem.pinned_to >= 0
    free = (assignment >= 0) & ~pinned
    took = np.bincount(assignment[free], minlength=problem.n_educators) > 0
    # An educator who took a student the flow placed is within the limit.
    assert np.all(load[took] <= limit[took] + 1e-9)
    assert np.array_equal(assignment[pinned], problem.pinned_to[pinned])


def _same_optimum(problem: PlanningProblem, ratio: float | None = None,
                  seat_limit: np.ndarray | None = None) -> None:
    plain = flow.solve_flow(problem, ratio=ratio, seat_limit=seat_limit)
    fast = pooled.solve_pooled_flow(problem, ratio=ratio, seat_limit=seat_limit)
    _assert_valid(problem, fast, ratio)
    assert int((fast >= 0).sum()) == int((plain >= 0).sum())
    assert _points(problem, fast) == pytest.approx(_points(problem, plain), abs=1e-6)


@pytest.fixture(scope="module")
def districts(tmp_path_factory):
    root = tmp_path_factory.mktemp("pooled")
    return [load_district(write_district(generate_district(n, seed=seed), root / f"d{seed}"))
            for n, seed in ((60, 21), (150, 22), (400, 23), (900, 24))]


def _shortage(problem: PlanningProblem, rng: random.Random) -> PlanningProblem:
    """The same district with most caps cut: many students left unplaced."""
    cap = np.array([rng.randint(0, max(int(c) // 2, 0)) for c in problem.cap],
                   dtype=np.int64)
    return dataclasses.replace(problem, cap=cap)


def test_same_optimum_as_the_plain_network_on_random_districts(districts):
    rng = random.Random(7)
    for district in districts:
        problem = build_problem(district)
        assert problem.unit_weights
        _same_optimum(problem)
        short = _shortage(problem, rng)
        assert (flow.solve_flow(short) < 0).any()  # a real shortage
        _same_optimum(short)
        ceiling = flow.min_max_ratio(short)
        _same_optimum(short, ratio=ceiling)
        limit = np.array([rng.randint(0, 6) for _ in range(problem.n_educators)])
        _same_optimum(problem, seat_limit=limit)
        # A published plan to keep stable: a rotated copy of a real plan, so
        # many students cost the change weight wherever they go, with every
        # fifth student blank in it (leaving them out then costs less than
        # leaving out the others: the flow must choose whom, in a shortage).
        plan0 = flow.solve_flow(problem)
        ids = list(problem.student_ids)
        names = ["" if e < 0 else str(problem.educator_ids[e]) for e in plan0]
        shift = rng.randint(1, len(ids) - 1)
        names = names[shift:] + names[:shift]
        published = {sid: "" if i % 5 == 0 else name
                     for i, (sid, name) in enumerate(zip(ids, names, strict=True))}
        stable = build_problem(district, published=published)
        _same_optimum(stable)
        _same_optimum(_shortage(stable, rng))


def test_same_optimum_with_pins_and_shortage_on_the_sample():
    district = load_district(SAMPLE)
    assert district.pins  # the sample has pinned students: fixed before either flow
    problem = build_problem(district)
    _same_optimum(problem)
    _same_optimum(_shortage(problem, random.Random(3)))


def test_pooling_shrinks_the_network_and_keeps_every_pair_reachable():
    problem = build_problem(load_district(SAMPLE))
    _, keep = flow._free_edges(problem)
    es, ee = problem.edge_student[keep], problem.edge_educator[keep]
    cost = np.rint(problem.edge_cost()[keep] * flow.SCALE).astype(np.int64)
    net = pooled.pool_network(es, ee, cost, np.zeros(problem.n_students, dtype=np.int64))
    arcs = net.n_classes + len(net.choice_class) + len(net.pool_educator)
    assert arcs < len(es) / 2  # far fewer arcs than pairs on a real district
    # Unpooled, each student's (educator, points) pairs are exactly the pairs
    # of the edges: nothing added, nothing lost.
    got = set()
    for c in range(net.n_classes):
        members = net.class_students[net.class_start[c]:net.class_start[c + 1]]
        for k in np.flatnonzero(net.choice_class == c):
            p = net.choice_pool[k]
            for e in net.pool_educator[net.pool_start[p]:net.pool_start[p + 1]]:
                got.update((int(s), int(e), int(net.choice_cost[k])) for s in members)
    assert got == set(zip(es.tolist(), ee.tolist(), cost.tolist(), strict=True))


def test_grouping_is_exact_even_when_every_hash_collides():
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 4, size=300)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ends = starts + lengths
    values = rng.integers(0, 3, size=int(lengths.sum()))
    exact: dict[tuple[int, ...], int] = {}
    want = [exact.setdefault(tuple(values[a:b].tolist()), len(exact))
            for a, b in zip(starts, ends, strict=True)]
    for hashes in (np.zeros(len(starts), dtype=np.uint64),  # every sequence collides
                   np.add.reduceat(pooled._hash64(values, 2), starts)):
        got = pooled._group_equal_sequences(hashes, starts, ends, (values,))
        assert got.tolist() == want


def test_the_pooled_plan_is_the_same_every_time(districts):
    problem = build_problem(districts[2])
    first = pooled.solve_pooled_flow(problem)
    assert np.array_equal(first, pooled.solve_pooled_flow(problem))


def test_students_who_cost_differently_when_left_out_are_not_one_class():
    # Three students with the same choice (educator 0 at 5 points); leaving the
    # second one out costs more (e.g. the published plan placed them), so it
    # is a class of its own: the flow must be able to leave out the others.
    net = pooled.pool_network(np.array([0, 1, 2]), np.array([0, 0, 0]), np.array([5, 5, 5]),
                              np.array([0, 7, 0]))
    assert net.n_classes == 2 and net.n_pools == 1
    assert net.class_students.tolist() == [0, 2, 1]
    assert net.class_left_out.tolist() == [0, 7]
