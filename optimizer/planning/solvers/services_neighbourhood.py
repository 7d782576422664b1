"""Service caseloads, a plan's students without a case manager re-planned with
their neighbours, exactly.

The flows choose providers first and case managers given them, so a plan can
leave a student without a case manager whom another choice of providers would
place: their own provider serves someone else's pair where another provider
had room, or a full coordinator's seat holds a student who could be served
elsewhere. ``services_seats`` tries one such move at a time; this module
re-plans a whole **neighbourhood** at once:

- the students left without a case manager (among those who have an option);
- every provider who could serve or case-manage one of them;
- every student those providers serve or case-manage in the plan.

Those students' services and case managers are solved again as a
mixed-integer program by HiGHS (the joint model of ``services_lp``, integer:
exact for the neighbourhood), everything else held: each provider keeps the
seats and minutes the students outside the neighbourhood already take (added
to ``other_load`` and taken off the minutes capacity), so every plan of the
neighbourhood, put back, is a plan of the whole within the caps, and its
objective is the whole objective less a constant. The plan kept is the
better of the two, compared on the whole by :func:`evaluate` (a second
opinion on the model).

Measured on the 100,000-student district of ``bench_service_e2e.py`` (three
parts whose plans left 10, 4 and 1 students without a case manager against a
bound of 0): neighbourhoods of 162, 328 and 261 students, 0.9-7 s each; the
second part was placed in full, the others not (HiGHS's MIP of the whole
part later showed that the first part's 10 cannot be placed, and that the
third's one can, by a plan that changes over 2,000 pairs: beyond any
neighbourhood of this size).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from optimizer.planning.solvers.services_components import restrict
from optimizer.planning.solvers.services_lp import _service_mip
from optimizer.planning.solvers.services_objective import (
    ServiceParams,
    caseloads,
    lexicographic,
    minutes_served,
)
from optimizer.planning.solvers.services_problem import ServiceProblem

__all__ = ["Neighbourhood", "Replan", "neighbourhood", "replan_unplaced"]


@dataclasses.dataclass(frozen=True)
class Neighbourhood:
    """The part of a plan re-planned, and the sub-problem that re-plans it.

    Attributes
    ----------
    seeds
        The students without a case manager it was built around.
    students, pairs, providers
        Indexes in the whole problem (sorted): the students re-planned, all
        their pairs, and every provider one of their options names.
    problem
        The sub-problem: those students, pairs and providers, each provider's
        ``other_load`` raised by the students outside it already on their
        caseload and minutes capacity lowered by the minutes they take.
    """

    seeds: np.ndarray
    students: np.ndarray
    pairs: np.ndarray
    providers: np.ndarray
    problem: ServiceProblem

#: Neighbourhoods are cut to about this many pairs at first (more students
#: without a case manager at once), halved each time HiGHS cannot prove one
#: in time (services._replanned). At 100,000 students with count caps HiGHS
#: solved those of 490-860 pairs in about a second; with minute capacities
#: (20,000 students) none of 2,000 pairs within 10 s, and some of 300.
MAX_PAIRS = 1_000


def neighbourhood(problem: ServiceProblem, provider: np.ndarray,
                  case_manager: np.ndarray, *, skip: np.ndarray | None = None,
                  max_pairs: int = MAX_PAIRS) -> Neighbourhood | None:
    """The neighbourhood of the plan's students without a case manager.

    Parameters
    ----------
    problem
        A :class:`ServiceProblem`.
    provider, case_manager
        A plan (provider per pair, case manager per student; -1: none).
    skip
        Per student: not a seed (already tried).
    max_pairs
        When the neighbourhood of all of them has more pairs, it is built
        around the first half of them (by index), and so on (at least one).

    Returns
    -------
    Neighbourhood or None
        None when every student with a case-manager option (and not
        skipped) has one.

    Examples
    --------
    >>> nb = neighbourhood(problem, provider, case_manager)  # doctest: +SKIP
    >>> len(nb.students), nb.problem.n_pairs                  # doctest: +SKIP
    (162, 163)
    """
    p = problem
    has_option = np.bincount(p.cm_student, minlength=p.n_students) > 0
    candidates = np.nonzero((case_manager < 0) & has_option
                            & (True if skip is None else ~skip))[0]
    k = len(candidates)
    while k:
        unplaced = np.zeros(p.n_students, dtype=bool)
        unplaced[candidates[:k]] = True
        nb = _around(p, provider, case_manager, unplaced)
        if len(nb.pairs) <= max_pairs or k == 1:
            return nb
        k //= 2
    return None


def _around(p: ServiceProblem, provider: np.ndarray, case_manager: np.ndarray,
            unplaced: np.ndarray) -> Neighbourhood:
    n_e = p.n_providers
    edge_student = p.pair_student[p.edge_pair]
    served = provider >= 0
    managed = case_manager >= 0
    full = caseloads(p, provider, case_manager) >= p.cap
    # Every provider who could serve or case-manage one of them...
    near = np.zeros(n_e, dtype=bool)
    near[p.cm_provider[unplaced[p.cm_student]]] = True
    near[p.edge_provider[unplaced[edge_student]]] = True
    # ...and everyone those providers serve or case-manage now: their
    # services and case managers are re-planned.
    free = unplaced.copy()
    free[p.pair_student[served & near[np.where(served, provider, 0)]]] = True
    free[managed & near[np.where(managed, case_manager, 0)]] = True
    # A free student's service may move to a full provider, who then needs a
    # seat: one a student they only case-manage gives up by taking another
    # case manager. So those students are in too, their services held (each
    # pair keeps only its provider in the plan as an option). Measured at
    # 100,000 students: a plan that placed a student by moving one speech
    # service and one case manager needed this ring.
    reach = np.zeros(n_e, dtype=bool)
    reach[p.edge_provider[free[edge_student]]] = True
    reach[p.cm_provider[free[p.cm_student]]] = True
    reach &= full
    held = managed & reach[np.where(managed, case_manager, 0)] & ~free
    inside = free | held
    keep = free[edge_student] | (held[edge_student]
                                 & (p.edge_provider == provider[p.edge_pair]))
    if not keep[inside[edge_student]].all():
        p = dataclasses.replace(p, edge_pair=p.edge_pair[keep],
                                edge_provider=p.edge_provider[keep],
                                edge_rank=p.edge_rank[keep])
        edge_student = edge_student[keep]
    students = np.nonzero(inside)[0]
    pairs = np.nonzero(inside[p.pair_student])[0]
    named = np.zeros(n_e, dtype=bool)
    named[p.edge_provider[inside[edge_student]]] = True
    named[p.cm_provider[inside[p.cm_student]]] = True
    providers = np.nonzero(named)[0]
    # What the students outside hold: distinct students on each caseload (a
    # student served twice, or served and case-managed, takes one seat) and
    # the minutes they are served.
    out_provider = np.where(inside[p.pair_student], -1, provider)
    out_cm = np.where(inside, -1, case_manager)
    outside = caseloads(p, out_provider, out_cm) - p.other_load
    outside_minutes = minutes_served(p, out_provider)
    sub = restrict(p, students, providers, pairs)
    other_load = np.ascontiguousarray(sub.other_load + outside[providers])
    minutes_capacity = np.ascontiguousarray(sub.minutes_capacity - outside_minutes[providers])
    for a in (other_load, minutes_capacity):
        a.setflags(write=False)
    sub = dataclasses.replace(sub, other_load=other_load, minutes_capacity=minutes_capacity)
    return Neighbourhood(np.nonzero(unplaced)[0], students, pairs, providers, sub)


class Replan(NamedTuple):
    """What :func:`replan_unplaced` did.

    Attributes
    ----------
    plan
        The better plan (provider per pair, case manager per student), or
        None when none was found.
    neighbourhood
        The neighbourhood tried (None when there is none: everyone with an
        option has a case manager).
    solved
        HiGHS proved both levels of the neighbourhood in time (when not, a
        smaller neighbourhood may be).
    """

    plan: tuple[np.ndarray, np.ndarray] | None
    neighbourhood: Neighbourhood | None
    solved: bool


def replan_unplaced(problem: ServiceProblem, params: ServiceParams, provider: np.ndarray,
                    case_manager: np.ndarray, *, seconds: float,
                    skip: np.ndarray | None = None, max_pairs: int = MAX_PAIRS) -> Replan:
    """The plan with the neighbourhood of its students without a case manager
    solved again exactly (HiGHS's MIP), when that is lexicographically better.

    Parameters
    ----------
    problem
        A :class:`ServiceProblem`.
    params
        The weights (:class:`ServiceParams`).
    provider, case_manager
        The plan to improve (not modified).
    seconds
        HiGHS's time limit (a neighbourhood of a few hundred students takes
        about a second with count caps).
    skip, max_pairs
        See :func:`neighbourhood`.

    Returns
    -------
    Replan

    Examples
    --------
    >>> plan, nb, solved = replan_unplaced(problem, params, provider, cm,
    ...                                    seconds=10.0)  # doctest: +SKIP
    """
    nb = neighbourhood(problem, provider, case_manager, skip=skip, max_pairs=max_pairs)
    if nb is None or seconds <= 0:
        return Replan(None, nb, False)
    out = _service_mip(nb.problem, params, seconds)
    if out is None:
        return Replan(None, nb, False)
    new_provider = provider.copy()
    new_cm = case_manager.copy()
    for whole, rows, local in ((new_provider, nb.pairs, out[0]),
                               (new_cm, nb.students, out[1])):
        whole[rows] = np.where(local >= 0, nb.providers[np.maximum(local, 0)], -1)
    if (lexicographic(problem, params, new_provider, new_cm)
            < lexicographic(problem, params, provider, case_manager)):
        return Replan((new_provider, new_cm), nb, True)
    return Replan(None, nb, True)
