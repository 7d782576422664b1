"""A comparison of two plans (a what-if against the published plan) as a
workbook and as one self-contained HTML page; several what-ifs side by side.

Every text cell is guarded against formula injection in the workbook and
HTML-escaped on the page. The page has no script library and no network: a
table per part, wrapped to the window (no horizontal scroll at 1280 px), with
each educator's and student's name as hover text where only an id is shown.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from optimizer.district.textsafe import neutralize_formula
from optimizer.nextyear.compare import HEADLINE_METRICS, Comparison, signed
from optimizer.outputs.outfolder import atomic_file, source_date

__all__ = ["SIDE_BY_SIDE_ROWS", "render_comparison_html", "side_by_side",
           "write_comparison_html", "write_comparison_workbook"]

_LABELS = {"placed": "Students placed", "unplaced": "Students unplaced",
           "best_practice_share": "With the best-practice case manager",
           "continuity_share": "Kept this year's case manager",
           "max_load_ratio": "Highest caseload ÷ cap", "std_load_ratio": "Spread of caseload ÷ cap",
           "hiring_fte": "Hiring needs (FTE)", "services_served": "IEP services served",
           "services_unserved": "IEP services not served",
           "services_not_planned": "IEP services not planned (no one on staff gives them)"}
#: How each headline figure is shown, from the terminal's table
#: (nextyear/compare.py HEADLINE_METRICS): shares (their changes in points),
#: counts of students or services, and the decimals of the other numbers.
_PERCENT = {m.key for m in HEADLINE_METRICS if m.kind == "share"}
_COUNTS = {m.key for m in HEADLINE_METRICS if m.kind == "count"}
_DECIMALS = {m.key: m.places for m in HEADLINE_METRICS if m.kind == "number"}


def _number_format(metric: str, change: bool = False) -> str:
    """The Excel number format of a headline figure (its change: signed, a
    share's in percentage points), so the workbook holds numbers a planner
    can sum or chart, shown as the terminal shows them."""
    if metric in _PERCENT:
        return '+0.0" points";-0.0" points";0.0" points"' if change else "0.0%"
    places = 0 if metric in _COUNTS else _DECIMALS.get(metric, 2)
    shown = "#,##0" if places == 0 else "0." + "0" * places
    return f"+{shown};-{shown};{shown}" if change else shown


def _shown_change(metric: str, delta: float) -> float:
    """A change as its format shows it, rounded first: Excel picks the sign's
    section from the stored value, so -0.0004 would show as "-0.0 points"."""
    if metric in _PERCENT:
        return round(delta * 100, 1) + 0.0
    return round(delta, 0 if metric in _COUNTS else _DECIMALS.get(metric, 2)) + 0.0


def _fmt(metric: str, value: float) -> str:
    if metric in _PERCENT:
        return f"{value:.1%}"
    if metric in _COUNTS:
        return f"{value:,.0f}"
    return f"{value:.{_DECIMALS.get(metric, 2)}f}"


#: The rows of the side-by-side table of several what-ifs (the services'
#: only where the plans plan service providers).
SIDE_BY_SIDE_ROWS = [*_LABELS, "students_moved", "rosters_changed"]


def side_by_side(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per figure, a column for the published plan and one per what-if.

    Examples
    --------
    >>> side_by_side([c1, c2]).columns.tolist()       # doctest: +SKIP
    ['metric', 'figure', 'published plan', 'Hire RSP', 'Waiver']
    """
    if not comparisons:
        return pd.DataFrame(columns=["metric", "figure"])
    base = comparisons[0]
    figures = [c.headline.set_index("metric") for c in comparisons]
    rows = []
    for metric in SIDE_BY_SIDE_ROWS:
        if metric in _LABELS and not any(metric in f.index for f in figures):
            continue  # (a service figure of plans without services)
        row: dict[str, object] = {"metric": metric, "figure": {
            **_LABELS, "students_moved": "Students who change case manager",
            "rosters_changed": "Rosters that change"}[metric]}
        if metric in _LABELS:
            row[base.name_a] = (_fmt(metric, float(figures[0].loc[metric, "a"]))
                                if metric in figures[0].index else "")
        else:
            row[base.name_a] = "0"
        for c, f in zip(comparisons, figures, strict=True):
            if metric in _LABELS:
                # (Blank for a plan without the figure: one without services.)
                row[c.name_b] = _fmt(metric, float(f.loc[metric, "b"])) if metric in f.index \
                    else ""
            else:
                row[c.name_b] = f"{len(c.moved if metric == 'students_moved' else c.rosters):,}"
        rows.append(row)
    return pd.DataFrame(rows)


def _headline_frame(c: Comparison) -> pd.DataFrame:
    def change(metric: str, delta: float) -> str:
        # A share's change in percentage points, as the terminal says it.
        return (signed(f"{delta * 100:.1f}") + " points" if metric in _PERCENT
                else signed(_fmt(metric, delta)))

    return pd.DataFrame([{"figure": _LABELS[r.metric], "before": _fmt(r.metric, r.a),
                          "after": _fmt(r.metric, r.b), "change": change(r.metric, r.delta)}
                         for r in c.headline.itertuples()])


def _headers(c: Comparison) -> dict[str, str]:
    """The comparison tables' column names in planner words for the workbook
    (the CSV files keep the names docs/next-year.md gives): "_a" and "_b"
    are "before" and "after", as on the Headline sheet."""
    words = {"student_id": "Student", "student_name": "Student name", "school_id": "School",
             "school_name": "School name", "from_case_manager_id": "From case manager",
             "from_case_manager": "From (name)", "to_case_manager_id": "To case manager",
             "to_case_manager": "To (name)", "why": "Why", "educator_id": "Educator",
             "name": "Name", "role": "Role", "joined": "Joined", "left": "Left",
             "region": "Region", "credential": "Credential", "service": "Service",
             "fte_delta": "FTE change", "from_provider_id": "From provider",
             "to_provider_id": "To provider"}
    for stem, word in (("students", "Students"), ("load", "Caseload"), ("cap", "Cap"),
                       ("fte", "FTE")):
        words[f"{stem}_a"] = f"{word} before"
        words[f"{stem}_b"] = f"{word} after"
    return words


def write_comparison_workbook(c: Comparison, path: str | Path, *,
                              scenarios: pd.DataFrame | None = None) -> Path:
    """The comparison as a workbook: Headline, Students, Rosters, Hiring needs
    (and Services when service plans changed; Scenarios for several what-ifs).

    Examples
    --------
    >>> write_comparison_workbook(compare(a, b), "comparison.xlsx")   # doctest: +SKIP
    """
    # Here, not at the top: xlsxwriter loads only when a workbook is written.
    import xlsxwriter

    sheets: list[tuple[str, pd.DataFrame]] = [("Headline", _headline_frame(c)),
                                              ("Students", c.moved), ("Rosters", c.rosters),
                                              ("Hiring needs", c.hiring)]
    if not c.services.empty:
        sheets.append(("Services", c.services))
    if scenarios is not None:
        sheets.insert(0, ("Scenarios", scenarios))
    target = Path(path)
    with atomic_file(target) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"constant_memory": True,
                                            "strings_to_formulas": False,
                                            "strings_to_numbers": False,
                                            "strings_to_urls": False})
        # A fixed creation time unless SOURCE_DATE_EPOCH gives one: same bytes.
        stamp = source_date() or dt.datetime(1980, 1, 1)
        wb.set_properties({"title": neutralize_formula(f"{c.name_b} compared with {c.name_a}"),
                           "created": stamp.replace(tzinfo=None)})
        head = wb.add_format({"bold": True, "bg_color": "#DDE4EE", "text_wrap": True,
                              "border": 1})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        formats: dict[str, object] = {}

        def number(metric: str, change: bool) -> object:
            key = _number_format(metric, change)
            if key not in formats:
                formats[key] = wb.add_format({"num_format": key})
            return formats[key]

        headers = _headers(c)
        for name, frame in sheets:
            ws = wb.add_worksheet(name)
            if name == "Headline":
                # Numbers, formatted as the terminal shows them (a share's
                # change in points), not text: a planner sums and charts them.
                for col, (header, width) in enumerate((("figure", 40), ("before", 14),
                                                       ("after", 14), ("change", 16))):
                    ws.set_column(col, col, width)
                    ws.write_string(0, col, header, head)
                ws.freeze_panes(1, 0)
                for r, row in enumerate(c.headline.itertuples(), 1):
                    ws.write_string(r, 0, _LABELS[row.metric])
                    ws.write_number(r, 1, float(row.a), number(row.metric, False))
                    ws.write_number(r, 2, float(row.b), number(row.metric, False))
                    ws.write_number(r, 3, _shown_change(row.metric, float(row.delta)),
                                    number(row.metric, True))
                continue
            for col, header in enumerate(frame.columns):
                width = 60 if header in ("why", "joined", "left") else max(
                    12, min(40, len(str(header)) + 4))
                ws.set_column(col, col, width, wrap if width == 60 else None)
                ws.write_string(0, col, headers.get(str(header), str(header)), head)
            ws.freeze_panes(1, 0)
            for r, values in enumerate(frame.itertuples(index=False), 1):
                for col, v in enumerate(values):
                    if isinstance(v, bool) or v is None or (isinstance(v, float) and v != v):
                        continue
                    if isinstance(v, int | float):
                        ws.write_number(r, col, float(v))
                    elif str(v):
                        ws.write_string(r, col, neutralize_formula(str(v)))
        wb.close()
    return target


_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1b2733;
max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
.sub{color:#5a6b7b;margin:0 0 16px}
table{border-collapse:collapse;font-size:12px;width:100%;table-layout:auto}
td,th{border:1px solid #d5dde6;padding:3px 8px;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef2f6;text-align:left} .note{color:#5a6b7b;font-size:12px}
td.why{max-width:520px} td.ids{max-width:360px;font-size:11px}
"""


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _person(name: object, eid: object, blank: str = "—") -> str:
    if not eid:
        return f"<td>{_e(blank)}</td>"
    shown = name or eid
    return f'<td title="{_e(f"{name} ({eid})" if name else eid)}">{_e(shown)}</td>'


def _rows(frame: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    return frame if limit is None else frame.head(limit)


def _more(frame: pd.DataFrame, limit: int | None, what: str) -> str:
    if limit is None or len(frame) <= limit:
        return ""
    return (f"<p class='note'>{len(frame) - limit:,} more {_e(what)} in the workbook and "
            "the CSV files.</p>")


def render_comparison_html(c: Comparison, *, description: str = "",
                           scenarios: pd.DataFrame | None = None,
                           limit: int | None = 2000) -> str:
    """The comparison as one self-contained HTML page.

    Examples
    --------
    >>> page = render_comparison_html(compare(a, b, "published", "Hire RSP"))  # doctest: +SKIP
    """
    head = "".join(f"<tr><td>{_e(r.figure)}</td><td>{_e(r.before)}</td><td>{_e(r.after)}</td>"
                   f"<td>{_e(r.change)}</td></tr>" for r in _headline_frame(c).itertuples())
    students = "".join(
        "<tr>"
        + f'<td title="{_e(r.student_id)}">{_e(r.student_name or r.student_id)}</td>'
        + f'<td title="{_e(r.school_id)}">{_e(r.school_name or r.school_id)}</td>'
        + _person(r.from_case_manager, r.from_case_manager_id)
        + _person(r.to_case_manager, r.to_case_manager_id, "unplaced")
        + f'<td class="why">{_e(r.why)}</td></tr>'
        for r in _rows(c.moved, limit).itertuples())
    rosters = "".join(
        "<tr>" + _person(r.name, r.educator_id) + f"<td>{_e(r.role)}</td>"
        f"<td>{r.students_a} → {r.students_b}</td>"
        f'<td class="ids">{_e(r.joined.replace(";", ", "))}</td>'
        f'<td class="ids">{_e(r.left.replace(";", ", "))}</td></tr>'
        for r in _rows(c.rosters, limit).itertuples())
    hiring = "".join(
        f"<tr><td>{_e(r.school_name or r.school_id or 'region ' + str(r.region))}</td>"
        f"<td>{_e(r.role)}</td><td>{_e(r.credential)}</td>"
        f"<td>{r.students_a:g} → {r.students_b:g}</td><td>{r.fte_a:.1f} → {r.fte_b:.1f}</td>"
        "</tr>" for r in c.hiring.itertuples())
    services = "".join(
        f"<tr><td>{_e(r.student_id)}</td><td>{_e(r.service)}</td>"
        f"<td>{_e(r.from_provider_id or '—')}</td><td>{_e(r.to_provider_id or 'not served')}"
        f'</td><td class="why">{_e(r.why)}</td></tr>'
        for r in _rows(c.services, limit).itertuples())
    side = ""
    if scenarios is not None:
        cols = list(scenarios.columns[1:])
        side = ("<h2>The scenarios side by side</h2><table><tr>"
                + "".join(f"<th>{_e(h)}</th>" for h in cols) + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                          for row in scenarios[cols].itertuples(index=False)) + "</table>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(c.name_b)} compared with {_e(c.name_a)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>What changes: {_e(c.name_b)}</h1>
<p class="sub">Compared with {_e(c.name_a)}.{(' ' + _e(description)) if description else ''}</p>
{side}
<h2>Before and after</h2>
<table><tr><th>Figure</th><th>Before</th><th>After</th><th>Change</th></tr>{head}</table>
<h2>Students whose case manager changes ({len(c.moved):,})</h2>
{'<table><tr><th>Student</th><th>School</th><th>From</th><th>To</th><th>Why</th></tr>'
 + students + '</table>' if len(c.moved) else "<p class='note'>No student changes.</p>"}
{_more(c.moved, limit, "students")}
<h2>Rosters that change ({len(c.rosters):,})</h2>
<p class="note">Every case manager whose students differ, even when the count is the same.</p>
{'<table><tr><th>Case manager</th><th>Role</th><th>Students</th><th>Joined</th><th>Left</th>'
 '</tr>' + rosters + '</table>' if len(c.rosters) else "<p class='note'>No roster changes.</p>"}
{_more(c.rosters, limit, "rosters")}
<h2>Hiring needs that change</h2>
{'<table><tr><th>Where</th><th>Role</th><th>Credential</th><th>Students</th><th>FTE</th></tr>'
 + hiring + '</table>' if len(c.hiring) else "<p class='note'>No change in hiring needs.</p>"}
{('<h2>Service providers that change (' + f'{len(c.services):,}' + ')</h2><table><tr>'
  '<th>Student</th><th>Service</th><th>From</th><th>To</th><th>Why</th></tr>' + services
  + '</table>') if len(c.services) else ''}
</body></html>
"""


def write_comparison_html(c: Comparison, path: str | Path, *, description: str = "",
                          scenarios: pd.DataFrame | None = None) -> Path:
    """Write :func:`render_comparison_html` to ``path`` (atomically)."""
    target = Path(path)
    with atomic_file(target) as tmp:
        tmp.write_text(render_comparison_html(c, description=description, scenarios=scenarios),
                       encoding="utf-8")
    return target
