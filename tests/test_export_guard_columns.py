"""The plan folder's CSV guards, read a column at a time (issue 10's speed):
a column is passed over only when no cell in it starts like a formula, and
the quoting switches to every cell when any cell holds a lone carriage return.
Each case below is checked against the rule applied to one cell at a time."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from optimizer.district.textsafe import neutralize_formula
from optimizer.outputs.export import _has_cr, _neutralized, write_table

CELLS = ["Ana", "=SUM(A1)", "a\n=not a formula start", "\rrow", "+1", "-x", "@me",
         "\tTab", "plain\r", "", "x\n", "\n=after an empty line"]


def test_each_column_is_guarded_as_its_cells_are():
    rng = np.random.default_rng(3)
    for _ in range(300):
        cells = list(rng.choice(CELLS, size=int(rng.integers(1, 6))))
        column = pd.Series(cells, dtype=object)
        assert _neutralized(column).tolist() == [neutralize_formula(c) for c in cells]
        assert _has_cr(pd.DataFrame({"a": column})) == any("\r" in c for c in cells)


def test_a_newline_then_an_equals_sign_inside_a_cell_is_not_a_formula(tmp_path):
    frame = pd.DataFrame({"reason": ["first line\n=second line", "ok"],
                          "note": ["=1+1", None]})
    path = write_table(frame, tmp_path / "t.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[1] == ["first line\n=second line", "'=1+1"]
    assert rows[2] == ["ok", ""]
