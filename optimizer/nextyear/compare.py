"""Comparing two plans: who changes case manager and why, every roster that
changes (even when its count does not), hiring needs and headline figures
before and after, and — when the plans plan services — provider changes.

Works on :class:`~optimizer.planning.result.Result` objects or plans read back with
:func:`optimizer.outputs.plan_folder.read_plan` (both give :class:`PlanTables`).
Names (educators', schools', students' when given) are taken from the plans'
own tables; ids stay in their own columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from optimizer.planning.result import SERVICE_COLUMNS, PlanTables, Result

__all__ = ["Comparison", "HEADLINE_METRICS", "HeadlineMetric", "compare", "MOVED_COLUMNS",
           "ROSTER_COLUMNS", "SERVICE_CHANGE_COLUMNS", "signed"]

@dataclass(frozen=True)
class HeadlineMetric:
    """A headline figure of a comparison: its key (``headline``'s ``metric``),
    its words on the terminal, its kind -- ``"count"`` (whole), ``"share"``
    (a percentage, its change in points) or ``"number"`` -- and a number's
    decimals. The one table of how each figure is shown: the terminal here,
    the comparison workbook and page (outputs/comparison.py)."""

    key: str
    label: str
    kind: str
    places: int = 0

    @property
    def format(self) -> str:
        """The figure's format string (``str.format``)."""
        return {"count": "{:,.0f}", "share": "{:.1%}"}.get(self.kind, f"{{:.{self.places}f}}")


#: The headline figures, in the order shown.
HEADLINE_METRICS = (
    HeadlineMetric("placed", "students placed", "count"),
    HeadlineMetric("unplaced", "students unplaced", "count"),
    HeadlineMetric("best_practice_share", "best-practice share", "share"),
    HeadlineMetric("continuity_share", "continuity share", "share"),
    HeadlineMetric("max_load_ratio", "highest load ratio", "number", 2),
    HeadlineMetric("std_load_ratio", "std of load ratio", "number", 3),
    HeadlineMetric("hiring_fte", "hiring needs (FTE)", "number", 1),
    # Only when both plans plan service providers (summary.json's "services"):
    # a what-if can leave services without a provider while every student
    # still has a case manager.
    HeadlineMetric("services_served", "IEP services served", "count"),
    HeadlineMetric("services_unserved", "IEP services not served", "count"),
    HeadlineMetric("services_not_planned", "IEP services not planned", "count"),
)

#: One row per student whose case manager differs between the plans.
MOVED_COLUMNS = ["student_id", "student_name", "school_id", "school_name",
                 "from_case_manager_id", "from_case_manager", "to_case_manager_id",
                 "to_case_manager", "why"]
#: One row per educator whose roster differs (students in or out), even when
#: the count is the same.
ROSTER_COLUMNS = ["educator_id", "name", "role", "students_a", "students_b", "joined",
                  "left", "load_a", "load_b", "cap_a", "cap_b"]
#: One row per (student, service) whose provider differs (service plans only).
SERVICE_CHANGE_COLUMNS = ["student_id", "school_id", "service", "from_provider_id",
                          "to_provider_id", "why"]


def _tables(plan: Result | PlanTables) -> PlanTables:
    return plan.tables() if hasattr(plan, "tables") else plan


def _metrics(t: PlanTables) -> dict[str, float]:
    f: Mapping[str, Any] = t.summary  # summary.json: values by key, types per key
    lr = f.get("load_ratio", {})
    out = {"placed": f.get("placed", 0), "unplaced": f.get("unplaced", 0),
           "best_practice_share": f.get("best_practice_share", 0.0),
           "continuity_share": f.get("continuity_share", 0.0),
           "max_load_ratio": lr.get("max", 0.0), "std_load_ratio": lr.get("std", 0.0),
           "hiring_fte": float(t.hiring_needs["fte"].sum()) if len(t.hiring_needs) else 0.0}
    by_service = f.get("services", {}).get("by_service")
    if by_service:
        # As the plan's own summary counts them: served, not served (some staff
        # provides the service), and not planned (no one on staff provides it:
        # where every SLP leaves, speech moves there, not to "not served").
        out["services_served"] = sum(v["served"] for v in by_service.values())
        out["services_unserved"] = sum(v["not_served"] for v in by_service.values())
        out["services_not_planned"] = sum(v["not_planned"] for v in by_service.values())
    return out


#: Figures that are counts (written whole), and the tenths of an FTE.
_WHOLE = {m.key for m in HEADLINE_METRICS if m.kind == "count"}
_TENTHS = {"hiring_fte"}


def _figure(metric: str, value: float) -> int | float:
    """A headline figure as a plan gives it: a count whole, FTE in tenths,
    a share or ratio without float noise (six decimals).

    Examples
    --------
    >>> _figure("placed", 3000.0), _figure("hiring_fte", 37.300000000000004)
    (3000, 37.3)
    """
    if metric in _WHOLE:
        return int(round(value))
    return round(float(value), 1 if metric in _TENTHS else 6) + 0.0  # (+0.0: no -0.0)


def signed(change: str) -> str:
    """A formatted change with its sign: ``+`` when above zero, none at zero
    (a change that rounds to zero is "0.0", never "-0.0").

    Examples
    --------
    >>> signed("1.4"), signed("-11"), signed("-0.0"), signed("0")
    ('+1.4', '-11', '0.0', '0')
    """
    digits = change.lstrip("-")
    if not digits.strip("0.,"):
        return digits
    return change if change.startswith("-") else "+" + change


def _names(*plans: PlanTables) -> dict[str, str]:
    """Educator id -> name from the plans' caseloads (the later plan wins)."""
    out: dict[str, str] = {}
    for t in plans:
        if "name" in t.caseloads.columns:
            out.update(zip(t.caseloads["educator_id"].astype(str),
                           t.caseloads["name"].fillna("").astype(str), strict=True))
    return out


def _column_map(frame: pd.DataFrame, key: str, value: str) -> dict[str, str]:
    if value not in frame.columns:
        return {}
    # (Python lists: a text column's cells one at a time cost 2 µs each.)
    return {str(k): str(v) for k, v in zip(frame[key].tolist(),
                                           frame[value].fillna("").tolist(), strict=True)
            if str(v)}


def _sentence(reason: str, opening: str) -> str:
    """The sentence of a plan's reason that starts with ``opening`` (to its end)."""
    at = reason.find(opening)
    if at < 0:
        return ""
    rest = reason[at + len(opening):]
    end = rest.find(". ")
    return rest if end < 0 else rest[:end]


_PUBLISHED_CM = "The published plan's case manager "


def _why(row: Any, b_reason: str, unplaced_reason: str, on_staff_b: set[str],
         from_name: str = "", b_detail: str = "") -> str:
    """Why the student's case manager changed, never blank (``b_reason`` the
    short reason, ``b_detail`` the full trail of plan B)."""
    if pd.isna(row.school_id_b):
        return "No longer in the district (not in this plan)"
    if pd.isna(row.school_id_a):
        return "New student: " + (b_reason or (f"unplaced: {unplaced_reason}"
                                               if unplaced_reason else "unplaced"))
    moved = _sentence(b_detail or b_reason, "Moved from the published plan: ")
    if moved:
        src = str(row.case_manager_id_a)
        if moved.startswith(_PUBLISHED_CM) and src:  # name the person
            rest = moved[len(_PUBLISHED_CM):]
            rest = rest[len(src) + 1:] if rest.startswith(src + " ") else rest
            moved = f"{from_name} ({src}) {rest}" if from_name else f"{src} {rest}"
        return moved
    src, dst = row.case_manager_id_a, row.case_manager_id_b
    if not dst:
        lead = (f"{src} is no longer on staff" if src and src not in on_staff_b else
                "No eligible case manager has room")
        return f"{lead}; unplaced: {unplaced_reason}" if unplaced_reason else \
            f"{lead}; unplaced"
    if src and src not in on_staff_b:
        return f"{src} is no longer on staff; {b_reason}" if b_reason else \
            f"{src} is no longer on staff"
    if not src:
        return f"Newly placed: {b_reason}" if b_reason else "Newly placed"
    return b_reason or "The plan chose another case manager (same rules, new balance)"


@dataclass(frozen=True)
class Comparison:
    """Tidy frames describing how plan B differs from plan A.

    Attributes
    ----------
    moved
        One row per student whose case manager differs (:data:`MOVED_COLUMNS`):
        ids, names and ``why`` (never blank: the reason plan B gives, why the
        student left the published plan, or why they are now unplaced).
    loads
        One row per educator whose load changed: ``educator_id``, ``role``,
        ``load_a``, ``load_b``, ``delta``, ``cap_a``, ``cap_b``.
    headline
        One row per figure: ``metric``, ``a``, ``b``, ``delta``.
    hiring
        Hiring needs by place, role and credential: ``students_a``,
        ``students_b``, ``fte_a``, ``fte_b``, ``fte_delta`` (changed rows only).
    rosters
        One row per educator whose roster differs (:data:`ROSTER_COLUMNS`):
        who joined and who left (``;``-separated ids), even when the count
        stays the same.
    services
        Provider changes per student and service (:data:`SERVICE_CHANGE_COLUMNS`);
        empty unless a plan plans services.
    """

    name_a: str
    name_b: str
    moved: pd.DataFrame
    loads: pd.DataFrame
    headline: pd.DataFrame
    hiring: pd.DataFrame
    rosters: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ROSTER_COLUMNS))
    services: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=SERVICE_CHANGE_COLUMNS))

    @property
    def empty(self) -> bool:
        """True when B is the same plan as A."""
        return (self.moved.empty and self.loads.empty and self.hiring.empty
                and self.rosters.empty and self.services.empty
                and bool((self.headline["delta"] == 0).all()))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The comparison as CSV-ready tables, by file name."""
        return {"comparison_headline.csv": self.headline,
                "comparison_students.csv": self.moved,
                "comparison_rosters.csv": self.rosters,
                "comparison_hiring.csv": self.hiring,
                **({"comparison_services.csv": self.services}
                   if not self.services.empty else {})}

    def summary(self, limit: int | None = 8) -> str:
        """One screen: headline figures, then the students and rosters that
        change (``limit`` rows of each; None for every row)."""
        def head(frame: pd.DataFrame) -> pd.DataFrame:
            return frame if limit is None else frame.head(limit)

        def more(frame: pd.DataFrame, what: str) -> list[str]:
            hidden = len(frame) - len(head(frame))
            return ([f"    … and {hidden:,} more {what} (--all; in Python, "
                     "summary(limit=None))"] if hidden > 0 else [])

        lines = [f"{self.name_b} compared with {self.name_a}", "",
                 f"  {'':<26} {'before':>10}    {'after':>10}"]
        shown = {m.key: m for m in HEADLINE_METRICS}
        for row in self.headline.itertuples():
            m = shown[row.metric]
            # A share's change is in percentage points (74.9% -> 73.5%: -1.4 points).
            delta = signed(f"{row.delta * 100:.1f}") + " points" if m.kind == "share" \
                else signed(m.format.format(row.delta))
            lines.append(f"  {m.label:<26} {m.format.format(row.a):>10} -> "
                         f"{m.format.format(row.b):>10}   ({delta})")
        lines.append("")
        lines.append(f"  {len(self.moved):,} student(s) change case manager; "
                     f"{len(self.rosters):,} roster(s) change")
        for r in head(self.moved).itertuples():
            who = f"{r.student_name} ({r.student_id})" if r.student_name else r.student_id
            src = f"{r.from_case_manager} ({r.from_case_manager_id})" \
                if r.from_case_manager_id else "—"
            dst = f"{r.to_case_manager} ({r.to_case_manager_id})" \
                if r.to_case_manager_id else "left" if r.why.startswith("No longer in") \
                else "unplaced"
            lines.append(f"    {who} at {r.school_name or r.school_id}: {src} -> {dst}")
            lines.append(f"        why: {r.why}")
        lines.extend(more(self.moved, "students"))
        if not self.rosters.empty:
            lines.append("  Rosters that change:")
            for r in head(self.rosters).itertuples():
                joined = len(r.joined.split(";")) if r.joined else 0
                left = len(r.left.split(";")) if r.left else 0
                lines.append(f"    {r.name or r.educator_id} ({r.educator_id}, {r.role}): "
                             f"{r.students_a} -> {r.students_b} students "
                             f"(+{joined} joined, -{left} left)")
            lines.extend(more(self.rosters, "rosters"))
        if not self.hiring.empty:
            lines.append("  Hiring needs:")
            for r in head(self.hiring).itertuples():
                where = getattr(r, "school_name", "") or r.school_id or f"region {r.region}"
                service = getattr(r, "service", "")
                what = f"{r.role} with {r.credential}" if r.credential else str(r.role)
                lines.append(f"    {what} at {where}"
                             + (f" for {service}" if isinstance(service, str) and service
                                else "")
                             + f": {r.fte_a:.1f} -> {r.fte_b:.1f} FTE ({r.students_a:g} -> "
                             f"{r.students_b:g} students)")
            lines.extend(more(self.hiring, "hiring rows"))
        if not self.services.empty:
            lines.append(f"  {len(self.services):,} service provider(s) change:")
            for r in head(self.services).itertuples():
                lines.append(f"    {r.student_id} {r.service}: {r.from_provider_id or '—'} -> "
                             f"{r.to_provider_id or 'not served'} ({r.why})")
            lines.extend(more(self.services, "service changes"))
        return "\n".join(lines)


def _rosters(a: PlanTables, b: PlanTables, names: Mapping[str, str]) -> pd.DataFrame:
    def roster(t: PlanTables) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for sid, eid in zip(t.assignments["student_id"].tolist(),
                            t.assignments["case_manager_id"].tolist(), strict=True):
            if isinstance(eid, str) and eid:
                out.setdefault(eid, set()).add(str(sid))
        return out

    ra, rb = roster(a), roster(b)
    ca = a.caseloads.set_index("educator_id")
    cb = b.caseloads.set_index("educator_id")
    rows = []
    for eid in sorted(set(ra) | set(rb) | set(ca.index) | set(cb.index)):
        sa, sb = ra.get(eid, set()), rb.get(eid, set())
        if sa == sb:
            continue
        role = cb["role"].get(eid) if eid in cb.index else ca["role"].get(eid, "")
        rows.append({"educator_id": eid, "name": names.get(eid, ""), "role": role or "",
                     "students_a": len(sa), "students_b": len(sb),
                     "joined": ";".join(sorted(sb - sa)), "left": ";".join(sorted(sa - sb)),
                     "load_a": float(ca["load"].get(eid, 0.0)) if eid in ca.index else 0.0,
                     "load_b": float(cb["load"].get(eid, 0.0)) if eid in cb.index else 0.0,
                     "cap_a": ca["cap"].get(eid, 0) if eid in ca.index else 0,
                     "cap_b": cb["cap"].get(eid, 0) if eid in cb.index else 0})
    return pd.DataFrame(rows, columns=ROSTER_COLUMNS)


def _service_changes(a: PlanTables, b: PlanTables) -> pd.DataFrame:
    """Provider changes per (student, service), against the services interface
    (PlanTables.services with SERVICE_COLUMNS); empty when neither plan has them."""
    sa, sb = a.services, b.services
    if sa.empty and sb.empty:
        return pd.DataFrame(columns=SERVICE_CHANGE_COLUMNS)
    cols = ["student_id", "school_id", "service", "provider_id", "reason"]
    sa = sa.reindex(columns=SERVICE_COLUMNS)[cols]
    sb = sb.reindex(columns=SERVICE_COLUMNS)[cols]
    m = sa.merge(sb, on=["student_id", "service"], how="outer", suffixes=("_a", "_b"))
    m = m.fillna({"provider_id_a": "", "provider_id_b": "", "reason_b": "", "reason_a": ""})
    m = m[m["provider_id_a"].astype(str) != m["provider_id_b"].astype(str)]
    why = [rb or (f"no longer served ({ra})" if ra else "no longer served")
           if not pb else rb or "a new provider"
           for pb, ra, rb in zip(m["provider_id_b"].tolist(), m["reason_a"].tolist(),
                                 m["reason_b"].tolist(), strict=True)]
    out = pd.DataFrame({"student_id": m["student_id"],
                        "school_id": m["school_id_b"].fillna(m["school_id_a"]),
                        "service": m["service"], "from_provider_id": m["provider_id_a"],
                        "to_provider_id": m["provider_id_b"], "why": why},
                       columns=SERVICE_CHANGE_COLUMNS)
    return out.sort_values(["student_id", "service"], ignore_index=True)


def compare(plan_a: Result | PlanTables, plan_b: Result | PlanTables, name_a: str = "A",
            name_b: str = "B") -> Comparison:
    """How plan B differs from plan A.

    Parameters
    ----------
    plan_a, plan_b
        Two plans of the same district: each a :class:`Result` or the
        :class:`PlanTables` of a plan folder read back
        (:func:`optimizer.outputs.plan_folder.read_plan`).
    name_a, name_b
        The plans' names in the comparison's text.

    Returns
    -------
    Comparison
        Who changes case manager and why, whose roster and load change, the
        headline figures and the hiring needs of both plans side by side.

    Examples
    --------
    >>> c = compare(base, what_if, "base", "SLP resigns")    # doctest: +SKIP
    >>> print(c.summary())                                     # doctest: +SKIP
    """
    a, b = _tables(plan_a), _tables(plan_b)
    names = _names(a, b)
    school_names = {**_column_map(a.assignments, "school_id", "school_name"),
                    **_column_map(b.assignments, "school_id", "school_name")}
    student_names = {**_column_map(a.assignments, "student_id", "student_name"),
                     **_column_map(b.assignments, "student_id", "student_name")}
    aa = a.assignments[["student_id", "school_id", "case_manager_id"]]
    # The full rule trail when the plan has one (reason_detail): its "Moved from
    # the published plan: ..." sentence says why in a student's own terms.
    detail = "reason_detail" if "reason_detail" in b.assignments.columns else "reason"
    bb = b.assignments[["student_id", "school_id", "case_manager_id", "reason"]].assign(
        reason_detail=b.assignments[detail])
    m = aa.merge(bb, on="student_id", how="outer", suffixes=("_a", "_b"))
    m = m.fillna({"case_manager_id_a": "", "case_manager_id_b": "", "reason": "",
                  "reason_detail": ""})
    # A student in one plan only (left, or new) is a change even when unplaced in both.
    changed = m[(m["case_manager_id_a"] != m["case_manager_id_b"])
                | m["school_id_a"].isna() | m["school_id_b"].isna()]
    unplaced_reason = _column_map(b.unassigned, "student_id", "reason")
    on_staff_b = set(b.caseloads["educator_id"].astype(str))
    school = changed["school_id_b"].fillna(changed["school_id_a"])
    moved = pd.DataFrame({
        "student_id": changed["student_id"],
        "student_name": [student_names.get(s, "") for s in changed["student_id"]],
        "school_id": school,
        "school_name": [school_names.get(s, "") for s in school],
        "from_case_manager_id": changed["case_manager_id_a"],
        "from_case_manager": [names.get(e, "") for e in changed["case_manager_id_a"]],
        "to_case_manager_id": changed["case_manager_id_b"],
        "to_case_manager": [names.get(e, "") for e in changed["case_manager_id_b"]],
        "why": [_why(r, str(r.reason), unplaced_reason.get(str(r.student_id), ""), on_staff_b,
                     names.get(str(r.case_manager_id_a), ""), str(r.reason_detail))
                for r in changed.itertuples()],
    }, columns=MOVED_COLUMNS).sort_values("student_id", ignore_index=True)

    la = a.caseloads[["educator_id", "role", "load", "cap"]]
    lb = b.caseloads[["educator_id", "role", "load", "cap"]]
    loads = la.merge(lb, on="educator_id", how="outer", suffixes=("_a", "_b"))
    loads["role"] = loads["role_b"].fillna(loads["role_a"])
    loads = loads.fillna({"load_a": 0.0, "load_b": 0.0, "cap_a": 0, "cap_b": 0})
    loads["delta"] = loads["load_b"] - loads["load_a"]
    loads = loads[(loads["delta"].abs() > 1e-9) | (loads["cap_a"] != loads["cap_b"])]
    loads = loads[["educator_id", "role", "load_a", "load_b", "delta", "cap_a", "cap_b"]]
    loads = loads.sort_values(["delta", "educator_id"], ignore_index=True)

    ma, mb = _metrics(a), _metrics(b)
    keys_in = [m.key for m in HEADLINE_METRICS if m.key in ma and m.key in mb]
    # As figures, not float sums: counts whole (3000, not 3000.0), FTE to the
    # tenth its rows are given in (37.3, not 37.300000000000004).
    headline = pd.DataFrame({
        "metric": keys_in,
        **{col: pd.Series([_figure(k, value(k)) for k in keys_in], dtype=object)
           for col, value in (("a", ma.__getitem__), ("b", mb.__getitem__),
                              ("delta", lambda k: mb[k] - ma[k]))}})

    keys = ["school_id", "region", "role", "credential"]
    if "service" in a.hiring_needs.columns and "service" in b.hiring_needs.columns:
        keys.append("service")  # a service plan's needs are per service too
    ha = a.hiring_needs[[*keys, "students", "fte"]].rename(
        columns={"students": "students_a", "fte": "fte_a"})
    hb = b.hiring_needs[[*keys, "students", "fte"]].rename(
        columns={"students": "students_b", "fte": "fte_b"})
    hiring = ha.merge(hb, on=keys, how="outer").fillna(
        {"students_a": 0, "students_b": 0, "fte_a": 0.0, "fte_b": 0.0})
    for col in ("students_a", "students_b"):
        # Counts, whole again (a need in one plan only left a gap, made the
        # column float and wrote "285.0" beside "245"); as read if not whole.
        if (hiring[col] == hiring[col].round()).all():
            hiring[col] = hiring[col].astype("int64")
    hiring["fte_delta"] = (hiring["fte_b"] - hiring["fte_a"]).round(1)
    hiring = hiring[(hiring["students_a"] != hiring["students_b"])].reset_index(drop=True)
    hiring.insert(1, "school_name", [school_names.get(str(s), "") if isinstance(s, str) else ""
                                     for s in hiring["school_id"]])
    return Comparison(name_a, name_b, moved, loads, headline, hiring,
                      _rosters(a, b, names), _service_changes(a, b))
