"""Service plans end to end: district -> service problem -> solver -> Result
-> plan folder, checked by hand, by the independent checker
(tests/independent.py, its own tables) and by a joint exact CP-SAT model
(tests/service_checker.py) built from the files independently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from optimizer import load_district
from optimizer.district.model import Lock, ServiceNeed
from optimizer.outputs.export import write_plan
from optimizer.outputs.plan_folder import PlanFolderError, read_plan
from optimizer.planning.check import audit_current
from optimizer.planning.planner import plan
from optimizer.planning.result import Result
from optimizer.planning.service_problem import build_district_service_problem
from tests import independent
from tests import service_checker as chk
from tests.conftest import SAMPLE, educator, student, write_district


def _with_services(district, rows=None, **kw):
    """The district planning services: ``rows`` as services.csv would give them
    (None: derived from students.csv), ``kw`` other District fields."""
    return dataclasses.replace(
        district, service_rows=None if rows is None else tuple(rows),
        settings={**district.settings, "plan_services": True}, **kw)


def birch(tmp_path: Path) -> Path:
    """Birch: one school, an RSP teacher and an SLP with room for two each,
    a coordinator. Hand-worked below."""
    return write_district(
        tmp_path / "birch",
        educators=[
            # FTE prorates the caps: RSP int(28 x 0.08) = 2, SLP int(55 x 0.04) = 2.
            educator("R1", "RSP", "ES-MMSN", fte="0.08"),
            educator("S1", "SLP", "SLP", fte="0.04"),
            educator("C1", "COORD", "ES-MMSN"),
        ],
        students=[
            student("A", "SAI;SPEECH", current_case_manager="R1"),
            student("B", "SPEECH", sai_setting="", primary="SLI", current_case_manager="S1"),
            student("C", "SAI;SPEECH;OT"),
        ])


BIRCH_ROWS = [ServiceNeed("A", "SAI", 240), ServiceNeed("A", "SPEECH", 60, "S1"),
              ServiceNeed("B", "SPEECH", 60), ServiceNeed("C", "OT", 30),
              ServiceNeed("C", "SAI", 200), ServiceNeed("C", "SPEECH", 60)]


def test_birch_hand_worked_optimum(tmp_path):
    """Five planned pairs, four seats for them: R1 teaches A and C (instruction,
    best practice, free case management); S1 has two seats for three speech
    pairs. B's speech is the only way to B's best case manager without a seat
    (S1, own: speech only), and A's speech keeps this year's provider S1, so
    S1 serves A and B, C's speech is not served (one SLP seat short: 1/55 FTE,
    0.1 rounded up), and OT is not planned (no OT on staff)."""
    d = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS)
    r = plan(d)
    sv = r.services.set_index(["student_id", "service"])
    assert sv["provider_id"].to_dict() == {
        ("A", "SAI"): "R1", ("A", "SPEECH"): "S1", ("B", "SPEECH"): "S1", ("C", "OT"): "",
        ("C", "SAI"): "R1", ("C", "SPEECH"): ""}
    assert sv.loc[("A", "SPEECH"), "kept_current"]
    assert sv.loc[("C", "OT"), "reason"].startswith("Not planned: no staff provides it")
    assert sv.loc[("C", "SPEECH"), "reason"].startswith(
        "Not served: every eligible provider is full: S1 (SLP, 2/2)")
    a = r.assignments.set_index("student_id")
    assert a["case_manager_id"].to_dict() == {"A": "R1", "B": "S1", "C": "R1"}
    assert a["capacity"].to_dict() == {"A": "instruction", "B": "service", "C": "instruction"}
    assert a["rank"].tolist() == [0, 0, 0]
    cl = r.caseloads.set_index("educator_id")
    assert cl.loc["R1", ["served", "case_managed", "caseload", "load", "cap"]].tolist() == [
        2, 2, 2, 2, 2]
    assert cl.loc["S1", ["served", "case_managed", "caseload", "minutes"]].tolist() == [
        2, 1, 2, 120]
    assert cl.loc["C1", "caseload"] == 0
    h = r.hiring_needs
    assert h.to_dict("records") == [{
        "school_id": "ELM", "region": "North", "role": "SLP", "credential": "SLP",
        "students": 1, "fte": 0.1, "service": "SPEECH", "minutes": 60}]
    s = r.summary_json()["services"]
    assert s["by_service"] == {
        "OT": {"pairs": 1, "served": 0, "not_served": 0, "not_planned": 1},
        "SAI": {"pairs": 2, "served": 2, "not_served": 0, "not_planned": 0},
        "SPEECH": {"pairs": 3, "served": 2, "not_served": 1, "not_planned": 0}}
    assert s["levels"] == {"unserved_pairs": [1, 1], "unplaced_students": [0, 0]}
    # SLP average: caseload 2 over 0.04 FTE = 50 cases per FTE, limit 55.
    assert s["role_average"]["SLP"]["average"] == pytest.approx(50.0)
    assert r.status == "optimal"
    # Balance: two full providers of cap 2, seats 1 and 2 cost 2 x (1 + 3) / 2 points each.
    assert r.terms["balance"] == pytest.approx(8.0)
    assert r.terms["rank"] == 0 and r.terms["continuity"] == 0
    text = r.summary()
    assert "SPEECH       served      2 of 3   not served 1   not planned 0" in text
    assert "SLP average caseload 50.0 per FTE" in text
    services = [dict(x) for x in r.services.to_dict("records")]
    assign = {x.student_id: (x.case_manager_id, x.capacity) for x in r.assignments.itertuples()}
    assert independent.service_plan_violations(tmp_path / "birch", services, assign) == []


def test_service_pins_and_forbids_move_the_provider(tmp_path):
    base = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS)

    def provider(locks):
        r = plan(dataclasses.replace(base, locks=tuple(locks)))
        return r.services.set_index(["student_id", "service"])["provider_id"].to_dict(), r

    # A pin keeps only the pinned provider's option (docs/service-caseloads.md §5):
    # B's speech pinned to S1, whom A's speech keeps as this year's provider.
    got, r = provider([Lock("B", "S1", "pin", "=HYPERLINK(\"x\")", 2, "SPEECH")])
    assert got[("B", "SPEECH")] == "S1"
    reason = r.services.set_index(["student_id", "service"]).loc[("B", "SPEECH"), "reason"]
    assert reason.startswith("Pinned in locks.csv (B SPEECH to S1)")
    assert reason.endswith('Lock reason: =HYPERLINK("x")')
    # Forbidding S1 for A's speech: the same outcome, A's speech not served.
    got, r = provider([Lock("A", "S1", "forbid", "", 2, "SPEECH")])
    assert (got[("A", "SPEECH")], got[("B", "SPEECH")], got[("C", "SPEECH")]) == ("", "S1", "S1")
    assert "This year's provider S1 is forbidden in locks.csv" in r.services.set_index(
        ["student_id", "service"]).loc[("A", "SPEECH"), "reason"]
    # A service lock is not a case-manager lock: case managers unchanged.
    assert r.assignments.set_index("student_id")["case_manager_id"].to_dict() == {
        "A": "R1", "B": "S1", "C": "R1"}


def test_a_service_pin_picks_the_provider(tmp_path):
    folder = write_district(
        tmp_path / "two-slps",
        educators=[educator("S1", "SLP", "SLP"), educator("S2", "SLP", "SLP")],
        students=[student("B", "SPEECH", sai_setting="", primary="SLI")])
    d = _with_services(load_district(folder), [ServiceNeed("B", "SPEECH", 30, "S1")])
    assert plan(d).services["provider_id"].tolist() == ["S1"]  # keeps this year's
    for kind, want in (("pin", "S2"), ("forbid", "S2")):
        who = "S2" if kind == "pin" else "S1"
        r = plan(dataclasses.replace(d, locks=(Lock("B", who, kind, "", 2, "SPEECH"),)))
        assert r.services["provider_id"].tolist() == [want]


def test_stable_replanning_follows_the_published_providers(tmp_path):
    folder = write_district(
        tmp_path / "two-slps",
        educators=[educator("S1", "SLP", "SLP"), educator("S2", "SLP", "SLP")],
        students=[student("B", "SPEECH", sai_setting="", primary="SLI")])
    d = _with_services(load_district(folder))
    for keep in ("S1", "S2"):
        r = plan(d, published={"B": keep}, published_services={("B", "SPEECH"): keep})
        assert r.services["provider_id"].tolist() == [keep]
        assert r.assignments["case_manager_id"].tolist() == [keep]
        assert r.figures["published_plan"]["pairs_moved"] == 0
        assert r.figures["published_plan"]["moved"] == 0
    # From a Result too: re-planning against itself moves nobody.
    first = plan(d)
    again = plan(d, published=first)
    assert again.services["provider_id"].tolist() == first.services["provider_id"].tolist()
    assert again.figures["published_plan"]["pairs_moved"] == 0


def test_hiring_fte_from_minutes_and_regions_for_itinerants(tmp_path):
    """Three speech pairs of 600 minutes and one OT pair, nobody with room:
    SLP FTE = max(3 / 55, 1800 / 1500) = 1.2; OT is itinerant: by region, FTE
    1 / 20 = 0.05 -> 0.1."""
    folder = write_district(
        tmp_path / "short",
        educators=[educator("S1", "SLP", "SLP", max_caseload="0"),
                   educator("T1", "OT", "OT-LIC", max_caseload="0")],
        students=[student(x, "SPEECH", sai_setting="", primary="SLI") for x in "ABC"]
        + [student("D", "OT", sai_setting="", primary="OI")])
    d = load_district(folder)
    pack = d.rules
    roles = {**pack.roles, "SLP": dataclasses.replace(pack.roles["SLP"], minutes_capacity=1500)}
    d = _with_services(d, [ServiceNeed(x, "SPEECH", 600) for x in "ABC"]
                       + [ServiceNeed("D", "OT", None)],
                       rules=dataclasses.replace(pack, roles=roles))
    r = plan(d)
    h = r.hiring_needs[r.hiring_needs["service"] != ""]
    assert h["minutes"].isna().tolist() == [True, False]  # OT: no minutes given
    rows = h.fillna({"minutes": -1}).to_dict("records")
    assert rows == [
        {"school_id": "", "region": "North", "role": "OT", "credential": "OT-LIC",
         "students": 1, "fte": 0.1, "service": "OT", "minutes": -1},
        {"school_id": "ELM", "region": "North", "role": "SLP", "credential": "SLP",
         "students": 3, "fte": 1.2, "service": "SPEECH", "minutes": 1800}]


def test_plan_folder_round_trip_redaction_and_injection(tmp_path):
    d = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS,
                       locks=(Lock("C", "S1", "pin", "=cmd|' /C calc'!A0", 2, "SPEECH"),))
    r = plan(d)
    out = write_plan(r, tmp_path / "plan", xlsx=False)
    # Guarded like every CSV the tool writes: a cell a spreadsheet would run.
    bad = r.services
    bad.loc[0, "reason"] = "=1+1"
    evil = Result(status=r.status, engine=r.engine, objective=r.objective, bound=r.bound,
                  gap=r.gap, terms=r.terms, assignments=r.assignments, caseloads=r.caseloads,
                  unassigned=r.unassigned, hiring_needs=r.hiring_needs, audit=r.audit,
                  figures=r.summary_json(), assignment=r.assignment, services=bad)
    text = (write_plan(evil, tmp_path / "evil", xlsx=False) / "services.csv").read_text()
    assert ",'=1+1\n" in text
    back = read_plan(out)
    assert back.services["provider_id"].fillna("").tolist() == r.services["provider_id"].tolist()
    assert back.services["reason"].tolist() == r.services["reason"].tolist()
    assert list(back.caseloads.columns[-5:]) == ["served", "case_managed", "caseload",
                                                 "minutes", "minutes_capacity"]
    assert list(back.hiring_needs.columns[-2:]) == ["service", "minutes"]
    assert back.summary["services"]["by_service"]["SPEECH"]["served"] == 2
    red = write_plan(r, tmp_path / "red", xlsx=False, redact=True)
    text = (red / "services.csv").read_text("utf-8")
    assert "calc" not in text and "Lock reason: withheld" in text


def test_without_plan_services_the_sample_plan_is_byte_identical(tmp_path):
    """The sample (no services.csv, no plan_services) writes the same bytes as
    main's code did before service planning (digests from commit 6e5cf7d;
    assignments.csv re-pinned when issue 11 added the name columns and short
    reasons, a deliberate change checked by its own tests; assignments.csv,
    caseloads.csv and summary.json re-pinned when the pooled flow with its
    tie rule became the engine: another of the equally good plans, the same
    points term by term, tests/test_tie_rule.py and docs/solver-design.md)."""
    out = write_plan(plan(load_district(SAMPLE)), tmp_path / "plan", xlsx=False)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "assignments.csv", "audit.csv", "caseloads.csv", "hiring_needs.csv", "summary.json",
        "unassigned.csv"]
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
               for p in out.iterdir() if not p.name.startswith(".")}
    assert digests == {
        "assignments.csv": "84bc5c9f28c502ff", "audit.csv": "85cf7fd934de29c8",
        "caseloads.csv": "ede8157587ae747d", "hiring_needs.csv": "c75843921c65a0e7",
        "unassigned.csv": "955c732bcb21d881", "summary.json": "22d4a58e2b8f2a1c"}


# ----------------------------------------------------- random small districts

ROLES = [("RSP", "ES-MMSN"), ("RSP", "ES-MM"), ("SDC", "ES-ESN"), ("SLP", "SLP"),
         ("PSY", "PPS"), ("COORD", "ES-MMSN"), ("COORD", ""), ("DHH", "ES-DHH")]


def random_district(rng: random.Random, folder: Path) -> Path:
    educators = []
    for i in range(rng.randint(2, 5)):
        role, cred = rng.choice(ROLES)
        educators.append(educator(f"E{i}", role, cred, max_caseload=str(rng.randint(1, 3)),
                                  other_load=str(rng.choice([0, 0, 1]))))
    students = []
    for i in range(rng.randint(3, 7)):
        kind = rng.random()
        primary = rng.choice(["SLD", "AUT", "SLI", "HH", "ID"])
        extra = rng.sample(["SPEECH", "COUNSELING", "DHH"], rng.randint(0, 2))
        setting = rng.choice(["rsp", "sdc"]) if kind < 0.7 else ""
        services = (["SAI"] if setting else []) + extra or ["SPEECH"]
        cur = rng.choice([e["educator_id"] for e in educators] + [""])
        students.append(student(f"S{i}", ";".join(services), sai_setting=setting,
                                primary=primary, current_case_manager=cur,
                                support_level=rng.choice(["mild_moderate", "extensive"])))
    return write_district(folder, educators=educators, students=students)


def independent_spec(folder: Path) -> dict:
    """The joint model's instance from the files alone (tests/independent.py):
    service options where the independent rules allow, own case-manager
    options for instruction/service pairs, coordinators where the role
    coordinates and the educator holds a credential."""
    allowed = independent.may_serve(folder)
    pairs = independent.eligible_pairs(folder)
    coordinators = independent.may_coordinate_services(folder)
    cap = independent.caps(folder)
    students = {r["student_id"]: r for r in independent._rows(folder, "students")}
    educators = {r["educator_id"]: r for r in independent._rows(folder, "educators")}
    spec = {"providers": {e: {"role": r["role"], "cap": int(cap[e][0]),
                              "other": int(cap[e][1]), "minutes_cap": None}
                          for e, r in educators.items()},
            "students": {s: {"current_cm": r["current_case_manager"] or None,
                             "published_cm": None} for s, r in students.items()},
            "pairs": {}, "options": {}, "cm_options": {s: {} for s in students}}
    for (sid, svc), who in allowed.items():
        # Planned: someone on staff may give it (one school: someone here).
        if who:
            spec["pairs"][(sid, svc)] = {"minutes": 0, "current": None, "published": None}
            spec["options"][(sid, svc)] = {e: 0 for e in who}
    for (sid, eid), (capacity, rank) in pairs.items():
        if capacity in ("instruction", "service"):
            spec["cm_options"][sid][(eid, "own")] = rank
        if eid in coordinators:
            spec["cm_options"][sid][(eid, "coordinator")] = 2
    return spec


@pytest.mark.parametrize("seed", range(12))
def test_random_small_districts_agree_with_joint_cpsat(tmp_path, seed):
    folder = random_district(random.Random(seed), tmp_path / f"d{seed}")
    d = _with_services(load_district(folder))
    r = plan(d)
    spec = independent_spec(folder)
    provider = {(x.student_id, x.service): x.provider_id or None
                for x in r.services.itertuples() if (x.student_id, x.service) in spec["pairs"]}
    planned = set(provider)
    assert planned == set(spec["pairs"])  # the same pairs are planned
    not_planned = r.services[~r.services.set_index(["student_id", "service"]).index.isin(
        planned)]
    assert (not_planned["provider_id"] == "").all()
    cm = {x.student_id: x.case_manager_id or None for x in r.assignments.itertuples()}
    assert chk.violations(spec, provider, cm) == []
    assign = {x.student_id: (x.case_manager_id, x.capacity) for x in r.assignments.itertuples()}
    services = r.services.to_dict("records")
    assert independent.service_plan_violations(folder, services, assign) == []
    best, _, _ = chk.joint_optimum(spec)
    got = chk.cost(spec, provider, cm)
    assert got[:2] == best[:2] or r.status == "feasible"
    assert got >= best
    if r.status == "optimal":
        assert got == best
    s = r.summary_json()["services"]["levels"]
    assert s["unserved_pairs"][1] <= best[0] and s["unplaced_students"][1] <= best[1] or \
        s["unserved_pairs"][1] < best[0]


def test_not_planned_pairs_never_reach_the_solver(tmp_path):
    d = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS)
    sp = build_district_service_problem(d)
    assert sorted(zip(sp.problem.student_ids[sp.problem.pair_student].tolist(),
                      sp.problem.pair_service.tolist(), strict=True)) == [
        ("A", "SAI"), ("A", "SPEECH"), ("B", "SPEECH"), ("C", "SAI"), ("C", "SPEECH")]
    assert json.dumps(plan(d).figures["services"]["not_planned_reason"]) == \
        '"no staff provides it"'


def test_audit_checks_this_years_providers(tmp_path):
    """Birch today: S1 gives speech to A, B and C (3 distinct students over a cap
    of 2), and R1 is given as C's OT provider (an RSP teacher provides no OT);
    S1's average, 3 over 0.04 FTE = 75 per FTE, is over the SLP limit of 55."""
    rows = [ServiceNeed("A", "SAI", 240, "R1"), ServiceNeed("A", "SPEECH", 60, "S1"),
            ServiceNeed("B", "SPEECH", 60, "S1"), ServiceNeed("C", "OT", 30, "R1"),
            ServiceNeed("C", "SAI", 200, "R1"), ServiceNeed("C", "SPEECH", 60, "S1")]
    d = _with_services(load_district(birch(tmp_path)), rows)
    got = {(v.kind, v.student_id, v.educator_id) for v in audit_current(d)}
    # (S1's own caseload over 55 is over a planning cap: the law caps the average.)
    assert got == {("ineligible provider", "C", "R1"), ("over planning cap", "", "S1"),
                   ("average over limit", "", "")}
    # Without services, the same district's audit knows only case managers.
    assert audit_current(load_district(tmp_path / "birch")) == []


def test_providers_serve_their_own_schools_and_itinerants_the_school_rule(tmp_path):
    oak = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5",
           "feeds_into": "", "region": "North"}
    elm = {**oak, "school_id": "ELM", "name": "Elm"}

    def district(name, toml=None):
        folder = write_district(
            tmp_path / name, schools=[elm, oak],
            educators=[educator("S1", "SLP", "SLP"), educator("S2", "SLP", "SLP", "OAK",
                                                                max_caseload="0"),
                       educator("D1", "DHH", "ES-DHH")],
            students=[student("B", "SPEECH;DHH", sai_setting="", primary="HH", school="OAK")],
            toml=toml)
        return _with_services(load_district(folder))

    r = plan(district("plain"))
    sv = r.services.set_index("service")
    # S1 has room but does not serve Oak; Oak's own SLP is full; no DHH at Oak.
    assert sv["provider_id"].to_dict() == {"DHH": "", "SPEECH": ""}
    assert sv.loc["SPEECH", "reason"].startswith("Not served: every eligible provider is "
                                                 "full: S2 (SLP, 0/0)")
    assert sv.loc["DHH", "reason"].startswith("Not served: no eligible provider serves "
                                              "school OAK")
    r = plan(district("reach", '[school_rule]\nregion_roles = ["DHH"]\n'))
    sv = r.services.set_index("service")
    assert sv.loc["DHH", "provider_id"] == "D1"
    assert "reaches school OAK under the district's school rule" in sv.loc["DHH", "reason"]


def test_same_service_plan_same_bytes(tmp_path):
    d = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS)
    one = write_plan(plan(d), tmp_path / "one", xlsx=False)
    two = write_plan(plan(d), tmp_path / "two", xlsx=False)
    for name in ("assignments.csv", "caseloads.csv", "hiring_needs.csv", "services.csv",
                 "summary.json", "unassigned.csv", "audit.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_minutes_capacity_binds_in_the_plan(tmp_path):
    """An SLP with 100 IEP minutes a week (role setting x FTE 1) and two 60-minute
    speech pairs: one is served (B keeps this year's provider), the other is a
    hiring need of max(1 / 55, 60 / 100) = 0.6 FTE."""
    folder = write_district(
        tmp_path / "minutes", educators=[educator("S1", "SLP", "SLP")],
        students=[student(x, "SPEECH", sai_setting="", primary="SLI") for x in "AB"])
    d = load_district(folder)
    pack = d.rules
    roles = {**pack.roles, "SLP": dataclasses.replace(pack.roles["SLP"], minutes_capacity=100)}
    d = _with_services(d, [ServiceNeed("A", "SPEECH", 60), ServiceNeed("B", "SPEECH", 60, "S1")],
                       rules=dataclasses.replace(pack, roles=roles))
    r = plan(d)
    assert r.services["provider_id"].tolist() == ["", "S1"]
    cl = r.caseloads.set_index("educator_id")
    assert (cl.loc["S1", "minutes"], cl.loc["S1", "minutes_capacity"]) == (60, 100)
    h = r.hiring_needs
    assert h[["service", "students", "minutes", "fte"]].values.tolist() == [["SPEECH", 1, 60, 0.6]]
    s = r.summary_json()["services"]
    assert s["minutes_capacity_used"] and s["over_minutes_capacity"] == []
    assert "S1 (SLP, 2/55, 60/100 min)" in r.services.loc[0, "reason"]


def test_a_broken_services_csv_is_reported_with_row_and_column(tmp_path):
    d = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS)
    out = write_plan(plan(d), tmp_path / "plan", xlsx=False)
    lines = (out / "services.csv").read_text("utf-8").splitlines()
    lines[2] = lines[1].replace(",false,", ",maybe,")  # row 3: row 2 again, kept_current bad
    (out / "services.csv").write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(PlanFolderError) as err:
        read_plan(out)
    got = {(p.row, p.column) for p in err.value.problems}
    assert got == {(3, "service"), (3, "kept_current")}


def test_caseload_check_of_a_service_plan_finds_broken_providers(tmp_path, capsys):
    """`caseload check` of a service plan's folder re-checks services.csv from
    the input alone: an RSP teacher giving speech, S1's third distinct student
    over a cap of 2, and a case manager's capacity the plan does not make."""
    from optimizer.cli import main

    d = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS)
    out = write_plan(plan(d), tmp_path / "plan", xlsx=False)
    assert main(["check", str(tmp_path / "birch"), str(out)]) == 0
    sv = read_plan(out).services
    sv.loc[(sv["student_id"] == "C") & (sv["service"] == "SPEECH"), "provider_id"] = "S1"
    sv.loc[(sv["student_id"] == "A") & (sv["service"] == "SAI"), "provider_id"] = "S1"
    sv.to_csv(out / "services.csv", index=False)
    capsys.readouterr()
    assert main(["check", str(tmp_path / "birch"), str(out)]) == 1
    text = capsys.readouterr().out
    # Violations name people beside their ids: "A / Teacher S1 (S1) at ...".
    assert re.search(r"ineligible provider: A / [^\n]*\(S1\)", text)
    assert re.search(r"cap exceeded: [^\n]*\(S1\)", text)
    assert re.search(r"wrong capacity: A / [^\n]*\(R1\)", text)  # R1 no longer gives A's SAI
    # One cap finding per educator: the service caseload's, not also the
    # case-manager-only count (a review found two that disagreed).
    assert len(re.findall(r"cap exceeded: [^\n]*\(S1\)", text)) == 1
    # A provider row for a service not on the IEP is a finding too.
    extra = sv.iloc[[0]].assign(student_id="B", service="OT", provider_id="S1")
    sv = pd.concat([sv, extra], ignore_index=True)
    sv.to_csv(out / "services.csv", index=False)
    capsys.readouterr()
    assert main(["check", str(tmp_path / "birch"), str(out)]) == 1
    assert re.search(r"not on the IEP: B / [^\n]*OT: not among B's services",
                     capsys.readouterr().out)


def test_cli_plans_the_services_sample_quietly_and_its_plan_checks_clean(tmp_path):
    """`caseload plan` on the bundled sample with services.csv: exit 0, services.csv
    written, no solver banner in the planner's terminal (HiGHS prints one in its
    child process), and `caseload check` of that plan finds nothing."""
    import subprocess
    import sys

    out = tmp_path / "plan"
    run = subprocess.run([sys.executable, "-m", "optimizer.cli", "plan",
                          str(SAMPLE.parent / "sample-services"), "--out", str(out),
                          "--no-xlsx"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "HiGHS" not in run.stderr + run.stdout
    services = (out / "services.csv").read_text().splitlines()
    assert services[0].split(",")[:4] == ["student_id", "school_id", "service", "provider_id"]
    check = subprocess.run([sys.executable, "-m", "optimizer.cli", "check",
                            str(SAMPLE.parent / "sample-services"), str(out)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr


def test_service_plan_assignments_have_short_reasons_and_names(tmp_path):
    """As in a case-manager plan: `reason` in planner words (no ids, at most 160
    characters), the full trail in `reason_detail`, and the people's names."""
    d = _with_services(load_district(birch(tmp_path)), BIRCH_ROWS)
    a = plan(d).assignments.set_index("student_id")
    assert a.loc["B", "reason"] == ("Best-practice case manager: serves their SPEECH. "
                                   "Keeps this year's case manager")
    for sid in a.index:
        assert len(a.loc[sid, "reason"]) <= 160
        assert not any(e in a.loc[sid, "reason"].split() for e in d.educators)
        assert a.loc[sid, "reason"].split(":")[0] in a.loc[sid, "reason_detail"]
        assert a.loc[sid, "school_name"] == d.schools[d.students[sid].school_id].name
    assert a.loc["B", "case_manager_name"] == d.educators["S1"].name


def test_summary_counts_the_educators_its_caseload_figures_cover(tmp_path):
    """A service plan's caseload line counts the educators its ratios cover:
    every one who may serve or case-manage someone (R1, S1 and the
    coordinator C1, at 0 of 30) — not "case managers", which a planner's trial
    read as those who case-manage."""
    r = plan(_with_services(load_district(birch(tmp_path)), BIRCH_ROWS))
    line = next(x for x in r.summary().splitlines() if x.startswith("  Caseloads:"))
    assert line.endswith("average 67% (spread 0.471; 3 educators who may serve or "
                         "case-manage)")
