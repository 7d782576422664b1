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

from optimizer.planning.solvers import services_minutes
from optimizer.planning.solvers.services import ServiceParams, solve_services
from optimizer.planning.solvers.services_flows import _cm_flow
from optimizer.planning.solvers.services_minutes import most_served_by_lp, services_by_mip
from optimizer.planning.solvers.services_objective import (
    _cm_serves,
    _distinct_served,
    _edge_costs,
)
from tests import service_checker as chk
from tests.test_service_planning import as_dicts, check_against_joint, random_spec, to_problem


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
