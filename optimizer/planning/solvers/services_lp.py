"""Service caseloads, the LP bounds: the joint LP relaxation by HiGHS (in a
child process), service families apart, and the rounding of an LP vertex
into a plan.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time

import numpy as np
from numpy.typing import ArrayLike

from optimizer.arraysets import member, stable_order
from optimizer.planning.solvers import highs_child
from optimizer.planning.solvers.services_flows import (
    _cm_bonus,
    _cm_flow,
    _critical_bonus,
    _seats,
    _service_flow,
)
from optimizer.planning.solvers.services_objective import (
    ServiceParams,
    _cm_costs,
    _cm_could_serve,
    _distinct_served,
    _edge_costs,
    minutes_served,
)
from optimizer.planning.solvers.services_pool import pool_shape
from optimizer.planning.solvers.services_problem import COORDINATOR, OWN, ServiceProblem

# ---------------------------------------------------------- minute capacities


@dataclasses.dataclass(frozen=True)
class _JointModel:
    """The joint model's columns and rows (see :func:`_service_lp`), column-wise:
    ``start``, ``index``, ``value``; rows bounded above by ``row_hi`` (below by
    0 or -inf, as :func:`highs_child.pass_columnwise` sets); ``cost`` per column
    (milli-points, LP 3); the first ``n_x`` columns are the service options,
    the next ``n_c`` the case-manager options ``opts`` (indexes in the
    problem's), then ``n_y`` distinct-student links, then the seats."""

    n_col: int
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    row_hi: np.ndarray
    n_x: int
    n_c: int
    n_y: int
    cost: np.ndarray
    opts: np.ndarray
    base: int  # the cost constant of the option columns (see _edge_costs, _cm_costs)
    col_hi: np.ndarray  # upper bound per column (1, or a pool's size; all >= 0)
    # Case-manager columns that also serve a pair (:func:`_compact_model`'s
    # substitution): they count as pairs served, and the service option
    # ``merged_x`` of each is its column's value plus theirs.
    merged: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    merged_x: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))


class _Entries:
    """The nonzeros of a model's matrix, put in block by block (rows,
    columns, values: broadcast), read back column-wise for HiGHS."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []

    def put(self, rows: ArrayLike, cols: ArrayLike, vals: ArrayLike) -> None:
        self.rows.append(np.asarray(rows, dtype=np.int64))
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=np.float64),
                                         len(self.rows[-1])))

    def copy_columns(self, source: np.ndarray, target: np.ndarray) -> None:
        """Add column ``source[k]``'s entries to column ``target[k]`` (each
        source column at most once)."""
        r, c, v = (np.concatenate(self.rows), np.concatenate(self.cols),
                   np.concatenate(self.vals))
        to = np.full(int(c.max(initial=-1)) + 1, -1, dtype=np.int64)
        to[source] = target
        hit = np.nonzero(to[c] >= 0)[0] if len(c) else np.zeros(0, dtype=np.int64)
        self.put(r[hit], to[c[hit]], v[hit])

    def drop_rows(self, keep: np.ndarray) -> None:
        """Remove the rows where ``keep`` is False (their entries too) and
        number the others in order."""
        r, c, v = (np.concatenate(self.rows), np.concatenate(self.cols),
                   np.concatenate(self.vals))
        new_row = np.cumsum(keep) - 1
        hit = keep[r]
        self.rows, self.cols, self.vals = [new_row[r[hit]]], [c[hit]], [v[hit]]

    def columnwise(self, n_col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``start``, ``index`` (rows), ``value``, columns in order."""
        r, c, v = (np.concatenate(self.rows), np.concatenate(self.cols),
                   np.concatenate(self.vals))
        order = np.lexsort((r, c))
        return np.searchsorted(c[order], np.arange(n_col + 1)), r[order], v[order]


def _own_of(own_key: np.ndarray, xkey: np.ndarray) -> np.ndarray:
    """For each service option (by its (student, provider) key), the own
    case-manager option of the same key (index into ``own_key``; -1: none)."""
    if not len(own_key):
        return np.full(len(xkey), -1, dtype=np.int64)
    order = stable_order(own_key)
    pos = np.minimum(np.searchsorted(own_key[order], xkey), len(own_key) - 1)
    return np.where(own_key[order][pos] == xkey, order[pos], -1)


def _single_option(own_key: np.ndarray, xkey: np.ndarray) -> np.ndarray:
    """For each own case-manager option, the service option of its key when
    the key has exactly one (index into ``xkey``; -1: none, or several)."""
    if not len(xkey):
        return np.full(len(own_key), -1, dtype=np.int64)
    order = stable_order(xkey)
    keys = xkey[order]
    first = np.searchsorted(keys, own_key, side="left")
    after = np.searchsorted(keys, own_key, side="right")
    return np.where(after - first == 1, order[np.minimum(first, len(keys) - 1)], -1)


def _minute_rows(problem: ServiceProblem, params: ServiceParams) -> np.ndarray:
    """Providers with a minute row: only where the plan honours minutes
    (``use_minutes``), as a row the plan may break would make the bound too
    tight."""
    return np.isfinite(problem.minutes_capacity) & params.use_minutes


def _put_minutes(m: _Entries, problem: ServiceProblem, has_min: np.ndarray, r_min: int,
                 xc: np.ndarray) -> None:
    """Each service option's minutes in its provider's minute row."""
    ep, ee = problem.edge_pair, problem.edge_provider
    mrow = np.cumsum(has_min) - 1
    mx = has_min[ee] & (problem.pair_minutes[ep] > 0)
    m.put(r_min + mrow[ee[mx]], xc[mx], problem.pair_minutes[ep[mx]])


def _row_hi(problem: ServiceProblem, n_row: int, r_seat: int, r_min: int,
            has_min: np.ndarray) -> np.ndarray:
    """Row upper bounds: 1 for the pair and student rows, the minute
    capacities, 0 for the rest."""
    row_hi = np.zeros(n_row)
    row_hi[:r_seat] = 1.0
    row_hi[r_min:] = problem.minutes_capacity[has_min]
    return row_hi


def _joint_model(problem: ServiceProblem, params: ServiceParams) -> _JointModel:
    """The columns and rows of the joint model (LP and MIP alike)."""
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
    # Link rows: each service option of a shared key <= its y; the case-manager
    # options of a key together <= y (a student has one case manager, so one
    # row for all of them is valid, and tighter: measured at 100,000 students,
    # the LP otherwise makes a provider half own case manager and half
    # coordinator of a student it half serves, on half a seat -- 1 % under
    # the optimum on a 2,765-pair part, which this row closes).
    m_use = np.nonzero(multi)[0]
    x_use, x_y = m_use[m_use < n_x], minv[m_use < n_x]
    c_use, c_y = m_use[m_use >= n_x], minv[m_use >= n_x]
    c_keys, c_row = np.unique(c_y, return_inverse=True)
    n_link = len(x_use) + len(c_keys)
    own = np.nonzero(ck == OWN)[0]
    r_own = r_link + n_link
    has_min = _minute_rows(problem, params)
    r_min = r_own + len(own)
    n_row = r_min + int(has_min.sum())
    ent = _Entries()
    put = ent.put
    put(r_pair + ep, xc, 1.0)
    put(r_stud + cs, cc, 1.0)
    single = ~multi
    put(r_seat + use_prov[single], use_col[single], 1.0)
    put(r_seat + mkeys % n_e, yc, 1.0)
    put(r_seat + seat_e, sc, -1.0)
    put(r_link + np.arange(len(x_use)), use_col[x_use], 1.0)
    put(r_link + np.arange(len(x_use)), yc[x_y], -1.0)
    put(r_link + len(x_use) + c_row, use_col[c_use], 1.0)
    put(r_link + len(x_use) + np.arange(len(c_keys)), yc[c_keys], -1.0)
    # Own-provider case manager: c <= sum of x over the student's pairs at that provider.
    put(r_own + np.arange(len(own)), cc[own], 1.0)
    own_of = _own_of(cs[own].astype(np.int64) * n_e + ce[own], st * n_e + ee)
    hit = own_of >= 0
    put(r_own + own_of[hit], xc[hit], -1.0)
    _put_minutes(ent, problem, has_min, r_min, xc)
    start, Ra, Va = ent.columnwise(n_col)
    row_hi = _row_hi(problem, n_row, r_seat, r_min, has_min)
    obj3 = np.zeros(n_col)
    obj3[xc] = e_cost
    obj3[cc] = c_cost[opts]
    obj3[sc] = seat_cost
    return _JointModel(n_col, start, Ra, Va, row_hi, n_x, n_c, n_y, obj3, opts,
                       e_base + c_base, np.ones(n_col))


def _compact_model(problem: ServiceProblem, params: ServiceParams, *,
                   merge_own: bool = True) -> _JointModel:
    """The joint LP with the same optimum at every level and about half the
    columns (for the LP only: its case-manager columns are not one per option,
    so no plan is read from them).

    Three changes to :func:`_joint_model`:

    - A coordinator option at a provider who has an own option for the student
      at no higher cost (the same provider: continuity and change are the
      same, so the ranks decide) takes a seat of its own, not linked to the
      provider's services: the only plans that this charges twice are those
      where that provider serves the student *and* is their coordinator, and
      :func:`evaluate` prices such a case manager as the own option, which
      takes no seat. So no plan's cost is raised and none is lowered.
    - Coordinator options taking a seat of their own go through pools
      (services_pool, as in the flows): students with the same set of
      coordinators share one pool, one column per student into it at the
      student's generic cost and one per coordinator out of it.
    - Where a (student, provider) key has one service option x and an own
      case-manager option c, the row c <= x goes by a change of variables
      (x = z + c, see the code): the same LP with fewer rows (a key has
      one own option: ``ServiceProblem.from_arrays`` refuses a repeated
      student, provider and kind). ``merge_own=False`` keeps the rows, for
      the tests.

    A key (student, provider) keeps a link column only where the provider may
    give the student two services or may coordinate them with a seat shared
    with a service; there the case-manager options of the key together are
    at most that link (the tightening of :func:`_joint_model`).

    Measured at 100,000 students, on a 3,421-pair part: 79,659 -> 31,708
    columns, 39,626 -> 17,654 rows, the three LPs 3.0 -> 0.96 s, the same
    optimum at each level; over the district's 38 chunks, about 150 -> 35
    CPU seconds. The third change then took a 2,914-pair part's rows from
    15,165 to 5,728, and the district's LPs from 19.9 to 18.0 CPU seconds
    (the rows it drops were the simplex's easy ones).
    """
    n_p, n_s, n_e = problem.n_pairs, problem.n_students, problem.n_providers
    ep, ee = problem.edge_pair, problem.edge_provider
    st = problem.edge_student.astype(np.int64)
    e_cost, e_base = _edge_costs(problem, params)
    c_cost, c_base = _cm_costs(problem, params)
    could = _cm_could_serve(problem)
    cs_all = problem.cm_student.astype(np.int64)
    ok = problem.cm_kind == OWN
    own = np.nonzero(ok & could)[0]
    coord = np.nonzero(problem.cm_kind == COORDINATOR)[0]
    key_all = cs_all * n_e + problem.cm_provider
    # The cheapest own option of each key, and the coordinators it dominates.
    okeys = np.unique(key_all[own])
    ocost = np.full(len(okeys), np.iinfo(np.int64).max)
    np.minimum.at(ocost, np.searchsorted(okeys, key_all[own]), c_cost[own])
    ckey = key_all[coord]
    pos = np.minimum(np.searchsorted(okeys, ckey), max(len(okeys) - 1, 0))
    dominated = ((okeys[pos] == ckey) & (ocost[pos] <= c_cost[coord])) if len(okeys) else \
        np.zeros(len(coord), dtype=bool)
    linked = coord[could[coord] & ~dominated]
    apart = coord[~(could[coord] & ~dominated)]
    shape = pool_shape(problem.cm_student, problem.cm_provider, c_cost, apart)
    n_x = len(ep)
    # Case-manager columns: own, linked, direct apart, pooled students.
    n_own, n_lk, n_dir = len(own), len(linked), len(shape.direct_option)
    n_pool_s, n_mem = len(shape.pooled_student), len(shape.member_pool)
    n_c = n_own + n_lk + n_dir + n_pool_s
    c_student = np.concatenate([cs_all[own], cs_all[linked], shape.direct_student,
                                shape.pooled_student])
    # Keys that need a link column: two or more service options, or a linked
    # coordinator beside a service option.
    xkey = st * n_e + ee
    lkey = key_all[linked]
    ux, nx = np.unique(xkey, return_counts=True)
    need = np.union1d(ux[nx > 1], np.intersect1d(ux, lkey))
    n_y = len(need)
    x_in = member(xkey, need)
    lk_pos = np.searchsorted(need, lkey)
    own_key = key_all[own]
    own_in = member(own_key, need)
    wanted = (np.bincount(ux % n_e, minlength=n_e) + np.bincount(problem.cm_provider[coord],
                                                                 minlength=n_e))
    seat_e, seat_cost = _seats(problem, problem.other_load, wanted, params.balance)
    n_seat = len(seat_e)
    xc = np.arange(n_x)
    c0 = n_x
    oc, lc = c0 + np.arange(n_own), c0 + n_own + np.arange(n_lk)
    dc = c0 + n_own + n_lk + np.arange(n_dir)
    pc = c0 + n_own + n_lk + n_dir + np.arange(n_pool_s)
    yc = n_x + n_c + np.arange(n_y)
    sc = n_x + n_c + n_y + np.arange(n_seat)
    mc = n_x + n_c + n_y + n_seat + np.arange(n_mem)
    n_col = n_x + n_c + n_y + n_seat + n_mem
    # Row blocks.
    r_pair, r_stud = 0, n_p
    r_seat = r_stud + n_s
    r_xl = r_seat + n_e                  # x <= y, one per service option of a linked key
    n_xl = int(x_in.sum())
    r_cl = r_xl + n_xl                   # own + linked coordinators of a key <= y
    r_own = r_cl + n_y
    r_pool = r_own + n_own               # pooled students <= their pool's seats
    has_min = _minute_rows(problem, params)
    r_min = r_pool + shape.n_pools
    n_row = r_min + int(has_min.sum())
    ent = _Entries()
    put = ent.put
    put(r_pair + ep, xc, 1.0)
    put(r_stud + c_student, c0 + np.arange(n_c), 1.0)
    # Seats: a service option of an unlinked key, a link, a coordinator apart.
    put(r_seat + ee[~x_in], xc[~x_in], 1.0)
    put(r_seat + need % n_e, yc, 1.0)
    put(r_seat + shape.direct_provider, dc, 1.0)
    put(r_seat + shape.member_provider, mc, 1.0)
    put(r_seat + seat_e, sc, -1.0)
    xi = np.nonzero(x_in)[0]
    put(r_xl + np.arange(n_xl), xc[xi], 1.0)
    put(r_xl + np.arange(n_xl), yc[np.searchsorted(need, xkey[xi])], -1.0)
    put(r_cl + lk_pos, lc, 1.0)
    oi = np.nonzero(own_in)[0]
    put(r_cl + np.searchsorted(need, own_key[oi]), oc[oi], 1.0)
    put(r_cl + np.arange(n_y), yc, -1.0)
    # Own case manager <= the services of the student that provider gives.
    put(r_own + np.arange(n_own), oc, 1.0)
    own_of = _own_of(own_key, xkey)
    hit = own_of >= 0
    put(r_own + own_of[hit], xc[hit], -1.0)
    put(r_pool + shape.pooled_pool, pc, 1.0)
    put(r_pool + shape.member_pool, mc, -1.0)
    _put_minutes(ent, problem, has_min, r_min, xc)
    # Where the key has one service option x, "c <= x" becomes a change of
    # variables: x = z + c, z >= 0 (z: that provider serves the pair and is
    # not the case manager) in the x column's place. The own case manager's
    # column then carries x's entries too (the pair, its seat or link,
    # minutes, the pairs-served count) and its row goes: the same LP with
    # fewer rows (at 100,000 students, 9,437 of a part's 15,165; every
    # pair's "at most one provider" keeps z + c <= 1).
    one = _single_option(own_key, xkey)
    merged = np.nonzero(one >= 0)[0] if merge_own else np.zeros(0, dtype=np.int64)
    ent.copy_columns(xc[one[merged]], oc[merged])
    row_hi = _row_hi(problem, n_row, r_seat, r_min, has_min)
    keep = np.ones(n_row, dtype=bool)
    keep[r_own + merged] = False
    ent.drop_rows(keep)
    row_hi = row_hi[keep]
    start, Ra, Va = ent.columnwise(n_col)
    obj3 = np.zeros(n_col)
    obj3[xc] = e_cost
    obj3[oc] = c_cost[own]
    obj3[oc[merged]] += e_cost[one[merged]]
    obj3[lc] = c_cost[linked]
    obj3[dc] = shape.direct_cost
    obj3[pc] = shape.pooled_cost
    obj3[sc] = seat_cost
    col_hi = np.ones(n_col)
    col_hi[mc] = shape.member_cap
    return _JointModel(n_col, start, Ra, Va, row_hi, n_x, n_c, n_y, obj3,
                       np.zeros(0, dtype=np.int64), e_base + c_base, col_hi,
                       oc[merged], one[merged])


def _service_lp(problem: ServiceProblem, params: ServiceParams, deadline: float,
                bonus: np.ndarray | None = None, known: tuple[int, int] = (-1, -1),
                groups: list[tuple[np.ndarray, int]] | None = None
                ) -> tuple[np.ndarray, int, int, int | None, np.ndarray]:
    """The joint model's LP relaxation by HiGHS, solved lexicographically, and
    a service plan rounded from its vertex.

    Columns: x per service option, c per case-manager option, y per (student,
    provider) used more than once (x <= y and c <= y: one seat per distinct
    student), seats s (0..1, convex increments). Rows: one provider per pair,
    one case manager per student, seats per provider, an own-provider case
    manager only as far as that provider serves (c <= sum of x), minutes.
    LP 1 maximizes pairs served; LP 2 keeps that many (rounded down) and
    maximizes case managers; LP 3 keeps both and minimizes cost. Every integer
    plan is feasible for the LPs, so each optimum bounds its level. A level
    in ``known`` (pairs served, students placed; -1: not known) is taken as
    given, and its LP skipped: the caller passes levels that a relaxation
    bounds (met by a plan, or to be met: where no plan meets them, the
    levels are apart and only the first is a bound; an LP infeasible at them
    raises). ``groups``: (service options, pairs) such that every plan that
    serves the pairs of ``known`` serves at least that many pairs through
    each group's options (services_minutes.served_groups); rows of LPs 2-3.

    Returns the rounded service plan, the pairs-served and students-placed
    bounds, the cost bound (milli-points, without the other-load constant) and
    the LP's service columns x (one per service option).
    """
    e_cost, _ = _edge_costs(problem, params)
    m = _compact_model(problem, params)
    cost = m.cost
    if bonus is not None:  # (a plan only: its LP 3 then bounds nothing)
        e_cost = e_cost - bonus
        cost = cost.copy()
        cost[:m.n_x] -= bonus
        cost[m.merged] -= bonus[m.merged_x]
    served, placed, lp_cost, x = _run_highs(
        m.n_col, m.start, m.index, m.value, m.row_hi, m.n_x, m.n_c, cost,
        max(1.0, deadline - time.perf_counter()), m.col_hi, known, (m.merged, m.merged_x),
        groups)
    if bonus is not None:
        lp_cost = math.nan
    if math.isnan(lp_cost):
        # LP 3 ran out of time: the levels stand, no cost bound (the caller
        # says so and uses 0: every cost term is >= 0); x is LP 2's point.
        cost_bound: int | None = None
    else:
        # A safe dual bound (see _safe_dual_bound), rounded up to whole
        # milli-points after a millionth off for the sums' rounding.
        cost_bound = int(math.ceil(lp_cost - 1e-6)) + m.base
    return _round_lp(problem, x, e_cost, served), served, placed, cost_bound, x


def _service_mip(problem: ServiceProblem, params: ServiceParams, seconds: float
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """The joint model as a mixed-integer program by HiGHS, lexicographically:
    the exact plan of a small problem (a neighbourhood, services_neighbourhood).

    The columns and rows of :func:`_service_lp`, with the options and the
    distinct-student links integer (the seats may stay fractional: their
    costs increase, so the cheapest whole number of them is taken). MIP 1
    most pairs served; MIP 2 with that many, most case managers; MIP 3 with
    both, least cost, the best plan found in the time left (not always
    proven: the caller compares plans with :func:`evaluate`).

    Returns provider per pair and case manager per student, or None when
    HiGHS did not prove both levels within ``seconds``.
    """
    try:
        return _levels_by_mip(problem, params, None, seconds, cost_by_mip=True)[3]
    except RuntimeError:  # (the child failed: no plan from it, the caller keeps its own)
        return None


def _level_mip(problem: ServiceProblem, params: ServiceParams, served: int | None,
               seconds: float
               ) -> tuple[int, int, int | None, tuple[np.ndarray, np.ndarray] | None]:
    """The levels proven by HiGHS's MIP of the joint model: the most pairs
    served (unless ``served``, a level already proven, is given), with that
    many the most students who can have a case manager, and the cost bound
    at those levels.

    The joint LP's levels can be loose (a student placed by half a seat here
    and half there); the MIP closes them. Measured at 100,000 students: a
    part of 3,314 pairs whose LP said all 3,030 students could be placed,
    and whose plans placed 3,020, was proven at 3,020 in 12 s.

    Returns the most pairs served and the most students placed (upper
    bounds whatever happens: from HiGHS's dual bound when it runs out of
    time; -1 when it has none, or the first level was not proven), the cost
    bound (milli-points, with the option columns' constant; None unless both
    MIPs were solved and the LP of the cost at both levels too) and the
    MIP's plan (provider per pair, case manager per student; None when it
    found none).
    """
    return _levels_by_mip(problem, params, served, seconds, cost_by_mip=False)


def _levels_by_mip(problem: ServiceProblem, params: ServiceParams, served: int | None,
                   seconds: float, cost_by_mip: bool
                   ) -> tuple[int, int, int | None, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`_level_mip` (the cost bounded by its LP), or with ``cost_by_mip``
    the plan of :func:`_service_mip` (the cost by the MIP; no plan unless
    both levels are proven): the child's answer in the problem's indexes.
    HiGHS gets ``seconds``; its answer is awaited a second longer (its MIP
    has overrun its own limit; 2 s more where the call starts HiGHS's
    process, as in a forked child), then RuntimeError as when it fails."""
    m = _joint_model(problem, params)
    served_ub, placed, cost, x, c = highs_child.call(
        "optimizer.planning.solvers.services_lp:_highs_levels", m.n_col, m.start,
        m.index, m.value, m.row_hi, m.n_x, m.n_c, m.n_x + m.n_c + m.n_y, m.cost,
        -1 if served is None else served, seconds, cost_by_mip, timeout=seconds + 1.0)
    plan = None
    if x is not None:
        x, c = np.asarray(x), np.asarray(c)
        provider = np.full(problem.n_pairs, -1, dtype=np.int64)
        provider[problem.edge_pair[x > 0.5]] = problem.edge_provider[x > 0.5]
        cm = np.full(problem.n_students, -1, dtype=np.int64)
        cm[problem.cm_student[m.opts[c > 0.5]]] = problem.cm_provider[m.opts[c > 0.5]]
        plan = (provider, cm)
    cost_bound = None if math.isnan(cost) else int(math.ceil(cost - 1e-6)) + m.base
    return int(served_ub), int(placed), cost_bound, plan


def _highs_levels(n_col: int, start: np.ndarray, index: np.ndarray, value: np.ndarray,
                  row_hi: np.ndarray, n_x: int, n_c: int, n_int: int, cost: np.ndarray,
                  served: int, seconds: float, cost_by_mip: bool
                  ) -> tuple[int, int, float, np.ndarray | None, np.ndarray | None]:
    """(In the child process.) :func:`_levels_by_mip`: the MIP of the most
    pairs served (when ``served`` < 0), the MIP of the most case managers
    with that many, then, when both are solved, the cost: by the LP at both
    levels (its safe dual bound, see :func:`_highs_lexicographic`), or with
    ``cost_by_mip`` by the MIP (the best plan in the time left; no bound,
    and no plan at all unless both levels were solved)."""
    import highspy  # only in the child process (see _run_highs)

    deadline = time.perf_counter() + seconds
    n_row = len(row_hi)
    every = np.arange(n_col, dtype=np.int32)
    xc = np.arange(n_x, dtype=np.int32)
    cc = np.arange(n_x, n_x + n_c, dtype=np.int32)
    h = highs_child.one_thread_solver(highspy)
    integer = (np.arange(n_col) < n_int).astype(np.int32)  # 1: HighsVarType.kInteger
    highs_child.pass_columnwise(h, highspy, np.zeros(n_col), np.ones(n_col), row_hi, start,
                                index, value, integer)
    h.setOptionValue("mip_rel_gap", 0.0)  # (levels: whole counts, exactly)
    x = c = None

    def run(objective: np.ndarray, keep: bool = True) -> bool:
        # Solve with this objective (minimized) in the time left; keep the
        # plan found, if any (not an LP's point); whether it was solved.
        nonlocal x, c
        h.changeColsCost(n_col, every, objective)
        h.setOptionValue("time_limit", max(0.1, deadline - time.perf_counter()))
        h.run()
        if keep and h.getInfo().primal_solution_status == 2:  # (a feasible solution)
            values = np.asarray(h.getSolution().col_value)
            x, c = values[:n_x].copy(), values[n_x:n_x + n_c].copy()
        return bool(h.getModelStatus() == highspy.HighsModelStatus.kOptimal)

    def most(lo: int, hi: int) -> tuple[int, bool]:
        # The MIP maximizing the sum of columns lo..hi-1: an upper bound on
        # it (-1: none) and whether it was solved.
        solved = run(np.where((every >= lo) & (every < hi), -1.0, 0.0))
        dual = -h.getInfo().mip_dual_bound
        return (int(math.floor(dual + 1e-6)) if math.isfinite(dual) else -1), solved

    def unproven(served: int, placed: int
                 ) -> tuple[int, int, float, np.ndarray | None, np.ndarray | None]:
        # A level not proven: with cost_by_mip no plan (a plan of the first
        # level alone may serve a pair more and leave many without a case
        # manager); otherwise the bounds so far and the plan found.
        if cost_by_mip:
            return served, placed, math.nan, None, None
        return served, placed, math.nan, x, c

    if served < 0:
        served, solved = most(0, n_x)
        if not solved:
            return unproven(served, -1)
    h.addRow(served - 1e-7, highspy.kHighsInf, n_x, xc, np.ones(n_x))
    placed, solved = most(n_x, n_x + n_c) if n_c else (0, True)
    if not solved:
        return unproven(served, placed)
    h.addRow(placed - 1e-7, highspy.kHighsInf, n_c, cc, np.ones(n_c))
    if cost_by_mip:
        h.setOptionValue("mip_rel_gap", 1e-4)  # (cost: the best plan in time)
        run(np.asarray(cost, dtype=np.float64))
        return served, placed, math.nan, x, c
    # The cost at both levels: the LP relaxation with both rows, a bound on
    # every plan that serves and places that many.
    h.changeColsIntegrality(n_col, every, np.zeros(n_col, dtype=np.uint8))
    if not run(np.asarray(cost, dtype=np.float64), keep=False):
        return served, placed, math.nan, x, c
    sol = h.getSolution()
    lower = np.concatenate([np.full(n_row, -np.inf), [served - 1e-7], [placed - 1e-7]])
    upper = np.concatenate([row_hi, [np.inf], [np.inf]])
    lp_cost = _safe_dual_bound(start, index, value, np.asarray(cost, dtype=np.float64),
                               np.asarray(sol.row_dual, dtype=np.float64), lower, upper,
                               [xc, cc])
    return served, placed, lp_cost, x, c


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
                minutes: bool) -> tuple[list[np.ndarray], int, int, int, list[str]]:
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

    Returns two service plans (from the LP's vertex and the flow, plain and
    with services priced by what they save on the case manager), pairs-served
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
    # A second plan from the same relaxations with each service priced by
    # what it saves on the student's case manager (their bounds know no case
    # managers): at 20,000 students with minute capacities it left 1,128
    # students without a case manager where the plain rounding left 1,391.
    nudge = (_critical_bonus(problem, params) + _cm_bonus(problem, params)
             if len(problem.cm_student) else np.zeros(len(problem.edge_pair), dtype=np.int64))
    x_nudged = x.copy()
    served = cost = 0
    if (~pm).any():
        sub, edges = _restrict(problem, ~pm)
        plan_p, served_f, cost_f = _service_flow(sub, params, relax_shared=False)
        if sub.shared_options().any():
            _, served_f, cost_f = _service_flow(sub, params, relax_shared=True)
        chosen = plan_p[sub.edge_pair] == sub.edge_provider
        x[edges[chosen]] = 1.0
        plan_n = _service_flow(sub, params, relax_shared=False, bonus=nudge[edges])[0]
        x_nudged[edges[plan_n[sub.edge_pair] == sub.edge_provider]] = 1.0
        served += served_f
        cost += cost_f
        notes.append(f"{int((~pm).sum())} service rows without minute limits: min-cost flow")
    if pm.any():
        sub, edges = _restrict(problem, pm)
        try:
            _, served_m, _, lp_cost, x_m = _service_lp(sub, params, deadline)
            x_mn = x_m
            if nudge[edges].any() and time.perf_counter() < deadline:
                # (The nudged plan only: if its LP fails, the plain one stands.)
                with contextlib.suppress(RuntimeError):
                    x_mn = _service_lp(sub, params, deadline, bonus=nudge[edges])[4]
            notes.append(f"{int(pm.sum())} service rows under minute capacities: LP "
                         "relaxation (HiGHS), its vertex rounded and repaired"
                         + ("" if lp_cost is not None else
                            "; its cost LP ran out of time: levels bounded, cost not"))
            cost_m = 0 if lp_cost is None else lp_cost
        except RuntimeError as exc:
            # The LP did not finish (time limit on a busy machine): the same
            # services without their minute limits are still a relaxation,
            # so the flow's levels and cost still bound; its plan guides the
            # rounding, which honours the minutes.
            plan_m, served_m, cost_m = _service_flow(sub, params, relax_shared=False)
            if sub.shared_options().any():
                _, served_m, cost_m = _service_flow(sub, params, relax_shared=True)
            # Half, not whole: _round_lp keeps whole shares unchecked (an LP's
            # are within the minutes; this flow's need not be).
            x_m = x_mn = 0.5 * (plan_m[sub.edge_pair] == sub.edge_provider)
            notes.append(f"{int(pm.sum())} service rows under minute capacities: the LP "
                         f"did not finish ({exc}); bound from a flow without the minute "
                         "limits (weaker), plan rounded from it within the minutes")
        x[edges] = x_m
        x_nudged[edges] = x_mn
        served += served_m
        cost += cost_m
    plans = [_round_lp(problem, x, e_cost), _round_lp(problem, x_nudged, e_cost - nudge)]
    _, placed, c_cost = _cm_flow(problem, params, _cm_could_serve(problem),
                                 problem.other_load)
    return plans, served, placed, cost + c_cost, notes


#: What the child returns: pairs served, students placed, LP 3's optimum, x.
_LpAnswer = tuple[int, int, float, np.ndarray]


def _run_highs(n_col: int, start: np.ndarray, index: np.ndarray, value: np.ndarray,
               row_hi: np.ndarray, n_x: int, n_c: int, cost: np.ndarray,
               seconds: float, col_hi: np.ndarray | None = None,
               known: tuple[int, int] = (-1, -1),
               merged: tuple[np.ndarray, np.ndarray] | None = None,
               groups: list[tuple[np.ndarray, int]] | None = None) -> _LpAnswer:
    """Solve the three LPs in a separate Python process (``merged``,
    ``groups``: see :func:`_highs_lexicographic`).

    OR-Tools bundles its own HiGHS, and its symbols clash with highspy's when
    both libraries are loaded in one process; so highspy runs in a child that
    never imports OR-Tools (:mod:`optimizer.planning.solvers.highs_child`,
    shared with the weighted case-manager LP).
    OR-Tools' own LP solvers were measured against this and were slower
    (docs/service-caseloads.md, section 3 C).
    """

    args = (n_col, start, index, value, row_hi, n_x, n_c, cost, seconds,
            np.ones(n_col) if col_hi is None else col_hi, known, merged, groups)
    answer = highs_child.call(
        "optimizer.planning.solvers.services_lp:_highs_lexicographic", *args)
    served, placed, lp_cost, x = answer
    return int(served), int(placed), float(lp_cost), np.asarray(x)


def _highs_lexicographic(n_col: int, start: np.ndarray, index: np.ndarray,
                         value: np.ndarray, row_hi: np.ndarray, n_x: int, n_c: int,
                         cost: np.ndarray, seconds: float, col_hi: np.ndarray,
                         known: tuple[int, int] = (-1, -1),
                         merged: tuple[np.ndarray, np.ndarray] | None = None,
                         groups: list[tuple[np.ndarray, int]] | None = None) -> _LpAnswer:
    """(In the child process.) LP 1 most pairs served, LP 2 most case managers
    with at least that many pairs (rounded down), LP 3 least cost with both;
    warm-started from each other. A level ``known`` (>= 0: proven already,
    and met by a plan) is not solved for: LP 3 alone with the levels fixed
    took half the time of the three (13 parts at 100,000 students: 6.2 s
    against 13.3 s). Returns both counts, the LP 3 optimum and x (NaN and
    LP 2's x, or zeros where LP 2 did not run, when LP 3 runs out of time).

    ``merged``: case-manager columns that serve a pair as well, and the
    service option of each (:func:`_compact_model`): they count as pairs
    served, and x of that option is its column plus theirs.

    ``groups``: (service options, pairs): with the pairs served fixed, at
    least that many served through each group's options (and the merged
    columns of those options), as rows of LPs 2 and 3. With minute
    capacities the joint LP otherwise serves a fraction of a pair here and
    there to free a provider's minutes, which no plan can; the groups are
    the service components, each held to the pairs it must serve when the
    part serves the most (services_minutes.served_groups). On two parts
    at 100,000 students whose optimum HiGHS's MIP proved (1,148 and 1,492
    pairs), LP 3's bound went from 1.65 and 1.55 % under it to 0.16 and
    0.04 %."""
    import highspy  # only in the child process (see _run_highs)

    deadline = time.perf_counter() + seconds
    n_row = len(row_hi)
    m_col, m_x = (np.zeros(0, dtype=np.int64),) * 2 if merged is None else merged
    # The pairs served: the service columns and the merged case managers.
    xc = np.concatenate([np.arange(n_x), m_col]).astype(np.int32)
    obj = np.zeros(n_col)
    obj[xc] = -1.0
    h = highs_child.one_thread_solver(highspy)
    # No presolve: on the compact model it removed little and cost a fifth
    # of the time (8 parts at 100,000 students, the cost LP: 3.97 -> 3.18 s).
    h.setOptionValue("presolve", "off")
    highs_child.pass_columnwise(h, highspy, obj, col_hi, row_hi, start, index, value)

    def run(what: str) -> float:
        h.setOptionValue("time_limit", max(1.0, deadline - time.perf_counter()))
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS {what} ended with {h.modelStatusToString(status)}")
        return h.getInfo().objective_function_value

    cc = np.arange(n_x, n_x + n_c, dtype=np.int32)
    every = np.arange(n_col, dtype=np.int32)

    def x_of(col_value: np.ndarray) -> np.ndarray:
        x = col_value[:n_x].copy()
        np.add.at(x, m_x, col_value[m_col])
        return x

    served, placed = known
    if served < 0:
        served = int(math.floor(-run("LP 1 (pairs served)") + 1e-6))
    h.addRow(served - 1e-7, highspy.kHighsInf, len(xc), xc, np.ones(len(xc)))
    # The groups' rows (ones on the group's options and their merged columns):
    # valid only at the pairs served the caller knows (not at LP 1's).
    group_cols, group_lo = [], []
    in_group = np.zeros(n_x, dtype=bool)
    for options, least in (groups or []) if known[0] >= 0 else []:
        in_group[:] = False
        in_group[options] = True
        cols = np.concatenate([np.asarray(options, dtype=np.int64),
                               m_col[in_group[m_x]]]).astype(np.int32)
        h.addRow(least - 1e-7, highspy.kHighsInf, len(cols), cols, np.ones(len(cols)))
        group_cols.append(cols)
        group_lo.append(least - 1e-7)
    x = np.zeros(n_x)
    if not n_c:
        placed = 0
    elif placed < 0:
        obj = np.zeros(n_col)
        obj[n_x:n_x + n_c] = -1.0
        h.changeColsCost(n_col, every, obj)
        placed = int(math.floor(-run("LP 2 (case managers placed)") + 1e-6))
        # LP 2's point serves and places as proven: the plan to round if LP 3
        # runs out of time (then no cost bound: NaN).
        x = x_of(np.asarray(h.getSolution().col_value))
    if n_c:
        h.addRow(placed - 1e-7, highspy.kHighsInf, n_c, cc, np.ones(n_c))
    h.changeColsCost(n_col, every, np.asarray(cost, dtype=np.float64))
    h.setOptionValue("time_limit", max(1.0, deadline - time.perf_counter()))
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kTimeLimit:
        return served, placed, math.nan, x
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS LP 3 (cost) ended with {h.modelStatusToString(status)}")
    sol = h.getSolution()
    x = x_of(np.asarray(sol.col_value))
    # Not HiGHS's objective (exact only within its tolerances) but a bound
    # that holds for LP 3's row duals whatever their accuracy.
    lower = np.concatenate([np.full(n_row, -np.inf), [served - 1e-7], group_lo,
                            [placed - 1e-7] if n_c else []])
    upper = np.concatenate([row_hi, [np.inf] * (1 + len(group_lo)), [np.inf] if n_c else []])
    added = [xc, *group_cols] + ([cc] if n_c else [])
    lp_cost = _safe_dual_bound(start, index, value, np.asarray(cost, dtype=np.float64),
                               np.asarray(sol.row_dual, dtype=np.float64), lower, upper,
                               added, col_hi)
    return served, placed, lp_cost, x


def _safe_dual_bound(start: np.ndarray, index: np.ndarray, value: np.ndarray,
                     cost: np.ndarray, row_dual: np.ndarray, lower: np.ndarray,
                     upper: np.ndarray, added: list[np.ndarray],
                     col_hi: np.ndarray | None = None) -> float:
    """A lower bound on min cost.x over lower <= Ax <= upper, 0 <= x <= col_hi
    (1 when not given), from any row duals y (Neumaier and Shcherbina's safe
    bound).

    With y_i <= 0 on rows bounded above only and y_i >= 0 on rows bounded
    below only (other signs are clipped to 0), every feasible x has
    cost.x >= sum_i y_i b_i + (cost - A'y).x >= sum_i y_i b_i
    + sum_j min(0, (cost - A'y)_j) col_hi_j, b_i the bound the sign selects. This
    holds for every such y, so HiGHS's tolerances only loosen it a little;
    the sums are taken with math.fsum. ``A`` is column-wise (``start``,
    ``index``, ``value``) followed by the ``added`` rows (ones on the listed
    columns).
    """
    y = np.where(np.isfinite(lower) & ~np.isfinite(upper), np.maximum(row_dual, 0.0),
                 np.where(np.isfinite(upper) & ~np.isfinite(lower),
                          np.minimum(row_dual, 0.0), 0.0))
    n_orig = len(start) - 1
    n_base = len(lower) - len(added)
    cols = np.repeat(np.arange(n_orig), np.diff(start))
    aty = np.bincount(cols, weights=value * y[index], minlength=n_orig)
    for k, which in enumerate(added):
        aty[which] += y[n_base + k]
    reduced = cost - aty
    rows = np.where(y > 0, y * np.where(np.isfinite(lower), lower, 0.0),
                    y * np.where(np.isfinite(upper), upper, 0.0))
    hi = 1.0 if col_hi is None else np.asarray(col_hi, dtype=np.float64)
    return math.fsum(rows.tolist()) + math.fsum((np.minimum(reduced, 0.0) * hi).tolist())


def _round_lp(problem: ServiceProblem, x: np.ndarray, cost: np.ndarray,
              most: int | None = None) -> np.ndarray:
    """A feasible plan from the LP's vertex: keep every pair the LP serves
    wholly, then place the rest (largest LP share first, cheapest next) where
    a seat and the minutes allow, then serve more by moving one pair each
    (:func:`_serve_by_moving_one`) unless the plan already serves ``most``
    pairs, a proven upper bound (with count caps the LP's vertex is usually
    whole and serves that many: at 100,000 students the moves had searched
    for a second in vain)."""
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
    todo = todo[stable_order(-share[todo])]
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
    if most is None or np.count_nonzero(provider >= 0) < most:
        _serve_by_moving_one(problem, provider, cost)
    return provider


#: Checks :func:`_serve_by_moving_one` may make (about a second of Python).
_MOVE_WORK = 1_000_000


def _serve_by_moving_one(problem: ServiceProblem, provider: np.ndarray,
                         cost: np.ndarray) -> int:
    """Serve pairs a rounding left unserved by moving one served pair each:
    for an unserved pair p and a provider e of its options that lacks the
    minutes or the seat, a pair q that e serves moves to another of its own
    options with room, when that frees enough at e (its minutes; its seat,
    if it is e's only pair of that student). ``provider`` is changed in
    place; returns the pairs served this way.

    Each move serves one more pair and unserves none, so no plan gets worse
    at the first level. Measured on bench_services.py's 20,000-student
    district with minute capacities, whose chain of schools sharing SLPs is
    a component too large for a MIP (its LP vertex rounded): 4,950 pairs
    unserved before, 4,904 after, against a bound of 4,858. (Chains of two
    moves, searched depth first, reached 4,887 there for 4 CPU seconds more.)
    The options are tried cheapest first, the pairs in index order: the
    same plan every time.
    """
    n_p = problem.n_pairs
    ep, ee = problem.edge_pair, problem.edge_provider
    todo = np.nonzero(provider < 0)[0].tolist()
    if not todo:
        return 0
    first = np.searchsorted(ep, np.arange(n_p)).tolist()
    last = np.searchsorted(ep, np.arange(n_p), side="right").tolist()
    student = problem.pair_student.astype(np.int64).tolist()
    minutes = problem.pair_minutes.astype(float).tolist()
    served = provider >= 0
    free_seats = (problem.cap - problem.other_load - _distinct_served(problem, provider)).tolist()
    minutes_left = (problem.minutes_capacity - minutes_served(problem, provider)).tolist()
    pairs_at: dict[tuple[int, int], int] = {}  # (student, provider) -> pairs it serves
    by_provider: dict[int, list[int]] = {}
    for q, e in zip(np.nonzero(served)[0].tolist(), provider[served].tolist(), strict=True):
        pairs_at[(student[q], e)] = pairs_at.get((student[q], e), 0) + 1
        by_provider.setdefault(e, []).append(q)
    ee_l, cost_l = ee.tolist(), cost.tolist()

    def room(q: int, e: int) -> bool:
        return (minutes_left[e] + 1e-9 >= minutes[q]
                and ((student[q], e) in pairs_at or free_seats[e] >= 1))

    def put(q: int, e: int, sign: int) -> None:
        key = (student[q], e)
        minutes_left[e] -= sign * minutes[q]
        if sign > 0:
            if key not in pairs_at:
                pairs_at[key] = 0
                free_seats[e] -= 1
            pairs_at[key] += 1
            by_provider.setdefault(e, []).append(q)
            provider[q] = e
        else:
            pairs_at[key] -= 1
            if not pairs_at[key]:
                del pairs_at[key]
                free_seats[e] += 1
            by_provider[e].remove(q)
            provider[q] = -1

    def options(q: int) -> list[int]:
        return sorted(range(first[q], last[q]), key=lambda j: (cost_l[j], j))

    moved = 0
    # First where a pair fits as it is (cheap: the moves' budget below does
    # not cut these short).
    for p in todo:
        for j in options(p):
            if room(p, ee_l[j]):
                put(p, ee_l[j], 1)
                moved += 1
                break
    todo = [p for p in todo if provider[p] < 0]
    work = _MOVE_WORK  # (checks left: a district short of staff has thousands unserved)
    for p in todo:
        done = False
        for j in options(p):
            e = ee_l[j]
            for q in list(by_provider.get(e, ())):
                work -= 1
                if student[q] == student[p]:
                    continue  # (their seat is the one p would share)
                # What moving q away frees at e: its minutes, its seat when
                # it is e's only pair of that student.
                frees_seat = pairs_at[(student[q], e)] == 1
                if minutes_left[e] + minutes[q] + 1e-9 < minutes[p]:
                    continue
                if (student[p], e) not in pairs_at and free_seats[e] + frees_seat < 1:
                    continue
                for k in options(q):
                    f = ee_l[k]
                    work -= 1
                    if f != e and room(q, f):
                        put(q, e, -1)
                        put(q, f, 1)
                        put(p, e, 1)
                        done = True
                        break
                if done or work <= 0:
                    break
            if done or work <= 0:
                break
        moved += done
        if work <= 0:
            break
    return moved
