"""The graph's figures from arrays (``caseload graph`` at 100,000 students builds no
networkx graph) agree with networkx on the same district."""

from __future__ import annotations

import networkx as nx

from optimizer import load_district
from optimizer.generator import generate_district
from optimizer.graph import (
    build_graph,
    component_summary,
    components,
    edge_table,
    school_table,
)
from optimizer.outputs.export import write_district
from optimizer.outputs.text import graph_summary
from tests.conftest import SAMPLE, SCHOOL, educator, student


def _by_networkx(district) -> tuple[int, dict[str, int]]:
    comps = components(build_graph(district))
    return len(comps), {"students": len(comps[0][0]), "educators": len(comps[0][1])}


def test_components_match_networkx_on_the_sample_and_a_generated_district(tmp_path):
    for folder in (SAMPLE, write_district(generate_district(600, seed=11), tmp_path / "d")):
        district = load_district(folder)
        assert component_summary(district) == _by_networkx(district)
        G = build_graph(district)
        assert graph_summary(district) == graph_summary(district, G)
        assert nx.number_connected_components(G) == component_summary(district)[0]


def test_isolated_nodes_and_ties_follow_the_networkx_order(make_district):
    # Elm: two RSPs and S5; Oak: one RSP and S1, S2 -- two components of three
    # nodes each. The largest is the one whose smallest id sorts first (S1:
    # Oak, 2 students and 1 educator). A psychologist, who case-manages no
    # one, is a component of their own.
    oak = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5"}
    district = load_district(make_district(
        schools=[SCHOOL, oak],
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN"),
                   educator("E9", "RSP", "ES-MMSN", schools="OAK"), educator("P1", "PSY")],
        students=[student("S5"), student("S2", school="OAK"), student("S1", school="OAK")]))
    assert component_summary(district) == _by_networkx(district)
    assert component_summary(district) == (3, {"students": 2, "educators": 1})


def test_school_table_counts_match_the_edge_rows(tmp_path):
    district = load_district(write_district(generate_district(600, seed=11), tmp_path / "d"))
    edges = edge_table(district)
    table = school_table(district).set_index("school_id")
    for sch in district.schools:
        rows = [r for r in edges.itertuples() if r.school_id == sch]
        enrolled = sum(1 for s in district.students.values() if s.school_id == sch)
        assert table.at[sch, "edges"] == len(rows)
        assert table.at[sch, "with_best_practice_option"] == len(
            {r.student_id for r in rows if r.rank == 0})
        assert table.at[sch, "no_eligible_case_manager"] == enrolled - len(
            {r.student_id for r in rows})
