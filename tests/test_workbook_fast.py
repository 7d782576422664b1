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


def test_workbook_parts_are_deflated_at_the_fast_level(sample_tables, tmp_path):
    tables, edges = sample_tables
    path = write_workbook(tables, tmp_path / "plan.xlsx", eligible=edges)
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if i.compress_type == zipfile.ZIP_DEFLATED]
        assert len(infos) == len(z.infolist())
        for info in infos:
            data = z.read(info)
            packer = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
            assert _raw_member(path, info) == packer.compress(data) + packer.flush(), \
                info.filename
