"""Reading and validation pause the cyclic garbage collector while they build
records (optimizer/district/bulk.py) and always leave it as they found it."""

from __future__ import annotations

import gc

import pytest

from optimizer.district.bulk import collector_paused
from optimizer.district.reader import read_district_files
from optimizer.district.validate import DistrictError, load_district, validate_tables
from tests.conftest import SAMPLE


def test_validation_runs_with_the_collector_paused_and_restores_it(monkeypatch):
    import optimizer.district.validate as validate

    seen = []
    real = validate._students

    def spy(*args):
        seen.append(gc.isenabled())  # inside validate_tables, building the records
        return real(*args)

    monkeypatch.setattr(validate, "_students", spy)
    assert gc.isenabled()
    raw = read_district_files(SAMPLE)
    assert gc.isenabled()
    district, _ = validate_tables(raw)
    assert district is not None and gc.isenabled()
    assert seen == [False]


def test_collector_restored_after_an_error_and_left_off_if_it_was_off(tmp_path):
    with pytest.raises(DistrictError):
        load_district(tmp_path / "missing")
    assert gc.isenabled()
    gc.disable()
    try:
        load_district(SAMPLE)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_the_workbook_is_written_with_the_collector_paused_and_restores_it(monkeypatch,
                                                                           tmp_path):
    from optimizer import plan
    from optimizer.outputs import workbook

    seen = []
    real = workbook.write_edit_sheet

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())  # inside write_workbook, making the rows
        return real(*args, **kwargs)

    monkeypatch.setattr(workbook, "write_edit_sheet", spy)
    tables = plan(load_district(SAMPLE)).tables()
    assert gc.isenabled()
    workbook.write_workbook(tables, tmp_path / "plan.xlsx")
    assert gc.isenabled() and seen == [False]
