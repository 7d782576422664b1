"""Checks on the district.toml settings that change what the rules decide.

Three settings read a source in a way a district may not share, so each is
a district choice with a checked value (docs/data-contract.md):

* ``[support_level_rule] sdc_gen_ed_pct_below`` — the local default that
  derives a blank support level (no law sets it);
* ``[best_practice_rule] related_services_count`` — whether "only speech"
  means speech is the only service on the IEP (the CTC's words) or the only
  specialized one;
* ``[school_rule] region_roles`` / ``district_roles`` — roles that may
  case-manage, as coordinators, beyond the schools they serve.

Each bad value becomes one :class:`~optimizer.district.model.InputIssue` naming the key,
the value and what was expected; the bad key is dropped so the rest of the
district is still checked in the same pass. A cap a district sets is marked
``cap_kind = "district setting"`` so the plan's Summary says where it came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optimizer.district.model import InputIssue
from optimizer.rulepacks import RulePack

__all__ = ["check_rule_settings", "mark_district_caps"]

_LABEL = "district.toml"


def _problem(key: str, value: Any, expected: str) -> InputIssue:
    if isinstance(value, bool):
        value = "true" if value else "false"  # as written in TOML
    return InputIssue(_LABEL, None, key, str(value), expected)


def check_rule_settings(overrides: dict[str, Any], base: RulePack) -> list[InputIssue]:
    """Check the rule settings in ``overrides`` (district.toml tables); drop bad keys.

    Parameters
    ----------
    overrides
        The rule-pack tables a district.toml gives, changed in place: a key
        with a bad value is removed so the pack can still be built.
    base
        The rule pack the district starts from (for its role codes).

    Returns
    -------
    list of InputIssue
        One error per bad key, every one at once.

    Examples
    --------
    >>> from optimizer.rulepacks import load_rule_pack
    >>> over = {"support_level_rule": {"sdc_gen_ed_pct_below": 140}}
    >>> [p.column for p in check_rule_settings(over, load_rule_pack("ca"))]
    ['support_level_rule.sdc_gen_ed_pct_below']
    >>> over
    {'support_level_rule': {}}
    """
    out: list[InputIssue] = []
    tables: dict[str, Any] = {k: overrides[k] for k in
                              ("support_level_rule", "best_practice_rule",
                               "school_rule") if k in overrides}
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            out.append(_problem(name, table, "a table of settings (see docs/data-contract.md)"))
            del overrides[name]
    # A misspelt key would otherwise be ignored without a word.
    known: dict[str, set[str]] = {"support_level_rule": {"sdc_gen_ed_pct_below", "level_below",
                                                         "level_otherwise",
                                                    "source"},
                                  "best_practice_rule": {"related_services_count"}}
    for name, keys in known.items():
        table = overrides.get(name)
        if table is None:
            continue
        for key in sorted(set(table) - keys):
            out.append(_problem(f"{name}.{key}", table[key],
                                f"a known {name} key: {' or '.join(sorted(keys))}"))
        overrides[name] = {k: v for k, v in table.items() if k in keys}
    rule = overrides.get("support_level_rule")
    if rule is not None and "sdc_gen_ed_pct_below" in rule:
        v = rule["sdc_gen_ed_pct_below"]
        if (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                or not 0 <= v <= 100):
            out.append(_problem(
                "support_level_rule.sdc_gen_ed_pct_below", v,
                "a number from 0 to 100: the share of the day in general education under "
                "which a special day class student with a blank support_level is taken as "
                "extensive (0 never derives extensive; the pack's local default is 40)"))
            overrides["support_level_rule"] = {k: x for k, x in rule.items()
                                               if k != "sdc_gen_ed_pct_below"}
    bp = overrides.get("best_practice_rule")
    if bp is not None and "related_services_count" in bp:
        v = bp["related_services_count"]
        if not isinstance(v, bool):
            out.append(_problem(
                "best_practice_rule.related_services_count", v,
                "true (every service on the IEP counts: 'speech only' means only speech) "
                "or false (related services such as OT, PT, counseling are ignored)"))
            overrides["best_practice_rule"] = {k: x for k, x in bp.items()
                                               if k != "related_services_count"}
    school = overrides.get("school_rule")
    if school is not None:
        keep = dict(school)
        for key in ("region_roles", "district_roles"):
            if key not in school:
                continue
            v = school[key]
            if not isinstance(v, list) or not all(isinstance(r, str) for r in v):
                out.append(_problem(f"school_rule.{key}", v, "a list of role codes, e.g. "
                                    '["COORD"]'))
                del keep[key]
                continue
            bad = [r for r in v if r not in base.roles]
            for r in bad:
                out.append(_problem(f"school_rule.{key}", r,
                                    f"a role: one of {', '.join(base.roles)}"))
            if bad:
                keep[key] = [r for r in v if r in base.roles]
        for key in sorted(set(school) - {"region_roles", "district_roles"}):
            out.append(_problem(f"school_rule.{key}", school[key],
                                "a known school_rule key: region_roles or district_roles"))
            del keep[key]
        overrides["school_rule"] = keep
    return out


def mark_district_caps(overrides: dict[str, Any], base: RulePack) -> None:
    """Mark every cap district.toml changes as a district setting, with where to find it.

    A ``[roles.X] cap`` override that does not restate ``cap_kind`` gets
    ``cap_kind = "district setting"`` and a ``cap_source`` naming the key and
    what the rule pack says, so the plan's Summary never shows a district's
    own figure as law, nor hides the law it departs from.
    """
    for code, table in dict(overrides.get("roles", {})).items():
        if not isinstance(table, Mapping):
            continue
        table = dict(table)
        if "cap" in table and "cap_kind" not in table:  # a stated kind is checked by the pack
            table["cap_kind"] = "district setting"
            was = base.roles.get(code)
            pack_says = (f"; the rule pack's {was.cap} is {was.cap_kind}: {was.cap_source}"
                         if was is not None else "")
            table["cap_source"] = (table.get("cap_source")
                                   or f"district.toml: {code} cap = {table['cap']}{pack_says}")
        if "cap_if_only_preschool" in table and "cap_if_only_preschool_source" not in table:
            table["cap_if_only_preschool_source"] = (
                f"district.toml: {code} cap_if_only_preschool = {table['cap_if_only_preschool']}")
        overrides["roles"][code] = table
