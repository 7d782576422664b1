"""Every column of the plan's tables, and its figures, on small named cases
worked out by hand (docs/plan-format.md).

"Elm Street" — school ELM (region North, TK-5) and OAK (region South):

* E1 RSP, ES-MMSN, max_caseload 2                  -> cap 2
* E2 SLP, SLP, FTE 0.5, max_caseload 5, other 1.5   -> cap 5
* E3 DHH itinerant at OAK only                      -> cap 20, nobody to serve

* S1 SLD, RSP, grade 3, now with E1, pinned to E1 (locks row 2)
* S2 SLD, RSP, grade 4, now with E1
* S3 SLD, RSP, grade 1, no case manager now
* S4 SLI, speech only, grade 2, now with E2
* S5 SLD, RSP, grade 5, now with E2, E2 forbidden (locks row 3)
* S6 SLD, RSP, grade 2, now with E1, E2 forbidden (locks row 4)

E1 has one seat besides the pin. S5 and S6 can only go to E1; S6 keeps this
year's case manager (a 5-point bonus), so S6 takes the seat and S5 stays
unplaced (1000 points). S2 and S3 go to E2 as coordinator (rank 2, 30 each)
rather than push S6 out. S4 stays with E2, the speech-only best practice.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from optimizer import check_district, load_district, plan
from optimizer.planning.problem import build_problem
from optimizer.planning.solvers import flow
from tests import independent
from tests.conftest import SCHOOL, educator, student, write_district

OAK = {"school_id": "OAK", "name": "Oak Elementary", "low_grade": "TK", "high_grade": "5",
       "region": "South"}


@pytest.fixture
def elm(tmp_path):
    # Planned per test (not once per module): mutation testing maps each test
    # to the code it runs, and a shared fixture would credit only the first.
    folder = write_district(
        tmp_path / "elm", schools=[SCHOOL, OAK],
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="2"),
                   educator("E2", "SLP", "SLP", fte="0.5", max_caseload="5",
                            other_load="1.5"),
                   educator("E3", "DHH", "ES-DHH", schools="OAK")],
        students=[
            student("S1", grade="3", current_case_manager="E1", annual_review="2027-01-15",
                    triennial_review="2028-03-01"),
            student("S2", grade="4", current_case_manager="E1"),
            student("S3", grade="1"),
            student("S4", services="SPEECH", sai_setting="", primary="SLI", grade="2",
                    current_case_manager="E2"),
            student("S5", grade="5", current_case_manager="E2"),
            student("S6", grade="2", current_case_manager="E1"),
        ],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin",
                "reason": "parent request"},
               {"student_id": "S5", "educator_id": "E2", "kind": "forbid", "reason": ""},
               {"student_id": "S6", "educator_id": "E2", "kind": "forbid", "reason": ""}])
    return folder, plan(load_district(folder))


def _rows(frame: pd.DataFrame, key: str) -> dict[str, dict]:
    return {r[key]: r for r in frame.to_dict("records")}


def test_assignments_columns(elm):
    folder, r = elm
    a = _rows(r.assignments, "student_id")
    got = {s: (x["case_manager_id"], x["role"], x["capacity"],
               None if pd.isna(x["rank"]) else int(x["rank"]), bool(x["kept_current"]))
           for s, x in a.items()}
    assert got == {
        "S1": ("E1", "RSP", "instruction", 0, True),
        "S2": ("E2", "SLP", "coordination", 2, False),
        "S3": ("E2", "SLP", "coordination", 2, False),
        "S4": ("E2", "SLP", "service", 0, True),
        "S5": ("", "", "", None, False),  # unplaced: never "kept"
        "S6": ("E1", "RSP", "instruction", 0, True),
    }
    assert {s: x["school_id"] for s, x in a.items()} == {s: "ELM" for s in a}
    assert {s: x["current_case_manager_id"] for s, x in a.items()} == {
        "S1": "E1", "S2": "E1", "S3": "", "S4": "E2", "S5": "E2", "S6": "E1"}
    assert [a[s]["grade"] for s in sorted(a)] == ["3", "4", "1", "2", "5", "2"]
    assert a["S4"]["primary_disability"] == "SLI" and a["S1"]["primary_disability"] == "SLD"
    assert (a["S4"]["services"], a["S1"]["services"]) == ("SPEECH", "SAI")
    assert (a["S1"]["annual_review"], a["S1"]["triennial_review"]) == ("2027-01-15",
                                                                       "2028-03-01")
    assert (a["S2"]["annual_review"], a["S2"]["triennial_review"]) == ("", "")
    # Reasons: the pin named by student and educator (not its row), its free-text
    # reason last, a better fit without room, why this year's case manager was
    # not kept.
    assert a["S1"]["reason_detail"].startswith("Pinned in locks.csv (S1 to E1). "
                                        "Best-practice case manager: ")
    assert a["S1"]["reason_detail"].endswith("Keeps this year's case manager. "
                                      "Lock reason: parent request")
    assert "A better fit (rank 0) had no room: E1 (RSP, 2/2)" in a["S2"]["reason_detail"]
    assert a["S2"]["reason_detail"].endswith("This year's case manager E1 is full (2/2)")
    assert a["S3"]["reason_detail"].startswith("Coordinator only: ")
    assert a["S5"]["reason_detail"] == ""
    independent_plan = dict(zip(r.assignments["student_id"], r.assignments["case_manager_id"],
                                strict=True))
    assert independent.plan_violations(folder, independent_plan) == []


def test_caseloads_columns(elm):
    _, r = elm
    c = _rows(r.caseloads, "educator_id")
    want = {  # role, schools, cap, load, load_ratio, students, best-practice, name, fte, other
        "E1": ("RSP", "ELM", 2, 2.0, 1.0, 2, 2, "Teacher E1", 1.0, 0.0),
        "E2": ("SLP", "ELM", 5, 4.5, 0.9, 3, 1, "Teacher E2", 0.5, 1.5),
        "E3": ("DHH", "OAK", 20, 0.0, 0.0, 0, 0, "Teacher E3", 1.0, 0.0),
    }
    cols = ["role", "schools", "cap", "load", "load_ratio", "students",
            "best_practice_students", "name", "fte", "other_load"]
    assert {e: tuple(x[k] for k in cols) for e, x in c.items()} == want


def test_unassigned_hiring_and_audit(elm):
    _, r = elm
    assert r.unassigned.to_dict("records") == [
        {"student_id": "S5", "school_id": "ELM",
         "reason": "Every eligible case manager is full: E1 (RSP, 2/2)"}]
    # One RSP student: ceil(10 x 1 / 28) / 10 = 0.1 FTE (rounding would say 0.0).
    assert r.hiring_needs.to_dict("records") == [
        {"school_id": "ELM", "region": "North", "role": "RSP", "credential": "ES-MMSN",
         "students": 1, "fte": 0.1}]
    # Today: E1 carries S1, S2, S6 (3 over a cap of 2); S5 is with E2, forbidden.
    # In canonical order (student, educator, kind), whatever the input order.
    assert r.audit.to_dict("records") == [
        {"kind": "cap exceeded", "student_id": "", "educator_id": "E1",
         "detail": "load 3 (case-managed 3 + other 0) over cap 2 (RSP, FTE 1)"},
        {"kind": "forbid used", "student_id": "S5", "educator_id": "E2",
         "detail": "forbidden in locks.csv"}]


def test_figures(elm):
    _, r = elm
    f = r.figures
    assert (f["students"], f["placed"], f["unplaced"]) == (6, 5, 1)
    assert f["rank_counts"] == {"0": 3, "1": 0, "2": 2}
    assert f["best_practice_share"] == pytest.approx(3 / 5)
    # Five have a case manager on staff now (S3 has none); S1, S4, S6 keep theirs.
    assert (f["with_current_case_manager"], f["kept_current"]) == (5, 3)
    assert f["continuity_share"] == pytest.approx(3 / 5)
    # E3 has no student it may case-manage, so it is not among the case managers.
    assert f["load_ratio"]["educators"] == 2
    assert f["load_ratio"]["max"] == pytest.approx(1.0)
    assert f["load_ratio"]["mean"] == pytest.approx(0.95)
    assert f["load_ratio"]["std"] == pytest.approx(0.05)
    # Terms: one unplaced 1000; ranks 30 + 30; continuity -5 x 3; balance
    # 2 x (2^2 / 2) + 2 x (4.5^2 / 5) = 4 + 8.1.
    assert dict(r.terms) == pytest.approx({"unplaced": 1000.0, "rank": 60.0,
                                           "continuity": -15.0, "balance": 12.1})
    assert r.objective == pytest.approx(1057.1)
    assert r.status == "optimal"


def test_hiring_fte_rounds_up_per_group(make_district):
    """30 RSP students and no teacher: ceil(10 x 30 / 28) / 10 = 1.1 FTE; an SLP
    for 56 speech-only students: ceil(10 x 56 / 55) / 10 = 1.1."""
    students = [student(f"R{i:02}") for i in range(30)]
    students += [student(f"P{i:02}", services="SPEECH", sai_setting="", primary="SLI")
                 for i in range(56)]
    r = plan(load_district(make_district(educators=[educator("X", "OT", "OT-LIC")],
                                         students=students)))
    got = {(h["role"], h["credential"]): (h["students"], h["fte"])
           for h in r.hiring_needs.to_dict("records")}
    assert got == {("RSP", "ES-MMSN"): (30, 1.1), ("SLP", "SLP"): (56, 1.1)}


def test_pins_are_given_to_the_solver(make_district):
    """S1 is pinned to E1 and has no case manager now; S2 has E1 now (a
    continuity bonus) and no one else. E1 has one seat: the pin must win."""
    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1")],
        students=[student("S1"), student("S2", current_case_manager="E1")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin", "reason": ""}])
    r = plan(load_district(folder))
    got = dict(zip(r.assignments["student_id"], r.assignments["case_manager_id"],
                   strict=True))
    assert got == {"S1": "E1", "S2": ""}
    assert independent.plan_violations(folder, got) == []


def test_weighted_hint_drops_heaviest_first_then_in_student_order(make_district):
    """The hint's last resort (no flow rounds left): an educator overfilled by
    weights sheds students heaviest first, ties in student order, until the
    load fits. Cap 10; weights 3,2,2,3,2,2,3,2,2,3 (24): drop the four 3s
    (S0, S3, S6, S9: 12 left), then the first 2 (S1: 10 left)."""
    weights = [3, 2, 2, 3, 2, 2, 3, 2, 2, 3]
    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="10")],
        students=[student(f"S{i}", weight=str(w)) for i, w in enumerate(weights)])
    problem = build_problem(load_district(folder))
    hint = flow.weighted_hint(problem, rounds=0)
    dropped = [str(s) for s in problem.student_ids[hint < 0]]
    assert sorted(dropped) == ["S0", "S1", "S3", "S6", "S9"]
    assert problem.loads(hint)[0] == 10
    # A pinned student is never dropped, however heavy.
    unit = dataclasses.replace(problem, pinned_to=np.where(
        problem.student_ids == "S0", 0, -1))
    hint = flow.weighted_hint(unit, rounds=0)
    assert hint[list(problem.student_ids).index("S0")] == 0


def test_unknown_secondary_disability_code_is_an_error(make_district):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                           students=[student("S1", secondary_disability="999")])
    errors = [p for p in check_district(folder) if p.severity == "error"]
    assert [(p.file, p.row, p.column, p.value) for p in errors] == [
        ("students.csv", 2, "secondary_disability", "999")]
    assert "a disability code or abbreviation" in errors[0].expected
    assert "320/AUT" in errors[0].expected


def test_summary_text(elm):
    _, r = elm
    lines = r.summary().splitlines()
    assert lines[0] == "Plan for elm"
    # The decision in words first (issue 11), then the engine under Technical.
    for want in [
        "  5 of 6 students placed, 1 unplaced; 60% with the best-practice case manager.",
        "  To place them: hire 0.1 FTE RSP with ES-MMSN at Elm Elementary for 1 student.",
        "    best-practice match          3   the type the CTC's best practice names (e.g. "
        "their SAI teacher)",
        "    acceptable                   0   teaches or serves them, not the best-practice type",
        "    coordinator only             2   coordinates the IEP only",
        "  Kept this year's case manager: 3 of 5 who have one on staff (60.0%)",
        "  Caseloads: the fullest at 100% of its cap, on average 95% (spread 0.050; 2 case "
        "managers)",
        "Technical (how the plan was proven):",
        "  objective 1,057.1 points (lower is better) (bound 1,057.1, gap 0.00%)",
        "      unplaced 1,000.0, rank 60.0, continuity -15.0, balance 12.1",
    ]:
        assert want in lines
    # Time per stage, in the order they ran.
    time_line = next(x for x in lines if x.startswith("  time "))
    assert time_line.startswith("  time rules_and_edges ")
    assert [part.split()[0] for part in time_line[7:].split(", ")] == [
        "rules_and_edges", "problem", "components", "flow", "explain"]
    assert any(x.startswith("  status optimal — min-cost flow") for x in lines)
    # One hiring need is said in the headline; no list for it.
    assert lines[-1] == time_line and "Hiring needs (to place the unplaced students):" \
        not in lines
    assert repr(r) == "Result(status='optimal', objective=1057.1, placed=5/6)"


def test_hiring_needs_by_kind_of_student(make_district):
    """Nobody to case-manage anyone but an OT (not a case-manager role). Best
    practice says whom to hire: SDC teacher with the first credential (in the
    pack's order) for autism at extensive support in grade 3, ES-ESN; SLP for
    speech only; the DHH itinerant, counted by region; a coordinator (no
    best-practice type for OT only), counted by region. One each: 0.1 FTE."""
    r = plan(load_district(make_district(
        schools=[SCHOOL, OAK],
        educators=[educator("X", "OT", "OT-LIC")],
        students=[student("S1", sai_setting="sdc", primary="AUT", support_level="extensive"),
                  student("S2", services="SPEECH", sai_setting="", primary="SLI"),
                  student("S3", services="DHH", sai_setting="", primary="HH"),
                  student("S4", services="OT", sai_setting="", primary="OHI"),
                  student("S5", services="OT", sai_setting="", primary="OHI",
                          school="OAK")])))
    assert [tuple(h.values()) for h in r.hiring_needs.to_dict("records")] == [
        ("", "North", "COORD", "", 1, 0.1),
        ("", "North", "DHH", "ES-DHH", 1, 0.1),
        ("", "South", "COORD", "", 1, 0.1),
        ("ELM", "North", "SDC", "ES-ESN", 1, 0.1),
        ("ELM", "North", "SLP", "SLP", 1, 0.1),
    ]
    reasons = dict(zip(r.unassigned["student_id"], r.unassigned["reason"], strict=True))
    assert reasons["S4"] == (
        "No one at this school may case-manage this student: none of the 1 educator(s) at "
        "school ELM may case-manage this student. X (OT): May case-manage: Occupational "
        "therapist (OT) is not a case-manager role in this rule pack")
    assert reasons["S5"] == ("No one at this school may case-manage this student: "
                             "no educator serves school OAK")
    assert r.figures["best_practice_share"] == 0.0 and r.figures["continuity_share"] == 0.0
    assert r.figures["load_ratio"] == {"educators": 0, "max": 0.0, "mean": 0.0, "std": 0.0}


def test_weighted_loads_in_reasons(make_district):
    """E1 (cap 2) holds S1 (weight 1.5, pinned); S2 (weight 1, with E1 now)
    cannot fit and goes to the coordinator; its reason names E1's load."""
    r = plan(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="2"),
                   educator("E2", "COORD")],
        students=[student("S1", weight="1.5"), student("S2", current_case_manager="E1")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin", "reason": ""}])))
    a = _rows(r.assignments, "student_id")
    assert (a["S1"]["case_manager_id"], a["S2"]["case_manager_id"]) == ("E1", "E2")
    assert "A better fit (rank 0) had no room: E1 (RSP, 1.5/2)" in a["S2"]["reason_detail"]
    assert a["S2"]["reason_detail"].endswith("This year's case manager E1 is full (1.5/2)")
    c = _rows(r.caseloads, "educator_id")
    assert (c["E1"]["load"], c["E1"]["load_ratio"], c["E2"]["load"]) == (1.5, 0.75, 1.0)
