"""Mutation score of the rules, planning, check and validation code (`make mutate`).

Runs mutmut (configured in pyproject.toml, ``[tool.mutmut]``: what is mutated
and which fast tests run) from a clean ``mutants/`` folder, then prints the
score and every surviving mutant with its diff, and writes the same to
``benchmarks/mutation.json``. A survivor is a change to the code that no test
noticed: either a missing test or an equivalent mutant (listed with its
reason in ``EQUIVALENT`` below, so a reader can judge it).

Not part of ``make test`` or CI. The whole run is about 7,700 mutants, over
an hour on 2 cores; ``--sample N`` runs a random sample of N mutants (the
same seed gives the same sample) and reports the score with its 95% margin,
which is what `make mutate` does by default (MUTATE_SAMPLE=0 runs them all).

``--report-only --recheck tests/test_x.py`` re-reports a finished run after
tests were added: each sampled survivor is run against the new test files
(the same trampolined copy mutmut uses) and counts as killed when they fail;
the report lists which (``recheck``), so a reader can tell a fresh run from a
re-checked one.

Usage::

    python benchmarks/mutate.py [--sample N] [--seed S] [--max-children N] [--keep]
    python benchmarks/mutate.py --report-only --sample-file F --recheck tests/test_x.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "mutation.json"

#: Survivors judged equivalent (no behaviour a planner could see changes),
#: keyed by the mutated function and a fragment of the mutated line, since
#: mutmut's mutant numbers move when the code changes.
EQUIVALENT: list[tuple[str, str, str]] = [
    # session of 1 December, part B
    ("_component_model", "need = 1",
     "only CP-SAT's starting value (hint) for an educator's balance penalty changes, and only "
     "where the hinted load costs nothing (0 -> 1, still a feasible value of p): a hint steers "
     "the search, never the model, so the optimum CP-SAT proves is the same (the suite's CP-SAT "
     "plans, proven or not, are unchanged under it); equivalent for the objective and the "
     "proof, not a promise about which of two tied plans a search stopped early keeps"),
    ("weighted_hint", "rounds: int = 26",
     "one more round of the weighted hint's refit only matters when 25 rounds leave a caseload "
     "over its cap, and the hint is then re-optimised by CP-SAT (the model, not the hint, "
     "decides the plan and its proof); the suite's weighted plans are unchanged under it"),
    ("_MaxFlow", "e0 = 2, 3 + n_s",
     "educator nodes numbered from 3 + n_s instead of 2 + n_s: the student->educator and "
     "educator->sink arcs both use the same e0, so the network is the same with node 2 + n_s "
     "left unconnected, and its max flow is the same (checked: min-max tests pass)"),
    ("_MaxFlow", "np.ones(n_e, )])",
     "the sink heads become the floats 1.0 (the array is concatenated to float64); OR-Tools' "
     "add_arcs_with_capacity takes whole-number floats as the same node indices (checked: "
     "an arc to head 1.0 reaches node 1, the sink, and the flow is optimal)"),
    ("_flag", "table.get(key, )",
     "the default is never read: ca.toml sets both flags (best_practice_rule."
     "related_services_count, coordination.needs_credential), it is the only shipped pack, "
     "and a district's overrides merge into its tables key by key, never removing a key"),
    ("_build", 'level_rule = raw.get("support_level_rule", None)',
     "the default is never read: ca.toml has a [support_level_rule] table, it is the only "
     "shipped pack, and a district's overrides merge into it, never remove it"),
    ("solve_cpsat", "time_limit: float = 31.0",
     "the default is never used: the only caller (planning.solvers.solve) always passes "
     "time_limit"),
    # (function name part, text in the mutated line, why it is equivalent)
    # case_manager_needed's probe educator is read for its credential only
    # (authorized_for_grade): its other fields may be anything.
    ("case_manager_needed", 'Educator("?", "?", None,',
     "the probe's role is not read by the credential-and-grade rule"),
    ("case_manager_needed", 'Educator(None, "?",', "the probe's id is never read"),
    ("case_manager_needed", 'Educator("XX?XX", "?",', "the probe's id is never read"),
    ("case_manager_needed", 'Educator("?", None,', "the probe's name is never read"),
    ("case_manager_needed", 'Educator("?", "XX?XX",', "the probe's name is never read"),
    ("case_manager_needed", "frozenset([code]), None, 1.0,", "the probe's schools are never read"),
    ("case_manager_needed", "(s.school_id,), 2.0,", "the probe's FTE is never read"),
    ("case_manager_needed", "(s.school_id,), None,", "the probe's FTE is never read"),
    ("case_manager_needed", "None, None, None, 0)", "the probe's other load is never read"),
    ("case_manager_needed", "None, 1.0, None, 0)", "the probe's other load is never read"),
    ("case_manager_needed", "None, 0.0, None, None)", "the probe's row is never read"),
    ("case_manager_needed", "None, 0.0, None, 1)", "the probe's row is never read"),
    ("edge_moves", "dtype=None)", "an all-false array only ever summed or multiplied"),
    ("moved_from_published", "dtype=None)", "an all-false array only ever summed"),
    ("build_problem", 'edges["rank"].to_numpy(dtype=None)',
     "pandas already holds the ranks as int64"),
    ("build_problem", "for s in student_ids], )", "the weights are floats already"),
    ("build_problem", "published.get(sid, None)", "None and '' both read as no published plan"),
    ("build_problem", "published.get(sid, )", "None and '' both read as no published plan"),
    ("solve_flow", "add_arc_with_capacity_and_unit_cost(sink, sink, 0, 1)",
     "a zero-capacity arc carries no flow whatever its cost"),
    ("placed", 'RuntimeError(None)', "unreachable: max flow on these networks is optimal"),
    ("min_max_ratio", "room) + 2)",
     "placed(ratio) changes only at the (base + n) / cap candidates an educator can reach; "
     "a candidate needing more students than the educator's eligible ones is never the "
     "smallest ceiling that places the most"),
    ("_derive", "np.errstate(divide=None", "only changes whether numpy warns"),
    ("_build", 'pack.get("name", ', "the shipped pack always has a name"),
    ("_build", "title=str(", "the shipped pack always has a title; the title is not read"),
    ("_educators", '", ".join(pack.credentials), required=None)',
     "None and False are both falsy"),
    ("_why_not", '"XXnobodyXX"', "never shown: the sentences naming the new case manager "
     "need one"),
    ("assignment_table", "}, )", "the frame's columns are already in that order"),
    ("_run", "for xi in x], dtype=None)", "a list of bools makes a bool array anyway"),
    ("_run", "for xi in x], )", "a list of bools makes a bool array anyway"),
    ("min_max_ratio", "(ratios < top_ratio + 1e-12)", "the tolerance still admits the top"),
    ("_derive", 'invalid=None)', "only changes whether numpy warns"),
    ("_derive", 'np.errstate(divide="ignore", )', "only changes whether numpy warns"),
    ("_derive", "cap.astype(None)", "astype(None) is float64, the same as astype(float)"),
    ("_derive", "_at_chosen(problem.edge_rank, chosen, -2)",
     "an unplaced student's rank is never read (tables mask it, counts skip it)"),
    ("_at_chosen", "dtype=None))[chosen]",
     "each blank (-1, False, '') already has its array's kind; values are the same"),
    ("_best_rank", "np.full(problem.n_students, -1, dtype=None)",
     "a Python int fills an int64 array anyway"),
    ("_best_rank", "np.full(problem.n_students, -2,",
     "the no-option value is read only for placed students, who all have an option"),
    ("assignment_table", "np.where(plan.placed, plan.rank, None)",
     "the unplaced rows' rank is set to NA on the next line"),
    ("assignment_table", "np.where(plan.placed, plan.rank, -2)",
     "the unplaced rows' rank is set to NA on the next line"),
    ("placement_reasons", "edge_values(problem.edge_reason, None)",
     "the rule's reason is read for placed students only"),
    ("hiring_needs", "else 1) or 1", "(x if c else 0) or 1 and (x if c else 1) or 1 are equal"),
    ("_why_not", '"NO LONGER ON STAFF"', "the category is read only for a published plan's "
     "case manager, who is on staff (one who left is counted before _why_not)"),
    ("_why_not", '"XXno longer on staffXX"', "the category is read only for a published "
     "plan's case manager, who is on staff"),
    ("_component_model", "by_student.get(int(s), )", "None and [] are both falsy: skipped"),
    ("_component_model", "cap <= 0 and balance.weight == 0",
     "balance weight 0 makes every penalty line 0; a cap of 0 has no seats, so no lines"),
    ("_component_model", 'phase.kind != "points" and cap <= 0',
     "penalty variables outside the objective (placed and min-max phases) change no optimum"),
    ("_solver", "num_workers = 9",
     "portfolio size of the non-deterministic mode, which promises no particular plan"),
    ("solve", 'cp.status == "XXoptimalXX"', "when every component is optimal CP-SAT's "
     "objective equals its bound, so the bound is the plan's points either way"),
    ("solve", 'cp.status == "OPTIMAL"', "when every component is optimal CP-SAT's "
     "objective equals its bound, so the bound is the plan's points either way"),
    ("_MaxFlow", "np.zeros(len(studs), )", "OR-Tools reads whole-number floats the same"),
    ("_MaxFlow", "np.zeros(n_e, dtype=None)", "OR-Tools reads whole-number floats the same"),
    ("_MaxFlow", "np.ones(n_e, dtype=None)", "OR-Tools reads whole-number floats the same"),
    ("weighted_hint", "np.iinfo(np.int64).max // 4, )", "a Python int fills an int64 array"),
    ("weighted_hint", "+            None)",
     "limit is an int64 array: the float difference is cast back on assignment"),
    ("weighted_hint", "load >= problem.cap + 1e-9",
     "at exactly cap + 1e-9 the inner loop's own test stops before dropping anyone"),
    ("min_max_ratio", "max(2.0, floor_ratio)", "a candidate above every k/cap is never the "
     "smallest ceiling that places the most (the largest k/cap already does)"),
    ("min_max_ratio", "top_ratio + 1.000000000001", "a candidate above every k/cap is never "
     "the smallest ceiling that places the most"),
    # Judged on the fourth make mutate (issue 13, planning side):
    ("check_plan", "astype(str), cm, ))",
     "both columns come from one frame: the same length, strict or not"),
    ("assignment_table", "for e in eids], dtype=None)",
     "a numpy str array of the names: pandas stores the column as str either way"),
    ("assignment_table", "for e in eids], )",
     "a numpy str array of the names: pandas stores the column as str either way"),
    ("placement_reasons", "_NOT_KEPT_WORDS.get(category, None)",
     "every category _why_not returns has its words: the default is never used"),
    ("penalty", 'np.errstate(invalid="ignore")',
     "the inner where never divides by zero: only whether numpy warns"),
    ("penalty", "np.where(cap > 0, cap, 2)",
     "the quotient for a cap of 0 is dropped by the outer where"),
    ("build_problem", "np.array(sorted(district.educators), )",
     "the same ids as numpy str (a district has at least one educator): every reader "
     "compares, hashes or formats them as str"),
    ("build_problem", "np.full(len(student_ids), -1, dtype=None)",
     "a Python int fills an int64 array anyway"),
    ("plain_headline", 'f.get("students", None) or 0', "None or 0 is 0, as 0 or 0"),
    ("Resultǁ__init__", "np.array(assignment, dtype=None)",
     "every caller (explain, the service plan) passes an int64 array already"),
    ("_component_model", "cap < 0 or balance.weight == 0",
     "a cap of 0 leaves no whole load between base and cap: the secant loop is empty"),
    ("_component_model", "by_educator.get(int(e), )",
     "every educator of a modelled component has a free student's edge: a pin is its "
     "student's only edge, so an educator with pinned students only is a component "
     "without free edges, never modelled"),
    ("_groups", "strict=False)", "the three lists have one length by construction"),
    ("min_max_ratio", "(ratios > floor_ratio - 1e-12)",
     "no candidate lies exactly 1e-12 below the floor"),
    ("flow_inputs", "problem.edge_cost()[keep] * SCALE).astype(None)",
     "whole-number float costs: OR-Tools reads them the same"),
    ("check_service_plan", 'assignments["case_manager_id"].fillna(None)',
     "a missing case manager stays NaN, which is no educator id: skipped either way"),
    ("_educators", "0 <= x <= MAX_STUDENTS, None)",
     "other_load's default: a blank or bad cell becomes 0.0 when the Educator is "
     "built; read nowhere else"),
    ("_educators", "(fte[i] is not None) or True",
     "fte is None only after an fte error is reported, so no District is built"),
    ("validate_tables", "dtype=None))", "an absent table's frame is empty: no cell is read"),
    ("_decide", "may_case_manage(pack, None, e)",
     "the gate reads only the educator; RuleCache.may_case_manage passes None too"),
    ("decide_profiles", "d = None",
     "without the by-facts memo the same pure _decide returns an equal decision: only speed"),
    ("_component_model", "if kept else 1",
     "unreachable: every modelled component has a free student with an edge"),
    ("_component_model", "zip(w, js, strict=False)) + base_i",
     "w is built from js: the lengths always match"),
    ("_groups", "len(order)], strict=None)",
     "np.unique's keys and starts, and the ends built from starts, have equal lengths"),
    ("placement_reasons", "_CAPACITY_WORDS.get(str(capacity_of[s]), )",
     "a placed student's capacity is always one of the words' keys"),
    ("weighted_hint", "if np.all(None):",
     "without the early return later rounds re-solve the same flow: same plan, slower"),
    ("placed", 'RuntimeError("MAX FLOW FAILED")', "unreachable: max flow here is optimal"),
    # Judged for issue 13 (h13d), each checked by hand on the mutated code:
    ("build_problem", "np.array(sorted(district.students), )",
     "the same ids as numpy str, never written into (so never cut short): every reader "
     "compares, hashes or formats them as str ('007' and '7' stay apart); with no "
     "students the empty array is float64, an empty column either way (CSVs and summary "
     "text of a 0- and a 3-student district compared equal)"),
    ("build_problem", "np.full(len(student_ids), -1, )",
     "a Python int fills numpy's default integer array; pins (and published-plan "
     "places) are educator indices or -1/-2, only compared and used as indices, the "
     "same in int32 or int64"),
    ("plain_headline", 'f.get(None, n - placed)',
     "every figures dict the tool writes (explain.py, service_figures) has unplaced = "
     "students - placed, which is the default: the two differ only for a hand-edited "
     "summary.json"),
    ("plain_headline", 'f.get("best_practice_share", None) or 0.0',
     "None or 0.0 is 0.0, as 0.0 or 0.0"),
    # session of 1 December, part A
    # (h13A: each reason checked by reading the mutated code and what reaches it)
    ("placement_reasons", "brief_head.get(None)",
     "brief_head is only a memo: with every lookup missing, the same opening sentence is "
     "made again from the same (rank, capacity) by the same expression, equal text"),
    ("placement_reasons", "_CAPACITY_WORDS.get(str(capacity), None)",
     "a placed student's chosen edge is eligible, and an eligible edge's capacity is "
     "one of instruction, service, coordination (rules/eligibility.py _decide and "
     "the coordination decision): always one of the words' keys, the default is never used"),
    ("build_problem", "np.array(sorted(district.students), dtype=None)",
     "dtype=None is numpy's default, the same array as the listed "
     "'np.array(sorted(district.students), )' (numpy str ids, read only as str)"),
    ("_unserved_services", 'v.get("served", )',
     "get without a default gives None for a missing count, and None or 0 is 0, as 0 or 0"),
    ("plain_headline", 'f.get("placed", None) or 0',
     "None or 0 is 0, as 0 or 0"),
]


def _mutmut(*args: str, capture: bool = True) -> str:
    exe = Path(sys.executable).with_name("mutmut")
    proc = subprocess.run([str(exe), *args], cwd=ROOT, text=True,
                          capture_output=capture, check=False)
    return proc.stdout if capture else ""


def _status() -> dict[str, str]:
    status: dict[str, str] = {}
    for line in _mutmut("results", "--all", "true").splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            status[m.group(1)] = m.group(2).strip()
    return status


def _diff(name: str) -> str:
    text = _mutmut("show", name)
    return "\n".join(line for line in text.splitlines()
                     if line.startswith(("+", "-")) and not line.startswith(("+++", "---")))


def _equivalent(name: str, diff: str) -> str | None:
    added = "\n".join(line for line in diff.splitlines() if line.startswith("+"))
    for func, fragment, why in EQUIVALENT:
        if func in name and fragment in added:
            return why
    return None


def _recheck(status: dict[str, str], tests: list[Path], workers: int,
             minutes: float) -> tuple[list[str], list[str]]:
    """Run ``tests`` against each survivor the way mutmut does (the mutant chosen
    by MUTANT_UNDER_TEST in the trampolined copy under mutants/); mark the ones
    they kill as killed in ``status``. Returns (killed, not rechecked in the
    time budget). A run that errors or times out leaves the mutant a survivor
    (the cautious count)."""
    from concurrent.futures import ThreadPoolExecutor

    for t in tests:
        shutil.copy2(ROOT / t, ROOT / "mutants" / t)
    stop_at = time.monotonic() + 60 * minutes
    # Reverse name order (rules, rule pack, solvers, then district): the
    # budget may end before the district modules are reached.
    names = sorted((n for n, st in status.items() if st == "survived"), reverse=True)

    def one(name: str) -> tuple[str, int | None]:
        if time.monotonic() > stop_at:
            return name, None
        env = {**os.environ, "MUTANT_UNDER_TEST": name}
        try:
            proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q",
                                   "-p", "no:cacheprovider", *map(str, tests)],
                                  cwd=ROOT / "mutants", env=env, capture_output=True,
                                  text=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            return name, -1
        print(f"recheck {name}: pytest exit {proc.returncode}", flush=True)
        return name, proc.returncode

    killed, skipped = [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, rc in pool.map(one, names):
            if rc is None:
                skipped.append(name)
            elif rc == 1:
                status[name] = "killed"
                killed.append(name)
    return killed, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--keep", action="store_true",
                    help="reuse mutants/ from an earlier run (only re-runs what changed)")
    ap.add_argument("--sample", type=int, default=0,
                    help="run a random sample of this many mutants (0: all)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--report-only", action="store_true",
                    help="only report the results already in mutants/ (same sample)")
    ap.add_argument("--sample-file", type=Path,
                    help="with --report-only: the sampled mutant names, one a line")
    ap.add_argument("--recheck", type=Path, action="append", default=[],
                    help="with --report-only: run these test files (copied into mutants/) "
                         "against every sampled survivor; a survivor they kill counts as "
                         "killed (tests only added since the run cannot revive a mutant)")
    ap.add_argument("--recheck-minutes", type=float, default=60.0,
                    help="time budget of --recheck; survivors not reached stay survivors")
    args = ap.parse_args(argv)
    if args.report_only:
        args.keep = True
    if not args.keep:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    t0 = time.perf_counter()
    children = ["--max-children", str(args.max_children)]
    sample: list[str] = []
    if args.report_only:
        if args.sample_file:
            sample = args.sample_file.read_text("utf-8").split()
        elif args.sample:
            everything = sorted(_status())
            sample = sorted(random.Random(args.seed).sample(everything,
                                                            min(args.sample, len(everything))))
    elif args.sample:
        # Generate the mutants and map tests to functions by running one tiny
        # group of mutants, then draw the sample from every mutant there is.
        _mutmut("run", *children, "optimizer.district.model.xǁInputIssueǁ__str__*", capture=False)
        everything = sorted(_status())
        sample = sorted(random.Random(args.seed).sample(everything,
                                                        min(args.sample, len(everything))))
        _mutmut("run", *children, *sample, capture=False)
    else:
        _mutmut("run", *children, capture=False)
    seconds = None if args.report_only else time.perf_counter() - t0

    status = _status()
    total = len(status)
    if sample:
        status = {k: status[k] for k in sample}
    rechecked, not_rechecked = (_recheck(status, args.recheck, args.max_children,
                                         args.recheck_minutes)
                                if args.recheck else ([], []))
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    survivors = []
    for name in sorted(n for n, s in status.items() if s == "survived"):
        diff = _diff(name)
        survivors.append({"mutant": name, "diff": diff, "equivalent": _equivalent(name, diff)})
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    scored = killed + counts.get("survived", 0) + counts.get("no tests", 0)
    equivalent = sum(1 for s in survivors if s["equivalent"])
    score = killed / scored if scored else None
    # Normal approximation of the sampling error (finite population corrected).
    margin = None
    if sample and scored and score is not None:
        fpc = (total - scored) / max(total - 1, 1)
        margin = 1.96 * math.sqrt(score * (1 - score) / scored * fpc)
    if score is None:
        # mutmut checked nothing: its first test run (stats) failed, see above.
        print("no mutant was checked: mutmut's test run failed (see its output above)",
              file=sys.stderr)
        return 1
    report = {
        "tool": "mutmut " + _mutmut("--version").strip().split()[-1],
        "seconds": None if seconds is None else round(seconds, 1),
        "max_children": args.max_children,
        "mutants_in_scope": total,
        "sample": {"size": len(sample), "seed": args.seed, "names": sample} if sample else None,
        "score_margin_95": None if margin is None else round(margin, 4),
        "mutants": len(status),
        "counts": counts,
        "score": None if score is None else round(score, 4),
        "score_without_equivalent": round(killed / (scored - equivalent), 4)
        if scored > equivalent else None,
        "survivors": survivors,
    }
    if args.recheck:
        report["recheck"] = {"tests": [str(t) for t in args.recheck], "killed": rechecked,
                             "not_rechecked_in_time": not_rechecked}
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for s in survivors:
        tag = f"  [equivalent: {s['equivalent']}]" if s["equivalent"] else ""
        print(f"\n{s['mutant']}{tag}\n{s['diff']}")
    what = f"a sample of {len(status)} of {total}" if sample else f"{len(status)}"
    took = "" if seconds is None else f" in {seconds / 60:.1f} min"
    print(f"\n{what} mutants{took}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    plus = f" ± {margin:.1%} (95%)" if margin is not None else ""
    print(f"mutation score {report['score']:.1%}{plus} (killed / (killed + survived + no tests)); "
          f"{equivalent} survivor(s) judged equivalent -> "
          f"{report['score_without_equivalent'] or 0:.1%}")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
