"""Seats for students left without a case manager: move a service off a full
coordinator.

A student is left without a case manager when none of their providers may
case-manage them and every coordinator at their school is full. A full
coordinator's seat is often taken by a student they only *serve* (say an
SLP giving speech to a student whose case manager is their RSP teacher);
when another eligible provider with room (and minutes) can give that
service instead, moving it frees the seat, and the coordinator can take the
student who had no one. The pairs served stay the same, one more student
is placed: lexicographically better whatever the cost terms do. The case
managers are then chosen again by the exact flow given the providers.
"""

from __future__ import annotations

import numpy as np

from optimizer.arraysets import stable_order
from optimizer.planning.solvers.services_objective import caseloads, minutes_served
from optimizer.planning.solvers.services_problem import COORDINATOR, ServiceProblem

__all__ = ["free_coordinator_seats"]


def free_coordinator_seats(problem: ServiceProblem, provider: np.ndarray,
                           case_manager: np.ndarray, minutes: bool) -> np.ndarray | None:
    """Providers per pair with services moved off full coordinators so that
    students without a case manager can take the seats freed, or None when
    no such move exists.

    A move takes one pair ``q`` of student ``v`` from coordinator ``e`` (who
    is full, serves ``v`` only through ``q`` and does not case-manage ``v``)
    to another eligible provider of ``q`` who serves ``v`` already or has a
    free seat, within their minutes capacity when ``minutes``. Each freed
    seat is promised to one student without a case manager whose
    coordinator option ``e`` is; the caller's case-manager flow decides.

    Examples
    --------
    >>> free_coordinator_seats(problem, provider, cm, minutes=False)  # doctest: +SKIP
    """
    n_e = problem.n_providers
    unplaced = np.nonzero(case_manager < 0)[0]
    if not len(unplaced):
        return None
    provider = provider.copy()
    load = caseloads(problem, provider, case_manager).astype(np.float64)
    cap = problem.cap.astype(np.float64)
    used_min = minutes_served(problem, provider)
    cap_min = problem.minutes_capacity if minutes else np.full(n_e, np.inf)
    # Who each provider serves, by pair, in pair order; a pair moved here is
    # listed after those (the order decides which move is made first). Only
    # the coordinators of unplaced students are ever looked up: built lazily.
    by_provider: dict[int, list[int]] = {}
    original = provider.copy()

    def serves(e: int) -> list[int]:
        if e not in by_provider:
            by_provider[e] = np.nonzero(original == e)[0].tolist()
        return by_provider[e]

    # A student's pairs (to count the pairs a provider serves them by).
    by_student = stable_order(problem.pair_student)
    s_first = np.searchsorted(problem.pair_student[by_student], np.arange(problem.n_students))
    s_last = np.searchsorted(problem.pair_student[by_student], np.arange(problem.n_students),
                             side="right")

    def pairs_served(v: int, e: int) -> int:
        # How many of student v's pairs provider e serves in the plan so far.
        return int(np.count_nonzero(provider[by_student[s_first[v]:s_last[v]]] == e))

    # Service options per pair (edges are grouped by pair).
    first = np.searchsorted(problem.edge_pair, np.arange(problem.n_pairs))
    last = np.searchsorted(problem.edge_pair, np.arange(problem.n_pairs), side="right")
    coord = problem.cm_kind == COORDINATOR
    order = stable_order(problem.cm_student)
    starts = np.searchsorted(problem.cm_student[order], np.arange(problem.n_students))
    ends = np.searchsorted(problem.cm_student[order], np.arange(problem.n_students),
                           side="right")
    moved = False
    for u in unplaced.tolist():
        opts = order[starts[u]:ends[u]]
        for e in sorted({int(problem.cm_provider[o]) for o in opts.tolist() if coord[o]}):
            if load[e] + 1 <= cap[e] + 1e-9:
                break  # a seat is free already: the case-manager flow takes it
            q_move = e2_move = -1
            for q in serves(e):
                v = int(problem.pair_student[q])
                if provider[q] != e or case_manager[v] == e or pairs_served(v, e) != 1:
                    continue
                for k in range(first[q], last[q]):
                    e2 = int(problem.edge_provider[k])
                    if e2 == e:
                        continue
                    already = pairs_served(v, e2) > 0 or case_manager[v] == e2
                    if not already and load[e2] + 1 > cap[e2] + 1e-9:
                        continue
                    if used_min[e2] + problem.pair_minutes[q] > cap_min[e2] + 1e-9:
                        continue
                    q_move, e2_move = q, e2
                    break
                if q_move >= 0:
                    break
            if q_move < 0:
                continue
            v = int(problem.pair_student[q_move])
            if pairs_served(v, e2_move) == 0 and case_manager[v] != e2_move:
                load[e2_move] += 1
            serves(e).remove(q_move)
            serves(e2_move).append(q_move)
            provider[q_move] = e2_move
            used_min[e] -= problem.pair_minutes[q_move]
            used_min[e2_move] += problem.pair_minutes[q_move]
            # The seat freed at e is promised to u (counted as taken again).
            moved = True
            break
    return provider if moved else None
