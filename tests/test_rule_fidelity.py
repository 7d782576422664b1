"""Issue 14: the rule pack against its sources. Each test states the expected
verdict by hand, with the source beside it (or "local default" where no law
applies); none is taken from the tool's own output."""

from __future__ import annotations

import subprocess
import sys

import pytest
from openpyxl import load_workbook

from optimizer import decide, explain, load_district, load_rule_pack
from optimizer.district.validate import check_district
from optimizer.graph import build_graph, edge_table, unplaceable_students
from tests import independent
from tests.conftest import SAMPLE, SCHOOL, educator, student

OAK = {"school_id": "OAK", "name": "Oak Elementary", "low_grade": "PK", "high_grade": "5",
       "region": "North"}
PINE = {"school_id": "PINE", "name": "Pine Elementary", "low_grade": "TK", "high_grade": "5",
        "region": "South"}


@pytest.fixture
def one(make_district):
    """(capacity, rank) of one educator for one student in a small district."""

    def run(e: dict, s: dict, toml: str | None = None, extra_educators=()):
        d = load_district(make_district(schools=[SCHOOL, OAK, PINE],
                                        educators=[e, *extra_educators], students=[s],
                                        toml=toml))
        got = decide(d, d.students[s["student_id"]], d.educators[e["educator_id"]])
        return got.capacity, got.rank

    return run


# --------------------------------------------- 1. transitional kindergarten is K-12
# CTC "Transitional Kindergarten" assignment page: TK "is part of the K-12
# public school system and is the first year of a two-year kindergarten
# program" and "is not considered a preschool program" (EC 48000). A K-12
# authorization therefore covers a TK student.

@pytest.mark.parametrize("role, creds, kw, expected", [
    # SLD in the resource program, older Mild/Moderate (K-12): teaches, best practice.
    ("RSP", "ES-MM", {"primary": "SLD"}, ("instruction", 0)),
    ("RSP", "LH", {"primary": "SLD"}, ("instruction", 0)),          # Ryan LH, K-12
    ("SDC", "ES-MS", {"primary": "AUT", "sai_setting": "sdc", "support_level": "extensive"},
     ("instruction", 0)),                                             # older M/S, K-12
    ("SDC", "SH", {"primary": "AUT", "sai_setting": "sdc", "support_level": "extensive"},
     ("instruction", 0)),                                             # Ryan SH, K-12
    ("SDC", "PH", {"primary": "MD", "sai_setting": "sdc"}, ("instruction", 0)),  # Ryan PH
    # The older ECSE credential is birth to pre-K: TK is not preschool, so no.
    ("RSP", "ES-ECSE-OLD", {"primary": "SLD"}, ("coordination", 2)),
])
def test_tk_is_covered_by_k12_authorizations(one, role, creds, kw, expected):
    assert one(educator("E1", role, creds), student("S1", grade="TK", **kw)) == expected


def test_every_k12_band_in_the_pack_starts_at_tk():
    # EC 48000: a band that covers kindergarten and grade 1 covers TK too.
    pack = load_rule_pack("ca")
    for code, cred in pack.credentials.items():
        if cred.teaching and {"K", "1"} <= cred.grades:
            assert "TK" in cred.grades, code


def test_issue_example_tk_student_and_mild_moderate_teacher():
    # The issue's example: S000202 (SLD, TK) and E00027 (RSP, ES-MM) at the
    # same school: ES-MM is K-12, so it covers TK (EC 48000).
    d = load_district(SAMPLE)
    s, e = d.students["S000202"], d.educators["E00027"]
    assert (s.grade, s.primary_disability, e.role) == ("TK", "SLD", "RSP")
    assert "ES-MM" in e.credentials
    assert decide(d, s, e).capacity == "instruction"


# ------------------------------------------------- 2. Mild/Moderate and autism
# CTC Special Education Added Authorization chart: Level I/II Mild/Moderate
# may add the ASD authorization (not included); the Preliminary credential
# "includes Autism Spectrum Disorder authorization; initially issued effective
# 6/26/2010".

AUT_RSP = {"primary": "AUT", "sai_setting": "rsp"}


@pytest.mark.parametrize("creds, expected", [
    ("ES-MM", ("coordination", 2)),           # Level I/II: no autism
    ("ES-MM;AA-ASD", ("instruction", 0)),     # with the ASD added authorization
    ("ES-MM-2010", ("instruction", 0)),       # Preliminary from 2010: includes autism
])
def test_mild_moderate_and_autism(one, creds, expected):
    assert one(educator("E1", "RSP", creds), student("S1", **AUT_RSP)) == expected


@pytest.mark.parametrize("kw", [
    {"primary": "AUT"}, {"primary": "SLD"}, {"primary": "ID"},
    {"primary": "ID", "support_level": "extensive", "sai_setting": "sdc"},
    {"primary": "AUT", "support_level": "extensive", "sai_setting": "sdc"},
    {"primary": "TBI"}, {"primary": "SLD", "grade": "TK"},
])
def test_mm_2010_authorizes_what_mm_with_asd_does(one, kw):
    # Same document content (CTC chart): the two must never disagree.
    role = "SDC" if kw.get("sai_setting") == "sdc" else "RSP"
    assert (one(educator("E1", role, "ES-MM-2010"), student("S1", **kw))
            == one(educator("E1", role, "ES-MM;AA-ASD"), student("S1", **kw)))


# ------------------------------------------------------- 3. the 40% SDC rule
# Local default: no law or CTC text sets a threshold for "extensive".

SDC_35 = {"primary": "AUT", "sai_setting": "sdc", "gen_ed_pct": "35"}


def test_sdc_threshold_is_labelled_a_local_default():
    raw = load_rule_pack("ca").raw["support_level_rule"]
    assert raw["sdc_gen_ed_pct_below"] == 40
    assert raw["source"].startswith("local default")


def test_sdc_threshold_is_a_district_setting(one):
    e = educator("E1", "SDC", "ES-MMSN")
    # Default 40: 35% in general education is taken as extensive, and MMSN
    # covers mild to moderate needs only -> the teacher may only coordinate.
    assert one(e, student("S1", **SDC_35)) == ("coordination", 2)
    # The district sets 30: 35% is mild_moderate, so the MMSN teacher teaches.
    assert one(e, student("S1", **SDC_35),
               toml="[support_level_rule]\nsdc_gen_ed_pct_below = 30\n") == ("instruction", 0)
    # 0 never derives extensive.
    assert one(e, student("S1", primary="AUT", sai_setting="sdc", gen_ed_pct="0"),
               toml="[support_level_rule]\nsdc_gen_ed_pct_below = 0\n") == ("instruction", 0)


@pytest.mark.parametrize("value", ['"forty"', "nan", "inf", "-1", "100.5", "true", "[40]"])
def test_sdc_threshold_must_be_a_number_from_0_to_100(make_district, value):
    folder = make_district(educators=[educator("E1", "SDC", "ES-MMSN")],
                           students=[student("S1", **SDC_35)],
                           toml=f"[support_level_rule]\nsdc_gen_ed_pct_below = {value}\n")
    errors = [p for p in check_district(folder) if p.severity == "error"]
    assert [(p.file, p.column) for p in errors] == [
        ("district.toml", "support_level_rule.sdc_gen_ed_pct_below")]
    assert "from 0 to 100" in errors[0].expected


def test_misspelt_rule_settings_are_errors_not_ignored(make_district):
    folder = make_district(educators=[educator("E1", "SDC", "ES-MMSN")],
                           students=[student("S1", **SDC_35)],
                           toml="[support_level_rule]\nsdc_gen_ed_pct_bellow = 30\n"
                                "[best_practice_rule]\nrelated_services = false\n")
    errors = [p.column for p in check_district(folder) if p.severity == "error"]
    assert errors == ["support_level_rule.sdc_gen_ed_pct_bellow",
                      "best_practice_rule.related_services"]


def test_bad_threshold_exits_2_without_traceback(make_district):
    folder = make_district(educators=[educator("E1", "SDC", "ES-MMSN")],
                           students=[student("S1", **SDC_35)],
                           toml="[support_level_rule]\nsdc_gen_ed_pct_below = nan\n")
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "validate", str(folder)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stdout + r.stderr
    assert "support_level_rule.sdc_gen_ed_pct_below" in r.stderr


def _level_warnings(d):
    return [w for w in d.warnings if w.column == "support_level"]


def test_one_grouped_warning_when_a_derived_level_decides(make_district):
    # S1, S2: SDC, 20% in general education, level blank -> derived extensive;
    # E1 (ES-MMSN) could teach them at mild_moderate, so the guess decides.
    # S3: level given -> no guess. S4: RSP, level blank -> not the SDC rule.
    folder = make_district(
        educators=[educator("E1", "SDC", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN")],
        students=[student("S1", sai_setting="sdc", gen_ed_pct="20"),
                  student("S2", sai_setting="sdc", gen_ed_pct="20"),
                  student("S3", sai_setting="sdc", gen_ed_pct="20", support_level="extensive"),
                  student("S4", sai_setting="rsp", gen_ed_pct="90")])
    d = load_district(folder)
    [w] = _level_warnings(d)
    assert (w.file, w.row, w.severity) == ("students.csv", None, "warning")
    assert "for 2 student(s)" in w.expected
    assert "S1 (row 2" in w.expected and "S2 (row 3" in w.expected
    assert "S3" not in w.expected and "S4" not in w.expected
    assert "E1 may only coordinate; at mild_moderate E1 may teach them" in w.expected


def test_no_warning_when_the_derived_level_changes_nothing(make_district):
    # E1 holds both MMSN and ESN, which both list autism (CTC 2018 standards):
    # they teach this autistic student at either level, so the guess decides nothing.
    folder = make_district(
        educators=[educator("E1", "SDC", "ES-MMSN;ES-ESN")],
        students=[student("S1", primary="AUT", sai_setting="sdc", gen_ed_pct="20")])
    assert _level_warnings(load_district(folder)) == []


def test_sample_district_warns_once_about_derived_levels():
    # S000002 (23% in general education, level blank) is the issue's example.
    d = load_district(SAMPLE)
    [w] = _level_warnings(d)
    assert "S000002 (row 3, SDC, general education 23%) is taken as extensive" in w.expected


# --------------------------------------- 4. project extensions vs CTC examples

def test_best_practice_rows_name_their_source():
    rows = {r.role: r.source for r in load_rule_pack("ca").best_practice}
    for role in ("SDC", "RSP", "SLP"):   # the CTC's four examples
        assert rows[role].startswith("CTC Special Education Case Management"), role
    for role in ("DHH", "VI"):           # not CTC examples: the project's own
        assert rows[role].startswith("project extension"), role


def test_dhh_only_student_best_practice_is_the_dhh_itinerant(one):
    # Project extension (no CTC example): DHH services only -> DHH itinerant.
    s = student("S1", primary="HH", services="DHH", sai_setting="")
    assert one(educator("E1", "DHH", "ES-DHH"), s) == ("service", 0)


# ------------------------------------------------------------ 5. "speech only"
# CTC example: a student "only receiving speech therapy" -> SLP.

SPEECH_OT_PT = student("S1", primary="SLI", services="SPEECH;OT;PT", sai_setting="")
LOOSE = "[best_practice_rule]\nrelated_services_count = false\n"


def test_speech_only_literal_by_default(one):
    slp = educator("E1", "SLP", "SLP")
    # Literally only speech: best practice.
    assert one(slp, student("S1", primary="SLI", services="SPEECH", sai_setting="")) == (
        "service", 0)
    # SPEECH + OT + PT is not "only speech": the SLP serves (rank 1), not best practice.
    assert one(slp, SPEECH_OT_PT) == ("service", 1)


def test_speech_only_ignoring_related_services_is_a_district_choice(one):
    slp = educator("E1", "SLP", "SLP")
    # Local reading: OT and PT are related services and do not count.
    assert one(slp, SPEECH_OT_PT, toml=LOOSE) == ("service", 0)
    # SAI is not a related service: speech + RSP stays with the RSP teacher (CTC).
    assert one(slp, student("S1", services="SAI;SPEECH"), toml=LOOSE) == ("service", 1)


def test_speech_only_setting_must_be_true_or_false(make_district):
    folder = make_district(educators=[educator("E1", "SLP", "SLP")], students=[SPEECH_OT_PT],
                           toml='[best_practice_rule]\nrelated_services_count = "no"\n')
    errors = [p for p in check_district(folder) if p.severity == "error"]
    assert [(p.file, p.column) for p in errors] == [
        ("district.toml", "best_practice_rule.related_services_count")]


# ------------------------------------------------ 6. the student's school gate
# District practice (San Diego Unified case manager guide): the case manager
# is "most often" at the school of attendance. Default: a hard rule.

COORD_OAK = educator("C1", "COORD", "", schools="OAK")   # region North, as ELM
COORD_PINE = educator("C2", "COORD", "", schools="PINE")  # region South
AT_ELM = student("S1")                                     # ELM is region North
REGION = '[school_rule]\nregion_roles = ["COORD"]\n'
DISTRICT = '[school_rule]\ndistrict_roles = ["COORD"]\n'


def test_school_gate_is_hard_by_default(one, make_district):
    assert one(COORD_OAK, AT_ELM) == (None, None)
    d = load_district(make_district(schools=[SCHOOL, OAK], educators=[COORD_OAK],
                                    students=[AT_ELM]))
    assert [v.ok for v in explain(d, "S1", "C1")][:1] == [False]


def test_school_rule_by_region(one):
    # Relaxed for program specialists within their region: coordinator only.
    assert one(COORD_OAK, AT_ELM, toml=REGION) == ("coordination", 2)
    assert one(COORD_PINE, AT_ELM, toml=REGION) == (None, None)  # another region


def test_school_rule_district_wide(one):
    assert one(COORD_PINE, AT_ELM, toml=DISTRICT) == ("coordination", 2)


def test_teacher_from_another_school_may_only_coordinate(one):
    # An RSP teacher at OAK does not teach this ELM student's RSP instruction,
    # however well credentialed: coordination only, never instruction.
    rsp = educator("E1", "RSP", "ES-MMSN", schools="OAK")
    toml = '[school_rule]\nregion_roles = ["RSP"]\n'
    assert one(rsp, AT_ELM) == (None, None)
    assert one(rsp, AT_ELM, toml=toml) == ("coordination", 2)
    # A role that may not case-manage stays out even when listed.
    ot = educator("E2", "OT", "OT-LIC", schools="OAK")
    assert one(ot, AT_ELM, toml='[school_rule]\nregion_roles = ["OT"]\n') == (None, None)


def test_school_rule_edges_match_the_independent_checker(make_district):
    folder = make_district(
        schools=[SCHOOL, OAK, PINE],
        educators=[educator("E1", "RSP", "ES-MMSN"), COORD_OAK, COORD_PINE,
                   educator("E2", "RSP", "ES-MMSN", schools="PINE")],
        students=[AT_ELM, student("S2", school="PINE"), student("S3", school="OAK", grade="PK",
                                                                 primary="EMD")],
        toml=REGION)
    d = load_district(folder)
    edges = edge_table(d)
    got = {(r.student_id, r.educator_id): (r.capacity, int(r.rank)) for r in edges.itertuples()}
    assert got == independent.eligible_pairs(folder)
    # By hand: S1 at ELM (North): E1 teaches; C1 (OAK, North) coordinates from
    # outside; C2 (PINE, South) does not reach. S3 at OAK: only C1, who serves OAK.
    assert got[("S1", "E1")] == ("instruction", 0)
    assert got[("S1", "C1")] == ("coordination", 2)
    assert ("S1", "C2") not in got
    assert {k for k in got if k[0] == "S3"} == {("S3", "C1")}
    G = build_graph(d)
    assert G.has_edge(("student", "S1"), ("educator", "C1"))


def test_plan_uses_a_coordinator_from_another_school_only_when_allowed(make_district):
    from optimizer import check_plan, plan

    # Nobody at ELM; C2 is a program specialist at PINE (another region).
    kw = {"schools": [SCHOOL, OAK, PINE], "educators": [COORD_PINE], "students": [AT_ELM]}
    hard = plan(load_district(make_district(**kw)))
    assert hard.assignments["case_manager_id"].tolist() == [""]       # default: unplaced
    d = load_district(make_district(**kw, toml=DISTRICT))
    relaxed = plan(d)
    assert relaxed.assignments["case_manager_id"].tolist() == ["C2"]  # relaxed: coordinator
    assert check_plan(d, relaxed.assignments) == []


def test_unplaceable_student_lists_the_educators_a_school_rule_reaches(make_district):
    # C1 is listed as a candidate at ELM (region rule) but is forbidden for S1.
    folder = make_district(schools=[SCHOOL, OAK], educators=[COORD_OAK],
                           students=[AT_ELM], toml=REGION,
                           locks=[{"student_id": "S1", "educator_id": "C1", "kind": "forbid"}])
    [u] = unplaceable_students(load_district(folder))
    assert [c["educator_id"] for c in u["candidates"]] == ["C1"]


def test_school_rule_roles_must_be_known(make_district):
    folder = make_district(educators=[COORD_OAK], students=[AT_ELM], schools=[SCHOOL, OAK],
                           toml='[school_rule]\nregion_roles = ["NURSE"]\nreach = 3\n')
    errors = [(p.column, p.value) for p in check_district(folder) if p.severity == "error"]
    assert errors == [("school_rule.region_roles", "NURSE"), ("school_rule.reach", "3")]


# ------------------------------------------------------- 7. caps and sources

@pytest.mark.parametrize("role, kind, source", [
    ("RSP", "law", "EC 56362(c)"),
    ("SLP", "law: average", "EC 56363.3"),       # an average, applied per person
    ("SDC", "local default", "no state cap"),   # EC 56195.8: local policy
    ("DHH", "local default", "UNCONFIRMED"),
    ("VI", "local default", "UNCONFIRMED"), ("OM", "local default", "UNCONFIRMED"),
    ("APE", "local default", "UNCONFIRMED"), ("OT", "local default", "UNCONFIRMED"),
    ("PT", "local default", "UNCONFIRMED"), ("PSY", "local default", "UNCONFIRMED"),
    ("COORD", "local default", "UNCONFIRMED"),
])
def test_every_cap_says_whether_it_is_law(role, kind, source):
    r = load_rule_pack("ca").roles[role]
    assert (r.cap_kind, r.cap_source.startswith(source)) == (kind, True)


def test_workbook_summary_shows_cap_kinds_and_where_to_change(make_district, tmp_path):
    from optimizer import plan
    from optimizer.outputs.workbook import write_workbook

    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN"),
                                      educator("E2", "SDC", "ES-ESN"),
                                      educator("E3", "SLP", "SLP", schools="ELM")],
                           students=[student("S1")], toml="[caps]\nSDC = 12\n")
    path = write_workbook(plan(load_district(folder)).tables(), tmp_path / "p.xlsx")
    ws = load_workbook(path)["Summary"]
    rows = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r[0]}
    assert rows["  cap RSP: law"].startswith("28 students — EC 56362(c)")
    assert rows["  cap SLP: law: average"].startswith("55 students — EC 56363.3")
    assert rows["  cap SLP (only preschool): law"].startswith("40 students — EC 56441.7")
    assert rows["  cap SDC: district setting"].startswith("12 students — district.toml")
    assert "the rule pack's 20 is local default" in rows["  cap SDC: district setting"]
    assert "district.toml [caps]" in rows["  where to change a cap"]
    assert not any(k.startswith("  cap COORD") for k in rows)  # no COORD on staff


# ------------------------------------------------ docs: a source for every rule

def _table_rows(doc: str, header: str) -> list[list[str]]:
    block = doc.split(header)[1].split("\n\n")[0]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in block.splitlines()[1:]
            if ln.startswith("|") and not ln.startswith("|---")]


def test_rules_doc_gives_a_source_for_every_rule_default_and_cap():
    from optimizer.rules import RULES, reaches_school
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "rules.md").read_text()
    rules = _table_rows(doc, "| rule (name shown to planners) | function | says no when | source |")
    documented = {row[1].strip("`"): row[3] for row in rules}
    for fn in [*(f for group in RULES.values() for f in group), reaches_school]:
        assert documented.get(fn.__name__), fn.__name__
    caps = _table_rows(doc, "| role | full-time cap | kind | source |")
    pack = load_rule_pack("ca")
    listed = {code.strip() for row in caps for code in row[0].split(",")}
    assert set(pack.roles) <= listed
    assert all(row[2] and row[3] for row in caps)
    defaults = _table_rows(doc, "| default | value | where to change it | source |")
    assert defaults and all(row[3] for row in defaults)
    assert any("local default" in row[3].lower() and "support level" in row[0].lower()
               for row in defaults)
