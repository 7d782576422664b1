"""One coordination rule for every part of the tool (a planner's trial found
the service plan, the workbook's drop-downs, ``check`` and ``--keep`` deciding
it apart): an educator of a coordinating role with no credential on file may
coordinate unless the district sets ``[coordination] needs_credential = true``;
either way the plan, the drop-down, ``check`` and ``--keep`` agree.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from optimizer import load_district
from optimizer.district.model import ServiceNeed
from optimizer.graph import eligible_pairs
from optimizer.nextyear.keep import keep_edits
from optimizer.planning.check import check_plan
from optimizer.planning.planner import plan
from optimizer.planning.service_problem import build_district_service_problem
from tests.conftest import educator, student, write_district

STRICT = "[coordination]\nneeds_credential = true\n"


def _district(tmp_path, toml):
    """Elm: an SLP with room for one, and an RSP teacher with no credential on
    file (an intern). S1 and S2 need speech only: one is served by the SLP;
    the other can be case-managed only by the intern, as a coordinator."""
    folder = write_district(
        tmp_path / ("strict" if toml else "default"), toml=toml,
        educators=[educator("SLP1", "SLP", "SLP", max_caseload="1"),
                   educator("I1", "RSP", "")],
        students=[student("S1", "SPEECH", sai_setting="", primary="SLI"),
                  student("S2", "SPEECH", sai_setting="", primary="SLI")])
    d = load_district(folder)
    return dataclasses.replace(
        d, service_rows=(ServiceNeed("S1", "SPEECH", 60), ServiceNeed("S2", "SPEECH", 60)),
        settings={**d.settings, "plan_services": True})


@pytest.mark.parametrize("toml, may", [(None, True), (STRICT, False)])
def test_plan_dropdown_check_and_keep_agree(tmp_path, toml, may):
    d = _district(tmp_path, toml)
    # The drop-downs' and the graph's edges.
    edges = eligible_pairs(d)
    offered = set(zip(edges["student_id"], edges["educator_id"], strict=True))
    assert (("S2", "I1") in offered) is may
    # The service plan's case-manager options.
    sp = build_district_service_problem(d)
    p = sp.problem
    i1 = list(p.provider_ids).index("I1")
    assert bool((p.cm_provider == i1).any()) is may
    # The plan: the intern case-manages one student exactly when allowed.
    result = plan(d)
    cms = dict(zip(result.assignments["student_id"], result.assignments["case_manager_id"],
                   strict=True))
    assert ("I1" in cms.values()) is may
    # `check` of a plan that gives S2 to the intern.
    chosen = pd.DataFrame({"student_id": ["S1", "S2"], "case_manager_id": ["SLP1", "I1"]})
    violations = check_plan(d, chosen)
    assert (not any(v.student_id == "S2" for v in violations)) is may
    # `--keep` of the drop-down choice: kept as a pin, or refused with the rule.
    kept = keep_edits(d, [("S2", "I1", "", "row 3")])
    assert (len(kept.kept) == 1) is may
    if not may:
        (refused,) = kept.rejected
        assert "May coordinate" in refused.rule
        assert "holds no education-specialist or service credential" in refused.detail


def test_strict_reading_leaves_one_student_unplaced_for_the_full_slp(tmp_path):
    """Under the strict reading the intern is no option at all: the student
    the SLP does not serve is unplaced because the SLP is full, and the
    reason names the SLP, not the intern."""
    result = plan(_district(tmp_path, STRICT))
    (row,) = result.unassigned.to_dict("records")
    assert "SLP1 (SLP, 1/1)" in row["reason"] and "I1" not in row["reason"]
