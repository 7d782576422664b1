"""Exports: the workbook, IEP-system transfer files, the HTML report, their safety."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from optimizer import load_district, plan
from optimizer.cli import main
from optimizer.district.textsafe import FORMULA_START
from optimizer.outputs.export import write_plan, write_report, write_transfers
from optimizer.outputs.plan_folder import read_plan
from optimizer.outputs.service_sheets import SERVICE_SHEETS
from optimizer.outputs.workbook import SHEETS, write_workbook
from tests.conftest import SAMPLE, educator, student

HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+SUM(A1:A9)", "-2+3",
           "@cmd|' /C calc'!A0", "<script>alert(1)</script> Lee"]


@pytest.fixture(scope="module")
def sample_plan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan") / "plan"
    write_plan(plan(load_district(SAMPLE)), folder)
    return folder


def _cells(path: Path):
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                yield ws.title, c


def test_plan_folder_holds_the_workbook_with_every_sheet(sample_plan):
    wb = load_workbook(sample_plan / "plan.xlsx")
    expected = list(SHEETS)
    if (sample_plan / "services.csv").exists():  # a service plan: after Rosters
        expected[3:3] = SERVICE_SHEETS
    assert wb.sheetnames == expected
    for name in expected[1:]:
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        assert ws.print_title_rows == "$1:$1", name
        assert all(ws.column_dimensions[c].width >= 10 for c in "ABC"), name


def test_workbook_types_numbers_dates_and_colours(sample_plan):
    wb = load_workbook(sample_plan / "plan.xlsx")
    cm = wb["Case managers"]
    header = [c.value for c in cm[1]]
    assert header[:8] == ["Educator", "Name", "Role", "School names", "Schools", "FTE", "Cap",
                          "Load ratio"]
    row = [c.value for c in cm[2]]
    assert isinstance(row[6], int | float) and isinstance(row[7], int | float)
    # The colours sit on the load ratio (column H), not on a neighbour.
    assert {str(rng.sqref).split(":")[0][0] for rng in cm.conditional_formatting} == {"H"}
    rules = [r for rng in cm.conditional_formatting for r in rng.rules]
    assert len(rules) == 3  # under 80%, 80-100%, at cap
    rosters = wb["Rosters"]
    header = [c.value for c in rosters[1]]
    annual = header.index("Annual review")
    dates = [r[annual].value for r in rosters.iter_rows(min_row=2) if r[annual].value]
    assert dates and all(isinstance(d, dt.datetime) for d in dates)
    assert len(rosters.row_breaks.brk) > 50  # a page per case manager
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(min_row=3, values_only=True)}
    assert summary["Status"] == "optimal"
    assert isinstance(summary["Placed"], int | float)
    assert any(k.startswith("Input file students.csv") for k in summary)


def test_changes_sheet_lists_every_changed_student(sample_plan):
    tables = read_plan(sample_plan)
    a = tables.assignments
    expected = set(a.loc[a["case_manager_id"] != a["current_case_manager_id"], "student_id"])
    ws = load_workbook(sample_plan / "plan.xlsx")["Changes"]
    got = {r[0] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert got == expected


def hostile_district(make_district):
    educators = [educator(f"E{i}", "RSP", "ES-MMSN", name=name) for i, name in
                 enumerate(HOSTILE)]
    students = [student(f"S{i}", current_case_manager=f"E{(i + 1) % len(HOSTILE)}")
                for i in range(12)]
    students.append(student("=1+1", current_case_manager="E0"))
    return make_district(educators=educators, students=students)


def test_formula_injection_is_neutralized_everywhere(make_district, tmp_path):
    folder = hostile_district(make_district)
    out = write_plan(plan(load_district(folder)), tmp_path / "plan")
    write_transfers(read_plan(out), tmp_path / "tr", "2027-08-15", per_case_manager=True)
    for sheet, c in _cells(out / "plan.xlsx"):
        assert c.data_type != "f", (sheet, c.coordinate, c.value)
        if isinstance(c.value, str):
            assert not c.value.startswith(FORMULA_START), (sheet, c.coordinate, c.value)
    csvs = list(out.glob("*.csv")) + list((tmp_path / "tr").rglob("*.csv"))
    for path in csvs:
        for row in csv.reader(io.StringIO(path.read_text())):
            for cell in row:
                assert not cell.startswith(FORMULA_START), (path.name, cell)
    names = load_workbook(out / "plan.xlsx")["Case managers"]
    shown = {r[1] for r in names.iter_rows(min_row=2, values_only=True)}
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in shown


def test_report_escapes_html(make_district, tmp_path):
    folder = hostile_district(make_district)
    out = write_plan(plan(load_district(folder)), tmp_path / "plan")
    text = write_report(read_plan(out), tmp_path / "r.html").read_text()
    assert "<script>alert(1)</script>" not in text
    assert len(re.findall(r"<script>", text)) == 1  # only the report's own


def _all_bytes(folder: Path):
    for path in folder.rglob("*"):
        if path.is_file():
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as z:
                    for member in z.namelist():
                        yield f"{path.name}:{member}", z.read(member)
            else:
                yield path.name, path.read_bytes()


def test_redact_leaves_no_name_anywhere(tmp_path):
    d = load_district(SAMPLE)
    names = {e.name for e in d.educators.values()}
    result = plan(d)
    out = write_plan(result, tmp_path / "exports" / "plan", redact=True)
    assert main(["export", str(out), "--xlsx", str(tmp_path / "exports" / "w.xlsx"),
                 "--transfers", str(tmp_path / "exports" / "tr"), "--effective",
                 "2027-08-15", "--per-case-manager", "--redact"]) == 0
    assert main(["report", str(out), "--html", str(tmp_path / "exports" / "r.html"),
                 "--redact"]) == 0
    scanned = 0
    for where, data in _all_bytes(tmp_path / "exports"):
        scanned += 1
        for name in names:
            assert name.encode() not in data, (where, name)
    assert scanned > 10
    # Without --redact the names are there (the scan can fail).
    plain = write_plan(result, tmp_path / "plain")
    blob = b"".join(data for _, data in _all_bytes(plain))
    assert any(name.encode() in blob for name in names)


def test_transfer_files_round_trip_to_the_plan(sample_plan, tmp_path):
    tables = read_plan(sample_plan)
    out = write_transfers(tables, tmp_path / "tr", "2027-08-15", per_case_manager=True)
    rows = list(csv.DictReader((out / "transfers.csv").open()))
    assert list(rows[0]) == ["student_id", "from_case_manager_id", "to_case_manager_id",
                             "effective_date"]
    assert {r["effective_date"] for r in rows} == {"2027-08-15"}
    receivers = [r["to_case_manager_id"] for r in rows]
    assert receivers == sorted(receivers)  # grouped by the receiving case manager
    a = tables.assignments
    # Today's case managers, moved by the transfer file, give the plan.
    moved = dict(zip(a["student_id"], a["current_case_manager_id"], strict=True))
    for r in rows:
        assert moved[r["student_id"]] == r["from_case_manager_id"]
        moved[r["student_id"]] = r["to_case_manager_id"]
    assert moved == dict(zip(a["student_id"], a["case_manager_id"], strict=True))
    per = list((out / "by-case-manager").glob("to-*.csv"))
    per_rows = [r for p in per for r in csv.DictReader(p.open())]
    assert len(per_rows) == sum(1 for r in rows if r["to_case_manager_id"])
    for p in per:
        tos = {r["to_case_manager_id"] for r in csv.DictReader(p.open())}
        assert len(tos) == 1 and p.name == f"to-{tos.pop()}.csv"


def test_interrupted_plan_write_leaves_the_old_plan(sample_plan, tmp_path, monkeypatch):
    target = tmp_path / "plan"
    shutil.copytree(sample_plan, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if the planner pressed Ctrl-C mid-write

    monkeypatch.setattr("optimizer.outputs.workbook.write_workbook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_plan(plan(load_district(SAMPLE)), target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["plan"]  # no half-written folder left


def test_interrupted_workbook_write_leaves_the_old_file(sample_plan, tmp_path, monkeypatch):
    target = tmp_path / "w.xlsx"
    target.write_bytes(b"the good workbook")

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("xlsxwriter.Workbook.close", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_workbook(read_plan(sample_plan), target)
    assert target.read_bytes() == b"the good workbook"
    assert [p.name for p in tmp_path.iterdir()] == ["w.xlsx"]


def test_export_cli_errors(sample_plan, tmp_path, capsys):
    assert main(["export", str(sample_plan)]) == 2
    assert main(["export", str(sample_plan), "--transfers", str(tmp_path / "t")]) == 2
    assert "--effective" in capsys.readouterr().err
    assert main(["export", str(sample_plan), "--transfers", str(tmp_path / "t"),
                 "--effective", "15/08/2027"]) == 2
    assert main(["report", str(tmp_path), "--html", str(tmp_path / "r.html")]) == 2
    assert "not a plan folder" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_every_chart_in_chromium(sample_plan, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium where "
                    "it can); the HTML report was not rendered in a browser")
    report = write_report(read_plan(sample_plan), tmp_path / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          report.as_uri()], capture_output=True, text=True, timeout=120).stdout
    charts = re.findall(r'<figure class="chart" data-chart="([^"]+)"[^>]*data-rendered="(\w+)"',
                        dom)
    expected = [("best-practice", "yes"), ("load-ratio", "yes"), ("unplaced", "yes")]
    if (sample_plan / "services.csv").exists():  # a service plan's report has one more
        expected.append(("service-caseloads", "yes"))
    assert sorted(charts) == sorted(expected)
    assert f'data-charts-rendered="{len(expected)}/{len(expected)}"' in dom
    summary = read_plan(sample_plan).summary
    assert f"{summary['students']:,}" in dom and "best practice" in dom
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, "--window-size=1200,1400", f"--screenshot={shot}",
                    report.as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000
