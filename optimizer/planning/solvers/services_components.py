"""Service caseloads, the decomposition: independent parts of a district.

Two decisions interact only through a provider they could both use. The
**joint graph** has a node per service pair, a node per student's
case-manager choice, and a node per provider; every service option joins its
pair to its provider, every case-manager option the student's choice to its
provider. Its connected components share no provider, so no constraint and
no cost term links two of them: caps and minutes are per provider; rank,
continuity and change per pair or per student's case manager; balance per
provider; and what ties a student's case manager to their services -- an own
provider takes no seat only while serving the student, a coordinator who
also serves takes one seat, not two -- is always through the provider, who
is then in both components. So the lexicographic optimum of the district is
the sum of the components' optima, level by level, and so is any sum of
per-component lexicographic bounds.

A student's pairs need not be in their case manager's component: speech
from an itinerant who may not case-manage the student is decided with that
itinerant's other students. In a part that holds some of a student's pairs
but not their case-manager choice the student is a **visitor**: there they
have no case-manager option and no case-manager cost, so every plan and every
bound of that part counts them unplaced, a constant the caller takes off
(:attr:`Part.visitors`). (Before, students were nodes with all their pairs:
at 100,000 students one district-wide itinerant joined 90 % of the district
into one component.)

Components are packed into **chunks** (whole components, up to a number of
service rows) so that many small ones are solved together, each chunk small
enough for the joint LP. A provider with no option at all belongs to no chunk;
only its other_load's balance counts (a constant).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from optimizer.arraysets import stable_order, unique
from optimizer.planning.solvers.services_problem import ServiceProblem


def joint_components(problem: ServiceProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Component label of every student's case-manager choice, every pair and
    every provider in the joint graph.

    Nodes are numbered students ``0..n_students-1``, then pairs, then
    providers; a label is the smallest node number of its component, so
    labels are deterministic.

    Examples
    --------
    >>> students, pairs, providers = joint_components(problem)   # doctest: +SKIP
    """
    n_s, n_q = problem.n_students, problem.n_pairs
    u = np.concatenate([n_s + problem.edge_pair.astype(np.int64),
                        problem.cm_student.astype(np.int64)])
    v = np.concatenate([problem.edge_provider, problem.cm_provider]).astype(np.int64) + n_s + n_q
    labels = np.arange(n_s + n_q + problem.n_providers, dtype=np.int64)
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
    return labels[:n_s], labels[n_s:n_s + n_q], labels[n_s + n_q:]


@dataclass(frozen=True)
class Part:
    """A sub-problem of whole components and where its rows come from.

    ``students`` are the sub-problem's students (global indexes, sorted);
    ``home`` says, for each, whether their case manager is chosen in this part
    (False: a visitor, here only for some of their pairs).
    """

    problem: ServiceProblem
    students: np.ndarray
    pairs: np.ndarray
    providers: np.ndarray
    components: int
    home: np.ndarray

    @property
    def visitors(self) -> int:
        """Students here only for some of their pairs: unplaced in every plan
        and every bound of this part (the caller takes them off)."""
        return int(len(self.home) - np.count_nonzero(self.home))


def whole(problem: ServiceProblem) -> Part:
    """The whole district as one part (no visitors)."""
    return Part(problem, np.arange(problem.n_students), np.arange(problem.n_pairs),
                np.arange(problem.n_providers), 1, np.ones(problem.n_students, dtype=bool))


def chunks(problem: ServiceProblem, max_pairs: int) -> tuple[list[Part], np.ndarray]:
    """Whole components packed into parts of at most ``max_pairs`` service
    rows (a larger component is a part of its own), smallest first, and the
    providers in no part (no option at all)."""
    lab_s, lab_q, lab_e = joint_components(problem)
    comp_ids = unique(np.concatenate([lab_s, lab_q]))
    comp_of_student = np.searchsorted(comp_ids, lab_s)
    comp_of_pair = np.searchsorted(comp_ids, lab_q)
    pairs_per_comp = np.bincount(comp_of_pair, minlength=len(comp_ids))
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
    chunk_of_pair = chunk_of_comp[comp_of_pair]
    chunk_of_provider = np.where(in_part, chunk_of_comp[np.minimum(pos, len(comp_ids) - 1)],
                                 -1)
    n_chunks = current + 1 if len(comp_ids) else 0
    # Each chunk's rows, options and providers as slices of one stable sort
    # (in index order within a chunk), not a scan of the district per chunk:
    # 184 scans of the 100,000 district's 2 million options took 0.5 s.
    by_pair, at_pair = _grouped(chunk_of_pair, n_chunks)
    by_student, at_student = _grouped(chunk_of_student, n_chunks)
    by_provider, at_provider = _grouped(chunk_of_provider, n_chunks)
    by_edge, at_edge = _grouped(chunk_of_pair[problem.edge_pair], n_chunks)
    # (A student's case-manager options are in their own chunk.)
    by_opt, at_opt = _grouped(chunk_of_student[problem.cm_student], n_chunks)
    comps_in = np.bincount(chunk_of_comp, minlength=n_chunks)
    parts = []
    for k in range(n_chunks):
        pairs = by_pair[at_pair[k]:at_pair[k + 1]]
        students = unique(np.concatenate([by_student[at_student[k]:at_student[k + 1]],
                                          problem.pair_student[pairs].astype(np.int64)]))
        home = chunk_of_student[students] == k
        providers = by_provider[at_provider[k]:at_provider[k + 1]]
        sub = restrict(problem, students, providers, pairs, home,
                       edges=by_edge[at_edge[k]:at_edge[k + 1]],
                       opts=by_opt[at_opt[k]:at_opt[k + 1]])
        parts.append(Part(sub, students, pairs, providers, int(comps_in[k]), home))
    parts.sort(key=lambda p: len(p.pairs))
    return parts, np.nonzero(chunk_of_provider < 0)[0]


def _grouped(label: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indexes sorted by ``label`` (stable: index order within a label) and
    where each label 0..n-1 starts (``n + 1`` offsets; labels < 0 first,
    outside every group)."""
    order = stable_order(label)
    return order, np.searchsorted(label[order], np.arange(n + 1))


def restrict(problem: ServiceProblem, students: np.ndarray, providers: np.ndarray,
             pairs: np.ndarray | None = None, home: np.ndarray | None = None, *,
             edges: np.ndarray | None = None, opts: np.ndarray | None = None
             ) -> ServiceProblem:
    """The sub-problem of some students, providers and pairs (whole
    components: every option kept names one of these providers).

    ``pairs`` defaults to every pair of ``students``; ``home`` (per student,
    default all) marks those whose case manager is chosen here: the others
    (visitors) keep no case-manager option and no current or published case
    manager, so they add no case-manager cost. A current or published provider
    or case manager outside ``providers`` becomes ``-2`` (named, never kept),
    as it can never be chosen here. ``edges`` and ``opts``, when the caller
    knows them (sorted), are the service and case-manager options kept: every
    option of ``pairs``, and of the home students.
    """
    new_s = np.full(problem.n_students, -1, dtype=np.int64)
    new_s[students] = np.arange(len(students))
    is_home = np.zeros(problem.n_students, dtype=bool)
    is_home[students] = True if home is None else home
    new_e = np.full(problem.n_providers + 2, -2, dtype=np.int64)  # [-2], [-1] stay
    new_e[providers] = np.arange(len(providers))
    new_e[-1] = -1

    def ref(a: np.ndarray) -> np.ndarray:
        out = new_e[a]  # -1 (none) maps to -1, -2 and outsiders to -2
        out.setflags(write=False)
        return out

    if pairs is None:
        pairs = np.nonzero(new_s[problem.pair_student] >= 0)[0]
    elif np.any(new_s[problem.pair_student[pairs]] < 0):
        raise ValueError("restrict: a pair of a student outside the sub-problem")
    new_p = np.full(problem.n_pairs, -1, dtype=np.int64)
    new_p[pairs] = np.arange(len(pairs))
    if edges is None:
        edges = np.nonzero(new_p[problem.edge_pair] >= 0)[0]
    if opts is None:
        opts = np.nonzero(is_home[problem.cm_student])[0]
    if np.any(new_e[problem.edge_provider[edges]] < 0) or np.any(
            new_e[problem.cm_provider[opts]] < 0):
        raise ValueError("restrict: an option leaves the sub-problem (not whole components)")
    visitor = ~is_home[students]

    def cm_ref(a: np.ndarray) -> np.ndarray:
        out = np.where(visitor, -1, new_e[a])
        out.setflags(write=False)
        return out

    def ro(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        a.setflags(write=False)
        return a

    return dataclasses.replace(
        problem,
        student_ids=ro(problem.student_ids[students]),
        current_cm=cm_ref(problem.current_cm[students]),
        published_cm=cm_ref(problem.published_cm[students]),
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
