"""One grouped warning when a guessed support level decides who may teach a student.

A blank ``support_level`` is derived by a local default with no law behind it
(``[support_level_rule] sdc_gen_ed_pct_below``: SDC with under 40% of the day
in general education → extensive). The Mild to Moderate and Extensive Support
Needs credentials are limited by support level, so that guess can decide
whether a teacher may teach the student or only coordinate. The planner
should then enter the level from the IEP; this module finds those students
and says so once, with a count and a few examples, not once per student.
"""

from __future__ import annotations

import dataclasses

from optimizer.district.model import District, Educator, InputIssue, Student
from optimizer.rules import rule_cache

__all__ = ["derived_level_warnings"]

_CAN = {"instruction": "may teach them", "service": "serves them",
        "coordination": "may only coordinate", "not eligible": "is not eligible"}

#: How many students the warning names as examples.
EXAMPLES = 3


def _deciding_educator(district: District, s: Student,
                        memo: dict[tuple, tuple[str, str, str] | None],
                        teachers: dict[tuple[str, str | None], list[tuple[str, Educator, tuple]]]
                        ) -> tuple[str, str, str, str] | None:
    """(educator, capacity now, other level, capacity at that level) for the first
    educator at the student's school whose capacity depends on the derived level.

    ``memo`` keeps, per facts the rules read for a pair, whether and how the
    capacity changes: schools share them, so most are decided once.
    ``teachers`` keeps, per (school, setting), the first educator of each
    profile there who teaches that setting (the others decide alike)."""
    pack = district.rules
    cache = rule_cache(pack)
    sp = cache.student_profile(s)
    where = (s.school_id, s.sai_setting)
    firsts = teachers.get(where)
    if firsts is None:
        firsts = teachers[where] = []
        seen: set[tuple] = set()
        for eid in district.educators_by_school[s.school_id]:
            e = district.educators[eid]
            if pack.roles[e.role].teaches != s.sai_setting:
                continue  # only the teaching rules read the support level
            ep = cache.educator_profile(e)
            if ep not in seen:
                seen.add(ep)
                firsts.append((eid, e, ep))
    for eid, e, ep in firsts:
        # Keyed by the facts the rules read for the pair (the level among them,
        # as this educator teaches the student's setting): they decide it all.
        facts = cache._facts(ep, s, e)
        if facts not in memo:
            memo[facts] = _level_changes(district, s, sp, ep, e)
        found = memo[facts]
        if found is not None:
            return (eid, *found)
    return None


def _level_changes(district: District, s: Student, sp: tuple, ep: tuple,
                   e: Educator) -> tuple[str, str, str] | None:
    """(capacity now, other level, capacity at that level) for the first other
    support level that changes what this educator may do, or None."""
    pack = district.rules
    cache = rule_cache(pack)
    now = cache.decide_profiles(sp, ep, s, e).capacity
    for lv in pack.support_levels:
        if lv == s.support_level:
            continue
        a = dataclasses.replace(s, support_level=lv)
        then = cache.decide_profiles(cache.student_profile(a), ep, a, e).capacity
        if then != now:
            return now or "not eligible", a.support_level, then or "not eligible"
    return None


def derived_level_warnings(district: District, label: str = "students.csv") -> list[InputIssue]:
    """A single warning (or none) for students whose derived support level decides
    which teachers may teach them.

    Parameters
    ----------
    district
        A validated district.
    label
        The students file's name as the planner knows it.

    Returns
    -------
    list of InputIssue
        Empty, or one warning on the ``support_level`` column with the number
        of such students and up to three examples (row, derived level, and an
        educator whose capacity would change with the other level).
    """
    pack = district.rules
    # The level is read only by the teaching rules, so the answer changes
    # exactly when teaching eligibility does: students with the same teaching
    # facts at the same school get the same answer.
    groups: dict[tuple, list[Student]] = {}
    for s in district.students.values():
        # The threshold is consulted only for special day class students; a
        # blank level elsewhere is the resource program's usual mild_moderate.
        if s.support_level_derived and s.sai_setting == "sdc":
            key = (s.basis_disability, s.other_disability, s.placement_basis,
                   s.support_level, s.grade, s.school_id)
            groups.setdefault(key, []).append(s)
    hits: list[tuple[Student, tuple[str, str, str, str]]] = []
    memo: dict[tuple, tuple[str, str, str] | None] = {}
    teachers: dict[tuple[str, str | None], list[tuple[str, Educator, tuple]]] = {}
    for members in groups.values():
        found = _deciding_educator(district, members[0], memo, teachers)
        if found is not None:
            hits.extend((m, found) for m in members)
    if not hits:
        return []
    hits.sort(key=lambda h: h[0].row)
    examples = []
    for s, (eid, now, other, then) in hits[:EXAMPLES]:
        pct = "blank" if s.gen_ed_pct is None else f"{s.gen_ed_pct:g}%"
        examples.append(f"{s.student_id} (row {s.row}, {(s.sai_setting or '').upper()}, general "
                        f"education {pct}) is taken as {s.support_level}, so {eid} "
                        f"{_CAN[now]}; at {other} {eid} {_CAN[then]}")
    threshold = pack.sdc_extensive_below_pct
    by_level: dict[str, int] = {}
    for s, _ in hits:
        by_level[s.support_level] = by_level.get(s.support_level, 0) + 1
    split = ", ".join(f"{n} taken as {lv}" for lv, n in sorted(by_level.items()))
    return [InputIssue(
        label, None, "support_level", None,
        f"a support_level from the IEP for {len(hits)} student(s) ({split}) whose blank level was "
        f"derived by a local default (special day class with under {threshold:g}% of the "
        "day in general education -> extensive, else mild_moderate; set in district.toml "
        "[support_level_rule] sdc_gen_ed_pct_below) and decides which teachers may teach "
        "them. Examples: " + "; ".join(examples),
        "warning")]
