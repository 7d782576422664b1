"""The objective, one term at a time: each term is defined once, here.

A plan is judged first by **how many students it places** (the most
possible, always) and then by its **points**, the sum of the terms below
(lower is better). Each term says, from one definition:

* its value on a plan (:meth:`Term.value`) — what the summary reports;
* its linear costs, per eligible edge and per student left unplaced
  (:meth:`LinearTerm.edge_points`, :meth:`LinearTerm.unplaced_points`) —
  what the min-cost flow puts on its arcs and CP-SAT on its variables;
* for the convex balance term, the penalty of a caseload at a given load
  (:meth:`Balance.penalty`) — the flow's seat arcs cost its increments and
  CP-SAT bounds it by the same increments' secant lines.

To add a term: write one class here (a :class:`LinearTerm` needs only its
two cost arrays), add it to :meth:`Objective.terms`, and a weight to
:class:`Objective` and the rule pack's ``[objective]`` table. The solvers
and the reported value follow; ``tests/test_objective.py`` checks that they
agree per term.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from optimizer.planning.problem import PlanningProblem

__all__ = ["Balance", "Change", "Continuity", "LinearTerm", "Objective", "Rank", "Term",
           "Unplaced"]

#: The names of the weights in ``[objective]`` (rule pack and district.toml).
WEIGHT_NAMES = ("unplaced", "rank", "continuity", "balance", "change")


@dataclass(frozen=True)
class Objective:
    """The objective's weights, in points (docs/plan-format.md).

    Placing students always comes first: the solvers prove the most students
    that can be placed, whatever the weights. Among plans that place that
    many, the plan minimizes the sum of the terms' points:

    ``unplaced``
        points per student left without a case manager (the same for every
        plan with the most placed; it keeps the reported total comparable);
    ``rank``
        points for a case manager of best-practice rank 0, 1 and 2;
    ``continuity``
        points *taken off* for keeping this year's case manager;
    ``balance``
        ``balance x load^2 / cap`` per educator: a convex penalty that
        spreads students evenly;
    ``change``
        only when re-planning against a published plan: points per student
        whose case manager differs from the published one, including a
        student the published plan placed and this plan leaves unplaced.

    The weights trade the terms against each other, across students: a
    chain of moves may give one student a rank step (10) so that two others
    keep their case manager (2 x 5). What holds for any weights is the
    optimum itself: no plan placing as many students has fewer points.

    Examples
    --------
    >>> Objective.from_settings({"continuity": 8}).continuity
    8.0
    """

    unplaced: float = 1000.0
    rank: tuple[float, float, float] = (0.0, 10.0, 30.0)
    continuity: float = 5.0
    balance: float = 2.0
    change: float = 50.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Objective:
        """Weights from an ``[objective]`` table (missing keys keep their default).

        Raises
        ------
        ValueError
            A weight that is not a finite number, or ``rank`` not three numbers.
        """
        d = cls()
        unknown = sorted(set(settings) - set(WEIGHT_NAMES))
        if unknown:
            raise ValueError(f"objective: unknown weight(s) {', '.join(unknown)}; "
                             f"expected {', '.join(WEIGHT_NAMES)}")
        rank_raw = settings.get("rank", d.rank)
        if not isinstance(rank_raw, list | tuple) or len(rank_raw) != 3:
            raise ValueError("objective.rank needs three numbers (ranks 0, 1, 2)")
        rank = tuple(_finite(f"objective.rank[{i}]", x) for i, x in enumerate(rank_raw))
        return cls(unplaced=_finite("objective.unplaced", settings.get("unplaced", d.unplaced)),
                   rank=(rank[0], rank[1], rank[2]),
                   continuity=_finite("objective.continuity",
                                      settings.get("continuity", d.continuity)),
                   balance=_finite("objective.balance", settings.get("balance", d.balance)),
                   change=_finite("objective.change", settings.get("change", d.change)))

    def terms(self, problem: PlanningProblem) -> tuple[Term, ...]:
        """The terms that apply to a problem, in the order they are reported."""
        out: list[Term] = [Unplaced(self.unplaced), Rank(self.rank),
                           Continuity(self.continuity), Balance(self.balance)]
        if problem.published_to is not None:
            out.append(Change(self.change))
        return tuple(out)


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > 1e9:
        raise ValueError(f"{name}: expected a finite number of points (at most 1e9 in "
                         f"size), got {value!r}")
    return number


class Term:
    """One named part of the objective."""

    name: str = ""

    def value(self, problem: PlanningProblem, assignment: np.ndarray) -> float:
        """Points of this term for an assignment (educator index per student, -1 unplaced)."""
        raise NotImplementedError


class LinearTerm(Term):
    """A term that adds points per student: along the edge chosen, or for
    leaving the student unplaced."""

    def edge_points(self, problem: PlanningProblem) -> np.ndarray:
        """Points per eligible edge, when the student is placed along it."""
        return np.zeros(problem.n_edges)

    def unplaced_points(self, problem: PlanningProblem) -> np.ndarray:
        """Points per student, when the student is left unplaced."""
        return np.zeros(problem.n_students)

    def value(self, problem: PlanningProblem, assignment: np.ndarray) -> float:
        placed = assignment >= 0
        chosen = problem.chosen_edges(assignment)[placed]
        return float(self.edge_points(problem)[chosen].sum()
                     + self.unplaced_points(problem)[~placed].sum())


@dataclass(frozen=True)
class Unplaced(LinearTerm):
    """Points for each student left without a case manager."""

    weight: float
    name: str = "unplaced"

    def unplaced_points(self, problem: PlanningProblem) -> np.ndarray:
        return np.full(problem.n_students, self.weight)


@dataclass(frozen=True)
class Rank(LinearTerm):
    """Points by the best-practice rank of the chosen case manager (0, 1, 2)."""

    weights: tuple[float, float, float]
    name: str = "rank"

    def edge_points(self, problem: PlanningProblem) -> np.ndarray:
        return np.asarray(self.weights, dtype=float)[problem.edge_rank]


@dataclass(frozen=True)
class Continuity(LinearTerm):
    """Points taken off for keeping this year's case manager."""

    weight: float
    name: str = "continuity"

    def edge_points(self, problem: PlanningProblem) -> np.ndarray:
        return -self.weight * problem.edge_current.astype(float)


@dataclass(frozen=True)
class Change(LinearTerm):
    """Points for each student whose case manager differs from the published
    plan's: moved to someone else, or left unplaced."""

    weight: float
    name: str = "change"

    def edge_points(self, problem: PlanningProblem) -> np.ndarray:
        return self.weight * problem.edge_moves().astype(float)

    def unplaced_points(self, problem: PlanningProblem) -> np.ndarray:
        if problem.published_to is None:
            return np.zeros(problem.n_students)
        return self.weight * (problem.published_to != -1).astype(float)


@dataclass(frozen=True)
class Balance(Term):
    """``weight x load^2 / cap`` per educator (load includes other load):
    convex, so spreading students evenly costs least."""

    weight: float
    name: str = "balance"

    def penalty(self, problem: PlanningProblem, load: np.ndarray,
                educators: np.ndarray | None = None) -> np.ndarray:
        """The penalty of each educator (or of ``educators``) at the given loads."""
        cap = problem.cap if educators is None else problem.cap[educators]
        cap = cap.astype(float)
        load = np.asarray(load, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.weight * np.where(cap > 0, load * load / np.where(cap > 0, cap, 1),
                                          0.0)

    def increment(self, problem: PlanningProblem, educators: np.ndarray,
                  load_after: np.ndarray) -> np.ndarray:
        """What taking one more student (weight 1) up to ``load_after`` adds."""
        return (self.penalty(problem, load_after, educators)
                - self.penalty(problem, load_after - 1, educators))

    def value(self, problem: PlanningProblem, assignment: np.ndarray) -> float:
        return float(self.penalty(problem, problem.loads(assignment)).sum())
