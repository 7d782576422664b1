"""The shared HiGHS child answers a weighted case-manager LP after a service
LP, and the other way round: HiGHS starts its thread scheduler once per
process, and a solve asking for another thread count than the first fails
("the scheduler has already been initialized"), so every LP asks for one.
Found when a service plan with minute capacities ran before a weighted plan
in one process (a notebook would do the same)."""

from __future__ import annotations

import random

import pytest

from optimizer import load_district
from optimizer.planning.problem import build_problem
from optimizer.planning.solvers import highs_child, solve
from optimizer.planning.solvers.services import ServiceParams, solve_services
from tests.conftest import educator, student
from tests.test_service_planning import random_spec, to_problem


def _fresh_highs_child():
    # A new HiGHS process, so that the first LP below is the one that starts
    # its scheduler (the test suite's earlier LPs must not decide it).
    child = highs_child._CHILD
    if child is not None and child.poll() is None:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    highs_child.forget()


def _service_lp():
    rng = random.Random(8)
    spec = random_spec(rng, minutes=True)
    sol = solve_services(to_problem(spec), ServiceParams(decompose=False))
    assert any("LP" in note for note in sol.notes), sol.notes


def _weighted_lp(make_district):
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN")],
        students=[student("S1", weight="1.5"), student("S2")]))
    sol = solve(build_problem(d))
    assert sol.engine.startswith("LP relaxation (HiGHS) for the bound"), sol.engine


@pytest.mark.parametrize("service_first", [True, False])
def test_service_and_weighted_lps_share_the_highs_child(make_district, service_first):
    _fresh_highs_child()
    if service_first:
        _service_lp()
        _weighted_lp(make_district)
    else:
        _weighted_lp(make_district)
        _service_lp()
