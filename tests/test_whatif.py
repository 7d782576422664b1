"""Issue 11 item 6: what-if from one scenario file, and the comparison it writes."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from optimizer.cli import main
from optimizer.district.scenario_file import ScenarioFileError, parse_scenario
from optimizer.district.validate import DistrictError, load_district
from optimizer.nextyear.compare import compare
from optimizer.nextyear.whatif import scenario_from_spec
from optimizer.planning.result import PlanTables
from tests.conftest import educator, student


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def _rosters(plan: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in _rows(plan / "assignments.csv"):
        if r["case_manager_id"]:
            out.setdefault(r["case_manager_id"], set()).add(r["student_id"])
    return out


@pytest.fixture
def shortage(make_district, tmp_path, capsys):
    """Six RSP students, two RSP teachers with room for two each: two unplaced.
    Published plan written to tmp_path/base."""
    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", name="Rosa Flores", max_caseload="2"),
                   educator("E2", "RSP", "ES-MMSN", name="Ivan Park", max_caseload="2"),
                   educator("C1", "SDC", "ES-MMSN", name="Mei Singh", max_caseload="1")],
        students=[student(f"S{i}", current_case_manager="E1" if i < 3 else "")
                  for i in range(1, 7)])
    base = tmp_path / "base"
    assert main(["plan", str(folder), "--out", str(base), "--quiet", "--no-xlsx"]) == 0
    capsys.readouterr()
    return folder, base


def _scenario(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndescription = "a test"\n{body}', encoding="utf-8")
    return path


HIRE = '''
[[changes]]
kind = "hire"
role = "RSP"
credentials = ["ES-MMSN"]
schools = ["ELM"]
name = "Dana Hire"
educator_id = "H1"
'''


def test_whatif_hire_in_a_shortage_places_more_and_lists_every_roster_change(
        shortage, tmp_path, capsys):
    folder, base = shortage
    before = _rows(base / "assignments.csv")
    unplaced_before = sum(1 for r in before if not r["case_manager_id"])
    assert unplaced_before >= 1
    out = tmp_path / "hire"
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "hire", HIRE)), "--plan",
                 str(base), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    after = _rows(out / "assignments.csv")
    assert sum(1 for r in after if not r["case_manager_id"]) < unplaced_before
    # Every roster that changed, from the two plans' own files, is listed.
    ra, rb = _rosters(base), _rosters(out)
    changed = {e for e in set(ra) | set(rb) if ra.get(e, set()) != rb.get(e, set())}
    listed = {r["educator_id"]: r for r in _rows(out / "comparison_rosters.csv")}
    assert set(listed) == changed and "H1" in changed
    for eid in changed:
        assert set(filter(None, listed[eid]["joined"].split(";"))) == rb.get(eid, set()) - \
            ra.get(eid, set())
        assert set(filter(None, listed[eid]["left"].split(";"))) == ra.get(eid, set()) - \
            rb.get(eid, set())
    # Every student whose case manager changed, with a why.
    a = {r["student_id"]: r["case_manager_id"] for r in before}
    b = {r["student_id"]: r["case_manager_id"] for r in after}
    moved = _rows(out / "comparison_students.csv")
    assert {r["student_id"] for r in moved} == {s for s in a if a[s] != b[s]}
    assert all(r["why"].strip() for r in moved)
    assert "Dana Hire (H1)" in printed
    headline = {r["metric"]: r for r in _rows(out / "comparison_headline.csv")}
    assert float(headline["placed"]["b"]) > float(headline["placed"]["a"])
    assert float(headline["hiring_fte"]["b"]) < float(headline["hiring_fte"]["a"])
    # The workbook and the page are written too.
    import openpyxl
    wb = openpyxl.load_workbook(out / "comparison.xlsx", read_only=True)
    assert wb.sheetnames == ["Headline", "Students", "Rosters", "Hiring needs"]
    page = (out / "comparison.html").read_text(encoding="utf-8")
    assert 'title="Dana Hire (H1)"' in page


def test_a_student_who_loses_their_case_manager_has_a_why(shortage, tmp_path, capsys):
    folder, base = shortage
    out = tmp_path / "leave"
    leave = '[[changes]]\nkind = "leave"\neducator_id = "E1"\n'
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "leave", leave)), "--plan",
                 str(base), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    moved = _rows(out / "comparison_students.csv")
    lost = [r for r in moved if r["from_case_manager_id"] == "E1"]
    assert lost and all(r["why"] for r in lost)
    assert any("no longer on staff" in r["why"] for r in lost)


def test_several_scenarios_give_a_side_by_side_table(shortage, tmp_path, capsys):
    folder, base = shortage
    hire = _scenario(tmp_path, "hire", HIRE)
    cap = _scenario(tmp_path, "cap", '[[changes]]\nkind = "educator_cap"\n'
                                     'educator_id = "E2"\nmax_caseload = 3\n')
    out = tmp_path / "both"
    assert main(["whatif", str(folder), str(hire), str(cap), "--plan", str(base), "--out",
                 str(out), "--quiet", "--no-xlsx"]) == 0
    table = pd.read_csv(out / "scenarios.csv", dtype=str)
    assert list(table.columns) == ["metric", "figure", f"published plan ({base})", "hire",
                                   "cap"]
    placed = table.set_index("metric").loc["placed"]
    for name in ("hire", "cap"):
        got = sum(1 for r in _rows(out / name / "assignments.csv") if r["case_manager_id"])
        assert int(placed[name].replace(",", "")) == got
    assert (out / "scenarios.html").exists() and (out / "hire" / "comparison.html").exists()
    assert "The scenarios side by side:" in capsys.readouterr().out


def test_scenario_file_problems_are_all_listed_with_their_key(shortage, tmp_path, capsys):
    folder, base = shortage
    bad = tmp_path / "bad.toml"
    bad.write_text('name = ""\n[[changes]]\nkind = "hire"\nrole = "RSP"\nschools = "ELM"\n'
                   'colour = 1\n[[changes]]\nkind = "leve"\n', encoding="utf-8")
    out = tmp_path / "x"
    assert main(["whatif", str(folder), str(bad), "--plan", str(base), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml, key name: '' — the scenario's name" in err
    assert "bad.toml, key changes[1].schools: 'ELM' — a list of text" in err
    assert "bad.toml, key changes[1].colour — a key of a hire change" in err
    assert "bad.toml, key changes[2].kind: 'leve' — one of hire, leave" in err
    assert "did you mean 'leave'?" in err
    assert "Traceback" not in err and not out.exists()


def test_unknown_ids_are_named_with_did_you_mean(shortage, tmp_path, capsys):
    folder, base = shortage
    body = ('[[changes]]\nkind = "leave"\neducator_id = "e1"\n'
            '[[changes]]\nkind = "pin"\nstudent_id = "S9"\neducator_id = "H1"\n' + HIRE)
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "ids", body)), "--plan",
                 str(base), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "ids.toml, key changes[1].educator_id: 'e1' — an educator_id of the district " \
           "(did you mean 'E1'?)" in err
    assert "ids.toml, key changes[2].student_id: 'S9'" in err
    # A pin to a hire made later in the file is not an unknown educator... but H1 is hired
    # after the pin here, so it is named too: changes apply in order.
    assert "changes[2].educator_id: 'H1'" in err


def test_every_change_kind_reads_and_applies(shortage):
    folder, _ = shortage
    d = load_district(folder)
    spec = parse_scenario('''name = "all"
[[changes]]
kind = "hire"
role = "SDC"
schools = ["ELM"]
credentials = ["ES-ESN"]
fte = 0.5
[[changes]]
kind = "fte"
educator_id = "E2"
fte = 0.5
[[changes]]
kind = "move_educator"
educator_id = "C1"
schools = ["ELM"]
[[changes]]
kind = "role_cap"
role = "RSP"
cap = 30
[[changes]]
kind = "educator_cap"
educator_id = "E1"
max_caseload = 5
[[changes]]
kind = "add_students"
school_id = "ELM"
count = 3
grade = ["1", "2"]
primary_disability = "SLD"
services = "SAI"
sai_setting = "rsp"
[[changes]]
kind = "remove_students"
student_ids = ["S6"]
[[changes]]
kind = "move_students"
student_ids = ["S5"]
to_school = "ELM"
[[changes]]
kind = "pin"
student_id = "S1"
educator_id = "E2"
[[changes]]
kind = "forbid"
student_id = "S2"
educator_id = "E1"
[[changes]]
kind = "objective"
term = "continuity"
weight = 5
''')
    new = scenario_from_spec(spec, d).apply(d)
    assert len(new.educators) == 4 and new.educators["E2"].fte == 0.5
    assert new.educators["E1"].max_caseload == 5
    assert len(new.students) == 6 + 3 - 1 and "S6" not in new.students
    assert ("S1", "E2") in {(lk.student_id, lk.educator_id) for lk in new.locks
                            if lk.kind == "pin"}
    assert ("S2", "E1") in new.forbids
    assert new.settings["caps"]["RSP"] == 30
    assert new.settings["objective"]["continuity"] == 5


def test_a_bad_toml_file_is_one_clear_problem():
    with pytest.raises(ScenarioFileError) as exc:
        parse_scenario('name = "x"\n[[changes]\n', "s.toml")
    assert exc.value.problems[0].file == "s.toml"
    assert "a TOML file" in exc.value.problems[0].expected


def test_an_unknown_school_in_a_hire_is_named(shortage):
    folder, _ = shortage
    spec = parse_scenario('name = "x"\n[[changes]]\nkind = "hire"\nrole = "RSP"\n'
                          'schools = ["ELN"]\n', "s.toml")
    with pytest.raises(DistrictError) as exc:
        scenario_from_spec(spec, load_district(folder))
    assert [str(p) for p in exc.value.problems] == [
        "s.toml, key changes[1].schools: 'ELN' — a school_id of the district "
        "(did you mean 'ELM'?)"]


def _tables(pairs: dict[str, str]) -> PlanTables:
    a = pd.DataFrame({"student_id": list(pairs), "school_id": "ELM",
                      "case_manager_id": list(pairs.values()), "reason": "r"})
    cl = pd.DataFrame({"educator_id": ["E1", "E2"], "role": "RSP", "load": [1.0, 1.0],
                       "cap": [2, 2], "name": ["Rosa", "Ivan"]})
    empty = pd.DataFrame(columns=["school_id", "region", "role", "credential", "students",
                                  "fte"])
    return PlanTables(a, cl, pd.DataFrame(columns=["student_id", "school_id", "reason"]),
                      empty, pd.DataFrame(), {"placed": 2, "unplaced": 0})


def test_a_swap_changes_two_rosters_whose_counts_stay_the_same():
    c = compare(_tables({"S1": "E1", "S2": "E2"}), _tables({"S1": "E2", "S2": "E1"}))
    assert c.loads.empty  # the loads alone would say nothing changed
    assert c.rosters[["educator_id", "students_a", "students_b", "joined", "left"]] \
        .values.tolist() == [["E1", 1, 1, "S2", "S1"], ["E2", 1, 1, "S1", "S2"]]
    assert "2 roster(s) change" in c.summary()
    assert "Rosa (E1, RSP): 1 -> 1 students (+1 joined, -1 left)" in c.summary()


# -- the pages in a real browser (names, no horizontal scroll, hover text) ----

def _chromium() -> str | None:
    import shutil
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _in_browser(page: Path, tmp_path: Path, shot: Path) -> str:
    """The page's DOM after load at 1280 px wide, with its scroll width recorded
    on <body>; a screenshot written for review."""
    import subprocess
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (make browser installs it where it can)")
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8") + (
        "<script>window.addEventListener('load', function () {document.body.setAttribute("
        "'data-scroll', document.documentElement.scrollWidth + '/' + window.innerWidth);});"
        "</script>"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1280,1000"]
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    subprocess.run([browser, *flags, f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    return dom


def _no_horizontal_scroll(dom: str) -> None:
    import re
    found = re.search(r'data-scroll="(\d+)/(\d+)"', dom)
    assert found, "the page did not load"
    assert int(found.group(1)) <= int(found.group(2)), found.group(0)


def test_comparison_page_and_report_in_chromium(shortage, tmp_path, capsys):
    folder, base = shortage
    out = tmp_path / "hire"
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "hire", HIRE)), "--plan",
                 str(base), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    # Screenshots for review: under tmp_path, or where CASELOAD_SCREENSHOTS says.
    import os
    shots = Path(os.environ.get("CASELOAD_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    dom = _in_browser(out / "comparison.html", tmp_path, shots / "comparison-1280.png")
    _no_horizontal_scroll(dom)
    moved = _rows(out / "comparison_students.csv")
    for r in moved:  # names visible, the educator's id in the hover text
        if r["to_case_manager_id"]:
            assert f'title="{r["to_case_manager"]} ({r["to_case_manager_id"]})">' \
                   f'{r["to_case_manager"]}</td>' in dom
    assert ">Elm Elementary<" in dom
    assert main(["report", str(out), "--html", str(tmp_path / "report.html")]) == 0
    dom = _in_browser(tmp_path / "report.html", tmp_path, shots / "report-1280.png")
    _no_horizontal_scroll(dom)
    assert "Elm Elementary" in dom
    caseloads = _rows(out / "caseloads.csv")
    for r in caseloads:
        if r["students"] != "0":
            assert f"<title>{r['name']} ({r['educator_id']}, {r['role']}): " in dom
    assert 'data-charts-rendered="3/3"' in dom


def test_whatif_writes_the_same_bytes_twice(shortage, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    folder, base = shortage
    scenario = _scenario(tmp_path, "hire", HIRE)
    got = []
    for name in ("one", "two"):
        out = tmp_path / name
        assert main(["whatif", str(folder), str(scenario), "--plan", str(base), "--out",
                     str(out), "--quiet"]) == 0
        got.append({p.name: p.read_bytes() for p in sorted(out.iterdir())
                    if not p.name.startswith(".")})
    assert got[0] == got[1]
    assert {"comparison.xlsx", "comparison.html", "plan.xlsx"} <= set(got[0])


def test_students_who_leave_and_arrive_are_said_so(shortage, tmp_path, capsys):
    folder, base = shortage
    body = ('[[changes]]\nkind = "remove_students"\nstudent_ids = ["S1"]\n'
            '[[changes]]\nkind = "add_students"\nschool_id = "ELM"\ncount = 1\ngrade = "2"\n'
            'primary_disability = "SLI"\nservices = "SPEECH"\n')
    out = tmp_path / "moves"
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "moves", body)), "--plan",
                 str(base), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    rows = {r["student_id"]: r for r in _rows(out / "comparison_students.csv")}
    base_cm = {r["student_id"]: r["case_manager_id"] for r in _rows(base / "assignments.csv")}
    assert rows["S1"]["why"] == "No longer in the district (not in this plan)"
    assert rows["S1"]["from_case_manager_id"] == base_cm["S1"]
    new = [r for sid, r in rows.items() if sid not in base_cm]
    assert len(new) == 1 and new[0]["why"].startswith("New student: ")
    assert "-> left" in capsys.readouterr().out


def test_service_provider_changes_are_listed_when_plans_plan_services():
    from dataclasses import replace

    from optimizer.planning.result import SERVICE_COLUMNS

    def services(rows):
        return pd.DataFrame([dict(zip(SERVICE_COLUMNS, r, strict=True)) for r in rows],
                            columns=SERVICE_COLUMNS)

    a = replace(_tables({"S1": "E1", "S2": "E2"}), services=services([
        ("S1", "ELM", "SPEECH", "P1", "SLP", 60, True, "kept"),
        ("S2", "ELM", "OT", "T1", "OT", 30, True, "kept")]))
    b = replace(_tables({"S1": "E1", "S2": "E2"}), services=services([
        ("S1", "ELM", "SPEECH", "P2", "SLP", 60, False, "P1 is full"),
        ("S2", "ELM", "OT", "", "", 30, False, "")]))
    c = compare(a, b)
    assert c.moved.empty and c.rosters.empty
    assert c.services[["student_id", "service", "from_provider_id", "to_provider_id",
                       "why"]].values.tolist() == [
        ["S1", "SPEECH", "P1", "P2", "P1 is full"],
        ["S2", "OT", "T1", "", "no longer served (kept)"]]
    assert "2 service provider(s) change:" in c.summary()
    assert "comparison_services.csv" in c.tables()
    assert compare(a, a).services.empty and "comparison_services.csv" not in compare(
        a, a).tables()


def test_services_without_a_provider_are_a_headline_figure_of_service_plans():
    # A what-if can leave IEP services without a provider while every student
    # keeps a case manager: the headline, the terminal and the side-by-side
    # table must say so (a planner read "students placed 1,900 -> 1,900 (0)"
    # and nothing about 43 services lost).
    from dataclasses import replace

    from optimizer.outputs.comparison import side_by_side

    def with_services(served: int, not_served: int, not_planned: int) -> PlanTables:
        by = {"SPEECH": {"pairs": served + not_served, "served": served,
                         "not_served": not_served, "not_planned": 0},
              "AT": {"pairs": not_planned, "served": 0, "not_served": 0,
                     "not_planned": not_planned}}
        t = _tables({"S1": "E1", "S2": "E2"})
        return replace(t, summary={**t.summary, "services": {"by_service": by},
                                   "best_practice_share": 0.749 if served == 40 else 0.735})

    c = compare(with_services(40, 2, 5), with_services(37, 5, 5), "published plan", "SLP leaves")
    figures = c.headline.set_index("metric")
    assert figures.loc["services_served", ["a", "b", "delta"]].tolist() == [40, 37, -3]
    assert figures.loc["services_unserved", ["a", "b", "delta"]].tolist() == [2, 5, 3]
    text = c.summary()
    assert "  IEP services served                40 ->         37   (-3)" in text
    assert "  IEP services not served             2 ->          5   (+3)" in text
    # A share's change is in percentage points, not a percentage of it.
    assert "  best-practice share             74.9% ->      73.5%   (-1.4 points)" in text
    from optimizer.outputs.comparison import _headline_frame
    assert "-1.4 points" in set(_headline_frame(c)["change"])
    table = side_by_side([c]).set_index("metric")
    assert table.loc["services_unserved"].tolist() == ["IEP services not served", "2", "5"]
    # Where no one on staff gives a service any more (every SLP leaves), its
    # services are not "not served" but given by no one: said as such.
    gone = compare(with_services(40, 2, 5), with_services(0, 0, 47))
    assert "  IEP services not planned            5 ->         47   (+42)" in gone.summary()
    # Plans without services: no service figure anywhere.
    plain = compare(_tables({"S1": "E1", "S2": "E2"}), _tables({"S1": "E1", "S2": "E2"}))
    assert not {"services_served", "services_unserved"} & set(plain.headline["metric"])
    assert "services" not in plain.summary() and "services_served" not in set(
        side_by_side([plain])["metric"])
    # A what-if without the figure beside one with it: blank, not an error.
    plain = compare(_tables({"S1": "E1", "S2": "E2"}), _tables({"S1": "E1", "S2": "E2"}),
                    "published plan", "Hire")
    mixed = side_by_side([c, plain]).set_index("metric")
    assert mixed.loc["services_served", ["SLP leaves", "Hire"]].tolist() == ["37", ""]


def test_a_hiring_change_names_the_role_and_the_credential_in_words():
    # It read "Johnson Early Learning Center SLP SLP: 0.1 -> 0.0 FTE".
    from dataclasses import replace

    def hiring(fte: float, students: int) -> pd.DataFrame:
        return pd.DataFrame([{"school_id": "ELM", "region": "North", "role": "SLP",
                              "credential": "SLP", "service": "SPEECH",
                              "students": students, "fte": fte}])

    a = replace(_tables({"S1": "E1", "S2": "E2"}), hiring_needs=hiring(0.1, 4))
    b = replace(_tables({"S1": "E1", "S2": "E2"}), hiring_needs=hiring(0.0, 0))
    assert "    SLP with SLP at ELM for SPEECH: 0.1 -> 0.0 FTE (4 -> 0 students)" in \
        compare(a, b).summary().splitlines()


def test_headline_figures_are_numbers_in_the_csv_and_the_workbook(shortage, tmp_path, capsys):
    """A planner's trial found the comparison workbook's Headline holding text
    ("'+11", "'3,000": the formula guard's apostrophe shown) and the CSV
    holding float noise (3000.0, 37.300000000000004). The figures are numbers:
    counts whole, FTE in tenths, a change's sign in the number format."""
    folder, base = shortage
    out = tmp_path / "hire"
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "hire", HIRE)), "--plan",
                 str(base), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    headline = {r["metric"]: r for r in _rows(out / "comparison_headline.csv")}
    placed = headline["placed"]
    assert placed["a"].isdigit() and placed["b"].isdigit() and placed["delta"].lstrip(
        "-").isdigit()
    fte = headline["hiring_fte"]
    assert all(len(fte[k].split(".")[-1]) <= 1 for k in ("a", "b", "delta"))
    import openpyxl
    ws = openpyxl.load_workbook(out / "comparison.xlsx")["Headline"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    by_label = {r[0]: r for r in rows}
    figure = by_label["Students placed"]
    assert figure[1:] == (int(placed["a"]), int(placed["b"]), int(placed["delta"]))
    cells = {c.value: c for c in ws["A"]}
    row = cells["Students placed"].row
    assert ws.cell(row, 4).number_format.startswith("+")  # shown "+2", stored 2
    assert not any(isinstance(v, str) and v.startswith("'") for r in rows for v in r)


def test_a_change_too_small_to_show_is_zero_not_minus_zero(shortage, tmp_path, capsys):
    """A share 0.04 points down, a spread 0.0004 down: "0.0 points" and
    "0.000" in the terminal, and stored as 0 in the workbook, whose format
    picks its sign from the stored number (a review: "-0.0 points")."""
    import dataclasses

    import openpyxl

    from optimizer.outputs.comparison import write_comparison_workbook
    from optimizer.outputs.plan_folder import read_plan
    _folder, base = shortage
    c = compare(read_plan(base), read_plan(base))
    h = c.headline.copy()
    for metric, delta in (("continuity_share", -0.0004), ("std_load_ratio", -0.0004)):
        i = h.index[h["metric"] == metric][0]
        h.at[i, "a"], h.at[i, "b"] = 0.5, 0.5 + delta
        h.at[i, "delta"] = delta
    c = dataclasses.replace(c, headline=h)
    text = c.summary()
    assert "(0.0 points)" in text and "-0.0" not in text and "(0.000)" in text
    path = write_comparison_workbook(c, tmp_path / "c.xlsx")
    ws = openpyxl.load_workbook(path)["Headline"]
    change = {r[0].value: r[3] for r in ws.iter_rows(min_row=2)}
    for label in ("Kept this year's case manager", "Spread of caseload ÷ cap"):
        assert change[label].value == 0
        assert not str(change[label].value).startswith("-")
    assert change["Spread of caseload ÷ cap"].number_format == "+0.000;-0.000;0.000"


def test_signed_changes():
    from optimizer.nextyear.compare import signed
    assert [signed(x) for x in ("2", "-2", "0", "-0.0", "0.00", "1,234")] == [
        "+2", "-2", "0", "0.0", "0.00", "+1,234"]


def test_explain_against_a_what_if_plan_says_the_plan_is_not_the_files(
        shortage, tmp_path, capsys):
    """A planner's trial explained a student against a what-if's plan and read
    the district's own options as the plan's, with no word that they differ."""
    folder, base = shortage
    out = tmp_path / "hire"
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "hire", HIRE)), "--plan",
                 str(base), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["explain", str(folder), "S1", "--plan", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"Note: {out} was made with changes to the district's files (hire: ")
    assert "H1" in said.splitlines()[0]
    # The workbook's Summary names the changes as such, not as a file's digest.
    import openpyxl
    summary = {r[0]: r[1] for r in openpyxl.load_workbook(out / "plan.xlsx", read_only=True)[
        "Summary"].iter_rows(values_only=True) if r and r[0]}
    assert "H1" in summary["Changes to the files (a what-if or kept edits)"]
    assert not any(str(k).startswith("Input file changes") for k in summary)
    # The published plan is the files' own: no note.
    assert main(["explain", str(folder), "S1", "--plan", str(base)]) == 0
    assert not capsys.readouterr().out.startswith("Note:")
    # A file changed since the plan was made is named.
    students = pd.read_csv(folder / "students.csv", dtype=str, keep_default_na=False)
    students.loc[len(students)] = {**students.iloc[-1].to_dict(), "student_id": "S7"}
    students.to_csv(folder / "students.csv", index=False)
    assert main(["explain", str(folder), "S1", "--plan", str(base)]) == 0
    assert capsys.readouterr().out.startswith(f"Note: students.csv changed since {base} was made")


def test_the_comparison_workbook_speaks_in_planner_words(shortage, tmp_path, capsys):
    """Its sheets' headers were raw column names (student_id, students_a,
    load_b, fte_delta): planner words, with the two plans' names (a trial)."""
    import openpyxl
    folder, base = shortage
    out = tmp_path / "hire"
    assert main(["whatif", str(folder), str(_scenario(tmp_path, "hire", HIRE)), "--plan",
                 str(base), "--out", str(out), "--quiet"]) == 0
    wb = openpyxl.load_workbook(out / "comparison.xlsx", read_only=True)
    heads = {name: [c.value for c in next(wb[name].iter_rows(max_row=1))]
             for name in ("Students", "Rosters", "Hiring needs")}
    assert heads["Students"][:4] == ["Student", "Student name", "School", "School name"]
    assert {"Students before", "Students after"} <= set(heads["Rosters"])
    assert "FTE change" in heads["Hiring needs"]
    assert not any("_" in str(h) for hs in heads.values() for h in hs)
    # The CSV files keep the documented names.
    assert _rows(out / "comparison_rosters.csv")[0].keys() >= {"students_a", "students_b"}


def test_a_what_ifs_audit_is_the_changed_districts_made_beside(monkeypatch):
    # The audit is computed in a second process during the re-plan (what_if):
    # the same table as here, of the district after the scenario.
    import multiprocessing

    from optimizer import plan
    from optimizer.nextyear import whatif
    from optimizer.nextyear.scenario import RemoveEducator, Scenario
    from optimizer.nextyear.whatif import what_if
    from optimizer.planning.check import audit_table
    from optimizer.planning.solvers.services_ahead import can_fork
    from tests.conftest import ROOT

    d = load_district(ROOT / "data" / "sample-services")
    base = plan(d)
    leaver = base.caseloads.sort_values(["students", "educator_id"]).iloc[-1].educator_id
    started = []

    class Recorded(whatif.Ahead):  # the audit's second process, as what_if starts it
        def __init__(self, work, fork=True):
            super().__init__(work, fork)
            started.append(self.forked)  # (whether it forked, before its result)

    monkeypatch.setattr(whatif, "Ahead", Recorded)
    w = what_if(d, Scenario("leaves", (RemoveEducator(leaver),)), base.tables())
    assert started == [can_fork()]
    assert w.result.audit.equals(audit_table(w.district))
    assert not w.result.audit.equals(audit_table(d))  # (the leaver's students: not on staff)
    assert not multiprocessing.active_children()  # (the audit's child ended)

    # A re-plan that fails: the child is stopped all the same, the error raised.
    def broken(*args, **kwargs):
        raise ValueError("no plan")

    monkeypatch.setattr(whatif, "plan", broken)
    with pytest.raises(ValueError, match="no plan"):
        what_if(d, Scenario("leaves", (RemoveEducator(leaver),)), base.tables())
    assert len(started) == 2 and not multiprocessing.active_children()
