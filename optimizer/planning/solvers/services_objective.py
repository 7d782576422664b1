"""Service caseloads, the objective: weights, seat increments, caseloads and
the evaluation of a plan (``evaluate``), the per-option costs every network
and LP uses, and the solution record.

Part of the service solver (``optimizer.planning.solvers.services`` is the
public import path and re-exports the public names). No solver is imported here.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

import numpy as np

from optimizer.arraysets import member, stable_order, unique
from optimizer.planning.solvers.services_problem import COORDINATOR, SCALE, ServiceProblem

T = TypeVar("T")

# --------------------------------------------------------------- objective


@dataclass(frozen=True)
class ServiceParams:
    """Objective weights (points) and solver settings.

    The objective is lexicographic: pairs served, then students with a case
    manager, then ``cost`` = rank + continuity + change + balance (all >= 0).
    ``unserved`` and ``unplaced`` only weigh the first two levels in the
    reported ``total``; the solver treats them as strictly first.

    Parameters
    ----------
    rank
        Points per chosen option at best-practice rank 0, 1, 2 (services and
        case manager alike).
    continuity, cm_continuity
        Points per pair whose current provider, and per student whose current
        case manager, is not kept (only where there is one).
    change
        Points per pair and per student moved away from a published plan.
    balance
        Convex balance: the k-th seat of a provider with cap c costs
        ``balance * (2k - 1) / c`` (so a provider at load L pays about
        ``balance * L^2 / c``).
    use_minutes
        Honour minute capacities when the problem has them.
    time_limit
        Seconds for the LP (HiGHS), minute capacities or not.
    lp_bound
        With count caps, when the joint flow's solution is not itself a plan,
        also solve the joint LP for a tighter bound (always with minutes).
    repair_rounds
        Re-solves of the joint flow that forbid the free case managers it took
        without serving the student (each gives a candidate plan).
    lagrangian_rounds
        Most priced flows for the Lagrangian bound and its plans (count caps).
    lagrangian_work
        ...and at most this many arcs solved in all (a work limit, not a
        clock: the same district gets the same number of flows on any
        machine, so the same plan). The first priced flow always runs.
    lp_max_pairs
        The joint LP only up to this many pairs (HiGHS took ~17 s for 18,000
        pairs on 2 cores); above it, service families are bounded apart.
    decompose
        Solve the independent parts of the district (components of the joint
        graph: no provider in common) apart and add up plans and bounds.
    chunk_pairs
        Small parts are solved together, up to this many service rows (a
        larger part is a chunk alone). Small, as the joint LP's time grows
        faster than its size: at 100,000 students 1,000 instead of 4,000
        took the LPs from about 16 to 12 CPU seconds, the same plan.
    seat_rounds
        At most this many passes that move a service off a full coordinator
        for a student left without a case manager (``services_seats``).
    neighbourhood_seconds
        When a part's plan leaves students without a case manager while its
        bound says they could have one, their neighbourhood is re-planned
        exactly, the rest held (``services_neighbourhood``): seconds for
        all of a part's neighbourhoods (within the solve's); 0: never.
    ahead_pairs
        Use a second process (``services_ahead``: the same plan, sooner on two
        cores; Linux only) from this many pairs on: with several parts and at
        least this many pairs in all, a forked child solves parts too (each
        process takes the next part not yet taken); in one part of at least
        this many pairs (count caps), the plan flow nudged by the first
        priced flow's discounts is solved in a child while the priced flow
        runs. None: never.
    """

    rank: tuple[float, float, float] = (0.0, 10.0, 30.0)
    continuity: float = 5.0
    cm_continuity: float = 5.0
    change: float = 50.0
    balance: float = 2.0
    unserved: float = 10000.0
    unplaced: float = 1000.0
    use_minutes: bool = True
    time_limit: float = 60.0
    lp_bound: bool = True
    lp_max_pairs: int = 25_000
    repair_rounds: int = 0
    lagrangian_rounds: int = 30
    lagrangian_work: int = 2_000_000
    decompose: bool = True
    chunk_pairs: int = 1_000
    seat_rounds: int = 5
    neighbourhood_seconds: float = 10.0
    ahead_pairs: int | None = 20_000

    def milli(self, points: float) -> int:
        return int(round(points * SCALE))


def seat_increments(cap: int, first: int, count: int, balance: float) -> np.ndarray:
    """Milli-point cost of seats ``first+1 .. first+count`` of a provider with
    cap ``cap``: ``round(1000 * balance * (2k - 1) / cap)``. The balance term of
    a provider at caseload L is defined as the sum of its first L increments
    (about ``balance * L^2 / cap``), so it is exact in integers.

    Examples
    --------
    >>> seat_increments(28, 0, 3, 1.0)   # seats 1, 2, 3 of an RSP cap of 28
    array([ 36, 107, 179])
    """
    if cap <= 0 or count <= 0:
        return np.zeros(max(count, 0), dtype=np.int64)
    k = np.arange(first + 1, first + count + 1, dtype=np.float64)
    return np.rint(SCALE * balance * (2 * k - 1) / cap).astype(np.int64)


def _balance_milli(cap: np.ndarray, load: np.ndarray, balance: float) -> int:
    total = 0
    for c, ld in zip(cap.tolist(), load.tolist(), strict=True):
        if c > 0 and ld > 0:
            total += int(seat_increments(c, 0, int(ld), balance).sum())
    return total


def _miss(chosen: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """True where a reference (current or published) exists and is not kept."""
    return (ref != -1) & (chosen != ref)


def caseloads(problem: ServiceProblem, provider: np.ndarray,
              case_manager: np.ndarray) -> np.ndarray:
    """Per provider: distinct students served or case-managed, plus other_load.

    This is the number a caseload cap applies to: a student served two
    services by one provider, and case-managed by them too, counts once.

    Parameters
    ----------
    problem
        The :class:`ServiceProblem`.
    provider
        Provider index per pair (``-1``: not served).
    case_manager
        Provider index per student (``-1``: none).

    Returns
    -------
    numpy.ndarray
        One count per provider, in ``problem.provider_ids`` order.

    Examples
    --------
    Two students with speech from one SLP, who case-manages the first:

    >>> p = build_service_problem(
    ...     [StudentRow("S1"), StudentRow("S2")],
    ...     [ServiceRow("S1", "SPEECH", 60), ServiceRow("S2", "SPEECH", 30)],
    ...     [Provider("E1", "SLP", cap=55)],
    ...     [ServiceOption("S1", "SPEECH", "E1"), ServiceOption("S2", "SPEECH", "E1")],
    ...     [CaseManagerOption("S1", "E1"), CaseManagerOption("S2", "E1")])
    >>> caseloads(p, np.array([0, 0]), np.array([0, -1]))
    array([2])
    """
    n_e = problem.n_providers
    served = provider >= 0
    keys = np.concatenate([problem.pair_student[served].astype(np.int64) * n_e
                           + provider[served],
                           np.nonzero(case_manager >= 0)[0] * n_e
                           + case_manager[case_manager >= 0]])
    keys = unique(keys)
    return np.bincount(keys % n_e, minlength=n_e) + problem.other_load


def minutes_served(problem: ServiceProblem, provider: np.ndarray) -> np.ndarray:
    """Per provider: IEP minutes per week of the pairs they serve.

    Examples
    --------
    With ``p`` as in :func:`caseloads` (60 and 30 minutes of speech):

    >>> minutes_served(p, np.array([0, 0]))    # doctest: +SKIP
    array([90.])
    """
    served = provider >= 0
    return np.bincount(provider[served], weights=problem.pair_minutes[served],
                       minlength=problem.n_providers)


def evaluate(problem: ServiceProblem, params: ServiceParams, provider: np.ndarray,
             case_manager: np.ndarray) -> dict[str, int]:
    """The objective's terms for a plan: ``unserved`` pairs, ``unplaced``
    students (counts), and ``rank``, ``continuity``, ``change``, ``balance``
    and their sum ``cost`` in milli-points."""
    served = provider >= 0
    placed = case_manager >= 0
    rank_pts = np.array([params.milli(r) for r in params.rank], dtype=np.int64)
    e_rank = _option_rank(problem.edge_pair, problem.edge_provider, problem.edge_rank,
                          np.nonzero(served)[0], provider[served], problem.n_providers)
    cm_rank = _cm_rank(problem, provider, case_manager)
    terms = {
        "unserved": int((~served).sum()),
        "unplaced": int((~placed).sum()),
        "rank": int(rank_pts[e_rank].sum() + rank_pts[cm_rank].sum()),
        "continuity": params.milli(params.continuity) * int(
            _miss(provider, problem.pair_current).sum())
        + params.milli(params.cm_continuity) * int(
            _miss(case_manager, problem.current_cm).sum()),
        "change": params.milli(params.change) * int(
            _miss(provider, problem.pair_published).sum()
            + _miss(case_manager, problem.published_cm).sum()),
        "balance": _balance_milli(problem.cap,
                                  caseloads(problem, provider, case_manager),
                                  params.balance),
    }
    terms["cost"] = terms["rank"] + terms["continuity"] + terms["change"] + terms["balance"]
    return terms


def lexicographic(problem: ServiceProblem, params: ServiceParams, provider: np.ndarray,
                  case_manager: np.ndarray) -> tuple[int, int, int]:
    """A plan's objective as the solver compares plans: (pairs unserved,
    students without a case manager, cost in milli-points), smaller first.

    Examples
    --------
    >>> lexicographic(problem, ServiceParams(), provider, cm)   # doctest: +SKIP
    (1, 0, 8000)
    """
    t = evaluate(problem, params, provider, case_manager)
    return (int(t["unserved"]), int(t["unplaced"]), int(t["cost"]))


def _option_rank(opt_owner: np.ndarray, opt_provider: np.ndarray, opt_rank: np.ndarray,
                 owners: np.ndarray, providers: np.ndarray, n_e: int) -> np.ndarray:
    """Rank of the option (owner -> provider) for each chosen pair; raises when
    a choice is not an option."""
    keys = opt_owner.astype(np.int64) * n_e + opt_provider
    want = owners.astype(np.int64) * n_e + providers
    order = stable_order(keys)
    pos = np.searchsorted(keys[order], want)
    ok = (pos < len(keys)) & (keys[order][np.minimum(pos, len(keys) - 1)] == want) if len(
        keys) else np.zeros(len(want), dtype=bool)
    if not np.all(ok):
        raise ValueError("the plan uses a provider who is not an eligible option")
    return opt_rank[order][pos]


def _cm_rank(problem: ServiceProblem, provider: np.ndarray,
             case_manager: np.ndarray) -> np.ndarray:
    """Rank of each placed student's case manager: the better of the own
    option (usable only when the case manager serves the student) and the
    coordinator option. Raises when neither is usable."""
    n_e = problem.n_providers
    idx = np.nonzero(case_manager >= 0)[0]
    serves = _cm_serves(problem, provider)
    usable = serves | (problem.cm_kind == COORDINATOR)
    keys = problem.cm_student[usable].astype(np.int64) * n_e + problem.cm_provider[usable]
    ranks = problem.cm_rank[usable]
    order = np.lexsort((ranks, keys))  # per key, the lowest rank first
    keys, ranks = keys[order], ranks[order]
    want = idx.astype(np.int64) * n_e + case_manager[idx]
    pos = np.searchsorted(keys, want)
    pos_c = np.minimum(pos, max(len(keys) - 1, 0))
    ok = (pos < len(keys)) & (keys[pos_c] == want) if len(keys) else np.zeros(
        len(want), dtype=bool)
    if not np.all(ok):
        raise ValueError("the plan uses a case manager who is not a usable option")
    return ranks[pos_c]


def role_average(problem: ServiceProblem, provider: np.ndarray, case_manager: np.ndarray,
                 roles: Sequence[str]) -> float | None:
    """Caseload per FTE over the providers of the given roles (EC 56363.3's
    district-wide SLP average): sum of their caseloads / sum of their FTE.

    Returns ``None`` when those roles have no FTE (no average to check).

    Examples
    --------
    With ``p`` as in :func:`caseloads` (one full-time SLP serving two students):

    >>> role_average(p, np.array([0, 0]), np.array([0, -1]), ("SLP",))  # doctest: +SKIP
    2.0
    """
    mask = np.isin(problem.provider_role, list(roles))
    fte = float(problem.fte[mask].sum())
    if fte <= 0:
        return None
    return float(caseloads(problem, provider, case_manager)[mask].sum()) / fte


# ----------------------------------------------------------------- results


@dataclass(frozen=True)
class ServiceSolution:
    """A plan and what is proven about it.

    Attributes
    ----------
    provider
        Provider index per pair, -1 not served.
    case_manager
        Provider index per student, -1 no case manager.
    status
        ``"optimal"`` (every level meets its bound), ``"feasible"``.
    terms
        :func:`evaluate` of the plan (counts and milli-points).
    bound
        Proven lexicographic lower bound: ``unserved``, ``unplaced`` and
        ``cost`` (milli-points; valid for plans at the same first two levels).
    gap
        ``(cost - bound cost) / cost`` when the first two levels meet, else None.
    runtime
        Seconds per stage.
    notes
        Plain sentences: which engine proved what.
    """

    provider: np.ndarray
    case_manager: np.ndarray
    status: str
    terms: Mapping[str, int]
    bound: Mapping[str, float]
    gap: float | None
    runtime: Mapping[str, float]
    notes: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def objective(self) -> tuple[int, int, int]:
        """The lexicographic objective: (unserved pairs, unplaced students, cost)."""
        return (self.terms["unserved"], self.terms["unplaced"], self.terms["cost"])

    def total(self, params: ServiceParams) -> float:
        """The objective as one number of points, with the ``unserved`` and
        ``unplaced`` weights (for display)."""
        return _points(params, self.terms)

    def bound_total(self, params: ServiceParams) -> float:
        """The bound as one number of points, weighed as :meth:`total`."""
        return _points(params, self.bound)


def _points(params: ServiceParams, levels: Mapping[str, float]) -> float:
    return (params.unserved * levels["unserved"] + params.unplaced * levels["unplaced"]
            + levels["cost"] / SCALE)


# ------------------------------------------------------------------ stages


def _edge_costs(problem: ServiceProblem, params: ServiceParams) -> tuple[np.ndarray, int]:
    """Per service edge: its cost minus what the pair costs when unserved
    (milli-points; can be negative), and the sum of those unserved costs.
    With the max flow fixed first, minimizing these is minimizing the cost."""
    ep, ee = problem.edge_pair, problem.edge_provider
    rank_pts = np.array([params.milli(r) for r in params.rank], dtype=np.int64)
    cont, chg = params.milli(params.continuity), params.milli(params.change)
    cur, pub = problem.pair_current, problem.pair_published
    cost = (rank_pts[problem.edge_rank] + cont * _miss(ee, cur[ep]) + chg * _miss(ee, pub[ep]))
    base = cont * (cur != -1) + chg * (pub != -1)  # per pair, when unserved
    return cost - base[ep], int(base.sum())


def _cm_costs(problem: ServiceProblem, params: ServiceParams) -> tuple[np.ndarray, int]:
    """Per case-manager option, like :func:`_edge_costs` (read-only: made once
    per problem and weights, as every flow asks for them)."""
    rank_pts = np.array([params.milli(r) for r in params.rank], dtype=np.int64)
    cont, chg = params.milli(params.cm_continuity), params.milli(params.change)

    def make() -> tuple[np.ndarray, int]:
        cs, ce = problem.cm_student, problem.cm_provider
        cur, pub = problem.current_cm, problem.published_cm
        cost = rank_pts[problem.cm_rank] + cont * _miss(ce, cur[cs]) + chg * _miss(ce, pub[cs])
        base = cont * (cur != -1) + chg * (pub != -1)
        out = cost - base[cs]
        out.setflags(write=False)
        return out, int(base.sum())
    return _memo(problem, ("cm_costs", tuple(rank_pts.tolist()), cont, chg), make)



def _cm_serves(problem: ServiceProblem, provider: np.ndarray) -> np.ndarray:
    """Per case-manager option: does its provider serve the student in this plan?"""
    n_e = problem.n_providers
    served = provider >= 0
    have = unique(problem.pair_student[served].astype(np.int64) * n_e + provider[served])
    want = problem.cm_student.astype(np.int64) * n_e + problem.cm_provider
    return member(want, have)


def _memo(problem: ServiceProblem, key: Hashable, make: Callable[[], T]) -> T:
    """``make()`` once per problem (a problem is immutable; the solver asks
    for the same derived arrays in every flow it builds)."""
    kept = _MEMO.setdefault(problem, {})
    if key not in kept:
        kept[key] = make()
    return cast(T, kept[key])


_MEMO: weakref.WeakKeyDictionary[ServiceProblem, dict[Hashable, object]] = \
    weakref.WeakKeyDictionary()


def _cm_could_serve(problem: ServiceProblem) -> np.ndarray:
    """Per case-manager option: is its provider eligible for a pair of the student?"""
    def make() -> np.ndarray:
        n_e = problem.n_providers
        have = unique(problem.edge_student.astype(np.int64) * n_e + problem.edge_provider)
        want = problem.cm_student.astype(np.int64) * n_e + problem.cm_provider
        could = member(want, have)
        could.setflags(write=False)
        return could
    return _memo(problem, "could_serve", make)


def _distinct_served(problem: ServiceProblem, provider: np.ndarray) -> np.ndarray:
    n_e = problem.n_providers
    served = provider >= 0
    keys = unique(problem.pair_student[served].astype(np.int64) * n_e + provider[served])
    return np.bincount(keys % n_e, minlength=n_e)
