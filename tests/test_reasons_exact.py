"""Every rule's verdict, word for word, on hand-picked pairs: the reasons a
planner reads in `caseload explain` and in the plan (docs/rules.md)."""

from __future__ import annotations

import pytest

from optimizer import decide, explain, load_district
from tests.conftest import SCHOOL, educator, student

OAK = {"school_id": "OAK", "name": "Oak", "low_grade": "TK", "high_grade": "5"}


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    from tests.conftest import write_district

    return load_district(write_district(
        tmp_path_factory.mktemp("reasons") / "d", schools=[SCHOOL, OAK],
        educators=[
            educator("E1", "RSP", "ES-MMSN;LH"),
            educator("E2", "SDC", "ES-MMSN", schools="OAK", case_manager="no"),
            educator("E3", "SLP", ""),
            educator("E4", "RSP", "ES-ECSE"),
            educator("E5", "OT", "OT-LIC"),
            educator("E6", "RSP", "SLP-SCA"),
            educator("E7", "SDC", "ES-MMSN"),
        ],
        students=[
            student("S1"),
            student("S2", primary="AUT", sai_setting="sdc", gen_ed_pct="20"),
            student("S3", services="SPEECH;OT", sai_setting="", primary="SLI"),
            student("S4", primary="HH", secondary_disability="SLD",
                    placement_basis="secondary"),
            student("S5", primary="SLI"),
            student("S6", services="OT", sai_setting="", primary="OHI"),
        ],
        locks=[{"student_id": "S1", "educator_id": "E4", "kind": "forbid",
                "reason": "family asked"},
               {"student_id": "S6", "educator_id": "E3", "kind": "pin", "reason": ""}]))


def lines(d, sid, eid):
    return [str(v) for v in explain(d, sid, eid)]


def test_every_rule_passing_for_a_resource_teacher(d):
    # A blank support_level is derived (docs/data-contract.md), and the reason says so.
    assert lines(d, "S1", "E1") == [
        "Serves the student's school: serves school ELM",
        "May case-manage: Resource specialist is a case-manager role",
        "Teaches the student's SAI: teaches this student's SAI in RSP",
        "Credential covers the disability: ES-MMSN, LH covers SLD (Specific Learning "
        "Disability, primary disability)",
        "Credential covers the support level: ES-MMSN, LH covers mild_moderate support"
        " (derived from setting and time in general education)",
        "Credential covers the grade: ES-MMSN, LH covers grade 3",
        "Provides a service on the IEP: RSP provides no related or specialized service",
        "Holds the service credential: no service offered; holds ES-MMSN, LH",
        "May coordinate: Resource specialist may coordinate: no specialty area needed",
    ]
    got = decide(d, d.students["S1"], d.educators["E1"])
    assert (got.capacity, got.rank, got.failed) == ("instruction", 0, ())
    assert got.reason == (
        "teaches this student's SAI in RSP; ES-MMSN, LH covers SLD (Specific Learning "
        "Disability, primary disability); ES-MMSN, LH covers mild_moderate support "
        "(derived from setting and time in general education); "
        "ES-MMSN, LH covers grade 3 — best practice (resource program instruction: the "
        "RSP teacher)")


def test_other_school_opted_out_and_derived_level(d):
    assert lines(d, "S2", "E2") == [
        "Serves the student's school: serves OAK, not school ELM",
        "May case-manage: marked case_manager = no in educators.csv",
        "Teaches the student's SAI: teaches this student's SAI in SDC",
        "Credential covers the disability: ES-MMSN covers AUT (Autism, primary disability)",
        "Credential covers the support level: ES-MMSN covers AUT only at mild_moderate; "
        "this student needs extensive (derived from setting and time in general education)",
        "Credential covers the grade: no credential covers category and level; this "
        "student is in grade 3",
        "Provides a service on the IEP: SDC provides no related or specialized service",
        "Holds the service credential: no service offered; holds ES-MMSN",
        "May coordinate: Special day class teacher may coordinate: no specialty area needed",
    ]
    got = decide(d, d.students["S2"], d.educators["E2"])
    assert (got.capacity, got.rank, got.failed_text()) == (
        None, None, ["Serves the student's school: serves OAK, not school ELM"])
    # The same student with an SDC teacher at the school: only coordination, and why.
    got = decide(d, d.students["S2"], d.educators["E7"])
    assert (got.capacity, got.rank, got.reason) == (
        "coordination", 2, "Special day class teacher may coordinate: no specialty area "
        "needed")
    assert got.failed_text() == [
        "Credential covers the support level: ES-MMSN covers AUT only at mild_moderate; "
        "this student needs extensive (derived from setting and time in general "
        "education)",
        "Provides a service on the IEP: SDC provides no related or specialized service"]


def test_provider_without_the_credential(d):
    assert lines(d, "S3", "E3") == [
        "Serves the student's school: serves school ELM",
        "May case-manage: Speech-language pathologist is a case-manager role",
        "Teaches the student's SAI: the IEP has no specialized academic instruction",
        "Credential covers the disability: holds no teaching credential for this setting",
        "Credential covers the support level: no credential covers the category; this "
        "student needs mild_moderate (derived from setting and time in general education)",
        "Credential covers the grade: no credential covers category and level; this "
        "student is in grade 3",
        "Provides a service on the IEP: provides SPEECH on this IEP",
        "Holds the service credential: SPEECH needs one of SLP, SLP-SCA; holds none",
        "May coordinate: Speech-language pathologist may coordinate: no specialty area "
        "needed",
    ]
    got = decide(d, d.students["S3"], d.educators["E3"])
    assert got.failed_text() == [
        "Teaches the student's SAI: the IEP has no specialized academic instruction",
        "Holds the service credential: SPEECH needs one of SLP, SLP-SCA; holds none"]


def test_grade_band_setting_category_and_basis(d):
    assert lines(d, "S1", "E4")[5] == ("Credential covers the grade: ES-ECSE covers grades "
                                       "PK–K; this student is in grade 3")
    assert lines(d, "S1", "E4")[-1] == "Lock in locks.csv: forbid (family asked)"
    assert lines(d, "S1", "E6")[3] == ("Credential covers the disability: holds no teaching "
                                       "credential for this setting")
    assert lines(d, "S5", "E1")[3] == (
        "Credential covers the disability: none of ES-MMSN, LH covers SLI (Speech or "
        "Language Impairment, primary disability)")
    assert lines(d, "S4", "E1")[3] == (
        "Credential covers the disability: ES-MMSN, LH covers SLD (Specific Learning "
        "Disability, secondary disability, low-incidence exception)")
    assert lines(d, "S2", "E1")[2] == ("Teaches the student's SAI: RSP teaches RSP; this "
                                       "student's SAI is in SDC")
    assert lines(d, "S6", "E3")[-1] == "Lock in locks.csv: pin"


def test_non_case_manager_role(d):
    assert lines(d, "S6", "E5") == [
        "Serves the student's school: serves school ELM",
        "May case-manage: Occupational therapist (OT) is not a case-manager role in this "
        "rule pack",
        "Teaches the student's SAI: the IEP has no specialized academic instruction",
        "Credential covers the disability: holds no teaching credential for this setting",
        "Credential covers the support level: no credential covers the category; this "
        "student needs mild_moderate (derived from setting and time in general education)",
        "Credential covers the grade: no credential covers category and level; this "
        "student is in grade 3",
        "Provides a service on the IEP: provides OT on this IEP",
        "Holds the service credential: authorized for OT (OT-LIC)",
        "May coordinate: Occupational therapist (OT) may not coordinate in this rule pack",
    ]
    assert lines(d, "S1", "E5")[2] == ("Teaches the student's SAI: OT does not teach "
                                       "specialized academic instruction")
    assert lines(d, "S1", "E5")[6] == ("Provides a service on the IEP: OT provides OT; none "
                                       "is on this IEP")
