"""Weighted plans by the LP bound and a rounded plan (optimizer/planning/solvers/lp.py),
checked against the straightforward model (CP-SAT, proven optimal) on small districts."""

from __future__ import annotations

import shutil

import pytest

from optimizer import load_district
from optimizer.generator import generate_district
from optimizer.outputs.export import write_district
from optimizer.planning.planner import plan
from optimizer.planning.problem import build_problem
from optimizer.planning.solvers import SolveParams, lp, solve
from tests import independent
from tests.conftest import educator, student


def as_dict(result) -> dict[str, str]:
    a = result.assignments
    return dict(zip(a["student_id"], a["case_manager_id"], strict=True))


def _weighted(tmp_path, n: int, seed: int):
    source = write_district(generate_district(n, seed=seed), tmp_path / "d")
    folder = tmp_path / "weighted"
    shutil.copytree(source, folder)
    with (folder / "district.toml").open("a") as f:
        f.write("\n[student_weights]\nextensive = 1.5\n")
    return folder


def test_lp_bound_equals_the_flow_optimum_with_unit_weights(tmp_path):
    # With every weight 1 the LP is the flow's own model (chords between whole
    # loads), so its optimum is the proven optimum: a bound that is too low
    # (tangents, a missing constant) or too high shows here.
    folder = write_district(generate_district(400, seed=7), tmp_path / "d")
    problem = build_problem(load_district(folder))
    model = lp.lp_bound_model(problem)
    status, _, cost, _ = lp._solve_lp(model, lp._row_labels(problem, model), False, 30, None,
                                   "LP")
    assert status == "optimal"
    assert cost + model.constant == pytest.approx(solve(problem).objective, abs=1e-3)


@pytest.mark.parametrize("n,seed", [(200, 3), (250, 8)])
def test_weighted_plan_and_bound_bracket_the_proven_optimum(tmp_path, n, seed):
    folder = _weighted(tmp_path, n, seed)
    district = load_district(folder)
    exact = plan(district, SolveParams(engine="cpsat", time_limit=60))
    assert exact.status == "optimal"  # the straightforward model, proven
    said: list[str] = []
    result = plan(district, SolveParams(time_limit=30, progress=said.append))
    assert "LP relaxation (HiGHS)" in result.engine
    assert independent.plan_violations(folder, as_dict(result)) == []
    assert result.figures["placed"] == exact.figures["placed"]
    assert result.bound is not None
    assert result.bound <= exact.objective + 1e-6 <= result.objective + 2e-6
    assert result.gap is not None and result.gap < 0.02
    assert (result.status == "optimal") == (result.objective - result.bound < 1e-3)
    assert any("LP relaxation" in line for line in said)  # progress while solving
    again = plan(district, SolveParams(time_limit=30))
    assert as_dict(again) == as_dict(result)  # same input, same plan


def test_weighted_shortage_places_the_most_and_claims_only_what_it_proves(make_district):
    # 6.5 of weight for 6 seats: one student must wait, and the plan must not
    # place fewer than the most possible (3).
    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "COORD", max_caseload="3")],
        students=[student("S1", weight="2"), student("S2", weight="1.5"),
                  student("S3"), student("S4", weight="2")])
    district = load_district(folder)
    exact = plan(district, SolveParams(engine="cpsat", time_limit=10))
    result = plan(district, SolveParams(time_limit=10))
    assert "LP relaxation (HiGHS)" in result.engine
    assert independent.plan_violations(folder, as_dict(result)) == []
    assert result.figures["placed"] == exact.figures["placed"] == 3
    assert result.objective >= exact.objective - 1e-6
    if result.bound is not None:
        assert result.bound <= exact.objective + 1e-6
    else:
        assert result.status == "feasible" and result.gap is None
