"""Service caseloads with minute capacities: the services of a part by
HiGHS's MIP, one service component at a time.

With minute capacities, serving the most pairs is a generalized assignment
problem (a knapsack per provider), and its LP relaxation is loose by about
one pair per provider whose minutes are full: at 100,000 students the joint
LP's rounded vertices served 5 to 9 pairs fewer per part of about 3,000
pairs than its bound, and the bound itself was about 4 pairs too high.

The services meet only at providers, so the service graph of a part falls
into small components (a school's speech-language pathologists, a region's
itinerants: a few hundred pairs each), and HiGHS's MIP solves each one
exactly in hundredths of a second. Per component:

1. its LP relaxation: the most pairs it can serve, rounded down, bounds the
   level (the sum over components is tighter than the joint LP's, which
   adds up the fractions);
2. the MIP of a guide among the plans that serve that many: the joint LP's
   vertex at those levels (its cost), or the service costs with the
   case-manager nudges (what serving saves on the student's case manager);
3. only where no plan serves that many: the MIP of the most pairs served,
   then step 2 with its count.

On the parts of the 100,000 district every component's rounded-down LP
was met (step 3 never ran there).

Components without a minute capacity go to the services-only min-cost flow
(exact there, unless a provider's seat is shared between options: then a
relaxed flow's count bounds them). The case managers are then chosen by
their own flow, given the providers (services_flows._cm_flow, as for every
plan).

Measured on a part of 3,156 pairs (100,000 students, the generated
district with SLP 2,400 minutes a week): the LPs and MIPs took 0.3 s and
served 2,847 pairs (proven), where the joint LP's chain took 7.4 s, bounded
2,851 and its rounded plan served 2,842.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from optimizer.planning.solvers import highs_child
from optimizer.planning.solvers.services_flows import _service_flow
from optimizer.planning.solvers.services_lp import (
    _components,
    _joint_model,
    _restrict,
    _round_lp,
)
from optimizer.planning.solvers.services_objective import ServiceParams, _edge_costs, _memo
from optimizer.planning.solvers.services_problem import ServiceProblem

__all__ = ["ServicesByMip", "most_served_by_lp", "served_groups", "services_by_mip"]

#: Seconds for each MIP of a component at most (then its incumbent, or its
#: LP's vertex rounded): a component of a few hundred pairs takes hundredths.
_COMPONENT_SECONDS = 3.0

#: Components with more service options than this get their guide's LP
#: vertex rounded, no MIP: one of 37,424 options (a chain of schools sharing
#: speech-language pathologists, bench_services.py's district) found no plan
#: in 60 s, and at 100,000 students such components took the solve to 241 s.
_MIP_MAX_OPTIONS = 5_000


@dataclasses.dataclass(frozen=True)
class ServicesByMip:
    """A service plan from :func:`services_by_mip`.

    ``provider`` per pair (-1: not served); ``most_served`` the most pairs any
    plan of the part can serve (an upper bound; exact when ``proven``);
    ``open_`` the minute components whose plan is not proven to serve their
    most (no MIP plan in time, or too large for one: their LP's vertex
    rounded; or the MIP of the most pairs not solved in time: its best plan).
    ``uppers``: per minute component, the most pairs it can serve (its LP's
    floor, or less where its MIP proved less), which ``most_served`` adds up
    with the flow's most (for :func:`served_groups`).
    """

    provider: np.ndarray
    most_served: int
    proven: bool
    open_: int
    uppers: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class _Split:
    """A part's service components: the pairs without minutes (``flow_pairs``,
    a flow's; ``flow_sub`` their sub-problem and its options' indexes in the
    part, None when there are none), and per minute component its service
    options (``edges``) and its MIP model for the child."""

    flow_pairs: np.ndarray
    flow_sub: tuple[ServiceProblem, np.ndarray] | None
    edges: list[np.ndarray]
    models: list[tuple]


def _split(problem: ServiceProblem, params: ServiceParams) -> _Split:
    labels_p, labels_e = _components(problem)
    with_pairs = np.zeros(problem.n_pairs + problem.n_providers, dtype=bool)
    with_pairs[labels_p] = True
    timed = np.isfinite(problem.minutes_capacity) & with_pairs[labels_e]
    comps = np.unique(labels_e[timed])
    edges, models = [], []
    for comp in comps.tolist():
        sub, sub_edges = _restrict(problem, labels_p == comp)
        m = _joint_model(sub, params)
        models.append((m.n_col, m.start, m.index, m.value, m.row_hi, m.n_x))
        edges.append(sub_edges)
    flow_pairs = ~np.isin(labels_p, comps)
    return _Split(np.nonzero(flow_pairs)[0],
                  _restrict(problem, flow_pairs) if flow_pairs.any() else None, edges, models)


def _split_of(problem: ServiceProblem, params: ServiceParams) -> _Split:
    # (Made once per part: the bound and each plan use the same models.)
    return _memo(problem, ("minute_components", params.use_minutes),
                 lambda: _split(problem, params))


def most_served_by_lp(problem: ServiceProblem, params: ServiceParams, deadline: float
                      ) -> tuple[int, tuple[int, ...]]:
    """An upper bound on the pairs any plan of ``problem`` serves: per minute
    component its LP relaxation rounded down, plus the flow's most on the
    rest (a relaxed flow's where seats are shared). An LP not solved by
    ``deadline`` (at least a second each) counts every option of its
    component.

    Returns the bound and the floor per minute component (for
    :func:`services_by_mip`).

    Examples
    --------
    >>> most, floors = most_served_by_lp(part, params, deadline)  # doctest: +SKIP
    >>> most                                                    # doctest: +SKIP
    2847
    """
    split = _split_of(problem, params)
    floors = highs_child.call("optimizer.planning.solvers.services_minutes:_highs_floors",
                              split.models, deadline - time.perf_counter()
                              ) if split.models else []
    return _flow_bound(problem, params, split)[0] + sum(floors), tuple(floors)


def served_groups(problem: ServiceProblem, params: ServiceParams, floors: tuple[int, ...],
                  served: int) -> list[tuple[np.ndarray, int]]:
    """Per service component (the minute components, then the pairs without
    minutes), its service options and the pairs it serves in every plan
    that serves ``served`` pairs: ``served`` less what all the others can
    serve at most (``floors``, per minute component: :func:`most_served_by_lp`'s,
    or a :class:`ServicesByMip`'s ``uppers``; the flow's most). Where
    ``served`` is their sum, each component serves exactly its own most.
    Rows for the joint LP (services_lp._service_lp's ``groups``): without
    them its cost LP spreads a pair's service over components, which no
    plan can do.

    Examples
    --------
    >>> most, floors = most_served_by_lp(part, params, deadline)        # doctest: +SKIP
    >>> groups = served_groups(part, params, floors, most)             # doctest: +SKIP
    """
    split = _split_of(problem, params)
    most = list(floors)
    options = list(split.edges)
    if split.flow_sub is not None:
        most.append(_flow_bound(problem, params, split)[0])
        options.append(split.flow_sub[1])
    total = sum(most)
    return [(edges, served - (total - m)) for edges, m in zip(options, most, strict=True)
            if served - (total - m) > 0]


def _flow_bound(problem: ServiceProblem, params: ServiceParams, split: _Split
                ) -> tuple[int, bool]:
    """The most pairs without minutes served, by the services-only flow, and
    whether that is a relaxed flow's bound (a seat shared between options,
    as in services_lp._decomposed) rather than exact. Made once per part:
    the bound and every plan need it, and no bonus changes it (the flow
    serves the most pairs first)."""

    def make() -> tuple[int, bool]:
        if split.flow_sub is None:
            return 0, False
        sub, _ = split.flow_sub
        relaxed = bool(sub.shared_options().any())
        return int(_service_flow(sub, params, relax_shared=relaxed)[1]), relaxed

    return _memo(problem, ("minute_components_flow", params.use_minutes), make)


def _flow_plan(problem: ServiceProblem, params: ServiceParams, split: _Split,
               bonus: np.ndarray) -> np.ndarray:
    """The pairs without minutes planned by the services-only flow with this
    bonus per service option (provider per pair of the part; -1 elsewhere)."""
    provider = np.full(problem.n_pairs, -1, dtype=np.int64)
    if split.flow_sub is not None:
        sub, edges = split.flow_sub
        provider[split.flow_pairs] = _service_flow(sub, params, relax_shared=False,
                                                   bonus=bonus[edges])[0]
    return provider


def services_by_mip(problem: ServiceProblem, params: ServiceParams, deadline: float,
                    guide: np.ndarray, flow_bonus: np.ndarray,
                    floors: tuple[int, ...]) -> ServicesByMip:
    """The services of ``problem`` by a MIP per minute component (see the
    module's docstring), the other pairs by a min-cost flow.

    Parameters
    ----------
    problem, params
        The part and its weights.
    deadline
        ``time.perf_counter()`` after which no MIP or LP starts: the
        components left are planned by rounding (greedily, by cost).
    guide
        Per service option: the MIP's objective (minimized) among the plans
        that serve the most pairs.
    flow_bonus
        Per service option: the flow's bonus (integer milli-points) on the
        pairs without minutes.
    floors
        Per minute component, the pairs to serve: :func:`most_served_by_lp`'s.
        Where no plan serves that many, the MIP of the most pairs served
        decides.

    Returns
    -------
    ServicesByMip

    Examples
    --------
    >>> most, floors = most_served_by_lp(part, params, deadline)       # doctest: +SKIP
    >>> e_cost, _ = _edge_costs(part, params)                          # doctest: +SKIP
    >>> plan = services_by_mip(part, params, deadline, e_cost, 0 * e_cost, floors)  # doctest: +SKIP
    >>> plan.most_served, plan.proven                                  # doctest: +SKIP
    (2847, True)
    """
    split = _split_of(problem, params)
    most, relaxed = _flow_bound(problem, params, split)
    models = [(*model, guide[edges]) for model, edges in zip(split.models, split.edges,
                                                              strict=True)]
    answers = highs_child.call(
        "optimizer.planning.solvers.services_minutes:_highs_components", models,
        list(floors), max(0.0, deadline - time.perf_counter()), _MIP_MAX_OPTIONS
    ) if models else []
    # Every option's share: whole for the flow's and the MIPs' plans, the
    # LP's where a MIP found none in time; rounded within the caps and the
    # minutes (whole shares are kept as they are, feasible already).
    flow_plan = _flow_plan(problem, params, split, flow_bonus)
    x = (flow_plan[problem.edge_pair] == problem.edge_provider).astype(float)
    open_ = 0
    uppers = []
    for edges, (x_comp, upper, solved) in zip(split.edges, answers, strict=True):
        x[edges] = x_comp
        most += int(upper)
        uppers.append(int(upper))
        open_ += not solved
    provider = _round_lp(problem, x, _edge_costs(problem, params)[0])
    return ServicesByMip(provider, most, open_ == 0 and not relaxed, open_, tuple(uppers))


def _highs_floors(models: list[tuple], seconds: float) -> list[int]:
    """(In the child process.) Per component: its LP's most pairs served,
    rounded down. The rounding allows a millionth per option for HiGHS's
    tolerances: a floor one too high only costs the MIP of the most pairs
    later (no plan meets it), one too low would be a wrong bound."""
    import highspy  # only in the child process (see highs_child)

    deadline = time.perf_counter() + seconds
    out = []
    for n_col, start, index, value, row_hi, n_x in models:
        c = _Component(highspy, n_col, start, index, value, row_hi, n_x, None)
        h = c.fresh(integer=False)
        h.setOptionValue("time_limit", max(1.0, deadline - time.perf_counter()))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            out.append(c.n_x)  # (every option served: trivially an upper bound)
            continue
        most = -h.getInfo().objective_function_value
        out.append(min(c.n_x, int(math.floor(most + 1e-6 * max(1, n_x)))))
    return out


class _Component:
    """(In the child.) One component's model: the pairs served maximized, or
    the guide minimized with a floor on the pairs served."""

    def __init__(self, highspy: Any, n_col: int, start: np.ndarray, index: np.ndarray,
                 value: np.ndarray, row_hi: np.ndarray, n_x: int,
                 guide: np.ndarray | None) -> None:
        self.highspy = highspy
        self.n_col, self.n_x = n_col, n_x
        self.arrays = (start, index, value, row_hi)
        self.every = np.arange(n_col, dtype=np.int32)
        self.objective = np.zeros(n_col)
        if guide is not None:
            self.objective[:n_x] = guide

    def fresh(self, integer: bool = True) -> Any:
        """The model maximizing the pairs served. Every column whole when
        ``integer``: the services, the distinct-student links and the seats
        alike (a seat is a student more or not)."""
        start, index, value, row_hi = self.arrays
        h = highs_child.one_thread_solver(self.highspy)
        highs_child.pass_columnwise(
            h, self.highspy, np.where(self.every < self.n_x, -1.0, 0.0), np.ones(self.n_col),
            row_hi, start, index, value,
            np.ones(self.n_col, dtype=np.int32) if integer else None)
        return h

    def guided(self, h: Any, floor: int) -> None:
        """From now on: the guide, among the plans that serve ``floor`` pairs."""
        h.addRow(floor - 1e-7, self.highspy.kHighsInf, self.n_x,
                 np.arange(self.n_x, dtype=np.int32), np.ones(self.n_x))
        h.changeColsCost(self.n_col, self.every, self.objective)

    def plan(self, h: Any) -> np.ndarray | None:
        """The services of the MIP's plan, if it found one."""
        if h.getInfo().primal_solution_status != 2:
            return None
        return np.asarray(h.getSolution().col_value)[:self.n_x].copy()

    def lp_vertex(self, h: Any, deadline: float) -> np.ndarray:
        """The services of the same model's LP (a vertex to round; zeros if
        even the LP runs out of time, at least a second)."""
        h.changeColsIntegrality(self.n_col, self.every, np.zeros(self.n_col, dtype=np.uint8))
        h.setOptionValue("time_limit", max(1.0, deadline - time.perf_counter()))
        h.run()
        if h.getModelStatus() != self.highspy.HighsModelStatus.kOptimal:
            return np.zeros(self.n_x)
        return np.asarray(h.getSolution().col_value)[:self.n_x].copy()


def _highs_components(models: list[tuple], floors: list[int], seconds: float,
                      max_options: int) -> list[tuple[np.ndarray, int, bool]]:
    """(In the child process.) Per component: the MIP of the guide among the
    plans that serve ``floors[k]`` pairs; where none does, the MIP of the
    most pairs served first. Returns per component x (whole: the MIP's plan;
    where it found none in time, or the component has more than
    ``max_options`` options, the guide's LP vertex to round; past the
    deadline zeros, rounded greedily), an upper bound on the pairs any plan
    serves there, and whether the plan meets that bound."""
    import highspy  # only in the child process (see highs_child)

    deadline = time.perf_counter() + seconds
    out: list[tuple[np.ndarray, int, bool]] = []
    for model, floor in zip(models, floors, strict=True):
        c = _Component(highspy, *model)
        if time.perf_counter() >= deadline:
            out.append((np.zeros(c.n_x), floor, False))
            continue
        if c.n_x > max_options:
            h = c.fresh(integer=False)
            c.guided(h, floor)
            out.append((c.lp_vertex(h, deadline), floor, False))
            continue
        h = c.fresh()
        c.guided(h, floor)
        # The guide: 1 % is close enough for a guide (the level is exact).
        _run(h, 1e-2, deadline)
        x = c.plan(h)
        if x is not None:  # (a plan that serves the floor: the most there is)
            out.append((x, floor, True))
            continue
        if h.getModelStatus() not in (highspy.HighsModelStatus.kInfeasible,
                                      highspy.HighsModelStatus.kUnboundedOrInfeasible):
            out.append((c.lp_vertex(h, deadline), floor, False))  # (out of time)
            continue
        # No plan serves the LP's floor: the most that any does, exactly.
        h = c.fresh()
        _run(h, 0.0, deadline)
        solved = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        dual = -h.getInfo().mip_dual_bound
        upper = min(floor, int(math.floor(dual + 1e-6))) if math.isfinite(dual) else floor
        x = c.plan(h)
        served = upper if x is None else int(round(float(x.sum())))
        c.guided(h, served)
        if x is None:
            out.append((c.lp_vertex(h, deadline), upper, False))
            continue
        _run(h, 1e-2, deadline)
        better = c.plan(h)
        out.append((x if better is None else better, upper, solved and served == upper))
    return out


def _run(h: Any, gap: float, deadline: float) -> None:
    """(In the child.) Solve the MIP ``h`` to this relative gap in the time
    left (at most _COMPONENT_SECONDS, at least a tenth of a second)."""
    h.setOptionValue("mip_rel_gap", gap)
    left = deadline - time.perf_counter()
    h.setOptionValue("time_limit", min(_COMPONENT_SECONDS, max(0.1, left)))
    h.run()
