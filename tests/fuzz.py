"""Hypothesis generators that break valid inputs: district folders, plan folders, district.toml.

Kept in the test suite (not in a test function) so every test can use them.
The columns they touch come from the data contract and the plan's column
lists, and the TOML keys from the shipped rule pack, so a column or setting
added later is fuzzed without editing this file.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path

from hypothesis import strategies as st

from optimizer.district.contract import CONTRACT
from optimizer.planning.check import AUDIT_COLUMNS
from optimizer.planning.result import (
    ASSIGNMENT_COLUMNS,
    CASELOAD_COLUMNS,
    HIRING_COLUMNS,
    UNASSIGNED_COLUMNS,
)
from optimizer.rulepacks import rule_pack_text
from tests.conftest import SCHOOL, educator, student, write_csv, write_district

#: Cell values that broke, or could break, a reader or a validator.
HOSTILE_CELLS = [
    "", " ", "inf", "-inf", "nan", "NaN", "Infinity", "1e400", "-1e400", "1e18", "1e-400",
    "99999999999999999999999", "-0", "0", "-1", "0.5", "1_000", "0x1F", "١٢", "½",
    ";", ";;", "; ;", "SAI;;SPEECH", "2026-02-30", "2026-10-17 garbage!", "2026-10-17T25:00:00",
    "2026-W42-1", "20261017", "0001-01-01", "9999-12-31", "=cmd|' /C calc'!A0", "+1+cmd",
    "@SUM(1,2)", "-2+3", "'=1", "\r", "\n", "\r\n", '"', "'", ",", "\x00", "\x1b[2J", "\t",
    "é", "\u202e", "\ufeff", "yes", "no", "true", "PK", "TK", "K", "A", "13", "SAI", "SPEECH",
    "rsp", "sdc", "pin", "forbid", "primary", "secondary", "extensive", "mild_moderate",
    "ES-MMSN", "ES-ESN;SLP", "RSP", "SDC", "COORD", "ELM", "MID", "E1", "S1", "x" * 5000,
]

cells = st.one_of(st.sampled_from(HOSTILE_CELLS), st.text(max_size=12))

TABLE_COLUMNS = {name: [c.name for c in cols] for name, cols in CONTRACT.items()}
PLAN_COLUMNS = {"assignments.csv": ASSIGNMENT_COLUMNS, "caseloads.csv": CASELOAD_COLUMNS,
                "unassigned.csv": UNASSIGNED_COLUMNS, "hiring_needs.csv": HIRING_COLUMNS,
                "audit.csv": AUDIT_COLUMNS}


def base_district(folder: Path) -> Path:
    """A small valid district that uses every contract column, locks and district.toml."""
    schools = [SCHOOL, {"school_id": "MID", "name": "Mid School", "low_grade": "6",
                        "high_grade": "8", "feeds_into": "", "region": "North"}]
    schools[0] = {**SCHOOL, "feeds_into": "MID"}
    educators = [
        educator("E1", "RSP", "ES-MMSN", max_caseload="3", other_load="1"),
        educator("E2", "SDC", "ES-ESN", schools="ELM;MID", fte="0.5", case_manager="yes"),
        educator("E3", "SLP", "SLP", schools="ELM;MID"),
        educator("E4", "RSP", "ES-MMSN", schools="MID"),
        educator("E5", "PSY", "PPS", schools="ELM", case_manager="no"),
    ]
    students = [
        student("S1", gen_ed_pct="85", current_case_manager="E1", annual_review="2027-03-01",
                triennial_review="2028-01-15", weight="1", birth_date="2018-05-02"),
        student("S2", services="SAI;SPEECH", sai_setting="sdc", primary="AUT", gen_ed_pct="20",
                support_level="extensive", secondary_disability="SLI", grade="2"),
        student("S3", services="SPEECH", sai_setting="", primary="SLI", grade="K",
                current_case_manager="E3"),
        student("S4", grade="7", school="MID", weight="1.5"),
        student("S5", grade="8", school="MID", adult_transition="no", placement_basis="primary"),
        student("S6", grade="4"),
    ]
    locks = [{"student_id": "S1", "educator_id": "E1", "kind": "pin", "reason": "parent asked"},
             {"student_id": "S6", "educator_id": "E2", "kind": "forbid", "reason": ""},
             {"student_id": "S2", "educator_id": "E3", "kind": "pin", "reason": "speech",
              "service": "SPEECH"}]
    toml = ('name = "Fuzz"\nrule_pack = "ca"\n[caps]\nRSP = 28\n[objective]\ncontinuity = 5\n'
            '[student_weights]\ndefault = 1.0\n')
    out = write_district(folder, schools=schools, educators=educators, students=students,
                         locks=locks, toml=toml)
    services = [{"student_id": s["student_id"], "service": svc, "minutes": "60",
                 "current_provider": s.get("current_case_manager", "")}
                for s in students for svc in s["services"].split(";")]
    services[0]["minutes"] = ""
    write_csv(out / "services.csv", services, TABLE_COLUMNS["services"])
    return out


# ------------------------------------------------------------------ CSV mutations

def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")))


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


@st.composite
def csv_mutation(draw, data: bytes, columns: list[str]) -> bytes:
    """One file's bytes after one hostile change: a cell, the structure or the bytes."""
    rows = _rows(data)
    header = rows[0] if rows else []
    kind = draw(st.sampled_from(["cell", "cell", "cell", "drop_column", "rename_column",
                                 "extra_field", "missing_field", "duplicate_row", "drop_rows",
                                 "blank_line", "bytes", "truncate", "bom_crlf", "empty"]))
    n = len(rows)
    row = draw(st.integers(1, max(n - 1, 1))) if n > 1 else 0
    if kind == "cell" and n > 1:
        col = draw(st.sampled_from(list(dict.fromkeys([*columns, *header]))))
        if col not in header:
            header.append(col)
            for r in rows[1:]:
                r.append("")
        rows[row][header.index(col)] = draw(cells)
    elif kind == "drop_column" and header:
        i = draw(st.integers(0, len(header) - 1))
        rows = [r[:i] + r[i + 1:] for r in rows]
    elif kind == "rename_column" and header:
        header[draw(st.integers(0, len(header) - 1))] = draw(cells)
    elif kind == "extra_field":
        rows[row].append(draw(cells))
    elif kind == "missing_field" and rows[row]:
        rows[row].pop()
    elif kind == "duplicate_row":
        rows.insert(row, list(rows[row]))
    elif kind == "drop_rows":
        rows = rows[:row]
    elif kind == "blank_line":
        rows.insert(row, [])
    out = _csv(rows)
    if kind == "bytes":
        at = draw(st.integers(0, len(out)))
        out = out[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\x00", b"\xc3", b'"',
                                               b"\r", b"\xef\xbb\xbf"])) + out[at:]
    elif kind == "truncate":
        out = out[:draw(st.integers(0, len(out)))]
    elif kind == "bom_crlf":
        out = b"\xef\xbb\xbf" + out.replace(b"\n", b"\r\n")
    elif kind == "empty":
        out = b""
    return out


# ------------------------------------------------------------------ TOML mutations

def _pack_paths() -> list[tuple[str, list[str]]]:
    pack = tomllib.loads(rule_pack_text("ca"))
    paths: list[tuple[str, list[str]]] = [("caps", list(pack["roles"])),
                                          ("student_weights", ["default", *pack["pack"]
                                                               ["support_levels"]])]
    for table in ("pack", "support_level_rule", "objective"):
        paths.append((table, list(pack[table])))
    for table in ("disabilities", "services", "roles", "credentials"):
        for name, entry in list(pack[table].items())[:3]:
            paths.append((f"{table}.{name}", list(entry)))
        paths.append((f"{table}.NEW", sorted({k for e in pack[table].values() for k in e})))
    return paths


PACK_PATHS = _pack_paths()

TOML_VALUES = ["nan", "inf", "-inf", "+inf", "9223372036854775807", "-9223372036854775808",
               "1e308", "1e-308", "0", "-1", "28", "1.5", "true", "\"x\"", "\"\"", "[]",
               "[1, 2]", "[\"SLD\"]", "[\"NOPE\"]", "[0, 10, 30]", "[0, 10]", "{ a = 1 }",
               "[[1]]", "\"RSP\"", "1979-05-27", "[\"PK\", \"A\"]", "5"]


@st.composite
def toml_mutation(draw, base: str) -> str:
    """district.toml text after one to three hostile lines or tables."""
    text = base
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["table", "table", "top", "array", "raw"]))
        value = draw(st.sampled_from(TOML_VALUES))
        if kind == "table":
            table, keys = draw(st.sampled_from(PACK_PATHS))
            key = draw(st.one_of(st.sampled_from(keys), st.from_regex(r"[a-z_]{1,8}",
                                                                       fullmatch=True)))
            text += f"\n[{table}]\n{key} = {value}\n"
        elif kind == "top":
            key = draw(st.sampled_from(["name", "rule_pack", "caps", "coordinating_roles",
                                        "case_manager_roles", "objective", "best_practice",
                                        "roles", "unknown_key"]))
            text = f"{key} = {value}\n" + text
        elif kind == "array":
            key = draw(st.sampled_from(["role", "label", "sai_setting", "specialized", "x"]))
            text += f"\n[[best_practice]]\n{key} = {value}\n"
        else:
            text += draw(st.text(max_size=30))
    return text


# ------------------------------------------------------------------ plan folders

JSON_VALUES = [None, "x", "", [], {}, -1, 0, 1e300, True, {"a": "b"}, [1, [2]], "NaN"]


@st.composite
def summary_mutation(draw, data: bytes) -> bytes:
    """summary.json after one hostile change."""
    kind = draw(st.sampled_from(["value", "value", "value", "not_object", "bytes", "nan"]))
    summary = json.loads(data)
    if kind == "value":
        key = draw(st.sampled_from(sorted(summary)))
        summary[key] = draw(st.sampled_from(JSON_VALUES))
        return json.dumps(summary).encode()
    if kind == "not_object":
        return json.dumps(draw(st.sampled_from(JSON_VALUES))).encode()
    if kind == "nan":
        return data.replace(b'"gap": 0.0', b'"gap": NaN').replace(b'"objective": ',
                                                                b'"objective": 1e999, "x": ')
    at = draw(st.integers(0, len(data)))
    return data[:at] + b"\xff" + data[at:]
