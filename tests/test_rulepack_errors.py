"""A district override the rule pack cannot use names the key at fault, exactly
(docs/data-contract.md: unknown keys and bad values are errors)."""

from __future__ import annotations

import pytest

from optimizer import load_rule_pack
from optimizer.rulepacks import RulePackError

CASES = [
    ({"credentials": {"ES-MMSN": {"categories": ["XYZ"]}}},
     "credentials.ES-MMSN.categories: unknown category in ['XYZ']"),
    ({"credentials": {"ES-MMSN": {"categories": "SLD"}}},
     "credentials.ES-MMSN.categories: expected a list of codes, got 'SLD'"),
    ({"credentials": {"ES-MMSN": {"grades": [3]}}},
     "credentials.ES-MMSN.grades: expected a list of codes, got [3]"),
    ({"credentials": {"NEW": {"categories": []}}}, "credentials.NEW: missing key 'name'"),
    # A notebook passing overrides straight to load_rule_pack (no district.toml
    # check first) gets the key at fault, not an AttributeError.
    ({"credentials": {"ES-MMSN": {"conditional": ["HH"]}}},
     "credentials.ES-MMSN.conditional: expected a table of code lists, got ['HH']"),
    ({"credentials": {"ES-MMSN": {"category_support": "SLD"}}},
     "credentials.ES-MMSN.category_support: expected a table of code lists, got 'SLD'"),
    ({"services": {"OT": {"kind": "magic"}}},
     "services.OT.kind: expected instruction, specialized or related"),
    ({"services": {"OT": {"credentials": ["NOPE"]}}},
     "services.OT.credentials: unknown credential in ['NOPE']"),
    ({"services": {"NEW": {"name": "New"}}}, "services.NEW: missing key 'kind'"),
    ({"roles": {"OT": {"provides": ["YOGA"]}}}, "roles.OT.provides: unknown service in ['YOGA']"),
    ({"roles": {"OT": {"teaches": "gym"}}}, "roles.OT.teaches: expected rsp or sdc, got 'gym'"),
    ({"roles": {"OT": {"cap": -1}}}, "roles.OT.cap: expected a whole number >= 0, got -1"),
    ({"roles": {"OT": {"cap": 2.5}}}, "roles.OT.cap: expected <class 'int'>, got 2.5"),
    ({"roles": {"NEW": {"name": "New"}}}, "roles.NEW: missing key 'cap'"),
    ({"roles": {"OT": {"case_manager": "yes"}}},
     "roles.OT.case_manager: expected <class 'bool'>, got 'yes'"),
    ({"best_practice": [{"role": "NURSE"}]}, "best_practice[0].role: unknown role 'NURSE'"),
    ({"best_practice": [{"role": "SLP"}, {"sai_setting": "rsp"}]},
     "best_practice[1]: missing key 'role'"),
    ({"student_weights": {"severe": 2}},
     "student_weights.severe: expected 'default' or a support level "
     "(mild_moderate, extensive)"),
    ({"student_weights": {"default": 0}},
     "student_weights.default: expected a positive number, got 0"),
    ({"student_weights": {"extensive": True}},
     "student_weights.extensive: expected a positive number, got True"),
    ({"student_weights": {"extensive": "2"}},
     "student_weights.extensive: expected a positive number, got '2'"),
    ({"disabilities": {"EMD": {"grades": ["P3"]}}},
     "disabilities.EMD.grades: unknown grade in ['P3']"),
    ({"disabilities": {"ID": {"code": 210}}},
     "disabilities.ID.code: expected <class 'str'>, got 210"),
    ({"disabilities": {"ID": {"low_incidence": "no"}}},
     "disabilities.ID.low_incidence: expected <class 'bool'>, got 'no'"),
    ({"pack": {"grades": "K"}}, "pack.grades: expected <class 'list'>, got 'K'"),
]


@pytest.mark.parametrize("overrides, message", CASES, ids=[c[1].split(":")[0] for c in CASES])
def test_bad_override_names_the_key(overrides, message):
    with pytest.raises(RulePackError) as err:
        load_rule_pack("ca", overrides)
    assert str(err.value) == message


def test_unknown_pack():
    with pytest.raises(RulePackError, match=r"^unknown rule pack 'tx': expected one of ca$"):
        load_rule_pack("tx")


def test_good_overrides_take_effect():
    pack = load_rule_pack("ca", {
        "student_weights": {"default": 1.25, "extensive": 2},
        "support_level_rule": {"sdc_gen_ed_pct_below": 30},
        "roles": {"OT": {"cap": 12, "itinerant": False}},
        "disabilities": {"OI": {"low_incidence": False}},
        "best_practice": [{"label": "all to the SDC teacher", "specialized": [], "role": "SDC"}],
        "objective": {"continuity": 7},
    })
    assert (pack.default_weight, dict(pack.weight_by_support_level)) == (1.25,
                                                                         {"extensive": 2.0})
    assert pack.sdc_extensive_below_pct == 30.0
    assert (pack.roles["OT"].cap, pack.roles["OT"].itinerant) == (12, False)
    assert pack.roles["DHH"].itinerant and not pack.roles["RSP"].itinerant
    assert not pack.disabilities["OI"].low_incidence and pack.disabilities["HH"].low_incidence
    assert [(b.label, b.role, b.sai_setting, b.specialized) for b in pack.best_practice] == [
        ("all to the SDC teacher", "SDC", None, frozenset())]
    assert pack.objective["continuity"] == 7
    # Untouched tables stay as shipped (tables merge key by key).
    assert pack.roles["OT"].provides == frozenset({"OT"})
    assert pack.credentials["ES-DHH"].conditional["AUT"] == frozenset({"HH", "DEAF", "DB"})
    assert pack.credentials["ES-MM"].category_support["ID"] == frozenset({"mild_moderate"})
    assert pack.credentials["SLP-SCA"].settings == frozenset({"sdc"})
    assert pack.credentials["ES-MMSN"].settings is None
    assert pack.disabilities["MD"].never_secondary and not pack.disabilities["AUT"].never_secondary
    assert pack.disabilities["EMD"].grades == frozenset({"PK", "TK", "K"})
    assert pack.disabilities["SLD"].grades is None


def test_lookups():
    pack = load_rule_pack("ca")
    assert (pack.grade_index("PK"), pack.grade_index("TK"), pack.grade_index("A")) == (0, 1, 15)
    assert (pack.disability_of(" 320 "), pack.disability_of("aut"), pack.disability_of("999")) \
        == ("AUT", "AUT", None)
    assert (pack.service_of("415"), pack.service_of(" speech"), pack.service_of("YOGA")) == (
        "SPEECH", "SPEECH", None)
