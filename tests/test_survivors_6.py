"""Tests written for mutants of the rules that survived the sixth `make mutate`
measurement (benchmarks/mutation.json of d15b8e6, issue 13). Each asserts, on
a small case written by hand, the exact verdict a surviving mutant changed;
expected texts are put together from eligibility.py's message templates and
ca.toml's tables, never copied from the tool's output."""

from __future__ import annotations

from optimizer import load_district
from optimizer.rules import eligibility as el
from tests.conftest import SCHOOL, educator, student


def _verdict(make_district, rule, e, s):
    d = load_district(make_district(schools=[SCHOOL], educators=[e], students=[s]))
    return rule(d.rules, d.students[s["student_id"]], d.educators[e["educator_id"]])


def test_occupational_therapist_may_not_case_manage_is_false(make_district):
    # ca.toml: OT is not a case-manager role; a planner sees ok = False, not None.
    v = _verdict(make_district, el.may_case_manage, educator("E1", "OT", "OT-LIC"),
                 student("S1"))
    assert v.ok is False


def test_speech_without_credential_is_false(make_district):
    # An SLP row holding no credential: SPEECH needs SLP or SLP-SCA (ca.toml).
    v = _verdict(make_district, el.holds_service_credential, educator("E1", "SLP", ""),
                 student("S1", services="SPEECH", sai_setting="", primary="SLI"))
    assert v.ok is False
    assert v.reason == "SPEECH needs one of SLP, SLP-SCA; holds none"


def test_mild_moderate_credential_names_its_level_for_autism(make_district):
    # ca.toml: ES-MMSN covers AUT at mild_moderate only; the student needs extensive.
    v = _verdict(make_district, el.authorized_for_support_level,
                 educator("E1", "SDC", "ES-MMSN"),
                 student("S1", primary="AUT", sai_setting="sdc", support_level="extensive"))
    assert v.ok is False
    assert v.reason == "ES-MMSN covers AUT only at mild_moderate; this student needs extensive"


def test_older_mild_moderate_names_its_id_level_not_its_general_one(make_district):
    # ca.toml: ES-MM covers mild_moderate and extensive in general, but ID at
    # mild_moderate only; the reason must name the ID-specific level.
    v = _verdict(make_district, el.authorized_for_support_level,
                 educator("E1", "SDC", "ES-MM"),
                 student("S1", primary="ID", sai_setting="sdc", support_level="extensive"))
    assert v.ok is False
    assert v.reason == "ES-MM covers ID only at mild_moderate; this student needs extensive"


def test_ca_pack_ends_adult_transition_at_22():
    # ca.toml [rollover], EC 56026(c)(4): eligible to age 22.
    from optimizer import load_rule_pack
    assert load_rule_pack().adult_transition_ends_at_age == 22
