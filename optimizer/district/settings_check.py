"""Checking ``district.toml`` against the rule pack it overrides, key by key.

A district may override any table of its rule pack (docs/data-contract.md).
Before anything is merged, every override is checked here against the shape
of the shipped pack: an unknown key anywhere (``[objective] contnuity``,
``[roles.RSP] cpa``) is an error, every value must have the type the pack uses
for that key, and every number must be finite and in its documented range.
Each problem names the key (``roles.RSP.cap``), the value and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optimizer.district.model import InputIssue

__all__ = ["NUMBER_RANGES", "check_settings"]

LABEL = "district.toml"

#: Tables whose entries are named by the district (a role code, a credential …);
#: a new entry is allowed and must use the keys the pack's entries use.
_COLLECTIONS = ("disabilities", "services", "roles", "credentials")
#: Tables with a fixed set of keys (those in the pack). The rule settings
#: ([support_level_rule], [best_practice_rule], [school_rule]) are checked, with
#: their own messages, by :mod:`optimizer.district.rule_settings`.
_FIXED = ("pack", "objective", "rollover", "coordination")
#: Keys an entry of a collection may have though no shipped entry sets them.
_OPTIONAL_ENTRY_KEYS: dict[str, dict[str, Any]] = {"roles": {"minutes_capacity": 2400.0}}
#: Largest weekly minutes capacity: the minutes in a week.
_WEEK = 7 * 24 * 60

#: (low, high, whole number?) for numbers, by key path; ``*`` is any entry.
NUMBER_RANGES: dict[str, tuple[float, float, bool]] = {
    "caps.*": (0, 1000, True),
    "roles.*.cap": (0, 1000, True),
    "roles.*.cap_if_only_preschool": (0, 1000, True),
    "objective.*": (0, 1_000_000, False),
    "student_weights.*": (1e-9, 100, False),
    "roles.*.minutes_capacity": (1e-9, _WEEK, False),
    "minutes_capacity.*": (1e-9, _WEEK, False),
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text in quotes"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) for v in value):
            return "a list of tables"
        if all(isinstance(v, str) for v in value):
            return "a list of texts in quotes"
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return "a list of numbers"
        return "a list"
    return type(value).__name__


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


class _Checker:
    def __init__(self, out: list[InputIssue]) -> None:
        self.out = out

    def bad(self, key: str, value: Any, expected: str) -> None:
        self.out.append(InputIssue(LABEL, None, key, None if value is None else _show(value),
                                expected))

    def number_range(self, key: str, pattern: str, value: Any) -> None:
        lo, hi, whole = NUMBER_RANGES[pattern]
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue  # a type problem, reported by the caller
            if whole and not isinstance(v, int):
                self.bad(key, value, f"a whole number from {_fmt(lo)} to {_fmt(hi)}")
                return
            if not (math.isfinite(v) and lo <= v <= hi):
                span = (f"above 0 and at most {_fmt(hi)}" if lo == 1e-9 else
                        f"from {_fmt(lo)} to {_fmt(hi)}")
                self.bad(key, value, f"a {'whole' if whole else 'finite'} number {span}")
                return

    def like(self, key: str, value: Any, examples: list[Any]) -> bool:
        """``value`` has the kind the pack uses for this key (from ``examples``)."""
        kinds = {_kind(e) for e in examples}
        got = _kind(value)
        if got in kinds or (isinstance(value, list) and not value and
                            any(k.startswith("a list") for k in kinds)):
            return True
        self.bad(key, value, " or ".join(sorted(kinds)))
        return False

    def table(self, key: str, value: Any, base: Mapping[str, Any],
              ranges: str | None = None) -> None:
        """A table with a fixed set of keys: those of ``base``."""
        if not isinstance(value, Mapping):
            self.bad(key, value, "a table ([" + key + "] with keys " + ", ".join(base) + ")")
            return
        for k, v in value.items():
            where = f"{key}.{k}"
            if k not in base:
                self.bad(where, None, f"a known key in [{key}]: " + ", ".join(base))
            elif self.like(where, v, [base[k]]):
                self.range_of(where, f"{ranges or key}.{k}", v)

    def range_of(self, key: str, pattern: str, value: Any) -> None:
        parts = pattern.split(".")
        for p in NUMBER_RANGES:
            q = p.split(".")
            if len(q) == len(parts) and all(a in ("*", b) for a, b in zip(q, parts, strict=True)):
                self.number_range(key, p, value)
                return

    def entries(self, key: str, value: Any, base: Mapping[str, Any],
                optional: Mapping[str, Any] | None = None) -> None:
        """A table of named entries (roles, credentials …): each a table whose keys
        are among those the pack's entries use, each of the same kind."""
        if not isinstance(value, Mapping):
            self.bad(key, value, f"a table of entries ([{key}.NAME] tables)")
            return
        examples: dict[str, list[Any]] = {}
        for entry in base.values():
            for k, v in entry.items():
                examples.setdefault(k, []).append(v)
        for k, v in (optional or {}).items():
            examples.setdefault(k, []).append(v)
        for name, entry in value.items():
            where = f"{key}.{name}"
            if not isinstance(entry, Mapping):
                self.bad(where, entry, f"a table [{where}] with keys such as "
                         + ", ".join(list(examples)[:6]))
                continue
            for k, v in entry.items():
                if k not in examples:
                    self.bad(f"{where}.{k}", None,
                             f"a known key for an entry of [{key}]: " + ", ".join(examples))
                elif self.like(f"{where}.{k}", v, examples[k]):
                    if isinstance(v, Mapping):  # category_support, conditional: lists of codes
                        for sub, codes in v.items():
                            if not (isinstance(codes, list) and
                                    all(isinstance(c, str) for c in codes)):
                                self.bad(f"{where}.{k}.{sub}", codes, "a list of codes")
                    self.range_of(f"{where}.{k}", f"{key}.*.{k}", v)


def _primary_needs(c: _Checker, value: Any, pack: Mapping[str, Any],
                   settings: Mapping[str, Any]) -> None:
    """``[primary_need_services]``: category = [services], codes from the pack
    (or added by the same district.toml)."""
    if not isinstance(value, Mapping):
        c.bad("primary_need_services", value, "a table: one line per low-incidence category, "
              'e.g. HH = ["DHH"]')
        return
    def named(table: str) -> set[str]:
        added = settings.get(table, {})
        return set(pack.get(table, {})) | (set(added) if isinstance(added, Mapping) else set())

    categories, services = named("disabilities"), named("services")
    for cat, listed in value.items():
        where = f"primary_need_services.{cat}"
        if cat not in categories:
            c.bad(where, cat, "a disability category: one of " + ", ".join(sorted(categories)))
        elif not (isinstance(listed, list) and listed and all(isinstance(v, str)
                                                                for v in listed)):
            c.bad(where, listed, 'a non-empty list of service codes in quotes, e.g. ["DHH"]')
        else:
            for v in listed:
                if v not in services:
                    c.bad(where, v, "a service: one of " + ", ".join(sorted(services)))


def check_settings(settings: Mapping[str, Any], pack: Mapping[str, Any]) -> list[InputIssue]:
    """Every problem in a district's ``district.toml`` against the shipped ``pack``.

    Parameters
    ----------
    settings
        The parsed ``district.toml``.
    pack
        The parsed rule pack it overrides (``tomllib.loads`` of the pack file).

    Returns
    -------
    list[InputIssue]
        Empty when every key is known and every value usable.

    Examples
    --------
    >>> import tomllib
    >>> from optimizer.rulepacks import rule_pack_text
    >>> pack = tomllib.loads(rule_pack_text("ca"))
    >>> [p.column for p in check_settings({"objective": {"contnuity": 5}}, pack)]
    ['objective.contnuity']
    >>> [p.expected for p in check_settings({"caps": {"RSP": float("inf")}}, pack)]
    ['a whole number from 0 to 1,000']
    """
    out: list[InputIssue] = []
    c = _Checker(out)
    for key, value in settings.items():
        if key in ("name", "rule_pack"):
            if not isinstance(value, str):
                c.bad(key, value, "text in quotes")
        elif key == "caps":
            if not isinstance(value, Mapping):
                c.bad(key, value, "a table: [caps] with one line per role, e.g. RSP = 28")
                continue
            for role, cap in value.items():
                if isinstance(cap, bool) or not isinstance(cap, int):
                    c.bad(f"caps.{role}", cap, "a whole number from 0 to 1,000")
                else:
                    c.number_range(f"caps.{role}", "caps.*", cap)
        elif key in ("coordinating_roles", "case_manager_roles"):
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                c.bad(key, value, "a list of role codes in quotes, e.g. [\"RSP\", \"SDC\"]")
        elif key in _COLLECTIONS:
            c.entries(key, value, pack.get(key, {}), _OPTIONAL_ENTRY_KEYS.get(key))
        elif key == "plan_services":
            if not isinstance(value, bool):
                c.bad(key, value, "true or false: whether the plan chooses service providers "
                      "too (services.csv being given also turns it on)")
        elif key == "minutes_capacity":
            if not isinstance(value, Mapping):
                c.bad(key, value, "a table: [minutes_capacity] with one line per role, "
                      "e.g. SLP = 2100 (IEP minutes per week for 1.0 FTE)")
                continue
            for role, minutes in value.items():
                if isinstance(minutes, bool) or not isinstance(minutes, int | float):
                    c.bad(f"minutes_capacity.{role}", minutes,
                          f"IEP minutes per week for 1.0 FTE: a number above 0 and at most "
                          f"{_fmt(_WEEK)}")
                else:
                    c.number_range(f"minutes_capacity.{role}", "minutes_capacity.*", minutes)
        elif key == "primary_need_services":
            _primary_needs(c, value, pack, settings)
        elif key in _FIXED:
            c.table(key, value, pack.get(key, {}))
        elif key == "student_weights":
            levels = pack.get("pack", {}).get("support_levels", [])
            c.table(key, value, {"default": 1.0, **{lv: 1.0 for lv in levels}})
        elif key == "best_practice":
            if not (isinstance(value, list) and all(isinstance(v, Mapping) for v in value)):
                c.bad(key, value, "a list of tables ([[best_practice]] entries)")
                continue
            base = {f"{i}": row for i, row in enumerate(pack.get(key, []))}
            c.entries(key, {f"{i}": row for i, row in enumerate(value)}, base)
    objective = settings.get("objective")
    if isinstance(objective, Mapping) and isinstance(objective.get("rank"), list) \
            and len(objective["rank"]) != 3:
        c.bad("objective.rank", objective["rank"], "three numbers: points for ranks 0, 1, 2")
    return out
