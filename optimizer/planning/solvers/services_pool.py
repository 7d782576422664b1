"""Coordinator seats through one pool node per set of coordinators.

In the service flows a student may take a *seat* of any coordinator the
rules allow at their school: at 100,000 students that is over a million
(student, coordinator) arcs, nearly all at the same cost -- every teacher at
a school may coordinate every student there, and what a coordinator option
costs depends on the student (its rank, continuity with this year's case
manager, change from a published plan), not on which coordinator it is,
except for the student's current or published case manager.

So students with the same set of coordinator options share a pool node::

    student --(the student's generic coordinator cost)--> pool --(0)--> coordinator seats
    student --(a lower cost)--> coordinator                  (current / published only)

Any flow of the original network is one of this network at the same cost
and back: a pool route reaches only coordinators of the student's own set,
at the generic cost, which is the highest cost of the student's
coordinator options, so where a coordinator is cheaper for this student
(kept arc) or free (an own provider's seat-free arc, which the callers keep)
the pool route is dominated by that arc. The optimum, the levels (most pairs
served, most students placed) and so every bound are unchanged; which of
two equally good coordinators a student gets may differ (a tie).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.arraysets import unique

__all__ = ["CoordinatorPool", "PoolShape", "coordinator_pool", "pool_shape"]


@dataclass(frozen=True)
class CoordinatorPool:
    """The arcs replacing one arc per coordinator option, and how to read
    the flow on them back as (student, coordinator) choices.

    Arcs, in this order: ``direct`` (one per kept option), ``student -> pool``
    (one per pooled student), ``pool -> coordinator`` (one per pool member).
    """

    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    costs: np.ndarray
    next_node: int
    direct_option: np.ndarray   # option index of each direct arc
    pooled_student: np.ndarray  # student of each student -> pool arc
    pooled_pool: np.ndarray     # its pool
    member_pool: np.ndarray     # pool of each pool -> coordinator arc
    member_provider: np.ndarray  # its coordinator

    def choices(self, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Students and the coordinators they took, from the flow on these
        arcs (``flows`` in the order of :attr:`tails`).

        Within a pool the students (by index) are matched to the seats the
        flow sent to each coordinator (by index): every such match is one
        of the student's own options at the same cost.
        """
        n_d, n_s = len(self.direct_option), len(self.pooled_student)
        took = flows[:n_d] > 0
        d_opt = self.direct_option[took]
        s_flow = flows[n_d:n_d + n_s] > 0
        m_flow = flows[n_d + n_s:].astype(np.int64)
        students = self.pooled_student[s_flow]
        pools = self.pooled_pool[s_flow]
        order = np.lexsort((students, pools))
        students, pools = students[order], pools[order]
        # Seats per pool, coordinators by index (members are stored that way).
        seats_e = np.repeat(self.member_provider, m_flow)
        seats_pool = np.repeat(self.member_pool, m_flow)
        if len(seats_pool) != len(pools) or np.any(seats_pool != pools):
            raise RuntimeError("pooled coordinator flow does not balance")
        return d_opt, np.stack([students, seats_e])


def coordinator_pool(student: np.ndarray, provider: np.ndarray, cost: np.ndarray,
                     options: np.ndarray, s0: int, e0: int, next_node: int,
                     shape: PoolShape | None = None) -> CoordinatorPool:
    """Pool the seat arcs of coordinator ``options`` (indices into the
    per-option arrays ``student``, ``provider``, ``cost``).

    Students are nodes ``s0 + student``, coordinators (their seats) nodes
    ``e0 + provider``; pools get new nodes from ``next_node`` on. A student
    alone with their set gets direct arcs (a pool would add one). ``shape``:
    :func:`pool_shape` of the same arguments, when the caller kept it.

    Examples
    --------
    Two students with the same three coordinators, the first one's current
    case manager (coordinator 1) cheaper:

    >>> import numpy as np
    >>> st = np.array([0, 0, 0, 1, 1, 1]); co = np.array([0, 1, 2, 0, 1, 2])
    >>> pool = coordinator_pool(st, co, np.array([5, 2, 5, 5, 5, 5]), np.arange(6),
    ...                         s0=10, e0=20, next_node=30)
    >>> len(pool.tails), pool.direct_option.tolist(), pool.next_node
    (6, [1], 31)
    """
    sh = shape if shape is not None else pool_shape(student, provider, cost, options)
    tails = np.concatenate([s0 + sh.direct_student, s0 + sh.pooled_student,
                            next_node + sh.member_pool])
    heads = np.concatenate([e0 + sh.direct_provider, next_node + sh.pooled_pool,
                            e0 + sh.member_provider])
    caps = np.concatenate([np.ones(len(sh.direct_option) + len(sh.pooled_student),
                                   dtype=np.int64), sh.member_cap])
    costs = np.concatenate([sh.direct_cost, sh.pooled_cost,
                            np.zeros(len(sh.member_pool), dtype=np.int64)])
    return CoordinatorPool(tails, heads, caps, costs, next_node + sh.n_pools,
                           sh.direct_option, sh.pooled_student, sh.pooled_pool,
                           sh.member_pool, sh.member_provider)


@dataclass(frozen=True)
class PoolShape:
    """The pools of a set of coordinator options, before node numbers."""

    direct_option: np.ndarray
    direct_student: np.ndarray
    direct_provider: np.ndarray
    direct_cost: np.ndarray
    pooled_student: np.ndarray
    pooled_pool: np.ndarray
    pooled_cost: np.ndarray
    member_pool: np.ndarray
    member_provider: np.ndarray
    member_cap: np.ndarray
    n_pools: int


def pool_shape(student: np.ndarray, provider: np.ndarray, cost: np.ndarray,
               options: np.ndarray) -> PoolShape:
    """Who shares a pool (see :func:`coordinator_pool`), without node numbers,
    so a caller solving several flows of the same options builds it once."""
    options = np.asarray(options, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if not len(options):
        return PoolShape(empty, empty, empty, empty, empty, empty, empty, empty, empty,
                         empty, 0)
    s, e = student[options].astype(np.int64), provider[options].astype(np.int64)
    c = cost[options].astype(np.int64)
    # Each student's options by coordinator; its generic cost is the highest.
    order = np.lexsort((e, s))
    s, e, c, options = s[order], e[order], c[order], options[order]
    head = np.ones(len(s), dtype=bool)
    head[1:] = s[1:] != s[:-1]
    starts = np.nonzero(head)[0]
    ends = np.append(starts[1:], len(s))
    studs = s[starts]
    generic = np.maximum.reduceat(c, starts)
    # Students grouped by their set of coordinators (as bytes: exact).
    e32 = e.astype(np.int32)
    groups: dict[bytes, int] = {}
    group = np.array([groups.setdefault(e32[a:b].tobytes(), len(groups))
                      for a, b in zip(starts.tolist(), ends.tolist(), strict=True)],
                     dtype=np.int64)
    size = np.bincount(group, minlength=len(groups))
    pooled = size[group] > 1                      # per student
    per_opt_pooled = np.repeat(pooled, ends - starts)
    per_opt_generic = np.repeat(generic, ends - starts)
    # Direct arcs: every option of a student alone in its set, and the
    # options cheaper than the student's generic cost.
    direct = ~per_opt_pooled | (c < per_opt_generic)
    # Pools numbered by set (first seen first); members from one student each.
    used_groups = unique(group[pooled])
    pool_ids = np.full(len(groups), -1, dtype=np.int64)
    pool_ids[used_groups] = np.arange(len(used_groups))
    first_of = np.full(len(groups), -1, dtype=np.int64)
    pos = np.nonzero(pooled)[0]
    first_of[group[pos[::-1]]] = pos[::-1]
    reps = first_of[used_groups]
    m_len = ends[reps] - starts[reps]
    m_idx = np.repeat(starts[reps], m_len) + (np.arange(m_len.sum())
                                              - np.repeat(np.cumsum(m_len) - m_len, m_len))
    m_pool = np.repeat(np.arange(len(used_groups)), m_len)
    return PoolShape(options[direct], s[direct], e[direct], c[direct], studs[pooled],
                     pool_ids[group[pooled]], generic[pooled], m_pool, e[m_idx],
                     size[used_groups][m_pool], len(used_groups))
