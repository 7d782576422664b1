"""What-if scenarios: named, immutable lists of changes applied to a district.

A scenario never mutates the district it is applied to: each change edits a
copy of the district's contract-layout tables (:func:`optimizer.district.tables.district_tables`)
and the result is validated like any district a planner hands us, so a
scenario that breaks a rule (a pin no rule allows, an unknown school) fails
with the same clear problems. Scenarios compose: ``a + b`` applies ``a`` then ``b``.

Examples
--------
>>> slp_leaves = Scenario("SLP resigns", (RemoveEducator("E00112"),))       # doctest: +SKIP
>>> waiver = Scenario("RSP waiver to 32", (SetRoleCap("RSP", 32),))          # doctest: +SKIP
>>> both = slp_leaves + waiver                                               # doctest: +SKIP
>>> result = plan(both.apply(district))                                      # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.district.contract import LIST_SEPARATOR
from optimizer.district.model import CHANGES_SOURCE, District, InputIssue
from optimizer.district.reader import RawDistrict
from optimizer.district.tables import district_tables
from optimizer.district.validate import DistrictError, validate_tables

__all__ = [
    "AddEducator", "AddStudents", "Change", "Forbid", "MoveStudents", "Pin", "RemoveEducator",
    "RemoveStudents",
    "Scenario", "SetFTE", "SetObjectiveWeight", "SetRoleCap", "SetSchools",
]


class Change:
    """One edit of a district's tables and settings (subclasses below)."""

    label = "change"

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        """Apply the change to copies of the tables and settings (in place on the copies)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the scenario's log."""
        return self.label


def _require(frame: pd.DataFrame, column: str, value: str, what: str) -> pd.Series:
    mask = frame[column] == value
    if not mask.any():
        raise DistrictError([_problem(f"{what} '{value}' to exist in the district")])
    return mask


def _set_educator(tables: dict[str, pd.DataFrame], educator_id: str, column: str,
                  value: str) -> None:
    """Set one educators.csv cell of an existing educator."""
    ed = tables["educators"]
    ed.loc[_require(ed, "educator_id", educator_id, "educator"), column] = value


def _problem(expected: str) -> InputIssue:
    return InputIssue("scenario", None, None, None, expected)


@dataclass(frozen=True)
class AddEducator(Change):
    """A new educator (a hire, a new special day class teacher)."""

    educator_id: str
    role: str
    schools: tuple[str, ...]
    credentials: tuple[str, ...] = ()
    fte: float = 1.0
    name: str = "New hire"
    max_caseload: float | None = None

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        row = {"educator_id": self.educator_id, "name": self.name, "role": self.role,
               "credentials": ";".join(self.credentials), "schools": ";".join(self.schools),
               "fte": f"{self.fte:g}", "max_caseload": "" if self.max_caseload is None
               else f"{self.max_caseload:g}", "other_load": "", "case_manager": ""}
        tables["educators"] = pd.concat([tables["educators"], pd.DataFrame([row])],
                                        ignore_index=True)

    def describe(self) -> str:
        """What the change does, in a line (an itinerant at many schools: the
        first few named, as a region's 17 schools filled the what-if's line).

        >>> AddEducator("H1", "OT", ("S1", "S2", "S3", "S4", "S5")).describe()
        'add OT H1 at 5 schools (S1, S2, S3, …)'
        """
        if len(self.schools) <= _SCHOOLS_NAMED + 1:
            return f"add {self.role} {self.educator_id} at {', '.join(self.schools)}"
        return (f"add {self.role} {self.educator_id} at {len(self.schools)} schools "
                f"({', '.join(self.schools[:_SCHOOLS_NAMED])}, …)")


#: Schools a hire's one-line description names before it counts the rest.
_SCHOOLS_NAMED = 3


@dataclass(frozen=True)
class RemoveEducator(Change):
    """An educator leaves: their locks go; their students' continuity hint stays
    (it becomes a 'no longer on staff' warning, as in real files)."""

    educator_id: str

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        ed = tables["educators"]
        mask = _require(ed, "educator_id", self.educator_id, "educator")
        tables["educators"] = ed[~mask].reset_index(drop=True)
        lk = tables["locks"]
        tables["locks"] = lk[lk["educator_id"] != self.educator_id].reset_index(drop=True)

    def describe(self) -> str:
        return f"{self.educator_id} leaves"


@dataclass(frozen=True)
class SetFTE(Change):
    educator_id: str
    fte: float

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        _set_educator(tables, self.educator_id, "fte", f"{self.fte:g}")

    def describe(self) -> str:
        return f"{self.educator_id} to {self.fte:g} FTE"


@dataclass(frozen=True)
class SetSchools(Change):
    educator_id: str
    schools: tuple[str, ...]

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        _set_educator(tables, self.educator_id, "schools", ";".join(self.schools))

    def describe(self) -> str:
        return f"{self.educator_id} serves {', '.join(self.schools)}"


@dataclass(frozen=True)
class SetRoleCap(Change):
    """A role's full-time cap (e.g. an RSP caseload waiver to 32, 5 CCR 3100)."""

    role: str
    cap: int

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        settings.setdefault("caps", {})[self.role] = int(self.cap)

    def describe(self) -> str:
        return f"{self.role} cap {self.cap}"


@dataclass(frozen=True)
class SetObjectiveWeight(Change):
    """One objective weight (``unplaced``, ``rank``, ``continuity``, ``balance``, ``change``)."""

    name: str
    value: Any

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        settings.setdefault("objective", {})[self.name] = self.value

    def describe(self) -> str:
        return f"objective {self.name} = {self.value}"


@dataclass(frozen=True)
class AddStudents(Change):
    """``n`` new students of a described profile at a school (ids and the few
    randomized cells are seeded, so the same scenario gives the same students).

    ``profile`` holds students.csv cells (``grade``, ``primary_disability``,
    ``services``, ``sai_setting``, ``gen_ed_pct``, ...); a list value is a
    choice drawn for each student.
    """

    school_id: str
    n: int
    profile: tuple[tuple[str, Any], ...]
    seed: int = 0
    id_prefix: str = "NEW"

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        rng = np.random.default_rng(self.seed)
        existing = set(tables["students"]["student_id"])
        rows: list[dict[str, str]] = []
        k = 0
        while len(rows) < self.n:
            k += 1
            sid = f"{self.id_prefix}{self.seed}-{k:04d}"
            if sid in existing:
                continue
            row = {"student_id": sid, "school_id": self.school_id}
            for key, value in self.profile:
                row[key] = str(value[rng.integers(len(value))]) if isinstance(
                    value, list | tuple) else str(value)
            rows.append(row)
        new = pd.DataFrame(rows).reindex(columns=tables["students"].columns, fill_value="")
        tables["students"] = pd.concat([tables["students"], new.fillna("")],
                                       ignore_index=True)

    def describe(self) -> str:
        return f"{self.n} new students at {self.school_id}"


@dataclass(frozen=True)
class MoveStudents(Change):
    student_ids: tuple[str, ...]
    to_school: str

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        st = tables["students"]
        for sid in self.student_ids:
            _require(st, "student_id", sid, "student")
        st.loc[st["student_id"].isin(self.student_ids), "school_id"] = self.to_school

    def describe(self) -> str:
        return f"{len(self.student_ids)} students move to {self.to_school}"


@dataclass(frozen=True)
class RemoveStudents(Change):
    """Students leave (move away, exit special education): their rows, locks
    and service rows go."""

    student_ids: tuple[str, ...]

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        st = tables["students"]
        for sid in self.student_ids:
            _require(st, "student_id", sid, "student")
        tables["students"] = st[~st["student_id"].isin(self.student_ids)].reset_index(drop=True)
        lk = tables["locks"]
        tables["locks"] = lk[~lk["student_id"].isin(self.student_ids)].reset_index(drop=True)

    def describe(self) -> str:
        return f"{len(self.student_ids)} students leave"


@dataclass(frozen=True)
class Pin(Change):
    """This student must have this case manager (a row in locks.csv); with a
    ``service``, this educator must provide that service to the student."""

    student_id: str
    educator_id: str
    reason: str = "scenario"
    service: str = ""  # blank: the case manager
    kind = "pin"

    def edit(self, tables: dict[str, pd.DataFrame], settings: dict[str, Any]) -> None:
        row = {"student_id": self.student_id, "educator_id": self.educator_id,
               "kind": self.kind, "reason": self.reason, "service": self.service}
        new = pd.DataFrame([row]).reindex(columns=tables["locks"].columns, fill_value="")
        tables["locks"] = pd.concat([tables["locks"], new], ignore_index=True)

    def describe(self) -> str:
        what = f" ({self.service} provider)" if self.service else ""
        return f"{self.kind} {self.student_id} / {self.educator_id}{what}"


@dataclass(frozen=True)
class Forbid(Pin):
    """This educator must never case-manage this student (with a ``service``:
    never provide that service to the student)."""

    kind = "forbid"


def _services_follow_students(services: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """services.csv rows after a scenario's changes: rows of students no longer
    in the district go; a student with no rows (added by the scenario) gets
    one per service in their ``services`` cell, with no minutes and no provider.
    A provider who left stays named (a "no longer on staff" warning)."""
    ids = set(students["student_id"].tolist())  # (lists: see compare._column_map)
    kept = services[services["student_id"].isin(ids)]
    have = set(kept["student_id"].tolist())
    new = [{"student_id": sid, "service": item.strip(), "minutes": "", "current_provider": ""}
           for sid, cell in zip(students["student_id"].tolist(), students["services"].tolist(),
                                strict=True)
           if sid not in have for item in str(cell).split(LIST_SEPARATOR) if item.strip()]
    if not new:
        return kept.reset_index(drop=True)
    return pd.concat([kept, pd.DataFrame(new).reindex(columns=services.columns, fill_value="")],
                     ignore_index=True)


@dataclass(frozen=True)
class Scenario:
    """A named, immutable list of changes.

    Examples
    --------
    >>> s = Scenario("waiver", (SetRoleCap("RSP", 32),))
    >>> (s + Scenario("hire", (AddEducator("E9", "SLP", ("SCH0001",), ("SLP",)),))).name
    'waiver + hire'
    """

    name: str
    changes: tuple[Change, ...] = field(default_factory=tuple)

    def __add__(self, other: Scenario) -> Scenario:
        return Scenario(f"{self.name} + {other.name}", self.changes + other.changes)

    def describe(self) -> str:
        return f"{self.name}: " + "; ".join(c.describe() for c in self.changes)

    def apply(self, district: District) -> District:
        """A new district with the changes applied (``district`` is untouched).

        Raises
        ------
        DistrictError
            When the changed district breaks a rule of the data contract.
        """
        tables = {k: v.copy() for k, v in district_tables(district).items()}
        settings = copy.deepcopy(dict(district.settings))
        for change in self.changes:
            change.edit(tables, settings)
        if "services" in tables:
            tables["services"] = _services_follow_students(tables["services"],
                                                           tables["students"])
        # The files' digests, and the changes made to them: a plan of this
        # district says in summary.json that it is not the files' own.
        shown = "; ".join(c.describe() for c in self.changes[:3]) + (
            f"; and {len(self.changes) - 3:,} more" if len(self.changes) > 3 else "")
        # (After a what-if's changes, the planner's edits applied on top say both.)
        before = district.sources.get(CHANGES_SOURCE)
        sources = {**district.sources, CHANGES_SOURCE: (f"{before}; then " if before else "")
                   + f"{self.name}: {shown}"}
        raw = RawDistrict(name=district.name, tables=tables,
                          labels={k: f"{k} ({self.name})" for k in tables},
                          settings=settings, sources=sources)
        new, problems = validate_tables(raw)
        if new is None:
            raise DistrictError(problems)
        return new
