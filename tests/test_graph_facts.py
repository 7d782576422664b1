"""The edge table decides each (student, educator) pair once per *facts* the
rules read (not per student profile): every edge's capacity, rank and reason
must still be what the rules say for that very pair, decided afresh."""

from __future__ import annotations

from optimizer import load_district
from optimizer.generator import generate_district
from optimizer.graph import edge_table
from optimizer.outputs.export import write_district
from optimizer.rules.eligibility import _decide, serves_school
from tests.conftest import SAMPLE


def test_every_edge_matches_an_uncached_decision_on_generated_and_sample(tmp_path):
    for folder in (SAMPLE, write_district(generate_district(1500, seed=23), tmp_path / "d")):
        d = load_district(folder)
        edges = edge_table(d)
        checked = 0
        for row in edges.itertuples():
            s, e = d.students[row.student_id], d.educators[row.educator_id]
            if row.pinned or not serves_school(d.rules, s, e).ok:
                continue  # pins and [school_rule] reach are decided elsewhere
            want = _decide(d.rules, s, e)  # no cache: the rules themselves
            assert (row.capacity, row.rank, row.reason) == (want.capacity, want.rank,
                                                            want.reason), row
            checked += 1
        assert checked > len(edges) // 2
