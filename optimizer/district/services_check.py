"""Checks of the service data (issue 10): ``services.csv``, service locks, IEP needs.

``services.csv`` (or the workbook's ``services`` sheet) lists one row per
student and service on the IEP, with weekly minutes and this year's provider.
When given, it is the single source of truth for the services, so it must
agree with ``students.csv`` ``services``: a difference is an error naming
both files. ``locks.csv`` rows with a ``service`` pin or forbid that
service's provider; the checks here keep them within what a plan can honour.

Every problem is an :class:`~optimizer.district.model.InputIssue` located to
the file, row and column, reported with every other problem at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from optimizer.district.bulk import frozen_maker
from optimizer.district.contract import as_typed
from optimizer.district.model import District, Educator, InputIssue, ServiceNeed, Student
from optimizer.rulepacks import MAX_WEEKLY_MINUTES, RulePack

if TYPE_CHECKING:  # the validator's table helper (no import cycle at run time)
    from optimizer.district.validate import _Table

__all__ = ["check_services_table", "services_agree", "role_provides", "roles_providing",
           "check_service_lock", "primary_need_warnings", "service_lock_problem"]


def role_provides(pack: RulePack, role: str, service: str, sai_setting: str | None) -> bool:
    """Whether educators of ``role`` provide ``service`` to a student whose SAI
    setting is ``sai_setting``: instruction (SAI) is given by the role that
    teaches the student's setting (RSP or SDC); any other service by the roles
    whose ``provides`` lists it.

    Examples
    --------
    >>> from optimizer.rulepacks import load_rule_pack
    >>> pack = load_rule_pack("ca")
    >>> role_provides(pack, "SLP", "SPEECH", None), role_provides(pack, "RSP", "SAI", "sdc")
    (True, False)
    """
    r = pack.roles.get(role)
    if r is None:
        return False
    if service in pack.instruction_services:
        return r.teaches is not None and (sai_setting is None or r.teaches == sai_setting)
    return service in r.provides


def roles_providing(pack: RulePack, service: str, sai_setting: str | None) -> list[str]:
    """The role codes that provide ``service`` (see :func:`role_provides`), in pack order."""
    return [r for r in pack.roles if role_provides(pack, r, service, sai_setting)]


def _service_list(pack: RulePack) -> str:
    codes = [f"{n} ({'/'.join(s.codes)})" if s.codes else n for n, s in pack.services.items()]
    return "a service name or CALPADS code: " + ", ".join(codes)


#: ServiceNeed(...) without a call per field (a large district has 170,000 rows);
#: type-checked as ServiceNeed(...) is.
if TYPE_CHECKING:
    _make_need = ServiceNeed
else:
    _make_need = frozen_maker(ServiceNeed)


def check_services_table(t: _Table, pack: RulePack, students: Mapping[str, Student],
                         educators: Mapping[str, Educator]
                         ) -> tuple[tuple[ServiceNeed, ...], set[str]]:
    """Check ``services.csv`` cell by cell and return its rows.

    Errors: a blank or unknown student, a blank or unknown service code,
    minutes that are not a number from 0 to the minutes in a week, and a
    (student, service) given twice (codes are compared as canonicalised, so
    ``415`` and ``SPEECH`` are the same). A ``current_provider`` not in
    educators.csv is a warning (continuity is then ignored), as for
    ``current_case_manager``.

    Returns
    -------
    (rows, unsure)
        The rows with a known student and service (the district is built
        only when no error was found), and the students with a blank or
        unknown service code (their agreement with students.csv cannot be
        judged, so it is not reported twice).
    """
    sid = t.lookup("student_id", {s: s for s in students},
                   "the student_id of a student in students.csv", required=True,
                   normalize=as_typed)
    svc = t.lookup("service", {k: k for k in pack.services} | {
        c: n for n, s in pack.services.items() for c in s.codes}, _service_list(pack),
        required=True)
    minutes = t.number("minutes", f"IEP minutes per week: a number from 0 to "
                       f"{MAX_WEEKLY_MINUTES:,} (the minutes in a week), or blank",
                       lambda x: 0 <= x <= MAX_WEEKLY_MINUTES, None)
    providers = t.col("current_provider").tolist()
    # Python lists, not per-value array indexing: 170,000 rows in a large district.
    rows, sid_l, svc_l = t.rows.tolist(), list(sid), list(svc)
    minutes_l = list(minutes)
    first: dict[tuple[str, str], int] = {}
    out: list[ServiceNeed] = []
    unsure: set[str] = set()
    for i in range(len(sid_l)):
        row = int(rows[i])
        cur = providers[i]
        if cur and cur not in educators:
            t.add(i, "current_provider", cur,
                  "an educator_id in educators.csv: this provider is no longer listed "
                  "(continuity ignored)", "warning")
        s, code = sid_l[i], svc_l[i]
        if s and not code:
            unsure.add(s)
        if not (s and code):
            continue
        if (s, code) in first:
            t.add(i, "service", t.col("service").iat[i],
                  f"one row per student and service: {s} {code} is already on row "
                  f"{first[(s, code)]}")
            continue
        first[(s, code)] = row
        out.append(_make_need(s, code, minutes_l[i], cur or None, row))
    return tuple(out), unsure


def services_agree(rows: tuple[ServiceNeed, ...], students: Mapping[str, Student],
                   services_label: str, students_label: str,
                   cells: Mapping[int, str], unsure: Collection[str] = ()
                   ) -> list[InputIssue]:
    """One error per student whose services differ between the two files.

    Parameters
    ----------
    rows
        services.csv rows (checked).
    students
        The students, with their ``services`` from students.csv.
    services_label, students_label
        The two files' names as the planner knows them.
    cells
        students.csv row -> the ``services`` cell as typed (quoted back).
    unsure
        Students with an unreadable service code in either file (already
        reported): not compared.

    Returns
    -------
    list of InputIssue
        Located at the student's students.csv row, column ``services``; the
        message names both files and the services only in one of them.
    """
    # (defaultdict: setdefault would make a set per row, 170,000 at 100k)
    listed: defaultdict[str, set[str]] = defaultdict(set)
    for r in rows:
        listed[r.student_id].add(r.service)
    out = []
    nothing: frozenset[str] = frozenset()
    for s in students.values():
        got = listed.get(s.student_id, nothing)
        if got == s.services or s.student_id in unsure:  # a set equals a frozenset of the same
            continue
        only_students = sorted(set(s.services) - got)
        only_services = sorted(got - set(s.services))
        parts = []
        if only_students:
            parts.append(f"only in {students_label}: {', '.join(only_students)}")
        if only_services:
            parts.append(f"only in {services_label}: {', '.join(only_services)}")
        if not got:
            parts.append(f"{services_label} has no row for {s.student_id}")
        out.append(InputIssue(
            students_label, s.row, "services", cells.get(s.row),
            f"the same services for {s.student_id} as {services_label} "
            f"({'; '.join(parts)}); when {services_label} is given it is the single source "
            "of truth for the services, so the two files must agree"))
    return out


def service_lock_problem(pack: RulePack, student: Student, educator: Educator,
                         service: str) -> tuple[str, str, str] | None:
    """Why a lock naming ``service`` cannot be one: (column, value, what was
    expected), or None when it can: the student has that service on the IEP,
    the educator's role provides it, the educator serves the student's
    school and holds a credential the rule pack lists for the service
    (``services.*.credentials``; SAI's teaching rules are the planner's).

    Examples
    --------
    >>> service_lock_problem(pack, student, educator, "SPEECH")   # doctest: +SKIP
    """
    if service not in student.services:
        return ("service", service,
                f"a service on {student.student_id}'s IEP ("
                f"{', '.join(sorted(student.services))}): a lock on a service the student "
                "does not have can never apply")
    if not role_provides(pack, educator.role, service, student.sai_setting):
        setting = (f" in {student.sai_setting}" if service in pack.instruction_services
                   and student.sai_setting else "")
        roles = roles_providing(pack, service, student.sai_setting)
        return ("educator_id", educator.educator_id,
                f"an educator whose role provides {service}{setting} "
                f"({', '.join(roles) or 'no role in the rule pack'}): "
                f"{educator.educator_id} is {educator.role or 'without a role'}"
                # An unknown or blank role is reported on educators.csv already.
                + (f" ({pack.roles[educator.role].name})" if educator.role in pack.roles
                   else ""))
    if student.school_id and student.school_id not in educator.schools:
        return ("educator_id", educator.educator_id,
                f"an educator who serves {student.student_id}'s school {student.school_id}: "
                f"{educator.educator_id} serves {', '.join(educator.schools)}")
    if (pack.services[service].credentials
            and not pack.services[service].credentials & educator.credentials):
        return ("educator_id", educator.educator_id,
                f"an educator holding a credential for {service} "
                f"({', '.join(sorted(pack.services[service].credentials))}): "
                f"{educator.educator_id} holds "
                f"{', '.join(sorted(educator.credentials)) or 'none'}")
    return None


def check_service_lock(t: _Table, i: int, pack: RulePack, student: Student,
                       educator: Educator, service: str) -> bool:
    """Check one locks.csv row that names a service (row index ``i``)
    (:func:`service_lock_problem`). Adds the problem to ``t``; True when the
    lock is usable."""
    problem = service_lock_problem(pack, student, educator, service)
    if problem is None:
        return True
    column, value, expected = problem
    t.add(i, column, t.col(column).iat[i] if column == "service" else value, expected)
    return False


def primary_need_warnings(district: District, label: str = "students.csv"
                          ) -> list[InputIssue]:
    """Warnings for students placed under their secondary disability whose IEP
    has no service addressing the low-incidence primary one.

    CTC "Special Education Case Management" (June 2024): under the
    low-incidence alternative placement "the primary disability's needs must
    then be met by the appropriate related-service providers named in the
    IEP". Which services address which category is the rule pack's
    ``[primary_need_services]`` table. The IEP's services are those of
    services.csv when given (it then agrees with students.csv).

    Returns
    -------
    list of InputIssue
        One warning per such student, on students.csv's ``services`` column.
    """
    pack = district.rules
    placed = [s for s in district.students.values() if s.placement_basis == "secondary"
              and s.primary_disability in pack.primary_need_services]
    if not placed:
        return []
    # The services of these students only (a few among 170,000 rows at 100k).
    who = {s.student_id for s in placed}
    needs: dict[str, set[str]] = {}
    for r in district.service_rows or ():
        if r.student_id in who:
            needs.setdefault(r.student_id, set()).add(r.service)
    out = []
    for s in placed:
        wanted = pack.primary_need_services[s.primary_disability]
        # services.csv when given (it agrees with students.csv by now)
        have = needs.get(s.student_id, set()) if district.service_rows is not None \
            else set(s.services)
        if have & wanted:
            continue
        name = pack.disabilities[s.primary_disability].name
        out.append(InputIssue(
            label, s.row, "services", ";".join(sorted(have)),
            f"a service that addresses the primary disability {s.primary_disability} "
            f"({name}): {' or '.join(sorted(wanted))}. The student is placed under the "
            f"secondary disability {s.secondary_disability}, so the primary's needs must be "
            "met by related-service providers named in the IEP (CTC Special Education Case "
            "Management, 2024; rule pack [primary_need_services])", "warning"))
    return out
