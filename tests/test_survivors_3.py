"""Tests written for mutants that survived the third `make mutate` measurement
(benchmarks/mutation.json, issue 13): each asserts, on a small case written by
hand, the exact message or verdict a surviving mutant changed."""

from __future__ import annotations

import pytest

from optimizer import load_district
from optimizer.district.validate import check_district
from optimizer.rules import eligibility as el
from tests.conftest import SCHOOL, educator, student

GRADES_TXT = "a grade code: PK, TK, K, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, A"
ROLES = "RSP, SDC, SLP, DHH, VI, OM, APE, OT, PT, PSY, COORD"  # ca.toml [roles] order


def _errors(folder):
    return [(p.file, p.row, p.column, p.value, p.expected)
            for p in check_district(folder) if p.severity == "error"]


def _ok_educator():
    return educator("E1", "RSP", "ES-MMSN")


# ------------------------------------------------------------------ validate.py: schools


def test_schools_duplicate_id_and_blank_high_grade_messages(make_district):
    elm2 = {**SCHOOL, "name": "Elm Two", "high_grade": ""}
    got = _errors(make_district(schools=[SCHOOL, elm2], educators=[_ok_educator()],
                                students=[student("S1")]))
    assert got == [("schools.csv", 3, "school_id", "ELM",
                    "a unique school_id: already used on row 2"),
                   ("schools.csv", 3, "high_grade", "", f"a value: {GRADES_TXT} (required)")]


def test_schools_unknown_low_grade_lists_the_grade_codes(make_district):
    got = _errors(make_district(schools=[{**SCHOOL, "low_grade": "13"}],
                                educators=[_ok_educator()], students=[student("S1")]))
    assert got == [("schools.csv", 2, "low_grade", "13", GRADES_TXT)]


# ------------------------------------------------------------------ validate.py: educators


def test_educators_blank_id_and_only_separators_in_schools(make_district):
    got = _errors(make_district(educators=[_ok_educator(),
                                           educator("", "RSP", "ES-MMSN", schools=";")],
                                students=[student("S1")]))
    assert got == [
        ("educators.csv", 3, "educator_id", "", "a value: the educator's id (required)"),
        ("educators.csv", 3, "schools", ";",
         "at least one of the school_ids in schools.csv, ';'-separated: this cell holds "
         "only separators")]


def test_an_empty_educators_file_is_named(make_district):
    got = _errors(make_district(educators=[], students=[]))
    assert ("educators.csv", None, None, None,
            "at least one educator: the file has no data rows") in got


# ------------------------------------------------------------------ validate.py: students


def test_students_duplicate_id_bad_percentage_and_yes_no(make_district):
    got = _errors(make_district(
        educators=[_ok_educator()],
        students=[student("S1"), student("S1", gen_ed_pct="101", adult_transition="maybe")]))
    assert got == [("students.csv", 3, "student_id", "S1",
                    "a unique student_id: already used on row 2"),
                   ("students.csv", 3, "gen_ed_pct", "101", "a percentage from 0 to 100"),
                   ("students.csv", 3, "adult_transition", "maybe", "yes or no")]


def test_adult_transition_no_is_read_as_no(make_district):
    d = load_district(make_district(educators=[_ok_educator()],
                                    students=[student("S1", adult_transition="no"),
                                              student("S2", adult_transition="yes")]))
    assert (d.students["S1"].adult_transition, d.students["S2"].adult_transition) == (
        False, True)


def test_students_blank_school_and_grade_are_required(make_district):
    got = _errors(make_district(educators=[_ok_educator()],
                                students=[student("S1", school="", grade="")]))
    assert got == [
        ("students.csv", 2, "school_id", "",
         "a value: the school_id of a school in schools.csv (required)"),
        ("students.csv", 2, "grade", "", f"a value: {GRADES_TXT} (required)")]


def test_a_student_school_id_is_case_sensitive(make_district):
    # Ids are matched as written (school ids are not codes of the pack).
    got = _errors(make_district(educators=[_ok_educator()],
                                students=[student("S1", school="elm")]))
    assert got == [("students.csv", 2, "school_id", "elm",
                    "the school_id of a school in schools.csv")]


def test_an_unknown_disability_lists_code_and_abbreviation(make_district):
    got = _errors(make_district(educators=[_ok_educator()],
                                students=[student("S1", primary="XYZ")]))
    assert len(got) == 1
    assert got[0][:4] == ("students.csv", 2, "primary_disability", "XYZ")
    assert got[0][4].startswith("a disability code or abbreviation: ")
    assert "210/ID" in got[0][4] and "290/SLD" in got[0][4]


def test_a_secondary_disability_outside_its_grades_names_the_secondary_column(make_district):
    # EMD (established medical disability) applies only in PK-K (ca.toml).
    got = _errors(make_district(educators=[_ok_educator()],
                                students=[student("S1", secondary_disability="EMD")]))
    assert [g[:4] for g in got] == [("students.csv", 2, "secondary_disability", "EMD")]
    assert got[0][4].startswith("a category allowed in grade 3: EMD (")


# ------------------------------------------------------------------ validate.py: settings


@pytest.mark.parametrize("toml, column, value", [
    ('[caps]\nFOO = 5\n', "caps.FOO", "5"),
    ('[minutes_capacity]\nFOO = 100\n', "minutes_capacity.FOO", "100"),
    ('coordinating_roles = ["FOO"]\n', "coordinating_roles", "FOO"),
])
def test_an_unknown_role_in_settings_lists_the_roles(make_district, toml, column, value):
    got = _errors(make_district(educators=[_ok_educator()], students=[student("S1")],
                                toml=toml))
    assert got == [("district.toml", None, column, value, f"a role: one of {ROLES}")]


def test_an_unknown_rule_pack_is_one_problem(make_district):
    # The district falls back to the shipped pack to check the rest: the
    # unknown name is reported once, not again when the overrides are merged.
    got = _errors(make_district(educators=[_ok_educator()], students=[student("S1")],
                                toml='rule_pack = "zz"\n[caps]\nRSP = 20\n'))
    assert [(f, c, v) for f, _, c, v, _ in got] == [("district.toml", "rule_pack", "zz")]


# ------------------------------------------------------------------ rules/eligibility.py


def _district(make_district, educators, students):
    return load_district(make_district(educators=educators, students=students))


def test_failed_credential_verdicts_are_false_with_their_reasons(make_district):
    d = _district(make_district,
                  [educator("E1", "RSP", "ES-DHH"), educator("E2", "RSP", "ES-MMSN"),
                   educator("E3", "RSP", "ES-ECSE;ES-ECSE-OLD")],
                  [student("S1"), student("S2", primary="AUT", support_level="extensive"),
                   student("S3", sai_setting="sdc")])
    pack, s, e = d.rules, d.students, d.educators
    # ES-DHH covers DEAF, HH and DB only (ca.toml): not SLD.
    v = el.authorized_for_disability(pack, s["S1"], e["E1"])
    assert v.ok is False and v.reason.startswith("none of ES-DHH covers SLD (")
    # ES-MMSN covers AUT at mild_moderate only.
    v = el.authorized_for_support_level(pack, s["S2"], e["E2"])
    assert (v.ok, v.reason) == (
        False, "ES-MMSN covers AUT only at mild_moderate; this student needs extensive")
    # Both early-childhood credentials cover SLD, neither grade 3.
    v = el.authorized_for_grade(pack, s["S1"], e["E3"])
    assert (v.ok, v.reason) == (
        False, "ES-ECSE covers grades PK–K; ES-ECSE-OLD covers grades PK; "
               "this student is in grade 3")
    v = el.teaches_sai_setting(pack, s["S3"], e["E2"])
    assert (v.ok, v.reason) == (False, "RSP teaches RSP; this student's SAI is in SDC")


def test_best_practice_is_named_only_for_the_best_practice_role(make_district):
    # SAI in RSP plus speech: best practice is the RSP teacher (ca.toml
    # [[best_practice]]); the SLP serves speech and is not best practice.
    d = _district(make_district,
                  [educator("E1", "RSP", "ES-MMSN"), educator("E2", "SLP", "SLP")],
                  [student("S1", services="SAI;SPEECH")])
    rsp = el.decide(d, d.students["S1"], d.educators["E1"])
    slp = el.decide(d, d.students["S1"], d.educators["E2"])
    assert (rsp.capacity, rsp.rank) == ("instruction", 0)
    assert rsp.reason.endswith(")") and " — best practice (" in rsp.reason
    assert (slp.capacity, slp.rank) == ("service", 1)
    assert "best practice" not in slp.reason


# ------------------------------------------------------------------ validate.py: locks


def test_a_pin_of_a_forbidden_pair_reports_the_pin_cell(make_district):
    folder = make_district(
        educators=[_ok_educator()], students=[student("S1")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "PIN", "reason": ""},
               {"student_id": "S1", "educator_id": "E1", "kind": "forbid", "reason": ""}])
    # The cell is reported as the canonical code "pin", whatever its case.
    assert _errors(folder) == [("locks.csv", 2, "kind", "pin",
                                "a pin or a forbid, not both: row 3 forbids E1 for S1")]


# ------------------------------------------------------------------ rulepacks/pack.py


@pytest.mark.parametrize("table, entry", [
    ("disabilities", {"code": "999", "low_incidence": False}),
    ("credentials", {"teaching": False}),
    ("services", {"kind": "related"}),
    ("roles", {"case_manager": False, "cap": 5}),
])
def test_a_new_entry_without_a_name_names_where_it_is(table, entry):
    from optimizer import load_rule_pack
    from optimizer.rulepacks import RulePackError

    with pytest.raises(RulePackError) as err:
        load_rule_pack("ca", {table: {"NEW": entry}})
    assert str(err.value) == f"{table}.NEW: missing key 'name'"


def test_new_service_and_role_defaults():
    from optimizer import load_rule_pack

    pack = load_rule_pack("ca", {"services": {"NEWSVC": {"name": "New", "kind": "related"}},
                                 "roles": {"AIDE": {"name": "Aide", "case_manager": False,
                                                    "coordinates": False, "cap": 5}}})
    assert pack.services["NEWSVC"].codes == ()
    assert pack.roles["AIDE"].cap_source == ""


def test_a_named_grade_outside_the_grades_is_an_error():
    from optimizer import load_rule_pack
    from optimizer.rulepacks import RulePackError

    with pytest.raises(RulePackError) as err:
        load_rule_pack("ca", {"pack": {"adult_transition_grade": "Z"}})
    assert str(err.value) == "pack.adult_transition_grade: expected one of pack.grades, got 'Z'"


# ------------------------------------------------------------------ planning/objective.py


def test_a_bad_continuity_weight_is_named():
    from optimizer.planning.objective import Objective

    with pytest.raises(ValueError) as err:
        Objective.from_settings({"continuity": "x"})
    assert str(err.value) == "objective.continuity: expected a number, got 'x'"


# ------------------------------------------------------------------ validate.py: problem order


def test_district_toml_problems_come_before_a_missing_file(make_district):
    # The missing schools.csv is found (by the reader) before district.toml is
    # checked; a planner still reads district.toml's problems first, a key
    # that is no column ("foo") before one that is ("name").
    folder = make_district(educators=[_ok_educator()], students=[student("S1")],
                           toml="name = 5\nfoo = 1\n")
    (folder / "schools.csv").unlink()
    problems = check_district(folder)
    got = [(p.file, p.row, p.column, p.value) for p in problems]
    # (The school ids of educators.csv and students.csv, "not in schools.csv"
    # only because it is missing, are counted on a line of its own.)
    assert got == [("district.toml", None, "foo", None), ("district.toml", None, "name", "5"),
                   ("schools.csv", None, None, None), ("schools.csv", None, None, None)]
    assert "2 problem(s) in the other files that name schools.csv" in problems[-1].expected
