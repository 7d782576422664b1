"""`check` finds every kind of violation in a plan; `audit` checks today's assignments."""

from __future__ import annotations

import pandas as pd

from optimizer import load_district
from optimizer.cli import main
from optimizer.outputs.export import write_plan
from optimizer.planning.check import audit_current, check_plan
from optimizer.planning.planner import plan
from tests.conftest import SAMPLE, educator, student


def district(make_district, **kw):
    return load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1"),
                   educator("E2", "OT", "OT-LIC"), educator("E3", "COORD")],
        students=[student("S1"), student("S2"), student("S3")], **kw))


def frame(pairs):
    return pd.DataFrame(pairs, columns=["student_id", "case_manager_id"])


def kinds(violations):
    return sorted(v.kind for v in violations)


def test_good_plan_has_no_violation(make_district):
    d = district(make_district)
    assert check_plan(d, frame([("S1", "E1"), ("S2", "E3"), ("S3", "")])) == []


def test_ineligible_pair_names_the_rule(make_district):
    d = district(make_district)
    v = check_plan(d, frame([("S1", "E2"), ("S2", "E3"), ("S3", "")]))
    assert kinds(v) == ["ineligible"]
    assert "May case-manage" in v[0].detail


def test_cap_exceeded(make_district):
    d = district(make_district)
    v = check_plan(d, frame([("S1", "E1"), ("S2", "E1"), ("S3", "")]))
    assert kinds(v) == ["cap exceeded"]
    assert "over cap 1" in v[0].detail


def test_missing_twice_and_unknown(make_district):
    d = district(make_district)
    v = check_plan(d, frame([("S1", "E3"), ("S1", "E3"), ("S9", "E3"), ("S2", "E7")]))
    assert kinds(v) == ["missing", "twice", "unknown", "unknown"]


def test_pin_broken_and_forbid_used(make_district):
    d = district(make_district, locks=[
        {"student_id": "S1", "educator_id": "E1", "kind": "pin"},
        {"student_id": "S2", "educator_id": "E3", "kind": "forbid"}])
    v = check_plan(d, frame([("S1", "E3"), ("S2", "E3"), ("S3", "")]))
    assert kinds(v) == ["forbid used", "pin broken"]


def test_audit_flags_todays_rule_breaks(make_district):
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1"),
                   educator("E2", "OT", "OT-LIC")],
        students=[student("S1", current_case_manager="E1"),
                  student("S2", current_case_manager="E1"),
                  student("S3", current_case_manager="E2"),
                  student("S4", current_case_manager="E55"), student("S5")]))
    v = audit_current(d)
    assert kinds(v) == ["cap exceeded", "ineligible", "not on staff"]


def test_cli_check_and_audit(tmp_path, capsys):
    d = load_district(SAMPLE)
    out = write_plan(plan(d), tmp_path / "plan")
    assert main(["check", str(SAMPLE), str(out)]) == 0
    assert "no violations" in capsys.readouterr().out
    # Break the plan by hand, as a planner editing the CSV might.
    a = pd.read_csv(out / "assignments.csv", dtype=str, keep_default_na=False)
    slp = d.educators_frame().query("role == 'OT'")["educator_id"].iloc[0]
    a.loc[0, "case_manager_id"] = slp
    a.to_csv(out / "assignments.csv", index=False)
    assert main(["check", str(SAMPLE), str(out)]) == 1
    assert "ineligible" in capsys.readouterr().out
    assert main(["audit", str(SAMPLE)]) == 1
    text = capsys.readouterr().out
    assert "Today's case managers" in text and "ineligible" in text


def test_cli_check_missing_plan(tmp_path, capsys):
    assert main(["check", str(SAMPLE), str(tmp_path)]) == 2
    assert "assignments.csv" in capsys.readouterr().err


def test_the_audit_keeps_law_apart_from_local_planning_caps(make_district):
    # A planner trial read today's PSY and SLP caseloads over 20 and 55 as
    # breaking the law: PSY's 20 is a local default, and the SLP's 55 caps the
    # district's average. Over a cap the law sets for one person (RSP 28), or
    # one the district set itself, is still "cap exceeded".
    d = load_district(make_district(
        educators=[educator("R1", "RSP", "ES-MMSN", fte="0.05"),
                   educator("P1", "PSY", "PPS", fte="0.05"),
                   educator("R2", "RSP", "ES-MMSN", max_caseload="1")],
        students=[student(f"S{i}", current_case_manager=cm)
                  for i, cm in enumerate(["R1", "R1", "P1", "P1", "R2", "R2"])]))
    kinds = {v.educator_id: v.kind for v in audit_current(d)
             if v.kind in ("cap exceeded", "over planning cap")}
    assert kinds == {"R1": "cap exceeded", "P1": "over planning cap", "R2": "cap exceeded"}
    planning = next(v for v in audit_current(d) if v.kind == "over planning cap")
    assert planning.detail.endswith("PSY's cap is a local default, not law")


def test_a_preschool_slps_own_cap_is_law_in_the_audit(make_district):
    # The SLP's 55 caps the district's average (a planning cap for one
    # person), but an SLP serving only preschool has a cap of 40 of their own
    # in law (EC 56441.7): over it is "cap exceeded".
    schools = [{"school_id": "ELM", "name": "Elm Elementary", "low_grade": "K",
                "high_grade": "5"},
               {"school_id": "PRE", "name": "Little Oaks", "low_grade": "PK",
                "high_grade": "PK"}]
    speech = {"services": "SPEECH", "sai_setting": "", "primary": "SLI"}
    d = load_district(make_district(
        schools=schools,
        educators=[educator("K1", "SLP", "SLP", schools="ELM", fte="0.02"),
                   educator("P1", "SLP", "SLP", schools="PRE", fte="0.025")],
        students=[student(f"S{i}", current_case_manager="K1", **speech) for i in range(3)]
        + [student(f"P{i}", current_case_manager="P1", grade="PK", school="PRE", **speech)
           for i in range(3)]))
    assert (d.cap("K1"), d.cap("P1")) == (1, 1)
    assert (d.cap_kind("K1"), d.cap_kind("P1")) == ("law: average", "law")
    kinds = {v.educator_id: v.kind for v in audit_current(d)
             if v.kind in ("cap exceeded", "over planning cap")}
    assert kinds == {"K1": "over planning cap", "P1": "cap exceeded"}
