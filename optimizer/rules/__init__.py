"""The credential rules: one function per rule, each a planner-readable verdict.

The tables the rules read are in the rule pack (:mod:`optimizer.rulepacks`);
this package holds the logic and no codes of its own.
"""

from optimizer.rules.eligibility import (
    CAPACITIES,
    RULES,
    Decision,
    RuleCache,
    Verdict,
    authorized_for_disability,
    authorized_for_grade,
    authorized_for_support_level,
    best_practice,
    decide,
    explain,
    holds_case_manager_credential,
    holds_service_credential,
    may_case_manage,
    may_coordinate,
    provides_iep_service,
    reaches_school,
    rule_cache,
    serves_school,
    teaches_sai_setting,
)

__all__ = [
    "CAPACITIES",
    "RULES",
    "Decision",
    "RuleCache",
    "Verdict",
    "authorized_for_disability",
    "authorized_for_grade",
    "authorized_for_support_level",
    "best_practice",
    "decide",
    "explain",
    "holds_case_manager_credential",
    "holds_service_credential",
    "may_case_manage",
    "may_coordinate",
    "provides_iep_service",
    "reaches_school",
    "rule_cache",
    "serves_school",
    "teaches_sai_setting",
]
