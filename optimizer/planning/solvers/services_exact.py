"""Service caseloads, small parts proven exactly: the joint problem by CP-SAT.

The flow and LP solver (:func:`optimizer.planning.solvers.services.solve_services`)
proves most districts optimal but can leave a gap where the flows' relaxations
are loose (an own case manager who must also serve, one seat for two services
of one student) -- even on a district of eight students. A part that small is
solved here **exactly**: one CP-SAT model of the whole joint problem of
docs/service-caseloads.md section 2, in three lexicographic phases

1. the most (student, service) pairs served;
2. with that many, the most students with a case manager;
3. with both, the least cost in milli-points -- rank, continuity, change and
   the balance seats, exactly the terms of
   :func:`optimizer.planning.solvers.services.evaluate`.

Constraints: one provider per pair along its options, one case manager per
student; an own-kind case manager only while serving one of the student's
pairs; **caseload = distinct students served or case-managed + other_load
<= cap** (a coordinator who does not serve the student takes a seat, one's
own provider serving them does not take a second); minute capacities when
the problem has them and ``use_minutes`` is on.

:func:`solve_services_exact` cuts the district into its independent parts
(:func:`optimizer.planning.solvers.services_components.chunks`), solves each
part of at most ``ExactParams.max_pairs`` service rows by CP-SAT with one
worker, a fixed seed and a *deterministic* work limit (so the result does not
depend on the machine's speed), and keeps a part's CP-SAT plan only when all
three phases are proven optimal **and** :func:`evaluate` of the plan equals
CP-SAT's objective; that part's bound is then its plan. Each small part goes
first to the flow and LP solver (``ExactParams.flows_first``), and to CP-SAT
only when that does not prove it optimal: at 100,000 students the flows and
LPs proved all 124 packed models of small parts in 1.0 s on one core, where
CP-SAT took 3.0-3.7 s on two. Every other part (too
large, or not proven within the work limit) goes to :func:`solve_services`, as
before. Plans and bounds are added up level by level (valid: no constraint or
cost term joins two parts, docs/service-caseloads.md section 3 D).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from optimizer.arraysets import member, unique
from optimizer.planning.solvers import highs_child
from optimizer.planning.solvers.heartbeat import beat
from optimizer.planning.solvers.services import (
    ServiceParams,
    ServiceProblem,
    ServiceSolution,
    _split,
    _split_solved,
    evaluate,
    minutes_served,
    seat_increments,
    solve_services,
)
from optimizer.planning.solvers.services_ahead import Ahead, Turns
from optimizer.planning.solvers.services_components import Part, chunks, restrict, whole
from optimizer.planning.solvers.services_problem import OWN

if TYPE_CHECKING:  # (CP-SAT itself loads when a part goes to it: 0.1-0.25 s a run)
    from ortools.sat.python import cp_model

__all__ = ["ExactOutcome", "ExactParams", "solve_exact", "solve_services_exact"]

#: Minutes are compared in 1/MINUTE_SCALE of a minute (CP-SAT needs integers).
MINUTE_SCALE = 100


@dataclass(frozen=True)
class ExactParams:
    """When and how hard CP-SAT tries to prove a part exactly.

    Parameters
    ----------
    max_pairs
        Parts (whole components of the joint graph, packed) of at most this
        many service rows are solved by CP-SAT; 0 turns the exact solve off.
    work_limit
        CP-SAT's deterministic time per part, for its three phases together
        (``max_deterministic_time``: a count of work, not seconds on the
        clock, so the same input gives the same answer on any machine).
    seed
        CP-SAT's random seed (one worker: the search is then reproducible).
    wall_limit
        Wall-clock seconds for the exact stage as a whole, a guard against a
        very slow machine only; a part stopped by it is handed to the flow
        and LP solver, and the notes say so (the one case where the machine's
        speed can change a plan).
    flows_first
        Try the flow and LP solver on each small part first, and keep its
        plan when it proves it optimal (plan and bound equal at every
        level: as exact as CP-SAT's, and about six times faster at 100,000
        students); CP-SAT for the others.
    """

    max_pairs: int = 300
    work_limit: float = 10.0
    seed: int = 0
    wall_limit: float = 60.0
    flows_first: bool = True


@dataclass(frozen=True)
class ExactOutcome:
    """One CP-SAT solve of a (small) problem.

    Attributes
    ----------
    provider, case_manager
        The best plan found (``-1``: none), or None when no phase found one.
    proven
        Every phase proven optimal and the objective equal to :func:`evaluate`'s.
    objective
        CP-SAT's (unserved, unplaced, cost in milli-points), or None.
    phases
        CP-SAT's status name per phase run.
    deterministic_time
        Work CP-SAT spent (its deterministic time units).
    stopped_by_clock
        The wall-clock guard, not the work limit, ended a phase.
    """

    provider: np.ndarray | None
    case_manager: np.ndarray | None
    proven: bool
    objective: tuple[int, int, int] | None
    phases: tuple[str, ...]
    deterministic_time: float
    stopped_by_clock: bool = False


class _Model:
    """The joint CP-SAT model of a :class:`ServiceProblem` (see the module docstring)."""

    def __init__(self, problem: ServiceProblem, params: ServiceParams) -> None:
        from ortools.sat.python import cp_model  # loaded for a part CP-SAT solves only

        p = problem
        m = cp_model.CpModel()
        n_e = p.n_providers
        self.model = m
        self.x = [m.new_bool_var(f"x{i}") for i in range(len(p.edge_pair))]
        self.c = [m.new_bool_var(f"c{j}") for j in range(len(p.cm_student))]
        x, c = self.x, self.c
        # One provider per pair, one case manager per student.
        for owner, vars_ in ((p.edge_pair, x), (p.cm_student, c)):
            groups: dict[int, list[cp_model.IntVar]] = {}
            for i, o in enumerate(owner.tolist()):
                groups.setdefault(o, []).append(vars_[i])
            for vs in groups.values():
                if len(vs) > 1:
                    m.add_at_most_one(vs)
        # (student, provider) -> the service options and case-manager options on it.
        serve: dict[int, list[cp_model.IntVar]] = {}
        for i, (s, e) in enumerate(zip(p.edge_student.tolist(), p.edge_provider.tolist(),
                                       strict=True)):
            serve.setdefault(s * n_e + e, []).append(x[i])
        manage: dict[int, list[cp_model.IntVar]] = {}
        for j, (s, e, kind) in enumerate(zip(p.cm_student.tolist(), p.cm_provider.tolist(),
                                             p.cm_kind.tolist(), strict=True)):
            key = s * n_e + e
            manage.setdefault(key, []).append(c[j])
            if kind == OWN:
                # An own case manager only while serving one of the student's pairs.
                m.add(c[j] <= sum(serve.get(key, [])))
        # y: the student is on the provider's caseload (served or case-managed),
        # counted once however many services and roles tie them.
        self.y: list[cp_model.IntVar] = []
        on_caseload: dict[int, list[cp_model.IntVar]] = {}
        for key in sorted(set(serve) | set(manage)):
            ties = serve.get(key, []) + manage.get(key, [])
            if len(ties) == 1:
                y = ties[0]
            else:
                y = m.new_bool_var(f"y{key}")
                for v in ties:
                    m.add(y >= v)
                self.y.append(y)
            on_caseload.setdefault(key % n_e, []).append(y)
        # Caps with the balance seats: seat k of a provider (after other_load)
        # costs the k-th increment; seats fill in order, so the seats' cost is
        # exactly the balance term of the caseload (increments never decrease).
        self.seats: list[cp_model.IntVar] = []
        seat_cost: list[int] = []
        minutes = params.use_minutes and p.has_minute_capacities
        for e in range(n_e):
            ys = on_caseload.get(e, [])
            if not ys:
                continue
            cap, other = int(p.cap[e]), int(p.other_load[e])
            free = min(max(0, cap - other), len(ys))
            if free == 0:
                for y in ys:
                    m.add(y == 0)
                continue
            seats = [m.new_bool_var(f"k{e}_{k}") for k in range(free)]
            m.add(sum(ys) == sum(seats))
            for a, b in zip(seats, seats[1:], strict=False):
                m.add_implication(b, a)
            self.seats += seats
            seat_cost += seat_increments(cap, other, free, params.balance).tolist()
        if minutes:
            mins = np.rint(p.pair_minutes[p.edge_pair] * MINUTE_SCALE).astype(np.int64)
            for e in np.nonzero(np.isfinite(p.minutes_capacity))[0].tolist():
                mine = np.nonzero(p.edge_provider == e)[0].tolist()
                limit = math.floor(float(p.minutes_capacity[e]) * MINUTE_SCALE + 1e-6)
                if mine and int(mins[mine].sum()) > limit:
                    m.add(sum(int(mins[i]) * x[i] for i in mine) <= limit)
        # The cost, as evaluate() counts it: per chosen option its rank plus a
        # missed current / published provider; an unserved pair (unplaced
        # student) misses its references too -- written as option cost minus
        # the unserved cost, plus the unserved cost of every pair (constant).
        rank = np.array([params.milli(r) for r in params.rank], dtype=np.int64)
        cont, cm_cont = params.milli(params.continuity), params.milli(params.cm_continuity)
        chg = params.milli(params.change)
        ep, ee = p.edge_pair, p.edge_provider
        cur, pub = p.pair_current[ep], p.pair_published[ep]
        e_cost = (rank[p.edge_rank] + cont * ((cur != -1) & (ee != cur))
                  + chg * ((pub != -1) & (ee != pub))
                  - cont * (cur != -1) - chg * (pub != -1))
        cs, ce = p.cm_student, p.cm_provider
        ccur, cpub = p.current_cm[cs], p.published_cm[cs]
        c_cost = (rank[p.cm_rank] + cm_cont * ((ccur != -1) & (ce != ccur))
                  + chg * ((cpub != -1) & (ce != cpub))
                  - cm_cont * (ccur != -1) - chg * (cpub != -1))
        self.constant = (cont * int((p.pair_current != -1).sum())
                         + chg * int((p.pair_published != -1).sum())
                         + cm_cont * int((p.current_cm != -1).sum())
                         + chg * int((p.published_cm != -1).sum())
                         + sum(int(seat_increments(int(cap), 0, int(ld), params.balance).sum())
                               for cap, ld in zip(p.cap.tolist(), p.other_load.tolist(),
                                                  strict=True) if cap > 0 and ld > 0))
        self.served = cp_model.LinearExpr.sum(x)
        self.placed = cp_model.LinearExpr.sum(c)
        self.cost = (cp_model.LinearExpr.weighted_sum(x, e_cost.tolist())
                     + cp_model.LinearExpr.weighted_sum(c, c_cost.tolist())
                     + cp_model.LinearExpr.weighted_sum(self.seats, seat_cost))

    def all_vars(self) -> list[cp_model.IntVar]:
        return self.x + self.c + self.y + self.seats


def solve_exact(problem: ServiceProblem, params: ServiceParams | None = None, *,
                work_limit: float = 10.0, seed: int = 0,
                wall_limit: float = 60.0) -> ExactOutcome:
    """The exact lexicographic optimum of a (small) service problem by CP-SAT.

    Parameters
    ----------
    problem
        A :class:`ServiceProblem` (a part of a district, or a whole small one).
    params
        The weights (:class:`ServiceParams`), as :func:`evaluate` uses them.
    work_limit
        CP-SAT's deterministic time for the three phases together.
    seed
        CP-SAT's random seed (one worker).
    wall_limit
        Wall-clock guard for the three phases together.

    Returns
    -------
    ExactOutcome
        ``proven`` only when each phase ended OPTIMAL within the work limit
        and :func:`evaluate` of the plan equals CP-SAT's objective.

    Examples
    --------
    >>> out = solve_exact(problem, ServiceParams())     # doctest: +SKIP
    >>> out.proven, out.objective                       # doctest: +SKIP
    (True, (1, 0, 8000))
    """
    from ortools.sat.python import cp_model  # loaded for a part CP-SAT solves only

    params = params or ServiceParams()
    model = _Model(problem, params)
    m = model.model
    t0 = time.perf_counter()
    work = 0.0
    phases: list[str] = []
    clock = False
    solver: cp_model.CpSolver | None = None
    best = [0, 0]
    for phase, (sense, expr) in enumerate((("max", model.served), ("max", model.placed),
                                           ("min", model.cost))):
        if phase and solver is not None:
            # Fix the level just proven, and start from its plan.
            m.add((model.served, model.placed)[phase - 1] == best[phase - 1])
            m.clear_hints()
            for v in model.all_vars():
                m.add_hint(v, solver.boolean_value(v))
        if sense == "max":
            m.maximize(expr)
        else:
            m.minimize(expr)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = seed
        solver.parameters.linearization_level = 2
        solver.parameters.max_deterministic_time = max(work_limit - work, 1e-3)
        solver.parameters.max_time_in_seconds = max(wall_limit - (time.perf_counter() - t0),
                                                    1e-3)
        status = solver.solve(m)
        work += solver.deterministic_time
        phases.append(solver.status_name(status))
        if status != cp_model.OPTIMAL:
            clock = (time.perf_counter() - t0 >= wall_limit - 1e-3
                     and work < work_limit)
            break
        if phase < 2:
            best[phase] = int(round(solver.objective_value))
    if solver is None or phases[-1] not in ("OPTIMAL", "FEASIBLE"):
        return ExactOutcome(None, None, False, None, tuple(phases), work, clock)
    provider = np.full(problem.n_pairs, -1, dtype=np.int64)
    cm = np.full(problem.n_students, -1, dtype=np.int64)
    for i, v in enumerate(model.x):
        if solver.boolean_value(v):
            provider[problem.edge_pair[i]] = problem.edge_provider[i]
    for j, v in enumerate(model.c):
        if solver.boolean_value(v):
            cm[problem.cm_student[j]] = problem.cm_provider[j]
    complete = len(phases) == 3 and phases[-1] == "OPTIMAL"
    objective = None
    if complete:
        objective = (problem.n_pairs - best[0], problem.n_students - best[1],
                     int(round(solver.objective_value)) + model.constant)
    proven = False
    if complete:
        t = evaluate(problem, params, provider, cm)
        # A second opinion: the model's objective must be evaluate()'s, and
        # the plan within the minutes (the model compares scaled integers).
        within = (not (params.use_minutes and problem.has_minute_capacities)
                  or bool(np.all(minutes_served(problem, provider)
                                 <= problem.minutes_capacity + 1e-9)))
        proven = within and (t["unserved"], t["unplaced"], t["cost"]) == objective
    return ExactOutcome(provider, cm, proven, objective, tuple(phases), work, clock)


def solve_services_exact(problem: ServiceProblem, params: ServiceParams | None = None,
                         exact: ExactParams | None = None) -> ServiceSolution:
    """:func:`solve_services`, with the district's small parts proven exactly.

    Parameters
    ----------
    problem
        A :class:`ServiceProblem`.
    params
        :class:`ServiceParams` (weights; the flow and LP solver's settings).
    exact
        :class:`ExactParams`: which parts CP-SAT solves and its work limit.

    Returns
    -------
    ServiceSolution
        As :func:`solve_services`: ``terms`` is :func:`evaluate` of the whole
        plan, ``bound`` the parts' bounds added up (a proven part's bound is
        its plan), ``status == "optimal"`` when the plan meets the bound.
        ``extra["exact_parts"]`` counts the parts CP-SAT proved.

    Examples
    --------
    >>> sol = solve_services_exact(problem)          # doctest: +SKIP
    >>> sol.status, sol.gap                          # doctest: +SKIP
    ('optimal', 0.0)
    """
    params = params or ServiceParams()
    exact = exact or ExactParams()
    if exact.max_pairs <= 0 or problem.n_students == 0:
        return solve_services(problem, params)
    t0 = time.perf_counter()
    if (params.lp_bound and params.ahead_pairs is not None
            and problem.n_pairs >= params.ahead_pairs):
        # A district this large has parts for the LP: HiGHS's process starts
        # now, its imports (0.2-0.3 s on a warm machine, about a second on a
        # cold one) overlapping the split below instead of holding up this
        # process's first LP.
        highs_child.start()
    if params.decompose and problem.n_students > 1:
        parts, alone = chunks(problem, exact.max_pairs)
    else:
        parts, alone = [], np.zeros(0, dtype=np.int64)
        if problem.n_pairs <= exact.max_pairs:
            parts = [whole(problem)]
    small = [part for part in parts if len(part.pairs) <= exact.max_pairs]
    if not small:
        return solve_services(problem, params)
    provider = np.full(problem.n_pairs, -1, dtype=np.int64)
    cm = np.full(problem.n_students, -1, dtype=np.int64)
    bound = {"unserved": 0, "unplaced": 0,
             "cost": sum(int(seat_increments(int(problem.cap[e]), 0,
                                             int(problem.other_load[e]),
                                             params.balance).sum()) for e in alone.tolist())}
    rest: list[Part] = []
    proven_parts = proven_components = by_flows = 0
    clock = 0
    work = 0.0
    # One time budget for the whole solve: CP-SAT's wall clock guard is the
    # smaller of its own and the solve's time limit, the rest gets what is left.
    wall_limit = min(exact.wall_limit, params.time_limit)

    def run(k: int) -> ExactOutcome | None:
        beat()  # (a line now and then on a long solve: heartbeat.py)
        left = wall_limit - (time.perf_counter() - t0)
        if left <= 0:
            return None
        if exact.flows_first:
            out = _by_flows(small[k].problem, params,
                            min(left, params.time_limit - (time.perf_counter() - t0)))
            if out is not None:
                return out
        return solve_exact(small[k].problem, params, work_limit=exact.work_limit,
                           seed=exact.seed, wall_limit=left)

    # The models shared with a forked child when there are enough rows in all,
    # each process taking the next not yet taken (the same outcomes: one
    # worker, a fixed seed and a work limit; services_ahead).
    n_small = len(small)
    large = [part for part in parts if len(part.pairs) > exact.max_pairs]
    ahead_split: tuple[ServiceProblem, tuple[list[Part], np.ndarray]] | None = None
    if (params.ahead_pairs is not None and n_small > 1
            and sum(len(part.pairs) for part in small) >= params.ahead_pairs):
        turns = Turns(n_small)
        child = Ahead(lambda: [(k, run(k)) for k in turns], fork=turns.shared)
        try:
            if large and child.forked:
                # Meanwhile, the large parts' problem split for the flow and
                # LP solver: the rest once every small part is proven (each
                # one at 100,000 students), else made again below. The child
                # takes more models meanwhile: 0.5 s less at 100,000 students.
                rest_problem = restrict(problem, *_rest_rows(large))
                ahead_split = (rest_problem, _split(rest_problem, params))
            outcomes = {k: run(k) for k in turns}
            outcomes.update(child.result())
            for k in range(n_small):
                if k not in outcomes:  # (taken by a child that failed)
                    outcomes[k] = run(k)
        finally:
            child.cancel()
    else:
        outcomes = {k: run(k) for k in range(n_small)}
    outcome_of = {id(part): outcomes[k] for k, part in enumerate(small)}
    for part in parts:
        out = None
        if len(part.pairs) <= exact.max_pairs:
            out = outcome_of[id(part)]
            if out is not None:
                work += out.deterministic_time
            clock += out is None or out.stopped_by_clock
        if out is not None and out.proven and out.objective is not None:
            assert out.provider is not None and out.case_manager is not None
            _place(provider, cm, part.pairs, part.students, part.providers, out.provider,
                   out.case_manager)
            for key, value in zip(("unserved", "unplaced", "cost"), out.objective,
                                  strict=True):
                bound[key] += value
            bound["unplaced"] -= part.visitors  # (counted in their own part)
            proven_parts += 1
            by_flows += out.phases == _BY_FLOWS
            proven_components += part.components
        else:
            rest.append(part)
    runtime: dict[str, float] = {"exact": time.perf_counter() - t0}
    n_comp = sum(part.components for part in parts)
    minutes = params.use_minutes and problem.has_minute_capacities
    notes = [f"{proven_components:,} of {n_comp:,} independent parts of the district "
             f"(up to {exact.max_pairs:,} service rows each, packed in {len(small):,} "
             f"models; {proven_parts:,} proven) solved exactly: most pairs served, then "
             "most case managers, then least cost, each proven optimal"
             + (f"; {by_flows:,} model(s) by the flow and LP solver (its plan met its bound "
                "at every level)" if by_flows else "")
             + (f"; {proven_parts - by_flows:,} by CP-SAT (one worker, seed {exact.seed}, "
                f"{work:.2f} of {exact.work_limit:g} deterministic time units per model)"
                if proven_parts > by_flows else "")]
    if clock:
        notes.append(f"{clock} CP-SAT model(s) stopped or not started by the wall clock "
                     f"({wall_limit:g} s), not the work limit: solved as below instead")
    extra: dict[str, object] = {
        "shared_options": bool(problem.shared_options().any()) if len(problem.edge_pair)
        else False,
        "minutes": minutes, "components": n_comp, "exact_parts": proven_components}
    if rest:
        students, providers, pairs, home = _rest_rows(rest)
        now = time.perf_counter()  # (the rest's split, when made here, counts in its time)
        left = params.time_limit - (now - t0)
        rest_params = dataclasses.replace(params, time_limit=max(left, 0.0))
        if ahead_split is not None and len(rest) == len(large):  # (then rest is large)
            sub, split = ahead_split
        else:
            sub = restrict(problem, students, providers, pairs, home)
            split = _split(sub, rest_params)
        # (Its plan is evaluated as part of the whole, below.)
        solved = _split_solved(sub, rest_params, split, now)
        if isinstance(solved, ServiceSolution):
            solved = (solved.provider, solved.case_manager,
                      {k: int(v) for k, v in solved.bound.items()},
                      dict(solved.runtime), list(solved.notes), dict(solved.extra))
        sub_provider, sub_cm, sub_bound, sub_runtime, sub_notes, _ = solved
        _place(provider, cm, pairs, students, providers, sub_provider, sub_cm)
        for key in bound:
            bound[key] += int(sub_bound[key])
        bound["unplaced"] -= int(len(home) - np.count_nonzero(home))
        for key, seconds in sub_runtime.items():
            runtime[key] = runtime.get(key, 0.0) + seconds
        notes.append(f"the other parts ({len(students):,} students): "
                     "by the flow and LP solver, as follows")
        notes.extend(sub_notes)
    runtime["total"] = time.perf_counter() - t0
    terms = evaluate(problem, params, provider, cm)
    levels_met = (terms["unserved"] == bound["unserved"]
                  and terms["unplaced"] == bound["unplaced"])
    gap = (terms["cost"] - bound["cost"]) / max(1, terms["cost"]) if levels_met else None
    status = "optimal" if levels_met and terms["cost"] <= bound["cost"] else "feasible"
    return ServiceSolution(
        provider=provider, case_manager=cm, status=status, terms=MappingProxyType(terms),
        bound=MappingProxyType(bound), gap=gap, runtime=MappingProxyType(runtime),
        notes=tuple(notes), extra=MappingProxyType(extra))


def _rest_rows(rest: list[Part]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The students, providers, pairs (the whole problem's indexes) and home
    flags of the parts ``rest`` as one sub-problem, in :func:`restrict`'s
    order: a student is at home there when their case manager is chosen in
    one of those parts."""
    students = unique(np.concatenate([part.students for part in rest]))
    at_home = unique(np.concatenate([part.students[part.home] for part in rest]))
    home = member(students, at_home)
    pairs = np.sort(np.concatenate([part.pairs for part in rest]))
    providers = np.sort(np.concatenate([part.providers for part in rest]))
    return students, providers, pairs, home


#: The "phases" of a part proven by the flow and LP solver (_by_flows).
_BY_FLOWS = ("flows and LP: optimal",)


def _by_flows(problem: ServiceProblem, params: ServiceParams, seconds: float
              ) -> ExactOutcome | None:
    """The flow and LP solver's plan of a small part, when it proves it
    optimal at every level (else None: CP-SAT then tries). On one process:
    the small parts are already shared between two."""
    sol = solve_services(problem, dataclasses.replace(params, time_limit=max(seconds, 0.0),
                                                      ahead_pairs=None))
    if sol.status != "optimal":
        return None
    b = sol.bound
    return ExactOutcome(sol.provider, sol.case_manager, True,
                        (int(b["unserved"]), int(b["unplaced"]), int(b["cost"])),
                        _BY_FLOWS, 0.0)


def _place(provider: np.ndarray, cm: np.ndarray, pairs: np.ndarray, students: np.ndarray,
           providers: np.ndarray, local_provider: np.ndarray, local_cm: np.ndarray) -> None:
    """Copy a sub-problem's plan (its own indexes) into the whole plan."""
    for out, rows, local in ((provider, pairs, local_provider), (cm, students, local_cm)):
        chosen = local >= 0
        out[rows[chosen]] = providers[local[chosen]]
