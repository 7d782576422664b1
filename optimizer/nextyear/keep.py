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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from optimizer.district.model import EDIT_REASON, District
from optimizer.nextyear.scenario import Change, Forbid, Pin, Scenario
from optimizer.rules import decide

__all__ = ["EDIT_REASON", "Edit", "KeptEdits", "RejectedEdit", "keep_edits"]


@dataclass(frozen=True)
class Edit:
    """One change a planner made: ``chosen`` is blank when they cleared the cell."""

    student_id: str
    planned: str
    chosen: str
    where: str = ""  # e.g. "row 17", for messages


@dataclass(frozen=True)
class RejectedEdit:
    """An edit not kept: which rule it breaks, in words."""

    edit: Edit
    rule: str
    detail: str

    def __str__(self) -> str:
        e = self.edit
        at = f" ({e.where})" if e.where else ""
        return (f"{e.student_id}{at}: {e.chosen or 'no case manager'} instead of "
                f"{e.planned or 'no case manager'} — {self.rule}: {self.detail}")


@dataclass(frozen=True)
class KeptEdits:
    """The edits found, which are kept (as pins/forbids on ``district``), which not."""

    edits: tuple[Edit, ...]
    kept: tuple[Edit, ...]
    rejected: tuple[RejectedEdit, ...]
    district: District
    published: Mapping[str, str]


def keep_edits(district: District, rows: Sequence[tuple[str, str, str, str]]) -> KeptEdits:
    """Turn a planner's edits into pins on a new district.

    Parameters
    ----------
    district
        The district the plan is for.
    rows
        (student_id, chosen case manager, the plan's case manager, where)
        per student of the edited plan; rows whose chosen and planned agree
        are not edits.

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
    edits = tuple(Edit(s, p, c, w) for s, c, p, w in rows if c != p)
    published = {s: p for s, _c, p, _w in rows}
    rejected: list[RejectedEdit] = []
    pins: list[Edit] = []
    forbids: list[Edit] = []
    for ed in edits:
        why = _rule_broken(district, ed)
        if why:
            rejected.append(RejectedEdit(ed, *why))
        elif ed.chosen:
            pins.append(ed)
        elif ed.planned in district.educators:
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
                if (ed.student_id, ed.planned) not in district.forbids]
    new = Scenario("the planner's edits", tuple(changes)).apply(district) if changes \
        else district
    order = {ed: i for i, ed in enumerate(edits)}
    kept = tuple(sorted([*kept_pins, *forbids], key=order.__getitem__))
    return KeptEdits(edits, kept, tuple(sorted(rejected, key=lambda r: order[r.edit])),
                     new, published)


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
        return "unknown educator", "no such educator in educators.csv"
    if pinned and pinned != eid:
        return "pin", f"locks.csv pins {sid} to {pinned}"
    if (sid, eid) in district.forbids:
        return "forbid", f"locks.csv forbids {eid} for {sid}"
    d = decide(district, district.students[sid], district.educators[eid])
    if not d.eligible:
        rules = "; ".join(dict.fromkeys(v.rule for v in d.failed)) or "credential rules"
        return rules, "; ".join(v.reason for v in d.failed)
    return None
