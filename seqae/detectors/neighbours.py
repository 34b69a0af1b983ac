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

import numpy as np
import torch

from seqae.detectors.base import BaseDetector
from seqae.errors import DataError
from seqae.params import Integer, OneOf, Param
from seqae.windows import window_tensor

MEMORY_BATCH_VALUES = 1 << 22  # distance-matrix entries per block when scoring: ~16 MiB of float32


class NearestWindowsDetector(BaseDetector):
    """Distance of each window to its nearest training windows (k-nearest neighbours on windows).

    Parameters as every detector's (`BaseDetector`; `random_state` unused: nothing is random), with
    `scaling="robust"` by default, and the memory's own. With `score_reduction="mean"` (the default)
    a window's distance reaches every row of it.
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

    def _absorb_held_out(self, scaled_parts) -> None:
        if self.memory_from == "all":
            self.memory_ = self._memory(scaled_parts)

    def _memory(self, parts: list[np.ndarray]) -> np.ndarray:
        """The windows of the recordings `parts` kept in memory: all, or `max_memory` evenly spaced
        (no window spans two recordings)."""
        windows = window_tensor(parts, self.window_size)  # (n_windows, window, features)
        n_windows = len(windows)
        keep = np.unique(np.linspace(0, n_windows - 1, min(n_windows, self.max_memory)).round().astype(np.int64))
        return windows[torch.from_numpy(keep)].numpy().astype(np.float32).copy()

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        x = windows.numpy().astype(np.float32)  # (batch, window, features)
        batch, window, n_features = x.shape
        flat = x.reshape(batch, -1)
        memory = self.memory_.reshape(len(self.memory_), -1)  # (n_memory, window * features)
        norms = self._memory_norms()  # (n_memory,) squared length of each memory window
        k = min(self.n_neighbors, len(memory))
        best_d = np.full((batch, k), np.inf, dtype=np.float64)
        best_i = np.zeros((batch, k), dtype=np.int64)
        rows = np.arange(batch)
        block = max(1, MEMORY_BATCH_VALUES // max(batch, 1))
        x_sq = (flat.astype(np.float64) ** 2).sum(axis=1)[:, None]
        for first in range(0, len(memory), block):
            part = memory[first:first + block]
            d = x_sq - 2.0 * (flat @ part.T)  # (batch, part)
            d += norms[first:first + len(part)][None]
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
        neighbours = self.memory_[best_i]  # (batch, k, window, features)
        squared = ((x[:, None] - neighbours) ** 2).mean(axis=1)  # (batch, window, features)
        per_sensor = squared.mean(axis=1, keepdims=True)  # the window's distance, per sensor
        return np.broadcast_to(per_sensor, x.shape).astype(np.float32)

    def _memory_norms(self) -> np.ndarray:
        """The squared length of each memory window in float64, worked out once per memory."""
        cached = getattr(self, "_norms_of", None)
        if cached is None or cached[0] is not self.memory_:
            memory = self.memory_.reshape(len(self.memory_), -1)
            self._norms_of = (self.memory_, (memory.astype(np.float64) ** 2).sum(axis=1))
        return self._norms_of[1]

    def model_state(self):
        return {"n_memory": int(len(self.memory_))}, {"memory": torch.from_numpy(self.memory_)}

    def load_model_state(self, config, tensors):
        if "memory" not in tensors:
            raise DataError("no weights.pt with the training windows beside config.json; "
                            "a NearestWindowsDetector needs them")
        self.memory_ = tensors["memory"].numpy().astype(np.float32)


    def remember(self, values) -> int:
        """Add the windows of rows `values` (readings in the fitted column order, at least one
        window) to the memory: windows like them then score as low as the training windows. Returns
        how many windows joined (one per row from the `window_size`-th)."""
        self.check_fitted()
        values, _ = self.check_input(values)
        windows = window_tensor([self.scaler_.transform(values)], self.window_size).numpy().astype(np.float32)
        self.memory_ = np.concatenate([self.memory_, windows])
        return len(windows)
