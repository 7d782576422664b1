"""Rule packs: every code, credential authorization, cap and preference as data.

The lowest layer: it imports nothing else from the project. ``ca.toml`` is
California's pack; a district's ``district.toml`` overrides its tables.
"""

from optimizer.rulepacks.pack import (
    MAX_WEEKLY_MINUTES,
    BestPracticeRow,
    Credential,
    Disability,
    Role,
    RulePack,
    RulePackError,
    Service,
    available_rule_packs,
    load_rule_pack,
    rule_pack_text,
)

__all__ = [
    "MAX_WEEKLY_MINUTES",
    "BestPracticeRow",
    "Credential",
    "Disability",
    "Role",
    "RulePack",
    "RulePackError",
    "Service",
    "available_rule_packs",
    "load_rule_pack",
    "rule_pack_text",
]
