"""A service plan's providers edited in the workbook and kept: ``plan --keep``
reads the Services sheet's Provider column against the plan's services.csv
beside it (a planner's trial found such edits silently thrown away)."""

from __future__ import annotations

import pandas as pd
import pytest
from openpyxl import load_workbook

from optimizer import load_district
from optimizer.cli import main
from optimizer.planning.check import may_provide
from tests.conftest import ROOT

SERVICES_SAMPLE = ROOT / "data" / "sample-services"


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("prov") / "plan"
    assert main(["plan", str(SERVICES_SAMPLE), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def district():
    return load_district(SERVICES_SAMPLE)


def _keep(workbook, out, *flags):
    """`caseload plan` of the services sample keeping the edits in ``workbook``."""
    return main(["plan", str(SERVICES_SAMPLE), "--keep", str(workbook), "--out", str(out),
                 "--no-xlsx", *flags])


def _what_if(scenario_toml, plan, out, *flags):
    """`caseload whatif` of the services sample with this scenario file's text,
    against ``plan`` (a kept plan, its edits.csv beside it)."""
    scenario = out.parent / f"{out.name}.toml"
    scenario.write_text(scenario_toml, encoding="utf-8")
    return main(["whatif", str(SERVICES_SAMPLE), str(scenario), "--plan", str(plan), "--out",
                 str(out), "--no-xlsx", *flags])


def _edit_case_manager(planned, target, sid, eid):
    """plan.xlsx with the student's case manager set to ``eid`` on the edit
    sheet, saved as ``target`` beside the plan's files."""
    wb = load_workbook(planned / "plan.xlsx")
    for row in wb["Edit case managers"].iter_rows(min_row=2):
        if row[0].value == sid:
            row[3].value = eid
    wb.save(target)


def _services(folder):
    return pd.read_csv(folder / "services.csv", dtype=str, keep_default_na=False)


def _edit(planned, target, edits):
    """plan.xlsx with Services sheet cells set: (student, service) -> text,
    saved as ``target`` beside the plan's files (so its services.csv is found)."""
    wb = load_workbook(planned / "plan.xlsx")
    ws = wb["Services"]
    head = [c.value for c in ws[1]]
    s_col, v_col, p_col = (head.index(h) for h in ("Student", "Service", "Provider"))
    rows = {}
    for row in ws.iter_rows(min_row=2):
        key = (row[s_col].value, row[v_col].value)
        if key in edits:
            row[p_col].value = edits[key]
            rows[key] = row[0].row
    wb.save(target)
    return rows


def _other_provider(district, services, planned):
    """A served pair and another educator the rules let give it, with room."""
    loads = pd.read_csv(planned / "caseloads.csv", dtype={"educator_id": str})
    room = set(loads.loc[loads["load"] < loads["cap"], "educator_id"])
    for r in services.itertuples():
        if not r.provider_id or r.service == "SAI":
            continue
        for eid in sorted(room):
            if eid != r.provider_id and may_provide(district, r.student_id, r.service,
                                                    eid) is None:
                return (r.student_id, r.service), r.provider_id, eid
    raise AssertionError("the sample has a service two educators may give")


def test_a_provider_changed_on_the_services_sheet_is_kept(planned, district, tmp_path,
                                                         capsys):
    before = _services(planned)
    key, old, new = _other_provider(district, before, planned)
    _edit(planned, planned / "edited.xlsx", {key: new})
    out = tmp_path / "kept"
    capsys.readouterr()
    assert _keep(planned / "edited.xlsx", out) == 0
    said, progress = capsys.readouterr()
    assert f"reading the planner's edits in {planned / 'edited.xlsx'}" in progress
    after = _services(out).set_index(["student_id", "service"])
    assert after.loc[key, "provider_id"] == new != old
    assert "Your edits: 1 found (1 of providers), 1 kept as pins;" in said
    # Every edit and its outcome stay with the plan, not only on the terminal.
    edits = pd.read_csv(out / "edits.csv", dtype=str, keep_default_na=False)
    assert edits[["student_id", "service", "plan_had", "chosen", "outcome"]].values.tolist() \
        == [[key[0], key[1], old, new, "kept"]]
    # The services moved to make room are counted apart from the edit itself.
    moved = before.merge(_services(out), on=["student_id", "service"])
    others = int(((moved["provider_id_x"] != moved["provider_id_y"])
                  & (moved["provider_id_x"] != "")).sum()) - 1
    assert (f", and {others} other service(s)" in said) is (others > 0)
    assert after.loc[key, "reason"].startswith("Kept as edited in the plan workbook")
    assert "locks.csv" not in after.loc[key, "reason"]


def test_an_ineligible_or_unknown_provider_is_refused_with_where_and_why(
        planned, district, tmp_path, capsys):
    before = _services(planned)
    served = before[(before["provider_id"] != "") & (before["service"] == "SPEECH")]
    speech = (served["student_id"].iloc[0], "SPEECH")
    ot = before[(before["provider_id"] != "") & (before["service"] != "SPEECH")]
    other = (ot["student_id"].iloc[0], ot["service"].iloc[0])
    not_slp = next(e for e, ed in district.educators.items() if ed.role == "RSP")
    rows = _edit(planned, planned / "bad.xlsx", {speech: not_slp, other: "E9999"})
    capsys.readouterr()
    assert _keep(planned / "bad.xlsx", tmp_path / "bad", "--quiet") == 1
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if f"{speech[0]}'s SPEECH" in x)
    assert f"sheet 'Services' row {rows[speech]}, column D (Provider)" in line
    assert "may not provide" in line and "does not provide SPEECH" in line
    line = next(x for x in err.splitlines() if "E9999" in x)
    assert f"{other[0]}'s {other[1]}" in line and "unknown educator" in line
    edits = pd.read_csv(tmp_path / "bad" / "edits.csv", dtype=str, keep_default_na=False)
    assert sorted(edits["outcome"]) == ["not kept", "not kept"]
    assert set(edits["rule"]) == {"may not provide", "unknown educator"}
    after = _services(tmp_path / "bad").set_index(["student_id", "service"])
    assert after.loc[speech, "provider_id"] != not_slp


def test_a_cleared_provider_forbids_the_plans_one(planned, district, tmp_path, capsys):
    before = _services(planned)
    key, old, _ = _other_provider(district, before, planned)
    _edit(planned, planned / "cleared.xlsx", {key: None})
    capsys.readouterr()
    assert _keep(planned / "cleared.xlsx", tmp_path / "c") == 0
    assert "1 kept (0 chosen, 1 cleared)" in capsys.readouterr().out
    after = _services(tmp_path / "c").set_index(["student_id", "service"])
    assert after.loc[key, "provider_id"] != old
    # Said as the planner's doing, not as a lock of locks.csv (a review).
    reason = after.loc[key, "reason"]
    assert "leared in the plan workbook" in reason and "locks.csv" not in reason


def test_a_provider_chosen_beyond_a_full_caseload_is_said_not_met(planned, district,
                                                                  tmp_path, capsys):
    """The plan keeps the choice as a pin and makes room if it can; where it
    cannot (everyone on that caseload has no one else), the run says so and
    exits 1, with the plan's reason for that service."""
    before = _services(planned)
    loads = pd.read_csv(planned / "caseloads.csv", dtype={"educator_id": str})
    full = loads.loc[loads["load"] >= loads["cap"], "educator_id"].tolist()
    choice = next(((r.student_id, r.service), e) for r in before.itertuples()
                  if r.provider_id and r.service == "SPEECH" for e in full
                  if e != r.provider_id and may_provide(district, r.student_id, r.service, e)
                  is None)
    key, eid = choice
    _edit(planned, planned / "full.xlsx", {key: eid})
    code = _keep(planned / "full.xlsx", tmp_path / "f", "--quiet")
    after = _services(tmp_path / "f").set_index(["student_id", "service"])
    err = capsys.readouterr().err
    if after.loc[key, "provider_id"] == eid:  # room was made
        assert code == 0 and "could not be met" not in err
    else:
        assert code == 1
        line = next(x for x in err.splitlines() if f"{key[0]}'s SPEECH" in x)
        assert "not met: Kept as edited in the plan workbook" in line
        assert "Not served" in line


def test_check_of_the_workbook_checks_its_services_sheet(planned, district, tmp_path, capsys):
    """`check plan.xlsx` of a service plan reads the Services sheet too: an
    ineligible provider and an unknown one typed there are findings at their
    sheet, row and column (a review found check silent where --keep refuses)."""
    assert main(["check", str(SERVICES_SAMPLE), str(planned / "plan.xlsx")]) == 0
    before = _services(planned)
    served = before[(before["provider_id"] != "") & (before["service"] == "SPEECH")]
    speech = (served["student_id"].iloc[0], "SPEECH")
    not_slp = next(e for e, ed in district.educators.items() if ed.role == "RSP")
    rows = _edit(planned, tmp_path / "bad.xlsx", {speech: not_slp})
    capsys.readouterr()
    assert main(["check", str(SERVICES_SAMPLE), str(tmp_path / "bad.xlsx")]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "sheet 'Services'" in x)
    assert f"sheet 'Services' row {rows[speech]}, column D (Provider)" in line
    assert "ineligible provider" in line
    assert speech[0] in line and not_slp in line


def test_a_student_or_service_gone_from_the_files_is_refused_not_a_traceback(
        planned, district, tmp_path):
    """Edits against a plan whose student or service has since left the
    district's files are refused with a rule, never a crash (a review)."""
    from optimizer.nextyear.keep import keep_edits
    providers = {("S999999", "SPEECH"): "E00092", ("S000001", "TRANSITION"): ""}
    k = keep_edits(district, [], [("S999999", "SPEECH", "E00093", "row 2"),
                                  ("S000001", "TRANSITION", "E00093", "row 3")], providers)
    assert [(r.edit.student_id, r.rule) for r in k.rejected] == [
        ("S999999", "unknown student"), ("S000001", "unknown service")]


def test_the_services_sheet_is_compared_with_its_own_plan_not_published(
        planned, tmp_path, capsys):
    """With --published another plan, an unedited workbook has no edits: its
    Services sheet is read against the plan it came from (a review found 127
    providers of another plan taken as edits and pinned)."""
    import shutil
    other = tmp_path / "district"
    shutil.copytree(SERVICES_SAMPLE, other)
    with (other / "district.toml").open("a", encoding="utf-8") as f:
        f.write("SLP = 20\n")  # (in the file's [caps] table, its last)
    p2 = tmp_path / "p2"
    assert main(["plan", str(other), "--out", str(p2), "--quiet"]) == 0
    assert not _services(p2)["provider_id"].equals(_services(planned)["provider_id"])
    capsys.readouterr()
    assert main(["plan", str(other), "--published", str(planned), "--keep",
                 str(p2 / "plan.xlsx"), "--out", str(tmp_path / "k"), "--no-xlsx"]) == 0
    assert "Your edits: 0 found" in capsys.readouterr().out


def test_replanning_against_an_edited_plan_says_it_keeps_its_provider(
        planned, district, tmp_path):
    """Re-planned against a plan where the planner chose a provider (a what-if
    on it, or plan --published), the pair stays with that provider, and its
    reason says so rather than blaming this year's provider's load (a
    planner's trial read "carries 27/55: moved to serve or balance")."""
    before = _services(planned)
    key, old, new = _other_provider(district, before, planned)
    _edit(planned, planned / "edited2.xlsx", {key: new})
    v2 = tmp_path / "v2"
    assert _keep(planned / "edited2.xlsx", v2, "--quiet") == 0
    v3 = tmp_path / "v3"
    assert main(["plan", str(SERVICES_SAMPLE), "--published", str(v2), "--out", str(v3),
                 "--no-xlsx", "--quiet"]) == 0
    row = _services(v3).set_index(["student_id", "service"]).loc[key]
    current = {(n.student_id, n.service): n.current_provider for n in district.service_needs}
    assert row["provider_id"] == new
    if current[key] and current[key] != new:
        assert f"Keeps the published plan's provider; this year's, {current[key]}, is not " \
               "moved back" in row["reason"]


def test_a_typo_suggests_only_someone_who_may_give_the_service(planned, district):
    """A provider id typed with a letter O for a zero: suggested when the
    educator it looks like may give that service, not otherwise (a planner's
    trial got an SDC teacher suggested for SPEECH)."""
    from optimizer.nextyear.keep import keep_edits
    before = _services(planned)
    key, old, slp = _other_provider(district, before, planned)
    rsp = next(e for e, ed in district.educators.items() if ed.role == "RSP" and "0" in e)
    providers = {key: old}
    for typed_of, suggested in ((slp, True), (rsp, False)):
        typed = typed_of.replace("0", "O", 1)
        (refused,) = keep_edits(district, [], [(*key, typed, "row 2")], providers).rejected
        assert refused.rule == "unknown educator"
        assert (f"did you mean '{typed_of}" in refused.detail) is suggested


def test_a_what_if_on_an_edited_plan_keeps_the_edits_that_still_hold(
        planned, district, tmp_path, capsys):
    """A what-if of a plan made with --keep kept its edits only as published
    assignments the re-plan may move (a trial): they are pins again, checked
    under the scenario, and one the scenario makes impossible (its provider
    leaves) is said so."""
    before = _services(planned)
    key, old, new = _other_provider(district, before, planned)
    key2, old2, new2 = _other_provider(district, before[before["student_id"] != key[0]],
                                       planned)
    assert new2 != new  # (the second edit's provider is the one who leaves below)
    _edit(planned, planned / "edited3.xlsx", {key: new, key2: new2})
    v2 = tmp_path / "v2"
    assert _keep(planned / "edited3.xlsx", v2, "--quiet") == 0
    capsys.readouterr()
    assert _what_if(f'name = "leaves"\n[[changes]]\nkind = "leave"\neducator_id = "{new2}"\n',
                    v2, tmp_path / "w") == 0
    said = capsys.readouterr().out
    assert f"The published plan's edits ({v2}/edits.csv): 1 kept as the planner's choices, " \
           "1 no longer hold here:" in said
    assert f"leaves in this scenario: {new2} leaves in 'leaves'" in said  # not a typo
    # The what-if's own edits.csv: a plan made from it keeps the edits too.
    edits = pd.read_csv(tmp_path / "w" / "edits.csv", dtype=str, keep_default_na=False)
    assert sorted(edits["outcome"]) == ["kept", "not kept"]
    after = _services(tmp_path / "w").set_index(["student_id", "service"])
    assert after.loc[key, "provider_id"] == new
    assert after.loc[key, "reason"].startswith("Kept as edited in the plan workbook")


def test_replanning_says_the_real_cause_when_this_years_provider_could_not_keep_it(tmp_path):
    """"Keeps the published plan's provider" only where this year's provider
    could have kept the pair: one forbidden in locks.csv is said forbidden (a
    review found 207 rows given the published reason over the real one)."""
    import shutil
    d = tmp_path / "d"
    shutil.copytree(SERVICES_SAMPLE, d)
    locks = pd.read_csv(d / "locks.csv", dtype=str, keep_default_na=False)
    locks["service"] = ""
    locks.loc[len(locks)] = {"student_id": "S000006", "educator_id": "E00096",
                             "kind": "forbid", "reason": "", "service": "SPEECH"}
    locks.to_csv(d / "locks.csv", index=False)
    assert main(["plan", str(d), "--out", str(tmp_path / "p1"), "--no-xlsx", "--quiet"]) == 0
    assert main(["plan", str(d), "--published", str(tmp_path / "p1"), "--out",
                 str(tmp_path / "p2"), "--no-xlsx", "--quiet"]) == 0
    after = _services(tmp_path / "p2")
    row = after.set_index(["student_id", "service"]).loc[("S000006", "SPEECH")]
    assert "This year's provider E00096 is forbidden in locks.csv" in row["reason"]
    assert "not moved back" not in row["reason"]


def test_edits_csv_is_redacted_with_the_plan(planned, district, tmp_path):
    """plan --keep --redact: edits.csv names no one (a review found a
    did-you-mean's name and a lock's reason in it)."""
    before = _services(planned)
    key, old, slp = _other_provider(district, before, planned)
    typed = slp.replace("0", "O", 1)
    _edit(planned, planned / "typo.xlsx", {key: typed})
    out = tmp_path / "r"
    assert _keep(planned / "typo.xlsx", out, "--quiet", "--redact") == 1
    text = (out / "edits.csv").read_text("utf-8")
    assert f"did you mean '{slp}'" in text
    names = [e.name for e in district.educators.values() if e.name]
    assert not any(n in text for n in names)


def test_a_what_if_that_moves_a_cleared_provider_still_runs(planned, district, tmp_path,
                                                           capsys):
    """A provider the planner cleared, then moved to another school by a
    what-if: the forbid is moot there and kept without a lock; the what-if
    ran into the district's lock check before (exit 2, a review)."""
    before = _services(planned)
    key, old, _ = _other_provider(district, before, planned)
    _edit(planned, planned / "cleared3.xlsx", {key: None})
    v2 = tmp_path / "v2"
    assert _keep(planned / "cleared3.xlsx", v2, "--quiet") == 0
    here = district.students[key[0]].school_id
    other = next(sch for sch in district.schools if sch != here)
    capsys.readouterr()
    assert _what_if(f'name = "move"\n[[changes]]\nkind = "move_educator"\n'
                    f'educator_id = "{old}"\nschools = ["{other}"]\n', v2, tmp_path / "w") == 0
    assert "1 kept as the planner's choices, 0 no longer hold" in capsys.readouterr().out


def test_a_chosen_case_manager_is_not_called_cleared_in_a_what_if(planned, district,
                                                                  tmp_path, capsys):
    """In a what-if on a kept plan, the published case manager is the one the
    planner chose (a pin): its reason said "Cleared in the plan workbook"
    (a review). Only a forbid is a clear."""
    from optimizer import edge_table
    a = pd.read_csv(planned / "assignments.csv", dtype=str, keep_default_na=False)
    cm = dict(zip(a["student_id"], a["case_manager_id"], strict=True))
    edges = edge_table(district)
    by = edges.groupby("student_id")["educator_id"].agg(list)
    sid, other = next((s, e) for s, es in by.items() for e in es
                      if cm.get(s) and e != cm[s] and s not in district.pins)
    _edit_case_manager(planned, planned / "cm.xlsx", sid, other)
    v2 = tmp_path / "v2"
    _keep(planned / "cm.xlsx", v2, "--quiet")
    chosen = pd.read_csv(v2 / "assignments.csv", dtype=str, keep_default_na=False).set_index(
        "student_id").loc[sid, "case_manager_id"]
    assert _what_if('name = "hire"\n[[changes]]\nkind = "hire"\nrole = "SLP"\n'
                    'credentials = ["SLP"]\nschools = ["SCH0001"]\n', v2, tmp_path / "w",
                    "--quiet") == 0
    after = pd.read_csv(tmp_path / "w" / "assignments.csv", dtype=str,
                        keep_default_na=False).set_index("student_id").loc[sid]
    assert after["case_manager_id"] == chosen
    assert "Cleared in the plan workbook" not in after["reason"]


def test_an_edit_refused_by_the_scenarios_own_pin_names_the_scenario(planned, district,
                                                                       tmp_path, capsys):
    """A what-if whose scenario pins a student the planner had given another
    case manager: the edit no longer holds, and the pin is the scenario's,
    not locks.csv's (it said "locks.csv pins ...": a review)."""
    from optimizer import edge_table
    a = pd.read_csv(planned / "assignments.csv", dtype=str, keep_default_na=False)
    cm = dict(zip(a["student_id"], a["case_manager_id"], strict=True))
    by = edge_table(district).groupby("student_id")["educator_id"].agg(list)
    sid, chosen, pinned = next((s, e, f) for s, es in by.items() for e in es for f in es
                               if cm.get(s) and cm[s] not in (e, f) and e != f
                               and s not in district.pins)
    _edit_case_manager(planned, planned / "cm-pinned.xlsx", sid, chosen)
    v2 = tmp_path / "v2"
    assert _keep(planned / "cm-pinned.xlsx", v2, "--quiet") == 0
    capsys.readouterr()
    assert _what_if(f'name = "pin it"\n[[changes]]\nkind = "pin"\nstudent_id = "{sid}"\n'
                    f'educator_id = "{pinned}"\n', v2, tmp_path / "w") == 0
    said = capsys.readouterr().out
    assert f"pin: 'pin it' pins {sid} to {pinned}" in said, said
    assert "locks.csv pins" not in said


def test_the_services_sheet_read_beside_leaves_no_thread_for_the_solve(
        planned, tmp_path, monkeypatch):
    # plan --keep parses the Services sheet in a thread while it reads the
    # edit sheet; the thread must be gone when the plan is made, as the
    # service solver forks only from a process with one thread (can_fork).
    import threading

    from optimizer import cli

    seen: list[int] = []
    real = cli.plan
    before = threading.active_count()  # (1 in `caseload plan`)

    def counting(*args, **kwargs):
        seen.append(threading.active_count())
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "plan", counting)
    assert _keep(planned / "plan.xlsx", tmp_path / "kept") == 0
    assert seen == [before]


@pytest.mark.parametrize("how", ["beside", "no fork", "beside fails"])
def test_the_plan_beside_the_workbook_is_read_in_a_second_process(
        planned, tmp_path, monkeypatch, capsys, how):
    """plan --keep plan.xlsx of a service plan reads the plan folder beside
    the workbook (its case managers and providers) in a second process while
    it reads the sheets; read here where there is no fork or that process
    fails, with the same plan and the same words."""
    import os

    from optimizer import cli
    from optimizer.outputs import side_process

    planner = os.getpid()
    real = cli._plan_beside
    where = tmp_path / "read in"

    def spy(folder):
        here = os.getpid() == planner
        if how == "beside fails" and not here:
            raise RuntimeError("a bug in the second process")
        where.write_text("this process" if here else "a second process")
        return real(folder)

    monkeypatch.setattr(cli, "_plan_beside", spy)
    if how == "no fork":
        monkeypatch.setattr(side_process, "can_fork", lambda: False)
    capsys.readouterr()
    assert _keep(planned / "plan.xlsx", tmp_path / "kept") == 0
    said = capsys.readouterr().out
    assert "Service providers kept where" in said and "Your edits: 0 found" in said
    assert where.read_text() == ("a second process" if how == "beside" else "this process")
    cols = ["student_id", "service", "provider_id"]
    assert _services(tmp_path / "kept")[cols].equals(_services(planned)[cols])
