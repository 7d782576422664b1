"""An independent checker and an independent exact solver for service plans.

Shares no code with ``optimizer.planning.solvers.services``: instances here are plain
dicts (the "spec" below), plans are dicts of ids, and the joint CP-SAT model
is written from the model's description in docs/service-caseloads.md.

Spec::

    {"providers": {pid: {"role", "cap", "other", "minutes_cap" (None = none)}},
     "students": {sid: {"current_cm", "published_cm"}},          # ids or None
     "pairs": {(sid, service): {"minutes", "current", "published"}},
     "options": {(sid, service): {pid: rank}},
     "cm_options": {sid: {(pid, "own" | "coordinator"): rank}}}

A plan is ``(provider, case_manager)``: ``{(sid, service): pid or None}`` and
``{sid: pid or None}``.
"""

from __future__ import annotations

WEIGHTS = {"rank": (0, 10_000, 30_000), "continuity": 5_000, "cm_continuity": 5_000,
           "change": 50_000, "balance": 2.0}


def serves(provider: dict, sid: str, pid: str) -> bool:
    return any(p == pid for (s, _), p in provider.items() if s == sid)


def violations(spec: dict, provider: dict, case_manager: dict) -> list[str]:
    """Every broken rule of a plan: eligibility of each provider and case
    manager, caps on DISTINCT students served or case-managed + other load,
    minute capacities, and case managers by own provision only when serving."""
    out = []
    if set(provider) != set(spec["pairs"]):
        out.append("pairs in the plan differ from the instance")
    if set(case_manager) != set(spec["students"]):
        out.append("students in the plan differ from the instance")
    students_of: dict[str, set] = {p: set() for p in spec["providers"]}
    minutes: dict[str, float] = {p: 0.0 for p in spec["providers"]}
    for (sid, svc), pid in provider.items():
        if pid is None:
            continue
        if pid not in spec["options"].get((sid, svc), {}):
            out.append(f"{sid}/{svc} -> {pid}: not eligible")
            continue
        students_of[pid].add(sid)
        minutes[pid] += spec["pairs"][(sid, svc)]["minutes"]
    for sid, pid in case_manager.items():
        if pid is None:
            continue
        opts = spec["cm_options"].get(sid, {})
        own_ok = (pid, "own") in opts and serves(provider, sid, pid)
        if not own_ok and (pid, "coordinator") not in opts:
            out.append(f"{sid} case-managed by {pid}: no usable option")
        students_of.setdefault(pid, set()).add(sid)
    for pid, p in spec["providers"].items():
        load = len(students_of[pid]) + p["other"]
        if students_of[pid] and load > p["cap"]:
            out.append(f"{pid}: caseload {load} over cap {p['cap']}")
        if p.get("minutes_cap") is not None and minutes[pid] > p["minutes_cap"] + 1e-9:
            out.append(f"{pid}: {minutes[pid]} minutes over {p['minutes_cap']}")
    return out


def increments(cap: int, upto: int) -> list[int]:
    """Milli-points of seats 1..upto: round(1000 * balance * (2k - 1) / cap)."""
    b = WEIGHTS["balance"]
    return [int(round(1000 * b * (2 * k - 1) / cap)) for k in range(1, upto + 1)]


def cost(spec: dict, provider: dict, case_manager: dict) -> tuple[int, int, int]:
    """Lexicographic objective of a plan: (unserved, unplaced, milli-points)."""
    w = WEIGHTS
    total = 0
    for key, pid in provider.items():
        pair = spec["pairs"][key]
        if pid is not None:
            total += w["rank"][spec["options"][key][pid]]
        for ref, weight in (("current", w["continuity"]), ("published", w["change"])):
            if pair[ref] is not None and pid != pair[ref]:
                total += weight
    for sid, pid in case_manager.items():
        st = spec["students"][sid]
        if pid is not None:
            opts = spec["cm_options"][sid]
            ranks = [opts[(pid, "coordinator")]] if (pid, "coordinator") in opts else []
            if (pid, "own") in opts and serves(provider, sid, pid):
                ranks.append(opts[(pid, "own")])
            total += w["rank"][min(ranks)]
        for ref, weight in (("current_cm", w["cm_continuity"]), ("published_cm", w["change"])):
            if st[ref] is not None and pid != st[ref]:
                total += weight
    for pid, p in spec["providers"].items():
        students = {s for (s, _), q in provider.items() if q == pid}
        students |= {s for s, q in case_manager.items() if q == pid}
        load = len(students) + p["other"]
        if p["cap"] > 0:
            total += sum(increments(p["cap"], load))
    unserved = sum(1 for v in provider.values() if v is None)
    unplaced = sum(1 for v in case_manager.values() if v is None)
    return unserved, unplaced, total


def joint_optimum(spec: dict, seconds: float = 20.0) -> tuple[tuple[int, int, int], dict, dict]:
    """The exact lexicographic optimum of the whole problem by CP-SAT (three
    phases: most pairs served, then most case managers placed, then least cost)."""
    from ortools.sat.python import cp_model

    w = WEIGHTS
    providers = spec["providers"]

    def build():
        m = cp_model.CpModel()
        x = {(key, pid): m.new_bool_var("") for key, opts in spec["options"].items()
             for pid in opts}
        c = {(sid, pid, kind): m.new_bool_var("") for sid, opts in spec["cm_options"].items()
             for (pid, kind) in opts}
        for key in spec["pairs"]:
            m.add(sum(v for (k, _), v in x.items() if k == key) <= 1)
        for sid in spec["students"]:
            m.add(sum(v for (s, _, _), v in c.items() if s == sid) <= 1)
        serve_terms: dict[tuple, list] = {}
        for ((sid, _), pid), v in x.items():
            serve_terms.setdefault((sid, pid), []).append(v)
        for (sid, pid, kind), v in c.items():
            if kind == "own":
                m.add(v <= sum(serve_terms.get((sid, pid), [])))
        y = {}
        for (sid, pid), vs in serve_terms.items():
            y[(sid, pid)] = m.new_bool_var("")
            for v in vs:
                m.add(y[(sid, pid)] >= v)
        for (sid, pid, _), v in c.items():
            if (sid, pid) not in y:
                y[(sid, pid)] = m.new_bool_var("")
            m.add(y[(sid, pid)] >= v)
        balance = []
        for pid, p in providers.items():
            mine = [v for (s, q), v in y.items() if q == pid]
            free = max(0, p["cap"] - p["other"])
            seats = [m.new_bool_var("") for _ in range(free)]
            m.add(sum(mine) == sum(seats))
            inc = increments(p["cap"], p["cap"]) if p["cap"] > 0 else []
            balance += [inc[p["other"] + k] * s for k, s in enumerate(seats)]
            if p.get("minutes_cap") is not None:
                m.add(sum(int(round(spec["pairs"][k]["minutes"] * 100)) * v
                          for (k, q), v in x.items() if q == pid)
                      <= int(round(p["minutes_cap"] * 100)))
        served = sum(x.values())
        placed = sum(c.values())
        terms = []
        for (key, pid), v in x.items():
            pair = spec["pairs"][key]
            k = w["rank"][spec["options"][key][pid]]
            k += w["continuity"] * (pair["current"] is not None and pid != pair["current"])
            k += w["change"] * (pair["published"] is not None and pid != pair["published"])
            terms.append(k * v)
        const = 0
        for key, pair in spec["pairs"].items():
            is_served = sum(v for (k, _), v in x.items() if k == key)
            for ref, weight in (("current", w["continuity"]), ("published", w["change"])):
                if pair[ref] is not None:
                    terms.append(weight * (1 - is_served))
        for (sid, pid, kind), v in c.items():
            st = spec["students"][sid]
            k = w["rank"][spec["cm_options"][sid][(pid, kind)]]
            k += w["cm_continuity"] * (st["current_cm"] is not None and pid != st["current_cm"])
            k += w["change"] * (st["published_cm"] is not None and pid != st["published_cm"])
            terms.append(k * v)
        for sid, st in spec["students"].items():
            is_placed = sum(v for (s, _, _), v in c.items() if s == sid)
            for ref, weight in (("current_cm", w["cm_continuity"]),
                                ("published_cm", w["change"])):
                if st[ref] is not None:
                    terms.append(weight * (1 - is_placed))
        for p in providers.values():
            if p["cap"] > 0:
                const += sum(increments(p["cap"], p["other"]))
        return m, x, c, served, placed, sum(terms) + sum(balance) + const

    def run(m):
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = seconds
        solver.parameters.num_workers = 1
        status = solver.solve(m)
        assert status == cp_model.OPTIMAL, "joint CP-SAT did not prove optimality"
        return solver

    m, x, c, served, placed, total = build()
    m.maximize(served)
    best_served = int(run(m).objective_value)
    m, x, c, served, placed, total = build()
    m.add(served == best_served)
    m.maximize(placed)
    best_placed = int(run(m).objective_value)
    m, x, c, served, placed, total = build()
    m.add(served == best_served)
    m.add(placed == best_placed)
    m.minimize(total)
    solver = run(m)
    provider = {key: None for key in spec["pairs"]}
    for (key, pid), v in x.items():
        if solver.boolean_value(v):
            provider[key] = pid
    cm = {sid: None for sid in spec["students"]}
    for (sid, pid, _), v in c.items():
        if solver.boolean_value(v):
            cm[sid] = pid
    value = (len(spec["pairs"]) - best_served, len(spec["students"]) - best_placed,
             int(round(solver.objective_value)))
    return value, provider, cm
