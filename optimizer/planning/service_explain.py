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

from optimizer.arraysets import unique
from optimizer.district.bulk import without_collector_pauses
from optimizer.district.cap_sources import cap_rows
from optimizer.district.model import EDIT_REASON, Educator, ServiceNeed
from optimizer.graph import unplaceable_students
from optimizer.planning.explain import (
    SHORT_REASON_MAX,
    _each_once,
    case_manager_needed,
    placement_figures,
)
from optimizer.planning.result import (
    ASSIGNMENT_COLUMNS,
    CASELOAD_COLUMNS,
    CHANGED_IN_WORKBOOK,
    CHANGED_IN_WORKBOOK_WORDS,
    CLEARED_IN_WORKBOOK,
    HIRING_COLUMNS,
    KEPT_EDIT,
    LOCK_REASON,
    PINNED_IN_LOCKS,
    RANK_LABEL,
    SERVICE_CASELOAD_COLUMNS,
    SERVICE_COLUMNS,
    UNASSIGNED_COLUMNS,
    Result,
    changed_in_workbook,
    pin_opening,
)
from optimizer.planning.service_problem import (
    NOT_PLANNED,
    DistrictServiceProblem,
    _instruction_key,
)
from optimizer.planning.solvers.services import (
    SCALE,
    ServiceParams,
    ServiceProblem,
    ServiceSolution,
    role_average,
)
from optimizer.planning.solvers.services_ahead import Ahead
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
    who_cache: dict[int, str]  # educator -> who(e), made when first asked for
    e_pos: Mapping[str, int]  # educator id -> index (a dict: not a bisection per row)

    def who(self, e: int) -> str:
        hit = self.who_cache.get(e)
        if hit is None:
            hit = self.who_cache[e] = self._who(e)
        return hit

    def _who(self, e: int) -> str:
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
    # arraysets.unique: np.unique hashes (NumPy 2.3+), four times slower here.
    skeys = unique(p.pair_student[served].astype(np.int64) * n_e + provider[served])
    placed = cm >= 0
    mkeys = np.nonzero(placed)[0].astype(np.int64) * n_e + cm[placed]
    every = unique(np.concatenate([skeys, mkeys]))
    served_n = np.bincount(skeys % n_e, minlength=n_e) if n_e else np.zeros(0, np.int64)
    managed_n = np.bincount(cm[placed], minlength=n_e)
    caseload = (np.bincount(every % n_e, minlength=n_e) if n_e else np.zeros(0, np.int64)) \
        + p.other_load
    minutes = np.bincount(provider[served], weights=p.pair_minutes[served], minlength=n_e)
    serves = set(skeys.tolist())
    # Rank of each case manager: the better usable option (own only when serving).
    chosen = np.nonzero(cm[p.cm_student] == p.cm_provider)[0]  # options of the chosen one
    cs, ce = p.cm_student[chosen], p.cm_provider[chosen]
    usable = (p.cm_kind[chosen] != 0) | _member(skeys, cs * n_e + ce)
    best = np.full(p.n_students, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, cs[usable], p.cm_rank[chosen][usable].astype(np.int64))
    rank = np.where(best == np.iinfo(np.int64).max, -1, np.minimum(best, 3))
    # Capacity from the plan: the SAI provider, another own provider, or a coordinator.
    instruction = sorted(svc for svc, x in sp.district.rules.services.items()
                         if x.kind == "instruction")
    sai = served & np.isin(p.pair_service, instruction)
    sai_of = np.full(p.n_students, -1, dtype=np.int64)
    sai_of[p.pair_student[sai]] = provider[sai]  # one SAI pair a student at most
    capacity = np.full(p.n_students, "", dtype=object)
    ps = np.nonzero(placed)[0]
    own = _member(skeys, ps * n_e + cm[ps])
    capacity[ps] = np.where(sai_of[ps] == cm[ps], "instruction",
                            np.where(own, "service", "coordination")).astype(object)
    return _Plan(sp, provider, cm, served_n, managed_n, caseload, minutes, rank, capacity,
                 serves, {}, {str(x): i for i, x in enumerate(p.provider_ids.tolist())})


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Per key: whether it is in ``sorted_keys`` (sorted, distinct)."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else ""


def _providers_of(plan: _Plan) -> dict[int, list[tuple[str, int]]]:
    """Per student: (service, provider index) of the pairs served."""
    p = plan.sp.problem
    out: dict[int, list[tuple[str, int]]] = {}
    served = np.nonzero(plan.provider >= 0)[0]
    for s, svc, e in zip(p.pair_student[served].tolist(), p.pair_service[served].tolist(),
                         plan.provider[served].tolist(), strict=True):
        out.setdefault(s, []).append((str(svc), e))
    return out


def _cm_option_flags(p: ServiceProblem, students: np.ndarray, educators: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per (student, educator) asked about: whether it is a case-manager
    option at all, and whether a coordinator one (options are sorted by
    student then educator, so their keys are looked up by bisection)."""
    key = p.cm_student.astype(np.int64) * p.n_providers + p.cm_provider
    asked = students.astype(np.int64) * p.n_providers + educators
    return _member(key, asked), _member(key[p.cm_kind == 1], asked)


def _cm_why_not(plan: _Plan, s: int, cm_id: str, option: tuple[bool, bool]) -> str:
    """One sentence: why this year's case manager is not kept (``option``:
    whether they have a case-manager option for the student, and a
    coordinator one, from :func:`_cm_option_flags`)."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    sid = str(p.student_ids[s])
    if cm_id not in d.educators:
        return f"This year's case manager {cm_id} is no longer on staff"
    edited = changed_in_workbook(d, sid, cm_id, "This year's case manager")
    if edited is not None:
        return edited
    if (sid, cm_id) in d.forbids:
        return f"This year's case manager {cm_id} is forbidden in locks.csv"
    if sid in d.pins:
        return f"This year's case manager {cm_id} was replaced by the pin"
    e = plan.e_pos[cm_id]
    any_option, coordinator = option
    if not any_option:
        return f"This year's case manager {cm_id} may not case-manage this student"
    if coordinator or s * p.n_providers + e in plan.serves:
        return (f"This year's case manager {cm_id} carries {plan.caseload[e]}/{p.cap[e]}: "
                "moved to place or balance caseloads")
    return (f"This year's case manager {cm_id} does not serve this student in the plan, "
            "and may case-manage only as one of their providers")


def assignment_rows(plan: _Plan) -> pd.DataFrame:
    """One row per student: the case manager, with the plan's capacity and why."""
    sp = plan.sp
    p = sp.problem
    d = sp.district
    eids = p.provider_ids
    eid_list = [str(x) for x in eids]
    providers = _providers_of(plan)
    pin_lock = {lk.student_id: lk for lk in d.locks if lk.kind == "pin" and lk.service is None}
    # The reason of each (student, educator, kind) option of the chosen case
    # manager: the only reasons written (one or two of ~17 options a student).
    why: dict[tuple[int, int, int], str] = {}
    chosen = np.nonzero(plan.cm[p.cm_student] == p.cm_provider)[0]
    texts = sp.cm_texts
    for s, e, k, code in zip(p.cm_student[chosen].tolist(), p.cm_provider[chosen].tolist(),
                             p.cm_kind[chosen].tolist(), sp.cm_why[chosen].tolist(),
                             strict=True):
        why[(s, e, k)] = texts[code]
    students = [d.students[str(x)] for x in p.student_ids]
    sids = [s.student_id for s in students]
    currents = [s.current_case_manager for s in students]
    cm_list = plan.cm.tolist()
    rank_list = plan.cm_rank.tolist()
    capacity_list = plan.capacity.tolist()
    published_list = p.published_cm.tolist()
    # Whether this year's case manager (on staff, not kept) has an option.
    e_pos = {x: i for i, x in enumerate(eid_list)}
    cur_e = np.array([e_pos.get(c, -1) if c else -1 for c in currents], dtype=np.int64)
    asked = np.nonzero((cur_e >= 0) & (cur_e != plan.cm))[0]
    any_opt, coord_opt = _cm_option_flags(p, asked, cur_e[asked])
    option = dict(zip(asked.tolist(), zip(any_opt.tolist(), coord_opt.tolist(), strict=True),
                      strict=True))
    reasons = []
    short: list[str] = []  # planner words, no ids (reason); the full text is reason_detail
    edited = sp.district.edited_locks
    # (A cleared case manager is a forbid made from an edit; a chosen one a pin.)
    edited_forbids = {k for k in edited if k in sp.district.forbids}
    labels = {k: v.capitalize() for k, v in RANK_LABEL.items()}
    for s in range(p.n_students):
        e = cm_list[s]
        if e < 0:
            reasons.append("")
            short.append("")
            continue
        sid = sids[s]
        rank = rank_list[s]
        mine_list = providers.get(s, [])
        label = labels[rank]
        coordination = capacity_list[s] == "coordination"
        # Each list is written in one branch only: joined there.
        if coordination:
            gives = ", ".join(f"{svc} by {eid_list[x]}" for svc, x in mine_list)
            text = (f"{label}: {why.get((s, e, 1), '')}; "
                    f"does not serve this student"
                    + (f" (services: {gives})" if gives else " (no service planned)"))
        else:
            mine = ", ".join(svc for svc, x in mine_list if x == e)
            own = why.get((s, e, 0), "")
            text = f"{label}: {own}; serves this student's {mine}"
        lk = pin_lock.get(sid)
        opening = pin_opening(sp.district, sid, lk.educator_id) if lk is not None else ""
        if lk is not None:
            text = f"{opening} ({lk.student_id} to {lk.educator_id}). " + text
        cur = currents[s]
        kept = bool(cur) and cur == eid_list[e]
        if kept:
            text += ". Keeps this year's case manager"
        elif cur:
            text += ". " + _cm_why_not(plan, s, cur, option.get(s, (False, False)))
        moved = published_list[s] != -1 and published_list[s] != e
        # The planner's edit in the plan workbook (plan --keep): a case manager
        # chosen there (pinned: the opening says so), or one cleared there.
        by_choice = opening == KEPT_EDIT
        cleared = (published_list[s] >= 0
                   and (sid, eid_list[published_list[s]]) in edited_forbids)
        if moved:
            text += (". Moved from the published plan: changed in the plan workbook"
                     if by_choice or cleared else ". Moved from the published plan")
        if lk is not None and lk.reason and not by_choice:  # (an edit's reason is its opening)
            text += f". {LOCK_REASON}{lk.reason}"
        reasons.append(text)
        changed = by_choice or (sid, cur) in edited
        parts = [CLEARED_IN_WORKBOOK if cleared else "",
                 label + (": coordinates, does not serve them" if coordination
                          else f": serves their {mine}"),
                 opening,
                 "Keeps this year's case manager" if kept else
                 f"This year's case manager {CHANGED_IN_WORKBOOK_WORDS}" if cur and changed else
                 "Changes from this year's case manager" if cur else "",
                 "Moved from the published plan" if moved and not (by_choice or cleared) else ""]
        text = ". ".join(x for x in parts if x)
        short.append(text if len(text) <= SHORT_REASON_MAX else text[:SHORT_REASON_MAX - 1] + "…")
    placed = plan.cm >= 0
    frame = pd.DataFrame({
        "student_id": p.student_ids,
        "school_id": [s.school_id for s in students],
        "case_manager_id": np.append(eids, "")[plan.cm],
        "role": np.append(p.provider_role, "")[plan.cm],
        "capacity": plan.capacity,
        "rank": pd.array(np.where(placed, plan.cm_rank, 0), dtype="Int64"),
        "kept_current": np.array([bool(c) and e >= 0 and c == eid_list[e]
                                  for c, e in zip(currents, cm_list, strict=True)], dtype=bool),
        "reason": short,
        "current_case_manager_id": [c or "" for c in currents],
        "grade": [s.grade for s in students],
        "primary_disability": [s.primary_disability for s in students],
        "services": _each_once(lambda v: ";".join(sorted(v)), [s.services for s in students]),
        "annual_review": _each_once(_iso, [s.annual_review for s in students]),
        "triennial_review": _each_once(_iso, [s.triennial_review for s in students]),
    }, columns=ASSIGNMENT_COLUMNS)
    frame.loc[~placed, "rank"] = pd.NA
    # As in a case-manager plan: the full rule trail, then names for people.
    frame["reason_detail"] = reasons
    frame["student_name"] = [s.name or "" for s in students]
    frame["school_name"] = [d.schools[s.school_id].name for s in students]
    frame["case_manager_name"] = np.append(
        np.array([d.educators[x].name for x in eid_list], dtype=object), "")[plan.cm]
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
    eid_list = [str(x) for x in p.provider_ids]
    role_list = [str(x) for x in p.provider_role]
    n_e = p.n_providers
    first = np.searchsorted(p.edge_pair, np.arange(p.n_pairs))
    last = np.searchsorted(p.edge_pair, np.arange(p.n_pairs), side="right")
    first_l, last_l = first.tolist(), last.tolist()
    provider_l = plan.provider.tolist()
    published_l = p.pair_published.tolist()
    # The option each served pair uses (options are sorted by pair, then provider).
    served = np.nonzero(plan.provider >= 0)[0]
    option_at = np.searchsorted(p.edge_pair.astype(np.int64) * n_e + p.edge_provider,
                                served * n_e + plan.provider[served])
    option = dict(zip(served.tolist(), option_at.tolist(), strict=True))
    outside_l = sp.edge_outside.tolist()
    why_l = sp.option_why.tolist()
    texts = sp.option_texts
    n = len(sp.needs)
    student_col, school_col, service_col = [""] * n, [""] * n, [""] * n
    provider_col, role_col, kept_col, reason_col = [""] * n, [""] * n, [False] * n, [""] * n
    pins, students = sp.pair_pin, d.students
    # Where a provider serves from, in words: per (reached by the school rule,
    # school), made once each rather than once per row (170,000 at 100k).
    wheres: dict[tuple[bool, str], str] = {}
    instruction = {code for code, x in d.rules.services.items() if x.kind == "instruction"}
    edited_any = bool(d.cleared_services)
    for i, (need, q) in enumerate(zip(sp.needs, sp.need_pair.tolist(), strict=True)):
        school = students[need.student_id].school_id
        student_col[i], school_col[i], service_col[i] = need.student_id, school, need.service
        pin = pins.get((need.student_id, need.service)) if pins else None
        if q < 0:
            s = students[need.student_id]
            # A derived support level can be what keeps every teacher from SAI
            # (a planner trial: 51 of 66 such SAI rows): said where it applies.
            derived = (f"; its support level, {s.support_level}, was derived by a local "
                       "default and decides who may teach: enter it from the IEP"
                       if need.service in instruction and s.support_level_derived else "")
            reason_col[i] = (f"Not planned: {NOT_PLANNED} (no educator on staff may give "
                             f"{need.service} to this student{derived}; contracted out or "
                             "served outside this plan)")
            continue
        e = provider_l[q]
        cur = need.current_provider
        kept = False
        if e >= 0:
            k = option[q]
            far = outside_l[k]
            where = wheres.get((far, school))
            if where is None:
                where = wheres[(far, school)] = (
                    f"reaches school {school} under the district's school rule" if far
                    else f"serves school {school}")
            text = f"Served by {eid_list[e]} ({role_list[e]}): {texts[why_l[k]]}; {where}"
            provider_col[i], role_col[i] = eid_list[e], role_list[e]
            kept = kept_col[i] = bool(cur) and cur == eid_list[e]
        else:
            options = p.edge_provider[first_l[q]:last_l[q]].tolist()
            if options:
                text = ("Not served: every eligible provider is full: "
                        + ", ".join(plan.who(x) for x in options))
            else:
                text = (f"Not served: no eligible provider serves school {school} "
                        "(see hiring_needs.csv)")
        cleared = d.cleared_services.get((need.student_id, need.service)) if edited_any \
            else None
        if cleared is not None:
            # The planner cleared this service's provider in the workbook: said
            # first, as the cause of what follows (another provider, or none).
            text = f"{CLEARED_IN_WORKBOOK} ({cleared}). " + text
        if pin is not None:
            # A pin from the planner's edit of the workbook's Services sheet
            # (plan --keep) is said so, not as a row of locks.csv.
            text = ((f"{KEPT_EDIT} ({pin.student_id} {pin.service} to {pin.educator_id}). "
                     if pin.reason == EDIT_REASON else
                     f"{PINNED_IN_LOCKS} ({pin.student_id} {pin.service} to "
                     f"{pin.educator_id}). ") + text)
        if kept:
            text += ". Keeps this year's provider"
        elif cur and e >= 0 and published_l[q] == e and _could_keep(plan, q, need, cur,
                                                                    first_l[q], last_l[q]) \
                and plan.e_pos[cur] != e and pin is None:
            # Re-planned against a published plan: its provider is kept (the
            # fewest moves), which is why this year's is not, whatever their load.
            text += (f". Keeps the published plan's provider; this year's, {cur}, is not "
                     "moved back")
        elif cur and cur != cleared:  # (this year's cleared: said first, above)
            text += ". " + _provider_why_not(plan, q, need.student_id, need.service, cur,
                                             first_l[q], last_l[q])
        if published_l[q] != -1 and published_l[q] != e:
            text += ". Moved from the published plan"
        if pin is not None and pin.reason and pin.reason != EDIT_REASON:
            text += f". {LOCK_REASON}{pin.reason}"
        reason_col[i] = text
    minutes = [nd.minutes for nd in sp.needs]
    frame = pd.DataFrame({"student_id": student_col, "school_id": school_col,
                          "service": service_col, "provider_id": provider_col,
                          "role": role_col, "minutes": minutes,
                          "kept_current": kept_col, "reason": reason_col},
                         columns=SERVICE_COLUMNS)
    frame["minutes"] = _minutes_column(minutes).to_numpy()
    frame["kept_current"] = frame["kept_current"].astype(bool)
    return frame


def _could_keep(plan: _Plan, q: int, need: ServiceNeed, cur: str, a: int, b: int) -> bool:
    """This year's provider could have kept the pair: on staff, not forbidden,
    one of its options, with room for it in the plan -- under their cap, or
    counting the student already (serving another of their services, or
    their case manager: the pair takes no seat more). Only then is keeping
    the published plan's provider the reason this year's is not kept;
    otherwise :func:`_provider_why_not` says the cause (a review). (Minute
    capacities are not weighed here.)"""
    e = plan.e_pos.get(cur)
    sp = plan.sp
    p = sp.problem
    if (e is None or cur in sp.pair_forbidden.get((need.student_id, need.service), frozenset())
            or e not in p.edge_provider[a:b].tolist()):
        return False
    s = int(p.pair_student[q])
    return (int(plan.caseload[e]) < int(p.cap[e]) or s * p.n_providers + e in plan.serves
            or int(plan.cm[s]) == e)


def _provider_why_not(plan: _Plan, q: int, sid: str, svc: str, cur: str, a: int,
                      b: int) -> str:
    sp = plan.sp
    p = sp.problem
    if cur not in sp.district.educators:
        return f"This year's provider {cur} is no longer on staff"
    if cur in sp.pair_forbidden.get((sid, svc), frozenset()):
        if sp.district.cleared_services.get((sid, svc)) == cur:
            return f"This year's provider {cur} was cleared in the plan workbook"
        return f"This year's provider {cur} is forbidden in locks.csv"
    pin = sp.pair_pin.get((sid, svc))
    if pin is not None and pin.educator_id != cur:
        return (f"This year's provider {cur} was replaced by the planner's choice in the plan "
                "workbook" if pin.reason == EDIT_REASON else
                f"This year's provider {cur} was replaced by the pin")
    e = plan.e_pos[cur]
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
    # The hire a pair needs depends on the service and, for instruction, on the
    # facts the instruction rules read: found once per such key.
    instruction = {code for code, x in pack.services.items() if x.kind == "instruction"}
    needed: dict[tuple, tuple[str, str]] = {}
    provider_l = plan.provider.tolist()
    for need, q in zip(sp.needs, sp.need_pair.tolist(), strict=True):
        if q >= 0 and provider_l[q] < 0:
            key = ((need.service, _instruction_key(d.students[need.student_id]))
                   if need.service in instruction else (need.service,))
            hit = needed.get(key)
            if hit is None:
                hit = needed[key] = _provider_needed(sp, need.student_id, need.service,
                                                     on_staff)
            role, cred = hit
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
    bound = sol.bound_total(params)
    active = np.zeros(p.n_providers, dtype=bool)
    active[p.edge_provider] = True
    active[p.cm_provider] = True
    cap = p.cap.astype(float)
    ratio = plan.caseload[active & (cap > 0)] / cap[active & (cap > 0)]
    by_service: dict[str, dict[str, int]] = {}
    provider_l = plan.provider.tolist()
    for need, q in zip(sp.needs, sp.need_pair.tolist(), strict=True):
        row = by_service.setdefault(need.service, {"pairs": 0, "served": 0, "not_served": 0,
                                                   "not_planned": 0})
        row["pairs"] += 1
        if q < 0:
            row["not_planned"] += 1
        elif provider_l[q] >= 0:
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
        # Students whose case manager the planner chose or cleared in the plan workbook.
        by_edit = moved & ~gone & np.isin(p.student_ids, [s for s, _ in d.edited_locks])
        pairs_moved = (p.pair_published != -1) & (plan.provider != p.pair_published)
        published = {"students_in_published_plan": int((p.published_cm != -1).sum()),
                     "moved": int(moved.sum()),
                     "moved_because": {k: v for k, v in (
                         ("no longer on staff", int(gone.sum())),
                         (CHANGED_IN_WORKBOOK, int(by_edit.sum())),
                         ("re-planned", int((moved & ~gone & ~by_edit).sum()))) if v},
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


#: Planned service pairs from which :func:`explain_service_plan` explains the
#: service rows (and makes the other tables) in a forked child while it
#: explains the case managers: at 100,000 students (141,223 pairs) the
#: service rows took 0.5 s of the 1.6 s of explaining, the case managers
#: 1.1 s; their table comes back pickled in about 0.2 s in all. Below, the
#: fork costs about what it saves.
SERVICE_ROWS_AHEAD = 20_000


@without_collector_pauses  # a million small objects, no cycles: district/bulk.py
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
    engine = ("service solver: providers and case managers together "
              "(docs/service-caseloads.md)")

    def the_rest() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame,
                            dict[str, object]]:
        # The service rows, then the tables that need only the plan, and the
        # figures (their time of explaining set once both processes are done).
        services = service_rows(plan)
        times = {**dict(runtime or {}), **{f"services_{k}": v for k, v in sol.runtime.items()},
                 "explain": time.perf_counter() - t0}
        return (services, caseload_rows(plan), unplaced_rows(plan), hiring_rows(plan),
                service_figures(plan, sol, params, engine, times, made_at, balance_mode))

    # All but the case managers' rows on the second core while this process
    # explains the case managers (services_ahead: the same tables, computed
    # here if the child fails; a child copies nothing to start). At 100,000
    # students the case managers' rows took 0.94 s, the service rows 0.62 s
    # and the rest 0.2 s: done after the case managers' rows, explaining took
    # 0.2 s longer.
    rest_ahead = Ahead(the_rest, fork=sp.problem.n_pairs >= SERVICE_ROWS_AHEAD)
    try:
        assignments = assignment_rows(plan)
        services, caseloads, unassigned, hiring, figures = rest_ahead.result()
    finally:
        rest_ahead.cancel()  # (an error here: no child left running)
    # The whole explaining, both processes' (the figures' was up to the service rows).
    runtimes = figures["runtime_s"]
    assert isinstance(runtimes, dict)
    runtimes["explain"] = round(time.perf_counter() - t0, 4)
    return Result(status=sol.status, engine=engine, objective=sol.total(params),
                  bound=sol.bound_total(params), gap=sol.gap,
                  terms=_terms(sp, sol, params), assignments=assignments,
                  caseloads=caseloads, unassigned=unassigned, hiring_needs=hiring,
                  audit=audit, figures=figures, assignment=plan.cm, services=services)
