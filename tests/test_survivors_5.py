"""Tests written for planning mutants that survived the fourth `make mutate`
measurement (benchmarks/mutation.json, issue 13): each asserts, on a small
named case worked by hand, the behaviour a surviving mutant of
``optimizer/planning`` changed (reasons, tables, figures, the audit, the
CP-SAT and flow engines). Grouped by the module mutated."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from optimizer import load_district, plan
from optimizer.planning.check import audit_current, check_plan, check_service_plan
from optimizer.planning.problem import build_problem, component_labels
from optimizer.planning.solvers import SolveParams, cpsat, solve
from optimizer.planning.solvers.flow import weighted_hint
from tests.conftest import educator, student, write_csv


def _pin(sid, eid):
    return {"student_id": sid, "educator_id": eid, "kind": "pin", "reason": ""}


def _forbid(sid, eid):
    return {"student_id": sid, "educator_id": eid, "kind": "forbid", "reason": ""}


def _reasons(result, sid):
    a = result.assignments.set_index("student_id")
    return a.loc[sid, "reason"], a.loc[sid, "reason_detail"]


# ------------------------------------------------------------------ planning/check.py


def test_a_service_district_audits_distinct_students_not_case_managed_weight(make_district):
    # E1 (cap 2) case-manages S1 (weight 1.5) and S2 this year: 2.5 of
    # case-managed weight, but 2 distinct students. A district planning
    # services caps distinct students (served or case-managed), so nothing is
    # over; the same district without services is over its cap by weight.
    kw = dict(educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="2")],
              students=[student("S1", weight="1.5", current_case_manager="E1"),
                        student("S2", current_case_manager="E1")])
    services = load_district(make_district(**kw, toml="plan_services = true\n"))
    plain = load_district(make_district(**kw))
    assert [v.kind for v in audit_current(services)] == []
    assert [(v.kind, v.detail) for v in audit_current(plain)] == [
        ("cap exceeded", "load 2.5 (case-managed 2.5 + other 0) over cap 2 (RSP, FTE 1)")]


def test_check_plan_reads_a_missing_case_manager_as_unplaced(make_district):
    # A plan read back from a spreadsheet has NaN for a blank case manager:
    # the student is unplaced, not assigned to an unknown educator.
    d = load_district(make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                                    students=[student("S1"), student("S2")]))
    frame = pd.DataFrame({"student_id": ["S1", "S2"], "case_manager_id": ["E1", np.nan]})
    assert check_plan(d, frame) == []


SLP_AVERAGE = ("EC 56363.3, 5 CCR 3051.1: a district-wide average of 55, applied here to "
               "each SLP as a planning cap")


def test_audit_of_this_years_providers_in_words(make_district):
    # Fir: R1 (RSP, cap 2) teaches A and B, and case-manages A: 2 distinct
    # students, exactly its cap. S1 (SLP, FTE 0.02: cap 1, other load 0.5)
    # serves A and B: 2 + 0.5 = 2.5 over 1, and the SLPs average 2.5 / 0.02 =
    # 125 per FTE. R2, an RSP teacher, gives D speech; E's speech provider and
    # B's case manager have left.
    folder = make_district(
        educators=[educator("R1", "RSP", "ES-MMSN", max_caseload="2"),
                   educator("R2", "RSP", "ES-MMSN"),
                   educator("S1", "SLP", "SLP", fte="0.02", other_load="0.5")],
        students=[student("A", "SAI;SPEECH", current_case_manager="R1"),
                  student("B", "SAI;SPEECH", current_case_manager="GONE"),
                  student("D", "SPEECH", sai_setting="", primary="SLI"),
                  student("E", "SPEECH", sai_setting="", primary="SLI")])
    write_csv(folder / "services.csv", [
        {"student_id": s, "service": v, "minutes": m, "current_provider": p}
        for s, v, m, p in [("A", "SAI", 200, "R1"), ("A", "SPEECH", 60, "S1"),
                           ("B", "SAI", 200, "R1"), ("B", "SPEECH", 60, "S1"),
                           ("D", "SPEECH", 30, "R2"), ("E", "SPEECH", 30, "GONE")]])
    got = [(v.kind, v.student_id, v.educator_id, v.detail)
           for v in audit_current(load_district(folder))]
    assert got == [
        ("average over limit", "", "", "SLP caseloads average 125.0 per FTE (2.5 over 0.02 "
         f"FTE), over 55 ({SLP_AVERAGE})"),
        ("over planning cap", "", "S1", "caseload 2.5 (distinct students served or "
         "case-managed 2 + other 0.5) over cap 1 (SLP, FTE 0.02): the law caps the district's "
         "SLP average, not one person's caseload"),
        ("not on staff", "B", "GONE", "this year's case manager is no longer in educators.csv"),
        ("ineligible provider", "D", "R2", "SPEECH: RSP does not provide SPEECH"),
        ("not on staff", "E", "GONE", "this year's SPEECH provider is no longer in "
         "educators.csv")]


def test_check_service_plan_names_every_broken_provider(make_district):
    # Cedar: R1 (RSP, cap 1) teaches A and B; B's speech is given by R1
    # (pinned to S1 in locks.csv); A's by S1 (forbidden there); S1 (minutes
    # capacity 100) gives 120 minutes; S2, an SLP holding only ES-MMSN, gives
    # F speech and D OT; D's case manager S1 gives them speech, so they are
    # S1's "service" students, not blank. D's OT row comes first, unserved,
    # then a provider nobody knows (ZZ).
    d = load_district(make_district(
        educators=[educator("R1", "RSP", "ES-MMSN", max_caseload="1"),
                   educator("S1", "SLP", "SLP"), educator("C1", "COORD"),
                   educator("S2", "SLP", "ES-MMSN")],
        students=[student("A", "SAI;SPEECH"), student("B", "SAI;SPEECH"),
                  student("D", "SPEECH;OT", sai_setting="", primary="SLI"),
                  student("F", "SPEECH", sai_setting="", primary="SLI")],
        locks=[{"student_id": "A", "educator_id": "S1", "kind": "forbid", "reason": "",
                "service": "SPEECH"},
               {"student_id": "B", "educator_id": "S1", "kind": "pin", "reason": "",
                "service": "SPEECH"}],
        toml="plan_services = true\n[minutes_capacity]\nSLP = 100\n"))
    services = pd.DataFrame(
        [("D", "OT", np.nan, np.nan), ("A", "OT", "ZZ", 10), ("A", "SAI", "R1", 200),
         ("A", "SPEECH", "S1", 60), ("B", "SAI", "R1", 200), ("B", "SPEECH", "R1", 30),
         ("D", "SPEECH", "S1", 60), ("D", "OT", "S2", 10), ("F", "SPEECH", "S2", 10)],
        columns=["student_id", "service", "provider_id", "minutes"])
    assignments = pd.DataFrame([("A", "R1", "instruction"), ("B", "C1", "coordination"),
                                ("D", "S1", np.nan), ("F", np.nan, np.nan)],
                               columns=["student_id", "case_manager_id", "capacity"])
    got = [(v.kind, v.student_id, v.educator_id, v.detail)
           for v in check_service_plan(d, services, assignments)]
    assert got == [
        ("unknown", "A", "ZZ", "OT: no such educator in educators.csv"),
        ("ineligible provider", "B", "R1", "SPEECH: RSP does not provide SPEECH"),
        ("ineligible provider", "D", "S2", "OT: SLP does not provide OT"),
        ("ineligible provider", "F", "S2", "SPEECH: SPEECH needs one of SLP, SLP-SCA; "
         "holds ES-MMSN"),
        ("forbid used", "A", "S1", "SPEECH: forbidden in locks.csv"),
        ("pin broken", "B", "S1", "SPEECH: pinned to S1 but given by R1"),
        ("wrong capacity", "D", "S1", "case manager as blank, but the plan makes them service"),
        ("cap exceeded", "", "R1", "caseload 2 (distinct students served or case-managed 2 + "
         "other 0) over cap 1 (RSP, FTE 1)"),
        ("minutes exceeded", "", "S1", "120 IEP minutes a week over 100")]


# ------------------------------------------------------------------ planning/explain.py


def test_a_pin_to_the_first_educator_replaces_this_years_case_manager(make_district):
    # S1 is pinned to E1 (the first educator, index 0); this year's case
    # manager E2 is eligible and has room, so the only reason S1 leaves E2 is
    # the pin, and the short reason says so in planner words.
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN")],
        students=[student("S1", current_case_manager="E2")], locks=[_pin("S1", "E1")]))
    r = plan(d)
    short, detail = _reasons(r, "S1")
    assert short == ("Pinned in locks.csv. Best-practice match: teaches their SAI. "
                     "This year's case manager was replaced by a pin")
    assert detail.startswith("Pinned in locks.csv (S1 to E1). Best-practice case manager: ")
    assert detail.endswith(". This year's case manager E2 was replaced by the pin")


def test_loads_are_rounded_to_four_decimals_in_the_caseloads_table(make_district):
    # E1 case-manages S1 (weight 1) and carries other load 0.123456: load
    # 1.123456, shown as 1.1235 (like load_ratio, four decimals).
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", other_load="0.123456")],
        students=[student("S1")]))
    assert plan(d).caseloads["load"].tolist() == [1.1235]


def test_the_summary_figures_name_the_engine(make_district):
    d = load_district(make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                                    students=[student("S1")]))
    r = plan(d)
    assert r.figures["engine"] == r.engine
    assert list(r.summary_json())[:5] == ["district", "rule_pack", "status", "engine",
                                          "balance"]


def test_a_move_from_the_published_plan_opens_the_short_reason(make_district):
    # The published plan gave S1 to E1; locks.csv now forbids E1 for S1, so S1
    # moves to E2 and the short reason says first why it moved.
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "ES-MMSN")],
        students=[student("S1"), student("S2")], locks=[_forbid("S1", "E1")]))
    r = plan(d, published={"S1": "E1", "S2": "E1"})
    short, detail = _reasons(r, "S1")
    assert short == ("Moved from the published plan (forbidden). "
                     "Best-practice match: teaches their SAI")
    assert detail.endswith(". Moved from the published plan: The published plan's case "
                           "manager E1 is forbidden in locks.csv")
    assert r.figures["published_plan"] == {"students_in_published_plan": 2, "moved": 1,
                                           "moved_because": {"forbidden": 1}}


# ------------------------------------------------------------------ planning/result.py


def test_a_service_plans_single_hiring_need_is_listed_in_the_summary(make_district):
    # The only SLP (FTE 0.02: cap int(55 x 0.02) = 1) carries other load 2,
    # so S1's SPEECH is not served and the plan asks for one hire. The SLPs
    # average 2 / 0.02 = 100 per FTE, over the law's 55. A service plan lists
    # even a single hiring need under its own heading (a case-manager plan
    # lists them from two on: the headline names the first).
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN"),
                   educator("E2", "SLP", "SLP", fte="0.02", other_load="2")],
        students=[student("S1", services="SAI;SPEECH")], toml="plan_services = true\n"))
    text = plan(d).summary()
    assert text.endswith(
        "\n\nServices (who serves each IEP service):\n"
        "  SAI          served      1 of 1   not served 0   not planned 0\n"
        "  SPEECH       served      0 of 1   not served 1   not planned 0\n"
        "  SLP average caseload 100.0 per FTE (2 over 0.02 FTE): over the limit of 55 "
        "(EC 56363.3, 5 CCR 3051.1: a district-wide average of 55, applied here to each SLP "
        "as a planning cap)\n"
        "  providers over a minutes capacity: none (no minutes capacity applied)\n"
        "\nHiring needs (to serve the unserved services and place the unplaced students):\n"
        "  0.1 FTE SLP with SLP at Elm Elementary for SPEECH of 1 student")


# ------------------------------------------------------------------ planning/solvers


def _one_heavy_student(make_district):
    """Oak: one RSP teacher with cap 7 and one student weighing 1.5.

    CP-SAT's balance penalty is the secant of 2 x load^2 / 7 between the
    loads a plan can reach, steps of 0.5 here: between 1 (0.2857) and 1.5
    (0.6429), slope 0.7143 per student of load, which the model holds in
    1/1000 points, rounded up from slope 714 and constant 286:
    ceil((714 x 50 + 286 x 100) / 100) = 643, the true penalty 2 x 2.25 / 7
    = 0.642857 to a thousandth. (Secants between whole loads gave 715.)
    """
    return build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="7")],
        students=[student("S1", weight="1.5")])))


def test_the_cpsat_hint_is_a_complete_plan_at_its_own_points(make_district):
    # The hint fixes every variable, the balance penalty too: solved with
    # every variable held to its hint, the model is feasible and costs the
    # hinted plan's points (643 thousandths), not more.
    from ortools.sat.python import cp_model

    p = _one_heavy_student(make_district)
    one = np.array([0])
    m, *_ = cpsat._component_model(p, one, one, one, p.pinned_load(), one,
                                   cpsat._Phase("points"))
    solver = cp_model.CpSolver()
    solver.parameters.fix_variables_to_their_hinted_value = True
    assert solver.solve(m) == cp_model.OPTIMAL
    assert solver.objective_value == 643


def test_cpsat_facts_progress_and_times_of_a_proven_plan(make_district, monkeypatch):
    # Progress after every solution (not every 5 s); a huge time limit that
    # the search is nowhere near.
    monkeypatch.setattr(cpsat, "PROGRESS_EVERY", 0.0)
    said: list[str] = []
    p = _one_heavy_student(make_district)
    t0 = time.perf_counter()
    sol = solve(p, SolveParams(engine="cpsat", time_limit=999_999, progress=said.append))
    elapsed = time.perf_counter() - t0
    assert sol.assignment.tolist() == [0]
    assert (sol.status, sol.objective, sol.bound) == ("optimal", pytest.approx(4.5 / 7),
                                                     pytest.approx(4.5 / 7))
    assert sol.engine == ("CP-SAT per component (1 of 1 proven optimal), hinted with a "
                          "weighted plan built from min-cost flows")
    assert {k: sol.facts[k] for k in ("cpsat_objective", "cpsat_bound",
                                      "stopped_by_time_limit")} == {
        "cpsat_objective": 0.643, "cpsat_bound": 0.643, "stopped_by_time_limit": False}
    assert said == ["weighted students: building a feasible plan from min-cost flows",
                    "component 1 of 1: best so far 0.6, bound 0.6",
                    "component 1 of 1: proven optimal (0.6 points)"]
    # Durations of this solve's steps, in seconds.
    assert 0 <= sol.runtime["flow_hint"] <= elapsed
    assert 0 <= sol.runtime["cpsat"] <= elapsed


def test_cpsat_without_a_progress_callback_says_nothing(make_district, monkeypatch):
    # No progress callback: nothing is called after each solution (even when
    # progress would be due at once).
    monkeypatch.setattr(cpsat, "PROGRESS_EVERY", 0.0)
    sol = solve(_one_heavy_student(make_district), SolveParams(engine="cpsat"))
    assert sol.assignment.tolist() == [0]


def test_cpsat_gets_what_the_flow_hint_left_of_the_time_limit(make_district, monkeypatch):
    # The time limit covers the flow hint and CP-SAT together; per component
    # the first phase (most placed) has half the component's share.
    seen: dict[str, list[float]] = {"solve_cpsat": [], "_solver": []}
    real_cpsat, real_solver = cpsat.solve_cpsat, cpsat._solver

    def spy_cpsat(*args, **kw):
        seen["solve_cpsat"].append(kw["time_limit"])
        return real_cpsat(*args, **kw)

    def spy_solver(seconds, deterministic):
        seen["_solver"].append(seconds)
        return real_solver(seconds, deterministic)

    monkeypatch.setattr(cpsat, "solve_cpsat", spy_cpsat)
    monkeypatch.setattr(cpsat, "_solver", spy_solver)
    p = _one_heavy_student(make_district)
    sol = solve(p, SolveParams(engine="cpsat", time_limit=20))
    assert 0 < seen["solve_cpsat"][0] <= 20 - sol.runtime["flow_hint"]
    # Nobody placed in the hint: the most-placed phase runs first, by half the share.
    seen["_solver"].clear()
    out = cpsat.solve_cpsat(p, np.array([-1]), component_labels(p), time_limit=20)
    assert out.assignment.tolist() == [0]
    first, second = seen["_solver"]
    assert 9 < first <= 10 and 10 < second <= 20


def test_the_most_placed_phase_places_a_student_whose_points_exceed_unplaced(make_district):
    # Leaving S1 unplaced costs 0.1 point (district.toml), placing them with
    # E1 costs 5 (rank 0, district.toml) + the balance penalty 2 x 1 / 7:
    # placing the most students still comes first. The hint places nobody,
    # so the most-placed phase runs.
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="7")],
        students=[student("S1")],
        toml="[objective]\nunplaced = 0.1\nrank = [5.0, 10.0, 30.0]\n")))
    out = cpsat.solve_cpsat(p, np.array([-1]), component_labels(p), time_limit=10)
    assert out.assignment.tolist() == [0]


def test_cpsat_minmax_ceiling_holds_for_an_educator_with_a_cap_of_one(make_district):
    # S1 (SAI in RSP, speech) may go to E1, their RSP teacher (best practice,
    # cap 1), or E2, the SLP serving them (rank 1, cap 55). The lowest highest
    # ratio places S1 with E2: 1/55, i.e. 19 thousandths rounded up. Within that
    # ceiling E1 may take nobody (1/1 is over it), though E1 costs fewer points
    # (balance 2 against rank 10 + 0.04).
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="1"),
                   educator("E2", "SLP", "SLP")],
        students=[student("S1", services="SAI;SPEECH")]))
    sol = solve(build_problem(d), SolveParams(balance="minmax", engine="cpsat"))
    assert sol.assignment.tolist() == [1]
    assert sol.facts["max_ratio_ceiling"] == 0.019


def test_weighted_hint_takes_seats_from_the_first_educator(make_district):
    # Counted as one seat each, S1 and S2 (weight 1.5) both go to E1, the
    # RSP teacher (cap 2): load 3, one over. The hint takes one seat away from
    # E1 and solves again: one student stays with E1 (1.5), the other goes to
    # the coordinator E2.
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="2"), educator("E2", "COORD")],
        students=[student("S1", weight="1.5"), student("S2", weight="1.5")])))
    assert sorted(weighted_hint(p).tolist()) == [0, 1]


def test_weighted_hint_with_an_educator_full_of_other_load(make_district):
    # E1's other load (3) is over its cap (2), a warning only: E1 takes
    # nobody, and the hint places both students with E2.
    p = build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="2", other_load="3"),
                   educator("E2", "RSP", "ES-MMSN")],
        students=[student("S1", weight="1.5"), student("S2", weight="1.5")])))
    assert weighted_hint(p).tolist() == [1, 1]


def test_weighted_students_are_planned_by_the_lp_by_default(make_district):
    d = load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN")],
        students=[student("S1", weight="1.5"), student("S2")]))
    sol = solve(build_problem(d))
    assert sol.engine.startswith("LP relaxation (HiGHS) for the bound; plan rounded from it")


def test_a_bad_engine_is_named():
    with pytest.raises(ValueError) as err:
        SolveParams(engine="simplex")
    assert str(err.value) == "engine must be 'auto', 'flow' or 'cpsat', not 'simplex'"


def _four_weighted(make_district):
    """Two RSP teachers with cap 3; students weighing 2, 1, 1.5 and 1.5."""
    return build_problem(load_district(make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", max_caseload="3"),
                   educator("E2", "RSP", "ES-MMSN", max_caseload="3")],
        students=[student("S1", weight="2"), student("S2"), student("S3", weight="1.5"),
                  student("S4", weight="1.5")])))


def _cut_short(monkeypatch, **settings):
    """Every CP-SAT search stopped early, as a busy machine's clock would
    stop it (the real solver, with these parameters changed)."""
    real = cpsat._solver

    def solver(seconds, deterministic):
        s = real(seconds, deterministic)
        for key, value in settings.items():
            setattr(s.parameters, key, value)
        return s

    monkeypatch.setattr(cpsat, "_solver", solver)


def test_no_cpsat_plan_in_time_keeps_the_flow_plan_without_a_bound(make_district,
                                                                   monkeypatch):
    _cut_short(monkeypatch, max_time_in_seconds=0.0)
    p = _four_weighted(make_district)
    said: list[str] = []
    sol = solve(p, SolveParams(engine="cpsat", progress=said.append))
    assert (sol.status, sol.bound, sol.facts["cpsat_bound"]) == ("feasible", None, None)
    assert sol.assignment.tolist() == weighted_hint(p).tolist()
    assert said[-1] == ("component 1 of 1: no plan found in the time left; keeping the plan "
                        "built from flows (not proven)")


def test_an_unproven_cpsat_plan_is_as_far_above_its_bound_as_cpsats(make_district,
                                                                    monkeypatch):
    # CP-SAT stops at its first plan in each phase: the plan is feasible and
    # its bound lies as far below its points as CP-SAT's bound below CP-SAT's.
    _cut_short(monkeypatch, stop_after_first_solution=True)
    sol = solve(_four_weighted(make_district), SolveParams(engine="cpsat"))
    assert sol.status == "feasible"
    assert sol.facts["cpsat_bound"] < sol.facts["cpsat_objective"]
    assert sol.objective - sol.bound == pytest.approx(sol.facts["cpsat_objective"]
                                                      - sol.facts["cpsat_bound"])
