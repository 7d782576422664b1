"""A district back to contract-layout text tables (for scenarios, rollover and writing).

The round trip ``validate_tables(district_tables(d))`` gives the same district:
what scenarios and rollover change, they change on these tables, and the
result is validated by the same code as any district a planner hands us.
"""

from __future__ import annotations

import pandas as pd

from optimizer.district.contract import CONTRACT
from optimizer.district.model import District

__all__ = ["district_tables"]


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}"


def district_tables(district: District) -> dict[str, pd.DataFrame]:
    """The district as text tables in the data-contract layout.

    Examples
    --------
    >>> tables = district_tables(load_district("data/sample"))   # doctest: +SKIP
    >>> sorted(tables)                                           # doctest: +SKIP
    ['educators', 'locks', 'schools', 'students']

    A district given ``services.csv`` also gets a ``services`` table, and
    ``locks`` has a ``service`` column (blank for case-manager locks).
    """
    schools = pd.DataFrame([{
        "school_id": s.school_id, "name": s.name, "low_grade": s.low_grade,
        "high_grade": s.high_grade, "feeds_into": s.feeds_into or "", "region": s.region or "",
    } for s in district.schools.values()], columns=[c.name for c in CONTRACT["schools"]])
    educators = pd.DataFrame([{
        "educator_id": e.educator_id, "name": e.name, "role": e.role,
        "credentials": ";".join(sorted(e.credentials)), "schools": ";".join(e.schools),
        "fte": _num(e.fte), "max_caseload": _num(e.max_caseload),
        "other_load": _num(e.other_load) if e.other_load else "",
        "case_manager": "" if e.case_manager is None else ("yes" if e.case_manager else "no"),
    } for e in district.educators.values()], columns=[c.name for c in CONTRACT["educators"]])
    students = pd.DataFrame([{
        "student_id": s.student_id, "school_id": s.school_id, "grade": s.grade,
        "primary_disability": s.primary_disability,
        "secondary_disability": s.secondary_disability or "",
        "placement_basis": s.placement_basis,
        "support_level": "" if s.support_level_derived else s.support_level,
        "services": ";".join(sorted(s.services)), "sai_setting": s.sai_setting or "",
        "gen_ed_pct": _num(s.gen_ed_pct),
        "current_case_manager": s.current_case_manager or "",
        "annual_review": s.annual_review.isoformat() if s.annual_review else "",
        "triennial_review": s.triennial_review.isoformat() if s.triennial_review else "",
        # Weights are written out as they apply, so a scenario keeps them even
        # if it changes the student's support level.
        "weight": _num(s.weight),
        "birth_date": s.birth_date.isoformat() if s.birth_date else "",
        "adult_transition": "" if s.adult_transition is None else
        ("yes" if s.adult_transition else "no"),
        "name": s.name or "",
    } for s in district.students.values()], columns=[c.name for c in CONTRACT["students"]])
    locks = pd.DataFrame([{
        "student_id": lk.student_id, "educator_id": lk.educator_id, "kind": lk.kind,
        "reason": lk.reason, "service": lk.service or "",
    } for lk in district.locks], columns=[c.name for c in CONTRACT["locks"]])
    tables = {"schools": schools, "educators": educators, "students": students, "locks": locks}
    # services.csv only when the district was given one: a district without it
    # stays without it (its rows are derived from students.services).
    if district.service_rows is not None:
        tables["services"] = pd.DataFrame([{
            "student_id": r.student_id, "service": r.service, "minutes": _num(r.minutes),
            "current_provider": r.current_provider or "",
        } for r in district.service_rows], columns=[c.name for c in CONTRACT["services"]])
    return tables
