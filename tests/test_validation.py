"""Bad input: each broken file gives its exact error; all problems at once."""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import sys

import pytest
from openpyxl import Workbook

from optimizer import DistrictError, check_district, load_district
from tests.conftest import ROOT, educator, student, write_csv

BROKEN = ROOT / "tests" / "data" / "broken-many"


def base() -> dict:
    return {
        "schools": [
            {"school_id": "ELM", "name": "Elm Elementary", "low_grade": "TK", "high_grade": "5",
             "feeds_into": "MID"},
            {"school_id": "MID", "name": "Mid Middle", "low_grade": "6", "high_grade": "8"},
        ],
        "educators": [educator("E1", "RSP", "ES-MMSN"), educator("E2", "SLP", "SLP"),
                      educator("E3", "SDC", "ES-ESN", schools="ELM;MID")],
        "students": [student("S1"), student("S2", services="SPEECH", sai_setting="",
                                            primary="SLI"),
                     # support_level given: a derived one that decides who may
                     # teach is a warning of its own (tests/test_rule_fidelity.py).
                     student("S3", grade="7", school="MID", sai_setting="sdc",
                             primary="AUT", gen_ed_pct="20", support_level="extensive")],
        "locks": [],
    }


def errors_of(make_district, tables: dict, toml: str | None = None):
    folder = make_district(schools=tables["schools"], educators=tables["educators"],
                           students=tables["students"], locks=tables["locks"] or None,
                           toml=toml)
    problems = check_district(folder)
    return [p for p in problems if p.severity == "error"], problems


def test_base_district_is_valid(make_district):
    errors, _ = errors_of(make_district, base())
    assert errors == []


def _set(table, i, **kw):
    def mutate(t):
        t[table][i].update(kw)
    return mutate


def _append(table, row):
    def mutate(t):
        t[table].append(row)
    return mutate


# (case, mutation, (file, row, column, value), words the expectation must contain)
CASES = [
    ("unknown grade", _set("students", 0, grade="13"),
     ("students.csv", 2, "grade", "13"), "a grade code"),
    ("grade outside school span", _set("students", 0, grade="7"),
     ("students.csv", 2, "grade", "7"), "a grade that school ELM serves (TK to 5)"),
    ("duplicate student id", _set("students", 1, student_id="S1"),
     ("students.csv", 3, "student_id", "S1"), "already used on row 2"),
    ("dangling school", _set("students", 0, school_id="NOPE"),
     ("students.csv", 2, "school_id", "NOPE"), "a school in schools.csv"),
    ("unknown disability", _set("students", 0, primary_disability="XYZ"),
     ("students.csv", 2, "primary_disability", "XYZ"), "320/AUT"),
    ("secondary basis without low-incidence primary",
     _set("students", 0, secondary_disability="AUT", placement_basis="secondary"),
     ("students.csv", 2, "placement_basis", "secondary"),
     "SLD (Specific Learning Disability) is not"),
    ("secondary basis without a secondary", _set("students", 0, primary_disability="HH",
                                                 placement_basis="secondary"),
     ("students.csv", 2, "placement_basis", "secondary"), "with a secondary_disability given"),
    ("MD as secondary", _set("students", 0, secondary_disability="MD"),
     ("students.csv", 2, "secondary_disability", "MD"), "reported only as primary"),
    ("EMD past age 5", _set("students", 0, primary_disability="EMD"),
     ("students.csv", 2, "primary_disability", "EMD"), "applies only in grades PK, TK, K"),
    ("SAI without setting", _set("students", 0, sai_setting=""),
     ("students.csv", 2, "sai_setting", ""), "required because services include SAI"),
    ("unknown service", _set("students", 0, services="SAI;YOGA"),
     ("students.csv", 2, "services", "YOGA"), "each item one of"),
    ("no services", _set("students", 0, services=""),
     ("students.csv", 2, "services", ""), "(required)"),
    ("bad support level", _set("students", 0, support_level="severe"),
     ("students.csv", 2, "support_level", "severe"), "mild_moderate or extensive"),
    ("gen ed over 100", _set("students", 0, gen_ed_pct="120"),
     ("students.csv", 2, "gen_ed_pct", "120"), "a percentage from 0 to 100"),
    # (03/15/2027 is read: M/D/YYYY as Excel saves a date; a 15th month is not.)
    ("bad date", _set("students", 0, annual_review="15/03/2027"),
     ("students.csv", 2, "annual_review", "15/03/2027"), "YYYY-MM-DD"),
    ("weight zero", _set("students", 0, weight="0"),
     ("students.csv", 2, "weight", "0"), "a number above 0 and at most 100"),
    ("fte zero", _set("educators", 0, fte="0"),
     ("educators.csv", 2, "fte", "0"), "greater than 0 and at most 1"),
    ("fte above one", _set("educators", 0, fte="1.5"),
     ("educators.csv", 2, "fte", "1.5"), "greater than 0 and at most 1"),
    ("fte not a number", _set("educators", 0, fte="full"),
     ("educators.csv", 2, "fte", "full"), "greater than 0 and at most 1"),
    ("unknown credential", _set("educators", 0, credentials="ES-MMSN;CLAD"),
     ("educators.csv", 2, "credentials", "CLAD"), "the credential codes"),
    ("unknown role", _set("educators", 0, role="TEACHER"),
     ("educators.csv", 2, "role", "TEACHER"), "a role: RSP, SDC"),
    ("duplicate educator", _set("educators", 1, educator_id="E1"),
     ("educators.csv", 3, "educator_id", "E1"), "already used on row 2"),
    ("dangling served school", _set("educators", 0, schools="ELM;PINE"),
     ("educators.csv", 2, "schools", "PINE"), "school_ids in schools.csv"),
    ("case_manager not yes/no", _set("educators", 0, case_manager="maybe"),
     ("educators.csv", 2, "case_manager", "maybe"), "yes or no"),
    ("negative other load", _set("educators", 0, other_load="-3"),
     ("educators.csv", 2, "other_load", "-3"), "from 0 to 1,000"),
    # Issue 9: numbers are finite and in range; dates and lists are strict.
    *[(f"max_caseload {v}", _set("educators", 0, max_caseload=v),
       ("educators.csv", 2, "max_caseload", v), "from 0 to 1,000")
      for v in ("inf", "1e400", "99999999999999999999999", "nan", "1_0", "0x10")],
    ("other_load inf", _set("educators", 0, other_load="inf"),
     ("educators.csv", 2, "other_load", "inf"), "from 0 to 1,000"),
    *[(f"weight {v}", _set("students", 0, weight=v),
       ("students.csv", 2, "weight", v), "at most 100") for v in ("inf", "1e400", "1e18")],
    *[(f"date {v}", _set("students", 0, annual_review=v),
       ("students.csv", 2, "annual_review", v), "YYYY-MM-DD")
      for v in ("2026-10-17 garbage!", "2026-10-17T25:00:00", "2026-W42-1", "20261017",
                "2026-10-17T13:00:00",
                # Excel's US dates are month/day/year with the year in full.
                "17/10/2026", "10/17/26", "2/30/2027", "10/17/2026 13:00", "10-17-2026")],
    ("services only separators", _set("students", 0, services=";;"),
     ("students.csv", 2, "services", ";;"), "only separators"),
    ("schools only a separator", _set("educators", 0, schools=";"),
     ("educators.csv", 2, "schools", ";"), "only separators"),
    ("credentials only a separator", _set("educators", 0, credentials=" ; "),
     ("educators.csv", 2, "credentials", ";"), "only separators"),
    ("feeds into unknown", _set("schools", 0, feeds_into="HIGH"),
     ("schools.csv", 2, "feeds_into", "HIGH"), "a school in schools.csv"),
    ("feeds into itself", _set("schools", 0, feeds_into="ELM"),
     ("schools.csv", 2, "feeds_into", "ELM"), "cannot feed into itself"),
    ("grades reversed", _set("schools", 1, low_grade="8", high_grade="6"),
     ("schools.csv", 3, "high_grade", "6"), "at or above low_grade 8"),
    ("lock with unknown student",
     _append("locks", {"student_id": "S9", "educator_id": "E1", "kind": "pin"}),
     ("locks.csv", 2, "student_id", "S9"), "a student in students.csv"),
    ("lock kind unknown",
     _append("locks", {"student_id": "S1", "educator_id": "E1", "kind": "prefer"}),
     ("locks.csv", 2, "kind", "prefer"), "pin or forbid"),
    ("pin no rule allows",
     lambda t: (_set("educators", 1, case_manager="no")(t),
                _append("locks", {"student_id": "S2", "educator_id": "E2", "kind": "pin"})(t)),
     ("locks.csv", 2, "educator_id", "E2"), "May case-manage: marked case_manager = no"),
    ("pin at another school",
     _append("locks", {"student_id": "S3", "educator_id": "E1", "kind": "pin"}),
     ("locks.csv", 2, "educator_id", "E1"),
     "Serves the student's school: serves ELM, not school MID"),
]


@pytest.mark.parametrize("case, mutate, where, words", CASES, ids=[c[0] for c in CASES])
def test_broken_cell_gives_exact_error(make_district, case, mutate, where, words):
    tables = copy.deepcopy(base())
    mutate(tables)
    errors, _ = errors_of(make_district, tables)
    assert len(errors) == 1, [str(e) for e in errors]
    got = errors[0]
    assert (got.file, got.row, got.column, got.value) == where
    assert words in got.expected


def test_pin_and_forbid_on_same_pair(make_district):
    t = base()
    t["locks"] = [{"student_id": "S1", "educator_id": "E1", "kind": "forbid"},
                  {"student_id": "S1", "educator_id": "E1", "kind": "pin"}]
    errors, _ = errors_of(make_district, t)
    assert [(e.row, e.column) for e in errors] == [(3, "kind")]
    assert "row 2 forbids E1 for S1" in errors[0].expected


def test_two_pins_for_one_student(make_district):
    t = base()
    t["locks"] = [{"student_id": "S1", "educator_id": "E1", "kind": "pin"},
                  {"student_id": "S1", "educator_id": "E3", "kind": "pin"}]
    errors, _ = errors_of(make_district, t)
    assert [(e.row, e.column, e.value) for e in errors] == [(3, "student_id", "S1")]


def test_pins_that_overfill_a_cap_name_both(make_district):
    t = base()
    t["educators"][0]["max_caseload"] = "1"
    t["students"].append(student("S4"))
    t["locks"] = [{"student_id": "S1", "educator_id": "E1", "kind": "pin"},
                  {"student_id": "S4", "educator_id": "E1", "kind": "pin"}]
    errors, _ = errors_of(make_district, t)
    assert len(errors) == 1
    assert "E1's cap of 1" in errors[0].expected and "educators.csv row 2" in errors[0].expected


def test_missing_column_is_reported_once_with_found_columns(make_district):
    folder = make_district(**{k: v for k, v in base().items() if k != "locks"})
    rows = [{k: v for k, v in r.items() if k != "grade"} for r in base()["students"]]
    write_csv(folder / "students.csv", rows)
    errors = [p for p in check_district(folder) if p.severity == "error"]
    assert [(e.file, e.row, e.column) for e in errors] == [("students.csv", 1, "grade")]
    assert "found columns: student_id, school_id" in errors[0].expected


def test_missing_file(make_district):
    folder = make_district(**{k: v for k, v in base().items() if k != "locks"})
    (folder / "educators.csv").unlink()
    errors = [p for p in check_district(folder) if p.severity == "error"]
    assert [(e.file, e.row) for e in errors] == [("educators.csv", None)]


def test_every_problem_reported_at_once(make_district):
    t = base()
    t["students"][0]["grade"] = "13"
    t["students"][1]["services"] = "YOGA"
    t["educators"][1]["fte"] = "2"
    t["schools"][1]["feeds_into"] = "NOWHERE"
    errors, _ = errors_of(make_district, t)
    assert {(e.file, e.column) for e in errors} == {
        ("students.csv", "grade"), ("students.csv", "services"), ("educators.csv", "fte"),
        ("schools.csv", "feeds_into")}


def test_departed_current_case_manager_is_a_warning(make_district):
    t = base()
    t["students"][0]["current_case_manager"] = "E99"
    errors, problems = errors_of(make_district, t)
    assert errors == []
    warnings = [p for p in problems if p.severity == "warning"]
    assert [(w.column, w.value) for w in warnings] == [("current_case_manager", "E99")]


def test_extra_columns_are_kept_and_ignored(make_district):
    t = base()
    t["students"][0]["home_language"] = "Spanish"
    errors, _ = errors_of(make_district, t)
    assert errors == []


def test_district_toml_errors(make_district):
    t = base()
    toml = 'rule_pack = "tx"\ncolour = "blue"\n[caps]\nRSP = -1\nNURSE = 10\n'
    errors, _ = errors_of(make_district, t, toml=toml)
    got = {(e.file, e.column) for e in errors}
    assert got == {("district.toml", "rule_pack"), ("district.toml", "colour"),
                   ("district.toml", "caps.RSP"), ("district.toml", "caps.NURSE")}


def test_district_toml_syntax_error(make_district):
    errors, _ = errors_of(make_district, base(), toml="[caps\nRSP = 3")
    assert len(errors) == 1 and errors[0].file == "district.toml"
    assert "valid TOML" in errors[0].expected


def test_district_toml_overrides_caps_and_coordinating_roles(make_district):
    t = base()
    folder = make_district(schools=t["schools"], educators=t["educators"],
                           students=t["students"],
                           toml='coordinating_roles = ["COORD"]\n[caps]\nRSP = 32\n')
    d = load_district(folder)
    assert d.cap("E1") == 32
    assert not d.rules.roles["RSP"].coordinates and d.rules.roles["COORD"].coordinates


def test_fte_prorates_the_cap_rounding_down(make_district):
    t = base()
    t["educators"][0]["fte"] = "0.8"
    t["educators"][1]["fte"] = "0.5"
    t["educators"][2]["max_caseload"] = "9"
    d = load_district(make_district(schools=t["schools"], educators=t["educators"],
                                    students=t["students"]))
    assert (d.cap("E1"), d.cap("E2"), d.cap("E3")) == (22, 27, 9)


def test_load_district_raises_with_every_problem(make_district):
    t = base()
    t["students"][0]["grade"] = "13"
    t["students"][2]["services"] = "SAI;YOGA"
    folder = make_district(schools=t["schools"], educators=t["educators"],
                           students=t["students"])
    with pytest.raises(DistrictError) as info:
        load_district(folder)
    assert len(info.value.errors) == 2


def _workbook(path, tables, skip=()):
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in tables.items():
        if name in skip or not rows:
            continue
        ws = wb.create_sheet(name)
        cols = list(dict.fromkeys(k for r in rows for k in r))
        ws.append(cols)
        for r in rows:
            # Numbers typed as numbers, the way Excel stores them.
            ws.append([float(v) if v.replace(".", "", 1).isdigit() else v
                       for v in (r.get(c, "") for c in cols)])
    wb.save(path)
    return path


def test_excel_workbook_is_read_like_the_csv_files(make_district, tmp_path):
    t = base()
    folder = make_district(schools=t["schools"], educators=t["educators"],
                           students=t["students"])
    from_csv = load_district(folder)
    from_xlsx = load_district(_workbook(tmp_path / "district.xlsx", t))
    assert dict(from_xlsx.students) == dict(from_csv.students)
    assert dict(from_xlsx.educators) == dict(from_csv.educators)
    assert from_xlsx.educators["E1"].fte == 1.0
    assert from_xlsx.students["S3"].grade == "7"  # 7.0 in Excel is grade "7"


def test_excel_workbook_errors_name_the_sheet(tmp_path):
    t = base()
    t["students"][0]["grade"] = "13"
    problems = check_district(_workbook(tmp_path / "d.xlsx", t))
    errors = [p for p in problems if p.severity == "error"]
    assert [(e.file, e.row, e.column) for e in errors] == [
        ("d.xlsx [students]", 2, "grade")]


def test_excel_workbook_missing_sheet(tmp_path):
    problems = check_district(_workbook(tmp_path / "d.xlsx", base(), skip=("educators",)))
    errors = [p for p in problems if p.severity == "error"]
    assert [(e.file, e.value) for e in errors] == [("d.xlsx", "educators")]


def test_shipped_broken_district_exits_2_without_traceback():
    """The deliberately broken folder in tests/data: with --all the CLI lists
    every error and warning, in file order; without, the errors then the
    warnings grouped by kind (50 warnings one by one scrolled the errors off
    screen in a planner trial)."""
    expected = (BROKEN / "expected-problems.txt").read_text().strip().splitlines()
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "validate", str(BROKEN), "--all"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.startswith("  ")]
    assert lines == expected
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "validate", str(BROKEN)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.startswith("  ")]
    warning = expected[-1]  # (the folder's one warning, last)
    assert lines == [*expected[:-1], f"1 × {warning}"]
    assert "1 warning of 1 kind:" in r.stderr


def test_student_weights_by_support_level(make_district):
    t = base()
    t["students"][2]["weight"] = "3"  # a weight in the file wins
    t["students"].append(student("S4", grade="7", school="MID", sai_setting="sdc",
                                 primary="AUT", gen_ed_pct="10"))
    folder = make_district(schools=t["schools"], educators=t["educators"],
                           students=t["students"],
                           toml="[student_weights]\ndefault = 1.0\nextensive = 1.5\n")
    d = load_district(folder)
    assert (d.students["S1"].weight, d.students["S3"].weight, d.students["S4"].weight) == (
        1.0, 3.0, 1.5)
    errors, _ = errors_of(make_district, base(), toml="[student_weights]\nsevere = 2\n")
    assert [e.file for e in errors] == ["district.toml"]
    assert errors[0].column == "student_weights.severe"


def test_other_load_above_the_cap_is_a_warning_and_plans_still_solve(make_district):
    from optimizer import plan
    from optimizer.planning.solvers import SolveParams

    t = base()
    t["educators"][0]["other_load"] = "30"  # RSP cap 28: no room for case management
    t["students"][0]["weight"] = "1.5"  # weighted: the CP-SAT path must stay feasible too
    folder = make_district(schools=t["schools"], educators=t["educators"],
                           students=t["students"])
    d = load_district(folder)
    assert [(w.file, w.row, w.column) for w in d.warnings] == [("educators.csv", 2,
                                                                "other_load")]
    result = plan(d, SolveParams(time_limit=2))
    assert "E1" not in set(result.assignments["case_manager_id"])


@pytest.mark.parametrize("cell, date", [
    ("10/17/2026", dt.date(2026, 10, 17)), ("1/5/2027", dt.date(2027, 1, 5)),
    ("01/05/2027", dt.date(2027, 1, 5)), ("10/17/2026 0:00", dt.date(2026, 10, 17)),
    ("10/17/2026 00:00:00", dt.date(2026, 10, 17)), ("2026-10-17", dt.date(2026, 10, 17))])
def test_a_date_as_excel_saves_it_in_the_united_states_is_read(make_district, cell, date):
    # A planner who opens students.csv in Excel and saves it gets M/D/YYYY in
    # every date cell: 5,709 errors at 1,900 students before (planner trial).
    tables = copy.deepcopy(base())
    _set("students", 0, annual_review=cell, triennial_review=cell, birth_date=cell)(tables)
    d = load_district(make_district(**tables))
    s = d.students[tables["students"][0]["student_id"]]
    assert (s.annual_review, s.triennial_review, s.birth_date) == (date, date, date)


def test_a_file_that_cannot_be_read_does_not_bury_its_own_problem(make_district, tmp_path):
    # A planner trial: educators.csv with its header "FTE" dropped the file, and
    # every educator named in locks.csv and students.csv was then "not in
    # educators.csv": 8 errors and 1,575 warnings around the one that mattered.
    tables = copy.deepcopy(base())
    folder = make_district(**tables)
    text = (folder / "educators.csv").read_text(encoding="utf-8")
    (folder / "educators.csv").write_text(text.replace("role", "rolle", 1), encoding="utf-8")
    (folder / "locks.csv").write_text("student_id,educator_id,kind\nS1,E1,pin\n",
                                      encoding="utf-8")
    problems = check_district(folder)
    mine = [p for p in problems if p.file == "educators.csv"]
    assert [p.column for p in mine if p.row == 1] == ["role"]
    line = next(p for p in mine if p.row is None)
    assert line.severity == "error" and "1 problem(s) in the other files that name " \
        "educators.csv are not listed" in line.expected
    assert not [p for p in problems if p.file != "educators.csv" and "educators.csv" in
                p.expected]
    # The problems of other files that do not follow from it stay listed: an
    # unknown student, and a blank educator (blank whatever educators.csv holds).
    (folder / "locks.csv").write_text("student_id,educator_id,kind\nS9,E1,pin\nS1,,pin\n",
                                      encoding="utf-8")
    listed = {(p.file, p.row, p.column) for p in check_district(folder)}
    assert {("locks.csv", 2, "student_id"), ("locks.csv", 3, "educator_id")} <= listed
    assert ("locks.csv", 2, "educator_id") not in listed
    # A workbook district: the unreadable sheet's own label, its knock-ons counted.
    tables["educators"] = [{**e, "role": ""} | {"rolle": e["role"]} for e in tables["educators"]]
    for e in tables["educators"]:
        del e["role"]
    tables["locks"] = [{"student_id": "S1", "educator_id": "E1", "kind": "pin"}]
    problems = check_district(_workbook(tmp_path / "d.xlsx", tables))
    assert [(p.file, p.row) for p in problems if p.severity == "error"] == [
        ("d.xlsx [educators]", None), ("d.xlsx [educators]", 1)]
    assert "1 problem(s) in the other files that name educators.csv" in problems[0].expected


def test_column_names_in_other_case_and_percent_signs_are_read(make_district):
    # Excel users type "FTE" and format gen_ed_pct as a percentage ("35%").
    tables = copy.deepcopy(base())
    _set("students", 0, gen_ed_pct="35%")(tables)
    folder = make_district(**tables)
    for name in ("educators.csv", "students.csv"):
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        head = lines[0].replace("fte", "FTE").replace("student_id", " Student_ID")
        (folder / name).write_text("\n".join([head, *lines[1:]]) + "\n", encoding="utf-8")
    d = load_district(folder)
    assert d.students["S1"].gen_ed_pct == 35
    assert {e.fte for e in d.educators.values()} == {1.0}
    # Two columns that both fold to one name: neither is taken for it.
    lines = (folder / "educators.csv").read_text(encoding="utf-8").splitlines()
    (folder / "educators.csv").write_text(
        "\n".join([lines[0] + ",Fte", *(x + ",1" for x in lines[1:])]) + "\n", encoding="utf-8")
    errors = [p for p in check_district(folder) if p.severity == "error"]
    assert [(p.file, p.column) for p in errors] == [("educators.csv", "fte")]
    assert errors[0].expected.endswith("(FTE and Fte both spell it: keep one)")
    _set("students", 0, gen_ed_pct="135%")(tables)
    assert [(p.column, p.value) for p in check_district(make_district(**tables))
            if p.severity == "error"] == [("gen_ed_pct", "135%")]


def test_a_list_typed_with_commas_says_the_separator_and_nothing_contrary(make_district):
    # "SAI, SPEECH" gave the error and a warning that the services "do not
    # include SAI" (they do): the error now names the separator, the warning goes.
    tables = copy.deepcopy(base())
    _set("students", 0, services="SAI, SPEECH", sai_setting="rsp")(tables)
    problems = check_district(make_district(**tables))
    mine = [(p.column, p.severity, p.expected) for p in problems if p.row == 2
            and p.file == "students.csv"]
    assert len(mine) == 1 and mine[0][:2] == ("services", "error")
    assert mine[0][2].endswith("(items are separated by ';', not ',')")
    # A setting without SAI among services that are all read still warns.
    _set("students", 0, services="SPEECH")(tables)
    assert [(p.column, p.severity) for p in check_district(make_district(**tables))
            if p.row == 2 and p.file == "students.csv"] == [("sai_setting", "warning")]
