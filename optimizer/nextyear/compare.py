"""Comparing two plans: who changes case manager and why, load changes, headline deltas.

Works on :class:`~optimizer.planning.result.Result` objects or plans read back with
:func:`optimizer.outputs.plan_folder.read_plan` (both give :class:`PlanTables`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from optimizer.planning.result import PlanTables, Result

__all__ = ["Comparison", "compare"]

_METRICS = [
    ("placed", "students placed", "{:,.0f}"),
    ("unplaced", "students unplaced", "{:,.0f}"),
    ("best_practice_share", "best-practice share", "{:.1%}"),
    ("continuity_share", "continuity share", "{:.1%}"),
    ("max_load_ratio", "highest load ratio", "{:.2f}"),
    ("std_load_ratio", "std of load ratio", "{:.3f}"),
    ("hiring_fte", "hiring needs (FTE)", "{:.1f}"),
]


def _tables(plan: Result | PlanTables) -> PlanTables:
    return plan.tables() if hasattr(plan, "tables") else plan


def _metrics(t: PlanTables) -> dict[str, float]:
    f: Mapping[str, Any] = t.summary  # summary.json: values by key, types per key
    lr = f.get("load_ratio", {})
    return {"placed": f.get("placed", 0), "unplaced": f.get("unplaced", 0),
            "best_practice_share": f.get("best_practice_share", 0.0),
            "continuity_share": f.get("continuity_share", 0.0),
            "max_load_ratio": lr.get("max", 0.0), "std_load_ratio": lr.get("std", 0.0),
            "hiring_fte": float(t.hiring_needs["fte"].sum()) if len(t.hiring_needs) else 0.0}


@dataclass(frozen=True)
class Comparison:
    """Tidy frames describing how plan B differs from plan A.

    Attributes
    ----------
    moved
        One row per student whose case manager differs: ``student_id``,
        ``school_id``, ``from_case_manager_id``, ``to_case_manager_id``, ``why``
        (plan B's reason).
    loads
        One row per educator whose load changed: ``educator_id``, ``role``,
        ``load_a``, ``load_b``, ``delta``, ``cap_a``, ``cap_b``.
    headline
        One row per figure: ``metric``, ``a``, ``b``, ``delta``.
    hiring
        Hiring needs by place, role and credential: ``students_a``,
        ``students_b``, ``fte_a``, ``fte_b``, ``fte_delta`` (changed rows only).
    """

    name_a: str
    name_b: str
    moved: pd.DataFrame
    loads: pd.DataFrame
    headline: pd.DataFrame
    hiring: pd.DataFrame

    @property
    def empty(self) -> bool:
        """True when B is the same plan as A."""
        return (self.moved.empty and self.loads.empty and self.hiring.empty
                and bool((self.headline["delta"] == 0).all()))

    def summary(self) -> str:
        """One screen: headline deltas, then the largest changes."""
        lines = [f"{self.name_b} compared with {self.name_a}", ""]
        for row, (_, label, fmt) in zip(self.headline.itertuples(), _METRICS, strict=True):
            sign = "+" if row.delta > 0 else ""
            lines.append(f"  {label:<22} {fmt.format(row.a):>10} -> {fmt.format(row.b):>10}"
                         f"   ({sign}{fmt.format(row.delta)})")
        lines.append("")
        lines.append(f"  {len(self.moved):,} student(s) change case manager; "
                     f"{len(self.loads):,} educator load(s) change")
        for r in self.moved.head(8).itertuples():
            lines.append(f"    {r.student_id}: {r.from_case_manager_id or '—'} -> "
                         f"{r.to_case_manager_id or 'unplaced'}")
        if len(self.moved) > 8:
            lines.append(f"    … and {len(self.moved) - 8:,} more")
        if not self.hiring.empty:
            lines.append("  Hiring needs changed:")
            for r in self.hiring.head(8).itertuples():
                where = r.school_id or f"region {r.region}"
                lines.append(f"    {where} {r.role} {r.credential}: {r.fte_a:.1f} -> "
                             f"{r.fte_b:.1f} FTE")
        return "\n".join(lines)


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
        Who changes case manager, whose load changes, the headline figures
        and the hiring needs of both plans side by side.

    Examples
    --------
    >>> c = compare(base, what_if, "base", "SLP resigns")    # doctest: +SKIP
    >>> print(c.summary())                                     # doctest: +SKIP
    """
    a, b = _tables(plan_a), _tables(plan_b)
    aa = a.assignments[["student_id", "school_id", "case_manager_id"]]
    bb = b.assignments[["student_id", "school_id", "case_manager_id", "reason"]]
    m = aa.merge(bb, on="student_id", how="outer", suffixes=("_a", "_b"))
    m = m.fillna({"case_manager_id_a": "", "case_manager_id_b": "", "reason": ""})
    changed = m[m["case_manager_id_a"] != m["case_manager_id_b"]]
    moved = pd.DataFrame({
        "student_id": changed["student_id"],
        "school_id": changed["school_id_b"].fillna(changed["school_id_a"]),
        "from_case_manager_id": changed["case_manager_id_a"],
        "to_case_manager_id": changed["case_manager_id_b"],
        "why": changed["reason"],
    }).sort_values("student_id", ignore_index=True)

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
    headline = pd.DataFrame([{"metric": k, "a": ma[k], "b": mb[k], "delta": mb[k] - ma[k]}
                             for k, _, _ in _METRICS])

    keys = ["school_id", "region", "role", "credential"]
    ha = a.hiring_needs.rename(columns={"students": "students_a", "fte": "fte_a"})
    hb = b.hiring_needs.rename(columns={"students": "students_b", "fte": "fte_b"})
    hiring = ha.merge(hb, on=keys, how="outer").fillna(
        {"students_a": 0, "students_b": 0, "fte_a": 0.0, "fte_b": 0.0})
    hiring["fte_delta"] = hiring["fte_b"] - hiring["fte_a"]
    hiring = hiring[(hiring["students_a"] != hiring["students_b"])].reset_index(drop=True)
    return Comparison(name_a, name_b, moved, loads, headline, hiring)
