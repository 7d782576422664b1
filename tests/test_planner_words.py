"""Issue 11 (part A): the command line as a planner meets it — help, version,
"did you mean", `explain` answering first, grouped warnings, names and plain words."""

from __future__ import annotations

import json
import subprocess
import sys

from optimizer.cli import main
from optimizer.district.model import InputIssue
from optimizer.outputs.text import did_you_mean, format_warnings_grouped, shortened
from tests.conftest import ROOT, SAMPLE, educator, student

# -- item 9: small things ----------------------------------------------------

def test_caseload_alone_lists_every_command_with_a_line(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command, words in [("validate", "check a district's files"), ("plan", "plan next"),
                           ("explain", "who may case-manage one student"),
                           ("compare", "how plan B differs"), ("whatif", "scenario file")]:
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(command + " ")),
                    None)
        assert line is not None and words in line, (command, out)


def test_help_lists_the_commands_too():
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "--help"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0
    assert "commands:" in r.stdout and "rollover" in r.stdout and "whatif" in r.stdout


def test_version_is_the_packages():
    import importlib.metadata
    r = subprocess.run([sys.executable, "-m", "optimizer.cli", "--version"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0
    assert r.stdout.strip() == f"caseload {importlib.metadata.version('caseload-optimizer')}"


def test_a_mistyped_command_gets_did_you_mean(capsys):
    assert main(["pln", str(SAMPLE)]) == 2
    err = capsys.readouterr().err
    assert "'pln' is not a command" in err and "Did you mean 'plan'" in err


def test_options_without_a_command_exit_2(capsys):
    assert main(["--json"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_an_id_in_the_wrong_case_gets_did_you_mean(capsys):
    assert main(["explain", str(SAMPLE), "s000042"]) == 2
    assert "No student 's000042' in" in (err := capsys.readouterr().err)
    assert "Did you mean 'S000042'?" in err
    assert main(["explain", str(SAMPLE), "S000042", "e00011"]) == 2
    assert "Did you mean 'E00011'?" in capsys.readouterr().err


def test_did_you_mean_is_quiet_when_nothing_is_near():
    assert did_you_mean("zzzz", ["S000001", "S000002"]) == ""
    assert did_you_mean("S00004", ["S000042", "X"]).startswith(" Did you mean 'S000042'")


def test_gitignore_covers_the_readme_output_folders():
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "plan/", "v2/", "moves/", "next-year/",
         "report.html", "edges.csv", "whatif/", "my-test-district/"],
        capture_output=True, text=True, cwd=ROOT).stdout.split()
    assert sorted(ignored) == sorted(["plan/", "v2/", "moves/", "next-year/", "report.html",
                                      "edges.csv", "whatif/", "my-test-district/"])


# -- item 3: explain answers first ------------------------------------------

def test_explain_answers_first_in_three_lines(make_district, capsys):
    folder = make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", name="Rosa Flores"),
                   educator("E2", "RSP", "ES-MMSN", name="Ivan Park"),
                   educator("E3", "RSP", "ES-MMSN", name="Ana Bell"),
                   educator("E4", "RSP", "ES-MMSN", name="Zoe Day"),
                   educator("E5", "SDC", "ES-ESN", name="Mei Singh"),
                   educator("P1", "PSY", "PPS", name="Omar Lee")],
        students=[student("S1", current_case_manager="E5")])
    assert main(["explain", str(folder), "S1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines.index(next(ln for ln in lines if ln.startswith("Best options")))
    # The answer: three options (best first, by name), then how many more.
    assert "4 best-practice match, 1 coordinator only" in lines[head]
    assert lines[head + 1].startswith("  1. Ana Bell (E3, RSP (Resource specialist)) — "
                                      "best-practice match: teaches the student's SAI")
    assert lines[head + 2].startswith("  2. Ivan Park (E2, RSP) — best-practice match")
    assert lines[head + 3].startswith("  3. Rosa Flores (E1, RSP) — best-practice match")
    assert lines[head + 4] == "  … and 2 more eligible (use --all)"
    # Then why not this year's case manager, in words.
    assert lines[head + 5].startswith("This year's case manager, Mei Singh (E5, SDC (Special "
                                      "day class teacher)), is coordinator only, not the best "
                                      "option: SDC teaches SDC")
    # A psychologist gets a word of why, not a bare NO.
    text = "\n".join(lines)
    assert "Omar Lee (P1, PSY (School psychologist)): School psychologist (PSY) is not a " \
           "case-manager role" in text
    assert "May coordinate" not in text  # the full rule table only with --all
    assert "Every rule's verdict for every educator: add --all." in text


def test_explain_all_marks_the_rules_that_do_not_apply(make_district, capsys):
    folder = make_district(educators=[educator("P1", "PSY", "PPS", name="Omar Lee")],
                           students=[student("S1", services="SAI;COUNSELING")])
    assert main(["explain", str(folder), "S1", "--all"]) == 0
    out = capsys.readouterr().out
    assert "No one at this school may case-manage this student." in out
    coordinate = next(ln for ln in out.splitlines() if "May coordinate" in ln)
    assert coordinate.startswith("   yes  May coordinate")
    assert coordinate.endswith("(does not apply: a rule above says no)")
    serves = next(ln for ln in out.splitlines() if "Serves the student's school" in ln)
    assert "does not apply" not in serves


def test_explain_spells_each_code_once(make_district, capsys):
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN"),
                                      educator("E2", "RSP", "ES-MMSN")],
                           students=[student("S1", primary="AUT")])
    assert main(["explain", str(folder), "S1", "--all"]) == 0
    out = capsys.readouterr().out
    assert out.count("AUT (Autism)") == 1
    assert out.count("RSP (Resource specialist)") == 1
    assert out.count("ES-MMSN (Education Specialist: Mild to Moderate Support Needs)") == 1


def test_explain_with_a_plan_shows_the_plans_case_manager(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["plan", str(ROOT / "tests/data/tiny"), "--out", str(out), "--quiet",
                 "--no-xlsx"]) == 0
    capsys.readouterr()
    assert main(["explain", str(ROOT / "tests/data/tiny"), "A", "--plan", str(out)]) == 0
    text = capsys.readouterr().out
    import csv
    row = next(r for r in csv.DictReader((out / "assignments.csv").open())
               if r["student_id"] == "A")
    names = {r["educator_id"]: r["name"]
             for r in csv.DictReader((ROOT / "tests/data/tiny/educators.csv").open())}
    assert f"The plan's case manager: {names[row['case_manager_id']]} " \
           f"({row['case_manager_id']}, " in text


# -- item 4: warnings grouped ------------------------------------------------

def _warning_district(make_district):
    # Three students whose current case manager has left (one kind, three rows)
    # and one RSP teacher without a teaching credential (another kind).
    return make_district(
        educators=[educator("E1", "RSP", "ES-MMSN"), educator("E2", "RSP", "")],
        students=[student("S1", current_case_manager="GONE1"),
                  student("S2", current_case_manager="GONE2"),
                  student("S3", current_case_manager="GONE3"), student("S4")])


def test_validate_groups_warnings_by_kind_with_one_example(make_district, capsys):
    folder = _warning_district(make_district)
    assert main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "4 warnings of 2 kinds:" in out
    assert "  3 × students.csv, column current_case_manager: an educator_id" in out
    assert "      e.g. students.csv row 2: 'GONE1'" in out
    assert "GONE2" not in out and "GONE3" not in out      # one example per kind
    assert "  1 × educators.csv row 3, column credentials: '' — a teaching credential" in out
    assert main(["validate", str(folder), "--all"]) == 0
    out = capsys.readouterr().out
    assert all(f"'GONE{i}'" in out for i in (1, 2, 3))


def test_plan_writes_every_warning_and_prints_them_grouped(make_district, tmp_path, capsys):
    import csv
    folder = _warning_district(make_district)
    out = tmp_path / "p"
    assert main(["plan", str(folder), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    printed = capsys.readouterr().out
    assert "About the district's files: 4 warnings of 2 kinds (every one in " in printed
    assert printed.count("GONE") == 1
    rows = list(csv.DictReader((out / "warnings.csv").open(encoding="utf-8")))
    assert [(r["file"], r["row"], r["value"]) for r in rows] == [
        ("educators.csv", "3", ""), ("students.csv", "2", "GONE1"),
        ("students.csv", "3", "GONE2"), ("students.csv", "4", "GONE3")]
    assert len({r["kind"] for r in rows}) == 2
    assert main(["plan", str(folder), "--out", str(out), "--quiet", "--no-xlsx",
                 "--all"]) == 0
    assert capsys.readouterr().out.count("GONE") == 3


def test_a_long_warning_is_cut_after_a_sentence_never_inside_a_word():
    # The derived support level's warning: a long first sentence, then examples
    # (the terminal cut it at 300 characters, inside "district.toml").
    first = ("a support_level from the IEP for 223 student(s) whose blank level was "
             "derived by a local default " + "and so on " * 20 + "set in district.toml "
             "[support_level_rule] and decides which teachers may teach them")
    issue = InputIssue("students.csv", None, "support_level", None,
                       first + ". Examples: S000002 (row 3) is taken as extensive" * 3,
                       "warning")
    line = format_warnings_grouped([issue]).splitlines()[1]
    assert line.endswith("may teach them. …")
    assert "district.toml [support_level_rule]" in line and "Examples" not in line
    # Without a sentence end in reach: cut at the last whole word.
    words = "word " * 100
    cut = shortened(words, 160)
    assert cut.endswith("word …") and len(cut) <= 160
    assert shortened("fits", 160) == "fits"
    # The grouped line of several warnings of one kind is cut the same way.
    many = [InputIssue("s.csv", r, "cm", "E9", "an educator_id " + "x" * 8 + words, "warning")
            for r in (2, 3)]
    grouped = format_warnings_grouped(many).splitlines()[1]
    assert grouped.endswith("word …") and " wor …" not in grouped


# -- item 2: plain words first; item 1: names --------------------------------

def _named_district(make_district):
    # Elm has room for one RSP student only: two are unplaced, and the hire
    # that would place them is at Elm Elementary.
    return make_district(
        educators=[educator("E1", "RSP", "ES-MMSN", name="Rosa Flores", max_caseload="1"),
                   educator("E2", "SLP", "SLP", name="Omar Lee", max_caseload="1")],
        students=[student("S1", name="Ana Diaz", current_case_manager="E1"),
                  student("S2", name="Ben Cho", current_case_manager="E2"),
                  student("S3"),
                  student("S4", services="SPEECH", sai_setting="", name="Cy Roe")])


def test_summary_opens_with_the_decision_in_words(make_district, tmp_path, capsys):
    folder = _named_district(make_district)
    assert main(["plan", str(folder), "--out", str(tmp_path / "p"), "--quiet",
                 "--no-xlsx"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    import json
    f = json.loads((tmp_path / "p" / "summary.json").read_text())
    placed, n = f["placed"], f["students"]
    assert lines[2] == (f"  {placed:,} of {n:,} students placed, {n - placed:,} unplaced; "
                        f"{f['best_practice_share']:.0%} with the best-practice case manager.")
    hiring = _csv(tmp_path / "p" / "hiring_needs.csv")
    top = hiring[0]
    assert lines[3] == (f"  To place them: hire {float(top['fte']):.1f} FTE {top['role']} with "
                        f"{top['credential']} at Elm Elementary for {top['students']} students.")
    # The engine and the objective come after, under their own heading.
    assert out.index("Technical (how the plan was proven):") > out.index("Case managers, by fit")
    assert out.index("min-cost flow") > out.index("Technical")
    for word in ("best-practice match", "acceptable", "coordinator only"):
        assert f"    {word} " in out


def test_short_reasons_and_the_full_trail(make_district, tmp_path, capsys):
    folder = _named_district(make_district)
    assert main(["plan", str(folder), "--out", str(tmp_path / "p"), "--quiet",
                 "--no-xlsx"]) == 0
    rows = {r["student_id"]: r for r in _csv(tmp_path / "p" / "assignments.csv")}
    placed = [r for r in rows.values() if r["case_manager_id"]]
    assert placed and all(0 < len(r["reason"]) <= 160 for r in placed)
    for r in placed:  # no ids or codes in the short reason; the full trail has them
        assert r["case_manager_id"] not in r["reason"] and "rank" not in r["reason"]
        assert r["case_manager_id"] in r["reason_detail"] or "ES-MMSN" in r["reason_detail"] \
            or "SLP" in r["reason_detail"]
    s4 = rows["S4"]
    assert s4["reason"].startswith("Best-practice match: serves them on the IEP")
    assert "authorized for SPEECH" in s4["reason_detail"]
    # Names where people read, ids in their own columns.
    assert (rows["S1"]["student_name"], rows["S3"]["student_name"]) == ("Ana Diaz", "")
    assert {r["school_name"] for r in rows.values()} == {"Elm Elementary"}
    assert all(r["case_manager_name"] == {"E1": "Rosa Flores", "E2": "Omar Lee"}[
        r["case_manager_id"]] for r in placed)


def test_redact_removes_student_names_and_educator_names(make_district, tmp_path, capsys):
    folder = _named_district(make_district)
    assert main(["plan", str(folder), "--out", str(tmp_path / "p"), "--quiet",
                 "--redact"]) == 0
    text = "".join(p.read_text(encoding="utf-8", errors="replace")
                   for p in (tmp_path / "p").glob("*.csv"))
    for name in ("Ana Diaz", "Ben Cho", "Cy Roe", "Rosa Flores", "Omar Lee"):
        assert name not in text
    import zipfile
    with zipfile.ZipFile(tmp_path / "p" / "plan.xlsx") as z:
        xml = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    assert "Ana Diaz" not in xml and "Rosa Flores" not in xml


def test_a_long_rule_trail_stays_in_reason_detail(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["plan", str(SAMPLE), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    rows = _csv(out / "assignments.csv")
    assert max(len(r["reason"]) for r in rows) <= 160
    assert max(len(r["reason_detail"]) for r in rows) > 160  # the trail is still there
    assert all(r["reason_detail"].startswith(("Pinned", r["reason"].split(":")[0]
                                              .replace("match", "case manager")
                                              .replace("Acceptable", "Teaches or serves")))
               for r in rows if r["case_manager_id"])


def test_graph_and_plan_agree_on_what_components_count(tmp_path, capsys):
    import json
    assert main(["graph", str(SAMPLE), "--json"]) == 0
    g = json.loads(capsys.readouterr().out)
    assert main(["plan", str(SAMPLE), "--out", str(tmp_path / "p"), "--quiet",
                 "--no-xlsx"]) == 0
    out = capsys.readouterr().out
    f = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert g["components_with_students"] == f["components"]
    assert g["components"] > f["components"]  # lone educators are their own groups
    assert f"solved as {f['components']:,} independent group(s)" in out
    assert main(["graph", str(SAMPLE)]) == 0
    assert f"of them with students     {f['components']:>8,}" in capsys.readouterr().out


def test_the_plan_date_is_shown_only_when_stamped(make_district, tmp_path, capsys,
                                                 monkeypatch):
    folder = _named_district(make_district)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1788220800")  # 2026-09-01
    assert main(["plan", str(folder), "--out", str(tmp_path / "p"), "--quiet",
                 "--no-xlsx"]) == 0
    assert capsys.readouterr().out.startswith(
        f"Plan for {folder.name} — made 2026-09-01T00:00:00+00:00")
    assert main(["report", str(tmp_path / "p"), "--html", str(tmp_path / "r.html")]) == 0
    assert "Plan made 2026-09-01" in (tmp_path / "r.html").read_text(encoding="utf-8")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert main(["plan", str(folder), "--out", str(tmp_path / "q"), "--quiet",
                 "--no-xlsx"]) == 0
    assert " — made " not in capsys.readouterr().out.splitlines()[0]
    assert main(["report", str(tmp_path / "q"), "--html", str(tmp_path / "s.html")]) == 0
    assert "Plan date not recorded" in (tmp_path / "s.html").read_text(encoding="utf-8")


def test_audit_names_the_people_and_the_school(make_district, capsys):
    folder = make_district(educators=[educator("E1", "PSY", "PPS", name="Mei Singh")],
                           students=[student("S1", name="Ana Diaz", current_case_manager="E1")])
    main(["audit", str(folder)])
    out = capsys.readouterr().out
    assert "Ana Diaz (S1) / Mei Singh (E1) at Elm Elementary — " in out


def _csv(path):
    import csv
    return list(csv.DictReader(path.open(encoding="utf-8")))


# -- item 7: rollover warnings -----------------------------------------------

def test_rollover_warns_of_empty_schools_idle_educators_and_students_without_options(
        make_district, tmp_path, capsys):
    schools = [{"school_id": "PRE", "name": "Oak Preschool", "low_grade": "PK",
                "high_grade": "PK", "feeds_into": "ELM"},
               {"school_id": "ELM", "name": "Elm Elementary", "low_grade": "K",
                "high_grade": "5", "feeds_into": "MID"},
               {"school_id": "MID", "name": "Pine Middle", "low_grade": "6",
                "high_grade": "8"}]
    folder = make_district(
        schools=schools,
        educators=[educator("P1", "RSP", "ES-ECSE", schools="PRE", name="Ida Moss"),
                   educator("E1", "RSP", "ES-MMSN", schools="ELM", name="Rosa Flores"),
                   educator("Y1", "PSY", "PPS", schools="PRE", name="Omar Lee")],
        students=[student("S1", grade="PK", school="PRE", birth_date="2021-03-01"),
                  student("S2", grade="5", school="ELM"),
                  student("S3", grade="3", school="ELM")])
    out = tmp_path / "next"
    assert main(["rollover", str(folder), "--out", str(out),
                 "--year-start", "2027-09-01"]) == 0
    printed = capsys.readouterr().out
    moved = {r["student_id"]: r["school_id"] for r in _csv(out / "students.csv")}
    assert moved == {"S1": "ELM", "S2": "MID", "S3": "ELM"}
    assert "schools.csv, column school_id: 'PRE' — students next year: Oak Preschool has " \
           "none after the rollover" in printed
    assert "a student to case-manage next year: Ida Moss (RSP) may case-manage none" in printed
    assert "Omar Lee" not in printed  # a psychologist case-manages no one in any year
    assert "Rosa Flores" not in printed
    assert "students.csv, column student_id: 'S2' — an eligible case manager next year: " \
           "no one at MID may case-manage this student" in printed


# -- README: the quick tour uses names and the what-if command ---------------

def test_readme_tour_runs_and_its_printed_plan_is_true(tmp_path, capsys):
    import re
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "caseload whatif data/sample hire.toml --plan plan --out whatif" in readme
    toml = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "hire.toml").write_text(toml, encoding="utf-8")
    assert main(["plan", str(SAMPLE), "--out", str(tmp_path / "plan"), "--quiet",
                 "--no-xlsx"]) == 0
    printed = capsys.readouterr().out
    shown = re.search(r"`plan` opens with.*?```\n(.*?)```", readme, re.S).group(1)
    for line in shown.splitlines():
        if line.strip():
            assert line in printed, line
    assert main(["whatif", str(SAMPLE), str(tmp_path / "hire.toml"), "--plan",
                 str(tmp_path / "plan"), "--out", str(tmp_path / "whatif"), "--quiet",
                 "--no-xlsx"]) == 0
    out = capsys.readouterr().out
    assert "What-if: Elena Johnson leaves; hire a replacement" in out
    # The leaver's students go to the hire (the best-practice fit with room), named.
    rows = _csv(tmp_path / "whatif" / "comparison_students.csv")
    assert rows and {(r["from_case_manager_id"], r["to_case_manager_id"]) for r in rows} == {
        ("E00011", "HIRE001")}
    assert all(r["why"] == "Elena Johnson (E00011) is no longer on staff" for r in rows)
    assert "Elena Johnson (E00011) -> New RSP teacher (HIRE001)" in out
    assert main(["explain", str(SAMPLE), "S000042"]) == 0
    assert "1. Elena Johnson (E00011, RSP (Resource specialist)) — best-practice match: " \
           "teaches the student's SAI" in capsys.readouterr().out


def test_the_report_headline_survives_a_bare_summary_json(make_district, tmp_path, capsys):
    # Found by the plan-folder fuzz: summary.json "{}" is a readable plan folder.
    folder = _named_district(make_district)
    out = tmp_path / "p"
    assert main(["plan", str(folder), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    (out / "summary.json").write_text("{}", encoding="utf-8")
    assert main(["report", str(out), "--html", str(tmp_path / "r.html")]) == 0
    assert "students placed" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_this_years_audit_is_said_as_this_years_not_the_plans(make_district, tmp_path,
                                                              capsys):
    # A planner read the Audit sheet's "cap exceeded" as the plan breaking a
    # cap: the summary and the sheet now say the audit is of this year.
    from openpyxl import load_workbook

    folder = _warning_district(make_district)  # three current case managers gone
    out = tmp_path / "p"
    assert main(["plan", str(folder), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    audit = (out / "audit.csv").read_text(encoding="utf-8").splitlines()[1:]
    line = next(x for x in printed.splitlines() if x.startswith("  This year, before the plan"))
    # (A plan of case managers only: its providers are not audited.)
    assert line.startswith(f"  This year, before the plan: {len(audit)} problem(s) with "
                           "today's case managers (") and line.endswith("; audit.csv)")
    assert all(f"{kind} " in line for kind in {r.split(",")[0] for r in audit})
    sheet = load_workbook(out / "plan.xlsx", read_only=True)["Audit (this year)"]
    assert next(sheet.iter_rows(values_only=True))[0] == "This year's violation"
    # Nothing to report: no line.
    clean = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                          students=[student("S1", current_case_manager="E1")])
    assert main(["plan", str(clean), "--out", str(tmp_path / "q"), "--quiet",
                 "--no-xlsx"]) == 0
    assert "This year, before the plan" not in capsys.readouterr().out


def test_the_audit_counts_provider_assignments_beside_case_managers(capsys):
    # Its violations include providers' rows: a heading of 1,575 case-manager
    # assignments over 572 violations mixed two denominators.
    services = ROOT / "data" / "sample-services"
    assert main(["audit", str(services)]) == 1
    head = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Today's"))
    assert head.startswith("Today's case managers and providers (")
    assert " case-manager and " in head and " provider assignments): " in head
    assert main(["audit", str(SAMPLE)]) in (0, 1)
    out = capsys.readouterr().out
    assert "Today's case managers (" in out and "providers" not in out.split("\n")[0]


def test_caps_that_are_local_defaults_are_said_beside_the_hires(make_district, tmp_path,
                                                                 capsys):
    # The hires follow from the caps; a planner trial found the report and the
    # terminal silent on which caps are local figures with no law behind them.
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN"),
                                      educator("E2", "SDC", "ES-ESN"),
                                      educator("E3", "PSY", "PPS")],
                           students=[student("S1")], toml="[caps]\nSDC = 18\n")
    out = tmp_path / "p"
    assert main(["plan", str(folder), "--out", str(out), "--no-xlsx"]) == 0
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if "local defaults, not law" in x)
    caps = {c["role"]: c["kind"] for c in json.loads((out / "summary.json").read_text())["caps"]}
    local = [r for r, kind in caps.items() if kind.startswith("local")]
    assert local and all(f"{r} " in line for r in local)
    # A cap the district set, or one the law sets, is not listed.
    assert caps["SDC"] == "district setting" and "SDC" not in line and "RSP" not in line
    assert main(["report", str(out), "--html", str(tmp_path / "r.html")]) == 0
    assert "local defaults, not law" in (tmp_path / "r.html").read_text(encoding="utf-8")


def _explained_against_its_plan(folder, out, capsys, student_id="S1"):
    """`caseload explain` of one student against the district's own plan."""
    assert main(["plan", str(folder), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    capsys.readouterr()
    assert main(["explain", str(folder), student_id, "--plan", str(out)]) == 0
    return capsys.readouterr().out


def test_explain_with_a_service_plan_says_who_gives_each_service(make_district, tmp_path,
                                                                 capsys):
    # A parent asks "who gives my child OT?": explain answered only who
    # case-manages. With a service plan it lists each service's provider, or
    # why there is none, from the plan's services.csv.
    folder = make_district(educators=[educator("E1", "RSP", "ES-MMSN", name="Rosa Flores"),
                                      educator("E2", "SLP", "SLP")],
                           students=[student("S1", services="SAI;SPEECH;OT")],
                           toml="plan_services = true\n")
    text = _explained_against_its_plan(folder, tmp_path / "p", capsys)
    lines = text.split("Services in the plan (services.csv):\n", 1)[1].splitlines()
    assert lines[0].startswith("  OT: no one — Not planned: no staff provides it")
    assert lines[1].startswith("  SAI: Rosa Flores (E1) — Served by E1 (RSP)")
    assert lines[2].startswith("  SPEECH: Teacher E2 (E2) — Served by E2 (SLP)")
    # A plan of case managers only: nothing about services.
    plain = make_district(educators=[educator("E1", "RSP", "ES-MMSN")],
                          students=[student("S1")])
    assert "Services in the plan" not in _explained_against_its_plan(plain, tmp_path / "q",
                                                                     capsys)


def test_sai_not_planned_for_a_derived_support_level_says_so(make_district, tmp_path):
    # A planner trial: 51 of 66 students whose SAI no one on staff may give had
    # a support level the local default derived; services.csv said nothing.
    import csv
    folder = make_district(
        educators=[educator("E1", "SDC", "ES-MMSN")],
        students=[student("S1", sai_setting="sdc", gen_ed_pct="10", support_level=""),
                  student("S2", sai_setting="sdc", gen_ed_pct="10", support_level="extensive")],
        toml="plan_services = true\n")
    out = tmp_path / "p"
    assert main(["plan", str(folder), "--out", str(out), "--quiet", "--no-xlsx"]) == 0
    rows = {r["student_id"]: r["reason"] for r in
            csv.DictReader((out / "services.csv").open(encoding="utf-8"))}
    assert rows["S1"].startswith("Not planned") and rows["S2"].startswith("Not planned")
    assert "its support level, extensive, was derived by a local default" in rows["S1"]
    assert "derived" not in rows["S2"]  # (given from the IEP)


def test_explain_ranks_options_under_the_plans_providers(make_district, tmp_path, capsys):
    """A planner's trial read "E3 — best-practice match: provides SPEECH on
    this IEP" while the plan gave the speech to E2. Against a service plan,
    an SLP who does not serve the student is a coordinator at most, and says
    why; the one who does keeps their rank."""
    folder = make_district(educators=[educator("E2", "SLP", "SLP", name="Ana Kim"),
                                      educator("E3", "SLP", "SLP", name="Bo Li",
                                               max_caseload="0")],
                           students=[student("S1", services="SPEECH", sai_setting="",
                                             primary="SLI")],
                           toml="plan_services = true\n")
    text = _explained_against_its_plan(folder, tmp_path / "p", capsys)
    options = [x for x in text.splitlines() if x.startswith(("  1.", "  2."))]
    assert options[0].startswith("  1. Ana Kim (E2, SLP) — best-practice match")
    assert options[1].startswith("  2. Bo Li (E3, SLP) — coordinator only")
    assert options[1].endswith("(the plan does not make them this student's teacher or "
                               "provider)")
    # Without a plan, both are best-practice matches: the rules alone.
    assert main(["explain", str(folder), "S1"]) == 0
    plain = capsys.readouterr().out
    assert "Bo Li (E3, SLP) — best-practice match" in plain
