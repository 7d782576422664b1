"""The service data contract (issue 10): services.csv, service locks, settings,
the low-incidence primary-need warning, and the district round trip."""

from __future__ import annotations

import hashlib

import pytest
from openpyxl import Workbook

from optimizer import check_district, load_district, load_rule_pack
from optimizer.district.contract import CONTRACT
from optimizer.district.reader import RawDistrict
from optimizer.district.tables import district_tables
from optimizer.district.validate import validate_tables
from optimizer.graph import edge_table
from optimizer.planning.planner import plan
from optimizer.rulepacks import RulePackError
from optimizer.rules import explain
from tests.conftest import educator, student, write_csv

SERVICE_COLS = [c.name for c in CONTRACT["services"]]
LOCK_COLS = [c.name for c in CONTRACT["locks"]]

EDUCATORS = [educator("E1", "RSP", "ES-MMSN"), educator("E2", "SLP", "SLP", fte="0.5"),
             educator("E3", "SDC", "ES-ESN"), educator("E4", "OT", "OT-LIC"),
             educator("E5", "DHH", "ES-DHH")]
STUDENTS = [student("S1", services="SAI;SPEECH;OT"),
            student("S2", services="SPEECH", sai_setting="", primary="SLI"),
            # Hard of hearing, placed under the secondary (learning disability).
            student("S3", services="SAI;DHH", primary="HH", secondary_disability="SLD",
                    placement_basis="secondary")]
SERVICES = [  # spreadsheet rows 2..7
    {"student_id": "S1", "service": "SAI", "minutes": "240", "current_provider": "E1"},
    {"student_id": "S1", "service": "415", "minutes": "60", "current_provider": "E2"},
    {"student_id": "S1", "service": "OT", "minutes": "", "current_provider": ""},
    {"student_id": "S2", "service": "SPEECH", "minutes": "60", "current_provider": "E2"},
    {"student_id": "S3", "service": "SAI", "minutes": "200", "current_provider": "E1"},
    {"student_id": "S3", "service": "DHH", "minutes": "90", "current_provider": "E5"},
]


def folder_with(make_district, services=None, locks=None, toml=None, students=None,
                educators=None):
    folder = make_district(educators=educators or EDUCATORS, students=students or STUDENTS,
                           locks=locks, toml=toml)
    if services is not None:
        write_csv(folder / "services.csv", services, SERVICE_COLS)
    return folder


def errors(folder) -> list[str]:
    return [str(p) for p in check_district(folder) if p.severity == "error"]


def warnings(folder) -> list[str]:
    return [str(p) for p in check_district(folder) if p.severity == "warning"]


# ---------------------------------------------------------------- services.csv

def test_services_csv_fills_service_rows_canonically(make_district):
    folder = folder_with(make_district, SERVICES)
    d = load_district(folder)
    assert d.plans_services
    assert [(r.student_id, r.service, r.minutes, r.current_provider, r.row)
            for r in d.service_rows] == [
        ("S1", "SAI", 240.0, "E1", 2), ("S1", "SPEECH", 60.0, "E2", 3),
        ("S1", "OT", None, None, 4), ("S2", "SPEECH", 60.0, "E2", 5),
        ("S3", "SAI", 200.0, "E1", 6), ("S3", "DHH", 90.0, "E5", 7)]
    assert [(r.student_id, r.service) for r in d.service_needs] == [
        ("S1", "OT"), ("S1", "SAI"), ("S1", "SPEECH"), ("S2", "SPEECH"), ("S3", "DHH"),
        ("S3", "SAI")]
    digest = hashlib.sha256((folder / "services.csv").read_bytes()).hexdigest()
    assert d.sources["services.csv"] == digest


def test_without_services_csv_rows_are_derived_and_not_planned(make_district):
    d = load_district(folder_with(make_district))
    assert d.service_rows is None and not d.plans_services
    assert [(r.student_id, r.service, r.minutes, r.current_provider, r.row)
            for r in d.service_needs][:2] == [("S1", "OT", None, None, None),
                                              ("S1", "SAI", None, None, None)]
    assert load_district(folder_with(make_district, toml="plan_services = true\n")
                         ).plans_services


def _rows(*changes):
    rows = [dict(r) for r in SERVICES]
    for change in changes:
        change(rows)
    return rows


def _add(row):
    return lambda rows: rows.append(row)


def _set(i, **kw):
    return lambda rows: rows[i].update(kw)


BAD_SERVICES = [
    ("unknown student", _rows(_add({"student_id": "S9", "service": "SAI"})),
     ["services.csv row 8, column student_id: 'S9' — the student_id of a student in "
      "students.csv"]),
    ("blank student", _rows(_add({"student_id": "", "service": "SAI"})),
     ["services.csv row 8, column student_id: '' — a value: the student_id of a student in "
      "students.csv (required)"]),
    ("unknown service", _rows(_add({"student_id": "S1", "service": "YOGA"})),
     ["services.csv row 8, column service: 'YOGA' — a service name or CALPADS code: SAI (330), "
      "SPEECH (415), DHH (710), VI, OM, APE (425), OT (450), PT, COUNSELING (510/515), "
      "BEHAVIOR (535), HEALTH, AT, TRANSITION, OTHER"]),
    ("bad minutes", _rows(_set(0, minutes="-5"), _set(1, minutes="abc"), _set(3, minutes="inf"),
                          _set(4, minutes="20000")),
     [f"services.csv row {r}, column minutes: '{v}' — IEP minutes per week: a number from 0 "
      "to 10,080 (the minutes in a week), or blank"
      for r, v in ((2, "-5"), (3, "abc"), (5, "inf"), (6, "20000"))]),
    ("duplicate by code and name", _rows(_add({"student_id": "S1", "service": "speech"})),
     ["services.csv row 8, column service: 'speech' — one row per student and service: "
      "S1 SPEECH is already on row 3"]),
    ("service only in one file each", _rows(_set(3, service="OT")),
     ["students.csv row 3, column services: 'SPEECH' — the same services for S2 as "
      "services.csv (only in students.csv: SPEECH; only in services.csv: OT); when "
      "services.csv is given it is the single source of truth for the services, so the two "
      "files must agree"]),
    ("student with no rows", [r for r in SERVICES if r["student_id"] != "S2"],
     ["students.csv row 3, column services: 'SPEECH' — the same services for S2 as "
      "services.csv (only in students.csv: SPEECH; services.csv has no row for S2); when "
      "services.csv is given it is the single source of truth for the services, so the two "
      "files must agree"]),
]


@pytest.mark.parametrize("rows,expected", [c[1:] for c in BAD_SERVICES],
                         ids=[c[0] for c in BAD_SERVICES])
def test_each_bad_services_row_gives_its_exact_error(make_district, rows, expected):
    assert errors(folder_with(make_district, rows)) == expected


def test_every_services_problem_is_reported_at_once(make_district):
    rows = _rows(_set(0, minutes="x"), _add({"student_id": "S9", "service": "SAI"}),
                 _set(3, service="OT"))
    got = errors(folder_with(make_district, rows))
    assert [g.split(" —")[0] for g in got] == [
        "students.csv row 3, column services: 'SPEECH'",
        "services.csv row 2, column minutes: 'x'",
        "services.csv row 8, column student_id: 'S9'"]


def test_departed_provider_is_a_warning_like_a_departed_case_manager(make_district):
    folder = folder_with(make_district, _rows(_set(1, current_provider="E99")))
    assert errors(folder) == []
    assert ("services.csv row 3, column current_provider: 'E99' — an educator_id in "
            "educators.csv: this provider is no longer listed (continuity ignored)"
            in warnings(folder))
    assert load_district(folder).service_rows[1].current_provider == "E99"


def test_services_sheet_of_a_workbook(make_district, tmp_path):
    folder = folder_with(make_district, _rows(_set(3, service="OT")))
    wb = Workbook()
    wb.remove(wb.active)
    import csv
    for name in ("schools", "educators", "students", "services"):
        ws = wb.create_sheet(name)
        with (folder / f"{name}.csv").open(encoding="utf-8") as f:
            for row in csv.reader(f):
                ws.append(row)
    path = tmp_path / "district.xlsx"
    wb.save(path)
    assert errors(path) == [
        "district.xlsx [students] row 3, column services: 'SPEECH' — the same services for S2 "
        "as district.xlsx [services] (only in district.xlsx [students]: SPEECH; only in "
        "district.xlsx [services]: OT); when district.xlsx [services] is given it is the "
        "single source of truth for the services, so the two files must agree"]
    ws = wb["services"]
    ws["B5"] = "SPEECH"
    wb.save(path)
    d = load_district(path)
    assert len(d.service_rows) == 6 and d.plans_services


# --------------------------------------------------------------- service locks

def _locks(*rows):
    return [dict(zip(["student_id", "educator_id", "kind", "reason", "service"], r,
                     strict=True)) for r in rows]


def test_service_locks_fill_service_pins_and_forbids_only(make_district):
    locks = _locks(("S1", "E2", "pin", "family asked", "415"),
                   ("S1", "E1", "forbid", "", "SAI"),
                   ("S2", "E2", "pin", "cm", ""))
    d = load_district(folder_with(make_district, SERVICES, locks=locks))
    assert d.service_pins == {("S1", "SPEECH"): "E2"}
    assert d.service_forbids == frozenset({("S1", "SAI", "E1")})
    assert d.pins == {"S2": "E2"} and d.forbids == frozenset()
    assert [lk.service for lk in d.locks] == ["SPEECH", "SAI", None]


def test_a_service_pin_is_not_checked_as_a_case_manager(make_district):
    # The OT may not case-manage (role default): as a case-manager pin this is an
    # error; as the OT provider pin it is fine.
    folder = folder_with(make_district, locks=_locks(("S1", "E4", "pin", "", "OT")))
    assert errors(folder) == []
    as_cm = folder_with(make_district, locks=_locks(("S1", "E4", "pin", "", "")))
    assert errors(as_cm)[0].startswith("locks.csv row 2, column educator_id: 'E4' — a case "
                                       "manager some rule allows for S1")


BAD_LOCKS = [
    ("unknown service", _locks(("S1", "E2", "pin", "", "YOGA")),
     ["locks.csv row 2, column service: 'YOGA' — blank (a lock on the case manager) or a "
      "service on the student's IEP: SAI, SPEECH, DHH, VI, OM, APE, OT, PT, COUNSELING, "
      "BEHAVIOR, HEALTH, AT, TRANSITION, OTHER"]),
    ("service not on the IEP", _locks(("S2", "E1", "pin", "", "SAI")),
     ["locks.csv row 2, column service: 'SAI' — a service on S2's IEP (SPEECH): a lock on a "
      "service the student does not have can never apply"]),
    ("role does not provide it", _locks(("S1", "E1", "forbid", "", "SPEECH")),
     ["locks.csv row 2, column educator_id: 'E1' — an educator whose role provides SPEECH "
      "(SLP): E1 is RSP (Resource specialist)"]),
    ("SDC teacher for a resource student's SAI", _locks(("S1", "E3", "pin", "", "SAI")),
     ["locks.csv row 2, column educator_id: 'E3' — an educator whose role provides SAI in "
      "rsp (RSP): E3 is SDC (Special day class teacher)"]),
    ("two pins for one service", _locks(("S1", "E2", "pin", "", "SPEECH"),
                                        ("S1", "E2", "pin", "", "415")),
     ["locks.csv row 3, column service: '415' — one pin per student and service: S1's SPEECH "
      "is already pinned on row 2"]),
    ("pin and forbid on one service", _locks(("S1", "E2", "forbid", "", "SPEECH"),
                                             ("S1", "E2", "pin", "", "SPEECH")),
     ["locks.csv row 3, column kind: 'pin' — a pin or a forbid, not both: row 2 forbids E2 "
      "for S1 for SPEECH"]),
]


@pytest.mark.parametrize("locks,expected", [c[1:] for c in BAD_LOCKS],
                         ids=[c[0] for c in BAD_LOCKS])
def test_each_bad_service_lock_gives_its_exact_error(make_district, locks, expected):
    assert errors(folder_with(make_district, SERVICES, locks=locks)) == expected


def test_a_service_lock_on_an_educator_without_a_role_is_an_error_not_a_crash(make_district):
    # Found by the fuzz test: a blank role (itself an error on educators.csv)
    # made the service-lock check raise KeyError instead of reporting.
    no_role = [educator("E2", "", "SLP", fte="0.5") if e["educator_id"] == "E2" else e
               for e in EDUCATORS]
    found = errors(folder_with(make_district, SERVICES, educators=no_role,
                               locks=_locks(("S1", "E2", "pin", "", "SPEECH"))))
    assert any(x.startswith("educators.csv row 3, column role") for x in found)
    assert "locks.csv row 2, column educator_id: 'E2' — an educator whose role provides " \
           "SPEECH (SLP): E2 is without a role" in found


def test_case_manager_and_service_locks_do_not_conflict(make_district):
    locks = _locks(("S1", "E1", "pin", "", ""), ("S1", "E2", "pin", "", "SPEECH"),
                   ("S1", "E2", "forbid", "", ""), ("S1", "E1", "forbid", "", "OT"))
    assert errors(folder_with(make_district, locks=locks)) == [
        "locks.csv row 5, column educator_id: 'E1' — an educator whose role provides OT (OT): "
        "E1 is RSP (Resource specialist)"]
    locks = locks[:3]
    d = load_district(folder_with(make_district, locks=locks))
    assert d.pins == {"S1": "E1"} and d.forbids == frozenset({("S1", "E2")})


def test_case_manager_readers_skip_service_locks(make_district):
    locks = _locks(("S1", "E1", "pin", "parent asked", ""),
                   ("S1", "E2", "pin", "speech continuity", "SPEECH"),
                   ("S2", "E1", "forbid", "", ""),
                   ("S2", "E2", "forbid", "", "SPEECH"))
    d = load_district(folder_with(make_district, locks=locks))
    # The graph: the case-manager forbid removes S2-E1, the service forbid keeps S2-E2.
    edges = edge_table(d)
    pairs = set(zip(edges["student_id"], edges["educator_id"], strict=True))
    assert ("S2", "E1") not in pairs and ("S2", "E2") in pairs
    # explain: a service lock is not a verdict on the case manager.
    assert not any(v.rule == "Lock in locks.csv" for v in explain(d, "S2", "E2"))
    assert any(v.rule == "Lock in locks.csv" for v in explain(d, "S2", "E1"))
    # The plan's reason quotes the case-manager pin, not the later service pin.
    result = plan(d)
    reason = result.assignments.set_index("student_id").loc["S1", "reason_detail"]
    assert "Pinned in locks.csv (S1 to E1)" in reason and "parent asked" in reason
    assert "speech continuity" not in reason


# --------------------------------------------------------------------- settings

BAD_SETTINGS = [
    ("plan_services = \"yes\"\n",
     "district.toml, key plan_services: 'yes' — true or false: whether the plan chooses "
     "service providers too (services.csv being given also turns it on)"),
    ("[minutes_capacity]\nSLP = 0\n",
     "district.toml, key minutes_capacity.SLP: '0' — a finite number above 0 and at most "
     "10,080"),
    ("[minutes_capacity]\nSLP = \"lots\"\n",
     "district.toml, key minutes_capacity.SLP: 'lots' — IEP minutes per week for 1.0 FTE: a "
     "number above 0 and at most 10,080"),
    ("[minutes_capacity]\nNURSE = 100\n",
     "district.toml, key minutes_capacity.NURSE: '100' — a role: one of RSP, SDC, SLP, DHH, "
     "VI, OM, APE, OT, PT, PSY, COORD"),
    ("minutes_capacity = 5\n",
     "district.toml, key minutes_capacity: '5' — a table: [minutes_capacity] with one line per "
     "role, e.g. SLP = 2100 (IEP minutes per week for 1.0 FTE)"),
    ("[roles.SLP]\nminutes_capacity = 99999\n",
     "district.toml, key roles.SLP.minutes_capacity: '99999' — a finite number above 0 and at "
     "most 10,080"),
    ("[coordination]\nneeds_credential = \"no\"\n",
     "district.toml, key coordination.needs_credential: 'no' — true or false"),
    ("[coordination]\nneeds_credentials = false\n",
     "district.toml, key coordination.needs_credentials — a known key in [coordination]: "
     "needs_credential"),
    ("[primary_need_services]\nHH = [\"YOGA\"]\n",
     "district.toml, key primary_need_services.HH: 'YOGA' — a service: one of APE, AT, "
     "BEHAVIOR, COUNSELING, DHH, HEALTH, OM, OT, OTHER, PT, SAI, SPEECH, TRANSITION, VI"),
    ("[primary_need_services]\nXX = [\"DHH\"]\n",
     "district.toml, key primary_need_services.XX: 'XX' — a disability category: one of AUT, "
     "DB, DEAF, ED, EMD, HH, ID, MD, OHI, OI, SLD, SLI, TBI, VI"),
    ("[primary_need_services]\nHH = []\n",
     "district.toml, key primary_need_services.HH: '[]' — a non-empty list of service codes in "
     "quotes, e.g. [\"DHH\"]"),
]


@pytest.mark.parametrize("toml,expected", BAD_SETTINGS, ids=[t for t, _ in BAD_SETTINGS])
def test_each_bad_service_setting_gives_its_exact_error(make_district, toml, expected):
    assert errors(folder_with(make_district, toml=toml)) == [expected]


def test_service_settings_reach_the_rule_pack(make_district):
    d = load_district(folder_with(make_district, toml=(
        "plan_services = true\n[minutes_capacity]\nSLP = 2100\n[coordination]\n"
        "needs_credential = true\n[primary_need_services]\nOI = [\"PT\"]\n")))
    assert d.plans_services
    assert d.rules.roles["SLP"].minutes_capacity == 2100
    assert d.minutes_capacity("E2") == 1050  # x 0.5 FTE
    assert d.minutes_capacity("E1") is None  # the pack sets none
    assert d.rules.coordinator_needs_credential is True
    assert d.rules.primary_need_services["OI"] == frozenset({"PT"})
    assert d.rules.primary_need_services["HH"] == frozenset({"DHH"})  # merged key by key
    plain = load_district(folder_with(make_district))
    assert plain.rules.coordinator_needs_credential is False  # (the pack's default reading)
    assert all(r.minutes_capacity is None for r in plain.rules.roles.values())


def test_plan_services_false_with_services_csv_is_a_warning(make_district):
    folder = folder_with(make_district, SERVICES, toml="plan_services = false\n")
    assert errors(folder) == []
    assert ("district.toml, key plan_services: 'false' — true or unset: services.csv is "
            "given, so the plan chooses service providers anyway (remove it to plan case "
            "managers only)") in warnings(folder)
    assert load_district(folder).plans_services


@pytest.mark.parametrize("table,message", [
    ({"HH": ["YOGA"]}, "primary_need_services.HH: expected a non-empty list of services "
                       "among SAI, SPEECH, DHH, VI, OM, APE, OT, PT, COUNSELING, BEHAVIOR, "
                       "HEALTH, AT, TRANSITION, OTHER; unknown: YOGA"),
    ({"XX": ["DHH"]}, "primary_need_services.XX: unknown disability category; expected one "
                      "of ID, HH, DEAF, SLI, VI, ED, OI, OHI, EMD, SLD, DB, MD, AUT, TBI"),
    ({"HH": "DHH"}, "primary_need_services.HH: expected a list of codes, got 'DHH'"),
])
def test_a_bad_primary_need_entry_is_a_rule_pack_error(table, message):
    with pytest.raises(RulePackError) as exc:
        load_rule_pack("ca", {"primary_need_services": table})
    assert str(exc.value) == message


def test_a_bad_minutes_capacity_is_a_rule_pack_error():
    with pytest.raises(RulePackError) as exc:
        load_rule_pack("ca", {"roles": {"SLP": {"minutes_capacity": -1}}})
    assert str(exc.value) == ("roles.SLP.minutes_capacity: expected IEP minutes per week for "
                              "1.0 FTE, above 0 and at most 10,080, got -1")


def test_the_pack_table_of_primary_needs():
    pack = load_rule_pack("ca")
    assert dict(pack.primary_need_services) == {
        "HH": {"DHH"}, "DEAF": {"DHH"}, "VI": {"VI", "OM"}, "DB": {"DHH", "VI"},
        "OI": {"PT", "OT", "APE"}}


# ---------------------------------------------- low-incidence primary-need warning

def test_secondary_placement_without_a_primary_service_warns(make_district):
    students = [STUDENTS[0], STUDENTS[1], {**STUDENTS[2], "services": "SAI;SPEECH"}]
    folder = folder_with(make_district, students=students)
    assert errors(folder) == []
    assert warnings(folder) == [
        "students.csv row 4, column services: 'SAI;SPEECH' — a service that addresses the "
        "primary disability HH (Hard of Hearing): DHH. The student is placed under the "
        "secondary disability SLD, so the primary's needs must be met by related-service "
        "providers named in the IEP (CTC Special Education Case Management, 2024; rule pack "
        "[primary_need_services])"]


def test_secondary_placement_with_a_primary_service_does_not_warn(make_district):
    for services in (None, SERVICES):
        folder = folder_with(make_district, services)
        assert not any("primary disability" in w for w in warnings(folder))
    # Placed under the primary: nothing to say either.
    students = [STUDENTS[0], STUDENTS[1], {**STUDENTS[2], "services": "SAI",
                                           "placement_basis": "primary", "primary": "SLD"}]
    assert not any("primary disability" in w
                   for w in warnings(folder_with(make_district, students=students)))


# ------------------------------------------------------------------- round trip

def test_round_trip_keeps_services_and_lock_services(make_district):
    locks = _locks(("S1", "E2", "pin", "speech", "SPEECH"), ("S2", "E1", "forbid", "", ""))
    d = load_district(folder_with(make_district, _rows(_set(1, current_provider="E99")),
                                  locks=locks))
    tables = district_tables(d)
    assert list(tables["services"].columns) == SERVICE_COLS
    assert list(tables["locks"]["service"]) == ["SPEECH", ""]
    back, problems = validate_tables(RawDistrict("again", tables=tables))
    assert back is not None, problems
    assert back.service_rows == d.service_rows
    assert back.locks == d.locks
    # No services.csv: none is made up.
    plain = load_district(folder_with(make_district))
    assert "services" not in district_tables(plain)


def test_services_csv_without_its_columns(make_district):
    folder = folder_with(make_district)
    write_csv(folder / "services.csv", [{"student_id": "S1", "minutes": "5"}],
              ["student_id", "minutes"])
    assert errors(folder) == [
        "services.csv row 1, column service — a column named 'service' (service name or "
        "CALPADS code, as in students.services); found columns: student_id, minutes"]


def test_a_service_lock_needs_the_school_and_the_service_credential(make_district):
    staff = [*EDUCATORS, educator("E6", "SLP", "", schools="ELM"),
             educator("E7", "SLP", "SLP", schools="MID")]
    schools = [{"school_id": "ELM", "name": "Elm", "low_grade": "TK", "high_grade": "5"},
               {"school_id": "MID", "name": "Mid", "low_grade": "6", "high_grade": "8"}]
    folder = make_district(schools=schools, educators=staff, students=STUDENTS,
                           locks=_locks(("S1", "E6", "pin", "", "SPEECH"),
                                        ("S2", "E7", "forbid", "", "SPEECH"),
                                        ("S2", "E2", "pin", "", "SPEECH")))
    assert errors(folder) == [
        "locks.csv row 2, column educator_id: 'E6' — an educator holding a credential for "
        "SPEECH (SLP, SLP-SCA): E6 holds none",
        "locks.csv row 3, column educator_id: 'E7' — an educator who serves S2's school ELM: "
        "E7 serves MID"]


def test_validate_cli_exits_2_on_a_services_error(make_district, capsys):
    from optimizer.cli import main

    folder = folder_with(make_district, _rows(_set(3, service="OT")))
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "students.csv row 3, column services: 'SPEECH' — the same services for S2" in err
    assert "Traceback" not in err
