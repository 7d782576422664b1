"""The workbook written fast (issue 12) is the workbook written plainly: the
vectorised pieces against straightforward versions of themselves, and the
whole workbook cell by cell against a reference writer."""

from __future__ import annotations

import random
import struct
import zipfile
import zlib

import pandas as pd
import pytest
import xlsxwriter
from openpyxl import load_workbook

from optimizer import edge_table, load_district, plan
from optimizer.outputs import edit_sheet, workbook
from optimizer.outputs.edit_sheet import LISTS_SHEET, eligible_lists
from optimizer.outputs.service_sheets import SERVICE_SHEETS
from optimizer.outputs.workbook import DEFLATE_LEVEL, write_workbook
from tests.conftest import ROOT

SAMPLE_SERVICES = ROOT / "data" / "sample-services"


def _eligible_lists_by_hand(edges: pd.DataFrame, student_ids: list[str]):
    """Each student's educators in edge order; profiles numbered as students come."""
    by_student: dict[str, list[str]] = {}
    for sid, eid in zip(edges["student_id"].tolist(), edges["educator_id"].tolist(),
                        strict=True):
        if sid in set(student_ids):
            by_student.setdefault(sid, []).append(eid)
    index: dict[tuple[str, ...], int] = {}
    profile_of: dict[str, int] = {}
    for sid in student_ids:
        if sid in by_student:
            profile_of[sid] = index.setdefault(tuple(by_student[sid]), len(index))
    return list(index), profile_of


def test_eligible_lists_match_the_plain_loop():
    rng = random.Random(12)
    for trial in range(40):
        students = [f"S{i}" for i in range(rng.randint(0, 30))]
        educators = [f"E{i}" for i in range(rng.randint(1, 6))]
        # Edges in any order, some repeated, some for students not on the sheet.
        edges = [(rng.choice(students + ["X1", "X2"]), rng.choice(educators))
                 for _ in range(rng.randint(0, 80))] if students else []
        frame = pd.DataFrame(edges, columns=["student_id", "educator_id"], dtype="str")
        sheet = rng.sample(students, len(students)) + students[:2]  # shuffled, two twice
        got = eligible_lists(frame, sheet)
        want = _eligible_lists_by_hand(frame, sheet)
        assert got == want, trial
        assert list(got[1]) == list(want[1])  # students in the same order too


@pytest.fixture(scope="module")
def sample_tables():
    """The sample's plan (with services, so every sheet is there) and its edges."""
    district = load_district(SAMPLE_SERVICES)
    return plan(district).tables(), edge_table(district)[["student_id", "educator_id"]]


def _slow_rows(*_args, **_kw) -> bool:
    return False  # "not a sheet I cover": the caller writes cell by cell


def test_the_whole_workbook_is_the_bytes_xlsxwriter_writes_cell_by_cell(
        sample_tables, tmp_path, monkeypatch):
    tables, edges = sample_tables
    fast = write_workbook(tables, tmp_path / "fast.xlsx", eligible=edges)
    monkeypatch.setattr(workbook, "write_rows", _slow_rows)
    monkeypatch.setattr(edit_sheet, "write_rows", _slow_rows)
    slow = write_workbook(tables, tmp_path / "slow.xlsx", eligible=edges)
    names = load_workbook(slow, read_only=True).sheetnames
    assert set(SERVICE_SHEETS) < set(names) and LISTS_SHEET in names  # every sheet ran
    assert fast.read_bytes() == slow.read_bytes()


def _raw_member(path, info: zipfile.ZipInfo) -> bytes:
    """A member's deflated bytes as stored (after its local header)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        return f.read(info.compress_size)


@pytest.mark.parametrize("fast_deflate", [True, False])
def test_workbook_parts_are_deflated_at_the_fast_level(sample_tables, tmp_path, monkeypatch,
                                                       fast_deflate):
    # Every member deflated at DEFLATE_LEVEL: the sheets with rows by the
    # fast deflater (ISA-L, xlsx_rows._deflater), the others by zlib as
    # ZipFile does; with FAST_DEFLATE off, every one by zlib.
    from optimizer.outputs import xlsx_rows

    monkeypatch.setattr(xlsx_rows, "FAST_DEFLATE", fast_deflate)
    tables, edges = sample_tables
    path = write_workbook(tables, tmp_path / "plan.xlsx", eligible=edges)
    by_fast = []
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if i.compress_type == zipfile.ZIP_DEFLATED]
        assert len(infos) == len(z.infolist())
        for info in infos:
            data = z.read(info)
            packer = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
            by_zlib = packer.compress(data) + packer.flush()
            fast = xlsx_rows._deflater(DEFLATE_LEVEL)
            raw = _raw_member(path, info)
            if raw != by_zlib:
                assert raw == fast.compress(data) + fast.flush(), info.filename
                by_fast.append(info.filename)
    if fast_deflate and xlsx_rows.isal_zlib is not None:
        # (The sheets of rows: Case managers, Rosters, Changes, the edit sheet...)
        assert len(by_fast) >= 4 and all(n.startswith("xl/worksheets/") for n in by_fast)
    else:
        assert by_fast == []


def _cols_xml(xml: bytes) -> bytes:
    return xml[xml.index(b"<cols>"):xml.index(b"</cols>")]


def test_column_widths_follow_the_longest_texts(sample_tables, tmp_path):
    """Each text column as wide as 95% of its texts (10 to 60 characters), a
    date column at least 12: computed plainly here with pandas, per cell."""
    tables, edges = sample_tables
    path = write_workbook(tables, tmp_path / "plan.xlsx", eligible=edges)
    names = load_workbook(path, read_only=True).sheetnames
    a = tables.assignments
    frame = a[a["case_manager_id"] != a["current_case_manager_id"]]
    # Changes: every column is text (names looked up the way the sheet does).
    names_of = dict(zip(tables.caseloads["educator_id"], tables.caseloads["name"],
                        strict=True))
    schools = dict(zip(a["school_id"], a["school_name"], strict=True))
    shown = {"Student": frame["student_id"], "Student name": frame["student_name"],
             "School": frame["school_id"], "School name": frame["school_id"].map(schools),
             "Grade": frame["grade"], "From case manager": frame["current_case_manager_id"],
             "From name": frame["current_case_manager_id"].map(names_of).fillna(""),
             "To case manager": frame["case_manager_id"],
             "To name": frame["case_manager_id"].map(names_of).fillna(""),
             "Why": frame["reason"], "Full reason": frame["reason_detail"]}
    ref = xlsxwriter.Workbook(str(tmp_path / "ref.xlsx"))
    ws = ref.add_worksheet()
    for c, (header, column) in enumerate(shown.items()):
        width = max(10, min(60, len(header) + 2))
        longest = column.astype(str).str.len().quantile(0.95)
        ws.set_column(c, c, int(max(width, min(60, longest + 2))))
    ws.write_string(0, 0, "x")
    ref.close()
    with zipfile.ZipFile(path) as z, zipfile.ZipFile(tmp_path / "ref.xlsx") as r:
        got = z.read(f"xl/worksheets/sheet{names.index('Changes') + 1}.xml")
        assert _cols_xml(got) == _cols_xml(r.read("xl/worksheets/sheet1.xml"))
        rosters = z.read(f"xl/worksheets/sheet{names.index('Rosters') + 1}.xml")
    assert _cols_xml(rosters).count(b"<col ") == 11  # every column set, dates too


def test_drop_down_formulas_are_the_ones_xlsxwriter_prepares(sample_tables, tmp_path,
                                                            monkeypatch):
    """The list formulas skip XlsxWriter's search for newer functions only where
    there is none to find: the same workbook as with the search, and a formula
    that calls one is still spelled as Excel stores it."""
    tables, edges = sample_tables
    fast = write_workbook(tables, tmp_path / "fast.xlsx", eligible=edges)
    with zipfile.ZipFile(fast) as z:
        names = load_workbook(fast, read_only=True).sheetnames
        xml = z.read(f"xl/worksheets/sheet{names.index(edit_sheet.EDIT_SHEET) + 1}.xml")
    assert xml.count(b"<formula1>'Eligible case managers'!$B$") > 1
    plain_formulas = edit_sheet._plain_formulas
    monkeypatch.setattr(edit_sheet, "_plain_formulas", lambda ws: None)
    assert write_workbook(tables, tmp_path / "slow.xlsx",
                          eligible=edges).read_bytes() == fast.read_bytes()
    wb = xlsxwriter.Workbook(str(tmp_path / "f.xlsx"))
    ours, theirs = wb.add_worksheet(), wb.add_worksheet()
    plain_formulas(ours)
    for formula in ("='Lists'!$B$2:$K$2", "{=A1:A3}", "=FILTER(A1:A3,B1:B3)", "SORT(A1:A9)",
                    "=_xlfn.XLOOKUP(1,A:A,B:B)", "='Eligible (all)'!$B$2", "=A1"):
        for expand in (False, True):
            assert ours._prepare_formula(formula, expand) == \
                theirs._prepare_formula(formula, expand), formula
    assert ours._prepare_formula("=FILTER(A1:A3,B1:B3)") == "_xlfn._xlws.FILTER(A1:A3,B1:B3)"
    wb.close()
