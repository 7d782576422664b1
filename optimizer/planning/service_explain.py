"""Explaining a service plan: the same :class:`~optimizer.planning.result.Result`
as a case-manager plan, with the providers too (issue 10).

:func:`explain_service_plan` turns a
:class:`~optimizer.planning.solvers.services.ServiceSolution` into:

* ``assignments``: one row per student (the case manager); ``capacity`` is
  ``instruction`` only for the student's SAI provider in the plan,
  ``service`` for another of the student's own providers in the plan,
  ``coordination`` otherwise;
* ``services``: one row per student and IEP service: who serves it and why
  (credential, school, this year's provider kept), or why not served or not
  planned;
* ``caseloads``: ``load`` is the capped **caseload** (distinct students
  served or case-managed + other_load), with ``served``, ``case_managed``,
  ``caseload``, ``minutes``, ``minutes_capacity``;
* ``hiring_needs`` by service: per school (region for itinerant roles),
  role, credential and service; FTE = max(students / full-time cap, minutes
  / full-time minutes capacity), rounded up to 0.1;
* ``summary.json`` with a ``services`` block (docs/plan-format.md).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.district.cap_sources import cap_rows
from optimizer.district.model import Educator
from optimizer.graph import unplaceable_students
from optimizer.planning.explain import (
    SHORT_REASON_MAX,
    case_manager_needed,
    placement_figures,
)
from optimizer.planning.result import (
    ASSIGNMENT_COLUMNS,
    CASELOAD_COLUMNS,
    HIRING_COLUMNS,
    LOCK_REASON,
    RANK_LABEL,
    SERVICE_CASELOAD_COLUMNS,
    SERVICE_COLUMNS,
    UNASSIGNED_COLUMNS,
    Result,
)
from optimizer.planning.service_problem import NOT_PLANNED, DistrictServiceProblem
from optimizer.planning.solvers.services import (
    SCALE,
    ServiceParams,
    ServiceProblem,
    ServiceSolution,
    role_average,
)
from optimizer.rules import RULES

__all__ = ["SERVICE_HIRING_COLUMNS", "explain_service_plan"]

#: ``hiring_needs.csv`` of a service plan: one row per (school or region,
#: role, credential, service); ``service`` blank for case-manager needs.
SERVICE_HIRING_COLUMNS = [*HIRING_COLUMNS, "service", "minutes"]


@dataclass(frozen=True)
class _Plan:
    """Arrays derived once from the solution."""

    sp: DistrictServiceProblem
    provider: np.ndarray  # per pair
    cm: np.ndarray  # per student
    served_n: np.ndarray  # per educator: distinct students served
    managed_n: np.ndarray  # per educator: students case-managed
    caseload: np.ndarray  # per educator: distinct served or managed + other_load
    minutes: np.ndarray  # per educator
    cm_rank: np.ndarray  # per student, -1 unplaced
    capacity: np.ndarray  # per student: instruction / service / coordination / ""
    serves: set[int]  # student * n_educators + educator

    def who(self, e: int) -> str:
        p = self.sp.problem
        text = f"{p.provider_ids[e]} ({p.provider_role[e]}, {self.caseload[e]}/{p.cap[e]}"
        if np.isfinite(p.minutes_capacity[e]):
            text += f", {self.minutes[e]:g}/{p.minutes_capacity[e]:g} min"
        return text + ")"


def _derive(sp: DistrictServiceProblem, sol: ServiceSolution) -> _Plan:
    p = sp.problem
    n_e = p.n_providers
    provider = np.asarray(sol.provider, dtype=np.int64)
    cm = np.asarray(sol.case_manager, dtype=np.int64)
    served = provider >= 0
    skeys = np.unique(p.pair_student[served].astype(np.int64) * n_e + provider[served])
    placed = cm >= 0
    mkeys = np.nonzero(placed)[0].astype(np.int64) * n_e + cm[placed]
    every = np.unique(np.concatenate([skeys, mkeys]))
    served_n = np.bincount(skeys % n_e, minlength=n_e) if n_e else np.zeros(0, np.int64)
    managed_n = np.bincount(cm[placed], minlength=n_e)
    caseload = (np.bincount(every % n_e, minlength=n_e) if n_e else np.zeros(0, np.int64)) \
        + p.other_load
    minutes = np.bincount(provider[served], weights=p.pair_minutes[served], minlength=n_e)
    serves = set(skeys.tolist())
    # Rank of each case manager: the better usable option (own only when serving).
    rank = np.full(p.n_students, -1, dtype=np.int64)
    best: dict[int, int] = {}
    chosen = np.nonzero(cm[p.cm_student] == p.cm_provider)[0]  # options of the chosen one
    for s, e, k, r in zip(p.cm_student[chosen].tolist(), p.cm_provider[chosen].tolist(),
                          p.cm_kind[chosen].tolist(), p.cm_rank[chosen].tolist(), strict=True):
        if k == 0 and s * n_e + e not in serves:
            continue
        best[s] = min(best.get(s, 3), r)
    for s, r in best.items():
        rank[s] = r
    # Capacity from the plan: the SAI provider, another own provider, or a coordinator.
    instruction = {svc for svc, x in sp.district.rules.services.items() if x.kind == "instruction"}
    capacity = np.full(p.n_students, "", dtype=object)
    sai_of: dict[int, int] = {}
    for q in np.nonzero(served)[0].tolist():
        if p.pair_service[q] in instruction:
            sai_of[int(p.pair_student[q])] = int(provider[q])
    for s in np.nonzero(placed)[0].tolist():
        e = int(cm[s])
        capacity[s] = ("instruction" if sai_of.get(s) == e else
                       "service" if s * n_e + e in serves else "coordination")
    return _Plan(sp, provider, cm, served_n, managed_n, caseload, minutes, rank, capacity,
                 serves)


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else ""


def _providers_of(plan: _Plan) -> dict[int, list[tuple[str, int]]]:
    """Per student: (service, provider index) of the pairs served."""
    p = plan.sp.problem
    out: dict[int, list[tuple[str, int]]] = {}
    for q in np.nonzero(plan.provider >= 0)[0].tolist():
        out.setdefault(int(p.pair_student[q]), []).append((str(p.pair_service[q]),
                                                           int(plan.provider[q])))
    return out


def _cm_option_keys(p: ServiceProblem) -> tuple[set[int], set[int]]:
    """Keys ``student * n_providers + provider`` of every case-manager option,
    and of the coordinator ones: looked up per student, where a scan of the
    option arrays per student took a minute at 100,000 students."""
    key = p.cm_student.astype(np.int64) * p.n_providers + p.cm_provider
    return set(key.tolist()), set(key[p.cm_kind == 1].tolist())


def _cm_why_not(plan: _Plan, s: int, cm_id: str, keys: tuple[set[int], set[int]]) -> str:
    """One sentence: why this year's case manager is not kept (``keys``: from
    :func:`_cm_option_keys`)."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    sid = str(p.student_ids[s])
    if cm_id not in d.educators:
        return f"This year's case manager {cm_id} is no longer on staff"
    if (sid, cm_id) in d.forbids:
        return f"This year's case manager {cm_id} is forbidden in locks.csv"
    if sid in d.pins:
        return f"This year's case manager {cm_id} was replaced by the pin"
    e = int(np.searchsorted(p.provider_ids, cm_id))
    any_option, coordinator = keys
    key = s * p.n_providers + e
    if key not in any_option:
        return f"This year's case manager {cm_id} may not case-manage this student"
    if key in coordinator or key in plan.serves:
        return (f"This year's case manager {cm_id} carries {plan.caseload[e]}/{p.cap[e]}: "
                "moved to place or balance caseloads")
    return (f"This year's case manager {cm_id} does not serve this student in the plan, "
            "and may case-manage only as one of their providers")


def assignment_rows(plan: _Plan) -> pd.DataFrame:
    """One row per student: the case manager, with the plan's capacity and why."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    n_e = p.n_providers
    eids = p.provider_ids
    providers = _providers_of(plan)
    pin_lock = {lk.student_id: lk for lk in d.locks if lk.kind == "pin" and lk.service is None}
    # The reason of each (student, educator, kind) option.
    why: dict[tuple[int, int, int], str] = {}
    chosen = np.nonzero(plan.cm[p.cm_student] == p.cm_provider)[0]
    for s, e, k, text in zip(p.cm_student[chosen].tolist(), p.cm_provider[chosen].tolist(),
                             p.cm_kind[chosen].tolist(), sp.cm_reason[chosen].tolist(),
                             strict=True):
        why[(s, e, k)] = str(text)
    keys = _cm_option_keys(p)
    reasons = []
    short: list[str] = []  # planner words, no ids (reason); the full text is reason_detail
    for s in range(p.n_students):
        e = int(plan.cm[s])
        if e < 0:
            reasons.append("")
            short.append("")
            continue
        sid = str(p.student_ids[s])
        rank = int(plan.cm_rank[s])
        gives = ", ".join(f"{svc} by {eids[x]}" for svc, x in providers.get(s, []))
        if plan.capacity[s] == "coordination":
            text = (f"{RANK_LABEL[rank].capitalize()}: {why.get((s, e, 1), '')}; "
                    f"does not serve this student"
                    + (f" (services: {gives})" if gives else " (no service planned)"))
        else:
            own = why.get((s, e, 0), "")
            mine = ", ".join(svc for svc, x in providers.get(s, []) if x == e)
            text = f"{RANK_LABEL[rank].capitalize()}: {own}; serves this student's {mine}"
        lk = pin_lock.get(sid)
        if lk is not None:
            text = f"Pinned in locks.csv ({lk.student_id} to {lk.educator_id}). " + text
        cur = d.students[sid].current_case_manager
        if cur and cur == eids[e]:
            text += ". Keeps this year's case manager"
        elif cur:
            text += ". " + _cm_why_not(plan, s, cur, keys)
        if p.published_cm[s] != -1 and p.published_cm[s] != e:
            text += ". Moved from the published plan"
        if lk is not None and lk.reason:
            text += f". {LOCK_REASON}{lk.reason}"
        reasons.append(text)
        mine_short = ", ".join(svc for svc, x in providers.get(s, []) if x == e)
        parts = [RANK_LABEL[rank].capitalize()
                 + (": coordinates, does not serve them" if plan.capacity[s] == "coordination"
                    else f": serves their {mine_short}"),
                 "Pinned in locks.csv" if lk is not None else "",
                 "Keeps this year's case manager" if cur and cur == eids[e] else
                 "Changes from this year's case manager" if cur else "",
                 "Moved from the published plan"
                 if p.published_cm[s] != -1 and p.published_cm[s] != e else ""]
        text = ". ".join(x for x in parts if x)
        short.append(text if len(text) <= SHORT_REASON_MAX else text[:SHORT_REASON_MAX - 1] + "…")
    del n_e
    students = [d.students[str(x)] for x in p.student_ids]
    placed = plan.cm >= 0
    frame = pd.DataFrame({
        "student_id": p.student_ids,
        "school_id": [s.school_id for s in students],
        "case_manager_id": np.append(eids, "")[plan.cm],
        "role": np.append(p.provider_role, "")[plan.cm],
        "capacity": plan.capacity,
        "rank": pd.array(np.where(placed, plan.cm_rank, 0), dtype="Int64"),
        "kept_current": np.array([bool(s.current_case_manager) and placed[i]
                                  and s.current_case_manager == eids[plan.cm[i]]
                                  for i, s in enumerate(students)], dtype=bool),
        "reason": short,
        "current_case_manager_id": [s.current_case_manager or "" for s in students],
        "grade": [s.grade for s in students],
        "primary_disability": [s.primary_disability for s in students],
        "services": [";".join(sorted(s.services)) for s in students],
        "annual_review": [_iso(s.annual_review) for s in students],
        "triennial_review": [_iso(s.triennial_review) for s in students],
    }, columns=ASSIGNMENT_COLUMNS)
    frame.loc[~placed, "rank"] = pd.NA
    # As in a case-manager plan: the full rule trail, then names for people.
    frame["reason_detail"] = reasons
    frame["student_name"] = [s.name or "" for s in students]
    frame["school_name"] = [d.schools[s.school_id].name for s in students]
    frame["case_manager_name"] = np.append(
        np.array([d.educators[str(x)].name for x in eids], dtype=object), "")[plan.cm]
    return frame


def _minutes_column(values: list[float | None]) -> pd.Series:
    """Whole minutes as integers, blank where not given."""
    given = [v for v in values if v is not None]
    if all(float(v).is_integer() for v in given):
        return pd.Series(pd.array([None if v is None else int(v) for v in values],
                                  dtype="Int64"))
    return pd.Series(pd.array(values, dtype="Float64"))


def service_rows(plan: _Plan) -> pd.DataFrame:
    """One row per student and IEP service: provider, minutes, kept, why."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    eids = p.provider_ids
    first = np.searchsorted(p.edge_pair, np.arange(p.n_pairs))
    last = np.searchsorted(p.edge_pair, np.arange(p.n_pairs), side="right")
    rows = []
    for need, q in zip(sp.needs, sp.need_pair.tolist(), strict=True):
        s = d.students[need.student_id]
        row = {"student_id": need.student_id, "school_id": s.school_id,
               "service": need.service, "provider_id": "", "role": "",
               "minutes": need.minutes, "kept_current": False, "reason": ""}
        key = (need.student_id, need.service)
        pin = sp.pair_pin.get(key)
        if q < 0:
            row["reason"] = (f"Not planned: {NOT_PLANNED} (no educator on staff may give "
                             f"{need.service} to this student; contracted out or served "
                             "outside this plan)")
            rows.append(row)
            continue
        e = int(plan.provider[q])
        cur = need.current_provider
        if e >= 0:
            k = first[q] + int(np.searchsorted(p.edge_provider[first[q]:last[q]], e))
            where = (f"reaches school {s.school_id} under the district's school rule"
                     if sp.edge_outside[k] else f"serves school {s.school_id}")
            text = f"Served by {eids[e]} ({p.provider_role[e]}): {sp.option_reason[k]}; {where}"
            row.update(provider_id=str(eids[e]), role=str(p.provider_role[e]),
                       kept_current=bool(cur) and cur == eids[e])
        else:
            options = [int(x) for x in p.edge_provider[first[q]:last[q]]]
            if options:
                text = ("Not served: every eligible provider is full: "
                        + ", ".join(plan.who(x) for x in options))
            else:
                text = (f"Not served: no eligible provider serves school {s.school_id} "
                        "(see hiring_needs.csv)")
        if pin is not None:
            text = (f"Pinned in locks.csv ({pin.student_id} {pin.service} to "
                    f"{pin.educator_id}). " + text)
        if cur and row["kept_current"]:
            text += ". Keeps this year's provider"
        elif cur:
            text += ". " + _provider_why_not(plan, q, need.student_id, need.service, cur,
                                             first[q], last[q])
        if p.pair_published[q] != -1 and p.pair_published[q] != e:
            text += ". Moved from the published plan"
        if pin is not None and pin.reason:
            text += f". {LOCK_REASON}{pin.reason}"
        row["reason"] = text
        rows.append(row)
    frame = pd.DataFrame(rows, columns=SERVICE_COLUMNS)
    frame["minutes"] = _minutes_column([n.minutes for n in sp.needs]).to_numpy()
    frame["kept_current"] = frame["kept_current"].astype(bool)
    return frame


def _provider_why_not(plan: _Plan, q: int, sid: str, svc: str, cur: str, a: int,
                      b: int) -> str:
    sp = plan.sp
    p = sp.problem
    if cur not in sp.district.educators:
        return f"This year's provider {cur} is no longer on staff"
    if cur in sp.pair_forbidden.get((sid, svc), frozenset()):
        return f"This year's provider {cur} is forbidden in locks.csv"
    pin = sp.pair_pin.get((sid, svc))
    if pin is not None and pin.educator_id != cur:
        return f"This year's provider {cur} was replaced by the pin"
    e = int(np.searchsorted(p.provider_ids, cur))
    if e not in p.edge_provider[a:b].tolist():
        return (f"This year's provider {cur} may not give {svc} to this student here "
                "(credential or school)")
    return f"This year's provider {cur} carries {plan.caseload[e]}/{p.cap[e]}: moved to " \
           "serve or balance caseloads"


def caseload_rows(plan: _Plan) -> pd.DataFrame:
    """One row per educator: cap, caseload (the capped number), served,
    case-managed, minutes against the minutes capacity."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    eids = p.provider_ids
    cap = p.cap.astype(float)
    load = plan.caseload.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cap > 0, load / cap, np.where(load > 0, np.nan, 0.0))
    placed = plan.cm >= 0
    mcap = p.minutes_capacity
    return pd.DataFrame({
        "educator_id": eids, "role": p.provider_role,
        "schools": [";".join(d.educators[e].schools) for e in eids],
        "cap": p.cap, "load": plan.caseload, "load_ratio": np.round(ratio, 4),
        "students": plan.managed_n,
        "best_practice_students": np.bincount(plan.cm[placed & (plan.cm_rank == 0)],
                                              minlength=p.n_providers),
        "name": [d.educators[e].name for e in eids],
        "fte": [d.educators[e].fte for e in eids],
        "other_load": [d.educators[e].other_load for e in eids],
        "served": plan.served_n, "case_managed": plan.managed_n, "caseload": plan.caseload,
        "minutes": _minutes_column([float(m) for m in plan.minutes]).to_numpy(),
        "minutes_capacity": pd.array([None if not np.isfinite(m) else float(m)
                                      for m in mcap], dtype="Float64"),
    }, columns=CASELOAD_COLUMNS + SERVICE_CASELOAD_COLUMNS)


def unplaced_rows(plan: _Plan) -> pd.DataFrame:
    """One row per student without a case manager, with why."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    no_option = {u["student_id"]: u for u in unplaceable_students(d)}
    rows = []
    first = np.searchsorted(p.cm_student, np.arange(p.n_students))
    last = np.searchsorted(p.cm_student, np.arange(p.n_students), side="right")
    for s in np.nonzero(plan.cm < 0)[0].tolist():
        sid = str(p.student_ids[s])
        mine = p.cm_provider[first[s]:last[s]]
        if sid in no_option:
            u = no_option[sid]
            details = "; ".join(f"{c['educator_id']} ({c['role']}): {' / '.join(c['why_not'])}"
                                for c in u["candidates"])
            why = ("No one at this school may case-manage this student: " + u["summary"]
                   + (f". {details}" if details else ""))
        elif not len(mine):
            why = ("No one may case-manage this student: those the rules allow hold no "
                   "education-specialist or service credential (coordinators need one)")
        else:
            why = ("Every eligible case manager is full, or may case-manage only as a "
                   "provider the plan does not make them: "
                   + ", ".join(plan.who(int(e)) for e in sorted(set(mine.tolist()))))
        rows.append({"student_id": sid, "school_id": d.students[sid].school_id, "reason": why})
    return pd.DataFrame(rows, columns=UNASSIGNED_COLUMNS)


def _provider_needed(sp: DistrictServiceProblem, sid: str, svc: str,
                     on_staff: set[str]) -> tuple[str, str]:
    """The role and credential a hire would need to give this pair
    (``on_staff``: the roles on staff, preferred among equals)."""
    d = sp.district
    pack = d.rules
    s = d.students[sid]
    if pack.services[svc].kind == "instruction":
        roles = sorted((r for r in pack.roles.values() if r.teaches == s.sai_setting),
                       key=lambda r: (r.code not in on_staff, r.code))
        for role in roles:
            for code, cred in pack.credentials.items():
                if not cred.teaching:
                    continue
                probe = Educator("?", "?", role.code, frozenset([code]), (s.school_id,), 1.0,
                                 None, 0.0, None, 0)
                if all(rule(pack, s, probe).ok for rule in RULES["instruction"]):
                    return role.code, code
        return (roles[0].code if roles else ""), ""
    roles = sorted((r for r in pack.roles.values() if svc in r.provides),
                   key=lambda r: (r.code not in on_staff, r.code))
    creds = sorted(pack.services[svc].credentials)
    return (roles[0].code if roles else ""), (creds[0] if creds else "")


def _fte(pack_roles: Mapping, role: str, students: int, minutes: float | None) -> float:
    r = pack_roles.get(role)
    need = students / ((r.cap if r is not None else 0) or 1)
    if minutes is not None and r is not None and r.minutes_capacity:
        need = max(need, minutes / r.minutes_capacity)
    return math.ceil(10 * need - 1e-9) / 10


def hiring_rows(plan: _Plan) -> pd.DataFrame:
    """Hires that would serve the unserved pairs and place the unplaced
    students: per school (region for itinerant roles), role, credential, service."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    pack = d.rules
    groups: dict[tuple[str, str, str, str, str], list] = {}

    def add(sid: str, role: str, cred: str, svc: str, minutes: float | None) -> None:
        school = d.schools[d.students[sid].school_id]
        itinerant = role in pack.roles and pack.roles[role].itinerant
        key = ("" if itinerant else school.school_id, school.region or "", role, cred, svc)
        g = groups.setdefault(key, [0, None])
        g[0] += 1
        if minutes is not None:
            g[1] = (g[1] or 0.0) + minutes

    on_staff = {e.role for e in d.educators.values()}
    for need, q in zip(sp.needs, sp.need_pair.tolist(), strict=True):
        if q >= 0 and plan.provider[q] < 0:
            role, cred = _provider_needed(sp, need.student_id, need.service, on_staff)
            add(need.student_id, role, cred, need.service, need.minutes)
    for s in np.nonzero(plan.cm < 0)[0].tolist():
        sid = str(p.student_ids[s])
        role, cred = case_manager_needed(d, sid)
        add(sid, role, cred, "", None)
    rows = []
    for (school_id, region, role, cred, svc), (n, minutes) in sorted(groups.items()):
        rows.append({"school_id": school_id, "region": region, "role": role,
                     "credential": cred, "students": n,
                     "fte": _fte(pack.roles, role, n, minutes), "service": svc,
                     "minutes": minutes})
    frame = pd.DataFrame(rows, columns=SERVICE_HIRING_COLUMNS)
    frame["minutes"] = _minutes_column(list(frame["minutes"].where(
        frame["minutes"].notna(), None))).to_numpy() if len(frame) else frame["minutes"]
    return frame


def _points(milli: float) -> float:
    return milli / SCALE


def _terms(sp: DistrictServiceProblem, sol: ServiceSolution,
           params: ServiceParams) -> dict[str, float]:
    """Points per term: unserved pairs and unplaced students at their weights,
    then rank, continuity, balance and (re-planning) change."""
    t = sol.terms
    terms = {"unserved": params.unserved * t["unserved"],
             "unplaced": params.unplaced * t["unplaced"], "rank": _points(t["rank"]),
             "continuity": _points(t["continuity"]), "balance": _points(t["balance"])}
    if sp.published_given:
        terms["change"] = _points(t["change"])
    return terms


def service_figures(plan: _Plan, sol: ServiceSolution, params: ServiceParams,
                    engine: str, runtime: Mapping[str, float], made_at: str | None,
                    balance_mode: str) -> dict[str, object]:
    """Everything in ``summary.json`` for a service plan (the case-manager
    figures as before, plus the ``services`` block)."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    o = sp.objective
    n_s = p.n_students
    placed = plan.cm >= 0
    rank = plan.cm_rank
    placed_n = int(placed.sum())
    with_current = p.current_cm >= 0
    kept = with_current & (plan.cm == p.current_cm)
    t = sol.terms
    terms = _terms(sp, sol, params)
    b = sol.bound
    bound = (params.unserved * b["unserved"] + params.unplaced * b["unplaced"]
             + _points(b["cost"]))
    active = np.zeros(p.n_providers, dtype=bool)
    active[p.edge_provider] = True
    active[p.cm_provider] = True
    cap = p.cap.astype(float)
    ratio = plan.caseload[active & (cap > 0)] / cap[active & (cap > 0)]
    by_service: dict[str, dict[str, int]] = {}
    for need, q in zip(sp.needs, sp.need_pair.tolist(), strict=True):
        row = by_service.setdefault(need.service, {"pairs": 0, "served": 0, "not_served": 0,
                                                   "not_planned": 0})
        row["pairs"] += 1
        if q < 0:
            row["not_planned"] += 1
        elif plan.provider[q] >= 0:
            row["served"] += 1
        else:
            row["not_served"] += 1
    averages = {}
    for code, role in d.rules.roles.items():
        if role.cap_kind != "law: average":
            continue
        avg = role_average(p, plan.provider, plan.cm, (code,))
        if avg is None:
            continue
        mask = p.provider_role == code
        averages[code] = {"caseload": int(plan.caseload[mask].sum()),
                          "fte": round(float(p.fte[mask].sum()), 4),
                          "average": round(avg, 4), "limit": role.cap,
                          "source": role.cap_source}
    over = [str(p.provider_ids[e]) for e in range(p.n_providers)
            if plan.minutes[e] > p.minutes_capacity[e] + 1e-9]
    published = None
    if sp.published_given:
        moved = (p.published_cm != -1) & (plan.cm != p.published_cm)
        gone = moved & (p.published_cm == -2)
        pairs_moved = (p.pair_published != -1) & (plan.provider != p.pair_published)
        published = {"students_in_published_plan": int((p.published_cm != -1).sum()),
                     "moved": int(moved.sum()),
                     "moved_because": {k: v for k, v in (
                         ("no longer on staff", int(gone.sum())),
                         ("re-planned", int((moved & ~gone).sum()))) if v},
                     "pairs_in_published_plan": int((p.pair_published != -1).sum()),
                     "pairs_moved": int(pairs_moved.sum())}
    return {
        "district": d.name, "rule_pack": d.rules.name, "status": sol.status,
        "engine": engine, "balance": balance_mode,
        "objective": sol.total(params), "terms": terms, "bound": bound, "gap": sol.gap,
        **placement_figures(o, n_s, placed_n, rank, kept, with_current, ratio),
        "runtime_s": {k: round(v, 4) for k, v in runtime.items()},
        **({"made_at": made_at} if made_at else {}),
        "sources": dict(d.sources),
        "caps": cap_rows(d),
        **({"published_plan": published} if published else {}),
        "services": {
            "by_service": dict(sorted(by_service.items())),
            "not_planned_reason": NOT_PLANNED,
            "role_average": averages,
            "over_minutes_capacity": over,
            "minutes_capacity_used": bool(sol.extra.get("minutes", False)),
            "levels": {"unserved_pairs": [int(t["unserved"]), int(b["unserved"])],
                       "unplaced_students": [int(t["unplaced"]), int(b["unplaced"])]},
            "status": sol.status, "gap": sol.gap,
        },
    }


def explain_service_plan(sp: DistrictServiceProblem, sol: ServiceSolution,
                         params: ServiceParams, *, audit: pd.DataFrame,
                         balance_mode: str = "convex", made_at: str | None = None,
                         runtime: Mapping[str, float] | None = None) -> Result:
    """The explained service plan (see the module docstring).

    Parameters
    ----------
    sp
        From :func:`optimizer.planning.service_problem.build_district_service_problem`.
    sol
        From :func:`optimizer.planning.solvers.services.solve_services`.
    params
        The weights it was solved with.
    audit
        This year's assignments that break a rule (``audit.csv``).
    balance_mode
        Reported in the figures.
    made_at
        When the plan was made (ISO time); None writes no time.
    runtime
        Seconds per stage so far.

    Returns
    -------
    Result

    Examples
    --------
    >>> result = explain_service_plan(sp, solve_services(sp.problem), params,
    ...                               audit=audit_table(d))   # doctest: +SKIP
    """
    t0 = time.perf_counter()
    plan = _derive(sp, sol)
    assignments = assignment_rows(plan)
    services = service_rows(plan)
    caseloads = caseload_rows(plan)
    unassigned = unplaced_rows(plan)
    hiring = hiring_rows(plan)
    engine = ("service solver: providers and case managers together "
              "(docs/service-caseloads.md)")
    times = {**dict(runtime or {}), **{f"services_{k}": v for k, v in sol.runtime.items()},
             "explain": time.perf_counter() - t0}
    figures = service_figures(plan, sol, params, engine, times, made_at, balance_mode)
    b = sol.bound
    return Result(status=sol.status, engine=engine, objective=sol.total(params),
                  bound=(params.unserved * b["unserved"] + params.unplaced * b["unplaced"]
                         + _points(b["cost"])), gap=sol.gap,
                  terms=_terms(sp, sol, params), assignments=assignments,
                  caseloads=caseloads, unassigned=unassigned, hiring_needs=hiring,
                  audit=audit, figures=figures, assignment=plan.cm, services=services)
