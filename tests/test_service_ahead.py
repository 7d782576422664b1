"""The nudged plan flow solved ahead in a child process (services_ahead) gives
the plan the solver computes in-process, byte for byte; a child that fails or
dies is replaced by the same computation in-process, and no child outlives
the solve."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from optimizer.planning.solvers import services
from optimizer.planning.solvers.services import ServiceParams, ServiceProblem, solve_services
from optimizer.planning.solvers.services_ahead import Ahead, Turns, can_fork

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench_services  # noqa: E402  (the benchmark's synthetic district generator)

needs_fork = pytest.mark.skipif(not can_fork(), reason="no fork on this platform")


@needs_fork
@pytest.mark.parametrize("n, seed", [(1000, 4), (1500, 3), (2000, 2)])  # (cases that reach it)
def test_the_plan_solved_ahead_is_the_plan_solved_in_process(monkeypatch, n, seed):
    problem = ServiceProblem.from_arrays(**bench_services.generate(n, seed))
    # Priced path (no LP) with count caps, as on a large district.
    base = ServiceParams(lp_max_pairs=0, use_minutes=False)
    alone = solve_services(problem, ServiceParams(**{**base.__dict__, "ahead_pairs": None}))
    used = []

    class Spy(Ahead):
        def result(self):
            used.append(self.forked)
            return super().result()

    monkeypatch.setattr(services, "Ahead", Spy)
    together = solve_services(problem, ServiceParams(**{**base.__dict__, "ahead_pairs": 1}))
    assert np.array_equal(alone.provider, together.provider)
    assert np.array_equal(alone.case_manager, together.case_manager)
    assert alone.objective == together.objective
    assert dict(alone.bound) == dict(together.bound)
    assert alone.notes == together.notes
    # The child's plan was read (not only started and stopped).
    assert used and all(used)
    assert multiprocessing.active_children() == []


def test_without_fork_the_work_runs_when_asked():
    calls = []
    ahead = Ahead(lambda: calls.append(1) or 21 * 2, fork=False)
    assert not ahead.forked and calls == []
    assert ahead.result() == 42 and calls == [1]


@needs_fork
def test_the_child_computes_it():
    parent = os.getpid()
    ahead = Ahead(lambda: os.getpid() != parent)
    assert ahead.forked
    assert ahead.result() is True  # computed in the child
    assert multiprocessing.active_children() == []


@needs_fork
def test_a_child_that_fails_is_replaced_by_the_same_work_in_process():
    parent = os.getpid()

    def work():
        if os.getpid() != parent:
            raise MemoryError("the child ran out of memory")
        return "parent"

    assert Ahead(work).result() == "parent"
    assert multiprocessing.active_children() == []


@needs_fork
def test_a_child_that_dies_is_replaced_by_the_same_work_in_process():
    parent = os.getpid()

    def work():
        if os.getpid() != parent:
            os._exit(9)  # killed, no word sent back
        return "parent"

    assert Ahead(work).result() == "parent"
    assert multiprocessing.active_children() == []


@needs_fork
def test_a_child_not_needed_is_stopped():
    ahead = Ahead(lambda: time.sleep(60))
    assert ahead.forked and len(multiprocessing.active_children()) == 1
    started = time.perf_counter()
    ahead.cancel()
    ahead.cancel()  # twice is fine
    assert multiprocessing.active_children() == []
    assert time.perf_counter() - started < 10


def _fails() -> int:
    raise ZeroDivisionError("no")


@pytest.mark.skipif(not can_fork(), reason="needs fork")
@pytest.mark.parametrize("work", [lambda: 42, _fails], ids=["a value", "an error"])
def test_a_child_whose_parent_stopped_listening_ends_quietly(work, capfd):
    # The parent closed its end (it was stopped, or its plan failed): the
    # child's answer has nowhere to go, and it ends without a traceback.
    from optimizer.planning.solvers import services_ahead

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    receive.close()
    child = context.Process(target=services_ahead._child, args=(send, work))
    child.start()
    send.close()
    child.join()
    assert child.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err


def test_a_solver_error_stops_the_child(monkeypatch):
    # An error after the child started (here: in the plan step) must not leave it running.
    problem = ServiceProblem.from_arrays(**bench_services.generate(1500, 7))

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    parent, joint_flow = os.getpid(), services._joint_flow

    def slow_in_child(*args, **kwargs):
        if os.getpid() != parent:
            time.sleep(60)  # still running when the error comes
        return joint_flow(*args, **kwargs)

    monkeypatch.setattr(services, "_joint_flow", slow_in_child)
    monkeypatch.setattr(services, "evaluate", boom)
    with pytest.raises(RuntimeError, match="boom"):
        solve_services(problem, ServiceParams(lp_max_pairs=0, use_minutes=False, ahead_pairs=1))
    assert multiprocessing.active_children() == []


@needs_fork
@pytest.mark.parametrize("minutes", [False, True])
def test_parts_solved_on_two_cores_give_the_plans_solved_on_one(minutes):
    # Parts shared by turns with a forked child (with minute capacities the
    # child runs its own HiGHS process: the parent's answers only the parent).
    from tests.test_service_components import merged
    from tests.test_service_planning import to_problem

    rng = random.Random(31 + minutes)
    for _ in range(6):
        spec, _ = merged(rng, minutes)
        problem = to_problem(spec)
        one = solve_services(problem, ServiceParams(chunk_pairs=1, ahead_pairs=None))
        two = solve_services(problem, ServiceParams(chunk_pairs=1, ahead_pairs=1))
        assert np.array_equal(one.provider, two.provider)
        assert np.array_equal(one.case_manager, two.case_manager)
        assert dict(one.bound) == dict(two.bound) and one.notes == two.notes
    assert multiprocessing.active_children() == []


def test_the_parts_go_largest_first():
    rng = random.Random(5)
    for n in range(1, 40):
        sizes = [rng.choice([1, rng.randint(1, 50), rng.randint(300, 30_000)])
                 for _ in range(n)]
        order = services._largest_first(sizes)
        assert sorted(order) == list(range(n))
        assert [sizes[k] for k in order] == sorted(sizes, reverse=True)
        # Equal sizes in index order (the same order on every run).
        assert all(order[i] < order[i + 1] for i in range(n - 1)
                   if sizes[order[i]] == sizes[order[i + 1]])


@needs_fork
def test_turns_hand_each_index_to_one_process_only():
    turns = Turns(400, start=3)
    # Both processes take turns at once; each index is taken exactly once.
    child = Ahead(lambda: [k for k in turns if time.sleep(0.0005) is None])
    mine = [k for k in turns if time.sleep(0.0005) is None]
    theirs = child.result()
    assert sorted(mine + theirs) == list(range(3, 400))
    assert mine and theirs  # (both took some: shared, not one after the other)
    assert mine == sorted(mine) and theirs == sorted(theirs)
    assert list(turns) == [] and turns.take() is None


def _parts_solved_where(monkeypatch, path: Path, die_after: int | None = None):
    """Record (process, part size) of every part solved; with ``die_after``,
    a forked child ends abruptly once it has solved that many parts."""
    parent, solve_part = os.getpid(), services._solve_part

    def recorded(problem, *args, **kwargs):
        if os.getpid() != parent and die_after is not None:
            done = path.read_text().count(f"{os.getpid()} ") if path.exists() else 0
            if done >= die_after:
                path.with_suffix(".died").touch()
                os._exit(3)  # (no answer, no error: as if killed)
        sol = solve_part(problem, *args, **kwargs)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {problem.n_pairs}\n")
        return sol

    monkeypatch.setattr(services, "_solve_part", recorded)


@needs_fork
@pytest.mark.parametrize("die_after", [None, 0])
def test_parts_are_shared_by_turns_and_a_failed_childs_parts_solved_here(
        monkeypatch, tmp_path, die_after):
    from tests.test_service_components import merged
    from tests.test_service_planning import to_problem

    rng = random.Random(71)
    shared = died = 0
    for i in range(6):
        spec, _ = merged(rng, minutes=False)
        problem = to_problem(spec)
        one = solve_services(problem, ServiceParams(chunk_pairs=1, ahead_pairs=None))
        log = tmp_path / f"parts{i}.txt"
        with monkeypatch.context() as m:
            _parts_solved_where(m, log, die_after)
            two = solve_services(problem, ServiceParams(chunk_pairs=1, ahead_pairs=1))
        # The same plan, bound and notes as on one core, whoever solved what.
        assert np.array_equal(one.provider, two.provider)
        assert np.array_equal(one.case_manager, two.case_manager)
        assert dict(one.bound) == dict(two.bound) and one.notes == two.notes
        rows = [line.split() for line in log.read_text().splitlines()]
        here = [int(n) for pid, n in rows if int(pid) == os.getpid()]
        there = [int(n) for pid, n in rows if int(pid) != os.getpid()]
        died += log.with_suffix(".died").exists()
        if len(rows) < 2:
            continue
        # The largest part is solved here (a forked child never forks again).
        assert max(int(n) for _, n in rows) in here
        if die_after is None:
            shared += bool(there)
        else:
            # The child solved at most that many before it ended; the rest here.
            assert len(there) <= die_after
        assert len(here) + len(there) >= 2
    assert die_after is not None or shared >= 3, shared
    assert die_after is None or died >= 3, died  # (the child did take parts, and died)
    assert multiprocessing.active_children() == []


@needs_fork
def test_the_parent_keeps_its_own_highs_process():
    # A forked child that needs HiGHS starts another; the parent's still answers.
    from optimizer.planning.solvers import highs_child

    assert highs_child.call("math:hypot", 3.0, 4.0) == 5.0
    parent_highs = highs_child._CHILD
    assert Ahead(lambda: (highs_child.call("math:hypot", 6.0, 8.0),
                          highs_child._CHILD is not parent_highs)).result() == (10.0, True)
    assert highs_child._CHILD is parent_highs
    assert highs_child.call("math:hypot", 5.0, 12.0) == 13.0


def test_highs_starts_with_the_solve_of_a_district_large_enough(monkeypatch):
    # From ahead_pairs pairs (a district with parts for the LP), HiGHS's
    # process is started as the solve starts, before the parts are split;
    # below, or with the LP off, only when an LP is asked for.
    import types

    from optimizer.planning.solvers import services_exact
    from optimizer.planning.solvers.services_exact import ExactParams, solve_services_exact
    from tests.test_service_components import merged
    from tests.test_service_planning import to_problem

    events = []
    # (Only this call of the solver's: the LPs' own calls start it as before.)
    monkeypatch.setattr(services_exact, "highs_child",
                        types.SimpleNamespace(start=lambda: events.append("HiGHS started")))
    real_chunks = services_exact.chunks
    monkeypatch.setattr(services_exact, "chunks",
                        lambda *a: (events.append("parts split"), real_chunks(*a))[1])
    problem = to_problem(merged(random.Random(3), minutes=False)[0])
    exact = ExactParams(max_pairs=4)
    for params, started in ((ServiceParams(ahead_pairs=problem.n_pairs), True),
                            (ServiceParams(ahead_pairs=problem.n_pairs + 1), False),
                            (ServiceParams(ahead_pairs=None), False),
                            (ServiceParams(ahead_pairs=1, lp_bound=False), False)):
        events.clear()
        solve_services_exact(problem, dataclasses.replace(params, chunk_pairs=1), exact)
        assert events[:2] == (["HiGHS started", "parts split"] if started else ["parts split"])
        assert events.count("HiGHS started") == started


@needs_fork
def test_no_fork_while_another_thread_runs():
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        assert not Ahead(lambda: 1).forked  # the work stays in this process
    finally:
        stop.set()
        other.join()
    assert can_fork()


@needs_fork
def test_exact_models_on_two_cores_give_the_plans_on_one():
    # CP-SAT's small parts, the models shared by turns with a forked child: one
    # worker, a fixed seed and a work limit give the same outcome in either process.
    from optimizer.planning.solvers.services_exact import ExactParams, solve_services_exact
    from tests.test_service_components import merged
    from tests.test_service_planning import to_problem

    rng = random.Random(44)
    for i in range(4):
        spec, _ = merged(rng, minutes=i % 2 == 1)
        problem = to_problem(spec)
        exact = ExactParams(max_pairs=4)
        one = solve_services_exact(problem, ServiceParams(chunk_pairs=1, ahead_pairs=None), exact)
        two = solve_services_exact(problem, ServiceParams(chunk_pairs=1, ahead_pairs=1), exact)
        assert one.extra["exact_parts"] >= 1
        assert np.array_equal(one.provider, two.provider)
        assert np.array_equal(one.case_manager, two.case_manager)
        assert dict(one.bound) == dict(two.bound) and one.notes == two.notes
    assert multiprocessing.active_children() == []


@needs_fork
@pytest.mark.parametrize("small_unproven", [False, True])
def test_the_rest_split_made_meanwhile_is_used_only_when_it_is_the_rest(
        monkeypatch, small_unproven):
    # While the small models are shared with a child, this process splits the
    # large parts for the flow and LP solver. That split is the rest's only
    # when every small model is proven; otherwise the rest (with the small
    # parts left open) is split again. Either way: the plan made on one core.
    from optimizer.planning.solvers import services_exact
    from optimizer.planning.solvers.services_components import chunks
    from optimizer.planning.solvers.services_exact import ExactParams, solve_services_exact
    from tests.test_service_components import merged
    from tests.test_service_planning import to_problem

    if small_unproven:  # (no small model proven: each goes to the rest)
        monkeypatch.setattr(services_exact, "solve_exact", lambda *a, **k: None)
    exact = ExactParams(max_pairs=4, flows_first=not small_unproven)
    parent, real_split = os.getpid(), services_exact._split
    splits: list[int] = []

    def counted(problem, params):
        if os.getpid() == parent:
            splits.append(problem.n_pairs)
        return real_split(problem, params)

    rng = random.Random(45)
    runs = 0
    for _ in range(8):
        spec, _ = merged(rng, minutes=False)
        problem = to_problem(spec)
        one = solve_services_exact(problem, ServiceParams(chunk_pairs=1, ahead_pairs=None), exact)
        splits.clear()
        with monkeypatch.context() as m:
            m.setattr(services_exact, "_split", counted)
            two = solve_services_exact(problem, ServiceParams(chunk_pairs=1, ahead_pairs=1),
                                       exact)
        assert np.array_equal(one.provider, two.provider)
        assert np.array_equal(one.case_manager, two.case_manager)
        assert dict(one.bound) == dict(two.bound) and one.notes == two.notes
        sizes = [len(part.pairs) for part in chunks(problem, exact.max_pairs)[0]]
        if max(sizes) <= exact.max_pairs or sum(n <= exact.max_pairs for n in sizes) < 2:
            continue  # (no large part to split, or no small models to share)
        runs += 1
        # Split once (meanwhile) when that was the rest, else a second time.
        assert len(splits) == (2 if small_unproven else 1), splits
        if small_unproven:
            assert splits[1] > splits[0]  # (the rest: the large parts and the small)
    assert runs >= 3, runs
    assert multiprocessing.active_children() == []


def test_turns_without_semaphores_stay_in_this_process(monkeypatch):
    # Where fork works but the system gives no semaphores (some containers),
    # the counter is this process's own and no child is forked for the work.
    class NoSemaphores:
        def Value(self, *args):
            raise OSError("no semaphores here")

    monkeypatch.setattr(multiprocessing, "get_context", lambda *args: NoSemaphores())
    turns = Turns(4)
    assert not turns.shared
    assert list(turns) == [0, 1, 2, 3] and turns.take() is None


@needs_fork
def test_a_child_that_dies_holding_the_counter_ends_the_turns(monkeypatch):
    # Killed in the microseconds it holds the lock: the turns end (None) after
    # LOCK_WAIT, not a wait for ever; the caller then does the rest itself.
    monkeypatch.setattr(Turns, "LOCK_WAIT", 0.3)
    turns = Turns(10)
    assert turns.shared and turns.take() == 0

    def die_holding_it():
        turns._next.get_lock().acquire()
        os._exit(0)

    child = multiprocessing.get_context("fork").Process(target=die_holding_it)
    child.start()
    child.join()
    started = time.perf_counter()
    assert turns.take() is None
    assert 0.3 <= time.perf_counter() - started < 5
