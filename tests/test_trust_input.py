"""Bad input never ends in a traceback or a silent misread (issue 9, section 2).

Each test is one reproduction from the issue: it ended in a traceback, a hang
or a wrong reading on the old main; now it is an error naming the file, row,
column, value and what was expected, with exit code 2.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer import load_district
from optimizer.cli import main
from optimizer.district.validate import check_district
from tests.conftest import TINY, educator, student


def _errors(path) -> list:
    return [p for p in check_district(path) if p.severity == "error"]


@pytest.fixture
def tiny(tmp_path) -> Path:
    d = tmp_path / "d"
    shutil.copytree(TINY, d)
    return d


TOML_CASES = [
    ("caps = 5", "caps"),
    ("[disabilities]\nID = 5", "disabilities.ID"),
    ("best_practice = [5]", "best_practice"),
    ("[objective]\ncontinuity = nan", "objective.continuity"),
    ("[objective]\ncontinuity = inf", "objective.continuity"),
    ("[objective]\nbalance = -inf", "objective.balance"),
    ("[caps]\nRSP = 9223372036854775807", "caps.RSP"),
    ("[caps]\nRSP = 28.5", "caps.RSP"),
    ("[objective]\ncontnuity = 50", "objective.contnuity"),
    ("[roles.RSP]\ncpa = 5", "roles.RSP.cpa"),
    ("[roles.RSP]\ncap = \"28\"", "roles.RSP.cap"),
    ("[roles.RSP]\ncap = 100000", "roles.RSP.cap"),
    ("[objective]\nrank = [0, 10]", "objective.rank"),
    ("[objective]\nrank = \"high\"", "objective.rank"),
    ("[student_weights]\nextensive = 1e400", "student_weights.extensive"),
    ("[student_weights]\nextensive = 1e18", "student_weights.extensive"),
    ("[support_level_rule]\nsdc_gen_ed_pct_below = 400", "support_level_rule.sdc_gen_ed_pct_below"),
    ("coordinating_roles = \"RSP\"", "coordinating_roles"),
    ("coordinating_roles = [[1]]", "coordinating_roles"),  # found by the fuzz tests
    ("name = 5", "name"),
    ("[[best_practice]]\nrole = \"SDC\"\nlabl = \"x\"", "best_practice.0.labl"),
    ("[credentials.ES-MMSN]\ncategories = \"SLD\"", "credentials.ES-MMSN.categories"),
    ("[credentials.ES-MMSN.category_support]\nAUT = 5", "credentials.ES-MMSN.category_support.AUT"),
]


@pytest.mark.parametrize(("toml", "key"), TOML_CASES, ids=[c[1] for c in TOML_CASES])
def test_district_toml_wrong_types_unknown_keys_and_numbers(tiny, toml, key, capsys):
    (tiny / "district.toml").write_text(toml + "\n")
    errors = _errors(tiny)
    assert [e.column for e in errors] == [key], [str(e) for e in errors]
    assert errors[0].file == "district.toml"
    assert main(["plan", str(tiny), "--out", str(tiny.parent / "plan"), "--quiet"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_good_overrides_still_apply(tiny):
    (tiny / "district.toml").write_text("[caps]\nRSP = 30\n[roles.SDC]\ncap = 12\n"
                                        "[objective]\ncontinuity = 7\n")
    d = load_district(tiny)
    assert (d.rules.roles["RSP"].cap, d.rules.roles["SDC"].cap) == (30, 12)
    assert d.rules.objective["continuity"] == 7


def test_district_with_no_educators(make_district, tmp_path):
    folder = make_district(educators=[], students=[student("S1")])
    errors = _errors(folder)
    assert any(e.file == "educators.csv" and "at least one educator" in e.expected
               for e in errors)
    assert main(["plan", str(folder), "--out", str(tmp_path / "p"), "--quiet"]) == 2


def test_huge_header_cell(tiny, capsys):
    text = (tiny / "students.csv").read_text()
    (tiny / "students.csv").write_text("x" * 140_000 + "," + text)
    errors = _errors(tiny)
    assert [(e.file, e.row) for e in errors] == [("students.csv", 1)]
    assert "131,072" in errors[0].expected
    assert main(["validate", str(tiny)]) == 2


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_only_regular_files_are_read(tiny, kind):
    target = tiny / "students.csv"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    # In a child process with a timeout: the old reader hung on both.
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "validate", str(tiny)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "students.csv" in r.stderr and "regular file" in r.stderr


def _students_lines(tiny) -> list[str]:
    return (tiny / "students.csv").read_text().splitlines()


def test_a_row_with_one_field_too_many_is_one_error(tiny):
    lines = _students_lines(tiny)
    lines[3] += ",AUT"  # spreadsheet row 4
    (tiny / "students.csv").write_text("\n".join(lines) + "\n")
    errors = _errors(tiny)
    assert [(e.file, e.row) for e in errors] == [("students.csv", 4)], [str(e) for e in errors]
    assert "cells, as in the header row" in errors[0].expected


def test_a_trailing_comma_on_every_row_is_one_error_per_row(tiny):
    lines = _students_lines(tiny)
    (tiny / "students.csv").write_text("\n".join([lines[0]] + [ln + "," for ln in lines[1:]])
                                       + "\n")
    errors = _errors(tiny)
    assert [e.row for e in errors] == list(range(2, len(lines) + 1))
    assert {e.column for e in errors} == {None}


def test_blank_lines_count_as_rows(tiny):
    rows = list(csv.reader((tiny / "students.csv").open(newline="")))
    rows[2][rows[0].index("grade")] = "99"  # a bad grade on spreadsheet row 3
    lines = [",".join(r) for r in rows]
    lines.insert(2, "")  # a blank line before it: it is now sheet row 4
    lines.insert(1, ",,,")  # and a row of empty cells: row 5
    (tiny / "students.csv").write_text("\n".join(lines) + "\n")
    errors = _errors(tiny)
    assert [(e.row, e.column, e.value) for e in errors] == [(5, "grade", "99")]


def test_bad_utf8_is_reported_with_its_row(tiny):
    data = (tiny / "students.csv").read_bytes().split(b"\n")
    data[5] = data[5].replace(b"SLD", b"SL\xff", 1) if b"SLD" in data[5] else data[5] + b"\xff"
    (tiny / "students.csv").write_bytes(b"\n".join(data))
    errors = _errors(tiny)
    assert [(e.file, e.row) for e in errors] == [("students.csv", 6)]
    assert "UTF-8" in errors[0].expected and errors[0].value == "byte ff"


def test_values_echoed_to_the_terminal_are_escaped(make_district, capsys):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                           students=[student("S1", grade="3\x1b[2J\x07\u202eok")])
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert not {"\x1b", "\x07", "\u202e"} & set(err)
    assert "3\\x1b[2J\\x07\\u202eok" in err


# --------------------------------------------------------------- plan folders

@pytest.fixture(scope="module")
def good_plan(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("plan")
    d = root / "d"
    shutil.copytree(TINY, d)
    assert main(["plan", str(d), "--out", str(root / "plan"), "--quiet", "--no-xlsx"]) == 0
    return d, root / "plan"


def _break(plan: Path, how: str) -> None:
    a = plan / "assignments.csv"
    if how == "empty assignments":
        a.write_bytes(b"")
    elif how == "non-UTF-8 assignments":
        a.write_bytes(a.read_bytes().replace(b"ELM", b"EL\xe9", 1))
    elif how == "unbalanced quote":
        lines = a.read_text().split("\n")
        lines[1] = lines[1].replace(",", ',"', 1)
        a.write_text("\n".join(lines))
    elif how == "duplicated student":
        lines = a.read_text().rstrip("\n").split("\n")
        a.write_text("\n".join([*lines, lines[1]]) + "\n")
    elif how == "summary not an object":
        (plan / "summary.json").write_text("[1, 2]")
    elif how == "summary figure wrong type":
        (plan / "summary.json").write_text('{"load_ratio": "high", "placed": "many"}')
    elif how == "missing column":
        lines = a.read_text().split("\n")
        a.write_text("\n".join(ln.split(",", 1)[1] if ln else ln for ln in lines))
    elif how == "number not a number":
        c = plan / "caseloads.csv"
        lines = c.read_text().split("\n")
        cells = lines[1].split(",")
        cells[3] = "lots"
        lines[1] = ",".join(cells)
        c.write_text("\n".join(lines))
    elif how == "rank out of range":
        lines = a.read_text().split("\n")
        cells = lines[1].split(",")
        cells[5] = "7"
        lines[1] = ",".join(cells)
        a.write_text("\n".join(lines))


BREAKS = ["empty assignments", "non-UTF-8 assignments", "unbalanced quote",
          "duplicated student", "summary not an object", "summary figure wrong type",
          "missing column", "number not a number", "rank out of range"]


@pytest.mark.parametrize("how", BREAKS)
def test_plan_folders_are_validated(good_plan, tmp_path, how, capsys):
    district, plan = good_plan
    broken = tmp_path / "broken"
    shutil.copytree(plan, broken)
    _break(broken, how)
    commands = [["report", str(broken), "--html", str(tmp_path / "r.html")],
                ["export", str(broken), "--xlsx", str(tmp_path / "w.xlsx")],
                ["compare", str(plan), str(broken)],
                ["compare", str(broken), str(plan)]]
    if how not in ("summary not an object", "summary figure wrong type", "number not a number",
                   "rank out of range"):  # check and --baseline read assignments.csv only
        commands += [["check", str(district), str(broken)],
                     ["plan", str(district), "--baseline", str(broken), "--out",
                      str(tmp_path / "p"), "--quiet", "--no-xlsx"]]
    for cmd in commands:
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(broken) in err, (cmd, err)
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "w.xlsx").exists()


def test_everything_printed_is_escaped(make_district, tmp_path, capsys):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN", name="Ana\x1b[31m\u202eX")],
                           students=[student("S1")])
    assert main(["explain", str(folder), "S1"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "Ana\\x1b[31m\\u202eX" in out


def test_every_control_and_format_character_is_escaped():
    import sys
    import unicodedata

    from optimizer.district.textsafe import escape_controls

    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch not in "\n\t":
            assert ch not in escape_controls("a" + ch + "b"), hex(code)
