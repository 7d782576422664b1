"""The rule pack: every code, credential authorization, cap and preference as data.

A rule pack is a TOML file (``optimizer/rulepacks/ca.toml`` for California). A
district's ``district.toml`` may override any table of it with the same keys;
the merged result is a frozen :class:`RulePack` that the validator, the rules
engine and the optimizer read. No credential or code table lives anywhere else.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

__all__ = [
    "Credential",
    "Disability",
    "BestPracticeRow",
    "Role",
    "RulePack",
    "Service",
    "RulePackError",
    "CAP_KINDS",
    "MAX_WEEKLY_MINUTES",
    "available_rule_packs",
    "load_rule_pack",
    "rule_pack_text",
]


#: What a role's cap rests on (``cap_kind`` in the pack; "district setting"
#: when district.toml changed it).
CAP_KINDS = ("law", "law: average", "local default", "district setting")


class RulePackError(ValueError):
    """A rule pack or a district override that cannot be used, with the key at fault."""


@dataclass(frozen=True, slots=True)
class Disability:
    abbr: str
    code: str
    name: str
    low_incidence: bool
    never_secondary: bool
    grades: frozenset[str] | None  # None: every grade


@dataclass(frozen=True, slots=True)
class Service:
    name_code: str
    codes: tuple[str, ...]
    name: str
    kind: str  # "instruction" | "specialized" | "related"
    credentials: frozenset[str]


@dataclass(frozen=True, slots=True)
class Role:
    code: str
    name: str
    teaches: str | None  # SAI setting delivered: "rsp", "sdc" or None
    provides: frozenset[str]
    case_manager: bool
    coordinates: bool
    cap: int
    cap_source: str
    cap_if_only_preschool: int | None
    itinerant: bool = False
    cap_kind: str = "local default"  # one of CAP_KINDS
    cap_if_only_preschool_source: str = ""
    # IEP minutes per week a full-time provider of this role can serve (None:
    # no workload limit); prorated by FTE like the cap (issue 10).
    minutes_capacity: float | None = None

    @property
    def cap_if_only_preschool_kind(self) -> str:
        """The preschool cap's kind, as :attr:`cap_kind` names the role's:
        ``district setting`` (set in district.toml), ``law`` (a source given)
        or ``local default``."""
        src = self.cap_if_only_preschool_source
        return ("district setting" if src.startswith("district.toml") else
                "law" if src else "local default")


@dataclass(frozen=True, slots=True)
class Credential:
    code: str
    name: str
    teaching: bool
    adds_to_teaching: bool
    categories: frozenset[str]
    support_levels: frozenset[str]
    grades: frozenset[str]
    settings: frozenset[str] | None  # None: any SAI setting
    category_support: Mapping[str, frozenset[str]]
    conditional: Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class BestPracticeRow:
    label: str
    role: str
    sai_setting: str | None
    specialized: frozenset[str] | None
    source: str = "local default (no source given)"


# eq=False: identity hashing, so engines can cache per pack.
@dataclass(frozen=True, eq=False)
class RulePack:
    """The merged, validated rule tables (immutable).

    Examples
    --------
    >>> pack = load_rule_pack("ca")
    >>> pack.roles["RSP"].cap
    28
    >>> pack.disability_of("320")
    'AUT'
    """

    name: str
    title: str
    grades: tuple[str, ...]
    #: Grade of preschool (ages 3-5): moves on by age, not grade by grade.
    preschool_grade: str
    #: Last grade of school: then a student leaves, or goes to adult transition.
    last_school_grade: str
    #: Grade of the adult transition program (after the last school grade).
    adult_transition_grade: str
    #: Rollover: grade -> age on the first day of school that moves a
    #: preschooler on to it, oldest first.
    preschool_moves_on: Mapping[str, int]
    #: Rollover: age at which adult transition ends.
    adult_transition_ends_at_age: int
    support_levels: tuple[str, ...]
    disabilities: Mapping[str, Disability]
    services: Mapping[str, Service]
    roles: Mapping[str, Role]
    credentials: Mapping[str, Credential]
    best_practice: tuple[BestPracticeRow, ...]
    sdc_extensive_below_pct: float
    #: Support level given when support_level is blank: SDC under the share above ...
    derived_level_below: str
    #: ... and every other student.
    derived_level_otherwise: str
    default_weight: float
    weight_by_support_level: Mapping[str, float]
    objective: Mapping[str, Any]
    raw: Mapping[str, Any]
    # How best-practice `specialized` lists match: True counts every service on
    # the IEP (the CTC's "only receiving speech therapy", read literally);
    # False ignores related services ([best_practice_rule]).
    related_services_count: bool = True
    # Roles that may case-manage (as coordinators) beyond the schools they
    # serve: within their regions, or anywhere in the district ([school_rule]).
    region_roles: frozenset[str] = frozenset()
    district_roles: frozenset[str] = frozenset()
    # Whether a coordinator needs some education specialist or service
    # credential (rules.may_coordinate, in every plan; off by default), and
    # per low-incidence disability the services that address it (a student
    # placed under the secondary disability should have one of them).
    coordinator_needs_credential: bool = False
    primary_need_services: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Lookups built once from the tables above (not arguments).
    _grade_pos: Mapping[str, int] = field(init=False, repr=False)
    _disability_alias: Mapping[str, str] = field(init=False, repr=False)
    _service_alias: Mapping[str, str] = field(init=False, repr=False)
    _instruction: tuple[str, ...] = field(init=False, repr=False)

    # -- lookups used by the validator ---------------------------------
    def grade_index(self, grade: str) -> int:
        """Position of a grade code in the grade order (PK first, A last)."""
        return self._grade_pos[grade]

    @property
    def instruction_services(self) -> tuple[str, ...]:
        """The services that are specialized academic instruction (``kind = "instruction"``)."""
        return self._instruction  # (asked once a service row: 230,000 times at 100,000)

    def disability_of(self, value: str) -> str | None:
        """Abbreviation for a CALPADS code or abbreviation, or None if unknown."""
        return self._disability_alias.get(value.strip().upper())

    def service_of(self, value: str) -> str | None:
        """Service name for a service name or CALPADS code, or None if unknown."""
        return self._service_alias.get(value.strip().upper())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_grade_pos", {g: i for i, g in enumerate(self.grades)})
        alias: dict[str, str] = {}
        for abbr, d in self.disabilities.items():
            alias[abbr.upper()] = abbr
            alias[d.code] = abbr
        object.__setattr__(self, "_disability_alias", alias)
        salias: dict[str, str] = {}
        for name, s in self.services.items():
            salias[name.upper()] = name
            for c in s.codes:
                salias[c] = name
        object.__setattr__(self, "_service_alias", salias)
        object.__setattr__(self, "_instruction", tuple(
            n for n, s in self.services.items() if s.kind == "instruction"))


def available_rule_packs() -> list[str]:
    """Names of the rule packs shipped with the tool (``optimizer/rulepacks/*.toml``).

    The packs are package data, read through :mod:`importlib.resources`; the
    planner's own files are read only by :mod:`optimizer.district.reader`.

    Examples
    --------
    >>> "ca" in available_rule_packs()
    True
    """
    folder = resources.files("optimizer.rulepacks")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def rule_pack_text(name: str) -> str:
    """The TOML text of a shipped rule pack."""
    return (resources.files("optimizer.rulepacks") / f"{name}.toml").read_text("utf-8")


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    # Tables merge key by key so a district can change one cap without
    # restating the role; any other value (lists included) is replaced whole.
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _frozen(values: Any, where: str) -> frozenset[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RulePackError(f"{where}: expected a list of codes, got {values!r}")
    return frozenset(values)


def _code_lists(table: Mapping[str, Any], key: str, where: str) -> Mapping[str, frozenset[str]]:
    """``credentials.X.category_support`` / ``.conditional``: a table of code lists.

    Checked here too (not only by the district.toml check) because a notebook
    may pass overrides straight to :func:`load_rule_pack`.
    """
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise RulePackError(f"{where}.{key}: expected a table of code lists, got {value!r}")
    return MappingProxyType({k: _frozen(v, f"{where}.{key}") for k, v in value.items()})


def _need(table: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in table:
        raise RulePackError(f"{where}: missing key '{key}'")
    value = table[key]
    if not isinstance(value, kind):
        raise RulePackError(f"{where}.{key}: expected {kind}, got {value!r}")
    return value


def load_rule_pack(name: str = "ca", overrides: Mapping[str, Any] | None = None) -> RulePack:
    """Load a shipped rule pack and apply a district's overrides.

    Parameters
    ----------
    name
        Rule pack name (``"ca"``).
    overrides
        Tables from ``district.toml`` with the same keys as the pack, merged
        table by table (a list replaces the pack's list).

    Returns
    -------
    RulePack

    Raises
    ------
    RulePackError
        Unknown pack, or a table that is missing a key or refers to an unknown code.

    Examples
    --------
    >>> load_rule_pack("ca", {"roles": {"RSP": {"cap": 32}}}).roles["RSP"].cap
    32
    """
    if name not in available_rule_packs():
        raise RulePackError(
            f"unknown rule pack '{name}': expected one of {', '.join(available_rule_packs())}"
        )
    raw = _merge(tomllib.loads(rule_pack_text(name)), overrides or {})
    return _build(raw)


def _build(raw: Mapping[str, Any]) -> RulePack:
    pack = _need(raw, "pack", "rule pack", dict)
    grades = tuple(_need(pack, "grades", "pack", list))
    support_levels = tuple(_need(pack, "support_levels", "pack", list))
    grade_set = set(grades)
    named_grades = {}
    for key in ("preschool_grade", "last_school_grade", "adult_transition_grade"):
        named_grades[key] = _need(pack, key, "pack", str)
        if named_grades[key] not in grade_set:
            raise RulePackError(f"pack.{key}: expected one of pack.grades, "
                                f"got {named_grades[key]!r}")
    rollover = _need(raw, "rollover", "rule pack", dict)
    moves_on = _need(rollover, "preschool_moves_on", "rollover", dict)
    for g, age in moves_on.items():
        if g not in grade_set or isinstance(age, bool) or not isinstance(age, int):
            raise RulePackError(f"rollover.preschool_moves_on: expected grade = age in years, "
                                f"got {g} = {age!r}")
    ends_at = _need(rollover, "adult_transition_ends_at_age", "rollover", int)

    disabilities = {}
    for abbr, t in _need(raw, "disabilities", "rule pack", dict).items():
        where = f"disabilities.{abbr}"
        g = t.get("grades")
        if g is not None and not set(g) <= grade_set:
            raise RulePackError(f"{where}.grades: unknown grade in {g!r}")
        disabilities[abbr] = Disability(
            abbr=abbr,
            code=str(_need(t, "code", where, str)),
            name=_need(t, "name", where, str),
            low_incidence=bool(_need(t, "low_incidence", where, bool)),
            never_secondary=bool(t.get("never_secondary", False)),
            grades=None if g is None else frozenset(g),
        )

    credentials = {}
    for code, t in _need(raw, "credentials", "rule pack", dict).items():
        where = f"credentials.{code}"
        cats = _frozen(t.get("categories", []), f"{where}.categories")
        if not cats <= disabilities.keys():
            raise RulePackError(f"{where}.categories: unknown category in {sorted(cats)}")
        teaching = bool(t.get("teaching", False))
        credentials[code] = Credential(
            code=code,
            name=_need(t, "name", where, str),
            teaching=teaching,
            adds_to_teaching=bool(t.get("adds_to_teaching", False)),
            categories=cats,
            support_levels=_frozen(t.get("support_levels", list(support_levels)), where),
            grades=_frozen(t.get("grades", list(grades)), f"{where}.grades"),
            settings=None if "settings" not in t else _frozen(t["settings"], where),
            category_support=_code_lists(t, "category_support", where),
            conditional=_code_lists(t, "conditional", where),
        )

    services = {}
    for sname, t in _need(raw, "services", "rule pack", dict).items():
        where = f"services.{sname}"
        kind = _need(t, "kind", where, str)
        if kind not in ("instruction", "specialized", "related"):
            raise RulePackError(f"{where}.kind: expected instruction, specialized or related")
        creds = _frozen(t.get("credentials", []), f"{where}.credentials")
        if not creds <= credentials.keys():
            raise RulePackError(f"{where}.credentials: unknown credential in {sorted(creds)}")
        services[sname] = Service(
            name_code=sname,
            codes=tuple(str(c) for c in t.get("codes", [])),
            name=_need(t, "name", where, str),
            kind=kind,
            credentials=creds,
        )

    roles = {}
    for rcode, t in _need(raw, "roles", "rule pack", dict).items():
        where = f"roles.{rcode}"
        provides = _frozen(t.get("provides", []), f"{where}.provides")
        if not provides <= services.keys():
            raise RulePackError(f"{where}.provides: unknown service in {sorted(provides)}")
        teaches = t.get("teaches")
        if teaches not in (None, "rsp", "sdc"):
            raise RulePackError(f"{where}.teaches: expected rsp or sdc, got {teaches!r}")
        cap = _need(t, "cap", where, int)
        if cap < 0:
            raise RulePackError(f"{where}.cap: expected a whole number >= 0, got {cap}")
        cap_kind = t.get("cap_kind", "local default")
        if cap_kind not in CAP_KINDS:
            raise RulePackError(f"{where}.cap_kind: expected one of "
                                f"{', '.join(CAP_KINDS)}, got {cap_kind!r}")
        roles[rcode] = Role(
            code=rcode,
            name=_need(t, "name", where, str),
            teaches=teaches,
            provides=provides,
            case_manager=bool(_need(t, "case_manager", where, bool)),
            coordinates=bool(_need(t, "coordinates", where, bool)),
            cap=cap,
            cap_source=str(t.get("cap_source", "")),
            cap_if_only_preschool=t.get("cap_if_only_preschool"),
            itinerant=bool(t.get("itinerant", False)),
            cap_kind=cap_kind,
            cap_if_only_preschool_source=str(t.get("cap_if_only_preschool_source", "")),
            minutes_capacity=_minutes_capacity(t.get("minutes_capacity"), where),
        )

    best = []
    for i, t in enumerate(raw.get("best_practice", [])):
        where = f"best_practice[{i}]"
        role = _need(t, "role", where, str)
        if role not in roles:
            raise RulePackError(f"{where}.role: unknown role '{role}'")
        spec = t.get("specialized")
        best.append(
            BestPracticeRow(
                label=str(t.get("label", role)),
                role=role,
                sai_setting=t.get("sai_setting"),
                specialized=None if spec is None else _frozen(spec, where),
                source=str(t.get("source", "local default (no source given)")),
            )
        )

    level_rule = raw.get("support_level_rule", {})
    derived = {}
    for key in ("level_below", "level_otherwise"):
        derived[key] = _need(level_rule, key, "support_level_rule", str)
        if derived[key] not in support_levels:
            raise RulePackError(f"support_level_rule.{key}: expected a support level "
                                f"({', '.join(support_levels)}), got {derived[key]!r}")

    weights = raw.get("student_weights", {})
    for key, value in weights.items():
        if key != "default" and key not in support_levels:
            raise RulePackError(f"student_weights.{key}: expected 'default' or a support level "
                                f"({', '.join(support_levels)})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise RulePackError(f"student_weights.{key}: expected a positive number, "
                                f"got {value!r}")
    return RulePack(
        name=str(pack.get("name", "custom")),
        title=str(pack.get("title", "")),
        grades=grades,
        preschool_grade=named_grades["preschool_grade"],
        last_school_grade=named_grades["last_school_grade"],
        adult_transition_grade=named_grades["adult_transition_grade"],
        preschool_moves_on=MappingProxyType(
            dict(sorted(moves_on.items(), key=lambda kv: -kv[1]))),
        adult_transition_ends_at_age=ends_at,
        support_levels=support_levels,
        disabilities=MappingProxyType(disabilities),
        services=MappingProxyType(services),
        roles=MappingProxyType(roles),
        credentials=MappingProxyType(credentials),
        best_practice=tuple(best),
        sdc_extensive_below_pct=sdc_threshold(raw.get("support_level_rule", {})),
        derived_level_below=derived["level_below"],
        derived_level_otherwise=derived["level_otherwise"],
        default_weight=float(weights.get("default", 1.0)),
        weight_by_support_level=MappingProxyType(
            {lv: float(weights[lv]) for lv in support_levels if lv in weights}),
        objective=MappingProxyType(dict(raw.get("objective", {}))),
        raw=MappingProxyType(dict(raw)),
        related_services_count=_flag(raw.get("best_practice_rule", {}),
                                     "related_services_count", "best_practice_rule", True),
        region_roles=_role_list(raw.get("school_rule", {}), "region_roles", roles),
        district_roles=_role_list(raw.get("school_rule", {}), "district_roles", roles),
        coordinator_needs_credential=_flag(raw.get("coordination", {}), "needs_credential",
                                           "coordination", False),
        primary_need_services=_primary_needs(raw.get("primary_need_services", {}),
                                             disabilities, services),
    )


def sdc_threshold(table: Mapping[str, Any]) -> float:
    """``[support_level_rule] sdc_gen_ed_pct_below``: a finite number from 0 to 100.

    Raises
    ------
    RulePackError
        Not a number (booleans and text included), not finite, or out of range.
    """
    value = table.get("sdc_gen_ed_pct_below", 40)
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 <= value <= 100):
        raise RulePackError(
            f"support_level_rule.sdc_gen_ed_pct_below: expected a number from 0 to 100 "
            f"(the share of the day in general education under which an SDC student is "
            f"taken as extensive), got {value!r}")
    return float(value)


def _flag(table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise RulePackError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


#: Largest weekly minutes capacity accepted: the minutes in a week.
MAX_WEEKLY_MINUTES = 7 * 24 * 60


def _minutes_capacity(value: Any, where: str) -> float | None:
    """``roles.X.minutes_capacity``: IEP minutes per week for 1.0 FTE, above 0
    and at most :data:`MAX_WEEKLY_MINUTES` (None: no workload limit)."""
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 < value <= MAX_WEEKLY_MINUTES):
        raise RulePackError(f"{where}.minutes_capacity: expected IEP minutes per week for "
                            f"1.0 FTE, above 0 and at most {MAX_WEEKLY_MINUTES:,}, "
                            f"got {value!r}")
    return float(value)


def _primary_needs(table: Any, disabilities: Mapping[str, Disability],
                   services: Mapping[str, Service]) -> Mapping[str, frozenset[str]]:
    """``[primary_need_services]``: low-incidence category -> services that address it."""
    if not isinstance(table, Mapping):
        raise RulePackError(f"primary_need_services: expected a table of category = "
                            f"[services], got {table!r}")
    out: dict[str, frozenset[str]] = {}
    for cat, listed in table.items():
        where = f"primary_need_services.{cat}"
        if cat not in disabilities:
            raise RulePackError(f"{where}: unknown disability category; expected one of "
                                f"{', '.join(disabilities)}")
        codes = _frozen(listed, where)
        unknown = sorted(codes - services.keys())
        if unknown or not codes:
            raise RulePackError(f"{where}: expected a non-empty list of services among "
                                f"{', '.join(services)}"
                                + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        out[cat] = codes
    return MappingProxyType(out)


def _role_list(table: Mapping[str, Any], key: str, roles: Mapping[str, Role]) -> frozenset[str]:
    listed = _frozen(table.get(key, []), f"school_rule.{key}")
    unknown = sorted(listed - roles.keys())
    if unknown:
        raise RulePackError(f"school_rule.{key}: unknown role {', '.join(unknown)}; expected "
                            f"role codes among {', '.join(roles)}")
    return listed
