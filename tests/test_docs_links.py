"""The docs point only at files in the repository (issue 8, item 8).

The project stands alone: no tracked file refers to notes outside it, and
every ``optimizer/...`` path the docs name exists.
"""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

# Spelled in two parts so that this file does not match itself.
OUTSIDE = ("../" + "shared", "shared" + "/domain")
# Exceptions must still occur, so the lists only shrink (empty: none allowed).
OUTSIDE_ALLOWED: set[str] = set()
PATH_ALLOWED: set[str] = set()
DOCS = ["README.md", "notebooks/README.md", *sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return [f for f in out.splitlines() if not f.startswith("data/")]


def test_no_file_points_outside_the_repository():
    found = set()
    for rel in _tracked():
        path = ROOT / rel
        if not path.is_file():
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        if any(o in text for o in OUTSIDE):
            found.add(rel)
    assert found - OUTSIDE_ALLOWED == set(), "files pointing outside the repository"
    assert found >= OUTSIDE_ALLOWED, "stale OUTSIDE_ALLOWED entries"


def test_every_code_path_in_the_docs_exists():
    missing = []
    for rel in DOCS:
        text = (ROOT / rel).read_text("utf-8")
        for m in re.finditer(r"optimizer/[\w/]*\w(?:\.py|\.toml)?/?", text):
            path = m.group(0).rstrip("/")
            if path not in PATH_ALLOWED and not (ROOT / path).exists():
                missing.append(f"{rel}: {m.group(0)}")
    assert not missing, "docs name files that do not exist:\n" + "\n".join(missing)
    assert not any((ROOT / p).exists() for p in PATH_ALLOWED), "stale PATH_ALLOWED entries"
