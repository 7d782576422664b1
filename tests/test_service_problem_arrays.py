"""ServiceProblem.from_arrays: options in any order give the same problem
(sorted by pair then provider, and by student, provider, kind), and an
option listed twice is an error."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.planning.solvers.services_problem import ServiceProblem


def _arrays(**change):
    base = dict(
        student_ids=["S1", "S2"], pair_student=[0, 0, 1],
        pair_service=["SAI", "SPEECH", "SPEECH"],
        provider_ids=["R1", "L1", "L2"], provider_role=["RSP", "SLP", "SLP"], cap=[28, 55, 55],
        edge_pair=[0, 1, 1, 2, 2], edge_provider=[0, 1, 2, 1, 2], edge_rank=[0, 0, 1, 0, 2],
        cm_student=[0, 0, 0, 1, 1], cm_provider=[0, 0, 1, 1, 2], cm_kind=[0, 1, 0, 0, 1],
        cm_rank=[0, 2, 1, 0, 2])
    base.update(change)
    return base


def _rows(p: ServiceProblem):
    return (p.edge_pair.tolist(), p.edge_provider.tolist(), p.edge_rank.tolist(),
            p.cm_student.tolist(), p.cm_provider.tolist(), p.cm_kind.tolist(),
            p.cm_rank.tolist())


def test_options_in_any_order_give_the_same_problem():
    sorted_p = ServiceProblem.from_arrays(**_arrays())
    rng = np.random.default_rng(3)
    base = _arrays()
    for _ in range(5):
        e = rng.permutation(5)
        c = rng.permutation(5)
        shuffled = _arrays(**{k: [base[k][i] for i in e]
                              for k in ("edge_pair", "edge_provider", "edge_rank")},
                           **{k: [base[k][i] for i in c]
                              for k in ("cm_student", "cm_provider", "cm_kind", "cm_rank")})
        assert _rows(ServiceProblem.from_arrays(**shuffled)) == _rows(sorted_p)


@pytest.mark.parametrize("change, message", [
    (dict(edge_pair=[0, 1, 1, 1, 2], edge_provider=[0, 1, 2, 1, 2]),
     "a service option is listed twice"),
    (dict(cm_student=[0, 0, 0, 1, 0], cm_provider=[0, 0, 1, 1, 1], cm_kind=[0, 1, 0, 0, 0]),
     "a case-manager option is listed twice"),
])
def test_an_option_listed_twice_is_an_error(change, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        ServiceProblem.from_arrays(**_arrays(**change))


def test_own_and_coordinator_of_one_provider_are_two_options():
    p = ServiceProblem.from_arrays(**_arrays())
    assert [(s, e, k) for s, e, k in zip(p.cm_student.tolist(), p.cm_provider.tolist(),
                                          p.cm_kind.tolist(), strict=True)][:2] == [
        (0, 0, 0), (0, 0, 1)]
