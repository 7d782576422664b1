"""Mutation score of the rules, planning, check and validation code (`make mutate`).

Runs mutmut (configured in pyproject.toml, ``[tool.mutmut]``: what is mutated
and which fast tests run) from a clean ``mutants/`` folder, then prints the
score and every surviving mutant with its diff, and writes the same to
``benchmarks/mutation.json``. A survivor is a change to the code that no test
noticed: either a missing test or an equivalent mutant (listed with its
reason in ``EQUIVALENT`` below, so a reader can judge it).

Not part of ``make test`` or CI: it takes tens of minutes on 2 cores.

Usage::

    python benchmarks/mutate.py [--max-children N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
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
    # (function name part, text in the mutated line, why it is equivalent)
]


def _mutmut(*args: str, capture: bool = True) -> str:
    exe = Path(sys.executable).with_name("mutmut")
    proc = subprocess.run([str(exe), *args], cwd=ROOT, text=True,
                          capture_output=capture, check=False)
    return proc.stdout if capture else ""


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--keep", action="store_true",
                    help="reuse mutants/ from an earlier run (only re-runs what changed)")
    args = ap.parse_args(argv)
    if not args.keep:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    t0 = time.perf_counter()
    _mutmut("run", "--max-children", str(args.max_children), capture=False)
    seconds = time.perf_counter() - t0

    status: dict[str, str] = {}
    for line in _mutmut("results", "--all", "true").splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            status[m.group(1)] = m.group(2).strip()
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
    report = {
        "tool": "mutmut " + _mutmut("--version").strip().split()[-1],
        "seconds": round(seconds, 1),
        "max_children": args.max_children,
        "mutants": len(status),
        "counts": counts,
        "score": round(killed / scored, 4) if scored else None,
        "score_without_equivalent": round(killed / (scored - equivalent), 4)
        if scored > equivalent else None,
        "survivors": survivors,
    }
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for s in survivors:
        tag = f"  [equivalent: {s['equivalent']}]" if s["equivalent"] else ""
        print(f"\n{s['mutant']}{tag}\n{s['diff']}")
    print(f"\n{len(status)} mutants in {seconds / 60:.1f} min: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"mutation score {report['score']:.1%} (killed / (killed + survived + no tests)); "
          f"{equivalent} survivor(s) judged equivalent -> "
          f"{report['score_without_equivalent'] or 0:.1%}")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
