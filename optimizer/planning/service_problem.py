"""The service problem of a district: who may serve each IEP service, and who
may case-manage each student, as the service solver's arrays (issue 10).

Built from a validated :class:`~optimizer.district.model.District` in
canonical (sorted-id) order, like :mod:`optimizer.planning.problem`:

* **pairs**: ``district.service_needs``. A pair is *planned* when some
  educator on staff (anywhere in the district) may give it: their role
  provides the service and they hold one of its credentials
  (``roles.*.provides``, ``services.*.credentials``), or, for the instruction
  service (SAI), the instruction rules of :mod:`optimizer.rules.eligibility`
  pass (setting, specialty for the basis disability, support level, grade).
  Other pairs are *not planned* ("no staff provides it": contracted out) and
  never reach the solver or the hiring needs.
* **service options**: the eligible providers who serve the student's school
  (rank 0), and itinerant providers the district's ``[school_rule]`` lets
  reach it from another school (rank 1). A service pin (``Lock.service``)
  keeps only the pinned provider's option; a service forbid drops it.
* **case-manager options**: today's edge table (:func:`optimizer.graph.edge_table`,
  case-manager pins and forbids applied): ``instruction`` or ``service`` ->
  *own* (usable only when the plan makes them one of the student's
  providers), and a *coordinator* option (rank 2) for every educator who
  may coordinate (:func:`optimizer.rules.eligibility.may_coordinate`: the
  role coordinates, and, unless ``coordinator_needs_credential`` is off, the
  educator holds some education-specialist or service credential).
* caps (``District.cap``, FTE-prorated), minutes capacities
  (``District.minutes_capacity``), ``other_load`` (rounded up: it counts
  students), current providers and case managers, and a published plan's.

No solver runs here; the arrays go to
:func:`optimizer.planning.solvers.services.solve_services`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from optimizer.arraysets import first_seen, member, stable_order
from optimizer.district.bulk import without_collector_pauses
from optimizer.district.model import District, Educator, Lock, ServiceNeed, Student
from optimizer.graph import edge_arrays
from optimizer.planning.objective import Objective
from optimizer.planning.solvers.services import ServiceParams, ServiceProblem
from optimizer.rules import RULES, may_coordinate

__all__ = ["DistrictServiceProblem", "build_district_service_problem", "service_params"]

#: What a not-planned pair's row says (summary.json ``not_planned_reason`` too).
NOT_PLANNED = "no staff provides it"


@dataclass(frozen=True, eq=False)
class DistrictServiceProblem:
    """The solver's :class:`ServiceProblem` and what the explanation needs.

    Attributes
    ----------
    district, objective
        The district and the weights.
    problem
        The solver's arrays (students and educators sorted by id; providers =
        every educator).
    needs
        Every service need, sorted by student then service.
    need_pair
        Per need: its pair index in ``problem``, -1 when not planned.
    edge_outside
        Per service option (in ``problem`` order): reached only by the school rule.
    option_why, option_texts
        Per service option: its reason as a position in ``option_texts`` (the
        distinct reasons; :attr:`option_reason` gives the words).
    pair_pin
        (student_id, service) -> the pin lock on its provider.
    pair_forbidden
        (student_id, service) -> educator ids forbidden in locks.csv.
    cm_why, cm_texts
        Per case-manager option (in ``problem`` order): the rules' reason as a
        position in ``cm_texts`` (:attr:`cm_reason` gives the words). Reasons
        are kept by number: a plan writes the reason of one option per
        student, of the 1.7 million of a 100,000-student district.
    published_given
        Whether a published plan is kept stable.
    """

    district: District
    objective: Objective
    problem: ServiceProblem
    needs: tuple[ServiceNeed, ...]
    need_pair: np.ndarray
    edge_outside: np.ndarray
    option_why: np.ndarray
    option_texts: tuple[str, ...]
    pair_pin: Mapping[tuple[str, str], Lock]
    pair_forbidden: Mapping[tuple[str, str], frozenset[str]]
    cm_why: np.ndarray
    cm_texts: tuple[str, ...]
    published_given: bool = False
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def option_reason(self) -> np.ndarray:
        """Per service option: the rules' reason, in words."""
        return np.array(self.option_texts, dtype=object)[self.option_why]

    @property
    def cm_reason(self) -> np.ndarray:
        """Per case-manager option: the rules' reason, in words."""
        return np.array(self.cm_texts, dtype=object)[self.cm_why]

    @property
    def pairs(self) -> tuple[ServiceNeed, ...]:
        """The planned needs, in pair order."""
        return tuple(n for n, p in zip(self.needs, self.need_pair.tolist(), strict=True)
                     if p >= 0)


def service_params(objective: Objective, time_limit: float) -> ServiceParams:
    """The service solver's weights from the district's objective.

    ``continuity`` means the same trade in both (the case-manager objective
    takes points off for keeping, the service objective adds them for not
    keeping: the same difference between plans); it applies to providers and
    case managers alike.

    Examples
    --------
    >>> service_params(Objective(), 30.0).rank
    (0.0, 10.0, 30.0)
    """
    return ServiceParams(rank=objective.rank, continuity=objective.continuity,
                         cm_continuity=objective.continuity, change=objective.change,
                         balance=objective.balance, unplaced=objective.unplaced,
                         time_limit=float(time_limit))


def _instruction_key(s: Student) -> tuple:
    return (s.basis_disability, s.other_disability, s.placement_basis, s.support_level,
            s.support_level_derived, s.grade, s.sai_setting)


class _Eligibility:
    """May educator ``e`` give service ``svc`` to student ``s``? Cached by the
    few facts the answer reads, with the rules' reason."""

    def __init__(self, district: District) -> None:
        self.pack = district.rules
        self.cache: dict[tuple, tuple[bool, str]] = {}

    def __call__(self, svc: str, s: Student, e: Educator,
                 key: tuple | None = None) -> tuple[bool, str]:
        """``key``: the caller's short name for the facts read (interned
        instruction facts and educator profile); by default the facts themselves."""
        if key is None:
            key = ((svc, _instruction_key(s), e.role, e.credentials)
                   if self.pack.services[svc].kind == "instruction"
                   else (svc, e.role, e.credentials))
        hit = self.cache.get(key)
        if hit is None:
            hit = self.cache[key] = self._decide(svc, s, e)
        return hit

    def _decide(self, svc: str, s: Student, e: Educator) -> tuple[bool, str]:
        pack = self.pack
        if pack.services[svc].kind == "instruction":
            reasons = []
            for rule in RULES["instruction"]:
                v = rule(pack, s, e)
                if not v.ok:
                    return False, v.reason
                reasons.append(v.reason)
            return True, "; ".join(reasons)
        role = pack.roles[e.role]
        if svc not in role.provides:
            return False, f"{e.role} does not provide {svc}"
        held = sorted(pack.services[svc].credentials & e.credentials)
        if not held:
            need = ", ".join(sorted(pack.services[svc].credentials)) or "a credential"
            return False, f"{svc} needs one of {need}"
        return True, f"holds {', '.join(held)} for {svc}"


def _index(ids: Mapping[str, int], value: str | None) -> int:
    """Position of an educator id: -1 none given, -2 not on staff."""
    if not value:
        return -1
    return ids.get(value, -2)


@without_collector_pauses  # a million small objects, no cycles: district/bulk.py
def build_district_service_problem(
        district: District, objective: Objective | None = None,
        published: Mapping[str, str] | None = None,
        published_services: Mapping[tuple[str, str], str] | None = None
) -> DistrictServiceProblem:
    """The service problem of a district (see the module docstring).

    Parameters
    ----------
    district
        A validated district that plans services.
    objective
        Weights; default: the rule pack's ``[objective]`` with district.toml's.
    published
        A published plan's case managers, student_id -> educator_id.
    published_services
        A published plan's providers, (student_id, service) -> educator_id.

    Examples
    --------
    >>> sp = build_district_service_problem(district)        # doctest: +SKIP
    >>> sp.problem.n_pairs                                    # doctest: +SKIP
    2731
    """
    t0 = time.perf_counter()
    objective = objective or Objective.from_settings(district.rules.objective)
    pack = district.rules
    sids = sorted(district.students)
    eids = sorted(district.educators)
    s_pos = {s: i for i, s in enumerate(sids)}
    e_pos = {e: i for i, e in enumerate(eids)}
    educators = [district.educators[e] for e in eids]
    eligible = _Eligibility(district)

    # Educators by (role, credentials): the rules read nothing else of them.
    prof_id: dict[tuple, int] = {}
    e_prof = np.array([prof_id.setdefault((e.role, e.credentials), len(prof_id))
                       for e in educators], dtype=np.int64)
    e_prof_l = e_prof.tolist()
    rep: dict[int, Educator] = {}
    for e, k in zip(educators, e_prof.tolist(), strict=True):
        rep.setdefault(k, e)
    kinds = {code: svc.kind for code, svc in pack.services.items()}

    def may_give(svc: str, e: Educator, s: Student) -> bool:
        # The role decides first (cheap): it teaches the setting or provides the service.
        role = pack.roles[e.role]
        if kinds[svc] == "instruction":
            return role.teaches is not None and role.teaches == s.sai_setting
        return svc in role.provides

    # Candidate providers per school: those serving it (rank 0), then itinerants
    # the school rule lets reach it (rank 1).
    inside: dict[str, list[int]] = {}
    outside: dict[str, list[int]] = {}
    for sch in district.schools:
        inside[sch] = sorted(e_pos[e] for e in district.educators_by_school[sch])
        reach = district.educators_reaching_school[sch][len(district.educators_by_school[sch]):]
        outside[sch] = sorted(e_pos[e] for e in reach
                              if pack.roles[district.educators[e].role].itinerant)

    pins: dict[tuple[str, str], Lock] = {}
    forbidden: dict[tuple[str, str], set[str]] = {}
    for lk in district.locks:
        if lk.service is None:
            continue
        if lk.kind == "pin":
            pins[(lk.student_id, lk.service)] = lk
        else:
            forbidden.setdefault((lk.student_id, lk.service), set()).add(lk.educator_id)

    # Needs are grouped by what decides their options: school, service and,
    # for instruction, the student's instruction facts (interned to an int).
    needs = tuple(n for n in district.service_needs
                  if n.student_id in s_pos and n.service in pack.services)
    # Group keys as one integer per need (school, service, instruction facts
    # or -1), numbered in order of first appearance: arrays, not a dict
    # lookup per need (170,000 at 100k).
    ikey: dict[tuple, int] = {}
    students_sorted = [district.students[s] for s in sids]
    s_ik = np.array([ikey.setdefault(_instruction_key(s), len(ikey)) for s in students_sorted],
                    dtype=np.int64)
    school_code = {sch: i for i, sch in enumerate(district.schools)}
    s_sch = np.array([school_code[s.school_id] for s in students_sorted], dtype=np.int64)
    svc_code = {svc: i for i, svc in enumerate(pack.services)}
    svc_instruction = np.array([kinds[svc] == "instruction" for svc in pack.services],
                               dtype=bool)
    need_student = np.array([s_pos[n.student_id] for n in needs], dtype=np.int64)
    need_svc = np.array([svc_code[n.service] for n in needs], dtype=np.int64)
    need_ik = np.where(svc_instruction[need_svc], s_ik[need_student], -1)
    gkey = ((s_sch[need_student] * len(svc_code) + need_svc) * (len(ikey) + 1)
            + need_ik + 1)
    need_group, group_first = first_seen(gkey)
    group_rep: list[ServiceNeed] = [needs[j] for j in group_first.tolist()]
    group_keys = [(district.students[n.student_id].school_id, n.service, int(ik))
                  for n, ik in zip(group_rep, need_ik[group_first].tolist(), strict=True)]
    # Each group's candidates: the staff whose role gives the service at the
    # school (those serving it, then itinerants the school rule lets reach it),
    # listed once per (school, service, setting).
    cand_of: dict[tuple, int] = {}
    cand_lists: list[list[tuple[int, bool]]] = []
    g_cand_l: list[int] = []
    g_verdict_l: list[int] = []  # per group: its (service, instruction facts), interned
    verdict_of: dict[tuple[str, int], int] = {}
    g_student: list[Student] = []
    for key, need in zip(group_keys, group_rep, strict=True):
        school, svc, ik = key
        s = district.students[need.student_id]
        g_student.append(s)
        ckey = (school, svc, s.sai_setting if kinds[svc] == "instruction" else None)
        c = cand_of.get(ckey)
        if c is None:
            c = cand_of[ckey] = len(cand_lists)
            cand_lists.append([
                (ei, far) for group, far in ((inside[school], False), (outside[school], True))
                for ei in group if may_give(svc, educators[ei], s)])
        g_cand_l.append(c)
        g_verdict_l.append(verdict_of.setdefault((svc, ik), len(verdict_of)))
    n_groups = len(group_rep)
    # Every (group, candidate) at once, in group then candidate order.
    c_len = np.array([len(c) for c in cand_lists], dtype=np.int64)
    c_off = np.concatenate([[0], np.cumsum(c_len)]).astype(np.int64)
    c_e = np.array([ei for c in cand_lists for ei, _ in c], dtype=np.int64)
    c_far = np.array([far for c in cand_lists for _, far in c], dtype=bool)
    g_cand = np.array(g_cand_l, dtype=np.int64)
    cnt = c_len[g_cand] if n_groups else np.zeros(0, dtype=np.int64)
    og = np.repeat(np.arange(n_groups, dtype=np.int64), cnt)
    at = (np.repeat(c_off[g_cand] if n_groups else np.zeros(0, np.int64), cnt)
          + np.arange(len(og), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    oe, ofar = c_e[at], c_far[at]
    # The rules answer once per (service, instruction facts, educator profile),
    # asked about its first (group, candidate) as one by one would (~165,000
    # (group, candidate) pairs at 100k, a few thousand answers).
    n_prof = max(1, len(prof_id))
    vkey = np.array(g_verdict_l, dtype=np.int64)[og] * n_prof + e_prof[oe]
    ok_v: list[bool] = []
    why_v: list[int] = []
    local_text: dict[str, int] = {}
    first_at = np.zeros(0, dtype=np.int64)
    inv = np.zeros(0, dtype=np.int64)
    if len(vkey):
        _, first_at, inv = np.unique(vkey, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
    for j in first_at.tolist():
        g, ei = int(og[j]), int(oe[j])
        school, svc, ik = group_keys[g]
        ok, why = eligible(svc, g_student[g], educators[ei], (svc, ik, e_prof_l[ei]))
        ok_v.append(ok)
        why_v.append(local_text.setdefault(why, len(local_text)))
    keep = np.array(ok_v, dtype=bool)[inv]
    opt_g, flat_e, flat_far = og[keep], oe[keep], ofar[keep]
    opt_why = np.array(why_v, dtype=np.int64)[inv][keep]
    k_group = np.bincount(opt_g, minlength=n_groups).astype(np.int64)
    off = np.concatenate([[0], np.cumsum(k_group)]).astype(np.int64)
    # Reasons numbered in order of first use, as the options are listed.
    texts_local = list(local_text)
    flat_why, why_first = first_seen(opt_why)
    option_texts = [texts_local[k] for k in opt_why[why_first].tolist()]
    # Planned: someone here may give it, or someone anywhere in the district.
    g_planned = k_group > 0
    planned_cache: dict[tuple, bool] = {}
    for g in np.nonzero(~g_planned)[0].tolist():
        school, svc, ik = group_keys[g]
        pk = (svc, ik)
        planned = planned_cache.get(pk)
        if planned is None:
            s = g_student[g]
            planned = planned_cache[pk] = any(
                may_give(svc, e, s) and eligible(svc, s, e)[0] for e in rep.values())
        g_planned[g] = planned
    planned_need = g_planned[need_group] if len(needs) else np.zeros(0, dtype=bool)
    need_pair = np.where(planned_need, np.cumsum(planned_need) - 1, -1).astype(np.int64)
    pairs = [n for n, ok in zip(needs, planned_need.tolist(), strict=True) if ok]
    pub = published_services or {}
    p_student = need_student[planned_need].tolist()
    p_service = [n.service for n in pairs]
    p_minutes = [0.0 if n.minutes is None else float(n.minutes) for n in pairs]
    # _index inlined: -1 none given, -2 not on staff (380,000 calls at 100k).
    p_current = [e_pos.get(c, -2) if c else -1 for c in (n.current_provider for n in pairs)]
    p_published = ([e_pos.get(c, -2) if c else -1
                    for c in (pub.get((n.student_id, n.service)) for n in pairs)]
                   if pub else [-1] * len(pairs))

    # Options: every pair of a group gets the group's options (flat_e,
    # flat_far, flat_why from off[g] to off[g + 1]), expanded for all pairs at a time.
    pair_group = need_group[planned_need]
    counts = k_group[pair_group] if len(pair_group) else np.zeros(0, dtype=np.int64)
    ep_a = np.repeat(np.arange(len(pair_group), dtype=np.int64), counts)
    starts = np.repeat(off[pair_group] if len(pair_group) else np.zeros(0, np.int64), counts)
    within = np.arange(len(ep_a), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts,
                                                              counts)
    pick = starts + within
    ee_a, far_a, why_a = flat_e[pick], flat_far[pick], flat_why[pick]
    # Service locks: a pin keeps only the pinned provider's option; a forbid drops one.
    if pins or forbidden:
        pair_of = {(n.student_id, n.service): q for q, n in enumerate(pairs)}
        keep = np.ones(len(ep_a), dtype=bool)
        n_e = max(1, len(eids))
        key_a = ep_a * n_e + ee_a
        # A pair's options are one run (ep_a is the pair, in order): a pin
        # reads its run, not every option (a million at 100k) once per pin.
        run_start = (np.cumsum(counts) - counts).tolist()
        run_len = counts.tolist()
        for (sid, svc), lk in pins.items():
            q = pair_of.get((sid, svc))
            if q is not None:
                a, b = run_start[q], run_start[q] + run_len[q]
                keep[a:b] &= ee_a[a:b] == e_pos.get(lk.educator_id, -1)
        drop = [pair_of[k] * n_e + e_pos[e] for k, who in forbidden.items() if k in pair_of
                for e in who if e in e_pos]
        # arraysets.member, not np.isin (which hashes both arrays since NumPy 2.3).
        keep &= ~member(key_a, np.array(drop, dtype=np.int64))
        ep_a, ee_a, far_a, why_a = ep_a[keep], ee_a[keep], far_a[keep], why_a[keep]
    order = np.lexsort((ee_a, ep_a))
    ep_a, ee_a, far_a, why_a = ep_a[order], ee_a[order], far_a[order], why_a[order]
    t_services = time.perf_counter()

    # Case-manager options from today's edge table (locks applied there), as
    # its integer arrays: the reasons stay numbers (decisions, then coordinator
    # verdicts) until a plan writes the few it needs.
    e_file, s_file = list(district.educators), list(district.students)
    es_idx, ee_idx, ed_idx, decisions = edge_arrays(district)
    # From file order to sorted order, by the position dictionaries made above
    # (not a pandas index over 100,000 ids, hashed once more).
    to_s = np.array([s_pos[s] for s in s_file], dtype=np.int64)
    to_e = np.array([e_pos[e] for e in e_file], dtype=np.int64)
    cs = to_s[es_idx] if len(es_idx) else np.zeros(0, dtype=np.int64)
    ce = to_e[ee_idx] if len(ee_idx) else np.zeros(0, dtype=np.int64)
    d_own = np.array([d.capacity != "coordination" for d in decisions], dtype=bool)
    d_rank = np.array([-1 if d.rank is None else d.rank for d in decisions], dtype=np.int64)
    own = d_own[ed_idx] if len(ed_idx) else np.zeros(0, dtype=bool)
    rank = d_rank[ed_idx] if len(ed_idx) else np.zeros(0, dtype=np.int64)
    # may_coordinate reads the educator's role and credentials only (no student).
    verdicts = [may_coordinate(pack, None, e) for e in educators]  # type: ignore[arg-type]
    may_coord = np.array([v.ok for v in verdicts], dtype=bool)
    coord = may_coord[ce] if len(ce) else np.zeros(0, dtype=bool)
    cm_texts = tuple([d.reason for d in decisions] + [v.reason for v in verdicts])
    cm_s = np.concatenate([cs[own], cs[coord]])
    cm_e = np.concatenate([ce[own], ce[coord]])
    cm_k = np.concatenate([np.zeros(int(own.sum()), dtype=np.int64),
                           np.ones(int(coord.sum()), dtype=np.int64)])
    cm_r = np.concatenate([rank[own], np.full(int(coord.sum()), 2, dtype=np.int64)])
    cm_why = np.concatenate([ed_idx[own].astype(np.int64), len(decisions) + ce[coord]])
    # By (student, educator, kind) as one int64 key: a single sort, not a
    # three-key lexsort, of 1.7 million options (the keys are distinct).
    order = stable_order((cm_s * max(1, len(eids)) + cm_e) * 2 + cm_k)
    cm_s, cm_e, cm_k, cm_r, cm_why = (cm_s[order], cm_e[order], cm_k[order], cm_r[order],
                                      cm_why[order])

    students = [district.students[s] for s in sids]
    # _index inlined (100,000 calls at 100k): -1 none given, -2 not on staff.
    current_cm = [e_pos.get(c, -2) if c else -1
                  for c in (s.current_case_manager for s in students)]
    published_cm = ([_index(e_pos, published.get(s, "")) for s in sids]
                    if published is not None else [-1] * len(sids))
    mcap = [district.minutes_capacity(e) for e in eids]
    problem = ServiceProblem.from_arrays(
        student_ids=sids, current_cm=current_cm, published_cm=published_cm,
        pair_student=p_student, pair_service=p_service, pair_minutes=p_minutes,
        pair_current=p_current, pair_published=p_published,
        provider_ids=eids, provider_role=[e.role for e in educators],
        cap=[district.cap(e) for e in eids], fte=[e.fte for e in educators],
        minutes_capacity=[np.inf if m is None else m for m in mcap],
        other_load=[int(math.ceil(e.other_load - 1e-9)) for e in educators],
        edge_pair=ep_a, edge_provider=ee_a, edge_rank=far_a.astype(np.int64),
        cm_student=cm_s, cm_provider=cm_e, cm_kind=cm_k, cm_rank=cm_r)
    # Options were built in (pair, provider) order, which from_arrays keeps.
    assert np.array_equal(problem.edge_pair, ep_a) and \
        np.array_equal(problem.edge_provider, ee_a)
    edge_outside = far_a
    cm_why.setflags(write=False)
    edge_outside.setflags(write=False)
    why_a.setflags(write=False)
    need_pair.setflags(write=False)
    return DistrictServiceProblem(
        district=district, objective=objective, problem=problem, needs=needs,
        need_pair=need_pair, edge_outside=edge_outside, option_why=why_a,
        option_texts=tuple(option_texts),
        pair_pin=MappingProxyType(pins),
        pair_forbidden=MappingProxyType({k: frozenset(v) for k, v in forbidden.items()}),
        cm_why=cm_why, cm_texts=cm_texts, published_given=published is not None
        or published_services is not None,
        timings=MappingProxyType({"service_options": t_services - t0,
                                  "case_manager_options": time.perf_counter() - t_services}))
