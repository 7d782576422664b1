"""Which caseload caps are law, which are local defaults, and where to change them.

The rule pack carries ``cap_kind`` and ``cap_source`` beside every role's cap
(a district's own figure in district.toml becomes a "district setting"). This
module turns them into the rows a plan reports in ``summary.json`` → ``caps``
and the workbook's Summary sheet, so a local figure is never shown as a rule.
"""

from __future__ import annotations

from optimizer.district.model import District

__all__ = ["CHANGE_HINT", "cap_rows"]

#: Where a planner changes a cap (shown once on the Summary sheet).
CHANGE_HINT = ("district.toml [caps] ROLE = n for a whole role (full-time, prorated by "
               "FTE); educators.csv max_caseload for one person")


def cap_rows(district: District) -> list[dict[str, object]]:
    """One row per role that an educator of the district holds, in rule-pack order.

    Returns
    -------
    list of dict
        ``role``, ``cap`` (full-time), ``kind`` (``law``, ``law: average``,
        ``local default`` or ``district setting``), ``source``, and
        ``educators_with_max_caseload`` (people whose own cap replaces it).
        An SLP preschool cap (EC 56441.7) gets a row of its own, role
        ``SLP (only preschool)``, when the pack sets one.
    """
    pack = district.rules
    used = {e.role for e in district.educators.values()}
    own: dict[str, int] = {}
    for e in district.educators.values():
        if e.max_caseload is not None:
            own[e.role] = own.get(e.role, 0) + 1
    rows: list[dict[str, object]] = []
    for code, role in pack.roles.items():
        if code not in used:
            continue
        rows.append({"role": code, "cap": role.cap, "kind": role.cap_kind,
                     "source": role.cap_source or "no source given",
                     "educators_with_max_caseload": own.get(code, 0)})
        if role.cap_if_only_preschool is not None:
            rows.append({"role": f"{code} (only preschool)", "cap": role.cap_if_only_preschool,
                         "kind": role.cap_if_only_preschool_kind,
                         "source": role.cap_if_only_preschool_source or "no source given",
                         "educators_with_max_caseload": 0})
    return rows
