"""optimizer.arraysets gives what np.unique / np.isin give, on the shapes the
solver feeds it (keys student * n + provider, empty arrays, values past every key)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.arraysets import member, unique


@pytest.mark.parametrize("seed", range(20))
def test_same_as_numpy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 2000))
    high = int(rng.choice([3, 50, 10**9]))
    values = rng.integers(-5, high, n)
    keys = rng.integers(-5, high, int(rng.integers(0, 300)))
    got = unique(values)
    assert got.dtype == values.dtype
    assert np.array_equal(got, np.unique(values))
    assert np.array_equal(member(values, keys), np.isin(values, keys))


def test_edges():
    assert unique(np.zeros(0, dtype=np.int64)).tolist() == []
    assert unique(np.array([7])).tolist() == [7]
    assert unique(np.array([True, False, True])).tolist() == [False, True]
    assert member(np.array([1, 2]), np.zeros(0, dtype=np.int64)).tolist() == [False, False]
    # above every key, below every key, equal to the last key
    assert member(np.array([100, -100, 9]), np.array([9, 3])).tolist() == [False, False, True]
    assert member(np.array([[1, 2], [3, 4]]), np.array([4, 1])).tolist() == [[True, False],
                                                                           [False, True]]


def test_inputs_untouched():
    values = np.array([3, 1, 2])
    keys = np.array([2, 1])
    unique(values)
    member(values, keys)
    assert values.tolist() == [3, 1, 2] and keys.tolist() == [2, 1]
