"""Redaction: a plan's tables with every free-text field dropped or replaced.

Used by every output written with ``--redact`` (CSV tables, the workbook,
the report), so that nothing a planner typed about a person leaves the tool.
"""

from __future__ import annotations

import dataclasses

from optimizer.planning.result import LOCK_REASON, PlanTables

__all__ = ["redacted"]


def redacted(tables: PlanTables) -> PlanTables:
    """The same tables with every free-text field dropped or replaced.

    Educator names become the educator's id, student names are blanked; a
    lock's free-text reason
    (the last sentence of a ``reason`` cell, after ``Lock reason:``) becomes
    ``withheld``. Everything else in a plan is ids, codes and generated text.

    Examples
    --------
    >>> redacted(plan(district).tables()).caseloads["name"]   # doctest: +SKIP
    """
    cl = tables.caseloads.copy()
    if "name" in cl.columns:
        cl["name"] = cl["educator_id"]
    frames = {}
    for key in ("assignments", "unassigned", "services"):  # a service lock has a reason too
        frame = getattr(tables, key).copy()
        for col in ("reason", "reason_detail"):
            if col in frame.columns:
                frame[col] = frame[col].astype(str).map(_withhold_lock_reason)
        # Names for people reading the plan: a student's goes, an educator's
        # becomes their id (as in caseloads.csv).
        if "student_name" in frame.columns:
            frame["student_name"] = ""
        if "case_manager_name" in frame.columns:
            frame["case_manager_name"] = frame["case_manager_id"]
        frames[key] = frame
    audit = tables.audit.copy()
    if "detail" in audit.columns:
        audit["detail"] = audit["detail"].astype(str).map(_withhold_lock_reason)
    return dataclasses.replace(tables, caseloads=cl, audit=audit, **frames)


def _withhold_lock_reason(text: str) -> str:
    at = text.find(LOCK_REASON)  # the first: the planner's text cannot hide an earlier one
    return text if at < 0 else text[:at] + LOCK_REASON + "withheld"
