"""Tests written for planning mutants that survived the fifth `make mutate`
measurement (benchmarks/mutation.json, issue 13; survivors of
``optimizer/planning/explain.py`` and ``optimizer/planning/solvers``): each
asserts, on a small named case worked by hand, the behaviour a surviving
mutant changed (summary figures, short reasons, CP-SAT's points, progress
lines and time-limit notes, the flow engine's error). Grouped by module."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from optimizer import load_district, plan
from optimizer.planning.check import audit_table
from optimizer.planning.explain import explain_plan
from optimizer.planning.problem import build_problem, component_labels
from optimizer.planning.solution import Solution
from optimizer.planning.solvers import SolveParams, cpsat, flow, solve
from tests.conftest import SCHOOL, educator, student

OAK = {**SCHOOL, "school_id": "OAK", "name": "Oak Elementary"}


# ------------------------------------------------------------------ planning/explain.py


def _rsp_and_coordinator(make_district, n_rsp: int, rsp_cap: str, n_students: int,
                         toml: str | None = None):
    """RSP teachers E1.. (ES-MMSN, the best-practice match for an RSP student)
    with cap ``rsp_cap``, one coordinator C1, and ``n_students`` RSP students."""
    educators = [educator(f"E{i}", "RSP", "ES-MMSN", max_caseload=rsp_cap)
                 for i in range(1, n_rsp + 1)] + [educator("C1", "COORD")]
    return load_district(make_district(
        educators=educators, students=[student(f"S{i}") for i in range(1, n_students + 1)],
        toml=toml))


def test_figures_weights_and_best_practice_share_by_hand(make_district):
    # E1 (cap 2) takes two RSP students at best practice (rank 0); the third
    # goes to the coordinator (rank 2). Best-practice share 2 of 3 placed.
    d = _rsp_and_coordinator(make_district, 1, "2", 3,
                             toml="[objective]\nunplaced = 90.0\nrank = [0.0, 8.0, 25.0]\n"
                                  "continuity = 3.0\nbalance = 1.5\n")
    r = plan(d, SolveParams())
    assert r.figures["rank_counts"] == {"0": 2, "1": 0, "2": 1}
    assert r.figures["best_practice_share"] == pytest.approx(2 / 3)
    assert dict(r.figures["weights"]) == {"unplaced": 90.0, "rank": (0.0, 8.0, 25.0),
                                          "continuity": 3.0, "balance": 1.5}


def _short_reason(result, cm: str) -> str:
    a = result.assignments
    rows = a[a["case_manager_id"] == cm]
    assert len(rows) == 1
    return rows["reason"].iloc[0]


def test_short_reason_names_one_full_best_practice_match(make_district):
    # One RSP teacher (cap 1) is full: the second student goes to the
    # coordinator, and the short reason says the (one) match had no room.
    r = plan(_rsp_and_coordinator(make_district, 1, "1", 2), SolveParams())
    assert _short_reason(r, "C1") == ("Coordinator only: coordinates the IEP. "
                                      "The best-practice match had no room")


def test_short_reason_names_several_full_best_practice_matches(make_district):
    # Two RSP teachers (cap 1 each) are full: plural.
    r = plan(_rsp_and_coordinator(make_district, 2, "1", 3), SolveParams())
    assert _short_reason(r, "C1") == ("Coordinator only: coordinates the IEP. "
                                      "The best-practice matches had no room")


def test_summary_runtime_rounded_to_a_tenth_of_a_millisecond_and_sources_hashed(
        make_district):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                           students=[student("S1")])
    d = load_district(folder)
    problem = build_problem(d)
    assignment = np.array([0])
    points = sum(problem.objective_terms(assignment).values())
    result = explain_plan(problem, Solution(assignment, "optimal", "by hand", points, points,
                                            {"solve": 0.123456, "graph": 2.0}),
                          audit=audit_table(d))
    runtime = result.figures["runtime_s"]
    assert (runtime["solve"], runtime["graph"]) == (0.1235, 2.0)
    # summary.json names every file read with its SHA-256.
    assert result.figures["sources"] == {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in ("schools.csv", "educators.csv", "students.csv")}


# ------------------------------------------------------------------ planning/solvers/cpsat.py


def test_cpsat_points_are_exact_at_whole_loads(make_district):
    # S1 weighs 2 with E1 (cap 7): the balance penalty 2 x 2^2 / 7 = 8/7 =
    # 1.142857 points; at a whole load CP-SAT's secants are exact, so its own
    # points are 8/7 to the thousandth (1.143), not a thousandth more.
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="7")],
        students=[student("S1", weight="2")])))
    sol = solve(p, SolveParams(engine="cpsat"))
    assert sol.assignment.tolist() == [0]
    assert sol.objective == pytest.approx(8 / 7)
    assert sol.facts["cpsat_objective"] == pytest.approx(1.143)
    assert sol.facts["cpsat_bound"] == pytest.approx(1.143)


def test_minmax_ceiling_is_zero_when_nobody_can_be_placed(make_district):
    # S1 weighs 2; their only RSP teacher E1 has a cap of 1: nobody can be
    # placed, every load stays 0, so the lowest highest ratio is 0.
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1")],
        students=[student("S1", weight="2")])))
    assert len(p.edge_student) == 1  # the option exists; the cap rules it out
    sol = solve(p, SolveParams(engine="cpsat", balance="minmax"))
    assert sol.assignment.tolist() == [-1]
    assert sol.facts["max_ratio_ceiling"] == 0.0
    assert sol.engine.endswith("; min-max first (per component, highest ceiling 0.000)")


def _two_schools(make_district):
    """Elm: E1 (RSP, cap 7) and S1; Oak: E2 (RSP, cap 7) and S2 weighing 2.
    Two components, Elm's first."""
    return build_problem(load_district(make_district(
        schools=[SCHOOL, OAK],
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="7"),
                   educator("E2", "RSP", "ES-MMSN", schools="OAK", max_caseload="7")],
        students=[student("S1"), student("S2", school="OAK", weight="2")])))


def test_a_component_without_a_plan_in_time_does_not_stop_the_next(make_district,
                                                                   monkeypatch):
    # The first component's searches (both phases: the hint places nobody)
    # get no time and find no plan; the second component is still solved.
    real, calls = cpsat._solver, []

    def solver(seconds, deterministic):
        s = real(seconds, deterministic)
        calls.append(seconds)
        if len(calls) <= 2:
            s.parameters.max_time_in_seconds = 0.0
        return s

    monkeypatch.setattr(cpsat, "_solver", solver)
    p = _two_schools(make_district)
    out = cpsat.solve_cpsat(p, np.array([-1, -1]), component_labels(p), time_limit=20)
    assert len(calls) == 4
    assert out.assignment.tolist() == [-1, 1]
    assert (out.status, out.bound, out.components_solved) == ("feasible", None, 2)
    # Oak's points: 2 x 2^2 / 7 = 8/7, to the thousandth.
    assert out.objective == pytest.approx(1.143)


def test_progress_says_best_found_for_an_unproven_component(make_district, monkeypatch):
    # Every search stops at its first plan (as a busy machine's clock would
    # stop it). Two RSP teachers with cap 3 and students weighing 2, 1, 1.5
    # and 1.5, hinted with the flows' plan: CP-SAT's first plan (the hint's)
    # is not proven, and progress says so.
    real = cpsat._solver

    def solver(seconds, deterministic):
        s = real(seconds, deterministic)
        s.parameters.stop_after_first_solution = True
        return s

    monkeypatch.setattr(cpsat, "_solver", solver)
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="3")],
        students=[student("S1", weight="2"), student("S2"), student("S3", weight="1.5"),
                  student("S4", weight="1.5")])))
    said: list[str] = []
    out = cpsat.solve_cpsat(p, flow.weighted_hint(p), component_labels(p), time_limit=20,
                            progress=said.append)
    assert out.status == "feasible"
    assert said[-1] == f"component 1 of 1: best found ({out.objective:,.1f} points)"


def test_a_search_stopped_by_the_clock_is_reported_after_later_components(make_district,
                                                                          monkeypatch):
    # A slow progress reader holds the first component's first search past
    # its share of the time (the wall clock stops it); the second component
    # is quick. The time limit still stopped a search: the engine says so.
    monkeypatch.setattr(cpsat, "PROGRESS_EVERY", 0.0)

    def slow_reader(line: str) -> None:
        if line.startswith("component 1 of 2: best so far"):
            time.sleep(0.4)

    p = _two_schools(make_district)
    sol = solve(p, SolveParams(engine="cpsat", balance="minmax", time_limit=1.0,
                               progress=slow_reader))
    assert sol.assignment.tolist() == [0, 1]
    assert sol.facts["stopped_by_time_limit"] is True
    assert sol.engine.endswith("; stopped by the time limit")


# ------------------------------------------------------------------ planning/solvers/flow.py


def test_the_flow_engine_refuses_weighted_students_in_words(make_district):
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN")], students=[student("S1", weight="2")])))
    with pytest.raises(ValueError) as err:
        flow.solve_flow(p)
    assert str(err.value) == "the flow engine needs every student weight to be 1"
