"""Each credential rule with a passing and a violating case; the CTC's examples;
the low-incidence exception both ways; coordination-only."""

from __future__ import annotations

import pytest

from optimizer import decide, explain, load_district
from optimizer.rules import (
    authorized_for_disability,
    authorized_for_grade,
    authorized_for_support_level,
    holds_service_credential,
    may_case_manage,
    may_coordinate,
    provides_iep_service,
    serves_school,
    teaches_sai_setting,
)
from tests.conftest import SCHOOL, educator, student


@pytest.fixture
def pair(make_district):
    """Build a one-school district with one educator and one student; return
    (district, student, educator)."""

    def make(e: dict, s: dict, schools=None, toml=None):
        d = load_district(make_district(schools=schools or [SCHOOL, {
            "school_id": "OAK", "name": "Oak Elementary", "low_grade": "PK", "high_grade": "5"}],
            educators=[e], students=[s], toml=toml))
        return d, d.students[s["student_id"]], d.educators[e["educator_id"]]

    return make


def verdict(pair, rule, e, s):
    d, st, ed = pair(e, s)
    return rule(d.rules, st, ed)


# ------------------------------------------------------------ one rule at a time

def test_serves_school(pair):
    assert verdict(pair, serves_school, educator("E1", "RSP", "ES-MMSN"), student("S1")).ok
    v = verdict(pair, serves_school, educator("E1", "RSP", "ES-MMSN", schools="OAK"),
                student("S1"))
    assert not v.ok and "not school ELM" in v.reason


def test_may_case_manage_by_role_and_override(pair):
    assert verdict(pair, may_case_manage, educator("E1", "RSP", "ES-MMSN"), student("S1")).ok
    v = verdict(pair, may_case_manage, educator("E1", "OT", "OT-LIC"), student("S1"))
    assert not v.ok and "not a case-manager role" in v.reason
    v = verdict(pair, may_case_manage, educator("E1", "RSP", "ES-MMSN", case_manager="no"),
                student("S1"))
    assert not v.ok and "case_manager = no" in v.reason
    assert verdict(pair, may_case_manage, educator("E1", "PSY", "PPS", case_manager="yes"),
                   student("S1")).ok


def test_the_rule_cache_decides_the_gate_per_role_and_mark(make_district):
    # Decided once per (role, case_manager mark): educators of one role with
    # other marks are each decided as the rule says, asked in any order.
    from optimizer.rules import rule_cache

    staff = [educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN", case_manager="no"),
             educator("E3", "OT", "OT-LIC"), educator("E4", "OT", "OT-LIC", case_manager="yes"),
             educator("E5", "RSP", "ES-MMSN", case_manager="yes")]
    d = load_district(make_district(educators=staff, students=[student("S1")]))
    cache = rule_cache(d.rules)
    for eid in ["E2", "E1", "E4", "E3", "E5", "E1", "E2", "E3", "E4"]:
        e = d.educators[eid]
        assert cache.may_case_manage(e) == may_case_manage(d.rules, None, e).ok
    assert [cache.may_case_manage(d.educators[f"E{i}"]) for i in range(1, 6)] == [
        True, False, False, True, True]


def test_teaches_sai_setting(pair):
    assert verdict(pair, teaches_sai_setting, educator("E1", "RSP"), student("S1")).ok
    v = verdict(pair, teaches_sai_setting, educator("E1", "RSP"),
                student("S1", sai_setting="sdc"))
    assert not v.ok and "SDC" in v.reason
    v = verdict(pair, teaches_sai_setting, educator("E1", "SLP", "SLP"),
                student("S1", services="SPEECH", sai_setting="", primary="SLI"))
    assert not v.ok


def test_authorized_for_disability(pair):
    assert verdict(pair, authorized_for_disability, educator("E1", "RSP", "ES-MMSN"),
                   student("S1", primary="SLD")).ok
    # Mild to Moderate Support Needs does not list speech or language impairment.
    v = verdict(pair, authorized_for_disability, educator("E1", "RSP", "ES-MMSN"),
                student("S1", primary="SLI"))
    assert not v.ok and "SLI" in v.reason
    # Older Mild/Moderate needs the autism added authorization.
    assert not verdict(pair, authorized_for_disability, educator("E1", "RSP", "ES-MM"),
                       student("S1", primary="AUT")).ok
    assert verdict(pair, authorized_for_disability, educator("E1", "RSP", "ES-MM;AA-ASD"),
                   student("S1", primary="AUT")).ok
    # A CALPADS number is the same category as its abbreviation.
    assert verdict(pair, authorized_for_disability, educator("E1", "RSP", "ES-MMSN"),
                   student("S1", primary="290")).ok


def test_conditional_autism_for_deaf_and_hard_of_hearing(pair):
    e = educator("E1", "RSP", "ES-DHH")
    assert verdict(pair, authorized_for_disability, e,
                   student("S1", primary="AUT", secondary_disability="HH")).ok
    assert not verdict(pair, authorized_for_disability, e, student("S1", primary="AUT")).ok


def test_authorized_for_support_level(pair):
    e_mmsn = educator("E1", "SDC", "ES-MMSN")
    extensive = student("S1", primary="AUT", sai_setting="sdc", support_level="extensive")
    v = verdict(pair, authorized_for_support_level, e_mmsn, extensive)
    assert not v.ok and "extensive" in v.reason
    assert verdict(pair, authorized_for_support_level, educator("E1", "SDC", "ES-ESN"),
                   extensive).ok
    # Older M/M: intellectual disability at mild-moderate only.
    v = verdict(pair, authorized_for_support_level, educator("E1", "SDC", "ES-MM"),
                student("S1", primary="ID", sai_setting="sdc", support_level="extensive"))
    assert not v.ok


def test_derived_support_level(pair):
    e = educator("E1", "SDC", "ES-MMSN")
    d, s, _ = pair(e, student("S1", sai_setting="sdc", gen_ed_pct="30"))
    assert s.support_level == "extensive" and s.support_level_derived
    d, s, _ = pair(e, student("S1", sai_setting="sdc", gen_ed_pct="60"))
    assert s.support_level == "mild_moderate"
    d, s, _ = pair(e, student("S1", sai_setting="rsp", gen_ed_pct="10"))
    assert s.support_level == "mild_moderate"  # only SDC placements derive extensive


def test_authorized_for_grade(pair):
    e = educator("E1", "RSP", "ES-ECSE", schools="OAK")
    assert verdict(pair, authorized_for_grade, e, student("S1", school="OAK", grade="PK")).ok
    v = verdict(pair, authorized_for_grade, e, student("S1", school="OAK", grade="3"))
    assert not v.ok and "grade 3" in v.reason
    assert not verdict(pair, authorized_for_grade, educator("E1", "RSP", "ES-MMSN", schools="OAK"),
                       student("S1", school="OAK", grade="PK")).ok


def test_special_class_authorization_only_in_special_classes(pair):
    slp_sca = "SLP-SCA"
    assert verdict(pair, authorized_for_disability, educator("E1", "SDC", slp_sca),
                   student("S1", primary="SLI", sai_setting="sdc")).ok
    assert not verdict(pair, authorized_for_disability, educator("E1", "RSP", slp_sca),
                       student("S1", primary="SLI", sai_setting="rsp")).ok


def test_provides_iep_service(pair):
    assert verdict(pair, provides_iep_service, educator("E1", "SLP", "SLP"),
                   student("S1", services="SAI;SPEECH")).ok
    v = verdict(pair, provides_iep_service, educator("E1", "SLP", "SLP"), student("S1"))
    assert not v.ok and "none is on this IEP" in v.reason


def test_holds_service_credential(pair):
    s = student("S1", services="SPEECH", sai_setting="", primary="SLI")
    assert verdict(pair, holds_service_credential, educator("E1", "SLP", "SLP"), s).ok
    v = verdict(pair, holds_service_credential, educator("E1", "SLP", ""), s)
    assert not v.ok and "SPEECH needs one of SLP, SLP-SCA" in v.reason


def test_may_coordinate(pair):
    assert verdict(pair, may_coordinate, educator("E1", "COORD"), student("S1")).ok
    v = verdict(pair, may_coordinate, educator("E1", "OT", "OT-LIC", case_manager="yes"),
                student("S1", services="SAI"))
    assert not v.ok


STRICT = "[coordination]\nneeds_credential = true\n"


@pytest.mark.parametrize("credentials, ok", [
    ("", False),            # none on file: no coordinating under the strict reading
    ("ES-MMSN", True),      # an education-specialist credential, any specialty
    ("SLP", True),          # a service credential
    ("AA-RSP", False),      # an added authorization alone is not a credential to teach
])
def test_may_coordinate_with_needs_credential(pair, credentials, ok):
    d, s, e = pair(educator("E1", "COORD", credentials), student("S1"), toml=STRICT)
    v = may_coordinate(d.rules, s, e)
    assert v.ok is ok
    if not ok:
        assert "holds no education-specialist or service credential" in v.reason
    # The same answer from the decision the graph, check, keep and explain use.
    assert (decide(d, s, e).capacity == "coordination") is ok


def test_needs_credential_off_by_default_lets_any_coordinating_role_coordinate(pair):
    d, s, e = pair(educator("E1", "RSP"), student("S1"))  # an intern, credential not entered
    assert not d.rules.coordinator_needs_credential
    got = decide(d, s, e)
    assert (got.capacity, got.rank) == ("coordination", 2)


# ----------------------------------------------------------- the CTC's examples

def test_ctc_speech_only_is_slp(pair):
    d, s, e = pair(educator("E1", "SLP", "SLP"),
                   student("S1", services="SPEECH", sai_setting="", primary="SLI"))
    got = decide(d, s, e)
    assert (got.capacity, got.rank) == ("service", 0)
    assert "best practice" in got.reason


def test_ctc_speech_plus_rsp_is_rsp_teacher(pair):
    s = student("S1", services="SAI;SPEECH", primary="SLD")
    d, st, rsp = pair(educator("E1", "RSP", "ES-MMSN"), s)
    assert (decide(d, st, rsp).capacity, decide(d, st, rsp).rank) == ("instruction", 0)
    d, st, slp = pair(educator("E2", "SLP", "SLP"), s)
    assert (decide(d, st, slp).capacity, decide(d, st, slp).rank) == ("service", 1)


def test_ctc_pt_plus_sdc_is_sdc_teacher(pair):
    s = student("S1", services="SAI;PT", sai_setting="sdc", primary="OI", gen_ed_pct="50")
    d, st, e = pair(educator("E1", "SDC", "ES-MMSN"), s)
    assert (decide(d, st, e).capacity, decide(d, st, e).rank) == ("instruction", 0)
    # The PT provides a related service but is not a case-manager role.
    d, st, pt = pair(educator("E2", "PT", "PT-LIC"), s)
    assert not decide(d, st, pt).eligible


def test_ctc_rsp_fully_included_is_rsp_teacher(pair):
    d, st, e = pair(educator("E1", "RSP", "ES-MMSN"),
                    student("S1", services="SAI", sai_setting="rsp", gen_ed_pct="100"))
    assert (decide(d, st, e).capacity, decide(d, st, e).rank) == ("instruction", 0)


# ------------------------------------------- low-incidence exception, coordination

def test_low_incidence_exception_allows_secondary_category(pair):
    e = educator("E1", "RSP", "ES-MMSN")
    on_secondary = student("S1", primary="HH", secondary_disability="SLD",
                           placement_basis="secondary")
    d, s, ed = pair(e, on_secondary)
    got = decide(d, s, ed)
    assert got.capacity == "instruction"
    assert "low-incidence exception" in got.reason


def test_low_incidence_exception_not_used_means_primary_category(pair):
    e = educator("E1", "RSP", "ES-MMSN")
    d, s, ed = pair(e, student("S1", primary="HH", secondary_disability="SLD"))
    got = decide(d, s, ed)
    assert got.capacity == "coordination" and got.rank == 2
    assert any("HH" in v.reason for v in got.failed)


def test_teacher_without_the_specialty_may_only_coordinate(pair):
    d, s, e = pair(educator("E1", "SDC", "ES-MMSN"),
                   student("S1", primary="AUT", sai_setting="sdc", support_level="extensive"))
    got = decide(d, s, e)
    assert (got.capacity, got.rank) == ("coordination", 2)
    assert "no specialty" in got.reason


def test_explain_lists_every_rule(pair):
    d, s, e = pair(educator("E1", "RSP", "ES-MMSN"), student("S1"))
    names = [v.rule for v in explain(d, "S1", "E1")]
    assert names[:2] == ["Serves the student's school", "May case-manage"]
    assert "May coordinate" in names
