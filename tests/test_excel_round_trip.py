"""The Excel round trip (issue 11, item 5): drop-downs of exactly the eligible
educators, `check` of an edited plan.xlsx naming sheet/row/column, and
`plan --keep plan.xlsx` keeping every legal edit as a pin."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import range_boundaries

from optimizer import edge_table, load_district, plan
from optimizer.cli import main
from optimizer.nextyear.keep import keep_edits
from optimizer.outputs.edit_sheet import EDIT_SHEET, LISTS_SHEET, PLANNED_HEADER
from tests.conftest import SAMPLE, SCHOOL, educator, student, write_district

CM_COL = 4  # column D: "Case manager"


@pytest.fixture(scope="module")
def district():
    return load_district(SAMPLE)


@pytest.fixture(scope="module")
def edges(district):
    return edge_table(district)


@pytest.fixture(scope="module")
def eligible(edges):
    return edges.groupby("student_id", sort=False)["educator_id"].agg(list).to_dict()


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("rt") / "plan"
    assert main(["plan", str(SAMPLE), "--out", str(out), "--quiet"]) == 0
    return out


def _sheet_rows(ws):
    header = [c.value for c in ws[1]]
    return header, {r[0].value: r for r in ws.iter_rows(min_row=2)}


@pytest.fixture(scope="module")
def sheet_values(planned):
    """The Edit sheet of the real plan.xlsx, as values (read once)."""
    wb = load_workbook(planned / "plan.xlsx", read_only=True)
    values = [list(r) for r in wb[EDIT_SHEET].iter_rows(values_only=True)]
    wb.close()
    return values


class _Cell:
    def __init__(self, row, values, i):
        self.row, self._values, self._i = row, values, i

    @property
    def value(self):
        return self._values[self._i]

    @value.setter
    def value(self, v):
        self._values[self._i] = v


def _edited(sheet_values, tmp_path, change):
    """The Edit sheet as the planner saved it: ``change(rows)`` edits cells
    (rows: student id -> cells), saved as an .xlsx with that one sheet (loading
    and saving the whole plan.xlsx in every test is slow; the real file is
    read back in test_check_of_a_planted_violation_in_the_real_workbook)."""
    values = [list(r) for r in sheet_values]
    rows = {v[0]: [_Cell(r, v, i) for i in range(len(v))]
            for r, v in enumerate(values[1:], start=2)}
    change(rows)
    wb = Workbook()
    ws = wb.active
    ws.title = EDIT_SHEET
    for v in values:
        ws.append(v)
    path = tmp_path / "edited.xlsx"
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def full_workbook(planned):
    return load_workbook(planned / "plan.xlsx")


def test_each_students_drop_down_lists_exactly_their_eligible_educators(full_workbook, eligible,
                                                                         district):
    wb = full_workbook
    ws, lists = wb[EDIT_SHEET], wb[LISTS_SHEET]
    assert lists.sheet_state == "hidden"
    header, rows = _sheet_rows(ws)
    assert header[CM_COL - 1] == "Case manager"
    list_of_row: dict[int, list[str]] = {}
    for dv in ws.data_validations.dataValidation:
        assert dv.type == "list" and dv.showErrorMessage
        sheet, cells = dv.formula1.split("!")
        assert sheet.strip("'") == LISTS_SHEET
        c1, r1, c2, r2 = range_boundaries(cells.replace("$", ""))
        choices = [lists.cell(r1, c).value for c in range(c1, c2 + 1)]
        ids = [str(v).split(" — ")[0] for v in choices]
        # Each choice names the educator after the id.
        assert choices == [f"{e} — {district.educators[e].name}" for e in ids]
        for rng in dv.sqref.ranges:
            assert rng.min_col == rng.max_col == CM_COL
            for r in range(rng.min_row, rng.max_row + 1):
                assert r not in list_of_row, f"row {r} has two drop-downs"
                list_of_row[r] = ids
    assert len(rows) == len(district.students)
    for sid, row in rows.items():
        expected = eligible.get(sid, [])
        got = list_of_row.get(row[0].row, [])
        assert sorted(got) == sorted(expected), sid


def test_workbook_carries_what_the_plan_chose_in_a_hidden_column(planned, full_workbook):
    ws = full_workbook[EDIT_SHEET]
    header, rows = _sheet_rows(ws)
    col = header.index(PLANNED_HEADER)
    letter = ws.cell(1, col + 1).column_letter
    assert ws.column_dimensions[letter].hidden
    a = pd.read_csv(planned / "assignments.csv", dtype=str, keep_default_na=False)
    plan_cm = dict(zip(a["student_id"], a["case_manager_id"], strict=True))
    for sid, row in rows.items():
        assert (row[col].value or "") == plan_cm[sid]
        assert str(row[CM_COL - 1].value or "").split(" — ")[0] == plan_cm[sid]


def test_check_of_the_unedited_workbook_finds_nothing(planned, capsys):
    assert main(["check", str(SAMPLE), str(planned / "plan.xlsx")]) == 0


def test_check_names_sheet_row_and_column_of_a_planted_violation(sheet_values, eligible, district,
                                                                 tmp_path, capsys):
    planted = {}

    def change(rows):
        for sid, row in rows.items():
            allowed = set(eligible.get(sid, []))
            outsider = next((e for e in sorted(district.educators) if e not in allowed), None)
            if outsider and sid not in district.pins:
                row[CM_COL - 1].value = outsider
                planted.update(sid=sid, eid=outsider, row=row[0].row)
                return

    path = _edited(sheet_values, tmp_path, change)
    assert main(["check", str(SAMPLE), str(path)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if planted["sid"] in x)
    assert f"sheet '{EDIT_SHEET}' row {planted['row']}, column D (Case manager)" in line
    assert "ineligible" in line and planted["eid"] in line


def test_check_of_a_broken_pin_in_the_workbook(sheet_values, eligible, district, tmp_path, capsys):
    sid, pinned = sorted(district.pins.items())[0]
    other = next(e for e in sorted(district.educators) if e != pinned)
    row_no = {}

    def change(rows):
        rows[sid][CM_COL - 1].value = other
        row_no["r"] = rows[sid][0].row

    path = _edited(sheet_values, tmp_path, change)
    assert main(["check", str(SAMPLE), str(path)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "pin broken:" in x)
    assert f"row {row_no['r']}, column D (Case manager)" in line and sid in line


def test_check_of_an_unreadable_workbook_exits_2(sheet_values, tmp_path, capsys):
    junk = tmp_path / "plan.xlsx"
    junk.write_text("not a workbook")
    assert main(["check", str(SAMPLE), str(junk)]) == 2
    assert "cannot be opened as .xlsx" in capsys.readouterr().err
    wb = Workbook()
    wb.active.title = "Summary"
    wb.save(tmp_path / "no-sheet.xlsx")
    assert main(["check", str(SAMPLE), str(tmp_path / "no-sheet.xlsx")]) == 2
    assert f"a sheet '{EDIT_SHEET}'; found sheets: Summary" in capsys.readouterr().err
    first = sheet_values[1][0]

    def twice(rows):
        next(r for sid, r in rows.items() if r[0].row == 3)[0].value = first

    path = _edited(sheet_values, tmp_path, twice)
    assert main(["check", str(SAMPLE), str(path)]) == 2
    err = capsys.readouterr().err
    assert f"sheet '{EDIT_SHEET}' row 3, column A (Student)" in err and "already on row 2" in err


def test_check_of_a_planted_violation_in_the_real_workbook(planned, eligible, district,
                                                           tmp_path, capsys):
    wb = load_workbook(planned / "plan.xlsx")
    ws = wb[EDIT_SHEET]
    cell = ws.cell(2, CM_COL)
    sid = ws.cell(2, 1).value
    outsider = next(e for e in sorted(district.educators) if e not in eligible.get(sid, []))
    cell.value = outsider
    wb.save(tmp_path / "plan.xlsx")
    assert main(["check", str(SAMPLE), str(tmp_path / "plan.xlsx")]) == 1
    out = capsys.readouterr().out
    # The finding names its place, then the student and the educator (name and id).
    line = next(x for x in out.splitlines()
                if f"sheet '{EDIT_SHEET}' row 2, column D (Case manager): ineligible: " in x)
    assert f"{sid} / " in line and f"({outsider})" in line


def _legal_edits(district, eligible, rows, n):
    """n edits to another eligible educator with room under the cap."""
    a = {sid: r[7].value or "" for sid, r in rows.items()}
    load = pd.Series(a).value_counts()
    done = []
    for sid, row in rows.items():
        if sid in district.pins or not a[sid]:
            continue
        room = [e for e in eligible.get(sid, []) if e != a[sid]
                and load.get(e, 0) + district.educators[e].other_load + 1
                <= district.cap(e) - 1]
        if room:
            row[CM_COL - 1].value = room[-1]
            load[room[-1]] = load.get(room[-1], 0) + 1
            done.append((sid, room[-1]))
            if len(done) == n:
                return done
    return done


def test_keep_keeps_every_legal_edit_and_moves_fewer_than_a_fresh_plan(
        planned, sheet_values, district, eligible, tmp_path, capsys):
    edits = []
    path = _edited(sheet_values, tmp_path, lambda rows: edits.extend(
        _legal_edits(district, eligible, rows, 12)))
    assert len(edits) == 12
    out = tmp_path / "v2"
    assert main(["plan", str(SAMPLE), "--keep", str(path), "--out", str(out), "--quiet"]) == 0
    assert "12 found, 12 kept as pins" in capsys.readouterr().out
    before = pd.read_csv(planned / "assignments.csv", dtype=str, keep_default_na=False)
    after = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
    was = dict(zip(before["student_id"], before["case_manager_id"], strict=True))
    now = dict(zip(after["student_id"], after["case_manager_id"], strict=True))
    for sid, eid in edits:
        assert now[sid] == eid
    edited = {s for s, _ in edits}
    moved = sum(now[s] != was[s] for s in was if s not in edited)
    # A fresh plan of the same district with the same pins, without the plan to keep.
    kept = keep_edits(district, [(s, dict(edits).get(s, was[s]), was[s], "") for s in was])
    fresh = plan(kept.district).assignments
    fresh_cm = dict(zip(fresh["student_id"], fresh["case_manager_id"], strict=True))
    fresh_moved = sum(fresh_cm[s] != was[s] for s in was if s not in edited)
    assert moved < fresh_moved
    assert main(["check", str(SAMPLE), str(out)]) == 0


def test_keep_reports_an_illegal_edit_and_does_not_apply_it(sheet_values, district, eligible,
                                                            tmp_path, capsys):
    bad = {}

    def change(rows):
        for sid, row in rows.items():
            allowed = set(eligible.get(sid, []))
            outsider = next((e for e in sorted(district.educators) if e not in allowed), None)
            if outsider and sid not in district.pins:
                row[CM_COL - 1].value = outsider
                bad.update(sid=sid, eid=outsider, row=row[0].row)
                return

    path = _edited(sheet_values, tmp_path, change)
    out = tmp_path / "v2"
    assert main(["plan", str(SAMPLE), "--keep", str(path), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if bad["sid"] in x)
    assert bad["eid"] in line and f"row {bad['row']}" in line
    after = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
    assert after.set_index("student_id").loc[bad["sid"], "case_manager_id"] != bad["eid"]


def test_a_cleared_cell_is_no_finding_of_this_year(planned, sheet_values, district,
                                                                tmp_path, capsys):
    """Clearing a student's case manager forbids the plan's choice for next
    year; this year's assignment to them is no broken rule (audit.csv), and
    the district's warnings are its files' (warnings.csv, the terminal)."""
    before = pd.read_csv(planned / "audit.csv", dtype=str, keep_default_na=False)
    cleared = {}

    def change(rows):
        for sid, row in rows.items():
            s = district.students[sid]
            planned = row[7].value  # the hidden "Plan's case manager"
            if sid not in district.pins and planned and planned == s.current_case_manager:
                cleared.update(sid=sid, eid=planned)
                row[CM_COL - 1].value = None
                return

    path = _edited(sheet_values, tmp_path, change)
    out = tmp_path / "v2"
    assert main(["plan", str(SAMPLE), "--keep", str(path), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "1 found, 1 kept (0 case manager(s) chosen, 1 cleared)" in said
    after = pd.read_csv(out / "audit.csv", dtype=str, keep_default_na=False)
    assert after.equals(before)
    # The district's warnings keep their files' names (the edits touch no such file).
    assert "the planner's edits" not in said
    warned = pd.read_csv(out / "warnings.csv", dtype=str, keep_default_na=False)
    assert warned.equals(pd.read_csv(planned / "warnings.csv", dtype=str,
                                     keep_default_na=False))
    now = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
    assert now.set_index("student_id").at[cleared["sid"], "case_manager_id"] != cleared["eid"]


def test_keep_of_a_plan_folder_needs_the_original(planned, tmp_path, capsys):
    assert main(["plan", str(SAMPLE), "--keep", str(planned), "--out",
                 str(tmp_path / "v2"), "--quiet"]) == 2
    assert "--published" in capsys.readouterr().err


def test_keep_of_a_plan_folder_against_the_published_original(planned, district, tmp_path,
                                                              capsys):
    edited = tmp_path / "edited"
    shutil.copytree(planned, edited)
    a = pd.read_csv(edited / "assignments.csv", dtype=str, keep_default_na=False)
    i = a.index[(a["case_manager_id"] != "") & ~a["student_id"].isin(district.pins)][0]
    sid, was = a.at[i, "student_id"], a.at[i, "case_manager_id"]
    a.at[i, "case_manager_id"] = ""  # the planner clears a case manager: never this one
    a.to_csv(edited / "assignments.csv", index=False)
    out = tmp_path / "v2"
    assert main(["plan", str(SAMPLE), "--keep", str(edited), "--published", str(planned),
                 "--out", str(out), "--quiet"]) == 0
    assert "1 found, 1 kept" in capsys.readouterr().out
    after = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
    assert after.set_index("student_id").loc[sid, "case_manager_id"] != was


def test_edits_past_a_cap_are_rejected_in_row_order(tmp_path):
    folder = write_district(tmp_path / "d", educators=[
        educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
        educator("E2", "RSP", "ES-MMSN", max_caseload="1"),
    ], students=[student("S1"), student("S2"), student("S3")])
    d = load_district(folder)
    k = keep_edits(d, [("S1", "E2", "E1", "row 2"), ("S2", "E2", "E1", "row 3"),
                       ("S3", "E1", "E1", "row 4")])
    assert [e.student_id for e in k.edits] == ["S1", "S2"]
    assert [e.student_id for e in k.kept] == ["S1"]
    assert [(r.edit.student_id, r.rule) for r in k.rejected] == [("S2", "caseload cap")]
    assert k.district.pins == {"S1": "E2"}
    assert plan(k.district, published=k.published).assignments.set_index(
        "student_id").loc["S1", "case_manager_id"] == "E2"


def test_an_edit_against_a_locks_csv_pin_is_rejected(tmp_path):
    folder = write_district(tmp_path / "d", educators=[
        educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN")],
        students=[student("S1")],
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin", "reason": "family"}])
    d = load_district(folder)
    k = keep_edits(d, [("S1", "E2", "E1", "row 2")])
    assert not k.kept and k.rejected[0].rule == "pin" and "E1" in k.rejected[0].detail


def test_a_mistyped_student_id_is_refused_not_passed_over(tmp_path):
    """A planner's trial retyped a student id in the sheet (S000187 -> S9999999)
    and `--keep` said "0 found": the row is an edit refused with its rule, and
    the real student is planned like the rest."""
    folder = write_district(tmp_path / "d", educators=[educator("E1", "RSP", "ES-MMSN")],
                            students=[student("S1"), student("S2")])
    d = load_district(folder)
    k = keep_edits(d, [("S1", "E1", "E1", "row 2"), ("S9", "E1", "E1", "row 3")])
    assert [(r.edit.student_id, r.rule) for r in k.rejected] == [("S9", "unknown student")]
    assert "S9" not in k.published and not k.kept
    assert str(k.rejected[0]) == ("S9 (row 3): E1 — unknown student: no such student in "
                                  "students.csv")


@pytest.mark.parametrize("typed, hint", [
    ("e00002", "did you mean 'E00002 — Keiko Khan'?"),     # another case
    ("Keiko Khan", "did you mean 'E00002 — Keiko Khan'?"),  # the name, not the id
    ("E0002", "did you mean 'E00002 — Keiko Khan'?"),      # a digit short
    ("Z", ""),                                             # nothing near
])
def test_an_unknown_educator_gets_a_did_you_mean(tmp_path, typed, hint):
    folder = write_district(tmp_path / "d", educators=[
        educator("E00002", "RSP", "ES-MMSN", name="Keiko Khan"),
        educator("E00009", "RSP", "ES-MMSN", name="Omar Diaz")], students=[student("S1")])
    k = keep_edits(load_district(folder), [("S1", typed, "E00009", "row 2")])
    (refused,) = k.rejected
    assert refused.rule == "unknown educator"
    assert (hint in refused.detail) if hint else "did you mean" not in refused.detail
    assert "drop-down" in refused.detail


def test_keep_names_the_sheet_row_and_column_of_a_refused_edit(sheet_values, tmp_path, capsys):
    def change(rows):
        row = next(iter(rows.values()))
        row[CM_COL - 1].value = "E000O9"  # a letter O for a zero
        change.row = row[0].row

    path = _edited(sheet_values, tmp_path, change)
    assert main(["plan", str(SAMPLE), "--keep", str(path), "--out", str(tmp_path / "v"),
                 "--quiet", "--no-xlsx"]) == 1
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "E000O9" in x)
    assert f"sheet '{EDIT_SHEET}' row {change.row}, column D (Case manager)" in line
    assert "did you mean 'E00009" in line


def test_an_error_cell_is_read_as_its_error_not_as_a_cleared_cell(sheet_values, tmp_path):
    """A formula the planner typed that evaluates to #N/A: calamine gives an
    error cell as blank, which would read as "case manager cleared" (a forbid
    of the plan's one). It is read as its error text, and refused."""
    from optimizer.outputs.edit_sheet import read_edit_sheet

    def change(rows):
        row = next(r for r in rows.values() if r[CM_COL - 1].value)
        row[CM_COL - 1].value = "#N/A"  # openpyxl stores it as an error cell (t="e")
        change.sid = row[0].value

    path = _edited(sheet_values, tmp_path, change)
    import zipfile
    assert b't="e"' in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    frame, problems = read_edit_sheet(path)
    assert not problems
    got = frame.set_index("student_id").loc[change.sid, "case_manager_id"]
    assert got == "#N/A"


def test_a_formula_without_a_saved_result_and_an_error_after_an_empty_cell(sheet_values,
                                                                            tmp_path):
    """Two more cells calamine reads as blank (a review): a formula saved by a
    tool that does not compute it (openpyxl), and an error cell right after an
    empty styled cell (<c .../>). Neither may read as a cleared cell."""
    from openpyxl.styles import Font

    from optimizer.outputs.edit_sheet import read_edit_sheet

    def change(rows):
        chosen = [r for r in rows.values() if r[CM_COL - 1].value][:2]
        chosen[0][CM_COL - 1].value = '=HYPERLINK("x","E00001")'
        chosen[1][CM_COL - 2].value = None  # the cell before: empty, styled below
        chosen[1][CM_COL - 1].value = "#REF!"
        change.sids = [r[0].value for r in chosen]
        change.styled = (chosen[1][0].row, CM_COL - 1)

    path = _edited(sheet_values, tmp_path, change)
    wb = load_workbook(path)
    wb.active.cell(*change.styled).font = Font(bold=True)  # written as <c r=".." s="1"/>
    wb.save(path)
    frame, problems = read_edit_sheet(path)
    assert not problems
    got = frame.set_index("student_id")["case_manager_id"]
    assert got[change.sids[0]].startswith("#FORMULA")
    assert got[change.sids[1]] == "#REF!"


def test_a_cleared_case_manager_who_has_left_is_kept_as_cleared(tmp_path):
    """The clear of a case manager no longer on staff needs no forbid, but it
    is kept, not lost between kept and refused (a review: edits.csv said
    kept, the terminal did not count it)."""
    from optimizer.nextyear.keep import edits_table
    folder = write_district(tmp_path / "d", educators=[educator("E1", "RSP", "ES-MMSN")],
                            students=[student("S1"), student("S2")])
    k = keep_edits(load_district(folder), [("S1", "", "E9", "row 2"),
                                           ("S2", "E1", "E1", "row 3")])
    assert [e.student_id for e in k.kept] == ["S1"] and not k.rejected
    assert edits_table(k)["outcome"].tolist() == ["kept"]


def test_redacted_edits_name_no_one_and_eat_no_words(tmp_path):
    """edits.csv under --redact: names to ids, longest first and whole words
    (a review: "Al" turned "Alan Park" into "E1an Park"); a typed value that is
    not an educator id is withheld (it may be a student's name)."""
    from optimizer.nextyear.keep import edits_table
    folder = write_district(tmp_path / "d", educators=[
        educator("E1", "RSP", "ES-MMSN", name="Al"),
        educator("E2", "RSP", "ES-MMSN", name="Alan Park"),
        educator("E3", "RSP", "ES-MMSN", name="Sam")], students=[student("S1"), student("S2")])
    d = load_district(folder)
    k = keep_edits(d, [("S1", "alan park", "E1", "row 2"), ("S2", "Linh Flores", "E1", "row 3")])
    table = edits_table(k, redact=True)
    text = table.to_csv(index=False)
    assert "did you mean 'E2'?" in text and "Alan" not in text and "Park" not in text
    assert table["chosen"].tolist() == ["(withheld: not an educator id)"] * 2
    assert "Linh" not in text
    plain = edits_table(k)
    assert "did you mean 'E2 — Alan Park'?" in plain["detail"].iloc[0]


def test_an_error_cell_without_a_reference_is_placed_by_its_row(tmp_path):
    """Cells may leave out r= (the row's own r, or their order, places them):
    an error there landed in the header row (a review)."""
    import re
    import zipfile

    from optimizer.outputs.edit_sheet import _error_cells
    wb = Workbook()
    ws = wb.active
    ws.title = "S"
    for row in (["a", "b"], ["x", "y"], ["p", "q"]):
        ws.append(row)
    path = tmp_path / "t.xlsx"
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    sheet = next(n for n in files if n.startswith("xl/worksheets/"))
    xml = re.sub(r' r="[A-Z]+[0-9]+"', "", files[sheet].decode())
    xml = xml.replace('<c t="inlineStr"><is><t>q</t></is></c>', '<c t="e"><v>#N/A</v></c>')
    assert '<c t="e"><v>#N/A</v></c>' in xml
    files[sheet] = xml.encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    assert _error_cells(path, "S") == {(2, 1): "#N/A"}


def test_a_service_pin_to_an_itinerant_reaching_the_school_by_the_rule_is_refused(tmp_path):
    """The rules let an itinerant give a service at a school of their region
    ([school_rule] region_roles), but a service lock must name one who serves
    the school: a pin there is refused with that rule, never a stopped run."""
    oak = {"school_id": "OAK", "name": "Oak Elementary", "low_grade": "TK", "high_grade": "5",
           "feeds_into": "", "region": "North"}
    folder = write_district(
        tmp_path / "d", schools=[SCHOOL, oak],
        educators=[educator("D1", "DHH", "ES-DHH", schools="OAK")],
        students=[student("S1", services="DHH", sai_setting="", primary="HH")],
        toml='plan_services = true\n[school_rule]\nregion_roles = ["DHH"]\n')
    d = load_district(folder)
    from optimizer.planning.check import may_provide
    assert may_provide(d, "S1", "DHH", "D1") is None  # the rules allow it
    k = keep_edits(d, [], [("S1", "DHH", "D1", "row 2")], {("S1", "DHH"): ""})
    (refused,) = k.rejected
    assert refused.rule == "a service pin" and "serves S1's school ELM" in refused.detail


_XML_PIECES = ["<f>", "<f/>", "<f ", "<x:f>", ":f", "<formula>", "<fill>", "<c", ' t="e"',
               " t='e'", ' fmt="e"', "t=", '"e"', "f", "<", ":", ">", " ", "a", "_", "1", "\n"]


@pytest.mark.parametrize("seed", range(3))
def test_the_quick_looks_before_the_cell_patterns_miss_nothing(seed):
    """The sheet is searched for error cells and formulas by cheap substring
    tests first (0.6 s and 0.4 s less on a 100,000-row sheet): wherever the
    exact patterns match, the quick looks must too."""
    import random

    from optimizer.outputs.edit_sheet import (
        _ERROR,
        _ERROR_LOOSE,
        _FORMULA,
        _may_hold_formula,
    )
    rng = random.Random(seed)
    for _ in range(3000):
        data = "".join(rng.choice(_XML_PIECES) for _ in range(rng.randint(0, 8))).encode()
        if _FORMULA.search(data):
            assert _may_hold_formula(data), data
        if _ERROR.search(data):
            assert _ERROR_LOOSE.search(data), data
    # And what they let through, by hand:
    assert not _may_hold_formula(b'<cfRule><formula>$D2="Total"</formula></cfRule>')
    assert _may_hold_formula(b"<c><f>SUM(A1)</f></c>") and _may_hold_formula(b"<x:f/>")
    assert _may_hold_formula(b"<f")  # (at the very end)
