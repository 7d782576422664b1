"""Tests for two min-max bugs found by mutants that survived `make mutate`
(issue 13): the flow engine's ceiling with a fractional other load, and
CP-SAT's min-max model when an educator's other load is over 10x their cap.
Expected values are worked by hand in each comment."""

from __future__ import annotations

import pytest

from optimizer import load_district, plan
from optimizer.planning.solvers import SolveParams
from tests.conftest import educator, student


def test_flow_minmax_ceiling_with_a_fractional_other_load(make_district):
    # E1 (cap 5) already carries 0.5 others; one RSP student. Placing them
    # gives load 1.5 of 5 = ratio 0.3, the lowest ceiling that places 1.
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="5", other_load="0.5")],
        students=[student("S1")]))
    r = plan(d, SolveParams(balance="minmax"))
    assert r.figures["placed"] == 1
    assert r.figures["max_ratio_ceiling"] == pytest.approx(0.3)
    cp = plan(d, SolveParams(balance="minmax", engine="cpsat", time_limit=5))
    assert cp.figures["placed"] == 1
    assert cp.figures["max_ratio_ceiling"] == pytest.approx(0.3)


def test_cpsat_minmax_plans_when_other_load_is_over_ten_times_the_cap(make_district):
    # E1 (cap 1) carries 12 others (a warning, not an error): ratio 12, above
    # the old bound of 10. E2 (cap 28, coordinator) takes S1: 1/28. The
    # highest ratio is E1's own 12.
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1", other_load="12"),
                   educator("E2", "COORD")],
        students=[student("S1")]))
    cp = plan(d, SolveParams(balance="minmax", engine="cpsat", time_limit=5))
    assert cp.figures["placed"] == 1
    assert cp.figures["max_ratio_ceiling"] == pytest.approx(12.0)


def test_zero_minutes_capacity_is_rejected_in_words():
    # pack.py: minutes_capacity must be above 0 (0 minutes would make every
    # provider full before their first student).
    from optimizer import load_rule_pack
    from optimizer.rulepacks.pack import RulePackError
    with pytest.raises(RulePackError) as err:
        load_rule_pack("ca", {"roles": {"SLP": {"minutes_capacity": 0}}})
    assert str(err.value) == ("roles.SLP.minutes_capacity: expected IEP minutes per week for "
                              "1.0 FTE, above 0 and at most 10,080, got 0")


def test_region_roles_not_a_list_names_its_key():
    from optimizer import load_rule_pack
    from optimizer.rulepacks.pack import RulePackError
    with pytest.raises(RulePackError) as err:
        load_rule_pack("ca", {"school_rule": {"region_roles": "SLP"}})
    assert str(err.value) == "school_rule.region_roles: expected a list of codes, got 'SLP'"
