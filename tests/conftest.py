"""Shared helpers: write small districts to a temporary folder, one row at a time."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from optimizer.district.contract import CONTRACT

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
TINY = Path(__file__).resolve().parent / "data" / "tiny"

SCHOOL = {"school_id": "ELM", "name": "Elm Elementary", "low_grade": "TK", "high_grade": "5",
          "feeds_into": "", "region": "North"}


def educator(eid: str, role: str, credentials: str = "", schools: str = "ELM", **kw) -> dict:
    row = {"educator_id": eid, "name": f"Teacher {eid}", "role": role,
           "credentials": credentials, "schools": schools, "fte": "1"}
    row.update(kw)
    return row


def student(sid: str, services: str = "SAI", sai_setting: str = "rsp",
            primary: str = "SLD", grade: str = "3", school: str = "ELM", **kw) -> dict:
    row = {"student_id": sid, "school_id": school, "grade": grade,
           "primary_disability": primary, "services": services, "sai_setting": sai_setting}
    row.update(kw)
    return row


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})


def write_district(folder: Path, *, schools=None, educators=None, students=None, locks=None,
                   toml: str | None = None) -> Path:
    """Write a district folder; columns default to the full contract order."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"schools": schools if schools is not None else [SCHOOL],
              "educators": educators or [], "students": students or []}
    if locks is not None:
        tables["locks"] = locks
    for name, rows in tables.items():
        contract_cols = [c.name for c in CONTRACT[name]]
        extra = [k for r in rows for k in r if k not in contract_cols]
        write_csv(folder / f"{name}.csv", rows, contract_cols + list(dict.fromkeys(extra)))
    if toml is not None:
        (folder / "district.toml").write_text(toml, encoding="utf-8")
    return folder


@pytest.fixture
def make_district(tmp_path):
    """Factory: ``make_district(educators=[...], students=[...])`` -> folder path."""
    counter = iter(range(1000))

    def make(**kw) -> Path:
        return write_district(tmp_path / f"d{next(counter)}", **kw)

    return make


def forks_counted(monkeypatch) -> list[int]:
    """The pids of the children this process forks from now on (os.fork; a
    child's own forks are its own)."""
    forks: list[int] = []
    real = os.fork

    def counted() -> int:
        pid = real()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    return forks
