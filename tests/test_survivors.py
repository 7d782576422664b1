"""Tests written for mutants that survived `make mutate` (benchmarks/mutation.json):
each asserts, by hand, the behaviour the mutant changed."""

from __future__ import annotations

import pytest

from optimizer import InputIssue, load_district
from optimizer.district.validate import DATE_EXPECTED
from optimizer.planning.problem import build_problem
from tests.conftest import educator, student


def test_frames_for_notebooks(make_district):
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "LH;ES-MMSN", fte="0.5", other_load="2")],
        students=[student("S1", services="SPEECH;SAI", secondary_disability="OHI",
                          gen_ed_pct="80", current_case_manager="E1", weight="1.5")]))
    assert d.students_frame().to_dict("records") == [{
        "student_id": "S1", "school_id": "ELM", "grade": "3", "primary_disability": "SLD",
        "secondary_disability": "OHI", "placement_basis": "primary",
        "support_level": "mild_moderate", "services": "SAI;SPEECH", "sai_setting": "rsp",
        "gen_ed_pct": 80.0, "current_case_manager": "E1", "weight": 1.5}]
    assert d.educators_frame().to_dict("records") == [{
        "educator_id": "E1", "name": "Teacher E1", "role": "RSP", "credentials": "ES-MMSN;LH",
        "schools": "ELM", "fte": 0.5, "cap": 14, "other_load": 2.0}]


def test_problem_text_and_dict():
    p = InputIssue("students.csv", 4, "grade", "13", "a grade code")
    assert str(p) == "students.csv row 4, column grade: '13' — a grade code"
    assert p.as_dict() == {"severity": "error", "file": "students.csv", "row": 4,
                           "column": "grade", "value": "13", "expected": "a grade code"}
    assert str(InputIssue("district.toml", None, None, None, "valid TOML", "warning")) == \
        "district.toml — valid TOML"


def test_educators_frame_joins_schools(make_district):
    oak = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5"}
    from tests.conftest import SCHOOL

    d = load_district(make_district(schools=[SCHOOL, oak], educators=[
        educator("E1", "DHH", "ES-DHH", schools="OAK;ELM")]))
    assert d.educators_frame()["schools"].tolist() == ["OAK;ELM"]


def test_district_error_message_counts_errors(make_district):
    from optimizer import DistrictError

    folder = make_district(educators=[educator("E1", "RSP", "SLP")],
                           students=[student("S1", grade="13"), student("S2", weight="0")])
    with pytest.raises(DistrictError) as err:
        load_district(folder)
    e = err.value
    assert str(e) == ("2 error(s) in the district files; first: students.csv row 2, column "
                      "grade: '13' — a grade code: PK, TK, K, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
                      "11, 12, A")
    assert [(p.row, p.column) for p in e.errors] == [(2, "grade"), (3, "weight")]
    assert [(p.file, p.column) for p in e.warnings] == [("educators.csv", "credentials")]
    assert str(DistrictError([])) == "district has errors"


def test_explain_marks_locks_pass_or_fail(make_district):
    from optimizer import explain

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("E2", "COORD")],
        students=[student("S1"), student("S2")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin", "reason": ""},
               {"student_id": "S2", "educator_id": "E1", "kind": "forbid", "reason": ""}]))
    pin, forbid = explain(d, "S1", "E1")[-1], explain(d, "S2", "E1")[-1]
    assert (pin.rule, pin.ok, pin.reason) == ("Lock in locks.csv", True, "pin")
    assert (forbid.rule, forbid.ok, forbid.reason) == ("Lock in locks.csv", False, "forbid")
    assert [v.rule for v in explain(d, "S1", "E2")][-1] == "May coordinate"


def test_baseline_outweighs_balance(make_district):
    """Baseline S1-S3 with E1, S4 with E2 (both cap 3, nobody has a case
    manager now). Balance alone would split 2 / 2; moving anyone costs 50, so
    the plan keeps 3 / 1 and moves nobody."""
    from optimizer import plan

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="3")],
        students=[student(f"S{i}") for i in range(1, 5)]))
    assert list(plan(d).caseloads["load"]) == [2.0, 2.0]
    r = plan(d, baseline={"S1": "E1", "S2": "E1", "S3": "E1", "S4": "E2"})
    assert list(r.caseloads["load"]) == [3.0, 1.0]
    assert r.figures["published_plan"] == {"students_in_published_plan": 4, "moved": 0,
                                     "moved_because": {}}
    assert r.terms["change"] == 0.0


def test_minmax_with_an_educator_nobody_can_use(make_district):
    """The last educator (by id) has no eligible student: min-max must still
    size its networks for every educator."""
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    oak = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5"}
    from tests.conftest import SCHOOL

    d = load_district(make_district(
        schools=[SCHOOL, oak],
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="4"),
                   educator("E2", "COORD", max_caseload="4"),
                   educator("E3", "RSP", "ES-MMSN", schools="OAK")],
        students=[student(f"S{i}") for i in range(4)]))
    r = plan(d, SolveParams(balance="minmax"))
    # Ceiling: floor(r x 4) + floor(r x 4) >= 4 first at r = 2/4.
    assert r.figures["max_ratio_ceiling"] == pytest.approx(0.5)
    assert list(r.caseloads["load"]) == [2.0, 2.0, 0.0]


def test_weighted_plan_packs_exactly(make_district):
    """Weights 2, 1, 1.5, 1.5 into two caps of 3: the only full packing is
    {2, 1} and {1.5, 1.5}; S1 has E1 now, so E1 takes S1 and S2."""
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="3")],
        students=[student("S1", weight="2", current_case_manager="E1"),
                  student("S2", weight="1"), student("S3", weight="1.5"),
                  student("S4", weight="1.5")]))
    r = plan(d, SolveParams(engine="cpsat"))
    got = dict(zip(r.assignments["student_id"], r.assignments["case_manager_id"],
                   strict=True))
    assert got == {"S1": "E1", "S2": "E1", "S3": "E2", "S4": "E2"}
    assert r.status == "optimal"
    assert r.engine.startswith("CP-SAT per component (1 of 1 proven optimal)")
    assert list(r.caseloads["load"]) == [3.0, 3.0]
    assert r.objective == pytest.approx(r.bound)


def test_lock_cells_required(make_district):
    from optimizer import check_district

    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN")], students=[student("S1")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": ""},
               {"student_id": "S1", "educator_id": "E7", "kind": "forbid"}])
    got = [(p.file, p.row, p.column, p.value, p.expected) for p in check_district(folder)
           if p.severity == "error"]
    assert got == [
        ("locks.csv", 2, "kind", "", "a value: pin or forbid (required)"),
        ("locks.csv", 3, "educator_id", "E7",
         "the educator_id of an educator in educators.csv"),
    ]


def test_hiring_need_without_any_authorizing_credential(make_district):
    """With LAD's categories emptied, no teaching credential covers speech or
    language impairment in the resource program at grade 3 (ECSE stops at K,
    the special class authorization is SDC only): hire an RSP teacher, credential
    unknown (blank)."""
    from optimizer import plan

    r = plan(load_district(make_district(
        educators=[educator("X", "OT", "OT-LIC")], students=[student("S1", primary="SLI")],
        toml="[credentials.ES-LAD]\ncategories = []\n")))
    assert [tuple(h.values()) for h in r.hiring_needs.to_dict("records")] == [
        ("ELM", "North", "RSP", "", 1, 0.1)]


def test_why_this_years_case_manager_was_not_kept(make_district):
    """S1 is with E2 (a coordinator) now and E1 teaches it (best practice):
    E2 is the weaker fit. S2 is with E3, an OT marked case manager, who
    neither teaches, serves nor may coordinate: no longer eligible."""
    from optimizer import plan

    r = plan(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("E2", "COORD"),
                   educator("E3", "OT", "OT-LIC", case_manager="yes")],
        students=[student("S1", current_case_manager="E2"),
                  student("S2", current_case_manager="E3")])))
    reasons = dict(zip(r.assignments["student_id"], r.assignments["reason_detail"], strict=True))
    assert reasons["S1"].endswith(
        "This year's case manager E2 is a weaker fit (coordinator only, rank 2) than E1 "
        "(rank 0)")
    assert reasons["S2"].endswith(
        "This year's case manager E3 may no longer case-manage this student: Teaches the "
        "student's SAI: OT does not teach specialized academic instruction; Provides a "
        "service on the IEP: OT provides OT; none is on this IEP; May coordinate: "
        "Occupational therapist (OT) may not coordinate in this rule pack")


def test_moved_from_the_baseline_for_balance(make_district):
    """With no cost for change, balance splits a baseline of four with E1 into
    2 / 2: two students moved, because of balance."""
    from optimizer import plan
    from optimizer.planning.objective import Objective

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="4"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="4")],
        students=[student(f"S{i}") for i in range(1, 5)]))
    r = plan(d, objective=Objective(change=0.0),
             baseline={f"S{i}": "E1" for i in range(1, 5)})
    assert r.figures["published_plan"]["moved_because"] == {"balance": 2}
    moved = [x for x in r.assignments["reason_detail"] if "Moved from the published plan" in x]
    assert len(moved) == 2 and all(x.endswith(
        "Moved from the published plan: Moved to balance caseloads: E1 carries 2/4, "
        "E2 2/4") for x in moved)


def test_minmax_ceiling_at_the_floor_set_by_other_load(make_district):
    """E1 (cap 10) already carries 5 others: no ceiling below 0.5 is possible,
    and 0.5 itself places both students (with the coordinator, cap 30)."""
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="10", other_load="5"),
                   educator("E2", "COORD")],
        students=[student("S1"), student("S2")]))
    r = plan(d, SolveParams(balance="minmax"))
    assert r.figures["max_ratio_ceiling"] == pytest.approx(0.5)
    assert r.figures["placed"] == 2


def test_minmax_when_every_cap_is_zero(make_district):
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="0")],
        students=[student("S1")]))
    r = plan(d, SolveParams(balance="minmax"))
    assert r.figures["placed"] == 0 and r.figures["max_ratio_ceiling"] == 0.0


def test_verdict_and_decision_values(make_district):
    from optimizer import decide, explain

    d = load_district(make_district(
        educators=[educator("E1", "PSY", "PPS", case_manager="yes"),
                   educator("E2", "OT", "OT-LIC", case_manager="yes"),
                   educator("E3", "OT", "OT-LIC", schools="ELM")],
        students=[student("S1", school="ELM")]))
    v = explain(d, "S1", "E1")
    assert str(v[1]) == "May case-manage: marked case_manager = yes in educators.csv"
    assert v[-1].ok is True and explain(d, "S1", "E2")[-1].ok is False
    no = decide(d, d.students["S1"], d.educators["E2"])
    assert (no.capacity, no.rank, no.reason, no.eligible) == (None, None, "", False)
    gate = decide(d, d.students["S1"], d.educators["E3"])
    assert (gate.capacity, gate.reason) == (None, "")


def test_problem_is_read_only_and_timed(make_district):
    from optimizer import plan

    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                           students=[student("S1")])
    p = build_problem(load_district(folder))
    for name in ("student_ids", "educator_ids", "edge_student", "edge_educator", "edge_rank",
                 "edge_current", "edge_capacity", "edge_reason", "weight", "pinned_to",
                 "cap", "other_load"):
        assert not getattr(p, name).flags.writeable, name
    assert 0 <= p.timings["rules_and_edges"] < 60 and 0 <= p.timings["problem"] < 60
    runtime = plan(load_district(folder)).figures["runtime_s"]
    assert all(0 <= v < 60 for v in runtime.values())


def test_no_edges_no_components(make_district):
    from optimizer import plan

    r = plan(load_district(make_district(educators=[educator("X", "OT", "OT-LIC")],
                                         students=[student("S1")])))
    assert (r.figures["components"], r.figures["largest_component_students"]) == (0, 0)


def test_flow_balance_cost_per_seat(make_district):
    """The k-th student costs balance x (2k - 1) / cap more: with caps 1 and 10,
    two students cost 2 x 1 at E1 against 2 x (1 + 3) / 10 = 0.8 at E2, so
    both go to E2."""
    from optimizer import plan

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="10")],
        students=[student("S1"), student("S2")]))
    r = plan(d)
    assert list(r.caseloads["load"]) == [0.0, 2.0]
    assert r.terms["balance"] == pytest.approx(0.8)


def test_cpsat_minmax_reports_itself(make_district):
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="10"),
                   educator("E2", "COORD")],
        students=[student(f"S{i}") for i in range(6)]))
    cp = plan(d, SolveParams(balance="minmax", engine="cpsat", time_limit=5))
    assert cp.engine.startswith("CP-SAT per component (1 of 1 proven optimal)")
    assert "; min-max first (per component, highest ceiling 0.167)" in cp.engine
    assert cp.figures["balance"] == "minmax"
    assert cp.figures["max_ratio_ceiling"] == pytest.approx(1 / 6, abs=1e-3)


def test_cpsat_portfolio_gives_the_same_packing(make_district):
    """deterministic=False runs CP-SAT as a multi-worker portfolio; the only
    full packing is found all the same."""
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="3")],
        students=[student("S1", weight="2", current_case_manager="E1"),
                  student("S2", weight="1"), student("S3", weight="1.5"),
                  student("S4", weight="1.5")]))
    r = plan(d, SolveParams(engine="cpsat", deterministic=False, time_limit=5))
    assert list(r.caseloads["load"]) == [3.0, 3.0] and r.status == "optimal"


def test_required_cells_compact_dates_and_caps_settings(make_district):
    from optimizer import check_district

    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN")],
        students=[student("", annual_review="20270115"), student("S2")],
        toml="[caps]\nRSP = true\nNURSE = 10\n")
    got = [(p.file, p.row, p.column, p.value, p.expected) for p in check_district(folder)
           if p.severity == "error"]
    roles = "RSP, SDC, SLP, DHH, VI, OM, APE, OT, PT, PSY, COORD"
    # A compact date (20270115) is not read as 2027-01-15 but reported (issue 9:
    # no silent reinterpretation of a date).
    assert got == [
        ("district.toml", None, "caps.RSP", "True", "a whole number from 0 to 1,000"),
        ("district.toml", None, "caps.NURSE", "10", f"a role: one of {roles}"),
        ("students.csv", 2, "student_id", "", "a value: the student's id (required)"),
        ("students.csv", 2, "annual_review", "20270115", DATE_EXPECTED),
    ]


def test_pin_no_rule_allows_lists_every_rule(make_district):
    from optimizer import check_district

    folder = make_district(
        educators=[educator("E1", "OT", "OT-LIC", case_manager="yes")],
        students=[student("S1")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin", "reason": ""}])
    got = [(p.file, p.row, p.column, p.value, p.expected) for p in check_district(folder)
           if p.severity == "error"]
    assert got == [("locks.csv", 2, "educator_id", "E1",
                    "a case manager some rule allows for S1; Teaches the student's SAI: OT "
                    "does not teach specialized academic instruction; Provides a service on "
                    "the IEP: OT provides OT; none is on this IEP; May coordinate: "
                    "Occupational therapist (OT) may not coordinate in this rule pack")]


def test_summary_lists_ten_hiring_needs_then_counts_the_rest(make_district):
    """Eleven schools, one RSP student each and nobody to case-manage them,
    plus one OT-only student: twelve hiring rows. The summary shows ten."""
    from optimizer import plan

    schools = [{"school_id": f"S{i:02}", "name": f"School {i}", "low_grade": "K",
                "high_grade": "5", "region": "North"} for i in range(11)]
    students = [student(f"P{i:02}", school=f"S{i:02}") for i in range(11)]
    students.append(student("OT1", services="OT", sai_setting="", school="S00"))
    # The only educator is an OT, who may not case-manage (a district needs staff).
    ot = educator("X1", "OT", "OT-LIC", schools="S00")
    r = plan(load_district(make_district(schools=schools, educators=[ot], students=students)))
    assert len(r.hiring_needs) == 12
    lines = r.summary().splitlines()
    assert lines[1] == ""
    i = lines.index("Hiring needs (to place the unplaced students):")
    assert lines[i - 1] == ""
    assert lines[i + 1] == "  0.1 FTE COORD at region North for 1 student"
    assert lines[i + 2] == "  0.1 FTE RSP with ES-MMSN at School 0 for 1 student"
    assert len(lines) == i + 12
    assert lines[-1] == "  … and 2 more (hiring_needs.csv)"
    r10 = plan(load_district(make_district(schools=schools[:10], educators=[ot],
                                           students=students[:10])))
    assert r10.summary().splitlines()[-1] == "  0.1 FTE RSP with ES-MMSN at School 9 for 1 student"


def test_student_messages_word_for_word(make_district):
    from optimizer import check_district

    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN")],
        students=[student("S1", grade="7", weight="0"),
                  student("S2", placement_basis="both", services="SAI;YOGA"),
                  student("S3", grade="13", primary="HH", placement_basis="secondary")])
    got = [(p.row, p.column, p.value, p.expected) for p in check_district(folder)
           if p.severity == "error"]
    services = ("each item one of the services SAI, SPEECH, DHH, VI, OM, APE, OT, PT, "
                "COUNSELING, BEHAVIOR, HEALTH, AT, TRANSITION, OTHER")
    assert got == [
        # Checked in different passes, reported in the contract's column order.
        (2, "grade", "7", "a grade that school ELM serves (TK to 5)"),
        (2, "weight", "0", "a number above 0 and at most 100"),
        (3, "placement_basis", "both", "primary or secondary"),
        (3, "services", "YOGA", services),
        (4, "grade", "13", "a grade code: PK, TK, K, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, "
                           "A"),
        (4, "placement_basis", "secondary",
         "placement_basis 'secondary' only with a secondary_disability given"),
    ]


def test_service_credential_lists(make_district):
    import optimizer.rulepacks as rp
    from optimizer import load_rule_pack

    every = sorted(load_rule_pack("ca").credentials)
    pack = load_rule_pack("ca", {"services": {"OT": {"credentials": every}}})
    assert pack.services["OT"].credentials == frozenset(every)
    with pytest.raises(rp.RulePackError) as err:
        load_rule_pack("ca", {"services": {"OT": {"credentials": "OT-LIC"}}})
    assert str(err.value) == "services.OT.credentials: expected a list of codes, got 'OT-LIC'"


def test_cpsat_components_add_up(make_district):
    """Two schools, two components, weighted: CP-SAT's objective is the sum of
    both components' (nothing pinned, no other load) and both are proven."""
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    oak = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5"}
    from tests.conftest import SCHOOL

    d = load_district(make_district(
        schools=[SCHOOL, oak],
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "COORD", schools="OAK", max_caseload="3")],
        students=[student("S1", weight="1.5"), student("S2", weight="1.5", school="OAK"),
                  student("S3", weight="1", school="OAK")]))
    r = plan(d, SolveParams(engine="cpsat"))
    assert r.engine.startswith("CP-SAT per component (2 of 2 proven optimal)")
    # The plan's objective: rank 2 twice (60) and balance 2 x (1.5^2 + 2.5^2) / 3.
    assert r.objective == pytest.approx(60 + 2 * (2.25 + 6.25) / 3, abs=1e-3)
    # CP-SAT's balance is linear between the loads a plan can reach (steps of
    # 0.5 here, the weights' common divisor), so exact at 1.5 and 2.5: 60 +
    # 17/3 in all, summed over both components (in 1/1000 points, rounded).
    # (Chords between whole loads charged 5/3 and 13/3: 66 in all.)
    assert r.figures["cpsat_objective"] == pytest.approx(60 + 2 * (2.25 + 6.25) / 3,
                                                         abs=0.002)


def test_cpsat_minmax_with_a_zero_cap(make_district):
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="0"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="4")],
        students=[student("S1", weight="1.5"), student("S2")]))
    r = plan(d, SolveParams(balance="minmax", time_limit=5))
    assert r.figures["placed"] == 2 and list(r.caseloads["load"]) == [0.0, 2.5]


def test_minmax_with_other_load_above_a_cap(make_district):
    """E1 already carries 30 against a cap of 28 (a warning, not an error): no
    ceiling can be below 30 / 28, and the student goes to the coordinator."""
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", other_load="30"), educator("E2", "COORD")],
        students=[student("S1")]))
    r = plan(d, SolveParams(balance="minmax"))
    assert r.figures["max_ratio_ceiling"] == pytest.approx(30 / 28)
    assert list(r.caseloads["load"]) == [30.0, 1.0]


def test_figures_name_pack_and_status_and_gate_reason(make_district):
    from optimizer import decide, plan

    oak = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5"}
    from tests.conftest import SCHOOL

    d = load_district(make_district(
        schools=[SCHOOL, oak],
        educators=[educator("E1", "RSP", "ES-MMSN", schools="OAK"),
                   educator("E2", "OT", "OT-LIC"), educator("E3", "PT", "PT-LIC")],
        students=[student("S1")]))
    r = plan(d)
    assert (r.figures["rule_pack"], r.figures["status"]) == ("ca", "optimal")
    gate = decide(d, d.students["S1"], d.educators["E1"])
    assert (gate.capacity, gate.reason) == (None, "")
    # Every candidate at the school, each with why not, joined in order.
    assert r.unassigned["reason"].tolist() == [
        "No one at this school may case-manage this student: none of the 2 educator(s) at "
        "school ELM may case-manage this student. E2 (OT): May case-manage: Occupational "
        "therapist (OT) is not a case-manager role in this rule pack; E3 (PT): May "
        "case-manage: Physical therapist (PT) is not a case-manager role in this rule pack"]
