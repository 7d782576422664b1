"""The workbook's largest sheets made in a second process (issue 12): the
service sheets, or the edit sheet and its lists; the same bytes as in one
process, a part put in only where it fits, written here when the second
process fails, and no temporary file left behind
(optimizer/outputs/xlsx_rows.py sheet_part, optimizer/outputs/workbook.py
sheet_parts)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from optimizer import load_district, plan
from optimizer.generator import generate_district
from optimizer.graph import edge_table
from optimizer.outputs import export, side_process, workbook
from optimizer.outputs.edit_sheet import EDIT_SHEET, LISTS_SHEET
from optimizer.outputs.export import write_district, write_plan
from optimizer.outputs.service_sheets import SERVICE_SHEETS
from optimizer.outputs.xlsx_rows import (
    close_workbook,
    discard_row_files,
    sheet_part,
    spool_rows,
    write_rows,
)
from tests.conftest import ROOT, SAMPLE, forks_counted

needs_fork = pytest.mark.skipif(not side_process.can_fork(),
                                reason="no fork here (not Linux, or one core)")


@pytest.fixture
def own_tmp(tmp_path, monkeypatch) -> Path:
    """Temporary files (XlsxWriter's, the spools') go here, to be counted."""
    folder = tmp_path / "temporary"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _formats(wb):
    head = wb.add_format({"bold": True, "bg_color": "#DDE4EE"})
    mark = wb.add_format({"bold": True, "top": 1})
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    head._get_xf_index(), date._get_xf_index(), mark._get_dxf_index()
    return head, mark, date


def _fill_b(ws, head, mark, date) -> None:
    """The sheet made apart: a header, rows, a filter, printed titles, a
    conditional format and page breaks (what the service sheets carry)."""
    spool_rows(ws)
    ws.set_column(0, 0, 14)
    for c, h in enumerate(["Who", "Minutes", "When"]):
        ws.write_string(0, c, h, head)
    n = 700
    assert write_rows(ws, 1, [("string", [f"S{i % 37} — é" for i in range(n)], None),
                              ("number", [float(i % 90) for i in range(n)], None),
                              ("datetime", [dt.datetime(2026, 9, 1 + i % 28) for i in range(n)],
                               date)])
    ws.autofilter(0, 0, n, 2)
    ws.repeat_rows(0)
    ws.freeze_panes(1, 0)
    ws.set_landscape()
    ws.conditional_format(1, 0, n, 2, {"type": "formula", "criteria": '=$A2="S1 — é"',
                                       "format": mark})
    ws.set_h_pagebreaks([100, 300])
    ws.write_string(n + 2, 0, "after the table")  # (a row still open when it is made)


def _book(path: Path, apart: bool) -> bytes:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    wb.set_properties({"created": dt.datetime(2026, 1, 1)})
    head, mark, date = _formats(wb)
    a = wb.add_worksheet("A")
    spool_rows(a)
    a.write_string(0, 0, "first", head)
    assert write_rows(a, 1, [("number", [1.0, 2.0, 3.0], None)])
    parts = []
    if apart:
        other = xlsxwriter.Workbook(str(path.with_suffix(".unused")), {"constant_memory": True})
        try:
            other.add_worksheet("A")  # (its place only)
            made = other.add_worksheet("B")
            _fill_b(made, *_formats(other))
            settings = {k: getattr(made, k) for k in workbook._READ_AT_CLOSE}
            part = sheet_part(made, 1)
        finally:
            discard_row_files(other)
        b = wb.add_worksheet("B")  # a placeholder
        for k, v in settings.items():
            setattr(b, k, v)
        parts = [(b, part)]
    else:
        _fill_b(wb.add_worksheet("B"), head, mark, date)
    c = wb.add_worksheet("C")
    c.write_string(0, 0, "last", head)
    close_workbook(wb, 1, parts=parts)
    return path.read_bytes()


def test_a_sheet_made_apart_gives_the_same_workbook(tmp_path, own_tmp):
    whole = _book(tmp_path / "whole.xlsx", apart=False)
    apart = _book(tmp_path / "apart.xlsx", apart=True)
    assert apart == whole
    with zipfile.ZipFile(tmp_path / "apart.xlsx") as z:
        assert z.testzip() is None  # every member's CRC is its data's
        sheet = z.read("xl/worksheets/sheet2.xml")
        assert sheet.count(b"<row ") == 702 and "S36 — é".encode() in sheet
        assert b"after the table" in sheet
        assert b"Print_Titles" in z.read("xl/workbook.xml")
    assert list(own_tmp.iterdir()) == []  # no temporary file of either workbook


def test_a_sheet_with_parts_of_its_own_is_not_made_apart(tmp_path, own_tmp):
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), {"constant_memory": True})
    ws = wb.add_worksheet("B")
    spool_rows(ws)
    ws.write_url(0, 0, "https://example.org/")  # a link: numbered across the workbook
    with pytest.raises(ValueError, match="cannot be made apart"):
        sheet_part(ws, 1)
    unspooled = wb.add_worksheet("C")
    with pytest.raises(ValueError, match="cannot be made apart"):
        sheet_part(unspooled, 1)
    # A setting the workbook's own parts read: the sheet shown.
    shown = wb.add_worksheet("D")
    spool_rows(shown)
    shown.write_string(0, 0, "x")
    shown.activate()
    with pytest.raises(ValueError, match="cannot be made apart"):
        sheet_part(shown, 1)
    discard_row_files(wb)
    assert list(own_tmp.iterdir()) == []


def test_a_part_for_a_sheet_of_another_workbook_is_refused(tmp_path, own_tmp):
    other = xlsxwriter.Workbook(str(tmp_path / "other.xlsx"), {"constant_memory": True})
    made = other.add_worksheet("B")
    spool_rows(made)
    made.write_string(0, 0, "x")
    part = sheet_part(made, 1)
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), {"constant_memory": True})
    wb.add_worksheet("B")
    with pytest.raises(ValueError, match="not in this workbook"):
        close_workbook(wb, 1, parts=[(made, part)])
    discard_row_files(other)
    discard_row_files(wb)
    assert list(own_tmp.iterdir()) == []


def test_sheets_without_rows_leave_no_temporary_file(tmp_path, own_tmp):
    # XlsxWriter removes a constant-memory sheet's row file only when the sheet has rows.
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"), {"constant_memory": True})
    wb.add_worksheet("Empty")
    spool_rows(wb.add_worksheet("Spooled, empty"))
    wb.add_worksheet("Full").write_string(0, 0, "x")
    assert len(list(own_tmp.iterdir())) == 3
    close_workbook(wb, 1)
    assert list(own_tmp.iterdir()) == []


# --- the plan folder -------------------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """(result, eligible pairs) of the bundled service sample, of a generated
    district with services, and of generated and bundled districts planned
    for case managers alone."""
    tmp = tmp_path_factory.mktemp("districts")
    out = []
    for folder in (ROOT / "data" / "sample-services",
                   write_district(generate_district(600, seed=5, services=True), tmp / "g"),
                   write_district(generate_district(600, seed=6), tmp / "c"), SAMPLE):
        district = load_district(folder)
        out.append((plan(district), edge_table(district)[["student_id", "educator_id"]]))
    return out


class _Used(list):
    """Per workbook written here, the number of sheets made in the second
    process (``own``: the names of this process's sheets whose members were
    made before the close)."""

    own: list[list[str]]


@pytest.fixture
def parts_used(monkeypatch) -> _Used:
    """The number of sheets made apart that each workbook written here took."""
    used = _Used()
    used.own = []
    real = workbook.close_workbook

    def counted(wb, *args, parts=(), **kwargs):
        # A placeholder (no rows) stands for a sheet of the second process.
        used.append(sum(ws.dim_rowmin is None for ws, _ in parts))
        used.own.append([ws.name for ws, _ in parts if ws.dim_rowmin is not None])
        return real(wb, *args, parts=parts, **kwargs)

    monkeypatch.setattr(workbook, "close_workbook", counted)
    monkeypatch.delenv("CASELOAD_WORKBOOK_PROCESS", raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return used


@needs_fork
@pytest.mark.parametrize(("which", "redact", "lists", "made"),
                         [(0, False, True, 2), (1, False, True, 2), (1, True, True, 2),
                          (2, False, True, 2), (2, True, False, 1), (3, False, True, 2)],
                         ids=["sample-services", "generated", "generated-redacted",
                              "case-managers", "case-managers-redacted-no-lists", "sample"])
def test_the_sheets_made_apart_give_the_same_files(which, redact, lists, made, plans,
                                                   tmp_path, own_tmp, parts_used, monkeypatch):
    result, eligible = plans[which]
    eligible = eligible if lists else None
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 10**9)
    write_plan(result, tmp_path / "one", eligible=eligible, redact=redact)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    write_plan(result, tmp_path / "two", eligible=eligible, redact=redact)
    # One process, then the service sheets (or the edit sheet and its lists)
    # made in the second: this one never makes them. Its own table sheets
    # are made into members as they are finished (before the close), and
    # only where the second process makes some.
    assert parts_used == [0, made]
    assert parts_used.own[0] == [] and "Rosters" in parts_used.own[1]
    assert not set(parts_used.own[1]) & {*SERVICE_SHEETS, EDIT_SHEET, LISTS_SHEET}
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert ("services.csv" in two) == (which < 2) and len(two["plan.xlsx"]) > 10_000
    assert one == two
    assert list(own_tmp.iterdir()) == []


def _csvs_written_here(monkeypatch) -> list[str]:
    """The CSV files this process writes (a forked child's calls are its own)."""
    here: list[str] = []
    real = export._write_guarded_csv

    def spy(frame, path):
        here.append(path.name)
        return real(frame, path)

    monkeypatch.setattr(export, "_write_guarded_csv", spy)
    return here


@needs_fork
@pytest.mark.parametrize(("which", "failure"),
                         [(1, "error"), (1, "misfit"), (1, "csv"), (2, "error"), (2, "misfit")],
                         ids=["services-error", "services-misfit", "services-csv-cut-short",
                              "case-managers-error", "case-managers-misfit"])
def test_the_sheets_are_written_here_when_the_second_process_fails(
        failure, which, plans, tmp_path, own_tmp, parts_used, monkeypatch):
    result, eligible = plans[which]
    write_plan(result, tmp_path / "one", eligible=eligible)
    real = workbook.sheet_parts
    planner = os.getpid()

    def failing(*args, **kwargs):
        if failure == "error":
            raise RuntimeError("a bug in the second process")
        # Sheets whose cells number formats otherwise than this workbook.
        return dataclasses.replace(real(*args, **kwargs), formats=())

    if failure == "csv":  # services.csv cut short in the second process
        real_csv = export._write_guarded_csv

        def cut(frame, path):
            real_csv(frame.head(3), path)
            if os.getpid() != planner:
                raise OSError("disk full")
            real_csv(frame, path)

        monkeypatch.setattr(export, "_write_guarded_csv", cut)
    else:
        monkeypatch.setattr(workbook, "sheet_parts", failing)
    here = _csvs_written_here(monkeypatch)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    forks = forks_counted(monkeypatch)
    write_plan(result, tmp_path / "two", eligible=eligible)
    # Tried in a second process, then written here without its sheets; a
    # service plan's services.csv too, unless the second process got past
    # it (its sheets then failed to fit).
    assert len(forks) == 1 and parts_used == [0, 0]
    assert ("services.csv" in here) == (which == 1 and failure != "misfit")
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert list(own_tmp.iterdir()) == []


@needs_fork
@pytest.mark.parametrize("which", [1, 2], ids=["services", "case-managers"])
def test_services_csv_is_written_beside_the_service_sheets(which, plans, tmp_path,
                                                          monkeypatch):
    """With the service sheets in the second process, services.csv is
    written there too (this process was the one waited for); else here."""
    result, eligible = plans[which]
    write_plan(result, tmp_path / "one", eligible=eligible)
    here = _csvs_written_here(monkeypatch)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    write_plan(result, tmp_path / "two", eligible=eligible)
    assert "assignments.csv" in here and "services.csv" not in here
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert one == two and ("services.csv" in two) == (which == 1)


def test_small_plans_make_their_sheets_in_one_process(plans, tmp_path, parts_used,
                                                      monkeypatch):
    forks = forks_counted(monkeypatch)
    result, eligible = plans[1]
    assert len(result.tables().services) < export.SHEETS_APART_ROWS
    write_plan(result, tmp_path / "p", eligible=eligible)
    assert forks == [] and parts_used == [0]


@needs_fork
def test_a_stopped_second_process_leaves_no_temporary_file(plans, tmp_path, own_tmp,
                                                           monkeypatch):
    result, eligible = plans[1]
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    real = workbook.sheet_part

    def slow(*args, **kwargs):  # (in the child: stopped before it is done)
        time.sleep(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(workbook, "sheet_part", slow)
    forks = forks_counted(monkeypatch)

    def broken(path: Path) -> None:
        # Once the child has files of its own, this process fails.
        end = time.monotonic() + 20
        while not any(p.is_dir() and any(p.iterdir()) for p in own_tmp.iterdir()):
            assert time.monotonic() < end, "the second process made no file"
            time.sleep(0.01)
        raise RuntimeError("stopped here")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="stopped here"):
        write_plan(result, tmp_path / "p", eligible=eligible, extra_files={"x.txt": broken})
    assert time.monotonic() - start < 30  # the child was stopped, not awaited
    assert len(forks) == 1
    with pytest.raises(ChildProcessError):  # and reaped
        os.waitpid(forks[0], os.WNOHANG)
    assert list(own_tmp.iterdir()) == [] and not (tmp_path / "p").exists()


@needs_fork
def test_side_process_false_writes_everything_in_this_process(plans, tmp_path,
                                                              parts_used, monkeypatch):
    forks = forks_counted(monkeypatch)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    result, eligible = plans[1]
    write_plan(result, tmp_path / "p", eligible=eligible, side_process=False)
    assert forks == [] and parts_used == [0]


def test_the_sheets_that_go_apart_are_the_largest_group(plans, monkeypatch):
    services, alone = plans[1][0].tables(), plans[2][0].tables()
    few = dataclasses.replace(services, services=services.services.head(5))
    monkeypatch.setattr(export, "can_fork", lambda: True)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", len(services.assignments))
    assert len(services.services) > len(services.assignments)  # (1.7 services a student)
    assert export._sheets_apart(services) == "services"
    # A plan with few service rows for its students: its edit sheet, as without services.
    assert export._sheets_apart(few) == "edit"
    assert export._sheets_apart(dataclasses.replace(
        alone, assignments=alone.assignments.head(len(services.assignments)))) == "edit"
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", len(services.services) + 1)
    assert export._sheets_apart(services) is None
    monkeypatch.setattr(export, "can_fork", lambda: False)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    assert export._sheets_apart(services) is None


def test_the_edit_sheet_of_a_service_plan_made_apart_gives_the_same_workbook(
        plans, tmp_path, own_tmp, parts_used):
    result, eligible = plans[1]
    tables = result.tables()
    workbook.write_workbook(tables, tmp_path / "one.xlsx", eligible=eligible)
    parts = workbook.sheet_parts(tables, "edit", eligible=eligible)  # (here, in this process)
    assert parts is not None and parts.names == ("Edit case managers", "Eligible case managers")
    workbook.write_workbook(tables, tmp_path / "two.xlsx", eligible=eligible, apart="edit",
                            made_apart=lambda: parts)
    assert parts_used == [0, 2]
    assert (tmp_path / "one.xlsx").read_bytes() == (tmp_path / "two.xlsx").read_bytes()
    assert list(own_tmp.iterdir()) == []


def test_parts_another_xlsxwriter_cannot_take_are_written_here(plans, tmp_path,
                                                               own_tmp, parts_used,
                                                               monkeypatch):
    class OtherZip(zipfile.ZipFile):  # (not the ZipFile close_workbook knows)
        pass

    monkeypatch.setattr(xlsxwriter.workbook, "ZipFile", OtherZip)
    result, eligible = plans[2]
    tables = result.tables()
    workbook.write_workbook(tables, tmp_path / "one.xlsx", eligible=eligible)
    parts = workbook.sheet_parts(tables, "edit", eligible=eligible)
    workbook.write_workbook(tables, tmp_path / "two.xlsx", eligible=eligible, apart="edit",
                            made_apart=lambda: parts)
    assert parts_used == [0, 2, 0]  # refused, then written in one process
    assert (tmp_path / "one.xlsx").read_bytes() == (tmp_path / "two.xlsx").read_bytes()
    assert list(own_tmp.iterdir()) == []


@pytest.mark.parametrize("threads", [0, 2])
def test_a_finished_sheet_is_made_while_the_next_is_written(plans, own_tmp, monkeypatch,
                                                           threads):
    # In the second process each finished sheet's member is deflated in a
    # thread while the next sheet is made (that process is the one the
    # workbook waits for); the members are the same bytes either way.
    import threading

    from optimizer.outputs import xlsx_rows

    result, eligible = plans[1]
    tables = result.tables()
    monkeypatch.setattr(xlsx_rows, "DEFLATE_THREADS", 0)
    alone = workbook.sheet_parts(tables, "services")
    where: list[tuple[str, bool]] = []
    real = workbook.sheet_part

    def spy(ws, *args, **kwargs):
        where.append((ws.name, threading.current_thread() is threading.main_thread()))
        return real(ws, *args, **kwargs)

    monkeypatch.setattr(workbook, "sheet_part", spy)
    monkeypatch.setattr(xlsx_rows, "DEFLATE_THREADS", threads)
    made = workbook.sheet_parts(tables, "services")
    assert made == alone and made is not None and len(made.sheets) == 2
    # Each sheet's member made once: in the thread as it was finished, or
    # here at the end without threads.
    assert where == [("Services", not threads), ("Provider rosters", not threads)]
    assert list(own_tmp.iterdir()) == []


@needs_fork
def test_a_sheet_of_this_process_that_cannot_be_a_part_is_zipped_at_the_close(
        plans, tmp_path, own_tmp, parts_used, monkeypatch):
    """This process's own sheets become members as they are finished; one
    with parts of its own (here: said so of Rosters) is zipped at the close
    as before, and the workbook is the same."""
    result, eligible = plans[1]
    write_plan(result, tmp_path / "one", eligible=eligible)
    real = workbook.may_be_part
    monkeypatch.setattr(workbook, "may_be_part", lambda ws: ws.name != "Rosters" and real(ws))
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    write_plan(result, tmp_path / "two", eligible=eligible)
    assert parts_used == [0, 2]
    assert "Rosters" not in parts_used.own[1] and "Case managers" in parts_used.own[1]
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert list(own_tmp.iterdir()) == []


@needs_fork
def test_a_part_of_this_process_that_fails_writes_the_workbook_in_one_process(
        plans, tmp_path, own_tmp, parts_used, monkeypatch):
    """A sheet's member that fails while it is made (after the sheet was
    taken) is not guessed at: the workbook is written again in this process,
    as when the second process's sheets do not fit; the same files."""
    result, eligible = plans[1]
    write_plan(result, tmp_path / "one", eligible=eligible)
    real = workbook.sheet_part
    planner = os.getpid()

    def failing(ws, *args, **kwargs):
        if ws.name == "Rosters" and os.getpid() == planner:
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "a cell that cannot be written")
        return real(ws, *args, **kwargs)

    monkeypatch.setattr(workbook, "sheet_part", failing)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    write_plan(result, tmp_path / "two", eligible=eligible)
    assert parts_used == [0, 0]  # (the refused try never reached the close)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert list(own_tmp.iterdir()) == []


def test_the_second_process_is_asked_once_whatever_its_answer():
    """write_plan asks for the sheets made apart, then again whether
    services.csv was written there: a failed child is not waited for twice."""
    calls: list[int] = []

    def failed():
        calls.append(1)
        raise side_process.SideProcessError("the sheets were not made")

    get = export._or_none(failed)
    assert get() is None and get() is None and calls == [1]
    made = export._or_none(lambda: calls.append(2) or "parts")
    assert made() == made() == "parts" and calls == [1, 2]


@needs_fork
def test_a_callers_own_services_csv_is_not_raced_by_the_second_process(
        plans, tmp_path, monkeypatch):
    """A caller that writes a services.csv of its own (extra_tables) gets it,
    as in one process: the second process then leaves that file alone."""
    import pandas as pd

    result, eligible = plans[1]
    own = {"services.csv": pd.DataFrame({"note": ["the caller's own"]})}
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 10**9)
    write_plan(result, tmp_path / "one", eligible=eligible, extra_tables=own)
    here = _csvs_written_here(monkeypatch)
    monkeypatch.setattr(export, "SHEETS_APART_ROWS", 0)
    write_plan(result, tmp_path / "two", eligible=eligible, extra_tables=own)
    assert here.count("services.csv") == 2  # (ours, then the caller's, both here)
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert one == two and b"the caller's own" in two["services.csv"]
