"""The planning problem's arithmetic and a baseline re-plan, worked by hand.

"Maple": E1 and E2 RSP teachers (ES-MMSN) with max_caseload 1 and 3; S1-S4
SLD students in the resource program. S1 has E1 now.
"""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import load_district, plan
from optimizer.planning.objective import Objective
from optimizer.planning.problem import build_problem, component_labels
from optimizer.planning.solvers import SolveParams
from tests import independent
from tests.conftest import educator, student


@pytest.fixture
def maple(make_district):
    return make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="3")],
        students=[student("S1", current_case_manager="E1"), student("S2"), student("S3"),
                  student("S4")])


def test_objective_from_settings():
    o = Objective.from_settings({"unplaced": 9, "rank": [0, 1, 2], "continuity": 3,
                                 "balance": 4, "change": 6})
    assert (o.unplaced, o.rank, o.continuity, o.balance, o.change) == (
        9.0, (0.0, 1.0, 2.0), 3.0, 4.0, 6.0)
    d = Objective.from_settings({})
    assert (d.unplaced, d.rank, d.continuity, d.balance, d.change) == (
        1000.0, (0.0, 10.0, 30.0), 5.0, 2.0, 50.0)
    with pytest.raises(ValueError, match=r"objective.rank needs three numbers"):
        Objective.from_settings({"rank": [0, 10]})


def test_problem_arrays(maple):
    p = build_problem(load_district(maple))
    assert list(p.student_ids) == ["S1", "S2", "S3", "S4"]
    assert list(p.educator_ids) == ["E1", "E2"]
    assert (p.n_students, p.n_educators, p.n_edges) == (4, 2, 8)
    assert list(p.edge_student) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert list(p.edge_educator) == [0, 1] * 4
    assert list(p.edge_rank) == [0] * 8
    assert list(p.edge_current) == [True] + [False] * 7
    assert list(p.cap) == [1, 3] and p.unit_weights
    # Rank cost 0, minus the continuity bonus of 5 on S1's edge to E1.
    assert list(p.edge_cost()) == [-5, 0, 0, 0, 0, 0, 0, 0]
    starts, ends = p.edge_ranges
    assert (list(starts), list(ends)) == ([0, 2, 4, 6], [2, 4, 6, 8])
    assignment = np.array([0, 1, 1, -1])
    assert list(p.chosen_edges(assignment)) == [0, 3, 5, 8]
    assert list(p.loads(assignment)) == [1.0, 2.0]
    # balance 2 x load^2 / cap: 2 x 1 / 1 = 2; 2 x 4 / 3.
    assert list(p.balance.penalty(p, p.loads(assignment))) == pytest.approx([2.0, 8 / 3])
    assert p.objective_terms(assignment) == pytest.approx(
        {"unplaced": 1000.0, "rank": 0.0, "continuity": -5.0, "balance": 2 + 8 / 3})
    labels_s, labels_e = component_labels(p)
    assert list(labels_s) == [0, 0, 0, 0] and list(labels_e) == [0, 0]
    assert list(p.pinned_load()) == [0.0, 0.0]
    assert not p.edge_moves().any() and not p.moved_from_published(assignment).any()


def test_balance_penalty_with_a_zero_cap(make_district):
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="0")],
        students=[student("S1")])))
    assert list(p.balance.penalty(p, np.array([0.0]))) == [0.0]
    assert list(p.balance.penalty(p, np.array([2.0]))) == [0.0]


def test_separate_schools_are_separate_components(make_district):
    oak = {"school_id": "OAK", "name": "Oak", "low_grade": "K", "high_grade": "5"}
    elm = {"school_id": "ELM", "name": "Elm", "low_grade": "K", "high_grade": "5"}
    folder = make_district(
        schools=[elm, oak],
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN",
                                                              schools="OAK")],
        students=[student("S1"), student("S2", school="OAK"), student("S3")])
    p = build_problem(load_district(folder))
    labels_s, labels_e = component_labels(p)
    # Nodes: students 0-2, then educators 3-4; a label is the smallest node index.
    assert list(labels_s) == [0, 1, 0] and list(labels_e) == [0, 1]
    r = plan(load_district(folder))
    assert r.figures["components"] == 2 and r.figures["largest_component_students"] == 2
    # S2 (at OAK) with E1 (at ELM) is no edge of the problem.
    with pytest.raises(ValueError, match="not an eligible edge"):
        p.chosen_edges(np.array([0, 0, 0]))


def test_baseline_replan(maple):
    """Baseline: S1 and S2 with E1, S3 with E9 (gone). E1 now holds one: S1
    stays (it also has E1 now), S2 moves to E2 because E1 is full, S3 moves
    because E9 left; S4 had no baseline. Change: 50 x 2."""
    d = load_district(maple)
    r = plan(d, baseline={"S1": "E1", "S2": "E1", "S3": "E9", "S4": ""})
    got = dict(zip(r.assignments["student_id"], r.assignments["case_manager_id"],
                   strict=True))
    assert got == {"S1": "E1", "S2": "E2", "S3": "E2", "S4": "E2"}
    assert r.figures["published_plan"] == {"students_in_published_plan": 3, "moved": 2,
                                     "moved_because": {"full": 1, "no longer on staff": 1}}
    assert r.terms["change"] == 100.0
    reasons = dict(zip(r.assignments["student_id"], r.assignments["reason_detail"], strict=True))
    assert reasons["S2"].endswith(
        "Moved from the published plan: The published plan's case manager E1 is full (1/1)")
    assert reasons["S3"].endswith(
        "Moved from the published plan: The published plan's case manager is no longer on staff")
    assert "Moved" not in reasons["S1"] and "Moved" not in reasons["S4"]
    assert "  Moved from the published plan: 2 of 3 (full 1, no longer on staff 1)" in \
        r.summary().splitlines()
    assert independent.plan_violations(maple, got) == []


def test_minmax_and_engines_agree_on_maple(maple):
    d = load_district(maple)
    flow = plan(d)
    cpsat = plan(d, SolveParams(engine="cpsat", time_limit=5))
    minmax = plan(d, SolveParams(balance="minmax"))
    for r in (flow, cpsat, minmax):
        assert r.figures["placed"] == 4
        assert list(r.caseloads["load"]) == [1.0, 3.0]
    assert flow.objective == pytest.approx(cpsat.objective)
    assert flow.status == cpsat.status == "optimal"
    assert minmax.figures["max_ratio_ceiling"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="engine 'flow' needs every student weight"):
        plan(load_district(_weighted(maple)), SolveParams(engine="flow"))


def _weighted(folder):
    text = (folder / "students.csv").read_text()
    lines = text.splitlines()
    header = lines[0].split(",")
    i = header.index("weight")
    row = lines[1].split(",")
    row[i] = "2"
    lines[1] = ",".join(row)
    (folder / "students.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_minmax_ceiling_worked_by_hand(make_district):
    """Six students, an RSP teacher (cap 10, best practice) and a coordinator
    (cap 30). Convex balance keeps all six with the teacher (ratio 0.6). Min-max
    first finds the lowest ceiling that still places six: seats floor(r x 10) +
    floor(r x 30) >= 6 first holds at r = 5/30 (1 + 5); 4/30 gives 1 + 4."""
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="10"),
                   educator("E2", "COORD")],
        students=[student(f"S{i}") for i in range(6)]))
    convex = plan(d)
    minmax = plan(d, SolveParams(balance="minmax"))
    assert list(convex.caseloads["load"]) == [6.0, 0.0]
    assert convex.figures["max_ratio_ceiling"] is None
    assert list(minmax.caseloads["load"]) == [1.0, 5.0]
    assert minmax.figures["max_ratio_ceiling"] == pytest.approx(1 / 6)
    assert minmax.figures["balance"] == "minmax" and convex.figures["balance"] == "convex"
    assert "min-max search (max flow) proved the lowest ceiling 0.167" in minmax.engine
    # CP-SAT's min-max phase reaches the same loads.
    cp = plan(d, SolveParams(balance="minmax", engine="cpsat", time_limit=5))
    assert list(cp.caseloads["load"]) == [1.0, 5.0]
