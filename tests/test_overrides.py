"""Every district.toml key tested for its effect on decisions and plans, not
only for being read (docs/data-contract.md, "district.toml").

Each case writes one small district twice, with and without the override,
and asserts by hand what changes; the independent checker (which applies
district.toml itself) must agree with the engine in both.
"""

from __future__ import annotations

import pytest

from optimizer import decide, edge_table, load_district, plan
from tests import independent
from tests.conftest import educator, student, write_district


def _edges(d) -> dict[tuple[str, str], tuple[str, int]]:
    t = edge_table(d)
    return {(s, e): (c, int(r)) for s, e, c, r in
            zip(t["student_id"], t["educator_id"], t["capacity"], t["rank"], strict=True)}


def _pair(tmp_path, educators, students, toml, sid="S1", eid="E1"):
    """(capacity, rank) of one pair without and with the override."""
    out = []
    for tag, text in (("without", None), ("with", toml)):
        folder = write_district(tmp_path / tag, educators=educators, students=students,
                                toml=text)
        d = load_district(folder)
        assert _edges(d) == independent.eligible_pairs(folder), tag
        got = decide(d, d.students[sid], d.educators[eid])
        out.append((got.capacity, got.rank))
    return out


#: (case, educators, students, district.toml, (capacity, rank) without, with)
CASES = [
    ("coordinating_roles drops a role", [educator("E1", "RSP")], [student("S1")],
     'coordinating_roles = ["COORD"]\n', ("coordination", 2), (None, None)),
    ("coordinating_roles adds a role", [educator("E1", "OT", "OT-LIC", case_manager="yes")],
     [student("S1")], 'coordinating_roles = ["OT"]\n', (None, None), ("coordination", 2)),
    ("case_manager_roles adds a role", [educator("E1", "PSY", "PPS")],
     [student("S1", services="SAI;COUNSELING")], 'case_manager_roles = ["PSY", "RSP"]\n',
     (None, None), ("service", 1)),
    ("case_manager_roles drops a role", [educator("E1", "RSP", "ES-MMSN")], [student("S1")],
     'case_manager_roles = ["SDC"]\n', ("instruction", 0), (None, None)),
    ("roles table: a role made a case manager", [educator("E1", "OT", "OT-LIC")],
     [student("S1", services="OT", sai_setting="")],
     '[roles.OT]\ncase_manager = true\n', (None, None), ("service", 1)),
    ("roles table: teaches another setting", [educator("E1", "RSP", "ES-MMSN")],
     [student("S1")], '[roles.RSP]\nteaches = "sdc"\n', ("instruction", 0),
     ("coordination", 2)),
    ("credentials table: a category added", [educator("E1", "RSP", "ES-MMSN")],
     [student("S1", primary="SLI")],
     '[credentials.ES-MMSN]\ncategories = ["SLD", "SLI"]\n', ("coordination", 2),
     ("instruction", 0)),
    ("credentials table: a grade band narrowed", [educator("E1", "RSP", "ES-MMSN")],
     [student("S1", grade="3")], '[credentials.ES-MMSN]\ngrades = ["K", "1", "2"]\n',
     ("instruction", 0), ("coordination", 2)),
    ("services table: credential list", [educator("E1", "SLP", "SLP-SCA")],
     [student("S1", services="SPEECH", sai_setting="", primary="SLI")],
     '[services.SPEECH]\ncredentials = ["SLP"]\n', ("service", 0), ("coordination", 2)),
    ("best_practice_rule: related services ignored", [educator("E1", "SLP", "SLP")],
     [student("S1", services="SPEECH;OT", sai_setting="", primary="SLI")],
     '[best_practice_rule]\nrelated_services_count = false\n', ("service", 1),
     ("service", 0)),

    ("best_practice table replaced", [educator("E1", "RSP", "ES-MMSN")], [student("S1")],
     '[[best_practice]]\nsai_setting = "sdc"\nrole = "SDC"\n', ("instruction", 0),
     ("instruction", 1)),
    ("coordination: needs_credential", [educator("E1", "RSP")], [student("S1")],
     '[coordination]\nneeds_credential = true\n', ("coordination", 2), (None, None)),
    ("support_level_rule threshold", [educator("E1", "SDC", "ES-MMSN")],
     [student("S1", sai_setting="sdc", gen_ed_pct="30")],
     '[support_level_rule]\nsdc_gen_ed_pct_below = 25\n', ("coordination", 2),
     ("instruction", 0)),
]


@pytest.mark.parametrize("case, educators, students, toml, without, with_",
                         CASES, ids=[c[0] for c in CASES])
def test_override_changes_the_decision(tmp_path, case, educators, students, toml, without,
                                       with_):
    assert _pair(tmp_path, educators, students, toml) == [without, with_]


def test_services_kind_decides_what_counts_when_related_services_are_ignored(tmp_path):
    """[services.X] kind: with related services ignored ([best_practice_rule]),
    OT as a related service leaves SPEECH + OT "speech only" (rank 0); the
    same OT made specialized makes it two services (rank 1)."""
    ignore = "[best_practice_rule]\nrelated_services_count = false\n"
    got = []
    for i, toml in enumerate((ignore, ignore + '[services.OT]\nkind = "specialized"\n')):
        folder = write_district(tmp_path / f"d{i}", educators=[educator("E1", "SLP", "SLP")],
                                students=[student("S1", services="SPEECH;OT", sai_setting="",
                                                  primary="SLI")], toml=toml)
        d = load_district(folder)
        dec = decide(d, d.students["S1"], d.educators["E1"])
        got.append((dec.capacity, dec.rank))
    assert got == [("service", 0), ("service", 1)]


def test_disabilities_table_low_incidence(tmp_path):
    """OI low incidence (EC 56026.5, 'when severe') allows the secondary basis;
    a district that sets it false gets a validation error for the same row."""
    s = student("S1", primary="OI", secondary_disability="SLD", placement_basis="secondary")
    folder = write_district(tmp_path / "a", educators=[educator("E1", "RSP", "ES-MMSN")],
                            students=[s])
    d = load_district(folder)
    assert decide(d, d.students["S1"], d.educators["E1"]).capacity == "instruction"
    from optimizer import check_district

    folder = write_district(tmp_path / "b", educators=[educator("E1", "RSP", "ES-MMSN")],
                            students=[s], toml="[disabilities.OI]\nlow_incidence = false\n")
    errors = [p for p in check_district(folder) if p.severity == "error"]
    assert [(p.file, p.row, p.column) for p in errors] == [("students.csv", 2,
                                                            "placement_basis")]


def test_caps_and_name(tmp_path):
    """[caps] changes the cap the plan fills; `name` is the plan's district."""
    educators = [educator("E1", "RSP", "ES-MMSN")]
    students = [student(f"S{i}") for i in range(1, 4)]
    folder = write_district(tmp_path, educators=educators, students=students,
                            toml='name = "Elm Union"\n[caps]\nRSP = 2\n')
    r = plan(load_district(folder))
    assert r.figures["district"] == "Elm Union"
    assert r.figures["placed"] == 2 and r.caseloads.loc[0, "cap"] == 2
    assert independent.caps(folder)["E1"] == (2, 0.0)


def test_rule_pack_key(tmp_path):
    folder = write_district(tmp_path, educators=[educator("E1", "RSP", "ES-MMSN")],
                            students=[student("S1")], toml='rule_pack = "ca"\n')
    assert load_district(folder).rules.name == "ca"


def test_student_weights_fill_the_cap(tmp_path):
    """Three extensive students, a cap of 4: at weight 1 all three fit (load 3);
    with `extensive = 2` only two do (load 4)."""
    educators = [educator("E1", "SDC", "ES-ESN", max_caseload="4")]
    students = [student(f"S{i}", sai_setting="sdc", primary="AUT", support_level="extensive")
                for i in range(1, 4)]
    for tag, toml, placed in (("without", None, 3), ("with", "[student_weights]\n"
                                                           "extensive = 2\n", 2)):
        folder = write_district(tmp_path / tag, educators=educators, students=students,
                                toml=toml)
        r = plan(load_district(folder))
        assert r.figures["placed"] == placed, tag
        assert r.caseloads.loc[0, "load"] == (3.0 if placed == 3 else 4.0)
        got = dict(zip(r.assignments["student_id"], r.assignments["case_manager_id"],
                       strict=True))
        assert independent.plan_violations(folder, got) == []


def test_objective_continuity(tmp_path):
    """Continuity 5 keeps both students with this year's case manager (the
    balance saving from splitting them, 2 x 28 x (4 - 2) / 28^2 = 0.14, is
    smaller); continuity 0 lets balance split them."""
    educators = [educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN")]
    students = [student("S1", current_case_manager="E1"),
                student("S2", current_case_manager="E1")]
    for tag, toml, loads in (("without", None, [2, 0]),
                             ("with", "[objective]\ncontinuity = 0\n", [1, 1])):
        folder = write_district(tmp_path / tag, educators=educators, students=students,
                                toml=toml)
        r = plan(load_district(folder))
        assert list(r.caseloads["load"]) == loads, tag
