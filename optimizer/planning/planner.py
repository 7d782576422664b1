"""The one-call planning API: district in, :class:`~optimizer.planning.result.Result` out."""

from __future__ import annotations

from optimizer.district.model import District
from optimizer.planning.problem import Objective, build_problem
from optimizer.planning.result import Result

__all__ = ["plan"]


def plan(district: District, params=None, objective: Objective | None = None,
         baseline=None) -> Result:
    """Plan next year's case managers for a validated district.

    Parameters
    ----------
    district
        From :func:`optimizer.load_district`.
    params
        :class:`optimizer.planning.solvers.SolveParams` (balance mode, engine, time limit).
    objective
        Weights; default: the rule pack's ``[objective]`` with district.toml's overrides.
    baseline
        A published plan to keep stable (a Result, PlanTables from
        :func:`optimizer.district.reader.read_plan`, or a mapping student_id ->
        case_manager_id): every student moved away from it costs the
        ``change`` weight, so a mid-year change moves only the students it must.

    Returns
    -------
    Result

    Examples
    --------
    >>> from optimizer import load_district, plan
    >>> result = plan(load_district("data/sample"))          # doctest: +SKIP
    >>> print(result.summary())                               # doctest: +SKIP
    """
    from optimizer.planning.solvers import (
        solve,  # the solver (and OR-Tools) loads only when planning
    )

    if baseline is not None and not isinstance(baseline, dict):
        a = baseline.assignments
        baseline = dict(zip(a["student_id"], a["case_manager_id"].fillna(""), strict=True))
    return solve(build_problem(district, objective, baseline), params)
