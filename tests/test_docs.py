"""The documentation cannot drift from the code's single sources of truth."""

from __future__ import annotations

import doctest
import re

import pytest

import optimizer.generator
import optimizer.outputs.export
import optimizer.outputs.text
import optimizer.rulepacks.pack
from optimizer import load_rule_pack
from optimizer.district.contract import CONTRACT
from optimizer.rules import RULES
from tests.conftest import ROOT

CONTRACT_DOC = (ROOT / "docs" / "data-contract.md").read_text()
RULES_DOC = (ROOT / "docs" / "rules.md").read_text()


def _documented_columns(table: str) -> set[str]:
    section = CONTRACT_DOC.split(f"## {table}.csv")[1].split("\n## ")[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))


@pytest.mark.parametrize("table", list(CONTRACT))
def test_every_contract_column_is_documented(table):
    assert _documented_columns(table) == {c.name for c in CONTRACT[table]}


def test_every_code_in_the_rule_pack_is_documented():
    pack = load_rule_pack("ca")
    for code in [*pack.roles, *pack.credentials, *pack.services, *pack.disabilities]:
        assert f"`{code}`" in CONTRACT_DOC, code
    for d in pack.disabilities.values():
        assert f"`{d.code}`/`{d.abbr}`" in CONTRACT_DOC


def test_every_rule_is_documented_by_name():
    pack = load_rule_pack("ca")
    for rules in RULES.values():
        for rule in rules:
            assert f"`{rule.__name__}`" in RULES_DOC, rule.__name__
    for role in ("RSP", "SLP", "SDC"):
        assert f"| {role} | {pack.roles[role].cap}" in RULES_DOC


@pytest.mark.parametrize("module", [optimizer.rulepacks.pack, optimizer.outputs.export,
                                    optimizer.outputs.text,
                                    optimizer.generator])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
