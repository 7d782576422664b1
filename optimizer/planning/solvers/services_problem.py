"""Service caseloads, the inputs: providers, students, (student, service) pairs
and the eligible options, as the read-only arrays of :class:`ServiceProblem`.

Part of the service solver (``optimizer.planning.solvers.services`` is the
public import path and re-exports these names). No solver is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.arraysets import stable_order

#: A column of :meth:`ServiceProblem.from_arrays`: an array or a list, one value per row.
Column = np.ndarray | Sequence[Any]

#: Costs are integers in 1/SCALE point.
SCALE = 1000

OWN, COORDINATOR = 0, 1


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Provider:
    """An educator who may serve or case-manage.

    ``cap`` is already prorated by FTE (see :func:`prorated_cap`);
    ``minutes_capacity`` is IEP minutes per week (``None``: no minute limit);
    ``other_load`` counts students served outside this plan (504 plans, other
    agencies), who take seats like any other.
    """

    provider_id: str
    role: str
    cap: int
    fte: float = 1.0
    minutes_capacity: float | None = None
    other_load: int = 0


@dataclass(frozen=True)
class StudentRow:
    """A student: this year's case manager and, for stable re-planning, the
    published plan's (``None`` when there is none)."""

    student_id: str
    current_case_manager: str | None = None
    published_case_manager: str | None = None


@dataclass(frozen=True)
class ServiceRow:
    """One planned (student, service) pair, with IEP minutes per week."""

    student_id: str
    service: str
    minutes: float = 0.0
    current_provider: str | None = None
    published_provider: str | None = None


@dataclass(frozen=True)
class ServiceOption:
    """``provider_id`` may give this student this service (credential and
    school already checked by the caller), at best-practice rank 0, 1 or 2."""

    student_id: str
    service: str
    provider_id: str
    rank: int = 0


@dataclass(frozen=True)
class CaseManagerOption:
    """``provider_id`` may case-manage the student.

    ``kind="own"``: as one of the student's own providers (instruction or
    service) -- usable only when the plan makes them a provider of the
    student. ``kind="coordinator"``: as a coordinator, whatever they serve.
    """

    student_id: str
    provider_id: str
    kind: str = "own"
    rank: int = 0


def prorated_cap(full_time_cap: int, fte: float) -> int:
    """Caseload cap of a part-time provider: the full-time cap times FTE, rounded down.

    Rounded down because a cap is a legal maximum: a 0.5 FTE resource
    specialist may not carry 14.5 students' worth of a 28 cap as 15.

    Examples
    --------
    >>> prorated_cap(28, 0.5), prorated_cap(55, 0.8)
    (14, 44)
    """
    return int(math.floor(full_time_cap * fte + 1e-9))


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


@dataclass(frozen=True, eq=False)
class ServiceProblem:
    """Everything the solver sees, as read-only arrays (index = position).

    Attributes
    ----------
    student_ids, current_cm, published_cm
        Per student; case-manager indexes are provider positions, -1 none,
        -2 a provider no longer on staff (never kept).
    pair_student, pair_service, pair_minutes, pair_current, pair_published
        Per (student, service) pair, sorted by student then service.
    provider_ids, provider_role, cap, fte, minutes_capacity, other_load
        Per provider; ``minutes_capacity`` is ``inf`` where there is none.
    edge_pair, edge_provider, edge_rank
        Eligible service options, sorted by (pair, provider).
    cm_student, cm_provider, cm_kind, cm_rank
        Case-manager options (kind 0 own provider, 1 coordinator), sorted.
    """

    student_ids: np.ndarray
    current_cm: np.ndarray
    published_cm: np.ndarray
    pair_student: np.ndarray
    pair_service: np.ndarray
    pair_minutes: np.ndarray
    pair_current: np.ndarray
    pair_published: np.ndarray
    provider_ids: np.ndarray
    provider_role: np.ndarray
    cap: np.ndarray
    fte: np.ndarray
    minutes_capacity: np.ndarray
    other_load: np.ndarray
    edge_pair: np.ndarray
    edge_provider: np.ndarray
    edge_rank: np.ndarray
    cm_student: np.ndarray
    cm_provider: np.ndarray
    cm_kind: np.ndarray
    cm_rank: np.ndarray

    @property
    def n_students(self) -> int:
        return len(self.student_ids)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_student)

    @property
    def n_providers(self) -> int:
        return len(self.provider_ids)

    @property
    def edge_student(self) -> np.ndarray:
        return self.pair_student[self.edge_pair]

    @property
    def has_minute_capacities(self) -> bool:
        return bool(np.any(np.isfinite(self.minutes_capacity)))

    def shared_options(self) -> np.ndarray:
        """Per service edge: True when its provider is eligible for another
        pair of the same student (then serving both takes one seat, not two)."""
        key = self.edge_student.astype(np.int64) * self.n_providers + self.edge_provider
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        return counts[inv] > 1

    @classmethod
    def from_arrays(cls, *, student_ids: Column, current_cm: Column | None = None,
                    published_cm: Column | None = None, pair_student: Column,
                    pair_service: Column, pair_minutes: Column | None = None,
                    pair_current: Column | None = None,
                    pair_published: Column | None = None,
                    provider_ids: Column, provider_role: Column, cap: Column,
                    fte: Column | None = None, minutes_capacity: Column | None = None,
                    other_load: Column | None = None, edge_pair: Column,
                    edge_provider: Column, edge_rank: Column | None = None,
                    cm_student: Column, cm_provider: Column, cm_kind: Column,
                    cm_rank: Column | None = None) -> ServiceProblem:
        """Build from index arrays (the fast path, used at district scale).

        Raises
        ------
        ValueError
            On an index out of range, a negative cap, a rank outside 0-2, a
            duplicated option, or pairs not sorted by student.
        """
        n_s, n_e = len(student_ids), len(provider_ids)
        n_p = len(pair_student)

        def ints(a: Column | None, n: int, fill: int = -1) -> np.ndarray:
            return (np.full(n, fill, dtype=np.int64) if a is None
                    else np.asarray(a, dtype=np.int64).copy())

        sid = np.asarray(student_ids, dtype=object).copy()
        cur_cm, pub_cm = ints(current_cm, n_s), ints(published_cm, n_s)
        ps = ints(pair_student, n_p)
        psvc = np.asarray(pair_service, dtype=object).copy()
        pmin = (np.zeros(n_p) if pair_minutes is None
                else np.asarray(pair_minutes, dtype=float).copy())
        pcur, ppub = ints(pair_current, n_p), ints(pair_published, n_p)
        pid = np.asarray(provider_ids, dtype=object).copy()
        prole = np.asarray(provider_role, dtype=object).copy()
        capa = ints(cap, n_e)
        ftea = np.ones(n_e) if fte is None else np.asarray(fte, dtype=float).copy()
        mcap = (np.full(n_e, np.inf) if minutes_capacity is None
                else np.asarray(minutes_capacity, dtype=float).copy())
        other = ints(other_load, n_e, 0)
        ep, ee = ints(edge_pair, len(edge_pair)), ints(edge_provider, len(edge_pair))
        er = ints(edge_rank, len(ep), 0)
        cs, ce = ints(cm_student, len(cm_student)), ints(cm_provider, len(cm_student))
        ck, cr = ints(cm_kind, len(cs)), ints(cm_rank, len(cs), 0)

        problems = []
        if len(sid) != len(set(sid.tolist())):
            problems.append("student ids repeat")
        if len(pid) != len(set(pid.tolist())):
            problems.append("provider ids repeat")
        for name, a, n, lo in [("pair_student", ps, n_s, 0), ("edge_pair", ep, n_p, 0),
                               ("edge_provider", ee, n_e, 0), ("cm_student", cs, n_s, 0),
                               ("cm_provider", ce, n_e, 0), ("current_cm", cur_cm, n_e, -2),
                               ("published_cm", pub_cm, n_e, -2),
                               ("pair_current", pcur, n_e, -2),
                               ("pair_published", ppub, n_e, -2)]:
            if len(a) and (a.min() < lo or a.max() >= n):
                problems.append(f"{name} has an index outside {lo}..{n - 1}")
        if np.any(np.diff(ps) < 0):
            problems.append("pairs must be sorted by student")
        if np.any(capa < 0) or np.any(other < 0):
            problems.append("caps and other_load must be >= 0")
        if np.any(pmin < 0) or np.any(np.isnan(pmin)):
            problems.append("minutes must be >= 0")
        if np.any((er < 0) | (er > 2)) or np.any((cr < 0) | (cr > 2)):
            problems.append("ranks must be 0, 1 or 2")
        if np.any((ck != OWN) & (ck != COORDINATOR)):
            problems.append("case-manager kind must be 0 (own) or 1 (coordinator)")
        if problems:
            raise ValueError("; ".join(problems))
        # Options sorted by (pair, provider) and (student, provider, kind): one
        # int64 key each (indexes are in range, checked above), and no sort at
        # all when they come sorted, as the district's service problem gives them.
        ekey = ep * max(n_e, 1) + ee
        if np.any(np.diff(ekey) < 0):
            order = stable_order(ekey)
            ep, ee, er, ekey = ep[order], ee[order], er[order], ekey[order]
        if np.any(np.diff(ekey) == 0):
            raise ValueError("a service option is listed twice")
        ckey = (cs * max(n_e, 1) + ce) * 2 + ck
        if np.any(np.diff(ckey) < 0):
            order = stable_order(ckey)
            cs, ce, ck, cr, ckey = cs[order], ce[order], ck[order], cr[order], ckey[order]
        if np.any(np.diff(ckey) == 0):
            raise ValueError("a case-manager option is listed twice")
        _readonly(sid, cur_cm, pub_cm, ps, psvc, pmin, pcur, ppub, pid, prole, capa, ftea,
                  mcap, other, ep, ee, er, cs, ce, ck, cr)
        return cls(sid, cur_cm, pub_cm, ps, psvc, pmin, pcur, ppub, pid, prole, capa, ftea,
                   mcap, other, ep, ee, er, cs, ce, ck, cr)


def build_service_problem(students: Iterable[StudentRow], services: Iterable[ServiceRow],
                          providers: Iterable[Provider],
                          service_options: Iterable[ServiceOption],
                          case_manager_options: Iterable[CaseManagerOption]) -> ServiceProblem:
    """Build a problem from plain rows, in canonical (sorted-id) order.

    Raises
    ------
    ValueError
        Listing every row that names an unknown student, provider or pair, or
        repeats one.
    """
    students = sorted(students, key=lambda s: s.student_id)
    providers = sorted(providers, key=lambda p: p.provider_id)
    s_pos = {s.student_id: i for i, s in enumerate(students)}
    e_pos = {p.provider_id: i for i, p in enumerate(providers)}
    errors: list[str] = []

    def prov(pid: str | None) -> int:
        if pid is None or pid == "":
            return -1
        return e_pos.get(pid, -2)  # -2: named but not on staff: never kept

    rows = sorted(services, key=lambda r: (r.student_id, r.service))
    p_pos: dict[tuple[str, str], int] = {}
    for r in rows:
        if r.student_id not in s_pos:
            errors.append(f"service {r.student_id}/{r.service}: unknown student")
        elif (r.student_id, r.service) in p_pos:
            errors.append(f"service {r.student_id}/{r.service}: listed twice")
        else:
            p_pos[(r.student_id, r.service)] = len(p_pos)
    ep, ee, er = [], [], []
    for o in service_options:
        key = (o.student_id, o.service)
        if key not in p_pos or o.provider_id not in e_pos:
            errors.append(f"service option {o.student_id}/{o.service} -> {o.provider_id}: "
                          "unknown pair or provider")
            continue
        ep.append(p_pos[key])
        ee.append(e_pos[o.provider_id])
        er.append(o.rank)
    cs, ce, ck, cr = [], [], [], []
    for c in case_manager_options:
        if c.student_id not in s_pos or c.provider_id not in e_pos or c.kind not in (
                "own", "coordinator"):
            errors.append(f"case-manager option {c.student_id} -> {c.provider_id} "
                          f"({c.kind}): unknown student, provider or kind")
            continue
        cs.append(s_pos[c.student_id])
        ce.append(e_pos[c.provider_id])
        ck.append(OWN if c.kind == "own" else COORDINATOR)
        cr.append(c.rank)
    if errors:
        raise ValueError("; ".join(errors))
    return ServiceProblem.from_arrays(
        student_ids=[s.student_id for s in students],
        current_cm=[prov(s.current_case_manager) for s in students],
        published_cm=[prov(s.published_case_manager) for s in students],
        pair_student=[s_pos[r.student_id] for r in rows],
        pair_service=[r.service for r in rows],
        pair_minutes=[r.minutes for r in rows],
        pair_current=[prov(r.current_provider) for r in rows],
        pair_published=[prov(r.published_provider) for r in rows],
        provider_ids=[p.provider_id for p in providers],
        provider_role=[p.role for p in providers],
        cap=[p.cap for p in providers], fte=[p.fte for p in providers],
        minutes_capacity=[np.inf if p.minutes_capacity is None else p.minutes_capacity
                          for p in providers],
        other_load=[p.other_load for p in providers],
        edge_pair=ep, edge_provider=ee, edge_rank=er,
        cm_student=cs, cm_provider=ce, cm_kind=ck, cm_rank=cr)
