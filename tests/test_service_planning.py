"""Service caseloads: the pure solver against hand-worked and joint exact optima.

The checker and the joint CP-SAT model live in ``tests/service_checker.py``
and share no code with ``optimizer.planning.solvers.services``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from optimizer.planning.solvers.services import (
    CaseManagerOption,
    Provider,
    ServiceOption,
    ServiceParams,
    ServiceRow,
    StudentRow,
    build_service_problem,
    prorated_cap,
    role_average,
    solve_services,
)
from tests import service_checker as chk


def to_problem(spec: dict):
    students = [StudentRow(sid, s["current_cm"], s["published_cm"])
                for sid, s in spec["students"].items()]
    services = [ServiceRow(sid, svc, p["minutes"], p["current"], p["published"])
                for (sid, svc), p in spec["pairs"].items()]
    providers = [Provider(pid, p["role"], p["cap"], minutes_capacity=p.get("minutes_cap"),
                          other_load=p["other"]) for pid, p in spec["providers"].items()]
    options = [ServiceOption(sid, svc, pid, r) for (sid, svc), opts in spec["options"].items()
               for pid, r in opts.items()]
    cm = [CaseManagerOption(sid, pid, kind, r) for sid, opts in spec["cm_options"].items()
          for (pid, kind), r in opts.items()]
    return build_service_problem(students, services, providers, options, cm)


def as_dicts(problem, sol):
    pids = problem.provider_ids
    provider = {(problem.student_ids[problem.pair_student[p]], problem.pair_service[p]):
                (pids[e] if e >= 0 else None) for p, e in enumerate(sol.provider.tolist())}
    cm = {sid: (pids[e] if e >= 0 else None)
          for sid, e in zip(problem.student_ids, sol.case_manager.tolist(), strict=True)}
    return provider, cm


def pair(minutes=0, current=None, published=None):
    return {"minutes": minutes, "current": current, "published": published}


def stu(current_cm=None, published_cm=None):
    return {"current_cm": current_cm, "published_cm": published_cm}


def maple() -> dict:
    """Maple Elementary: 5 students, 7 pairs, 4 providers (balance 2, defaults).

    Providers (cap, other load -> free seats): R1 RSP (3, 0 -> 3), R2 RSP (2, 1
    -> 1), S1 SLP (2, 0 -> 2), P1 psychologist (1, 0 -> 1).

    ===========  ==========================  ===============================
    student      services (options)          case-manager options
    ===========  ==========================  ===============================
    A            SAI (R1, R2; current R2),   R1 own 0, R2 own 0, S1 own 1;
                 SPEECH (S1)                 current case manager R2
    B            SPEECH (S1)                 S1 own 0, R1 coordinator 2;
                                             current case manager R1
    C            SAI (R1, R2), COUNSELING    R1 own 0, R2 own 0
                 (P1), BEHAVIOR (P1)
    D            SAI (R1, R2)                R1 own 0, R2 own 0
    E            SPEECH (S1)                 S1 own 0, R1 coordinator 2
    ===========  ==========================  ===============================

    Worked by hand. Seat k of a provider with cap c costs 2(2k-1)/c points.

    1. Served: S1 has 2 seats for 3 speech pairs, so one speech pair goes
       unserved; every other pair fits (3 SAI pairs, 4 RSP seats; P1 serves C
       twice with ONE seat, as caseloads count distinct students). Unserved: 1.
    2. Placed: leave A's speech unserved; A keeps R2 (own, via SAI), B and E
       get S1 (own), C and D their RSP teacher: all 5 placed. (Leaving B's or
       E's speech instead also places everyone, via R1 as coordinator.)
    3. Cost. SAI: A->R2 keeps A's current provider and uses R2's only seat
       (seat 2 of 2: 3 points; seat 1 is R2's other load: 1 point); C, D->R1
       (seats 1, 2 of 3: 0.667 + 2 = 2.667). Putting A on R1 instead costs
       continuity 5 plus R1's third seat 3.333 while saving R2's 3: worse.
       Speech B, E on S1: 1 + 3 = 4. P1 one seat: 2. Case managers: all rank 0;
       B's current case manager R1 is not kept: continuity 5 (keeping R1 as
       coordinator would cost rank 30 + a seat). Leaving B's speech unserved
       instead costs rank 30 for B's coordinator: worse.
       Total = 5 + 2.667 + 4 (R2) + 4 (S1) + 2 (P1) = 17.667 points,
       i.e. 17667 milli-points (seat costs are rounded to 1/1000 each:
       667 + 2000 + 1000 + 3000 + 1000 + 3000 + 2000 + 5000 = 17667).
    """
    providers = {"R1": {"role": "RSP", "cap": 3, "other": 0},
                 "R2": {"role": "RSP", "cap": 2, "other": 1},
                 "S1": {"role": "SLP", "cap": 2, "other": 0},
                 "P1": {"role": "PSY", "cap": 1, "other": 0}}
    students = {"A": stu("R2"), "B": stu("R1"), "C": stu(), "D": stu(), "E": stu()}
    pairs = {("A", "SAI"): pair(current="R2"), ("A", "SPEECH"): pair(),
             ("B", "SPEECH"): pair(), ("C", "SAI"): pair(), ("C", "COUNSELING"): pair(),
             ("C", "BEHAVIOR"): pair(), ("D", "SAI"): pair(), ("E", "SPEECH"): pair()}
    options = {("A", "SAI"): {"R1": 0, "R2": 0}, ("A", "SPEECH"): {"S1": 0},
               ("B", "SPEECH"): {"S1": 0}, ("C", "SAI"): {"R1": 0, "R2": 0},
               ("C", "COUNSELING"): {"P1": 0}, ("C", "BEHAVIOR"): {"P1": 0},
               ("D", "SAI"): {"R1": 0, "R2": 0}, ("E", "SPEECH"): {"S1": 0}}
    cm = {"A": {("R1", "own"): 0, ("R2", "own"): 0, ("S1", "own"): 1},
          "B": {("S1", "own"): 0, ("R1", "coordinator"): 2},
          "C": {("R1", "own"): 0, ("R2", "own"): 0},
          "D": {("R1", "own"): 0, ("R2", "own"): 0},
          "E": {("S1", "own"): 0, ("R1", "coordinator"): 2}}
    return {"providers": providers, "students": students, "pairs": pairs,
            "options": options, "cm_options": cm}


def test_maple_hand_worked_optimum():
    spec = maple()
    problem = to_problem(spec)
    sol = solve_services(problem)
    provider, cm = as_dicts(problem, sol)
    assert sol.objective == (1, 0, 17667)
    assert provider == {("A", "SAI"): "R2", ("A", "SPEECH"): None, ("B", "SPEECH"): "S1",
                        ("C", "SAI"): "R1", ("C", "COUNSELING"): "P1",
                        ("C", "BEHAVIOR"): "P1", ("D", "SAI"): "R1",
                        ("E", "SPEECH"): "S1"}
    assert cm == {"A": "R2", "B": "S1", "C": "R1", "D": "R1", "E": "S1"}
    assert chk.violations(spec, provider, cm) == []
    assert chk.cost(spec, provider, cm) == (1, 0, 17667)
    assert sol.status == "optimal"
    assert (sol.bound["unserved"], sol.bound["unplaced"], sol.bound["cost"]) == (1, 0, 17667)


def test_maple_joint_cpsat_agrees_with_hand():
    value, provider, cm = chk.joint_optimum(maple())
    assert value == (1, 0, 17667)
    assert provider[("A", "SPEECH")] is None


# ------------------------------------------------------------ random instances


def random_spec(rng: random.Random, minutes: bool = False) -> dict:
    """A small random district: 3-6 students, 2-4 providers, 1-3 pairs each."""
    n_prov = rng.randint(2, 4)
    providers = {}
    for j in range(n_prov):
        cap = rng.randint(0, 3)
        providers[f"E{j}"] = {"role": rng.choice(["RSP", "SLP", "PSY"]), "cap": cap,
                              "other": rng.randint(0, 1) if cap else 0,
                              "minutes_cap": (rng.choice([60, 90, 120, None])
                                              if minutes else None)}
    pids = list(providers)
    students, pairs, options, cm = {}, {}, {}, {}
    for i in range(rng.randint(3, 6)):
        sid = f"S{i}"
        students[sid] = stu(rng.choice([None, None, *pids]),
                            rng.choice([None, None, None, *pids]))
        mine: set[str] = set()
        for svc in rng.sample(["SAI", "SPEECH", "COUNSELING"], rng.randint(1, 3)):
            elig = rng.sample(pids, rng.randint(0, min(3, n_prov)))
            pairs[(sid, svc)] = pair(rng.choice([30, 45, 60]) if minutes else 0,
                                     rng.choice([None, *elig]) if elig else None,
                                     rng.choice([None, None, *pids]))
            options[(sid, svc)] = {p: rng.randint(0, 2) for p in elig}
            mine |= set(elig)
        opts = {}
        for p in sorted(mine):  # (a set's order varies with PYTHONHASHSEED)
            if rng.random() < 0.7:
                opts[(p, "own")] = rng.randint(0, 1)
        for p in pids:
            if rng.random() < 0.3:
                opts[(p, "coordinator")] = 2
        cm[sid] = opts
    return {"providers": providers, "students": students, "pairs": pairs,
            "options": options, "cm_options": cm}


def check_against_joint(spec: dict, params: ServiceParams | None = None
                        ) -> tuple[tuple, tuple, object]:
    problem = to_problem(spec)
    sol = solve_services(problem, params)
    provider, cm = as_dicts(problem, sol)
    assert chk.violations(spec, provider, cm) == []
    mine = chk.cost(spec, provider, cm)
    assert mine == sol.objective  # the solver reports what the plan costs
    best, _, _ = chk.joint_optimum(spec)
    bound = (sol.bound["unserved"], sol.bound["unplaced"], sol.bound["cost"])
    # The proven bound is a lexicographic lower bound on the joint optimum...
    assert bound <= best, (bound, best)
    # ...and the plan is never better than the joint optimum.
    assert mine >= best
    if sol.status == "optimal":
        assert mine == best
    return mine, best, sol


def test_random_small_districts_against_joint_cpsat():
    rng = random.Random(20261130)
    optimal = served_exact = 0
    n = 60
    for _ in range(n):
        spec = random_spec(rng)
        mine, best, sol = check_against_joint(spec)
        optimal += sol.status == "optimal"
        if not sol.extra["shared_options"]:
            # Claim: without shared options the service step serves the most pairs.
            assert mine[0] == best[0]
            served_exact += 1
        if sol.status == "optimal":
            assert mine == best
    # The decomposition should prove most small districts optimal; this fails
    # loudly if a change makes the bound or the plan much weaker.
    assert optimal >= n // 2, optimal
    assert served_exact > 0


def test_random_small_districts_with_minutes_against_joint_cpsat():
    rng = random.Random(7)
    for _ in range(30):
        spec = random_spec(rng, minutes=True)
        mine, best, sol = check_against_joint(spec)
        # Claim (services_minutes): the MIP of each service component serves
        # the most pairs there are, and its LP's floor proves it (shared
        # seats included: they are the MIP's own columns).
        assert mine[0] == best[0] == sol.bound["unserved"], (mine, best, sol.bound)


def test_case_manager_step_is_optimal_given_the_providers():
    """Claim: given the providers, the case-manager flow is exact. Fix the
    solver's providers in the joint model (options reduced to the chosen one)
    and compare the remaining optimum."""
    rng = random.Random(99)
    for _ in range(30):
        spec = random_spec(rng)
        problem = to_problem(spec)
        sol = solve_services(problem)
        provider, cm = as_dicts(problem, sol)
        fixed = dict(spec)
        fixed["options"] = {k: ({provider[k]: spec["options"][k][provider[k]]}
                                if provider[k] is not None else {})
                            for k in spec["pairs"]}
        best, _, _ = chk.joint_optimum(fixed)
        assert chk.cost(spec, provider, cm) == best


# -------------------------------------------------------------------- shortage


def test_shortage_leaves_exactly_the_right_pairs_unserved():
    """Two SLP seats for three speech pairs, one of them kept with its current
    provider only if served: the one unserved pair is the one whose loss costs
    least (no current provider, no own case manager lost)."""
    spec = {"providers": {"S1": {"role": "SLP", "cap": 2, "other": 0},
                          "R1": {"role": "RSP", "cap": 5, "other": 0}},
            "students": {"A": stu(), "B": stu(), "C": stu()},
            "pairs": {("A", "SPEECH"): pair(current="S1"), ("B", "SPEECH"): pair(),
                      ("C", "SPEECH"): pair(), ("C", "SAI"): pair()},
            "options": {("A", "SPEECH"): {"S1": 0}, ("B", "SPEECH"): {"S1": 0},
                        ("C", "SPEECH"): {"S1": 0}, ("C", "SAI"): {"R1": 0}},
            "cm_options": {"A": {("S1", "own"): 0}, "B": {("S1", "own"): 0},
                           "C": {("R1", "own"): 0, ("S1", "own"): 1}}}
    problem = to_problem(spec)
    sol = solve_services(problem)
    provider, cm = as_dicts(problem, sol)
    assert [k for k, v in provider.items() if v is None] == [("C", "SPEECH")]
    assert cm == {"A": "S1", "B": "S1", "C": "R1"}
    assert sol.status == "optimal"


def test_no_provider_at_all_is_unserved_not_an_error():
    spec = {"providers": {"S1": {"role": "SLP", "cap": 0, "other": 0}},
            "students": {"A": stu()}, "pairs": {("A", "SPEECH"): pair()},
            "options": {("A", "SPEECH"): {"S1": 0}}, "cm_options": {"A": {("S1", "own"): 0}}}
    problem = to_problem(spec)
    sol = solve_services(problem)
    assert sol.provider.tolist() == [-1] and sol.case_manager.tolist() == [-1]
    assert sol.objective[:2] == (1, 1) and sol.status == "optimal"


def test_distinct_students_one_seat_for_two_services():
    """A psychologist with one seat serves one student's counseling AND
    behavior: a caseload counts individuals (5 CCR 3051.1), not services."""
    spec = {"providers": {"P1": {"role": "PSY", "cap": 1, "other": 0}},
            "students": {"A": stu()},
            "pairs": {("A", "COUNSELING"): pair(), ("A", "BEHAVIOR"): pair()},
            "options": {("A", "COUNSELING"): {"P1": 0}, ("A", "BEHAVIOR"): {"P1": 0}},
            "cm_options": {"A": {}}}
    problem = to_problem(spec)
    sol = solve_services(problem)
    assert sol.provider.tolist() == [0, 0]


def test_minute_capacity_binds():
    """An SLP with 2 seats but 90 minutes: 60 + 60 do not fit, 60 + 30 do."""
    spec = {"providers": {"S1": {"role": "SLP", "cap": 2, "other": 0, "minutes_cap": 90}},
            "students": {"A": stu(), "B": stu(), "C": stu()},
            "pairs": {("A", "SPEECH"): pair(60), ("B", "SPEECH"): pair(60),
                      ("C", "SPEECH"): pair(30)},
            "options": {k: {"S1": 0} for k in [("A", "SPEECH"), ("B", "SPEECH"),
                                              ("C", "SPEECH")]},
            "cm_options": {s: {("S1", "own"): 0} for s in "ABC"}}
    problem = to_problem(spec)
    sol = solve_services(problem)
    provider, cm = as_dicts(problem, sol)
    assert chk.violations(spec, provider, cm) == []
    assert sol.objective[0] == 1 and provider[("C", "SPEECH")] == "S1"
    assert sol.objective == chk.joint_optimum(spec)[0]


# ---------------------------------------------------------------- small pieces


def test_prorated_cap_and_slp_average():
    assert prorated_cap(28, 0.5) == 14 and prorated_cap(55, 0.8) == 44
    assert prorated_cap(20, 0.33) == 6
    spec = maple()
    problem = to_problem(spec)
    sol = solve_services(problem)
    # One SLP, FTE 1, with B and E: 2 cases per FTE.
    assert role_average(problem, sol.provider, sol.case_manager, ("SLP",)) == 2.0
    assert role_average(problem, sol.provider, sol.case_manager, ("OT",)) is None


def test_bad_rows_are_reported_together():
    with pytest.raises(ValueError) as err:
        build_service_problem([StudentRow("A")], [ServiceRow("Z", "SAI")],
                              [Provider("R1", "RSP", 28)],
                              [ServiceOption("A", "SAI", "R1")],
                              [CaseManagerOption("A", "R9")])
    text = str(err.value)
    assert "Z/SAI" in text and "A/SAI -> R1" in text and "R9" in text


def test_solution_arrays_are_read_only_inputs():
    problem = to_problem(maple())
    with pytest.raises(ValueError):
        problem.cap[0] = 99
    assert isinstance(solve_services(problem, ServiceParams()).provider, np.ndarray)


def test_the_independent_checker_catches_broken_plans():
    """The checker is not vacuous: each rule it guards, broken once."""
    spec = maple()
    ok_provider = {("A", "SAI"): "R2", ("A", "SPEECH"): None, ("B", "SPEECH"): "S1",
                   ("C", "SAI"): "R1", ("C", "COUNSELING"): "P1", ("C", "BEHAVIOR"): "P1",
                   ("D", "SAI"): "R1", ("E", "SPEECH"): "S1"}
    ok_cm = {"A": "R2", "B": "S1", "C": "R1", "D": "R1", "E": "S1"}
    assert chk.violations(spec, ok_provider, ok_cm) == []
    # S1 serving all three speech pairs: 3 distinct students over a cap of 2.
    assert any("over cap" in v for v in chk.violations(
        spec, {**ok_provider, ("A", "SPEECH"): "S1"}, ok_cm))
    # R2 (cap 2, other load 1) case-managing D as well as serving A: over cap.
    assert any("R2: caseload 3" in v for v in chk.violations(
        spec, {**ok_provider, ("D", "SAI"): "R2"}, ok_cm))
    # An ineligible provider.
    assert any("not eligible" in v for v in chk.violations(
        spec, {**ok_provider, ("D", "SAI"): "S1"}, ok_cm))
    # A's SLP as an own case manager while not serving A.
    assert any("no usable option" in v for v in chk.violations(
        spec, ok_provider, {**ok_cm, "A": "S1"}))
