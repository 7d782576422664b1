"""The notebooks a planner opens (issue 11, item 8): `make notebooks` opens them in
JupyterLab, and each says in words what it shows (running them is
tests/test_notebooks.py)."""

from __future__ import annotations

import re
import tomllib

import nbformat
import pytest

from optimizer import load_district
from tests.conftest import ROOT, SAMPLE

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path, kind):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == kind]


def test_make_notebooks_opens_jupyterlab_from_the_dev_extras():
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["dev"]
    assert any(re.match(r"jupyterlab\b", d) for d in dev)
    make = (ROOT / "Makefile").read_text()
    target = re.search(r"^notebooks:.*\n((?:\t.*\n)+)", make, re.M)
    assert target and "jupyter lab" in target.group(1) and "notebooks" in target.group(1)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_opens_with_words_and_explains_its_code(path):
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and len(cells[0].source.split()) >= 40
    # Most code cells follow a markdown cell that says what comes.
    code = [i for i, c in enumerate(cells) if c.cell_type == "code"]
    explained = sum(cells[i - 1].cell_type == "markdown" for i in code[1:])
    assert explained >= (len(code) - 1) / 2


def test_quickstart_explains_rank_and_every_objective_term_in_words():
    text = "\n".join(_cells(ROOT / "notebooks" / "01-quickstart.ipynb", "markdown")).lower()
    for words in ("best-practice match", "acceptable", "coordinator only"):
        assert words in text
    # Every term the rule pack's objective weighs is explained (a new term must be too).
    for term in load_district(SAMPLE).rules.objective:
        assert f"**{term}**" in text, term


def test_what_if_has_the_hire_example_and_no_mixed_axis():
    book = ROOT / "notebooks" / "02-what-if.ipynb"
    code = "\n".join(_cells(book, "code"))
    assert "AddEducator(" in code and "hiring_needs" in code
    # The old chart put a share and a ratio on one axis, legend over a bar.
    assert 'table[["best practice", "mean load ratio"]].plot' not in code
    assert "plt.subplots(1, 2" in code


def test_no_notebook_draws_the_whole_graph_as_a_hairball():
    for path in NOTEBOOKS:
        code = "\n".join(_cells(path, "code"))
        assert "bipartite_layout" not in code and "spring_layout" not in code
