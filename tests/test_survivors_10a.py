"""Tests for the mutants still alive after the `make mutate` of 1 December
(benchmarks/mutation.json of 9e15239, issue 13), part A: a school's missing
name, spreadsheet rows of tables given in memory, a provider's credential
message, the service check past an unplaced student, names and schools in
the plan's tables, summary.json's gap, objective weights named in their
errors, the eligible-edge guard, and the headline's and summary's words for
service plans. Expected texts are put together by hand from the message
templates and ca.toml, never copied from the tool's output."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from optimizer import load_district, plan
from optimizer.district.contract import CONTRACT
from optimizer.district.model import ServiceNeed
from optimizer.district.reader import RawDistrict
from optimizer.district.validate import check_district, validate_tables
from optimizer.planning.check import audit_table, check_service_plan
from optimizer.planning.explain import explain_plan
from optimizer.planning.objective import Objective
from optimizer.planning.problem import build_problem
from optimizer.planning.result import Result, plain_headline
from optimizer.planning.solution import Solution
from tests.conftest import SCHOOL, educator, student

OAK = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5",
       "feeds_into": "", "region": "North"}


def _errors(problems):
    return [(p.file, p.row, p.column, p.value, p.expected)
            for p in problems if p.severity == "error"]


# ------------------------------------------------------------ validate.py


def test_a_school_without_a_name_is_reported(make_district):
    got = _errors(check_district(make_district(
        schools=[{**SCHOOL, "name": ""}],
        educators=[educator("E1", "RSP", "ES-MMSN")], students=[student("S1")])))
    assert got == [("schools.csv", 2, "name", "", "a value: the school's name (required)")]


def _frame(name, rows):
    cols = [c.name for c in CONTRACT[name]]
    return pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols,
                        dtype=str)


def test_tables_given_in_memory_report_spreadsheet_rows_after_the_header():
    # Frames made in Python (no reader, so no row numbers attached): the first
    # data row is spreadsheet row 2, the third is row 4.
    schools = [SCHOOL, {**OAK, "name": ""}, {**OAK, "school_id": "ASH", "name": ""}]
    raw = RawDistrict("in memory", tables={
        "schools": _frame("schools", schools),
        "educators": _frame("educators", [educator("E1", "RSP", "ES-MMSN")]),
        "students": _frame("students", [student("S1")])})
    _, problems = validate_tables(raw)
    got = [(p.row, p.column, p.expected) for p in problems if p.severity == "error"]
    assert got == [(3, "name", "a value: the school's name (required)"),
                   (4, "name", "a value: the school's name (required)")]


# ------------------------------------------------------------ check.py


def _services(*rows):
    return pd.DataFrame(rows, columns=["student_id", "service", "provider_id", "minutes"])


def _assignments(*rows):
    return pd.DataFrame(rows, columns=["student_id", "case_manager_id", "capacity"])


def test_a_provider_of_a_service_no_credential_authorizes(make_district):
    # A district lets RSP teachers provide HEALTH, for which ca.toml lists no
    # credential: the check says so in words, not with an empty list.
    d = load_district(make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                                    students=[student("S1", "SAI;HEALTH")]))
    pack = d.rules
    assert pack.services["HEALTH"].credentials == frozenset()
    roles = {**pack.roles, "RSP": dataclasses.replace(pack.roles["RSP"],
                                                      provides=frozenset({"HEALTH"}))}
    d = dataclasses.replace(d, rules=dataclasses.replace(pack, roles=roles))
    got = check_service_plan(d, _services(("S1", "HEALTH", "E1", 30)),
                             _assignments(("S1", "", "")))
    assert [(v.kind, v.student_id, v.educator_id, v.detail) for v in got] == [
        ("ineligible provider", "S1", "E1",
         "HEALTH: no credential in the rule pack authorizes HEALTH; holds ES-MMSN")]


def test_service_check_goes_on_past_an_unplaced_student(make_district):
    # S1 first, with no case manager; S2's case manager gives none of S2's
    # services, so the plan makes them coordination, not instruction.
    d = load_district(make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                                    students=[student("S1"), student("S2")]))
    got = check_service_plan(d, _services(("S1", "SAI", "", 60)),
                             _assignments(("S1", "", ""), ("S2", "E1", "instruction")))
    assert [(v.kind, v.student_id, v.educator_id, v.detail) for v in got] == [
        ("wrong capacity", "S2", "E1",
         "case manager as instruction, but the plan makes them coordination")]


# ------------------------------------------------------------ explain.py


def test_plan_tables_carry_student_names_and_every_school(make_district):
    d = load_district(make_district(
        schools=[SCHOOL, OAK],
        educators=[educator("E1", "RSP", "ES-MMSN", schools="ELM;OAK")],
        students=[student("S1", name="Ana Ruiz"), student("S2")]))
    r = plan(d)
    assert r.assignments["student_name"].tolist() == ["Ana Ruiz", ""]
    assert r.caseloads["schools"].tolist() == ["ELM;OAK"]


def _by_hand(d, bound, made_at=None):
    """One RSP teacher (cap 1), two students: S1 placed, S2 not, given by hand."""
    problem = build_problem(d)
    assignment = np.array([0, -1])
    points = sum(problem.objective_terms(assignment).values())
    return points, explain_plan(problem, Solution(assignment, "feasible", "by hand", points,
                                                  bound), audit=audit_table(d), made_at=made_at)


def _one_seat(make_district):
    return load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1")],
        students=[student("S1"), student("S2")]))


def test_summary_json_has_the_gap_to_the_bound(make_district):
    d = _one_seat(make_district)
    points, _ = _by_hand(d, None)
    bound = points / 4  # the plan's points are 4 x the bound: 75% of them above it
    _, r = _by_hand(d, bound, made_at="2026-12-01T05:00:00Z")
    assert r.summary_json()["gap"] == pytest.approx(0.75)
    lines = r.summary().splitlines()
    assert lines[0] == f"Plan for {d.name} — made 2026-12-01T05:00:00Z"
    assert f"  objective {points:,.1f} points (lower is better) (bound {bound:,.1f}, gap " \
           f"75.00%)" in lines


# ------------------------------------------------------------ objective.py


@pytest.mark.parametrize("weight", ["balance", "change"])
def test_a_weight_that_is_not_a_number_is_named(weight):
    with pytest.raises(ValueError) as err:
        Objective.from_settings({weight: "high"})
    assert str(err.value) == f"objective.{weight}: expected a number, got 'high'"


# ------------------------------------------------------------ problem.py


def test_a_district_whose_student_is_filed_under_another_id_is_refused(make_district):
    # A District put together in Python with S1's record filed under "S2": its
    # edges name S1, a student the district does not have (every educator is known).
    d = load_district(make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                                    students=[student("S1")]))
    bad = dataclasses.replace(d, students={"S2": d.students["S1"]})
    with pytest.raises(ValueError) as err:
        build_problem(bad)
    assert str(err.value) == ("an eligible edge names a student or educator not in the "
                              "district")


# ------------------------------------------------------------ result.py


def _minutes_plan(make_district):
    """An SLP with 100 IEP minutes a week and two 60-minute speech pairs: one
    served, one not (tests/test_service_plan.py works it by hand)."""
    d = load_district(make_district(
        educators=[educator("S1", "SLP", "SLP")],
        students=[student(x, "SPEECH", sai_setting="", primary="SLI") for x in "AB"]))
    pack = d.rules
    roles = {**pack.roles, "SLP": dataclasses.replace(pack.roles["SLP"], minutes_capacity=100)}
    return plan(dataclasses.replace(
        d, service_rows=(ServiceNeed("A", "SPEECH", 60), ServiceNeed("B", "SPEECH", 60, "S1")),
        settings={**d.settings, "plan_services": True},
        rules=dataclasses.replace(pack, roles=roles)))


def test_service_plan_headline_and_minutes_line(make_district):
    r = _minutes_plan(make_district)
    assert r.headline()[1] == "1 of 2 planned IEP services served, 1 not served."
    # The minutes capacity was applied: no "(no minutes capacity applied)".
    assert "  providers over a minutes capacity: none" in r.summary().splitlines()


def test_a_service_plan_with_a_bound_but_no_gap_says_no_proven_bound(make_district):
    # The service solver gives a gap only when its first two levels (unserved,
    # unplaced) meet their bounds; its bound is always a number.
    r = _minutes_plan(make_district)
    assert r.bound is not None
    kw = {k: getattr(r, k) for k in ("status", "engine", "objective", "bound", "terms",
                                     "assignments", "caseloads", "unassigned", "hiring_needs",
                                     "audit", "figures", "assignment", "services")}
    no_gap = Result(gap=None, **kw)
    line = next(x for x in no_gap.summary().splitlines() if x.startswith("  objective "))
    assert line == f"  objective {r.objective:,.1f} points (lower is better) (no proven bound)"


def test_a_service_plan_whose_levels_are_apart_says_how_far(make_district):
    # With minute capacities the students placed can stay apart from their
    # bound: the line says by how much, and the gap on the weighted points.
    r = _minutes_plan(make_district)
    kw = {k: getattr(r, k) for k in ("status", "engine", "objective", "terms",
                                     "assignments", "caseloads", "unassigned", "hiring_needs",
                                     "audit", "assignment", "services")}
    figures = copy.deepcopy(dict(r.summary_json()))
    figures["services"]["levels"] = {"unserved_pairs": [1, 1], "unplaced_students": [7, 3]}
    apart = Result(gap=None, bound=r.objective - 4000, figures=figures, **kw)
    line = next(x for x in apart.summary().splitlines() if x.startswith("  objective "))
    points = 4000 / r.objective
    assert line == (f"  objective {r.objective:,.1f} points (lower is better) (bound "
                    f"{r.objective - 4000:,.1f}: within {points:.3%} on the points; the cost "
                    "not proven as the levels are apart: 7 students without a case manager "
                    "where at least 3 must be)")


def _figures(students, placed, served, not_served):
    return {"students": students, "placed": placed, "unplaced": students - placed,
            "best_practice_share": 1.0,
            "services": {"by_service": {"SPEECH": {"served": served,
                                                   "not_served": not_served}}}}


def test_headline_of_a_service_plan_serving_everything():
    got = plain_headline(_figures(2, 2, 3, 0), pd.DataFrame(), pd.DataFrame())
    assert got == ["All 2 students placed; 100% with the best-practice case manager.",
                   "3 of 3 planned IEP services served."]


def test_headline_asks_to_serve_and_place_when_students_are_unplaced():
    hiring = pd.DataFrame([{"role": "SLP", "credential": "SLP", "school_id": "ELM",
                            "region": "", "service": "SPEECH", "students": 1, "fte": 0.6}])
    names = pd.DataFrame({"school_id": ["ELM"], "school_name": ["Elm Elementary"]})
    placed_all = plain_headline(_figures(2, 2, 1, 1), hiring, names)
    one_unplaced = plain_headline(_figures(2, 1, 1, 1), hiring, names)
    assert placed_all[-1] == ("To serve every planned service: hire 0.6 FTE SLP with SLP at "
                              "Elm Elementary for SPEECH of 1 student.")
    assert one_unplaced[-1] == ("To serve every planned service and place every student: "
                                "hire 0.6 FTE SLP with SLP at Elm Elementary for SPEECH of "
                                "1 student.")
