"""The explanation stage and the solver's parameters, asserted by hand on tiny cases:
what the summary claims without a bound, when a plan time is written, how a
move from the published plan is added to a reason, and the parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import explain, load_district
from optimizer.planning.check import audit_table
from optimizer.planning.explain import explain_plan
from optimizer.planning.objective import Objective
from optimizer.planning.planner import plan
from optimizer.planning.problem import build_problem
from optimizer.planning.solution import Solution
from optimizer.planning.solvers import SolveParams
from tests.conftest import educator, student


@pytest.fixture
def two(make_district):
    """One RSP teacher (cap 1) and two RSP students: one placed, one not."""
    return load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1")],
        students=[student("S1"), student("S2")]))


def test_no_bound_is_said_plainly_and_no_time_is_invented(two):
    problem = build_problem(two)
    assignment = np.array([0, -1])
    points = sum(problem.objective_terms(assignment).values())
    result = explain_plan(problem, Solution(assignment, "feasible", "by hand", points, None),
                          audit=audit_table(two))
    assert result.bound is None and result.gap is None
    text = result.summary()
    assert "(no proven bound)" in text and "gap" not in text
    assert "made_at" not in result.figures  # no clock time unless the caller gives one
    given = explain_plan(problem, Solution(assignment, "optimal", "by hand", points, points),
                         audit=audit_table(two), made_at="2027-03-01T09:00:00")
    assert given.figures["made_at"] == "2027-03-01T09:00:00"
    assert "(bound " in given.summary() and "gap 0.00%" in given.summary()
    # Figures by hand: one of two placed, at best practice.
    assert (given.figures["placed"], given.figures["best_practice_share"]) == (1, 1.0)
    assert given.figures["objective"] == points and given.figures["balance"] == "convex"


def test_a_move_from_the_published_plan_is_added_to_the_reason(make_district):
    # The published plan has S1 with the coordinator C1 (rank 2, 30 points); the
    # RSP teacher E1 is the best practice (0). Moving costs the change weight:
    # at 50 S1 stays (30 < 50); at 0 S1 moves, and the reason says both why E1
    # and why not the published plan's case manager, in that order.
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("C1", "COORD")],
        students=[student("S1")]))
    stays = plan(d, published={"S1": "C1"})
    assert stays.assignments["case_manager_id"].tolist() == ["C1"]
    moves = plan(d, objective=Objective(change=0.0), published={"S1": "C1"})
    assert moves.assignments["case_manager_id"].tolist() == ["E1"]
    reason = moves.assignments["reason_detail"].iloc[0]
    assert reason.startswith("Best-practice case manager: ")
    assert reason.endswith("Moved from the published plan: The published plan's case "
                           "manager C1 is a weaker fit (coordinator only, rank 2) than E1 "
                           "(rank 0)")
    assert moves.figures["published_plan"] == {"students_in_published_plan": 1, "moved": 1,
                                               "moved_because": {"weaker fit": 1}}


def test_solve_params_accept_any_positive_time_and_refuse_the_rest():
    assert SolveParams(time_limit=0.5).time_limit == 0.5
    for bad in (0, -1, float("nan"), float("inf"), 1e6):
        with pytest.raises(ValueError, match="time_limit"):
            SolveParams(time_limit=bad)
    with pytest.raises(ValueError, match="balance"):
        SolveParams(balance="fair")


def test_objective_weights_name_the_bad_key():
    with pytest.raises(ValueError, match=r"objective\.balance"):
        Objective.from_settings({"balance": float("nan")})
    with pytest.raises(ValueError, match=r"objective\.rank\[1\]"):
        Objective.from_settings({"rank": [0, "ten", 30]})
    with pytest.raises(ValueError, match="contnuity"):
        Objective.from_settings({"contnuity": 5})


def test_explain_lists_the_school_rule_for_an_educator_of_another_school(make_district):
    schools = [{"school_id": "A", "name": "A", "low_grade": "K", "high_grade": "5",
                "region": "North"},
               {"school_id": "B", "name": "B", "low_grade": "K", "high_grade": "5",
                "region": "North"}]
    d = load_district(make_district(
        schools=schools, educators=[educator("E1", "RSP", "ES-MMSN", schools="A"),
                                    educator("C1", "COORD", schools="B")],
        students=[student("S1", school="A")],
        toml='[school_rule]\nregion_roles = ["COORD"]\n'))
    verdicts = explain(d, "S1", "C1")
    assert verdicts[0].ok is False  # does not serve the student's school
    assert verdicts[1].ok is True and "region_roles" in verdicts[1].reason
