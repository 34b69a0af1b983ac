"""Nearest normal windows: a detector whose score is how far each window is from the closest window
of the training data.

No network and nothing fitted but a memory: the scaled training windows. A new window is compared
with every window in memory; its distance to the nearest (or the mean over the `n_neighbors`
nearest) is its score, split by sensor (the squared differences of each sensor's readings, averaged
over the window's rows), so each sensor's share is how far its own readings are from the matched
normal window. This is the semi-supervised form of nearest-neighbour window distance (the "discord"
score behind the matrix profile, and TSB-AD's windowed KNN): it needs no training and cannot
under-fit, it sees shape and level alike, and a window it has seen the like of scores low whatever
its values.

    frame --scaler_--> windows (batch, window, features) --nearest of memory_ (n_memory, window, features)-->
      squared difference per step and sensor, averaged over the window's steps (the window's distance,
      per sensor, given to each of its rows) --mean over the windows covering a row--> normalised,
      smoothed, summed

The class is registered as `knn-window`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from seqae.detectors.base import BaseDetector
from seqae.errors import DataError
from seqae.params import Integer, OneOf, Param
from seqae.windows import window_tensor

MEMORY_BATCH_VALUES = 1 << 22  # distance-matrix entries per block when scoring: ~16 MiB of float32
# A window is like one an operator judged normal (`verdict_gate`) within the larger of two reaches:
# VERDICT_TOLERANCE times the median distance of a normal window to its nearest normal window (a
# departure as small as a normal window's own), and VERDICT_SHARE of that verdict window's own
# distance from the normal windows (a repeat of a large pattern, with its own noise). Chosen on the
# dev sets' replayed verdicts (docs/benchmarks.md, "Operator feedback"): a wider absolute reach took
# labelled anomalies with the false alerts.
VERDICT_TOLERANCE = 2.0
VERDICT_SHARE = 0.25


class NearestWindowsDetector(BaseDetector):
    """Distance of each window to its nearest training windows (k-nearest neighbours on windows).

    Parameters as every detector's (`BaseDetector`; `random_state` unused: nothing is random), with
    `scaling="robust"` by default, and the memory's own. With `score_reduction="mean"` (the default)
    a window's distance reaches every row of it.

    With `threshold_on="all"` every training row's causal score is out of sample, as a new row's is:
    the distance of the window ending on it to the nearest training window that shares no row with
    it (the matrix profile's self-join with an exclusion zone of one window), so the threshold and
    the alert rules are calibrated on the whole training stretch, every time of a daily cycle that
    it holds, rather than on its held-out end alone. A recording too short for every window to have
    such a match (about three windows' worth of rows) is calibrated as with
    `threshold_on="validation"`, with a warning. Measured on the dev sets and not the
    default (docs/benchmarks.md, "Decisions as live monitoring has them"): on a short training
    stretch of a few cycles, a time of day the windows hold once has no match and scores high.
    """

    model_type = "knn-window"
    # A window's distances come from one matrix product with its batch; a lone window would take
    # the matrix-vector kernel and other roundings, and could pick another of two near-equal
    # neighbours: batches of a multiple of 16, as the networks', keep live scores equal to batch ones.
    batch_quantum = 16
    parameters = {
        "n_neighbors": Param(1, Integer(1), "training windows averaged (1 = the nearest alone)."),
        "max_memory": Param(4096, Integer(1), "at most this many training windows kept (evenly spaced when "
                                              "there are more); scoring costs one comparison per window in "
                                              "memory."),
        "memory_from": Param(
            "all", OneOf(("all", "train")),
            "`all` (once the normaliser and threshold are fitted on the held-out rows' distances, which are "
            "out of sample as new rows' are, the held-out rows' windows join the memory, so every normal "
            "window seen is remembered; docs/benchmarks.md, \"Auto-configuration\") or `train` (the rows "
            "before the held-out ones only)."),
    }
    defaults = {"scaling": "robust"}

    def _fit_model(self, train_parts, validation_parts) -> None:
        self.memory_ = self._memory(train_parts)

    def _training_causal_elements(self, scaled_parts):
        if self.threshold_on != "all":
            return super()._training_causal_elements(scaled_parts)
        elements = self._self_join_elements(scaled_parts)
        if elements is None:
            warnings.warn(f"threshold_on='all': in a recording of {min(len(p) for p in scaled_parts)} rows some "
                          f"windows of {self.window_size} rows share rows with every other one, so not every "
                          "training row can be scored out of sample; the threshold is fitted as with "
                          "threshold_on='validation'; give recordings of about three windows' worth of rows or more",
                          stacklevel=4)
            return super()._training_causal_elements(scaled_parts)
        return elements

    def _self_join_elements(self, parts: list[np.ndarray]) -> list[np.ndarray] | None:
        """Each recording's causal element scores, every window against the training windows (at
        most `max_memory`, evenly spaced) that share no row with it; a row of NaN for each row
        before its first full window. None when a window is left without such a match."""
        w = self.window_size
        windows = window_tensor(parts, w).numpy()  # (n_windows, window, features), recording by recording
        counts = [max(len(part) - w + 1, 0) for part in parts]
        offsets = np.cumsum([0] + [len(part) + w for part in parts[:-1]])  # recordings a window apart
        starts = np.concatenate([offset + np.arange(n) for offset, n in zip(offsets, counts)])
        keep = self._kept(len(windows))
        memory = windows[keep].astype(np.float32)
        norms = (memory.reshape(len(memory), -1).astype(np.float64) ** 2).sum(axis=1)
        batch = self.score_batch_size()  # windows at a time, as scoring takes them
        scores = np.empty((len(windows), windows.shape[2]), dtype=np.float64)
        for first in range(0, len(windows), batch):
            x = np.ascontiguousarray(windows[first:first + batch], dtype=np.float32)
            scores[first:first + len(x)], _ = _nearest_distances(x, memory, norms, self.n_neighbors,
                                                                 exclude=(starts[first:first + len(x)], starts[keep], w))
        if not np.isfinite(scores).all():
            return None
        out, first = [], 0
        for part, n in zip(parts, counts):
            out.append(np.concatenate([np.full((len(part) - n, part.shape[1]), np.nan), scores[first:first + n]]))
            first += n
        return out

    def _absorb_held_out(self, scaled_parts) -> None:
        if self.memory_from == "all":
            self.memory_ = self._memory(scaled_parts)

    def _memory(self, parts: list[np.ndarray]) -> np.ndarray:
        """The windows of the recordings `parts` kept in memory: all, or `max_memory` evenly spaced
        (no window spans two recordings)."""
        windows = window_tensor(parts, self.window_size)  # (n_windows, window, features)
        return windows[torch.from_numpy(self._kept(len(windows)))].numpy().astype(np.float32).copy()

    def _kept(self, n_windows: int) -> np.ndarray:
        """The positions of the windows a memory keeps of `n_windows`: all, or `max_memory` evenly spaced."""
        return np.unique(np.linspace(0, n_windows - 1, min(n_windows, self.max_memory)).round().astype(np.int64))

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        x = windows.numpy().astype(np.float32)  # (batch, window, features)
        per_sensor, _ = _nearest_distances(x, self.memory_, self._memory_norms(), self.n_neighbors)
        return np.broadcast_to(per_sensor[:, None], x.shape).astype(np.float32)

    def _memory_norms(self) -> np.ndarray:
        """The squared length of each memory window in float64, worked out once per memory."""
        cached = getattr(self, "_norms_of", None)
        if cached is None or cached[0] is not self.memory_:
            memory = self.memory_.reshape(len(self.memory_), -1)
            self._norms_of = (self.memory_, (memory.astype(np.float64) ** 2).sum(axis=1))
        return self._norms_of[1]

    def model_state(self):
        tensors = {"memory": torch.from_numpy(self.memory_)}
        verdicts = self.verdicts()
        if len(verdicts):
            tensors["verdicts"] = torch.from_numpy(verdicts)
            tensors["verdict_reach"] = torch.from_numpy(self.verdict_reach_)
        return {"n_memory": int(len(self.memory_)), "n_verdicts": int(len(verdicts))}, tensors

    def load_model_state(self, config, tensors):
        if "memory" not in tensors:
            raise DataError("no weights.pt with the training windows beside config.json; "
                            "a NearestWindowsDetector needs them")
        self.memory_ = tensors["memory"].numpy().astype(np.float32)
        if "verdicts" in tensors:
            self.verdicts_ = tensors["verdicts"].numpy().astype(np.float32)
            self.verdict_reach_ = tensors["verdict_reach"].numpy().astype(np.float64)

    # ---- operators' verdicts (seqae.feedback) ------------------------------------------------------

    def verdicts(self) -> np.ndarray:
        """The windows operators judged normal, `(n, window, features)` scaled (none at first)."""
        verdicts = getattr(self, "verdicts_", None)
        if verdicts is None:
            return np.empty((0, *self.memory_.shape[1:]), dtype=np.float32)
        return verdicts

    def keep_verdict(self, values, rows=None) -> int:
        """Keep the windows of rows `values` (readings in the fitted column order, at least one window)
        as windows judged normal (`verdict_gate`); the scores do not change. `rows` (bool, one per
        row): keep only the windows ending on these. Returns how many windows were kept."""
        self.check_fitted()
        values, _ = self.check_input(values)
        windows = window_tensor([self.scaler_.transform(values)], self.window_size).numpy().astype(np.float32)
        if rows is not None:
            windows = windows[np.asarray(rows, dtype=bool)[self.window_size - 1:]]
        reach, _ = _nearest_distances(windows, self.memory_, self._memory_norms(), 1)
        self.verdict_reach_ = np.concatenate([getattr(self, "verdict_reach_", np.empty(0)), reach.sum(axis=1)])
        self.verdicts_ = np.concatenate([self.verdicts(), windows])
        return len(windows)

    def verdict_gate(self):
        """A window is like one judged normal when its distance to the nearest of them is within the
        larger of `VERDICT_TOLERANCE` times the median distance of a held-out normal window to its
        nearest training window (the normaliser's centre, summed over the sensors) and
        `VERDICT_SHARE` of that verdict window's own distance from the training windows."""
        verdicts = self.verdicts()
        if not len(verdicts):
            return None
        flat = verdicts.reshape(len(verdicts), -1)
        norms = (flat.astype(np.float64) ** 2).sum(axis=1)
        reach = np.maximum(VERDICT_TOLERANCE * float(np.sum(self.normalizer_[0])), VERDICT_SHARE * self.verdict_reach_)

        def gate(windows: torch.Tensor) -> np.ndarray:
            distances, nearest = _nearest_distances(windows.numpy().astype(np.float32), verdicts, norms, 1)
            return distances.sum(axis=1) <= reach[nearest[:, 0]]

        return gate


def _nearest_distances(x: np.ndarray, memory: np.ndarray, norms: np.ndarray, n_neighbors: int,
                       exclude: tuple[np.ndarray, np.ndarray, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per sensor, the mean squared difference over the steps between each window of `x` `(batch,
    window, features)` and its nearest windows of `memory` (the mean over `n_neighbors` of them), by
    blocks of `MEMORY_BATCH_VALUES`, `(batch, features)`; and the nearest windows' positions in
    `memory`, `(batch, n_neighbors)`. `norms`: each memory window's squared length in float64.
    `exclude` `(x_starts, memory_starts, zone)`: a memory window whose start is less than `zone`
    rows from an `x` window's is not a match for it; a window with no match scores inf."""
    batch = len(x)
    flat = x.reshape(batch, -1)
    memory_flat = memory.reshape(len(memory), -1)  # (n_memory, window * features)
    k = min(n_neighbors, len(memory_flat))
    best_d = np.full((batch, k), np.inf, dtype=np.float64)
    best_i = np.zeros((batch, k), dtype=np.int64)
    rows = np.arange(batch)
    block = max(1, MEMORY_BATCH_VALUES // max(batch, 1))
    x_sq = (flat.astype(np.float64) ** 2).sum(axis=1)[:, None]
    for first in range(0, len(memory_flat), block):
        part = memory_flat[first:first + block]
        d = x_sq - 2.0 * (flat @ part.T)  # (batch, part)
        d += norms[first:first + len(part)][None]
        if exclude is not None:
            x_starts, memory_starts, zone = exclude
            d[np.abs(x_starts[:, None] - memory_starts[None, first:first + len(part)]) < zone] = np.inf
        if k == 1:  # the nearest: the first of equal distances, the earlier block's on a tie
            nearest = np.argmin(d, axis=1)
            closer = d[rows, nearest] < best_d[:, 0]
            best_d[closer, 0] = d[rows, nearest][closer]
            best_i[closer, 0] = first + nearest[closer]
            continue
        d = np.concatenate([best_d, d], axis=1)
        order = np.argpartition(d, k - 1, axis=1)[:, :k] if d.shape[1] > k else np.argsort(d, axis=1)[:, :k]
        best_d = np.take_along_axis(d, order, axis=1)
        # positions below k are the kept best, the others this block's windows
        best_i = np.where(order < k, np.take_along_axis(best_i, np.minimum(order, k - 1), axis=1),
                          first + order - k)
    neighbours = memory[best_i]  # (batch, k, window, features)
    squared = ((x[:, None] - neighbours) ** 2).mean(axis=1)  # (batch, window, features)
    distances = squared.mean(axis=1)  # the window's distance, per sensor
    if exclude is not None:
        distances[~np.isfinite(best_d).all(axis=1)] = np.inf
    return distances, best_i
