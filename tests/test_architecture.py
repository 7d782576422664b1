"""The architecture contract (issue 8, item 2; docs/architecture.md).

import-linter checks the contracts in pyproject.toml: stages as layers, OR-Tools
only in the solvers, files only in the district reader and the outputs. These
tests run it on the project, show that a back-import makes it fail (on a copy
of the package), and check that every import inside a function says why.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
STAGES = ["optimizer.cli", "optimizer.outputs", "optimizer.nextyear | optimizer.generator",
          "optimizer.planning", "optimizer.graph", "optimizer.district", "optimizer.rules",
          "optimizer.rulepacks"]


LEAD_IN_PROGRESS: tuple[str, ...] = ()


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]


def test_the_contracts_hold_on_the_project():
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_the_contracts_are_the_documented_ones():
    # Removing a layer or a contract must be a visible decision: this list and
    # docs/architecture.md change with it.
    contracts = {c["id"]: c for c in _config()["contracts"]}
    assert set(contracts) == {"stages", "acyclic", "solvers", "files"}
    assert contracts["acyclic"]["ancestors"] == ["optimizer"]
    assert contracts["stages"]["layers"] == STAGES
    assert contracts["solvers"]["forbidden_modules"] == ["ortools", "highspy"]
    doc = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    for layer in STAGES:
        assert f"`{layer.split(' | ')[0]}`" in doc


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("optimizer/graph.py", "import optimizer.cli",
     "Stages: a lower stage never imports a higher one"),
    ("optimizer/rulepacks/pack.py", "import optimizer.district.model",
     "Stages: a lower stage never imports a higher one"),
    ("optimizer/graph.py", "import ortools.graph.python.min_cost_flow",
     "Only the solvers import OR-Tools"),
    ("optimizer/rules/eligibility.py", "import pathlib",
     "Only the district reader and the outputs touch files"),
    # export writes the workbook: the workbook importing export is a cycle.
    ("optimizer/outputs/workbook.py", "import optimizer.outputs.export",
     "No import cycles among the modules of a package"),
])
def test_a_back_import_breaks_the_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "optimizer", tmp_path / "optimizer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text("utf-8") + f"\n{line}  # back-import (test)\n",
                      encoding="utf-8")
    run = _lint_imports(tmp_path)
    assert run.returncode != 0
    assert f"{contract} BROKEN" in run.stdout
    # A stage's back-import is also a cycle between packages; nothing else breaks.
    assert run.stdout.count(" BROKEN") == (2 if contract.startswith("Stages") else 1)
    name = module.removesuffix(".py").replace("/", ".")
    assert name in run.stdout or f".{name.rsplit('.', 1)[1]} ->" in run.stdout


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"))
    found = []
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found.append((node.lineno, ast.unparse(node)))
    return sorted(set(found))


def test_every_import_inside_a_function_says_why():
    # Imports sit at the top of a module; one inside a function (to keep
    # start-up fast, or to break a cycle) carries a one-line reason: a comment
    # on its line or the line above.
    missing = []
    for path in sorted((ROOT / "optimizer").rglob("*.py")):
        if path.relative_to(ROOT).as_posix().startswith(LEAD_IN_PROGRESS):
            continue
        lines = path.read_text("utf-8").splitlines()
        for lineno, text in _function_level_imports(path):
            here, above = lines[lineno - 1], lines[lineno - 2].strip()
            if "#" not in here and not above.startswith("#"):
                missing.append(f"{path.relative_to(ROOT)}:{lineno}: {text}")
    assert not missing, "imports inside functions without a reason:\n" + "\n".join(missing)
