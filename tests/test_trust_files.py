"""Nothing a planner owns is lost: where the tool writes, and what it never replaces.

Issue 9, section 1. Each test reproduces a way files were lost on the old main.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer.cli import main
from tests.conftest import TINY, educator, student


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def district(tmp_path) -> Path:
    d = tmp_path / "district"
    shutil.copytree(TINY, d)
    return d


def test_plan_out_the_district_itself_is_refused(district, capsys):
    before = _snapshot(district)
    assert main(["plan", str(district), "--out", str(district), "--quiet", "--no-xlsx"]) == 2
    assert "input" in capsys.readouterr().err
    assert _snapshot(district) == before


def test_plan_out_a_folder_holding_the_district_is_refused_even_with_force(district):
    before = _snapshot(district)
    for force in ([], ["--force"]):
        assert main(["plan", str(district), "--out", str(district.parent), "--quiet",
                     "--no-xlsx", *force]) == 2
    assert _snapshot(district) == before


def test_plan_out_an_unrelated_folder_needs_force(district, tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("three years of work")
    assert main(["plan", str(district), "--out", str(docs), "--quiet", "--no-xlsx"]) == 2
    err = capsys.readouterr().err
    assert "thesis.txt" in err and "--force" in err and "Traceback" not in err
    assert (docs / "thesis.txt").read_text() == "three years of work"
    # Asked for plainly, it is replaced.
    assert main(["plan", str(district), "--out", str(docs), "--quiet", "--no-xlsx",
                 "--force"]) == 0
    assert (docs / "assignments.csv").exists() and not (docs / "thesis.txt").exists()


def test_a_folder_the_tool_wrote_is_replaced(district, tmp_path):
    out = tmp_path / "plan"
    from optimizer.outputs.outfolder import MARKER

    assert main(["plan", str(district), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    assert (out / MARKER).is_file()
    assert main(["plan", str(district), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["district", "plan"]


def test_rollover_out_this_year_is_refused(district):
    before = _snapshot(district)
    assert main(["rollover", str(district), "--out", str(district)]) == 2
    assert _snapshot(district) == before


def test_transfers_into_the_plan_folder_is_refused(district, tmp_path):
    out = tmp_path / "plan"
    assert main(["plan", str(district), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    before = _snapshot(out)
    assert main(["export", str(out), "--transfers", str(out),
                 "--effective", "2027-08-15"]) == 2
    assert _snapshot(out) == before


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_file_or_link_at_out_is_an_error_and_is_kept(district, tmp_path, kind, capsys):
    target = tmp_path / "out"
    if kind == "file":
        target.write_text("notes")
    else:
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
    for force in ([], ["--force"]):
        assert main(["plan", str(district), "--out", str(target), "--quiet", "--no-xlsx",
                     *force]) == 2
    assert ("symbolic link" if kind == "symlink" else "a file") in capsys.readouterr().err
    assert target.is_symlink() == (kind == "symlink")
    if kind == "file":
        assert target.read_text() == "notes"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("out", ["", ".", "/", ".."])
def test_out_must_name_a_new_folder(district, out, monkeypatch, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("x")
    monkeypatch.chdir(work)
    for force in ([], ["--force"]):
        assert main(["plan", str(district), "--out", out, "--quiet", "--no-xlsx", *force]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert (work / "keep.txt").read_text() == "x"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporary_folder_is_removed_by_the_next_run(district, tmp_path):
    stale = tmp_path / f".plan.caseload-tmp-{_dead_pid()}-abcd1234"
    stale.mkdir()
    (stale / "assignments.csv").write_text("student data")
    live = tmp_path / f".plan.caseload-tmp-{os.getpid()}-other"  # a run still going
    live.mkdir()
    assert main(["plan", str(district), "--out", str(tmp_path / "plan"), "--quiet",
                 "--no-xlsx"]) == 0
    assert not stale.exists() and live.exists()


def test_temporary_folder_is_private_while_written(district, tmp_path, monkeypatch):
    seen = tmp_path / "modes"  # a file: the workbook may be written by a second process

    def spy(tables, path, redact=False, **_options):
        with seen.open("a") as f:
            f.write(f"{Path(path).parent.stat().st_mode & 0o777:o}\n")

    monkeypatch.setattr("optimizer.outputs.workbook.write_workbook", spy)
    assert main(["plan", str(district), "--out", str(tmp_path / "plan"), "--quiet"]) == 0
    assert seen.read_text() == "700\n"
    assert (tmp_path / "plan").stat().st_mode & 0o077  # finished: the usual rights


_SLOW_WRITE = """
import sys, time
import optimizer.outputs.workbook
def slow(*a, **k):
    print("writing", flush=True)
    time.sleep(60)
optimizer.outputs.workbook.write_workbook = slow
from optimizer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_write_removes_the_temporary_folder(district, tmp_path, sig, code):
    out = tmp_path / "plan"
    p = subprocess.Popen([sys.executable, "-c", _SLOW_WRITE, "plan", str(district),
                          "--out", str(out), "--quiet"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    assert [q for q in tmp_path.iterdir() if ".caseload-tmp-" in q.name]  # mid-write
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert p.returncode == code
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(q.name for q in tmp_path.iterdir()) == ["district"]


def test_transfer_file_names_never_collide():
    from optimizer.outputs.export import transfer_file_names

    ids = ["E.1", "E_1", "E1", "e1", "E/1", "Ана", ""]
    names = transfer_file_names(ids)
    assert len({n.casefold() for n in names.values()}) == len(ids)
    assert all(n.startswith("to-") and n.endswith(".csv") and "/" not in n
               for n in names.values())
    assert transfer_file_names(["E12"]) == {"E12": "to-E12.csv"}


def test_per_case_manager_files_keep_every_row(make_district, tmp_path):
    folder = make_district(
        educators=[educator("E.1", "RSP", "ES-MMSN"), educator("E_1", "RSP", "ES-MMSN")],
        students=[student(f"S{i}") for i in range(12)])
    out = tmp_path / "plan"
    assert main(["plan", str(folder), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    assert main(["export", str(out), "--transfers", str(tmp_path / "tr"),
                 "--effective", "2027-08-15", "--per-case-manager"]) == 0
    every = list(csv.DictReader((tmp_path / "tr" / "transfers.csv").open()))
    per = [r for f in (tmp_path / "tr" / "by-case-manager").iterdir()
           for r in csv.DictReader(f.open())]
    assert len(every) == 12 and sorted(map(str, per)) == sorted(map(str, every))
    assert {r["to_case_manager_id"] for r in every} == {"E.1", "E_1"}


def test_report_or_workbook_never_overwrites_a_plan_file(district, tmp_path):
    out = tmp_path / "plan"
    assert main(["plan", str(district), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    before = _snapshot(out)
    assert main(["report", str(out), "--html", str(out / "assignments.csv")]) == 2
    assert main(["export", str(out), "--xlsx", str(out / "summary.json")]) == 2
    assert main(["report", str(out), "--html", str(out)]) == 2
    assert _snapshot(out) == before
    before = _snapshot(district)
    assert main(["graph", str(district), "--edges", str(district / "students.csv")]) == 2
    assert _snapshot(district) == before
    # Beside the plan's files is fine (as `make demo` does).
    assert main(["report", str(out), "--html", str(out / "report.html")]) == 0


def test_stale_temporary_file_of_a_single_output_is_removed(district, tmp_path):
    out = tmp_path / "plan"
    assert main(["plan", str(district), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    stale = tmp_path / f".r.html.caseload-tmp-{_dead_pid()}-abcd.html"
    stale.write_text("half a report")
    assert main(["report", str(out), "--html", str(tmp_path / "r.html")]) == 0
    assert not stale.exists() and (tmp_path / "r.html").exists()
