"""The joint LP of the service solver (services_lp): the compact model the LP
solves, against the exact optimum (CP-SAT, tests/service_checker.py) and
against the full joint model the MIPs use.

The compact model (``_compact_model``) charges a coordinator option that an
own option of the same provider dominates a seat of its own and pools the
coordinators who take a seat of their own; both models put the case-manager
options of one (student, provider) key together under its link. These tests
hold the claims of its docstring: every bound it gives is valid, it is at
least as tight as the full model, and on the two named districts below,
where one link row per option left the LP loose, it meets the optimum.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from optimizer.planning.solvers import services_lp
from optimizer.planning.solvers.services import ServiceParams
from optimizer.planning.solvers.services_objective import _balance_milli
from tests import service_checker as chk
from tests.test_service_planning import random_spec, to_problem


def lp_levels(problem, model) -> tuple[int, int, float]:
    """The three lexicographic LP optima of a model: pairs served, students
    placed, cost bound (milli-points, with the option columns' constant)."""
    served, placed, cost, _ = services_lp._run_highs(
        model.n_col, model.start, model.index, model.value, model.row_hi, model.n_x,
        model.n_c, model.cost, 10.0, model.col_hi, merged=(model.merged, model.merged_x))
    return served, placed, cost + model.base


def as_bound(problem, params, levels) -> tuple[int, int, int]:
    """LP levels as the solver's lexicographic bound (unserved, unplaced, cost)."""
    served, placed, cost = levels
    const = _balance_milli(problem.cap, problem.other_load, params.balance)
    return (problem.n_pairs - served, problem.n_students - placed,
            int(math.ceil(cost - 1e-6)) + const)


def _pair(current=None, published=None):
    return {"current": current, "minutes": 0, "published": published}


def _psy(cap: int) -> dict:
    return {"role": "PSY", "cap": cap, "other": 0, "minutes_cap": None}


# random_spec(random.Random(13)), written out. One link row per option gave
# the LP 303,000 milli-points at the right levels, 30,000 under the optimum:
# E1 half serves S1's speech, is half S1's own case manager and half their
# coordinator, all on half a seat.
LOOSE_COST = {
    "providers": {"E0": _psy(2), "E1": _psy(1), "E2": _psy(1)},
    "students": {"S0": {"current_cm": None, "published_cm": "E1"},
                 "S1": {"current_cm": "E0", "published_cm": None},
                 "S2": {"current_cm": "E0", "published_cm": None},
                 "S3": {"current_cm": "E1", "published_cm": "E2"}},
    "pairs": {("S0", "COUNSELING"): _pair(published="E2"),
              ("S1", "SPEECH"): _pair(current="E1"),
              ("S2", "COUNSELING"): _pair(current="E0"),
              ("S2", "SPEECH"): _pair(current="E0", published="E1"),
              ("S3", "SAI"): _pair(current="E0", published="E0"),
              ("S3", "SPEECH"): _pair(published="E1")},
    "options": {("S0", "COUNSELING"): {"E0": 0, "E1": 1},
                ("S1", "SPEECH"): {"E0": 2, "E1": 2, "E2": 1},
                ("S2", "COUNSELING"): {"E0": 0},
                ("S2", "SPEECH"): {"E0": 0, "E1": 2},
                ("S3", "SAI"): {"E0": 2, "E1": 2},
                ("S3", "SPEECH"): {"E2": 0}},
    "cm_options": {"S0": {("E1", "own"): 1},
                   "S1": {("E1", "coordinator"): 2, ("E1", "own"): 0,
                          ("E2", "coordinator"): 2, ("E2", "own"): 1},
                   "S2": {("E0", "own"): 1, ("E1", "coordinator"): 2, ("E1", "own"): 1,
                          ("E2", "coordinator"): 2},
                   "S3": {("E0", "coordinator"): 2, ("E1", "coordinator"): 2,
                          ("E1", "own"): 0, ("E2", "own"): 1}},
}

# random_spec(random.Random(40)), written out. One link row per option let the
# LP place 3 students; 2 is the most any plan places.
LOOSE_LEVEL = {
    "providers": {"E0": {"role": "RSP", "cap": 0, "other": 0, "minutes_cap": None},
                  "E1": _psy(2),
                  "E2": {"role": "SLP", "cap": 1, "other": 1, "minutes_cap": None}},
    "students": {"S0": {"current_cm": None, "published_cm": "E1"},
                 "S1": {"current_cm": None, "published_cm": "E1"},
                 "S2": {"current_cm": "E2", "published_cm": "E0"},
                 "S3": {"current_cm": None, "published_cm": None},
                 "S4": {"current_cm": None, "published_cm": "E1"},
                 "S5": {"current_cm": "E0", "published_cm": None}},
    "pairs": {("S0", "COUNSELING"): _pair(published="E1"),
              ("S0", "SAI"): _pair(published="E0"),
              ("S0", "SPEECH"): _pair(published="E0"),
              ("S1", "SPEECH"): _pair(current="E2", published="E2"),
              ("S2", "COUNSELING"): _pair(),
              ("S2", "SAI"): _pair(current="E2"),
              ("S3", "COUNSELING"): _pair(current="E0", published="E0"),
              ("S3", "SAI"): _pair(),
              ("S4", "SAI"): _pair(current="E1", published="E0"),
              ("S5", "COUNSELING"): _pair(published="E2"),
              ("S5", "SPEECH"): _pair(current="E2", published="E0")},
    "options": {("S0", "COUNSELING"): {},
                ("S0", "SAI"): {"E0": 1, "E1": 2, "E2": 0},
                ("S0", "SPEECH"): {},
                ("S1", "SPEECH"): {"E0": 0, "E1": 0, "E2": 2},
                ("S2", "COUNSELING"): {},
                ("S2", "SAI"): {"E2": 2},
                ("S3", "COUNSELING"): {"E0": 2},
                ("S3", "SAI"): {},
                ("S4", "SAI"): {"E0": 0, "E1": 0, "E2": 2},
                ("S5", "COUNSELING"): {},
                ("S5", "SPEECH"): {"E0": 2, "E1": 2, "E2": 2}},
    "cm_options": {"S0": {("E1", "coordinator"): 2, ("E1", "own"): 0, ("E2", "own"): 1},
                   "S1": {("E0", "own"): 1, ("E1", "own"): 0, ("E2", "own"): 0},
                   "S2": {("E0", "coordinator"): 2, ("E1", "coordinator"): 2,
                          ("E2", "own"): 1},
                   "S3": {("E0", "coordinator"): 2, ("E1", "coordinator"): 2,
                          ("E2", "coordinator"): 2},
                   "S4": {("E0", "coordinator"): 2, ("E1", "coordinator"): 2},
                   "S5": {("E1", "coordinator"): 2, ("E1", "own"): 0, ("E2", "own"): 1}},
}


@pytest.mark.parametrize("spec", [LOOSE_COST, LOOSE_LEVEL], ids=["cost", "case managers"])
@pytest.mark.parametrize("build", ["_compact_model", "_joint_model"])
def test_the_lp_meets_the_optimum_where_a_row_per_option_was_loose(spec, build):
    problem = to_problem(spec)
    params = ServiceParams()
    best, _, _ = chk.joint_optimum(spec)
    model = getattr(services_lp, build)(problem, params)
    assert as_bound(problem, params, lp_levels(problem, model)) == best


def test_the_solver_proves_the_named_districts_optimal_by_the_lp():
    from optimizer.planning.solvers.services import solve_services

    for spec in (LOOSE_COST, LOOSE_LEVEL):
        sol = solve_services(to_problem(spec), ServiceParams(decompose=False))
        best, _, _ = chk.joint_optimum(spec)
        assert sol.objective == best
        assert sol.status == "optimal"


def test_the_compact_lp_is_valid_and_at_least_as_tight_as_the_full_one():
    """On random districts (count caps and minute capacities): the compact
    LP's lexicographic bound never exceeds the exact optimum, and never
    falls below the full joint model's LP."""
    rng = random.Random(7)
    pooled = 0
    for i in range(60):
        spec = random_spec(rng, minutes=i % 3 == 2)
        problem = to_problem(spec)
        if problem.n_pairs == 0:
            continue
        params = ServiceParams()
        best, _, _ = chk.joint_optimum(spec)
        full = services_lp._joint_model(problem, params)
        compact = services_lp._compact_model(problem, params)
        pooled += bool(np.any(compact.col_hi > 1))
        b_full = as_bound(problem, params, lp_levels(problem, full))
        b_compact = as_bound(problem, params, lp_levels(problem, compact))
        assert b_compact <= best, (i, b_compact, best)
        # Bounds are lower bounds on (unserved, unplaced, cost): tighter is larger.
        assert b_compact >= b_full, (i, b_compact, b_full)
        assert compact.n_col <= full.n_col
    assert pooled > 0  # some coordinators went through a pool of several students


def test_merging_the_own_case_managers_keeps_the_lp_and_drops_their_rows():
    """Where a (student, provider) key has one service option x, the compact
    model writes x = z + c (c: that provider is also the case manager) and
    drops the row c <= x: the same three LP optima, and the x it returns,
    read back as z + c, serves what the LP says within every pair's one
    provider and every minute capacity. Coordinators get random ranks, so
    that some are not dominated and own options on linked keys merge too."""
    rng = random.Random(11)
    merged_options = linked = 0
    for i in range(60):
        spec = random_spec(rng, minutes=i % 3 == 2)
        for options in spec["cm_options"].values():
            for key in options:
                if key[1] == "coordinator":
                    options[key] = rng.randint(0, 2)
        problem = to_problem(spec)
        if problem.n_pairs == 0:
            continue
        params = ServiceParams()
        merged = services_lp._compact_model(problem, params)
        apart = services_lp._compact_model(problem, params, merge_own=False)
        assert len(apart.merged) == 0 and merged.n_col == apart.n_col
        assert len(merged.row_hi) == len(apart.row_hi) - len(merged.merged)
        merged_options += len(merged.merged)
        linked += merged.n_y > 0 and len(merged.merged) > 0
        # (As the solver's bounds: the cost rounded up to whole milli-points.)
        a = as_bound(problem, params, lp_levels(problem, merged))
        assert a == as_bound(problem, params, lp_levels(problem, apart)), i
        served, _, _, x = services_lp._run_highs(
            merged.n_col, merged.start, merged.index, merged.value, merged.row_hi,
            merged.n_x, merged.n_c, merged.cost, 10.0, merged.col_hi,
            merged=(merged.merged, merged.merged_x))
        assert x.min() >= -1e-6 and x.sum() >= served - 1e-5, i
        per_pair = np.bincount(problem.edge_pair, weights=x, minlength=problem.n_pairs)
        assert per_pair.max() <= 1 + 1e-6, i
        used = np.bincount(problem.edge_provider, weights=x * problem.pair_minutes[
            problem.edge_pair], minlength=problem.n_providers)
        assert np.all(used <= problem.minutes_capacity + 1e-5), i
    # (Some districts have link columns beside merged options.)
    assert merged_options > 40 and linked > 0, (merged_options, linked)


def test_the_safe_dual_bound_counts_a_column_up_to_its_upper_bound():
    # min -x, 0 <= x <= 3, no rows: -3, whatever the (absent) duals.
    start, index, value = np.array([0, 0]), np.zeros(0, dtype=np.int64), np.zeros(0)
    bound = services_lp._safe_dual_bound(start, index, value, np.array([-1.0]),
                                         np.zeros(0), np.zeros(0), np.zeros(0), [],
                                         np.array([3.0]))
    assert bound == -3.0
    # The default upper bound is 1.
    assert services_lp._safe_dual_bound(start, index, value, np.array([-1.0]),
                                        np.zeros(0), np.zeros(0), np.zeros(0), []) == -1.0



def test_past_the_time_limit_a_part_gets_the_flows_bound_not_the_lp():
    """Parts are solved one after another; once the time limit has passed,
    a part's LP is not started (each used to get at least a second), and
    its bound comes from the flows (the priced flow runs even then): still
    valid, and said in the notes."""
    from optimizer.planning.solvers.services import solve_services

    rng = random.Random(3)
    skipped = 0
    for _ in range(8):
        spec = random_spec(rng)
        sol = solve_services(to_problem(spec), ServiceParams(decompose=False,
                                                             time_limit=0.0))
        best, _, _ = chk.joint_optimum(spec)
        assert (sol.bound["unserved"], sol.bound["unplaced"], sol.bound["cost"]) <= best
        assert sol.objective >= best
        if any("joint LP not run: the time limit was reached" in n for n in sol.notes):
            skipped += 1
            assert "joint_lp" in sol.runtime and sol.runtime["joint_lp"] < 0.5
    assert skipped > 0
