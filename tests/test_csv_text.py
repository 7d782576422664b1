"""A plan's CSVs made a distinct value at a time (outputs/csv_text.py) are the
bytes pandas writes through ``_safe`` and ``to_csv`` (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import load_district, plan
from optimizer.outputs import export
from optimizer.outputs.csv_text import guarded_csv_blocks, guarded_csv_text
from tests.conftest import ROOT, SAMPLE


def _pandas_bytes(frame: pd.DataFrame, path: Path) -> bytes:
    export._write_csv(export._safe(frame), path)
    return path.read_bytes()


# Texts with what a CSV must quote or guard: commas, quotes, line ends,
# formula starts, spaces, other scripts; NA as None.
_PIECES = ["a", "Ana", ",", '"', "\n", "=", "+", "-", "@", "\t", " ", "'", "é", "名", "0",
           "1.5", "SUM(A1)", ""]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=4).map("".join)


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    k = draw(st.integers(2, 5))
    data = {}
    for c in range(k):
        kind = draw(st.sampled_from(["str", "object", "Int64", "int64", "bool", "float64"]))
        name = draw(st.sampled_from(["id", "name", "=cmd", "a,b", 'say "hi"', "x"])) + str(c)
        if kind in ("str", "object"):
            values = draw(st.lists(st.one_of(_TEXT, st.none()), min_size=n, max_size=n))
            data[name] = pd.Series(values, dtype=kind)
        elif kind == "Int64":
            values = draw(st.lists(st.one_of(st.integers(-10**12, 10**12), st.none()),
                                   min_size=n, max_size=n))
            data[name] = pd.Series(values, dtype="Int64")
        elif kind == "int64":
            data[name] = pd.Series(draw(st.lists(st.integers(-10**12, 10**12), min_size=n,
                                                 max_size=n)), dtype="int64")
        elif kind == "float64":
            data[name] = pd.Series(draw(st.lists(st.one_of(
                st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(
                    [0.0, -0.0, 1320.0, 0.1, 1e16, 1e-5, 123456789.125])),
                min_size=n, max_size=n)), dtype="float64")
        else:
            data[name] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)),
                                   dtype=bool)
    return pd.DataFrame(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_random_tables_give_the_bytes_pandas_writes(frame, tmp_path):
    text = guarded_csv_text(frame)
    assert text is not None  # text, integer, float and boolean columns are covered
    assert text.encode("utf-8") == _pandas_bytes(frame, tmp_path / "t.csv")
    pieces = list(guarded_csv_blocks(frame, rows=3))  # written a few rows at a time
    assert b"".join(pieces) == text.encode("utf-8") and len(pieces) == max(1, -(-len(frame) // 3))


def test_what_it_does_not_cover_is_left_to_pandas():
    two = {"id": ["S1", "S2"]}
    nullable = pd.Series([1.5, None], dtype="Float64")
    assert guarded_csv_text(pd.DataFrame({**two, "x": nullable})) is None
    assert guarded_csv_text(pd.DataFrame({**two, "x": ["a\rb", "c"]})) is None  # all quoted
    assert guarded_csv_text(pd.DataFrame({**two, "x": ["a", 3]}, dtype=object)) is None
    assert guarded_csv_text(pd.DataFrame({**two, "a\rb": ["a", "b"]})) is None
    assert guarded_csv_text(pd.DataFrame(two)) is None  # one column
    assert guarded_csv_text(pd.DataFrame({**two, 5: ["a", "b"]})) is None


def test_a_guarded_quoted_cell_by_hand():
    frame = pd.DataFrame({"id": ["S1", "=1+1", None], "note": ['say "hi", then', "-", ""]})
    assert guarded_csv_text(frame) == ('id,note\nS1,"say ""hi"", then"\n\'=1+1,\'-\n,\n')


@pytest.mark.parametrize("folder", [SAMPLE, ROOT / "data" / "sample-services"],
                         ids=["sample", "sample-services"])
def test_plan_files_are_the_bytes_pandas_writes(folder, tmp_path, monkeypatch):
    result = plan(load_district(folder))
    tables = result.tables()
    frames_ = {"assignments": tables.assignments, "audit": tables.audit,
               "services": tables.services}
    for name, frame in frames_.items():
        if not len(frame):
            continue
        text = guarded_csv_text(frame)
        assert text is not None, name
        assert text.encode("utf-8") == _pandas_bytes(frame, tmp_path / f"{name}.csv"), name
    # And the whole folder: the same files with the fast path turned off.
    export.write_plan(result, tmp_path / "fast", xlsx=False)
    monkeypatch.setattr(export, "guarded_csv_blocks", lambda frame: None)
    export.write_plan(result, tmp_path / "slow", xlsx=False)
    for p in sorted((tmp_path / "slow").iterdir()):
        assert (tmp_path / "fast" / p.name).read_bytes() == p.read_bytes(), p.name
    assert np.array_equal(sorted(q.name for q in (tmp_path / "fast").iterdir()),
                          sorted(q.name for q in (tmp_path / "slow").iterdir()))
