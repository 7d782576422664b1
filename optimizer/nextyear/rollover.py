"""Next year's district from this year's: grades, feeder schools, staff changes.

:func:`roll_over` works on the text tables as read (so every column a
planner added is carried over) and on the validated district (for the
rules). It returns next year's tables and a report of what happened to each
student; :func:`optimizer.outputs.export.write_rollover` writes them as a district folder.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import TypedDict

import pandas as pd

from optimizer.district.contract import CONTRACT, LIST_SEPARATOR
from optimizer.district.model import District, InputIssue
from optimizer.district.reader import RawDistrict
from optimizer.district.validate import DistrictError, validate_tables
from optimizer.nextyear.rollover_checks import rollover_warnings

__all__ = ["STAFF_CHANGE_ACTIONS", "Rollover", "next_school_year_start", "roll_over"]

#: The staff-changes file: one row per change (docs/next-year.md).
STAFF_CHANGE_ACTIONS = ("leave", "hire", "fte", "schools", "credentials")

#: How problems name the plan's services table given to :func:`roll_over`.
PLAN_SERVICES_LABEL = "services.csv (plan)"

REPORT_COLUMNS = ["student_id", "event", "from_school", "to_school", "from_grade", "to_grade",
                  "detail"]


#: Headline counts of a rollover (:meth:`Rollover.counts`); the keys are the
#: labels printed by :meth:`Rollover.summary`.
RolloverCounts = TypedDict("RolloverCounts", {
    "promoted": int, "stayed in grade": int, "moved school": dict[str, int],
    "left": dict[str, int], "added": int, "case-manager hints cleared": dict[str, int],
    "locks dropped": int, "service rows dropped": int, "service rows added": int,
    "providers from the plan": int, "providers cleared": int})


@dataclass(frozen=True)
class Rollover:
    """Next year's district tables and what happened to each student.

    ``issues`` lists what is wrong with next year's district as rolled over
    (e.g. an incoming student's unknown code): the tables are still written,
    so the planner can fix them, but not planned until then.
    """

    tables: dict[str, pd.DataFrame]
    settings_text: str
    report: pd.DataFrame
    issues: tuple[InputIssue, ...] = ()

    @property
    def errors(self) -> list[InputIssue]:
        """Next year's problems that must be fixed before planning."""
        return [p for p in self.issues if p.severity == "error"]

    def counts(self) -> RolloverCounts:
        """Headline counts: promoted, moved (by feeder pair), left, added, hints cleared."""
        r = self.report
        moved = r[r["event"] == "moved school"]
        return {
            "promoted": int((r["event"].isin(["promoted", "moved school"])).sum()),
            "stayed in grade": int((r["event"] == "kept in grade").sum()),
            "moved school": {f"{a} -> {b}": int(n) for (a, b), n in
                             moved.groupby(["from_school", "to_school"]).size().items()},
            "left": dict(Counter(r.loc[r["event"] == "left", "detail"])),
            "added": int((r["event"] == "added").sum()),
            "case-manager hints cleared": dict(Counter(
                r.loc[r["event"] == "hint cleared", "detail"].str.split(":").str[0])),
            "locks dropped": int((r["event"] == "lock dropped").sum()),
            "service rows dropped": _rows_in(r, "services dropped"),
            "service rows added": _rows_in(r, "services added"),
            "providers from the plan": _rows_in(r, "providers from plan"),
            "providers cleared": int((r["event"] == "provider cleared").sum()),
        }

    def summary(self) -> str:
        """The counts as the text ``caseload rollover`` prints."""
        c = self.counts()
        lines = ["Rollover to next year:",
                 f"  promoted                  {c['promoted']:>7,}",
                 f"  stayed in grade           {c['stayed in grade']:>7,}",
                 f"  moved school              {sum(c['moved school'].values()):>7,}"]
        for pair, n in c["moved school"].items():
            lines.append(f"      {pair}: {n:,}")
        lines.append(f"  left the district         {sum(c['left'].values()):>7,}")
        for why, n in sorted(c["left"].items()):
            lines.append(f"      {why}: {n:,}")
        lines.append(f"  added                     {c['added']:>7,}")
        cleared = sum(c["case-manager hints cleared"].values())
        lines.append(f"  case-manager hints cleared {cleared:>6,}")
        for why, n in sorted(c["case-manager hints cleared"].items()):
            lines.append(f"      {why}: {n:,}")
        if c["locks dropped"]:
            lines.append(f"  locks dropped             {c['locks dropped']:>7,}")
        for key in ("service rows dropped", "service rows added", "providers from the plan",
                    "providers cleared"):
            if c[key]:
                lines.append(f"  {key:<26}{c[key]:>7,}")
        return "\n".join(lines)


def _rows_in(report: pd.DataFrame, event: str) -> int:
    """Rows counted by the report's ``event`` lines (their detail starts with the count)."""
    details = report.loc[report["event"] == event, "detail"]
    return int(sum(int(d.split(" ", 1)[0]) for d in details))


def next_school_year_start(today: dt.date | None = None) -> dt.date:
    """The next 1 September after ``today`` (the day ages are counted on)."""
    today = today or dt.date.today()
    start = dt.date(today.year, 9, 1)
    return start if start > today else dt.date(today.year + 1, 9, 1)


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _apply_staff_changes(educators: pd.DataFrame, changes: pd.DataFrame, label: str,
                         problems: list[InputIssue]) -> tuple[pd.DataFrame, list[str]]:
    ed = educators.copy()
    left: list[str] = []
    for i, row in enumerate(changes.fillna("").astype(str).to_dict("records")):
        r = i + 2
        action = row.get("action", "").strip().lower()
        eid = row.get("educator_id", "").strip()
        if action not in STAFF_CHANGE_ACTIONS:
            problems.append(InputIssue(label, r, "action", row.get("action", ""),
                                    "one of " + ", ".join(STAFF_CHANGE_ACTIONS)))
            continue
        if not eid:
            problems.append(InputIssue(label, r, "educator_id", "", "an educator_id (required)"))
            continue
        exists = ed["educator_id"] == eid
        if action == "hire":
            if exists.any():
                problems.append(InputIssue(label, r, "educator_id", eid,
                                        "a new educator_id: this one is already on staff"))
                continue
            new = {c.name: row.get(c.name, "").strip() for c in CONTRACT["educators"]}
            ed = pd.concat([ed, pd.DataFrame([new]).reindex(columns=ed.columns,
                                                            fill_value="")], ignore_index=True)
            continue
        if not exists.any():
            problems.append(InputIssue(label, r, "educator_id", eid,
                                    "an educator_id in educators.csv"))
            continue
        if action == "leave":
            ed = ed[~exists].reset_index(drop=True)
            left.append(eid)
            continue
        column = {"fte": "fte", "schools": "schools", "credentials": "credentials"}[action]
        value = row.get(column, "").strip()
        if not value:
            problems.append(InputIssue(label, r, column, "", f"the new {column} for '{action}'"))
            continue
        ed.loc[exists, column] = value
    return ed, left


def _plan_providers(plan: pd.DataFrame, label: str, district: District,
                    problems: list[InputIssue]) -> dict[tuple[str, str], str]:
    """(student, service) -> the plan's provider ("" when unserved), checked."""
    missing = [c for c in ("student_id", "service", "provider_id") if c not in plan.columns]
    for c in missing:
        problems.append(InputIssue(label, 1, c, None, f"a column named '{c}' (a plan's "
                                   "services.csv); found: " + ", ".join(map(str, plan.columns))))
    if missing:
        return {}
    out: dict[tuple[str, str], str] = {}
    cells = plan[["student_id", "service", "provider_id"]].astype(object).fillna("").astype(str)
    for i, (sid, svc, eid) in enumerate(zip(cells["student_id"].tolist(),
                                            cells["service"].tolist(),
                                            cells["provider_id"].tolist(), strict=True)):
        code = district.rules.service_of(svc)
        if sid not in district.students:
            problems.append(InputIssue(label, i + 2, "student_id", sid,
                                       "a student of this district: the plan is of "
                                       "another district or year"))
        elif code is None:
            problems.append(InputIssue(label, i + 2, "service", svc,
                                       "a service code of the rule pack"))
        else:
            out[(sid, code)] = eid.strip()
    return out


def _roll_services(services: pd.DataFrame, students: pd.DataFrame, district: District,
                   plan_provider: dict[tuple[str, str], str], report: list[dict],
                   serves: dict[str, set[str]]) -> pd.DataFrame:
    """Next year's services.csv rows (every column kept): see :func:`roll_over`."""
    pack = district.rules
    # (Python lists: a text column's cells one at a time cost 2 µs each.)
    school_of = dict(zip(students["student_id"].tolist(), students["school_id"].tolist(),
                         strict=True))
    rows: list[dict] = []
    dropped: dict[str, list[str]] = {}
    from_plan = 0
    for rec in services.fillna("").to_dict("records"):
        sid = rec["student_id"]
        if sid not in school_of:
            dropped.setdefault(sid, []).append(rec["service"])
            continue
        key = (sid, pack.service_of(rec["service"]) or rec["service"])
        # Counted where the plan names a provider and next year keeps them
        # (not a pair the plan leaves unserved, nor one cleared just below).
        named = bool(plan_provider.get(key))
        if key in plan_provider:
            rec = dict(rec)
            rec["current_provider"] = plan_provider[key]
        eid = str(rec.get("current_provider", "")).strip()
        school = school_of[sid]
        if eid in serves and school not in serves[eid]:
            # As for case-manager hints: a provider on staff who does not
            # serve the student's new school cannot continue (one who left
            # stays named, and next year's validation warns).
            rec = {**rec, "current_provider": ""}
            named = False
            report.append({"student_id": sid, "event": "provider cleared", "from_school": "",
                           "to_school": school, "from_grade": "", "to_grade": "",
                           "detail": f"{rec['service']}: new school not served: {eid} does "
                                     f"not serve {school}"})
        from_plan += named
        rows.append(rec)
    for sid, names in dropped.items():
        report.append({"student_id": sid, "event": "services dropped", "from_school": "",
                       "to_school": "", "from_grade": "", "to_grade": "",
                       "detail": f"{len(names)} row(s): {', '.join(names)}"})
    if from_plan:
        report.append({"student_id": "", "event": "providers from plan", "from_school": "",
                       "to_school": "", "from_grade": "", "to_grade": "",
                       "detail": f"{from_plan} row(s): current_provider set to the plan's "
                                 "provider"})
    # Students with no rows (incoming students): rows from their services cell.
    have = {r["student_id"] for r in rows}
    for sid, cell in zip(students["student_id"].tolist(),
                         students["services"].fillna("").tolist(), strict=True):
        if sid in have or sid in district.students:
            continue
        items = [x.strip() for x in str(cell).split(LIST_SEPARATOR) if x.strip()]
        rows.extend({"student_id": sid, "service": x, "minutes": "", "current_provider": ""}
                    for x in items)
        if items:
            report.append({"student_id": sid, "event": "services added", "from_school": "",
                           "to_school": "", "from_grade": "", "to_grade": "",
                           "detail": f"{len(items)} row(s) from students.services: "
                                     + ", ".join(items)})
    return pd.DataFrame(rows, columns=services.columns).fillna("")


def roll_over(raw: RawDistrict, district: District, *,
              new_students: pd.DataFrame | None = None,
              staff_changes: pd.DataFrame | None = None,
              year_start: dt.date | None = None,
              new_students_label: str = "new students",
              staff_changes_label: str = "staff changes",
              plan_services: pd.DataFrame | None = None) -> Rollover:
    """Turn this year's district into next year's.

    Parameters
    ----------
    raw, district
        The district as read (text, every column) and as validated.
    new_students
        Incoming students, students.csv columns (added as given).
    staff_changes
        Departures, hires, FTE, school and credential changes (columns:
        ``action``, ``educator_id`` and the educators.csv columns it changes).
    year_start
        First day of next school year, for ages (default: the next 1 September).
    new_students_label, staff_changes_label
        How problems name the two extra files.
    plan_services
        A plan's services table (``PlanTables.services``: ``student_id``,
        ``service``, ``provider_id``): each (student, service) it lists gets
        the plan's provider as next year's ``current_provider`` (blank when the
        plan left it unserved); pairs it does not list keep today's.

    Returns
    -------
    Rollover
        Next year's tables (every column carried over), district.toml's text
        and a report row for each student and each change. services.csv, when
        given, follows the students: a leaver's rows are dropped (counted in
        the report), an incoming student gets rows from their ``services``
        cell (no minutes, no provider), a provider on staff who does not
        serve a student's new school is cleared (reported, as for
        case-manager hints), and a provider who leaves stays named as
        ``current_provider`` (a "no longer on staff" warning next year).

    Raises
    ------
    DistrictError
        A staff-changes row that cannot be applied, or a plan services table
        without its columns or naming a student not in this district (every
        such problem at once).

    Examples
    --------
    >>> raw = read_district_files("data/sample")                 # doctest: +SKIP
    >>> nxt = roll_over(raw, load_district("data/sample"))        # doctest: +SKIP
    >>> print(nxt.summary())                                      # doctest: +SKIP
    """
    pack = district.rules
    year_start = year_start or next_school_year_start()
    problems: list[InputIssue] = []
    educators = raw.tables["educators"]
    left_staff: list[str] = []
    if staff_changes is not None:
        educators, left_staff = _apply_staff_changes(educators, staff_changes,
                                                     staff_changes_label, problems)
    plan_provider = (None if plan_services is None else
                     _plan_providers(plan_services, PLAN_SERVICES_LABEL, district, problems))
    if problems:
        raise DistrictError(problems)
    serves: dict[str, set[str]] = {
        e: {x.strip() for x in s.split(LIST_SEPARATOR) if x.strip()}
        for e, s in zip(educators["educator_id"], educators["schools"], strict=True)}

    order = list(pack.grades)
    preschool, adult = pack.preschool_grade, pack.adult_transition_grade
    schools = district.schools
    report: list[dict] = []
    rows = []
    students = raw.tables["students"]
    for rec in students.to_dict("records"):
        sid = rec["student_id"]
        s = district.students[sid]
        grade, school = s.grade, s.school_id
        new_grade: str | None
        why_left = ""
        if grade == preschool:
            new_grade = preschool
            if s.birth_date is not None:
                age = _age(s.birth_date, year_start)
                # Oldest first: the first entry age reached gives the grade.
                new_grade = next((g for g, at in pack.preschool_moves_on.items() if age >= at),
                                 preschool)
        elif grade == pack.last_school_grade:
            new_grade = adult if s.adult_transition else None
            why_left = "" if new_grade else f"completed grade {grade}"
        elif grade == adult:
            ends = pack.adult_transition_ends_at_age
            if s.birth_date is not None and _age(s.birth_date, year_start) >= ends:
                new_grade, why_left = None, f"reached {ends} (end of adult transition)"
            else:
                new_grade = adult
        else:
            new_grade = order[order.index(grade) + 1]
        new_school: str | None = school
        if new_grade is not None:
            here = schools[school]
            pos = order.index(new_grade)
            if not order.index(here.low_grade) <= pos <= order.index(here.high_grade):
                nxt = here.feeds_into
                if nxt and order.index(schools[nxt].low_grade) <= pos <= order.index(
                        schools[nxt].high_grade):
                    new_school = nxt
                else:
                    new_school = None
                    why_left = (f"no school in this district for grade {new_grade} after "
                                f"{school}" + (f" (feeds into {nxt}, which does not serve it)"
                                               if nxt else " (no feeds_into)"))
        if new_grade is None or new_school is None:
            report.append({"student_id": sid, "event": "left", "from_school": school,
                           "to_school": "", "from_grade": grade, "to_grade": "",
                           "detail": why_left})
            continue
        event = ("moved school" if new_school != school else
                 "kept in grade" if new_grade == grade else "promoted")
        detail = ""
        if event == "kept in grade":
            detail = ("no birth_date: stays in preschool" if grade == preschool and
                      s.birth_date is None else "age: stays in " + grade)
        report.append({"student_id": sid, "event": event, "from_school": school,
                       "to_school": new_school, "from_grade": grade, "to_grade": new_grade,
                       "detail": detail})
        rec = dict(rec)
        rec["grade"], rec["school_id"] = new_grade, new_school
        cm = rec.get("current_case_manager", "")
        if cm:
            if cm in left_staff or cm not in serves:
                why = f"case manager left: {cm} is no longer on staff"
            elif new_school not in serves[cm]:
                why = f"new school not served: {cm} does not serve {new_school}"
            else:
                why = ""
            if why:
                rec["current_case_manager"] = ""
                report.append({"student_id": sid, "event": "hint cleared",
                               "from_school": school, "to_school": new_school,
                               "from_grade": grade, "to_grade": new_grade, "detail": why})
        rows.append(rec)
    next_students = pd.DataFrame(rows, columns=students.columns)
    if new_students is not None and len(new_students):
        incoming = new_students.fillna("").astype(str)
        for sid, sch, g in zip(incoming.get("student_id", ""), incoming.get("school_id", ""),
                               incoming.get("grade", ""), strict=True):
            report.append({"student_id": sid, "event": "added", "from_school": "",
                           "to_school": sch, "from_grade": "", "to_grade": g, "detail": ""})
        cols = list(dict.fromkeys(list(next_students.columns) + list(incoming.columns)))
        next_students = pd.concat([next_students.reindex(columns=cols),
                                   incoming.reindex(columns=cols)], ignore_index=True)
        next_students = next_students.fillna("")

    kept_ids = set(next_students["student_id"].tolist())
    new_school_of = dict(zip(next_students["student_id"].tolist(),
                             next_students["school_id"].tolist(), strict=True))
    locks = raw.tables.get("locks", pd.DataFrame(columns=[c.name for c in CONTRACT["locks"]]))
    keep = []
    for rec in locks.to_dict("records"):
        sid, eid, kind = rec["student_id"], rec["educator_id"], rec["kind"].strip().lower()
        why = ""
        if sid not in kept_ids:
            why = "student left"
        elif eid not in serves:
            why = f"{eid} is no longer on staff"
        elif kind == "pin" and new_school_of[sid] not in serves[eid]:
            why = f"{eid} does not serve {new_school_of[sid]}"
        if why:
            report.append({"student_id": sid, "event": "lock dropped", "from_school": "",
                           "to_school": "", "from_grade": "", "to_grade": "",
                           "detail": f"{kind} {eid}: {why}"})
        else:
            keep.append(rec)
    tables = {"schools": raw.tables["schools"].copy(), "educators": educators,
              "students": next_students,
              "locks": pd.DataFrame(keep, columns=locks.columns)}
    services = raw.tables.get("services")
    if services is None and plan_provider:
        # No services.csv this year, but a plan chose providers: next year's
        # file records them, with the rows derived from students.services.
        services = pd.DataFrame([{"student_id": r.student_id, "service": r.service,
                                  "minutes": "", "current_provider": ""}
                                 for r in district.service_needs])
    if services is not None:
        tables["services"] = _roll_services(services, next_students, district,
                                            plan_provider or {}, report, serves)
    # Next year's district must itself be valid (e.g. new students' codes):
    # validated as it will be written, from the tables in hand.
    next_district, issues = validate_tables(RawDistrict(name=raw.name, tables=tables,
                                                        settings=raw.settings))
    if next_district is not None:  # empty schools, idle educators, students no one may case-manage
        issues = [*issues, *rollover_warnings(next_district)]
    return Rollover(tables, raw.settings_text, pd.DataFrame(report, columns=REPORT_COLUMNS),
                    tuple(issues))
