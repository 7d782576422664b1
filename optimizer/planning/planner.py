"""The one-call planning API: district in, :class:`~optimizer.planning.result.Result` out.

``plan`` runs the stages in order — the planning problem (rules and edges),
the solver, then the explanation — and is what the ``caseload plan``
command and the notebooks call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from optimizer.district.model import District
from optimizer.planning.check import audit_table
from optimizer.planning.explain import explain_plan
from optimizer.planning.objective import Objective
from optimizer.planning.problem import build_problem
from optimizer.planning.result import PlanTables, Result
from optimizer.planning.service_plan import plan_services
from optimizer.planning.solvers import SolveParams, solve

__all__ = ["case_managers_of", "plan", "providers_of"]


def case_managers_of(assignments: pd.DataFrame) -> dict[str, str]:
    """student_id -> case_manager_id of a plan's assignments (blank: none), as
    a published plan is kept stable by.

    Examples
    --------
    >>> case_managers_of(pd.DataFrame({"student_id": ["S1"], "case_manager_id": ["E1"]}))
    {'S1': 'E1'}
    """
    # (Python lists: a text column's cells one at a time cost 2 µs each, and a
    # district has 100,000 students and 170,000 services.)
    return dict(zip(assignments["student_id"].tolist(),
                    assignments["case_manager_id"].fillna("").tolist(), strict=True))


def providers_of(services: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(student_id, service) -> provider_id of a service plan's services
    (blank: none).

    Examples
    --------
    >>> providers_of(pd.DataFrame({"student_id": ["S1"], "service": ["SPEECH"],
    ...                            "provider_id": ["E3"]}))
    {('S1', 'SPEECH'): 'E3'}
    """
    return dict(zip(zip(services["student_id"].astype(str).tolist(),
                        services["service"].astype(str).tolist(), strict=True),
                    services["provider_id"].fillna("").astype(str).tolist(), strict=True))


def _published_mapping(published: Result | PlanTables | Mapping[str, str] | None
                       ) -> Mapping[str, str] | None:
    if published is None or isinstance(published, Mapping):
        return published
    return case_managers_of(published.assignments)


def _published_services(published: Result | PlanTables | Mapping[str, str] | None
                        ) -> Mapping[tuple[str, str], str] | None:
    """(student_id, service) -> provider_id of a published service plan (None
    when the published plan has no services table)."""
    if published is None or isinstance(published, Mapping):
        return None
    sv = published.services
    return providers_of(sv) if len(sv) else None


def plan(district: District, params: SolveParams | None = None,
         objective: Objective | None = None,
         published: Result | PlanTables | Mapping[str, str] | None = None, *,
         baseline: Result | PlanTables | Mapping[str, str] | None = None,
         made_at: str | None = None,
         published_services: Mapping[tuple[str, str], str] | None = None,
         audit: Callable[[], pd.DataFrame] | None = None) -> Result:
    """Plan next year's case managers for a validated district (and, when
    ``district.plans_services``, who serves each IEP service: see
    :func:`optimizer.planning.service_plan.plan_services`).

    Parameters
    ----------
    district
        From :func:`optimizer.load_district`.
    params
        :class:`optimizer.planning.solvers.SolveParams` (balance mode, engine,
        time limit, progress callback).
    objective
        Weights; default: the rule pack's ``[objective]`` with district.toml's overrides.
    published
        A published plan to keep stable (a Result, PlanTables from
        :func:`optimizer.outputs.plan_folder.read_plan`, or a mapping
        student_id -> case_manager_id): every student whose case manager
        differs from it costs the ``change`` weight, so a mid-year change moves
        only the students it must.
    baseline
        The former name of ``published`` (still accepted).
    published_services
        In a service plan: the published plan's providers, (student_id,
        service) -> provider_id (default: ``published.services`` when
        ``published`` is a Result or PlanTables). Moving a pair away from
        them costs the ``change`` weight too.
    made_at
        When the plan was made (ISO time) for ``summary.json``; None (default)
        writes no time, so the same input gives the same bytes. The CLI passes
        the ``SOURCE_DATE_EPOCH`` time when it is set.
    audit
        Gives this year's audit (:func:`optimizer.planning.check.audit_table`
        of ``district``) when the plan is explained; None: computed here.
        The CLI computes it in a second process during the solve.

    Returns
    -------
    Result

    Examples
    --------
    >>> from optimizer import load_district, plan
    >>> result = plan(load_district("data/sample"))          # doctest: +SKIP
    >>> print(result.summary())                               # doctest: +SKIP
    """
    params = params or SolveParams()
    say = params.progress or (lambda _text: None)
    if published is None:
        published = baseline
    say(f"{len(district.students):,} students, {len(district.educators):,} educators; "
        "applying the credential rules")
    if district.plans_services:
        return plan_services(district, params, objective, _published_mapping(published),
                             _published_services(published) if published_services is None
                             else published_services, made_at=made_at, audit=audit)
    problem = build_problem(district, objective, _published_mapping(published))
    say(f"{problem.n_edges:,} eligible pairs; solving")
    solution = solve(problem, params)
    say(f"{solution.status}; explaining the plan")
    return explain_plan(problem, solution,
                        audit=audit_table(district) if audit is None else audit(),
                        balance_mode=params.balance, made_at=made_at)
