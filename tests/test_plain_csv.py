"""The plain-file reader (pandas' C parser, district/reader.plain_csv_frame)
gives exactly what the strict reader gives, or declines and leaves the file
to it: same cells, same columns, same spreadsheet row of every row, and never
a file on which the strict reader has something to report."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.district.csvread import CELL_LIMIT, parse_csv_strict
from optimizer.district.reader import _unguard_rows, plain_csv_frame, text_frame

# Cells of letters and digits, with now and then what makes a file not plain
# (quotes, white space at an edge, a tab, a no-break space, a lone carriage
# return, a NUL) or what a plain file may hold (inner spaces, a guarded
# formula, an apostrophe, a semicolon list, text beyond ASCII).
_PLAIN_CELL = st.one_of(st.text(alphabet="abcXYZ019;-.", max_size=6),
                        st.sampled_from(["", "a b", "'=1+1", "'+x", "it's", "é", "名", "''=2"]))
_NOISE = st.sampled_from([" x", "x ", "\tx", "x\xa0", '"q"', "a\rb", "\x00", "\u2003"])
# About one cell in 80 noise: files of up to 40 cells, plain about half the time.
_CELL = st.integers(0, 79).flatmap(lambda k: _NOISE if k == 0 else _PLAIN_CELL)


@st.composite
def _csv_text(draw):
    width = draw(st.integers(1, 5))
    header = draw(st.permutations(["id", "name", "élève", "名前", "c"]))[:width]
    if draw(st.integers(0, 9)) == 0:  # now and then a name that is not plain
        header[-1] = draw(st.sampled_from(["", " d", "'=h", header[0]]))
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["row"] * 30 + ["blank", "commas", "short", "long"]))
        if kind == "blank":
            lines.append("")
        elif kind == "commas":
            lines.append("," * draw(st.integers(0, width + 1)))
        else:
            n = width + {"row": 0, "short": -1, "long": 1}[kind]
            lines.append(",".join(draw(st.lists(_CELL, min_size=max(n, 0),
                                                max_size=max(n, 0)))))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    bom = "\ufeff" if draw(st.integers(0, 19)) == 0 else ""  # (a second one, left by the reader)
    return bom + end.join(lines) + draw(st.sampled_from(["", end, end + end]))


def _strict(text):
    out = []
    table = parse_csv_strict(text, out, "t.csv")
    return (None if table is None else text_frame(_unguard_rows(table))), out


# Pandas never warns (nor raises) on what it is given: the reader declines first.
pytestmark = pytest.mark.filterwarnings("error")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_csv_text())
def test_plain_reader_is_the_strict_reader_or_declines(text):
    plain = plain_csv_frame(text)
    if plain is None:
        return
    strict, problems = _strict(text)
    assert problems == []
    assert strict is not None
    pd.testing.assert_frame_equal(plain, strict)
    assert plain.attrs["rows"].tolist() == strict.attrs["rows"].tolist()


@pytest.mark.parametrize("text, rows", [
    ("a,b\n1,2\n\n3,4\n", [2, 4]),               # a blank line is counted, holds nothing
    ("a,b\r\n1,2\r\n,\r\n3,4", [2, 4]),          # CRLF, a line of commas, no last line end
    ("a,b\n1,\n,2\n", [2, 3]),                  # empty cells are cells
    ("élève,名前\nx,y\n\n", [2]),               # names beyond ASCII (more bytes than letters)
])
def test_plain_files_are_read_with_their_spreadsheet_rows(text, rows):
    plain = plain_csv_frame(text)
    assert plain is not None
    assert plain.attrs["rows"].tolist() == rows
    strict, problems = _strict(text)
    assert problems == []
    pd.testing.assert_frame_equal(plain, strict)


@pytest.mark.parametrize("text", [
    'a,b\n"1,5",2\n',          # quoted: a cell may hold a comma or a line
    "a,b\n1,2,3\n",            # a cell too many: the strict reader reports the row
    "a,b\n1\n",                # one too few
    "a,b\n 1,2\n",             # a space to strip
    "a,b\n1\t,2\n",            # a tab
    "a,b\n1\r2,3\n",           # a carriage return alone is a line end to the csv module
    "a,a\n1,2\n",              # a repeated column name
    "a,\n1,2\n",               # a blank one
    "a,b\n",                   # no rows
    "",                        # nothing
    "a,b\n1,\x002\n",          # a NUL
    "\ufeffa,b\n1,2\n",        # a byte-order mark left over: pandas would drop it
    "\ufeff\n\n",              # ... or find no columns
    "ééé,b\n,\n3,4,5\n",       # a row too long after a name beyond ASCII
    "ééé,b\n,1,2\n",            # a blank line too long after one
    "a,b\n" + "x" * (CELL_LIMIT + 1) + ",2\n",   # a cell over the limit
])
def test_files_that_are_not_plain_go_to_the_strict_reader(text):
    assert plain_csv_frame(text) is None


def test_guarded_formulas_read_back_as_typed():
    plain = plain_csv_frame("a,b\n'=1+1,it's\n'-2,x\n")
    assert plain is not None
    assert plain["a"].tolist() == ["=1+1", "-2"] and plain["b"].tolist() == ["it's", "x"]
