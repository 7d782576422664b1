"""Synthetic districts calibrated on published California figures.

Every person here is invented: ids are sequential, names are drawn from short
lists of common given and family names, and no row comes from real data. The
figures (disability mix, time in general education, services, staffing) are
the published ones listed with their sources in ``docs/generator.md``.

The generator returns text tables in the data-contract layout; writing them
to a folder is :func:`optimizer.outputs.export.write_district`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.district.contract import CONTRACT
from optimizer.district.reader import RawDistrict
from optimizer.district.validate import validate_tables
from optimizer.rulepacks import load_rule_pack
from optimizer.rules import decide

__all__ = ["GeneratedDistrict", "generate_district"]

# School-age primary disability mix (docs/generator.md; DB "rare").
_SCHOOL_AGE_MIX = {"SLD": 38.0, "SLI": 20.0, "AUT": 17.0, "OHI": 12.0, "ID": 5.5, "ED": 3.5,
                   "MD": 1.5, "HH": 0.6, "DEAF": 0.3, "OI": 0.4, "VI": 0.3, "TBI": 0.3,
                   "DB": 0.02}
# Preschool: mostly SLI (about 60%), then autism; EMD exists only here.
_PRESCHOOL_MIX = {"SLI": 60.0, "AUT": 25.0, "EMD": 4.0, "ID": 3.0, "MD": 2.0, "OHI": 2.0,
                  "HH": 1.5, "DEAF": 0.5, "OI": 1.0, "VI": 1.0}
# Adult transition programs serve mostly students with extensive needs.
_ADULT_MIX = {"ID": 35.0, "AUT": 35.0, "MD": 12.0, "SLD": 6.0, "OHI": 5.0, "ED": 3.0,
              "OI": 1.5, "HH": 1.0, "VI": 1.0, "TBI": 0.5}

# Share of the day in general education: (>=80%, 40-79%, <40%) per category
# (docs/generator.md; "separate school" folded into <40%).
_PLACEMENT = {"SLI": (88, 4, 8), "SLD": (76, 19, 5), "AUT": (38, 17, 45), "ID": (21, 28, 51),
              "MD": (16, 18, 66)}
_PLACEMENT_DEFAULT = (63, 16, 21)

# Probability of specialized academic instruction by category (overall ~69%).
_SAI = {"SLI": 0.08, "SLD": 0.90, "AUT": 0.75, "OHI": 0.78, "ID": 1.0, "ED": 0.92, "MD": 1.0,
        "HH": 0.5, "DEAF": 0.6, "VI": 0.4, "OI": 0.7, "TBI": 0.85, "DB": 1.0, "EMD": 0.7}
# Other services: probability by category (key "*" for any other category).
_SERVICES = {
    "SPEECH": {"SLI": 1.0, "AUT": 0.65, "ID": 0.45, "MD": 0.5, "HH": 0.4, "DEAF": 0.4,
               "EMD": 0.5, "*": 0.12},
    "OT": {"AUT": 0.3, "MD": 0.5, "OI": 0.4, "ID": 0.15, "EMD": 0.3, "*": 0.03},
    "PT": {"OI": 0.6, "MD": 0.3, "EMD": 0.2, "*": 0.005},
    "APE": {"MD": 0.4, "OI": 0.4, "ID": 0.15, "AUT": 0.08, "*": 0.01},
    "DHH": {"HH": 0.95, "DEAF": 0.95, "DB": 0.95, "*": 0.0},
    "VI": {"VI": 0.95, "DB": 0.95, "*": 0.0},
    "OM": {"VI": 0.4, "DB": 0.5, "*": 0.0},
    "COUNSELING": {"ED": 0.7, "OHI": 0.1, "AUT": 0.08, "*": 0.05},
    "BEHAVIOR": {"AUT": 0.12, "ED": 0.25, "*": 0.01},
    "HEALTH": {"OHI": 0.1, "OI": 0.2, "MD": 0.2, "EMD": 0.3, "*": 0.0},
    "AT": {"VI": 0.3, "OI": 0.2, "MD": 0.1, "*": 0.01},
}

_GIVEN = ("Alex", "Sam", "Jordan", "Maria", "Jose", "Linh", "Priya", "Chen", "Fatima", "Omar",
          "Grace", "Luis", "Ana", "David", "Keiko", "Tariq", "Rosa", "Miguel", "Hannah", "Ivan",
          "Aisha", "Noah", "Elena", "Daniel", "Mei", "Carlos", "Sofia", "Kwame", "Laura", "Raj")
_FAMILY = ("Garcia", "Nguyen", "Smith", "Hernandez", "Kim", "Patel", "Lopez", "Johnson", "Chen",
           "Martinez", "Brown", "Tran", "Rodriguez", "Williams", "Park", "Singh", "Davis",
           "Gonzalez", "Lee", "Ramirez", "Wilson", "Flores", "Khan", "Torres", "Okafor", "Rivera")

# The generated files follow the California rule pack (district.toml names it):
# grade codes, CALPADS codes, the instruction service and which disabilities
# are low incidence come from it. The synthetic distributions above and the
# school bands below (elementary to 5, middle 6-8, high 9-12) are the
# generator's own model, keyed by the pack's codes (tests check the keys).
_PACK = load_rule_pack("ca")
_PK, _A = _PACK.preschool_grade, _PACK.adult_transition_grade
_K12 = [g for g in _PACK.grades if g not in (_PK, _A)]  # TK, K, 1 ... 12
_SAI_SERVICE = _PACK.instruction_services[0]


@dataclass(frozen=True)
class GeneratedDistrict:
    """Text tables in the data-contract layout, plus district.toml text."""

    name: str
    tables: dict[str, pd.DataFrame]
    settings_toml: str


def _pick(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    keys = list(table)
    p = np.array([table[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def _school_plan(n_students: int) -> list[tuple[str, str, str, int]]:
    """(kind, low, high, count) of schools for a district of this size."""
    pk, adult = 0.05 * n_students, 0.02 * n_students
    k12 = n_students - pk - adult
    elem, mid, high = k12 * 7 / 14, k12 * 3 / 14, k12 * 4 / 14
    return [("preschool", _PK, _PK, max(1, round(pk / 150))),
            ("elementary", _K12[0], "5", max(1, round(elem / 150))),
            ("middle", "6", "8", max(1, round(mid / 200))),
            ("high", "9", _PACK.last_school_grade, max(1, round(high / 300))),
            ("adult", _A, _A, max(1, round(adult / 150)))]


def generate_district(n_students: int = 1900, seed: int = 0,
                      name: str | None = None, services: bool = False) -> GeneratedDistrict:
    """Make a synthetic district with about ``n_students`` students with IEPs.

    Parameters
    ----------
    n_students
        Students with IEPs (the sample has 1,900; LAUSD about 86,000).
    seed
        Random seed: the same seed and size give the same tables, byte for byte.
    name
        District name written to district.toml.
    services
        Also make ``services.csv`` (minutes and this year's providers). Off
        by default: a district with services.csv plans service providers too
        (``District.plans_services``), so it is asked for explicitly. The
        other tables are the same either way (services.csv has its own
        random stream).

    Returns
    -------
    GeneratedDistrict

    Examples
    --------
    >>> sorted(generate_district(300, seed=1).tables)
    ['educators', 'locks', 'schools', 'students']
    >>> sorted(generate_district(300, seed=1, services=True).tables)
    ['educators', 'locks', 'schools', 'services', 'students']
    """
    rng = np.random.default_rng(seed)
    name = name or f"Synthetic district ({n_students} students, seed {seed})"
    schools = _make_schools(rng, n_students)
    students = _make_students(rng, n_students, schools)
    educators = _make_educators(rng, schools, students)
    _fill_current_case_managers(rng, students, educators)
    tables = {
        "schools": schools.drop(columns=["kind"]),
        "educators": educators,
        "students": students.drop(columns=["_bp_role"]),
    }
    tables["locks"] = _make_locks(rng, tables)
    # services.csv has its own random stream, so adding it left every other
    # file of a seed byte for byte as it was.
    if services:
        tables["services"] = _make_services(np.random.default_rng([seed, _SERVICES_STREAM]),
                                            tables)
    for t, frame in tables.items():
        # Optional columns the generator never fills (a lock's service, students'
        # names) are left out, as a planner's own file may leave them out.
        cols = [c.name for c in CONTRACT[t] if c.required or c.name in frame.columns]
        tables[t] = frame[cols].astype(str).replace({"None": "", "nan": ""})
    settings = (f'name = "{name}"\nrule_pack = "ca"\n\n'
                "# Full-time caseload caps (prorated by FTE). Anything not given here\n"
                "# comes from the California rule pack.\n[caps]\nRSP = 28\n")
    return GeneratedDistrict(name, tables, settings)


def _make_schools(rng: np.random.Generator, n_students: int) -> pd.DataFrame:
    rows = []
    plan = _school_plan(n_students)
    counter = 0
    by_kind: dict[str, list[str]] = {}
    for kind, low, high, count in plan:
        for k in range(count):
            counter += 1
            sid = f"SCH{counter:04d}"
            by_kind.setdefault(kind, []).append(sid)
            label = {"preschool": "Early Learning Center", "elementary": "Elementary",
                     "middle": "Middle School", "high": "High School",
                     "adult": "Adult Transition Program"}[kind]
            rows.append({"school_id": sid, "name": f"{_FAMILY[(counter * 7) % len(_FAMILY)]} "
                         f"{label}" + (f" {k + 1}" if count > 1 else ""),
                         "low_grade": low, "high_grade": high, "feeds_into": "",
                         "region": "", "kind": kind})
    frame = pd.DataFrame(rows).set_index("school_id", drop=False)
    highs, mids, elems = by_kind["high"], by_kind["middle"], by_kind["elementary"]
    # Feeder chains: elementary -> middle -> high -> adult transition; preschool -> elementary.
    for i, s in enumerate(elems):
        frame.at[s, "feeds_into"] = mids[i * len(mids) // len(elems)]
    for i, s in enumerate(mids):
        frame.at[s, "feeds_into"] = highs[i * len(highs) // len(mids)]
    for i, s in enumerate(highs):
        frame.at[s, "feeds_into"] = by_kind["adult"][i * len(by_kind["adult"]) // len(highs)]
    for i, s in enumerate(by_kind["preschool"]):
        frame.at[s, "feeds_into"] = elems[i * len(elems) // len(by_kind["preschool"])]
    # Regions follow high-school attendance areas, one or two high schools each.
    n_regions = max(1, math.ceil(len(highs) / 1.5))
    region_of_high = {h: f"R{1 + i * n_regions // len(highs):02d}" for i, h in enumerate(highs)}
    for s in mids:
        frame.at[s, "region"] = region_of_high[frame.at[s, "feeds_into"]]
    for s in elems:
        frame.at[s, "region"] = frame.at[frame.at[s, "feeds_into"], "region"]
    for h, r in region_of_high.items():
        frame.at[h, "region"] = r
    for kind in ("preschool", "adult"):
        for i, s in enumerate(by_kind[kind]):
            frame.at[s, "region"] = f"R{1 + i * n_regions // len(by_kind[kind]):02d}"
    return frame.reset_index(drop=True)


def _make_students(rng: np.random.Generator, n: int, schools: pd.DataFrame) -> pd.DataFrame:
    # Grades: 5% preschool, 2% adult transition, the rest spread over TK-12 (TK smaller).
    k12_weights = np.array([0.4] + [1.0] * (len(_K12) - 1))
    grade_p = np.concatenate([[5.0], 93.0 * k12_weights / k12_weights.sum(), [2.0]])
    order = [_PK] + _K12 + [_A]
    grades = np.array(order, dtype=object)[
        rng.choice(len(order), size=n, p=grade_p / grade_p.sum())]
    pos = {g: i for i, g in enumerate(order)}
    serving: dict[str, list[str]] = {g: [] for g in order}
    size: dict[str, float] = {}
    for r in schools.itertuples():
        size[r.school_id] = rng.uniform(0.6, 1.4)  # schools differ in size
        for g in order[pos[r.low_grade]: pos[r.high_grade] + 1]:
            serving[g].append(r.school_id)
    school = np.empty(n, dtype=object)
    for g in order:
        idx = np.nonzero(grades == g)[0]
        opts = serving[g]
        w = np.array([size[s] for s in opts])
        school[idx] = np.array(opts, dtype=object)[rng.choice(len(opts), size=len(idx),
                                                              p=w / w.sum())]
    primary = _pick(rng, _SCHOOL_AGE_MIX, n)
    is_pk, is_a = grades == _PK, grades == _A
    primary[is_pk] = _pick(rng, _PRESCHOOL_MIX, int(is_pk.sum()))
    primary[is_a] = _pick(rng, _ADULT_MIX, int(is_a.sum()))
    # EMD only at ages 3-5: a few TK/K students keep it too.
    young = np.isin(grades, sorted(set(_PACK.disabilities["EMD"].grades or ()) - {_PK})) & (
        rng.random(n) < 0.01)
    primary[young] = "EMD"

    u = rng.random(n)
    secondary = np.full(n, "", dtype=object)
    basis = np.full(n, "", dtype=object)
    low = np.isin(primary, [a for a, d in _PACK.disabilities.items() if d.low_incidence])
    has_sec = np.where(low, u < 0.45, u < 0.12)
    sec_choice = _pick(rng, {"SLD": 3, "SLI": 3, "AUT": 2, "ID": 2, "OHI": 2, "ED": 1}, n)
    secondary[has_sec] = sec_choice[has_sec]
    secondary[secondary == primary] = ""
    basis[low & (secondary != "") & (rng.random(n) < 0.5)] = "secondary"

    # Placement: time in general education by category.
    gen_ed = np.empty(n)
    buckets = rng.random(n)
    for i in range(n):
        hi, mid, _ = _PLACEMENT.get(primary[i], _PLACEMENT_DEFAULT)
        b = buckets[i] * 100
        gen_ed[i] = (rng.uniform(80, 100) if b < hi else rng.uniform(40, 80)
                     if b < hi + mid else rng.uniform(0, 40))
    gen_ed = np.floor(gen_ed)

    services: list[list[str]] = []
    setting = np.full(n, "", dtype=object)
    draws = rng.random((n, len(_SERVICES) + 2))
    for i in range(n):
        cat = primary[i]
        basis_cat = secondary[i] if basis[i] == "secondary" else cat
        got = []
        if draws[i, 0] < _SAI.get(basis_cat, 0.8):
            got.append(_SAI_SERVICE)
            g = gen_ed[i]
            setting[i] = "rsp" if g >= 80 else ("sdc" if g < 40 else
                                                ("rsp" if draws[i, 1] < 0.5 else "sdc"))
        for j, (svc, table) in enumerate(_SERVICES.items()):
            if draws[i, j + 2] < table.get(cat, table["*"]):
                got.append(svc)
        if grades[i] in ("10", "11", _PACK.last_school_grade, _A):
            got.append("TRANSITION")
        if not got:
            got.append("SPEECH" if cat == "SLI" else _SAI_SERVICE)
            if got[0] == _SAI_SERVICE:
                setting[i] = "rsp"
        services.append(got)
    # A few IEPs list services by CALPADS code, as some exports do.
    code_of = {s: _PACK.services[s].codes[0] for s in (_SAI_SERVICE, "SPEECH", "OT")}
    svc_text = []
    code_draw = rng.random(n)
    for i, got in enumerate(services):
        if code_draw[i] < 0.03:
            svc_text.append(";".join(code_of.get(s, s) for s in got))
        else:
            svc_text.append(";".join(got))

    level = np.full(n, "", dtype=object)
    given = rng.random(n) < 0.25
    ext = (setting == "sdc") & (gen_ed < 40)
    level[given & ext] = "extensive"
    level[given & ~ext] = "mild_moderate"

    start = dt.date(2026, 9, 1)
    annual = [(start + dt.timedelta(days=int(d))).isoformat() for d in rng.integers(0, 365, n)]
    tri = [(start + dt.timedelta(days=int(d))).isoformat() for d in rng.integers(0, 1095, n)]
    # Birth dates for the 2026-27 school year: a kindergartner turns 5 by
    # 1 September 2026; TK children turn 4; preschoolers are 3 or 4; adult
    # transition students 18 to 21; about 1 in 20 is a year older (retained).
    age_at_start = np.array([{_PK: 3 + int(rng.random() < 0.5), **_PACK.preschool_moves_on,
                              _A: 18 + int(rng.integers(0, 4))}.get(g) or 5 + int(g)
                             for g in grades])
    age_at_start += (rng.random(n) < 0.05) & ~np.isin(grades, [_PK, _K12[0]])
    cutoff = dt.date(2026, 9, 1)
    born = [(dt.date(cutoff.year - int(a), cutoff.month, cutoff.day)
             - dt.timedelta(days=int(d))).isoformat()
            for a, d in zip(age_at_start, rng.integers(0, 365, n), strict=True)]
    # After grade 12, students with extensive needs often continue in adult transition.
    adult = np.full(n, "", dtype=object)
    continues = ((grades == _PACK.last_school_grade) & np.isin(primary, ["ID", "AUT", "MD"])
                 & (setting == "sdc"))
    adult[continues & (rng.random(n) < 0.6)] = "yes"
    adult[grades == _A] = "yes"
    frame = pd.DataFrame({
        "student_id": [f"S{i + 1:06d}" for i in range(n)],
        "school_id": school, "grade": grades,
        # Some files use the CALPADS number for the category.
        "primary_disability": primary, "secondary_disability": secondary,
        "placement_basis": basis, "support_level": level, "services": svc_text,
        "sai_setting": setting, "gen_ed_pct": gen_ed.astype(int).astype(str),
        "current_case_manager": "", "annual_review": annual, "triennial_review": tri,
        "weight": "", "birth_date": born, "adult_transition": adult,
    })
    frame["_bp_role"] = [("SDC" if st == "sdc" else "RSP" if st == "rsp" else
                          "DHH" if "DHH" in sv and "SPEECH" not in sv else
                          "VI" if "VI" in sv else "SLP") for st, sv in zip(setting, services,
                                                                             strict=True)]
    numeric = rng.random(n) < 0.05
    codes = {a: d.code for a, d in _PACK.disabilities.items()}
    frame.loc[numeric, "primary_disability"] = frame.loc[numeric, "primary_disability"].map(codes)
    return frame


def _name(rng: np.random.Generator) -> str:
    return f"{_GIVEN[rng.integers(len(_GIVEN))]} {_FAMILY[rng.integers(len(_FAMILY))]}"


def _teacher_credentials(rng: np.random.Generator, role: str, kind: str) -> list[str]:
    u = rng.random()
    if kind == "preschool":
        creds = ["ES-ECSE"] if u < 0.7 else ["ES-ECSE-OLD"] if u < 0.9 else []
    elif role == "RSP":
        creds = (["ES-MMSN"] if u < 0.55 else ["ES-MM"] if u < 0.8 else ["LH"] if u < 0.9
                 else [])  # about 1 in 10 on an intern permit: may only coordinate
        if "ES-MM" in creds and rng.random() < 0.5:
            creds.append("AA-ASD")
        if creds and rng.random() < 0.3:
            creds.append("AA-RSP")
    else:  # SDC
        creds = (["ES-ESN"] if u < 0.45 else ["ES-MS"] if u < 0.65 else ["ES-MMSN"] if u < 0.85
                 else ["SH"] if u < 0.9 else [])
        if creds and rng.random() < 0.1:
            creds.append("AA-ED")
        if creds and rng.random() < 0.05:
            creds.append("AA-OHI")
    return creds


def _make_educators(rng: np.random.Generator, schools: pd.DataFrame,
                    students: pd.DataFrame) -> pd.DataFrame:
    rows: list[dict] = []

    def add(role: str, creds: list[str], served: list[str], fte: float = 1.0,
            **extra: str) -> None:
        rows.append({"educator_id": f"E{len(rows) + 1:05d}", "name": _name(rng), "role": role,
                     "credentials": ";".join(creds), "schools": ";".join(served),
                     "fte": f"{fte:g}", "max_caseload": "", "other_load": "",
                     "case_manager": "", **extra})

    def teacher_fte() -> float:
        u = rng.random()
        return 1.0 if u < 0.88 else 0.8 if u < 0.95 else 0.5

    by_school = students.groupby("school_id")
    kinds = dict(zip(schools["school_id"], schools["kind"], strict=True))
    speech_need: dict[str, float] = {}
    for sid, grp in by_school:
        kind = kinds[sid]
        n_rsp = int((grp["sai_setting"] == "rsp").sum())
        n_sdc = int((grp["sai_setting"] == "sdc").sum())
        # Staffing with some slack, but not evenly; and special-education
        # positions go unfilled (a statewide shortage): about 1 in 12 is vacant.
        for _ in range(math.ceil(n_rsp / 24 * rng.uniform(0.8, 1.15))):
            if rng.random() >= 0.08:
                add("RSP", _teacher_credentials(rng, "RSP", kind), [sid], teacher_fte())
        for _ in range(math.ceil(n_sdc / 12 * rng.uniform(0.8, 1.15))):
            if rng.random() >= 0.08:
                add("SDC", _teacher_credentials(rng, "SDC", kind), [sid], teacher_fte())
        speech_need[sid] = grp["services"].str.contains("SPEECH|415").sum() / 45
        add("PSY", ["PPS"], [sid], 1.0 if len(grp) > 150 else 0.5)
    # SLPs: a school with more than one SLP's worth gets its own; the rest
    # share an itinerant SLP with neighbouring schools in the region.
    for _region, grp in schools.groupby("region", sort=True):
        pool: list[str] = []
        acc = 0.0
        for sid in grp["school_id"]:
            need = speech_need.get(sid, 0.0)
            for _ in range(int(need)):
                add("SLP", ["SLP-SCA" if rng.random() < 0.1 else "SLP"], [sid])
            acc += need - int(need)
            pool.append(sid)
            if acc >= 0.8:
                add("SLP", ["SLP"], pool)
                pool, acc = [], 0.0
        if pool and acc > 0.2:
            add("SLP", ["SLP"], pool)
        served = list(grp["school_id"])
        in_region = students[students["school_id"].isin(served)]
        n_dhh = int(in_region["services"].str.contains("DHH|710").sum())
        n_vi = int(in_region["services"].str.contains(r"(?:^|;)VI(?:;|$)").sum())
        # Low-incidence itinerants: one per region that needs them (a real gap
        # appears where a region has more students than one can carry).
        if n_dhh:
            add("DHH", ["ES-DHH"], served)
        if n_vi:
            add("VI", ["ES-VI"], served)
        add("APE", ["APE"], served)
        add("OT", ["OT-LIC"], served)
        add("PT", ["PT-LIC"], served)
        add("COORD", ["ES-MMSN"] if rng.random() < 0.5 else ["ES-MS"], served)
    # Orientation and mobility: one specialist for the whole district.
    add("OM", ["CRS-OM"], list(schools["school_id"]))
    return pd.DataFrame(rows)


def _fill_current_case_managers(rng: np.random.Generator, students: pd.DataFrame,
                                educators: pd.DataFrame) -> None:
    """This year's case managers: mostly the best-practice type at the school,
    some a poor fit, some no longer right (still at the student's old school,
    or in a role that may not case-manage), some who have left the district,
    and none for students new to their school."""
    by_school_role: dict[tuple[str, str], list[str]] = {}
    by_school: dict[str, list[str]] = {}
    non_cm: dict[str, list[str]] = {}
    all_cm: list[tuple[str, str]] = []
    for eid, role, served in zip(educators["educator_id"], educators["role"],
                                 educators["schools"], strict=True):
        for s in served.split(";"):
            if not _PACK.roles[role].case_manager:
                non_cm.setdefault(s, []).append(eid)
                continue
            by_school_role.setdefault((s, role), []).append(eid)
            by_school.setdefault(s, []).append(eid)
            all_cm.append((eid, s))
    u = rng.random(len(students))
    pick = rng.random(len(students))
    entry_grades = {_K12[0], "K", "6", "9", _A, _PK}
    out = []
    for i, (sch, grade, role) in enumerate(zip(students["school_id"].tolist(),
                                               students["grade"].tolist(),
                                               students["_bp_role"].tolist(), strict=True)):
        if grade in entry_grades and u[i] < 0.6:
            out.append("")  # new to this school: no case manager yet
            continue
        same = by_school_role.get((sch, role), [])
        anyone = by_school.get(sch, [])
        elsewhere = all_cm[int(pick[i] * len(all_cm))]
        if u[i] < 0.84 and same:
            out.append(same[int(pick[i] * len(same))])
        elif u[i] < 0.93 and anyone:
            out.append(anyone[int(pick[i] * len(anyone))])
        elif u[i] < 0.955 and elsewhere[1] != sch:
            out.append(elsewhere[0])  # still the case manager from another school
        elif u[i] < 0.965 and non_cm.get(sch):
            out.append(non_cm[sch][int(pick[i] * len(non_cm[sch]))])  # e.g. the psychologist
        else:
            out.append(f"E9{int(pick[i] * 9999):04d}")  # left the district
    students["current_case_manager"] = out


def _make_locks(rng: np.random.Generator, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """A few pins (a parent asked to keep a case manager) and forbids, all legal."""
    raw = RawDistrict(name="generated", tables={k: v.astype(str).replace({"None": ""})
                                                 for k, v in tables.items()})
    district, _ = validate_tables(raw)
    rows: list[dict[str, str]] = []
    if district is None:
        return pd.DataFrame(columns=["student_id", "educator_id", "kind", "reason"])
    want_pins = max(2, len(district.students) // 400)
    load: dict[str, float] = {}
    order = rng.permutation(len(district.students))
    ids = list(district.students)
    for k in order:
        s = district.students[ids[k]]
        cm = s.current_case_manager
        if not cm or cm not in district.educators:
            continue
        e = district.educators[cm]
        d = decide(district, s, e)
        if len(rows) < want_pins and d.capacity in ("instruction", "service") and \
                load.get(cm, 0) + s.weight < district.cap(cm) / 2:
            load[cm] = load.get(cm, 0) + s.weight
            rows.append({"student_id": s.student_id, "educator_id": cm, "kind": "pin",
                         "reason": "family asked to keep this case manager"})
        elif len(rows) >= want_pins and len(rows) < 2 * want_pins and d.capacity:
            rows.append({"student_id": s.student_id, "educator_id": cm, "kind": "forbid",
                         "reason": "conflict of interest (relative)"})
        if len(rows) >= 2 * want_pins:
            break
    return pd.DataFrame(rows, columns=["student_id", "educator_id", "kind", "reason"])


# ------------------------------------------------------------------ services.csv
#: Seed of services.csv's own random stream (with the district's seed).
_SERVICES_STREAM = 10
#: IEP minutes per week by service: (low, high, step). ILLUSTRATIVE, not
#: published figures: the ranges commonly seen on IEPs listed in
#: docs/service-caseloads.md section 1 (no statewide distribution was found).
#: BEHAVIOR has no listed range: the counseling one is borrowed. Services not
#: listed (health, assistive technology, transition, other) are left blank,
#: as they are often consultation without weekly minutes.
_MINUTES = {"SPEECH": (30, 120, 30), "DHH": (30, 180, 30), "VI": (30, 180, 30),
            "OM": (30, 120, 15), "OT": (15, 60, 15), "PT": (15, 60, 15), "APE": (60, 120, 30),
            "COUNSELING": (30, 60, 15), "BEHAVIOR": (30, 60, 15)}
#: Specialized academic instruction by setting: (low, high, step, typical low,
#: typical high); in the resource program most IEPs give 150-300 minutes.
_SAI_MINUTES = {"rsp": (60, 600, 30, 150, 300), "sdc": (900, 1800, 60, 900, 1800)}


def _draw_minutes(u: np.ndarray, service: str, setting: str) -> str:
    """Minutes from three uniform draws ``u`` (typical range?, 2 x 30?, value)."""
    if service == _SAI_SERVICE:
        lo, hi, step, typ_lo, typ_hi = _SAI_MINUTES.get(setting, _SAI_MINUTES["rsp"])
        if u[0] < 0.8:
            lo, hi = typ_lo, typ_hi
    elif service in _MINUTES:
        lo, hi, step = _MINUTES[service]
    else:
        return ""
    if service == "SPEECH" and u[1] < 0.5:
        return "60"  # the common 2 x 30 minutes
    return str(int(lo + step * int(u[2] * ((hi - lo) // step + 1))))


def _make_services(rng: np.random.Generator, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """services.csv: one row per student and service, in students.csv order.

    Minutes are drawn from the illustrative ranges above (about 1 in 20 left
    blank). This year's provider is the student's case manager when their
    role provides the service at the student's school, otherwise an educator
    whose role provides it there, some educators carrying more than others
    (so some SLPs serve near or over 55 students); blank for about 1 in 25
    rows and for most students with no case manager yet (new to the
    school), and about 1 in 40 names someone who has left the district.
    """
    from optimizer.district.services_check import role_provides  # the pack's provider rule

    educators, students = tables["educators"], tables["students"]
    role_of = dict(zip(educators["educator_id"], educators["role"], strict=True))
    # How much of the school's work each educator takes: unequal, as in practice.
    share = dict(zip(educators["educator_id"], rng.lognormal(0.0, 0.35, len(educators)),
                     strict=True))
    at_school: dict[str, list[str]] = {}
    for eid, served in zip(educators["educator_id"], educators["schools"], strict=True):
        for sch in served.split(";"):
            at_school.setdefault(sch, []).append(eid)
    items = [text.split(";") for text in students["services"].tolist()]
    new_student = rng.random(len(items)) < 0.7  # applies to students with no case manager
    u = rng.random((sum(len(i) for i in items), 6))  # per row: minutes x 4, provider x 2
    # (school, service, setting) -> the educators there who provide it, cumulative shares
    providers: dict[tuple[str, str, str], tuple[list[str], np.ndarray]] = {}
    rows = []
    k = 0
    for i, (sid, sch, setting, cm) in enumerate(zip(
            students["student_id"].tolist(), students["school_id"].tolist(),
            students["sai_setting"].tolist(), students["current_case_manager"].tolist(),
            strict=True)):
        for item in items[i]:
            service = _PACK.service_of(item) or item
            r = u[k]
            k += 1
            minutes = _draw_minutes(r[1:4], service, setting) if r[0] >= 0.05 else ""
            key = (sch, service, setting)
            if key not in providers:
                here = [e for e in at_school.get(sch, [])
                        if role_provides(_PACK, role_of[e], service, setting or None)]
                w = np.cumsum([share[e] for e in here])
                providers[key] = (here, w / w[-1] if len(here) else w)
            here, cum = providers[key]
            if (not cm and new_student[i]) or r[4] < 0.04 or not here:
                provider = ""
            elif r[4] < 0.065:
                provider = f"E9{int(r[5] * 10000):04d}"  # has left the district
            elif cm in here:
                provider = cm
            else:
                provider = here[min(int(np.searchsorted(cum, r[5], side="right")),
                                    len(here) - 1)]
            rows.append({"student_id": sid, "service": item, "minutes": minutes,
                         "current_provider": provider})
    return pd.DataFrame(rows, columns=[c.name for c in CONTRACT["services"]])
