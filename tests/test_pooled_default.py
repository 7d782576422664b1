"""The planner's flow (the pooled network, solvers/pooled.py) against the
straightforward model (solvers/flow.py: one arc per eligible pair) on small
random districts: shortages, pins and forbids (locks.csv), a published plan
to keep stable (``--stable``) and min-max balance.

Per seed: the same number placed and the same points *term by term* as the
plain network, and the plan the planner writes (``plan``, which uses the
pooled network) passes the independent checker (tests/independent.py, which
shares no code with the tool) and has the points the independent objective
gives it."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from optimizer.district.validate import load_district
from optimizer.planning.planner import plan
from optimizer.planning.problem import PlanningProblem, build_problem
from optimizer.planning.solvers import SolveParams, flow, pooled
from tests import independent
from tests.conftest import educator, student, write_district
from tests.test_plan import _Objective, as_dict

ROLES = [("RSP", "ES-MMSN"), ("RSP", "ES-MMSN"), ("RSP", "ES-MM"), ("SDC", "ES-ESN"),
         ("SLP", "SLP"), ("COORD", "ES-MMSN"), ("COORD", ""), ("PSY", "PPS")]


def random_district(rng: random.Random, folder: Path) -> tuple[Path, dict[str, str]]:
    """A small district (often short of seats), one pin and one forbid on
    eligible pairs, and a published plan naming some students' educators."""
    educators = []
    for i in range(rng.randint(2, 6)):
        role, cred = rng.choice(ROLES)
        educators.append(educator(f"E{i}", role, cred, max_caseload=str(rng.randint(1, 4)),
                                  other_load=rng.choice(["0", "0", "0", "1"])))
    students = []
    for i in range(rng.randint(4, 14)):
        setting = rng.choice(["rsp", "rsp", "sdc", ""])
        services = "SAI" if setting else "SPEECH"
        if setting and rng.random() < 0.3:
            services += ";SPEECH"
        cur = rng.choice([e["educator_id"] for e in educators] + ["", ""])
        students.append(student(f"S{rng.randint(0, 99):02d}{i}", services,
                                sai_setting=setting,
                                primary=rng.choice(["SLD", "SLD", "AUT", "SLI", "ID"]),
                                current_case_manager=cur))
    write_district(folder, educators=educators, students=students)
    pairs = sorted(independent.eligible_pairs(folder))
    room = {e["educator_id"] for e in educators
            if int(e["max_caseload"]) - int(e["other_load"]) >= 1}
    locks = []
    pinnable = [p for p in pairs if p[1] in room]
    if pinnable:
        s, e = rng.choice(pinnable)
        locks.append({"student_id": s, "educator_id": e, "kind": "pin", "reason": "family"})
        pairs = [p for p in pairs if p[0] != s]
    if pairs:
        s, e = rng.choice(pairs)
        locks.append({"student_id": s, "educator_id": e, "kind": "forbid", "reason": "conflict"})
    write_district(folder, educators=educators, students=students, locks=locks)
    names = [e["educator_id"] for e in educators]
    published = {k["student_id"]: rng.choice(names + ["", ""]) for k in students}
    return folder, published


def _terms_equal(problem: PlanningProblem, a: np.ndarray, b: np.ndarray) -> None:
    assert int((a >= 0).sum()) == int((b >= 0).sum())
    got, want = problem.objective_terms(a), problem.objective_terms(b)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-6), name


@pytest.mark.parametrize("seed", range(30))
def test_pooled_equals_the_plain_network_and_passes_the_independent_checker(tmp_path, seed):
    rng = random.Random(1000 + seed)
    folder, published = random_district(rng, tmp_path / "d")
    district = load_district(folder)
    for pub in (None, published):
        problem = build_problem(district, published=pub)
        plain = flow.solve_flow(problem)
        _terms_equal(problem, pooled.solve_pooled_flow(problem), plain)
        ratio = flow.min_max_ratio(problem)
        _terms_equal(problem, pooled.solve_pooled_flow(problem, ratio=ratio),
                     flow.solve_flow(problem, ratio=ratio))
        # What the planner writes: the pooled plan, checked from the files alone.
        for params in (SolveParams(), SolveParams(balance="minmax")):
            result = plan(district, params, published=pub)
            got = as_dict(result)
            assert independent.plan_violations(folder, got) == []
            assert result.objective == pytest.approx(_Objective(folder, pub)(got), abs=1e-6)
        result = plan(district, published=pub)
        assert result.objective == pytest.approx(
            sum(problem.objective_terms(plain).values()), abs=1e-6)
