"""The credential rules: may this educator case-manage this student, and in which capacity?

Each rule is one small function with a planner-readable name; it returns a
:class:`Verdict` whose ``reason`` becomes the explanation in the plan. The
engine combines them into a :class:`Decision`:

* ``instruction`` — the educator teaches the student's specialized academic
  instruction (RSP for ``sai_setting = rsp``, SDC for ``sdc``) and holds a
  credential authorizing the student's basis disability, support level and
  grade (CTC: the specialty must address the primary disability, or the
  secondary one under the low-incidence exception);
* ``service`` — the educator provides another service on the IEP and holds
  the credential for it;
* ``coordination`` — the educator's role may coordinate and they neither
  teach nor serve the student (CTC: no specialty area needed);
* otherwise not eligible, with every rule that said no.

Every table the rules read (credentials, services, roles, best practice) is
in the rule pack; the functions here hold no codes of their own.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optimizer.rulepacks import RulePack

if TYPE_CHECKING:
    # The rules read students and educators by their attributes; the district
    # stage (which validates pins with these rules) sits above this one.
    from optimizer.district.model import District, Educator, Student

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

CAPACITIES = ("instruction", "service", "coordination")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's answer for one (student, educator) pair."""

    rule: str  # the rule's planner-readable name
    ok: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The best capacity in which an educator may case-manage a student.

    ``capacity`` is None when no rule allows it; ``failed`` then holds every
    rule that said no. For an eligible pair, ``failed`` holds the rules that
    kept it from a better capacity (e.g. why a teacher may only coordinate).
    """

    capacity: str | None
    rank: int | None  # best-practice rank: 0 best-practice type, 1 teaches/serves, 2 coordinates
    reason: str
    failed: tuple[Verdict, ...]

    @property
    def eligible(self) -> bool:
        return self.capacity is not None

    def failed_text(self) -> list[str]:
        return [str(v) for v in self.failed]


# --------------------------------------------------------------------------
# The rules. Each takes the rule pack, the student and the educator.

def serves_school(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """The educator serves the student's school of attendance."""
    name = "Serves the student's school"
    if s.school_id in e.schools:
        return Verdict(name, True, f"serves school {s.school_id}")
    return Verdict(name, False, f"serves {', '.join(e.schools)}, not school {s.school_id}")


def reaches_school(district: District, s: Student, e: Educator) -> Verdict:
    """District setting ``[school_rule]``: the educator may case-manage (as a
    coordinator) at the student's school although they do not serve it."""
    name = "Case-manages beyond their schools"
    pack = district.rules
    where = "district.toml [school_rule]"
    if e.role in pack.district_roles:
        return Verdict(name, True, f"{where} district_roles lets {e.role} case-manage at any "
                                   "school, as coordinator only")
    if e.role in pack.region_roles:
        region = district.schools[s.school_id].region
        mine = sorted({r for x in e.schools if (r := district.schools[x].region)})
        if region is not None and region in mine:
            return Verdict(name, True, f"{where} region_roles lets {e.role} case-manage in "
                                       f"region {region}, as coordinator only")
        return Verdict(name, False, f"{where} region_roles: school {s.school_id} is in region "
                                    f"{region or '(none)'}, not in {', '.join(mine) or 'a region'}"
                                    " this educator serves")
    return Verdict(name, False, f"{e.role} case-manages only at the schools it serves "
                                f"(the default; {where} may relax it)")


def _from_another_school(district: District, s: Student, e: Educator,
                         where: Verdict) -> Decision:
    """An educator who does not serve the student's school neither teaches nor
    serves the student there: at most a coordinator, when the school rule reaches."""
    if not (district.rules.region_roles or district.rules.district_roles):
        return Decision(None, None, "", (where,))
    reach = reaches_school(district, s, e)
    if not reach.ok:
        return Decision(None, None, "", (where, reach))
    pack = district.rules
    for check in (may_case_manage, may_coordinate):
        v = check(pack, s, e)
        if not v.ok:
            return Decision(None, None, "", (where, v))
    return Decision("coordination", 2, f"{reach.reason}; {may_coordinate(pack, s, e).reason}",
                    (where,))


def may_case_manage(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """The educator's role may case-manage, unless their own row says otherwise."""
    name = "May case-manage"
    role = pack.roles[e.role]
    if e.case_manager is not None:
        if e.case_manager:
            return Verdict(name, True, "marked case_manager = yes in educators.csv")
        return Verdict(name, False, "marked case_manager = no in educators.csv")
    if role.case_manager:
        return Verdict(name, True, f"{role.name} is a case-manager role")
    return Verdict(name, False, f"{role.name} ({e.role}) is not a case-manager role "
                                "in this rule pack")


def teaches_sai_setting(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """The educator's role delivers the student's specialized academic instruction."""
    name = "Teaches the student's SAI"
    teaches = pack.roles[e.role].teaches
    if s.sai_setting is None:
        return Verdict(name, False, "the IEP has no specialized academic instruction")
    if teaches is None:
        return Verdict(name, False, f"{e.role} does not teach specialized academic instruction")
    if teaches != s.sai_setting:
        return Verdict(name, False, f"{e.role} teaches {teaches.upper()}; this student's SAI "
                                    f"is in {s.sai_setting.upper()}")
    return Verdict(name, True, f"teaches this student's SAI in {teaches.upper()}")


def _teaching_credentials(pack: RulePack, s: Student, e: Educator) -> list[str]:
    # Read three times per teaching decision, for a few distinct credential
    # sets: kept per pack (the list is only read by the callers).
    memo = _pack_memo(pack)
    key = ("teaching", e.credentials, s.sai_setting)
    got = memo.get(key)
    if got is None:
        def in_setting(settings: frozenset[str] | None) -> bool:
            return settings is None or s.sai_setting in settings

        got = memo[key] = sorted(c for c in e.credentials if pack.credentials[c].teaching and
                                 in_setting(pack.credentials[c].settings))
    return got


_MEMOS: weakref.WeakKeyDictionary[RulePack, dict[tuple, Any]] = weakref.WeakKeyDictionary()


def _pack_memo(pack: RulePack) -> dict[tuple, Any]:
    """Facts derived from a credential set alone, per rule pack (dropped with it)."""
    memo = _MEMOS.get(pack)
    if memo is None:
        memo = _MEMOS[pack] = {}
    return memo


def _covers_category(pack: RulePack, code: str, added: frozenset[str], s: Student) -> bool:
    cred = pack.credentials[code]
    cat = s.basis_disability
    if cat in cred.categories or cat in added:
        return True
    needs = cred.conditional.get(cat)
    return needs is not None and s.other_disability in needs


def _added_categories(pack: RulePack, e: Educator) -> frozenset[str]:
    memo = _pack_memo(pack)
    key = ("added", e.credentials)
    got = memo.get(key)
    if got is None:
        added: set[str] = set()
        for c in e.credentials:
            if pack.credentials[c].adds_to_teaching:
                added |= pack.credentials[c].categories
        got = memo[key] = frozenset(added)
    return got


def authorized_for_disability(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """A teaching credential held covers the student's basis disability category."""
    name = "Credential covers the disability"
    cat = s.basis_disability
    basis = ("secondary disability, low-incidence exception"
             if s.placement_basis == "secondary" else "primary disability")
    held = _teaching_credentials(pack, s, e)
    if not held:
        return Verdict(name, False, "holds no teaching credential for this setting")
    added = _added_categories(pack, e)
    ok = [c for c in held if _covers_category(pack, c, added, s)]
    label = f"{cat} ({pack.disabilities[cat].name}, {basis})"
    if not ok:
        return Verdict(name, False, f"none of {', '.join(held)} covers {label}")
    return Verdict(name, True, f"{', '.join(ok)} covers {label}")


def _support_levels(pack: RulePack, code: str, cat: str) -> frozenset[str]:
    cred = pack.credentials[code]
    return cred.category_support.get(cat, cred.support_levels)


def authorized_for_support_level(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """A credential covering the category also covers the student's support level."""
    name = "Credential covers the support level"
    cat, level = s.basis_disability, s.support_level
    added = _added_categories(pack, e)
    covering = [c for c in _teaching_credentials(pack, s, e)
                if _covers_category(pack, c, added, s)]
    ok = [c for c in covering if level in _support_levels(pack, c, cat)]
    derived = " (derived from setting and time in general education)" \
        if s.support_level_derived else ""
    if not ok:
        held = "; ".join(f"{c} covers {cat} only at "
                         f"{' or '.join(sorted(_support_levels(pack, c, cat)))}"
                         for c in covering) or "no credential covers the category"
        return Verdict(name, False, f"{held}; this student needs {level}{derived}")
    return Verdict(name, True, f"{', '.join(ok)} covers {level} support{derived}")


def authorized_for_grade(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """A credential covering category and support level also covers the student's grade."""
    name = "Credential covers the grade"
    cat, level = s.basis_disability, s.support_level
    added = _added_categories(pack, e)
    covering = [c for c in _teaching_credentials(pack, s, e)
                if _covers_category(pack, c, added, s)
                and level in _support_levels(pack, c, cat)]
    ok = [c for c in covering if s.grade in pack.credentials[c].grades]
    if not ok:
        spans = "; ".join(f"{c} covers grades {_span(pack, pack.credentials[c].grades)}"
                          for c in covering) or "no credential covers category and level"
        return Verdict(name, False, f"{spans}; this student is in grade {s.grade}")
    return Verdict(name, True, f"{', '.join(ok)} covers grade {s.grade}")


def _span(pack: RulePack, grades: frozenset[str]) -> str:
    ordered = sorted(grades, key=pack.grade_index)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"


def provides_iep_service(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """The educator's role provides a (non-SAI) service on the student's IEP."""
    name = "Provides a service on the IEP"
    offered = sorted(pack.roles[e.role].provides & s.services)
    if not offered:
        provides = ", ".join(sorted(pack.roles[e.role].provides))
        if not provides:
            return Verdict(name, False, f"{e.role} provides no related or specialized service")
        return Verdict(name, False, f"{e.role} provides {provides}; none is on this IEP")
    return Verdict(name, True, f"provides {', '.join(offered)} on this IEP")


def holds_service_credential(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """The educator holds the credential for a service they provide to the student."""
    name = "Holds the service credential"
    offered = sorted(pack.roles[e.role].provides & s.services)
    ok = [f"{svc} ({', '.join(sorted(pack.services[svc].credentials & e.credentials))})"
          for svc in offered if pack.services[svc].credentials & e.credentials]
    if not ok:
        need = "; ".join(f"{svc} needs one of {', '.join(sorted(pack.services[svc].credentials))}"
                         for svc in offered) or "no service offered"
        return Verdict(name, False, f"{need}; holds {', '.join(sorted(e.credentials)) or 'none'}")
    return Verdict(name, True, f"authorized for {', '.join(ok)}")


def holds_case_manager_credential(pack: RulePack, credentials: frozenset[str]) -> bool:
    """Whether these credentials include some education-specialist (teaching)
    or service credential: what a coordinator needs where the rule pack's
    ``[coordination] needs_credential`` is on (the CTC waives only the
    specialty area for a coordinator). Read by :func:`may_coordinate` and by
    the validator's warning on a teacher without a teaching credential.

    Examples
    --------
    >>> holds_case_manager_credential(pack, frozenset({"ES-MMSN"}))  # doctest: +SKIP
    True
    """
    memo = _pack_memo(pack)
    key = ("case manager credential", credentials)
    got = memo.get(key)
    if got is None:
        service_credentials = memo.get(("service credentials",))
        if service_credentials is None:
            service_credentials = memo[("service credentials",)] = frozenset(
                c for svc in pack.services.values() for c in svc.credentials)
        got = memo[key] = any(c in pack.credentials and (pack.credentials[c].teaching
                                                         or c in service_credentials)
                              for c in credentials)
    return bool(got)


def may_coordinate(pack: RulePack, s: Student, e: Educator) -> Verdict:
    """The educator's role may case-manage as coordinator only: no specialty
    area needed; some education-specialist or service credential only where
    the rule pack's ``[coordination] needs_credential`` is true (off by default)."""
    name = "May coordinate"
    role = pack.roles[e.role]
    if not role.coordinates:
        return Verdict(name, False, f"{role.name} ({e.role}) may not coordinate in this rule pack")
    if pack.coordinator_needs_credential and not holds_case_manager_credential(
            pack, e.credentials):
        held = ", ".join(sorted(e.credentials)) or "none"
        return Verdict(name, False, "holds no education-specialist or service credential "
                                    f"(holds {held}): a coordinator needs one, only the "
                                    "specialty area is waived (rule pack [coordination] "
                                    "needs_credential)")
    return Verdict(name, True, f"{role.name} may coordinate: no specialty area needed")


Rule = Callable[[RulePack, "Student", "Educator"], Verdict]

#: The rules by capacity, in the order they are checked.
RULES: dict[str, tuple[Rule, ...]] = {
    "gate": (serves_school, may_case_manage),
    "instruction": (teaches_sai_setting, authorized_for_disability,
                    authorized_for_support_level, authorized_for_grade),
    "service": (provides_iep_service, holds_service_credential),
    "coordination": (may_coordinate,),
}


def best_practice(pack: RulePack, s: Student) -> tuple[str, str] | None:
    """The best-practice case-manager role for the student's mix of services.

    Parameters
    ----------
    pack
        The rule pack (its ``best_practice`` table, first matching row wins).
    s
        The student: their SAI setting and specialized services decide.

    Returns
    -------
    tuple of (str, str) or None
        ``(role, label)`` of the first matching row, or None when no row matches.

    A row's ``specialized`` list is compared with every service on the IEP, or
    with the IEP's non-related services when the pack's
    ``[best_practice_rule] related_services_count`` is false.

    Examples
    --------
    >>> # speech only -> SLP; speech + RSP -> RSP; PT + SDC -> SDC (CTC examples)
    """
    specialized = _matched_services(pack, s)
    for row in pack.best_practice:
        if row.sai_setting is not None and s.sai_setting == row.sai_setting:
            return row.role, row.label
        if row.specialized is not None and specialized == row.specialized:
            return row.role, row.label
    return None


def _matched_services(pack: RulePack, s: Student) -> frozenset[str]:
    """The services a best-practice row's ``specialized`` list must equal."""
    if pack.related_services_count:  # "only receiving speech therapy", literally
        return s.services
    return frozenset(v for v in s.services if pack.services[v].kind != "related")


def _run(rules: tuple[Rule, ...], pack: RulePack, s: Student, e: Educator
         ) -> tuple[bool, list[Verdict]]:
    verdicts = []
    for rule in rules:
        v = rule(pack, s, e)
        verdicts.append(v)
        if not v.ok:  # later rules in a chain narrow what earlier ones found
            return False, verdicts
    return True, verdicts


def _decide(pack: RulePack, s: Student, e: Educator) -> Decision:
    """The decision without the school check (cached per profile pair)."""
    gate = may_case_manage(pack, s, e)
    if not gate.ok:
        return Decision(None, None, "", (gate,))
    failed: list[Verdict] = []
    bp = best_practice(pack, s)
    for capacity in ("instruction", "service"):
        ok, verdicts = _run(RULES[capacity], pack, s, e)
        if ok:
            reason = "; ".join(v.reason for v in verdicts)
            best = bp is not None and bp[0] == e.role
            if bp is not None and best:
                reason += f" — best practice ({bp[1]})"
            return Decision(capacity, 0 if best else 1, reason, tuple(failed))
        failed.append(verdicts[-1])
    ok, verdicts = _run(RULES["coordination"], pack, s, e)
    if ok:
        return Decision("coordination", 2, verdicts[-1].reason, tuple(failed))
    failed.append(verdicts[-1])
    return Decision(None, None, "", tuple(failed))


class RuleCache:
    """Caches decisions. A decision depends only on a few facts about the
    student (basis disability, support level, grade, setting, the services
    this educator's role provides) and on the educator's role and
    credentials, so a district of 100,000 students needs only a few thousand
    distinct decisions."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self.by_profile: dict[tuple, Decision] = {}
        self.by_facts: dict[tuple, Decision] = {}
        self.bp_cache: dict[tuple, tuple[str, str] | None] = {}
        self.gate_cache: dict[tuple[str, bool | None], bool] = {}

    @staticmethod
    def student_profile(s: Student) -> tuple:
        return (s.basis_disability, s.other_disability, s.placement_basis, s.support_level,
                s.support_level_derived, s.grade, s.sai_setting, s.services)

    @staticmethod
    def educator_profile(e: Educator) -> tuple:
        return (e.role, e.credentials, e.case_manager)

    def may_case_manage(self, e: Educator) -> bool:
        """The gate reads the educator's role and own case_manager mark alone,
        so it is decided once for each such pair, not once for each pair
        whose facts are looked up (17,642 Verdicts for the derived-level
        warnings alone at 100,000 students)."""
        key = (e.role, e.case_manager)
        ok = self.gate_cache.get(key)
        if ok is None:
            ok = self.gate_cache[key] = may_case_manage(self.pack, None, e).ok  # type: ignore[arg-type]
        return ok

    def _best_practice(self, s: Student) -> tuple[str, str] | None:
        key = (s.sai_setting, _matched_services(self.pack, s))
        if key not in self.bp_cache:
            self.bp_cache[key] = best_practice(self.pack, s)
        return self.bp_cache[key]

    def _facts(self, ep: tuple, s: Student, e: Educator) -> tuple:
        # Only the facts this educator's rules can read: the teaching chain
        # reads disability, level and grade only when the role teaches the
        # student's setting; the service chain reads only the services this
        # role provides; best practice matters only for the matching role.
        if not self.may_case_manage(e):
            return (ep,)
        role = self.pack.roles[e.role]
        teach: object = s.sai_setting
        if role.teaches is not None and role.teaches == s.sai_setting:
            teach = (s.basis_disability, s.other_disability, s.placement_basis,
                     s.support_level, s.support_level_derived, s.grade, s.sai_setting)
        bp = self._best_practice(s)
        return (ep, teach, s.services & role.provides, bp if bp and bp[0] == e.role else None)

    def decide_profiles(self, sp: tuple, ep: tuple, s: Student, e: Educator) -> Decision:
        key = (sp, ep)
        d = self.by_profile.get(key)
        if d is None:
            facts = self._facts(ep, s, e)
            d = self.by_facts.get(facts)
            if d is None:
                d = self.by_facts[facts] = _decide(self.pack, s, e)
            self.by_profile[key] = d
        return d


_CACHES: weakref.WeakKeyDictionary[RulePack, RuleCache] = weakref.WeakKeyDictionary()


def rule_cache(pack: RulePack) -> RuleCache:
    """The shared decision cache for a rule pack (one per pack, dropped with it)."""
    cache = _CACHES.get(pack)
    if cache is None:
        cache = _CACHES[pack] = RuleCache(pack)
    return cache


def decide(district: District, s: Student, e: Educator) -> Decision:
    """Decide whether and how ``e`` may case-manage ``s`` (locks not applied).

    Parameters
    ----------
    district
        The validated district (its rule pack decides).
    s, e
        The student and the educator.

    Returns
    -------
    Decision
        The capacity (instruction, service, coordination, or None when not
        eligible), the rank (0 best practice, 1 acceptable, 2 coordinator
        only), the reason, and the failed verdicts that explain a refusal.

    Examples
    --------
    >>> d = decide(district, district.students["S1"], district.educators["E1"])  # doctest: +SKIP
    >>> d.capacity, d.rank                                                      # doctest: +SKIP
    ('instruction', 0)
    """
    pack = district.rules
    # serves_school's test, its verdict made only for a refusal (whose words
    # it carries): a passing verdict is not read, and ~80,000 pairs pass at 100k.
    if s.school_id not in e.schools:
        return _from_another_school(district, s, e, serves_school(pack, s, e))
    cache = rule_cache(pack)
    return cache.decide_profiles(cache.student_profile(s), cache.educator_profile(e), s, e)


def explain(district: District, student_id: str, educator_id: str) -> list[Verdict]:
    """Every rule's verdict for one pair, passing and failing, in rule order.

    Locks are reported too: a forbid is a failing verdict, a pin a passing one.

    Parameters
    ----------
    district
        The validated district.
    student_id, educator_id
        The pair to explain.

    Returns
    -------
    list of Verdict
        One per rule checked (``rule``, ``ok``, ``reason``), locks included.

    Examples
    --------
    >>> for v in explain(district, "S1", "E1"):   # doctest: +SKIP
    ...     print(v)
    """
    pack = district.rules
    s, e = district.students[student_id], district.educators[educator_id]
    out = [rule(pack, s, e) for group in RULES.values() for rule in group]
    if not out[0].ok and (pack.region_roles or pack.district_roles):
        out.insert(1, reaches_school(district, s, e))
    for lk in district.locks:
        if (lk.student_id == student_id and lk.educator_id == educator_id
                and lk.service is None):  # a service lock is not about the case manager
            why = f" ({lk.reason})" if lk.reason else ""
            out.append(Verdict("Lock in locks.csv", lk.kind == "pin", f"{lk.kind}{why}"))
    return out
