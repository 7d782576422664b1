"""The synthetic district generator: deterministic, valid, calibrated."""

from __future__ import annotations

import filecmp

import pytest

from optimizer.district.reader import RawDistrict
from optimizer.district.validate import load_district, validate_tables
from optimizer.generator import generate_district
from optimizer.outputs.export import write_district
from tests.conftest import SAMPLE

_CODES = {"210": "ID", "220": "HH", "230": "DEAF", "240": "SLI", "250": "VI", "260": "ED",
          "270": "OI", "280": "OHI", "281": "EMD", "290": "SLD", "300": "DB", "310": "MD",
          "320": "AUT", "330": "TBI"}


@pytest.fixture(scope="module")
def big():
    return generate_district(20000, seed=5)


def test_same_seed_same_bytes(tmp_path):
    a = write_district(generate_district(500, seed=9), tmp_path / "a")
    b = write_district(generate_district(500, seed=9), tmp_path / "b")
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert mismatch == [] and errors == []


def test_different_seed_differs():
    a = generate_district(500, seed=1).tables["students"]
    b = generate_district(500, seed=2).tables["students"]
    assert not a.equals(b)


def test_generated_districts_are_valid(big):
    district, problems = validate_tables(RawDistrict("big", tables=big.tables))
    assert district is not None, [str(p) for p in problems if p.severity == "error"][:5]
    assert len(district.students) == 20000


def test_disability_mix_matches_published_shares(big):
    st = big.tables["students"]
    school_age = st[~st["grade"].isin(["PK", "A"])]
    share = school_age["primary_disability"].replace(_CODES).value_counts(normalize=True) * 100
    for cat, target in {"SLD": 38, "SLI": 20, "AUT": 17, "OHI": 12, "ID": 5.5}.items():
        assert abs(share[cat] - target) < 1.5, (cat, share[cat])


def test_services_and_placement_match_published_figures(big):
    st = big.tables["students"]
    services = st["services"].str.replace("330", "SAI").str.replace("415", "SPEECH")
    assert 0.66 <= services.str.contains("SAI").mean() <= 0.76  # about 69%
    assert services.str.contains("SPEECH").mean() >= 0.38  # 38% or more
    assert 0.13 <= (services == "SPEECH").mean() <= 0.22  # speech-only ~ SLI share
    gen_ed = st["gen_ed_pct"].astype(int)
    assert 0.58 <= (gen_ed >= 80).mean() <= 0.69  # 60-67% at >= 80% of the day


def test_staffing_ratios(big):
    ed = big.tables["educators"].assign(fte=lambda f: f["fte"].astype(float))
    fte = ed.groupby("role")["fte"].sum()
    st = big.tables["students"]
    per_teacher = len(st) / (fte["RSP"] + fte["SDC"])
    assert 20 <= per_teacher <= 30  # about 1 special-education teacher FTE per 28
    speech = st["services"].str.contains("SPEECH|415").sum()
    assert 35 <= speech / fte["SLP"] <= 60  # CA median SLP caseload 55, US 48-50


def test_feeder_pattern_and_itinerants(big):
    schools = big.tables["schools"].set_index("school_id")
    kinds = {(r.low_grade, r.high_grade) for r in schools.itertuples()}
    assert {("PK", "PK"), ("TK", "5"), ("6", "8"), ("9", "12"), ("A", "A")} <= kinds
    for _, r in schools.iterrows():
        if r["high_grade"] in ("5", "8", "12"):
            nxt = schools.loc[r["feeds_into"]]
            assert nxt["low_grade"] == "A" or int(r["high_grade"]) + 1 == int(nxt["low_grade"])
    # Itinerant low-incidence teachers serve every school of their region.
    ed = big.tables["educators"]
    region_schools = schools.groupby("region").apply(lambda g: set(g.index)).to_dict()
    itinerant = ed[ed["role"].isin(["DHH", "VI"])]
    assert len(itinerant) >= len(region_schools)
    for served in itinerant["schools"]:
        served = set(served.split(";"))
        assert served in region_schools.values()
    assert (itinerant["schools"].str.count(";") >= 1).mean() > 0.8


def test_sample_is_reproducible_and_sized_as_documented(tmp_path):
    regenerated = write_district(
        generate_district(1900, seed=2027, name="Sample Unified School District (synthetic)"),
        tmp_path / "s")
    for name in ("schools.csv", "educators.csv", "students.csv", "locks.csv", "district.toml"):
        assert (regenerated / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    d = load_district(SAMPLE)
    assert len(d.schools) == 12 and 1800 <= len(d.students) <= 2000
    assert 110 <= len(d.educators) <= 150
    stale = [s for s in d.students.values() if s.current_case_manager]
    assert len(stale) > 1000
