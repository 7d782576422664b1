"""Validation: text tables in, an immutable :class:`District` (or every problem) out.

Every check reports the file, spreadsheet row, column, the value as given and
what was expected, and all checks run before anything stops, so a planner
fixes the whole file in one pass. Warnings (legal but odd) never stop.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optimizer.district.bulk import frozen_maker, without_collector_pauses
from optimizer.district.contract import CONTRACT, LIST_SEPARATOR, as_typed
from optimizer.district.derived_levels import derived_level_warnings
from optimizer.district.model import District, Educator, InputIssue, Lock, School, Student
from optimizer.district.reader import RawDistrict, read_district_files
from optimizer.district.rule_settings import check_rule_settings, mark_district_caps
from optimizer.district.services_check import (
    check_service_lock,
    check_services_table,
    primary_need_warnings,
    services_agree,
)
from optimizer.district.settings_check import check_settings
from optimizer.rulepacks import RulePack, RulePackError, load_rule_pack
from optimizer.rules import decide, holds_case_manager_credential

if TYPE_CHECKING:
    from pathlib import Path  # paths are passed on to the reader, never opened here

__all__ = ["DeferredWarnings", "DistrictError", "check_district", "load_district",
           "load_district_deferred", "validate_tables"]

#: A plain decimal number as typed in a cell (no inf/nan, no digit separators).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: An ISO date, optionally with the midnight time a spreadsheet adds.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]00:00(?::00)?)?")
#: A date as Excel saves a CSV file in the United States (month/day/year,
#: the year in full), optionally with its midnight time: a planner who opens
#: students.csv in Excel and saves it gets every date so.
_US_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})(?: 0?0:00(?::00)?)?")
#: What a date cell must hold (the problem's "expected").
DATE_EXPECTED = "a real date as YYYY-MM-DD (or M/D/YYYY, as Excel saves one)"

#: Largest caseload cap, other load and weight accepted: far above any real
#: caseload, small enough that the planner's arithmetic stays exact.
MAX_STUDENTS = 1000
MAX_WEIGHT = 100

_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}

# district.toml keys besides the rule-pack tables it may override.
_SETTING_KEYS = {"name", "rule_pack", "caps", "coordinating_roles", "case_manager_roles",
                 "plan_services", "minutes_capacity"}
_PACK_TABLES = {"disabilities", "services", "roles", "credentials", "best_practice",
                "support_level_rule", "student_weights", "objective", "pack",
                "best_practice_rule", "school_rule", "rollover", "coordination",
                "primary_need_services"}


class DistrictError(Exception):
    """The district's files have errors; ``problems`` lists every one (warnings too)."""

    def __init__(self, problems: list[InputIssue]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in the district files; first: {errors[0]}"
                         if errors else "district has errors")

    @property
    def errors(self) -> list[InputIssue]:
        """The problems that stop the district from loading."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[InputIssue]:
        """The problems reported but not blocking (e.g. a hint that is ignored)."""
        return [p for p in self.problems if p.severity == "warning"]


class _Table:
    """Column checks on one text table; each adds Problems and returns parsed values."""

    def __init__(self, label: str, frame: pd.DataFrame, out: list[InputIssue]) -> None:
        self.label = label
        self.frame = frame
        self.out = out
        rows = frame.attrs.get("rows")  # spreadsheet rows, blank lines counted (reader)
        self.rows = (np.asarray(rows, dtype=int) if rows is not None and len(rows) == len(frame)
                     else np.arange(len(frame)) + 2)  # header is spreadsheet row 1

    def col(self, name: str) -> pd.Series:
        if name in self.frame.columns:
            return self.frame[name]
        return pd.Series([""] * len(self.frame), index=self.frame.index, dtype=str)

    def add(self, i: int, column: str, value: str | None, expected: str,
            severity: str = "error") -> None:
        self.out.append(InputIssue(self.label, int(self.rows[i]), column, value, expected,
                                   severity))

    def _report(self, mask: pd.Series, column: str, expected: str,
                severity: str = "error") -> None:
        values = self.col(column)
        for i in mask.to_numpy().nonzero()[0]:
            self.add(i, column, values.iat[i], expected, severity)

    def required(self, name: str, meaning: str) -> pd.Series:
        s = self.col(name)
        self._report(s == "", name, f"a value: {meaning} (required)")
        return s

    def unique(self, name: str, what: str) -> None:
        s = self.col(name)
        dup = s.duplicated(keep=False) & (s != "")
        first: dict[str, int] = {}
        for i in dup.to_numpy().nonzero()[0]:
            v = s.iat[i]
            if v in first:
                self.add(i, name, v, f"a unique {what}: already used on row {first[v]}")
            else:
                first[v] = int(self.rows[i])

    def _each_value(self, name: str,
                    check: Callable[[str], tuple[Any, list[tuple[str, str, str]]]]) -> list:
        """``check`` on every cell of a column, run once per distinct value (a
        large file repeats a few values): its result per row, and its problems
        ``(column, value, expected)`` added row by row, in file order."""
        codes, uniques = pd.factorize(self.col(name), sort=False, use_na_sentinel=False)
        checked = [check(v) for v in uniques.tolist()]
        results = [r for r, _ in checked]
        out = [results[c] for c in codes.tolist()]
        bad = np.array([bool(p) for _, p in checked], dtype=bool)
        if len(codes) and bad.any():
            for i in np.nonzero(bad[codes])[0].tolist():
                for column, value, expected in checked[codes[i]][1]:
                    self.add(i, column, value, expected)
        return out

    def lookup(self, name: str, table: Mapping[str, str], expected: str,
               required: bool = False, normalize: Callable[[str], str] = str.upper) -> list:
        """Map each cell through ``table``; blank -> None; unknown -> problem.
        ``normalize=as_typed``: ids, read as typed."""
        if normalize is as_typed:
            return self._lookup_as_typed(name, table, expected, required)

        def check(v: str) -> tuple[str | None, list[tuple[str, str, str]]]:
            if v == "":
                return None, [(name, v, f"a value: {expected} (required)")] if required else []
            got = table.get(normalize(v))
            return got, [(name, v, expected)] if got is None else []

        return self._each_value(name, check)

    def _lookup_as_typed(self, name: str, table: Mapping[str, str], expected: str,
                         required: bool) -> list:
        """:meth:`lookup` of ids: a dictionary lookup per cell, without finding
        the distinct values first (ids are mostly distinct: 100,000 students
        made 100,000 checks after hashing the column once more)."""
        cells = self.col(name).tolist()
        out = [table.get(v) if v else None for v in cells]
        for i in [i for i, got in enumerate(out) if got is None]:
            v = cells[i]
            if v == "":
                if required:
                    self.add(i, name, v, f"a value: {expected} (required)")
            else:
                self.add(i, name, v, expected)
        return out

    def number(self, name: str, expected: str, ok: Callable[[float], bool],
               default: float | None, percent: bool = False) -> list:
        """Plain decimal numbers only (``12``, ``0.5``, ``1e2``): never ``inf``,
        ``nan``, ``1_000`` or a number too large for a float. With
        ``percent``, a ``%`` may follow the number (``50%``: 50), as Excel
        saves a cell formatted as a percentage."""

        def check(v: str) -> tuple[float | None, list[tuple[str, str, str]]]:
            if v == "":
                return default, []
            n = v[:-1] if percent and v.endswith("%") else v
            x = float(n) if _NUMBER.fullmatch(n) else math.nan
            if not math.isfinite(x) or not ok(x):
                return default, [(name, v, expected)]
            return x, []

        return self._each_value(name, check)

    def date(self, name: str) -> list:
        """ISO dates ``YYYY-MM-DD``, or ``M/D/YYYY`` as Excel saves them in the
        United States; a midnight time from a spreadsheet
        (``YYYY-MM-DD 00:00:00``, ``10/17/2026 0:00``) is allowed, nothing
        else after the date."""

        def check(v: str) -> tuple[dt.date | None, list[tuple[str, str, str]]]:
            if v == "":
                return None, []
            try:
                if _DATE.fullmatch(v):
                    return dt.date.fromisoformat(v[:10]), []
                us = _US_DATE.fullmatch(v)
                if us is None:
                    raise ValueError(v)
                month, day, year = (int(x) for x in us.groups())
                return dt.date(year, month, day), []
            except ValueError:
                return None, [(name, v, DATE_EXPECTED)]

        return self._each_value(name, check)

    def code_list(self, name: str, lookup: Callable[[str], str | None], expected: str,
                  required: bool) -> list[tuple[str, ...]]:
        """Split a ';'-list and map each item; unknown items are problems.
        Items keep their order; repeats are dropped."""

        def check(v: str) -> tuple[tuple[str, ...], list[tuple[str, str, str]]]:
            if v == "":
                return (), ([(name, v, f"at least one of {expected} (required)")] if required
                            else [])
            if not v.replace(LIST_SEPARATOR, "").strip():
                return (), [(name, v, f"{'at least one of' if required else 'blank, or'} "
                             f"{expected}, '{LIST_SEPARATOR}'-separated: this cell holds only "
                             "separators")]
            got: dict[str, None] = {}
            problems = []
            for part in v.split(LIST_SEPARATOR):
                part = part.strip()
                if not part:
                    continue
                code = lookup(part)
                if code is None:
                    # "SAI, SPEECH": items typed with another separator.
                    other = next((c for c in ",/|" if c in part), None)
                    hint = (f" (items are separated by '{LIST_SEPARATOR}', not '{other}')"
                            if other else "")
                    problems.append((name, part, f"each item one of {expected}{hint}"))
                else:
                    got[code] = None
            return tuple(got), problems

        return self._each_value(name, check)


def _rule_pack_from_settings(settings: Mapping[str, Any], out: list[InputIssue]) -> RulePack:
    """Build the rule pack a district asked for, reporting bad settings as problems."""
    label = "district.toml"
    overrides: dict[str, Any] = {}
    for key, value in settings.items():
        if key in _PACK_TABLES:
            overrides[key] = value
        elif key not in _SETTING_KEYS:
            out.append(InputIssue(label, None, key, None,
                               "a known setting: " + ", ".join(sorted(_SETTING_KEYS |
                                                                      _PACK_TABLES))))
    pack_name = settings.get("rule_pack", "ca")
    try:
        base = load_rule_pack(str(pack_name))
    except RulePackError as exc:
        out.append(InputIssue(label, None, "rule_pack", str(pack_name), str(exc)))
        base = load_rule_pack("ca")
        pack_name = "ca"
    # Every key and value checked against the pack's shape before merging.
    bad = check_settings(settings, base.raw)
    out.extend(bad)

    caps = settings.get("caps", {})
    roles = overrides.setdefault("roles", {}) if not bad else {}
    for role, cap in (caps.items() if isinstance(caps, Mapping) else ()):
        if role not in base.roles:
            out.append(InputIssue(label, None, f"caps.{role}", str(cap),
                               f"a role: one of {', '.join(base.roles)}"))
        elif not bad:
            roles.setdefault(role, {})["cap"] = cap
    # [minutes_capacity] ROLE = IEP minutes per week for 1.0 FTE (values checked
    # by check_settings): the role's minutes_capacity.
    minutes = settings.get("minutes_capacity", {})
    for role, value in (minutes.items() if isinstance(minutes, Mapping) else ()):
        if role not in base.roles:
            out.append(InputIssue(label, None, f"minutes_capacity.{role}", str(value),
                               f"a role: one of {', '.join(base.roles)}"))
        elif not bad:
            roles.setdefault(role, {})["minutes_capacity"] = value
    for key, flag in (("coordinating_roles", "coordinates"),
                      ("case_manager_roles", "case_manager")):
        if key not in settings:
            continue
        listed = settings[key]
        if not (isinstance(listed, list) and all(isinstance(r, str) for r in listed)):
            continue  # reported by check_settings
        unknown = [r for r in listed if r not in base.roles]
        for r in unknown:
            out.append(InputIssue(label, None, key, str(r),
                               f"a role: one of {', '.join(base.roles)}"))
        if not bad:
            for r in base.roles:
                roles.setdefault(r, {})[flag] = r in listed
    out.extend(check_rule_settings(overrides, base))
    if bad:
        return base  # the district cannot be used; its overrides are not merged
    mark_district_caps(overrides, base)
    try:
        return load_rule_pack(str(pack_name), overrides)
    except (RulePackError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # The shape was checked above; this catches what only the merge shows
        # (e.g. a category no credential knows), so the planner never sees a traceback.
        out.append(InputIssue(label, None, None, None, f"a usable rule-pack override: {exc}"))
        return base


def _schools(t: _Table, pack: RulePack) -> dict[str, School]:
    grade_map = {g: g for g in pack.grades}
    grades_txt = "a grade code: " + ", ".join(pack.grades)
    ids = t.required("school_id", "the school's id")
    t.unique("school_id", "school_id")
    names = t.required("name", "the school's name")
    low = t.lookup("low_grade", grade_map, grades_txt, required=True)
    high = t.lookup("high_grade", grade_map, grades_txt, required=True)
    feeds = t.col("feeds_into").tolist()
    regions = t.col("region").tolist()
    known = set(ids.tolist())
    for i, (lo, hi) in enumerate(zip(low, high, strict=True)):
        if lo and hi and pack.grade_index(lo) > pack.grade_index(hi):
            t.add(i, "high_grade", hi, f"a grade at or above low_grade {lo}")
            low[i] = high[i] = None  # unknown span: do not flag every student there too
    for i, f in enumerate(feeds):
        if f and f not in known:
            t.add(i, "feeds_into", f, "the school_id of a school in schools.csv")
        elif f and f == ids.iat[i]:
            t.add(i, "feeds_into", f, "another school (a school cannot feed into itself)")
    out = {}
    for i, sid in enumerate(ids.tolist()):
        if sid and sid not in out:
            out[sid] = School(sid, names.iat[i], low[i] or "", high[i] or "",
                              feeds[i] or None, regions[i] or None)
    return out


def _educators(t: _Table, pack: RulePack, schools: Mapping[str, School]) -> dict[str, Educator]:
    ids = t.required("educator_id", "the educator's id")
    t.unique("educator_id", "educator_id")
    names = t.required("name", "the educator's name")
    roles = t.lookup("role", {r: r for r in pack.roles},
                     "a role: " + ", ".join(pack.roles), required=True)
    creds = t.code_list("credentials", lambda c: c if c in pack.credentials else
                        (c.upper() if c.upper() in pack.credentials else None),
                        "the credential codes " + ", ".join(pack.credentials), required=False)
    served = t.code_list("schools", lambda s: s if s in schools else None,
                         "the school_ids in schools.csv", required=True)
    fte = t.number("fte", "a number greater than 0 and at most 1", lambda x: 0 < x <= 1, None)
    for i, v in enumerate(t.col("fte").tolist()):
        if v == "":
            t.add(i, "fte", v, "a number greater than 0 and at most 1 (required)")
    max_cl = t.number("max_caseload", f"a number of students from 0 to {MAX_STUDENTS:,}",
                      lambda x: 0 <= x <= MAX_STUDENTS, None)
    other = t.number("other_load", f"a number of students from 0 to {MAX_STUDENTS:,}",
                     lambda x: 0 <= x <= MAX_STUDENTS, 0.0)
    flag = t.lookup("case_manager", {**{y: "yes" for y in _YES}, **{n: "no" for n in _NO}},
                    "yes or no", normalize=str.lower)
    out = {}
    for i, eid in enumerate(ids.tolist()):
        if not eid or eid in out:
            continue
        role = roles[i]
        if role and pack.roles[role].teaches and not any(
            pack.credentials[c].teaching for c in creds[i]
        ):
            # Without one they teach no one; whether they may still coordinate
            # is the coordination rule's (some service credential, or none needed).
            coordinates = pack.roles[role].coordinates and (
                not pack.coordinator_needs_credential
                or holds_case_manager_credential(pack, frozenset(creds[i])))
            t.add(i, "credentials", t.col("credentials").iat[i],
                  f"a teaching credential for this {role} teacher: without one they "
                  + ("may only coordinate" if coordinates else
                     f"teach no one ({role} does not coordinate in this rule pack)"
                     if not pack.roles[role].coordinates else
                     "may neither teach nor case-manage (a coordinator needs some "
                     "education-specialist or service credential: district.toml "
                     "[coordination] needs_credential)"), "warning")
        out[eid] = Educator(
            educator_id=eid, name=names.iat[i], role=role or "",
            credentials=frozenset(creds[i]), schools=served[i],
            fte=fte[i] if fte[i] is not None else 0.0,
            max_caseload=max_cl[i], other_load=other[i] if other[i] is not None else 0.0,
            case_manager=None if flag[i] is None else flag[i] == "yes",
            row=int(t.rows[i]),
        )
    return out


#: Student(...) without a call per field (100,000 students: 0.41 -> 0.12 s);
#: type-checked as Student(...) is.
if TYPE_CHECKING:
    _make_student = Student
else:
    _make_student = frozen_maker(Student)


def _students(t: _Table, pack: RulePack, schools: Mapping[str, School],
              educators: Mapping[str, Educator]) -> dict[str, Student]:
    ids = t.required("student_id", "the student's id")
    t.unique("student_id", "student_id")
    school = t.lookup("school_id", {s: s for s in schools},
                      "the school_id of a school in schools.csv", required=True,
                      normalize=as_typed)
    grade = t.lookup("grade", {g: g for g in pack.grades},
                     "a grade code: " + ", ".join(pack.grades), required=True)
    dis_alias = {**{a: a for a in pack.disabilities},
                 **{d.code: a for a, d in pack.disabilities.items()}}
    dis_txt = "a disability code or abbreviation: " + ", ".join(
        f"{d.code}/{a}" for a, d in pack.disabilities.items())
    primary = t.lookup("primary_disability", dis_alias, dis_txt, required=True)
    secondary = t.lookup("secondary_disability", dis_alias, dis_txt)
    basis = t.lookup("placement_basis", {"primary": "primary", "secondary": "secondary"},
                     "primary or secondary", normalize=str.lower)
    levels = t.lookup("support_level", {lv: lv for lv in pack.support_levels},
                      "a support level: " + " or ".join(pack.support_levels),
                      normalize=str.lower)
    at = len(t.out)
    services = t.code_list("services", pack.service_of,
                           "the services " + ", ".join(pack.services), required=True)
    # Rows whose services cell has an item not read (reported just now).
    unread_rows = {p.row for p in t.out[at:] if p.column == "services"}
    unread_services = ([int(r) in unread_rows for r in t.rows.tolist()] if unread_rows
                       else [False] * len(t.rows))
    setting = t.lookup("sai_setting", {"rsp": "rsp", "sdc": "sdc"}, "rsp or sdc",
                       normalize=str.lower)
    gen_ed = t.number("gen_ed_pct", "a percentage from 0 to 100", lambda x: 0 <= x <= 100, None,
                      percent=True)
    current = t.col("current_case_manager").tolist()
    annual = t.date("annual_review")
    tri = t.date("triennial_review")
    weight = t.number("weight", f"a number above 0 and at most {MAX_WEIGHT}",
                      lambda x: 0 < x <= MAX_WEIGHT, None)
    born = t.date("birth_date")
    adult = t.lookup("adult_transition", {**{y: "yes" for y in _YES}, **{n: "no" for n in _NO}},
                     "yes or no", normalize=str.lower)
    names = t.col("name").astype(str).str.strip().tolist()  # display only, never a rule

    out = {}
    # Specialized academic instruction: the pack's service(s) of kind "instruction".
    instruction = frozenset(pack.instruction_services)
    sai = " or ".join(pack.instruction_services)
    # The checks of a row against other columns and files, each as one pass
    # over the rows: a fact is decided once per distinct value (a few hundred
    # schools, grades and categories, not 100,000 rows), and a pass whose
    # values are all fine adds nothing (at 100,000 students the checks took
    # 0.3 s row by row). Problems are put in file order in the end (row, then
    # column, stable), so the order of the passes decides only where two
    # land on one cell: the grade band before the secondary category's own
    # check, as when they were made row by row.
    disabilities = pack.disabilities
    # A grade the school does not serve, per (school, grade).
    outside: set[tuple[str, str]] = set()
    for sch, g in set(zip(school, grade, strict=True)):
        if sch and g:
            s = schools[sch]
            if s.low_grade and s.high_grade and not (
                    pack.grade_index(s.low_grade) <= pack.grade_index(g)
                    <= pack.grade_index(s.high_grade)):
                outside.add((sch, g))
    if outside:
        for i, (sch, g) in enumerate(zip(school, grade, strict=True)):
            if (sch, g) in outside:
                s = schools[sch]
                t.add(i, "grade", g, f"a grade that school {sch} serves "
                      f"({s.low_grade} to {s.high_grade})")
    # A category outside its grades (primary, then secondary), per (category, grade).
    off_band = {(code, g) for code, dis in disabilities.items() if dis.grades is not None
                for g in pack.grades if g not in dis.grades}
    off = ((set(zip(primary, grade, strict=True)) | set(zip(secondary, grade, strict=True)))
           & off_band)
    if off:
        for i, (p, sec, g) in enumerate(zip(primary, secondary, grade, strict=True)):
            if (p, g) in off or (sec, g) in off:
                for col, d in (("primary_disability", p), ("secondary_disability", sec)):
                    if (d, g) in off:
                        band = disabilities[d].grades or ()
                        t.add(i, col, t.col(col).iat[i],
                              f"a category allowed in grade {g}: {d} ({disabilities[d].name}) "
                              f"applies only in grades "
                              f"{', '.join(sorted(band, key=pack.grade_index))}")
    # The secondary category: one that may be secondary, not the primary again.
    for i in [i for i, sec in enumerate(secondary) if sec]:
        p, sec = primary[i], secondary[i]
        if disabilities[sec].never_secondary:
            t.add(i, "secondary_disability", t.col("secondary_disability").iat[i],
                  f"a category that may be secondary: {sec} is reported only as primary")
        elif p and sec == p:
            t.add(i, "secondary_disability", t.col("secondary_disability").iat[i],
                  "a category different from the primary one", "warning")
    # A placement on the secondary category: given, under the low-incidence exception.
    for i in [i for i, b in enumerate(basis) if b == "secondary"]:
        p, sec = primary[i], secondary[i]
        if not sec:
            t.add(i, "placement_basis", "secondary",
                  "placement_basis 'secondary' only with a secondary_disability given")
        elif p and not disabilities[p].low_incidence:
            t.add(i, "placement_basis", "secondary",
                  f"placement_basis 'secondary' only when the primary disability is "
                  f"low-incidence; {p} ({disabilities[p].name}) is not")
    # The SAI setting: required with SAI, ignored (a warning) without it.
    sai_of = {v: not instruction.isdisjoint(v) for v in set(services)}
    has_sai = [sai_of[v] for v in services]
    for i, (h, st) in enumerate(zip(has_sai, setting, strict=True)):
        if h and st is None and t.col("sai_setting").iat[i] == "":
            t.add(i, "sai_setting", "", f"rsp or sdc: required because services include {sai}")
        elif not h and st is not None and not unread_services[i]:
            # (Not where the services cell has an item not read: it may be SAI.)
            t.add(i, "sai_setting", t.col("sai_setting").iat[i],
                  f"blank: services do not include {sai}, so the setting is ignored", "warning")
    # This year's case manager: still on staff (else continuity is ignored).
    gone = {cm for cm in set(current) if cm and cm not in educators}
    if gone:
        for i in [i for i, cm in enumerate(current) if cm in gone]:
            t.add(i, "current_case_manager", current[i],
                  "an educator_id in educators.csv: this case manager is no longer listed "
                  "(continuity ignored)", "warning")

    # The records: the first row of each id (a repeated id is reported above).
    rows = t.rows.tolist()
    service_sets = {v: frozenset(v) for v in sai_of}  # (one set per distinct cell)
    for i, sid in enumerate(ids.tolist()):
        if not sid or sid in out:
            continue
        lv, derived = levels[i], False
        if lv is None:
            derived = True
            lv = (pack.derived_level_below if has_sai[i] and setting[i] == "sdc"
                  and gen_ed[i] is not None and gen_ed[i] < pack.sdc_extensive_below_pct
                  else pack.derived_level_otherwise)
        # A blank weight: district.toml's weight for the support level, else the default.
        w = weight[i] if weight[i] is not None else pack.weight_by_support_level.get(
            lv, pack.default_weight)
        cm = current[i]
        out[sid] = _make_student(
            student_id=sid, school_id=school[i] or "", grade=grade[i] or "",
            primary_disability=primary[i] or "", secondary_disability=secondary[i],
            placement_basis=basis[i] or "primary", support_level=lv,
            support_level_derived=derived, services=service_sets[services[i]],
            sai_setting=setting[i] if has_sai[i] else None, gen_ed_pct=gen_ed[i],
            current_case_manager=cm or None,
            annual_review=annual[i], triennial_review=tri[i], weight=float(w),
            row=rows[i], birth_date=born[i],
            adult_transition=None if adult[i] is None else adult[i] == "yes",
            name=names[i] or None,
        )
    return out


def _locks(t: _Table, pack: RulePack, students: Mapping[str, Student],
           educators: Mapping[str, Educator]) -> tuple[Lock, ...]:
    sid = t.lookup("student_id", {s: s for s in students},
                   "the student_id of a student in students.csv", required=True,
                   normalize=as_typed)
    eid = t.lookup("educator_id", {e: e for e in educators},
                   "the educator_id of an educator in educators.csv", required=True,
                   normalize=as_typed)
    kind = t.lookup("kind", {"pin": "pin", "forbid": "forbid"}, "pin or forbid",
                    required=True, normalize=str.lower)
    # Blank: a case-manager lock (as before the column existed); a code: that
    # service's provider (canonicalised like students.services).
    service = t.lookup("service", {k: k for k in pack.services} | {
        c: n for n, sv in pack.services.items() for c in sv.codes},
        "blank (a lock on the case manager) or a service on the student's IEP: "
        + ", ".join(pack.services))
    reasons = t.col("reason").tolist()
    pinned: dict[tuple[str, str | None], int] = {}
    forbidden: dict[tuple[str, str, str | None], int] = {}
    out = []
    for i in range(len(sid)):
        if not (sid[i] and eid[i] and kind[i]):
            continue
        if t.col("service").iat[i] and service[i] is None:
            continue  # an unknown service code (reported): the lock's meaning is unknown
        svc = service[i]
        if svc is not None and not check_service_lock(t, i, pack, students[sid[i]],
                                                      educators[eid[i]], svc):
            continue
        row = int(t.rows[i])
        if kind[i] == "pin":
            if (sid[i], svc) in pinned:
                if svc is None:
                    t.add(i, "student_id", sid[i],
                          f"one pin per student: already pinned on row {pinned[(sid[i], svc)]}")
                else:
                    t.add(i, "service", t.col("service").iat[i],
                          f"one pin per student and service: {sid[i]}'s {svc} is already "
                          f"pinned on row {pinned[(sid[i], svc)]}")
                continue
            pinned[(sid[i], svc)] = row
        else:
            forbidden[(sid[i], eid[i], svc)] = row
        out.append(Lock(sid[i], eid[i], kind[i], reasons[i], row, svc))
    index_of_row = {int(r): i for i, r in enumerate(t.rows)}
    for lk in out:
        key = (lk.student_id, lk.educator_id, lk.service)
        if lk.kind == "pin" and key in forbidden:
            what = "" if lk.service is None else f" for {lk.service}"
            t.add(index_of_row[lk.row], "kind", "pin",
                  f"a pin or a forbid, not both: row {forbidden[key]}"
                  f" forbids {lk.educator_id} for {lk.student_id}{what}")
    return tuple(out)


def validate_tables(raw: RawDistrict) -> tuple[District | None, list[InputIssue]]:
    """Check every table and build the District.

    Parameters
    ----------
    raw
        Tables read by :func:`optimizer.district.reader.read_district_files`.

    Returns
    -------
    (District or None, problems)
        The district when there is no error (warnings are also stored on it),
        and every problem found, errors and warnings, in file order.
    """
    district, problems, _ = _validate(raw, defer=False)
    return district, problems


@dataclasses.dataclass(frozen=True)
class DeferredWarnings:
    """The one warning :func:`load_district_deferred` leaves to be found later:
    students whose derived support level decides who may teach them
    (:func:`~optimizer.district.derived_levels.derived_level_warnings`).

    It reads the rules for the teachers of every such student, 0.33-0.35 s of
    a 1.4-2.0 s read at 100,000 students, and no plan depends on it (a
    warning never stops, and the plan reads no warning). ``caseload plan``
    finds it in the second process that audits this year's case managers,
    while this one applies the rules and solves, and puts it in its place
    with :meth:`warnings`: the district's warnings are then exactly those
    :func:`load_district` gives.

    Attributes
    ----------
    label
        The students file's name as the planner knows it.
    before, after
        The problems found before and after it, in the order found (the
        warnings are put in file order once it is in, as
        :func:`validate_tables` does: equal places keep that order).
    labels
        The files' names, for the file order.
    """

    label: str
    before: tuple[InputIssue, ...]
    after: tuple[InputIssue, ...]
    labels: Mapping[str, str]

    def find(self, district: District) -> list[InputIssue]:
        """The deferred warning for ``district`` (the one loaded with it)."""
        return derived_level_warnings(district, self.label)

    def warnings(self, found: list[InputIssue]) -> tuple[InputIssue, ...]:
        """The district's warnings with ``found`` (from :meth:`find`) among them,
        in file order: ``load_district(...).warnings``."""
        problems = _in_file_order([*self.before, *found, *self.after], self.labels)
        return tuple(p for p in problems if p.severity == "warning")

    def merged(self, district: District, found: list[InputIssue]) -> District:
        """``district`` with :meth:`warnings`: the district :func:`load_district`
        gives. (A new District: caches keyed by the district, such as its
        eligible pairs, start again for it; ``caseload plan`` takes only
        :meth:`warnings`.)"""
        return dataclasses.replace(district, warnings=self.warnings(found))


@without_collector_pauses  # many records, no cycles: see district/bulk.py
def _validate(raw: RawDistrict, defer: bool
              ) -> tuple[District | None, list[InputIssue], DeferredWarnings | None]:
    """:func:`validate_tables`; with ``defer``, without the derived-level
    warning where the district has no error (then :class:`DeferredWarnings`)."""
    problems = list(raw.problems)
    pack = _rule_pack_from_settings(raw.settings, problems)

    def table(name: str) -> _Table:
        frame = raw.tables.get(name, pd.DataFrame({c.name: [] for c in CONTRACT[name]},
                                                  dtype=str))
        return _Table(raw.labels.get(name, f"{name}.csv"), frame, problems)

    for name, what in (("schools", "school"), ("educators", "educator")):
        if name in raw.tables and raw.tables[name].empty:
            problems.append(InputIssue(raw.labels.get(name, f"{name}.csv"), None, None, None,
                                    f"at least one {what}: the file has no data rows"))
    schools = _schools(table("schools"), pack)
    educators = _educators(table("educators"), pack, schools)
    students = _students(table("students"), pack, schools, educators)
    locks = _locks(table("locks"), pack, students, educators) if "locks" in raw.tables else ()
    service_rows = None
    if "services" in raw.tables:
        service_rows, unsure = check_services_table(table("services"), pack, students,
                                                    educators)
        st = table("students")
        cells = dict(zip(st.rows.tolist(), st.col("services").tolist(), strict=True))
        # A student whose services cell has an unknown code is already reported.
        bad_rows = {p.row for p in problems if p.file == st.label and p.column == "services"
                    and p.severity == "error"}
        unsure |= {s.student_id for s in students.values() if s.row in bad_rows}
        problems.extend(services_agree(service_rows, students, table("services").label,
                                       st.label, cells, unsure))

    problems = _in_file_order(_without_knock_ons(problems, raw), raw.labels)
    if any(p.severity == "error" for p in problems):
        return None, problems, None
    district = District(
        name=str(raw.settings.get("name", raw.name)), rules=pack,
        schools=MappingProxyType(schools), educators=MappingProxyType(educators),
        students=MappingProxyType(students), locks=locks,
        settings=MappingProxyType(dict(raw.settings)), sources=MappingProxyType(raw.sources),
        service_rows=service_rows,
    )
    # Pins must be allowed by some rule; checked here, once the rules can run.
    problems.extend(_check_pins(district, raw.labels))
    students_label = raw.labels.get("students", "students.csv")
    at = len(problems)
    if not defer:
        problems.extend(derived_level_warnings(district, students_label))
    problems.extend(primary_need_warnings(district, students_label))
    if raw.settings.get("plan_services") is False and service_rows is not None:
        problems.append(InputIssue(
            "district.toml", None, "plan_services", "false",
            f"true or unset: {raw.labels.get('services', 'services.csv')} is given, so the "
            "plan chooses service providers anyway (remove it to plan case managers only)",
            "warning"))
    if defer and any(p.severity == "error" for p in problems):
        # (A refused district's report lists every warning: found here.)
        problems[at:at] = derived_level_warnings(district, students_label)
        defer = False
    later = (DeferredWarnings(students_label, tuple(problems[:at]), tuple(problems[at:]),
                              MappingProxyType(dict(raw.labels))) if defer else None)
    problems = _in_file_order(problems, raw.labels)
    if any(p.severity == "error" for p in problems):
        return None, problems, None
    return _with_warnings(district, problems), problems, later


def _without_knock_ons(problems: list[InputIssue], raw: RawDistrict) -> list[InputIssue]:
    """Problems without those that only follow from a file that could not be
    read (a missing column, a byte that is not UTF-8): every educator id in
    locks.csv is "not in educators.csv" when educators.csv was not read, and
    a planner trial found 8 such errors and 1,575 warnings burying the one
    line that mattered. They are counted instead, on one line of that file.

    Only a cell's problem in a table that was read, naming the unread file
    and holding a value, is counted: a blank required cell, district.toml's
    settings and the unread file's own problems stay listed.

    >>> raw = RawDistrict(name="d", tables={}, labels={}, problems=[])
    >>> _without_knock_ons([], raw)
    []
    """
    unread: dict[str, str] = {}
    for name in CONTRACT:
        if name in raw.tables:
            continue
        # Its problems: "educators.csv", or in a workbook "d.xlsx [educators]"
        # (a sheet that cannot be read) or "d.xlsx" naming it (a missing sheet).
        label = raw.labels.get(name, f"{name}.csv")
        own = [p.file for p in problems if p.severity == "error" and (
            p.file == label or p.file.endswith(f" [{name}]")
            or (p.row is None and p.value == name and p.file.endswith((".xlsx", ".xlsm"))))]
        if own:
            unread[name] = own[0]
    if not unread:
        return problems
    read = set(raw.labels.values())
    kept: list[InputIssue] = []
    follows: dict[str, int] = {}
    for p in problems:
        # (The rules' texts name a table as "educators.csv", whatever the label.)
        cause = None
        if p.file in read and p.row is not None and p.value:
            cause = next((n for n in unread if f"{n}.csv" in p.expected), None)
        if cause is None:
            kept.append(p)
        else:
            follows[cause] = follows.get(cause, 0) + 1
    for name, n in follows.items():
        kept.append(InputIssue(
            unread[name], None, None, None,
            f"a file that can be read first: {n:,} problem(s) in the other files that name "
            f"{name}.csv are not listed, as they follow from this file's problem(s) "
            "(validate again once it is fixed)"))
    return kept


def _in_file_order(problems: list[InputIssue], labels: Mapping[str, str]
                   ) -> list[InputIssue]:
    """Sort problems as a planner reads the files: file by file, row by row,
    column by column (district.toml and file-level problems first);
    ``labels``: the files' names by table (``RawDistrict.labels``)."""
    label_rank = {label: i + 1 for i, label in enumerate(
        labels.get(t, f"{t}.csv") for t in CONTRACT)}
    col_rank = {c.name: i for cols in CONTRACT.values() for i, c in enumerate(cols)}

    def key(p: InputIssue) -> tuple:
        return (label_rank.get(p.file, 0), p.row or 0, col_rank.get(p.column or "", -1))

    return sorted(problems, key=key)


def _check_pins(district: District, labels: Mapping[str, str]) -> Iterable[InputIssue]:
    """Pins no rule allows or that overfill a cap (errors); other load above the cap."""
    label = labels.get("locks", "locks.csv")
    for e in district.educators.values():
        if e.other_load > district.cap(e.educator_id):
            yield InputIssue(labels.get("educators", "educators.csv"), e.row, "other_load",
                          f"{e.other_load:g}",
                          f"other load within the cap of {district.cap(e.educator_id)}: "
                          "this educator can take no case-managed students", "warning")
    pinned_load: dict[str, float] = {}
    last_row: dict[str, int] = {}
    for lk in district.locks:
        if lk.kind != "pin" or lk.service is not None:  # service pins: not the case manager
            continue
        s, e = district.students[lk.student_id], district.educators[lk.educator_id]
        decision = decide(district, s, e)
        if not decision.eligible:
            yield InputIssue(label, lk.row, "educator_id", lk.educator_id,
                          f"a case manager some rule allows for {lk.student_id}; "
                          + "; ".join(decision.failed_text()))
        pinned_load[e.educator_id] = pinned_load.get(e.educator_id, 0.0) + s.weight
        last_row[e.educator_id] = lk.row
    # Pins are hard: if they alone overfill a caseload, no plan can exist.
    for eid, load in pinned_load.items():
        e = district.educators[eid]
        cap = district.cap(eid)
        if load + e.other_load > cap:
            yield InputIssue(label, last_row[eid], "educator_id", eid,
                          f"pins that fit {eid}'s cap of {cap}: pinned students weigh "
                          f"{load:g} plus other_load {e.other_load:g} "
                          f"(educators.csv row {e.row})")


def _with_warnings(district: District, problems: list[InputIssue]) -> District:

    return dataclasses.replace(district, warnings=tuple(p for p in problems
                                                         if p.severity == "warning"))


def check_district(path: str | Path) -> list[InputIssue]:
    """Every problem (errors and warnings) in a district's files, without raising.

    Parameters
    ----------
    path
        A district folder or workbook (``.xlsx``).

    Returns
    -------
    list of InputIssue
        Every problem found, each with file, row, column, value and what was
        expected; empty when the district loads cleanly.

    Examples
    --------
    >>> [str(p) for p in check_district("data/sample") if p.severity == "error"]  # doctest: +SKIP
    []
    """
    return validate_tables(read_district_files(path))[1]


def load_district(path: str | Path) -> District:
    """Read and validate a district folder or workbook.

    Parameters
    ----------
    path
        District folder (CSV files) or ``.xlsx`` workbook.

    Returns
    -------
    District
        Immutable and validated; warnings are in ``district.warnings``.

    Raises
    ------
    DistrictError
        When any file has an error; ``.problems`` lists all of them.

    Examples
    --------
    >>> d = load_district("data/sample")          # doctest: +SKIP
    >>> len(d.students) > 1000                     # doctest: +SKIP
    True
    """
    district, problems = validate_tables(read_district_files(path))
    if district is None:
        raise DistrictError(problems)
    return district


def load_district_deferred(path: str | Path) -> tuple[District, DeferredWarnings]:
    """:func:`load_district`, its derived-level warning left to be found later
    (:class:`DeferredWarnings`). ``caseload plan`` finds it on its second core
    while it plans.

    Raises
    ------
    DistrictError
        As :func:`load_district`, with the same problems.

    Examples
    --------
    >>> d, later = load_district_deferred("data/sample")        # doctest: +SKIP
    >>> d.warnings == load_district("data/sample").warnings    # doctest: +SKIP
    False
    >>> later.warnings(later.find(d)) == load_district("data/sample").warnings  # doctest: +SKIP
    True
    """
    district, problems, later = _validate(read_district_files(path), defer=True)
    if district is None:
        raise DistrictError(problems)
    assert later is not None  # (deferred whenever the district is valid)
    return district, later
