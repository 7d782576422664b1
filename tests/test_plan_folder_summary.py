"""A plan folder whose summary.json has a broken ``caps`` list: exit 2, never a traceback.

Found by the fuzz test (tests/test_fuzz_inputs.py): ``export`` built the
workbook's Summary sheet from ``caps`` without the reader checking its shape,
so ``"caps": null`` raised a TypeError and ``"caps": "x"`` an AttributeError.
Each case here is one of those inputs, fixed so it runs every time.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from optimizer.cli import main
from optimizer.outputs.plan_folder import read_plan
from tests.fuzz import base_district


def run(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


@pytest.fixture(scope="module")
def plan_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("summary")
    district = base_district(root / "district")
    assert run("plan", str(district), "--out", str(root / "plan"), "--quiet", "--no-xlsx")[0] == 0
    return root / "plan"


def _with_caps(plan_folder: Path, tmp_path: Path, caps: object) -> Path:
    p = tmp_path / "p"
    shutil.copytree(plan_folder, p)
    summary = json.loads((p / "summary.json").read_text("utf-8"))
    summary["caps"] = caps
    (p / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return p


def test_the_written_caps_read_back(plan_folder, tmp_path):
    # The check accepts what `caseload plan` writes (so it is no blanket refusal).
    caps = json.loads((plan_folder / "summary.json").read_text("utf-8"))["caps"]
    assert caps and read_plan(_with_caps(plan_folder, tmp_path, caps)).summary["caps"] == caps


@pytest.mark.parametrize("caps", [None, "x", 0, True, {"a": "b"}, [1, [2]], [{}],
                                  [{"role": "RSP", "kind": "law", "source": "EC", "cap": 28,
                                    "educators_with_max_caseload": "two"}]],
                         ids=["null", "text", "number", "bool", "object", "list_of_numbers",
                              "empty_row", "text_count"])
def test_broken_caps_in_summary_exit_2_naming_the_key(plan_folder, tmp_path, caps):
    p = _with_caps(plan_folder, tmp_path, caps)
    code, err = run("export", str(p), "--xlsx", str(tmp_path / "w.xlsx"))
    assert code == 2, err
    assert "Traceback" not in err
    assert "summary.json" in err and "caps" in err
    assert not (tmp_path / "w.xlsx").exists()
