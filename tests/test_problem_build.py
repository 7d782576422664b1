"""build_problem finds edge positions by hash lookup (pandas Index.get_indexer):
an id it cannot find is an error, never position -1 (the last student)."""

from __future__ import annotations

import pytest

from optimizer.district.validate import load_district
from optimizer.planning import problem as problem_module
from tests.conftest import SAMPLE


def test_an_edge_naming_someone_outside_the_district_is_an_error(monkeypatch):
    district = load_district(SAMPLE)
    real = problem_module.edge_table

    def with_a_stranger(d):
        edges = real(d).copy()
        edges["student_id"] = edges["student_id"].astype(object)
        edges.loc[edges.index[0], "student_id"] = "NOT-A-STUDENT"
        return edges

    monkeypatch.setattr(problem_module, "edge_table", with_a_stranger)
    with pytest.raises(ValueError, match="not in the district"):
        problem_module.build_problem(district)


def test_pins_and_edges_land_on_their_own_ids():
    district = load_district(SAMPLE)
    p = problem_module.build_problem(district)
    assert district.pins
    for sid, eid in district.pins.items():
        s = list(p.student_ids).index(sid)
        assert p.educator_ids[p.pinned_to[s]] == eid
    edges = problem_module.edge_table(district)
    got = set(zip(p.student_ids[p.edge_student], p.educator_ids[p.edge_educator], strict=True))
    assert got == set(zip(edges["student_id"], edges["educator_id"], strict=True))
