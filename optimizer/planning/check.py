"""Checking a plan — or today's assignments — against the rules, from the input alone.

This path shares nothing with the solver: it does not use the eligibility
graph, the planning problem or any engine. For each assignment it asks the
rules engine about that one pair, recomputes every cap from educators.csv and
re-reads the locks, so a solver bug cannot hide behind itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from optimizer.district.model import District
from optimizer.rules import decide

__all__ = ["AUDIT_COLUMNS", "audit_table", "Violation", "check_plan", "audit_current"]


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str  # ineligible | cap exceeded | pin broken | forbid used | missing | twice | unknown
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
                out.append(Violation("missing", sid, "", "student is not in the plan"))
    load: dict[str, float] = {}
    assigned: dict[str, str] = {}
    for sid, eid in pairs:
        if sid not in district.students:
            out.append(Violation("unknown", sid, eid, "no such student in students.csv"))
            continue
        if not eid:
            continue
        if eid not in district.educators:
            out.append(Violation("unknown", sid, eid, "no such educator in educators.csv"))
            continue
        s, e = district.students[sid], district.educators[eid]
        assigned[sid] = eid
        load[eid] = load.get(eid, 0.0) + s.weight
        d = decide(district, s, e)
        if not d.eligible:
            out.append(Violation("ineligible", sid, eid, "; ".join(d.failed_text())))
        if (sid, eid) in district.forbids:
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
    pairs = list(zip(assignments["student_id"].astype(str), cm, strict=True))
    return _pairs_violations(district, pairs, require_every_student=True)


def audit_current(district: District) -> list[Violation]:
    """Today's assignments (the ``current_case_manager`` column) checked the same
    way: each one that breaks a credential rule or a cap, with the rule.

    Students without a current case manager are not violations here.
    """
    pairs = [(sid, s.current_case_manager) for sid, s in district.students.items()
             if s.current_case_manager]
    out = []
    for v in _pairs_violations(district, pairs, require_every_student=False):
        if v.kind == "pin broken":
            continue  # pins are about next year's plan, not today's
        if v.kind == "unknown" and v.educator_id:
            v = Violation("not on staff", v.student_id, v.educator_id,
                          "this year's case manager is no longer in educators.csv")
        out.append(v)
    # One order whatever the order of the input rows (a plan's audit.csv is
    # the same bytes for the same district).
    return sorted(out, key=lambda v: (v.student_id or "", v.educator_id or "", v.kind,
                                      str(v)))


#: Columns of the audit table (``audit.csv``).
AUDIT_COLUMNS = ["kind", "student_id", "educator_id", "detail"]


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
