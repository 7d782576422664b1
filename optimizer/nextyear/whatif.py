"""What-if from one file: a scenario file's changes as a :class:`Scenario`,
applied to the district and re-planned stably against a published plan.

:func:`scenario_from_spec` turns a checked
:class:`~optimizer.district.scenario_file.ScenarioSpec` into the Scenario API's
changes, checking every id against the district first (each problem named by
the file and the change's key, with "did you mean"). :func:`what_if` applies
it, plans against the published plan (the fewest moves the rules allow) and
compares the new plan with it.

Examples
--------
>>> spec = read_scenario_file("hire-rsp.toml")                          # doctest: +SKIP
>>> w = what_if(district, scenario_from_spec(spec, district), base)     # doctest: +SKIP
>>> print(w.comparison.summary())                                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from optimizer.district.model import District, InputIssue
from optimizer.district.scenario_file import ChangeSpec, ScenarioSpec
from optimizer.district.suggest import nearest
from optimizer.district.validate import DistrictError
from optimizer.nextyear.compare import Comparison, compare
from optimizer.nextyear.keep import KeptEdits, RejectedEdit, keep_edits
from optimizer.nextyear.scenario import (
    AddEducator,
    AddStudents,
    Change,
    Forbid,
    MoveStudents,
    Pin,
    RemoveEducator,
    Scenario,
    SetFTE,
    SetObjectiveWeight,
    SetRoleCap,
    SetSchools,
)
from optimizer.planning.check import audit_table
from optimizer.planning.planner import plan
from optimizer.planning.result import PlanTables, Result
from optimizer.planning.solvers import SolveParams
from optimizer.planning.solvers.services_ahead import Ahead

__all__ = ["RemoveStudents", "SetMaxCaseload", "WhatIf", "scenario_from_spec", "what_if"]


@dataclass(frozen=True)
class SetMaxCaseload(Change):
    """One educator's absolute caseload cap (educators.csv ``max_caseload``)."""

    educator_id: str
    max_caseload: float

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        ed = tables["educators"]
        ed.loc[ed["educator_id"] == self.educator_id, "max_caseload"] = \
            f"{self.max_caseload:g}"

    def describe(self) -> str:
        return f"{self.educator_id} caseload cap {self.max_caseload:g}"


@dataclass(frozen=True)
class RemoveStudents(Change):
    """Students who leave (move away, exit special education); their locks go too."""

    student_ids: tuple[str, ...]

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        st = tables["students"]
        tables["students"] = st[~st["student_id"].isin(self.student_ids)].reset_index(
            drop=True)
        lk = tables["locks"]
        tables["locks"] = lk[~lk["student_id"].isin(self.student_ids)].reset_index(drop=True)

    def describe(self) -> str:
        return f"{len(self.student_ids)} student(s) leave"


def _near(value: str, choices: Iterable[str]) -> str:
    near = nearest(value, choices, n=2)
    return (" (did you mean " + " or ".join(f"'{c}'" for c in near) + "?)") if near else ""


def _scenario_lock_named(r: RejectedEdit, district: District,
                         scenario: Scenario) -> RejectedEdit:
    """``r`` with "locks.csv" named as the scenario where the pin or forbid
    that refused the edit is one the scenario adds, not one of the files'."""
    if r.rule not in ("pin", "forbid"):
        return r
    service = r.edit.service or ""
    ours = {(ch.kind, ch.student_id, ch.service or "") for ch in scenario.changes
            if isinstance(ch, Pin)}
    theirs = {(lk.kind, lk.student_id, lk.service or "") for lk in district.locks}
    key = (r.rule, r.edit.student_id, service)
    if key not in ours or key in theirs:
        return r
    return dataclasses.replace(r, detail=r.detail.replace("locks.csv", f"'{scenario.name}'", 1))


def _hire_id(district: District, given: str | None, taken: set[str]) -> str:
    if given:
        return given
    k = 1
    while f"HIRE{k:03d}" in district.educators or f"HIRE{k:03d}" in taken:
        k += 1
    return f"HIRE{k:03d}"


def scenario_from_spec(spec: ScenarioSpec, district: District) -> Scenario:
    """The Scenario API's changes for a scenario file, ids checked against the district.

    Raises
    ------
    DistrictError
        Every id that names no school, educator, student or role of the
        district (or a hire's id that is taken), named by file and key.

    Examples
    --------
    >>> scenario_from_spec(parse_scenario(text), district).describe()   # doctest: +SKIP
    'waiver: RSP cap 32'
    """
    problems: list[InputIssue] = []
    hired: set[str] = set()
    removed: set[str] = set()

    def check(c: ChangeSpec, key: str, value: str, known: Iterable[str], what: str) -> None:
        known = set(known)
        if value not in known:
            problems.append(InputIssue(spec.file, None, f"{c.key}.{key}", value,
                                       f"{what} of the district{_near(value, known)}"))

    educators = lambda: set(district.educators) | hired  # noqa: E731 — hires count as staff
    changes: list[Change] = []
    for n, c in enumerate(spec.changes, 1):
        v = c.get
        if c.kind == "hire":
            check(c, "role", v("role"), district.rules.roles, "a role")
            for school in v("schools"):
                check(c, "schools", school, district.schools, "a school_id")
            eid = _hire_id(district, v("educator_id"), hired)
            if eid in district.educators or eid in hired:
                problems.append(InputIssue(spec.file, None, f"{c.key}.educator_id", eid,
                                           "a new educator_id (this one is taken)"))
            hired.add(eid)
            changes.append(AddEducator(eid, v("role"), tuple(v("schools")),
                                       tuple(v("credentials", [])), float(v("fte", 1.0)),
                                       v("name", f"New {v('role')} (what-if)"),
                                       v("max_caseload")))
        elif c.kind in ("leave", "move_educator", "fte", "educator_cap"):
            check(c, "educator_id", v("educator_id"), educators(), "an educator_id")
            eid = v("educator_id")
            if c.kind == "leave":
                changes.append(RemoveEducator(eid))
            elif c.kind == "move_educator":
                for school in v("schools"):
                    check(c, "schools", school, district.schools, "a school_id")
                changes.append(SetSchools(eid, tuple(v("schools"))))
            elif c.kind == "fte":
                changes.append(SetFTE(eid, float(v("fte"))))
            else:
                changes.append(SetMaxCaseload(eid, float(v("max_caseload"))))
        elif c.kind == "role_cap":
            check(c, "role", v("role"), district.rules.roles, "a role")
            changes.append(SetRoleCap(v("role"), int(v("cap"))))
        elif c.kind == "add_students":
            check(c, "school_id", v("school_id"), district.schools, "a school_id")
            profile = tuple(sorted((k, tuple(x) if isinstance(x, list) else x)
                                   for k, x in c.values
                                   if k not in ("school_id", "count", "seed")))
            changes.append(AddStudents(v("school_id"), int(v("count")), profile,
                                       seed=int(v("seed", n)), id_prefix="WHATIF"))
        elif c.kind in ("remove_students", "move_students"):
            for sid in v("student_ids"):
                check(c, "student_ids", sid, set(district.students) - removed, "a student_id")
            if c.kind == "remove_students":
                removed |= set(v("student_ids"))
                changes.append(RemoveStudents(tuple(v("student_ids"))))
            else:
                check(c, "to_school", v("to_school"), district.schools, "a school_id")
                changes.append(MoveStudents(tuple(v("student_ids")), v("to_school")))
        elif c.kind in ("pin", "forbid"):
            check(c, "student_id", v("student_id"), district.students, "a student_id")
            check(c, "educator_id", v("educator_id"), educators(), "an educator_id")
            cls = Pin if c.kind == "pin" else Forbid
            changes.append(cls(v("student_id"), v("educator_id"),
                               v("reason", f"what-if: {spec.name}")))
        elif c.kind == "objective":
            terms = ("unplaced", "rank", "continuity", "balance", "change")
            if v("term") not in terms:
                problems.append(InputIssue(spec.file, None, f"{c.key}.term", v("term"),
                                           f"one of {', '.join(terms)}"))
            changes.append(SetObjectiveWeight(v("term"), v("weight")))
    if problems:
        raise DistrictError(problems)
    return Scenario(spec.name, tuple(changes))


@dataclass(frozen=True)
class WhatIf:
    """A scenario applied and re-planned: the new district's plan and how it
    differs from the published plan."""

    scenario: Scenario
    description: str
    district: District
    result: Result
    comparison: Comparison
    #: The published plan's edits (its edits.csv) that no longer hold under
    #: the scenario (e.g. the chosen provider leaves), with the rule; the
    #: others are kept as they were, as pins and forbids.
    edits_not_kept: tuple[RejectedEdit, ...] = ()
    #: Those edits as applied again here (None without an edits.csv): the
    #: what-if's own edits.csv, so that a plan made from it keeps them too.
    kept_edits: KeptEdits | None = None


def what_if(district: District, scenario: Scenario, published: PlanTables, *,
            description: str = "", params: SolveParams | None = None,
            published_name: str = "published plan", made_at: str | None = None,
            edits: pd.DataFrame | None = None) -> WhatIf:
    """Apply a scenario, re-plan stably against the published plan, compare.

    Parameters
    ----------
    district
        The district the published plan was made for.
    scenario
        The changes (:func:`scenario_from_spec` or the Scenario API).
    published
        The published plan (:func:`optimizer.outputs.plan_folder.read_plan`):
        the new plan moves only the students it must away from it.
    description
        The scenario's description, carried to the outputs.
    params
        Solver settings (:class:`SolveParams`).
    published_name
        How the comparison names the published plan.
    made_at
        When the plan was made (ISO time), or None for no time (same bytes).
    edits
        The published plan's ``edits.csv`` (a plan made with ``plan --keep``):
        its kept edits stay the planner's choices in the what-if (pins and
        forbids, checked again under the scenario), not only its published
        assignments, which the re-plan may move.

    Returns
    -------
    WhatIf

    Raises
    ------
    DistrictError
        When the changed district breaks a rule of the data contract.

    Examples
    --------
    >>> hire = Scenario("hire", (AddEducator("H1", "RSP", ("SCH0002",), ("ES-MMSN",)),))
    >>> w = what_if(district, hire, read_plan("plan"))      # doctest: +SKIP
    >>> w.comparison.headline                               # doctest: +SKIP
    """
    changed = scenario.apply(district)
    not_kept: tuple[RejectedEdit, ...] = ()
    again = None
    if edits is not None and len(edits):
        kept_rows = edits[edits["outcome"] != "not kept"]
        cm = kept_rows[kept_rows["service"] == ""]
        sv = kept_rows[kept_rows["service"] != ""]
        again = keep_edits(
            changed,
            list(zip(cm["student_id"], cm["chosen"], cm["plan_had"], cm["where"], strict=True)),
            list(zip(sv["student_id"], sv["service"], sv["chosen"], sv["where"], strict=True)),
            dict(zip(zip(sv["student_id"], sv["service"], strict=True), sv["plan_had"],
                     strict=True)))
        # An educator chosen in an edit who leaves in the scenario: said so,
        # not as a typo with a "did you mean"; a pin or forbid the scenario
        # adds, named as the scenario's, not as locks.csv's.
        gone = set(district.educators) - set(changed.educators)
        not_kept = tuple(
            RejectedEdit(r.edit, "leaves in this scenario", f"{r.edit.chosen} leaves in "
                         f"'{scenario.name}'") if r.rule == "unknown educator"
            and r.edit.chosen in gone else _scenario_lock_named(r, district, scenario)
            for r in again.rejected)
        again = dataclasses.replace(again, rejected=not_kept)
        changed = again.district
    # The changed district's audit (this year's assignments under its rules)
    # on the second core while the rules and the solve run, as `caseload
    # plan` does (services_ahead: the same table, computed here if the child
    # fails): at 100,000 students, about a second of the what-if.
    audit = Ahead(functools.partial(audit_table, changed))
    try:
        result = plan(changed, params, published=published, made_at=made_at,
                      audit=audit.result)
    finally:
        audit.cancel()
    comparison = compare(published, result, published_name, scenario.name)
    return WhatIf(scenario, description, changed, result, comparison, not_kept,
                  again if edits is not None and len(edits) else None)
