"""``caseload explain`` in planner words: the answer first, the rule table on request.

The text opens with the student in words, then the chosen (from a plan) or the
best case-manager options in at most three lines, then why this year's case
manager is or is not among them, then a line per educator who may not
case-manage the student with the one rule that says no. ``show_all`` adds every
rule's verdict for every educator at the school (the former output). Codes
(disability, service, role, credential) are spelled out the first time they
appear, from the district's rule pack.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pandas as pd

from optimizer.district.model import CHANGES_SOURCE, District, Educator, Student
from optimizer.rules import Decision, decide, explain, may_coordinate

__all__ = ["RANK_WORDS", "RANK_LEGEND", "Glossary", "format_explanation", "format_plan_services",
           "plan_source_note", "rank_word"]

#: The rank of a (student, case manager) pair in words (docs/plan-format.md).
RANK_WORDS = {0: "best-practice match", 1: "acceptable", 2: "coordinator only"}
#: One line per rank word, for legends under tables and in reports.
RANK_LEGEND = (
    "best-practice match: the case-manager type the CTC's best practice names for this "
    "student (e.g. their SAI teacher)",
    "acceptable: teaches or serves the student, but is not the best-practice type",
    "coordinator only: may coordinate the IEP without teaching or serving the student",
)


def rank_word(rank: object) -> str:
    """A rank (0, 1, 2; blank or None when unplaced) in words.

    Examples
    --------
    >>> rank_word(0), rank_word(2), rank_word(None)
    ('best-practice match', 'coordinator only', 'unplaced')
    """
    try:
        return RANK_WORDS[int(rank)]  # type: ignore[call-overload]
    except (TypeError, ValueError, KeyError):
        return "unplaced"


class Glossary:
    """Spells a code out the first time it is used in one text, then the code alone.

    Examples
    --------
    >>> g = Glossary({"AUT": "Autism"})
    >>> g("AUT"), g("AUT"), g("XYZ")
    ('AUT (Autism)', 'AUT', 'XYZ')
    """

    def __init__(self, meanings: Mapping[str, str]) -> None:
        self.meanings = dict(meanings)
        self.seen: set[str] = set()

    @classmethod
    def of(cls, district: District) -> Glossary:
        """Every code of the district's rule pack with its name."""
        pack = district.rules
        meanings: dict[str, str] = {}
        for group in (pack.disabilities, pack.services, pack.roles, pack.credentials):
            for code, item in group.items():
                meanings.setdefault(code, item.name)
        return cls(meanings)

    def __call__(self, code: str) -> str:
        meaning = self.meanings.get(code)
        if meaning is None or code in self.seen or meaning.casefold() == code.casefold():
            return code
        self.seen.add(code)
        return f"{code} ({meaning})"


def _person(e: Educator, g: Glossary) -> str:
    return f"{e.name} ({e.educator_id}, {g(e.role)})"


def _student_line(district: District, s: Student, g: Glossary) -> str:
    school = district.schools[s.school_id]
    level = s.support_level.replace("_", "/") + " support" + (
        " (derived from setting and time in general education)"
        if s.support_level_derived else "")
    dis = g(s.primary_disability) + (f", secondary {g(s.secondary_disability)}"
                                     if s.secondary_disability else "")
    services = ", ".join(g(x) for x in sorted(s.services)) or "none"
    setting = {"rsp": "a resource program (RSP)", "sdc": "a special day class (SDC)"}
    sai = f"; SAI in {setting.get(s.sai_setting, s.sai_setting)}" if s.sai_setting else ""
    return (f"{s.student_id} at {school.name} ({school.school_id}), grade {s.grade}: "
            f"{dis}; {level}; services {services}{sai}")


def _capacity_words(d: Decision, s: Student, e: Educator, district: District,
                    g: Glossary) -> str:
    if d.capacity == "instruction":
        return "teaches the student's SAI"
    if d.capacity == "service":
        provided = sorted(district.rules.roles[e.role].provides & s.services) \
            if e.role in district.rules.roles else []
        return "provides " + ", ".join(g(x) for x in provided) + " on this IEP"
    return "may coordinate the IEP without teaching or serving the student"


def _why_not_better(d: Decision) -> str:
    """The first rule that kept an eligible pair from a better rank, in its own words."""
    return d.failed[0].reason if d.failed else ""


def _why_not_at_all(d: Decision) -> str:
    return "; ".join(v.reason for v in d.failed) or d.reason


def format_explanation(district: District, student_id: str, *,
                       planned: tuple[str, str] | None = None, show_all: bool = False,
                       educator_id: str | None = None,
                       providers: Collection[str] | None = None) -> str:
    """The ``caseload explain`` text for one student.

    Parameters
    ----------
    district
        The validated district.
    student_id
        The student (must exist).
    planned
        ``(case_manager_id, reason)`` from a plan, shown first; None without a plan.
    show_all
        Add every rule's verdict for every educator considered.
    educator_id
        Explain this one educator only (every rule's verdict).
    providers
        A service plan's providers of this student's services: one who would
        case-manage as their teacher or provider is that only if the plan
        makes them so; otherwise they are ranked as a coordinator, and said so.

    Returns
    -------
    str

    Examples
    --------
    >>> print(format_explanation(district, "S000042"))           # doctest: +SKIP
    S000042 at Flores Elementary 2 (SCH0003), grade 3: AUT (Autism); ...
    """
    g = Glossary.of(district)
    s = district.students[student_id]
    lines = [_student_line(district, s, g), ""]
    at_school = list(district.educators_reaching_school[s.school_id])
    wanted = [educator_id] if educator_id else at_school
    decisions = {eid: decide(district, s, district.educators[eid])
                 for eid in dict.fromkeys([*at_school, *wanted])}
    # In a service plan, teaching or serving the student is what the plan
    # makes of them: one the plan does not make a provider of this student is
    # a coordinator at most (may_coordinate decides), and is said so.
    not_theirs: set[str] = set()
    if providers is not None:
        for eid, d in list(decisions.items()):
            if d.eligible and d.capacity != "coordination" and eid not in providers:
                not_theirs.add(eid)
                coord = may_coordinate(district.rules, s, district.educators[eid])
                decisions[eid] = (Decision("coordination", 2, coord.reason, d.failed)
                                  if coord.ok else Decision(None, None, "", (coord,)))
    eligible = sorted((eid for eid, d in decisions.items() if d.eligible),
                      key=lambda eid: (decisions[eid].rank, eid != s.current_case_manager,
                                       district.educators[eid].name, eid))
    refused = [eid for eid, d in decisions.items() if not d.eligible]

    def option(eid: str) -> str:
        d, e = decisions[eid], district.educators[eid]
        text = (f"{_person(e, g)} — {RANK_WORDS[d.rank or 0]}: "
                f"{_capacity_words(d, s, e, district, g)}")
        if eid in not_theirs:
            text += " (the plan does not make them this student's teacher or provider)"
        elif d.rank and (why := _why_not_better(d)):
            text += f" (not better because: {why})"
        return text

    if planned is not None:
        chosen, reason = planned
        if chosen and chosen in district.educators:
            lines.append(f"The plan's case manager: {_person(district.educators[chosen], g)}.")
        else:
            lines.append("The plan leaves this student unplaced.")
        if reason:
            lines.append(f"  Why: {reason}")
    counts = {r: sum(1 for eid in eligible if decisions[eid].rank == r) for r in RANK_WORDS}
    if educator_id:
        d = decisions[educator_id]
        lines.append(f"{_person(district.educators[educator_id], g)}: "
                     + (f"{RANK_WORDS[d.rank or 0]}: "
                        f"{_capacity_words(d, s, district.educators[educator_id], district, g)}"
                        if d.eligible else f"may not case-manage: {_why_not_at_all(d)}") + ".")
    if eligible:
        lines.append("Best options (" + ", ".join(
            f"{n} {RANK_WORDS[r]}" for r, n in counts.items() if n) + "):")
        lines.extend(f"  {i}. {option(eid)}" for i, eid in enumerate(eligible[:3], 1))
        if len(eligible) > 3:
            lines.append(f"  … and {len(eligible) - 3} more eligible (use --all)")
    else:
        lines.append("No one at this school may case-manage this student.")

    cm = s.current_case_manager
    if not cm:
        lines.append("This year's case manager: none recorded.")
    elif cm not in district.educators:
        lines.append(f"This year's case manager: {cm} is no longer on staff.")
    else:
        e = district.educators[cm]
        d = decisions.get(cm) or decide(district, s, e)
        if not d.eligible:
            lines.append(f"This year's case manager, {_person(e, g)}, may not case-manage this "
                         f"student next year: {_why_not_at_all(d)}.")
        elif eligible and d.rank is not None and d.rank > (decisions[eligible[0]].rank or 0):
            lines.append(f"This year's case manager, {_person(e, g)}, is {RANK_WORDS[d.rank]}, "
                         f"not the best option: {_why_not_better(d) or 'a better fit exists'}.")
        else:
            lines.append(f"This year's case manager, {_person(e, g)}, is "
                         f"{RANK_WORDS[d.rank or 0]}: among the best options.")
    if refused and not educator_id:
        lines.append(f"May not case-manage ({len(refused)}):")
        for eid in refused:
            lines.append(f"  {_person(district.educators[eid], g)}: "
                         f"{_why_not_at_all(decisions[eid])}")
    if show_all or educator_id:
        lines.append("")
        lines.append("Every rule, educator by educator (yes / NO):")
        for eid in wanted:
            e, d = district.educators[eid], decisions[eid]
            if d.eligible:
                head = f"{RANK_WORDS[d.rank or 0]}, as {d.capacity}"
            else:
                head = "may not case-manage: " + _why_not_at_all(d)
            lines.append(f"\n{_person(e, g)}; credentials "
                         f"{', '.join(g(c) for c in sorted(e.credentials)) or 'none'}: {head}")
            deciding = {v.rule for v in d.failed}
            refused_above = False
            for v in explain(district, s.student_id, eid):
                note = ""
                if not d.eligible and v.ok and refused_above:
                    note = "  (does not apply: a rule above says no)"
                refused_above = refused_above or (not v.ok and v.rule in deciding)
                lines.append(f"   {'yes' if v.ok else 'NO '}  {v.rule}: {v.reason}{note}")
    else:
        lines.append("")
        lines.append("Rank words: " + "; ".join(RANK_LEGEND) + ".")
        lines.append("Every rule's verdict for every educator: add --all.")
    return "\n".join(lines)


def format_plan_services(services: pd.DataFrame, student_id: str, district: District) -> str:
    """A service plan's ``services.csv`` rows of one student, in words: who
    gives each service (name and id), or "no one", and the plan's reason
    (``caseload explain --plan``: a parent asks who gives their child OT,
    not only who manages the IEP).

    Examples
    --------
    >>> print(format_plan_services(services, "S1", district))   # doctest: +SKIP
    <BLANKLINE>
    Services in the plan (services.csv):
      OT: no one — Not served: every eligible provider is full: ...
    """
    rows = services[services["student_id"] == student_id]
    if rows.empty:
        return "\nServices in the plan: none (no IEP service row for this student)."
    lines = ["", "Services in the plan (services.csv):"]
    for r in rows.itertuples():
        who = str(r.provider_id or "")
        name = district.educators[who].name if who in district.educators else None
        given = (f"{name} ({who})" if name else who) if who else "no one"
        lines.append(f"  {r.service}: {given} — {r.reason}")
    return "\n".join(lines)


def plan_source_note(plan_sources: Mapping[str, str] | None, district: District,
                     plan: str) -> str:
    """A note when a plan was not made from the district's files as they
    stand: a what-if's (or the planner's kept edits'), or files changed since.
    ``""`` when they match, or the plan does not record its files.

    Examples
    --------
    >>> plan_source_note({"changes": "SLP leaves: E00141 leaves"}, district, "wi")  # doctest: +SKIP
    "Note: wi was made with changes to the district's files (SLP leaves: E00141 leaves); ..."
    """
    if not plan_sources:
        return ""
    if CHANGES_SOURCE in plan_sources:
        return (f"Note: {plan} was made with changes to the district's files "
                f"({plan_sources[CHANGES_SOURCE]}); the rules below are the district's as "
                "its files stand, without them.")
    changed = sorted(name for name in set(plan_sources) | set(district.sources)
                     if plan_sources.get(name) != district.sources.get(name))
    if not changed:
        return ""
    return (f"Note: {', '.join(changed)} changed since {plan} was made: the plan may not "
            "follow the rules below (plan again to match them).")
