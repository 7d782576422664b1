"""What the tool writes: no injected rows or formulas, nothing personal under --redact,
and the same bytes for the same input (issue 9, sections 3 and 4)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from optimizer.cli import main
from optimizer.district.contract import CONTRACT
from optimizer.district.textsafe import FORMULA_START
from tests.conftest import educator, student

CR_NAME = "Linh Flores\r=cmd|' /C calc'!A0"
FORMULAS = ["=cmd|' /C calc'!A0", "+1+cmd", "@SUM(1,2)", "-2+3"]


def _write_quoted(folder: Path, tables: dict[str, list[dict]], toml: str | None = None) -> Path:
    """A district written with every cell quoted (so a "\\r" in a cell is kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        cols = [c.name for c in CONTRACT[name]]
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow(cols)
            w.writerows([[r.get(c, "") for c in cols] for r in rows])
    if toml:
        (folder / "district.toml").write_text(toml)
    return folder


SCHOOLS = [{"school_id": "ELM", "name": "Elm", "low_grade": "K", "high_grade": "5"}]


def _cells(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open(newline="", encoding="utf-8")))


def _every_csv(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.csv"))


def _assert_guarded(path: Path) -> None:
    for row in _cells(path):
        for cell in row:
            assert not cell.startswith(FORMULA_START), (path.name, cell)
    for line in path.read_bytes().split(b"\n"):
        assert not line.startswith(tuple(c.encode() for c in FORMULA_START)), (path, line)


def test_carriage_return_in_a_name_cannot_inject_a_row(tmp_path):
    d = _write_quoted(tmp_path / "d", {
        "schools": SCHOOLS,
        "educators": [educator("E1", "RSP", "ES-MMSN", name=CR_NAME),
                      educator("E2", "RSP", "ES-MMSN")],
        "students": [student(f"S{i}", current_case_manager="E2") for i in range(3)]})
    out = tmp_path / "plan"
    assert main(["plan", str(d), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    rows = _cells(out / "caseloads.csv")
    assert len(rows) == 3  # header + 2 educators: no injected row
    names = {r[0]: r[rows[0].index("name")] for r in rows[1:]}
    assert names["E1"] == CR_NAME
    for path in _every_csv(out):
        _assert_guarded(path)
    assert main(["export", str(out), "--transfers", str(tmp_path / "tr"), "--effective",
                 "2027-08-15", "--per-case-manager"]) == 0
    for path in _every_csv(tmp_path / "tr"):
        _assert_guarded(path)
    assert main(["report", str(out), "--html", str(tmp_path / "r.html")]) == 0


def test_rollover_guards_every_cell_and_reads_back_the_same(tmp_path):
    students = [student(f"S{i}", grade="3", current_case_manager="E1") for i in range(4)]
    students[0]["extra_note"] = FORMULAS[0]
    d = _write_quoted(tmp_path / "d", {
        "schools": [{**SCHOOLS[0], "name": FORMULAS[3]}],
        "educators": [educator("E1", "RSP", "ES-MMSN", name=FORMULAS[1]),
                      educator("E2", "RSP", "ES-MMSN", name=FORMULAS[2] + "\r=x")],
        "students": students,
        "locks": [{"student_id": "S1", "educator_id": "E1", "kind": "pin",
                   "reason": FORMULAS[0]}]})
    out = tmp_path / "next"
    assert main(["rollover", str(d), "--out", str(out)]) == 0
    for path in _every_csv(out):
        _assert_guarded(path)
    # The guard is removed on reading: next year's district has the same names.
    from optimizer import load_district

    nxt = load_district(out)
    assert nxt.educators["E1"].name == FORMULAS[1]
    assert nxt.educators["E2"].name == FORMULAS[2] + "\r=x"
    assert nxt.schools["ELM"].name == FORMULAS[3]
    assert nxt.locks[0].reason == FORMULAS[0]


SECRET = "Maria Lopez asked to keep Fatima Patel"


def _all_bytes(folder: Path) -> bytes:
    blob = b""
    for p in sorted(folder.rglob("*")) if folder.is_dir() else [folder]:
        if p.is_file():
            blob += p.read_bytes()
            if p.suffix == ".xlsx":
                with zipfile.ZipFile(io.BytesIO(p.read_bytes())) as z:
                    blob += b"".join(z.read(n) for n in z.namelist())
    return blob


@pytest.fixture
def locked_district(make_district) -> Path:
    return make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", name="Rosa Flores"),
                   educator("E2", "RSP", "ES-MMSN", name="Ivan Park"),
                   educator("E3", "COORD", name="Omar Lee")],
        students=[student("S1"), student("S2"), student("S3", school="ELM", grade="K",
                                                        services="SPEECH", sai_setting="")],
        locks=[{"student_id": "S1", "educator_id": "E2", "kind": "pin", "reason": SECRET},
               {"student_id": "S3", "educator_id": "E1", "kind": "forbid",
                "reason": SECRET + " (forbid)"}])


def test_redact_drops_every_free_text_field(locked_district, tmp_path):
    out = tmp_path / "redacted"
    assert main(["plan", str(locked_district), "--out", str(out), "--quiet", "--redact"]) == 0
    assert main(["export", str(out), "--xlsx", str(tmp_path / "w.xlsx"), "--redact"]) == 0
    assert main(["report", str(out), "--html", str(tmp_path / "r.html"), "--redact"]) == 0
    blob = b"".join(_all_bytes(p) for p in (out, tmp_path / "w.xlsx", tmp_path / "r.html"))
    for secret in (SECRET, "Rosa Flores", "Ivan Park", "Omar Lee", "Maria"):
        assert secret.encode() not in blob, secret
    assert b"Lock reason: withheld" in blob
    # Without --redact the reason is there (so the scan above can fail).
    plain = tmp_path / "plain"
    assert main(["plan", str(locked_district), "--out", str(plain), "--quiet"]) == 0
    assert SECRET.encode() in (plain / "assignments.csv").read_bytes()
    # Exporting a plain plan with --redact drops it too.
    assert main(["export", str(plain), "--xlsx", str(tmp_path / "w2.xlsx"), "--redact"]) == 0
    assert SECRET.encode() not in _all_bytes(tmp_path / "w2.xlsx")


# ------------------------------------------------------------ same input, same bytes

def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _shuffled_copy(src: Path, dst: Path, seed: int) -> Path:
    import random

    dst.mkdir()
    rng = random.Random(seed)
    for p in src.iterdir():
        if p.suffix == ".csv":
            lines = p.read_text(encoding="utf-8").splitlines()
            body = lines[1:]
            rng.shuffle(body)
            p_out = dst / p.name
            p_out.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
        elif p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


@pytest.fixture(scope="module")
def district_with_audit_and_locks(tmp_path_factory) -> Path:
    """The sample-like generated district, plus pins (with reasons) and broken
    current assignments, so audit.csv and lock reasons have rows to order."""
    from optimizer.generator import generate_district
    from optimizer.outputs.export import write_district

    root = tmp_path_factory.mktemp("det")
    d = write_district(generate_district(400, seed=5), root / "d")
    students = list(csv.DictReader((d / "students.csv").open()))
    educators = list(csv.DictReader((d / "educators.csv").open()))
    # Today's case manager of some students is someone who may not serve them.
    coords = [e["educator_id"] for e in educators if e["role"] == "SLP"]
    for s in students[:15]:
        s["current_case_manager"] = coords[len(s["student_id"]) % len(coords)]
    with (d / "students.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(students[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(students)
    return d


def test_same_input_gives_the_same_bytes_including_the_workbook(
        district_with_audit_and_locks, tmp_path, monkeypatch):
    d = district_with_audit_and_locks
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    runs = []
    for name in ("a", "b"):
        assert main(["plan", str(d), "--out", str(tmp_path / name), "--quiet"]) == 0
        runs.append(_files(tmp_path / name))
    assert runs[0] == runs[1]
    assert b"made_at" not in runs[0]["summary.json"]
    with zipfile.ZipFile(tmp_path / "a" / "plan.xlsx") as z:
        assert b"1980-01-01" in z.read("docProps/core.xml")
    # SOURCE_DATE_EPOCH sets every written time.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # 2026-09-21 14:13:20 UTC
    assert main(["plan", str(d), "--out", str(tmp_path / "c"), "--quiet"]) == 0
    c = _files(tmp_path / "c")
    assert b'"made_at": "2026-09-21T14:13:20+00:00"' in c["summary.json"]
    with zipfile.ZipFile(tmp_path / "c" / "plan.xlsx") as z:
        assert b"2026-09-21T14:13:20Z" in z.read("docProps/core.xml")
        assert b"2026-09-21 14:13" in b"".join(z.read(n) for n in z.namelist()
                                               if n.startswith("xl/worksheets/"))
    assert main(["export", str(tmp_path / "c"), "--xlsx", str(tmp_path / "x1.xlsx")]) == 0
    assert main(["export", str(tmp_path / "c"), "--xlsx", str(tmp_path / "x2.xlsx")]) == 0
    assert (tmp_path / "x1.xlsx").read_bytes() == (tmp_path / "x2.xlsx").read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert main(["plan", str(d), "--out", str(tmp_path / "e"), "--quiet"]) == 2


def test_shuffled_rows_give_the_same_plan_files(district_with_audit_and_locks, tmp_path,
                                                monkeypatch):
    import json

    d = district_with_audit_and_locks
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    students = list(csv.DictReader((d / "students.csv").open()))
    educators = list(csv.DictReader((d / "educators.csv").open()))
    rsp = [e["educator_id"] for e in educators if e["role"] == "RSP"]
    locks = [{"student_id": s["student_id"], "educator_id": rsp[0], "kind": "forbid",
              "reason": f"reason {i}"} for i, s in enumerate(students[20:40])]
    with (d.parent / "locks.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["student_id", "educator_id", "kind", "reason"],
                           lineterminator="\n")
        w.writeheader()
        w.writerows(locks)
    base = tmp_path / "base"
    _shuffled_copy(d, base, seed=0)
    (base / "locks.csv").write_bytes((d.parent / "locks.csv").read_bytes())
    shuffled = _shuffled_copy(base, tmp_path / "shuffled", seed=1)
    assert (shuffled / "students.csv").read_bytes() != (base / "students.csv").read_bytes()
    got = []
    for src, name in ((base, "p1"), (shuffled, "p2")):
        assert main(["plan", str(src), "--out", str(tmp_path / name), "--quiet",
                     "--no-xlsx"]) == 0
        files = _files(tmp_path / name)
        summary = json.loads(files.pop("summary.json"))
        summary.pop("sources")  # the input files' SHA-256: the files do differ
        # warnings.csv names the input's spreadsheet rows, which shuffling moves
        # (in `row`, and in the examples of a file-wide warning's text); each
        # warning's kind and value are the same.
        warnings = list(csv.DictReader(io.StringIO(files.pop("warnings.csv").decode())))
        got.append((files, summary, [(w["kind"], w["file"], w["column"], w["value"])
                                     for w in warnings]))
    assert got[0] == got[1]
    assert len(_cells(tmp_path / "p1" / "audit.csv")) > 5

