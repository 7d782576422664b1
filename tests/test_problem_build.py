"""build_problem turns the eligible edges (file positions) into the solver's
sorted-id indexes: the same edges, with the same decisions, as the tidy edge
table says."""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.district.validate import load_district
from optimizer.graph import edge_table
from optimizer.planning import problem as problem_module
from tests.conftest import SAMPLE


@pytest.mark.parametrize("sample", [SAMPLE, SAMPLE.parent / "sample-services"])
def test_every_edge_carries_the_edge_tables_decision(sample):
    """Every (student, educator) edge of the problem has the rank, capacity,
    reason and current flag the edge table gives it, and the edges are in
    (student, educator) order of the sorted ids."""
    district = load_district(sample)
    p = problem_module.build_problem(district)
    table = edge_table(district)
    want = {(r.student_id, r.educator_id): (int(r.rank), str(r.capacity), r.reason,
                                           bool(r.current))
            for r in table.itertuples(index=False)}
    got = {(p.student_ids[s], p.educator_ids[e]): (int(rank), str(cap), reason, bool(cur))
           for s, e, rank, cap, reason, cur in zip(
               p.edge_student.tolist(), p.edge_educator.tolist(), p.edge_rank.tolist(),
               p.edge_capacity.tolist(), p.edge_reason.tolist(), p.edge_current.tolist(),
               strict=True)}
    assert len(got) == len(p.edge_student) == len(table)
    assert got == want
    keys = list(zip(p.edge_student.tolist(), p.edge_educator.tolist(), strict=True))
    assert keys == sorted(keys)
    assert list(p.student_ids) == sorted(district.students)
    # (A case manager named as current is an edge's current flag only there.)
    assert p.edge_current.sum() == table["current"].sum() > 0


def test_pins_and_edges_land_on_their_own_ids():
    district = load_district(SAMPLE)
    p = problem_module.build_problem(district)
    assert district.pins
    for sid, eid in district.pins.items():
        s = list(p.student_ids).index(sid)
        assert p.educator_ids[p.pinned_to[s]] == eid
    edges = edge_table(district)
    got = set(zip(p.student_ids[p.edge_student], p.educator_ids[p.edge_educator], strict=True))
    assert got == set(zip(edges["student_id"], edges["educator_id"], strict=True))


def test_eligible_pairs_are_the_edge_tables_two_columns():
    from optimizer.graph import eligible_pairs

    for sample in (SAMPLE, SAMPLE.parent / "sample-services"):
        district = load_district(sample)
        want = edge_table(district)[["student_id", "educator_id"]]
        pd.testing.assert_frame_equal(eligible_pairs(district), want)
