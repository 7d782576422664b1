"""The ``caseload`` command: parses arguments and calls the public API.

Exit codes: 0 success; 1 a plan (or today's assignments) breaks a rule
(check, audit); 2 bad input (every problem listed, no traceback).
Nothing imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib.metadata
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.district.model import District
from optimizer.district.reader import read_district_files, read_table
from optimizer.district.scenario_file import ScenarioFileError, read_scenario_file
from optimizer.district.textsafe import TerminalText
from optimizer.district.validate import (
    DeferredWarnings,
    DistrictError,
    check_district,
    load_district,
    load_district_deferred,
    validate_tables,
)
from optimizer.generator import generate_district
from optimizer.graph import edge_table, eligible_pairs, school_table
from optimizer.nextyear.compare import compare
from optimizer.nextyear.keep import (
    KeptEdits,
    RejectedEdit,
    edits_table,
    keep_edits,
    unmet_service_edits,
)
from optimizer.nextyear.rollover import roll_over
from optimizer.nextyear.whatif import WhatIf, scenario_from_spec, what_if
from optimizer.outputs.comparison import (
    side_by_side,
    write_comparison_html,
    write_comparison_workbook,
)
from optimizer.outputs.edit_sheet import (
    CASE_MANAGER_HEADER,
    read_edit_sheet,
    read_services_sheet,
    services_location,
    sheet_location,
)
from optimizer.outputs.explain_text import (
    format_explanation,
    format_plan_services,
    plan_source_note,
)
from optimizer.outputs.export import (
    write_district,
    write_plan,
    write_report,
    write_rollover,
    write_table,
    write_transfers,
)
from optimizer.outputs.outfolder import (
    OutputError,
    Terminated,
    atomic_folder,
    check_file_target,
    check_target,
    cleanup_on_sigterm,
    source_date,
)
from optimizer.outputs.plan_folder import (
    PLAN_TABLE_FILES,
    SERVICES_FILE,
    PlanFolderError,
    read_plan,
    read_plan_assignments,
    read_plan_edits,
    read_plan_services,
    read_plan_sources,
)
from optimizer.outputs.side_process import SideProcessError, computed_beside
from optimizer.outputs.text import (
    did_you_mean,
    format_errors_first,
    format_graph_summary,
    format_problems,
    format_table,
    format_warnings_grouped,
    graph_summary,
    warning_table,
)
from optimizer.outputs.workbook import write_workbook
from optimizer.planning.check import (
    Violation,
    audit_and_warning,
    audit_current,
    check_plan,
    check_service_plan,
)
from optimizer.planning.objective import Objective
from optimizer.planning.planner import case_managers_of, plan, providers_of
from optimizer.planning.result import PlanTables, Result
from optimizer.planning.solvers import SolveParams

if TYPE_CHECKING:  # (annotations only)
    import pandas as pd

EXIT_BAD_INPUT = 2


def _load(path: str, as_json: bool) -> District | None:
    try:
        return load_district(path)
    except DistrictError as exc:
        _refused(path, exc, as_json)
        return None


def _load_deferred(path: str, as_json: bool) -> tuple[District, DeferredWarnings] | None:
    """:func:`_load`, the derived-level warning left for later
    (:func:`~optimizer.district.validate.load_district_deferred`)."""
    try:
        return load_district_deferred(path)
    except DistrictError as exc:
        _refused(path, exc, as_json)
        return None


def _refused(path: str, exc: DistrictError, as_json: bool) -> None:
    """Every problem of a district that cannot be planned, as JSON or words."""
    if as_json:
        print(json.dumps({"ok": False, "errors": [p.as_dict() for p in exc.errors],
                          "warnings": [p.as_dict() for p in exc.warnings]}, indent=2))
    else:
        print(f"The district at {path} has problems; nothing was done.", file=sys.stderr)
        print(format_errors_first(exc.problems, limit=None), file=sys.stderr)


def _cmd_validate(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    problems = check_district(args.district)
    errors = [p for p in problems if p.severity == "error"]
    if args.json:
        print(json.dumps({"ok": not errors, "errors": [p.as_dict() for p in errors],
                          "warnings": [p.as_dict() for p in problems if p.severity == "warning"]},
                         indent=2))
        return EXIT_BAD_INPUT if errors else 0
    if errors:
        print(format_problems(problems) if args.all else format_errors_first(problems),
              file=sys.stderr)
        print(f"\n{Path(args.district).resolve()}: {len(errors)} error(s) — fix them and run "
              "again.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.all:
        text = format_problems(problems)
    else:
        text = format_warnings_grouped(problems)
        text += "\n(every warning: add --all)" if text else ""
    if text:
        print(text)
    print(f"{args.district}: valid ({time.perf_counter() - t0:.2f} s).")
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    if args.edges:
        check_file_target(args.edges, inputs=[args.district])
    district = _load(args.district, args.json)
    if district is None:
        return EXIT_BAD_INPUT
    summary = graph_summary(district)  # from arrays: no networkx graph needed
    schools = school_table(district)
    if args.edges:

        write_table(edge_table(district), args.edges)
    if args.json:
        print(json.dumps({**summary, "schools": schools.to_dict(orient="records")}, indent=2))
    else:
        print(format_graph_summary(summary, schools, limit=args.limit))
        if args.edges:
            print(f"\nEdge table written to {args.edges}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    district = _load(args.district, False)
    if district is None:
        return EXIT_BAD_INPUT
    if args.student not in district.students:
        print(f"No student '{args.student}' in {args.district}."
              + did_you_mean(args.student, district.students), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.educator and args.educator not in district.educators:
        print(f"No educator '{args.educator}' in {args.district}."
              + did_you_mean(args.educator, district.educators), file=sys.stderr)
        return EXIT_BAD_INPUT
    planned = None
    if args.plan:
        frame, problems = read_plan_assignments(args.plan)
        if frame is None:
            print(format_problems(problems), file=sys.stderr)
            return EXIT_BAD_INPUT
        row = frame[frame["student_id"] == args.student]
        if row.empty:
            print(f"The plan at {args.plan} has no row for '{args.student}'.", file=sys.stderr)
            return EXIT_BAD_INPUT
        reason = row["reason"].iloc[0] if "reason" in row else ""
        planned = (str(row["case_manager_id"].iloc[0] or ""), str(reason or ""))
        note = plan_source_note(read_plan_sources(args.plan), district, args.plan)
        if note:
            print(note + "\n")
    services = None
    if args.plan:
        # A service plan: who gives each of the student's services, or why no one
        # does (a parent asks "who gives my child OT?", not only who manages).
        services, problems = read_plan_services(args.plan)
        if problems:
            print(format_problems(problems), file=sys.stderr)
            return EXIT_BAD_INPUT
    # The options are ranked under the plan's providers when it chose them.
    providers = (None if services is None else
                 set(services.loc[services["student_id"] == args.student, "provider_id"]) - {""})
    print(format_explanation(district, args.student, planned=planned, show_all=args.all,
                             educator_id=args.educator, providers=providers))
    if services is not None:
        print(format_plan_services(services, args.student, district))
    return 0


class _Progress:
    """Stage-by-stage progress on stderr, so a long run shows it is alive."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, stage: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {stage}", file=sys.stderr,
                  flush=True)


def _cmd_plan(args: argparse.Namespace) -> int:

    plan_inputs = [args.district, args.published, args.keep]
    check_target(args.out, inputs=plan_inputs, force=args.force)  # before a long solve
    progress = _Progress(args.quiet or args.json)
    progress(f"reading and validating {args.district}")
    loaded = _load_deferred(args.district, args.json)
    if loaded is None:
        return EXIT_BAD_INPUT
    district, later = loaded
    # This year's assignments are audited against the district's own files
    # (the planner's edits kept below, pins and forbids, are next year's
    # choices), on the second core from here on: while this one reads a
    # published plan or kept edits, lists the eligible pairs for the
    # workbook's drop-downs and builds the problem (the service solve uses
    # both cores itself). The files' derived-level warning is found there
    # too (about 0.3 s at 100,000 students, left by the read: a warning
    # changes no plan). Leaving early (bad input) stops it.
    this_year = district
    beside_work = functools.partial(audit_and_warning, this_year, later)
    with computed_beside(beside_work, "the audit of this year's case managers") as audited:
        def audit() -> pd.DataFrame:
            return audited()[0]

        published: Mapping[str, str] | None = None
        published_services: Mapping[tuple[str, str], str] | None = None
        if args.published:
            progress(f"reading the published plan {args.published}")
            frame, problems = read_plan_assignments(args.published)
            if frame is None:
                print(format_problems(problems), file=sys.stderr)
                return EXIT_BAD_INPUT
            published = case_managers_of(frame)
            if district.plans_services:  # keep the published plan's providers stable too
                services, problems = read_plan_services(args.published)
                if problems:
                    print(format_problems(problems), file=sys.stderr)
                    return EXIT_BAD_INPUT
                if services is not None:
                    published_services = providers_of(services)
        eligible = None if args.no_xlsx else eligible_pairs(district)
        kept = None
        providers_note = ""
        if args.keep:
            progress(f"reading the planner's edits in {args.keep}")
            edited = _planner_edits(args.keep, district, published, published_services)
            if edited is None:
                return EXIT_BAD_INPUT
            kept, published_services, providers_note = edited
            district, published = kept.district, published or kept.published
        try:
            params = SolveParams(balance=args.balance, time_limit=args.time_limit,
                                 progress=progress)
            objective = None
            if args.change_weight is not None:
                objective = Objective.from_settings({**district.rules.objective,
                                                     "change": args.change_weight})
            made = source_date()
            result = plan(district, params, objective, published,
                          made_at=made.isoformat(timespec="seconds") if made else None,
                          published_services=published_services, audit=audit)
        except ValueError as exc:
            print(f"Cannot plan: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        # The district's warnings, the one the read left among them again.
        files_say = list(later.warnings(audited()[1]))
    progress(f"writing {args.out}")
    t0 = time.perf_counter()
    warnings = files_say if kept is None else list(district.warnings)
    if kept is not None:
        # The district's files' warnings under their own names: the edits are
        # applied as a scenario, which names its tables "students (the
        # planner's edits)" though the planner edited no such file. Any
        # warning the edits themselves raise is kept as it is.
        own = {(w.row, w.column, w.value, w.expected) for w in files_say}
        warnings = files_say + [
            w for w in warnings if (w.row, w.column, w.value, w.expected) not in own]
    extra = {"warnings.csv": warning_table(warnings)}
    unmet = []
    if kept is not None:
        # Every edit and what became of it, kept with the plan (a refused edit
        # printed only to the terminal was lost once it closed).
        unmet = (unmet_service_edits(kept, result.services) if "services" in result.figures
                 else [])
        extra["edits.csv"] = edits_table(kept, unmet, redact=args.redact)
    out = write_plan(result, args.out, xlsx=not args.no_xlsx, redact=args.redact,
                     inputs=plan_inputs, force=args.force, eligible=eligible,
                     extra_tables=extra)
    progress(f"done (write {time.perf_counter() - t0:.2f}s)")
    if args.json:
        print(json.dumps({"plan": str(out), **result.summary_json()}, indent=2, default=str))
    else:
        print(result.summary())
        files = ", ".join([*PLAN_TABLE_FILES.values(),
                           *([SERVICES_FILE] if "services" in result.figures else []),
                           "summary.json", "warnings.csv",
                           *(["edits.csv"] if kept is not None else []),
                           *([] if args.no_xlsx else ["plan.xlsx"])])
        if warnings:
            print("\nAbout the district's files: "
                  + (format_problems(warnings) if args.all else
                     format_warnings_grouped(warnings, f"every one in {out}/warnings.csv")))
        print(f"\nPlan written to {out}/ ({files})")
    if kept is None:
        return 0
    if providers_note:
        print(providers_note, file=sys.stderr if args.json else sys.stdout)
    return _report_kept(kept, result, kept.providers, unmet, quiet=args.json)


def _planner_edits(path: str, district: District, published: Mapping[str, str] | None,
                   providers: Mapping[tuple[str, str], str] | None
                   ) -> tuple[KeptEdits, Mapping[tuple[str, str], str] | None, str] | None:
    """The planner's edits in a plan workbook (or a plan folder against
    --published): of case managers, and in a service plan of providers (the
    workbook's Services sheet, or the folder's services.csv, against the
    plan's providers). Returns the edits kept, the plan's providers (as
    ``providers``, else those found beside the workbook) and a line for the
    planner about them; None when the edits cannot be read (printed)."""
    service_rows: list[tuple[str, str, str, str]] = []
    note = ""
    if Path(path).is_dir():
        if published is None:
            print(f"--keep {path}: a plan folder does not record what the plan had chosen; "
                  "give the original with --published PLAN, or --keep its plan.xlsx.",
                  file=sys.stderr)
            return None
        frame, problems = read_plan_assignments(path)
        if frame is None:
            print(format_problems(problems), file=sys.stderr)
            return None
        rows = [(s, c, published.get(s, ""), f"{path}/assignments.csv row {r}") for s, c, r in
                zip(frame["student_id"].tolist(), frame["case_manager_id"].tolist(),
                    frame.attrs["rows"], strict=True)]
        own = providers  # the folder's providers are edits of --published's
        if district.plans_services:
            services, problems = read_plan_services(path)
            if problems:
                print(format_problems(problems), file=sys.stderr)
                return None
            if services is not None and providers is not None:
                service_rows = [(s, v, p, f"{path}/services.csv row {r}") for s, v, p, r in zip(
                    services["student_id"].tolist(), services["service"].tolist(),
                    services["provider_id"].tolist(), services.attrs["rows"], strict=True)]
            elif services is not None:
                note = (f"\nProvider edits in {path}/services.csv cannot be told apart: the "
                        "plan given with --published has no services.csv, so they were not "
                        "read.")
    else:
        # A service plan's Services sheet parsed in a thread meanwhile: calamine
        # parses without holding the interpreter (at 100,000 students the two
        # sheets took 3.4 s one after the other, 1.9 s together). The thread
        # ends with this block, before the solve forks. The plan folder beside
        # the workbook (its case managers and providers) is read meanwhile in
        # a second process, forked before the thread starts: it took 3.0 s
        # after the edit sheet's 1.7 s at 100,000 students.
        folder = Path(path).parent
        beside_work = (functools.partial(_plan_beside, folder)
                       if district.plans_services and (folder / SERVICES_FILE).is_file()
                       else None)
        with (computed_beside(beside_work, f"the plan in {folder}") if beside_work is not None
              else contextlib.nullcontext(None)) as beside, ThreadPoolExecutor(1) as pool:
            services_sheet = (pool.submit(read_services_sheet, path)
                              if district.plans_services else None)
            read = _workbook_edits(path, district, providers, services_sheet,
                                   None if beside is None or beside_work is None
                                   else _or_here(beside, beside_work))
        if read is None:
            return None
        rows, service_rows, own, providers, note = read
    return keep_edits(district, rows, service_rows, own), providers, note


def _workbook_edits(path: str, district: District,
                    providers: Mapping[tuple[str, str], str] | None,
                    services_sheet: Future[Any] | None,
                    beside: Callable[[], _PlanBeside] | None = None
                    ) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str, str]],
                               Mapping[tuple[str, str], str] | None,
                               Mapping[tuple[str, str], str] | None, str] | None:
    """(:func:`_planner_edits` of a workbook.) The case-manager edits, the
    provider edits, the workbook's own plan's providers, the providers to
    keep stable and a note; None when the edits cannot be read (printed).
    ``services_sheet``: the Services sheet being read (a service plan);
    ``beside``: the plan folder beside it, being read (:func:`_plan_beside`)."""
    service_rows: list[tuple[str, str, str, str]] = []
    note = ""
    frame, problems = read_edit_sheet(path)
    if frame is None:
        print(format_problems(problems), file=sys.stderr)
        return None
    if not frame.attrs["has_planned"]:
        print(f"{frame.attrs['sheet']}: the hidden column 'Plan's case manager (do not "
              "edit)' is gone, so the edits cannot be told apart; use the workbook as "
              "`caseload plan` wrote it.", file=sys.stderr)
        return None
    # Each edit named by sheet, row and column, as `check` names them.
    column = frame.attrs["columns"][CASE_MANAGER_HEADER]
    rows = [(s, c, p, f"{frame.attrs['sheet']} row {r}, column {column}")
            for s, c, p, r in zip(frame["student_id"].tolist(),
                                  frame["case_manager_id"].tolist(),
                                  frame["planned_case_manager_id"].tolist(),
                                  frame["row"].tolist(), strict=True)]
    own = None
    if district.plans_services:
        # The Services sheet is compared with the plan the workbook holds
        # (services.csv beside it), whatever --published gives for stability.
        own, own_note = _workbook_providers(path, {s: p for s, _c, p, _w in rows}, beside)
        if providers is None:
            providers, note = own, own_note
        assert services_sheet is not None  # (started when the district plans services)
        sheet, problems = services_sheet.result()
        if sheet is None and problems:
            print(format_problems(problems), file=sys.stderr)
            return None
        if sheet is not None and own is not None:
            where = f"{sheet.attrs['sheet']} row {{}}, column {sheet.attrs['column']}"
            service_rows = [(s, v, p, where.format(r)) for s, v, p, r in zip(
                sheet["student_id"].tolist(), sheet["service"].tolist(),
                sheet["provider_id"].tolist(), sheet["row"].tolist(), strict=True)]
        elif sheet is not None:
            note += ("\nProvider edits on its Services sheet cannot be told apart without "
                     "the plan it came from (its services.csv beside it), so they were "
                     "not read.")
    return rows, service_rows, own, providers, note


#: A plan folder's case managers (student -> educator) and providers
#: ((student, service) -> educator), None where its file cannot be read.
_PlanBeside = tuple[dict[str, str] | None, dict[tuple[str, str], str] | None]


def _plan_beside(folder: Path) -> _PlanBeside:
    """The case managers and providers of the plan folder ``folder`` (for
    :func:`_workbook_providers`; read in a second process meanwhile)."""
    frame, _ = read_plan_assignments(folder)
    services, problems = read_plan_services(folder)
    return (None if frame is None else case_managers_of(frame),
            None if services is None or problems else providers_of(services))


def _or_here(beside: Callable[[], _PlanBeside], work: Callable[[], _PlanBeside]
             ) -> Callable[[], _PlanBeside]:
    """``beside()``, or ``work()`` here when the second process failed."""
    def get() -> _PlanBeside:
        try:
            return beside()
        except (SideProcessError, OSError):
            return work()
    return get


def _workbook_providers(path: str, planned: Mapping[str, str],
                        beside: Callable[[], _PlanBeside] | None = None
                        ) -> tuple[dict[tuple[str, str], str] | None, str]:
    """A service plan's providers for ``plan --keep plan.xlsx``, so that the
    re-plan keeps them as it keeps the case managers the planner left alone:
    the services.csv beside the workbook, when that folder's assignments.csv
    is the plan the workbook holds (every case manager as in its hidden
    column). ``beside``: that folder's plan, being read already. Returns
    them (or None) and a line for the planner."""
    folder = Path(path).parent if Path(path).is_file() else Path(path)
    managers = providers = None
    if (folder / SERVICES_FILE).is_file():
        managers, providers = beside() if beside is not None else _plan_beside(folder)
    if managers is not None and providers is not None and managers == dict(planned):
        return (providers, f"\nService providers kept where {folder}/services.csv has them "
                           "(the plan this workbook came from), as far as the edits allow.")
    return None, ("\nService providers were planned afresh: the plan this workbook came from "
                  "was not found beside it. Give its folder with --published PLAN to keep "
                  "them.")


def _report_kept(kept: KeptEdits, result: Result,
                 providers: Mapping[tuple[str, str], str], unmet: Sequence[RejectedEdit],
                 quiet: bool) -> int:
    """Which edits were kept, which break a rule; exit 1 when any was not kept."""
    assignments = result.assignments
    now = dict(zip(assignments["student_id"].tolist(), assignments["case_manager_id"].tolist(),
                   strict=True))
    edited = {e.student_id for e in kept.edits if not e.service}
    moved = sum(1 for s, cm in now.items()
                if s not in edited and s in kept.published and kept.published[s] != cm)
    out = sys.stderr if quiet else sys.stdout
    # Case managers chosen or cleared; providers (a service plan's Services
    # sheet) counted apart.
    cleared = sum(1 for e in kept.kept if not e.chosen)
    n_providers = sum(1 for e in kept.edits if e.service)
    whom = "" if n_providers else " case manager(s)"
    how = (" as pins" if not cleared else
           f" ({len(kept.kept) - cleared}{whom} chosen, {cleared} cleared)")
    # In a service plan, the other services that changed provider against the
    # edited plan (to make room for an edit; the edits themselves not counted).
    edited_services = {(e.student_id, e.service) for e in kept.edits if e.service}
    sv = result.services
    others = sum(1 for s, v, p in zip(sv["student_id"].tolist(), sv["service"].tolist(),
                                      sv["provider_id"].tolist(), strict=True)
                 if (s, v) not in edited_services and providers.get((s, v), "")
                 and providers[(s, v)] != p) if len(sv) else 0
    print(f"\nYour edits: {len(kept.edits)} found"
          + (f" ({n_providers} of providers)" if n_providers else "")
          + f", {len(kept.kept)} kept{how}; "
          f"{moved} other student(s) moved to make room"
          + (f", and {others} other service(s) given by another provider (services.csv)"
             if others else "") + "; every edit and its outcome in edits.csv.", file=out)
    if kept.rejected:
        print(f"{len(kept.rejected)} edit(s) break a rule and were NOT kept (those students "
              "were planned like the rest):", file=sys.stderr)
        for r in kept.rejected:
            print(f"  {r}", file=sys.stderr)
    if unmet:
        print(f"{len(unmet)} provider edit(s) kept as pins could not be met (services.csv "
              "says why):", file=sys.stderr)
        for r in unmet:
            print(f"  {r}", file=sys.stderr)
    return 1 if kept.rejected or unmet else 0


def _named(v: Violation, district: District) -> str:
    """A violation with the people's and the school's names beside their ids."""
    s = district.students.get(v.student_id)
    e = district.educators.get(v.educator_id)
    if s is None and e is None:
        return str(v)
    student = (f"{s.name} ({s.student_id})" if s is not None and s.name else v.student_id)
    where = f" at {district.schools[s.school_id].name}" if s is not None else ""
    educator = f"{e.name} ({e.educator_id})" if e is not None else v.educator_id
    who = " / ".join(x for x in (student, educator) if x)
    return f"{v.kind}: {who}{where} — {v.detail}"


def _print_violations(violations: list, what: str, limit: int | None,
                      district: District | None = None) -> None:
    if not violations:
        print(f"{what}: no violations.")
        return

    kinds = Counter(v.kind for v in violations)
    print(f"{what}: {len(violations)} violation(s) — "
          + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    shown = violations if limit is None else violations[:limit]
    for v in shown:
        print(f"  {_named(v, district) if district is not None else v}")
    if len(shown) < len(violations):
        print(f"  … and {len(violations) - len(shown)} more (use --all)")


def _cmd_check(args: argparse.Namespace) -> int:

    district = _load(args.district, False)
    if district is None:
        return EXIT_BAD_INPUT
    workbook = Path(args.plan).is_file()
    read = read_edit_sheet if workbook else read_plan_assignments
    # A service plan's Services sheet parsed meanwhile, as `plan --keep` does.
    with ThreadPoolExecutor(1) as pool:
        services_sheet = (pool.submit(read_services_sheet, args.plan)
                          if workbook and district.plans_services else None)
        frame, problems = read(args.plan)
        services_read = None if services_sheet is None else services_sheet.result()
    if frame is None:
        print(format_problems(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    violations = check_plan(district, frame)
    provider_findings: list[Violation] = []
    sheet = None
    if not workbook:  # a plan folder of a service plan: its providers too
        services, problems = read_plan_services(args.plan)
        if problems:
            print(format_problems(problems), file=sys.stderr)
            return EXIT_BAD_INPUT
        if services is not None and "capacity" in frame.columns:
            # Its caps count the students served too: that check replaces the
            # case-manager-only one (two disagreeing counts otherwise).
            violations = [v for v in violations if v.kind != "cap exceeded"]
            violations += check_service_plan(district, services, frame)
    elif services_read is not None:  # the workbook's Services sheet, editable too
        sheet, problems = services_read
        if problems:
            print(format_problems(problems), file=sys.stderr)
            return EXIT_BAD_INPUT
        if sheet is not None:
            # Minutes from the district's files, not the sheet's editable
            # column; a service plan's caps count the students served as well,
            # so that check replaces the case-manager-only one.
            minutes = {(n.student_id, n.service): n.minutes for n in district.service_needs}
            sheet = sheet.assign(minutes=[minutes.get(k) for k in zip(
                sheet["student_id"], sheet["service"], strict=True)])
            provider_findings = check_service_plan(district, sheet, frame,
                                                   check_capacity=False)
            violations = [v for v in violations if v.kind != "cap exceeded"]
    shown: list[Violation | _Located] = list(violations)
    if workbook:  # each finding where the planner will look for it: sheet, row, column
        shown = [_Located(v, sheet_location(frame, v.student_id, v.educator_id), district)
                 for v in violations]
        shown += [_Located(v, services_location(sheet, v.student_id, v.educator_id), district)
                  for v in provider_findings if sheet is not None]
        violations += provider_findings
    _print_violations(shown, f"Plan {args.plan}", None if args.all else 50,
                      None if workbook else district)
    return 1 if violations else 0


class _Located:
    """A violation printed after its place in the workbook."""

    def __init__(self, violation: Violation, where: str, district: District) -> None:
        self.kind, self.text = violation.kind, f"{where}: {_named(violation, district)}"

    def __str__(self) -> str:
        return self.text


def _cmd_audit(args: argparse.Namespace) -> int:

    district = _load(args.district, False)
    if district is None:
        return EXIT_BAD_INPUT
    violations = audit_current(district)
    with_cm = sum(1 for s in district.students.values() if s.current_case_manager)
    what = f"Today's case managers ({with_cm:,} assignments)"
    if district.service_rows is not None:
        # (Its providers are audited too: both counts, or the total misleads.)
        with_provider = sum(1 for r in district.service_rows if r.current_provider)
        what = (f"Today's case managers and providers ({with_cm:,} case-manager and "
                f"{with_provider:,} provider assignments)")
    _print_violations(violations, what, None if args.all else 50, district)
    return 1 if violations else 0


def _read_plan(folder: str) -> PlanTables | None:

    try:
        return read_plan(folder)
    except PlanFolderError as exc:
        print(f"The plan at {folder} has problems; nothing was done.", file=sys.stderr)
        print(format_problems(exc.problems), file=sys.stderr)
        return None


def _cmd_export(args: argparse.Namespace) -> int:

    if not (args.xlsx or args.transfers):
        print("Nothing to export: give --xlsx FILE and/or --transfers FOLDER.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.transfers and not args.effective:
        print("--transfers needs --effective YYYY-MM-DD (the date the change takes effect).",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.xlsx:
        check_file_target(args.xlsx, inputs=[args.plan])
    tables = _read_plan(args.plan)
    if tables is None:
        return EXIT_BAD_INPUT
    # Transfer files hold ids only; the workbook redacts its own name columns.
    if args.xlsx:
        t0 = time.perf_counter()
        out = write_workbook(tables, args.xlsx, redact=args.redact)
        print(f"Workbook written to {out} ({time.perf_counter() - t0:.2f} s)")
    if args.transfers:
        out = write_transfers(tables, args.transfers, args.effective.isoformat(),
                              args.per_case_manager, inputs=[args.plan], force=args.force)
        print(f"Transfer files written to {out}/")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:

    check_file_target(args.html, inputs=[args.plan])
    tables = _read_plan(args.plan)
    if tables is None:
        return EXIT_BAD_INPUT
    out = write_report(tables, args.html, redact=args.redact)
    print(f"Report written to {out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:

    for target in (args.xlsx, args.html):
        if target:
            check_file_target(target, inputs=[args.plan_a, args.plan_b])
    a, b = _read_plan(args.plan_a), _read_plan(args.plan_b)
    if a is None or b is None:
        return EXIT_BAD_INPUT
    c = compare(a, b, args.plan_a, args.plan_b)
    if args.json:
        print(json.dumps({"headline": c.headline.to_dict(orient="records"),
                          "moved": c.moved.to_dict(orient="records"),
                          "rosters": c.rosters.to_dict(orient="records"),
                          "loads": c.loads.to_dict(orient="records"),
                          "hiring": c.hiring.to_dict(orient="records"),
                          "services": c.services.to_dict(orient="records")}, indent=2,
                         default=str))
    else:
        print(c.summary(limit=None if args.all else 8))
    if args.xlsx:
        print(f"Comparison workbook written to {write_comparison_workbook(c, args.xlsx)}")
    if args.html:
        print(f"Comparison page written to {write_comparison_html(c, args.html)}")
    return 0


def _slugs(paths: Sequence[str]) -> list[str]:
    """A folder name per scenario file: its name without .toml, made unique."""
    out: list[str] = []
    for p in paths:
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in Path(p).stem) \
            or "scenario"
        name, k = stem, 2
        while name in out:
            name, k = f"{stem}-{k}", k + 1
        out.append(name)
    return out


def _cmd_whatif(args: argparse.Namespace) -> int:

    inputs = [args.district, args.plan, *args.scenarios]
    check_target(args.out, inputs=inputs, force=args.force)  # before any solve
    progress = _Progress(args.quiet)
    specs, problems = [], []
    for path in args.scenarios:
        try:
            specs.append(read_scenario_file(path))
        except ScenarioFileError as exc:
            problems.extend(exc.problems)
    if problems:
        print("The scenario file(s) have problems; nothing was done.", file=sys.stderr)
        print(format_problems(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    progress(f"reading and validating {args.district}")
    district = _load(args.district, False)
    if district is None:
        return EXIT_BAD_INPUT
    progress(f"reading the published plan {args.plan}")
    base = _read_plan(args.plan)
    if base is None:
        return EXIT_BAD_INPUT
    # A published plan made with --keep: its edits stay the planner's choices.
    edits, problems = read_plan_edits(args.plan)
    if problems:
        print(format_problems(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    scenarios = []
    for spec in specs:
        try:
            scenarios.append(scenario_from_spec(spec, district))
        except DistrictError as exc:
            problems.extend(exc.problems)
    if problems:
        print("The scenario file(s) name things the district does not have; nothing was done.",
              file=sys.stderr)
        print(format_problems(problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    made = source_date()
    runs = []
    for spec, scenario in zip(specs, scenarios, strict=True):
        progress(f"what-if '{spec.name}': applying {len(scenario.changes)} change(s), "
                 "re-planning against the published plan")
        try:
            runs.append(what_if(district, scenario, base, description=spec.description,
                                params=SolveParams(time_limit=args.time_limit,
                                                   progress=progress),
                                published_name=f"published plan ({args.plan})",
                                made_at=made.isoformat(timespec="seconds") if made else None,
                                edits=edits))
        except ValueError as exc:
            print(f"Cannot plan '{spec.name}': {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    table = side_by_side([w.comparison for w in runs]) if len(runs) > 1 else None

    def plan_files(w: WhatIf) -> dict:
        # The published plan's edits as this what-if applied them (its own
        # edits.csv, so that a plan made from it keeps them too).
        kept_edits = {} if w.kept_edits is None else {"edits.csv": edits_table(
            w.kept_edits, unmet_service_edits(w.kept_edits, w.result.services)
            if "services" in w.result.figures else [])}
        return dict(extra_tables={"warnings.csv": warning_table(list(w.district.warnings)),
                                  **w.comparison.tables(), **kept_edits},
                    extra_files={"comparison.xlsx": lambda p, c=w.comparison:
                                 write_comparison_workbook(c, p),
                                 "comparison.html": lambda p, w=w: write_comparison_html(
                                     w.comparison, p, description=w.description)})

    progress(f"writing {args.out}")
    if len(runs) == 1:
        out = write_plan(runs[0].result, args.out, xlsx=not args.no_xlsx, inputs=inputs,
                         force=args.force, **plan_files(runs[0]))
        where = [out]
    else:
        with atomic_folder(args.out, kind="what-if scenarios", inputs=inputs,
                           force=args.force) as tmp:
            where = []
            for slug, w in zip(_slugs(args.scenarios), runs, strict=True):
                write_plan(w.result, tmp / slug, xlsx=not args.no_xlsx, **plan_files(w))
                where.append(Path(args.out) / slug)
            assert table is not None
            write_table(table, tmp / "scenarios.csv")
            write_comparison_html(runs[0].comparison, tmp / "scenarios.html",
                                  scenarios=table)
        out = Path(args.out)
    for w, folder in zip(runs, where, strict=True):
        print(f"What-if: {w.scenario.name}" + (f" — {w.description}" if w.description else ""))
        print("  Changes: " + "; ".join(ch.describe() for ch in w.scenario.changes))
        if edits is not None and len(edits):
            n = int((edits["outcome"] != "not kept").sum()) - len(w.edits_not_kept)
            print(f"  The published plan's edits ({args.plan}/edits.csv): {n} kept as the "
                  f"planner's choices, {len(w.edits_not_kept)} no longer hold here"
                  + (":" if w.edits_not_kept else "."))
            for r in w.edits_not_kept:
                print(f"    {r}")
        print(w.comparison.summary(limit=None if args.all else 8))
        print(f"\nNew plan and comparison written to {folder}/ (comparison.html, "
              "comparison.xlsx, comparison_*.csv)\n")
    if table is not None:
        print("The scenarios side by side:")
        print(format_table(table.drop(columns=["metric"])))
        print(f"\nSide-by-side table written to {out}/scenarios.csv and scenarios.html")
    return 0


def _cmd_rollover(args: argparse.Namespace) -> int:

    raw = read_district_files(args.district)
    district, problems = validate_tables(raw)
    extra = {}
    for key, path, needed in (("new_students", args.new_students, ("student_id", "school_id",
                                                                    "grade")),
                              ("staff_changes", args.staff_changes, ("action", "educator_id"))):
        if path:
            frame, more = read_table(path, needed)
            problems.extend(more)
            extra[key] = frame
    plan_services = None
    if args.plan:
        # A service plan rolled forward: its providers become next year's
        # current_provider (docs/next-year.md). A plan without services.csv
        # (case managers only) carries no providers.
        plan_services, more = read_plan_services(args.plan)
        problems.extend(more)
        if plan_services is not None:
            extra["plan_services"] = plan_services
    if district is None or any(p.severity == "error" for p in problems):
        print(format_problems(problems), file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        nxt = roll_over(raw, district, year_start=args.year_start,
                        new_students_label=Path(args.new_students or "new").name,
                        staff_changes_label=Path(args.staff_changes or "staff").name, **extra)
    except DistrictError as exc:
        print(format_problems(exc.problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    out = write_rollover(nxt, args.out, force=args.force,
                         inputs=[args.district, args.plan, args.new_students,
                                 args.staff_changes])
    print(nxt.summary())
    if args.plan:
        print(f"\nService providers from {Path(args.plan) / 'services.csv'}: " + (
            f"next year's services.csv names its provider as current_provider for "
            f"{nxt.counts()['providers from the plan']:,} row(s) of continuing students"
            if plan_services is not None else
            "none (the plan has no services.csv: it chose case managers only)"))
    warnings = [p for p in nxt.issues if p.severity == "warning"]
    if warnings:
        print("\nNext year, check: " + format_warnings_grouped(warnings))
    errors = nxt.errors
    if errors:
        print(f"\nNext year's district at {out} has problems to fix before planning:",
              file=sys.stderr)
        print(format_problems(errors), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"\nNext year's district written to {out}/ (report: rollover_report.csv)")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:

    progress = _Progress(False)  # (100,000 students take several seconds)
    progress(f"generating {args.students:,} synthetic students"
             + (" with services" if args.services else ""))
    gen = generate_district(args.students, seed=args.seed, name=args.name,
                            services=args.services)
    progress(f"writing {args.out}")
    out = write_district(gen, args.out, force=args.force)
    counts = ", ".join(f"{len(v):,} {k}" for k, v in gen.tables.items())
    print(f"Wrote {out}: {counts}.")
    return 0


def _iso_date(text: str) -> dt.date:
    """An argparse type: a date as YYYY-MM-DD (a bad one exits 2 with the value)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected a date as YYYY-MM-DD") from None


_FORCE_HELP = ("replace the output folder even if the tool did not write it (never the "
               "input, the working folder or a file)")


def _number(low: float, high: float, *, above: bool = False, whole: bool = False,
            why: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (or (low, high] with
    ``above``); never nan or inf. A bad one exits 2 naming the value."""

    def parse(text: str) -> float | int:
        try:
            x = int(text) if whole else float(text)
        except ValueError:
            x = math.nan
        if not (math.isfinite(x) and (x > low if above else x >= low) and x <= high):
            span = f"above {low:,g} and at most {high:,}" if above else \
                f"from {low:,g} to {high:,}"
            raise argparse.ArgumentTypeError(
                f"'{text}': expected a {'whole ' if whole else ''}number {span}{why}")
        return x

    return parse


def _version() -> str:
    """The installed package's version (``pyproject.toml``)."""
    try:
        return importlib.metadata.version("caseload-optimizer")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown (not installed)"


def _unknown_command(parser: argparse.ArgumentParser, word: str) -> bool:
    """Say so (with the nearest commands) when ``word`` is not a command."""
    if word.startswith("-"):
        return False
    commands = next(a.choices for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction))
    if word in commands:
        return False
    print(f"caseload: '{word}' is not a command.{did_you_mean(word, commands)}\n"
          "Run `caseload --help` for the list of commands.", file=sys.stderr)
    return True


def build_parser() -> argparse.ArgumentParser:
    """The ``caseload`` argument parser: one sub-command per public function.

    Examples
    --------
    >>> build_parser().parse_args(["validate", "data/sample"]).district
    'data/sample'
    """
    p = argparse.ArgumentParser(
        prog="caseload",
        description="Plan who case-manages each student with an IEP (California rules).",
        epilog="Run `caseload COMMAND --help` for a command's options. Exit codes: 0 fine, "
               "1 a plan or today's assignments break a rule, 2 bad input.")
    p.add_argument("--version", action="version", version=f"caseload {_version()}")
    sub = p.add_subparsers(dest="command", title="commands", metavar="COMMAND")

    v = sub.add_parser("validate", help="check a district's files; list every problem")
    v.add_argument("district", help="district folder or .xlsx workbook")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--all", action="store_true",
                   help="list every problem (errors beyond the first 50; every warning "
                        "rather than one example per kind)")
    v.set_defaults(func=_cmd_validate)

    g = sub.add_parser("graph", help="who may case-manage whom, and why not")
    g.add_argument("district", help="district folder or .xlsx workbook")
    g.add_argument("--json", action="store_true", help="machine-readable output")
    g.add_argument("--limit", type=_number(0, 10**9, whole=True), default=20,
                   help="rows to show per list (default 20)")
    g.add_argument("--edges", metavar="CSV", help="also write the edge table to this CSV file")
    g.set_defaults(func=_cmd_graph)

    e = sub.add_parser("explain", help="who may case-manage one student, best options first")
    e.add_argument("district", help="district folder or .xlsx workbook")
    e.add_argument("student", help="student_id")
    e.add_argument("educator", nargs="?", help="educator_id: every rule for this one educator")
    e.add_argument("--plan", metavar="PLAN",
                   help="also show this plan's case manager and why (and, for a service "
                        "plan, who gives each service or why no one does)")
    e.add_argument("--all", action="store_true",
                   help="every rule's verdict for every educator at the school")
    e.set_defaults(func=_cmd_explain)

    pl = sub.add_parser("plan", help="plan next year's case managers")
    pl.add_argument("district", help="district folder or .xlsx workbook")
    pl.add_argument("--out", required=True, help="plan folder to write")
    pl.add_argument("--balance", choices=["convex", "minmax"], default="convex",
                    help="convex (default): spread work evenly; minmax: lowest highest "
                         "load ratio first")
    pl.add_argument("--time-limit", type=_number(0, 86_400, above=True, why=" (seconds)"),
                    default=30.0,
                    help="seconds for the solve, wall clock: the service solver "
                         "(services.csv) and weighted students (default 30)")
    pl.add_argument("--published", "--baseline", dest="published", metavar="PLAN",
                    help="keep this published plan as stable as possible (stable "
                         "re-planning; --baseline is the former name)")
    pl.add_argument("--keep", metavar="PLAN.xlsx", help="keep every change made to the "
                    "case managers in this plan workbook (or a plan folder, with --published "
                    "for the original) as a pin and re-plan the rest with as few moves as "
                    "possible; edits that break a rule are listed (exit 1)")
    pl.add_argument("--change-weight", type=_number(0, 1_000_000), default=None,
                    help="points per student moved away from the published plan (default 50)")
    pl.add_argument("--json", action="store_true", help="print summary.json instead")
    pl.add_argument("--no-xlsx", action="store_true", help="do not write plan.xlsx")
    pl.add_argument("--redact", action="store_true",
                    help="educator names replaced by their ids in every file")
    pl.add_argument("--quiet", action="store_true", help="no progress lines")
    pl.add_argument("--all", action="store_true",
                    help="print every warning about the files, not one example per kind")
    pl.add_argument("--force", action="store_true", help=_FORCE_HELP)
    pl.set_defaults(func=_cmd_plan)

    ch = sub.add_parser("check", help="check a plan against every rule (exit 1 if violated)")
    ch.add_argument("district", help="district folder or .xlsx workbook")
    ch.add_argument("plan", help="plan folder (with assignments.csv), or a plan workbook "
                    "(plan.xlsx, its 'Edit case managers' sheet)")
    ch.add_argument("--all", action="store_true", help="list every violation")
    ch.set_defaults(func=_cmd_check)

    au = sub.add_parser("audit", help="check today's case managers against every rule")
    au.add_argument("district", help="district folder or .xlsx workbook")
    au.add_argument("--all", action="store_true", help="list every violation")
    au.set_defaults(func=_cmd_audit)

    ex = sub.add_parser("export", help="workbook and IEP-system transfer files from a plan")
    ex.add_argument("plan", help="plan folder")
    ex.add_argument("--xlsx", metavar="FILE", help="write the plan workbook here")
    ex.add_argument("--transfers", metavar="FOLDER", help="write transfer files here")
    ex.add_argument("--effective", metavar="YYYY-MM-DD", type=_iso_date,
                    help="effective date of the changes")
    ex.add_argument("--per-case-manager", action="store_true",
                    help="also one transfer file per receiving case manager")
    ex.add_argument("--redact", action="store_true", help="names replaced by ids")
    ex.add_argument("--force", action="store_true", help=_FORCE_HELP)
    ex.set_defaults(func=_cmd_export)

    rp = sub.add_parser("report", help="one-page HTML report of a plan")
    rp.add_argument("plan", help="plan folder")
    rp.add_argument("--html", required=True, metavar="FILE", help="report file to write")
    rp.add_argument("--redact", action="store_true", help="names replaced by ids")
    rp.set_defaults(func=_cmd_report)

    cp = sub.add_parser("compare", help="how plan B differs from plan A")
    cp.add_argument("plan_a", help="plan folder A (e.g. the base plan)")
    cp.add_argument("plan_b", help="plan folder B (e.g. a what-if)")
    cp.add_argument("--json", action="store_true", help="machine-readable output")
    cp.add_argument("--all", action="store_true", help="every student and roster that changes")
    cp.add_argument("--xlsx", metavar="FILE", help="also write the comparison as a workbook")
    cp.add_argument("--html", metavar="FILE", help="also write the comparison as a web page")
    cp.set_defaults(func=_cmd_compare)

    wi = sub.add_parser("whatif", help="apply scenario file(s), re-plan against a plan, "
                                       "compare")
    wi.add_argument("district", help="district folder or .xlsx workbook")
    wi.add_argument("scenarios", nargs="+", metavar="SCENARIO.toml",
                    help="scenario file(s) (docs/next-year.md); several give a side-by-side "
                         "table")
    wi.add_argument("--plan", required=True, metavar="PLAN",
                    help="the published plan to re-plan against (moves only who must move)")
    wi.add_argument("--out", required=True, help="folder to write: the new plan and the "
                    "comparison (one sub-folder per scenario when several)")
    wi.add_argument("--time-limit", type=_number(0, 86_400, above=True, why=" (seconds)"),
                    default=30.0, help="seconds for each solve, wall clock: the service "
                                       "solver (services.csv) and weighted students")
    wi.add_argument("--all", action="store_true", help="print every change, not the first 8")
    wi.add_argument("--no-xlsx", action="store_true", help="do not write plan.xlsx")
    wi.add_argument("--quiet", action="store_true", help="no progress lines")
    wi.add_argument("--force", action="store_true", help=_FORCE_HELP)
    wi.set_defaults(func=_cmd_whatif)

    ro = sub.add_parser("rollover", help="next year's district: grades, feeders, staff changes")
    ro.add_argument("district", help="this year's district folder or workbook")
    ro.add_argument("plan", nargs="?", default=None,
                    help="this year's plan folder (optional): when it has services.csv, "
                         "its providers become next year's current_provider in services.csv")
    ro.add_argument("--out", required=True, help="folder for next year's district")
    ro.add_argument("--new-students", metavar="CSV", help="incoming students (students.csv "
                    "columns)")
    ro.add_argument("--staff-changes", metavar="CSV", help="departures, hires, FTE and school "
                    "changes (docs/next-year.md)")
    ro.add_argument("--year-start", metavar="YYYY-MM-DD", type=_iso_date,
                    help="first day of next school year, for ages (default: next 1 September)")
    ro.add_argument("--force", action="store_true", help=_FORCE_HELP)
    ro.set_defaults(func=_cmd_rollover)

    n = sub.add_parser("generate", help="write a synthetic district (no real data)")
    n.add_argument("out", help="folder to write")
    n.add_argument("--students", default=1900,
                   type=_number(50, 10**7, whole=True, why=" (a district needs a few schools)"),
                   help="students with IEPs")
    n.add_argument("--seed", type=_number(0, 2**32 - 1, whole=True), default=0,
                   help="random seed, 0 to 4294967295")
    n.add_argument("--name", default=None, help="district name")
    n.add_argument("--services", action="store_true",
                   help="also write services.csv (IEP minutes and this year's providers), so "
                        "the district plans who serves each service as well as the case "
                        "manager (docs/generator.md); the other files are the same either way")
    n.add_argument("--force", action="store_true", help=_FORCE_HELP)
    n.set_defaults(func=_cmd_generate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``caseload`` command; return its exit code (0, 1 or 2), never raise.

    Examples
    --------
    >>> main(["validate", "data/sample"])      # doctest: +SKIP
    0
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # `caseload` alone: the commands, not an error
        parser.print_help()
        return 0
    if _unknown_command(parser, argv[0]):
        return EXIT_BAD_INPUT
    try:  # argparse reports bad arguments itself and exits 2: return that code instead
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command is None:  # options but no command, e.g. `caseload --json`
        parser.print_usage(sys.stderr)
        print("caseload: give a command (see `caseload --help`)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        # Values from a planner's files are echoed with control characters escaped.
        with cleanup_on_sigterm(), contextlib.redirect_stdout(TerminalText(sys.stdout)), \
                contextlib.redirect_stderr(TerminalText(sys.stderr)):
            return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; unfinished output removed
        print("Interrupted; unfinished output was removed.", file=sys.stderr)
        return 130
    except Terminated:
        print("Stopped (SIGTERM); unfinished output was removed.", file=sys.stderr)
        return 143
    except OutputError as exc:
        print(f"Nothing written: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SideProcessError as exc:  # the workbook's process failed: a bug, or killed
        print(f"Nothing written: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `caseload graph ... | head` is fine
        return 0
    except DistrictError as exc:  # e.g. a district made by a scenario or rollover
        print(format_problems(exc.problems), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a folder we may not write, a full disk: say so plainly
        print(f"Cannot read or write {exc.filename or ''}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
