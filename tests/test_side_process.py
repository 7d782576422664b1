"""plan.xlsx written in a second process while the CSVs are written (issue 12):
the same bytes as in one process, errors of the child reported (never a
traceback, never a silently missing workbook), no half-written folder, no
zombie, Ctrl-C clean (optimizer/outputs/side_process.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimizer import load_district, plan
from optimizer.cli import main
from optimizer.graph import edge_table
from optimizer.outputs import side_process, xlsx_rows
from optimizer.outputs.export import BESIDE_SPOOL_BYTES, write_plan
from tests.conftest import ROOT, SAMPLE, TINY, forks_counted

FORKS = side_process.can_fork()
needs_fork = pytest.mark.skipif(not FORKS, reason="no fork here (not Linux, or one core)")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def district(tmp_path) -> Path:
    d = tmp_path / "district"
    shutil.copytree(TINY, d)
    return d


@pytest.fixture(autouse=True)
def workbook_beside(monkeypatch):
    # The workbook's second process is off by default (it did not pay, see
    # write_plan); these tests switch it on as a planner would.
    monkeypatch.setenv("CASELOAD_WORKBOOK_PROCESS", "1")


def test_by_default_the_workbook_is_written_in_this_process(district, tmp_path,
                                                             monkeypatch):
    monkeypatch.delenv("CASELOAD_WORKBOOK_PROCESS")
    forks = forks_counted(monkeypatch)
    assert main(["plan", str(district), "--out", str(tmp_path / "p"), "--quiet"]) == 0
    # Only this year's audit beside the solve (where the platform forks).
    assert len(forks) == (1 if FORKS else 0)
    assert (tmp_path / "p" / "plan.xlsx").stat().st_size > 0


@needs_fork
@pytest.mark.parametrize("folder", [SAMPLE, ROOT / "data" / "sample-services"],
                         ids=["sample", "sample-services"])
def test_the_workbook_written_beside_gives_the_same_files(folder, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    forks = forks_counted(monkeypatch)
    district = load_district(folder)
    result = plan(district)
    eligible = edge_table(district)[["student_id", "educator_id"]]
    spool = xlsx_rows.SPOOL_BYTES
    write_plan(result, tmp_path / "one", side_process=False, eligible=eligible)
    assert forks == []
    write_plan(result, tmp_path / "two", side_process=True, eligible=eligible)
    assert len(forks) == 1  # the workbook was written by a child
    # The child keeps less of a sheet in memory; this process keeps its setting.
    assert xlsx_rows.SPOOL_BYTES == spool > BESIDE_SPOOL_BYTES
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert "plan.xlsx" in two and len(two["plan.xlsx"]) > 10_000
    assert one == two
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no temporaries
    with pytest.raises(ChildProcessError):  # the child was reaped
        os.waitpid(forks[0], os.WNOHANG)


@needs_fork
def test_the_cli_forks_for_the_workbook_and_not_without_it(district, tmp_path, monkeypatch):
    forks = forks_counted(monkeypatch)
    assert main(["plan", str(district), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    # This year's audit from the read on (during the solve too), then the workbook.
    assert len(forks) == 2 and (tmp_path / "a" / "plan.xlsx").stat().st_size > 0
    assert main(["plan", str(district), "--out", str(tmp_path / "b"), "--quiet",
                 "--no-xlsx"]) == 0
    assert len(forks) == 3 and not (tmp_path / "b" / "plan.xlsx").exists()  # the audit
    assert {k: v for k, v in _files(tmp_path / "a").items() if k != "plan.xlsx"} == \
        _files(tmp_path / "b")


def test_without_fork_the_workbook_is_written_here(district, tmp_path, monkeypatch):
    def no_fork() -> int:
        raise AssertionError("forked although can_fork() said no")

    monkeypatch.setattr(side_process, "can_fork", lambda: False)
    monkeypatch.setattr(os, "fork", no_fork)
    assert main(["plan", str(district), "--out", str(tmp_path / "p"), "--quiet"]) == 0
    assert (tmp_path / "p" / "plan.xlsx").stat().st_size > 0


def _left(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


@needs_fork
def test_a_bug_in_the_workbook_process_is_one_message_and_exit_1(district, tmp_path,
                                                                  monkeypatch, capsys):
    def broken(*args, **kwargs):
        return {}["no such sheet"]

    monkeypatch.setattr("optimizer.outputs.workbook.write_workbook", broken)
    assert main(["plan", str(district), "--out", str(tmp_path / "p"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("Nothing written: writing plan.xlsx failed: KeyError: "
                           "'no such sheet'")
    assert _left(tmp_path) == ["district"]  # no plan folder without its workbook


@needs_fork
def test_a_disk_error_in_the_workbook_process_is_reported_as_today(district, tmp_path,
                                                                   monkeypatch, capsys):
    def full(tables, path, **kwargs):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("optimizer.outputs.workbook.write_workbook", full)
    assert main(["plan", str(district), "--out", str(tmp_path / "p"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("Cannot read or write ") and err.endswith(
        "plan.xlsx: No space left on device")
    assert "Traceback" not in err and _left(tmp_path) == ["district"]


@needs_fork
def test_a_killed_workbook_process_is_never_a_silent_missing_workbook(district, tmp_path,
                                                                      monkeypatch, capsys):
    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would

    monkeypatch.setattr("optimizer.outputs.workbook.write_workbook", killed)
    assert main(["plan", str(district), "--out", str(tmp_path / "p"), "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == (
        "Nothing written: plan.xlsx was not written: its process was stopped by signal "
        "SIGKILL (out of memory, or killed)")
    assert _left(tmp_path) == ["district"]


def _gone(pid: int) -> bool:
    """The process is neither running nor a zombie (it was reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state not in ("R", "S", "D", "Z", "T", "t")


@needs_fork
def test_an_error_here_stops_the_workbook_process(district, tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"

    def slow(*args, **kwargs):
        pid_file.write_text(str(os.getpid()))
        time.sleep(60)

    def csv_fails(*args, **kwargs):
        for _ in range(500):  # until the child is surely writing
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.01)
        raise OSError(13, "Permission denied", "assignments.csv")

    monkeypatch.setattr("optimizer.outputs.workbook.write_workbook", slow)
    monkeypatch.setattr("optimizer.outputs.export._write_guarded_csv", csv_fails)
    t = time.perf_counter()
    assert main(["plan", str(district), "--out", str(tmp_path / "p"), "--quiet"]) == 2
    assert time.perf_counter() - t < 30  # not waiting for the child's minute
    assert _gone(int(pid_file.read_text()))
    assert _left(tmp_path) == ["child.pid", "district"]


_SLOW_CHILD = """
import os, sys, time
import optimizer.outputs.workbook
def slow(*a, **k):
    print(os.getpid(), flush=True)
    time.sleep(60)
optimizer.outputs.workbook.write_workbook = slow
from optimizer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@needs_fork
@pytest.mark.parametrize("group", [True, False], ids=["terminal-ctrl-c", "parent-only"])
def test_ctrl_c_while_the_workbook_process_runs(district, tmp_path, group):
    out = tmp_path / "plan"
    p = subprocess.Popen([sys.executable, "-c", _SLOW_CHILD, "plan", str(district),
                          "--out", str(out), "--quiet"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    child = int(p.stdout.readline())
    assert child != p.pid
    # A terminal's Ctrl-C reaches the whole process group; `kill -INT` only the parent.
    if group:
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130
    assert err.strip() == "Interrupted; unfinished output was removed."
    assert _gone(child)
    assert _left(tmp_path) == ["district"]


@needs_fork
@pytest.mark.parametrize("folder", [SAMPLE, ROOT / "data" / "sample-services"],
                         ids=["sample", "sample-services"])
def test_this_years_audit_is_computed_beside_the_solve(folder, tmp_path, monkeypatch):
    # Both samples have this year's case managers (and, with services, this
    # year's providers) who break a rule: audit.csv has rows.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)

    def not_here(district):
        raise AssertionError("the planner computed the audit itself")

    # The audit comes from the CLI's (forked or not), never computed again.
    monkeypatch.setattr("optimizer.planning.planner.audit_table", not_here)
    monkeypatch.setattr("optimizer.planning.service_plan.audit_table", not_here)
    forks = forks_counted(monkeypatch)
    assert main(["plan", str(folder), "--out", str(tmp_path / "two"), "--quiet"]) == 0
    assert len(forks) == 2  # the audit from the read on, then the workbook
    monkeypatch.setattr(side_process, "can_fork", lambda: False)
    assert main(["plan", str(folder), "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert len(forks) == 2
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert one["audit.csv"].count(b"\n") > 1 and one == two
    for pid in forks:
        assert _gone(pid)


@needs_fork
def test_a_bug_in_the_audit_process_is_one_message_and_exit_1(district, tmp_path,
                                                               monkeypatch, capsys):
    def broken(district):
        return {}["no such rule"]

    monkeypatch.setattr("optimizer.planning.check.audit_table", broken)
    assert main(["plan", str(district), "--out", str(tmp_path / "p"), "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == (
        "Nothing written: computing the audit of this year's case managers failed: "
        "KeyError: 'no such rule'")
    assert _left(tmp_path) == ["district"]
