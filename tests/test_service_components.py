"""The service solver's decomposition into independent parts of a district.

Claim (docs/service-caseloads.md section 3 D): components of the joint graph
(students and providers, joined by every service and case-manager option)
share no provider, so the district's lexicographic optimum is the sum of the
parts' optima and the parts' bounds add up. Checked against the independent
joint CP-SAT model of ``tests/service_checker.py`` on random multi-component
districts, with count caps and with minute capacities.
"""

from __future__ import annotations

import math
import random

import numpy as np

from optimizer.planning.solvers import services, services_lp
from optimizer.planning.solvers.services import ServiceParams, evaluate, solve_services
from optimizer.planning.solvers.services_components import chunks, joint_components
from tests import service_checker as chk
from tests.test_service_planning import check_against_joint, pair, random_spec, stu, to_problem


def renamed(spec: dict, tag: str) -> dict:
    """The same district with every student and provider id prefixed by tag."""
    def p(x):
        return None if x is None else f"{tag}{x}"

    return {
        "providers": {p(k): v for k, v in spec["providers"].items()},
        "students": {p(k): {r: p(v) for r, v in s.items()}
                     for k, s in spec["students"].items()},
        "pairs": {(p(s), svc): {**v, "current": p(v["current"]),
                                "published": p(v["published"])}
                  for (s, svc), v in spec["pairs"].items()},
        "options": {(p(s), svc): {p(e): r for e, r in o.items()}
                    for (s, svc), o in spec["options"].items()},
        "cm_options": {p(s): {(p(e), kind): r for (e, kind), r in o.items()}
                       for s, o in spec["cm_options"].items()},
    }


def merged(rng: random.Random, minutes: bool) -> tuple[dict, list[dict]]:
    """Two or three random districts side by side (no provider in common),
    plus a student with no option and a provider no one can use; some current
    and published references point into another part (never keepable there)."""
    parts = [renamed(random_spec(rng, minutes), f"{t}-") for t in "ABC"[:rng.randint(2, 3)]]
    spec: dict = {k: {} for k in parts[0]}
    for part in parts:
        for k in spec:
            spec[k].update(part[k])
    spec["students"]["Z-lonely"] = stu(current_cm=rng.choice(list(spec["providers"])))
    spec["cm_options"]["Z-lonely"] = {}
    spec["providers"]["Z-idle"] = {"role": "OT", "cap": 3, "other": 1, "minutes_cap": None}
    everyone = list(spec["providers"])
    for key, row in spec["pairs"].items():
        if rng.random() < 0.2:
            spec["pairs"][key] = {**row, "current": rng.choice(everyone)}
    for sid, s in spec["students"].items():
        if rng.random() < 0.2:
            spec["students"][sid] = {**s, "published_cm": rng.choice(everyone)}
    return spec, parts


def check(spec: dict, params: ServiceParams):
    """The checks of test_service_planning (valid plan, reported cost, bound
    never above the joint optimum, "optimal" only when equal), with params."""
    mine, best, sol = check_against_joint(spec, params)
    return sol, mine, best


def test_parts_solved_apart_agree_with_the_joint_exact_model():
    rng = random.Random(4242)
    apart = whole = 0
    for i in range(16):
        spec, _ = merged(rng, minutes=i % 2 == 1)
        # chunk_pairs=1: every component is a part of its own.
        sol, mine, best = check(spec, ServiceParams(chunk_pairs=1))
        assert sol.extra["components"] >= 3  # the parts, the lonely student
        assert any("independent parts" in n for n in sol.notes)
        apart += sol.status == "optimal"
        whole += solve_services(to_problem(spec), ServiceParams(decompose=False)
                                ).status == "optimal"
    # Solving the parts apart must not weaken the proofs (measured: 10 of 16
    # proven apart, 9 as a whole; the others are mostly minute capacities).
    assert apart >= max(whole, 8), (apart, whole)


def test_the_optimum_of_the_district_is_the_sum_of_its_parts():
    """The claim itself, by the independent model alone: the joint optimum of
    side-by-side districts is the level-by-level sum of their optima."""
    rng = random.Random(77)
    for _ in range(6):
        parts = [renamed(random_spec(rng), t) for t in "AB"]
        spec = {k: {**parts[0][k], **parts[1][k]} for k in parts[0]}
        whole, _, _ = chk.joint_optimum(spec)
        a, _, _ = chk.joint_optimum(parts[0])
        b, _, _ = chk.joint_optimum(parts[1])
        assert whole == tuple(x + y for x, y in zip(a, b, strict=True))


def test_costs_add_up_over_the_parts():
    """Every term is per pair, per student or per provider: a plan's cost is
    the sum of its parts' costs (with a reference into another part counted
    as not kept) plus the balance of the providers in no part."""
    rng = random.Random(5)
    for _ in range(20):
        spec, _ = merged(rng, minutes=False)
        problem = to_problem(spec)
        params = ServiceParams()
        parts, alone = chunks(problem, 1)
        assert len(parts) >= 3
        provider = np.full(problem.n_pairs, -1)
        cm = np.full(problem.n_students, -1)
        total = 0
        for part in parts:
            sub = part.problem
            # A random feasible-by-options plan of the part (caps not needed here).
            p_sub = np.full(sub.n_pairs, -1)
            for j in range(len(sub.edge_pair)):
                if rng.random() < 0.5:
                    p_sub[sub.edge_pair[j]] = sub.edge_provider[j]
            c_sub = np.full(sub.n_students, -1)
            coord = np.nonzero(sub.cm_kind == 1)[0]
            for j in coord:
                if rng.random() < 0.5:
                    c_sub[sub.cm_student[j]] = sub.cm_provider[j]
            total += evaluate(sub, params, p_sub, c_sub)["cost"]
            provider[part.pairs[p_sub >= 0]] = part.providers[p_sub[p_sub >= 0]]
            cm[part.students[c_sub >= 0]] = part.providers[c_sub[c_sub >= 0]]
        idle = problem.cap[alone], problem.other_load[alone]
        total += sum(int(sum(chk.increments(int(c), int(o)))) for c, o in zip(*idle, strict=True)
                     if c > 0)
        assert evaluate(problem, params, provider, cm)["cost"] == total


def test_components_are_the_connected_components():
    """joint_components against a plain graph search on the rows: nodes are
    each student's case-manager choice, each pair and each provider."""
    rng = random.Random(11)
    for _ in range(20):
        spec, _ = merged(rng, minutes=False)
        problem = to_problem(spec)
        lab_s, lab_q, lab_e = joint_components(problem)
        n_s, n_q = problem.n_students, problem.n_pairs
        adj: dict[int, set[int]] = {i: set() for i in range(n_s + n_q + problem.n_providers)}
        links = [(n_s + q, n_s + n_q + e) for q, e in zip(problem.edge_pair.tolist(),
                                                         problem.edge_provider.tolist(),
                                                         strict=True)]
        links += [(s, n_s + n_q + e) for s, e in zip(problem.cm_student.tolist(),
                                                     problem.cm_provider.tolist(), strict=True)]
        for a, b in links:
            adj[a].add(b)
            adj[b].add(a)
        labels = np.concatenate([lab_s, lab_q, lab_e])
        for start in adj:
            seen, todo = {start}, [start]
            while todo:
                for nxt in adj[todo.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            same = set(np.nonzero(labels == labels[start])[0].tolist())
            assert same == seen
            assert labels[start] == min(seen)  # deterministic: the smallest node


def _oak() -> dict:
    """Oak Elementary, whose OT comes from an itinerant who case-manages no one.

    A has SAI (R1 may teach A and case-manage A as their own provider) and OT
    (T1); B has OT only (T1), and R1 may coordinate B. T1 has one seat. So the
    OT pairs of A and B are decided together, apart from A's SAI and both case
    managers: in the part of the OT pairs, A and B are visitors.
    Hand-worked optimum: 1 OT pair unserved (one seat); both placed (R1 teaches
    A and case-manages A free, coordinates B in its second seat).
    """
    return {
        "providers": {"R1": {"role": "RSP", "cap": 2, "other": 0, "minutes_cap": None},
                      "T1": {"role": "OT", "cap": 1, "other": 0, "minutes_cap": None}},
        "students": {"A": stu(current_cm="R1"), "B": stu(current_cm="R1")},
        "pairs": {("A", "SAI"): pair(current="R1"), ("A", "OT"): pair(current="T1"),
                  ("B", "OT"): pair()},
        "options": {("A", "SAI"): {"R1": 0}, ("A", "OT"): {"T1": 0}, ("B", "OT"): {"T1": 0}},
        "cm_options": {"A": {("R1", "own"): 0}, "B": {("R1", "coordinator"): 2}},
    }


def test_a_students_pairs_split_over_parts_count_them_once():
    spec = _oak()
    problem = to_problem(spec)
    parts, _ = chunks(problem, 1)
    ot = next(part for part in parts if set(problem.provider_ids[part.providers]) == {"T1"})
    assert ot.visitors == 2 and not ot.home.any()
    assert ot.problem.n_students == 2 and len(ot.problem.cm_student) == 0
    # A visitor brings no case-manager cost: their current case manager is elsewhere.
    assert (ot.problem.current_cm == -1).all()
    sol, mine, best = check(spec, ServiceParams(chunk_pairs=1))
    assert mine[:2] == best[:2] == (1, 0)
    assert (sol.bound["unserved"], sol.bound["unplaced"]) == (1, 0)
    assert sol.status == "optimal"


def test_random_districts_with_shared_itinerants_against_the_joint_model():
    """Random districts where an itinerant who case-manages no one serves
    students of several parts: the decomposition (visitors) agrees with the
    joint exact model, part by part and as chunks."""
    rng = random.Random(606)
    for i in range(14):
        spec, _ = merged(rng, minutes=i % 2 == 1)
        spec["providers"]["Z-OT"] = {"role": "OT", "cap": rng.randint(1, 3), "other": 0,
                                     "minutes_cap": 90 if i % 2 else None}
        for sid in rng.sample(sorted(spec["students"]), 3):
            spec["pairs"][(sid, "OT")] = pair(30 if i % 2 else 0,
                                              rng.choice([None, "Z-OT"]))
            spec["options"][(sid, "OT")] = {"Z-OT": rng.randint(0, 2)}
        problem = to_problem(spec)
        parts, _ = chunks(problem, 1)
        assert sum(part.visitors for part in parts) >= 1
        for chunk_pairs in (1, 4000):
            check(spec, ServiceParams(chunk_pairs=chunk_pairs))


def test_default_chunks_pack_small_parts_together():
    rng = random.Random(3)
    spec, _ = merged(rng, minutes=False)
    problem = to_problem(spec)
    parts, _ = chunks(problem, ServiceParams().chunk_pairs)
    assert len(parts) == 1 and parts[0].components >= 3
    check(spec, ServiceParams())


def test_minutes_without_the_joint_lp_the_mips_still_bound_and_plan(monkeypatch):
    """When the joint LP does not finish (a time limit on a busy machine),
    the services' MIPs (services_minutes) still serve the most pairs and
    bound them; the plan honours the minutes."""
    def no_lp(*args, **kwargs):
        raise RuntimeError("HiGHS LP 1 (pairs served) ended with Time limit reached")

    monkeypatch.setattr(services_lp, "_run_highs", no_lp)
    rng = random.Random(8)
    by_mip = 0
    for _ in range(12):
        spec = random_spec(rng, minutes=True)
        sol, mine, best = check(spec, ServiceParams(decompose=False))
        if any(n.startswith("the plan kept came from the services' MIPs") for n in sol.notes):
            by_mip += 1
            assert any(n.startswith("joint LP not used") for n in sol.notes)
            if not sol.extra["shared_options"]:
                assert mine[0] == best[0] == sol.bound["unserved"]
    assert by_mip > 0


def test_minutes_without_any_highs_fall_back_to_families_apart(monkeypatch):
    """When HiGHS's process fails for the MIPs and the LPs alike, the bound
    falls back to a flow without the minute limits: weaker, still a valid
    bound, and the plan still honours the minutes."""
    def no_highs(*args, **kwargs):
        raise RuntimeError("the HiGHS process ended without an answer")

    monkeypatch.setattr(services_lp, "_run_highs", no_highs)
    monkeypatch.setattr(services, "most_served_by_lp", no_highs)
    rng = random.Random(8)
    fallbacks = 0
    for _ in range(12):
        spec = random_spec(rng, minutes=True)
        sol, _, _ = check(spec, ServiceParams(decompose=False))
        assert any(n.startswith("the services' MIPs not used") for n in sol.notes)
        fallbacks += any("did not finish" in n for n in sol.notes)
    assert fallbacks > 0


def test_cost_lp_out_of_time_keeps_the_levels_and_claims_no_cost(monkeypatch):
    """When only the cost LP (LP 3) runs out of time, the levels it proved
    stand and no cost bound is claimed beyond 0 (every cost term is >= 0)."""
    real = services_lp._run_highs

    def no_cost(*args, **kwargs):
        served, placed, _, x = real(*args, **kwargs)
        return served, placed, math.nan, x

    monkeypatch.setattr(services_lp, "_run_highs", no_cost)
    rng = random.Random(21)
    said = 0
    for _ in range(10):
        spec = random_spec(rng, minutes=True)
        sol, mine, best = check(spec, ServiceParams(decompose=False))
        if any("ran out of time" in n for n in sol.notes):
            said += 1
            # Only the levels can be proven now: "optimal" needs a zero cost.
            assert sol.status != "optimal" or sol.bound["cost"] == mine[2]
    assert said > 0


def test_safe_dual_bound_never_exceeds_the_lp_optimum():
    """The LP cost bound is computed from row duals, not taken from HiGHS's
    objective: valid for ANY duals. Checked on interval-matrix LPs (totally
    unimodular: the LP optimum is the 0/1 optimum, found by brute force)."""
    import itertools

    from optimizer.planning.solvers.services_lp import _safe_dual_bound

    # By hand: min -x1 - x2, x1 + x2 <= 1: optimum -1, dual -1 proves it.
    start, index, value = np.array([0, 1, 2]), np.array([0, 0]), np.array([1.0, 1.0])
    hand = _safe_dual_bound(start, index, value, np.array([-1.0, -1.0]), np.array([-1.0]),
                            np.array([-np.inf]), np.array([1.0]), [])
    assert hand == -1.0
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, m = 5, 3
        rows = []
        for _ in range(m):
            a = int(rng.integers(0, n))
            rows.append((a, int(rng.integers(a, n))))
        upper = rng.integers(0, 3, m).astype(float)
        cost = rng.integers(-5, 6, n).astype(float)
        start, index = [0], []
        for j in range(n):
            index += [i for i, (a, b) in enumerate(rows) if a <= j <= b]
            start.append(len(index))
        best = min(float(cost @ np.array(x)) for x in itertools.product((0, 1), repeat=n)
                   if all(sum(x[a:b + 1]) <= u for (a, b), u in zip(rows, upper,
                                                                   strict=True)))
        y = rng.normal(0, 3, m)  # any duals, signs wrong half of the time
        bound = _safe_dual_bound(np.array(start), np.array(index, dtype=np.int64),
                                 np.ones(len(index)), cost, y, np.full(m, -np.inf),
                                 upper, [])
        assert bound <= best + 1e-9
