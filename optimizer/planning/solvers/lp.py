"""Plans with weighted students: an LP bound by HiGHS, a plan rounded from it.

A flow cannot carry weighted students (a student weighing 1.5 uses 1.5
seats), and CP-SAT on a whole district is slow to even start. So:

1. **Bound.** The LP relaxation of the plan, solved by HiGHS (in its own
   process, :mod:`optimizer.planning.solvers.highs_child`): a share
   ``x`` in [0, 1] per free student's eligible pair; each student at most one
   case manager; each educator's weighted load within the cap. The balance
   penalty ``f(load) = balance x load^2 / cap`` is convex. When every weight
   is a whole multiple of a step (1, 0.5 or 0.25), every plan's load is the
   educator's fixed load plus whole steps, and the LP charges ``f``'s chords
   between those loads, as "seat" columns whose costs are the increments (the
   cheapest are filled first, as in the flow): exactly ``f`` at every load a
   plan can reach. Otherwise it charges the highest of ``f``'s tangents taken
   every 0.25 of load, which lie below ``f``. Either way every real plan is a
   solution of this LP at no more than its points, so the LP optimum is a
   **lower bound** on the points of every plan.
2. **Plan.** Every student the LP places wholly keeps that case manager; the
   few it splits (or leaves out) are placed greedily (largest LP share, then
   cheapest) where the cap allows. Then, with the weighted students held
   there, every student weighing 1 is placed again by min-cost flow (exact
   for them); then each weight's students in turn, the others held, by a
   min-cost flow counted in that weight (exact for them too), until none
   moves. CP-SAT on the students left split was measured too: in 40 s it
   took 15 points off a 65,000-point plan, so it is not used.
3. **Where the gap sits.** While the proven gap is above 0.4 % and time is
   left, the components with the most gap are solved as MIPs by HiGHS,
   started from this plan (:mod:`optimizer.planning.solvers.lp_mip`): each
   gives a tighter bound for its component and perhaps a better plan.
4. **Proof.** The gap between the plan's points and the bound is reported;
   "optimal" only when they meet. Placing the most students comes first: if
   the plan leaves out a student who has an option, a second LP (most
   students placed, then fewest points among plans placing that many) says
   whether more could be placed; if it cannot rule that out, no bound is
   reported.

The whole solve keeps to the wall-clock time limit; progress is said every
few seconds while HiGHS works. Measured on generated districts with
``[student_weights] extensive = 1.5``: benchmarks/bench_weighted.py.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from optimizer.arraysets import stable_order
from optimizer.planning.problem import PlanningProblem, component_labels
from optimizer.planning.solvers import highs_child, lp_mip

__all__ = ["WeightedOutcome", "lp_bound_model", "solve_weighted"]

#: Seconds between progress lines while HiGHS works.
PROGRESS_EVERY = 5.0

#: HiGHS's optimum is exact to its tolerances (about 1e-7 relative); the
#: bound is lowered by this much of its size so it stays a true lower bound.
LP_TOLERANCE = 1e-6


@dataclass(frozen=True)
class WeightedOutcome:
    """A weighted plan and what was proven about it.

    ``bound`` is a lower bound on the points of every plan placing as many
    students (None when the most-placed count could not be proven).
    """

    assignment: np.ndarray
    status: str  # "optimal" | "feasible"
    objective: float
    bound: float | None
    engine: str
    facts: dict[str, object] = field(default_factory=dict)
    runtime: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Model:
    """The LP in HiGHS's column-wise form, and how to read its answer.

    Students with the same eligible pairs at the same points, the same
    weight and the same unplaced points are interchangeable: they form one
    *class*, and the LP has one column per (class, educator) with the class's
    size as its bound (the same LP as one column per student and pair, with
    several times fewer columns; any split of a class's shares among its
    students gives the same points).
    """

    col_edge: np.ndarray  # per x column: the class's first student's edge (problem edge index)
    col_class: np.ndarray  # per x column: its class
    members: list[np.ndarray]  # per class: its students, in the problem's order
    n_col: int
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    row_hi: np.ndarray
    col_hi: np.ndarray
    cost: np.ndarray
    constant: float  # points every plan has whatever x is (pins, unplaced, f at fixed load)
    students: int  # free students with an eligible pair


def _grid(weights: np.ndarray) -> float | None:
    """The load step every weight is a whole multiple of (1, 0.5 or 0.25), or None."""
    for step in (1.0, 0.5, 0.25):
        scaled = weights / step
        if np.allclose(scaled, np.rint(scaled), atol=1e-9):
            return step
    return None


def _classes(problem: PlanningProblem, edge_cost: np.ndarray, left_out: np.ndarray
             ) -> list[np.ndarray]:
    """Free students with an eligible pair, grouped into interchangeable classes
    (same pairs, same points per pair, same weight, same unplaced points), in
    the order of their first student."""
    starts, ends = problem.edge_ranges
    free = np.nonzero((problem.pinned_to < 0) & (ends > starts))[0]
    ee = problem.edge_educator.astype(np.int32)
    cost = np.rint(edge_cost * 1e6).astype(np.int64)  # exact enough to compare points
    groups: dict[tuple[bytes, bytes, float, float], list[int]] = {}
    for s, a, b, w, u in zip(free.tolist(), starts[free].tolist(), ends[free].tolist(),
                             problem.weight[free].tolist(), left_out[free].tolist(),
                             strict=True):
        groups.setdefault((ee[a:b].tobytes(), cost[a:b].tobytes(), w, u), []).append(s)
    return [np.asarray(m, dtype=np.int64) for m in groups.values()]


def lp_bound_model(problem: PlanningProblem) -> _Model:
    """Build the LP relaxation of ``problem`` (module docstring, step 1).

    Columns: ``x`` per (class of interchangeable free students, eligible
    educator), 0..class size, then the seat columns of each educator's
    tangent envelope (0..segment length). Rows: one per class (``sum x <=
    size``), then one per educator (``sum weight * x - sum seats <= 0``; the
    seats end at the cap, so the cap holds). Costs: a pair's points minus the
    student's unplaced points (everyone's unplaced points are in
    ``constant``), and the tangent slopes.

    Examples
    --------
    >>> model = lp_bound_model(build_problem(district))   # doctest: +SKIP
    >>> model.n_col >= len(model.col_edge)                 # doctest: +SKIP
    True
    """
    n_e = problem.n_educators
    pinned = problem.pinned_to >= 0
    edge_cost = problem.edge_cost()
    left_out = problem.unplaced_cost()
    members = _classes(problem, edge_cost, left_out)
    starts, ends = problem.edge_ranges
    first = np.array([m[0] for m in members], dtype=np.int64)
    size = np.array([len(m) for m in members], dtype=float)
    n_opt = (ends - starts)[first]
    col_class = np.repeat(np.arange(len(members)), n_opt)
    col_edge = (np.arange(len(col_class)) - np.repeat(np.cumsum(n_opt) - n_opt, n_opt)
                + np.repeat(starts[first], n_opt))
    ee = problem.edge_educator[col_edge]
    w = problem.weight[first][col_class]
    free_edges = ~pinned[problem.edge_student]
    cap = problem.cap.astype(float)
    base = problem.other_load + problem.pinned_load()
    # Room for free students: up to the cap, and no more than all who could come.
    reach = np.bincount(problem.edge_educator[free_edges],
                        weights=problem.weight[problem.edge_student[free_edges]],
                        minlength=n_e)
    top = np.clip(np.minimum(cap - base, reach), 0, None)
    top[cap <= 0] = 0.0
    grid = _grid(problem.weight)
    bw = problem.balance.weight
    if grid is not None:
        # Every plan's load is the fixed load plus a whole number of steps, so
        # the penalty's chords between those loads (the flow's seat
        # increments, at this step) cost every plan exactly its points.
        n_steps = np.where(top > 0, np.ceil(top / grid - 1e-9).astype(np.int64), 0)
        seat_e = np.repeat(np.arange(n_e), n_steps)
        i = np.arange(len(seat_e)) - np.repeat(np.cumsum(n_steps) - n_steps, n_steps)
        seat_len = np.minimum(grid, top[seat_e] - i * grid)
        at = base[seat_e] + i * grid
        slope = bw * ((at + grid) ** 2 - at ** 2) / grid / cap[seat_e]
    else:
        # Weights off any grid: the highest of the tangents taken every 0.25
        # of load, which lies below the penalty everywhere. Tangent i touches
        # at base + i*step and is the highest on [base + (i - 1/2) step,
        # base + (i + 1/2) step] (two tangents of a parabola meet half-way).
        step = 0.25
        n_tan = np.where(top > 0, np.ceil(top / step + 0.5 + 1e-12).astype(np.int64), 0)
        seat_e = np.repeat(np.arange(n_e), n_tan)
        i = np.arange(len(seat_e)) - np.repeat(np.cumsum(n_tan) - n_tan, n_tan)
        lo = np.maximum(0.0, (i - 0.5) * step)
        hi = np.minimum(top[seat_e], (i + 0.5) * step)
        keep = hi > lo + 1e-12
        seat_e, i, seat_len = seat_e[keep], i[keep], (hi - lo)[keep]
        slope = 2.0 * bw * (base[seat_e] + i * step) / cap[seat_e]

    n_x, n_seat, n_c = len(col_edge), len(seat_e), len(members)
    start = np.concatenate([np.arange(0, 2 * n_x, 2), 2 * n_x + np.arange(n_seat + 1)])
    index = np.empty(2 * n_x + n_seat, dtype=np.int32)
    index[0:2 * n_x:2] = col_class
    index[1:2 * n_x:2] = n_c + ee
    index[2 * n_x:] = n_c + seat_e
    value = np.empty(2 * n_x + n_seat)
    value[0:2 * n_x:2] = 1.0
    value[1:2 * n_x:2] = w
    value[2 * n_x:] = -1.0
    row_hi = np.concatenate([size, np.zeros(n_e)])
    col_hi = np.concatenate([size[col_class], seat_len])
    cost = np.concatenate([edge_cost[col_edge] - left_out[first][col_class], slope])
    # Points fixed before the LP: every student's unplaced points (the x costs
    # take them back for those placed), the pinned students' pairs, and the
    # balance penalty at each educator's fixed load.
    pinned_edges = np.nonzero(pinned[problem.edge_student]
                              & (problem.pinned_to[problem.edge_student]
                                 == problem.edge_educator))[0]
    pinned_students = problem.edge_student[pinned_edges]
    constant = float(left_out.sum() + (edge_cost[pinned_edges]
                                       - left_out[pinned_students]).sum()
                     + problem.balance.penalty(problem, base).sum())
    return _Model(col_edge, col_class, members, n_x + n_seat, start.astype(np.int32), index,
                  value, row_hi, col_hi, cost, constant, int(size.sum()))


#: One component's LP: n_col, start, index, value, row_hi, col_hi, cost, n_x.
_Part = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]


def _highs_parts(parts: list[_Part], most_placed: bool, seconds: float
                 ) -> list[tuple[str, float, float, np.ndarray]]:
    """(In the HiGHS child process.) Solve each component's LP in turn, all by
    one deadline; stops at the first that is not solved to optimality."""
    deadline = time.perf_counter() + seconds
    out = []
    for part in parts:
        answer = _highs_lp(*part, most_placed=most_placed,
                           seconds=deadline - time.perf_counter())
        out.append(answer)
        if answer[0] != "optimal":
            break
    return out


def _highs_lp(n_col: int, start: np.ndarray, index: np.ndarray, value: np.ndarray,
              row_hi: np.ndarray, col_hi: np.ndarray, cost: np.ndarray, n_x: int,
              most_placed: bool, seconds: float) -> tuple[str, float, float, np.ndarray]:
    """(In the HiGHS child process.) Solve the LP: with ``most_placed``, first
    the most students placed (sum of x), then the least cost with at least the
    whole part of that many placed. Returns (status, placed bound, cost, x)."""
    import highspy  # only in the child process (see highs_child)

    deadline = time.perf_counter() + seconds
    h = highs_child.one_thread_solver(highspy)
    # Presolve only slows this LP down (measured: 1.1 s without, 6.1 s with, on
    # the 20,000-student weighted district; benchmarks/bench_plan.py).
    h.setOptionValue("presolve", "off")
    highs_child.pass_columnwise(h, highspy, cost, col_hi, row_hi, start, index, value)

    def run() -> str:
        left = deadline - time.perf_counter()
        if left <= 0:
            return "time limit"
        h.setOptionValue("time_limit", left)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return "optimal"
        return h.modelStatusToString(status)

    placed = math.inf
    if most_placed:
        h.changeColsCost(n_col, np.arange(n_col, dtype=np.int32),
                         np.concatenate([-np.ones(n_x), np.zeros(n_col - n_x)]))
        status = run()
        if status != "optimal":
            return status, placed, math.nan, np.zeros(n_x)
        placed = math.floor(-h.getInfo().objective_function_value + 1e-6)
        h.addRow(placed - 1e-7, highspy.kHighsInf, n_x, np.arange(n_x, dtype=np.int32),
                 np.ones(n_x))
        h.changeColsCost(n_col, np.arange(n_col, dtype=np.int32),
                         np.asarray(cost, dtype=np.float64))
    status = run()
    if status != "optimal":
        return status, placed, math.nan, np.zeros(n_x)
    x = np.asarray(h.getSolution().col_value)[:n_x].copy()
    return status, placed, float(h.getInfo().objective_function_value), x


def _call_with_progress(say: Callable[[str], None] | None, what: str,
                        fn: Callable[[], object]) -> object:
    """Run ``fn`` while saying, every few seconds, that ``what`` is still going on."""
    if say is None:
        return fn()
    done = threading.Event()
    started = time.perf_counter()

    def beat() -> None:
        while not done.wait(PROGRESS_EVERY):
            say(f"{what}: still working ({time.perf_counter() - started:.0f} s)")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        return fn()
    finally:
        done.set()
        thread.join()


def _parts(model: _Model, row_label: np.ndarray) -> tuple[list[_Part], list[np.ndarray]]:
    """The LP split by connected component (rows labelled by ``row_label``):
    each component's model, and its columns' positions in the whole model.
    Components without a student's column are left out (their optimum is 0)."""
    parts, columns, _ = _labelled_parts(model, row_label)
    return parts, columns


def _labelled_parts(model: _Model, row_label: np.ndarray
                    ) -> tuple[list[_Part], list[np.ndarray], np.ndarray]:
    """:func:`_parts`, and each part's component label."""
    n_x = len(model.col_edge)
    col_len = np.diff(model.start)
    col_label = row_label[model.index[model.start[:-1]]]  # every column has a row
    entry_label = np.repeat(col_label, col_len)
    col_order = stable_order(col_label)
    entry_order = stable_order(entry_label)
    row_order = stable_order(row_label)
    labels, col_at = np.unique(col_label[col_order], return_index=True)
    entry_at = np.searchsorted(entry_label[entry_order], labels)
    row_at = np.searchsorted(row_label[row_order], labels)
    ends = (np.append(col_at[1:], len(col_order)), np.append(entry_at[1:], len(entry_order)),
            np.append(row_at[1:], len(row_order)))
    row_local = np.empty(len(row_label), dtype=np.int64)
    parts: list[_Part] = []
    columns = []
    kept = []
    for k in range(len(labels)):
        cols = col_order[col_at[k]:ends[0][k]]
        nx_k = int((cols < n_x).sum())
        if not nx_k:
            continue
        rows = row_order[row_at[k]:ends[2][k]]
        row_local[rows] = np.arange(len(rows))
        entries = entry_order[entry_at[k]:ends[1][k]]
        start = np.concatenate([[0], np.cumsum(col_len[cols])]).astype(np.int32)
        parts.append((len(cols), start, row_local[model.index[entries]].astype(np.int32),
                      model.value[entries], model.row_hi[rows], model.col_hi[cols],
                      model.cost[cols], nx_k))
        columns.append(cols)
        kept.append(labels[k])
    return parts, columns, np.asarray(kept, dtype=np.int64)


def _row_labels(problem: PlanningProblem, model: _Model) -> np.ndarray:
    """Connected component of each LP row: a class's (its students share their
    educators, so one component), then each educator's."""
    s_lab, e_lab = component_labels(problem)
    first = np.array([m[0] for m in model.members], dtype=np.int64)
    return np.concatenate([s_lab[first], e_lab])


def _solve_lp(model: _Model, row_label: np.ndarray, most_placed: bool, seconds: float,
              say: Callable[[str], None] | None, what: str
              ) -> tuple[str, float, float, np.ndarray]:
    """Solve the LP component by component in the HiGHS child: (status, the
    most students placed, summed over components, the optimum, x)."""
    status, placed, cost, x, _ = _solve_lp_parts(model, row_label, most_placed, seconds, say,
                                                 what)
    return status, placed, cost, x


@dataclass(frozen=True)
class _Split:
    """The LP by component: each part's model, columns, label and optimum."""

    parts: list[_Part]
    columns: list[np.ndarray]
    labels: np.ndarray
    costs: np.ndarray


def _solve_lp_parts(model: _Model, row_label: np.ndarray, most_placed: bool, seconds: float,
                    say: Callable[[str], None] | None, what: str
                    ) -> tuple[str, float, float, np.ndarray, _Split]:
    """:func:`_solve_lp`, and the LP by component with each part's optimum."""
    n_x = len(model.col_edge)
    parts, columns, labels = _labelled_parts(model, row_label)
    answers = _call_with_progress(say, what, lambda: highs_child.call(
        "optimizer.planning.solvers.lp:_highs_parts", parts, most_placed, max(seconds, 0.1)))
    x = np.zeros(model.n_col)
    status, placed, cost = "optimal", 0.0, 0.0
    costs = np.full(len(parts), np.nan)
    assert isinstance(answers, list)
    for k, (cols, (st, pl, c, xs)) in enumerate(zip(columns, answers, strict=False)):
        if st != "optimal":
            status = str(st)
        placed += float(pl)
        cost += float(c)
        costs[k] = float(c)
        x[cols[:len(xs)]] = xs
    if len(answers) < len(parts):
        status = status if status != "optimal" else "time limit"
    return status, placed, cost, x[:n_x], _Split(parts, columns, labels, costs)


def _round(problem: PlanningProblem, model: _Model, x: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """A feasible plan from the LP's shares: each class gives each educator the
    whole number of students its share holds (students in the problem's
    order), and the rest are placed greedily (largest share, then cheapest)
    where the cap allows. Returns the plan and the students placed greedily
    or left out."""
    assignment = problem.pinned_to.copy()
    whole = np.floor(x + 1e-6).astype(np.int64)
    ee = problem.edge_educator[model.col_edge]
    cols_of = np.searchsorted(model.col_class, np.arange(len(model.members) + 1))
    rest_parts = []
    for c, m in enumerate(model.members):
        a, b = cols_of[c], cols_of[c + 1]
        counts = whole[a:b]
        n = int(counts.sum())
        if n:
            assignment[m[:n]] = np.repeat(ee[a:b], counts)[:len(m)]
        if n < len(m):
            rest_parts.append(m[n:])
    cap = problem.cap.astype(float)
    load = problem.loads(assignment)
    # Within HiGHS's tolerances the whole shares fit; drop any that would not.
    for e in np.nonzero(load > cap + 1e-9)[0]:
        mine = np.nonzero((assignment == e) & (problem.pinned_to < 0))[0]
        for s in mine[stable_order(-problem.weight[mine])]:
            if load[e] <= cap[e] + 1e-9:
                break
            assignment[s] = -1
            load[e] -= problem.weight[s]
            rest_parts.append(np.array([s]))
    rest = np.unique(np.concatenate(rest_parts)) if rest_parts else np.zeros(0, np.int64)
    if not len(rest):
        return assignment, rest
    # The share each leftover student's class gave each educator, beyond whole students.
    frac = x - whole
    share_of = {(int(model.col_class[j]), int(ee[j])): float(frac[j])
                for j in np.nonzero(frac > 1e-6)[0]}
    class_of = np.full(problem.n_students, -1, dtype=np.int64)
    for c, m in enumerate(model.members):
        class_of[m] = c
    cost = problem.edge_cost()
    starts, ends = problem.edge_ranges
    best_share = np.array([max((share_of.get((int(class_of[s]), int(e)), 0.0)
                                for e in problem.edge_educator[starts[s]:ends[s]]),
                               default=0.0) for s in rest])
    # Students with the largest share first (closest to the LP's choice), each
    # where it adds the fewest points now (its pair's points and the balance
    # penalty's increase), among the educators with room for them.
    bw = problem.balance.weight
    for k in np.lexsort((rest, -best_share)).tolist():
        s = int(rest[k])
        wt = problem.weight[s]
        best, best_key = -1, (math.inf, -1)
        for j in range(int(starts[s]), int(ends[s])):
            ed = int(problem.edge_educator[j])
            if load[ed] + wt > cap[ed] + 1e-9:
                continue
            rise = bw * ((load[ed] + wt) ** 2 - load[ed] ** 2) / cap[ed] if cap[ed] > 0 else 0.0
            key = (float(cost[j] + rise), ed)
            if key < best_key:
                best, best_key = ed, key
        if best >= 0:
            assignment[s] = best
            load[best] += wt
    return assignment, rest


def _points(problem: PlanningProblem, assignment: np.ndarray) -> float:
    return float(sum(problem.objective_terms(assignment).values()))


def _better(problem: PlanningProblem, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether plan ``a`` beats ``b``: more students placed, or as many and fewer points."""
    pa, pb = int((a >= 0).sum()), int((b >= 0).sum())
    return pa > pb or (pa == pb and _points(problem, a) < _points(problem, b))


def _flow_repair(problem: PlanningProblem, assignment: np.ndarray) -> np.ndarray:
    """The best placement of every student weighing 1, the others held where
    ``assignment`` puts them: a min-cost flow (exact for unit weights), on
    the caps the held students leave. Returns the new plan."""
    from optimizer.planning.solvers import flow  # OR-Tools only in the parent, here

    held = (problem.weight != 1.0) | (problem.pinned_to >= 0)
    hold_to = np.where(held, assignment, -1)
    on = hold_to >= 0
    # Held students count as pins of weight 1; what they weigh beyond 1 is
    # other load (the flow's seats start after both).
    extra = np.bincount(hold_to[on], weights=problem.weight[on] - 1.0,
                        minlength=problem.n_educators)
    keep = ~held[problem.edge_student]
    sub = dataclasses.replace(
        problem, weight=np.ones(problem.n_students), pinned_to=hold_to,
        other_load=problem.other_load + extra,
        edge_student=problem.edge_student[keep], edge_educator=problem.edge_educator[keep],
        edge_rank=problem.edge_rank[keep], edge_current=problem.edge_current[keep],
        edge_capacity=problem.edge_capacity[keep], edge_reason=problem.edge_reason[keep])
    return flow.solve_flow(sub)


#: Most flows :func:`_block_flows` solves (it stops earlier once every
#: weight's students are placed as well as the others allow).
BLOCK_FLOWS = 8

#: ... and once a flow gains less than this share of the plan's points. On the
#: 100,000-student weighted district the flows gained 499.3, 1.6, 0.2, 0.1 and
#: 0 points (of 325,707) while the flows of students weighing 1 cost 3-4 CPU s
#: each: the first two are kept, the rest skipped.
BLOCK_MIN_GAIN = 1e-5


def _weight_flow(problem: PlanningProblem, assignment: np.ndarray, w: float) -> np.ndarray:
    """The best placement of the free students weighing ``w``, everyone else
    held where ``assignment`` puts them: a min-cost flow in units of ``w``
    (exact for them, as the flow is for students weighing 1). Returns the new plan.

    Counted in ``w``: an educator's room is (cap - held load) / w whole seats,
    and the k-th seat costs f(L + k w) - f(L + (k - 1) w) for the balance
    penalty f(load) = balance x load^2 / cap and held load L: the flow's own
    seat increments on a problem with cap / w, held load / w and balance x w.
    """
    from optimizer.planning.solvers import flow  # OR-Tools only in the parent, here

    movers = (problem.pinned_to < 0) & (problem.weight == w)
    on = ~movers & (assignment >= 0)
    held = problem.other_load + np.bincount(assignment[on], weights=problem.weight[on],
                                            minlength=problem.n_educators)
    keep = movers[problem.edge_student]
    sub = dataclasses.replace(
        problem, objective=dataclasses.replace(problem.objective,
                                               balance=problem.objective.balance * w),
        weight=np.ones(problem.n_students), pinned_to=np.full(problem.n_students, -1),
        cap=problem.cap / w, other_load=held / w,
        edge_student=problem.edge_student[keep], edge_educator=problem.edge_educator[keep],
        edge_rank=problem.edge_rank[keep], edge_current=problem.edge_current[keep],
        edge_capacity=problem.edge_capacity[keep], edge_reason=problem.edge_reason[keep])
    placed = flow.solve_flow(sub)
    out = assignment.copy()
    out[movers] = placed[movers]
    return out


def _block_flows(problem: PlanningProblem, assignment: np.ndarray, deadline: float
                 ) -> tuple[np.ndarray, int]:
    """Improve a plan by exact moves of one weight's students at a time: each
    weight's free students placed again by :func:`_weight_flow`, everyone else
    held, kept when better; a weight is solved again only after another
    weight's students moved (until then its flow would change nothing), and
    none after a flow that gained less than :data:`BLOCK_MIN_GAIN` of the
    points. The students weighing 1 count as just solved (the flow repair
    before this). Returns the plan and the flows solved.

    Measured on the 20,000-student weighted district: the students weighing
    1.5 placed again took the repaired plan from 65,328.6 to 65,130.5 points
    (the proven optimum is 65,122.4) in 0.5 CPU s.
    """
    weights = [float(w) for w in np.unique(problem.weight[problem.pinned_to < 0]) if w > 0]
    stale = {w: w != 1.0 for w in weights}
    points = _points(problem, assignment)
    placed = int((assignment >= 0).sum())
    flows = 0
    while any(stale.values()) and flows < BLOCK_FLOWS and time.perf_counter() < deadline:
        for w in weights:
            if not stale[w] or flows >= BLOCK_FLOWS or time.perf_counter() >= deadline:
                continue
            stale[w] = False
            candidate = _weight_flow(problem, assignment, w)
            flows += 1
            c_placed = int((candidate >= 0).sum())
            if c_placed < placed:
                continue
            c_points = _points(problem, candidate)
            if c_placed > placed or c_points < points - 1e-9:
                small = c_placed == placed and points - c_points < BLOCK_MIN_GAIN * abs(points)
                assignment, points, placed = candidate, c_points, c_placed
                if small:  # kept, but another round would gain as little
                    return assignment, flows
                for v in weights:
                    stale[v] = stale[v] or v != w
    return assignment, flows


def solve_weighted(problem: PlanningProblem, time_limit: float = 30.0,
                   deterministic: bool = True,
                   progress: Callable[[str], None] | None = None) -> WeightedOutcome:
    """A plan for weighted students with a proven bound (module docstring).

    Parameters
    ----------
    problem
        A planning problem (any weights; the balance weight must not be negative).
    time_limit
        Wall-clock seconds for everything here.
    deterministic
        Accepted for symmetry with CP-SAT: HiGHS runs on one thread and the
        flow is exact, so the same input always gives the same plan.
    progress
        Called with a line of text as the solve goes on.

    Returns
    -------
    WeightedOutcome

    Examples
    --------
    >>> out = solve_weighted(build_problem(district), time_limit=20)   # doctest: +SKIP
    >>> out.status, out.bound <= out.objective                         # doctest: +SKIP
    ('feasible', True)
    """
    say = progress
    deadline = time.perf_counter() + time_limit
    highs_child.start()  # its start-up (about a second) overlaps building the LP
    runtime: dict[str, float] = {}
    t0 = time.perf_counter()
    model = lp_bound_model(problem)
    runtime["lp_model"] = time.perf_counter() - t0
    if say:
        say(f"weighted students: LP relaxation by HiGHS ({len(model.members):,} classes of "
            f"interchangeable students, {len(model.col_edge):,} columns) for the bound, "
            "then a plan rounded from it")
    t0 = time.perf_counter()
    # Keep a fifth of the time (at least a second) to round and repair.
    lp_seconds = (deadline - time.perf_counter()) - max(1.0, 0.2 * time_limit)
    row_label = _row_labels(problem, model)
    status, placed_bound, lp_cost, x, split = _solve_lp_parts(model, row_label, False,
                                                              lp_seconds, say, "LP relaxation")
    runtime["lp"] = time.perf_counter() - t0
    facts: dict[str, object] = {"lp_status": status, "lp_columns": model.n_col}
    if status != "optimal":
        # No LP answer in time: a greedy plan, with nothing proven.
        from optimizer.planning.greedy import greedy_assignment

        assignment = greedy_assignment(problem)
        if say:
            say(f"the LP relaxation ended with '{status}'; keeping a greedy plan (not proven)")
        return WeightedOutcome(assignment, "feasible", _points(problem, assignment), None,
                               f"greedy plan: HiGHS's LP relaxation ended with '{status}' "
                               "(nothing proven)", facts, runtime)
    t0 = time.perf_counter()
    assignment, rest = _round(problem, model, x)
    runtime["rounding"] = time.perf_counter() - t0
    if say:
        say(f"LP bound {lp_cost + model.constant:,.1f} points; rounded plan "
            f"{_points(problem, assignment):,.1f} points; {len(rest):,} of "
            f"{model.students:,} students placed beyond the LP's whole choices")
    t0 = time.perf_counter()
    # The rounding's losses are mostly students weighing 1 pushed aside by the
    # LP's split shares: with the weighted students held, their best placement
    # is a min-cost flow.
    repaired = _flow_repair(problem, assignment)
    if _better(problem, repaired, assignment):
        assignment = repaired
    runtime["flow_repair"] = time.perf_counter() - t0
    if say:
        say(f"students weighing 1 re-placed by min-cost flow: {_points(problem, assignment):,.1f}"
            " points")
    t0 = time.perf_counter()
    # Then each weight's students in turn, the others held: exact moves a
    # rounding cannot see (a student weighing 1.5 moved to where half a seat
    # was left idle, freeing a whole one for a student weighing 1).
    assignment, flows = _block_flows(problem, assignment, deadline - 0.2 * time_limit)
    runtime["weight_flows"] = time.perf_counter() - t0
    facts["weight_flows"] = flows
    if say:
        say(f"each weight's students re-placed by min-cost flow, the others held ({flows} "
            f"flow(s)): {_points(problem, assignment):,.1f} points")
    has_option = np.zeros(problem.n_students, dtype=bool)
    has_option[problem.edge_student] = True
    has_option &= problem.pinned_to < 0
    placed = int((assignment[has_option] >= 0).sum())
    bound: float | None = lp_cost
    mip_note = ""
    if placed < model.students:
        # Some student with an option is left out: could more be placed?
        t0 = time.perf_counter()
        status, placed_bound, lp_cost, _ = _solve_lp(
            model, row_label, True, deadline - time.perf_counter(), say, "LP: most students placed")
        runtime["lp_most_placed"] = time.perf_counter() - t0
        bound = lp_cost if status == "optimal" and placed >= placed_bound else None
    if bound is not None and placed >= model.students:
        # Everyone with an option is placed: where the gap is over the target,
        # HiGHS's MIP on those components, started from this plan, tightens
        # the bound and may improve the plan (lp_mip.py).
        gap_now = (_points(problem, assignment) - bound - model.constant) / max(
            abs(_points(problem, assignment)), 1e-9)
        if gap_now > lp_mip.GAP_TARGET and deadline - time.perf_counter() > 0.1:
            t0 = time.perf_counter()
            tight = lp_mip.tighten(problem, model, split.parts, split.columns, split.labels,
                                   split.costs, assignment, deadline - 0.05, highs_child.call,
                                   say)
            runtime["mip"] = time.perf_counter() - t0
            assignment = tight.assignment
            bound += tight.bound_gain
            facts.update({"mip_components": tight.solved, "mip_proven": tight.proven,
                          "mip_stopped_by_time_limit": tight.stopped_by_clock})
            mip_note = (f"; HiGHS MIP on {tight.solved} component(s) where the gap sat "
                        f"({tight.proven} solved to its aim"
                        + (", stopped by the time limit" if tight.stopped_by_clock else "")
                        + ")")
    objective = _points(problem, assignment)
    if bound is not None:
        bound = bound + model.constant
        bound -= LP_TOLERANCE * max(1.0, abs(bound))
    proven = bound is not None and objective - bound <= 2 * LP_TOLERANCE * max(1.0, abs(
        objective))
    gap = None if bound is None else max(0.0, objective - bound) / max(abs(objective), 1e-9)
    engine = ("LP relaxation (HiGHS) for the bound; plan rounded from it (each weight's "
              "students placed by min-cost flow, the others held)")
    engine += mip_note
    engine += ("; proven optimal" if proven else f"; gap {gap:.3%}" if gap is not None
               else "; more students might be placed (no bound)")
    facts.update({"lp_bound": bound, "students_rounded": int(len(rest))})
    if say:
        say(f"weighted plan: {objective:,.1f} points" + (
            f", bound {bound:,.1f} (gap {gap:.3%})" if gap is not None else ", no bound"))
    return WeightedOutcome(assignment, "optimal" if proven else "feasible", objective, bound,
                           engine, facts, runtime)
