"""Caseload optimizer: who case-manages each student with an IEP next year.

The public API, in the order a plan is made::

    from optimizer import load_district, build_graph, edge_table
    district = load_district("data/sample")   # read + validate (DistrictError lists all problems)
    G = build_graph(district)                 # bipartite eligibility graph (networkx)
    edges = edge_table(district)              # the same edges as a tidy DataFrame
    result = plan(district)                   # optimal plan: Result with tables + summary()
    check_plan(district, result.assignments)  # independent re-check: [] when clean
    check_service_plan(district, result.services, result.assignments)  # its providers too
    write_plan(result, "plan")                # the plan folder (CSV + summary.json)
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below load on first use (``__getattr__``)
    from optimizer.district.model import District, Educator, InputIssue, Lock, School, Student
    from optimizer.district.validate import DistrictError, check_district, load_district
    from optimizer.graph import (
        build_graph,
        components,
        edge_table,
        school_table,
        unplaceable_students,
    )
    from optimizer.outputs.export import write_plan
    from optimizer.planning.check import (
        Violation,
        audit_current,
        check_plan,
        check_service_plan,
    )
    from optimizer.planning.planner import plan
    from optimizer.planning.result import Result
    from optimizer.rulepacks import RulePack, load_rule_pack
    from optimizer.rules import Decision, Verdict, best_practice, decide, explain

__version__ = "0.1.0"

__all__ = [
    "Decision",
    "District",
    "DistrictError",
    "Educator",
    "Lock",
    "InputIssue",
    "Result",
    "RulePack",
    "School",
    "Student",
    "Verdict",
    "Violation",
    "audit_current",
    "best_practice",
    "build_graph",
    "check_plan",
    "check_service_plan",
    "check_district",
    "components",
    "decide",
    "edge_table",
    "explain",
    "load_district",
    "load_rule_pack",
    "plan",
    "school_table",
    "unplaceable_students",
    "write_plan",
]

#: Where each public name lives. Importing a submodule (``caseload graph``,
#: the HiGHS child process) then loads only what it needs, not the planner,
#: the workbook writer and OR-Tools (about a second at start-up).
_WHERE = {
    **dict.fromkeys(("District", "Educator", "InputIssue", "Lock", "School", "Student"),
                    "optimizer.district.model"),
    **dict.fromkeys(("DistrictError", "check_district", "load_district"),
                    "optimizer.district.validate"),
    **dict.fromkeys(("build_graph", "components", "edge_table", "school_table",
                     "unplaceable_students"), "optimizer.graph"),
    "write_plan": "optimizer.outputs.export",
    **dict.fromkeys(("Violation", "audit_current", "check_plan", "check_service_plan"),
                    "optimizer.planning.check"),
    "plan": "optimizer.planning.planner",
    "Result": "optimizer.planning.result",
    **dict.fromkeys(("RulePack", "load_rule_pack"), "optimizer.rulepacks"),
    **dict.fromkeys(("Decision", "Verdict", "best_practice", "decide", "explain"),
                    "optimizer.rules"),
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module when first asked for (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
