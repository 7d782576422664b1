"""Issue 11 item 1 in plan.xlsx: school, student and educator names beside the ids,
the full rule trail beside the short reason, an itinerant listed once, and
``--redact`` removing the names a person typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from optimizer.cli import main
from tests.conftest import SCHOOL, educator, student

OAK = {**SCHOOL, "school_id": "OAK", "name": "Oak Elementary"}
PINE = {**SCHOOL, "school_id": "PINE", "name": "Pine Elementary"}
STUDENT_NAMES = {"S1": "Maya Ortiz", "S2": "Leo Chan", "S3": "Ana Ruiz", "S4": "Noor Haddad"}


def _plan(make_district, tmp_path: Path, *extra: str) -> Path:
    folder = make_district(
        schools=[SCHOOL, OAK, PINE],
        # E1 is itinerant: one educator serving both schools.
        educators=[educator("E1", "RSP", "ES-MMSN", schools="ELM;OAK", name="Rosa Flores"),
                   educator("E2", "RSP", "ES-MMSN", name="Ivan Park")],
        students=[student("S1", name="Maya Ortiz"),
                  student("S2", school="OAK", name="Leo Chan"),
                  # No educator serves Pine: S3 is unplaced (and a hire is needed).
                  student("S3", school="PINE", name="Ana Ruiz"),
                  student("S4", name="Noor Haddad")],
        # Pins keep the rosters known: E1 has a student at each school, E2 one at Elm.
        locks=[{"student_id": "S1", "educator_id": "E1", "kind": "pin"},
               {"student_id": "S4", "educator_id": "E2", "kind": "pin"}])
    out = tmp_path / ("plan" + "-".join(extra))
    assert main(["plan", str(folder), "--out", str(out), "--quiet", *extra]) == 0
    return out / "plan.xlsx"


def _sheet(book, name: str) -> list[dict]:
    rows = list(book[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


@pytest.fixture
def book(make_district, tmp_path):
    return load_workbook(_plan(make_district, tmp_path))


def test_rosters_name_school_student_and_case_manager(book):
    rows = _sheet(book, "Rosters")
    got = {(r["Student"], r["Student name"], r["School"], r["School name"], r["Case manager"],
            r["Case manager name"]) for r in rows}
    assert got == {("S1", "Maya Ortiz", "ELM", "Elm Elementary", "E1", "Rosa Flores"),
                   ("S2", "Leo Chan", "OAK", "Oak Elementary", "E1", "Rosa Flores"),
                   ("S4", "Noor Haddad", "ELM", "Elm Elementary", "E2", "Ivan Park")}


def test_itinerant_listed_once_with_their_schools_named(book):
    rows = _sheet(book, "Case managers")
    assert [r["Educator"] for r in rows] == ["E1", "E2"]
    assert rows[0]["Name"] == "Rosa Flores"
    assert rows[1]["School names"] == "Elm Elementary"
    assert rows[0]["School names"] == "Elm Elementary; Oak Elementary"
    assert rows[0]["Schools"] == "ELM;OAK"  # the ids stay in their own column
    # Rosters: the itinerant's students form one block (one printed page), not
    # a block per school: E1's two rows together, then a page break, then E2's.
    rosters = _sheet(book, "Rosters")
    assert [r["Case manager"] for r in rosters] == ["E1", "E1", "E2"]
    assert [r["School"] for r in rosters] == ["ELM", "OAK", "ELM"]
    assert [b.id for b in book["Rosters"].row_breaks.brk] == [3]


def test_changes_unplaced_and_edit_sheet_carry_names_and_the_full_reason(book):
    changes = {r["Student"]: r for r in _sheet(book, "Changes")}
    assert changes["S2"]["Student name"] == "Leo Chan"
    assert changes["S2"]["School name"] == "Oak Elementary"
    assert changes["S2"]["To name"] == "Rosa Flores"
    # The short reason, then the full rule trail one column away (longer, and
    # starting where the short one's subject does).
    headers = [c.value for c in book["Changes"][1]]
    assert headers.index("Full reason") == headers.index("Why") + 1
    assert len(changes["S2"]["Full reason"]) > len(changes["S2"]["Why"])
    assert "ES-MMSN" in changes["S2"]["Full reason"]
    unplaced = _sheet(book, "Unplaced")
    assert [(r["Student"], r["Student name"], r["School"], r["School name"])
            for r in unplaced] == [("S3", "Ana Ruiz", "PINE", "Pine Elementary")]


def test_hiring_needs_name_the_school(book):
    rows = _sheet(book, "Hiring needs")
    assert [(r["School"], r["School name"], r["Students"]) for r in rows] == [
        ("PINE", "Pine Elementary", 1)]


def test_redact_removes_student_and_educator_names(make_district, tmp_path):
    path = _plan(make_district, tmp_path, "--redact")
    book = load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for v in row:
                if isinstance(v, str):
                    assert not any(n in v for n in [*STUDENT_NAMES.values(), "Rosa Flores"]), \
                        (sheet.title, v)
    # School names are not personal: they stay.
    rosters = _sheet(book, "Rosters")
    assert {r["School name"] for r in rosters} == {"Elm Elementary", "Oak Elementary"}
    assert [r["School name"] for r in _sheet(book, "Unplaced")] == ["Pine Elementary"]
    assert {r["Case manager name"] for r in rosters} == {"E1", "E2"}
    assert {r["Student name"] for r in rosters} == {None}
