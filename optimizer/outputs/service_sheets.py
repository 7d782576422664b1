"""The service plan in the workbook: the Services sheet, printable provider
rosters, and the service columns of the Case managers and Hiring needs sheets.

Everything here acts only on a plan that plans services
(``PlanTables.services`` not empty, docs/service-caseloads.md): for any other
plan each function gives back what it was given, or nothing, so the workbook
is the same bytes as before services existed.

The sheets are written by the workbook's own table writer
(:meth:`optimizer.outputs.workbook._Writer.table`), which guards every text
cell against formula injection and writes numbers as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from optimizer.district.bulk import without_collector_pauses
from optimizer.planning.result import PlanTables

__all__ = ["SERVICE_SHEETS", "caseload_columns", "column_map", "has_services", "hiring_columns",
           "looked_up", "provider_rosters", "service_sheet_placeholders",
           "service_summary_rows", "services_frame", "write_service_sheets"]

#: The sheets a service plan adds, written after Rosters.
SERVICE_SHEETS = ("Services", "Provider rosters")
#: Headers of the Services sheet that ``plan --keep`` and ``check`` read back
#: (edit_sheet.py).
SERVICE_HEADER, PROVIDER_HEADER, MINUTES_HEADER = "Service", "Provider", "IEP minutes a week"

#: (column, header, kind) of a sheet, as the workbook's table writer takes them.
Column = tuple[str, str, str]

# The caseloads.csv columns of a service plan (SERVICE_CASELOAD_COLUMNS), in
# words. "Caseload" is the number the cap applies to: distinct students served
# or case-managed plus other_load (students served outside this plan).
_CASELOAD_EXTRA: tuple[Column, ...] = (
    ("served", "Students served", "int"), ("case_managed", "Students case-managed", "int"),
    ("caseload", "Caseload (cap applies)", "int"), ("minutes", "IEP minutes a week", "int"),
    ("minutes_capacity", "Minutes capacity", "int"))

#: What a roster row's student is to the provider (the caseload counts each once).
SERVES, SERVES_AND_MANAGES, MANAGES = "serves", "serves and case-manages", "case-manages only"


def has_services(tables: PlanTables) -> bool:
    """True when the plan plans service providers (its services table has rows).

    Examples
    --------
    >>> has_services(plan(district).tables())   # doctest: +SKIP
    False
    """
    return len(tables.services) > 0


def caseload_columns(columns: Sequence[Column], caseloads: pd.DataFrame) -> list[Column]:
    """The Case managers sheet's columns, plus served / case-managed / caseload /
    minutes / minutes capacity where ``caseloads`` has them (a service plan).

    Examples
    --------
    >>> caseload_columns([("cap", "Cap", "int")], pd.DataFrame(columns=["cap"]))
    [('cap', 'Cap', 'int')]
    >>> [h for _, h, _ in caseload_columns([("students", "Students", "int")],
    ...                                    pd.DataFrame(columns=["served", "case_managed"]))]
    ['Students served', 'Students case-managed']
    """
    # (A service plan's "students" are its students case-managed: said once,
    # beside those served, not as a bare "Students" a planner read as all.)
    own = [c for c in columns if not (c[0] == "students" and "case_managed" in caseloads.columns)]
    return [*own, *(c for c in _CASELOAD_EXTRA if c[0] in caseloads.columns)]


def hiring_columns(columns: Sequence[Column], hiring: pd.DataFrame) -> list[Column]:
    """The Hiring needs sheet's columns, with ``service`` after the credential and
    ``minutes`` after the students where ``hiring`` has them (a service plan).

    Examples
    --------
    >>> cols = [("credential", "Credential", "text"), ("students", "Students", "int")]
    >>> [h for _, h, _ in hiring_columns(cols, pd.DataFrame(columns=["service", "minutes"]))]
    ['Credential', 'Service', 'Students', 'IEP minutes a week']
    """
    out: list[Column] = []
    for col in columns:
        out.append(col)
        if col[0] == "credential" and "service" in hiring.columns:
            out.append(("service", "Service", "text"))
        if col[0] == "students" and "minutes" in hiring.columns:
            out.append(("minutes", "IEP minutes a week", "int"))
    return out


def _flags(series: pd.Series) -> pd.Series:
    """``kept_current`` as booleans, whether made in memory or read back as text."""
    if pd.api.types.is_bool_dtype(series):
        return series
    return series.astype(str).str.strip().str.lower().isin(("true", "1", "yes"))


def _numbers(series: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series):
        # Numbers already (a plan made in memory): none is "" (170,000 texts
        # made to find none took 0.06 s at 100,000 students).
        return pd.to_numeric(series, errors="coerce")
    return pd.to_numeric(series.where(series.astype(str) != ""), errors="coerce")


def column_map(frame: pd.DataFrame, key: str, value: str) -> dict[str, str]:
    """key -> value (as text, NA blank) from a table that carries both; empty
    when it lacks either (a plan without names, or redacted).

    Examples
    --------
    >>> column_map(pd.DataFrame({"school_id": ["ELM"], "school_name": [None]}),
    ...            "school_id", "school_name")
    {'ELM': ''}
    """
    if value not in frame.columns or key not in frame.columns or not len(frame):
        return {}
    return dict(zip(frame[key].astype(str).tolist(), frame[value].fillna("").astype(str).tolist(),
                    strict=True))


def looked_up(ids: pd.Series | np.ndarray, mapping: Mapping[str, Any]) -> np.ndarray:
    """``mapping.get(str(i))`` for each id (a name, a role), blank where it
    has none (or an NA value), looked up once per distinct id (a 170,000-row
    sheet has ~100,000 students, ~2,000 schools and ~6,000 staff). The
    workbook's sheets name their ids by it too.

    Examples
    --------
    >>> looked_up(pd.Series(["E1", None, "E9", "E1"]), {"E1": "Ana Ruiz"}).tolist()
    ['Ana Ruiz', '', '', 'Ana Ruiz']
    """
    codes, uniques = pd.factorize(np.asarray(ids, dtype=object), use_na_sentinel=False)
    found = [mapping.get(str(u)) for u in uniques.tolist()]
    return np.array(["" if v is None or v != v else v for v in found] + [""],
                    dtype=object).take(codes)


def _text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str)


def services_frame(tables: PlanTables, names: Mapping[str, str]) -> pd.DataFrame:
    """The Services sheet's rows: one per student and IEP service, by student
    then service, with the provider's name.

    Examples
    --------
    >>> services_frame(plan(district).tables(), {})   # doctest: +SKIP
    """
    s = tables.services.copy()
    for col in ("student_id", "school_id", "service", "provider_id", "role", "reason"):
        s[col] = _text(s[col])
    s = s.sort_values(["student_id", "service", "provider_id"], kind="stable",
                      ignore_index=True)
    s["provider_name"] = looked_up(s["provider_id"], names)
    s["kept_current"] = _flags(s["kept_current"])
    s["minutes"] = _numbers(s["minutes"])
    return s


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _sort_codes(values: np.ndarray) -> np.ndarray:
    """Integer codes in the order ``sort_values`` puts ``values`` (texts by
    their characters, NA last), for ``np.lexsort``: sorting ~270,000 texts
    by comparing them took a quarter of the rosters' time. (The distinct
    values by Python's sort, which takes the ids' runs already in order:
    numpy's took 0.19 s for the rosters' columns.)"""
    codes, uniques = pd.factorize(values)
    distinct = uniques.tolist()
    rank = np.empty(len(distinct) + 1, dtype=np.int64)
    rank[sorted(range(len(distinct)), key=distinct.__getitem__)] = np.arange(len(distinct))
    rank[-1] = len(distinct)  # NA (code -1) last
    return rank.take(codes)


def provider_rosters(tables: PlanTables, names: Mapping[str, str],
                     services: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[int]]:
    """The Provider rosters sheet: per provider, every student on their caseload.

    Every educator with a caseload: who serves at least one (student, service)
    pair in the plan, or case-manages a student. A roster has one row per
    distinct student they serve (the
    services they give that student and the minutes, added up) or case-manage
    without serving, with the student's case manager, then a total row: the
    students listed, their IEP minutes a week, and the caseload against the cap
    (the roster's students plus ``other_load``) and against the minutes capacity.
    Providers come by role and id, students by school and id.

    ``services``: :func:`services_frame` of the same tables when the caller
    has it already (it is read, not changed).

    Returns
    -------
    tuple of (DataFrame, list of int)
        The rows, and the data-row indices where a provider's block starts
        (page breaks go before them).

    Examples
    --------
    >>> rows, starts = provider_rosters(plan(district).tables(), {})   # doctest: +SKIP
    """
    # In arrays of positions, not by pandas' maps, groupbys and sorts keyed by
    # texts: about 1.0 -> 0.45 s at 100,000 students (170,000 service rows),
    # in the second process the workbook waits for. The same frame (compared
    # whole at 100,000 students, whole minutes; a test counts a generated
    # plan's rows one by one), but three or more services' fractional minutes
    # are now added exactly.
    s = services_frame(tables, names) if services is None else services
    s = s[s["provider_id"] != ""]
    prov = s["provider_id"].to_numpy(dtype=object)
    sid = s["student_id"].to_numpy(dtype=object)
    a = tables.assignments
    student_ids = _text(a["student_id"]).to_numpy(dtype=object)
    # Each student's row in assignments (its case manager, school, grade,
    # disability); -1, and so the blank or NA at the end, when it has none.
    at = pd.Index(student_ids).get_indexer(sid)
    cm_of = np.append(_text(a["case_manager_id"]).to_numpy(dtype=object), "")
    info = {c: _text(a[c]).to_numpy(dtype=object) for c in
            ("school_id", "grade", "primary_disability")}

    # One row per (provider, student): the services they give that student
    # joined (in service order: services_frame sorts by student, then
    # service, and a stable sort keeps it), the minutes added up (blank if
    # none has them).
    p_code, _ = pd.factorize(prov)
    s_code, s_uniques = pd.factorize(sid)
    key = p_code.astype(np.int64) * max(1, len(s_uniques)) + s_code
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    minutes = s["minutes"].to_numpy(dtype=float)[order]
    given = ~np.isnan(minutes)
    if len(starts):
        total = np.add.reduceat(np.where(given, minutes, 0.0), starts)
        total[np.add.reduceat(given, starts) == 0] = np.nan
    else:
        total = np.zeros(0)
    service = s["service"].to_numpy(dtype=object)[order]
    joined = service[starts]
    sizes = np.diff(np.append(starts, len(key)))
    for g in np.flatnonzero(sizes > 1).tolist():
        joined[g] = ";".join(service[starts[g]:starts[g] + sizes[g]].tolist())
        if sizes[g] > 2 and given[starts[g]:starts[g] + sizes[g]].any():
            # Three or more: their minutes added exactly, rounded once
            # (NumPy's sum makes 6.9 + 29.2 + 39.2 75.30000000000001).
            m = minutes[starts[g]:starts[g] + sizes[g]]
            total[g] = math.fsum(m[~np.isnan(m)].tolist())
    at = at[order][starts]
    served_prov = prov[order][starts]
    served_cm = cm_of[at]
    manages = served_cm == served_prov

    # Students a provider case-manages without serving them: a caseload seat
    # too; and a case manager who serves no one (a program specialist) has a
    # roster of those they case-manage, so that every caseload is listed. (A
    # student has one case manager: served by them is the "serves and
    # case-manages" rows.)
    only = cm_of[:-1] != ""
    only[at[manages & (at >= 0)]] = False
    only_at = np.flatnonzero(only)
    n_only = len(only_at)
    school = np.concatenate([s["school_id"].to_numpy(dtype=object)[order][starts],
                             info["school_id"][only_at]])
    row_at = np.concatenate([at, only_at])
    # A blank school: the student's school in assignments (NA when not there).
    school_of = np.append(info["school_id"], np.nan)
    school = np.where(school != "", school, school_of[row_at])
    rows = pd.DataFrame({
        "provider_id": np.concatenate([served_prov, cm_of[only_at]]),
        "student_id": np.concatenate([sid[order][starts], student_ids[only_at]]),
        "school_id": school,
        "service": np.concatenate([joined, np.full(n_only, "", dtype=object)]),
        "minutes": np.concatenate([total, np.full(n_only, np.nan)]),
        "case_manager_id": np.concatenate([served_cm, cm_of[only_at]]),
        "relation": np.concatenate([np.where(manages, SERVES_AND_MANAGES, SERVES),
                                    np.full(n_only, MANAGES)]).astype(object),
        **{c: np.append(info[c], "")[row_at] for c in ("grade", "primary_disability")},
    })

    cl = tables.caseloads
    cl_ids = _text(cl["educator_id"])
    role_of = dict(zip(cl_ids.tolist(), _text(cl["role"]).tolist(), strict=True))
    role_of.update({p: r for p, r in zip(s["provider_id"].tolist(), s["role"].tolist(),
                                          strict=True)
                    if p not in role_of})
    rows["role"] = looked_up(rows["provider_id"], role_of)
    rows["total"] = 0
    totals = _total_rows(rows, cl, cl_ids)
    rows = pd.concat([rows, totals], ignore_index=True)
    by = np.lexsort([_sort_codes(rows[c].to_numpy(dtype=object)) if c != "total"
                     else rows[c].to_numpy()
                     for c in ("student_id", "school_id", "total", "provider_id", "role")])
    rows = rows.take(by).reset_index(drop=True)
    rows["provider_name"] = looked_up(rows["provider_id"], names)
    rows["cm_name"] = looked_up(rows["case_manager_id"], names)
    provider = rows["provider_id"].to_numpy()
    start = np.flatnonzero(provider[1:] != provider[:-1]) + 1
    return rows, start.tolist()


def _total_rows(rows: pd.DataFrame, cl: pd.DataFrame, cl_ids: pd.Series) -> pd.DataFrame:
    """One total row per provider: students listed, minutes, caseload vs cap."""
    g = rows.groupby("provider_id", sort=True)
    count = g.size()
    minutes = g["minutes"].sum(min_count=1)
    # Minutes are missing only where a service is given without them.
    serving = rows["relation"] != MANAGES
    served_n = serving.groupby(rows["provider_id"], sort=True).sum()
    missing = (rows["minutes"].isna() & serving).groupby(rows["provider_id"], sort=True).sum()
    figures = pd.DataFrame({c: _numbers(cl[c]).to_numpy() if c in cl.columns else np.nan
                            for c in ("cap", "load", "other_load", "caseload",
                                      "minutes_capacity")}, index=cl_ids)
    figures = figures[~figures.index.duplicated()].reindex(count.index)
    # No caseload column (not a service plan's caseloads): the load is the capped number.
    figures["caseload"] = figures["caseload"].fillna(figures["load"])
    notes = []
    for f, total, n, lack in zip(figures.itertuples(), minutes.tolist(), served_n.tolist(),
                                 missing.tolist(), strict=True):
        parts = []
        if f.caseload == f.caseload:
            parts.append(f"caseload {_fmt(f.caseload)}"
                         + (f" of cap {_fmt(f.cap)}" if f.cap == f.cap else ""))
            if f.other_load == f.other_load and f.other_load > 0:
                parts.append(f"{_fmt(f.other_load)} served outside this plan")
        if f.minutes_capacity == f.minutes_capacity:
            used = 0.0 if total != total else float(total)
            parts.append(f"IEP minutes {_fmt(used)} of {_fmt(f.minutes_capacity)} a week"
                         + (": over" if used > f.minutes_capacity else ""))
        if 0 < lack < n:
            parts.append(f"minutes not given for {int(lack)}")
        notes.append("; ".join(parts))
    return pd.DataFrame({
        "provider_id": count.index, "student_id": "Total", "school_id": "",
        "service": [f"{k} student{'s' if k != 1 else ''}" for k in count.tolist()],
        "minutes": minutes.to_numpy(), "case_manager_id": "", "relation": notes,
        "grade": "", "primary_disability": "",
        "role": g["role"].first().to_numpy(), "total": 1})


def service_summary_rows(summary: Mapping[str, Any], names: Mapping[str, str] | None = None
                         ) -> list[tuple[str, object, str]]:
    """Summary-sheet rows for ``summary.json``'s ``services`` block (none without it):
    per service served / not served / not planned, the role averages against
    their limit with the legal source, providers over a minutes capacity.

    Examples
    --------
    >>> service_summary_rows({})
    []
    """
    block = summary.get("services")
    if not isinstance(block, Mapping):
        return []
    rows: list[tuple[str, object, str]] = [
        ("Service plan", "who serves each IEP service (provider) and who case-manages", "text")]
    for code, c in sorted(dict(block.get("by_service", {})).items()):
        rows.append((f"  service {code}",
                     f"{int(c.get('served', 0)):,} of {int(c.get('pairs', 0)):,} served; "
                     f"{int(c.get('not_served', 0)):,} not served; "
                     f"{int(c.get('not_planned', 0)):,} not planned", "text"))
    if any(int(c.get("not_planned", 0)) for c in dict(block.get("by_service", {})).values()):
        rows.append(("  not planned means", str(block.get("not_planned_reason", "")), "text"))
    for role, av in sorted(dict(block.get("role_average", {})).items()):
        rows.append((f"  {role} average caseload per FTE", role_average_text(role, av), "text"))
    over = list(block.get("over_minutes_capacity", []))
    if block.get("minutes_capacity_used") or over:
        rows.append(("  providers over their IEP-minutes capacity",
                     ", ".join(_who(str(e), names or {}) for e in over) if over else "none",
                     "text"))
    return rows


def _who(eid: str, names: Mapping[str, str]) -> str:
    name = names.get(eid, "")
    return eid if name in ("", eid) else f"{name} ({eid})"


def role_average_text(role: str, av: Mapping[str, Any]) -> str:
    """One sentence: a role's district average caseload against its limit.

    Examples
    --------
    >>> role_average_text("SLP", {"caseload": 79, "fte": 1.5, "average": 52.67,
    ...                           "limit": 55, "source": "EC 56363.3; 5 CCR 3051.1(b)"})
    '52.7 (79 students over 1.5 FTE): within the limit of 55 (EC 56363.3; 5 CCR 3051.1(b))'
    """
    average, limit = float(av.get("average", 0) or 0), av.get("limit")
    verdict = ("" if limit is None else
               f": over the limit of {limit}" if average > float(limit) else
               f": within the limit of {limit}")
    source = f" ({av['source']})" if av.get("source") else ""
    return (f"{average:.1f} ({_fmt(float(av.get('caseload', 0) or 0))} students over "
            f"{float(av.get('fte', 0) or 0):g} FTE){verdict}{source}")


@without_collector_pauses  # a million small objects, no cycles: district/bulk.py
def write_service_sheets(writer: Any, tables: PlanTables, names: Mapping[str, str]) -> list[Any]:
    """Add the Services and Provider rosters sheets (nothing without services);
    returns them.

    ``writer`` is the workbook's table writer (``optimizer.outputs.workbook._Writer``):
    its ``table`` guards text cells and streams rows.

    Examples
    --------
    >>> write_service_sheets(writer, tables, names)   # doctest: +SKIP
    """
    if not has_services(tables):
        return []
    a = tables.assignments
    # Names a person reads, from assignments.csv (blank when absent or redacted).
    student_names = column_map(a, "student_id", "student_name")
    school_names = column_map(a, "school_id", "school_name")

    def named(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["student_name_"] = looked_up(frame["student_id"], student_names)
        frame["school_name_"] = looked_up(frame["school_id"], school_names)
        return frame

    services = services_frame(tables, names)
    services_sheet = writer.table("Services", named(services), [
        ("student_id", "Student", "text"), ("school_id", "School", "text"),
        ("service", SERVICE_HEADER, "text"), ("provider_id", PROVIDER_HEADER, "text"),
        ("provider_name", "Provider name", "text"), ("role", "Role", "text"),
        ("minutes", MINUTES_HEADER, "int"), ("kept_current", "Kept current", "bool"),
        ("reason", "Why", "text"),
        ("student_name_", "Student name", "text"), ("school_name_", "School name", "text")])
    rows, starts = provider_rosters(tables, names, services)
    rows = named(rows)

    def print_setup(ws: Any, n: int) -> None:
        # A roster per provider: each starts a page, one page wide, landscape;
        # the header row repeats (the table writer sets it) and total rows are bold.
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.conditional_format(1, 0, max(n, 1), 11, {
            "type": "formula", "criteria": '=$D2="Total"', "format": writer.total_row})

    rosters_sheet = writer.table("Provider rosters", rows, [
        ("provider_id", "Provider", "text"), ("provider_name", "Provider name", "text"),
        ("role", "Role", "text"), ("student_id", "Student", "text"),
        ("school_id", "School", "text"), ("grade", "Grade", "text"),
        ("primary_disability", "Primary disability", "text"),
        ("service", "Serves", "text"), ("minutes", "IEP minutes a week", "int"),
        ("case_manager_id", "Case manager", "text"),
        ("cm_name", "Case manager name", "text"), ("relation", "Caseload", "text"),
        # Last, so the total-row mark above keeps its column (D: Student).
        ("student_name_", "Student name", "text"), ("school_name_", "School name", "text"),
    ], after_header=print_setup, breaks=[i + 1 for i in starts])
    return [services_sheet, rosters_sheet]


def service_sheet_placeholders(writer: Any, tables: PlanTables) -> list[Any]:
    """Empty sheets in place of :func:`write_service_sheets`' (none without
    services), for the sheets made in a second process
    (:func:`optimizer.outputs.workbook.sheet_parts`).

    Examples
    --------
    >>> [ws.name for ws in service_sheet_placeholders(writer, tables)]   # doctest: +SKIP
    ['Services', 'Provider rosters']
    """
    if not has_services(tables):
        return []
    return [writer.wb.add_worksheet(name) for name in SERVICE_SHEETS]
