"""The derived-level warning left by the read and found beside the plan
(issue 12): ``load_district_deferred`` then ``merged`` give exactly the
district ``load_district`` gives, a refused district's report is the same,
and ``caseload plan`` finds the warning in its second process with the same
files and words as when it finds it itself."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pandas as pd
import pytest

from optimizer import load_district
from optimizer.cli import main
from optimizer.district import derived_levels
from optimizer.district.validate import DistrictError, load_district_deferred
from optimizer.outputs import side_process
from optimizer.outputs.text import format_problems
from tests.conftest import ROOT, SAMPLE, TINY

SERVICES = ROOT / "data" / "sample-services"
DERIVED = "decides which teachers may teach them"


@pytest.mark.parametrize("folder", [SAMPLE, SERVICES, TINY], ids=["sample", "services", "tiny"])
def test_merged_deferred_warning_gives_the_loaded_district(folder):
    whole = load_district(folder)
    district, later = load_district_deferred(folder)
    found = later.find(district)
    assert later.warnings(found) == whole.warnings  # (what caseload plan writes)
    merged = later.merged(district, found)
    # Field by field (a district, and a rule pack, is equal only to itself:
    # each load reads its own pack).
    for field in dataclasses.fields(whole):
        if field.name != "rules":
            assert getattr(merged, field.name) == getattr(whole, field.name), field.name
    assert merged.rules is district.rules
    assert merged.warnings == whole.warnings
    # Only the derived-level warning was left out.
    assert [w for w in whole.warnings if w not in district.warnings] == found


def test_the_samples_have_the_derived_level_warning():
    # (Else the test above would compare two districts without it.)
    for folder in (SAMPLE, SERVICES):
        assert any(DERIVED in w.expected for w in load_district(folder).warnings)


def test_a_refused_district_reports_the_derived_warning_too(tmp_path):
    # A pin no rule allows is found after the district is built, where the
    # derived-level warning is; the report lists both, deferred or not.
    d = tmp_path / "d"
    shutil.copytree(SAMPLE, d)
    students = pd.read_csv(d / "students.csv", dtype=str, keep_default_na=False)
    educators = pd.read_csv(d / "educators.csv", dtype=str, keep_default_na=False)
    first = students.iloc[0]
    other = educators[~educators["schools"].str.contains(first["school_id"])].iloc[0]
    locks = pd.read_csv(d / "locks.csv", dtype=str, keep_default_na=False)
    locks = pd.concat([locks, pd.DataFrame([{
        "student_id": first["student_id"], "educator_id": other["educator_id"],
        "kind": "pin", "reason": ""}])])
    locks.to_csv(d / "locks.csv", index=False)
    with pytest.raises(DistrictError) as whole:
        load_district(d)
    with pytest.raises(DistrictError) as deferred:
        load_district_deferred(d)
    assert deferred.value.problems == whole.value.problems
    assert any(DERIVED in p.expected for p in deferred.value.problems)
    assert any(p.file == "locks.csv" and p.severity == "error"
               for p in deferred.value.problems)


def _spy(monkeypatch) -> list[int]:
    """The pids of the processes that look for the derived-level warning."""
    pids: list[int] = []
    real = derived_levels.derived_level_warnings

    def spied(district, label="students.csv"):
        pids.append(os.getpid())
        return real(district, label)

    monkeypatch.setattr("optimizer.district.validate.derived_level_warnings", spied)
    return pids


def _about_files(printed: str) -> str:
    """What ``caseload plan`` prints about the district's files (the summary
    before it holds the run's times)."""
    about = printed[printed.index("About the district's files"):]
    return about[:about.index("Plan written to")]


@pytest.mark.skipif(not side_process.can_fork(), reason="no fork here (not Linux, or one core)")
@pytest.mark.parametrize("folder", [SAMPLE, SERVICES], ids=["sample", "services"])
def test_caseload_plan_finds_the_warning_beside_with_the_same_output(
        folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    pids = _spy(monkeypatch)
    out_two = tmp_path / "two"
    assert main(["plan", str(folder), "--out", str(out_two), "--all"]) == 0
    two_text = _about_files(capsys.readouterr().out).replace(str(out_two), "OUT")
    # Looked for in the second process (a spy there cannot tell this one:
    # none is seen here).
    assert pids == []
    monkeypatch.setattr(side_process, "can_fork", lambda: False)
    out_one = tmp_path / "one"
    assert main(["plan", str(folder), "--out", str(out_one), "--all"]) == 0
    one_text = _about_files(capsys.readouterr().out).replace(str(out_one), "OUT")
    assert pids == [os.getpid()]  # here, once, without a second process
    assert one_text == two_text and DERIVED in one_text
    # Every warning, in the order load_district gives them (--all prints them
    # as they are, not grouped).
    every = format_problems(list(load_district(folder).warnings))
    assert one_text == "About the district's files: " + every + "\n\n"
    files = {p.name: p.read_bytes() for p in out_one.iterdir()}
    assert files == {p.name: p.read_bytes() for p in out_two.iterdir()}
    assert DERIVED.encode() in files["warnings.csv"]
