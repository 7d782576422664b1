"""The tie rule of the planner's flow (solvers/pooled.py, docs/solver-design.md).

Where several plans are equally good, the plan follows the student_id and
educator_id order, not the order of the rows or of OR-Tools' arcs:

1. interchangeable students (the same eligible case managers at the same
   points, the same points if left unplaced) are placed in student_id order,
   and a smaller id never has more points than a larger one;
2. students whose case managers come from one set of equally good educators
   (each may have any of them at the same points) get them in order: a
   smaller student_id never has a larger educator_id.

Ids compare as text (``S03 < S10 < S2``). The checker below re-derives both
from the problem's edges with plain dictionaries (no code of pooled.py)."""

from __future__ import annotations

import csv
import dataclasses
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from optimizer.district.validate import load_district
from optimizer.generator import generate_district
from optimizer.outputs.export import write_district as write_generated
from optimizer.outputs.export import write_plan
from optimizer.planning.planner import plan
from optimizer.planning.problem import PlanningProblem, build_problem
from optimizer.planning.solvers import flow, pooled
from tests.conftest import educator, student


def _as_dict(result) -> dict[str, str]:
    a = result.assignments
    return dict(zip(a["student_id"], a["case_manager_id"].fillna(""), strict=True))


def tie_rule_violations(problem: PlanningProblem, assignment: np.ndarray) -> list[str]:
    """Every break of the tie rule in a plan, in words (an empty list: none).

    Points are compared as the flow compares them, to 1/1000 point."""
    cost = np.rint(problem.edge_cost() * 1000).astype(np.int64)
    unplaced = np.rint(problem.unplaced_cost() * 1000).astype(np.int64)
    options: dict[int, dict[int, int]] = defaultdict(dict)
    for s, e, c in zip(problem.edge_student.tolist(), problem.edge_educator.tolist(),
                       cost.tolist(), strict=True):
        options[s][e] = c
    sid, eid = problem.student_ids, problem.educator_ids
    free = [s for s in range(problem.n_students)
            if problem.pinned_to[s] < 0 and options[s]]
    out = []
    # 1. Interchangeable students, by id: placed first, then no fewer points.
    classes: dict[tuple, list[int]] = defaultdict(list)
    for s in free:  # ascending index = ascending student_id
        classes[(frozenset(options[s].items()), int(unplaced[s]))].append(s)
    for members in classes.values():
        seen_unplaced = None
        last = None
        for s in members:
            e = int(assignment[s])
            if e < 0:
                seen_unplaced = s
                continue
            if seen_unplaced is not None:
                out.append(f"{sid[s]} placed but {sid[seen_unplaced]}, interchangeable "
                           "and with a smaller id, left out")
            pts = options[s][e]
            if last is not None and pts < last[1]:
                out.append(f"{sid[s]} has fewer points ({pts}) than {sid[last[0]]} "
                           f"({last[1]}), interchangeable and with a smaller id")
            last = (s, pts)
    # 2. Students served by one set of equally good educators: in id order.
    users: dict[frozenset, list[int]] = defaultdict(list)
    for s in free:
        e = int(assignment[s])
        if e >= 0:
            pts = options[s][e]
            users[frozenset(x for x, c in options[s].items() if c == pts)].append(s)
    for members in users.values():
        for a, b in zip(members, members[1:], strict=False):
            if assignment[a] > assignment[b]:
                out.append(f"{sid[a]} has {eid[assignment[a]]} but {sid[b]} (a larger id, "
                           f"the same educators at the same points) has {eid[assignment[b]]}")
    return out


# ------------------------------------------------------- a district by hand

STUDENTS = ["S10", "S2", "S7", "S03", "S11", "S5"]  # as text: S03 S10 S11 S2 S5 S7
TEACHERS = ["E9", "E10", "E2"]                      # as text: E10 E2 E9


def _write(folder: Path, educators: list[dict], students: list[dict]) -> Path:
    from tests.conftest import write_district
    return write_district(folder, educators=educators, students=students)


def test_interchangeable_students_take_equal_educators_in_id_order(tmp_path):
    # Six RSP students, the same in every way, and three RSP teachers with a
    # cap of 2 each (the best-practice match, the same points for everyone):
    # every plan that fills the three caseloads is equally good. The rule
    # picks one: the two smallest ids with the smallest educator id, and so on.
    folder = _write(tmp_path / "d",
                    [educator(e, "RSP", "ES-MMSN", max_caseload="2") for e in TEACHERS],
                    [student(s) for s in STUDENTS])
    got = _as_dict(plan(load_district(folder)))
    assert got == {"S03": "E10", "S10": "E10", "S11": "E2", "S2": "E2",
                   "S5": "E9", "S7": "E9"}


def test_the_plan_stays_the_same_when_rows_are_shuffled(tmp_path):
    teachers = [educator(e, "RSP", "ES-MMSN", max_caseload="2") for e in TEACHERS]
    kids = [student(s) for s in STUDENTS]
    first = _write(tmp_path / "first", teachers, kids)
    want = (write_plan(plan(load_district(first)), tmp_path / "p0", xlsx=False)
            / "assignments.csv").read_bytes()
    rng = random.Random(4)
    for i in range(4):
        rng.shuffle(teachers)
        rng.shuffle(kids)
        folder = _write(tmp_path / f"shuffled{i}", teachers, kids)
        out = write_plan(plan(load_district(folder)), tmp_path / f"p{i + 1}", xlsx=False)
        assert (out / "assignments.csv").read_bytes() == want


def test_the_cheaper_of_two_choices_goes_to_the_smaller_id(tmp_path):
    # Two interchangeable RSP students; the RSP teacher (best practice) has
    # room for one, the coordinator takes the other at more points. Either
    # way the plan has the same points: the smaller id gets the teacher.
    folder = _write(tmp_path / "d",
                    [educator("E1", "RSP", "ES-MMSN", max_caseload="1"),
                     educator("C1", "COORD")],
                    [student("S9"), student("S10")])
    assert _as_dict(plan(load_district(folder))) == {"S10": "E1", "S9": "C1"}


def test_in_a_shortage_the_largest_ids_are_left_out(tmp_path):
    # Three interchangeable students, room for two: the largest id waits.
    folder = _write(tmp_path / "d", [educator("E1", "RSP", "ES-MMSN", max_caseload="2")],
                    [student("S2"), student("S10"), student("S1")])
    assert _as_dict(plan(load_district(folder))) == {"S1": "E1", "S10": "E1", "S2": ""}


# ------------------------------------------------------- generated districts

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("ties")
    return [(root / f"d{seed}", load_district(write_generated(
        generate_district(n, seed=seed), root / f"d{seed}")))
            for n, seed in ((150, 31), (400, 32), (900, 33))]


def test_generated_plans_follow_the_tie_rule(generated):
    rng = random.Random(11)
    for _, district in generated:
        problem = build_problem(district)
        cut = dataclasses.replace(problem, cap=np.array(
            [rng.randint(0, max(int(c) // 2, 0)) for c in problem.cap], dtype=np.int64))
        plan0 = pooled.solve_pooled_flow(problem)
        names = ["" if e < 0 else str(problem.educator_ids[e]) for e in plan0]
        shift = rng.randint(1, len(names) - 1)
        published = dict(zip(problem.student_ids, names[shift:] + names[:shift], strict=True))
        stable = build_problem(district, published=published)
        for p, ratio in ((problem, None), (cut, None), (cut, flow.min_max_ratio(cut)),
                         (stable, None)):
            got = pooled.solve_pooled_flow(p, ratio=ratio)
            assert tie_rule_violations(p, got) == []
        assert (pooled.solve_pooled_flow(cut) < 0).any()  # the shortage is real


def test_the_checker_sees_a_swap_against_the_rule(generated):
    # Swapping two students served by one set of equally good educators gives
    # a plan with the same points that breaks rule 2: the checker says so.
    problem = build_problem(generated[1][1])
    got = pooled.solve_pooled_flow(problem)
    assert tie_rule_violations(problem, got) == []
    cost = problem.edge_cost()
    chosen = problem.chosen_edges(got)
    pts = {int(s): cost[chosen[s]] for s in np.flatnonzero(got >= 0)}
    for a in range(problem.n_students):
        for b in range(a + 1, problem.n_students):
            if got[a] >= 0 and got[b] >= 0 and got[a] < got[b] and problem.pinned_to[a] < 0 \
                    and problem.pinned_to[b] < 0:
                swapped = got.copy()
                swapped[a], swapped[b] = got[b], got[a]
                try:
                    new = problem.chosen_edges(swapped)
                except ValueError:
                    continue
                if cost[new[a]] == pts[a] and cost[new[b]] == pts[b]:
                    assert tie_rule_violations(problem, swapped) != []
                    return
    pytest.fail("no neutral swap found in a 400-student district")


def test_generated_plan_bytes_do_not_depend_on_row_order(generated, tmp_path):
    folder, district = generated[1]
    want = (write_plan(plan(district), tmp_path / "p0", xlsx=False)
            / "assignments.csv").read_bytes()
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    rng = random.Random(8)
    for path in folder.iterdir():
        if path.suffix != ".csv":
            (shuffled / path.name).write_bytes(path.read_bytes())
            continue
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        body = rows[1:]
        rng.shuffle(body)
        with (shuffled / path.name).open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([rows[0], *body])
    out = write_plan(plan(load_district(shuffled)), tmp_path / "p1", xlsx=False)
    assert (out / "assignments.csv").read_bytes() == want
