"""Tests written for mutants that survived `make mutate` (benchmarks/mutation.json):
each asserts, by hand, the behaviour the mutant changed."""

from __future__ import annotations

from optimizer import Problem, load_district
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
    p = Problem("students.csv", 4, "grade", "13", "a grade code")
    assert str(p) == "students.csv row 4, column grade: '13' — a grade code"
    assert p.as_dict() == {"severity": "error", "file": "students.csv", "row": 4,
                           "column": "grade", "value": "13", "expected": "a grade code"}
    assert str(Problem("district.toml", None, None, None, "valid TOML", "warning")) == \
        "district.toml — valid TOML"
