"""The service plan as a planner sees it: the workbook's Services sheet, the
provider rosters, the service columns of Case managers and Hiring needs, and
the HTML report's service section.

Built on a plan made by hand in the shape of docs/plan-format.md's service
tables (services.csv, caseloads.csv's service columns, hiring_needs.csv's
service and minutes, summary.json's ``services`` block), so every expected
value below is worked out from the few rows here, not taken from the tool.

The district (school ELM; S4 at OAK):

- E1 Ana Ruiz, RSP, cap 28, other_load 1: gives SAI to S1 (300 min) and S4
  (minutes not given); case-manages S1, S4 and S6 (S6 as coordinator only).
  Caseload = |{S1, S4, S6}| + 1 = 4.
- E2 Ben Cho, SDC, cap 12: SAI to S3 (1,200 min), case-manages S3. Caseload 1.
- E3 Cy Park, SLP, cap 55, other_load 50, minutes capacity 2,250: speech to
  S1 (60), S2 (30), S5 (60); case-manages S2 and S5. Caseload 3 + 50 = 53.
- E4 Di Lee, SLP 0.5 FTE, cap 27, other_load 24, minutes capacity 60: speech
  to S3 (45) and S6 (30): 75 minutes, over. Caseload 2 + 24 = 26.
- E5 Eve Diaz, PSY, cap 20: counseling (30) and behavior (60) to S2: one
  student, 90 minutes. Caseload 1.
- E6 Fay Gold, COORD, cap 30: nothing.
- S4's DHH is not planned (no DHH teacher on staff); S5's SAI is not served
  (a hiring need: RSP at ELM, 1 student, minutes not given, 0.1 FTE).

SLP average: (53 + 26) / (1 + 0.5) = 52.67 per FTE, against 55.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from optimizer.district.textsafe import FORMULA_START
from optimizer.outputs import html_report, service_report, service_sheets, workbook
from optimizer.outputs.edit_sheet import EDIT_SHEET
from optimizer.outputs.export import write_report
from optimizer.outputs.html_report import render_report
from optimizer.outputs.service_sheets import SERVICE_SHEETS
from optimizer.outputs.workbook import SHEETS, write_workbook
from optimizer.planning.check import AUDIT_COLUMNS
from optimizer.planning.result import (
    ASSIGNMENT_COLUMNS,
    CASELOAD_COLUMNS,
    HIRING_COLUMNS,
    SERVICE_CASELOAD_COLUMNS,
    SERVICE_COLUMNS,
    UNASSIGNED_COLUMNS,
    PlanTables,
)

NAMES = {"E1": "Ana Ruiz", "E2": "Ben Cho", "E3": "Cy Park", "E4": "Di Lee",
         "E5": "Eve Diaz", "E6": "Fay Gold"}
NAN = float("nan")

SERVICES = [  # student, school, service, provider, role, minutes, kept, reason
    ("S1", "ELM", "SAI", "E1", "RSP", 300, True, "This year's resource specialist"),
    ("S1", "ELM", "SPEECH", "E3", "SLP", 60, True, "This year's SLP"),
    ("S2", "ELM", "BEHAVIOR", "E5", "PSY", 60, False, "The school psychologist"),
    ("S2", "ELM", "COUNSELING", "E5", "PSY", 30, False, "The school psychologist"),
    ("S2", "ELM", "SPEECH", "E3", "SLP", 30, True, "This year's SLP"),
    ("S3", "ELM", "SAI", "E2", "SDC", 1200, True, "The SDC class at ELM"),
    ("S3", "ELM", "SPEECH", "E4", "SLP", 45, False, "E3 is near the cap"),
    ("S4", "OAK", "DHH", "", "", NAN, False, "Not planned: no staff provides it"),
    ("S4", "OAK", "SAI", "E1", "RSP", NAN, True, "This year's resource specialist"),
    ("S5", "ELM", "SAI", "", "RSP", NAN, False, "Not served: every eligible provider is full"),
    ("S5", "ELM", "SPEECH", "E3", "SLP", 60, False, "Closest SLP with room"),
    ("S6", "ELM", "SPEECH", "E4", "SLP", 30, True, "This year's SLP"),
]
ASSIGNED = {  # student: (case manager, role, capacity, grade, primary, services)
    "S1": ("E1", "RSP", "instruction", "3", "SLD", "SAI;SPEECH"),
    "S2": ("E3", "SLP", "service", "1", "SLI", "BEHAVIOR;COUNSELING;SPEECH"),
    "S3": ("E2", "SDC", "instruction", "4", "AUT", "SAI;SPEECH"),
    "S4": ("E1", "RSP", "instruction", "2", "HH", "DHH;SAI"),
    "S5": ("E3", "SLP", "service", "5", "SLD", "SAI;SPEECH"),
    "S6": ("E1", "RSP", "coordination", "K", "SLI", "SPEECH"),
}
EDUCATORS = [  # id, role, schools, cap, fte, other_load, served, case-managed, minutes, capacity
    ("E1", "RSP", "ELM;OAK", 28, 1.0, 1, 2, 3, 300, NAN),
    ("E2", "SDC", "ELM", 12, 1.0, 0, 1, 1, 1200, NAN),
    ("E3", "SLP", "ELM", 55, 1.0, 50, 3, 2, 150, 2250),
    ("E4", "SLP", "ELM", 27, 0.5, 24, 2, 0, 75, 60),
    ("E5", "PSY", "ELM", 20, 1.0, 0, 1, 0, 90, NAN),
    ("E6", "COORD", "ELM", 30, 1.0, 0, 0, 0, 0, NAN),
]
CASELOAD = {"E1": 4, "E2": 1, "E3": 53, "E4": 26, "E5": 1, "E6": 0}
SERVICES_BLOCK = {
    "by_service": {
        "BEHAVIOR": {"pairs": 1, "served": 1, "not_served": 0, "not_planned": 0},
        "COUNSELING": {"pairs": 1, "served": 1, "not_served": 0, "not_planned": 0},
        "DHH": {"pairs": 1, "served": 0, "not_served": 0, "not_planned": 1},
        "SAI": {"pairs": 4, "served": 3, "not_served": 1, "not_planned": 0},
        "SPEECH": {"pairs": 5, "served": 5, "not_served": 0, "not_planned": 0}},
    "not_planned_reason": "no staff provides it",
    "role_average": {"SLP": {"caseload": 79, "fte": 1.5, "average": 52.67, "limit": 55,
                             "source": "EC 56363.3; 5 CCR 3051.1(b)"}},
    "over_minutes_capacity": ["E4"], "minutes_capacity_used": True,
    "levels": {"unserved_pairs": [1, 1], "unplaced_students": [0, 0]},
    "status": "optimal", "gap": 0.0}


def make_tables(services: bool = True) -> PlanTables:
    """The district above as a plan's tables (``services=False``: the same plan
    made without planning services, as today's plans are)."""
    a = pd.DataFrame([{
        "student_id": sid, "school_id": "OAK" if sid == "S4" else "ELM",
        "case_manager_id": cm, "role": role, "capacity": cap, "rank": 0,
        "kept_current": True, "reason": f"Case manager {cm}", "current_case_manager_id": cm,
        "grade": grade, "primary_disability": primary, "services": codes,
        "annual_review": "2027-03-01", "triennial_review": "2028-03-01"}
        for sid, (cm, role, cap, grade, primary, codes) in ASSIGNED.items()],
        columns=ASSIGNMENT_COLUMNS)
    rows = []
    for eid, role, schools, cap, fte, other, served, managed, minutes, capacity in EDUCATORS:
        students = sum(1 for v in ASSIGNED.values() if v[0] == eid)
        load = CASELOAD[eid] if services else students + other
        row = {"educator_id": eid, "role": role, "schools": schools, "cap": cap, "load": load,
               "load_ratio": load / cap, "students": students, "best_practice_students": 0,
               "name": NAMES[eid], "fte": fte, "other_load": other}
        if services:
            row.update(served=served, case_managed=managed, caseload=CASELOAD[eid],
                       minutes=minutes, minutes_capacity=capacity)
        rows.append(row)
    cl = pd.DataFrame(rows, columns=CASELOAD_COLUMNS + (SERVICE_CASELOAD_COLUMNS if services
                                                        else []))
    hiring_cols = HIRING_COLUMNS + (["service", "minutes"] if services else [])
    hiring = pd.DataFrame([{"school_id": "ELM", "region": "North", "role": "RSP",
                            "credential": "ESMM", "students": 1, "fte": 0.1, "service": "SAI",
                            "minutes": NAN}] if services else [], columns=hiring_cols)
    summary = {"district": "Hand", "status": "optimal", "engine": "by hand", "students": 6,
               "placed": 6, "unplaced": 0, "best_practice_share": 1.0,
               "continuity_share": 1.0, "load_ratio": {"max": 0.96, "mean": 0.5, "std": 0.1}}
    if services:
        summary["services"] = SERVICES_BLOCK
    svc = (pd.DataFrame(SERVICES, columns=SERVICE_COLUMNS) if services
           else pd.DataFrame(columns=SERVICE_COLUMNS))
    return PlanTables(a, cl, pd.DataFrame(columns=UNASSIGNED_COLUMNS), hiring,
                      pd.DataFrame(columns=AUDIT_COLUMNS), summary, svc)


def _rows(ws):
    return [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("svc") / "plan.xlsx"
    write_workbook(make_tables(), path)
    return load_workbook(path)


def test_service_plan_adds_two_sheets_after_rosters(book):
    assert book.sheetnames == ["Summary", "Case managers", "Rosters", *SERVICE_SHEETS,
                               "Changes", "Unplaced", "Hiring needs", "Audit (this year)",
                               EDIT_SHEET]
    for name in SERVICE_SHEETS:
        ws = book[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        assert ws.print_title_rows == "$1:$1", name


def test_whole_numbers_show_without_a_trailing_point_and_no_figure_is_made_up(book):
    # FTE and loads were formatted "0.##", which Excel shows as "1." for 1;
    # the Summary said "Connected components 0" for a service plan, which has
    # no such figure.
    ws = book["Case managers"]
    header = [c.value for c in ws[1]]
    fte = header.index("FTE") + 1
    cells = [ws.cell(row=r, column=fte) for r in range(2, ws.max_row + 1)]
    assert cells and all(c.number_format == "General" for c in cells)
    summary = [r[0] for r in book["Summary"].iter_rows(values_only=True)]
    assert "Connected components" not in summary


def test_services_sheet_one_row_per_student_and_service(book):
    ws = book["Services"]
    assert [c.value for c in ws[1]] == ["Student", "School", "Service", "Provider",
                                        "Provider name", "Role", "IEP minutes a week",
                                        "Kept current", "Why", "Student name", "School name"]
    expected = [[sid, school, svc, prov or None, NAMES.get(prov), role or None,
                 None if minutes != minutes else minutes, kept, reason]
                for sid, school, svc, prov, role, minutes, kept, reason in SERVICES]
    assert [r[:9] for r in _rows(ws)] == expected  # then the (here blank) names
    assert ws.auto_filter.ref == "A1:K13"


def test_provider_rosters_by_hand(book):
    ws = book["Provider rosters"]
    assert [c.value for c in ws[1]] == [
        "Provider", "Provider name", "Role", "Student", "School", "Grade",
        "Primary disability", "Serves", "IEP minutes a week", "Case manager",
        "Case manager name", "Caseload", "Student name", "School name"]
    total = [None, None, None, None]  # school, grade, disability are blank on a total row
    assert [r[:12] for r in _rows(ws)] == [
        # The psychologist: one student with two services is one case, 30 + 60 minutes.
        ["E5", "Eve Diaz", "PSY", "S2", "ELM", "1", "SLI", "BEHAVIOR;COUNSELING", 90, "E3",
         "Cy Park", "serves"],
        ["E5", "Eve Diaz", "PSY", "Total", *total[:3], "1 student", 90, None, None,
         "caseload 1 of cap 20"],
        # The RSP teacher: S6 is on her caseload as its coordinator, not served.
        ["E1", "Ana Ruiz", "RSP", "S1", "ELM", "3", "SLD", "SAI", 300, "E1", "Ana Ruiz",
         "serves and case-manages"],
        ["E1", "Ana Ruiz", "RSP", "S6", "ELM", "K", "SLI", None, None, "E1", "Ana Ruiz",
         "case-manages only"],
        ["E1", "Ana Ruiz", "RSP", "S4", "OAK", "2", "HH", "SAI", None, "E1", "Ana Ruiz",
         "serves and case-manages"],
        ["E1", "Ana Ruiz", "RSP", "Total", *total[:3], "3 students", 300, None, None,
         "caseload 4 of cap 28; 1 served outside this plan; minutes not given for 1"],
        # The SDC class list.
        ["E2", "Ben Cho", "SDC", "S3", "ELM", "4", "AUT", "SAI", 1200, "E2", "Ben Cho",
         "serves and case-manages"],
        ["E2", "Ben Cho", "SDC", "Total", *total[:3], "1 student", 1200, None, None,
         "caseload 1 of cap 12"],
        # The SLPs' lists: minutes per student and in total.
        ["E3", "Cy Park", "SLP", "S1", "ELM", "3", "SLD", "SPEECH", 60, "E1", "Ana Ruiz",
         "serves"],
        ["E3", "Cy Park", "SLP", "S2", "ELM", "1", "SLI", "SPEECH", 30, "E3", "Cy Park",
         "serves and case-manages"],
        ["E3", "Cy Park", "SLP", "S5", "ELM", "5", "SLD", "SPEECH", 60, "E3", "Cy Park",
         "serves and case-manages"],
        ["E3", "Cy Park", "SLP", "Total", *total[:3], "3 students", 150, None, None,
         "caseload 53 of cap 55; 50 served outside this plan; "
         "IEP minutes 150 of 2,250 a week"],
        ["E4", "Di Lee", "SLP", "S3", "ELM", "4", "AUT", "SPEECH", 45, "E2", "Ben Cho",
         "serves"],
        ["E4", "Di Lee", "SLP", "S6", "ELM", "K", "SLI", "SPEECH", 30, "E1", "Ana Ruiz",
         "serves"],
        ["E4", "Di Lee", "SLP", "Total", *total[:3], "2 students", 75, None, None,
         "caseload 26 of cap 27; 24 served outside this plan; IEP minutes 75 of 60 a week: "
         "over"],
    ]


def test_provider_rosters_print_a_page_per_provider(book):
    ws = book["Provider rosters"]
    # Sheet rows (1-based): header 1, E5 2-3, E1 4-7, E2 8-9, E3 10-13, E4 14-16; a
    # break id n sits between rows n and n + 1.
    assert [b.id for b in ws.row_breaks.brk] == [3, 7, 9, 13]
    ps = ws.page_setup
    assert ps.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ps.fitToWidth or 1, ps.fitToHeight) == (1, 0)  # 1 wide is the default: omitted
    rules = [r for rng in ws.conditional_formatting for r in rng.rules]
    assert [r.formula for r in rules] == [['$D2="Total"']]


def test_case_managers_sheet_shows_service_caseloads(book):
    ws = book["Case managers"]
    header = [c.value for c in ws[1]]
    # (No bare "Students" beside them: it was the students case-managed again.)
    assert "Students" not in header
    assert header[10:] == ["Students served", "Students case-managed",
                           "Caseload (cap applies)", "IEP minutes a week", "Minutes capacity"]
    got = {r[0]: r[10:] for r in _rows(ws)}
    assert got == {"E1": [2, 3, 4, 300, None], "E2": [1, 1, 1, 1200, None],
                   "E3": [3, 2, 53, 150, 2250], "E4": [2, 0, 26, 75, 60],
                   "E5": [1, 0, 1, 90, None], "E6": [0, 0, 0, 0, None]}
    # The load ratio (column H, coloured) is the caseload over the cap.
    assert {r[0]: round(r[7], 4) for r in _rows(ws)}["E3"] == round(53 / 55, 4)


def test_hiring_needs_by_service(book):
    ws = book["Hiring needs"]
    assert [c.value for c in ws[1]] == ["School", "School name", "Region", "Role", "Credential",
                                        "Service",
                                        "Students", "IEP minutes a week", "FTE"]
    assert _rows(ws) == [["ELM", None, "North", "RSP", "ESMM", "SAI", 1, None, 0.1]]


def test_summary_sheet_has_the_services_and_the_slp_average(book):
    rows = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=3, values_only=True)}
    assert rows["  service SAI"] == "3 of 4 served; 1 not served; 0 not planned"
    assert rows["  service DHH"] == "0 of 1 served; 0 not served; 1 not planned"
    assert rows["  not planned means"] == "no staff provides it"
    assert rows["  SLP average caseload per FTE"] == (
        "52.7 (79 students over 1.5 FTE): within the limit of 55 (EC 56363.3; 5 CCR 3051.1(b))")
    assert rows["  providers over their IEP-minutes capacity"] == "Di Lee (E4)"


def test_slp_average_over_the_limit_is_said_so():
    text = service_sheets.role_average_text(
        "SLP", {"caseload": 120, "fte": 2, "average": 60, "limit": 55, "source": "EC 56363.3"})
    assert text == "60.0 (120 students over 2 FTE): over the limit of 55 (EC 56363.3)"


def test_rosters_read_back_from_a_plan_folder_give_the_same_rows():
    """A plan folder read back has text cells: 'true'/'false' and '' minutes."""
    t = make_tables()
    s = t.services.copy()
    s["kept_current"] = s["kept_current"].map({True: "true", False: "false"})
    s["minutes"] = s["minutes"].map(lambda m: "" if m != m else str(int(m)))
    cl = t.caseloads.copy()
    for col in SERVICE_CASELOAD_COLUMNS:
        cl[col] = cl[col].map(lambda m: "" if m != m else str(m))
    back = dataclasses.replace(t, services=s, caseloads=cl)
    rows, starts = service_sheets.provider_rosters(t, NAMES)
    rows_back, starts_back = service_sheets.provider_rosters(back, NAMES)
    pd.testing.assert_frame_equal(rows, rows_back)
    assert starts == starts_back == [2, 6, 8, 12]
    frame = service_sheets.services_frame(back, NAMES)
    assert frame["kept_current"].tolist() == [r[6] for r in SERVICES]


def _bytes(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in sorted(z.namelist())}


def test_a_plan_without_services_gives_todays_bytes(tmp_path, monkeypatch):
    """The hooks do nothing without services: the workbook and the report are
    the bytes the code gives with the hooks taken out."""
    tables = make_tables(services=False)
    write_workbook(tables, tmp_path / "hooked.xlsx")
    hooked_html = render_report(tables)
    assert "Service" not in hooked_html
    assert load_workbook(tmp_path / "hooked.xlsx").sheetnames == list(SHEETS)
    monkeypatch.setattr(workbook, "caseload_columns", lambda cols, frame: list(cols))
    monkeypatch.setattr(workbook, "hiring_columns", lambda cols, frame: list(cols))
    monkeypatch.setattr(workbook, "service_summary_rows", lambda summary, names: [])
    monkeypatch.setattr(workbook, "write_service_sheets", lambda *a: None)
    monkeypatch.setattr(html_report, "hiring_table_columns", lambda cols, frame: list(cols))
    monkeypatch.setattr(html_report, "render_service_section", lambda *a, **k: "")
    write_workbook(tables, tmp_path / "bare.xlsx")
    assert (tmp_path / "hooked.xlsx").read_bytes() == (tmp_path / "bare.xlsx").read_bytes()
    assert render_report(tables) == hooked_html


def test_same_plan_same_bytes_whatever_the_row_order(tmp_path):
    t = make_tables()
    shuffled = dataclasses.replace(
        t, services=t.services.sample(frac=1, random_state=7).reset_index(drop=True),
        assignments=t.assignments.sample(frac=1, random_state=3).reset_index(drop=True))
    write_workbook(t, tmp_path / "a.xlsx")
    write_workbook(t, tmp_path / "b.xlsx")
    write_workbook(shuffled, tmp_path / "c.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    a, c = _bytes(tmp_path / "a.xlsx"), _bytes(tmp_path / "c.xlsx")
    sheets = load_workbook(tmp_path / "a.xlsx").sheetnames
    for name in ("Services", "Provider rosters"):
        member = f"xl/worksheets/sheet{sheets.index(name) + 1}.xml"
        assert a[member] == c[member], name
    assert render_report(t) == render_report(t)
    assert render_report(shuffled) == render_report(t)


HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+SUM(A1:A9)", "-2+3",
           "@cmd|' /C calc'!A0", "<script>alert(1)</script> Lee"]


def _hostile() -> PlanTables:
    t = make_tables()
    cl = t.caseloads.copy()
    cl.loc[cl["educator_id"] == "E5", "name"] = HOSTILE[0]
    cl.loc[cl["educator_id"] == "E4", "name"] = HOSTILE[4]
    s = t.services.copy()
    s["reason"] = [HOSTILE[i % len(HOSTILE)] for i in range(len(s))]
    return dataclasses.replace(t, caseloads=cl, services=s)


def test_injection_in_a_provider_name_or_a_reason_is_neutralized(tmp_path):
    path = write_workbook(_hostile(), tmp_path / "h.xlsx")
    wb = load_workbook(path)
    for name in SERVICE_SHEETS:
        for row in wb[name].iter_rows(min_row=2):
            for c in row:
                assert c.data_type != "f", (name, c.coordinate, c.value)
                if isinstance(c.value, str):
                    assert not c.value.startswith(FORMULA_START), (name, c.coordinate)
    why = [r[8] for r in _rows(wb["Services"])]
    assert why[0] == "'" + HOSTILE[0] and why[1] == "'" + HOSTILE[1]
    assert "'" + HOSTILE[0] in {r[1] for r in _rows(wb["Provider rosters"])}
    text = render_report(_hostile())
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Lee (E4)" in text  # over minutes capacity
    assert len(re.findall(r"<script>", text)) == 1  # only the report's own


def test_redact_replaces_names_and_withholds_a_service_lock_reason(tmp_path):
    t = make_tables()
    s = t.services.copy()
    s.loc[0, "reason"] = "Pinned. Lock reason: her mother asked for Ms Ruiz"
    t = dataclasses.replace(t, services=s)
    write_workbook(t, tmp_path / "r.xlsx", redact=True)
    write_report(t, tmp_path / "r.html", redact=True)
    blobs = [*_bytes(tmp_path / "r.xlsx").values(), (tmp_path / "r.html").read_bytes()]
    for blob in blobs:
        for secret in [*NAMES.values(), "her mother"]:
            assert secret.encode() not in blob, secret
    why = _rows(load_workbook(tmp_path / "r.xlsx")["Services"])[0][8]
    assert why == "Pinned. Lock reason: withheld"


def _section(text: str) -> str:
    return text[text.index("<section class='services'>"):text.index("</section>")]


def test_report_service_section_by_hand():
    text = render_report(make_tables())
    sec = _section(text)
    assert ("Service plan: optimal. Services not served: 1 (at least 1 in any plan); "
            "students without a case manager: 0 (at least 0 in any plan). Gap 0.00%.") in sec
    table = re.search(r"<h2>Services on the IEPs</h2>(<table>.*?</table>)", sec).group(1)
    cells = [re.findall(r"<t[dh]>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>",
                                                                          table)]
    assert cells == [["Service", "Students with it", "Served", "Not served",
                      "Not planned (no staff provides it)"],
                     ["BEHAVIOR", "1", "1", "0", "0"], ["COUNSELING", "1", "1", "0", "0"],
                     ["DHH", "1", "0", "0", "1"], ["SAI", "4", "3", "1", "0"],
                     ["SPEECH", "5", "5", "0", "0"]]
    assert ("<b>SLP district average caseload: 52.7 per FTE</b> (79 students over 1.5 FTE), "
            "within the legal limit of 55 — EC 56363.3; 5 CCR 3051.1(b).") in sec
    providers = re.search(r"<h2>Providers, fullest first</h2>(<table>.*?</table>)",
                          sec).group(1)
    rows = [re.findall(r"<td>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>",
                                                                   providers)][1:]
    # caseload / cap: E3 53/55 = .9636 > E4 26/27 = .9630 > E1 4/28 = .143
    # > E2 1/12 = .083 > E5 1/20 = .05; E6 serves no one, so is no provider.
    assert rows == [["Cy Park (E3)", "SLP", "53", "55", "3", "2", "150", "2,250"],
                    ["Di Lee (E4)", "SLP", "26", "27", "2", "0", "75", "60"],
                    ["Ana Ruiz (E1)", "RSP", "4", "28", "2", "3", "300", ""],
                    ["Ben Cho (E2)", "SDC", "1", "12", "1", "1", "1,200", ""],
                    ["Eve Diaz (E5)", "PSY", "1", "20", "1", "0", "90", ""]]
    assert "<b>Over their IEP-minutes capacity:</b> Di Lee (E4).</p>" in sec
    chart = re.search(r'<figure class="chart" data-chart="service-caseloads">.*?</figure>',
                      sec).group(0)
    dots = re.findall(r'<circle class="mark"[^>]*><title>([0-9.]+)</title>', chart)
    assert dots == ["0.05", "0.14", "0.08", "0.96", "0.96"]  # PSY, RSP, SDC, SLP, SLP
    labels = re.findall(r'text-anchor="end">(\w+)</text>', chart)
    assert labels == ["PSY", "RSP", "SDC", "SLP"]
    # Hiring needs by service; the minutes not given are a blank cell, not "nan".
    hiring = re.search(r"<h2>Hiring needs</h2>(<table>.*?</table>)", text).group(1)
    cells = [re.findall(r"<t[dh]>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>",
                                                                          hiring)]
    assert cells == [["School", "Region", "Role", "Credential", "Service", "Students",
                      "IEP minutes a week", "FTE"],
                     ["ELM", "North", "RSP", "ESMM", "SAI", "1", "", "0.1"]]


def test_report_says_when_the_slp_average_is_over_and_lists_at_most_40(monkeypatch):
    t = make_tables()
    block = {**SERVICES_BLOCK, "over_minutes_capacity": [], "minutes_capacity_used": False,
             "role_average": {"SLP": {"caseload": 120, "fte": 2.0, "average": 60.0,
                                      "limit": 55, "source": "EC 56363.3; 5 CCR 3051.1(b)"}}}
    monkeypatch.setattr(service_report, "MAX_PROVIDERS_LISTED", 2)
    sec = _section(render_report(dataclasses.replace(t, summary={**t.summary,
                                                                 "services": block})))
    assert "60.0 per FTE</b> (120 students over 2 FTE), over the legal limit of 55" in sec
    assert "the local plan to set it and give the reasons" in sec
    assert "The 2 fullest of 5 providers are listed" in sec
    assert "No IEP-minutes capacity is set" in sec


def test_report_service_chart_renders_in_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed; the report was not rendered in a browser")
    report = write_report(make_tables(), tmp_path / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          report.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert re.search(r'data-chart="service-caseloads"[^>]*data-rendered="yes"', dom)
    assert 'data-charts-rendered="4/4"' in dom



def test_rosters_without_minutes_say_nothing_of_minutes():
    """No services.csv: services come from students.services, with no minutes and
    no minutes capacity. The totals then give only the caseload against the cap."""
    t = make_tables()
    s = t.services.assign(minutes=NAN)
    cl = t.caseloads.assign(minutes=NAN, minutes_capacity=NAN)
    rows, _ = service_sheets.provider_rosters(dataclasses.replace(t, services=s, caseloads=cl),
                                              NAMES)
    totals = rows[rows["student_id"] == "Total"]
    assert totals["relation"].tolist() == [
        "caseload 1 of cap 20", "caseload 4 of cap 28; 1 served outside this plan",
        "caseload 1 of cap 12", "caseload 53 of cap 55; 50 served outside this plan",
        "caseload 26 of cap 27; 24 served outside this plan"]
    assert rows["minutes"].isna().all()


def test_no_service_served_leaves_the_case_managers_rosters_not_an_error(tmp_path):
    """Every service not planned (no providers on staff): the rosters list
    only whom each case manager case-manages, one block each."""
    t = make_tables()
    s = t.services.assign(provider_id="", reason="Not planned: no staff provides it")
    t = dataclasses.replace(t, services=s)
    rows, starts = service_sheets.provider_rosters(t, NAMES)
    a = t.assignments[t.assignments["case_manager_id"] != ""]
    listed = rows[rows["student_id"] != "Total"]
    assert set(listed["relation"]) == {service_sheets.MANAGES}
    assert sorted(zip(listed["provider_id"], listed["student_id"], strict=True)) == sorted(
        zip(a["case_manager_id"], a["student_id"], strict=True))
    assert len(starts) == a["case_manager_id"].nunique() - 1  # (a page break before each but
    wb = load_workbook(write_workbook(t, tmp_path / "x.xlsx"))  # the first block)
    assert len(_rows(wb["Provider rosters"])) == len(rows)
    assert len(_rows(wb["Services"])) == len(SERVICES)
    assert "No one serves a service in this plan." in _section(render_report(t))


def test_a_case_manager_who_serves_no_one_has_a_roster():
    """A program specialist who case-manages without serving: their block
    lists those students, so every caseload in caseloads.csv has a roster."""
    t = make_tables()
    served = set(t.services["provider_id"])
    a = t.assignments.copy()
    a.loc[0, "case_manager_id"] = "PS1"  # someone who serves nothing
    assert "PS1" not in served
    rows, _ = service_sheets.provider_rosters(dataclasses.replace(t, assignments=a), NAMES)
    block = rows[rows["provider_id"] == "PS1"]
    assert block["student_id"].tolist()[:-1] == [a.loc[0, "student_id"]]
    assert block["relation"].tolist()[0] == service_sheets.MANAGES


def test_a_name_given_as_na_or_missing_is_a_blank_cell_on_the_rosters():
    """A provider or case manager whose name is NA (a table read with gaps) or
    not known at all: a blank name, never "nan", on the Provider rosters."""
    t = make_tables()
    rows, _ = service_sheets.provider_rosters(t, {**NAMES, "E1": NAN, "E2": None})
    for who in ("E1", "E2"):
        assert set(rows.loc[rows["provider_id"] == who, "provider_name"]) == {""}
        assert set(rows.loc[rows["case_manager_id"] == who, "cm_name"]) <= {""}
    rows, _ = service_sheets.provider_rosters(t, {})
    assert set(rows["provider_name"]) == {""} and set(rows["cm_name"]) == {""}
    assert rows["provider_name"].map(type).eq(str).all()


def test_service_plan_headline_counts_services_and_hires_to_serve_them():
    """The hand district's 12 service rows: S4's DHH not planned, S5's SAI not
    served, 10 served; the one hiring need serves S5's SAI. Everyone has a
    case manager, so the hire is "to serve", not "to place"."""
    from optimizer.planning.result import plain_headline

    t = make_tables()
    served = sum(1 for r in SERVICES if r[3])
    not_served = sum(1 for r in SERVICES if not r[3] and not r[7].startswith("Not planned"))
    assert (served, not_served) == (10, 1)
    lines = plain_headline(t.summary, t.hiring_needs, t.assignments)
    assert lines[0] == "All 6 students placed; 100% with the best-practice case manager."
    assert lines[1] == f"{served} of {served + not_served} planned IEP services served, " \
                       f"{not_served} not served."
    # S4's DHH is outside the plan and its hiring needs: the headline says so
    # (a planner budgeting from the hires alone forgot such services).
    assert lines[2] == ("Not planned, as no one on staff may give them to these students "
                        "(a hire or a contract; not in the hiring needs; services.csv): DHH 1.")
    assert lines[3] == ("To serve every planned service: hire 0.1 FTE RSP with ESMM at ELM "
                        "for SAI of 1 student.")
    # With a student left without a case manager too, the hire says both.
    unplaced = {**t.summary, "placed": 5, "unplaced": 1}
    assert plain_headline(unplaced, t.hiring_needs, t.assignments)[3].startswith(
        "To serve every planned service and place every student: hire ")
    # Every service planned: no such line.
    planned = {**t.summary, "services": {**t.summary["services"], "by_service": {
        k: {**v, "not_planned": 0} for k, v in t.summary["services"]["by_service"].items()}}}
    assert not any(x.startswith("Not planned") for x in
                   plain_headline(planned, t.hiring_needs, t.assignments))
    # A plan of case managers only keeps its words.
    plain = make_tables(services=False)
    hiring = pd.DataFrame([{"school_id": "ELM", "region": "North", "role": "RSP",
                            "credential": "ESMM", "students": 1, "fte": 0.1}])
    assert plain_headline({**plain.summary, "placed": 5, "unplaced": 1}, hiring,
                          plain.assignments)[1].startswith("To place them: hire ")


def test_summary_keeps_the_service_solver_stages_apart_from_wall_time():
    """The service solver's stage times are added up over the district's
    parts, which two processes may solve at once, so they can exceed the
    solve's wall time: the summary says them on a line of their own, and
    its time line keeps wall-clock stages only (services_total the solve)."""
    from pathlib import Path

    from optimizer import load_district, plan

    result = plan(load_district(Path(__file__).resolve().parents[1] / "data" /
                                "sample-services"))
    lines = result.summary().splitlines()
    time_line = next(x for x in lines if x.startswith("  time "))
    wall = [part.split()[0] for part in time_line[len("  time "):].split(", ")]
    assert "services_total" in wall
    assert [k for k in wall if k.startswith("services_")] == ["services_total"]
    stages_line = next(x for x in lines if x.startswith("  service solver stages"))
    stages = [part.split()[0] for part in stages_line.split(": ", 1)[1].split(", ")]
    runtime = result.figures["runtime_s"]
    assert stages == [k.removeprefix("services_") for k in runtime
                      if k.startswith("services_") and k != "services_total"]
    assert "joint_flow" in stages


@pytest.mark.parametrize("services, title", [(True, "Service and case-manager plan"),
                                             (False, "Case-manager plan")])
def test_a_service_plan_is_titled_as_one(tmp_path, services, title):
    """The Summary sheet and the report said "Case-manager plan" of a plan
    that chooses providers too (a planner's trial)."""
    t = make_tables(services)
    wb = load_workbook(write_workbook(t, tmp_path / "x.xlsx"), read_only=True)
    assert wb["Summary"]["A1"].value == title
    assert f"<h1>{title} — Hand</h1>" in render_report(t)


def _rosters_by_loops(t: PlanTables, names: dict[str, str]) -> list[tuple]:
    """The rosters' student rows worked out one service row at a time, in
    plain Python (an oracle apart from provider_rosters' arrays): (role,
    provider, student, school, grade, disability, services, minutes, case
    manager, relation), by role, provider, school and student."""
    a = {r["student_id"]: r for r in t.assignments.fillna("").to_dict("records")}
    role = {e: r for e, r in zip(t.caseloads["educator_id"], t.caseloads["role"].fillna(""),
                                 strict=True)}
    served: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
    for r in sorted(t.services.to_dict("records"),
                    key=lambda r: (r["student_id"], r["service"], r["provider_id"])):
        if r["provider_id"]:
            role.setdefault(r["provider_id"], r["role"])
            minutes = float(r["minutes"]) if r["minutes"] not in ("", None) else NAN
            served.setdefault((r["provider_id"], r["student_id"]), []).append(
                (r["service"], r["school_id"], minutes))
    rows = []
    for (p, sid), given in served.items():
        given.sort(key=lambda g: g[0])
        minutes = [m for _, _, m in given if m == m]
        of = a.get(sid, {})
        cm = of.get("case_manager_id", "")
        # A blank school: the student's in assignments (none there: NA, last).
        school = given[0][1] or of.get("school_id")
        rows.append((role.get(p, ""), p, sid, school, of.get("grade", ""),
                     of.get("primary_disability", ""), ";".join(g[0] for g in given),
                     math.fsum(minutes) if minutes else None, cm,
                     service_sheets.SERVES_AND_MANAGES if cm == p else service_sheets.SERVES))
    for sid, r in a.items():
        cm = r["case_manager_id"]
        if cm and (cm, sid) not in served:
            rows.append((role.get(cm, ""), cm, sid, r["school_id"], r["grade"],
                         r["primary_disability"], "", None, cm, service_sheets.MANAGES))
    return sorted(rows, key=lambda r: (r[0], r[1], r[3] is None, r[3] or "", r[2]))


@pytest.fixture(scope="module")
def generated_plan(tmp_path_factory):
    from optimizer import load_district, plan
    from optimizer.generator import generate_district
    from optimizer.outputs.export import write_district

    folder = write_district(generate_district(500, seed=11, services=True),
                            tmp_path_factory.mktemp("g") / "g")
    return plan(load_district(folder)).tables()


def _odd_rows(t: PlanTables) -> PlanTables:
    """The plan with what a hand-edited or read-back plan may hold: a
    served student missing from assignments.csv, a service row with a blank
    school, three services of one student by one provider whose minutes a
    running sum adds inexactly, and every number as text ('' when blank)."""
    s = t.services.copy()
    served = s[s["provider_id"] != ""]
    first = served.iloc[0]
    extra = [first.to_dict() | {"service": code, "minutes": m}
             for code, m in (("ZZ1", 29.2), ("ZZ2", 39.2))]
    extra.append(served.iloc[1].to_dict() | {"student_id": "S-NOT-ASSIGNED", "school_id": ""})
    s.loc[first.name, "minutes"] = 6.9
    s.loc[served.index[2], "school_id"] = ""
    s = pd.concat([s, pd.DataFrame(extra)], ignore_index=True)
    s["minutes"] = s["minutes"].map(lambda m: "" if m != m else f"{m:g}")
    s["kept_current"] = s["kept_current"].map({True: "true", False: "false"})
    return dataclasses.replace(t, services=s)


@pytest.mark.parametrize("variant", ["as planned", "shuffled", "odd rows read back"])
def test_rosters_of_a_generated_plan_match_a_row_by_row_count(generated_plan, variant):
    """Every served (provider, student) once, with its services joined and
    minutes added; every case-managed student not served by their case
    manager once more; in role, provider, school, student order, then one
    total row closing each provider's block (whatever the rows' order)."""
    t = generated_plan
    if variant == "shuffled":
        t = dataclasses.replace(t, services=t.services.sample(frac=1, random_state=3),
                                assignments=t.assignments.sample(frac=1, random_state=4))
    elif variant == "odd rows read back":
        t = _odd_rows(t)
    names = workbook._names(t, False)
    rows, starts = service_sheets.provider_rosters(t, names)
    students = rows[rows["total"] == 0]
    got = [(r.role, r.provider_id, r.student_id,
            None if r.school_id != r.school_id else r.school_id, r.grade, r.primary_disability,
            r.service, None if r.minutes != r.minutes else r.minutes, r.case_manager_id,
            r.relation) for r in students.itertuples()]
    expected = _rosters_by_loops(t, names)
    if variant == "odd rows read back":
        # Not in assignments: no school to fall back on (NA), no grade, no case manager.
        (ghost,) = [r for r in got if r[2] == "S-NOT-ASSIGNED"]
        assert ghost[3] is None and ghost[4:6] == ("", "") and ghost[8] == ""
        # 6.9 + 29.2 + 39.2 added exactly (NumPy's sum gives 75.30000000000001).
        assert [r[7] for r in got if "ZZ1" in r[6]] == [75.3]
    assert len(got) > 300 and sum(";" in r[6] for r in got) >= 2  # (joined services too)
    assert got == expected
    assert (rows["provider_name"] == rows["provider_id"].map(names).fillna("")).all()
    assert (rows["cm_name"] == rows["case_manager_id"].map(names).fillna("")).all()
    # A total row closes each block, and a page break opens every block but the first.
    blocks = np.split(np.arange(len(rows)), starts)
    assert len(blocks) == rows["provider_id"].nunique()
    for block in blocks:
        ids = rows["provider_id"].to_numpy()[block]
        assert len(set(ids)) == 1 and rows["total"].to_numpy()[block].tolist() == (
            [0] * (len(block) - 1) + [1])
