"""The generator's services.csv and the second bundled sample (issue 10)."""

from __future__ import annotations

import pytest

from optimizer import generator as gen
from optimizer import load_district
from optimizer.district.services_check import role_provides
from optimizer.generator import generate_district
from optimizer.outputs.export import write_district
from tests.conftest import ROOT, SAMPLE

SAMPLE_SERVICES = ROOT / "data" / "sample-services"
OTHER_FILES = ("schools.csv", "educators.csv", "students.csv", "locks.csv", "district.toml")


@pytest.fixture(scope="module")
def sample():
    return load_district(SAMPLE_SERVICES)


def test_services_have_their_own_random_stream(monkeypatch):
    a = generate_district(400, seed=4, services=True)
    monkeypatch.setattr(gen, "_SERVICES_STREAM", gen._SERVICES_STREAM + 1)
    b = generate_district(400, seed=4, services=True)
    plain = generate_district(400, seed=4)
    assert "services" not in plain.tables
    for name in ("schools", "educators", "students", "locks"):
        assert a.tables[name].equals(b.tables[name]), name
        assert a.tables[name].equals(plain.tables[name]), name
    assert not a.tables["services"].equals(b.tables["services"])
    assert a.tables["services"][["student_id", "service"]].equals(
        b.tables["services"][["student_id", "service"]])


def test_sample_with_services_is_the_sample_plus_services_csv(tmp_path):
    regenerated = write_district(
        generate_district(1900, seed=2027, name="Sample Unified School District (synthetic)",
                          services=True), tmp_path / "s")
    for name in (*OTHER_FILES, "services.csv"):
        assert (regenerated / name).read_bytes() == (SAMPLE_SERVICES / name).read_bytes(), name
    for name in OTHER_FILES:
        assert (SAMPLE / name).read_bytes() == (SAMPLE_SERVICES / name).read_bytes(), name
    assert not (SAMPLE / "services.csv").exists()


def test_sample_services_are_valid_and_realistic(sample):
    d = sample
    assert d.plans_services and not load_district(SAMPLE).plans_services
    rows = d.service_rows
    assert len(rows) == sum(len(s.services) for s in d.students.values())
    pack = d.rules
    on_staff = [r for r in rows if r.current_provider in d.educators]
    departed = [r for r in rows if r.current_provider and r.current_provider not in d.educators]
    blank = [r for r in rows if r.current_provider is None]
    assert 0.6 < len(on_staff) / len(rows) < 0.8
    assert 0.01 < len(departed) / len(rows) < 0.04 and 0.2 < len(blank) / len(rows) < 0.35
    for r in on_staff:  # a provider whose role provides the service at the student's school
        s, e = d.students[r.student_id], d.educators[r.current_provider]
        assert role_provides(pack, e.role, r.service, s.sai_setting), r
        assert s.school_id in e.schools, r
    # Minutes within the illustrative ranges (docs/service-caseloads.md section 1).
    ranges = {"SPEECH": (30, 120), "DHH": (30, 180), "VI": (30, 180), "OM": (30, 120),
              "OT": (15, 60), "PT": (15, 60), "APE": (60, 120), "COUNSELING": (30, 60)}
    sai = {"rsp": (60, 600), "sdc": (900, 1800)}
    for r in rows:
        if r.minutes is None:
            continue
        lo, hi = (sai[d.students[r.student_id].sai_setting] if r.service == "SAI"
                  else ranges.get(r.service, (0, 60)))
        assert lo <= r.minutes <= hi, r
    with_range = [r for r in rows if r.service in ranges or r.service == "SAI"]
    blank_minutes = sum(r.minutes is None for r in with_range) / len(with_range)
    assert 0.02 < blank_minutes < 0.1  # about 1 in 20 left blank


def test_some_slps_serve_near_or_over_55(sample):
    served: dict[str, int] = {}
    for r in sample.service_rows:
        if r.service == "SPEECH" and r.current_provider in sample.educators:
            served[r.current_provider] = served.get(r.current_provider, 0) + 1
    slps = [e for e in sample.educators.values() if e.role == "SLP"]
    counts = sorted(served.get(e.educator_id, 0) for e in slps)
    near = [c for c in counts if c >= 50]
    assert 3 <= len(near) <= len(slps) // 3, counts  # a few, not most
    assert any(c > 55 for c in counts), counts
