"""An independent eligibility checker for tests.

It re-derives, from the raw CSV files and the rule pack's TOML alone, which
educator may case-manage which student and in which capacity. It shares no
code with ``optimizer`` (only the rule data file), so a bug in the engine's
caching, profiles or graph building shows up as a disagreement.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

PACK = Path(__file__).resolve().parent.parent / "optimizer" / "rulepacks" / "ca.toml"


def _rows(folder: Path, name: str) -> list[dict]:
    path = folder / f"{name}.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [{k.strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]


def _items(cell: str) -> list[str]:
    return [x.strip() for x in cell.split(";") if x.strip()]


def eligible_pairs(folder: str | Path) -> dict[tuple[str, str], tuple[str, int]]:
    """(student_id, educator_id) -> (capacity, rank) for every eligible pair,
    with forbids removed and pins as the pinned student's only pair."""
    folder = Path(folder)
    pack = tomllib.loads(PACK.read_text("utf-8"))
    dis = {}
    for abbr, t in pack["disabilities"].items():
        dis[abbr] = abbr
        dis[t["code"]] = abbr
    svc = {}
    for name, t in pack["services"].items():
        svc[name] = name
        for c in t.get("codes", []):
            svc[c] = name
    creds, roles = pack["credentials"], pack["roles"]
    all_levels = pack["pack"]["support_levels"]
    all_grades = pack["pack"]["grades"]
    # The three rule settings a district.toml may change (docs/data-contract.md).
    toml = folder / "district.toml"
    local = tomllib.loads(toml.read_text("utf-8")) if toml.exists() else {}
    rule = {**pack.get("support_level_rule", {}), **local.get("support_level_rule", {})}
    threshold = rule.get("sdc_gen_ed_pct_below", 40)
    bp_rule = {**pack.get("best_practice_rule", {}), **local.get("best_practice_rule", {})}
    literal = bp_rule.get("related_services_count", True)
    reach = {**pack.get("school_rule", {}), **local.get("school_rule", {})}
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
        level = s.get("support_level", "").lower()
        if not level:
            pct = s.get("gen_ed_pct", "")
            level = ("extensive" if setting == "sdc" and pct and float(pct) < threshold
                     else "mild_moderate")
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
                if role["coordinates"] and (
                        e["role"] in reach.get("district_roles", [])
                        or (e["role"] in reach.get("region_roles", []) and here in theirs)):
                    out[(s["student_id"], e["educator_id"])] = ("coordination", 2)
                continue
            held = set(_items(e.get("credentials", "")))
            capacity = None
            if role.get("teaches") and role["teaches"] == setting:
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
                    levels = t.get("category_support", {}).get(
                        basis, t.get("support_levels", all_levels))
                    if level in levels and s["grade"] in t.get("grades", all_grades):
                        capacity = "instruction"
                        break
            if capacity is None:
                for x in set(role.get("provides", [])) & services:
                    if held & set(pack["services"][x]["credentials"]):
                        capacity = "service"
                        break
            if capacity is None and role["coordinates"]:
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


def caps(folder: str | Path) -> dict[str, tuple[float, float]]:
    """educator_id -> (cap, other_load), computed from the files alone."""
    folder = Path(folder)
    pack = tomllib.loads(PACK.read_text("utf-8"))
    district = {}
    if (folder / "district.toml").exists():
        district = tomllib.loads((folder / "district.toml").read_text("utf-8"))
    schools = {r["school_id"]: r for r in _rows(folder, "schools")}
    out = {}
    for e in _rows(folder, "educators"):
        role = pack["roles"][e["role"]]
        full = district.get("caps", {}).get(e["role"], role["cap"])
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
    weights = {s["student_id"]: float(s.get("weight") or 1) for s in _rows(folder, "students")}
    out = []
    if set(assignment) != set(weights):
        out.append("students in the plan differ from students.csv")
    load: dict[str, float] = {}
    for s, e in assignment.items():
        if not e:
            continue
        if (s, e) not in pairs:
            out.append(f"{s} -> {e} is not an eligible pair")
        load[e] = load.get(e, 0.0) + weights.get(s, 1.0)
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
