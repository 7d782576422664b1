"""Every role, grade, service and disability code lives in the rule pack (issue 8, item 7).

The Python code reads codes from :class:`optimizer.RulePack`; only the pack
(``optimizer/rulepacks/``) and the data contract (``optimizer/district/contract.py``)
spell them out. The generator keeps its own synthetic distributions keyed by
the pack's codes; its keys are checked against the pack.
"""

from __future__ import annotations

import ast
import datetime as dt

import pytest

from optimizer import generator as gen
from optimizer import load_district, load_rule_pack
from optimizer.district.reader import read_district_files
from optimizer.nextyear.rollover import roll_over
from optimizer.rulepacks import RulePackError
from tests.conftest import ROOT, educator, student

PACK = load_rule_pack("ca")
# Numeric grade codes ("1" ... "12") are left out: they collide with ordinary
# numbers ("1" for yes); the named grades (PK, TK, K, A) are what code tests on.
CODES = (set(PACK.roles) | set(PACK.services) | set(PACK.disabilities) | set(PACK.credentials)
         | set(PACK.support_levels)
         | {g for g in PACK.grades if not g.isdigit()}
         | {d.code for d in PACK.disabilities.values()}
         | {c for s in PACK.services.values() for c in s.codes})

# Where the code may spell a code out: the pack, the contract, the generator's model.
EXEMPT_FILES = {"optimizer/rulepacks/pack.py", "optimizer/district/contract.py",
                "optimizer/generator.py"}
# (file, string): why this string is not a code. Each entry must still occur,
# so the list can only shrink.
ALLOWED = {
    ("optimizer/nextyear/compare.py", "A"): "default label of the first plan compared",
}


def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {id(n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_no_code_is_written_in_python_outside_the_pack_and_contract():
    found: set[tuple[str, str]] = set()
    offending = []
    for path in sorted((ROOT / "optimizer").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in EXEMPT_FILES:
            continue
        for line, text in _string_literals(ast.parse(path.read_text("utf-8"))):
            if text in CODES:
                if (rel, text) in ALLOWED:
                    found.add((rel, text))
                else:
                    offending.append(f"{rel}:{line}: {text!r}")
    assert not offending, "codes written in Python (read them from the RulePack):\n" + \
        "\n".join(offending)
    assert found == set(ALLOWED), f"stale ALLOWED entries: {set(ALLOWED) - found}"


def test_the_generator_model_is_keyed_by_pack_codes():
    for table in (gen._SCHOOL_AGE_MIX, gen._PRESCHOOL_MIX, gen._ADULT_MIX, gen._PLACEMENT,
                  gen._SAI):
        assert set(table) <= set(PACK.disabilities)
    assert set(gen._SERVICES) <= set(PACK.services)
    for by_category in gen._SERVICES.values():
        assert set(by_category) <= set(PACK.disabilities) | {"*"}


@pytest.mark.parametrize("key", ["preschool_grade", "last_school_grade",
                                 "adult_transition_grade"])
def test_a_named_grade_must_be_one_of_the_pack_grades(key):
    with pytest.raises(RulePackError, match=f"pack.{key}: expected one of pack.grades"):
        load_rule_pack("ca", {"pack": {key: "G13"}})


def test_a_derived_support_level_must_be_a_pack_support_level():
    with pytest.raises(RulePackError, match="support_level_rule.level_below: expected a support"):
        load_rule_pack("ca", {"support_level_rule": {"level_below": "severe"}})


def test_rollover_ages_come_from_the_pack(make_district):
    schools = [
        {"school_id": "PRE", "name": "Preschool", "low_grade": "PK", "high_grade": "PK",
         "feeds_into": "ELM"},
        {"school_id": "ELM", "name": "Elm", "low_grade": "TK", "high_grade": "5"},
        {"school_id": "ADULT", "name": "Adult transition", "low_grade": "A",
         "high_grade": "A"},
    ]
    staff = [educator("E1", "RSP", "ES-MMSN"), educator("E2", "SDC", "ES-ESN", schools="ADULT"),
             educator("E3", "RSP", "ES-ECSE", schools="PRE")]
    adult = {"school": "ADULT", "sai_setting": "sdc", "primary": "ID", "gen_ed_pct": "10"}
    students = [
        student("P5", grade="PK", school="PRE", birth_date="2022-08-15"),  # 5 on 2027-09-01
        student("P4", grade="PK", school="PRE", birth_date="2023-03-01"),  # 4
        student("A21", grade="A", birth_date="2006-06-01", **adult),       # 21
        student("A19", grade="A", birth_date="2008-06-01", **adult),       # 19
    ]
    # The pack's own ages (K at 5, TK at 4, adult transition to 22), then a
    # district that moves preschoolers on a year later and ends adult transition at 21.
    toml = ('[rollover]\npreschool_moves_on = { K = 6, TK = 5 }\n'
            'adult_transition_ends_at_age = 21\n')
    got = {}
    for label, settings in (("pack", None), ("override", toml)):
        folder = make_district(schools=schools, educators=staff, students=students,
                               toml=settings)
        r = roll_over(read_district_files(folder), load_district(folder),
                      year_start=dt.date(2027, 9, 1))
        got[label] = {row.student_id: (row.to_grade, row.detail)
                      for row in r.report.itertuples() if row.event != "hint cleared"}
    assert got["pack"] == {"P5": ("K", ""), "P4": ("TK", ""), "A21": ("A", "age: stays in A"),
                           "A19": ("A", "age: stays in A")}
    assert got["override"] == {
        "P5": ("TK", ""), "P4": ("PK", "age: stays in PK"),
        "A21": ("", "reached 21 (end of adult transition)"),
        "A19": ("A", "age: stays in A")}
