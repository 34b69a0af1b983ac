"""The scoring stages every detector shares, from a model's element scores to a score per row.

    scaled series --windows--> a model's element scores per window step and sensor
      --element_scores: the windows covering each row, combined--> (n_timepoints, n_features)
        (or causal_element_scores: the window ending on each row alone, for live scoring)
      --contributions: each sensor normalised by its spread on normal data, / n_features-->
      --causal_smooth: rolling mean over the last `smoothing` rows--> contributions
      --sum over sensors--> one score per row

Public so that chunked and live scoring (`seqae.streaming`), the fit's normaliser and the
benchmarks run exactly these stages rather than copies of them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from seqae.windows import WindowAccumulator, batched_windows

SCORE_BATCH = 1024  # at most this many windows per forward pass when scoring
SCORE_BATCH_VALUES = 1 << 19  # and at most this many window steps x hidden units: ~2 MiB of float32

WindowScorer = Callable[[torch.Tensor], np.ndarray]  # (batch, window, features) -> same shape


def score_batch_size(window_size: int, width: int) -> int:
    """Windows per forward pass when scoring. A network's activations for a batch are about
    batch x window_size x width floats (width: hidden units or sensors, the larger); past ~2 MiB
    they fall out of the CPU's cache and each window costs more (benchmarks/README.md measures
    it), so large windows and nets get smaller batches."""
    return max(1, min(SCORE_BATCH, SCORE_BATCH_VALUES // (window_size * max(width, 1))))


def element_scores(window_scores: WindowScorer, scaled: np.ndarray, window_size: int, stride: int,
                   reduction: str, batch_size: int) -> np.ndarray:
    """Raw score per time point and sensor, `(n_timepoints, n_features)`, of a scaled series:
    `window_scores` of every window, the windows covering a row combined by `reduction` (`mean`
    of them, or the `last`: the window ending on the row)."""
    accumulator = WindowAccumulator(len(scaled), window_size, (scaled.shape[1],), reduction)
    for windows, starts in batched_windows(scaled, window_size, stride, batch_size):
        accumulator.add(window_scores(windows), starts)
    return accumulator.result()


def causal_element_scores(window_scores: WindowScorer, scaled: np.ndarray, window_size: int, reduction: str,
                          batch_size: int) -> np.ndarray:
    """Raw score per sensor of the window ending on each row, `(n_timepoints - window_size + 1,
    n_features)` for rows `window_size - 1` onwards: what a row's score can be from the rows up to
    it alone. `reduction` `mean`: the window's element scores averaged over its steps (the
    window's error, as `knn-window` gives it to its rows); `last`: its last step's (the default
    scores of those rows with `score_reduction="last"`).

    Every window is scored (a `score_stride` does not apply: each row needs its own window), in
    batches of `batch_size`; a window's scores do not depend on its batch (`BaseDetector.window_scores`),
    and the steps are added one by one in float64, so a series scored in pieces of any length
    (down to one row, `seqae.streaming.LiveScorer`) gives these values exactly.
    """
    n_windows = len(scaled) - window_size + 1
    out = np.empty((max(n_windows, 0), scaled.shape[1]), dtype=np.float64)
    if n_windows <= 0:
        return out
    for windows, starts in batched_windows(scaled, window_size, 1, batch_size):
        values = window_scores(windows)  # (batch, window_size, n_features)
        if reduction == "last":
            out[starts] = values[:, -1]
            continue
        sums = np.zeros((len(starts), scaled.shape[1]), dtype=np.float64)
        for k in range(window_size):
            sums += values[:, k]
        out[starts] = sums / window_size
    return out


def fit_normalizer(elements: np.ndarray, method: str, floor_share: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Per-sensor (center, scale) of element scores `(n_timepoints, n_features)` of normal rows:
    `robust` (median, MAD x 1.4826), `zscore` (mean, standard deviation) or `none` (0, 1). No
    scale is below `floor_share` times the median sensor's."""
    n_features = elements.shape[1]
    if method == "none":
        return np.zeros(n_features), np.ones(n_features)
    if method == "zscore":
        center, scale = elements.mean(axis=0), elements.std(axis=0)
    else:  # robust
        center = np.median(elements, axis=0)
        scale = 1.4826 * np.median(np.abs(elements - center), axis=0)
    # A sensor the model reconstructs perfectly (a constant one) must not divide by zero.
    floor = max(floor_share * float(np.median(scale)), 1e-8)
    return center, np.maximum(scale, floor)


def contributions(elements: np.ndarray, normalizer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Normalised per-sensor scores divided by the sensor count: each row sums to the row's score."""
    center, scale = normalizer
    return (elements - center) / scale / elements.shape[1]


def causal_smooth(contributions: np.ndarray, smoothing: int, previous: np.ndarray | None = None) -> np.ndarray:
    """Causal rolling mean of the contributions over `smoothing` rows; rows still sum to the score.

    Row t becomes the mean of rows t - smoothing + 1 .. t (the first rows of a series average the
    rows there are): the smoothing adds no look-ahead of its own, but the rows it averages may
    have: with `score_reduction="mean"` a row's element score uses the windows covering it, up to
    `window_size - 1` rows after it (`causal_element_scores` has none). `previous`: the unsmoothed rows just before
    these, at most `smoothing - 1` of them, for a series scored in pieces to match it scored whole.
    """
    k = smoothing
    if k <= 1:
        return contributions
    n_previous = 0 if previous is None else len(previous)
    rows = contributions if not n_previous else np.concatenate([previous, contributions])
    n = len(rows)
    # Each row's k-row sum added up on its own, oldest row first (zeros before the series
    # starts): the same numbers whether the series is scored whole or in pieces. A running
    # cumulative sum would differ in the last bits between the two, and lose precision over
    # millions of rows.
    padded = np.concatenate([np.zeros((k - 1, rows.shape[1])), rows])
    sums = padded[:n].copy()
    for lag in range(1, k):
        sums += padded[lag:lag + n]
    means = sums / np.minimum(np.arange(1, n + 1), k)[:, None]
    return means[n_previous:]
