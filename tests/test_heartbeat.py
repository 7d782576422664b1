"""A long service solve says now and then that it is still working
(solvers/heartbeat.py): from the solving process only, never changing the plan."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from optimizer import load_district
from optimizer.planning.service_plan import plan_services
from optimizer.planning.solvers import SolveParams, heartbeat
from optimizer.planning.solvers.heartbeat import beat
from tests.conftest import ROOT


def test_it_speaks_when_it_is_time_and_only_inside(monkeypatch):
    lines: list[str] = []
    beat()  # outside any heartbeat: nothing, no error
    with heartbeat.heartbeat(lines.append, "solving"):
        beat()  # too soon (EVERY is 5 s)
        assert lines == []
        monkeypatch.setattr(heartbeat, "EVERY", 0.0)
        beat()
        beat()
    beat()  # after the block: nothing
    assert len(lines) == 2 and all(li.startswith("solving: still working (") for li in lines)


def test_no_say_means_no_heartbeat_even_inside_another(monkeypatch):
    monkeypatch.setattr(heartbeat, "EVERY", 0.0)
    lines: list[str] = []
    with heartbeat.heartbeat(None, "solving"):
        beat()  # (nothing to say it with)
    with heartbeat.heartbeat(lines.append, "outer"):
        with heartbeat.heartbeat(None, "quiet part"):
            beat()  # silenced within
        beat()  # the outer one again
    assert len(lines) == 1 and lines[0].startswith("outer: still working (")


def _beat_in_child() -> None:
    beat()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork")
def test_a_forked_child_stays_quiet(monkeypatch, tmp_path):
    # The child inherits the heartbeat (and EVERY = 0): its parent speaks, not it.
    monkeypatch.setattr(heartbeat, "EVERY", 0.0)
    said = tmp_path / "said.txt"

    def say(text: str) -> None:
        with open(said, "a", encoding="utf-8") as f:
            f.write(text + "\n")

    with heartbeat.heartbeat(say, "solving"):
        child = multiprocessing.get_context("fork").Process(target=_beat_in_child)
        child.start()
        child.join()
        assert child.exitcode == 0
        assert not said.exists()
        beat()  # the parent itself
    assert said.read_text(encoding="utf-8").startswith("solving: still working (")


def test_a_service_plan_says_it_is_solving_and_is_the_same_plan(monkeypatch):
    district = load_district(ROOT / "data" / "sample-services")
    quiet = plan_services(district)
    monkeypatch.setattr(heartbeat, "EVERY", 0.0)
    lines: list[str] = []
    loud = plan_services(district, SolveParams(progress=lines.append))
    assert any(li.startswith("solving: still working (") for li in lines)
    assert np.array_equal(loud.assignment, quiet.assignment)
    assert loud.services.equals(quiet.services)
    assert loud.objective == quiet.objective
