"""Tests written for mutants that survived the second `make mutate` measurement
(benchmarks/mutation.json): each asserts, on a small named case and by hand,
the behaviour a surviving mutant changed. Grouped by the module mutated."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import load_rule_pack
from optimizer.rulepacks import RulePackError

GRADES = ["PK", "TK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "A"]

# ------------------------------------------------------------------ rulepacks/pack.py


@pytest.mark.parametrize("table", ["disabilities", "credentials", "services", "roles",
                                   "rollover"])
def test_a_top_level_table_replaced_by_a_number_names_the_rule_pack(table):
    # district.toml may replace a whole table with a value (merging replaces
    # anything that is not a table); the error names where the key lives.
    with pytest.raises(RulePackError) as err:
        load_rule_pack("ca", {table: 5})
    assert str(err.value) == f"rule pack.{table}: expected <class 'dict'>, got 5"


def test_pack_lists_name_the_pack_table():
    with pytest.raises(RulePackError) as err:
        load_rule_pack("ca", {"pack": {"support_levels": "extensive"}})
    assert str(err.value) == "pack.support_levels: expected <class 'list'>, got 'extensive'"


def test_a_disability_may_list_every_grade():
    pack = load_rule_pack("ca", {"disabilities": {"EMD": {"grades": GRADES}}})
    assert pack.disabilities["EMD"].grades == frozenset(GRADES)


def test_a_new_role_without_cap_kind_is_a_local_default_and_keeps_its_sources():
    pack = load_rule_pack("ca", {"roles": {"AIDE": {
        "name": "Aide", "case_manager": False, "coordinates": False, "cap": 9,
        "cap_source": "board policy 12", "cap_if_only_preschool": 4,
        "cap_if_only_preschool_source": "board policy 13"}}})
    aide = pack.roles["AIDE"]
    assert (aide.cap_kind, aide.cap, aide.cap_source) == ("local default", 9, "board policy 12")
    assert (aide.cap_if_only_preschool, aide.cap_if_only_preschool_source) == (
        4, "board policy 13")


def test_shipped_cap_sources_are_read():
    # Written by hand from ca.toml's [roles.RSP] and [roles.SLP].
    pack = load_rule_pack("ca")
    assert pack.roles["RSP"].cap_source.startswith("EC 56362(c)")
    assert pack.roles["SLP"].cap_if_only_preschool_source.startswith("EC 56441.7(a)")


def test_named_grades_and_their_override():
    pack = load_rule_pack("ca")
    assert (pack.preschool_grade, pack.last_school_grade, pack.adult_transition_grade) == (
        "PK", "12", "A")
    assert load_rule_pack("ca", {"pack": {"adult_transition_grade": "12"}}
                          ).adult_transition_grade == "12"


def test_school_rule_role_lists_take_effect():
    pack = load_rule_pack("ca", {"school_rule": {"district_roles": ["PSY"],
                                                 "region_roles": ["SLP"]}})
    assert (pack.district_roles, pack.region_roles) == (frozenset({"PSY"}), frozenset({"SLP"}))
    shipped = load_rule_pack("ca")
    assert (shipped.district_roles, shipped.region_roles) == (frozenset(), frozenset())


def test_the_default_pack_is_california():
    assert load_rule_pack().name == "ca"
    assert load_rule_pack().roles["RSP"].cap == load_rule_pack("ca").roles["RSP"].cap


@pytest.mark.parametrize("value, ok", [(0, True), (100, True), (100.5, False), (-0.5, False),
                                       (float("nan"), False), (True, False)])
def test_sdc_threshold_range(value, ok):
    over = {"support_level_rule": {"sdc_gen_ed_pct_below": value}}
    if ok:
        assert load_rule_pack("ca", over).sdc_extensive_below_pct == value
    else:
        with pytest.raises(RulePackError, match="sdc_gen_ed_pct_below: expected a number from "
                                                "0 to 100"):
            load_rule_pack("ca", over)


# ------------------------------------------------------------------ district/validate.py

def test_warnings_and_pin_errors_of_a_workbook_name_its_sheets(tmp_path):
    # A workbook's tables are labelled "<file> [<sheet>]", not "<table>.csv":
    # the checks made after the tables are read must use those labels too.
    from optimizer.district.validate import check_district
    from tests.test_validation import _workbook, base

    t = base()
    t["students"][2]["support_level"] = ""  # SDC, 20% gen ed: derived, and it decides
    t["educators"][0]["other_load"] = "40"  # above the RSP cap of 28
    t["educators"].append({"educator_id": "E4", "name": "T4", "role": "SDC",
                           "credentials": "ES-MMSN", "schools": "MID", "fte": "1"})
    got = [(p.file, p.row, p.column, p.severity)
           for p in check_district(_workbook(tmp_path / "d.xlsx", t))]
    assert got == [("d.xlsx [educators]", 2, "other_load", "warning"),
                   ("d.xlsx [students]", None, "support_level", "warning")]

    t = base()
    t["locks"] = [{"student_id": "S3", "educator_id": "E1", "kind": "pin", "reason": ""}]
    got = [(p.file, p.row, p.column, p.severity)
           for p in check_district(_workbook(tmp_path / "d2.xlsx", t))]
    assert got == [("d2.xlsx [locks]", 2, "educator_id", "error")]


def test_district_toml_problems_on_contract_and_other_keys_sort_together(make_district):
    # "name" is also a schools.csv column; "foo" and "caps.RSP" are not: the
    # sort puts every district.toml problem first whatever its key.
    from optimizer.district.validate import check_district
    from tests.conftest import educator, student

    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                           students=[student("S1")],
                           toml='name = 5\nfoo = 1\n[caps]\nRSP = "x"\n')
    got = [(p.file, p.column) for p in check_district(folder)]
    assert sorted(got) == [("district.toml", "caps.RSP"), ("district.toml", "foo"),
                           ("district.toml", "name")]


# ------------------------------------------------------------------ rules/eligibility.py

def test_two_added_authorizations_both_add_their_category(make_district):
    # LH covers SLD and ID only; AA-ASD adds AUT and AA-ED adds ED (ca.toml,
    # CTC added authorizations): both students are taught, not only coordinated.
    from optimizer import decide, load_district
    from tests.conftest import educator, student

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "LH;AA-ASD;AA-ED")],
        students=[student("S1", primary="AUT"), student("S2", primary="ED"),
                  student("S3", primary="OHI")]))
    e = d.educators["E1"]
    got = {sid: (decide(d, d.students[sid], e).capacity, decide(d, d.students[sid], e).rank)
           for sid in ("S1", "S2", "S3")}
    assert got == {"S1": ("instruction", 0), "S2": ("instruction", 0),
                   "S3": ("coordination", 2)}


# ------------------------------------------------------------------ planning/solvers

@pytest.mark.parametrize("seconds, ok", [(0.5, True), (999_999, True), (0, False),
                                         (1e6, False), (True, True), ("5", False)])
def test_time_limit_is_any_positive_number_of_seconds_below_a_million(seconds, ok):
    from optimizer.planning.solvers import SolveParams

    if ok:
        assert SolveParams(time_limit=seconds).time_limit == seconds
    else:
        with pytest.raises(ValueError, match="^time_limit must be a number of seconds between "
                                             "0 and 1,000,000, not "):
            SolveParams(time_limit=seconds)


def _weighted(make_district):
    from optimizer import load_district
    from tests.conftest import educator, student

    return load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="3")],
        students=[student("S1", weight="2"), student("S2"), student("S3", weight="1.5"),
                  student("S4", weight="1.5")]))


def test_flow_engine_refuses_weighted_students(make_district):
    from optimizer.planning.problem import build_problem
    from optimizer.planning.solvers import SolveParams, solve

    with pytest.raises(ValueError) as err:
        solve(build_problem(_weighted(make_district)), SolveParams(engine="flow"))
    assert str(err.value) == "engine 'flow' needs every student weight to be 1; use 'auto'"


def test_weighted_minmax_solve_reports_progress_and_times_cpsat(make_district):
    from optimizer.planning.problem import build_problem
    from optimizer.planning.solvers import SolveParams, solve

    said: list[str] = []
    sol = solve(build_problem(_weighted(make_district)),
                SolveParams(balance="minmax", time_limit=5, progress=said.append))
    # Both caps of 3 filled exactly (2 + 1 and 1.5 + 1.5): the only full packing.
    assert sorted(np.bincount(sol.assignment, minlength=2).tolist()) == [2, 2]
    assert said[0] == "weighted students: building a feasible plan from min-cost flows"
    assert any("proven optimal" in line for line in said[1:]), said
    assert "cpsat" in sol.runtime and "flow_hint" in sol.runtime


def test_flow_engine_text_says_how_costs_are_rounded(make_district):
    from optimizer import load_district
    from optimizer.planning.problem import build_problem
    from optimizer.planning.solvers import SolveParams, solve
    from tests.conftest import educator, student

    d = load_district(make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                                    students=[student("S1")]))
    sol = solve(build_problem(d))
    assert sol.engine == ("min-cost flow (OR-Tools SimpleMinCostFlow, interchangeable "
                          "students and educators pooled): proven optimal; costs rounded to "
                          "1/1000 point; ties by student_id and educator_id")
    minmax = solve(build_problem(d), SolveParams(balance="minmax"))
    assert {"minmax_search", "flow"} <= set(minmax.runtime)


# ------------------------------------------------------------------ planning/explain.py

def test_hiring_credential_skips_a_credential_the_district_made_non_teaching(make_district):
    # Nobody at ELM may case-manage S1 (the only RSP works at MID), so the plan
    # asks to hire an RSP teacher with the first teaching credential of the
    # pack that covers an SLD student, mild/moderate, grade 3: ES-MMSN; once
    # the district says ES-MMSN is not a teaching credential, ES-MM (ES-ESN is
    # extensive only, ES-ECSE ends at K, ES-DHH and ES-VI do not cover SLD).
    from optimizer import load_district, plan
    from tests.conftest import SCHOOL, educator, student

    schools = [SCHOOL, {"school_id": "MID", "name": "Mid", "low_grade": "6",
                        "high_grade": "8"}]
    kw = dict(schools=schools, educators=[educator("E1", "RSP", "ES-MMSN", schools="MID")],
              students=[student("S1")])
    shipped = plan(load_district(make_district(**kw))).hiring_needs
    over = plan(load_district(make_district(
        **kw, toml="[credentials.ES-MMSN]\nteaching = false\n"))).hiring_needs
    assert shipped[["school_id", "role", "credential", "students", "fte"]].values.tolist() == [
        ["ELM", "RSP", "ES-MMSN", 1, 0.1]]
    assert over[["role", "credential"]].values.tolist() == [["RSP", "ES-MM"]]


# ------------------------------------------------------------------ district/model.py

def test_a_district_toml_problem_names_a_key_and_a_csv_problem_a_column():
    from optimizer import InputIssue

    assert str(InputIssue("district.toml", None, "caps.RSP", "x", "a whole number")) == \
        "district.toml, key caps.RSP: 'x' — a whole number"
    assert str(InputIssue("students.csv", 3, "grade", "13", "a grade code")) == \
        "students.csv row 3, column grade: '13' — a grade code"


def test_minutes_capacity_is_the_roles_minutes_times_fte(make_district):
    import dataclasses
    from types import MappingProxyType

    from optimizer import load_district
    from tests.conftest import educator

    d = load_district(make_district(educators=[educator("E1", "SLP", "SLP", fte="0.5")]))
    pack = d.rules
    roles = dict(pack.roles)
    roles["SLP"] = dataclasses.replace(roles["SLP"], minutes_capacity=1800.0)
    d2 = dataclasses.replace(d, rules=dataclasses.replace(pack, roles=MappingProxyType(roles)))
    assert d2.minutes_capacity("E1") == 900.0
    roles["SLP"] = dataclasses.replace(roles["SLP"], minutes_capacity=None)
    d3 = dataclasses.replace(d, rules=dataclasses.replace(pack, roles=MappingProxyType(roles)))
    assert d3.minutes_capacity("E1") is None


# ------------------------------------------------------------------ validate.py: locks

def test_a_pin_and_a_forbid_of_the_same_pair_is_an_error_on_the_pin(make_district):
    from optimizer.district.validate import check_district
    from tests.conftest import educator, student

    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN")], students=[student("S1")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "forbid", "reason": ""},
               {"student_id": "S1", "educator_id": "E1", "kind": "pin", "reason": ""}])
    got = [(p.file, p.row, p.column, p.value, p.expected)
           for p in check_district(folder) if p.severity == "error"]
    assert got == [("locks.csv", 3, "kind", "pin",
                    "a pin or a forbid, not both: row 2 forbids E1 for S1")]


# ------------------------------------------------------------------ rules: school rule

def test_region_roles_outside_the_region_and_a_school_without_one(make_district):
    # An SLP listed in region_roles serves OAK (region North); ELM has no
    # region: the SLP may not case-manage there, and the reason says so.
    from optimizer import decide, load_district
    from tests.conftest import educator, student

    schools = [{"school_id": "ELM", "name": "Elm", "low_grade": "TK", "high_grade": "5",
                "region": ""},
               {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5",
                "region": "North"}]
    d = load_district(make_district(
        schools=schools, educators=[educator("E1", "SLP", "SLP", schools="OAK")],
        students=[student("S1", services="SPEECH", sai_setting="")],
        toml='[school_rule]\nregion_roles = ["SLP"]\n'))
    got = decide(d, d.students["S1"], d.educators["E1"])
    assert (got.capacity, got.rank, got.reason) == (None, None, "")
    assert len(got.failed) == 2
    assert "school ELM is in region (none), not in North" in got.failed[1].reason


# ------------------------------------------------------------------ cpsat progress, summary

def test_progress_lines_report_points_and_the_summary_counts_components(make_district,
                                                                        monkeypatch):
    # Progress every solution (not every 5 s): the last "best so far" is the
    # plan's own points, in points (not CP-SAT's scaled integers).
    import re

    from optimizer import plan
    from optimizer.planning.solvers import SolveParams, cpsat

    monkeypatch.setattr(cpsat, "PROGRESS_EVERY", 0.0)
    said: list[str] = []
    r = plan(_weighted(make_district), SolveParams(engine="cpsat", time_limit=5,
                                                       progress=said.append))
    best = [float(m.group(1).replace(",", "")) for line in said
            if (m := re.search(r"best so far (-?[\d,]+\.\d), bound", line))]
    assert best and best[-1] == pytest.approx(r.objective, abs=0.05)
    assert f"component 1 of 1: proven optimal ({r.objective:,.1f} points)" in said, said
    # One component: all four students can go to either RSP teacher.
    assert "  solved as 1 independent group(s) of students with an option and their " \
           "eligible educators (largest: 4 students)" in r.summary()


def test_weighted_hint_moves_students_instead_of_dropping_them(make_district):
    # Counted as one seat each, both students (weight 3) fit the RSP teacher's
    # cap of 4, and the unit flow puts them there (rank 0): load 6. The hint
    # must take seats away and solve again, placing both with the coordinator
    # (cap 30), not drop one to fit.
    from optimizer import load_district
    from optimizer.planning.problem import build_problem
    from optimizer.planning.solvers.flow import weighted_hint
    from tests.conftest import educator, student

    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="4"), educator("E2", "COORD")],
        students=[student("S1", weight="3"), student("S2", weight="3")])))
    hint = weighted_hint(p)
    assert (hint >= 0).all()
    assert (p.loads(hint) <= p.cap).all()


def test_weighted_minmax_then_balances_below_the_ceiling(make_district):
    # Four students of weight 1.5 and one of weight 1 (7 in all) for three RSP
    # teachers with cap 10. The lowest highest ratio is 0.3 (loads of at most
    # 3); below that ceiling the balance term still spreads them: 3 + 2.5 + 1.5
    # (squares 17.5) beats 3 + 3 + 1 (squares 19).
    from optimizer import load_district, plan
    from optimizer.planning.solvers import SolveParams
    from tests.conftest import educator, student

    d = load_district(make_district(
        educators=[educator(f"E{i}", "RSP", "ES-MMSN", max_caseload="10") for i in range(3)],
        students=[student(f"S{i}", weight="1.5") for i in range(4)] + [student("T1")]))
    r = plan(d, SolveParams(balance="minmax", time_limit=5))
    assert r.figures["max_ratio_ceiling"] == pytest.approx(0.3)
    assert sorted(r.caseloads["load"].tolist()) == [1.5, 2.5, 3.0]


# ------------------------------------------------------------------ check.py, explain.py

def test_audit_is_in_student_order_and_a_full_cap_zero_educator_has_no_ratio(make_district):
    # S1's case manager is E2 and S2's is E1; neither psychologist may
    # case-manage. The audit lists them by student, not by educator. E3 has a
    # cap of 0 and other load 0.5: a load ratio would be infinite, so the
    # caseloads table leaves it blank (NaN), while E1 (cap 20, no load) is 0.
    import math

    from optimizer import load_district, plan
    from optimizer.planning.check import audit_current
    from tests.conftest import educator, student

    d = load_district(make_district(
        educators=[educator("E1", "PSY", "PPS"), educator("E2", "PSY", "PPS"),
                   educator("E3", "RSP", "ES-MMSN", max_caseload="0", other_load="0.5")],
        students=[student("S1", current_case_manager="E2"),
                  student("S2", current_case_manager="E1")]))
    assert [(v.kind, v.student_id, v.educator_id) for v in audit_current(d)] == [
        ("ineligible", "S1", "E2"), ("ineligible", "S2", "E1")]
    r = plan(d)
    ratio = dict(zip(r.caseloads["educator_id"], r.caseloads["load_ratio"], strict=True))
    assert ratio["E1"] == 0.0 and math.isnan(ratio["E3"])
    # Seconds to four decimals (summary.json), not rounded to whole seconds.
    assert all(isinstance(v, float) for v in r.figures["runtime_s"].values())


def test_minmax_ceiling_counts_an_educator_with_a_cap_of_one(make_district):
    # E1 (cap 1) is already full with other load 1: its ratio is 1.0 in every
    # plan, so the lowest ceiling on the highest ratio is 1.0, not the 0.1 of
    # E2 taking the one student.
    from optimizer import load_district, plan
    from optimizer.planning.solvers import SolveParams
    from tests.conftest import educator, student

    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1", other_load="1"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="10")],
        students=[student("S1")]))
    r = plan(d, SolveParams(balance="minmax"))
    assert r.figures["max_ratio_ceiling"] == pytest.approx(1.0)
    assert r.caseloads["load"].tolist() == [1.0, 1.0]
