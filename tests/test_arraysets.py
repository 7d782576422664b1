"""optimizer.arraysets gives what np.unique / np.isin give, on the shapes the
solver feeds it (keys student * n + provider, empty arrays, values past every key)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.arraysets import first_seen, member, unique


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


@pytest.mark.parametrize("seed", range(10))
def test_first_seen_numbers_values_in_order_of_first_appearance(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, int(rng.choice([3, 40, 10**9])), int(rng.integers(0, 500)))
    codes, first = first_seen(values)
    # The same numbering one value at a time, by a dictionary.
    seen: dict[int, int] = {}
    want = [seen.setdefault(int(v), len(seen)) for v in values]
    assert codes.tolist() == want
    assert first.tolist() == [want.index(c) for c in range(len(seen))]


def test_first_seen_of_nothing():
    codes, first = first_seen(np.zeros(0, dtype=np.int64))
    assert codes.tolist() == [] and first.tolist() == []
