"""optimizer.arraysets gives what np.unique / np.isin give, on the shapes the
solver feeds it (keys student * n + provider, empty arrays, values past every key)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.arraysets import first_seen, member, stable_order, unique


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


@pytest.mark.parametrize("seed", range(24))
def test_stable_order_is_the_stable_sort(seed):
    """Ties in index order, whatever the span of the labels (one radix pass
    below 2**16, two below 2**32, NumPy's merge beyond) and their type."""
    rng = np.random.default_rng(seed)
    low = int(rng.choice([-1, 0, -(2**40), 7]))
    span = int(rng.choice([1, 184, 2**16 - 1, 2**16, 2**16 + 3, 6 * 10**8, 2**32 - 1,
                           2**32, 2**45]))
    dtype = rng.choice([np.int64, np.int32, np.uint32, np.uint16, np.int16])
    info = np.iinfo(dtype)
    hi = min(max(low + span, int(info.min)), int(info.max))
    lo = min(max(low, int(info.min)), hi)
    values = rng.integers(lo, hi, int(rng.integers(0, 3000)), endpoint=True).astype(dtype)
    # The oracle: Python's sort, stable by definition.
    want = sorted(range(len(values)), key=lambda i: int(values[i]))
    assert stable_order(values).tolist() == want


@pytest.mark.parametrize("seed", range(6))
def test_stable_order_of_labels_mostly_in_order(seed):
    rng = np.random.default_rng(seed)
    values = np.sort(rng.integers(0, int(rng.choice([50, 10**6, 2**40])), 5000))
    swap = rng.integers(0, len(values), int(rng.integers(0, 200)))
    values[swap] = values[swap[::-1]]  # a few out of place, many ties
    want = sorted(range(len(values)), key=lambda i: int(values[i]))
    assert stable_order(values).tolist() == want


def test_stable_order_of_other_arrays_is_numpys():
    floats = np.array([0.5, -1.0, 0.5, 2.0])
    assert stable_order(floats).tolist() == [1, 0, 2, 3]
    grid = np.array([[3, 1], [0, 2]])
    assert stable_order(grid).tolist() == np.argsort(grid, kind="stable").tolist()
    assert stable_order(np.zeros(0, dtype=np.int64)).tolist() == []
    assert stable_order(np.array([True, False, True])).tolist() == [1, 0, 2]
