"""The eligibility graph: students and the educators who may case-manage them.

A bipartite networkx graph: student nodes ``("student", id)`` carry
``bipartite=0``, educator nodes ``("educator", id)`` carry ``bipartite=1``
(tuples, so a student and an educator may share an id). An edge exists only
where the rules allow it, with attributes ``capacity``, ``rank``, ``reason``,
``current`` (this year's case manager) and ``pinned``. Forbids remove edges;
a pin leaves the pinned edge as the student's only one.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Iterable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optimizer.district.bulk import without_collector_pauses
from optimizer.district.model import District
from optimizer.rules.eligibility import Decision, RuleCache, best_practice, decide, rule_cache

if TYPE_CHECKING:  # networkx is imported when a graph is built: `caseload graph` needs none
    import networkx as nx

__all__ = [
    "EDGE_COLUMNS",
    "build_graph",
    "component_summary",
    "components_with_students",
    "components",
    "connected_labels",
    "forbidden_edges",
    "edge_arrays",
    "edge_counts",
    "eligible_pairs",
    "edge_table",
    "educator_node",
    "school_table",
    "student_node",
    "unplaceable_students",
]

EDGE_COLUMNS = ("student_id", "educator_id", "school_id", "role", "capacity", "rank",
                "current", "pinned", "reason")


def student_node(student_id: str) -> tuple[str, str]:
    """Graph node of a student."""
    return ("student", student_id)


def educator_node(educator_id: str) -> tuple[str, str]:
    """Graph node of an educator."""
    return ("educator", educator_id)


class _Edges:
    """Eligible edges as integer arrays (cheap to build at 100,000 students);
    the text columns of the edge table are made from them only when asked for."""

    def __init__(self, district: District, student_index: np.ndarray,
                 educator_index: np.ndarray, decision_index: np.ndarray,
                 decisions: list[Decision], forbidden: tuple[tuple[str, str, str], ...]
                 ) -> None:
        #: Per edge: the student's and the educator's position in the
        #: district's students and educators (file order): the graph as two
        #: integer arrays; and the decision (capacity, rank, reason) it got.
        self.student_index = student_index
        self.educator_index = educator_index
        self.decision_index = decision_index
        self.decisions = decisions
        self.forbidden = forbidden  # (student, educator, why) removed by forbids
        self.rank = np.array([-1 if d.rank is None else d.rank for d in decisions],
                             dtype=np.int8)[decision_index]
        # Weak: the district holds this object in _CACHE (keyed weakly by it).
        self._district = weakref.ref(district)
        self._columns: dict[str, Any] | None = None

    def capacity_is(self, capacity: str) -> np.ndarray:
        """Per edge: whether its capacity is ``capacity``."""
        of = np.array([d.capacity == capacity for d in self.decisions], dtype=bool)
        return of[self.decision_index]

    @property
    def columns(self) -> dict[str, Any]:
        """The edge table's columns (``EDGE_COLUMNS``), made once when first asked for."""
        if self._columns is None:
            district = self._district()
            assert district is not None  # alive: the caller holds it
            self._columns = _text_columns(district, self)
        return self._columns


_CACHE: weakref.WeakKeyDictionary[District, _Edges] = weakref.WeakKeyDictionary()


def _categorical(values: list, codes: np.ndarray) -> pd.Categorical:
    """``pd.Categorical(np.array(values)[codes])`` (what ``astype("category")``
    makes: the values present, sorted), without hashing a million strings."""
    present = np.zeros(len(values), dtype=bool)
    present[codes] = True
    kept = sorted({values[i] for i in np.nonzero(present)[0].tolist()})
    at = {v: k for k, v in enumerate(kept)}
    remap = np.array([at.get(v, -1) for v in values], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=pd.Index(kept))


def _text_columns(district: District, edges: _Edges) -> dict[str, Any]:
    students = list(district.students.values())
    e_pos = {eid: i for i, eid in enumerate(district.educators)}
    s_arr, e_arr, d_arr = edges.student_index, edges.educator_index, edges.decision_index
    sid = np.array([s.student_id for s in students], dtype=object)
    school = np.array([s.school_id for s in students], dtype=object)
    current = np.array([e_pos.get(s.current_case_manager or "", -1) for s in students],
                       dtype=np.int64)
    pinned = np.zeros(len(students), dtype=bool)
    s_pos = {sid: i for i, sid in enumerate(district.students)}
    pinned[[s_pos[s] for s in district.pins]] = True
    roles = [e.role for e in district.educators.values()]
    return {
        "student_id": sid[s_arr], "educator_id": np.array(list(district.educators),
                                                          dtype=object)[e_arr],
        "school_id": school[s_arr],
        "role": _categorical(roles, e_arr),
        "capacity": _categorical([d.capacity for d in edges.decisions], d_arr),
        "rank": edges.rank, "current": current[s_arr] == e_arr, "pinned": pinned[s_arr],
        "reason": np.array([d.reason for d in edges.decisions], dtype=object)[d_arr],
    }


_STUDENT_FACTS = attrgetter("primary_disability", "secondary_disability", "placement_basis",
                            "support_level", "support_level_derived", "grade", "sai_setting",
                            "services")


@without_collector_pauses  # tens of thousands of decisions, no cycles: district/bulk.py
def _edges(district: District) -> _Edges:
    cached = _CACHE.get(district)
    if cached is not None:
        return cached
    cache = rule_cache(district.rules)
    educators = district.educators
    e_pos = {eid: i for i, eid in enumerate(educators)}
    e_objs = list(educators.values())
    # Profiles are interned to small ints: a (student profile, educator
    # profile) pair is decided once, and the 1-2 million pairs of a large
    # district are gathered from those decisions by array indexing.
    eprof_id: dict[tuple, int] = {}
    e_prof_tuple = [cache.educator_profile(e) for e in e_objs]
    e_prof = np.array([eprof_id.setdefault(p, len(eprof_id)) for p in e_prof_tuple],
                      dtype=np.int64)
    n_ep = max(1, len(eprof_id))
    may = [cache.may_case_manage(e) for e in e_objs]
    students = list(district.students.values())
    # The fields the rules read, as given (the basis and other disability are
    # functions of them): a key at least as fine as the cache's student
    # profile, read in C by attrgetter rather than by 100,000 Python calls.
    sprof_id: dict[tuple, int] = {}
    s_prof = np.array([sprof_id.setdefault(p, len(sprof_id))
                       for p in map(_STUDENT_FACTS, students)], dtype=np.int64)
    n_sp = len(sprof_id)
    # Per school: the educators serving it who may case-manage (flag 0), then
    # those the district's [school_rule] lets coordinate from outside (flag 1).
    schools = list(district.educators_by_school)
    sch_pos = {sch: i for i, sch in enumerate(schools)}
    flat_e: list[int] = []
    flat_out: list[int] = []
    starts = [0]
    for sch in schools:
        inside = district.educators_by_school[sch]
        reach = district.educators_reaching_school[sch]
        for k, member in enumerate(reach):
            ei = e_pos[member]
            if may[ei]:
                flat_e.append(ei)
                flat_out.append(int(k >= len(inside)))
        starts.append(len(flat_e))
    flat_e_a = np.array(flat_e, dtype=np.int64)
    flat_out_a = np.array(flat_out, dtype=bool)
    start_a = np.array(starts, dtype=np.int64)
    s_sch = np.array([sch_pos[s.school_id] for s in students], dtype=np.int64)
    counts = start_a[s_sch + 1] - start_a[s_sch]
    pair_s = np.repeat(np.arange(len(students), dtype=np.int64), counts)
    # Each pair's place in its school's list: the pair's index minus where
    # its student's pairs start, plus where its school's list starts.
    at = np.arange(len(pair_s), dtype=np.int64)
    at += np.repeat(start_a[s_sch] - (np.cumsum(counts) - counts), counts)
    pair_e = flat_e_a[at]
    any_out = bool(flat_out_a.any())
    decisions: list[Decision] = []
    # Inside pairs: one decision per (rule facts, educator profile), made for
    # a pair that has it (as the rules decide all such pairs alike). The
    # pairs' (student profile, educator profile) combinations are few (tens
    # of thousands): they are found on a table, and decided by their facts.
    combo = s_prof[pair_s]
    combo *= n_ep
    combo += e_prof[pair_e]
    if any_out:
        pair_out = flat_out_a[at]
        combo[pair_out] = -1
    seen = np.zeros(n_sp * n_ep + 1, dtype=bool)
    seen[combo] = True  # -1 (outside pairs) marks the last cell, never a combination
    uniq = np.nonzero(seen[:-1])[0]
    ep_role = np.array([p[0] for p in eprof_id], dtype=object)
    rep_s = np.zeros(n_sp, dtype=np.int64)
    rep_s[s_prof[::-1]] = np.arange(len(s_prof) - 1, -1, -1)  # a student per profile
    rep_e = np.zeros(n_ep, dtype=np.int64)
    rep_e[e_prof[::-1]] = np.arange(len(e_prof) - 1, -1, -1)  # an educator per profile
    facts = _facts_ids(cache, students, s_prof, n_sp, ep_role)
    u_sp, u_ep = uniq // n_ep, uniq % n_ep
    fkey = facts[u_sp, u_ep] * n_ep + u_ep
    _, first, inv = np.unique(fkey, return_index=True, return_inverse=True)
    for j in first.tolist():
        s, e = students[int(rep_s[u_sp[j]])], e_objs[int(rep_e[u_ep[j]])]
        decisions.append(cache.decide_profiles(cache.student_profile(s),
                                               e_prof_tuple[int(rep_e[u_ep[j]])], s, e))
    combo_d = np.zeros(n_sp * n_ep + 1, dtype=np.int64)
    combo_d[uniq] = inv.reshape(-1)
    pair_d = combo_d[combo]
    # Outside pairs: one decision per (educator, school), for its first student.
    if any_out:
        outs = np.nonzero(pair_out)[0]
        okey = pair_e[outs] * len(schools) + s_sch[pair_s[outs]]
        _, first, inv = np.unique(okey, return_index=True, return_inverse=True)
        base = len(decisions)
        for j in first.tolist():
            si, ei = int(pair_s[outs[j]]), int(pair_e[outs[j]])
            decisions.append(decide(district, students[si], e_objs[ei]))
        pair_d[outs] = base + inv.reshape(-1)
    eligible = np.array([d.capacity is not None for d in decisions], dtype=bool)
    keep = eligible[pair_d]
    pins = district.pins
    s_pos: dict[str, int] | None = None
    if pins:
        s_pos = {sid: i for i, sid in enumerate(district.students)}
        # A pin is the student's only edge (-2: pinned to someone not on staff).
        pinned_e = np.full(len(students), -1, dtype=np.int64)
        for sid, eid in pins.items():
            pinned_e[s_pos[sid]] = e_pos.get(eid, -2)
        pe = pinned_e[pair_s]
        keep &= (pe == -1) | (pair_e == pe)
    s_arr, e_arr, d_arr = pair_s[keep], pair_e[keep], pair_d[keep]

    forbidden = []
    if district.forbids:
        if s_pos is None:
            s_pos = {sid: i for i, sid in enumerate(district.students)}
        banned = {(s_pos[lk.student_id], e_pos[lk.educator_id]): lk for lk in district.locks
                  if lk.kind == "forbid" and lk.service is None}
        n_e = max(1, len(e_pos))
        ban_keys = np.array([s * n_e + e for s, e in banned], dtype=np.int64)
        # Only the pairs of students named in a forbid can be hit: test those.
        named = np.zeros(len(students), dtype=bool)
        named[[s for s, _ in banned]] = True
        cand = np.nonzero(named[s_arr])[0]
        hit_at = cand[np.isin(s_arr[cand] * n_e + e_arr[cand], ban_keys)]
        for k in hit_at.tolist():
            lk = banned[(int(s_arr[k]), int(e_arr[k]))]
            # Named by student and educator (not row), without the free-text
            # reason: this text reaches plan files, which --redact must clean.
            forbidden.append((lk.student_id, lk.educator_id,
                              f"forbidden in locks.csv ({lk.student_id}, "
                              f"{lk.educator_id})"))
        if len(hit_at):
            kept = np.ones(len(s_arr), dtype=bool)
            kept[hit_at] = False
            s_arr, e_arr, d_arr = s_arr[kept], e_arr[kept], d_arr[kept]
    out = _Edges(district, s_arr, e_arr, d_arr, decisions, tuple(forbidden))
    _CACHE[district] = out
    return out


def _facts_ids(cache: RuleCache, students: list, s_prof: np.ndarray, n_sp: int,
               ep_role: np.ndarray) -> np.ndarray:
    """[student profile, educator profile] -> the id of the facts the rules
    read for such a pair (what ``RuleCache._facts`` keys its decisions by,
    the educator profile aside): the teaching facts only when the role
    teaches the student's setting, the services the role provides, and best
    practice only for its role. A 100,000-student district has ~13,000
    student profiles but only a few thousand such facts per role, so the
    rules run once per facts, not once per (student profile, educator
    profile) pair (~170,000). Facts are compared as interned ints, by arrays.
    """
    pack = cache.pack
    first = np.zeros(n_sp, dtype=np.int64)
    first[s_prof[::-1]] = np.arange(len(s_prof) - 1, -1, -1)  # a student per profile
    rep = [students[i] for i in first.tolist()]
    interned: dict[object, int] = {}

    def ids(values: Iterable[object]) -> np.ndarray:
        return np.array([interned.setdefault(v, len(interned)) for v in values],
                        dtype=np.int64)

    sai = [s.sai_setting for s in rep]
    sai_id = ids(sai)
    teach_id = ids((s.basis_disability, s.other_disability, s.placement_basis,
                    s.support_level, s.support_level_derived, s.grade, s.sai_setting)
                   for s in rep)
    bp = [cache._best_practice(s) for s in rep]
    bp_id = ids(bp)
    bp_role = np.array([b[0] if b else None for b in bp], dtype=object)
    services = [s.services for s in rep]
    svc_of = {v: i for i, v in enumerate(dict.fromkeys(services))}
    svc_id = np.array([svc_of[v] for v in services], dtype=np.int64)
    sai_a = np.array(sai, dtype=object)
    out = np.zeros((n_sp, len(ep_role)), dtype=np.int64)
    base = 0
    for role_name in dict.fromkeys(ep_role.tolist()):
        role = pack.roles.get(role_name)
        cols = np.nonzero(ep_role == role_name)[0]
        if role is None:  # not a case-manager role: its rules stop at the gate
            continue
        teach = (np.where(sai_a == role.teaches, teach_id, sai_id) if role.teaches is not None
                 else sai_id)
        provided = ids(v & role.provides for v in svc_of)[svc_id]
        best = np.where(bp_role == role_name, bp_id, -1)
        # The three ids as one int (each below m), ordered as the triples are:
        # a 1-d unique, not a sort of 13,000 columns as structured values.
        m = len(interned) + 1
        _, local = np.unique((teach * m + provided) * m + (best + 1), return_inverse=True)
        local = local.reshape(-1)
        out[:, cols] = (base + local)[:, None]
        base += int(local.max()) + 1 if len(local) else 0
    return out


def edge_arrays(district: District) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                               list[Decision]]:
    """The rows of :func:`edge_table` as integer arrays, without its text columns.

    Returns
    -------
    (student_index, educator_index, decision_index, decisions)
        Per edge, in :func:`edge_table`'s row order: the student's and the
        educator's position in ``district.students`` and ``district.educators``
        (file order), and its :class:`Decision` (capacity, rank, reason) as a
        position in ``decisions``. Building the text columns of a million
        edges takes seconds; callers that need a few reasons read them here.

    Examples
    --------
    >>> s, e, d, decisions = edge_arrays(district)            # doctest: +SKIP
    >>> decisions[d[0]].reason                                # doctest: +SKIP
    """
    edges = _edges(district)
    return edges.student_index, edges.educator_index, edges.decision_index, edges.decisions


def eligible_pairs(district: District) -> pd.DataFrame:
    """The ``student_id`` and ``educator_id`` columns of :func:`edge_table`
    (same rows, same order), without its other text columns.

    The workbook's drop-downs need only who may case-manage whom; the whole
    table's text columns cost about 0.4 s at 100,000 students.

    Examples
    --------
    >>> eligible_pairs(district).head(2)                      # doctest: +SKIP
    """
    s_arr, e_arr, _, _ = edge_arrays(district)
    return pd.DataFrame({
        "student_id": np.array(list(district.students), dtype=object)[s_arr],
        "educator_id": np.array(list(district.educators), dtype=object)[e_arr]})


def edge_table(district: District) -> pd.DataFrame:
    """Every eligible (student, educator) edge as a tidy table, locks applied.

    Parameters
    ----------
    district
        A validated district.

    Returns
    -------
    DataFrame
        Columns ``student_id, educator_id, school_id, role, capacity, rank,
        current, pinned, reason``; rows in students.csv order, then for each
        student the educators serving their school in educators.csv order,
        then any the district's ``[school_rule]`` lets coordinate from
        another school.

    Examples
    --------
    >>> edges = edge_table(district)                         # doctest: +SKIP
    >>> edges.groupby("capacity").size()                     # doctest: +SKIP
    """
    # capacity and role are categorical, rank int8 (made so by _text_columns).
    return pd.DataFrame(_edges(district).columns, columns=list(EDGE_COLUMNS))


def build_graph(district: District) -> nx.Graph:
    """Build the bipartite eligibility graph of a district.

    Parameters
    ----------
    district
        A validated district (:func:`optimizer.load_district`).

    Returns
    -------
    networkx.Graph
        Student nodes ``("student", id)`` with ``bipartite=0``, ``school``,
        ``grade``, ``weight`` and ``best_practice`` (role or None); educator
        nodes ``("educator", id)`` with ``bipartite=1``, ``role``, ``cap``,
        ``other_load``; one edge per eligible pair (locks applied) with
        ``capacity``, ``rank``, ``reason``, ``current``, ``pinned``.
        ``G.graph["forbidden"]`` lists the eligible pairs removed by forbids.

    Examples
    --------
    >>> G = build_graph(load_district("data/sample"))        # doctest: +SKIP
    >>> nx.is_bipartite(G)                                   # doctest: +SKIP
    True
    """
    import networkx as nx  # only here: `caseload graph` and planning need no graph object

    edges = _edges(district)
    pack = district.rules
    G = nx.Graph(district=district.name, rule_pack=pack.name, forbidden=list(edges.forbidden))
    G.add_nodes_from(
        (student_node(sid), {"bipartite": 0, "school": s.school_id, "grade": s.grade,
                             "weight": s.weight,
                             "best_practice": (bp[0] if (bp := best_practice(pack, s)) else None)})
        for sid, s in district.students.items()
    )
    G.add_nodes_from(
        (educator_node(eid), {"bipartite": 1, "role": e.role, "cap": district.cap(eid),
                              "other_load": e.other_load, "schools": e.schools})
        for eid, e in district.educators.items()
    )
    c = edges.columns
    G.add_edges_from(
        (student_node(sid), educator_node(eid),
         {"capacity": cap, "rank": rank, "reason": why, "current": cur, "pinned": pin})
        for sid, eid, cap, rank, why, cur, pin in zip(
            c["student_id"], c["educator_id"], c["capacity"], c["rank"], c["reason"],
            c["current"], c["pinned"], strict=True)
    )
    return G


def components(G: nx.Graph) -> list[tuple[list[str], list[str]]]:
    """Connected components as (student ids, educator ids), largest first.

    Components are independent subproblems for the solver. Isolated
    students (no eligible case manager) and educators form their own.
    Order is deterministic: by size, then by the smallest id.

    Parameters
    ----------
    G
        The eligibility graph of :func:`build_graph`.

    Returns
    -------
    list of (list of str, list of str)
        Each component's student ids and educator ids, sorted.
    """
    import networkx as nx  # only here: see build_graph

    out = []
    for comp in nx.connected_components(G):
        students = sorted(n[1] for n in comp if n[0] == "student")
        educators = sorted(n[1] for n in comp if n[0] == "educator")
        out.append((students, educators))
    out.sort(key=lambda c: (-(len(c[0]) + len(c[1])), (c[0] or c[1])[0]))
    return out


def forbidden_edges(district: District) -> list[tuple[str, str, str]]:
    """The eligible pairs removed by forbids: (student_id, educator_id, why)
    (``build_graph(district).graph["forbidden"]``, without the graph)."""
    return list(_edges(district).forbidden)


def connected_labels(u: np.ndarray, v: np.ndarray, n_nodes: int) -> np.ndarray:
    """Connected component of every node of a graph given as edge arrays
    (label = the smallest node index in the component).

    Min-label propagation with pointer jumping, vectorized: a few passes even
    for a 100,000-student district, and no graph library needed.

    Examples
    --------
    >>> connected_labels(np.array([0, 2]), np.array([1, 3]), 5).tolist()
    [0, 0, 2, 2, 4]
    """
    labels = np.arange(n_nodes, dtype=np.int64)
    for _ in range(max(1, 2 * int(np.ceil(np.log2(n_nodes + 1))) + 64)):
        m = np.minimum(labels[u], labels[v])
        new = labels.copy()
        np.minimum.at(new, u, m)
        np.minimum.at(new, v, m)
        new = new[new]  # pointer jumping: follow labels to their root
        new = new[new]
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def component_summary(district: District) -> tuple[int, dict[str, int]]:
    """How many connected components the eligibility graph has, and the
    largest one's students and educators: what :func:`components` says of
    :func:`build_graph`'s graph, from arrays (no networkx graph built).

    Isolated students and educators are components of their own. The largest
    is the one with the most nodes; ties go to the one whose smallest id
    (a student's, or an educator's when it has no student) sorts first.

    Examples
    --------
    >>> component_summary(load_district("data/sample"))   # doctest: +SKIP
    (3, {'students': 1899, 'educators': 171})
    """
    n_s = len(district.students)
    if n_s + len(district.educators) == 0:
        return 0, {"students": 0, "educators": 0}
    students, educators, label_of = _component_sizes(district)
    total = students + educators
    tied = np.nonzero(total == total.max())[0]
    if len(tied) > 1:
        s_ids = np.array(list(district.students), dtype=object)
        e_ids = np.array(list(district.educators), dtype=object)

        def smallest(k: int) -> str:
            mine = s_ids[label_of[:n_s] == k]
            return str(min(mine) if len(mine) else min(e_ids[label_of[n_s:] == k]))

        best = min(tied.tolist(), key=smallest)
    else:
        best = int(tied[0])
    return len(total), {"students": int(students[best]), "educators": int(educators[best])}


def _component_sizes(district: District) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Students and educators per connected component, and each node's
    component (students first, then educators), from the edge arrays."""
    edges = _edges(district)
    n_s, n_e = len(district.students), len(district.educators)
    labels = connected_labels(edges.student_index, edges.educator_index + n_s, n_s + n_e)
    keys, label_of = np.unique(labels, return_inverse=True)
    return (np.bincount(label_of[:n_s], minlength=len(keys)),
            np.bincount(label_of[n_s:], minlength=len(keys)), label_of)


def components_with_students(district: District) -> int:
    """The connected components holding a student with an option (and so an
    educator too): the groups the planner solves on their own.

    Examples
    --------
    >>> components_with_students(load_district("data/sample"))   # doctest: +SKIP
    2
    """
    if not district.students or not district.educators:
        return 0
    students, educators, _ = _component_sizes(district)
    return int(((students > 0) & (educators > 0)).sum())


def edge_counts(district: District) -> dict[str, Any]:
    """What ``caseload graph`` counts of the edges, from the edge arrays (no
    table of 1.4 million rows grouped by text at 100,000 students).

    Returns
    -------
    dict
        ``edges``; ``case_manager_educators`` (educators with an edge);
        ``by_capacity`` and ``by_rank`` (edges per capacity, per rank);
        ``best_rank`` (students per best rank of their edges; students with
        no edge are not counted); ``taught`` (positions, in students.csv
        order, of the students with an edge in the instruction capacity).

    Examples
    --------
    >>> edge_counts(load_district("data/sample"))["edges"]   # doctest: +SKIP
    """
    edges = _edges(district)
    s_idx, rank = edges.student_index, edges.rank
    # Edges per capacity, in the order capacities first appear (as pandas'
    # value_counts(sort=False) lists them), counted on the decision codes.
    d_n = np.bincount(edges.decision_index, minlength=len(edges.decisions))
    d_first = np.full(len(edges.decisions), len(s_idx), dtype=np.int64)
    np.minimum.at(d_first, edges.decision_index, np.arange(len(s_idx), dtype=np.int64))
    by_cap_n: dict[str, int] = {}
    by_cap_at: dict[str, int] = {}
    for k, d in enumerate(edges.decisions):
        if d_n[k]:
            cap = str(d.capacity)
            by_cap_n[cap] = by_cap_n.get(cap, 0) + int(d_n[k])
            by_cap_at[cap] = min(by_cap_at.get(cap, len(s_idx)), int(d_first[k]))
    by_cap = {c: by_cap_n[c] for c in sorted(by_cap_n, key=by_cap_at.__getitem__)}
    n_s = len(district.students)
    ranks, rank_n = _value_counts(rank)
    best = np.full(n_s, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, s_idx, np.asarray(rank, dtype=np.int64))
    best_ranks, best_n = _value_counts(best[_present(s_idx, n_s)])
    return {
        "edges": len(s_idx),
        "case_manager_educators": len(_present(edges.educator_index, len(district.educators))),
        "by_capacity": {str(k): int(v) for k, v in by_cap.items()},
        "by_rank": {int(k): int(v) for k, v in zip(ranks, rank_n, strict=True)},
        "best_rank": {int(k): int(v) for k, v in zip(best_ranks, best_n, strict=True)},
        "taught": _present(s_idx[edges.capacity_is("instruction")], n_s),
    }


def _present(index: np.ndarray, n: int) -> np.ndarray:
    """The distinct values of ``index`` (all in ``range(n)``), sorted: what
    ``np.unique`` gives, by a table instead of sorting a million edges."""
    seen = np.zeros(n, dtype=bool)
    seen[index] = True
    return np.nonzero(seen)[0]


def _value_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_counts=True)`` for a few small ranks (-1 to 2),
    counted by ``bincount``."""
    counts = np.bincount(np.asarray(values, dtype=np.int64) + 1)
    keys = np.nonzero(counts)[0]
    return keys - 1, counts[keys]


def unplaceable_students(district: District) -> list[dict]:
    """Students with no eligible case manager, each with the rule that excluded
    every candidate at their school.

    Parameters
    ----------
    district
        A validated district.

    Returns
    -------
    list of dict
        ``student_id``, ``school_id``, ``candidates`` (a list of
        ``{"educator_id", "role", "why_not"}``) and ``summary`` (one sentence).
    """
    edges = _edges(district)
    has_edge = np.zeros(len(district.students), dtype=bool)
    has_edge[edges.student_index] = True
    forbidden = {(s, e): why for s, e, why in edges.forbidden}
    out = []
    for (sid, s), placeable in zip(district.students.items(), has_edge.tolist(), strict=True):
        if placeable:
            continue
        pinned_to = district.pins.get(sid)
        candidates = []
        for eid in district.educators_reaching_school[s.school_id]:
            e = district.educators[eid]
            if (sid, eid) in forbidden:
                why = [forbidden[(sid, eid)]]
            else:
                d = decide(district, s, e)
                why = (d.failed_text() if not d.eligible
                       else [f"eligible, but the student is pinned to {pinned_to}"])
            candidates.append({"educator_id": eid, "role": e.role, "why_not": why})
        if not candidates:
            summary = f"no educator serves school {s.school_id}"
        else:
            summary = (f"none of the {len(candidates)} educator(s) at school {s.school_id} "
                       "may case-manage this student")
        out.append({"student_id": sid, "school_id": s.school_id, "summary": summary,
                    "candidates": candidates})
    return out


def school_table(district: District) -> pd.DataFrame:
    """Per-school counts of the eligibility graph.

    Parameters
    ----------
    district
        A validated district.

    Returns
    -------
    DataFrame
        One row per school: students, educators serving it, eligible edges,
        students with a best-practice (rank 0) option, and students with no
        eligible case manager.
    """
    edges = _edges(district)
    sch_pos = {sch: i for i, sch in enumerate(district.schools)}
    school_of = np.array([sch_pos[s.school_id] for s in district.students.values()],
                         dtype=np.int64)
    n_sch = len(sch_pos)
    s_idx = edges.student_index
    # Counted by arrays (a 100,000-student district has 1.4 million edges).
    per_school = np.bincount(school_of[s_idx], minlength=n_sch)
    with_edge_n = np.bincount(school_of[_present(s_idx, len(school_of))], minlength=n_sch)
    best_n_a = np.bincount(school_of[_present(s_idx[edges.rank == 0], len(school_of))],
                           minlength=n_sch)
    edges_per = {sch: int(per_school[i]) for sch, i in sch_pos.items()}
    with_edge = {sch: int(with_edge_n[i]) for sch, i in sch_pos.items()}
    best_n = {sch: int(best_n_a[i]) for sch, i in sch_pos.items()}
    n_students = Counter(s.school_id for s in district.students.values())
    rows = []
    for sch_id, sch in district.schools.items():
        rows.append({
            "school_id": sch_id, "name": sch.name, "region": sch.region or "",
            "students": n_students.get(sch_id, 0),
            "educators": len(district.educators_by_school[sch_id]),
            "edges": int(edges_per.get(sch_id, 0)),
            "with_best_practice_option": int(best_n.get(sch_id, 0)),
            "no_eligible_case_manager": n_students.get(sch_id, 0)
            - int(with_edge.get(sch_id, 0)),
        })
    return pd.DataFrame(rows)
