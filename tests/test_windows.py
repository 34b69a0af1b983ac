"""Windowing: hand-computed tables first, then properties over random shapes (hypothesis)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqae.intervals
import seqae.thresholds
import seqae.windows
from seqae.windows import WindowAccumulator, reverse_windowing, sliding_windows, window_starts


@pytest.mark.parametrize("module", [seqae.windows, seqae.thresholds, seqae.intervals], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


# ---- hand-computed cases -------------------------------------------------------------------------


@pytest.mark.parametrize("n_timepoints, window_size, stride, expected", [
    (7, 3, 1, [0, 1, 2, 3, 4]),
    (7, 3, 2, [0, 2, 4]),  # 4 + 3 = 7: the stride lands on the end
    (7, 3, 3, [0, 3, 4]),  # an extra window ends on the last row
    (7, 7, 1, [0]),  # one window, the whole series
    (7, 1, 1, [0, 1, 2, 3, 4, 5, 6]),
    (7, 1, 4, [0, 4, 6]),  # a stride longer than the window skips rows (training only)
    (10, 4, 5, [0, 5, 6]),
    (5, 3, 10, [0, 2]),  # a stride longer than the series still covers the end
])
def test_window_starts(n_timepoints, window_size, stride, expected):
    assert window_starts(n_timepoints, window_size, stride).tolist() == expected


@pytest.mark.parametrize("args, message", [
    ((2, 3, 1), "a series of 2 rows is shorter than one window of 3"),
    ((0, 1, 1), "a series of 0 rows is shorter than one window of 1"),
    ((5, 0, 1), "window_size and stride must be >= 1, got 0 and 1"),
    ((5, 2, 0), "window_size and stride must be >= 1, got 2 and 0"),
])
def test_window_starts_rejects_impossible_windows(args, message):
    with pytest.raises(ValueError, match=message):
        window_starts(*args)


def test_sliding_windows_of_a_two_sensor_series():
    values = np.array([[0, 10], [1, 11], [2, 12], [3, 13], [4, 14]], dtype=float)
    windows, starts = sliding_windows(values, 3, 2)
    assert starts.tolist() == [0, 2]
    assert windows.shape == (2, 3, 2)  # (n_windows, window_size, n_features)
    assert windows[0].tolist() == [[0, 10], [1, 11], [2, 12]]
    assert windows[1].tolist() == [[2, 12], [3, 13], [4, 14]]


def test_sliding_windows_with_an_extra_end_window_and_a_1d_series():
    windows, starts = sliding_windows(np.arange(6.0), 4, 3)
    assert starts.tolist() == [0, 2]
    assert windows.tolist() == [[0, 1, 2, 3], [2, 3, 4, 5]]


def test_sliding_windows_is_a_view_for_stride_one():
    values = np.arange(12.0).reshape(6, 2)
    windows, _ = sliding_windows(values, 3)
    assert np.shares_memory(windows, values)


@pytest.mark.parametrize("window_values, starts, n_timepoints, reduction, expected", [
    # every window constant: a row gets the mean of the windows covering it
    ([[1, 1, 1], [3, 3, 3]], [0, 2], 5, "mean", [1, 1, 2, 3, 3]),
    ([[1, 1, 1], [3, 3, 3], [5, 5, 5]], [0, 1, 2], 5, "mean", [1, 2, 3, 4, 5]),
    # steps differ: row 2 is step 2 of window 0, step 1 of window 1, step 0 of window 2
    ([[0, 1, 2], [10, 11, 12], [20, 21, 22]], [0, 1, 2], 5, "mean", [0, 5.5, 11, 16.5, 22]),
    # "last": the last step of the window ending on the row; before that, window 0's steps
    ([[0, 1, 2], [10, 11, 12], [20, 21, 22]], [0, 1, 2], 5, "last", [0, 1, 2, 12, 22]),
    # stride 3 with an extra window at the end (starts 0, 3, 4)
    ([[1, 1, 1], [2, 2, 2], [4, 4, 4]], [0, 3, 4], 7, "mean", [1, 1, 1, 2, 3, 3, 4]),
    ([[0, 1, 2], [10, 11, 12], [20, 21, 22]], [0, 3, 4], 7, "last", [0, 1, 2, 10, 11, 12, 22]),
    # windows of one row: each row is its own window
    ([[7], [8], [9]], [0, 1, 2], 3, "mean", [7, 8, 9]),
    ([[7], [8], [9]], [0, 1, 2], 3, "last", [7, 8, 9]),
])
def test_reverse_windowing(window_values, starts, n_timepoints, reduction, expected):
    result = reverse_windowing(np.asarray(window_values, dtype=float), np.asarray(starts), n_timepoints,
                               reduction)
    np.testing.assert_allclose(result, expected)


def test_reverse_windowing_keeps_trailing_axes():
    # (n_windows, window_size, n_features): each sensor is reversed on its own
    values = np.stack([np.full((3, 3), 1.0), np.full((3, 3), 2.0)], axis=-1)
    values[1] *= 3
    result = reverse_windowing(values, np.array([0, 1, 2]), 5)
    assert result.shape == (5, 2)
    np.testing.assert_allclose(result[:, 0], [1, 2, 5 / 3, 2, 1])
    np.testing.assert_allclose(result[:, 1], 2 * result[:, 0])


def test_uncovered_rows_are_an_error():
    accumulator = WindowAccumulator(6, 2)
    accumulator.add(np.ones((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError, match="row 4 is covered by no window"):
        accumulator.result()


def test_unknown_reduction_is_an_error():
    with pytest.raises(ValueError, match="reduction must be 'mean', 'last' or 'window', got 'max'"):
        WindowAccumulator(5, 2, reduction="max")


@pytest.mark.parametrize("reduction", ["mean", "last"])
@pytest.mark.parametrize("n_timepoints, window_size, stride, cuts", [
    (20, 4, 1, [1, 5, 6]),
    (20, 4, 3, [2, 4]),  # the last batch holds the extra end window alone
    (23, 5, 2, [3]),
    (9, 3, 3, [1, 2]),
])
def test_accumulator_fed_in_batches_equals_one_batch(reduction, n_timepoints, window_size, stride, cuts):
    rng = np.random.default_rng(n_timepoints + stride)
    starts = window_starts(n_timepoints, window_size, stride)
    values = rng.normal(size=(len(starts), window_size, 2))
    whole = reverse_windowing(values, starts, n_timepoints, reduction)
    batched = WindowAccumulator(n_timepoints, window_size, (2,), reduction)
    for part in np.split(np.arange(len(starts)), cuts):
        batched.add(values[part], starts[part])
    np.testing.assert_allclose(batched.result(), whole, rtol=1e-12)


# ---- properties ----------------------------------------------------------------------------------


@st.composite
def series_shapes(draw, longer_strides=False):
    """(n_timepoints, window_size, stride); strides up to window_size (the ones that cover every row)."""
    window_size = draw(st.integers(1, 12))
    n_timepoints = draw(st.integers(window_size, 80))
    stride = draw(st.integers(1, window_size + (5 if longer_strides else 0)))
    return n_timepoints, window_size, stride


@settings(max_examples=150, deadline=None)
@given(series_shapes(longer_strides=True))
def test_windows_start_every_stride_rows_and_end_on_the_last_row(shape):
    n_timepoints, window_size, stride = shape
    starts = window_starts(n_timepoints, window_size, stride)
    assert starts[0] == 0 and starts[-1] == n_timepoints - window_size
    assert np.all(np.diff(starts)[:-1] == stride)  # only the extra end window may be closer
    assert np.all((np.diff(starts) >= 1) & (np.diff(starts) <= stride))


@settings(max_examples=150, deadline=None)
@given(series_shapes())
def test_windows_cover_every_row(shape):
    n_timepoints, window_size, stride = shape
    covered = np.zeros(n_timepoints, dtype=int)
    for start in window_starts(n_timepoints, window_size, stride):
        covered[start:start + window_size] += 1
    assert covered.min() >= 1


@settings(max_examples=100, deadline=None)
@given(series_shapes(longer_strides=True), st.integers(1, 3))
def test_sliding_windows_match_slices(shape, n_features):
    n_timepoints, window_size, stride = shape
    values = np.arange(n_timepoints * n_features, dtype=float).reshape(n_timepoints, n_features)
    windows, starts = sliding_windows(values, window_size, stride)
    assert windows.shape == (len(starts), window_size, n_features)
    for window, start in zip(windows, starts):
        np.testing.assert_array_equal(window, values[start:start + window_size])


@settings(max_examples=100, deadline=None)
@given(series_shapes(), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from(["mean", "last"]))
def test_reverse_windowing_of_constant_windows_is_that_constant(shape, constant, reduction):
    n_timepoints, window_size, stride = shape
    starts = window_starts(n_timepoints, window_size, stride)
    values = np.full((len(starts), window_size), constant)
    np.testing.assert_allclose(reverse_windowing(values, starts, n_timepoints, reduction), constant, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(series_shapes(), st.integers(1, 8), st.sampled_from(["mean", "last"]))
def test_reverse_windowing_of_the_series_own_windows_gives_the_series_back(shape, seed, reduction):
    # each window holds the rows it covers, so every reduction must return the rows themselves
    n_timepoints, window_size, stride = shape
    series = np.random.default_rng(seed).normal(size=n_timepoints)
    windows, starts = sliding_windows(series, window_size, stride)
    np.testing.assert_allclose(reverse_windowing(windows, starts, n_timepoints, reduction), series, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(series_shapes(), st.data(), st.sampled_from(["mean", "last"]))
def test_batching_invariance(shape, data, reduction):
    n_timepoints, window_size, stride = shape
    starts = window_starts(n_timepoints, window_size, stride)
    values = np.random.default_rng(len(starts)).normal(size=(len(starts), window_size))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(starts) - 1)), max_size=4)))
    accumulator = WindowAccumulator(n_timepoints, window_size, reduction=reduction)
    for part in np.split(np.arange(len(starts)), cuts):
        accumulator.add(values[part], starts[part])
    np.testing.assert_allclose(accumulator.result(), reverse_windowing(values, starts, n_timepoints, reduction),
                               rtol=1e-12)
