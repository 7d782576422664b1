"""The fast edge builder (profiles interned, decisions broadcast by arrays)
against the straightforward one: every (student, educator) pair at the
student's school decided afresh by the rules, one at a time.

Random small districts (several seeds, with pins and forbids, with and without a
``[school_rule]``) must give the very same edge table — rows, order, values,
dtypes — the same forbidden pairs and the same unplaceable students.
"""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer import load_district
from optimizer.generator import generate_district
from optimizer.graph import (
    EDGE_COLUMNS,
    edge_counts,
    edge_table,
    forbidden_edges,
    school_table,
    unplaceable_students,
)
from optimizer.outputs.export import write_district
from optimizer.rules.eligibility import _decide, _from_another_school, serves_school

SCHOOL_RULES = {
    "none": "",
    "region": '\n[school_rule]\nregion_roles = ["RSP", "COORD"]\n',
    "district": '\n[school_rule]\ndistrict_roles = ["COORD", "PSY"]\nregion_roles = ["SDC"]\n',
}


def _reference(d) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
    """Every pair decided by the rules with no cache, in the documented order:
    students.csv order, then the educators reaching the student's school."""
    pack = d.rules
    rows, forbidden = [], []
    for sid, s in d.students.items():
        pin = d.pins.get(sid)
        for eid in d.educators_reaching_school[s.school_id]:
            e = d.educators[eid]
            where = serves_school(pack, s, e)
            dec = _decide(pack, s, e) if where.ok else _from_another_school(d, s, e, where)
            if dec.capacity is None or (pin is not None and pin != eid):
                continue
            if (sid, eid) in d.forbids:
                forbidden.append((sid, eid, f"forbidden in locks.csv ({sid}, {eid})"))
                continue
            rows.append((sid, eid, s.school_id, e.role, dec.capacity, dec.rank,
                         s.current_case_manager == eid, pin is not None, dec.reason))
    frame = pd.DataFrame(rows, columns=list(EDGE_COLUMNS))
    for c in ("capacity", "role"):
        frame[c] = frame[c].astype("category")
    frame["rank"] = frame["rank"].astype("int8")
    frame["current"] = frame["current"].astype(bool)
    frame["pinned"] = frame["pinned"].astype(bool)
    return frame, forbidden


@pytest.mark.parametrize("rule", sorted(SCHOOL_RULES))
@pytest.mark.parametrize("seed", [3, 17])
def test_fast_edges_equal_the_pair_by_pair_rules(tmp_path, seed, rule):
    folder = write_district(generate_district(400, seed=seed), tmp_path / "d")
    with (folder / "district.toml").open("a") as f:
        f.write(SCHOOL_RULES[rule])
    d = load_district(folder)
    want, want_forbidden = _reference(d)
    assert len(want) > 1000 and d.pins and want_forbidden  # pins and forbids do bite
    outside = [r for r in want.itertuples()
               if r.school_id not in d.educators[r.educator_id].schools]
    assert bool(outside) == (rule != "none")  # the school rule does reach
    got = edge_table(d)
    pd.testing.assert_frame_equal(got, want)
    assert forbidden_edges(d) == want_forbidden
    # What `caseload graph` counts from the arrays agrees with the table.
    counts = edge_counts(d)
    assert counts["edges"] == len(want)
    assert counts["by_capacity"] == want["capacity"].astype(str).value_counts(sort=False).to_dict()
    placed = set(want["student_id"])
    assert {u["student_id"] for u in unplaceable_students(d)} == set(d.students) - placed
    per_school = want.groupby("school_id").size()
    table = school_table(d).set_index("school_id")["edges"]
    assert table.to_dict() == {k: int(per_school.get(k, 0)) for k in d.schools}
