"""A planner's edits to a plan, as pins: ``caseload plan DISTRICT --keep plan.xlsx``.

Every student whose case manager the planner changed (the chosen case manager
differs from what the plan had written) becomes a pin; a case manager
cleared by the planner becomes a forbid of the plan's one. An edit that
breaks a rule is not kept and not dropped silently: it is returned as a
:class:`RejectedEdit` naming the student, the educator chosen and the rule,
and that student is re-planned like the rest. The rest is re-planned against
the plan as the published plan (fewest moves; see
:func:`optimizer.planning.planner.plan`'s ``published``).

Checks, in this order, per edit: the student and educator exist, the
student is not pinned to someone else in locks.csv, the pair is not
forbidden there, the credential rules allow the pair
(:func:`optimizer.rules.decide`); then per educator, the kept edits (with
locks.csv's pins to them) fit the caseload cap — edits past the cap are
rejected in row order.

A service plan's providers are edited the same way on the workbook's
*Services* sheet: a provider changed there becomes a service pin (the plan
must give that service to the student by that provider), a provider
cleared a service forbid of the plan's one. Checks: the row is one of the
plan's services, the educator exists, locks.csv neither pins that service
to someone else nor forbids this provider for it, and the rules let them
give it (:func:`optimizer.planning.check.may_provide`). Caps are the
plan's to keep: a provider chosen beyond their cap is pinned, and the plan
makes room if it can (:func:`unmet_service_edits` lists those it could not).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from optimizer.district.model import EDIT_REASON, District
from optimizer.district.services_check import service_lock_problem
from optimizer.district.suggest import nearest
from optimizer.nextyear.scenario import Change, Forbid, Pin, Scenario
from optimizer.planning.check import may_provide
from optimizer.planning.result import LOCK_REASON
from optimizer.rules import decide

__all__ = ["EDITS_COLUMNS", "EDIT_REASON", "Edit", "KeptEdits", "RejectedEdit", "edits_table",
           "keep_edits", "unmet_service_edits"]


@dataclass(frozen=True)
class Edit:
    """One change a planner made: ``chosen`` is blank when they cleared the cell."""

    student_id: str
    planned: str
    chosen: str
    where: str = ""  # e.g. "row 17", for messages
    service: str = ""  # a provider's edit (Services sheet); blank: the case manager


@dataclass(frozen=True)
class RejectedEdit:
    """An edit not kept: which rule it breaks, in words."""

    edit: Edit
    rule: str
    detail: str

    def __str__(self) -> str:
        e = self.edit
        at = f" ({e.where})" if e.where else ""
        nobody = f"no {e.service} provider" if e.service else "no case manager"
        what = (e.chosen or nobody) if e.chosen == e.planned else (
            f"{e.chosen or nobody} instead of {e.planned or nobody}")
        whose = f"{e.student_id}'s {e.service}" if e.service else e.student_id
        return f"{whose}{at}: {what} — {self.rule}: {self.detail}"


@dataclass(frozen=True)
class KeptEdits:
    """The edits found, which are kept (as pins/forbids on ``district``), which not."""

    edits: tuple[Edit, ...]
    kept: tuple[Edit, ...]
    rejected: tuple[RejectedEdit, ...]
    district: District
    published: Mapping[str, str]
    #: The edited plan's providers the Services sheet was compared with.
    providers: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)


def keep_edits(district: District, rows: Sequence[tuple[str, str, str, str]],
               service_rows: Sequence[tuple[str, str, str, str]] = (),
               providers: Mapping[tuple[str, str], str] | None = None) -> KeptEdits:
    """Turn a planner's edits into pins on a new district.

    Parameters
    ----------
    district
        The district the plan is for.
    rows
        (student_id, chosen case manager, the plan's case manager, where)
        per student of the edited plan; rows whose chosen and planned agree
        are not edits.
    service_rows
        A service plan's (student_id, service, chosen provider, where) per row
        of its Services sheet, compared with ``providers``: the plan's
        provider per (student_id, service), as its services.csv has them.

    Returns
    -------
    KeptEdits
        ``district`` with a pin per kept edit (a forbid per cleared cell),
        the plan's case managers as ``published``, and every edit rejected
        with its rule.

    Examples
    --------
    >>> k = keep_edits(district, [("S000042", "E00007", "E00012", "row 5")])  # doctest: +SKIP
    >>> plan(k.district, published=k.published)                                # doctest: +SKIP
    """
    # A row naming a student the district does not have is an edit too (a
    # mistyped id), rejected below: never passed over in silence.
    edits = tuple(Edit(s, p, c, w) for s, c, p, w in rows
                  if c != p or s not in district.students)
    published = {s: p for s, _c, p, _w in rows if s in district.students}
    rejected: list[RejectedEdit] = []
    pins: list[Edit] = []
    forbids: list[Edit] = []
    for ed in edits:
        why = _rule_broken(district, ed)
        if why:
            rejected.append(RejectedEdit(ed, *why))
        elif ed.chosen:
            pins.append(ed)
        else:  # (kept: a forbid, none needed where the one cleared has left)
            forbids.append(ed)
    edited = {ed.student_id for ed in edits}
    load: dict[str, float] = {}
    for sid, eid in district.pins.items():  # locks.csv's pins stay, unless edited away
        if sid not in edited and sid in district.students:
            load[eid] = load.get(eid, 0.0) + district.students[sid].weight
    kept_pins: list[Edit] = []
    for ed in pins:
        e = district.educators[ed.chosen]
        w = district.students[ed.student_id].weight
        total = load.get(ed.chosen, 0.0) + w
        cap = district.cap(ed.chosen)
        if total + e.other_load > cap + 1e-9:
            rejected.append(RejectedEdit(ed, "caseload cap", (
                f"{ed.chosen}'s caseload would be {total + e.other_load:g} with the edits "
                f"kept so far, over the cap of {cap:g} ({e.role}, FTE {e.fte:g})")))
            continue
        load[ed.chosen] = total
        kept_pins.append(ed)
    changes: list[Change] = [Pin(ed.student_id, ed.chosen, EDIT_REASON) for ed in kept_pins
                             if district.pins.get(ed.student_id) != ed.chosen]
    changes += [Forbid(ed.student_id, ed.planned, EDIT_REASON) for ed in forbids
                if (ed.student_id, ed.planned) not in district.forbids
                and ed.planned in district.educators]
    # A service plan's providers: pins and forbids per (student, service).
    plan_providers = providers or {}
    service_edits = tuple(
        Edit(sid, plan_providers.get((sid, svc), ""), chosen, where, svc)
        for sid, svc, chosen, where in service_rows
        if (sid, svc) not in plan_providers or chosen != plan_providers[(sid, svc)])
    service_kept: list[Edit] = []
    needs = {(n.student_id, n.service) for n in district.service_needs}
    for ed in service_edits:
        why = _service_rule_broken(district, ed, plan_providers, needs)
        if why:
            rejected.append(RejectedEdit(ed, *why))
            continue
        service_kept.append(ed)
        key = (ed.student_id, ed.service)
        # No lock where locks.csv has it already, or where the provider
        # cleared has left (the plan cannot give them the service anyway).
        if ed.chosen and district.service_pins.get(key) != ed.chosen:
            changes.append(Pin(ed.student_id, ed.chosen, EDIT_REASON, ed.service))
        elif not ed.chosen and ed.planned in district.educators and \
                not _service_forbidden(district, *key, ed.planned) and \
                service_lock_problem(district.rules, district.students[ed.student_id],
                                     district.educators[ed.planned], ed.service) is None:
            # (A provider who could not give it any more, moved to another
            # school say, needs no forbid: the clear is kept without one.)
            changes.append(Forbid(ed.student_id, ed.planned, EDIT_REASON, ed.service))
    new = Scenario("the planner's edits", tuple(changes)).apply(district) if changes \
        else district
    edits += service_edits
    order = {ed: i for i, ed in enumerate(edits)}
    kept = tuple(sorted([*kept_pins, *forbids, *service_kept], key=order.__getitem__))
    return KeptEdits(edits, kept, tuple(sorted(rejected, key=lambda r: order[r.edit])),
                     new, published, dict(plan_providers))


def _service_rule_broken(district: District, ed: Edit, providers: Mapping[tuple[str, str], str],
                         needs: set[tuple[str, str]]) -> tuple[str, str] | None:
    sid, svc, eid = ed.student_id, ed.service, ed.chosen
    if sid not in district.students:
        return "unknown student", "no such student in students.csv"
    if (sid, svc) not in providers:
        return "unknown service", f"no {svc} for {sid} in the plan's services.csv"
    if (sid, svc) not in needs:
        return "unknown service", (f"{svc} is no longer among {sid}'s services in the "
                                   "district's files")
    pinned = district.service_pins.get((sid, svc))
    if not eid:
        if pinned and pinned == ed.planned:
            return "pin", f"locks.csv pins {sid}'s {svc} to {pinned}"
        return None
    if eid not in district.educators:
        # Suggested: only someone who may give this service to this student.
        return "unknown educator", ("no such educator in educators.csv"
                                    + _did_you_mean(district, eid, lambda e: may_provide(
                                        district, sid, svc, e) is None)
                                    + "; type an educator_id who gives " + svc)
    if pinned and pinned != eid:
        return "pin", f"locks.csv pins {sid}'s {svc} to {pinned}"
    if _service_forbidden(district, sid, svc, eid):
        return "forbid", f"locks.csv forbids {eid} for {sid}'s {svc}"
    why = may_provide(district, sid, svc, eid)
    if why is not None:
        return "may not provide", why
    # A service pin must also be a lock the district's files could hold (an
    # itinerant reaching the school only under the school rule cannot be).
    problem = service_lock_problem(district.rules, district.students[sid],
                                   district.educators[eid], svc)
    if problem is not None:
        return "a service pin", problem[2]
    return None


def _service_forbidden(district: District, sid: str, svc: str, eid: str) -> bool:
    """locks.csv (or an edit before) forbids this educator this student's service."""
    return any(lk.kind == "forbid" and lk.service == svc and lk.student_id == sid
               and lk.educator_id == eid for lk in district.locks)


def unmet_service_edits(kept: KeptEdits, services: pd.DataFrame) -> list[RejectedEdit]:
    """The providers the planner chose that the plan could not give (the
    provider full with students who have no one else): each as a
    RejectedEdit with the plan's reason for that service.

    Examples
    --------
    >>> unmet_service_edits(kept, plan(kept.district).services)   # doctest: +SKIP
    []
    """
    got = {(s, v): (p, why) for s, v, p, why in zip(  # (lists: 2 µs a cell otherwise)
        services["student_id"].tolist(), services["service"].tolist(),
        services["provider_id"].tolist(), services["reason"].tolist(), strict=True)}
    out = []
    for ed in kept.kept:
        if ed.service and ed.chosen:
            provider, why = got.get((ed.student_id, ed.service), ("", ""))
            if provider != ed.chosen:
                out.append(RejectedEdit(ed, "not met", why or "not in the plan"))
    return out


def _rule_broken(district: District, ed: Edit) -> tuple[str, str] | None:
    sid, eid = ed.student_id, ed.chosen
    if sid not in district.students:
        return "unknown student", "no such student in students.csv"
    pinned = district.pins.get(sid)
    if not eid:
        if pinned and pinned == ed.planned:
            return "pin", f"locks.csv pins {sid} to {pinned}"
        return None
    if eid not in district.educators:
        return "unknown educator", ("no such educator in educators.csv"
                                    + _did_you_mean(district, eid)
                                    + "; choose from the cell's drop-down (or type an "
                                      "educator_id)")
    if pinned and pinned != eid:
        return "pin", f"locks.csv pins {sid} to {pinned}"
    if (sid, eid) in district.forbids:
        return "forbid", f"locks.csv forbids {eid} for {sid}"
    d = decide(district, district.students[sid], district.educators[eid])
    if not d.eligible:
        rules = "; ".join(dict.fromkeys(v.rule for v in d.failed)) or "credential rules"
        return rules, "; ".join(v.reason for v in d.failed)
    return None


_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _did_you_mean(district: District, typed: str,
                  fits: Callable[[str], bool] | None = None) -> str:
    """' (did you mean ...?)' for an id in another case, a name typed for an
    id, or an id a character or two off; '' when nothing is near. ``fits``:
    only educators it accepts are suggested (those who may give a service)."""
    ids = [e for e in district.educators if fits is None or fits(e)]
    names = {e: str(district.educators[e].name) for e in ids if district.educators[e].name}
    near = nearest(typed, ids, n=2, cutoff=0.8, alike=(
        # A letter typed for the digit it looks like (O for 0, I or l for 1).
        lambda x: x.upper().translate(_LOOKALIKE),
        # A name typed for the id (what was typed is no id: it stays itself).
        lambda x: names.get(x, x).casefold()))
    shown = [f"'{e} — {district.educators[e].name}'" if district.educators[e].name
             else f"'{e}'" for e in near[:2]]
    return f" (did you mean {' or '.join(shown)}?)" if shown else ""


#: Columns of ``edits.csv``, written in a plan made with ``--keep``: every edit
#: found, and what became of it.
EDITS_COLUMNS = ["where", "student_id", "service", "plan_had", "chosen", "outcome", "rule",
                 "detail"]


def edits_table(kept: KeptEdits, unmet: Sequence[RejectedEdit] = (),
                redact: bool = False) -> pd.DataFrame:
    """Every edit found, in the order found, with its outcome: ``kept``, ``not
    kept`` (with the rule and why) or ``kept as a pin, not met`` (a provider
    the plan could not give). So that a refused edit is not lost once the
    terminal is closed: ``plan --keep`` writes it as ``edits.csv``.

    Examples
    --------
    >>> edits_table(keep_edits(district, rows)).columns.tolist()   # doctest: +SKIP
    ['where', 'student_id', 'service', 'plan_had', 'chosen', 'outcome', 'rule', 'detail']
    """
    refused = {id(r.edit): r for r in kept.rejected}
    not_met = {id(r.edit): r for r in unmet}
    names = _NameIds(kept.district) if redact else None
    rows = []
    for ed in kept.edits:
        r = refused.get(id(ed)) or not_met.get(id(ed))
        outcome = ("not kept" if id(ed) in refused else
                   "kept as a pin, not met" if id(ed) in not_met else "kept")
        detail, chosen = (r.detail if r else ""), ed.chosen
        if names is not None:
            detail = names.redacted(detail)
            # What was typed may be a name, or anything: only an id is kept.
            if chosen and chosen not in kept.district.educators:
                chosen = "(withheld: not an educator id)"
        rows.append({"where": ed.where, "student_id": ed.student_id, "service": ed.service,
                     "plan_had": ed.planned, "chosen": chosen, "outcome": outcome,
                     "rule": r.rule if r else "", "detail": detail})
    return pd.DataFrame(rows, columns=EDITS_COLUMNS)


class _NameIds:
    """Educator names to their ids in a text (``E1 — Ana Kim`` -> ``E1``, a
    name alone -> its id), whole words and longest name first, so that "Al"
    never eats into "Alan Park"; a lock's reason withheld. The texts of
    edits.csv are the rules' and the plan's: they name educators, never
    students (a student's name is only ever typed into ``chosen``)."""

    def __init__(self, district: District) -> None:
        named = {e.name: eid for eid, e in district.educators.items() if e.name}
        self.ids = named
        self.pattern = re.compile(
            r"(?:\b[A-Za-z0-9_-]+ — )?\b(" + "|".join(
                re.escape(n) for n in sorted(named, key=len, reverse=True)) + r")\b"
        ) if named else None

    def redacted(self, text: str) -> str:
        at = text.find(LOCK_REASON)
        if at >= 0:
            text = text[:at] + LOCK_REASON + "withheld"
        if self.pattern is None or not text:
            return text
        return self.pattern.sub(lambda m: self.ids[m.group(1)], text)
