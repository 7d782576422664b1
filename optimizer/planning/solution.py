"""What a solver returns: an assignment and what was proven about it.

Explaining the plan (reasons, tables, hiring needs) is a later stage:
:func:`optimizer.planning.explain.explain_plan` turns a :class:`Solution`
into the :class:`~optimizer.planning.result.Result` a planner reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = ["Solution"]


@dataclass(frozen=True)
class Solution:
    """A solver's answer, in the problem's order.

    Attributes
    ----------
    assignment
        Educator index per student, -1 unplaced (read-only).
    status
        ``optimal``: the most students placed and the fewest points among such
        plans, both proven; ``feasible``: a plan that respects every rule and
        cap, without that proof.
    engine
        Which engine found it and what it proved, in words.
    objective
        The plan's points (sum of the objective's terms).
    bound
        Best proven lower bound on the points of a plan placing as many
        students; equal to ``objective`` when optimal; None when no bound is
        known.
    runtime
        Seconds per step.
    facts
        Engine facts for ``summary.json`` (components, ceilings, CP-SAT's own
        objective and bound, ...).

    Examples
    --------
    >>> s = Solution(np.array([0, -1]), "optimal", "flow", 12.0, 12.0)
    >>> s.gap
    0.0
    """

    assignment: np.ndarray
    status: str
    engine: str
    objective: float
    bound: float | None
    runtime: Mapping[str, float] = field(default_factory=dict)
    facts: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in ("optimal", "feasible"):
            raise ValueError(f"status must be 'optimal' or 'feasible', not {self.status!r}")
        assignment = np.array(self.assignment, dtype=np.int64)
        assignment.setflags(write=False)
        object.__setattr__(self, "assignment", assignment)
        object.__setattr__(self, "runtime", MappingProxyType(dict(self.runtime)))
        object.__setattr__(self, "facts", MappingProxyType(dict(self.facts)))

    @property
    def gap(self) -> float | None:
        """Relative gap between the plan's points and the bound (None: no bound)."""
        if self.bound is None:
            return None
        if self.objective <= self.bound:
            return 0.0
        return (self.objective - self.bound) / max(abs(self.objective), 1e-9)
