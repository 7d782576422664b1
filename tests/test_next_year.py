"""Rollover, scenarios, comparison and stable re-planning."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from optimizer import DistrictError, load_district, plan
from optimizer.cli import main
from optimizer.district.reader import read_district_files
from optimizer.district.tables import district_tables
from optimizer.generator import generate_district
from optimizer.nextyear.compare import compare
from optimizer.nextyear.rollover import next_school_year_start, roll_over
from optimizer.nextyear.scenario import (
    AddEducator,
    AddStudents,
    Forbid,
    MoveStudents,
    Pin,
    RemoveEducator,
    Scenario,
    SetFTE,
    SetObjectiveWeight,
    SetRoleCap,
    SetSchools,
)
from optimizer.outputs.export import write_district, write_plan, write_rollover
from optimizer.outputs.plan_folder import read_plan
from tests.conftest import SAMPLE, educator, student

YEAR = dt.date(2027, 9, 1)
SCHOOLS = [
    {"school_id": "PRE", "name": "Preschool", "low_grade": "PK", "high_grade": "PK",
     "feeds_into": "ELM"},
    {"school_id": "ELM", "name": "Elm", "low_grade": "TK", "high_grade": "5",
     "feeds_into": "MID"},
    {"school_id": "MID", "name": "Mid", "low_grade": "6", "high_grade": "8",
     "feeds_into": "HIGH"},
    {"school_id": "HIGH", "name": "High", "low_grade": "9", "high_grade": "12",
     "feeds_into": "ADULT"},
    {"school_id": "ADULT", "name": "Adult transition", "low_grade": "A", "high_grade": "A"},
    {"school_id": "LONE", "name": "Lone K-8", "low_grade": "K", "high_grade": "8"},
]
STAFF = [educator("E1", "RSP", "ES-MMSN", schools="ELM"),
         educator("E2", "RSP", "ES-MMSN", schools="ELM;MID"),
         educator("E3", "SDC", "ES-ESN", schools="HIGH;ADULT"),
         educator("E4", "RSP", "ES-ECSE", schools="PRE"),
         educator("E5", "RSP", "ES-MMSN", schools="LONE")]


def crafted(make_district, students, locks=None, educators=None):
    return make_district(schools=SCHOOLS, educators=educators or STAFF, students=students,
                         locks=locks)


def roll(folder, **kw):
    return roll_over(read_district_files(folder), load_district(folder), year_start=YEAR, **kw)


def event(r, sid):
    rows = r.report[(r.report["student_id"] == sid) & (r.report["event"] != "hint cleared")]
    return rows.iloc[0].to_dict()


def test_grades_feeders_and_exits(make_district, tmp_path):
    folder = crafted(make_district, [
        student("S1", grade="3", school="ELM"),
        student("S2", grade="5", school="ELM", home_language="Tagalog"),
        student("S3", grade="12", school="HIGH"),
        student("S4", grade="12", school="HIGH", sai_setting="sdc", primary="ID",
                gen_ed_pct="20", adult_transition="yes"),
        student("S5", grade="A", school="ADULT", sai_setting="sdc", primary="ID",
                gen_ed_pct="10", birth_date="2005-06-01"),  # 22 by September 2027
        student("S6", grade="A", school="ADULT", sai_setting="sdc", primary="ID",
                gen_ed_pct="10", birth_date="2008-06-01"),  # 19: stays
        student("S7", grade="PK", school="PRE", birth_date="2022-08-15"),  # 5: K
        student("S8", grade="PK", school="PRE", birth_date="2023-03-01"),  # 4: TK
        student("S9", grade="PK", school="PRE"),  # no birth date: stays in PK
        student("S10", grade="8", school="LONE"),  # no feeder for grade 9
        student("S11", grade="TK", school="ELM"),
    ])
    r = roll(folder)
    got = {sid: (e["event"], e["to_school"], e["to_grade"]) for sid in
           [f"S{i}" for i in range(1, 12)] for e in [event(r, sid)]}
    assert got == {
        "S1": ("promoted", "ELM", "4"), "S2": ("moved school", "MID", "6"),
        "S3": ("left", "", ""), "S4": ("moved school", "ADULT", "A"),
        "S5": ("left", "", ""), "S6": ("kept in grade", "ADULT", "A"),
        "S7": ("moved school", "ELM", "K"), "S8": ("moved school", "ELM", "TK"),
        "S9": ("kept in grade", "PRE", "PK"), "S10": ("left", "", ""),
        "S11": ("promoted", "ELM", "K"),
    }
    assert event(r, "S3")["detail"] == "completed grade 12"
    assert event(r, "S5")["detail"] == "reached 22 (end of adult transition)"
    assert "no feeds_into" in event(r, "S10")["detail"]
    # Everything the planner gave is carried over, and next year's folder is valid.
    out = write_rollover(r, tmp_path / "next")
    nxt = pd.read_csv(out / "students.csv", dtype=str, keep_default_na=False)
    assert nxt.set_index("student_id").at["S2", "home_language"] == "Tagalog"
    assert len(load_district(out).students) == 8
    assert r.counts()["moved school"] == {"ELM -> MID": 1, "HIGH -> ADULT": 1,
                                         "PRE -> ELM": 2}


def test_hints_cleared_only_when_the_case_manager_no_longer_serves(make_district):
    folder = crafted(make_district, [
        student("S1", grade="5", school="ELM", current_case_manager="E1"),  # ELM only
        student("S2", grade="5", school="ELM", current_case_manager="E2"),  # ELM and MID
        student("S3", grade="4", school="ELM", current_case_manager="E1"),  # stays at ELM
        student("S4", grade="3", school="ELM", current_case_manager="E2"),
    ])
    staff = pd.DataFrame([{"action": "leave", "educator_id": "E2"}])
    r = roll(folder)
    students = r.tables["students"].set_index("student_id")["current_case_manager"]
    assert students.to_dict() == {"S1": "", "S2": "E2", "S3": "E1", "S4": "E2"}
    cleared = r.report[r.report["event"] == "hint cleared"]
    assert cleared["detail"].tolist() == ["new school not served: E1 does not serve MID"]
    r2 = roll(folder, staff_changes=staff)
    students = r2.tables["students"].set_index("student_id")["current_case_manager"]
    assert students.to_dict() == {"S1": "", "S2": "", "S3": "E1", "S4": ""}


def test_staff_changes_and_new_students(make_district, tmp_path):
    folder = crafted(make_district, [student("S1", grade="3", school="ELM")])
    staff = pd.DataFrame([
        {"action": "hire", "educator_id": "E9", "name": "New SLP", "role": "SLP",
         "credentials": "SLP", "schools": "ELM;MID", "fte": "1"},
        {"action": "fte", "educator_id": "E1", "fte": "0.5"},
        {"action": "schools", "educator_id": "E5", "schools": "LONE;ELM"},
        {"action": "credentials", "educator_id": "E4", "credentials": "ES-ECSE;ES-MMSN"},
    ])
    new = pd.DataFrame([{"student_id": "N1", "school_id": "ELM", "grade": "K",
                         "primary_disability": "SLI", "services": "SPEECH"}])
    r = roll(folder, staff_changes=staff, new_students=new)
    d = load_district(write_rollover(r, tmp_path / "next"))
    assert d.educators["E9"].role == "SLP" and d.educators["E1"].fte == 0.5
    assert d.educators["E5"].schools == ("LONE", "ELM")
    assert "ES-MMSN" in d.educators["E4"].credentials
    assert "N1" in d.students and r.counts()["added"] == 1


def test_bad_staff_changes_list_every_problem(make_district):
    folder = crafted(make_district, [student("S1", grade="3", school="ELM")])
    staff = pd.DataFrame([{"action": "retire", "educator_id": "E1"},
                          {"action": "leave", "educator_id": "E77"},
                          {"action": "hire", "educator_id": "E1"},
                          {"action": "fte", "educator_id": "E2", "fte": ""}])
    with pytest.raises(DistrictError) as info:
        roll(folder, staff_changes=staff, staff_changes_label="staff.csv")
    got = [(p.file, p.row, p.column, p.value) for p in info.value.problems]
    assert got == [("staff.csv", 2, "action", "retire"), ("staff.csv", 3, "educator_id", "E77"),
                   ("staff.csv", 4, "educator_id", "E1"), ("staff.csv", 5, "fte", "")]


def test_locks_that_no_longer_apply_are_dropped(make_district):
    folder = crafted(make_district, [student("S1", grade="5", school="ELM"),
                                     student("S2", grade="3", school="ELM")],
                     locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin"},
                            {"student_id": "S2", "educator_id": "E1", "kind": "pin"}])
    r = roll(folder)
    assert r.tables["locks"]["student_id"].tolist() == ["S2"]
    dropped = r.report[r.report["event"] == "lock dropped"]["detail"].tolist()
    assert dropped == ["pin E1: E1 does not serve MID"]


def test_next_school_year_start():
    assert next_school_year_start(dt.date(2026, 11, 29)) == dt.date(2027, 9, 1)
    assert next_school_year_start(dt.date(2027, 3, 1)) == dt.date(2027, 9, 1)
    assert next_school_year_start(dt.date(2027, 9, 1)) == dt.date(2028, 9, 1)


def test_rollover_cli(tmp_path, capsys):
    staff = tmp_path / "staff.csv"
    staff.write_text("action,educator_id\nleave,E00001\nsabbatical,E00002\n")
    assert main(["rollover", str(SAMPLE), "--out", str(tmp_path / "n"), "--staff-changes",
                 str(staff)]) == 2
    assert "staff.csv row 3, column action: 'sabbatical'" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()
    staff.write_text("action,educator_id\nleave,E00001\n")
    assert main(["rollover", str(SAMPLE), "--out", str(tmp_path / "n"), "--staff-changes",
                 str(staff), "--year-start", "2027-09-01"]) == 0
    out = capsys.readouterr().out
    assert "moved school" in out and "completed grade 12" in out
    assert (tmp_path / "n" / "rollover_report.csv").exists()


# ------------------------------------------------------------------- scenarios

@pytest.fixture(scope="module")
def sample():
    return load_district(SAMPLE)


def _snapshot(d):
    return {k: v.to_csv(index=False) for k, v in district_tables(d).items()}


def test_scenario_never_mutates_its_input(sample):
    before = _snapshot(sample)
    some = next(iter(sample.students))
    s = Scenario("everything", (
        RemoveEducator("E00001"), SetFTE("E00002", 0.5), SetRoleCap("RSP", 32),
        AddStudents("SCH0008", 5, (("grade", "7"), ("primary_disability", "AUT"),
                                   ("services", "SAI"), ("sai_setting", "rsp")), seed=1),
        MoveStudents((some,), "SCH0002") if sample.students[some].grade in
        ("TK", "K", "1", "2", "3", "4", "5") else SetObjectiveWeight("continuity", 6),
    ))
    after = s.apply(sample)
    assert _snapshot(sample) == before
    assert after is not sample and "E00001" not in after.educators
    assert after.rules.roles["RSP"].cap == 32 and sample.rules.roles["RSP"].cap == 28


def test_composing_two_scenarios_equals_applying_both(sample):
    a = Scenario("a", (RemoveEducator("E00003"), SetRoleCap("SDC", 16)))
    b = Scenario("b", (AddEducator("E99999", "SLP", ("SCH0002",), ("SLP",)),
                       SetFTE("E00004", 0.8)))
    together = (a + b).apply(sample)
    one_by_one = b.apply(a.apply(sample))
    assert _snapshot(together) == _snapshot(one_by_one)
    assert together.rules.roles["SDC"].cap == one_by_one.rules.roles["SDC"].cap == 16
    assert (a + b).name == "a + b" and len((a + b).changes) == 4


def test_each_change_does_what_it_says(sample):
    sid = next(s for s, x in sample.students.items() if x.school_id == "SCH0002")
    eid = next(e for e, x in sample.educators.items() if "SCH0002" in x.schools
               and x.role == "COORD")
    d = Scenario("x", (SetSchools("E00005", ("SCH0001", "SCH0002")), Pin(sid, eid),
                       Forbid(sid, "E00007"), SetObjectiveWeight("balance", 3),
                       AddStudents("SCH0002", 3, (("grade", ["1", "2"]),
                                                  ("primary_disability", "SLI"),
                                                  ("services", "SPEECH")), seed=4))
                 ).apply(sample)
    assert d.educators["E00005"].schools == ("SCH0001", "SCH0002")
    assert d.pins[sid] == eid and (sid, "E00007") in d.forbids
    assert d.rules.objective["balance"] == 3
    added = [s for s in d.students if s.startswith("NEW4-")]
    assert len(added) == 3
    again = Scenario("x", (AddStudents("SCH0002", 3, (("grade", ["1", "2"]),
                                                      ("primary_disability", "SLI"),
                                                      ("services", "SPEECH")), seed=4),)
                     ).apply(sample)
    assert [again.students[s].grade for s in added] == [d.students[s].grade for s in added]


def test_a_scenario_that_breaks_the_rules_says_how(sample):
    with pytest.raises(DistrictError) as info:
        Scenario("bad", (RemoveEducator("NOBODY"),)).apply(sample)
    assert "educator 'NOBODY' to exist" in str(info.value.problems[0])
    with pytest.raises(DistrictError) as info:
        Scenario("bad", (MoveStudents((next(iter(sample.students)),), "NOWHERE"),)
                 ).apply(sample)
    assert info.value.errors[0].column == "school_id"


# ------------------------------------------------ compare, published plan

def test_compare_a_plan_with_itself_is_empty(sample):
    r = plan(sample)
    c = compare(r, r)
    assert c.empty and c.moved.empty and c.loads.empty
    assert (c.headline["delta"] == 0).all()


def test_compare_lists_moves_and_load_changes(sample):
    base = plan(sample)
    slp = base.caseloads.query("role == 'SLP'").sort_values("students").iloc[-1]
    after = plan(Scenario("x", (RemoveEducator(slp.educator_id),)).apply(sample),
                 published=base)
    c = compare(base, after, "base", "x")
    assert set(c.moved["from_case_manager_id"]) == {slp.educator_id}
    assert len(c.moved) == slp.students
    # Loads move, none vanish: the SLP's students went to other case managers.
    assert c.loads["delta"].sum() == pytest.approx(-slp.other_load)
    assert slp.educator_id in set(c.loads["educator_id"])
    assert "change case manager" in c.summary()


def test_compared_hiring_needs_count_whole_students(tmp_path):
    # A need in one plan only: its count in the other is 0, not 0.0 (and its
    # own not 285.0) in comparison_hiring.csv, as a planner's trial found.
    d = load_district(SAMPLE.parent / "sample-services")
    base = plan(d)
    published = read_plan(write_plan(base, tmp_path / "base", xlsx=False))
    busiest = base.caseloads.sort_values(["students", "educator_id"]).iloc[-1]
    after = plan(Scenario("x", (RemoveEducator(busiest.educator_id),)).apply(d),
                 published=base)
    hiring = compare(published, after).hiring
    assert len(hiring) and ((hiring["students_a"] == 0) | (hiring["students_b"] == 0)).any()
    for col in ("students_a", "students_b"):
        assert hiring[col].dtype == "int64"
        assert all("." not in v for v in hiring[col].astype(str))


@pytest.mark.parametrize("n, seed", [(900, 21), (1500, 22), (2500, 23)])
def test_published_plan_moves_only_what_it_must(tmp_path, n, seed):
    d = load_district(write_district(generate_district(n, seed=seed), tmp_path / "d"))
    base = plan(d)
    cl = base.caseloads
    leaving = cl[cl["role"].isin(["RSP", "SDC"])].sort_values(
        ["students", "educator_id"]).iloc[-1]["educator_id"]
    theirs = set(base.assignments.loc[base.assignments["case_manager_id"] == leaving,
                                      "student_id"])
    d2 = Scenario("leaves", (RemoveEducator(leaving),)).apply(d)

    def moved(r):
        new = r.assignments.set_index("student_id")["case_manager_id"]
        old = base.assignments.set_index("student_id")["case_manager_id"]
        return set(new.index[new != old])

    stable, scratch = plan(d2, published=base), plan(d2)
    assert theirs <= moved(stable)
    assert len(moved(stable)) < len(moved(scratch))
    assert stable.figures["published_plan"]["moved"] == len(moved(stable))
    assert stable.figures["placed"] == scratch.figures["placed"]


def test_plan_with_published_plan_and_compare_cli(tmp_path, capsys):
    base = write_plan(plan(load_district(SAMPLE)), tmp_path / "base", xlsx=False)
    assert main(["plan", str(SAMPLE), "--out", str(tmp_path / "again"), "--published",
                 str(base), "--quiet"]) == 0
    assert "  Moved from the published plan: 0 of 1,900" in capsys.readouterr().out.splitlines()
    assert main(["compare", str(base), str(tmp_path / "again")]) == 0
    assert "0 student(s) change case manager" in capsys.readouterr().out
    assert main(["plan", str(SAMPLE), "--out", str(tmp_path / "x"), "--published",
                 str(tmp_path / "nothing")]) == 2
    # Progress says so while the published plan is read (13 s at 100,000 students once).
    assert f"reading the published plan {tmp_path / 'nothing'}" in capsys.readouterr().err
    # --baseline, the former name of --published, still works.
    assert main(["plan", str(SAMPLE), "--out", str(tmp_path / "old"), "--baseline",
                 str(base), "--quiet", "--no-xlsx"]) == 0
    assert "  Moved from the published plan: 0 of 1,900" in capsys.readouterr().out.splitlines()


def test_rollover_cli_reports_bad_new_students(tmp_path, capsys):
    new = tmp_path / "new.csv"
    new.write_text("student_id,school_id,grade,primary_disability,services\n"
                   "N1,SCH0002,K,XYZ,SPEECH\n")
    assert main(["rollover", str(SAMPLE), "--out", str(tmp_path / "n"), "--new-students",
                 str(new), "--year-start", "2027-09-01"]) == 2
    err = capsys.readouterr().err
    assert "has problems to fix before planning" in err
    assert "column primary_disability: 'XYZ'" in err and "Traceback" not in err
