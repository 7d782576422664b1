"""What validation makes of each cell (docs/data-contract.md), worked by hand:
codes and abbreviations in any case, lists with repeats, derived support
levels at the 40% boundary, dates, yes/no cells; and every warning, word for
word, in file order."""

from __future__ import annotations

import datetime as dt

from optimizer import check_district, load_district
from tests.conftest import SCHOOL, educator, student


def test_student_cells(make_district):
    d = load_district(make_district(
        educators=[educator("E1", "SDC", "ES-MMSN")],
        students=[
            student("S1", services="sai; 415 ;SAI", sai_setting="RSP", primary="320",
                    secondary_disability="hh", grade="K", support_level="Extensive",
                    annual_review="2027-01-15", triennial_review="2028-02-29 00:00:00",
                    birth_date="2021-09-01", adult_transition="Y",
                    current_case_manager="E1"),
            student("S2", sai_setting="sdc", gen_ed_pct="40", adult_transition="0"),
            student("S3", sai_setting="sdc", gen_ed_pct="39.5", primary="HH",
                    secondary_disability="210", placement_basis="Secondary"),
            student("S4", services="SPEECH", sai_setting="", weight="2.5", primary="SLI"),
        ]))
    s1, s2, s3, s4 = (d.students[f"S{i}"] for i in range(1, 5))
    assert (s1.services, s1.sai_setting, s1.primary_disability, s1.secondary_disability) == (
        frozenset({"SAI", "SPEECH"}), "rsp", "AUT", "HH")
    assert (s1.support_level, s1.support_level_derived, s1.placement_basis) == (
        "extensive", False, "primary")
    assert (s1.annual_review, s1.triennial_review, s1.birth_date) == (
        dt.date(2027, 1, 15), dt.date(2028, 2, 29), dt.date(2021, 9, 1))
    assert (s1.adult_transition, s2.adult_transition, s3.adult_transition) == (
        True, False, None)
    assert (s1.current_case_manager, s2.current_case_manager) == ("E1", None)
    assert (s1.weight, s4.weight) == (1.0, 2.5)
    # Under 40% of the day in general education in SDC: extensive; 40% is not under.
    assert (s2.support_level, s2.support_level_derived, s2.gen_ed_pct) == (
        "mild_moderate", True, 40.0)
    assert (s3.support_level, s3.support_level_derived) == ("extensive", True)
    assert (s3.placement_basis, s3.basis_disability, s3.other_disability) == (
        "secondary", "ID", "HH")
    assert (s1.basis_disability, s1.other_disability) == ("AUT", "HH")
    assert (s4.sai_setting, s4.support_level, s4.services) == (
        None, "mild_moderate", frozenset({"SPEECH"}))
    assert [s.row for s in (s1, s2, s3, s4)] == [2, 3, 4, 5]


def test_educator_cells(make_district):
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "es-mmsn;ES-MMSN; aa-asd", case_manager="TRUE",
                            fte="0.5", max_caseload="12.5"),
                   educator("E2", "SLP", "SLP", case_manager="n", other_load="4.5",
                            schools="ELM"),
                   educator("E3", "COORD", "")]))
    e1, e2, e3 = d.educators["E1"], d.educators["E2"], d.educators["E3"]
    assert (e1.credentials, e1.case_manager, e1.fte, e1.max_caseload, e1.other_load) == (
        frozenset({"ES-MMSN", "AA-ASD"}), True, 0.5, 12.5, 0.0)
    assert (e2.case_manager, e2.other_load, e2.schools) == (False, 4.5, ("ELM",))
    assert (e3.credentials, e3.case_manager, e3.max_caseload) == (frozenset(), None, None)
    assert (d.cap("E1"), d.cap("E2"), d.cap("E3")) == (12, 55, 30)
    assert [e.row for e in (e1, e2, e3)] == [2, 3, 4]


def test_schools(make_district):
    d = load_district(make_district(schools=[
        {**SCHOOL, "feeds_into": "MID"},
        {"school_id": "MID", "name": "Mid", "low_grade": "6", "high_grade": "8"}],
        educators=[educator("E1", "RSP", "ES-MMSN")]))
    elm, mid = d.schools["ELM"], d.schools["MID"]
    assert (elm.name, elm.low_grade, elm.high_grade, elm.feeds_into, elm.region) == (
        "Elm Elementary", "TK", "5", "MID", "North")
    assert (mid.feeds_into, mid.region) == (None, None)


def test_warnings_word_for_word_in_file_order(make_district):
    problems = check_district(make_district(
        educators=[educator("E1", "RSP", "SLP"), educator("E2", "SDC", "ES-MMSN",
                                                          other_load="25")],
        students=[student("S1", services="SPEECH", sai_setting="rsp", primary="SLI"),
                  student("S2", secondary_disability="SLD", current_case_manager="E9")]))
    got = [(p.file, p.row, p.column, p.value, p.expected, p.severity) for p in problems]
    assert got == [
        ("educators.csv", 2, "credentials", "SLP",
         "a teaching credential for this RSP teacher: without one they may only coordinate",
         "warning"),
        ("educators.csv", 3, "other_load", "25",
         "other load within the cap of 20: this educator can take no case-managed students",
         "warning"),
        ("students.csv", 2, "sai_setting", "rsp",
         "blank: services do not include SAI, so the setting is ignored", "warning"),
        ("students.csv", 3, "secondary_disability", "SLD",
         "a category different from the primary one", "warning"),
        ("students.csv", 3, "current_case_manager", "E9",
         "an educator_id in educators.csv: this case manager is no longer listed "
         "(continuity ignored)", "warning"),
    ]
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "SLP")], students=[student("S1")]))
    assert [(w.file, w.row, w.column) for w in d.warnings] == [
        ("educators.csv", 2, "credentials")]


def test_errors_sorted_by_file_row_and_column(make_district):
    problems = check_district(make_district(
        schools=[{**SCHOOL, "feeds_into": "NOPE"}],
        educators=[educator("E1", "BOSS", "ES-MMSN", fte="2")],
        students=[student("S1", grade="13", primary="XYZ", weight="-1"),
                  student("S1")],
        toml='colour = "blue"\n'))
    got = [(p.file, p.row, p.column) for p in problems]
    assert got == [
        ("district.toml", None, "colour"),
        ("schools.csv", 2, "feeds_into"),
        ("educators.csv", 2, "role"),
        ("educators.csv", 2, "fte"),
        ("students.csv", 2, "grade"),
        ("students.csv", 2, "primary_disability"),
        ("students.csv", 2, "weight"),
        ("students.csv", 3, "student_id"),
    ]
    # File, row, column, the value as typed, and what was expected.
    assert [str(p) for p in problems][2] == (
        "educators.csv row 2, column role: 'BOSS' — a role: "
        "RSP, SDC, SLP, DHH, VI, OM, APE, OT, PT, PSY, COORD")
