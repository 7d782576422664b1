"""Service caseloads: who serves each IEP service, and who case-manages each student.

A pure solver, with no knowledge of files or rule packs: the caller builds a
:class:`ServiceProblem` (students, their (student, service) pairs, providers,
and the eligible options already decided by the credential and school rules)
and calls :func:`solve_services`. The model, its lexicographic objective and
exactly what is proven are documented in ``docs/service-caseloads.md``; the
short version:

1. **Bound and first plan: the joint flow.** One min-cost flow routes pairs to
   providers' seats and students to case managers: own providers (or
   coordinators who could serve) are free, other coordinators take a seat.
   Lexicographic levels (most pairs, then most case managers) come from two
   max flows, the cost from a min-cost flow with exactly those supplies. It
   is a relaxation only where an own case manager is used without serving,
   or two services of one student share a seat without paying it.
2. **Plans.** The joint flow's services, the same flow nudged (pairs that are
   a student's only way to an own case manager first; shared seats paid
   first), and on small districts services-only flows; for each, the
   case-manager step -- a min-cost flow given the providers, exact given
   them -- completes the plan. The best plan lexicographically is kept.
3. **Tighter bounds.** Up to ``lp_max_pairs``: the joint LP relaxation by
   HiGHS (three lexicographic LPs), whose rounded vertex is one more plan.
   Beyond: Lagrangian relaxation of "own case manager only when serving" on
   the joint flow, and a bound with service families apart (minute
   capacities: an LP per family with a minute limit).

The plan and the tightest bound are compared level by level: pairs served,
students placed, then cost. ``status == "optimal"`` only when all three meet;
otherwise the gap (cost level, when the first two meet) is reported.

Costs are integers in milli-points (1/1000 point), so "optimal" is exact for
the objective as defined (balance increments are rounded to 1/1000 point each,
which is part of the definition, see :func:`seat_increments`).

OR-Tools and highspy are imported inside this module only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from optimizer.planning.solvers import highs_child

__all__ = [
    "SCALE",
    "CaseManagerOption",
    "Provider",
    "ServiceOption",
    "ServiceParams",
    "ServiceProblem",
    "ServiceRow",
    "ServiceSolution",
    "StudentRow",
    "build_service_problem",
    "evaluate",
    "prorated_cap",
    "role_average",
    "seat_increments",
    "solve_services",
]

#: A column of :meth:`ServiceProblem.from_arrays`: an array or a list, one value per row.
Column = np.ndarray | Sequence[Any]

#: Costs are integers in 1/SCALE point.
SCALE = 1000

OWN, COORDINATOR = 0, 1


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Provider:
    """An educator who may serve or case-manage.

    ``cap`` is already prorated by FTE (see :func:`prorated_cap`);
    ``minutes_capacity`` is IEP minutes per week (``None``: no minute limit);
    ``other_load`` counts students served outside this plan (504 plans, other
    agencies), who take seats like any other.
    """

    provider_id: str
    role: str
    cap: int
    fte: float = 1.0
    minutes_capacity: float | None = None
    other_load: int = 0


@dataclass(frozen=True)
class StudentRow:
    """A student: this year's case manager and, for stable re-planning, the
    published plan's (``None`` when there is none)."""

    student_id: str
    current_case_manager: str | None = None
    published_case_manager: str | None = None


@dataclass(frozen=True)
class ServiceRow:
    """One planned (student, service) pair, with IEP minutes per week."""

    student_id: str
    service: str
    minutes: float = 0.0
    current_provider: str | None = None
    published_provider: str | None = None


@dataclass(frozen=True)
class ServiceOption:
    """``provider_id`` may give this student this service (credential and
    school already checked by the caller), at best-practice rank 0, 1 or 2."""

    student_id: str
    service: str
    provider_id: str
    rank: int = 0


@dataclass(frozen=True)
class CaseManagerOption:
    """``provider_id`` may case-manage the student.

    ``kind="own"``: as one of the student's own providers (instruction or
    service) -- usable only when the plan makes them a provider of the
    student. ``kind="coordinator"``: as a coordinator, whatever they serve.
    """

    student_id: str
    provider_id: str
    kind: str = "own"
    rank: int = 0


def prorated_cap(full_time_cap: int, fte: float) -> int:
    """Caseload cap of a part-time provider: the full-time cap times FTE, rounded down.

    Rounded down because a cap is a legal maximum: a 0.5 FTE resource
    specialist may not carry 14.5 students' worth of a 28 cap as 15.

    Examples
    --------
    >>> prorated_cap(28, 0.5), prorated_cap(55, 0.8)
    (14, 44)
    """
    return int(math.floor(full_time_cap * fte + 1e-9))


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


@dataclass(frozen=True, eq=False)
class ServiceProblem:
    """Everything the solver sees, as read-only arrays (index = position).

    Attributes
    ----------
    student_ids, current_cm, published_cm
        Per student; case-manager indexes are provider positions, -1 none,
        -2 a provider no longer on staff (never kept).
    pair_student, pair_service, pair_minutes, pair_current, pair_published
        Per (student, service) pair, sorted by student then service.
    provider_ids, provider_role, cap, fte, minutes_capacity, other_load
        Per provider; ``minutes_capacity`` is ``inf`` where there is none.
    edge_pair, edge_provider, edge_rank
        Eligible service options, sorted by (pair, provider).
    cm_student, cm_provider, cm_kind, cm_rank
        Case-manager options (kind 0 own provider, 1 coordinator), sorted.
    """

    student_ids: np.ndarray
    current_cm: np.ndarray
    published_cm: np.ndarray
    pair_student: np.ndarray
    pair_service: np.ndarray
    pair_minutes: np.ndarray
    pair_current: np.ndarray
    pair_published: np.ndarray
    provider_ids: np.ndarray
    provider_role: np.ndarray
    cap: np.ndarray
    fte: np.ndarray
    minutes_capacity: np.ndarray
    other_load: np.ndarray
    edge_pair: np.ndarray
    edge_provider: np.ndarray
    edge_rank: np.ndarray
    cm_student: np.ndarray
    cm_provider: np.ndarray
    cm_kind: np.ndarray
    cm_rank: np.ndarray

    @property
    def n_students(self) -> int:
        return len(self.student_ids)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_student)

    @property
    def n_providers(self) -> int:
        return len(self.provider_ids)

    @property
    def edge_student(self) -> np.ndarray:
        return self.pair_student[self.edge_pair]

    @property
    def has_minute_capacities(self) -> bool:
        return bool(np.any(np.isfinite(self.minutes_capacity)))

    def shared_options(self) -> np.ndarray:
        """Per service edge: True when its provider is eligible for another
        pair of the same student (then serving both takes one seat, not two)."""
        key = self.edge_student.astype(np.int64) * self.n_providers + self.edge_provider
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        return counts[inv] > 1

    @classmethod
    def from_arrays(cls, *, student_ids: Column, current_cm: Column | None = None,
                    published_cm: Column | None = None, pair_student: Column,
                    pair_service: Column, pair_minutes: Column | None = None,
                    pair_current: Column | None = None,
                    pair_published: Column | None = None,
                    provider_ids: Column, provider_role: Column, cap: Column,
                    fte: Column | None = None, minutes_capacity: Column | None = None,
                    other_load: Column | None = None, edge_pair: Column,
                    edge_provider: Column, edge_rank: Column | None = None,
                    cm_student: Column, cm_provider: Column, cm_kind: Column,
                    cm_rank: Column | None = None) -> ServiceProblem:
        """Build from index arrays (the fast path, used at district scale).

        Raises
        ------
        ValueError
            On an index out of range, a negative cap, a rank outside 0-2, a
            duplicated option, or pairs not sorted by student.
        """
        n_s, n_e = len(student_ids), len(provider_ids)
        n_p = len(pair_student)

        def ints(a: Column | None, n: int, fill: int = -1) -> np.ndarray:
            return (np.full(n, fill, dtype=np.int64) if a is None
                    else np.asarray(a, dtype=np.int64).copy())

        sid = np.asarray(student_ids, dtype=object).copy()
        cur_cm, pub_cm = ints(current_cm, n_s), ints(published_cm, n_s)
        ps = ints(pair_student, n_p)
        psvc = np.asarray(pair_service, dtype=object).copy()
        pmin = (np.zeros(n_p) if pair_minutes is None
                else np.asarray(pair_minutes, dtype=float).copy())
        pcur, ppub = ints(pair_current, n_p), ints(pair_published, n_p)
        pid = np.asarray(provider_ids, dtype=object).copy()
        prole = np.asarray(provider_role, dtype=object).copy()
        capa = ints(cap, n_e)
        ftea = np.ones(n_e) if fte is None else np.asarray(fte, dtype=float).copy()
        mcap = (np.full(n_e, np.inf) if minutes_capacity is None
                else np.asarray(minutes_capacity, dtype=float).copy())
        other = ints(other_load, n_e, 0)
        ep, ee = ints(edge_pair, len(edge_pair)), ints(edge_provider, len(edge_pair))
        er = ints(edge_rank, len(ep), 0)
        cs, ce = ints(cm_student, len(cm_student)), ints(cm_provider, len(cm_student))
        ck, cr = ints(cm_kind, len(cs)), ints(cm_rank, len(cs), 0)

        problems = []
        if len(sid) != len(set(sid.tolist())):
            problems.append("student ids repeat")
        if len(pid) != len(set(pid.tolist())):
            problems.append("provider ids repeat")
        for name, a, n, lo in [("pair_student", ps, n_s, 0), ("edge_pair", ep, n_p, 0),
                               ("edge_provider", ee, n_e, 0), ("cm_student", cs, n_s, 0),
                               ("cm_provider", ce, n_e, 0), ("current_cm", cur_cm, n_e, -2),
                               ("published_cm", pub_cm, n_e, -2),
                               ("pair_current", pcur, n_e, -2),
                               ("pair_published", ppub, n_e, -2)]:
            if len(a) and (a.min() < lo or a.max() >= n):
                problems.append(f"{name} has an index outside {lo}..{n - 1}")
        if np.any(np.diff(ps) < 0):
            problems.append("pairs must be sorted by student")
        if np.any(capa < 0) or np.any(other < 0):
            problems.append("caps and other_load must be >= 0")
        if np.any(pmin < 0) or np.any(np.isnan(pmin)):
            problems.append("minutes must be >= 0")
        if np.any((er < 0) | (er > 2)) or np.any((cr < 0) | (cr > 2)):
            problems.append("ranks must be 0, 1 or 2")
        if np.any((ck != OWN) & (ck != COORDINATOR)):
            problems.append("case-manager kind must be 0 (own) or 1 (coordinator)")
        if problems:
            raise ValueError("; ".join(problems))
        order = np.lexsort((ee, ep))
        ep, ee, er = ep[order], ee[order], er[order]
        if len(ep) > 1 and np.any((np.diff(ep) == 0) & (np.diff(ee) == 0)):
            raise ValueError("a service option is listed twice")
        order = np.lexsort((ck, ce, cs))
        cs, ce, ck, cr = cs[order], ce[order], ck[order], cr[order]
        if len(cs) > 1 and np.any((np.diff(cs) == 0) & (np.diff(ce) == 0)
                                  & (np.diff(ck) == 0)):
            raise ValueError("a case-manager option is listed twice")
        _readonly(sid, cur_cm, pub_cm, ps, psvc, pmin, pcur, ppub, pid, prole, capa, ftea,
                  mcap, other, ep, ee, er, cs, ce, ck, cr)
        return cls(sid, cur_cm, pub_cm, ps, psvc, pmin, pcur, ppub, pid, prole, capa, ftea,
                   mcap, other, ep, ee, er, cs, ce, ck, cr)


def build_service_problem(students: Iterable[StudentRow], services: Iterable[ServiceRow],
                          providers: Iterable[Provider],
                          service_options: Iterable[ServiceOption],
                          case_manager_options: Iterable[CaseManagerOption]) -> ServiceProblem:
    """Build a problem from plain rows, in canonical (sorted-id) order.

    Raises
    ------
    ValueError
        Listing every row that names an unknown student, provider or pair, or
        repeats one.
    """
    students = sorted(students, key=lambda s: s.student_id)
    providers = sorted(providers, key=lambda p: p.provider_id)
    s_pos = {s.student_id: i for i, s in enumerate(students)}
    e_pos = {p.provider_id: i for i, p in enumerate(providers)}
    errors: list[str] = []

    def prov(pid: str | None) -> int:
        if pid is None or pid == "":
            return -1
        return e_pos.get(pid, -2)  # -2: named but not on staff: never kept

    rows = sorted(services, key=lambda r: (r.student_id, r.service))
    p_pos: dict[tuple[str, str], int] = {}
    for r in rows:
        if r.student_id not in s_pos:
            errors.append(f"service {r.student_id}/{r.service}: unknown student")
        elif (r.student_id, r.service) in p_pos:
            errors.append(f"service {r.student_id}/{r.service}: listed twice")
        else:
            p_pos[(r.student_id, r.service)] = len(p_pos)
    ep, ee, er = [], [], []
    for o in service_options:
        key = (o.student_id, o.service)
        if key not in p_pos or o.provider_id not in e_pos:
            errors.append(f"service option {o.student_id}/{o.service} -> {o.provider_id}: "
                          "unknown pair or provider")
            continue
        ep.append(p_pos[key])
        ee.append(e_pos[o.provider_id])
        er.append(o.rank)
    cs, ce, ck, cr = [], [], [], []
    for c in case_manager_options:
        if c.student_id not in s_pos or c.provider_id not in e_pos or c.kind not in (
                "own", "coordinator"):
            errors.append(f"case-manager option {c.student_id} -> {c.provider_id} "
                          f"({c.kind}): unknown student, provider or kind")
            continue
        cs.append(s_pos[c.student_id])
        ce.append(e_pos[c.provider_id])
        ck.append(OWN if c.kind == "own" else COORDINATOR)
        cr.append(c.rank)
    if errors:
        raise ValueError("; ".join(errors))
    return ServiceProblem.from_arrays(
        student_ids=[s.student_id for s in students],
        current_cm=[prov(s.current_case_manager) for s in students],
        published_cm=[prov(s.published_case_manager) for s in students],
        pair_student=[s_pos[r.student_id] for r in rows],
        pair_service=[r.service for r in rows],
        pair_minutes=[r.minutes for r in rows],
        pair_current=[prov(r.current_provider) for r in rows],
        pair_published=[prov(r.published_provider) for r in rows],
        provider_ids=[p.provider_id for p in providers],
        provider_role=[p.role for p in providers],
        cap=[p.cap for p in providers], fte=[p.fte for p in providers],
        minutes_capacity=[np.inf if p.minutes_capacity is None else p.minutes_capacity
                          for p in providers],
        other_load=[p.other_load for p in providers],
        edge_pair=ep, edge_provider=ee, edge_rank=er,
        cm_student=cs, cm_provider=ce, cm_kind=ck, cm_rank=cr)


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
        Most flows for the Lagrangian bound (count caps).
    lp_max_pairs
        The joint LP only up to this many pairs (HiGHS took ~17 s for 18,000
        pairs on 2 cores); above it, service families are bounded apart.
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
    keys = np.unique(keys)
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


def _option_rank(opt_owner: np.ndarray, opt_provider: np.ndarray, opt_rank: np.ndarray,
                 owners: np.ndarray, providers: np.ndarray, n_e: int) -> np.ndarray:
    """Rank of the option (owner -> provider) for each chosen pair; raises when
    a choice is not an option."""
    keys = opt_owner.astype(np.int64) * n_e + opt_provider
    want = owners.astype(np.int64) * n_e + providers
    order = np.argsort(keys, kind="stable")
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
        return (params.unserved * self.terms["unserved"]
                + params.unplaced * self.terms["unplaced"] + self.terms["cost"] / SCALE)


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


def _seats(problem: ServiceProblem, start: np.ndarray, wanted: np.ndarray,
           balance: float) -> tuple[np.ndarray, np.ndarray]:
    """Seat arcs: provider index and milli-point cost of each free seat, the
    seats numbered from ``start`` (load already there); at most ``wanted``."""
    free = np.clip(problem.cap - start, 0, None)
    free = np.minimum(free, wanted)
    seat_e = np.repeat(np.arange(problem.n_providers), free)
    k = np.arange(len(seat_e)) - np.repeat(np.cumsum(free) - free, free) + 1
    load_after = start[seat_e] + k
    cap = problem.cap[seat_e].astype(np.float64)
    cost = np.rint(SCALE * balance * (2 * load_after - 1) / np.maximum(cap, 1)).astype(np.int64)
    return seat_e, cost


def _flow(tails: ArrayLike, heads: ArrayLike, caps: ArrayLike, costs: ArrayLike,
          supply: int, n_nodes: int) -> Any:
    """A solved SimpleMinCostFlow (OR-Tools ships no types: Any) sending
    ``supply`` from node 0 to node 1 at least cost; raises unless optimal."""
    from ortools.graph.python import min_cost_flow  # see _run_highs

    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(np.asarray(tails, dtype=np.int64),
                                              np.asarray(heads, dtype=np.int64),
                                              np.asarray(caps, dtype=np.int64),
                                              np.asarray(costs, dtype=np.int64))
    smcf.add_arc_with_capacity_and_unit_cost(n_nodes - 1, n_nodes - 1, 0, 0)
    smcf.set_node_supply(0, supply)
    smcf.set_node_supply(1, -supply)
    status = smcf.solve_max_flow_with_min_cost()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    return smcf


def _cm_bonus(problem: ServiceProblem, params: ServiceParams) -> np.ndarray:
    """Per service edge: what serving the pair by this provider may save on the
    student's case manager (milli-points, >= 0). Only a tie-breaker for the
    primal plan: an own-provider case manager needs no seat, so among equally
    good service plans prefer the one that makes a good case manager free.

    The saving is the cost of the best other case-manager option (a
    coordinator, or another provider's own option; ``unplaced`` when none)
    minus the cost of this provider's own option.
    """
    n_s = problem.n_students
    cost, _ = _cm_costs(problem, params)
    cs, ce = problem.cm_student, problem.cm_provider
    big = params.milli(params.unplaced)
    order = np.lexsort((cost, cs))
    cs_o, ce_o, c_o = cs[order], ce[order], cost[order]
    first = np.searchsorted(cs_o, np.arange(n_s))
    last = np.searchsorted(cs_o, np.arange(n_s), side="right")
    best = np.full(n_s, big, dtype=np.int64)
    best_e = np.full(n_s, -1, dtype=np.int64)
    has = last > first
    best[has] = c_o[first[has]]
    best_e[has] = ce_o[first[has]]
    # The best option of another provider: the first one whose provider differs.
    second = np.full(n_s, big, dtype=np.int64)
    nxt = first + 1
    while True:
        open_ = (nxt < last) & (second == big)
        if not open_.any():
            break
        idx = np.nonzero(open_)[0]
        differs = ce_o[nxt[idx]] != best_e[idx]
        second[idx[differs]] = c_o[nxt[idx[differs]]]
        nxt[idx] += 1
    hit, ocost = _own_hits(problem, cost)
    st = problem.edge_student.astype(np.int64)
    other = np.where(best_e[st] == problem.edge_provider, second[st], best[st])
    bonus = np.zeros(len(st), dtype=np.int64)
    bonus[hit] = np.clip(other[hit] - ocost[hit], 0, None)
    return bonus


def _own_hits(problem: ServiceProblem, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per service edge: does its provider have an own case-manager option for
    the student, and that option's cost."""
    n_e = problem.n_providers
    own = problem.cm_kind == OWN
    ekey = problem.edge_student.astype(np.int64) * n_e + problem.edge_provider
    okey = problem.cm_student[own].astype(np.int64) * n_e + problem.cm_provider[own]
    o_order = np.argsort(okey, kind="stable")
    okey, ocost = okey[o_order], cost[own][o_order]
    pos = np.searchsorted(okey, ekey)
    pos_c = np.minimum(pos, max(len(okey) - 1, 0))
    hit = (pos < len(okey)) & (okey[pos_c] == ekey) if len(okey) else np.zeros(
        len(ekey), dtype=bool)
    return hit, np.where(hit, ocost[pos_c] if len(okey) else 0, 0)


def _critical_bonus(problem: ServiceProblem, params: ServiceParams) -> np.ndarray:
    """Per service edge: ``unplaced`` (milli-points) when the pair is the
    student's only way to an own-provider case manager (every provider with an
    own option is eligible for this pair) and this provider has one. A
    tie-breaker for plans where coordinators are scarce: among plans serving
    the most pairs, leave unserved those whose students keep a case manager."""
    cost, _ = _cm_costs(problem, params)
    hit, _ = _own_hits(problem, cost)
    own_count = np.bincount(problem.cm_student[problem.cm_kind == OWN],
                            minlength=problem.n_students)
    hits_per_pair = np.bincount(problem.edge_pair, weights=hit, minlength=problem.n_pairs)
    st = problem.pair_student
    critical = (own_count[st] > 0) & (hits_per_pair == own_count[st])
    return np.where(hit & critical[problem.edge_pair], params.milli(params.unplaced), 0)


def _attach_shared(problem: ServiceProblem, provider: np.ndarray,
                   cost: np.ndarray) -> np.ndarray:
    """Serve unserved pairs by a provider who already serves the student
    (no new seat: caseloads count distinct students), minutes permitting."""
    n_e = problem.n_providers
    provider = provider.copy()
    ep, ee = problem.edge_pair, problem.edge_provider
    serving = set((problem.pair_student[provider >= 0].astype(np.int64) * n_e
                   + provider[provider >= 0]).tolist())
    minutes_left = problem.minutes_capacity - minutes_served(problem, provider)
    cand = np.nonzero(problem.shared_options() & (provider[ep] < 0))[0]
    for j in cand[np.argsort(cost[cand], kind="stable")].tolist():
        p, e = int(ep[j]), int(ee[j])
        if provider[p] >= 0 or int(problem.pair_student[p]) * n_e + e not in serving:
            continue
        if minutes_left[e] + 1e-9 < problem.pair_minutes[p]:
            continue
        provider[p] = e
        minutes_left[e] -= problem.pair_minutes[p]
    return provider


def _service_flow(problem: ServiceProblem, params: ServiceParams,
                  relax_shared: bool, bonus: np.ndarray | None = None
                  ) -> tuple[np.ndarray, int, int]:
    """Stage 1 by min-cost flow: provider per pair, pairs served, cost (milli).

    Network: source -> pair (1) -> provider -> seat k -> sink. Every pair takes
    a seat (safe: distinct students never exceed pairs). With ``relax_shared``
    (for the bound), a pair whose provider is also eligible for another pair of
    the same student goes through a (student, provider) node with one seat arc
    and a seat-free arc for the rest: every joint plan maps into this network
    at no more than its cost, so its optimum is a lower bound.
    """
    n_p, n_e = problem.n_pairs, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    cost, base = _edge_costs(problem, params)
    if bonus is not None:
        cost = cost - bonus
    pairs = np.unique(ep)
    src, sink, p0 = 0, 1, 2
    e0 = p0 + n_p
    nxt = e0 + n_e
    shared = problem.shared_options() if relax_shared else np.zeros(len(ep), dtype=bool)
    # The most seats a provider can use: distinct students it could serve.
    st = problem.edge_student.astype(np.int64)
    uniq = np.unique(st * n_e + ee)
    wanted = np.bincount(uniq % n_e, minlength=n_e)
    if not relax_shared:
        wanted = np.bincount(ee, minlength=n_e)
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    head = e0 + ee
    empty = np.zeros(0, dtype=np.int64)
    extra_t, extra_h, extra_c = empty, empty, empty
    if shared.any():
        key = st[shared] * n_e + ee[shared]
        ukey, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        vnode = nxt + np.arange(len(ukey))
        nxt += len(ukey)
        head = head.copy()
        head[np.nonzero(shared)[0]] = vnode[inv]
        extra_t = np.concatenate([vnode, vnode])
        extra_h = np.concatenate([e0 + ukey % n_e, np.full(len(ukey), sink)])
        extra_c = np.concatenate([np.ones(len(ukey), dtype=np.int64), cnt - 1])
    n_edge = len(ep)
    tails = np.concatenate([np.full(len(pairs), src), p0 + ep, e0 + seat_e,
                            np.asarray(extra_t, dtype=np.int64)])
    heads = np.concatenate([p0 + pairs, head, np.full(len(seat_e), sink),
                            np.asarray(extra_h, dtype=np.int64)])
    caps = np.concatenate([np.ones(len(pairs) + n_edge + len(seat_e), dtype=np.int64),
                           np.asarray(extra_c, dtype=np.int64)])
    costs = np.concatenate([np.zeros(len(pairs), dtype=np.int64), cost, seat_cost,
                            np.zeros(len(extra_t), dtype=np.int64)])
    smcf = _flow(tails, heads, caps, costs, len(pairs), nxt + 1)
    used = smcf.flows(np.arange(len(pairs), len(pairs) + n_edge)) > 0
    provider = np.full(n_p, -1, dtype=np.int64)
    provider[ep[used]] = ee[used]
    return provider, int(used.sum()), int(smcf.optimal_cost()) + base


def _levels(tails: np.ndarray, heads: np.ndarray, caps: np.ndarray, sup: int,
            sink: int, src_p: int, src_c: int, n_pairs: int, n_students: int
            ) -> tuple[int, int]:
    """Most pairs, then most case managers, that a network can route: two max
    flows. The sets of units a network can route at once form a matroid
    (a gammoid), so every maximal routing has the same size F and one with
    the most pairs P* exists among them: the levels are (P*, F - P*)."""
    from ortools.graph.python import max_flow  # see _run_highs

    def routed(n_p: int, n_c: int) -> int:
        mf = max_flow.SimpleMaxFlow()
        mf.add_arcs_with_capacity(tails, heads, caps)
        mf.add_arcs_with_capacity(np.array([sup, sup]), np.array([src_p, src_c]),
                                  np.array([n_p, n_c]))
        if mf.solve(sup, sink) != mf.OPTIMAL:
            raise RuntimeError("max flow failed")
        return int(mf.optimal_flow())

    pairs_only = routed(n_pairs, 0)
    return pairs_only, routed(n_pairs, n_students) - pairs_only


def _joint_flow(problem: ServiceProblem, params: ServiceParams,
                blocked: np.ndarray | None = None, bonus: np.ndarray | None = None,
                levels: tuple[int, int] | None = None
                ) -> tuple[np.ndarray, np.ndarray, int, int, int, bool, np.ndarray]:
    """The joint relaxation, one network for services and case managers.

    ::

        srcP -> pair -> provider (or a (student, provider) node when shared)
        srcC -> student -> sink                  own provider or coordinator who
                                                 COULD serve the student: no seat
        srcC -> student -> provider              coordinator who cannot serve: a seat
        provider -> seat k -> sink               cap - other_load seats, convex costs

    Every joint plan maps into it at no more than its cost (an own-provider
    case manager is free here even when the plan does not make them a
    provider; a shared (student, provider) node has one seat arc and a
    seat-free arc for the student's other pairs). So, solved lexicographically
    -- the most pairs, then the most case managers, then the least cost -- it
    is a lower bound on the joint optimum at every level. The levels come from
    two max flows (:func:`_levels`), the cost from a min-cost flow with
    exactly those supplies.

    Returns provider per pair and case manager per student from the flow,
    pairs served, students placed, the cost bound (milli-points), whether
    the flow is itself a valid plan (then it is optimal), and the case-manager
    options it used for free without the provider serving the student.
    ``blocked`` options are never free and ``bonus`` lowers service costs (for
    re-solves that build plans; the result is then no bound). ``levels``
    skips the max flows when they are known (costs do not change them).
    """
    n_p, n_s, n_e = problem.n_pairs, problem.n_students, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    st = problem.edge_student.astype(np.int64)
    e_cost, e_base = _edge_costs(problem, params)
    if bonus is not None:  # heuristic re-solves only: then it is no bound
        e_cost = e_cost - bonus
    c_cost, c_base = _cm_costs(problem, params)
    cs, ce, ck = problem.cm_student, problem.cm_provider, problem.cm_kind
    could = _cm_could_serve(problem)
    if blocked is not None:  # heuristic re-solves only: then it is no bound
        could = could & ~blocked
    usable = could | (ck == COORDINATOR)
    opts = np.nonzero(usable)[0]
    free = could[opts]
    shared = problem.shared_options()
    SUP, SINK, SRC_P, SRC_C, p0 = 0, 1, 2, 3, 4
    s0 = p0 + n_p
    e0 = s0 + n_s
    nxt = e0 + n_e
    pairs = np.unique(ep)
    studs = np.unique(cs[opts])
    could_keys = np.unique(st * n_e + ee)
    wanted = (np.bincount(could_keys % n_e, minlength=n_e)
              + np.bincount(ce[opts[~free]], minlength=n_e))
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    head = e0 + ee
    vt = vh = vc = vcost = np.zeros(0, dtype=np.int64)
    ukey = inv = None
    if shared.any():
        key = st[shared] * n_e + ee[shared]
        ukey, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        vnode = nxt + np.arange(len(ukey))
        nxt += len(ukey)
        head = head.copy()
        head[np.nonzero(shared)[0]] = vnode[inv]
        vt = np.concatenate([vnode, vnode])
        vh = np.concatenate([e0 + ukey % n_e, np.full(len(ukey), SINK)])
        vc = np.concatenate([np.ones(len(ukey), dtype=np.int64), cnt - 1])
        vcost = np.zeros(2 * len(ukey), dtype=np.int64)
        if bonus is not None or blocked is not None:
            # For plans: a (student, provider) node pays its seat before its
            # seat-free arc is worth using, or the plan would miss the seat.
            vcost[:len(ukey)] = -params.milli(params.unplaced)
    opt_head = np.where(free, SINK, e0 + ce[opts])
    parts = [  # (tails, heads, capacities, costs)
        (np.full(len(pairs), SRC_P), p0 + pairs, 1, 0),
        (p0 + ep, head, 1, e_cost),
        (vt, vh, vc, vcost),
        (np.full(len(studs), SRC_C), s0 + studs, 1, 0),
        (s0 + cs[opts], opt_head, 1, c_cost[opts]),
        (e0 + seat_e, np.full(len(seat_e), SINK), 1, seat_cost),
    ]
    offsets = np.cumsum([0] + [len(t) for t, _, _, _ in parts])
    tails = np.concatenate([np.asarray(t, dtype=np.int64) for t, _, _, _ in parts])
    heads = np.concatenate([np.asarray(h, dtype=np.int64) for _, h, _, _ in parts])
    caps = np.concatenate([np.broadcast_to(np.asarray(c, dtype=np.int64), len(t))
                           for t, _, c, _ in parts])
    costs = np.concatenate([np.broadcast_to(np.asarray(c, dtype=np.int64), len(t))
                            for t, _, _, c in parts])
    from ortools.graph.python import min_cost_flow  # see _run_highs

    if levels is None:
        levels = _levels(tails, heads, caps, SUP, SINK, SRC_P, SRC_C, len(pairs), len(studs))
    served, placed = levels
    n_arcs = len(tails)
    # Cost: exactly those many of each.
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    smcf.add_arc_with_capacity_and_unit_cost(nxt, nxt, 0, 0)
    smcf.set_node_supply(SRC_P, served)
    smcf.set_node_supply(SRC_C, placed)
    smcf.set_node_supply(SINK, -(served + placed))
    if smcf.solve() != smcf.OPTIMAL:
        raise RuntimeError("joint cost flow failed")
    cost_bound = int(smcf.optimal_cost()) + e_base + c_base
    flows = smcf.flows(np.arange(n_arcs))
    used_e = flows[offsets[1]:offsets[2]] > 0
    provider = np.full(n_p, -1, dtype=np.int64)
    provider[ep[used_e]] = ee[used_e]
    used_o = flows[offsets[4]:offsets[5]] > 0
    cm = np.full(n_s, -1, dtype=np.int64)
    cm[cs[opts[used_o]]] = ce[opts[used_o]]
    # Is the flow itself a plan? Each free case-manager arc used must be backed
    # by real service, and each shared node used must have paid its seat.
    chosen_free = opts[used_o & free]
    have = np.unique(problem.pair_student[provider >= 0].astype(np.int64) * n_e
                     + provider[provider >= 0])
    want = cs[chosen_free].astype(np.int64) * n_e + ce[chosen_free]
    unbacked = np.zeros(len(cs), dtype=bool)
    unbacked[chosen_free[~np.isin(want, have)]] = True
    valid = not unbacked.any()
    if ukey is not None and inv is not None:
        seat_flow = flows[offsets[2]:offsets[2] + len(ukey)]
        sh = np.nonzero(shared)[0]
        into = np.bincount(inv, weights=used_e[sh].astype(float), minlength=len(ukey))
        unpaid = (into > 0) & (seat_flow == 0)
        if unpaid.any():
            # A (student, provider) served without its seat: not a plan. Drop
            # those pairs from the returned plan (the bound is unaffected).
            valid = False
            drop = sh[used_e[sh] & unpaid[inv]]
            provider[ep[drop]] = -1
    return provider, cm, served, placed, cost_bound, valid, unbacked


def _lagrangian_bound(problem: ServiceProblem, params: ServiceParams, served: int,
                      placed: int, target: int, deadline: float, rounds: int
                      ) -> tuple[int, int]:
    """Tighten the joint flow's cost bound by Lagrangian relaxation.

    The flow lets an own-provider case manager (or a coordinator who could
    serve) be free without serving. Price that: for each such option k of
    student i at provider j, the constraint "free use of k <= pairs of i that j
    serves" gets a multiplier lambda_k >= 0, added to k's free arc and taken
    off each of i's service options at j. For every lambda >= 0 the flow with
    those costs and the supplies fixed at the levels (``served`` pairs,
    ``placed`` case managers) is a lower bound on the cost of any plan at
    those levels; subgradient steps (Polyak, towards ``target``, the best
    plan's cost) raise it. Returns the best bound (milli-points, without the
    other-load constant) and the number of flows solved.
    """
    from ortools.graph.python import min_cost_flow  # see _run_highs

    n_p, n_s, n_e = problem.n_pairs, problem.n_students, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    st = problem.edge_student.astype(np.int64)
    e_cost, e_base = _edge_costs(problem, params)
    c_cost, c_base = _cm_costs(problem, params)
    cs, ce, ck = problem.cm_student, problem.cm_provider, problem.cm_kind
    could = _cm_could_serve(problem)
    free_o = np.nonzero(could)[0]  # priced: free only if serving
    seat_o = np.nonzero(ck == COORDINATOR)[0]  # a coordinator may always take a seat
    shared = problem.shared_options()
    SINK, SRC_P, SRC_C, p0 = 1, 2, 3, 4
    s0 = p0 + n_p
    e0 = s0 + n_s
    nxt = e0 + n_e
    pairs = np.unique(ep)
    studs = np.unique(cs[np.concatenate([free_o, seat_o])])
    could_keys = np.unique(st * n_e + ee)
    wanted = np.bincount(could_keys % n_e, minlength=n_e) + np.bincount(ce[seat_o],
                                                                         minlength=n_e)
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    head = e0 + ee
    vt = vh = vc = np.zeros(0, dtype=np.int64)
    if shared.any():
        key = st[shared] * n_e + ee[shared]
        ukey, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        vnode = nxt + np.arange(len(ukey))
        nxt += len(ukey)
        head = head.copy()
        head[np.nonzero(shared)[0]] = vnode[inv]
        vt = np.concatenate([vnode, vnode])
        vh = np.concatenate([e0 + ukey % n_e, np.full(len(ukey), SINK)])
        vc = np.concatenate([np.ones(len(ukey), dtype=np.int64), cnt - 1])
    # Which free option each service edge feeds (by (student, provider) key).
    fkey = cs[free_o].astype(np.int64) * n_e + ce[free_o]
    ekey = st * n_e + ee
    order = np.argsort(fkey, kind="stable")
    lo = np.searchsorted(fkey[order], ekey)
    hi = np.searchsorted(fkey[order], ekey, side="right")
    # An edge may feed an own and a coordinator option of the same key.
    feed_edge = np.repeat(np.arange(len(ep)), hi - lo)
    feed_opt = order[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
                     ] if len(ep) else np.zeros(0, dtype=np.int64)
    tails = np.concatenate([np.full(len(pairs), SRC_P), p0 + ep, vt,
                            np.full(len(studs), SRC_C), s0 + cs[free_o], s0 + cs[seat_o],
                            e0 + seat_e]).astype(np.int64)
    heads = np.concatenate([p0 + pairs, head, vh, s0 + studs, np.full(len(free_o), SINK),
                            e0 + ce[seat_o], np.full(len(seat_e), SINK)]).astype(np.int64)
    caps = np.concatenate([np.ones(len(pairs) + len(ep), dtype=np.int64), vc,
                           np.ones(len(studs) + len(free_o) + len(seat_o) + len(seat_e),
                                   dtype=np.int64)])
    a_edge = len(pairs)
    a_free = a_edge + len(ep) + len(vt) + len(studs)
    lam = np.zeros(len(free_o))
    best, solved = -(1 << 62), 0
    theta = 1.0
    stall = 0
    for _ in range(rounds):
        if time.perf_counter() > deadline:
            break
        lam_i = np.floor(lam).astype(np.int64)  # whole milli-points keep the flow exact
        edge_pen = np.bincount(feed_edge, weights=lam_i[feed_opt], minlength=len(ep))
        costs = np.concatenate([np.zeros(len(pairs), dtype=np.int64),
                                e_cost - edge_pen.astype(np.int64),
                                np.zeros(len(vt) + len(studs), dtype=np.int64),
                                c_cost[free_o] + lam_i, c_cost[seat_o], seat_cost])
        smcf = min_cost_flow.SimpleMinCostFlow()
        smcf.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        smcf.add_arc_with_capacity_and_unit_cost(nxt, nxt, 0, 0)
        smcf.set_node_supply(SRC_P, served)
        smcf.set_node_supply(SRC_C, placed)
        smcf.set_node_supply(SINK, -(served + placed))
        if smcf.solve() != smcf.OPTIMAL:
            break
        solved += 1
        value = int(smcf.optimal_cost()) + e_base + c_base
        if value > best:
            best, stall = value, 0
        else:
            stall += 1
            if stall >= 2:
                theta, stall = theta / 2, 0
        if best >= target:
            break
        flows = smcf.flows(np.arange(len(tails)))
        x = flows[a_edge:a_edge + len(ep)].astype(float)
        g = flows[a_free:a_free + len(free_o)].astype(float) - np.bincount(
            feed_opt, weights=x[feed_edge], minlength=len(free_o))
        g[(lam <= 0) & (g < 0)] = 0.0
        norm = float(g @ g)
        if norm == 0:
            break
        lam = np.maximum(0.0, lam + theta * (target - value) / norm * g)
    return best, solved


def _cm_costs(problem: ServiceProblem, params: ServiceParams) -> tuple[np.ndarray, int]:
    rank_pts = np.array([params.milli(r) for r in params.rank], dtype=np.int64)
    cont, chg = params.milli(params.cm_continuity), params.milli(params.change)
    cs, ce = problem.cm_student, problem.cm_provider
    cur, pub = problem.current_cm, problem.published_cm
    cost = rank_pts[problem.cm_rank] + cont * _miss(ce, cur[cs]) + chg * _miss(ce, pub[cs])
    base = cont * (cur != -1) + chg * (pub != -1)
    return cost - base[cs], int(base.sum())


def _cm_flow(problem: ServiceProblem, params: ServiceParams, serves: np.ndarray,
             start: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Stage 2 by min-cost flow: case manager per student, students placed,
    cost (milli-points, the balance counted from ``start``).

    ``serves`` marks the case-manager options whose provider serves the
    student (own options are usable only then; such options take no seat).
    A coordinator option that does not serve takes a seat of ``cap - start``.
    """
    n_s, n_e = problem.n_students, problem.n_providers
    cs, ce, ck = problem.cm_student, problem.cm_provider, problem.cm_kind
    cost, base = _cm_costs(problem, params)
    usable = serves | (ck == COORDINATOR)
    free = usable & serves
    seat_opt = usable & ~serves
    students = np.unique(cs[usable])
    src, sink, s0 = 0, 1, 2
    e0 = s0 + n_s
    wanted = np.bincount(ce[seat_opt], minlength=n_e)
    seat_e, seat_cost = _seats(problem, start, wanted, params.balance)
    opts = np.nonzero(usable)[0]
    heads_opt = np.where(free[opts], sink, e0 + ce[opts])
    tails = np.concatenate([np.full(len(students), src), s0 + cs[opts], e0 + seat_e])
    heads = np.concatenate([s0 + students, heads_opt, np.full(len(seat_e), sink)])
    caps = np.ones(len(tails), dtype=np.int64)
    costs = np.concatenate([np.zeros(len(students), dtype=np.int64), cost[opts], seat_cost])
    smcf = _flow(tails, heads, caps, costs, len(students), e0 + n_e + 1)
    used = smcf.flows(np.arange(len(students), len(students) + len(opts))) > 0
    cm = np.full(n_s, -1, dtype=np.int64)
    cm[cs[opts[used]]] = ce[opts[used]]
    return cm, int(used.sum()), int(smcf.optimal_cost()) + base


def _cm_serves(problem: ServiceProblem, provider: np.ndarray) -> np.ndarray:
    """Per case-manager option: does its provider serve the student in this plan?"""
    n_e = problem.n_providers
    served = provider >= 0
    have = np.unique(problem.pair_student[served].astype(np.int64) * n_e + provider[served])
    want = problem.cm_student.astype(np.int64) * n_e + problem.cm_provider
    return np.isin(want, have)


def _cm_could_serve(problem: ServiceProblem) -> np.ndarray:
    """Per case-manager option: is its provider eligible for a pair of the student?"""
    n_e = problem.n_providers
    have = np.unique(problem.edge_student.astype(np.int64) * n_e + problem.edge_provider)
    want = problem.cm_student.astype(np.int64) * n_e + problem.cm_provider
    return np.isin(want, have)


def _distinct_served(problem: ServiceProblem, provider: np.ndarray) -> np.ndarray:
    n_e = problem.n_providers
    served = provider >= 0
    keys = np.unique(problem.pair_student[served].astype(np.int64) * n_e + provider[served])
    return np.bincount(keys % n_e, minlength=n_e)


# ---------------------------------------------------------- minute capacities


def _service_lp(problem: ServiceProblem, params: ServiceParams, deadline: float
                ) -> tuple[np.ndarray, int, int, int, np.ndarray]:
    """The joint model's LP relaxation by HiGHS, solved lexicographically, and
    a service plan rounded from its vertex.

    Columns: x per service option, c per case-manager option, y per (student,
    provider) used more than once (x <= y and c <= y: one seat per distinct
    student), seats s (0..1, convex increments). Rows: one provider per pair,
    one case manager per student, seats per provider, an own-provider case
    manager only as far as that provider serves (c <= sum of x), minutes.
    LP 1 maximizes pairs served; LP 2 keeps that many (rounded down) and
    maximizes case managers; LP 3 keeps both and minimizes cost. Every integer
    plan is feasible for the LPs, so each optimum bounds its level.

    Returns the rounded service plan, the pairs-served and students-placed
    bounds, the cost bound (milli-points, without the other-load constant) and
    the LP's service columns x (one per service option).
    """
    n_p, n_s, n_e = problem.n_pairs, problem.n_students, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    st = problem.edge_student.astype(np.int64)
    e_cost, e_base = _edge_costs(problem, params)
    c_cost, c_base = _cm_costs(problem, params)
    could = _cm_could_serve(problem)
    keep = could | (problem.cm_kind == COORDINATOR)  # an own option that can never serve
    opts = np.nonzero(keep)[0]
    cs, ce, ck = problem.cm_student[opts], problem.cm_provider[opts], problem.cm_kind[opts]
    n_x, n_c = len(ep), len(opts)
    # Uses of each (student, provider) key: service options, then case-manager options.
    use_key = np.concatenate([st * n_e + ee, cs.astype(np.int64) * n_e + ce])
    ukey, inv, cnt = np.unique(use_key, return_inverse=True, return_counts=True)
    multi = cnt[inv] > 1
    mkeys, minv = np.unique(ukey[inv[multi]], return_inverse=True)
    n_y = len(mkeys)
    wanted = np.bincount(ukey % n_e, minlength=n_e)
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    n_seat = len(seat_e)
    xc, cc = np.arange(n_x), n_x + np.arange(n_c)
    yc, sc = n_x + n_c + np.arange(n_y), n_x + n_c + n_y + np.arange(n_seat)
    n_col = n_x + n_c + n_y + n_seat
    use_col = np.concatenate([xc, cc])
    use_prov = np.concatenate([ee, ce])
    # Row blocks.
    r_pair, r_stud = 0, n_p
    r_seat = r_stud + n_s
    r_link = r_seat + n_e
    n_link = int(multi.sum())
    own = np.nonzero(ck == OWN)[0]
    r_own = r_link + n_link
    has_min = np.isfinite(problem.minutes_capacity)
    r_min = r_own + len(own)
    n_row = r_min + int(has_min.sum())
    R, C, V = [], [], []

    def put(rows: ArrayLike, cols: ArrayLike, vals: ArrayLike) -> None:
        R.append(np.asarray(rows, dtype=np.int64))
        C.append(np.asarray(cols, dtype=np.int64))
        V.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), len(R[-1])))

    put(r_pair + ep, xc, 1.0)
    put(r_stud + cs, cc, 1.0)
    single = ~multi
    put(r_seat + use_prov[single], use_col[single], 1.0)
    put(r_seat + mkeys % n_e, yc, 1.0)
    put(r_seat + seat_e, sc, -1.0)
    put(r_link + np.arange(n_link), use_col[multi], 1.0)
    put(r_link + np.arange(n_link), yc[minv], -1.0)
    # Own-provider case manager: c <= sum of x over the student's pairs at that provider.
    put(r_own + np.arange(len(own)), cc[own], 1.0)
    okey = cs[own].astype(np.int64) * n_e + ce[own]
    xkey = st * n_e + ee
    order = np.argsort(okey, kind="stable")
    pos = np.searchsorted(okey[order], xkey)
    pos_c = np.minimum(pos, max(len(own) - 1, 0))
    hit = (pos < len(own)) & (okey[order][pos_c] == xkey) if len(own) else np.zeros(
        n_x, dtype=bool)
    put(r_own + order[pos_c[hit]], xc[hit], -1.0)
    mrow = np.cumsum(has_min) - 1
    mx = has_min[ee] & (problem.pair_minutes[ep] > 0)
    put(r_min + mrow[ee[mx]], xc[mx], problem.pair_minutes[ep[mx]])
    Ra, Ca, Va = np.concatenate(R), np.concatenate(C), np.concatenate(V)
    order = np.lexsort((Ra, Ca))
    Ra, Ca, Va = Ra[order], Ca[order], Va[order]
    start = np.searchsorted(Ca, np.arange(n_col + 1))

    row_hi = np.zeros(n_row)
    row_hi[:r_seat] = 1.0
    row_hi[r_min:] = problem.minutes_capacity[has_min]
    obj3 = np.zeros(n_col)
    obj3[xc] = e_cost
    obj3[cc] = c_cost[opts]
    obj3[sc] = seat_cost
    served, placed, lp_cost, x = _run_highs(
        n_col, start, Ra, Va, row_hi, n_x, n_c, obj3,
        max(1.0, deadline - time.perf_counter()))
    # HiGHS's optimum is within its tolerances (1e-7); take a little off
    # before rounding up to whole milli-points.
    cost_bound = int(math.ceil(lp_cost - 1e-6 * max(1.0, abs(lp_cost)))) + e_base + c_base
    return _round_lp(problem, x, e_cost), served, placed, cost_bound, x


def _components(problem: ServiceProblem) -> tuple[np.ndarray, np.ndarray]:
    """Connected component of every pair and provider in the service graph
    (label = smallest node index; pairs first, then providers)."""
    n_p = problem.n_pairs
    labels = np.arange(n_p + problem.n_providers, dtype=np.int64)
    u, v = problem.edge_pair, problem.edge_provider + n_p
    for _ in range(200):
        m = np.minimum(labels[u], labels[v])
        new = labels.copy()
        np.minimum.at(new, u, m)
        np.minimum.at(new, v, m)
        new = new[new][new[new]]
        if np.array_equal(new, labels):
            break
        labels = new
    return labels[:n_p], labels[n_p:]


def _restrict(problem: ServiceProblem, pair_mask: np.ndarray
              ) -> tuple[ServiceProblem, np.ndarray]:
    """The services of some pairs only (no case managers): a sub-problem and
    the indexes of its service options in the whole problem."""

    keep = np.nonzero(pair_mask)[0]
    new_index = np.full(problem.n_pairs, -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    edges = np.nonzero(pair_mask[problem.edge_pair])[0]
    empty = np.zeros(0, dtype=np.int64)
    none = np.full(problem.n_students, -1, dtype=np.int64)
    sub = dataclasses.replace(
        problem, current_cm=none, published_cm=none,
        pair_student=problem.pair_student[keep], pair_service=problem.pair_service[keep],
        pair_minutes=problem.pair_minutes[keep], pair_current=problem.pair_current[keep],
        pair_published=problem.pair_published[keep],
        edge_pair=new_index[problem.edge_pair[edges]],
        edge_provider=problem.edge_provider[edges], edge_rank=problem.edge_rank[edges],
        cm_student=empty, cm_provider=empty, cm_kind=empty, cm_rank=empty)
    return sub, edges


def _decomposed(problem: ServiceProblem, params: ServiceParams, deadline: float,
                minutes: bool) -> tuple[np.ndarray, int, int, int, list[str]]:
    """Service families apart, then case managers: a plan and a bound that
    scale to a whole district.

    Service families meet only at providers, so each connected component of
    the service graph is independent. Components with a minute capacity (and
    ``minutes``) go to one services-only LP (HiGHS); the others to a
    services-only min-cost flow (exact without shared options; with them a
    relaxed flow bounds and a seat-per-pair flow plans). The case-manager bound
    is a flow of case managers alone in which every own option that could be
    free is free and coordinators may take any seat: by convexity the balance
    of a whole plan is at least the services' increments plus the case
    managers' increments, each counted from other_load.

    Returns the service plan (from the LP's vertex and the flow), pairs-served
    and students-placed bounds, the cost bound (without the other-load
    constant) and notes.
    """
    notes = []
    n_e = problem.n_providers
    e_cost, _ = _edge_costs(problem, params)
    labels_p, labels_e = _components(problem)
    pm = np.zeros(problem.n_pairs, dtype=bool)
    if minutes:
        timed = np.isfinite(problem.minutes_capacity)
        comp = np.zeros(problem.n_pairs + n_e, dtype=bool)
        comp[labels_e[timed]] = True
        pm = comp[labels_p]
    x = np.zeros(len(problem.edge_pair))
    served = cost = 0
    if (~pm).any():
        sub, edges = _restrict(problem, ~pm)
        plan_p, served_f, cost_f = _service_flow(sub, params, relax_shared=False)
        if sub.shared_options().any():
            _, served_f, cost_f = _service_flow(sub, params, relax_shared=True)
        chosen = plan_p[sub.edge_pair] == sub.edge_provider
        x[edges[chosen]] = 1.0
        served += served_f
        cost += cost_f
        notes.append(f"{int((~pm).sum())} service rows without minute limits: min-cost flow")
    if pm.any():
        sub, edges = _restrict(problem, pm)
        _, served_m, _, cost_m, x_m = _service_lp(sub, params, deadline)
        x[edges] = x_m
        served += served_m
        cost += cost_m
        notes.append(f"{int(pm.sum())} service rows under minute capacities: LP relaxation "
                     "(HiGHS), its vertex rounded and repaired")
    provider = _round_lp(problem, x, e_cost)
    _, placed, c_cost = _cm_flow(problem, params, _cm_could_serve(problem),
                                 problem.other_load)
    return provider, served, placed, cost + c_cost, notes


#: What the child returns: pairs served, students placed, LP 3's optimum, x.
_LpAnswer = tuple[int, int, float, np.ndarray]


def _run_highs(n_col: int, start: np.ndarray, index: np.ndarray, value: np.ndarray,
               row_hi: np.ndarray, n_x: int, n_c: int, cost: np.ndarray,
               seconds: float) -> _LpAnswer:
    """Solve the three LPs in a separate Python process.

    OR-Tools bundles its own HiGHS, and its symbols clash with highspy's when
    both libraries are loaded in one process; so highspy runs in a child that
    never imports OR-Tools (:mod:`optimizer.planning.solvers.highs_child`,
    shared with the weighted case-manager LP).
    OR-Tools' own LP solvers were measured against this and were slower
    (docs/service-caseloads.md, section 3 C).
    """

    args = (n_col, start, index, value, row_hi, n_x, n_c, cost, seconds)
    served, placed, lp_cost, x = highs_child.call(
        "optimizer.planning.solvers.services:_highs_lexicographic", *args)
    return int(served), int(placed), float(lp_cost), np.asarray(x)


def _highs_lexicographic(n_col: int, start: np.ndarray, index: np.ndarray,
                         value: np.ndarray, row_hi: np.ndarray, n_x: int, n_c: int,
                         cost: np.ndarray, seconds: float) -> _LpAnswer:
    """(In the child process.) LP 1 most pairs served, LP 2 most case managers
    with at least that many pairs (rounded down), LP 3 least cost with both;
    warm-started from each other. Returns both counts, the LP 3 optimum and x."""
    import highspy  # only in the child process (see _run_highs)

    deadline = time.perf_counter() + seconds
    n_row = len(row_hi)
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    obj = np.zeros(n_col)
    obj[:n_x] = -1.0
    lp.col_cost_ = obj
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.ones(n_col)
    lp.row_lower_ = np.full(n_row, -highspy.kHighsInf)
    lp.row_upper_ = row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = index.astype(np.int32)
    lp.a_matrix_.value_ = value
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)

    def run(what: str) -> float:
        h.setOptionValue("time_limit", max(1.0, deadline - time.perf_counter()))
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS {what} ended with {h.modelStatusToString(status)}")
        return h.getInfo().objective_function_value

    xc = np.arange(n_x, dtype=np.int32)
    cc = np.arange(n_x, n_x + n_c, dtype=np.int32)
    every = np.arange(n_col, dtype=np.int32)
    served = int(math.floor(-run("LP 1 (pairs served)") + 1e-6))
    h.addRow(served - 1e-7, highspy.kHighsInf, n_x, xc, np.ones(n_x))
    obj = np.zeros(n_col)
    obj[n_x:n_x + n_c] = -1.0
    h.changeColsCost(n_col, every, obj)
    placed = 0
    if n_c:
        placed = int(math.floor(-run("LP 2 (case managers placed)") + 1e-6))
        h.addRow(placed - 1e-7, highspy.kHighsInf, n_c, cc, np.ones(n_c))
    h.changeColsCost(n_col, every, np.asarray(cost, dtype=np.float64))
    lp_cost = run("LP 3 (cost)")
    x = np.asarray(h.getSolution().col_value)[:n_x].copy()
    return served, placed, lp_cost, x


def _round_lp(problem: ServiceProblem, x: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """A feasible plan from the LP's vertex: keep every pair the LP serves
    wholly, then place the rest (largest LP share first, cheapest next) where
    a seat and the minutes allow, then any unserved pair that now fits."""
    n_p, n_e = problem.n_pairs, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    provider = np.full(n_p, -1, dtype=np.int64)
    whole = x > 1 - 1e-6
    provider[ep[whole]] = ee[whole]
    free_seats = problem.cap - problem.other_load - _distinct_served(problem, provider)
    minutes_left = problem.minutes_capacity - minutes_served(problem, provider)
    serving = set((problem.pair_student[provider >= 0].astype(np.int64) * n_e
                   + provider[provider >= 0]).tolist())
    todo = np.setdiff1d(np.arange(n_p), ep[whole])
    share = np.zeros(n_p)
    np.maximum.at(share, ep, x)
    todo = todo[np.argsort(-share[todo], kind="stable")]
    first, last = np.searchsorted(ep, todo), np.searchsorted(ep, todo, side="right")
    for p, a, b in zip(todo.tolist(), first.tolist(), last.tolist(), strict=True):
        cand = np.arange(a, b)
        if not len(cand):
            continue
        cand = cand[np.lexsort((cost[cand], -x[cand]))]
        s = int(problem.pair_student[p])
        m = problem.pair_minutes[p]
        for j in cand.tolist():
            e = int(ee[j])
            k = s * n_e + e
            if minutes_left[e] + 1e-9 < m:
                continue
            if k not in serving and free_seats[e] < 1:
                continue
            provider[p] = e
            minutes_left[e] -= m
            if k not in serving:
                serving.add(k)
                free_seats[e] -= 1
            break
    return provider


# ------------------------------------------------------------------- solve


def solve_services(problem: ServiceProblem, params: ServiceParams | None = None
                   ) -> ServiceSolution:
    """Plan providers and case managers, with a proven lexicographic bound.

    Parameters
    ----------
    problem
        A :class:`ServiceProblem`.
    params
        :class:`ServiceParams`.

    Returns
    -------
    ServiceSolution
        Provider per pair, case manager per student, status, the objective's
        terms, the proven bound, gap, runtimes and notes.

    Examples
    --------
    >>> sol = solve_services(problem)         # doctest: +SKIP
    >>> sol.status, sol.objective             # doctest: +SKIP
    ('optimal', (0, 0, 123456))
    """
    params = params or ServiceParams()
    runtime: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()
    deadline = t0 + params.time_limit
    minutes = params.use_minutes and problem.has_minute_capacities
    any_shared = bool(problem.shared_options().any()) if len(problem.edge_pair) else False
    edge_cost, _ = _edge_costs(problem, params)
    best: list = []  # [key, provider, case manager] of the best plan so far
    bounds: list[tuple[int, int, int]] = []  # (served, placed, cost) lower bounds

    def consider(cand: np.ndarray) -> None:
        if any_shared:
            cand = _attach_shared(problem, cand, edge_cost)
        start = problem.other_load + _distinct_served(problem, cand)
        if np.any(start > np.maximum(problem.cap, problem.other_load)):
            return  # a relaxed flow that counted a shared student twice as once
        cm, _, _ = _cm_flow(problem, params, _cm_serves(problem, cand), start)
        t = evaluate(problem, params, cand, cm)
        key = (t["unserved"], t["unplaced"], t["cost"])
        if not best or key < best[0]:
            best[:] = [key, cand, cm]

    def tightest() -> tuple[int, int, int]:
        # Each bound is a valid lexicographic lower bound, so the largest is too.
        return max(bounds, key=lambda b: (-b[0], -b[1], b[2]))

    def proven() -> bool:
        if not best:
            return False
        served, placed, cost = tightest()
        u, v, c = best[0]
        return (u == problem.n_pairs - served and v == problem.n_students - placed
                and c <= cost + const)

    const = _balance_milli(problem.cap, problem.other_load, params.balance)
    if not minutes:
        joint_p, _, served_b, placed_b, cost_b, valid, unbacked = _joint_flow(problem, params)
        runtime["joint_flow"] = time.perf_counter() - t0
        bounds.append((served_b, placed_b, cost_b))
        consider(joint_p)
        notes.append("one min-cost flow of services and case managers together (a "
                     "relaxation: an own-provider case manager is free there even where "
                     "the plan does not make them a provider)"
                     + ("; its solution is a valid plan" if valid else ""))
        t1 = time.perf_counter()
        # Plans from the same network, nudged: pairs that are a student's only
        # way to an own-provider case manager first, then good case managers.
        for bonus in (_critical_bonus(problem, params) + _cm_bonus(problem, params),
                      _critical_bonus(problem, params)):
            if not proven() and time.perf_counter() < deadline:
                consider(_joint_flow(problem, params, bonus=bonus,
                                     levels=(served_b, placed_b))[0])
        blocked = unbacked.copy()
        for _ in range(params.repair_rounds):
            if proven():
                break
            # Plans, not bounds: forbid the free case managers the flow took
            # without serving the student, and solve again.
            # Block every own option of those students whose provider does not
            # serve them in this flow, not just the one it took.
            students = np.zeros(problem.n_students, dtype=bool)
            students[problem.cm_student[unbacked]] = True
            blocked |= students[problem.cm_student] & ~_cm_serves(problem, joint_p) & (
                problem.cm_kind == OWN)
            joint_p, *_, unbacked = _joint_flow(problem, params, blocked)
            consider(joint_p)
        runtime["joint_flow_repairs"] = time.perf_counter() - t1
        if not proven() and params.lagrangian_rounds and best:
            t1 = time.perf_counter()
            lag, n_flows = _lagrangian_bound(problem, params, served_b, placed_b,
                                             best[0][2] - const, deadline,
                                             params.lagrangian_rounds)
            bounds.append((served_b, placed_b, lag))
            notes.append(f"cost bound raised by Lagrangian relaxation ({n_flows} flows): an "
                         "own-provider case manager is priced until it serves")
            runtime["lagrangian"] = time.perf_counter() - t1
        if not proven() and problem.n_pairs <= params.lp_max_pairs:
            # Small districts only: these rarely win once the nudged joint flows ran.
            t1 = time.perf_counter()
            consider(_service_flow(problem, params, relax_shared=False)[0])
            # Tie-broken towards free own-provider case managers.
            consider(_service_flow(problem, params, relax_shared=False,
                                   bonus=_cm_bonus(problem, params))[0])
            # ...and as if coordinators were full: serve first the pairs whose
            # provider is the student's only possible case manager.
            consider(_service_flow(problem, params, relax_shared=False,
                                   bonus=_critical_bonus(problem, params))[0])
            runtime["services_flows"] = time.perf_counter() - t1
    if minutes or not proven():
        t1 = time.perf_counter()
        lp_done = False
        if params.lp_bound and problem.n_pairs <= params.lp_max_pairs:
            # The LP says "an own provider only as far as they serve", which no
            # flow can: the tightest bound, and one more candidate plan.
            try:
                lp_p, lp_served, lp_placed, lp_cost, _ = _service_lp(problem, params,
                                                                     deadline)
                bounds.append((lp_served, lp_placed, lp_cost))
                consider(lp_p)
                lp_done = True
                notes.append("joint LP relaxation (HiGHS), solved lexicographically; "
                             "its vertex rounded and repaired is a candidate plan")
            except RuntimeError as exc:
                notes.append(f"joint LP not used: {exc}")
            runtime["joint_lp"] = time.perf_counter() - t1
        if not lp_done and minutes:
            # (With count caps the joint flow's bound is at least as tight at
            # the first level and usually at the others: families apart only
            # for minute capacities.)
            t1 = time.perf_counter()
            dec_p, dec_served, dec_placed, dec_cost, dec_notes = _decomposed(
                problem, params, deadline, minutes)
            bounds.append((dec_served, dec_placed, dec_cost))
            consider(dec_p)
            notes.extend(dec_notes)
            notes.append("bound: service families apart plus a relaxed case-manager flow")
            runtime["decomposed"] = time.perf_counter() - t1
    _, provider, cm = best
    served_bound, placed_bound, cost_bound = tightest()
    notes.append("case managers: min-cost flow given the providers (exact given them)")

    terms = evaluate(problem, params, provider, cm)
    bound = {"unserved": problem.n_pairs - served_bound,
             "unplaced": problem.n_students - placed_bound,
             "cost": cost_bound + const}
    levels_met = (terms["unserved"] == bound["unserved"]
                  and terms["unplaced"] == bound["unplaced"])
    gap = None
    if levels_met:
        gap = (terms["cost"] - bound["cost"]) / max(1, terms["cost"])
    status = "optimal" if levels_met and terms["cost"] <= bound["cost"] else "feasible"
    runtime["total"] = time.perf_counter() - t0
    return ServiceSolution(
        provider=provider, case_manager=cm, status=status,
        terms=MappingProxyType(terms), bound=MappingProxyType(bound), gap=gap,
        runtime=MappingProxyType(runtime), notes=tuple(notes),
        extra=MappingProxyType({"shared_options": any_shared, "minutes": minutes}))
