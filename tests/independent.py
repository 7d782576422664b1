"""An independent eligibility and plan checker for tests.

It re-derives, from the raw CSV files alone, which educator may case-manage
which student and in which capacity, and whether a plan keeps every rule. Its
rule tables are written out below by hand from the sources (CTC "Special
Education Case Management", June 2024; CTC Education Specialist charts and
added-authorization chart; 5 CCR 80047-80048.7; CALPADS Data Guide v11.0;
EC 56026.5, 56362(c), 56363.3, 56441.7; docs/rules.md for the project's own
readings marked UNCONFIRMED). It never reads ``optimizer/rulepacks/ca.toml``
and shares no code with ``optimizer``: an edit to the shipped rule data, or a
bug in the engine's caching, profiles or graph building, shows up as a
disagreement. Only a district's own ``district.toml`` overrides are read.
"""

from __future__ import annotations

import copy
import csv
import tomllib
from pathlib import Path

GRADES = ["PK", "TK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "A"]
SCHOOL_AGE = GRADES[1:]            # TK, K-12 and adult transition (new credentials)
BIRTH_TO_22 = GRADES               # birth to 22
EARLY = ["PK", "TK", "K"]          # birth to kindergarten (ECSE)
# Older K-12 credentials: the CTC's TK assignment page says TK "is part of the
# K-12 public school system" and "is not considered a preschool program"
# (EC 48000), so a K-12 authorization covers TK.
OLDER_K12 = GRADES[1:]
BOTH = ["mild_moderate", "extensive"]
ALL_CATEGORIES = ["ID", "HH", "DEAF", "SLI", "VI", "ED", "OI", "OHI", "EMD", "SLD", "DB", "MD",
                  "AUT", "TBI"]


def _cred(categories, levels=BOTH, grades=SCHOOL_AGE, **kw) -> dict:
    return {"teaching": True, "categories": categories, "support_levels": levels,
            "grades": grades, **kw}


def _aa(category: str) -> dict:
    return {"adds_to_teaching": True, "categories": [category]}


def _role(cap, case_manager=True, coordinates=True, teaches=None, provides=(), **kw) -> dict:
    return {"cap": cap, "case_manager": case_manager, "coordinates": coordinates,
            **({"teaches": teaches} if teaches else {}), "provides": list(provides), **kw}


#: The California tables, in the rule pack's shape so a district.toml override
#: merges into them the same documented way (docs/data-contract.md).
CA = {
    "pack": {"grades": GRADES, "support_levels": BOTH},
    # CALPADS codes (Data Guide v11.0); low incidence per EC 56026.5.
    "disabilities": {
        "ID": {"code": "210"}, "HH": {"code": "220"}, "DEAF": {"code": "230"},
        "SLI": {"code": "240"}, "VI": {"code": "250"}, "ED": {"code": "260"},
        "OI": {"code": "270"}, "OHI": {"code": "280"}, "EMD": {"code": "281"},
        "SLD": {"code": "290"}, "DB": {"code": "300"}, "MD": {"code": "310"},
        "AUT": {"code": "320"}, "TBI": {"code": "330"},
    },
    # Services: CALPADS service codes; which credential authorizes each.
    "services": {
        "SAI": {"codes": ["330"], "kind": "instruction", "credentials": []},
        "SPEECH": {"codes": ["415"], "kind": "specialized", "credentials": ["SLP", "SLP-SCA"]},
        "DHH": {"codes": ["710"], "kind": "specialized", "credentials": ["ES-DHH"]},
        "VI": {"codes": [], "kind": "specialized", "credentials": ["ES-VI"]},
        "OM": {"codes": [], "kind": "related", "credentials": ["CRS-OM"]},
        "APE": {"codes": ["425"], "kind": "related", "credentials": ["APE", "AA-APE"]},
        "OT": {"codes": ["450"], "kind": "related", "credentials": ["OT-LIC"]},
        "PT": {"codes": [], "kind": "related", "credentials": ["PT-LIC"]},
        "COUNSELING": {"codes": ["510", "515"], "kind": "related", "credentials": ["PPS"]},
        "BEHAVIOR": {"codes": ["535"], "kind": "related", "credentials": ["PPS"]},
        "HEALTH": {"codes": [], "kind": "related", "credentials": []},
        "AT": {"codes": [], "kind": "related", "credentials": []},
        "TRANSITION": {"codes": [], "kind": "related", "credentials": []},
        "OTHER": {"codes": [], "kind": "related", "credentials": []},
    },
    # Caps: EC 56362(c) RSP 28; EC 56363.3 SLP 55 (average, used as a cap) and
    # EC 56441.7 40 for ages 3-5 only; the rest are local defaults.
    "roles": {
        "RSP": _role(28, teaches="rsp"),
        "SDC": _role(20, teaches="sdc"),
        "SLP": _role(55, provides=["SPEECH"], cap_if_only_preschool=40),
        "DHH": _role(20, provides=["DHH"]),
        "VI": _role(20, provides=["VI"]),
        "OM": _role(20, False, False, provides=["OM"]),
        "APE": _role(20, False, False, provides=["APE"]),
        "OT": _role(20, False, False, provides=["OT"]),
        "PT": _role(20, False, False, provides=["PT"]),
        "PSY": _role(20, False, True, provides=["COUNSELING", "BEHAVIOR"]),
        "COORD": _role(30),
    },
    # Education Specialist authorizations (CTC charts; 5 CCR 80047-80048.7).
    "credentials": {
        "ES-MMSN": _cred(["SLD", "AUT", "ED", "ID", "MD", "OI", "OHI", "TBI"], ["mild_moderate"]),
        "ES-ESN": _cred(["AUT", "DB", "ID", "MD", "ED", "TBI"], ["extensive"]),
        "ES-ECSE": _cred(ALL_CATEGORIES, grades=EARLY),
        "ES-DHH": _cred(["DEAF", "HH", "DB"], grades=BIRTH_TO_22,
                        conditional={"AUT": ["HH", "DEAF", "DB"]}),
        "ES-VI": _cred(["VI", "DB"], grades=BIRTH_TO_22, conditional={"AUT": ["VI", "DB"]}),
        "ES-MM": _cred(["SLD", "ID", "OHI", "ED"], grades=OLDER_K12,
                       category_support={"ID": ["mild_moderate"]}),
        # CTC added-authorization chart: the Preliminary Mild/Moderate credential
        # "includes Autism Spectrum Disorder authorization; initially issued
        # effective 6/26/2010".
        "ES-MM-2010": _cred(["SLD", "ID", "OHI", "ED", "AUT"], grades=OLDER_K12,
                            category_support={"ID": ["mild_moderate"]}),
        "ES-MS": _cred(["AUT", "ID", "DB", "ED", "MD"], grades=OLDER_K12,
                       category_support={"ID": ["extensive"]}),
        "ES-PHI": _cred(["MD", "EMD", "OI", "OHI", "TBI"], grades=BIRTH_TO_22),
        "ES-LAD": _cred(["AUT", "SLI", "SLD"], grades=BIRTH_TO_22),
        "ES-ECSE-OLD": _cred(ALL_CATEGORIES, grades=["PK"]),
        "LH": _cred(["SLD", "ID"], ["mild_moderate"], grades=OLDER_K12),
        "SH": _cred(["MD", "AUT", "ED"], grades=OLDER_K12),
        "PH": _cred(["MD"], grades=OLDER_K12),
        "SLP-SCA": _cred(["AUT", "SLI"], grades=BIRTH_TO_22, settings=["sdc"]),
        "AA-ASD": _aa("AUT"), "AA-DB": _aa("DB"), "AA-ED": _aa("ED"), "AA-OI": _aa("OI"),
        "AA-OHI": _aa("OHI"), "AA-TBI": _aa("TBI"),
        "AA-APE": {}, "AA-RSP": {}, "SLP": {}, "CRS-OM": {}, "APE": {}, "PPS": {},
        "OT-LIC": {}, "PT-LIC": {},
    },
    # CTC's examples (SDC, RSP, speech only) and the project's DHH/VI rows.
    "best_practice": [
        {"sai_setting": "sdc", "role": "SDC"},
        {"sai_setting": "rsp", "role": "RSP"},
        {"specialized": ["SPEECH"], "role": "SLP"},
        {"specialized": ["DHH"], "role": "DHH"},
        {"specialized": ["VI"], "role": "VI"},
    ],
    "support_level_rule": {"sdc_gen_ed_pct_below": 40},
    # Local choices (docs/data-contract.md): speech only read literally; the
    # case manager serves the student's school unless a district widens it.
    "best_practice_rule": {"related_services_count": True},
    "school_rule": {"region_roles": [], "district_roles": []},
    # CTC (June 2024): a coordinator needs no specialty area; a district may
    # also require some education-specialist or service credential.
    "coordination": {"needs_credential": False},
    "student_weights": {"default": 1.0},
}


def _merge(base: dict, over: dict) -> dict:
    # docs/data-contract.md: tables merge key by key, any other value (a list
    # too) replaces the pack's.
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def tables(folder: str | Path) -> dict:
    """The hand-written tables with this district's district.toml applied."""
    folder = Path(folder)
    path = folder / "district.toml"
    over = tomllib.loads(path.read_text("utf-8")) if path.exists() else {}
    pack = _merge(copy.deepcopy(CA), {k: v for k, v in over.items() if k in CA})
    roles = pack["roles"]
    for role, cap in over.get("caps", {}).items():
        roles[role] = {**roles[role], "cap": cap}
    for key, flag in (("coordinating_roles", "coordinates"),
                      ("case_manager_roles", "case_manager")):
        if key in over:
            for r in roles:
                roles[r] = {**roles[r], flag: r in over[key]}
    return pack


def _rows(folder: Path, name: str) -> list[dict]:
    path = folder / f"{name}.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]


def _items(cell: str) -> list[str]:
    return [x.strip() for x in cell.split(";") if x.strip()]


def _level(s: dict, setting: str, below: float) -> str:
    level = s.get("support_level", "").lower()
    if not level:
        pct = s.get("gen_ed_pct", "")
        level = "extensive" if setting == "sdc" and pct and float(pct) < below else "mild_moderate"
    return level


def weights(folder: str | Path) -> dict[str, float]:
    """student_id -> weight: the cell, else district.toml's weight for the
    student's support level, else the default weight."""
    pack = tables(folder)
    w = pack["student_weights"]
    out = {}
    for s in _rows(Path(folder), "students"):
        sai = {x.upper() for x in _items(s["services"])} & {
            "SAI", *pack["services"]["SAI"]["codes"]}
        setting = s.get("sai_setting", "").lower() if sai else ""
        level = _level(s, setting, pack["support_level_rule"]["sdc_gen_ed_pct_below"])
        out[s["student_id"]] = float(s.get("weight") or w.get(level, w["default"]))
    return out


def eligible_pairs(folder: str | Path) -> dict[tuple[str, str], tuple[str, int]]:
    """(student_id, educator_id) -> (capacity, rank) for every eligible pair,
    with forbids removed and pins as the pinned student's only pair."""
    folder = Path(folder)
    pack = tables(folder)
    dis = {}
    for abbr, t in pack["disabilities"].items():
        dis[abbr] = abbr
        dis[t["code"]] = abbr
    svc = {}
    for name, t in pack["services"].items():
        svc[name] = name
        for c in t.get("codes", []):
            svc[c] = name
    roles = pack["roles"]
    below = pack["support_level_rule"]["sdc_gen_ed_pct_below"]
    # The rule settings a district.toml may change (merged by tables()).
    literal = pack["best_practice_rule"]["related_services_count"]
    reach = pack["school_rule"]
    region_of = {r["school_id"]: r.get("region", "") for r in _rows(folder, "schools")}

    educators = _rows(folder, "educators")
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for s in _rows(folder, "students"):
        services = {svc[x.upper()] for x in _items(s["services"])}
        setting = s.get("sai_setting", "").lower() if "SAI" in services else ""
        primary = dis[s["primary_disability"].upper()]
        secondary = dis.get(s.get("secondary_disability", "").upper())
        on_secondary = s.get("placement_basis", "").lower() == "secondary"
        basis = secondary if on_secondary else primary
        other = primary if on_secondary else secondary
        level = _level(s, setting, below)
        # CTC: "only receiving speech therapy" read literally by default; a
        # district may ignore related services ([best_practice_rule]).
        specialized = services if literal else {
            x for x in services if pack["services"][x]["kind"] != "related"}
        bp_role = None
        for row in pack["best_practice"]:
            if ("sai_setting" in row and row["sai_setting"] == setting) or (
                    "specialized" in row and set(row["specialized"]) == specialized):
                bp_role = row["role"]
                break
        for e in educators:
            role = roles[e["role"]]
            flag = e.get("case_manager", "").lower()
            may = role["case_manager"] if not flag else flag in ("yes", "y", "true", "1")
            if not may:
                continue
            if s["school_id"] not in _items(e["schools"]):
                # Another school: only as a coordinator, where [school_rule] reaches.
                theirs = {region_of[x] for x in _items(e["schools"])} - {""}
                here = region_of[s["school_id"]]
                if _coordinates(pack, e) and (
                        e["role"] in reach.get("district_roles", [])
                        or (e["role"] in reach.get("region_roles", []) and here in theirs)):
                    out[(s["student_id"], e["educator_id"])] = ("coordination", 2)
                continue
            held = set(_items(e.get("credentials", "")))
            capacity = None
            if role.get("teaches") and role["teaches"] == setting and _teaches(
                    pack, held, setting, basis, other, level, s["grade"]):
                capacity = "instruction"
            if capacity is None:
                for x in set(role.get("provides", [])) & services:
                    if held & set(pack["services"][x]["credentials"]):
                        capacity = "service"
                        break
            if capacity is None and _coordinates(pack, e):
                capacity = "coordination"
            if capacity is None:
                continue
            rank = 2 if capacity == "coordination" else (0 if e["role"] == bp_role else 1)
            out[(s["student_id"], e["educator_id"])] = (capacity, rank)
    for lk in _rows(folder, "locks"):
        pair = (lk["student_id"], lk["educator_id"])
        if lk["kind"].lower() == "forbid":
            out.pop(pair, None)
        elif pair in out:
            for key in [k for k in out if k[0] == pair[0] and k != pair]:
                del out[key]
    return out


def _teaches(pack: dict, held: set, setting: str, basis: str, other: str | None, level: str,
             grade: str) -> bool:
    """A teaching credential held authorizes this setting, basis disability
    (or the conditional one), support level and grade."""
    creds = pack["credentials"]
    added = set()
    for c in held:
        if creds[c].get("adds_to_teaching"):
            added |= set(creds[c]["categories"])
    for c in held:
        t = creds[c]
        if not t.get("teaching") or setting not in t.get("settings", [setting]):
            continue
        cats = set(t["categories"]) | added
        cond = t.get("conditional", {}).get(basis)
        if basis not in cats and not (cond and other in cond):
            continue
        levels = t.get("category_support", {}).get(basis, t.get(
            "support_levels", pack["pack"]["support_levels"]))
        if level in levels and grade in t.get("grades", pack["pack"]["grades"]):
            return True
    return False


def may_serve(folder: str | Path) -> dict[tuple[str, str], set[str]]:
    """(student_id, service) -> the educators who may give it: their role
    provides it and they hold one of its credentials (SAI: they teach the
    student's setting with a credential for the basis disability, support
    level and grade), and they serve the student's school. For every service
    on each student's IEP (students.csv ``services``)."""
    folder = Path(folder)
    pack = tables(folder)
    dis = {}
    for abbr, t in pack["disabilities"].items():
        dis[abbr] = abbr
        dis[t["code"]] = abbr
    svc = {}
    for name, t in pack["services"].items():
        svc[name] = name
        for c in t.get("codes", []):
            svc[c] = name
    below = pack["support_level_rule"]["sdc_gen_ed_pct_below"]
    educators = _rows(folder, "educators")
    out: dict[tuple[str, str], set[str]] = {}
    for s in _rows(folder, "students"):
        services = {svc[x.upper()] for x in _items(s["services"])}
        setting = s.get("sai_setting", "").lower() if "SAI" in services else ""
        primary = dis[s["primary_disability"].upper()]
        secondary = dis.get(s.get("secondary_disability", "").upper())
        on_secondary = s.get("placement_basis", "").lower() == "secondary"
        basis = secondary if on_secondary else primary
        other = primary if on_secondary else secondary
        level = _level(s, setting, below)
        for x in services:
            who = out.setdefault((s["student_id"], x), set())
            for e in educators:
                if s["school_id"] not in _items(e["schools"]):
                    continue
                role = pack["roles"][e["role"]]
                held = set(_items(e.get("credentials", "")))
                if x == "SAI":
                    ok = role.get("teaches") == setting and _teaches(
                        pack, held, setting, basis, other, level, s["grade"])
                else:
                    ok = x in role.get("provides", []) and bool(
                        held & set(pack["services"][x]["credentials"]))
                if ok:
                    who.add(e["educator_id"])
    return out


def _coordinates(pack: dict, e: dict) -> bool:
    """The role coordinates and, unless the district waives it, the educator
    holds an education-specialist (teaching) or service credential."""
    if not pack["roles"][e["role"]]["coordinates"]:
        return False
    if not pack["coordination"]["needs_credential"]:
        return True
    service_creds = {c for t in pack["services"].values() for c in t["credentials"]}
    return any(pack["credentials"][c].get("teaching") or c in service_creds
               for c in _items(e.get("credentials", "")) if c in pack["credentials"])


def may_coordinate_services(folder: str | Path) -> set[str]:
    """Educators who may coordinate: the role may case-manage and they may
    coordinate (:func:`_coordinates`)."""
    folder = Path(folder)
    pack = tables(folder)
    out = set()
    for e in _rows(folder, "educators"):
        role = pack["roles"][e["role"]]
        flag = e.get("case_manager", "").lower()
        may = role["case_manager"] if not flag else flag in ("yes", "y", "true", "1")
        if may and _coordinates(pack, e):
            out.add(e["educator_id"])
    return out


def service_plan_violations(folder: str | Path, services: list[dict],
                            assignment: dict[str, tuple[str, str]]) -> list[str]:
    """Independent check of a service plan.

    ``services``: rows with ``student_id``, ``service``, ``provider_id`` (''
    when not served); ``assignment``: student_id -> (case_manager_id,
    capacity). Checks every served pair's provider is eligible and serves
    the school, caps on DISTINCT students served or case-managed + other_load,
    and the case manager's capacity: ``instruction`` only for the student's
    SAI provider, ``service`` for another of their providers, ``coordination``
    only for one who serves none of their services and may coordinate.
    """
    folder = Path(folder)
    allowed = may_serve(folder)
    pairs = eligible_pairs(folder)
    coordinators = may_coordinate_services(folder)
    cap = caps(folder)
    out = []
    students_of: dict[str, set[str]] = {}
    gives: dict[str, dict[str, str]] = {}
    for r in services:
        sid, x, pid = r["student_id"], r["service"], r["provider_id"]
        if not pid:
            continue
        if pid not in allowed.get((sid, x), set()):
            out.append(f"{sid}/{x} -> {pid}: not an eligible provider at the school")
        students_of.setdefault(pid, set()).add(sid)
        gives.setdefault(sid, {})[x] = pid
    for sid, (cm, capacity) in assignment.items():
        if not cm:
            continue
        students_of.setdefault(cm, set()).add(sid)
        mine = gives.get(sid, {})
        if capacity == "instruction":
            ok = mine.get("SAI") == cm and pairs.get((sid, cm), ("",))[0] == "instruction"
        elif capacity == "service":
            ok = cm in mine.values() and mine.get("SAI") != cm and (sid, cm) in pairs
        elif capacity == "coordination":
            ok = cm not in mine.values() and cm in coordinators and (sid, cm) in pairs
        else:
            ok = False
        if not ok:
            out.append(f"{sid}: case manager {cm} as {capacity!r} is not right")
    for pid, who in students_of.items():
        c, other = cap[pid]
        if len(who) + other > c + 1e-9:
            out.append(f"{pid}: caseload {len(who)} + {other:g} over cap {c:g}")
    return out


def caps(folder: str | Path) -> dict[str, tuple[float, float]]:
    """educator_id -> (cap, other_load), computed from the files alone."""
    folder = Path(folder)
    pack = tables(folder)
    schools = {r["school_id"]: r for r in _rows(folder, "schools")}
    out = {}
    for e in _rows(folder, "educators"):
        role = pack["roles"][e["role"]]
        full = role["cap"]
        served = _items(e["schools"])
        if "cap_if_only_preschool" in role and all(
                schools[s]["low_grade"] == schools[s]["high_grade"] == "PK" for s in served):
            full = role["cap_if_only_preschool"]
        cap = float(e["max_caseload"]) if e.get("max_caseload") else int(
            full * float(e["fte"]) + 1e-9)
        out[e["educator_id"]] = (cap, float(e.get("other_load") or 0))
    return out


def plan_violations(folder: str | Path, assignment: dict[str, str]) -> list[str]:
    """Independent plan check: every pair eligible, caps held, locks honoured.
    ``assignment`` maps student_id -> educator_id ('' when unplaced)."""
    folder = Path(folder)
    pairs = eligible_pairs(folder)
    cap = caps(folder)
    weight = weights(folder)
    out = []
    if set(assignment) != set(weight):
        out.append("students in the plan differ from students.csv")
    load: dict[str, float] = {}
    for s, e in assignment.items():
        if not e:
            continue
        if (s, e) not in pairs:
            out.append(f"{s} -> {e} is not an eligible pair")
        load[e] = load.get(e, 0.0) + weight.get(s, 1.0)
    for e, v in load.items():
        if v + cap[e][1] > cap[e][0] + 1e-9:
            out.append(f"{e} over cap: {v} + {cap[e][1]} > {cap[e][0]}")
    for lk in _rows(folder, "locks"):
        got = assignment.get(lk["student_id"], "")
        if lk["kind"] == "pin" and got != lk["educator_id"]:
            out.append(f"pin broken for {lk['student_id']}")
        if lk["kind"] == "forbid" and got == lk["educator_id"]:
            out.append(f"forbid used for {lk['student_id']}")
    return out
