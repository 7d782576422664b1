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


def test_graph_summary_counts_match_the_edge_table_counted_by_pandas(tmp_path):
    # graph_summary counts from the edge arrays; here the same figures are
    # counted the plain way, from the edge table's rows.
    from collections import Counter

    from optimizer.outputs.text import graph_summary

    for folder in (SAMPLE, write_district(generate_district(800, seed=29), tmp_path / "d")):
        d = load_district(folder)
        edges = edge_table(d).astype({"capacity": str})
        got = graph_summary(d)
        best = Counter(edges.groupby("student_id")["rank"].min().tolist())
        taught = set(edges.loc[edges["capacity"] == "instruction", "student_id"])
        sai = {s.student_id for s in d.students.values() if s.sai_setting}
        assert got["edges"] == len(edges)
        assert got["case_manager_educators"] == edges["educator_id"].nunique()
        assert got["edges_by_capacity"] == dict(sorted(Counter(edges["capacity"]).items()))
        assert got["edges_by_rank"] == dict(sorted(Counter(edges["rank"].tolist()).items()))
        assert got["students_by_best_option"] == {
            "best_practice": best[0], "teaches_or_serves": best[1],
            "coordinator_only": best[2],
            "no_eligible_case_manager": len(d.students) - edges["student_id"].nunique()}
        assert got["sai_students_without_authorized_teacher"] == len(sai - taught)
        assert got["sai_students_without_authorized_teacher"] < len(sai)
