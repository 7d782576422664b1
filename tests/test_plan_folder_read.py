"""Reading a plan folder back (``plan --published``, ``whatif --plan``,
``export``): the same values as written, at the cost of a large plan.

A 100,000-student service plan took 13 s to read for ``plan --published``
(a planner's trial): the row numbers kept for messages were a list that
pandas deep-copied on every column taken, and every cell went through the
formula guard's undo. These tests pin what the faster reading must keep.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import load_district, plan
from optimizer.district.textsafe import (
    neutralize_formula,
    restore_formula_rows,
    restore_formula_text,
)
from optimizer.outputs.export import write_plan
from optimizer.outputs.plan_folder import read_plan_assignments, read_plan_services
from tests.conftest import ROOT

_CELL = st.lists(st.sampled_from(["'", "=", "+", "-", "@", "a", "'s", " ", ","]),
                 max_size=4).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_CELL, min_size=1, max_size=5), max_size=6))
def test_rows_are_restored_as_cell_by_cell(rows):
    # The reference: the guard's undo on every cell, one at a time.
    assert restore_formula_rows([list(r) for r in rows]) == \
        [[restore_formula_text(c) for c in r] for r in rows]


def test_an_apostrophe_inside_a_cell_stays_and_a_guard_goes():
    rows = [["S1", "This year's case manager"], [neutralize_formula("=SUM(A1)"), "'plain"]]
    assert restore_formula_rows(rows) == [["S1", "This year's case manager"],
                                         ["=SUM(A1)", "'plain"]]


def test_a_plan_reads_back_as_written(tmp_path):
    result = plan(load_district(ROOT / "data" / "sample-services"))
    folder = write_plan(result, tmp_path / "plan", xlsx=False)
    assignments, problems = read_plan_assignments(folder)
    assert problems == []
    written = result.tables().assignments
    for col in ("student_id", "case_manager_id", "reason", "reason_detail"):
        assert assignments[col].tolist() == written[col].fillna("").astype(str).tolist(), col
    # Spreadsheet rows: the header is row 1, one record a line here.
    rows = assignments.attrs["rows"]
    assert list(rows) == list(range(2, len(assignments) + 2))
    assert all(type(r) is int for r in rows)
    services, problems = read_plan_services(folder)
    assert problems == [] and services is not None
    assert services["provider_id"].tolist() == \
        result.tables().services["provider_id"].fillna("").astype(str).tolist()


def test_row_numbers_are_not_copied_with_each_column(tmp_path):
    folder = write_plan(plan(load_district(ROOT / "data" / "sample")), tmp_path / "plan",
                        xlsx=False)
    frame, _ = read_plan_assignments(folder)
    rows = frame.attrs["rows"]
    column = frame["student_id"]  # pandas deep-copies attrs into the column
    assert column.attrs["rows"] is rows
    assert frame.copy(deep=True).attrs["rows"] == rows  # a deep copy: the same rows


def test_a_guarded_cell_reads_back_as_typed(tmp_path):
    folder = write_plan(plan(load_district(ROOT / "data" / "sample")), tmp_path / "plan",
                        xlsx=False)
    path = folder / "assignments.csv"
    header, first, rest = path.read_text(encoding="utf-8").split("\n", 2)
    student = first.split(",", 1)[0]  # (the first column: student_id)
    # The guard's apostrophe before a formula start, as the tool writes one.
    path.write_text("\n".join([header, "'=1+1" + first[len(student):], rest]),
                    encoding="utf-8")
    frame, problems = read_plan_assignments(folder)
    assert problems == []
    assert frame["student_id"].iloc[0] == "=1+1"
    assert frame["reason_detail"].str.contains("'").any()  # apostrophes inside stay
