"""The planning problem: what the solver sees, as immutable arrays.

Built from a validated district and its eligible edges, in a canonical order
(students and educators sorted by id, edges by student then educator) so the
same district always gives the same problem, whatever the order of the rows
in its files. No solver is imported here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import numpy as np
import pandas as pd

from optimizer.arraysets import stable_order
from optimizer.district.model import District
from optimizer.graph import connected_labels, edge_arrays
from optimizer.planning.objective import Balance, LinearTerm, Objective, Term

__all__ = ["PlanningProblem", "build_problem", "component_labels"]


@dataclass(frozen=True, eq=False)
class PlanningProblem:
    """Students, educators and eligible edges as arrays (immutable by convention:
    arrays are marked read-only).

    Attributes
    ----------
    student_ids, educator_ids
        Sorted ids; index i in every per-student / per-educator array.
    edge_student, edge_educator
        Index pairs of the eligible edges, sorted by (student, educator).
    edge_rank, edge_current, edge_capacity, edge_reason
        Per edge: best-practice rank, whether it is this year's case manager,
        capacity (instruction/service/coordination) and the rules' reason.
    weight, pinned_to
        Per student: caseload weight; educator index of a pin or -1.
    cap, other_load
        Per educator: caseload cap and load that is not case management.
    """

    district: District
    objective: Objective
    student_ids: np.ndarray
    educator_ids: np.ndarray
    edge_student: np.ndarray
    edge_educator: np.ndarray
    edge_rank: np.ndarray
    edge_current: np.ndarray
    edge_capacity: np.ndarray
    edge_reason: np.ndarray
    weight: np.ndarray
    pinned_to: np.ndarray
    cap: np.ndarray
    other_load: np.ndarray
    timings: Mapping[str, float] = field(default_factory=dict)
    #: Per student: educator index in the published plan being kept stable, -1 none
    #: there, -2 one no longer on staff; None when not re-planning against a plan.
    published_to: np.ndarray | None = None

    @property
    def n_students(self) -> int:
        return len(self.student_ids)

    @property
    def n_educators(self) -> int:
        return len(self.educator_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edge_student)

    @property
    def unit_weights(self) -> bool:
        """True when every student weighs 1: the plan is then a min-cost flow."""
        return bool(np.all(self.weight == 1.0))

    def edge_moves(self) -> np.ndarray:
        """Per edge: True when using it moves the student away from the published plan."""
        if self.published_to is None:
            return np.zeros(self.n_edges, dtype=bool)
        published = self.published_to[self.edge_student]
        return (published != -1) & (self.edge_educator != published)

    @cached_property
    def terms(self) -> tuple[Term, ...]:
        """The objective's terms for this problem (:mod:`optimizer.planning.objective`)."""
        return self.objective.terms(self)

    @cached_property
    def balance(self) -> Balance:
        """The convex balance term."""
        return next(t for t in self.terms if isinstance(t, Balance))

    def edge_cost(self) -> np.ndarray:
        """Points per edge from every linear term: what placing a student along it costs."""
        cost = np.zeros(self.n_edges)
        for t in self.terms:
            if isinstance(t, LinearTerm):
                cost = cost + t.edge_points(self)
        return cost

    def unplaced_cost(self) -> np.ndarray:
        """Points per student from every linear term, when the student is left unplaced."""
        cost = np.zeros(self.n_students)
        for t in self.terms:
            if isinstance(t, LinearTerm):
                cost = cost + t.unplaced_points(self)
        return cost

    @cached_property
    def edge_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Per student: the first and one-past-last index of their edges
        (edges are sorted by student, so each student's edges are contiguous)."""
        students = np.arange(self.n_students)
        return (np.searchsorted(self.edge_student, students),
                np.searchsorted(self.edge_student, students, side="right"))

    @cached_property
    def _edge_keys(self) -> np.ndarray:
        """One sorted number per edge (student x n_educators + educator): found
        by binary search; made once, as the objective's terms each look edges up."""
        return self.edge_student * self.n_educators + self.edge_educator

    def chosen_edges(self, assignment: np.ndarray) -> np.ndarray:
        """Index of each placed student's edge; ``n_edges`` (one past the last
        edge, a sentinel) for unplaced students.

        Raises
        ------
        ValueError
            When a student is assigned along a pair that is not an eligible edge.
        """
        keys = self._edge_keys
        chosen = np.full(self.n_students, self.n_edges, dtype=np.int64)
        idx = np.nonzero(assignment >= 0)[0]
        wanted = idx * self.n_educators + assignment[idx]
        pos = np.searchsorted(keys, wanted)
        if len(idx) and not np.all(np.append(keys, -1)[pos] == wanted):
            raise ValueError("the assignment uses a pair that is not an eligible edge")
        chosen[idx] = pos
        return chosen

    def pinned_load(self) -> np.ndarray:
        """Per educator: the weight of the students pinned to them."""
        pinned = self.pinned_to >= 0
        return np.bincount(self.pinned_to[pinned], weights=self.weight[pinned],
                           minlength=self.n_educators)

    def loads(self, assignment: np.ndarray) -> np.ndarray:
        """Per educator: the weight of the students assigned to them plus other_load."""
        placed = assignment >= 0
        return np.bincount(assignment[placed], weights=self.weight[placed],
                           minlength=self.n_educators) + self.other_load

    def objective_terms(self, assignment: np.ndarray) -> dict[str, float]:
        """Each term's points for an assignment (educator index per student,
        -1 unplaced), by name: ``unplaced``, ``rank``, ``continuity``,
        ``balance`` and, with a published plan, ``change``."""
        return {t.name: t.value(self, assignment) for t in self.terms}

    def moved_from_published(self, assignment: np.ndarray) -> np.ndarray:
        """Per student: True when the published plan had a case manager for
        them and this assignment differs from it (moved, or left unplaced)."""
        if self.published_to is None:
            return np.zeros(self.n_students, dtype=bool)
        return (self.published_to != -1) & (assignment != self.published_to)


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


def _sorted_positions(ids: Mapping[str, object]) -> np.ndarray:
    """Per id in the mapping's (file) order: its position in sorted-id order."""
    keys = np.array(list(ids), dtype=object)
    out = np.empty(len(keys), dtype=np.int64)
    out[stable_order(keys)] = np.arange(len(keys))
    return out


def build_problem(district: District, objective: Objective | None = None,
                  published: Mapping[str, str] | None = None) -> PlanningProblem:
    """Turn a district into the solver's arrays, in canonical (sorted-id) order.

    Parameters
    ----------
    district
        A validated district.
    objective
        Weights; default: the rule pack's ``[objective]`` merged with district.toml.
    published
        A published plan to keep stable: student_id -> case_manager_id (blank
        for unplaced). Moving a student away from it costs ``objective.change``.

    Examples
    --------
    >>> problem = build_problem(load_district("data/sample"))   # doctest: +SKIP
    >>> problem.n_students, problem.unit_weights                # doctest: +SKIP
    (1900, True)
    """
    t0 = time.perf_counter()
    objective = objective or Objective.from_settings(district.rules.objective)
    s_file, e_file, d_index, decisions = edge_arrays(district)
    t_edges = time.perf_counter()
    # The edges name records; a District put together by hand could file a
    # record under another id, and the positions below would then give its
    # edges to that id (a reader never does this; a notebook might).
    if (any(k != st.student_id for k, st in district.students.items())
            or any(k != ed.educator_id for k, ed in district.educators.items())):
        raise ValueError("an eligible edge names a student or educator not in the district")
    student_ids = np.array(sorted(district.students), dtype=object)
    educator_ids = np.array(sorted(district.educators), dtype=object)
    e_pos = {e: i for i, e in enumerate(educator_ids)}
    # The edges come as positions in the files' order; each file position's
    # place in sorted-id order turns them into the solver's indexes (no text
    # column and no lookup per edge: a million edges at 100,000 students).
    s_sorted = _sorted_positions(district.students)
    e_sorted = _sorted_positions(district.educators)
    es, ee = s_sorted[s_file], e_sorted[e_file]
    order = np.lexsort((ee, es))
    es, ee = es[order], ee[order]
    d_index = d_index[order]
    rank = np.array([-1 if d.rank is None else d.rank for d in decisions],
                    dtype=np.int64)[d_index]
    capacity = np.array([d.capacity for d in decisions], dtype=object)[d_index]
    reason = np.array([d.reason for d in decisions], dtype=object)[d_index]
    # This year's case manager, by the students' file order.
    current_of = np.array([e_pos.get(st.current_case_manager or "", -1)
                           for st in district.students.values()], dtype=np.int64)
    current = current_of[s_file[order]] == ee
    s_index, e_index = pd.Index(student_ids), pd.Index(educator_ids)
    weight = np.array([district.students[s].weight for s in student_ids], dtype=float)
    pinned = np.full(len(student_ids), -1, dtype=np.int64)
    if district.pins:
        pinned[s_index.get_indexer(list(district.pins))] = e_index.get_indexer(
            list(district.pins.values()))
    cap = np.array([district.cap(e) for e in educator_ids], dtype=np.int64)
    other = np.array([district.educators[e].other_load for e in educator_ids], dtype=float)
    published_to = None
    if published is not None:
        published_to = np.full(len(student_ids), -1, dtype=np.int64)
        for i, sid in enumerate(student_ids):
            was = published.get(sid, "")
            if was:
                published_to[i] = e_pos.get(was, -2)
        _readonly(published_to)
    _readonly(student_ids, educator_ids, es, ee, rank, current, capacity, reason, weight,
              pinned, cap, other)
    return PlanningProblem(
        district=district, objective=objective, student_ids=student_ids,
        educator_ids=educator_ids, edge_student=es, edge_educator=ee, edge_rank=rank,
        edge_current=current, edge_capacity=capacity, edge_reason=reason, weight=weight,
        pinned_to=pinned, cap=cap, other_load=other, published_to=published_to,
        timings=MappingProxyType({"rules_and_edges": t_edges - t0,
                                  "problem": time.perf_counter() - t_edges}),
    )


def component_labels(problem: PlanningProblem) -> tuple[np.ndarray, np.ndarray]:
    """Connected component of every student and educator (label = smallest node index).

    Nodes are students ``0..S-1`` then educators ``S..S+E-1``
    (:func:`optimizer.graph.connected_labels`).
    """
    n_s = problem.n_students
    labels = connected_labels(problem.edge_student, problem.edge_educator + n_s,
                              n_s + problem.n_educators)
    return labels[:n_s], labels[n_s:]
