"""The HiGHS child's answer is awaited only so long: HiGHS's MIP overran its
own time limit by 4 s at 100,000 students with minute capacities (a 60 s
solve ended at 63.4 s), and ``--time-limit`` is wall clock for the whole
solve. Past the timeout the child is stopped and the caller gets the
RuntimeError it already handles as "HiGHS failed"; the next call starts a
new child."""

from __future__ import annotations

import time

import pytest

from optimizer.planning.solvers import highs_child, services_lp
from optimizer.planning.solvers.services import ServiceParams
from tests.test_service_planning import random_spec, to_problem


def test_a_call_past_its_timeout_stops_the_child_and_the_next_call_works():
    assert highs_child.call("math:hypot", 3.0, 4.0) == 5.0  # (the child is started)
    first = highs_child._CHILD
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="no answer within 0.5 s"):
        highs_child.call("time:sleep", 30.0, timeout=0.5)
    assert time.perf_counter() - t0 < 5.0  # not the 30 s the target would take
    assert first is not None and first.poll() is not None  # stopped
    assert first.stdin.closed and first.stdout.closed  # (its pipes too)
    assert highs_child.call("math:hypot", 5.0, 12.0, timeout=30.0) == 13.0


def test_a_child_started_just_before_gets_the_start_allowance_too(monkeypatch):
    # start() ahead of the first call (services_exact does, as a large solve
    # starts): the child may still be importing, so a timed call waits
    # _START_SECONDS more until the child has answered once, as when the
    # call itself starts it.
    old = highs_child._CHILD
    if old is not None and old.poll() is None:
        old.stdin.close()
        old.wait()
    waits = []
    real_select = highs_child.select.select
    monkeypatch.setattr(highs_child.select, "select",
                        lambda r, w, x, wait: (waits.append(wait), real_select(r, w, x, wait))[1])
    highs_child.start()
    assert highs_child.call("math:hypot", 3.0, 4.0, timeout=30.0) == 5.0
    assert highs_child.call("math:hypot", 6.0, 8.0, timeout=30.0) == 10.0
    assert waits == [30.0 + highs_child._START_SECONDS, 30.0]


def test_an_answer_in_time_is_the_answer():
    assert highs_child.call("math:hypot", 3.0, 4.0, timeout=30.0) == 5.0
    assert highs_child.call("math:hypot", 6.0, 8.0) == 10.0  # (no timeout: as before)
    # (An infinite time limit is a wait without end, not an overflow.)
    assert highs_child.call("math:hypot", 8.0, 15.0, timeout=float("inf")) == 17.0


def test_the_level_mip_waits_a_second_past_highs_own_limit(monkeypatch):
    import random

    asked: list[float | None] = []
    real = highs_child.call

    def spy(target, *args, timeout=None):
        asked.append(timeout)
        return real(target, *args, timeout=timeout)

    monkeypatch.setattr(highs_child, "call", spy)
    problem = to_problem(random_spec(random.Random(5)))
    services_lp._level_mip(problem, ServiceParams(), None, 7.0)
    assert asked == [8.0]


def test_the_highs_child_loads_neither_pandas_nor_ortools(monkeypatch):
    # The child starts in every process that needs an LP (the service solve
    # forks one more): pandas was 0.3 s of each start, through the solver
    # package's import of the planning problem. OR-Tools must never load
    # there (its bundled HiGHS clashes with highspy).
    monkeypatch.setattr(highs_child, "_CHILD", None)  # (a new child, not one used before)
    try:
        loaded = highs_child.call("tests.test_highs_timeout:_heavy_modules_after_an_lp")
    finally:
        child = highs_child._CHILD
        if child is not None:
            assert child.stdin is not None
            child.stdin.close()
            child.wait()
    assert loaded == []


def _heavy_modules_after_an_lp() -> list[str]:
    """(In the child.) Heavy modules loaded once a service LP's module is."""
    import importlib
    import sys

    importlib.import_module("optimizer.planning.solvers.services_lp")
    importlib.import_module("highspy")
    return sorted(m for m in ("pandas", "ortools") if m in sys.modules)
