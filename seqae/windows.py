"""Sliding windows over a series, and window values mapped back to time points.

The windows are made in numpy; `window_tensor` and `batched_windows` hand them to torch as views,
at the network's edge, without copying the series.

Vocabulary (after aeon's `sliding_windows` / `reverse_windowing`):

- a series has `n_timepoints` rows and `n_features` columns;
- window `i` starts at row `starts[i]` and covers `window_size` rows;
- windows start every `stride` rows, and one more window is placed at the end when the stride does
  not land there, so that with `stride <= window_size` every row is covered by at least one window
  (a longer stride skips rows: fine for training windows, never used for scoring).

Worked example, `n_timepoints=7, window_size=3, stride=2`:

    starts = [0, 2, 4]          (4 + 3 = 7: the last window ends on the last row)
    row:       0  1  2  3  4  5  6
    window 0:  x  x  x
    window 1:        x  x  x
    window 2:              x  x  x
    cover:     1  1  2  1  2  1  1

and with `stride=3`, starts = [0, 3, 4] (the extra window 4 ends on the last row).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


def window_starts(n_timepoints: int, window_size: int, stride: int = 1) -> np.ndarray:
    """Start rows of the windows that cover a series of `n_timepoints` rows.

    >>> window_starts(7, 3, 2).tolist()
    [0, 2, 4]
    >>> window_starts(7, 3, 3).tolist()
    [0, 3, 4]
    """
    if window_size < 1 or stride < 1:
        raise ValueError(f"window_size and stride must be >= 1, got {window_size} and {stride}")
    if n_timepoints < window_size:
        raise ValueError(f"a series of {n_timepoints} rows is shorter than one window of {window_size}")
    last = n_timepoints - window_size
    starts = np.arange(0, last + 1, stride)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def sliding_windows(values: np.ndarray, window_size: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a series, as a read-only view where the stride allows.

    Args:
        values: `(n_timepoints, n_features)` (or `(n_timepoints,)`).
        window_size: rows per window.
        stride: rows between window starts.

    Returns:
        `(windows, starts)`: windows `(n_windows, window_size, n_features)` and their start rows.

    >>> w, s = sliding_windows(np.arange(5.0), 3)
    >>> w.tolist(), s.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]], [0, 1, 2])
    """
    values = np.asarray(values)
    starts = window_starts(len(values), window_size, stride)
    view = np.lib.stride_tricks.sliding_window_view(values, window_size, axis=0)
    # sliding_window_view puts the window axis last: (n, n_features, window) -> (n, window, n_features)
    if values.ndim == 2:
        view = view.transpose(0, 2, 1)
    if stride == 1:
        return view, starts
    return view[starts], starts


def reverse_windowing(
    window_values: np.ndarray,
    starts: np.ndarray,
    n_timepoints: int,
    reduction: str = "mean",
) -> np.ndarray:
    """Map values per window step back to one value per time point.

    Args:
        window_values: `(n_windows, window_size, ...)`: a value for each step of each window.
        starts: `(n_windows,)` start row of each window (from `window_starts`).
        n_timepoints: length of the series.
        reduction: `mean` (average over the windows covering a row) or `last` (the value from the
            step furthest into a window covering the row: the last step of the window that ends
            on it, where one does, as an online detector would score it). `window` averages as
            `mean` does: it names values that are already each window's mean, given to its steps
            (`BaseDetector.window_scores`).

    Returns:
        `(n_timepoints, ...)`.

    >>> v = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    >>> reverse_windowing(v, np.array([0, 2]), 5).tolist()
    [1.0, 1.0, 2.0, 3.0, 3.0]
    """
    acc = WindowAccumulator(n_timepoints, window_values.shape[1], window_values.shape[2:], reduction)
    acc.add(window_values, starts)
    return acc.result()


class WindowAccumulator:
    """Accumulate per-step window values batch by batch into per-time-point values.

    Scoring feeds batches of windows through a net; this keeps only `(n_timepoints, ...)` sums in
    memory, never all windows at once. Each `add` is a loop over the `window_size` steps with
    vectorised adds, not over windows.

    For a series read in chunks, the rows held can roll forward: `extend` appends rows as they are
    read and `pop` hands out the finished rows at the front (rows no later window covers) and forgets
    them; `first_row` is the series row held at position 0, and `add` takes series rows.
    """

    def __init__(self, n_timepoints: int, window_size: int, trailing_shape=(), reduction: str = "mean"):
        if reduction not in ("mean", "last", "window"):
            raise ValueError(f"reduction must be 'mean', 'last' or 'window', got {reduction!r}")
        self.window_size = window_size
        self.reduction = reduction
        self.sums = np.zeros((n_timepoints, *trailing_shape), dtype=np.float64)
        self.counts = np.zeros(n_timepoints, dtype=np.int64)
        self.steps = np.full(n_timepoints, -1, dtype=np.int64)  # reduction "last": step kept per row
        self.first_row = 0

    def add(self, window_values: np.ndarray, starts: np.ndarray) -> None:
        """Add `(n, window_size, ...)` values for the windows starting at `starts` (increasing)."""
        starts = np.asarray(starts)
        if len(starts) == 0:
            return
        self._add(window_values, starts - self.first_row)

    def extend(self, n_rows: int) -> None:
        """Hold `n_rows` more rows at the end, covered by no window yet."""
        self.sums = np.concatenate([self.sums, np.zeros((n_rows, *self.sums.shape[1:]))])
        self.counts = np.concatenate([self.counts, np.zeros(n_rows, dtype=np.int64)])
        self.steps = np.concatenate([self.steps, np.full(n_rows, -1, dtype=np.int64)])

    def pop(self, n_rows: int) -> np.ndarray:
        """`result()` of the first `n_rows` rows held, which are then dropped."""
        done = self._result(self.sums[:n_rows], self.counts[:n_rows])
        self.sums, self.counts, self.steps = self.sums[n_rows:], self.counts[n_rows:], self.steps[n_rows:]
        self.first_row += n_rows
        return done

    def _add(self, window_values: np.ndarray, starts: np.ndarray) -> None:
        if self.reduction == "last":
            # Each row keeps the value of the step furthest into a window covering it: the step of
            # the window that ends on that row (the first window covering it, for earlier rows).
            # Comparing steps, not overwriting, keeps batches fed in any split equal to one batch.
            for k in range(self.window_size):
                rows = starts + k
                later = k >= self.steps[rows]
                self.sums[rows[later]] = window_values[later, k]
                self.steps[rows[later]] = k
                self.counts[rows] = 1
            return
        steps = np.diff(starts)
        if len(steps) > 1 and np.all(steps[:-1] == steps[0]) and steps[-1] != steps[0]:
            # Evenly spaced but for the extra window at the end of the series.
            self._add(window_values[:-1], starts[:-1])
            self._add(window_values[-1:], starts[-1:])
        elif len(steps) == 0 or np.all(steps == steps[0]):
            # Evenly spaced: one strided slice per window step.
            stride, first = (int(steps[0]) if len(steps) else 1), int(starts[0])
            stop = int(starts[-1]) + 1
            for k in range(self.window_size):
                self.sums[first + k : stop + k : stride] += window_values[:, k]
                self.counts[first + k : stop + k : stride] += 1
        else:
            for k in range(self.window_size):
                np.add.at(self.sums, starts + k, window_values[:, k])
                np.add.at(self.counts, starts + k, 1)

    def result(self) -> np.ndarray:
        return self._result(self.sums, self.counts)

    def _result(self, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        if np.any(counts == 0):
            missing = int(np.flatnonzero(counts == 0)[0]) + self.first_row
            raise ValueError(f"row {missing} is covered by no window")
        return sums / counts.reshape(-1, *([1] * (sums.ndim - 1)))


def window_tensor(values, window_size: int, stride: int = 1) -> torch.Tensor:
    """All windows of a scaled series as a strided view: `(n_windows, window_size, n_features)`.

    Uses the same starts as `window_starts`; no window is copied until a batch is taken. `values`
    may be a list of series (separate recordings): the windows of each, one after the other, so
    that no window spans two of them (copied into one tensor when there are several).
    """
    if isinstance(values, (list, tuple)):
        parts = [window_tensor(part, window_size, stride) for part in values]
        return parts[0] if len(parts) == 1 else torch.cat(parts)
    series = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))  # (n_timepoints, n_features)
    starts = window_starts(len(series), window_size, stride)
    view = series.unfold(0, window_size, 1).transpose(1, 2)  # (n - window + 1, window, n_features)
    if stride == 1:
        return view
    return view[torch.from_numpy(starts)]


def batched_windows(values: np.ndarray, window_size: int, stride: int,
                    batch_size: int) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """Yield `(windows, starts)` batches over a scaled series, for scoring.

    windows: `(batch, window_size, n_features)` contiguous float32; starts: their start rows.
    """
    series = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    view = series.unfold(0, window_size, 1).transpose(1, 2)
    starts = window_starts(len(series), window_size, stride)
    for first in range(0, len(starts), batch_size):
        chunk = starts[first:first + batch_size]
        if stride == 1 and len(chunk) > 1 and chunk[-1] - chunk[0] == len(chunk) - 1:
            batch = view[int(chunk[0]):int(chunk[-1]) + 1]
        else:
            batch = view[torch.from_numpy(chunk)]
        yield batch.contiguous(), chunk


def pad_batch(windows: torch.Tensor, multiple: int) -> torch.Tensor:
    """`windows` with its last window repeated until their count is a multiple of `multiple`.

    CPU kernels pick their algorithm by the batch's size: a window scored alone (a matrix-vector
    product) or in a batch of 2 to 11 gets other float32 roundings than in a large batch. Networks
    therefore run on batches of a multiple of 16 windows, so a window's score does not depend on
    how many windows share its batch (chunked, streamed and whole-file scoring cut batches
    differently); the padding's outputs are dropped.
    """
    extra = -len(windows) % multiple
    if not extra:
        return windows
    return torch.cat([windows, windows[-1:].expand(extra, *windows.shape[1:])])


def window_mean_scores(scores: np.ndarray, window_size: int, stride: int) -> np.ndarray:
    """The mean point score of each window (the windows `encode` returns, every `stride` rows)."""
    starts = window_starts(len(scores), window_size, stride)
    cumulative = np.concatenate([[0.0], np.cumsum(scores)])
    return (cumulative[starts + window_size] - cumulative[starts]) / window_size
