"""The eligibility graph against an independent checker, and its properties."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import (
    build_graph,
    components,
    decide,
    edge_table,
    load_district,
    school_table,
    unplaceable_students,
)
from optimizer.generator import generate_district
from optimizer.graph import educator_node, student_node
from optimizer.outputs.export import write_district
from tests import independent
from tests.conftest import SAMPLE, educator, student
from tests.conftest import write_district as write_rows


def _graph_pairs(G: nx.Graph) -> dict[tuple[str, str], tuple[str, int]]:
    out = {}
    for u, v, a in G.edges(data=True):
        s, e = (u, v) if u[0] == "student" else (v, u)
        out[(s[1], e[1])] = (a["capacity"], a["rank"])
    return out


@pytest.mark.parametrize("n, seed", [(300, 1), (800, 2), (1500, 3)])
def test_graph_matches_independent_checker_on_generated(tmp_path, n, seed):
    folder = write_district(generate_district(n, seed=seed), tmp_path / "d")
    G = build_graph(load_district(folder))
    assert _graph_pairs(G) == independent.eligible_pairs(folder)


def test_sample_graph_matches_independent_checker():
    G = build_graph(load_district(SAMPLE))
    assert _graph_pairs(G) == independent.eligible_pairs(SAMPLE)


def test_graph_is_bipartite_with_marked_sides():
    d = load_district(SAMPLE)
    G = build_graph(d)
    students = {n for n, b in G.nodes(data="bipartite") if b == 0}
    educators = {n for n, b in G.nodes(data="bipartite") if b == 1}
    assert students == {student_node(s) for s in d.students}
    assert educators == {educator_node(e) for e in d.educators}
    assert nx.bipartite.is_bipartite_node_set(G, students)
    for u, v in G.edges():
        assert {u[0], v[0]} == {"student", "educator"}


def test_every_edge_is_allowed_by_the_rules_and_serves_the_school():
    d = load_district(SAMPLE)
    for row in edge_table(d).itertuples():
        s, e = d.students[row.student_id], d.educators[row.educator_id]
        assert s.school_id in e.schools
        got = decide(d, s, e)
        assert (got.capacity, got.rank) == (row.capacity, row.rank)
        assert row.current == (s.current_case_manager == e.educator_id)


def test_forbids_and_pins_are_applied():
    d = load_district(SAMPLE)
    assert d.forbids and d.pins, "the sample ships pins and forbids"
    G = build_graph(d)
    for s, e in d.forbids:
        assert not G.has_edge(student_node(s), educator_node(e))
    for s, e in d.pins.items():
        nbrs = list(G.neighbors(student_node(s)))
        assert nbrs == [educator_node(e)]
        assert G.edges[student_node(s), educator_node(e)]["pinned"]
    assert len(G.graph["forbidden"]) == len(d.forbids)


def test_components_partition_the_nodes():
    d = load_district(SAMPLE)
    G = build_graph(d)
    comps = components(G)
    seen_s = [s for c in comps for s in c[0]]
    seen_e = [e for c in comps for e in c[1]]
    assert sorted(seen_s) == sorted(d.students) and len(seen_s) == len(set(seen_s))
    assert sorted(seen_e) == sorted(d.educators)
    assert len(comps) == nx.number_connected_components(G)
    sizes = [len(a) + len(b) for a, b in comps]
    assert sizes == sorted(sizes, reverse=True)


def test_unplaceable_student_lists_the_rule_for_every_candidate(make_district):
    folder = make_district(
        educators=[educator("E1", "OT", "OT-LIC"), educator("E2", "SLP", "SLP", case_manager="no")],
        students=[student("S1", services="SAI;OT"), student("S2", services="SPEECH",
                                                            sai_setting="", primary="SLI")])
    d = load_district(folder)
    un = {u["student_id"]: u for u in unplaceable_students(d)}
    assert set(un) == {"S1", "S2"}
    why = {c["educator_id"]: c["why_not"] for c in un["S1"]["candidates"]}
    assert "not a case-manager role" in why["E1"][0]
    assert "case_manager = no" in why["E2"][0]


def test_student_at_school_nobody_serves(make_district):
    folder = make_district(
        schools=[{"school_id": "ELM", "name": "Elm", "low_grade": "K", "high_grade": "5"},
                 {"school_id": "ASH", "name": "Ash", "low_grade": "K", "high_grade": "5"}],
        educators=[educator("E1", "RSP", "ES-MMSN")],
        students=[student("S1", school="ASH")])
    un = unplaceable_students(load_district(folder))
    assert un[0]["summary"] == "no educator serves school ASH"


def test_forbid_can_leave_a_student_without_options(make_district):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                           students=[student("S1")],
                           locks=[{"student_id": "S1", "educator_id": "E1", "kind": "forbid",
                                   "reason": "parent request"}])
    d = load_district(folder)
    un = unplaceable_students(d)
    assert un[0]["candidates"][0]["why_not"] == ["forbidden in locks.csv (S1, E1)"]


def test_school_table_counts_match_edges():
    d = load_district(SAMPLE)
    table = school_table(d).set_index("school_id")
    edges = edge_table(d)
    assert table["edges"].sum() == len(edges)
    assert table["students"].sum() == len(d.students)
    best = edges[edges["rank"] == 0].groupby("school_id")["student_id"].nunique()
    for sch, n in best.items():
        assert table.at[sch, "with_best_practice_option"] == n


# Small random districts: the engine and the independent checker must agree.
_roles = st.sampled_from(["RSP", "SDC", "SLP", "DHH", "VI", "COORD", "PSY", "OT"])
_creds = st.lists(st.sampled_from(["ES-MMSN", "ES-ESN", "ES-ECSE", "ES-DHH", "ES-VI", "ES-MM",
                                   "ES-MS", "LH", "SH", "AA-ASD", "AA-ED", "SLP", "SLP-SCA",
                                   "PPS", "OT-LIC"]), max_size=3, unique=True)
_student = st.fixed_dictionaries({
    "primary": st.sampled_from(["SLD", "SLI", "AUT", "ID", "HH", "VI", "OI", "ED", "290", "320"]),
    "secondary": st.sampled_from(["", "SLD", "AUT", "ID"]),
    "services": st.lists(st.sampled_from(["SAI", "SPEECH", "OT", "DHH", "VI", "COUNSELING"]),
                         min_size=1, max_size=3, unique=True),
    "setting": st.sampled_from(["rsp", "sdc"]),
    "grade": st.sampled_from(["PK", "K", "3", "5"]),
    "gen_ed": st.integers(0, 100),
    "on_secondary": st.booleans(),
})


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(staff=st.lists(st.tuples(_roles, _creds, st.sampled_from(["", "yes", "no"])),
                      min_size=1, max_size=5),
       kids=st.lists(_student, min_size=1, max_size=6))
def test_random_small_districts_agree_with_independent_checker(tmp_path_factory, staff, kids):
    folder = tmp_path_factory.mktemp("h")
    school = {"school_id": "ELM", "name": "Elm", "low_grade": "PK", "high_grade": "5"}
    educators = [educator(f"E{i}", r, ";".join(c), case_manager=f)
                 for i, (r, c, f) in enumerate(staff)]
    students = []
    for i, k in enumerate(kids):
        low = k["primary"] in ("HH", "VI", "OI")
        sec = k["secondary"] if k["secondary"] != k["primary"] else ""
        students.append(student(
            f"S{i}", services=";".join(k["services"]),
            sai_setting=k["setting"] if "SAI" in k["services"] else "",
            primary=k["primary"], grade=k["grade"], gen_ed_pct=str(k["gen_ed"]),
            secondary_disability=sec,
            placement_basis="secondary" if (low and sec and k["on_secondary"]) else ""))
    write_rows(folder, schools=[school], educators=educators, students=students)
    G = build_graph(load_district(folder))
    assert _graph_pairs(G) == independent.eligible_pairs(folder)
