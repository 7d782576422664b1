"""Rollover and scenarios carry services.csv (issue 10)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from optimizer import DistrictError, load_district
from optimizer.district.contract import CONTRACT
from optimizer.district.reader import read_district_files
from optimizer.nextyear.rollover import roll_over
from optimizer.nextyear.scenario import (
    AddStudents,
    Forbid,
    Pin,
    RemoveEducator,
    RemoveStudents,
    Scenario,
)
from optimizer.outputs.export import write_rollover
from tests.conftest import educator, student, write_csv

YEAR = dt.date(2027, 9, 1)
SCHOOLS = [{"school_id": "ELM", "name": "Elm", "low_grade": "TK", "high_grade": "5",
            "feeds_into": "MID"},
           {"school_id": "MID", "name": "Mid", "low_grade": "6", "high_grade": "8"}]
STAFF = [educator("E1", "RSP", "ES-MMSN", schools="ELM;MID"),
         educator("E2", "SLP", "SLP", schools="ELM;MID"),
         educator("E3", "SLP", "SLP", schools="ELM;MID")]
STUDENTS = [student("S1", services="SAI;SPEECH", grade="3"),
            student("S2", services="SPEECH", sai_setting="", primary="SLI", grade="8",
                    school="MID"),  # leaves
            student("S3", services="SPEECH", sai_setting="", primary="SLI", grade="5")]
SERVICES = [
    {"student_id": "S1", "service": "SAI", "minutes": "240", "current_provider": "E1",
     "note": "kept"},
    {"student_id": "S1", "service": "415", "minutes": "60", "current_provider": "E2"},
    {"student_id": "S2", "service": "SPEECH", "minutes": "30", "current_provider": "E2"},
    {"student_id": "S3", "service": "SPEECH", "minutes": "90", "current_provider": "E3"},
]


@pytest.fixture
def folder(make_district):
    f = make_district(schools=SCHOOLS, educators=STAFF, students=STUDENTS)
    write_csv(f / "services.csv", SERVICES, [c.name for c in CONTRACT["services"]] + ["note"])
    return f


def roll(folder, **kw):
    return roll_over(read_district_files(folder), load_district(folder), year_start=YEAR, **kw)


def rows(frame: pd.DataFrame) -> list[tuple]:
    return list(frame[["student_id", "service", "minutes", "current_provider"]]
                .itertuples(index=False, name=None))


def test_services_follow_the_students_who_roll_over(folder, tmp_path):
    r = roll(folder)
    assert rows(r.tables["services"]) == [("S1", "SAI", "240", "E1"), ("S1", "415", "60", "E2"),
                                          ("S3", "SPEECH", "90", "E3")]
    assert r.tables["services"]["note"].tolist() == ["kept", "", ""]  # extra columns carried
    assert r.counts()["service rows dropped"] == 1
    dropped = r.report[r.report["event"] == "services dropped"]
    assert dropped[["student_id", "detail"]].values.tolist() == [["S2", "1 row(s): SPEECH"]]
    assert "service rows dropped            1" in r.summary()
    assert r.errors == []
    out = write_rollover(r, tmp_path / "next")
    d = load_district(out)
    assert [(x.student_id, x.service, x.current_provider) for x in d.service_rows] == [
        ("S1", "SAI", "E1"), ("S1", "SPEECH", "E2"), ("S3", "SPEECH", "E3")]


def test_a_plans_providers_become_next_years_current_providers(folder):
    planned = pd.DataFrame({"student_id": ["S1", "S3", "S2"], "service": ["SPEECH", "SPEECH",
                                                                         "SPEECH"],
                            "provider_id": ["E3", "", "E3"]})
    r = roll(folder, plan_services=planned)
    # S1's speech moves to E3, S3's was left unserved by the plan; S1's SAI
    # is not in the plan's table and keeps today's provider.
    assert rows(r.tables["services"]) == [("S1", "SAI", "240", "E1"), ("S1", "415", "60", "E3"),
                                          ("S3", "SPEECH", "90", "")]
    # Counted: the rows that name the plan's provider (S3's is blank: a
    # planner trial saw 2,996 "named" where 1,273 were blank).
    assert r.counts()["providers from the plan"] == 1


def test_a_bad_plan_services_table_is_reported(folder):
    bad = pd.DataFrame({"student_id": ["S9", "S1"], "service": ["SPEECH", "YOGA"],
                        "provider_id": ["E1", "E1"]})
    with pytest.raises(DistrictError) as exc:
        roll(folder, plan_services=bad)
    assert [str(p) for p in exc.value.problems] == [
        "services.csv (plan) row 2, column student_id: 'S9' — a student of this district: the "
        "plan is of another district or year",
        "services.csv (plan) row 3, column service: 'YOGA' — a service code of the rule pack"]
    with pytest.raises(DistrictError) as exc:
        roll(folder, plan_services=pd.DataFrame({"student_id": ["S1"]}))
    assert [p.column for p in exc.value.problems] == ["service", "provider_id"]


def test_new_students_get_rows_and_a_departed_provider_stays_named(folder):
    new = pd.DataFrame([student("N1", services="SAI;OT", grade="K")]).fillna("")
    leave = pd.DataFrame([{"action": "leave", "educator_id": "E3"}])
    r = roll(folder, new_students=new, staff_changes=leave)
    assert rows(r.tables["services"])[-3:] == [("S3", "SPEECH", "90", "E3"),
                                               ("N1", "SAI", "", ""), ("N1", "OT", "", "")]
    assert r.counts()["service rows added"] == 2
    assert r.errors == []
    assert any(p.column == "current_provider" and p.value == "E3" and p.severity == "warning"
               for p in r.issues)


def test_without_services_csv_rollover_writes_none(make_district):
    f = make_district(schools=SCHOOLS, educators=STAFF, students=STUDENTS)
    assert "services" not in roll(f).tables


def test_scenarios_add_and_remove_service_rows(folder):
    d = load_district(folder)
    more = Scenario("two new", (AddStudents("ELM", 2, (("grade", "2"), ("services", "SPEECH;OT"),
                                                       ("primary_disability", "SLI")), seed=3),))
    added = more.apply(d)
    new_rows = [(r.student_id, r.service, r.minutes, r.current_provider)
                for r in added.service_rows if r.student_id.startswith("NEW")]
    assert new_rows == [("NEW3-0001", "SPEECH", None, None), ("NEW3-0001", "OT", None, None),
                        ("NEW3-0002", "SPEECH", None, None), ("NEW3-0002", "OT", None, None)]
    fewer = Scenario("S1 moves away", (RemoveStudents(("S1",)),)).apply(d)
    assert "S1" not in fewer.students
    assert [r.student_id for r in fewer.service_rows] == ["S2", "S3"]
    assert d.service_rows is not None and len(d.service_rows) == 4  # the input is untouched


def test_a_scenario_educator_who_leaves_stays_the_named_provider(folder):
    d = load_district(folder)
    gone = Scenario("E3 leaves", (RemoveEducator("E3"),)).apply(d)
    assert "E3" not in gone.educators
    assert [r.current_provider for r in gone.service_rows if r.student_id == "S3"] == ["E3"]
    assert any(p.column == "current_provider" and p.value == "E3" for p in gone.warnings)


def test_scenario_service_locks(folder):
    d = load_district(folder)
    s = Scenario("keep speech", (Pin("S1", "E3", "family", service="SPEECH"),
                                 Forbid("S3", "E3", service="415")))
    new = s.apply(d)
    assert new.service_pins == {("S1", "SPEECH"): "E3"}
    assert new.service_forbids == frozenset({("S3", "SPEECH", "E3")})
    assert new.pins == {} and new.forbids == frozenset()
    with pytest.raises(DistrictError) as exc:
        Scenario("bad", (Pin("S1", "E1", service="SPEECH"),)).apply(d)
    assert [str(p) for p in exc.value.errors] == [
        "locks (bad) row 2, column educator_id: 'E1' — an educator whose role provides SPEECH "
        "(SLP): E1 is RSP (Resource specialist)"]


def test_scenario_without_services_csv_makes_none(make_district):
    f = make_district(schools=SCHOOLS, educators=STAFF, students=STUDENTS)
    d = load_district(f)
    new = Scenario("x", (RemoveStudents(("S1",)),)).apply(d)
    assert new.service_rows is None and "S1" not in new.students
