"""Planning providers and case managers together (issue 10): the district's
service problem (:mod:`optimizer.planning.service_problem`), the service
solver (:func:`optimizer.planning.solvers.services.solve_services`) and the
explanation (:mod:`optimizer.planning.service_explain`), in one call.

:func:`optimizer.planning.planner.plan` calls :func:`plan_services` when
``district.plans_services``; otherwise the plan is the case-manager plan of
before, unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import pandas as pd

from optimizer.district.model import District
from optimizer.planning.check import audit_table
from optimizer.planning.objective import Objective
from optimizer.planning.result import Result
from optimizer.planning.service_explain import explain_service_plan
from optimizer.planning.service_problem import build_district_service_problem, service_params
from optimizer.planning.solvers import SolveParams
from optimizer.planning.solvers.heartbeat import heartbeat
from optimizer.planning.solvers.services_exact import ExactParams, solve_services_exact

__all__ = ["plan_services"]


def plan_services(district: District, params: SolveParams | None = None,
                  objective: Objective | None = None,
                  published: Mapping[str, str] | None = None,
                  published_services: Mapping[tuple[str, str], str] | None = None, *,
                  made_at: str | None = None,
                  audit: Callable[[], pd.DataFrame] | None = None) -> Result:
    """Plan who serves each IEP service and who case-manages each student.

    Parameters
    ----------
    district
        A validated district (services from ``district.service_needs``).
    params
        :class:`SolveParams`: its ``time_limit`` bounds the service solver's
        LP; ``balance`` is reported (the service objective is convex).
    objective
        Weights; default: the rule pack's ``[objective]`` with district.toml's.
    published, published_services
        A published plan to keep stable: case managers by student, providers
        by (student, service).
    made_at
        When the plan was made (ISO time); None writes no time.
    audit
        Gives this year's audit (:func:`optimizer.planning.check.audit_table`
        of ``district``) when the plan is explained; None: computed here.
        The CLI computes it in a second process while the service problem is
        built (one core's work of 2.5 s at 100,000 students).

    Returns
    -------
    Result
        With ``services`` filled in and the service caseload columns.

    Examples
    --------
    >>> result = plan_services(load_district("district-with-services"))  # doctest: +SKIP
    >>> result.services.head()                                           # doctest: +SKIP
    """
    params = params or SolveParams()
    say = params.progress or (lambda _text: None)
    objective = objective or Objective.from_settings(district.rules.objective)
    t0 = time.perf_counter()
    sp = build_district_service_problem(district, objective, published, published_services)
    build_s = time.perf_counter() - t0
    say(f"{sp.problem.n_pairs:,} service pairs, {len(sp.problem.edge_pair):,} provider "
        f"options, {len(sp.problem.cm_student):,} case-manager options; solving")
    sparams = service_params(objective, params.time_limit)
    # Small independent parts are proven exactly by CP-SAT, the others by the
    # flow and LP solver (docs/service-exact.md).
    with heartbeat(params.progress, "solving"):  # (a line now and then: heartbeat.py)
        sol = solve_services_exact(sp.problem, sparams, ExactParams())
    say(f"{sol.status}; explaining the plan")
    return explain_service_plan(sp, sol, sparams,
                                audit=audit_table(district) if audit is None else audit(),
                                balance_mode=params.balance, made_at=made_at,
                                runtime={**dict(sp.timings), "service_problem": build_s})
