"""The validated district: immutable records the rules, graph and solver read.

A :class:`District` is only ever made by :func:`optimizer.district.validate.validate_tables`
(or :func:`optimizer.load_district`), so every value in it is already checked:
codes are canonical, references resolve, numbers are in range.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter

import pandas as pd

from optimizer.district.textsafe import escape_controls
from optimizer.rulepacks import RulePack

__all__ = ["School", "Educator", "Student", "Lock", "ServiceNeed", "InputIssue", "District",
           "printable"]


@dataclass(frozen=True, slots=True)
class School:
    school_id: str
    name: str
    low_grade: str
    high_grade: str
    feeds_into: str | None
    region: str | None


@dataclass(frozen=True, slots=True)
class Educator:
    educator_id: str
    name: str
    role: str
    credentials: frozenset[str]
    schools: tuple[str, ...]
    fte: float
    max_caseload: float | None
    other_load: float
    case_manager: bool | None  # None: the role's default applies
    row: int  # spreadsheet row in educators.csv (header is row 1)


@dataclass(frozen=True, slots=True)
class Student:
    student_id: str
    school_id: str
    grade: str
    primary_disability: str
    secondary_disability: str | None
    placement_basis: str  # "primary" | "secondary"
    support_level: str  # given, or derived (see support_level_derived)
    support_level_derived: bool
    services: frozenset[str]
    sai_setting: str | None
    gen_ed_pct: float | None
    current_case_manager: str | None  # as given; may name someone no longer on staff
    annual_review: dt.date | None
    triennial_review: dt.date | None
    weight: float
    row: int
    birth_date: dt.date | None = None
    adult_transition: bool | None = None  # None: not given
    name: str | None = None  # display name (optional; never used by the rules)

    @property
    def basis_disability(self) -> str:
        """The category a teacher's credential must cover (primary, or secondary
        under the low-incidence exception)."""
        if self.placement_basis == "secondary" and self.secondary_disability:
            return self.secondary_disability
        return self.primary_disability

    @property
    def other_disability(self) -> str | None:
        """The disability that is not the basis one (for conditional authorizations)."""
        if self.placement_basis == "secondary":
            return self.primary_disability
        return self.secondary_disability


#: The key of :attr:`District.sources` (and so of a plan's summary.json
#: ``sources``) that names the changes a what-if or the planner's kept edits
#: made to the files: such a district is not the files' own
#: (:meth:`optimizer.nextyear.scenario.Scenario.apply`).
CHANGES_SOURCE = "changes"

#: The reason of the locks ``caseload plan --keep`` makes of the planner's
#: edits in the plan workbook (:mod:`optimizer.nextyear.keep`): a case manager
#: chosen there is pinned, one cleared there is forbidden. The plan's reasons
#: name that edit, not a row of locks.csv (:attr:`District.edited_locks`).
EDIT_REASON = "changed by the planner in the plan workbook"


@dataclass(frozen=True, slots=True)
class Lock:
    student_id: str
    educator_id: str
    kind: str  # "pin" | "forbid"
    reason: str
    row: int
    # None: the lock is on the case manager (locks.csv without a service, as
    # before); a service code: it pins or forbids that service's provider.
    service: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceNeed:
    """One service on a student's IEP: a row of ``services.csv``.

    ``minutes`` is IEP minutes per week (None: not given); ``current_provider``
    is this year's provider as given (it may name someone no longer on staff);
    ``row`` is the spreadsheet row in services.csv, None when the row was
    derived from ``students.csv`` ``services`` (no services.csv).
    """

    student_id: str
    service: str
    minutes: float | None = None
    current_provider: str | None = None
    row: int | None = None


def printable(text: str) -> str:
    r"""``text`` safe to echo to a terminal: control and format characters
    (escape sequences, carriage returns, bidirectional overrides) are shown as
    escapes such as ``\x1b`` instead of acting on the terminal.

    Examples
    --------
    >>> print(printable("Ana\x1b[2J\rB"))
    Ana\x1b[2J\rB
    """

    return escape_controls(text, keep="")


@dataclass(frozen=True, slots=True)
class InputIssue:
    """One thing wrong (or odd) in the input, located to the cell.

    ``row`` is the spreadsheet row: the header is row 1, the first data row 2.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    expected: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = printable(self.file)
        if self.row is not None:
            where += f" row {self.row}"
        if self.column:
            # district.toml problems name a key (objective.continuity), not a column
            what = "key" if self.file.endswith(".toml") else "column"
            where += f", {what} {printable(self.column)}"
        shown = "" if self.value is None else f": '{printable(self.value)}'"
        return f"{where}{shown} — {printable(self.expected)}"

    def as_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "expected": self.expected,
        }


# eq=False: a district is compared by identity, so caches can key on it.
@dataclass(frozen=True, eq=False)
class District:
    """A validated district, ready for the rules engine (immutable).

    Examples
    --------
    >>> from optimizer import load_district
    >>> d = load_district("data/sample")          # doctest: +SKIP
    >>> d.students["S000001"].grade               # doctest: +SKIP
    '3'
    """

    name: str
    rules: RulePack
    schools: Mapping[str, School]
    educators: Mapping[str, Educator]
    students: Mapping[str, Student]
    locks: tuple[Lock, ...]
    warnings: tuple[InputIssue, ...] = ()
    settings: Mapping[str, object] = field(default_factory=dict)
    # File name -> sha256 (and CHANGES_SOURCE when a scenario changed them).
    sources: Mapping[str, str] = field(default_factory=dict)
    # services.csv (or the workbook's services sheet) when given: the single
    # source of truth for the services; None when not given.
    service_rows: tuple[ServiceNeed, ...] | None = None

    @cached_property
    def service_needs(self) -> tuple[ServiceNeed, ...]:
        """Every (student, service) on an IEP, sorted by student then service:
        :attr:`service_rows` when services.csv was given, otherwise derived
        from ``students.csv`` ``services`` (no minutes, no current provider)."""
        if self.service_rows is not None:
            # attrgetter: the key in C, not a Python call per row (170,000 at 100k)
            return tuple(sorted(self.service_rows, key=attrgetter("student_id", "service")))
        return tuple(ServiceNeed(s.student_id, svc) for s in
                     sorted(self.students.values(), key=lambda s: s.student_id)
                     for svc in sorted(s.services))

    @property
    def plans_services(self) -> bool:
        """Whether the plan chooses service providers too (issue 10): when
        services.csv was given, or district.toml says ``plan_services = true``."""
        return self.service_rows is not None or bool(self.settings.get("plan_services", False))

    @cached_property
    def educators_by_school(self) -> Mapping[str, tuple[str, ...]]:
        """Educator ids serving each school, in educators.csv order."""
        out: dict[str, list[str]] = {s: [] for s in self.schools}
        for e in self.educators.values():
            for s in e.schools:
                out[s].append(e.educator_id)
        return {s: tuple(v) for s, v in out.items()}

    @cached_property
    def educators_reaching_school(self) -> Mapping[str, tuple[str, ...]]:
        """Educator ids who may case-manage at each school: those serving it,
        then those the rule pack's ``[school_rule]`` lets case-manage there
        from outside (coordination only), each group in educators.csv order.
        Without a school rule this is :attr:`educators_by_school`."""
        pack = self.rules
        if not (pack.region_roles or pack.district_roles):
            return self.educators_by_school
        out = {s: list(v) for s, v in self.educators_by_school.items()}
        for e in self.educators.values():
            if e.role in pack.district_roles:
                reached = set(self.schools)
            elif e.role in pack.region_roles:
                regions = {self.schools[s].region for s in e.schools} - {None}
                reached = {sid for sid, sch in self.schools.items() if sch.region in regions}
            else:
                continue
            for sid in self.schools:  # schools.csv order
                if sid in reached and sid not in e.schools:
                    out[sid].append(e.educator_id)
        return {s: tuple(v) for s, v in out.items()}

    @cached_property
    def pins(self) -> Mapping[str, str]:
        """student_id -> educator_id for every case-manager pin (service pins excluded)."""
        return {lk.student_id: lk.educator_id for lk in self.locks
                if lk.kind == "pin" and lk.service is None}

    @cached_property
    def forbids(self) -> frozenset[tuple[str, str]]:
        """(student_id, educator_id) pairs that may never case-manage (service
        forbids excluded: they act on that service's provider only)."""
        return frozenset((lk.student_id, lk.educator_id) for lk in self.locks
                         if lk.kind == "forbid" and lk.service is None)

    @cached_property
    def edited_locks(self) -> frozenset[tuple[str, str]]:
        """(student_id, educator_id) of the case-manager pins and forbids made
        from the planner's edits in the plan workbook (reason :data:`EDIT_REASON`,
        ``caseload plan --keep``), not from locks.csv."""
        return frozenset((lk.student_id, lk.educator_id) for lk in self.locks
                         if lk.service is None and lk.reason == EDIT_REASON)

    @cached_property
    def cleared_services(self) -> Mapping[tuple[str, str], str]:
        """(student_id, service) -> the provider the planner cleared for it in
        the plan workbook's Services sheet (a service forbid with reason
        :data:`EDIT_REASON`, ``caseload plan --keep``)."""
        return {(lk.student_id, lk.service): lk.educator_id for lk in self.locks
                if lk.kind == "forbid" and lk.service is not None and lk.reason == EDIT_REASON}

    @cached_property
    def service_pins(self) -> Mapping[tuple[str, str], str]:
        """(student_id, service) -> educator_id for every service pin (locks.csv
        rows with a ``service``): that educator must provide that service."""
        return {(lk.student_id, lk.service): lk.educator_id for lk in self.locks
                if lk.kind == "pin" and lk.service is not None}

    @cached_property
    def service_forbids(self) -> frozenset[tuple[str, str, str]]:
        """(student_id, service, educator_id) triples: that educator must never
        provide that service to that student."""
        return frozenset((lk.student_id, lk.service, lk.educator_id) for lk in self.locks
                         if lk.kind == "forbid" and lk.service is not None)

    def cap(self, educator_id: str) -> int:
        """Caseload cap: ``max_caseload`` if given, else the role's cap x FTE, rounded down.

        An SLP whose schools serve only preschool gets the preschool cap
        (EC 56441.7) when the rule pack sets one.
        """
        e = self.educators[educator_id]
        if e.max_caseload is not None:
            return int(e.max_caseload)
        role = self.rules.roles[e.role]
        full = role.cap
        if role.cap_if_only_preschool is not None and self._preschool_cap(e):
            full = role.cap_if_only_preschool
        # Rounded down with a tolerance so 0.8 x 20 (15.999...) still gives 16.
        return int(full * e.fte + 1e-9)

    def cap_kind(self, educator_id: str) -> str:
        """Where :meth:`cap` comes from, in the words of ``summary.json``'s
        caps: ``district setting`` (the person's ``max_caseload``), else the
        kind of the role's cap that applies (the preschool cap's for an SLP
        serving only preschool): ``law``, ``law: average``, ``local default``
        or ``district setting``."""
        e = self.educators[educator_id]
        if e.max_caseload is not None:
            return "district setting"
        role = self.rules.roles[e.role]
        return role.cap_if_only_preschool_kind if self._preschool_cap(e) else role.cap_kind

    def _preschool_cap(self, e: Educator) -> bool:
        """Whether the role's preschool cap applies: one is set, and every
        school the educator serves is a preschool (EC 56441.7)."""
        return self.rules.roles[e.role].cap_if_only_preschool is not None and all(
            self.schools[s].low_grade == self.schools[s].high_grade == self.rules.preschool_grade
            for s in e.schools)

    def minutes_capacity(self, educator_id: str) -> float | None:
        """IEP minutes per week the educator can serve: the role's
        ``minutes_capacity`` x FTE, or None when the role sets none."""
        e = self.educators[educator_id]
        full = self.rules.roles[e.role].minutes_capacity
        return None if full is None else full * e.fte

    def students_frame(self) -> pd.DataFrame:
        """The students as a tidy DataFrame (one row each), for notebooks."""
        rows = []
        for s in self.students.values():
            rows.append({
                "student_id": s.student_id, "school_id": s.school_id, "grade": s.grade,
                "primary_disability": s.primary_disability,
                "secondary_disability": s.secondary_disability,
                "placement_basis": s.placement_basis, "support_level": s.support_level,
                "services": ";".join(sorted(s.services)), "sai_setting": s.sai_setting,
                "gen_ed_pct": s.gen_ed_pct, "current_case_manager": s.current_case_manager,
                "weight": s.weight,
            })
        return pd.DataFrame(rows)

    def educators_frame(self) -> pd.DataFrame:
        """The educators as a tidy DataFrame with their caps, for notebooks."""
        rows = []
        for e in self.educators.values():
            rows.append({
                "educator_id": e.educator_id, "name": e.name, "role": e.role,
                "credentials": ";".join(sorted(e.credentials)), "schools": ";".join(e.schools),
                "fte": e.fte, "cap": self.cap(e.educator_id), "other_load": e.other_load,
            })
        return pd.DataFrame(rows)
