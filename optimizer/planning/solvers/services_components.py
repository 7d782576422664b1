"""Service caseloads, the decomposition: independent parts of a district.

Two students interact only through a provider they could both use (for a
service or as case manager): the **joint graph** has students and providers
as nodes and every service option and case-manager option as an edge. Its
connected components share no provider, so no constraint and no cost term
(each is per pair, per student or per provider) links two of them: the
lexicographic optimum of the district is the sum of the components' optima,
level by level, and so is any sum of per-component lexicographic bounds.

Components are packed into **chunks** (whole components, up to a number of
service rows) so that many small ones are solved together, each chunk small
enough for the joint LP. A provider with no option at all belongs to no chunk;
only its other_load's balance counts (a constant).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from optimizer.planning.solvers.services_problem import ServiceProblem


def joint_components(problem: ServiceProblem) -> tuple[np.ndarray, np.ndarray]:
    """Component label of every student and every provider in the joint graph.

    Labels are the smallest node index of the component (students are nodes
    ``0..n_students-1``, providers follow), so they are deterministic.

    Examples
    --------
    >>> students, providers = joint_components(problem)   # doctest: +SKIP
    """
    n_s = problem.n_students
    u = np.concatenate([problem.edge_student, problem.cm_student]).astype(np.int64)
    v = np.concatenate([problem.edge_provider, problem.cm_provider]).astype(np.int64) + n_s
    labels = np.arange(n_s + problem.n_providers, dtype=np.int64)
    # Min-label propagation with pointer jumping: a few dozen rounds even on
    # a district-wide component (each round is a vectorised pass over edges).
    while len(u):
        m = np.minimum(labels[u], labels[v])
        new = labels.copy()
        np.minimum.at(new, u, m)
        np.minimum.at(new, v, m)
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, labels):
            break
        labels = new
    return labels[:n_s], labels[n_s:]


@dataclass(frozen=True)
class Part:
    """A sub-problem of whole components and where its rows come from."""

    problem: ServiceProblem
    students: np.ndarray
    pairs: np.ndarray
    providers: np.ndarray
    components: int


def chunks(problem: ServiceProblem, max_pairs: int) -> tuple[list[Part], np.ndarray]:
    """Whole components packed into parts of at most ``max_pairs`` service
    rows (a larger component is a part of its own), smallest first, and the
    providers in no part (no option at all)."""
    lab_s, lab_e = joint_components(problem)
    comp_ids, comp_of_student = np.unique(lab_s, return_inverse=True)
    pairs_per_comp = np.bincount(comp_of_student[problem.pair_student],
                                 minlength=len(comp_ids))
    # Pack in label order (deterministic), closing a chunk when full.
    chunk_of_comp = np.zeros(len(comp_ids), dtype=np.int64)
    current = filled = 0
    for c, n in enumerate(pairs_per_comp.tolist()):
        if filled and filled + n > max_pairs:
            current, filled = current + 1, 0
        chunk_of_comp[c] = current
        filled += n
    pos = np.searchsorted(comp_ids, lab_e)
    in_part = (pos < len(comp_ids)) & (comp_ids[np.minimum(pos, len(comp_ids) - 1)] == lab_e)
    chunk_of_student = chunk_of_comp[comp_of_student]
    chunk_of_provider = np.where(in_part, chunk_of_comp[np.minimum(pos, len(comp_ids) - 1)],
                                 -1)
    parts = []
    for k in range(current + 1 if len(comp_ids) else 0):
        students = np.nonzero(chunk_of_student == k)[0]
        providers = np.nonzero(chunk_of_provider == k)[0]
        parts.append(Part(restrict(problem, students, providers), students,
                          np.nonzero(chunk_of_student[problem.pair_student] == k)[0],
                          providers, int(np.sum(chunk_of_comp == k))))
    parts.sort(key=lambda p: len(p.pairs))
    return parts, np.nonzero(chunk_of_provider < 0)[0]


def restrict(problem: ServiceProblem, students: np.ndarray,
             providers: np.ndarray) -> ServiceProblem:
    """The sub-problem of some students and providers (whole components: every
    option of these students names one of these providers).

    A current or published provider or case manager outside ``providers``
    becomes ``-2`` (named, never kept), as it can never be chosen here.
    """
    new_s = np.full(problem.n_students, -1, dtype=np.int64)
    new_s[students] = np.arange(len(students))
    new_e = np.full(problem.n_providers + 2, -2, dtype=np.int64)  # [-2], [-1] stay
    new_e[providers] = np.arange(len(providers))
    new_e[-1] = -1

    def ref(a: np.ndarray) -> np.ndarray:
        out = new_e[a]  # -1 (none) maps to -1, -2 and outsiders to -2
        out.setflags(write=False)
        return out

    pairs = np.nonzero(new_s[problem.pair_student] >= 0)[0]
    new_p = np.full(problem.n_pairs, -1, dtype=np.int64)
    new_p[pairs] = np.arange(len(pairs))
    edges = np.nonzero(new_p[problem.edge_pair] >= 0)[0]
    opts = np.nonzero(new_s[problem.cm_student] >= 0)[0]
    if np.any(new_e[problem.edge_provider[edges]] < 0) or np.any(
            new_e[problem.cm_provider[opts]] < 0):
        raise ValueError("restrict: an option leaves the sub-problem (not whole components)")

    def ro(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        a.setflags(write=False)
        return a

    return dataclasses.replace(
        problem,
        student_ids=ro(problem.student_ids[students]),
        current_cm=ref(problem.current_cm[students]),
        published_cm=ref(problem.published_cm[students]),
        pair_student=ro(new_s[problem.pair_student[pairs]]),
        pair_service=ro(problem.pair_service[pairs]),
        pair_minutes=ro(problem.pair_minutes[pairs]),
        pair_current=ref(problem.pair_current[pairs]),
        pair_published=ref(problem.pair_published[pairs]),
        provider_ids=ro(problem.provider_ids[providers]),
        provider_role=ro(problem.provider_role[providers]),
        cap=ro(problem.cap[providers]), fte=ro(problem.fte[providers]),
        minutes_capacity=ro(problem.minutes_capacity[providers]),
        other_load=ro(problem.other_load[providers]),
        edge_pair=ro(new_p[problem.edge_pair[edges]]),
        edge_provider=ro(new_e[problem.edge_provider[edges]]),
        edge_rank=ro(problem.edge_rank[edges]),
        cm_student=ro(new_s[problem.cm_student[opts]]),
        cm_provider=ro(new_e[problem.cm_provider[opts]]),
        cm_kind=ro(problem.cm_kind[opts]), cm_rank=ro(problem.cm_rank[opts]))
