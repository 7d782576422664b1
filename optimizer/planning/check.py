"""Checking a plan — or today's assignments — against the rules, from the input alone.

This path shares nothing with the solver: it does not use the eligibility
graph, the planning problem or any engine. For each assignment it asks the
rules engine about that one pair, recomputes every cap from educators.csv and
re-reads the locks, so a solver bug cannot hide behind itself.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter

import pandas as pd

from optimizer.district.bulk import without_collector_pauses
from optimizer.district.model import District, Educator, InputIssue, Student
from optimizer.district.validate import DeferredWarnings
from optimizer.rulepacks import RulePack
from optimizer.rules import RULES, Decision, decide, reaches_school, serves_school

__all__ = ["AUDIT_COLUMNS", "audit_and_warning", "audit_table", "Violation", "check_plan",
           "check_service_plan", "audit_current", "may_provide"]


@dataclass(frozen=True, slots=True)
class Violation:
    # ineligible | cap exceeded | pin broken | forbid used | missing | twice | unknown;
    # providers (audit, service plans): ineligible provider | not on staff | average over
    # limit | wrong capacity | minutes exceeded; the audit of this year: over planning
    # cap (a cap that is no law for one person, see _planning_cap)
    kind: str
    student_id: str
    educator_id: str
    detail: str

    def __str__(self) -> str:
        from optimizer.district.model import printable  # ids from a plan folder: echo them safely

        who = " / ".join(x for x in (self.student_id, self.educator_id) if x)
        return printable(f"{self.kind}: {who} — {self.detail}")


def _pairs_violations(district: District, pairs: list[tuple[str, str]],
                      require_every_student: bool) -> list[Violation]:
    out: list[Violation] = []
    counts = Counter(s for s, _ in pairs)
    for sid, n in sorted(counts.items()):
        if n > 1:
            out.append(Violation("twice", sid, "", f"appears {n} times in the plan"))
    if require_every_student:
        for sid in district.students:
            if sid not in counts:
                out.append(Violation("missing", sid, "", "no row for this student in the plan (a "
                                     "row deleted, or its student id retyped)"))
    load: dict[str, float] = {}
    assigned: dict[str, str] = {}
    students, educators, forbids = district.students, district.educators, district.forbids
    # A refusal's words per decision (decisions are shared by many pairs),
    # keyed by id and kept with the decision, which keeps that id its own.
    refusals: dict[int, tuple[Decision, str]] = {}
    for sid, eid in pairs:
        s = students.get(sid)
        if s is None:
            out.append(Violation("unknown", sid, eid, "no such student in students.csv"))
            continue
        if not eid:
            continue
        e = educators.get(eid)
        if e is None:
            out.append(Violation("unknown", sid, eid, "no such educator in educators.csv"))
            continue
        assigned[sid] = eid
        load[eid] = load.get(eid, 0.0) + s.weight
        d = decide(district, s, e)
        if not d.eligible:
            hit = refusals.get(id(d))
            if hit is None or hit[0] is not d:
                hit = refusals[id(d)] = (d, "; ".join(d.failed_text()))
            out.append(Violation("ineligible", sid, eid, hit[1]))
        if (sid, eid) in forbids:
            out.append(Violation("forbid used", sid, eid, "forbidden in locks.csv"))
    for sid, eid in sorted(district.pins.items()):
        if assigned.get(sid) != eid and sid in counts:
            got = assigned.get(sid) or "nobody"
            out.append(Violation("pin broken", sid, eid, f"pinned to {eid} but assigned {got}"))
    for eid in sorted(load):
        e = district.educators[eid]
        cap = district.cap(eid)
        total = load[eid] + e.other_load
        if total > cap + 1e-9:
            out.append(Violation("cap exceeded", "", eid,
                                 f"load {total:g} (case-managed {load[eid]:g} + other "
                                 f"{e.other_load:g}) over cap {cap} ({e.role}, FTE {e.fte:g})"))
    return out


def check_plan(district: District, assignments: pd.DataFrame) -> list[Violation]:
    """Every violation in a plan: ineligible pair, cap exceeded, pin broken,
    forbid used, student missing or twice, unknown id.

    Parameters
    ----------
    district
        The district the plan is for.
    assignments
        A frame with ``student_id`` and ``case_manager_id`` (blank: unplaced),
        e.g. ``Result.assignments`` or a plan's ``assignments.csv``.

    Examples
    --------
    >>> check_plan(district, result.assignments)     # doctest: +SKIP
    []
    """
    cm = assignments["case_manager_id"].fillna("").astype(str)
    # (Python lists: a text column's cells one at a time cost 2 µs each.)
    pairs = list(zip(assignments["student_id"].astype(str).tolist(), cm.tolist(), strict=True))
    return _pairs_violations(district, pairs, require_every_student=True)


@without_collector_pauses  # many small objects, no cycles: district/bulk.py
def audit_current(district: District) -> list[Violation]:
    """Today's assignments (the ``current_case_manager`` column) checked the same
    way: each one that breaks a credential rule or a cap, with the rule.

    In a district that plans services, this year's providers (services.csv
    ``current_provider``) too: each provider's eligibility for the pair, caps
    on distinct students served or case-managed + other_load (instead of the
    case-managed load alone), and the SLP district-wide average.

    Students without a current case manager are not violations here.
    """
    pairs = [(sid, s.current_case_manager) for sid, s in district.students.items()
             if s.current_case_manager]
    out = []
    for v in _pairs_violations(district, pairs, require_every_student=False):
        if v.kind == "pin broken":
            continue  # pins are about next year's plan, not today's
        if v.kind == "cap exceeded" and district.plans_services:
            continue  # the cap is on distinct students served too: checked below
        if v.kind == "unknown" and v.educator_id:
            v = Violation("not on staff", v.student_id, v.educator_id,
                          "this year's case manager is no longer in educators.csv")
        out.append(_planning_cap(district, v))
    if district.plans_services:
        out.extend(_planning_cap(district, v) for v in _current_provider_violations(district))
    # One order whatever the order of the input rows (a plan's audit.csv is
    # the same bytes for the same district).
    return _audit_order(out)


def _planning_cap(district: District, v: Violation) -> Violation:
    """This year's caseload over a cap that no law sets for one person -- a
    local default (no state cap), or a law that caps the district's average
    (the SLP's 55: see "average over limit") -- as "over planning cap", not
    "cap exceeded": an auditor keeps law apart from local planning figures
    (a planner trial read four SLPs over 55 as breaking the law, while their
    average was 41.5). A cap of the person's own (max_caseload) or of the
    district (district.toml) stays "cap exceeded"."""
    if v.kind != "cap exceeded":
        return v
    e = district.educators[v.educator_id]
    kind = district.cap_kind(e.educator_id)
    if kind == "local default":
        why = f"{e.role}'s cap is a local default, not law"
    elif kind == "law: average":
        why = f"the law caps the district's {e.role} average, not one person's caseload"
    else:
        return v
    return Violation("over planning cap", v.student_id, v.educator_id, f"{v.detail}: {why}")


def _audit_order(violations: list[Violation]) -> list[Violation]:
    """Sorted by student, educator, kind, then the whole text: the text (a
    few microseconds each) is made only where the first three tie."""
    first = sorted(violations, key=lambda v: (v.student_id or "", v.educator_id or "", v.kind))
    out: list[Violation] = []
    for _, run in groupby(first, key=lambda v: (v.student_id or "", v.educator_id or "",
                                                 v.kind)):
        tied = list(run)
        out.extend(sorted(tied, key=str) if len(tied) > 1 else tied)
    return out


def may_provide(district: District, sid: str, service: str, eid: str) -> str | None:
    """Why this educator may not give this service to this student (None: they
    may), asking the rules engine about the one pair: the instruction rules
    for SAI, otherwise the role provides it and a credential held authorizes
    it; and the educator serves the student's school (an itinerant also where
    the district's school rule reaches).

    Examples
    --------
    >>> may_provide(district, "S000001", "SPEECH", "E00101")   # doctest: +SKIP
    'OT does not provide SPEECH'
    """
    s, e = district.students[sid], district.educators[eid]
    why = _service_refusal(district.rules, s, e, service)
    return why if why is not None else _school_refusal(district, s, e)


def _service_refusal(pack: RulePack, s: Student, e: Educator, service: str) -> str | None:
    """The first half of :func:`may_provide`: the service's rules, which read
    the educator's role and credentials (and, for instruction, the student's
    :data:`_instruction_facts`), never where anyone is."""
    if service not in pack.services:
        return f"{service} is not a service of the rule pack"
    if pack.services[service].kind == "instruction":
        for rule in RULES["instruction"]:
            v = rule(pack, s, e)
            if not v.ok:
                return str(v)
    elif service not in pack.roles[e.role].provides:
        return f"{e.role} does not provide {service}"
    elif not pack.services[service].credentials & e.credentials:
        held = ', '.join(sorted(e.credentials)) or 'none'
        if not pack.services[service].credentials:
            # (a district gave a role a service the rule pack names no credential for)
            return f"no credential in the rule pack authorizes {service}; holds {held}"
        return (f"{service} needs one of "
                f"{', '.join(sorted(pack.services[service].credentials))}; holds {held}")
    return None


def _school_refusal(district: District, s: Student, e: Educator) -> str | None:
    """The second half of :func:`may_provide`: the educator serves the
    student's school, or (itinerant) the school rule reaches it. Reads the
    student's school and the educator alone."""
    pack = district.rules
    where = serves_school(pack, s, e)
    if not where.ok and not (pack.roles[e.role].itinerant
                             and reaches_school(district, s, e).ok):
        return str(where)
    return None


#: What the instruction rules (RULES["instruction"]) read of a student.
_instruction_facts = attrgetter("basis_disability", "other_disability", "placement_basis",
                                "support_level", "support_level_derived", "grade",
                                "sai_setting")


def _current_provider_violations(district: District) -> list[Violation]:
    """This year's providers (services ``current_provider``): each one's
    eligibility for the pair, caps on distinct students served or
    case-managed + other_load, and the district-wide average of roles whose
    cap is an average in law (the SLP, EC 56363.3)."""
    out: list[Violation] = []
    # (defaultdict: setdefault would make a set per row, 270,000 at 100k)
    students: defaultdict[str, set[str]] = defaultdict(set)
    for sid, s in district.students.items():
        cm = s.current_case_manager
        if cm is not None and cm in district.educators:
            students[cm].add(sid)
    # The rules read few facts of a pair, in two halves (may_provide): the
    # service's rules read the provider's role and credentials (and, for
    # instruction, the student's _instruction_facts); the school check reads
    # the provider and the student's school. Each half is asked once per such
    # facts, not once per row: at 100,000 students, a few thousand questions
    # instead of 50,000 (provider, school, facts) ones.
    pack = district.rules
    instruction = {c for c, x in pack.services.items() if x.kind == "instruction"}
    by_service: dict[tuple, str | None] = {}
    by_school: dict[tuple[str, str], str | None] = {}
    all_students, educators = district.students, district.educators
    for need in district.service_needs:
        eid = need.current_provider
        sid = need.student_id
        if not eid or sid not in all_students:
            continue
        e = educators.get(eid)
        if e is None:
            out.append(Violation("not on staff", sid, eid,
                                 f"this year's {need.service} provider is no longer in "
                                 "educators.csv"))
            continue
        s = all_students[sid]
        svc = need.service
        key = (svc, e.role, e.credentials,
               _instruction_facts(s) if svc in instruction else None)
        if key in by_service:
            why = by_service[key]
        else:
            why = by_service[key] = _service_refusal(pack, s, e, svc)
        if why is None:
            where = (eid, s.school_id)
            if where in by_school:
                why = by_school[where]
            else:
                why = by_school[where] = _school_refusal(district, s, e)
        if why is not None:
            out.append(Violation("ineligible provider", sid, eid, f"{svc}: {why}"))
        students[eid].add(sid)
    for eid in sorted(students):
        e = district.educators[eid]
        cap = district.cap(eid)
        total = len(students[eid]) + e.other_load
        if total > cap + 1e-9:
            out.append(Violation("cap exceeded", "", eid,
                                 f"caseload {total:g} (distinct students served or "
                                 f"case-managed {len(students[eid])} + other {e.other_load:g})"
                                 f" over cap {cap} ({e.role}, FTE {e.fte:g})"))
    for code, role in district.rules.roles.items():
        if role.cap_kind != "law: average":
            continue
        staff = [e for e in district.educators.values() if e.role == code]
        fte = sum(e.fte for e in staff)
        if fte <= 0:
            continue
        load = sum(len(students.get(e.educator_id, ())) + e.other_load for e in staff)
        if load / fte > role.cap + 1e-9:
            out.append(Violation("average over limit", "", "",
                                 f"{code} caseloads average {load / fte:.1f} per FTE ({load:g} "
                                 f"over {fte:g} FTE), over {role.cap} ({role.cap_source})"))
    return out


def check_service_plan(district: District, services: pd.DataFrame,
                       assignments: pd.DataFrame, *,
                       check_capacity: bool = True) -> list[Violation]:
    """Every violation in a service plan's providers (``services.csv``), from
    the input alone: a provider not eligible for the pair or not at the
    school, a service pin broken or forbid used, a caseload of distinct
    students served or case-managed + other_load over the cap, minutes over a
    minutes capacity, and a case manager whose ``capacity`` is not what the
    plan makes them (``instruction``: the student's SAI provider; ``service``:
    another of their providers; ``coordination``: none of them; not with
    ``check_capacity=False``: a plan workbook the planner edited has no
    capacity column, and a changed provider changes it).

    Examples
    --------
    >>> check_service_plan(district, result.services, result.assignments)   # doctest: +SKIP
    []
    """
    out: list[Violation] = []
    pack = district.rules
    students: dict[str, set[str]] = {}
    minutes: dict[str, float] = {}
    gives: dict[str, dict[str, str]] = {}
    for sid, svc, eid, m in zip(services["student_id"].astype(str).tolist(),
                                services["service"].astype(str).tolist(),
                                services["provider_id"].fillna("").astype(str).tolist(),
                                services["minutes"].tolist(), strict=True):
        if not eid:
            continue
        if sid not in district.students or eid not in district.educators:
            out.append(Violation("unknown", sid, eid, f"{svc}: " + (
                "no such student in students.csv" if sid not in district.students
                else "no such educator in educators.csv")))
            continue
        if svc not in district.students[sid].services:
            # (Counted on the caseload below all the same: the plan gives it.)
            on_iep = ", ".join(sorted(district.students[sid].services))
            out.append(Violation("not on the IEP", sid, eid,
                                 f"{svc}: not among {sid}'s services ({on_iep})"))
        why = may_provide(district, sid, svc, eid)
        if why is not None:
            out.append(Violation("ineligible provider", sid, eid, f"{svc}: {why}"))
        students.setdefault(eid, set()).add(sid)
        if pd.notna(m):
            minutes[eid] = minutes.get(eid, 0.0) + float(m)
        gives.setdefault(sid, {})[svc] = eid
    for lk in district.locks:
        if lk.service is None:
            continue
        got = gives.get(lk.student_id, {}).get(lk.service, "")
        if lk.kind == "forbid" and got == lk.educator_id:
            out.append(Violation("forbid used", lk.student_id, lk.educator_id,
                                 f"{lk.service}: forbidden in locks.csv"))
        if lk.kind == "pin" and got and got != lk.educator_id:
            out.append(Violation("pin broken", lk.student_id, lk.educator_id,
                                 f"{lk.service}: pinned to {lk.educator_id} but given by {got}"))
    instruction = set(pack.instruction_services)
    capacities = (assignments["capacity"].fillna("").astype(str) if check_capacity
                  else pd.Series([""] * len(assignments), dtype=object))
    for sid, eid, capacity in zip(assignments["student_id"].astype(str).tolist(),
                                  assignments["case_manager_id"].fillna("").astype(str).tolist(),
                                  capacities.tolist(), strict=True):
        if not eid or eid not in district.educators:
            continue
        students.setdefault(eid, set()).add(sid)
        if not check_capacity:
            continue
        mine = gives.get(sid, {})
        sai = {mine[x] for x in instruction if x in mine}
        right = ("instruction" if eid in sai else
                 "service" if eid in mine.values() else "coordination")
        if capacity != right:
            out.append(Violation("wrong capacity", sid, eid,
                                 f"case manager as {capacity or 'blank'}, but the plan makes "
                                 f"them {right}"))
    for eid in sorted(students):
        e = district.educators[eid]
        cap = district.cap(eid)
        total = len(students[eid]) + e.other_load
        if total > cap + 1e-9:
            out.append(Violation("cap exceeded", "", eid,
                                 f"caseload {total:g} (distinct students served or "
                                 f"case-managed {len(students[eid])} + other {e.other_load:g})"
                                 f" over cap {cap} ({e.role}, FTE {e.fte:g})"))
        limit = district.minutes_capacity(eid)
        if limit is not None and minutes.get(eid, 0.0) > limit + 1e-9:
            out.append(Violation("minutes exceeded", "", eid,
                                 f"{minutes[eid]:g} IEP minutes a week over {limit:g}"))
    return out


#: Columns of the audit table (``audit.csv``).
AUDIT_COLUMNS = ["kind", "student_id", "educator_id", "detail"]


# The collector paused over the table too: resumed between the audit and its
# table, it walked the audit's young objects again (about 0.15 CPU s at 100k).
@without_collector_pauses
def audit_table(district: District) -> pd.DataFrame:
    """:func:`audit_current` as a table, one row per violation (``audit.csv``).

    Examples
    --------
    >>> audit_table(district).columns.tolist()     # doctest: +SKIP
    ['kind', 'student_id', 'educator_id', 'detail']
    """
    return pd.DataFrame([{"kind": v.kind, "student_id": v.student_id,
                          "educator_id": v.educator_id, "detail": v.detail}
                         for v in audit_current(district)], columns=AUDIT_COLUMNS)


def audit_and_warning(district: District, later: DeferredWarnings
                      ) -> tuple[pd.DataFrame, list[InputIssue]]:
    """What ``caseload plan`` computes in its second process while it plans:
    this year's audit (:func:`audit_table`, for ``plan(..., audit=)``) and
    the derived-level warning the read left
    (:func:`~optimizer.district.validate.load_district_deferred`), for
    :meth:`DeferredWarnings.warnings`.

    Examples
    --------
    >>> d, later = load_district_deferred("data/sample")          # doctest: +SKIP
    >>> audit, found = audit_and_warning(d, later)                # doctest: +SKIP
    >>> later.warnings(found) == load_district("data/sample").warnings  # doctest: +SKIP
    True
    """
    return audit_table(district), later.find(district)
