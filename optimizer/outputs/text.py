"""Readable summaries of validation and of the eligibility graph (text and dicts).

Nothing here prints or writes: functions return strings or plain dicts that
the CLI prints (or dumps as JSON) and notebooks display.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import networkx as nx
import pandas as pd

from optimizer.district.model import District, InputIssue
from optimizer.graph import (
    component_summary,
    edge_table,
    forbidden_edges,
    unplaceable_students,
)

__all__ = ["format_problems", "graph_summary", "format_graph_summary", "format_table"]


def format_problems(problems: list[InputIssue], limit: int | None = None) -> str:
    """Errors first, then warnings, each on one line with file, row, column and value.

    Examples
    --------
    >>> from optimizer.district.model import InputIssue
    >>> print(format_problems([InputIssue("students.csv", 4, "grade", "13", "a grade code")]))
    1 error:
      students.csv row 4, column grade: '13' — a grade code
    """
    lines = []
    for severity, title in (("error", "error"), ("warning", "warning")):
        group = [p for p in problems if p.severity == severity]
        if not group:
            continue
        lines.append(f"{len(group)} {title}{'s' if len(group) != 1 else ''}:")
        shown = group if limit is None else group[:limit]
        lines.extend(f"  {p}" for p in shown)
        if len(shown) < len(group):
            lines.append(f"  … and {len(group) - len(shown)} more (use --all to see them)")
    return "\n".join(lines)


def graph_summary(district: District, G: nx.Graph | None = None) -> dict[str, Any]:
    """Headline figures of the eligibility graph, as a plain dict (JSON-ready).

    ``G`` is not needed (the figures come from the edge arrays, fast at
    100,000 students); a graph from :func:`optimizer.graph.build_graph` is
    accepted and gives the same figures."""
    edges = edge_table(district)
    n_components, largest = component_summary(district)
    by_cap = edges.groupby("capacity", observed=True).size().to_dict()
    by_rank = edges.groupby("rank").size().to_dict()
    best_rank = edges.groupby("student_id")["rank"].min()
    n_students = len(district.students)
    options = Counter(int(r) for r in best_rank)
    sai_students = {s.student_id for s in district.students.values() if s.sai_setting}
    taught = set(edges.loc[edges["capacity"] == "instruction", "student_id"])
    unplaceable = unplaceable_students(district)
    return {
        "district": district.name,
        "rule_pack": district.rules.name,
        "students": n_students,
        "educators": len(district.educators),
        "case_manager_educators": int(edges["educator_id"].nunique()),
        "edges": len(edges),
        "edges_by_capacity": {k: int(v) for k, v in sorted(by_cap.items())},
        "edges_by_rank": {int(k): int(v) for k, v in sorted(by_rank.items())},
        "students_by_best_option": {
            "best_practice": options.get(0, 0),
            "teaches_or_serves": options.get(1, 0),
            "coordinator_only": options.get(2, 0),
            "no_eligible_case_manager": n_students - len(best_rank),
        },
        "sai_students_without_authorized_teacher": len(sai_students - taught),
        "components": n_components,
        "largest_component": largest,
        "forbidden_edges": len(forbidden_edges(district)),
        "pins": len(district.pins),
        "unplaceable": unplaceable,
        "warnings": len(district.warnings),
    }


def format_table(frame: pd.DataFrame) -> str:
    """A DataFrame as aligned plain text (no index)."""
    return frame.to_string(index=False)


def format_graph_summary(summary: dict, schools: pd.DataFrame, limit: int = 20) -> str:
    """The ``caseload graph`` terminal report."""
    s = summary
    opt = s["students_by_best_option"]
    lc = s["largest_component"]
    lines = [
        f"Eligibility graph — {s['district']} (rule pack {s['rule_pack']})",
        "",
        f"  students                    {s['students']:>8,}",
        f"  educators                   {s['educators']:>8,}  "
        f"({s['case_manager_educators']:,} may case-manage someone)",
        f"  eligible edges              {s['edges']:>8,}  "
        + ", ".join(f"{k} {v:,}" for k, v in s["edges_by_capacity"].items()),
        f"  components                  {s['components']:>8,}  "
        f"(largest: {lc['students']:,} students, {lc['educators']:,} educators)",
        f"  pins / forbidden edges      {s['pins']:>8,} / {s['forbidden_edges']:,}",
        "",
        "  Best option each student has:",
        f"    best-practice case manager   {opt['best_practice']:>8,}",
        f"    teaches or serves (rank 1)   {opt['teaches_or_serves']:>8,}",
        f"    coordinator only (rank 2)    {opt['coordinator_only']:>8,}",
        f"    no eligible case manager     {opt['no_eligible_case_manager']:>8,}",
        f"  Students with SAI whose teachers' credentials do not cover them: "
        f"{s['sai_students_without_authorized_teacher']:,}",
        "",
    ]
    un = s["unplaceable"]
    if un:
        lines.append(f"Students with no eligible case manager ({len(un)}):")
        for u in un[:limit]:
            lines.append(f"  {u['student_id']} at {u['school_id']}: {u['summary']}")
            for c in u["candidates"]:
                lines.append(f"      {c['educator_id']} ({c['role']}): "
                             + "; ".join(c["why_not"]))
        if len(un) > limit:
            lines.append(f"  … and {len(un) - limit} more (use --json for all)")
        lines.append("")
    lines.append("Per school:")
    shown = schools.head(limit) if len(schools) > limit else schools
    lines.append(format_table(shown.drop(columns=["name"])))
    if len(schools) > limit:
        lines.append(f"… and {len(schools) - limit} more schools (use --json for all)")
    return "\n".join(lines)

