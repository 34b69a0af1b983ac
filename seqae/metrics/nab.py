"""The Numenta Anomaly Benchmark's score (NAB v1.1, `nab/sweeper.py`): early detections rewarded,
every false detection charged.

A labelled window is worth its earliest detection: a detection at its first row earns `tp_weight`,
one at its last row almost nothing (a scaled sigmoid of the position in the window), a window with
none costs `fn_weight`. Every detected row outside the windows costs up to `fp_weight`: the full
weight before the first window and far from any, less right after a window ends. Rows of the
probationary period (the first 15 % of a file, at most 750 rows) count for nothing.

    raw = sum over windows (max credit of its detections, or -fn_weight)
          + sum over detected rows outside windows (their negative weights)
    score = 100 * (raw - null) / (perfect - null),  null = -fn_weight * windows, perfect = tp_weight * windows

so a detector that detects nothing scores 0 and one that detects every window at its first row
and nothing else 100. NAB's scoreboard picks one threshold for all files on the labelled corpus;
`nab_score` scores the detections it is given (seqae's live alerts, or flags at a fixed threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqae.metrics.checks import check_binary

PROFILES = {  # NAB's config/profiles.json
    "standard": {"tp_weight": 1.0, "fn_weight": 1.0, "fp_weight": 0.11},
    "reward_low_FP_rate": {"tp_weight": 1.0, "fn_weight": 1.0, "fp_weight": 0.22},
    "reward_low_FN_rate": {"tp_weight": 1.0, "fn_weight": 2.0, "fp_weight": 0.11},
}
PROBATION_SHARE = 0.15
PROBATION_MAX_ROWS = 750  # 0.15 x 5,000


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """NAB's weight of a detection at a relative position: -1 at a window's left edge gives
    0.98661, 0 its right edge 0, positive values (past a window) down to -1 (3 or more)."""
    position = np.asarray(position, dtype=np.float64)
    return np.where(position >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(position, 3.0))) - 1.0)


def probation_rows(n_rows: int) -> int:
    """NAB's probationary period: 15 % of the rows, at most 750."""
    return int(min(math.floor(PROBATION_SHARE * n_rows), PROBATION_SHARE * 5000))


@dataclass(frozen=True)
class NabCounts:
    """A file's (or, summed with `+`, a corpus') raw NAB score and its windows."""

    raw: float
    n_windows: int
    n_detected_windows: int
    n_false_rows: int
    tp_weight: float = 1.0
    fn_weight: float = 1.0

    def __add__(self, other: "NabCounts") -> "NabCounts":
        return NabCounts(self.raw + other.raw, self.n_windows + other.n_windows,
                         self.n_detected_windows + other.n_detected_windows, self.n_false_rows + other.n_false_rows,
                         self.tp_weight, self.fn_weight)

    @property
    def score(self) -> float:
        """100 * (raw - null) / (perfect - null); NaN without windows."""
        null, perfect = -self.fn_weight * self.n_windows, self.tp_weight * self.n_windows
        return 100.0 * (self.raw - null) / (perfect - null) if self.n_windows else math.nan


def nab_counts(windows, detections, *, profile: str = "standard", probation: int | None = None) -> NabCounts:
    """Score the 0/1 `detections` of one file against its labelled `windows`.

    Args:
        windows: 0/1 per row (1 inside a labelled anomaly window) or a list of (first, last) row
            positions, inclusive, in time order and not overlapping.
        detections: 0/1 per row: the rows where the detector raised a detection.
        profile: one of `PROFILES`.
        probation: rows at the start that count for nothing (default: NAB's, `probation_rows`).

    >>> counts = nab_counts([0, 0, 0, 1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0, 1], probation=0)
    >>> round(counts.raw, 4), counts.n_windows, counts.n_false_rows
    (0.8915, 1, 1)
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown NAB profile {profile!r}; choose one of {', '.join(PROFILES)}")
    weights = PROFILES[profile]
    detected = check_binary(detections, "detections").astype(bool)
    n = detected.size
    spans = _spans(windows, n)
    skip = probation_rows(n) if probation is None else int(probation)
    weight = _row_weights(spans, n, weights["tp_weight"], weights["fp_weight"])
    inside = np.full(n, -1, dtype=np.int64)  # each row's window, -1 outside
    for k, (first, last) in enumerate(spans):
        inside[first:last + 1] = k
    scorable = np.arange(n) >= skip
    raw, n_found = 0.0, 0
    for k in range(len(spans)):
        rows = (inside == k) & scorable
        if not rows.any():
            continue  # a window wholly in the probation is not scored
        hits = rows & detected
        raw += float(weight[hits].max()) if hits.any() else -weights["fn_weight"]
        n_found += bool(hits.any())
    false_rows = detected & (inside < 0) & scorable
    raw += float(weight[false_rows].sum())
    n_windows = sum(bool(((inside == k) & scorable).any()) for k in range(len(spans)))
    return NabCounts(raw, n_windows, n_found, int(false_rows.sum()), weights["tp_weight"], weights["fn_weight"])


def _row_weights(spans: list[tuple[int, int]], n: int, tp_weight: float, fp_weight: float) -> np.ndarray:
    """What a detection on each row would earn (inside a window) or cost (outside), NAB's sweep."""
    rows = np.arange(n, dtype=np.float64)
    weight = np.full(n, -fp_weight)  # before the first window: the full cost
    max_tp = float(scaled_sigmoid(-1.0))
    for k, (first, last) in enumerate(spans):
        width = last - first + 1
        inner = slice(first, last + 1)
        weight[inner] = scaled_sigmoid(-(last - rows[inner] + 1) / width) * tp_weight / max_tp
        after = slice(last + 1, spans[k + 1][0] if k + 1 < len(spans) else n)
        past = np.abs(last - rows[after]) / max(width - 1, 1)
        weight[after] = scaled_sigmoid(past) * fp_weight
    return weight


def _spans(windows, n: int) -> list[tuple[int, int]]:
    array = np.asarray(windows)
    if array.ndim == 1 and array.size == n and n != 2:
        labels = check_binary(array, "windows")
        edges = np.flatnonzero(np.diff(np.r_[0, labels, 0]))
        return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
    spans = [(int(a), int(b)) for a, b in np.asarray(windows, dtype=np.int64).reshape(-1, 2)]
    for (a, b), following in zip(spans, spans[1:] + [(n, n)]):
        if not 0 <= a <= b < following[0] <= n:
            raise ValueError(f"windows must be (first, last) row positions in time order, not overlapping, "
                             f"inside 0..{n - 1}; got {spans}")
    return spans
