"""The plan as a director can defend it: assignments with reasons, caseloads,
unplaced students with what would place them, hiring needs and the figures.

:class:`Result` is immutable: its arrays are read-only and its tables are
handed out as copies (see docs/plan-format.md for the tables);
:meth:`Result.summary` is the readable report. It is made by
:func:`optimizer.planning.explain.explain_plan`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from optimizer.district.model import District

__all__ = ["LOCAL_CAPS_WORDS", "local_caps", "plain_headline", "plan_title", "ASSIGNMENT_COLUMNS",
           "ASSIGNMENT_DETAIL_COLUMNS", "CASELOAD_COLUMNS",
           "HIRING_COLUMNS", "LOCK_REASON", "PlanTables",
           "RANK_LABEL", "RANK_WORDS", "Result", "SERVICE_CASELOAD_COLUMNS", "SERVICE_COLUMNS",
           "UNASSIGNED_COLUMNS"]

RANK_LABEL = {0: "best-practice case manager", 1: "teaches or serves this student",
              2: "coordinator only"}
#: The rank in the words a planner reads (summary, reports, short reasons).
RANK_WORDS = {0: "best-practice match", 1: "acceptable", 2: "coordinator only"}

ASSIGNMENT_COLUMNS = ["student_id", "school_id", "case_manager_id", "role", "capacity",
                      "rank", "kept_current", "reason",
                      # Context for exports (rosters, change letters, transfer files):
                      "current_case_manager_id", "grade", "primary_disability", "services",
                      "annual_review", "triennial_review"]
#: Written after ASSIGNMENT_COLUMNS (and optional when a plan folder is read):
#: the full rule trail behind the short ``reason``, and names for people.
ASSIGNMENT_DETAIL_COLUMNS = ["reason_detail", "student_name", "school_name",
                             "case_manager_name"]
CASELOAD_COLUMNS = ["educator_id", "role", "schools", "cap", "load", "load_ratio", "students",
                    "best_practice_students", "name", "fte", "other_load"]

UNASSIGNED_COLUMNS = ["student_id", "school_id", "reason"]

#: Opens a pinned student's lock reason (free text from locks.csv), always the
#: last sentence of the ``reason`` cell: everything from it on is the planner's text.
LOCK_REASON = "Lock reason: "

#: How a pinned case manager's reason opens: a pin of locks.csv, or the
#: planner's choice in the plan workbook kept by ``caseload plan --keep``.
PINNED_IN_LOCKS = "Pinned in locks.csv"
KEPT_EDIT = "Kept as edited in the plan workbook"
#: Why this year's (or the published plan's) case manager is not kept when
#: the planner changed it in the plan workbook (``caseload plan --keep``):
#: the category, and its words after "This year's case manager".
CHANGED_IN_WORKBOOK = "changed in the plan workbook"
CHANGED_IN_WORKBOOK_WORDS = "was changed in the plan workbook"
#: The short reason's opening for a student whose case manager the planner
#: cleared in the plan workbook (one chosen there opens with KEPT_EDIT).
CLEARED_IN_WORKBOOK = "Cleared in the plan workbook"


def pin_opening(district: District, student_id: str, educator_id: str) -> str:
    """The words a pinned case manager's reason opens with.

    Examples
    --------
    >>> pin_opening(district, "S1", "E1")             # doctest: +SKIP
    'Pinned in locks.csv'
    """
    return (KEPT_EDIT if (student_id, educator_id) in district.edited_locks
            else PINNED_IN_LOCKS)


def changed_in_workbook(district: District, student_id: str, cm: str, who: str) -> str | None:
    """Why ``who`` ``cm`` is not the student's case manager when the planner
    changed it in the plan workbook (``caseload plan --keep``): cleared there
    (a forbid), or replaced by the one chosen there (a pin); None otherwise,
    a forbid of locks.csv included.

    Examples
    --------
    >>> changed_in_workbook(district, "S1", "E1", "This year's case manager")  # doctest: +SKIP
    "This year's case manager E1 was removed by the planner in the plan workbook"
    """
    if (student_id, cm) in district.forbids:
        return (f"{who} {cm} was removed by the planner in the plan workbook"
                if (student_id, cm) in district.edited_locks else None)
    if (student_id, district.pins.get(student_id)) in district.edited_locks:
        return f"{who} {cm} was replaced by the planner's choice in the plan workbook"
    return None


HIRING_COLUMNS = ["school_id", "region", "role", "credential", "students", "fte"]

#: ``services.csv`` of a plan that plans service providers (one row per
#: student and service on the IEP; ``provider_id`` blank when not served).
SERVICE_COLUMNS = ["student_id", "school_id", "service", "provider_id", "role", "minutes",
                   "kept_current", "reason"]
#: Columns ``caseloads.csv`` gains when services are planned: distinct students
#: served, case-managed, the capped caseload (distinct students + other_load),
#: IEP minutes per week served and the minutes capacity (blank: none).
SERVICE_CASELOAD_COLUMNS = ["served", "case_managed", "caseload", "minutes",
                            "minutes_capacity"]


@dataclass(frozen=True)
class PlanTables:
    """A plan's tables and summary figures: what the exports need, whether the
    plan was just made (:meth:`Result.tables`) or read back from its folder."""

    assignments: pd.DataFrame
    caseloads: pd.DataFrame
    unassigned: pd.DataFrame
    hiring_needs: pd.DataFrame
    audit: pd.DataFrame
    summary: Mapping[str, object]
    #: SERVICE_COLUMNS; empty when the plan does not plan services.
    services: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=SERVICE_COLUMNS))


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only deep view of the figures (nested tables too)."""
    return MappingProxyType({k: _frozen_mapping(v) if isinstance(v, Mapping) else
                             tuple(v) if isinstance(v, list) else v
                             for k, v in value.items()})


def _thaw(value: Any) -> Any:
    """Plain dicts and lists again (for JSON), from :func:`_frozen_mapping`."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _service_lines(s: Mapping[str, Any]) -> list[str]:
    """The summary's lines about services: per service served / not served /
    not planned, role averages against their limit, minutes capacities."""
    lines = ["", "Services (who serves each IEP service):"]
    for code, n in s["by_service"].items():
        lines.append(f"  {code:<12} served {n['served']:>6,} of {n['pairs']:,}   not served "
                     f"{n['not_served']:,}   not planned {n['not_planned']:,}")
    if any(n["not_planned"] for n in s["by_service"].values()):
        lines.append(f"  (not planned: {s['not_planned_reason']})")
    for role, a in s["role_average"].items():
        verdict = "over" if a["average"] > a["limit"] else "within"
        lines.append(f"  {role} average caseload {a['average']:.1f} per FTE "
                     f"({a['caseload']:,} over {a['fte']:g} FTE): {verdict} the limit of "
                     f"{a['limit']} ({a['source']})")
    over = s["over_minutes_capacity"]
    lines.append("  providers over a minutes capacity: "
                 + (", ".join(over) if over else "none")
                 + ("" if s["minutes_capacity_used"] else " (no minutes capacity applied)"))
    return lines


_RANK_MEANING = {0: "the type the CTC's best practice names (e.g. their SAI teacher)",
                 1: "teaches or serves them, not the best-practice type",
                 2: "coordinates the IEP only"}


def _school_names(assignments: pd.DataFrame) -> dict[str, str]:
    if "school_name" not in assignments.columns:
        return {}
    # One row per school (its last, as a dict built row by row would keep):
    # a 100,000-student plan names a few hundred schools.
    schools = assignments[["school_id", "school_name"]].drop_duplicates("school_id",
                                                                        keep="last")
    return dict(zip(schools["school_id"].astype(str),
                    schools["school_name"].fillna("").astype(str), strict=True))


def _hire_text(r: Any, names: Mapping[str, str]) -> str:
    """One hiring need in words: "1.8 FTE RSP with ES-MMSN at Lincoln Elementary for 49
    students" (a region for itinerant roles)."""
    where = (names.get(str(r.school_id)) or str(r.school_id)) if r.school_id else \
        f"region {r.region}" if r.region else "the district"
    cred = f" with {r.credential}" if r.credential else ""
    # A service plan's need names its service ("for SPEECH of 7 students").
    service = getattr(r, "service", "")
    what = f"{service} of " if isinstance(service, str) and service else ""
    return (f"{r.fte:.1f} FTE {r.role}{cred} at {where} for {what}{r.students:,} "
            f"student{'s' if r.students != 1 else ''}")


def plan_title(figures: Mapping[str, Any]) -> str:
    """What the plan decides, as a title: a plan of providers says so.

    Examples
    --------
    >>> plan_title({}), plan_title({"services": {}})
    ('Case-manager plan', 'Service and case-manager plan')
    """
    return "Service and case-manager plan" if "services" in figures else "Case-manager plan"


def plain_headline(figures: Mapping[str, Any], hiring: pd.DataFrame,
                   assignments: pd.DataFrame) -> list[str]:
    """The plan in a director's words (also the report's headline).

    Examples
    --------
    >>> plain_headline({"students": 3, "placed": 3, "unplaced": 0,
    ...                 "best_practice_share": 0.5}, pd.DataFrame(), pd.DataFrame())
    ['All 3 students placed; 50% with the best-practice case manager.']
    """
    f = figures
    # .get: a plan folder read back may hold a summary.json without every figure.
    n, placed = int(f.get("students", 0) or 0), int(f.get("placed", 0) or 0)
    unplaced = int(f.get("unplaced", n - placed) or 0)
    share = float(f.get("best_practice_share", 0.0) or 0.0)
    first = (f"All {n:,} students placed" if not unplaced else
             f"{placed:,} of {n:,} students placed, {unplaced:,} unplaced")
    lines = [f"{first}; {share:.0%} with the best-practice case manager."]
    # A service plan also says how many IEP services are served, and its
    # hiring needs are for unserved services (which may place no one).
    unserved = _unserved_services(f)
    if unserved is not None:
        served, not_served = unserved
        lines.append(f"{served:,} of {served + not_served:,} planned IEP services served"
                     + (f", {not_served:,} not served." if not_served else "."))
        # Services no one on staff may give are outside the plan and its
        # hiring needs: said here, so that no budget forgets them.
        outside = _not_planned_services(f)
        if outside:
            # (For these students: a district with SAI teachers may still have
            # none who may teach a given student, e.g. at an extensive level.)
            lines.append(f"Not planned, as no one on staff may give them to these students "
                         f"(a hire or a contract; not in the hiring needs; services.csv): "
                         f"{outside}.")
    if len(hiring):
        names = _school_names(assignments)
        top = hiring.sort_values(["students", "school_id"], ascending=[False, True])
        r = next(top.itertuples())
        goal = ("To place them" if unserved is None else
                "To serve every planned service" + (" and place every student"
                                                    if unplaced else ""))
        if len(hiring) > 1:
            # The total a budget needs first, then the largest need.
            lines.append(f"{goal}: hire {float(hiring['fte'].sum()):.1f} FTE in all, in "
                         f"{len(hiring)} hiring needs (hiring_needs.csv); the largest: "
                         f"{_hire_text(r, names)}.")
        else:
            lines.append(f"{goal}: hire {_hire_text(r, names)}.")
    return lines


def _unserved_services(figures: Mapping[str, Any]) -> tuple[int, int] | None:
    """A service plan's (served, not served) service rows over every service
    (None for a plan of case managers only)."""
    by_service = (figures.get("services") or {}).get("by_service")
    if not isinstance(by_service, Mapping):
        return None
    served = sum(int(v.get("served", 0) or 0) for v in by_service.values())
    not_served = sum(int(v.get("not_served", 0) or 0) for v in by_service.values())
    return served, not_served


def local_caps(caps: Any) -> str:
    """The caps in use that are local defaults, not law ("SDC 20, OT 20"):
    the hires they drive are only as good as those figures.

    >>> local_caps([{"role": "RSP", "cap": 28, "kind": "law"},
    ...             {"role": "OT", "cap": 20, "kind": "local default"}])
    'OT 20'
    """
    return ", ".join(f"{c['role']} {c['cap']:g}" for c in caps or ()
                     if str(c.get("kind", "")).startswith("local"))


#: What a local default cap is, in a planner's words (summary and report).
LOCAL_CAPS_WORDS = ("Caps that are local defaults, not law (set the district's own in "
                    "district.toml)")


def _local_cap_lines(caps: Any) -> list[str]:
    said = local_caps(caps)
    return [f"  {LOCAL_CAPS_WORDS}: {said}"] if said else []


def _audit_lines(audit: pd.DataFrame, services: bool) -> list[str]:
    """This year's problems (audit.csv: an assignment that breaks a rule, or
    a caseload over its cap), counted by kind: said as this year's, so that no
    planner reads them as the plan's."""
    if not len(audit) or "kind" not in audit.columns:
        return []
    kinds = audit["kind"].value_counts()
    said = ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1],
                                                                                    kv[0])))
    whose = "case managers and providers" if services else "case managers"
    return [f"  This year, before the plan: {len(audit):,} problem(s) with today's {whose} "
            f"({said}; audit.csv)"]


def _not_planned_services(figures: Mapping[str, Any]) -> str:
    """A service plan's not-planned service rows, by service, most first
    ("SAI 66, AT 26"); empty when there are none.

    >>> _not_planned_services({"services": {"by_service": {
    ...     "AT": {"not_planned": 26}, "SAI": {"not_planned": 66}, "OT": {}}}})
    'SAI 66, AT 26'
    """
    by_service = (figures.get("services") or {}).get("by_service")
    if not isinstance(by_service, Mapping):
        return ""
    counts = [(int(v.get("not_planned", 0) or 0), str(k)) for k, v in by_service.items()]
    return ", ".join(f"{k} {n:,}" for n, k in sorted(counts, key=lambda c: (-c[0], c[1]))
                     if n)


class Result:
    """An immutable plan and everything said about it.

    Attributes
    ----------
    status
        ``optimal`` (the most students placed and the fewest points among such
        plans, both proven) or ``feasible`` (a plan within every rule and cap,
        optimality not proven).
    engine
        Which engine proved what, in words.
    objective, bound, gap
        Points (lower is better), best proven lower bound, and relative gap
        (0 when proven optimal); bound and gap are None when no bound is known.
    terms
        Points per objective term: ``unplaced``, ``rank``, ``continuity``,
        ``balance`` and, with a published plan, ``change``.
    assignments, caseloads, unassigned, hiring_needs, services
        The plan's tables (docs/plan-format.md); each access returns a copy.
    audit
        This year's assignments that break a rule (``caseload audit``).
    figures
        Everything in ``summary.json`` (read-only).
    assignment
        Educator index per student in sorted-id order, -1 unplaced (read-only).

    Examples
    --------
    >>> result = plan(load_district("data/sample"))        # doctest: +SKIP
    >>> result.status, result.figures["placed"]             # doctest: +SKIP
    ('optimal', 1900)
    """

    __slots__ = ("_assignment", "_assignments", "_audit", "_caseloads", "_figures",
                 "_hiring_needs", "_services", "_terms", "_unassigned", "bound", "engine", "gap",
                 "objective", "status")

    status: str
    engine: str
    objective: float
    bound: float | None
    gap: float | None
    _terms: Mapping[str, float]
    _assignments: pd.DataFrame
    _caseloads: pd.DataFrame
    _unassigned: pd.DataFrame
    _hiring_needs: pd.DataFrame
    _audit: pd.DataFrame
    _services: pd.DataFrame
    _figures: Mapping[str, Any]
    _assignment: np.ndarray

    def __init__(self, *, status: str, engine: str, objective: float, bound: float | None,
                 gap: float | None, terms: Mapping[str, float], assignments: pd.DataFrame,
                 caseloads: pd.DataFrame, unassigned: pd.DataFrame,
                 hiring_needs: pd.DataFrame, audit: pd.DataFrame,
                 figures: Mapping[str, Any], assignment: np.ndarray,
                 services: pd.DataFrame | None = None) -> None:
        put = object.__setattr__
        for name, value in (("status", status), ("engine", engine), ("objective", objective),
                            ("bound", bound), ("gap", gap)):
            put(self, name, value)
        put(self, "_terms", MappingProxyType(dict(terms)))
        for name, frame in (("_assignments", assignments), ("_caseloads", caseloads),
                            ("_unassigned", unassigned), ("_hiring_needs", hiring_needs),
                            ("_audit", audit),
                            ("_services", pd.DataFrame(columns=SERVICE_COLUMNS)
                             if services is None else services)):
            put(self, name, frame.copy())
        put(self, "_figures", _frozen_mapping(figures))
        frozen = np.array(assignment, dtype=np.int64)
        frozen.setflags(write=False)
        put(self, "_assignment", frozen)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Result is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Result is immutable: cannot delete {name!r}")

    @property
    def terms(self) -> Mapping[str, float]:
        """Points per objective term (read-only)."""
        return self._terms

    @property
    def assignments(self) -> pd.DataFrame:
        """One row per student: case manager, capacity, rank, reason (a copy)."""
        return self._assignments.copy()

    @property
    def caseloads(self) -> pd.DataFrame:
        """One row per educator: cap, load, load ratio (a copy)."""
        return self._caseloads.copy()

    @property
    def unassigned(self) -> pd.DataFrame:
        """The students left unplaced, with why (a copy)."""
        return self._unassigned.copy()

    @property
    def hiring_needs(self) -> pd.DataFrame:
        """The hires that would place the unplaced students (a copy)."""
        return self._hiring_needs.copy()

    @property
    def audit(self) -> pd.DataFrame:
        """This year's assignments that break a rule (a copy)."""
        return self._audit.copy()

    @property
    def services(self) -> pd.DataFrame:
        """One row per student and IEP service with its provider (a copy);
        empty when the plan does not plan services."""
        return self._services.copy()

    @property
    def figures(self) -> Mapping[str, Any]:
        """Everything in ``summary.json`` (a read-only view)."""
        return self._figures

    @property
    def assignment(self) -> np.ndarray:
        """Educator index per student, -1 unplaced (read-only)."""
        return self._assignment

    def summary_json(self) -> dict[str, Any]:
        """The figures as plain JSON-ready dicts and lists (``summary.json``)."""
        return _thaw(self._figures)

    def headline(self) -> list[str]:
        """What a director decides on, in words: who is placed, with whom, what
        to hire (the first lines of :meth:`summary` and of the report)."""
        return plain_headline(self._figures, self._hiring_needs, self._assignments)

    def summary(self) -> str:
        """A one-screen report of the plan, for the terminal or a notebook: the
        decisions in words first, the engine and objective in a technical part."""
        f = self.figures
        lr = f["load_ratio"]
        counts = f["rank_counts"]
        made = f" — made {f['made_at']}" if f.get("made_at") else ""
        lines = [f"Plan for {f['district']}{made}", "",
                 *(f"  {line}" for line in self.headline()), "",
                 "  Case managers, by fit (placed students):"]
        for r, word in RANK_WORDS.items():
            lines.append(f"    {word:<22} {counts[str(r)]:>7,}   {_RANK_MEANING[r]}")
        lines += [
            f"  Kept this year's case manager: {f['kept_current']:,} of "
            f"{f['with_current_case_manager']:,} who have one on staff "
            f"({f['continuity_share']:.1%})",
            f"  Caseloads: the fullest at {lr['max']:.0%} of its cap, on average "
            f"{lr['mean']:.0%} (spread {lr['std']:.3f}; {lr['educators']:,} "
            + ("educators who may serve or case-manage" if "services" in f else "case managers")
            + ")",
            *([f"  Moved from the published plan: {pub['moved']:,} of "
               f"{pub['students_in_published_plan']:,}"
               + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(pub["moved_because"].items()))
                  + ")" if pub["moved_because"] else "")
               + (f"; services given by another provider: {pub['pairs_moved']:,} of "
                  f"{pub['pairs_in_published_plan']:,}" if "pairs_moved" in pub else "")]
              if (pub := f.get("published_plan")) else []),
            *_audit_lines(self.audit, "services" in f),
            *_local_cap_lines(f.get("caps", ())),
            "",
            "Technical (how the plan was proven):",
            f"  status {self.status} — {self.engine}",
            f"  objective {self.objective:,.1f} points (lower is better) "
            + _bound_text(self.objective, self.bound, self.gap, f),
            "      " + ", ".join(f"{k} {v:,.1f}" for k, v in self.terms.items()),
            # Engine facts: present when a solver made the plan, not for any Solution.
            *([f"  solved as {f['components']:,} independent group(s) of students with an "
               f"option and their eligible educators (largest: "
               f"{f['largest_component_students']:,} students)"] if "components" in f
              else []),
            *_time_lines(f["runtime_s"]),
        ]
        if "services" in f:
            lines.extend(_service_lines(f["services"]))
        with_services = "service" in self.hiring_needs.columns
        if len(self.hiring_needs) > 1 or (with_services and len(self.hiring_needs)):
            lines.append("")
            lines.append("Hiring needs (to serve the unserved services and place the unplaced "
                         "students):" if with_services else
                         "Hiring needs (to place the unplaced students):")
            names = _school_names(self._assignments)
            for r in self.hiring_needs.head(10).itertuples():
                lines.append(f"  {_hire_text(r, names)}")
            if len(self.hiring_needs) > 10:
                lines.append(f"  … and {len(self.hiring_needs) - 10} more (hiring_needs.csv)")
        return "\n".join(lines)

    def tables(self) -> PlanTables:
        """The plan's tables, as the exporters take them (copies)."""
        return PlanTables(self.assignments, self.caseloads, self.unassigned, self.hiring_needs,
                          self.audit, self.summary_json(), self.services)

    def __repr__(self) -> str:
        f = self.figures
        return (f"Result(status={self.status!r}, objective={self.objective:.1f}, "
                f"placed={f['placed']}/{f['students']})")


def _bound_text(objective: float, bound: float | None, gap: float | None,
                figures: Mapping[str, Any]) -> str:
    """The bound after the objective: its gap; or, for a service plan whose
    levels (services served, students placed) are apart, how far the first
    level apart is, and the gap on the points (the weighted objective, as a
    MIP solver reports it: the levels weigh far more than the cost)."""
    if bound is None:
        return "(no proven bound)"
    if gap is not None:
        return f"(bound {bound:,.1f}, gap {gap:.2%})"
    levels = figures.get("services", {}).get("levels")
    if not levels:
        return "(no proven bound)"
    (unserved, least_unserved) = levels["unserved_pairs"]
    (unplaced, least_unplaced) = levels["unplaced_students"]
    if unserved != least_unserved:
        apart = f"{unserved:,} services not served where at least {least_unserved:,} must be"
    elif unplaced != least_unplaced:
        apart = (f"{unplaced:,} students without a case manager where at least "
                 f"{least_unplaced:,} must be")
    else:
        return "(no proven bound)"
    points = (objective - bound) / max(abs(objective), 1e-9)
    return (f"(bound {bound:,.1f}: within {points:.3%} on the points; the cost not proven "
            f"as the levels are apart: {apart})")


def _time_lines(runtime: dict[str, float]) -> list[str]:
    """The summary's time lines: each stage's wall-clock seconds, in the order
    they ran; for a service plan, the service solver's own stages on a line
    of their own, as they are added up over the district's parts, which two
    processes solve at once (so they can exceed the solve's wall time,
    ``services_total``)."""
    summed = {k.removeprefix("services_"): v for k, v in runtime.items()
              if k.startswith("services_") and k != "services_total"}
    wall = {k: v for k, v in runtime.items()
            if not k.startswith("services_") or k == "services_total"}
    lines = ["  time " + ", ".join(f"{k} {v:.2f}s" for k, v in wall.items())]
    if summed:
        lines.append("  service solver stages, summed over its parts (which may run two "
                     "at a time): " + ", ".join(f"{k} {v:.2f}s" for k, v in summed.items()))
    return lines
