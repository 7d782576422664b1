"""A case manager kept from the planner's edit of the plan workbook
(`caseload plan --keep`) is explained as that edit, not as a row of
locks.csv: the pin's opening words, and why this year's case manager is not
kept (replaced by the planner's choice, or removed by a cleared cell). A pin
of locks.csv keeps its own words beside it."""

from __future__ import annotations

import re

import pandas as pd
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


def _one_edit_workbook(plan_xlsx, target):
    """The plan's edit sheet with one case manager cleared, saved as ``target``
    (the sheet alone: what plan --keep reads)."""
    from openpyxl import Workbook, load_workbook

    from optimizer.outputs.edit_sheet import EDIT_SHEET

    wb = load_workbook(plan_xlsx, read_only=True)
    values = [list(r) for r in wb[EDIT_SHEET].iter_rows(values_only=True)]
    wb.close()
    row = next(v for v in values[1:] if v[3])
    row[3] = None
    out = Workbook()
    out.active.title = EDIT_SHEET
    for v in values:
        out.active.append(v)
    out.save(target)
    return row[0]


def test_keep_of_a_service_plan_keeps_its_providers(tmp_path, capsys):
    """plan --keep of a service plan's workbook keeps the providers of the
    plan it came from (services.csv beside it), as it keeps the case
    managers; a workbook away from its plan says how to keep them."""
    import json

    from optimizer.cli import main

    first = tmp_path / "p1"
    assert main(["plan", str(SERVICES_SAMPLE), "--out", str(first), "--quiet"]) == 0
    _one_edit_workbook(first / "plan.xlsx", first / "edited.xlsx")
    _one_edit_workbook(first / "plan.xlsx", tmp_path / "elsewhere.xlsx")
    capsys.readouterr()
    moves = {}
    for name, workbook in (("beside", first / "edited.xlsx"),
                           ("elsewhere", tmp_path / "elsewhere.xlsx")):
        out = tmp_path / name
        assert main(["plan", str(SERVICES_SAMPLE), "--keep", str(workbook), "--out",
                     str(out)]) == 0
        said = capsys.readouterr().out
        moves[name] = json.loads((out / "summary.json").read_text())["published_plan"]
        # The edit's summary counts the services that changed provider too
        # (a planner's trial read "0 other student(s) moved" over 2 moved services).
        n = moves[name]["pairs_moved"]
        assert (f", and {n} other service(s) given by another provider (services.csv);"
                in said) is (n > 0)
        if name == "beside":
            assert "Service providers kept where" in said
        else:
            assert "Service providers were planned afresh" in said and "--published" in said
    assert moves["beside"]["pairs_in_published_plan"] > 0
    assert moves["elsewhere"]["pairs_in_published_plan"] == 0
    before = pd.read_csv(first / "services.csv", dtype=str, keep_default_na=False)
    kept = pd.read_csv(tmp_path / "beside" / "services.csv", dtype=str, keep_default_na=False)
    fresh = pd.read_csv(tmp_path / "elsewhere" / "services.csv", dtype=str,
                        keep_default_na=False)
    changed_kept = int((before["provider_id"] != kept["provider_id"]).sum())
    changed_fresh = int((before["provider_id"] != fresh["provider_id"]).sum())
    assert changed_kept == moves["beside"]["pairs_moved"]
    assert changed_kept < changed_fresh


def test_keep_uses_no_providers_of_another_plan(tmp_path, capsys):
    """services.csv beside the workbook is used only when its folder's plan
    is the one the workbook holds."""
    import shutil

    from optimizer.cli import main

    first = tmp_path / "p1"
    assert main(["plan", str(SERVICES_SAMPLE), "--out", str(first), "--quiet"]) == 0
    other = tmp_path / "other"
    shutil.copytree(first, other)
    a = pd.read_csv(other / "assignments.csv", dtype=str, keep_default_na=False)
    i = a.index[a["case_manager_id"] != ""][0]
    a.at[i, "case_manager_id"] = a["case_manager_id"][a["case_manager_id"] != a.at[
        i, "case_manager_id"]].iloc[0]  # another plan: one student elsewhere
    a.to_csv(other / "assignments.csv", index=False)
    _one_edit_workbook(first / "plan.xlsx", other / "edited.xlsx")
    capsys.readouterr()
    assert main(["plan", str(SERVICES_SAMPLE), "--keep", str(other / "edited.xlsx"), "--out",
                 str(tmp_path / "p2")]) == 0
    assert "Service providers were planned afresh" in capsys.readouterr().out
