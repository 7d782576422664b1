"""Readable summaries of validation and of the eligibility graph (text and dicts).

Nothing here prints or writes: functions return strings or plain dicts that
the CLI prints (or dumps as JSON) and notebooks display.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optimizer.district.model import District, InputIssue
from optimizer.district.suggest import nearest
from optimizer.graph import (
    component_summary,
    components_with_students,
    edge_counts,
    forbidden_edges,
    unplaceable_students,
)

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["WARNING_COLUMNS", "did_you_mean", "format_errors_first", "format_problems",
           "format_warnings_grouped",
           "group_problems", "warning_table", "graph_summary", "format_graph_summary",
           "format_table", "shortened"]


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'X'?`` for the nearest choices (same letters in another
    case first, then close spellings), or ``""`` when nothing is near.

    Examples
    --------
    >>> did_you_mean("s000042", ["S000042", "S000043"])
    " Did you mean 'S000042'?"
    >>> did_you_mean("pln", ["plan", "export", "graph"])
    " Did you mean 'plan'?"
    """
    choices = sorted(set(choices))
    # (Then as typed in capitals: ids are.)
    near = nearest(value, choices) or nearest(value.upper(), choices)
    if not near:
        return ""
    return " Did you mean " + " or ".join(f"'{c}'" for c in near) + "?"


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


def format_errors_first(problems: list[InputIssue], limit: int | None = 50) -> str:
    """The errors one per line (the first ``limit``), then the warnings
    grouped by kind (:func:`format_warnings_grouped`): the errors are what
    stops a run, and 50 warnings listed one by one scrolled them off screen.

    Examples
    --------
    >>> from optimizer.district.model import InputIssue
    >>> ps = [InputIssue("s.csv", 4, "grade", "13", "a grade code")] + [
    ...     InputIssue("s.csv", r, "cm", "E9", "an educator_id", "warning") for r in (2, 5)]
    >>> print(format_errors_first(ps))
    1 error:
      s.csv row 4, column grade: '13' — a grade code
    2 warnings of 1 kind:
      2 × s.csv, column cm: an educator_id
          e.g. s.csv row 2: 'E9'
    """
    errors = [p for p in problems if p.severity == "error"]
    text = format_problems(errors, limit)
    grouped = format_warnings_grouped([p for p in problems if p.severity == "warning"])
    return "\n".join(x for x in (text, grouped) if x)


#: ``warnings.csv`` of a plan folder: every warning about the district's files.
WARNING_COLUMNS = ["kind", "file", "row", "column", "value", "expected"]


def _kind(p: InputIssue) -> str:
    """What a problem is about, whatever its row or value: file, column and the
    expected text's first clause (up to ``:``, `` (`` or ``. ``) with its figures
    blanked (so "223 student(s)" and "12 student(s)" are one kind)."""
    where = p.file + (f", column {p.column}" if p.column else "")
    head = re.split(r":|\s\(|\.\s", p.expected, maxsplit=1)[0]
    return f"{where}: " + re.sub(r"\d[\d,.]*%?", "#", head)


def group_problems(problems: list[InputIssue]) -> list[tuple[str, list[InputIssue]]]:
    """Problems grouped by kind (:func:`_kind`), largest group first, then by kind.

    Examples
    --------
    >>> from optimizer.district.model import InputIssue
    >>> ps = [InputIssue("s.csv", r, "grade", "13", "a grade code", "warning") for r in (2, 3)]
    >>> [(k, len(g)) for k, g in group_problems(ps)]
    [('s.csv, column grade: a grade code', 2)]
    """
    groups: dict[str, list[InputIssue]] = {}
    for p in problems:
        groups.setdefault(_kind(p), []).append(p)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def shortened(text: str, limit: int) -> str:
    """``text`` for a terminal line of about ``limit`` characters: whole when it
    fits; else cut after a sentence if one ends between a third of ``limit``
    and half again as much (a planner reads a whole sentence, the examples
    after it are in warnings.csv; "e.g." ends none), else at the last word
    that fits; "…" marks the cut. Inside a word ("set in dist…") only where
    no space falls in the line's last two thirds.

    Examples
    --------
    >>> shortened("Short enough.", 20)
    'Short enough.'
    >>> shortened("One whole sentence here. Examples: a, b, c, d, e, f", 30)
    'One whole sentence here. …'
    >>> shortened("no sentence end in this rather long line of words", 30)
    'no sentence end in this …'
    """
    if len(text) <= limit:
        return text
    end = text.find(". ", limit // 3)
    while end >= 0 and text[:end + 1].endswith(("e.g.", "i.e.", "etc.")):
        end = text.find(". ", end + 2)
    if 0 <= end < limit * 3 // 2:
        return text[:end + 1] + " …"
    cut = text.rfind(" ", 0, limit - 1)
    return (text[:cut] if cut > limit // 3 else text[:limit - 1]) + " …"


def format_warnings_grouped(warnings: list[InputIssue], where: str = "") -> str:
    """Warnings as one line per kind: how many, and one example with its row.

    Examples
    --------
    >>> from optimizer.district.model import InputIssue
    >>> ps = [InputIssue("s.csv", r, "cm", "E9", "an educator_id", "warning") for r in (2, 5)]
    >>> print(format_warnings_grouped(ps))
    2 warnings of 1 kind:
      2 × s.csv, column cm: an educator_id
          e.g. s.csv row 2: 'E9'
    """
    if not warnings:
        return ""
    groups = group_problems(warnings)
    lines = [f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''} of "
             f"{len(groups)} kind{'s' if len(groups) != 1 else ''}"
             + (f" ({where})" if where else "") + ":"]
    for _kind_text, group in groups:
        example = shortened(str(group[0]), 300)
        if len(group) == 1:
            lines.append(f"  1 × {example}")
            continue
        first = group[0]
        at = first.file + (f" row {first.row}" if first.row is not None else "") + (
            f": '{first.value}'" if first.value is not None else "")
        what = (first.file + (f", column {first.column}" if first.column else "")
                + f": {first.expected}")
        lines.append(f"  {len(group)} × {shortened(what, 160)}")
        lines.append(f"      e.g. {at}")
    return "\n".join(lines)


def warning_table(warnings: list[InputIssue]) -> pd.DataFrame:
    """Every warning as a table (``warnings.csv``): by kind, then value, then row
    (so shuffled input rows change only the row numbers)."""
    rows = [{"kind": _kind(p), "file": p.file, "row": "" if p.row is None else p.row,
             "column": p.column or "", "value": "" if p.value is None else p.value,
             "expected": p.expected} for p in warnings]
    rows.sort(key=lambda r: (r["kind"], r["value"], r["expected"],
                             r["row"] if isinstance(r["row"], int) else -1))
    return pd.DataFrame(rows, columns=WARNING_COLUMNS)


def graph_summary(district: District, G: nx.Graph | None = None) -> dict[str, Any]:
    """Headline figures of the eligibility graph, as a plain dict (JSON-ready).

    ``G`` is not needed (the figures come from the edge arrays, fast at
    100,000 students); a graph from :func:`optimizer.graph.build_graph` is
    accepted and gives the same figures."""
    counts = edge_counts(district)
    n_components, largest = component_summary(district)
    by_cap, by_rank = counts["by_capacity"], counts["by_rank"]
    n_students = len(district.students)
    options = counts["best_rank"]
    taught = np.zeros(n_students, dtype=bool)
    taught[counts["taught"]] = True
    sai = np.array([bool(s.sai_setting) for s in district.students.values()], dtype=bool)
    unplaceable = unplaceable_students(district)
    return {
        "district": district.name,
        "rule_pack": district.rules.name,
        "students": n_students,
        "educators": len(district.educators),
        "case_manager_educators": counts["case_manager_educators"],
        "edges": counts["edges"],
        "edges_by_capacity": {k: int(v) for k, v in sorted(by_cap.items())},
        "edges_by_rank": {int(k): int(v) for k, v in sorted(by_rank.items())},
        "students_by_best_option": {
            "best_practice": options.get(0, 0),
            "teaches_or_serves": options.get(1, 0),
            "coordinator_only": options.get(2, 0),
            "no_eligible_case_manager": n_students - sum(options.values()),
        },
        "sai_students_without_authorized_teacher": int((sai & ~taught).sum()),
        "components": n_components,
        # The groups the planner solves on its own (summary.json "components"):
        # those holding a student with an option (and so an educator too).
        "components_with_students": components_with_students(district),
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
        f"  connected groups            {s['components']:>8,}  "
        f"(largest: {lc['students']:,} students, {lc['educators']:,} educators)",
        f"    of them with students     {s['components_with_students']:>8,}  (what the plan "
        "solves separately; the rest are single educators who may case-manage no one, "
        "or students no one may case-manage)",
        f"  pins / forbidden edges      {s['pins']:>8,} / {s['forbidden_edges']:,}",
        "",
        "  Best option each student has:",
        f"    best-practice match          {opt['best_practice']:>8,}",
        f"    acceptable (teaches/serves)  {opt['teaches_or_serves']:>8,}",
        f"    coordinator only             {opt['coordinator_only']:>8,}",
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
    lines.append(format_table(shown))
    if len(schools) > limit:
        lines.append(f"… and {len(schools) - limit} more schools (use --json for all)")
    return "\n".join(lines)

