"""The one-page report for the cabinet: a single self-contained HTML file.

Charts are inline SVG drawn here (no network, no JavaScript library, no
image files); a few lines of inline script only mark each chart as rendered
once the browser has laid it out, which the tests check in headless Chromium.
Every text from the input is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from optimizer.district.model import CHANGES_SOURCE
from optimizer.outputs.service_report import hiring_table_columns, render_service_section
from optimizer.planning.result import (
    LOCAL_CAPS_WORDS,
    PlanTables,
    local_caps,
    plain_headline,
    plan_title,
)

__all__ = ["render_report", "MAX_SCHOOLS_SHOWN"]

#: Beyond this many schools, the per-school charts show the schools most in
#: need of attention (lowest best-practice share); the workbook has them all.
MAX_SCHOOLS_SHOWN = 40

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1b2733}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
.sub{color:#5a6b7b;margin:0 0 16px}
.headline p{font-size:17px;margin:0 0 6px;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #d5dde6;border-radius:8px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:22px} .card span{color:#5a6b7b;font-size:12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
figure{margin:0;border:1px solid #e3e8ee;border-radius:8px;padding:8px}
figcaption{font-weight:600;font-size:13px;margin-bottom:4px}
table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #d5dde6;padding:3px 8px}
th{background:#eef2f6;text-align:left} .note{color:#5a6b7b;font-size:12px}
@media print{body{margin:8mm}.grid{grid-template-columns:1fr 1fr}}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var figs = document.querySelectorAll('figure.chart');
  var ok = 0;
  figs.forEach(function (f) {
    var svg = f.querySelector('svg');
    var box = svg ? svg.getBoundingClientRect() : null;
    var marks = svg ? svg.querySelectorAll('.mark').length : 0;
    if (box && box.width > 0 && box.height > 0 && marks > 0) {
      f.setAttribute('data-rendered', 'yes'); ok += 1;
    } else { f.setAttribute('data-rendered', 'no'); }
  });
  document.body.setAttribute('data-charts-rendered', ok + '/' + figs.length);
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _bars(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[tuple[str, str]],
          maximum: float, fmt: str = "{:.0%}", width: int = 460, label_w: int = 120) -> str:
    """Horizontal bars: one group per row, one bar per series."""
    bar_h, gap = 10, 6
    group_h = bar_h * len(series) + gap
    height = 24 + group_h * max(len(rows), 1)
    span = width - label_w - 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'role="img" viewBox="0 0 {width} {height}">']
    legend_x = label_w
    for name, colour in series:
        out.append(f'<rect x="{legend_x}" y="2" width="10" height="10" '
                   f'fill="{colour}"/><text x="{legend_x + 14}" y="11" '
                   f'font-size="11">{_e(name)}</text>')
        legend_x += 14 + 6 * len(name) + 16  # about 6 px a character at 11 px
    for i, (label, values) in enumerate(rows):
        y0 = 20 + i * group_h
        out.append(f'<text x="{label_w - 6}" y="{y0 + group_h / 2}" font-size="11" '
                   f'text-anchor="end">{_e(label)}</text>')
        for k, v in enumerate(values):
            w = 0 if maximum <= 0 else max(0.5, span * min(v, maximum) / maximum)
            y = y0 + k * bar_h
            out.append(f'<rect class="mark" x="{label_w}" y="{y}" width="{w:.1f}" '
                       f'height="{bar_h - 1}" fill="{series[k][1]}"><title>{_e(label)}: '
                       f'{_e(fmt.format(v))}</title></rect>'
                       f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 2}" '
                       f'font-size="9">{_e(fmt.format(v))}</text>')
    out.append("</svg>")
    return "".join(out)


def _strips(rows: Sequence[tuple[str, Sequence[float | tuple[float, str]]]],
            width: int = 540) -> str:
    """One row of dots per school: each dot a case manager's load ratio (0-1.2),
    with the case manager's name as hover text when given as (ratio, who)."""
    label_w, row_h, top = 190, 16, 22  # room for a school's name
    height = top + row_h * max(len(rows), 1) + 18
    span = width - label_w - 20

    def x(v: float) -> float:
        return label_w + span * min(max(v, 0.0), 1.2) / 1.2

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'role="img" viewBox="0 0 {width} {height}">']
    for tick in (0, 0.4, 0.8, 1.0, 1.2):
        colour = "#c0392b" if tick == 1.0 else "#c9d2dc"
        out.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 6}" '
                   f'y2="{height - 14}" stroke="{colour}" stroke-dasharray="3,2"/>'
                   f'<text x="{x(tick):.1f}" y="{height - 2}" font-size="9" '
                   f'text-anchor="middle">{tick:.1f}</text>')
    out.append(f'<text x="{x(1.0) + 3:.1f}" y="{top - 8}" font-size="9" fill="#c0392b">'
               'cap</text>')
    for i, (label, ratios) in enumerate(rows):
        y = top + i * row_h + row_h / 2
        out.append(f'<text x="{label_w - 6}" y="{y + 4}" font-size="11" '
                   f'text-anchor="end">{_e(label)}</text>')
        for item in ratios:
            v, who = item if isinstance(item, tuple) else (item, "")
            hover = f"{who}: {v:.0%} of cap" if who else f"{v:.2f}"
            colour = "#c0392b" if v >= 1 else "#e0a100" if v >= 0.8 else "#2e8b57"
            out.append(f'<circle class="mark" cx="{x(v):.1f}" cy="{y:.1f}" r="3.5" '
                       f'fill="{colour}" fill-opacity="0.75"><title>{_e(hover)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def _figure(name: str, caption: str, svg: str, note: str = "") -> str:
    extra = f'<div class="note">{_e(note)}</div>' if note else ""
    return (f'<figure class="chart" data-chart="{_e(name)}"><figcaption>{_e(caption)}'
            f"</figcaption>{svg}{extra}</figure>")


def _table(frame: pd.DataFrame, columns: Sequence[tuple[str, str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for _, h in columns)
    # A blank number (NaN, e.g. IEP minutes not given) is a blank cell, not "nan".
    body = "".join("<tr>" + "".join(f"<td>{_e('' if pd.isna(v) else v)}</td>" for v in row)
                   + "</tr>"
                   for row in frame[[c for c, _ in columns]].itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def render_report(tables: PlanTables, *, redact: bool = False) -> str:
    """The report as one HTML string (write it with :func:`optimizer.outputs.export.write_report`).

    Parameters
    ----------
    tables
        The plan's tables (``Result.tables()`` or a plan folder read back).
    redact
        Replace educator names with their ids.

    Returns
    -------
    str
        A self-contained HTML page (styles, charts and script inline).

    Examples
    --------
    >>> html_text = render_report(plan(district).tables())   # doctest: +SKIP
    """
    f: Mapping[str, Any] = tables.summary  # summary.json: values by key, types per key
    a = tables.assignments
    cl = tables.caseloads
    lr = f.get("load_ratio", {})
    placed = a[a["case_manager_id"] != ""]
    on_staff = set(cl["educator_id"].tolist())
    school_name = (dict(zip(a["school_id"].tolist(), a["school_name"].tolist(), strict=True))
                   if "school_name" in a.columns else {})
    by_school = a.groupby("school_id", sort=True)
    school_rows = []
    for sch, g in by_school:
        p = g[g["case_manager_id"] != ""]
        had = g[g["current_case_manager_id"].isin(on_staff)]
        school_rows.append({
            "school_id": sch, "students": len(g), "placed": len(p),
            "best": float((p["rank"] == 0).sum() / len(p)) if len(p) else 0.0,
            "kept": float(had["kept_current"].sum() / len(had)) if len(had) else 0.0,
        })
    schools = pd.DataFrame(school_rows, columns=["school_id", "students", "placed", "best",
                                                 "kept"])
    note = ""
    if len(schools) > MAX_SCHOOLS_SHOWN:
        note = (f"{MAX_SCHOOLS_SHOWN} of {len(schools)} schools shown: those with the "
                "lowest best-practice share. Every school is in the workbook.")
        schools = schools.sort_values(["best", "school_id"]).head(MAX_SCHOOLS_SHOWN)
        schools = schools.sort_values("school_id")

    staff = cl[(cl["cap"].fillna(0) > 0) & (cl["students"].fillna(0) > 0)]
    ratio_rows = []
    for sch in schools["school_id"]:
        # A list comprehension, not Series.apply: on no staff, apply gives a frame.
        serving = staff[[sch in str(v).split(";") for v in staff["schools"]]]
        ratio_rows.append((school_name.get(sch) or sch, [
            (float(v), f"{n} ({e}, {role})" if n and n != e else f"{e} ({role})")
            for v, n, e, role in zip(serving["load_ratio"].fillna(0),
                                     serving["name"].fillna("") if "name" in serving else
                                     [""] * len(serving), serving["educator_id"],
                                     serving["role"], strict=True)]))

    un = tables.unassigned
    reasons = {"no one may case-manage": 0, "every eligible case manager full": 0}
    for text in un["reason"]:
        key = ("no one may case-manage" if text.startswith("No one")
               else "every eligible case manager full")
        reasons[key] += 1

    cards = [("students", f"{f.get('students', 0):,}"), ("placed", f"{f.get('placed', 0):,}"),
             ("unplaced", f"{f.get('unplaced', 0):,}"),
             ("best practice", f"{f.get('best_practice_share', 0):.1%}"),
             ("kept case manager", f"{f.get('continuity_share', 0):.1%}"),
             ("highest load ratio", f"{lr.get('max', 0):.2f}"),
             ("mean load ratio", f"{lr.get('mean', 0):.2f}")]
    charts = [
        _figure("load-ratio", "Caseload ÷ cap of each case manager, by school",
                _strips(ratio_rows), note),
        _figure("best-practice", "Best practice and continuity by school",
                _bars([(school_name.get(r.school_id) or r.school_id, (r.best, r.kept))
                       for r in schools.itertuples()],
                      [("best practice", "#2f6db5"), ("kept case manager", "#7fb3e0")],
                      1.0, width=540, label_w=190), note),
        _figure("unplaced", "Students not placed, by reason",
                _bars([(k, (float(v),)) for k, v in reasons.items()],
                      [("students", "#c0392b")], max(1.0, max(reasons.values())),
                      fmt="{:.0f}", label_w=200)),
    ]
    hiring = tables.hiring_needs
    hiring = hiring.assign(school=[school_name.get(x) or x for x in hiring["school_id"]])
    hiring_html = (_table(hiring, hiring_table_columns([
                              ("school", "School"), ("region", "Region"),
                              ("role", "Role"), ("credential", "Credential"),
                              ("students", "Students"), ("fte", "FTE")], hiring))
                   if len(hiring) else "<p class='note'>No hires needed: every student "
                                       "is placed.</p>")
    # The hires follow from the caps: say which are local figures, not law.
    local = local_caps(f.get("caps", ()))
    if local:
        hiring_html += f"<p class='note'>{_e(LOCAL_CAPS_WORDS)}: {_e(local)}.</p>"
    # Service caseloads against caps ("" when the plan does not plan services).
    services_html = render_service_section(tables, strips=_strips, figure=_figure)
    redacted = " · names redacted" if redact else ""
    headline = plain_headline(f, tables.hiring_needs, a)
    made = (f"Plan made {f['made_at']}" if f.get("made_at") else
            "Plan date not recorded (set SOURCE_DATE_EPOCH when planning to stamp it)")
    status_words = ("the best plan the rules allow, proven" if f.get("status") == "optimal"
                    else "within every rule and cap; not proven the best")
    legend = ("Fit of a case manager: best-practice match = the type the CTC's best practice "
              "names for the student (e.g. their SAI teacher); acceptable = teaches or serves "
              "the student; coordinator only = coordinates the IEP without teaching or "
              "serving. Hover a dot to see the case manager.")
    # The files' digests, shortened; a what-if's changes in full.
    sources = ", ".join(f"{k} ({v})" if k == CHANGES_SOURCE else f"{k} ({v[:12]}…)"
                        for k, v in dict(f.get("sources", {})).items())
    title = plan_title(f)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} — {_e(f.get('district', ''))}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{_e(title)} — {_e(f.get('district', ''))}</h1>
<p class="sub">{_e(made)}{_e(redacted)}</p>
<div class="headline">{''.join(f'<p>{_e(line)}</p>' for line in headline)}</div>
<div class="cards">{''.join(f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>'
                             for k, v in cards)}</div>
<div class="grid">{''.join(charts[:2])}</div>
<div class="grid">{charts[2]}<div><h2>Hiring needs</h2>{hiring_html}</div></div>
{services_html}<p class="note">{_e(legend)}</p>
<h2>Technical</h2>
<p class="note">Status {_e(f.get('status', ''))} ({_e(status_words)}): {_e(f.get('engine', ''))}.
Placed {len(placed):,} students. Inputs: {_e(sources)}.</p>
<script>{_SCRIPT}</script>
</body></html>
"""
