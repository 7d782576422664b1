"""The `caseload` command, run as a planner would."""

from __future__ import annotations

import json
import subprocess
import sys

from optimizer.cli import main
from tests.conftest import ROOT, SAMPLE, educator, student


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer.cli", *args],
                          capture_output=True, text=True)


def test_validate_sample_ok(capsys):
    assert main(["validate", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "warning" in out


def test_validate_json_lists_errors(make_district):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN", fte="2")],
                           students=[student("S1")])
    r = run("validate", str(folder), "--json")
    assert r.returncode == 2
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert data["errors"] == [{"severity": "error", "file": "educators.csv", "row": 2,
                               "column": "fte", "value": "2",
                               "expected": "a number greater than 0 and at most 1"}]


def test_missing_folder_is_a_clear_error(tmp_path):
    r = run("validate", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "nothing is there" in r.stderr


def test_graph_on_broken_district_exits_2(make_district):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                           students=[student("S1", grade="99")])
    r = run("graph", str(folder))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "students.csv row 2, column grade: '99'" in r.stderr


def test_graph_text_and_json(capsys, tmp_path):
    assert main(["graph", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "Eligibility graph" in out and "Per school:" in out
    edges = tmp_path / "edges.csv"
    assert main(["graph", str(SAMPLE), "--json", "--edges", str(edges)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["students"] == 1900
    assert data["edges"] == sum(data["edges_by_capacity"].values())
    assert len(data["schools"]) == 12
    assert edges.read_text().count("\n") == data["edges"] + 1


def test_graph_lists_unplaceable_with_reasons(make_district, capsys):
    folder = make_district(educators=[educator("E1", "OT", "OT-LIC")],
                           students=[student("S1", services="SAI;OT")])
    assert main(["graph", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Students with no eligible case manager (1):" in out
    assert "E1 (OT): May case-manage: Occupational therapist (OT) is not a case-manager" in out


def test_explain_shows_each_rule(make_district, capsys):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN"),
                                      educator("E2", "SDC", "ES-ESN")],
                           students=[student("S1")])
    assert main(["explain", str(folder), "S1", "--all"]) == 0
    out = capsys.readouterr().out
    assert "Teacher E1 (E1, RSP); credentials ES-MMSN (Education" in out
    assert ": best-practice match, as instruction" in out
    assert "Teacher E2 (E2, SDC); credentials ES-ESN" in out
    assert ": coordinator only, as coordination" in out
    assert "NO   Teaches the student's SAI: SDC teaches SDC" in out


def test_explain_unknown_student(capsys):
    assert main(["explain", str(SAMPLE), "NOBODY"]) == 2
    assert "No student 'NOBODY'" in capsys.readouterr().err


def test_edge_export_neutralizes_formulas(make_district, tmp_path):
    folder = make_district(educators=[educator("=cmd|' /C calc'!A0", "RSP", "ES-MMSN")],
                           students=[student("S1")])
    out = tmp_path / "edges.csv"
    assert main(["graph", str(folder), "--edges", str(out)]) == 0
    text = out.read_text()
    assert "\n=" not in text and ",=" not in text
    assert "'=cmd" in text


def test_generate_writes_a_valid_district(tmp_path):
    r = run("generate", str(tmp_path / "g"), "--students", "400", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "generating 400 synthetic students" in r.stderr  # progress (slow at 100,000)
    assert main(["validate", str(tmp_path / "g")]) == 0


def test_plan_writes_every_file_and_prints_summary(tmp_path):
    r = run("plan", str(SAMPLE), "--out", str(tmp_path / "plan"))
    assert r.returncode == 0, r.stderr
    assert "All 1,900 students placed" in r.stdout and "status optimal" in r.stdout
    assert "solving" in r.stderr  # progress lines
    for name in ("assignments.csv", "caseloads.csv", "unassigned.csv", "hiring_needs.csv",
                 "summary.json"):
        assert (tmp_path / "plan" / name).exists(), name
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["status"] == "optimal" and summary["students"] == 1900
    import csv

    with (tmp_path / "plan" / "assignments.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:8] == ["student_id", "school_id", "case_manager_id", "role",
                                 "capacity", "rank", "kept_current", "reason"]
    assert {r["kept_current"] for r in rows} == {"true", "false"}


def test_plan_on_broken_district_exits_2(tmp_path):
    r = run("plan", str(ROOT / "tests" / "data" / "broken-many"), "--out", str(tmp_path / "p"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "p").exists()


def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run("plan", str(SAMPLE), "--out", str(blocker / "plan"), "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Cannot read or write" in r.stderr


def test_bad_numbers_on_the_command_line(tmp_path):
    r = run("plan", str(SAMPLE), "--out", str(tmp_path / "p"), "--time-limit", "0")
    assert r.returncode == 2 and "'0': expected a number above 0" in r.stderr
    r = run("generate", str(tmp_path / "g"), "--students", "5")
    assert r.returncode == 2 and "'5': expected a whole number from 50" in r.stderr
    # Issue 9: never nan, inf or a negative seed.
    for args in (["plan", str(SAMPLE), "--out", str(tmp_path / "p"), "--change-weight", "nan"],
                 ["plan", str(SAMPLE), "--out", str(tmp_path / "p"), "--change-weight", "-1"],
                 ["plan", str(SAMPLE), "--out", str(tmp_path / "p"), "--time-limit", "nan"],
                 ["plan", str(SAMPLE), "--out", str(tmp_path / "p"), "--time-limit", "inf"],
                 ["generate", str(tmp_path / "g"), "--seed", "-1"],
                 ["graph", str(SAMPLE), "--limit", "-5"]):
        assert main(args) == 2, args
    assert not (tmp_path / "p").exists() and not (tmp_path / "g").exists()
