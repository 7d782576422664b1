"""The HTML report's service section: service caseloads against caps, per
service who is served, the SLP district average against its legal limit.

Empty (``""``) for a plan that does not plan services, so such a report is
the same bytes as before services existed. Every text from the input is
HTML-escaped. The chart is drawn by the report's own strip chart, handed in
by :func:`optimizer.outputs.html_report.render_report` (this module cannot
import the report: the report imports it).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from optimizer.planning.result import PlanTables

__all__ = ["MAX_PROVIDERS_LISTED", "hiring_table_columns", "render_service_section"]

#: The providers table lists at most this many (the fullest first); the
#: workbook's Case managers sheet has every provider.
MAX_PROVIDERS_LISTED = 40

#: (label, ratios) rows -> SVG; (name, caption, svg, note) -> a chart figure.
Strips = Callable[[Sequence[tuple[str, Sequence[float]]]], str]
Figure = Callable[[str, str, str, str], str]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in rows)
            + "</table>")


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.where(series.astype(str) != ""), errors="coerce")


def _fmt(x: float) -> str:
    if x != x:
        return ""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def hiring_table_columns(columns: Sequence[tuple[str, str]], hiring: pd.DataFrame
                         ) -> list[tuple[str, str]]:
    """The report's hiring table columns, with the service after the credential and
    the IEP minutes after the students where ``hiring`` has them (a service plan).

    Examples
    --------
    >>> hiring_table_columns([("credential", "Credential")], pd.DataFrame(columns=["service"]))
    [('credential', 'Credential'), ('service', 'Service')]
    """
    out: list[tuple[str, str]] = []
    for col in columns:
        out.append(col)
        if col[0] == "credential" and "service" in hiring.columns:
            out.append(("service", "Service"))
        if col[0] == "students" and "minutes" in hiring.columns:
            out.append(("minutes", "IEP minutes a week"))
    return out


def _providers(tables: PlanTables) -> pd.DataFrame:
    """Each provider (serves at least one pair) with the figures of caseloads.csv."""
    s = tables.services
    ids = sorted(set(s.loc[s["provider_id"].astype(str) != "", "provider_id"].astype(str)))
    cl = tables.caseloads.copy()
    cl["educator_id"] = cl["educator_id"].astype(str)
    cl = cl[cl["educator_id"].isin(ids)].drop_duplicates("educator_id")
    out = pd.DataFrame({"educator_id": cl["educator_id"].to_numpy(),
                        "role": cl["role"].astype(str).to_numpy()})
    out["name"] = (cl["name"].astype(str).to_numpy() if "name" in cl.columns
                   else out["educator_id"])
    for col in ("cap", "load", "caseload", "served", "case_managed", "minutes",
                "minutes_capacity", "fte", "other_load"):
        out[col] = _num(cl[col]).to_numpy() if col in cl.columns else float("nan")
    # Before the service columns existed, the load was the capped number.
    out["caseload"] = out["caseload"].fillna(out["load"])
    out["ratio"] = out["caseload"] / out["cap"].where(out["cap"] > 0)
    return out.sort_values(["role", "educator_id"], kind="stable", ignore_index=True)


def render_service_section(tables: PlanTables, *, strips: Strips, figure: Figure) -> str:
    """The report's service section as HTML, or ``""`` when the plan has no services.

    Parameters
    ----------
    tables
        The plan's tables; ``summary["services"]`` gives the per-service counts,
        role averages and providers over a minutes capacity.
    strips, figure
        The report's strip chart and figure wrapper (so both look alike).

    Returns
    -------
    str
        HTML: a chart of each provider's caseload ÷ cap by role, the counts per
        service, role averages against their legal limit, the fullest providers
        and providers over their IEP-minutes capacity.

    Examples
    --------
    >>> render_service_section(tables, strips=_strips, figure=_figure)   # doctest: +SKIP
    """
    if len(tables.services) == 0:
        return ""
    f: Mapping[str, Any] = tables.summary
    block: Mapping[str, Any] = f.get("services") or {}
    prov = _providers(tables)
    names = dict(zip(prov["educator_id"], prov["name"], strict=True))
    cl = tables.caseloads
    if "name" in cl.columns:
        names = {**dict(zip(cl["educator_id"].astype(str), cl["name"].astype(str),
                            strict=True)), **names}

    def who(eid: str) -> str:
        name = names.get(eid, eid)
        return eid if name in ("", eid) else f"{name} ({eid})"

    parts = ["<h2>Service caseloads</h2>"]
    levels = dict(block.get("levels", {}))
    status = block.get("status")
    if status or levels:
        said = []
        for key, words in (("unserved_pairs", "Services not served"),
                           ("unplaced_students", "students without a case manager")):
            if key in levels:
                plan, bound = list(levels[key])[:2]
                said.append(f"{words}: {int(plan):,}" + (
                    "" if bound is None else f" (at least {int(bound):,} in any plan)"))
        gap = block.get("gap")
        parts.append(
            "<p class='note'>" + _e(
                (f"Service plan: {status}. " if status else "")
                + "; ".join(said) + ("." if said else "")
                + (f" Gap {float(gap):.2%}." if gap is not None else "")) + "</p>")

    # Each provider's caseload against the cap: distinct students served or
    # case-managed plus those served outside this plan (other_load).
    by_role = [(str(role), [float(r) for r in g["ratio"].dropna()])
               for role, g in prov.groupby("role", sort=True)]
    by_role = [(role, ratios) for role, ratios in by_role if ratios]
    if by_role:
        parts.append(figure(
            "service-caseloads", "Service caseload ÷ cap of each provider, by role",
            strips(by_role), "Caseload = distinct students served or case-managed, plus "
            "students served outside this plan; the cap applies to it."))

    counts = dict(block.get("by_service", {}))
    if not counts:  # a plan folder without the summary's block: count the table
        s = tables.services
        for code, g in s.groupby(s["service"].astype(str), sort=True):
            served = int((g["provider_id"].astype(str) != "").sum())
            counts[code] = {"pairs": len(g), "served": served, "not_served": len(g) - served}
    reason = str(block.get("not_planned_reason", "no staff provides it"))
    parts.append("<h2>Services on the IEPs</h2>" + _table(
        ["Service", "Students with it", "Served", "Not served",
         f"Not planned ({reason})"],
        [(code, f"{int(c.get('pairs', 0)):,}", f"{int(c.get('served', 0)):,}",
          f"{int(c.get('not_served', 0)):,}",
          "" if c.get("not_planned") is None else f"{int(c['not_planned']):,}")
         for code, c in sorted(counts.items())]))

    for role, av in sorted(dict(block.get("role_average", {})).items()):
        average = float(av.get("average", 0) or 0)
        limit = av.get("limit")
        over = limit is not None and average > float(limit)
        verdict = ("" if limit is None else
                   f"over the legal limit of {limit}" if over else
                   f"within the legal limit of {limit}")
        parts.append(
            f"<p><b>{_e(role)} district average caseload: {average:.1f} per FTE</b> "
            f"({_e(_fmt(float(av.get('caseload', 0) or 0)))} students over "
            f"{float(av.get('fte', 0) or 0):g} FTE), {_e(verdict)}"
            + (f" — {_e(av['source'])}" if av.get("source") else "") + "."
            + (" A higher average needs the local plan to set it and give the reasons."
               if over else "") + "</p>")

    full = prov[prov["ratio"].notna()].sort_values(
        ["ratio", "role", "educator_id"], ascending=[False, True, True], kind="stable")
    shown = full.head(MAX_PROVIDERS_LISTED)
    has_minutes = prov["minutes_capacity"].notna().any()
    head = ["Provider", "Role", "Caseload", "Cap", "Served", "Case-managed"]
    if has_minutes:
        head += ["IEP minutes a week", "Minutes capacity"]
    rows = []
    for r in shown.itertuples():
        row = [who(r.educator_id), r.role, _fmt(r.caseload), _fmt(r.cap), _fmt(r.served),
               _fmt(r.case_managed)]
        if has_minutes:
            row += [_fmt(r.minutes), _fmt(r.minutes_capacity)]
        rows.append(row)
    more = (f" The {MAX_PROVIDERS_LISTED} fullest of {len(full):,} providers are listed; "
            "the workbook's Case managers sheet has every one." if len(full) > len(shown)
            else "")
    parts.append("<h2>Providers, fullest first</h2>" + (
        _table(head, rows) + f"<p class='note'>Caseload ÷ cap, highest first.{_e(more)}</p>"
        if rows else "<p class='note'>No one serves a service in this plan.</p>"))

    over_minutes = [str(e) for e in block.get("over_minutes_capacity", [])]
    if over_minutes:
        parts.append("<p><b>Over their IEP-minutes capacity:</b> "
                     + _e(", ".join(who(e) for e in over_minutes)) + ".</p>")
    elif block.get("minutes_capacity_used"):
        parts.append("<p class='note'>No provider is over their IEP-minutes capacity.</p>")
    else:
        parts.append("<p class='note'>No IEP-minutes capacity is set: caseload caps only."
                     "</p>")
    return "<section class='services'>" + "".join(parts) + "</section>\n"
