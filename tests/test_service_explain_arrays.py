"""The service plan's explanation read from arrays (issue 10's end-to-end speed):
the case-manager options keep their reasons as numbers, the plan's ranks and
capacities are found by array operations, the hire a pair needs is found once
per service and instruction facts. Each is checked here against a plain
reading, one row at a time, of the same district and plan (the sample
district with services.csv), so a wrong index or a wrong key shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer import load_district
from optimizer.graph import edge_table
from optimizer.planning.objective import Objective
from optimizer.planning.service_explain import (
    _cm_option_flags,
    _derive,
    _provider_needed,
    hiring_rows,
)
from optimizer.planning.service_problem import (
    _instruction_key,
    build_district_service_problem,
    service_params,
)
from optimizer.planning.solvers.services_exact import ExactParams, solve_services_exact
from optimizer.rules import may_coordinate

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-services"


@pytest.fixture(scope="module")
def planned():
    d = load_district(SAMPLE)
    objective = Objective.from_settings(d.rules.objective)
    sp = build_district_service_problem(d, objective)
    sol = solve_services_exact(sp.problem, service_params(objective, 30.0), ExactParams())
    return sp, sol


def test_case_manager_options_are_the_edge_tables_with_its_reasons(planned):
    sp, _ = planned
    d, p = sp.district, sp.problem
    edges = edge_table(d)
    eligible = {(s, e): (cap, why) for s, e, cap, why in zip(
        edges["student_id"], edges["educator_id"], edges["capacity"].astype(str),
        edges["reason"], strict=True)}
    reasons = sp.cm_reason
    own = coordinator = 0
    for s, e, k, why in zip(p.cm_student.tolist(), p.cm_provider.tolist(), p.cm_kind.tolist(),
                            reasons.tolist(), strict=True):
        sid, eid = str(p.student_ids[s]), str(p.provider_ids[e])
        cap, edge_why = eligible[(sid, eid)]
        if k == 0:
            own += 1
            assert cap != "coordination" and why == edge_why
        else:
            coordinator += 1
            assert why == may_coordinate(d.rules, None, d.educators[eid]).reason  # type: ignore[arg-type]
    # Every eligible edge that is not coordination-only is an own option.
    assert own == sum(cap != "coordination" for cap, _ in eligible.values())
    assert own and coordinator


def test_option_reasons_by_number_are_the_words(planned):
    sp, _ = planned
    words = sp.option_reason
    assert len(words) == len(sp.problem.edge_pair)
    assert [sp.option_texts[c] for c in sp.option_why.tolist()] == words.tolist()
    assert all(w.startswith("holds ") or ";" in w for w in words.tolist())


def test_ranks_and_capacities_match_a_row_by_row_reading(planned):
    sp, sol = planned
    p = sp.problem
    plan = _derive(sp, sol)
    n_e = p.n_providers
    serves = {int(p.pair_student[q]) * n_e + int(plan.provider[q])
              for q in range(p.n_pairs) if plan.provider[q] >= 0}
    assert plan.serves == serves
    sai = {code for code, x in sp.district.rules.services.items() if x.kind == "instruction"}
    for s in range(p.n_students):
        e = int(plan.cm[s])
        ranks = [int(p.cm_rank[i]) for i in np.nonzero(p.cm_student == s)[0]
                 if p.cm_provider[i] == e and (p.cm_kind[i] == 1 or s * n_e + e in serves)]
        assert plan.cm_rank[s] == (min(3, *ranks) if ranks else -1)
        if e < 0:
            assert plan.capacity[s] == ""
            continue
        gives_sai = any(int(plan.provider[q]) == e and str(p.pair_service[q]) in sai
                        for q in np.nonzero(p.pair_student == s)[0])
        assert plan.capacity[s] == ("instruction" if gives_sai else
                                    "service" if s * n_e + e in serves else "coordination")
    assert {"instruction", "service", "coordination"} <= set(plan.capacity.tolist())


def test_option_flags_match_the_options_listed(planned):
    sp, _ = planned
    p = sp.problem
    listed = set(zip(p.cm_student.tolist(), p.cm_provider.tolist(), strict=True))
    coordinator = {(s, e) for s, e, k in zip(p.cm_student.tolist(), p.cm_provider.tolist(),
                                             p.cm_kind.tolist(), strict=True) if k == 1}
    rng = np.random.default_rng(7)
    asked_s = np.concatenate([p.cm_student, rng.integers(0, p.n_students, 5000)])
    asked_e = np.concatenate([p.cm_provider, rng.integers(0, p.n_providers, 5000)])
    any_option, coord = _cm_option_flags(p, asked_s, asked_e)
    pairs = list(zip(asked_s.tolist(), asked_e.tolist(), strict=True))
    assert any_option.tolist() == [x in listed for x in pairs]
    assert coord.tolist() == [x in coordinator for x in pairs]
    assert not any_option.all() and coord.any()


def test_the_hire_a_pair_needs_is_the_same_for_its_key(planned):
    # hiring_rows asks _provider_needed once per (service, instruction facts):
    # every unserved pair with that key must need the same hire.
    sp, sol = planned
    d = sp.district
    plan = _derive(sp, sol)
    on_staff = {e.role for e in d.educators.values()}
    instruction = {c for c, x in d.rules.services.items() if x.kind == "instruction"}
    seen: dict[tuple, tuple[str, str]] = {}
    unserved = 0
    for need, q in zip(sp.needs, sp.need_pair.tolist(), strict=True):
        if q < 0 or plan.provider[q] >= 0:
            continue
        unserved += 1
        key = ((need.service, _instruction_key(d.students[need.student_id]))
               if need.service in instruction else (need.service,))
        got = _provider_needed(sp, need.student_id, need.service, on_staff)
        assert seen.setdefault(key, got) == got
    assert unserved > 100 and len(seen) < unserved
    hires = hiring_rows(plan)
    assert hires.loc[hires["service"] != "", "students"].sum() == unserved


def test_hires_found_once_per_key_are_the_hires_found_per_pair(planned):
    sp, sol = planned
    d = sp.district
    plan = _derive(sp, sol)
    on_staff = {e.role for e in d.educators.values()}
    expected: dict[tuple, int] = {}
    for need, q in zip(sp.needs, sp.need_pair.tolist(), strict=True):
        if q < 0 or plan.provider[q] >= 0:
            continue
        role, cred = _provider_needed(sp, need.student_id, need.service, on_staff)
        school = d.schools[d.students[need.student_id].school_id]
        where = "" if d.rules.roles[role].itinerant else school.school_id
        key = (where, school.region or "", role, cred, need.service)
        expected[key] = expected.get(key, 0) + 1
    hires = hiring_rows(plan)
    hires = hires[hires["service"] != ""]
    got = {(r.school_id, r.region, r.role, r.credential, r.service): r.students
           for r in hires.itertuples()}
    assert got == expected
    assert len({k[2:4] for k in got if k[4] == "SAI"}) > 1


def test_audit_of_providers_found_once_per_facts_is_the_audit_per_row():
    # _current_provider_violations asks the rules once per (service,
    # provider, student facts); asking for every row must say the same.
    from optimizer.planning.check import _current_provider_violations, may_provide
    d = load_district(SAMPLE)
    got = [(v.student_id, v.educator_id, str(v)) for v in _current_provider_violations(d)
           if v.kind == "ineligible provider"]
    expected = []
    for need in d.service_needs:
        eid = need.current_provider
        if eid and eid in d.educators:
            why = may_provide(d, need.student_id, need.service, eid)
            if why is not None:
                expected.append((need.student_id, eid, why))
    assert [(s, e) for s, e, _ in got] == [(s, e) for s, e, _ in expected]
    assert all(why in text for (_, _, text), (_, _, why) in zip(got, expected, strict=True))
    assert len(expected) > 5
    assert len({why for _, _, why in got}) > 1


def test_the_service_rows_explained_in_a_child_are_the_same(planned, monkeypatch):
    import os

    import pandas as pd

    from optimizer.planning import service_explain
    from optimizer.planning.check import audit_table
    from optimizer.planning.solvers import services_ahead

    sp, sol = planned
    params = service_params(Objective.from_settings(sp.district.rules.objective), 30.0)
    audit = audit_table(sp.district)
    here = service_explain.explain_service_plan(sp, sol, params, audit=audit).tables()
    forked: list[bool] = []
    real = services_ahead.Ahead.__init__

    def counted(self, work, fork=True):
        real(self, work, fork)
        forked.append(self.forked)

    monkeypatch.setattr(services_ahead.Ahead, "__init__", counted)
    monkeypatch.setattr(service_explain, "SERVICE_ROWS_AHEAD", 0)
    pid = os.getpid()
    ahead = service_explain.explain_service_plan(sp, sol, params, audit=audit).tables()
    assert os.getpid() == pid
    assert forked == [services_ahead.can_fork()]  # (in a child where one can fork)
    for name in ("services", "assignments", "caseloads", "unassigned", "hiring_needs"):
        pd.testing.assert_frame_equal(getattr(here, name), getattr(ahead, name),
                                      check_exact=True)
    # The figures too (made in the child with the tables), but the run times.
    def figures(tables):
        return {k: v for k, v in tables.summary.items() if k != "runtime_s"}

    assert figures(here) == figures(ahead) and "explain" in ahead.summary["runtime_s"]
    # A child that fails: the rows are made here, the same.
    monkeypatch.setattr(service_explain, "service_rows", _fails_in_a_child(
        service_explain.service_rows, pid))
    again = service_explain.explain_service_plan(sp, sol, params, audit=audit).tables()
    pd.testing.assert_frame_equal(here.services, again.services, check_exact=True)


def _fails_in_a_child(real, pid):
    import os

    def rows(plan):
        if os.getpid() != pid:
            raise RuntimeError("a child that fails")
        return real(plan)

    return rows


def test_an_error_while_the_service_rows_are_made_leaves_no_child(planned, monkeypatch):
    import multiprocessing
    import os
    import time

    from optimizer.planning import service_explain
    from optimizer.planning.check import audit_table

    sp, sol = planned
    params = service_params(Objective.from_settings(sp.district.rules.objective), 30.0)
    pid, real = os.getpid(), service_explain.service_rows

    def slow(plan):  # (in the child: still at work when this process fails)
        if os.getpid() != pid:
            time.sleep(60)
        return real(plan)

    def broken(plan):
        raise RuntimeError("stopped here")

    monkeypatch.setattr(service_explain, "service_rows", slow)
    monkeypatch.setattr(service_explain, "assignment_rows", broken)
    monkeypatch.setattr(service_explain, "SERVICE_ROWS_AHEAD", 0)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="stopped here"):
        service_explain.explain_service_plan(sp, sol, params, audit=audit_table(sp.district))
    assert time.monotonic() - start < 30 and multiprocessing.active_children() == []


def test_the_explain_runtime_is_both_processes(planned, monkeypatch):
    # The figures are made in the child after the service rows; the time of
    # explaining they report is the whole of it, this process's rows too.
    import time

    from optimizer.planning import service_explain
    from optimizer.planning.check import audit_table

    sp, sol = planned
    params = service_params(Objective.from_settings(sp.district.rules.objective), 30.0)
    real = service_explain.assignment_rows

    def slow(plan):
        time.sleep(0.4)
        return real(plan)

    monkeypatch.setattr(service_explain, "assignment_rows", slow)
    for ahead in (0, 10**9):  # in a child, and here
        monkeypatch.setattr(service_explain, "SERVICE_ROWS_AHEAD", ahead)
        result = service_explain.explain_service_plan(sp, sol, params,
                                                      audit=audit_table(sp.district))
        assert result.figures["runtime_s"]["explain"] >= 0.4


def test_a_full_provider_who_counts_the_student_already_could_keep_the_pair():
    # "Keeps the published plan's provider" needs this year's provider to have
    # room for the pair: under their cap, or counting the student already
    # (serving another of their services, or their case manager), as the
    # pair then takes no seat more. At the cap without either: no room.
    from types import SimpleNamespace

    from optimizer.district.model import ServiceNeed
    from optimizer.planning.service_explain import _could_keep

    problem = SimpleNamespace(edge_provider=np.array([0, 1]), cap=np.array([2, 2]),
                              pair_student=np.array([0, 0]), n_providers=2)
    sp = SimpleNamespace(problem=problem, pair_forbidden={})
    need = ServiceNeed("S1", "SPEECH", 30.0, "E1", 2)

    def plan(caseload, serves=(), cm=(-1,)):
        return SimpleNamespace(sp=sp, e_pos={"E0": 0, "E1": 1}, caseload=np.array(caseload),
                               serves=set(serves), cm=np.array(cm))

    assert _could_keep(plan([0, 1]), 0, need, "E1", 0, 2)  # under the cap
    assert not _could_keep(plan([0, 2]), 0, need, "E1", 0, 2)  # full, the student new to them
    assert _could_keep(plan([0, 2], serves={0 * 2 + 1}), 0, need, "E1", 0, 2)  # serves them
    assert _could_keep(plan([0, 2], cm=(1,)), 0, need, "E1", 0, 2)  # their case manager
    assert not _could_keep(plan([0, 1]), 0, need, "E1", 0, 1)  # not one of the pair's options
    sp.pair_forbidden = {("S1", "SPEECH"): frozenset({"E1"})}
    assert not _could_keep(plan([0, 1]), 0, need, "E1", 0, 2)  # forbidden
