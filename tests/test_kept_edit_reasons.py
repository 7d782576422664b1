"""A case manager kept from the planner's edit of the plan workbook
(`caseload plan --keep`) is explained as that edit, not as a row of
locks.csv: the pin's opening words, and why this year's case manager is not
kept (replaced by the planner's choice, or removed by a cleared cell). A pin
of locks.csv keeps its own words beside it."""

from __future__ import annotations

import re

import pytest

from optimizer import edge_table, load_district, plan
from optimizer.nextyear.keep import keep_edits
from tests.conftest import ROOT, SAMPLE

SERVICES_SAMPLE = ROOT / "data" / "sample-services"


def _edits(district):
    """Two students the plan keeps with this year's case manager: the first
    moved by the planner to another eligible educator with room, the
    second's cell cleared. Returns (rows for keep_edits, moved, cleared,
    the plan)."""
    result = plan(district)
    a = result.assignments
    planned = dict(zip(a["student_id"], a["case_manager_id"].fillna(""), strict=True))
    load = a["case_manager_id"].value_counts()
    edges = edge_table(district)
    options = edges.groupby("student_id", sort=False)["educator_id"].agg(list).to_dict()
    kept = [sid for sid, s in district.students.items()
            if s.current_case_manager and planned[sid] == s.current_case_manager
            and sid not in district.pins]
    moved = None
    for sid in kept:
        room = [e for e in options.get(sid, []) if e != planned[sid]
                and load.get(e, 0) + district.educators[e].other_load + 2 <= district.cap(e)]
        if room:
            moved = (sid, room[0])
            break
    assert moved is not None, "the sample has a student to move"
    cleared = next(sid for sid in kept if sid != moved[0])
    rows = [(sid, moved[1] if sid == moved[0] else "" if sid == cleared else cm, cm, "")
            for sid, cm in planned.items()]
    return rows, moved, cleared, result


@pytest.mark.parametrize("folder", [SAMPLE, SERVICES_SAMPLE], ids=["case managers", "services"])
def test_a_kept_edit_is_explained_as_the_planners_edit(folder):
    district = load_district(folder)
    rows, (moved, chosen), cleared, before = _edits(district)
    kept = keep_edits(district, rows)
    assert len(kept.kept) == 2 and not kept.rejected
    a = plan(kept.district, published=kept.published).assignments.set_index("student_id")
    this_year = district.students[moved].current_case_manager
    assert a.at[moved, "case_manager_id"] == chosen
    assert a.at[moved, "reason_detail"].startswith(
        f"Kept as edited in the plan workbook ({moved} to {chosen}). ")
    assert "Kept as edited in the plan workbook" in a.at[moved, "reason"]
    assert (f"This year's case manager {this_year} was replaced by the planner's choice in "
            "the plan workbook") in a.at[moved, "reason_detail"]
    assert "locks.csv" not in a.at[moved, "reason_detail"]
    # The edit's lock reason is its opening: not said again as a "Lock reason".
    assert "Lock reason" not in a.at[moved, "reason_detail"]
    # The cleared cell: this year's case manager (the plan's) may not be chosen again.
    gone = district.students[cleared].current_case_manager
    assert a.at[cleared, "case_manager_id"] != gone
    assert (f"This year's case manager {gone} was removed by the planner in the plan workbook"
            in a.at[cleared, "reason_detail"])
    assert "locks.csv" not in a.at[cleared, "reason_detail"]
    # The short reasons say the edit once, whole (not cut at 160 characters).
    assert "Cleared in the plan workbook" in a.at[cleared, "reason"]
    assert "This year's case manager was changed in the plan workbook" in a.at[cleared, "reason"]
    for sid in (moved, cleared):
        assert not a.at[sid, "reason"].endswith("…")
        assert a.at[sid, "reason"].count("plan workbook") <= 2
    # A pin of locks.csv still says so.
    pinned = next(iter(district.pins))
    assert a.at[pinned, "reason_detail"].startswith(
        f"Pinned in locks.csv ({pinned} to {district.pins[pinned]}). ")
    assert "Pinned in locks.csv" in a.at[pinned, "reason"]
    assert before.assignments.set_index("student_id").at[pinned, "reason"] == a.at[
        pinned, "reason"]


@pytest.mark.parametrize("folder", [SAMPLE, SERVICES_SAMPLE], ids=["case managers", "services"])
def test_the_short_reason_and_the_published_moves_name_the_edit(folder):
    district = load_district(folder)
    rows, (moved, _), cleared, _ = _edits(district)
    kept = keep_edits(district, rows)
    result = plan(kept.district, published=kept.published)
    a = result.assignments.set_index("student_id")
    assert "This year's case manager was changed in the plan workbook" in \
        a.at[cleared, "reason"]
    # Against the workbook's plan, the two edited students moved because of the edit.
    moves = result.figures["published_plan"]
    assert moves["moved_because"].get("changed in the plan workbook", 0) == 2
    assert re.search("Moved from the published plan: [^.]*plan workbook",
                     a.at[moved, "reason_detail"])
    assert "Moved from the published plan" not in a.at[moved, "reason"]
