"""What next year's district lacks after a rollover, said as warnings.

After grades advance and students move on, a school may be left with no
students (the preschool, when its children move to kindergarten), an educator
with no student they may case-manage, and a student with no one who may
case-manage them. None of these stops the rollover; each is a warning the
planner should see before planning (``caseload rollover`` prints them grouped).
"""

from __future__ import annotations

from optimizer.district.model import District, InputIssue
from optimizer.graph import edge_table, unplaceable_students

__all__ = ["rollover_warnings"]


def rollover_warnings(district: District) -> list[InputIssue]:
    """Schools left empty, educators left with no eligible student, students
    with no eligible case manager — in next year's (validated) district.

    Examples
    --------
    >>> [str(w) for w in rollover_warnings(next_year)][:1]           # doctest: +SKIP
    ["schools.csv, column school_id: 'SCH0001' — students next year: ..."]
    """
    out: list[InputIssue] = []
    by_school: dict[str, int] = {}
    for s in district.students.values():
        by_school[s.school_id] = by_school.get(s.school_id, 0) + 1
    for sid in sorted(district.schools):
        if not by_school.get(sid):
            out.append(InputIssue(
                "schools.csv", None, "school_id", sid,
                f"students next year: {district.schools[sid].name} has none after the "
                "rollover (its students moved on and no new students were added)", "warning"))
    edges = edge_table(district)
    with_students = set(edges["educator_id"])
    pack = district.rules
    for eid in sorted(district.educators):
        e = district.educators[eid]
        role = pack.roles.get(e.role)
        may = e.case_manager if e.case_manager is not None else bool(
            role is not None and role.case_manager)
        if may and eid not in with_students:
            out.append(InputIssue(
                "educators.csv", None, "educator_id", eid,
                f"a student to case-manage next year: {e.name} ({e.role}) may case-manage "
                f"none of next year's students at {', '.join(e.schools)}", "warning"))
    for u in unplaceable_students(district):
        out.append(InputIssue(
            "students.csv", None, "student_id", u["student_id"],
            f"an eligible case manager next year: no one at {u['school_id']} may "
            f"case-manage this student ({u['summary']})", "warning"))
    return out
