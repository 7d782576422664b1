"""The services' MIPs under minute capacities (services_minutes), checked
against the independent joint CP-SAT model of tests/service_checker.py:
the LP floors bound the most pairs served, the MIPs' plans meet them and
keep every cap and minute capacity, and the fallbacks (a component too
large for a MIP, the time limit passed) still give valid plans and bounds."""

from __future__ import annotations

import random
import time
from types import SimpleNamespace

import numpy as np

from optimizer.planning.solvers import services, services_minutes
from optimizer.planning.solvers.services import ServiceParams, solve_services
from optimizer.planning.solvers.services_flows import _cm_flow
from optimizer.planning.solvers.services_minutes import most_served_by_lp, services_by_mip
from optimizer.planning.solvers.services_objective import (
    _cm_serves,
    _distinct_served,
    _edge_costs,
)
from tests import service_checker as chk
from tests.test_service_planning import (
    as_dicts,
    check_against_joint,
    pair,
    random_spec,
    stu,
    to_problem,
)


def _plan_of(problem, params, provider):
    """The MIPs' service plan with its best case managers, as the checker's dicts."""
    start = problem.other_load + _distinct_served(problem, provider)
    cm = _cm_flow(problem, params, _cm_serves(problem, provider), start)[0]
    return as_dicts(problem, SimpleNamespace(provider=provider, case_manager=cm))


def _specs(seed: int, n: int):
    rng = random.Random(seed)
    return [random_spec(rng, minutes=True) for _ in range(n)]


def test_the_floors_bound_and_the_mips_meet_them():
    params = ServiceParams()
    met = 0
    for spec in _specs(31, 25):
        problem = to_problem(spec)
        best, _, _ = chk.joint_optimum(spec)
        most_pairs = problem.n_pairs - best[0]
        most, floors = most_served_by_lp(problem, params, time.perf_counter() + 30)
        assert most >= most_pairs  # an upper bound on the pairs served
        e_cost, _ = _edge_costs(problem, params)
        plan = services_by_mip(problem, params, time.perf_counter() + 30, e_cost.astype(float),
                               np.zeros(len(e_cost), dtype=np.int64), floors)
        provider, cm = _plan_of(problem, params, plan.provider)
        assert chk.violations(spec, provider, cm) == []
        served = int((plan.provider >= 0).sum())
        assert plan.most_served >= most_pairs
        if plan.proven:
            assert served == plan.most_served == most_pairs
            met += 1
    assert met >= 15, met


def test_past_the_time_limit_the_plan_is_rounded_greedily_and_still_valid():
    params = ServiceParams()
    for spec in _specs(32, 15):
        problem = to_problem(spec)
        best, _, _ = chk.joint_optimum(spec)
        most, floors = most_served_by_lp(problem, params, time.perf_counter() + 30)
        e_cost, _ = _edge_costs(problem, params)
        plan = services_by_mip(problem, params, time.perf_counter() - 1.0,
                               e_cost.astype(float), np.zeros(len(e_cost), dtype=np.int64),
                               floors)
        provider, cm = _plan_of(problem, params, plan.provider)
        assert chk.violations(spec, provider, cm) == []
        assert plan.most_served >= problem.n_pairs - best[0]
        assert not plan.proven or int((plan.provider >= 0).sum()) == plan.most_served


def test_components_too_large_for_a_mip_get_their_lp_vertex_rounded(monkeypatch):
    # Every component "too large": the guide's LP vertex, rounded within the
    # caps and the minutes; the whole solve stays valid and its bound too.
    monkeypatch.setattr(services_minutes, "_MIP_MAX_OPTIONS", 0)
    said = 0
    for spec in _specs(33, 15):
        _, _, sol = check_against_joint(spec, ServiceParams(decompose=False))
        said += any("not solved in time" in n for n in sol.notes)
    assert said > 0


def test_the_first_level_is_exact_where_the_mips_prove_it():
    # The claim of the notes: when every floor is met, no plan serves more.
    for spec in _specs(34, 20):
        problem = to_problem(spec)
        sol = solve_services(problem, ServiceParams(decompose=False))
        best, _, _ = chk.joint_optimum(spec)
        provider, cm = as_dicts(problem, sol)
        assert chk.violations(spec, provider, cm) == []
        assert sol.bound["unserved"] <= best[0] <= sol.terms["unserved"]
        if any(n.endswith("met by its MIP") for n in sol.notes):
            assert sol.terms["unserved"] == best[0]


def _slp(minutes_cap: int) -> dict:
    return {"role": "SLP", "cap": 5, "other": 0, "minutes_cap": minutes_cap}


# Two SLPs of 60 minutes a week. S0's speech (60 minutes) can only be given
# by E0; S1's (60) by E0 or E1. An LP vertex that gives S1's to E0 wholly,
# rounded pair by pair, leaves S0 unserved; moving S1's speech to E1 serves both.
ONE_MOVE = {
    "providers": {"E0": _slp(60), "E1": _slp(60)},
    "students": {"S0": {"current_cm": None, "published_cm": None},
                 "S1": {"current_cm": None, "published_cm": None}},
    "pairs": {("S0", "SPEECH"): {"current": None, "minutes": 60, "published": None},
              ("S1", "SPEECH"): {"current": None, "minutes": 60, "published": None}},
    "options": {("S0", "SPEECH"): {"E0": 0}, ("S1", "SPEECH"): {"E0": 0, "E1": 2}},
    "cm_options": {"S0": {("E0", "own"): 0}, "S1": {("E0", "own"): 0, ("E1", "own"): 1}},
}


def _rounded(problem, x):
    from optimizer.planning.solvers import services_lp

    return services_lp._round_lp(problem, x, _edge_costs(problem, ServiceParams())[0])


def test_a_pair_left_unserved_by_the_rounding_is_served_by_moving_one_pair():
    problem = to_problem(ONE_MOVE)
    x = np.zeros(len(problem.edge_pair))
    # S1's option at E0 wholly.
    s1_e0 = [j for j in range(len(x)) if problem.pair_student[problem.edge_pair[j]] == 1
             and problem.edge_provider[j] == 0]
    x[s1_e0] = 1.0
    provider = _rounded(problem, x)
    assert (provider >= 0).all()
    params = ServiceParams()
    plan_provider, cm = _plan_of(problem, params, provider)
    assert chk.violations(ONE_MOVE, plan_provider, cm) == []
    assert plan_provider[("S1", "SPEECH")] == "E1" and plan_provider[("S0", "SPEECH")] == "E0"


def _busy_spec(rng: random.Random) -> dict:
    """A district where minutes run short: 3-6 SLPs of 60-180 minutes a week
    and up to 8 students each, 6-20 students with one or two services of
    15-60 minutes, each given by 1-3 of the SLPs; own case managers only
    (the moves are about the services)."""
    pids = [f"E{j}" for j in range(rng.randint(3, 6))]
    providers = {e: {"role": "SLP", "cap": rng.randint(2, 8), "other": 0,
                     "minutes_cap": rng.choice([60, 90, 120, 180])} for e in pids}
    students, pairs, options, cm = {}, {}, {}, {}
    for i in range(rng.randint(6, 20)):
        sid = f"S{i}"
        students[sid] = {"current_cm": None, "published_cm": None}
        mine: set[str] = set()
        for svc in rng.sample(["SPEECH", "COUNSELING"], rng.randint(1, 2)):
            elig = rng.sample(pids, rng.randint(1, 3))
            pairs[(sid, svc)] = {"current": None, "minutes": rng.choice([15, 30, 45, 60]),
                                 "published": None}
            options[(sid, svc)] = {e: rng.randint(0, 2) for e in elig}
            mine |= set(elig)
        cm[sid] = {(e, "own"): rng.randint(0, 1) for e in sorted(mine)}
    return {"providers": providers, "students": students, "pairs": pairs,
            "options": options, "cm_options": cm}


def test_moving_one_pair_keeps_plans_valid_and_serves_at_least_as_many(monkeypatch):
    """On districts where minutes and seats run short, a random fractional
    point rounded with the moves and without them: both plans valid (the
    independent checker: caps on distinct students, minute capacities), and
    the moves never serve fewer pairs; they must serve more often enough
    for the test to mean something."""
    from optimizer.planning.solvers import services_lp

    rng = random.Random(90)
    draw = np.random.default_rng(4)
    params = ServiceParams()
    more = 0
    for _ in range(150):
        spec = _busy_spec(rng)
        problem = to_problem(spec)
        cost = _edge_costs(problem, params)[0]
        # Fractional shares only: whole ones are kept unchecked (an LP's fit).
        n = len(problem.edge_pair)
        x = 0.99 * draw.random(n) * (draw.random(n) < 0.5)
        with_moves = services_lp._round_lp(problem, x, cost)
        with monkeypatch.context() as m:
            m.setattr(services_lp, "_serve_by_moving_one", lambda *a: 0)
            without = services_lp._round_lp(problem, x, cost)
        for provider in (with_moves, without):
            plan_provider, cm = _plan_of(problem, params, provider)
            assert chk.violations(spec, plan_provider, cm) == []
        assert (with_moves >= 0).sum() >= (without >= 0).sum()
        more += (with_moves >= 0).sum() > (without >= 0).sum()
    assert more >= 20, more


def test_the_moves_are_skipped_only_when_the_rounding_serves_the_proven_most(monkeypatch):
    """_round_lp searches for moves unless its plan already serves ``most``
    pairs (a proven upper bound: no move could serve one more, and each move
    serves one more). With ``most`` one higher the moves run, and serve
    what they would without it."""
    from optimizer.planning.solvers import services_lp

    problem = to_problem(ONE_MOVE)
    x = np.zeros(len(problem.edge_pair))
    x[[j for j in range(len(x)) if problem.pair_student[problem.edge_pair[j]] == 1
       and problem.edge_provider[j] == 0]] = 1.0
    cost = _edge_costs(problem, ServiceParams())[0]
    calls: list[int] = []
    real = services_lp._serve_by_moving_one

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(services_lp, "_serve_by_moving_one", counted)
    # The rounding alone serves S1 only. Told that 1 is the most (not true
    # here: the move serves both), it does not look for moves.
    assert (services_lp._round_lp(problem, x, cost, most=1) >= 0).sum() == 1
    assert calls == []
    both = services_lp._round_lp(problem, x, cost, most=2)
    assert calls == [1] and (both >= 0).all()
    assert np.array_equal(both, services_lp._round_lp(problem, x, cost))


def _schools_spec(rng: random.Random) -> dict:
    """Two or three schools, each with its own SLPs under minute capacities
    (a service component each), one RSP teacher for everyone's SAI (no
    minutes: the flow's part) and a coordinator the schools share; the
    students' case managers are their own providers or that coordinator, so
    the case-manager costs tie the components together."""
    providers = {"R0": {"role": "RSP", "cap": rng.randint(2, 6), "other": 0,
                        "minutes_cap": None},
                 "C0": {"role": "RSP", "cap": rng.randint(1, 3), "other": 0,
                        "minutes_cap": None}}
    students, pairs, options, cm = {}, {}, {}, {}
    i = 0
    for g in range(rng.randint(2, 3)):
        slps = [f"S{g}{j}" for j in range(rng.randint(1, 2))]
        for e in slps:
            providers[e] = {"role": "SLP", "cap": rng.randint(2, 5), "other": 0,
                            "minutes_cap": rng.choice([60, 90, 120, 150])}
        for _ in range(rng.randint(2, 5)):
            sid = f"P{i}"
            i += 1
            elig = rng.sample(slps, rng.randint(1, len(slps)))
            students[sid] = stu(rng.choice([None, "C0", *elig]))
            pairs[(sid, "SPEECH")] = pair(rng.choice([30, 45, 60, 90]),
                                          rng.choice([None, *elig]))
            options[(sid, "SPEECH")] = {e: rng.randint(0, 2) for e in elig}
            opts = {(e, "own"): rng.randint(0, 1) for e in elig}
            if rng.random() < 0.5:
                pairs[(sid, "SAI")] = pair(0, rng.choice([None, "R0"]))
                options[(sid, "SAI")] = {"R0": 0}
                opts[("R0", "own")] = 0
            if rng.random() < 0.6:
                opts[("C0", "coordinator")] = 2
            cm[sid] = opts
    return {"providers": providers, "students": students, "pairs": pairs,
            "options": options, "cm_options": cm}


def test_the_service_components_hold_their_pairs_in_the_cost_lp():
    """served_groups: with the most pairs served, each service component
    serves exactly its own most, so the joint LP's cost may hold each to it.
    Checked against the independent joint CP-SAT model: the optimum meets
    every group's count (the rows are valid), the LP's cost bound with them
    never exceeds the optimum's cost, is never below the bound without
    them, and is above it often enough for the rows to matter."""
    from optimizer.planning.solvers.services_lp import _service_lp
    from optimizer.planning.solvers.services_objective import _balance_milli

    rng = random.Random(2026)
    params = ServiceParams()
    checked = tighter = 0
    for _ in range(40):
        spec = _schools_spec(rng)
        problem = to_problem(spec)
        best, best_provider, _ = chk.joint_optimum(spec)
        most, floors = most_served_by_lp(problem, params, time.perf_counter() + 30)
        if most != problem.n_pairs - best[0]:
            continue  # (no plan serves the LP's most: the rows say nothing)
        checked += 1
        groups = services_minutes.served_groups(problem, params, floors, most)
        assert len(groups) >= 2
        pids = problem.provider_ids
        chosen = np.array([best_provider[(problem.student_ids[problem.pair_student[q]],
                                          problem.pair_service[q])] == pids[e]
                           for q, e in zip(problem.edge_pair.tolist(),
                                           problem.edge_provider.tolist(), strict=True)])
        for edges, least in groups:
            assert int(chosen[edges].sum()) >= least
        known = (most, problem.n_students - best[1])
        const = _balance_milli(problem.cap, problem.other_load, params.balance)
        deadline = time.perf_counter() + 30
        with_rows = _service_lp(problem, params, deadline, known=known, groups=groups)[3]
        without = _service_lp(problem, params, deadline, known=known)[3]
        assert with_rows is not None and without is not None
        assert without <= with_rows
        assert with_rows + const <= best[2], (with_rows + const, best)
        tighter += with_rows > without
        # The students placed solved for too (LP 2 with the rows): a bound.
        _, _, placed, cost, _ = _service_lp(problem, params, deadline, known=(most, -1),
                                            groups=groups)
        assert placed >= problem.n_students - best[1]
        if placed == problem.n_students - best[1]:
            assert cost is not None and cost + const <= best[2]
    assert checked >= 25, checked
    assert tighter >= 8, tighter  # (15 of 35 with this seed)


def _school_specs(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    return [_schools_spec(rng) for _ in range(n)]


def test_the_solver_gives_its_cost_lp_the_components_rows(monkeypatch):
    """The rows reach the solve (services._stages, minute capacities): its
    bound, checked against the joint CP-SAT optimum, is tighter with them on
    some districts and never looser."""
    params = ServiceParams(decompose=False)
    tighter = 0
    for spec in _school_specs(2027, 25):
        _, _, sol = check_against_joint(spec, params)
        with monkeypatch.context() as m:
            m.setattr(services, "served_groups", lambda *a: [])
            plain = solve_services(to_problem(spec), params)
        if (sol.bound["unserved"], sol.bound["unplaced"]) == (plain.bound["unserved"],
                                                              plain.bound["unplaced"]):
            assert sol.bound["cost"] >= plain.bound["cost"]
            tighter += sol.bound["cost"] > plain.bound["cost"]
    assert tighter >= 3, tighter


def test_rows_no_plan_can_meet_leave_the_joint_lp_as_it_was(monkeypatch):
    """A floor one too high (HiGHS's tolerance allows it) makes the rows
    infeasible: the joint LP is then solved without them, so its vertex
    is still a plan and the bound is still valid."""
    params = ServiceParams(decompose=False)
    real = services.served_groups

    def one_too_many(*args):
        groups = real(*args)
        return [(groups[0][0], groups[0][1] + len(groups[0][0]) + 1), *groups[1:]]

    monkeypatch.setattr(services, "served_groups", one_too_many)
    used = 0
    for spec in _school_specs(2028, 15):
        _, _, sol = check_against_joint(spec, params)
        assert not any(n.startswith("joint LP not used") for n in sol.notes)
        used += any(n.startswith("joint LP relaxation") for n in sol.notes)
    assert used >= 10, used


# Two SLPs of 90 minutes a week, three students with 60 minutes of speech
# each, any of them by either SLP. The LP serves 3 pairs (180 of 180
# minutes); a plan serves 2 (one pair an SLP: two would take 120 minutes).
# S0 and S1 have this year's SLPs, S2 none; a coordinator C0 may
# case-manage anyone (so every student is placed, and the levels meet).
SHORT_BY_ONE = {
    "providers": {"E0": _slp(90), "E1": _slp(90),
                  "C0": {"role": "RSP", "cap": 3, "other": 0, "minutes_cap": None}},
    "students": {"S0": {"current_cm": "E0", "published_cm": None},
                 "S1": {"current_cm": "E1", "published_cm": None},
                 "S2": {"current_cm": None, "published_cm": None}},
    "pairs": {("S0", "SPEECH"): {"current": "E0", "minutes": 60, "published": None},
              ("S1", "SPEECH"): {"current": "E1", "minutes": 60, "published": None},
              ("S2", "SPEECH"): {"current": None, "minutes": 60, "published": None}},
    "options": {(s, "SPEECH"): {"E0": 0, "E1": 1} for s in ("S0", "S1", "S2")},
    "cm_options": {s: {("E0", "own"): 0, ("E1", "own"): 1, ("C0", "coordinator"): 2}
                   for s in ("S0", "S1", "S2")},
}


def test_a_level_below_the_floors_still_gets_its_cost_bound():
    """Where the components' MIP proves fewer pairs than the LP's floor, the
    cost LP at the floor bounds nothing (no plan serves that many): the
    solver solves it again at the level proven, so the bound keeps a cost
    (it had none: 0)."""
    problem = to_problem(SHORT_BY_ONE)
    params = ServiceParams(decompose=False)
    most, floors = most_served_by_lp(problem, params, time.perf_counter() + 30)
    assert (most, floors) == (3, (3,))
    mine, best, sol = check_against_joint(SHORT_BY_ONE, params)
    assert best[:2] == (1, 0) and (sol.bound["unserved"], sol.bound["unplaced"]) == (1, 0)
    assert 0 < sol.bound["cost"] <= best[2] <= mine[2]
