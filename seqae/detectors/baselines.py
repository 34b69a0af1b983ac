"""The baselines without a network: PCA on windows, and each reading's distance from its usual level.

A network is worth its training only where it beats these (docs/benchmarks.md compares them).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from seqae.detectors.base import BaseDetector
from seqae.params import Param, Satisfies, is_int, is_real
from seqae.windows import window_tensor


class PCADetector(BaseDetector):
    """PCA reconstruction error on flattened windows (a baseline; `window_size=1` is point-wise PCA).

    Parameters as every detector's (`BaseDetector`), normalised on the training rows by default,
    and `n_components`.
    """

    model_type = "pca"
    parameters = {
        "n_components": Param(
            0.95, Satisfies(
                lambda n, _: (is_int(n) and n >= 1) or (is_real(n) and not is_int(n) and 0.0 < n < 1.0), "",
                message="n_components must be a whole number of components >= 1 or a share of the variance "
                        "between 0 and 1 (exclusive), got {value!r}"),
            "components kept: an int, or a float in (0, 1) for that share of the variance."),
    }
    defaults = {"window_size": 1, "normalize_on": "train"}

    def _fit_model(self, train_parts, validation_parts):
        windows = window_tensor(train_parts, self.window_size).reshape(-1, self.window_size * self.n_features_in_)
        n_components = self.n_components
        if isinstance(n_components, (int, np.integer)):
            n_components = min(int(n_components), *windows.shape)
        pca = PCA(n_components=n_components, svd_solver="full", random_state=self.random_state)
        pca.fit(windows.numpy().astype(np.float64))
        self.mean_ = pca.mean_.astype(np.float32)
        self.components_ = pca.components_.astype(np.float32)  # (n_components, window * n_features)

    def _window_scores(self, windows):
        # The projection in float64, rounded to float32 at the end. BLAS kernels sum a product in
        # an order that depends on the CPU, the operands' memory alignment and the thread count;
        # in float32 that moves the scores of a reloaded model in their last bits on some CPUs. In
        # float64 the differences stay below float32's resolution, so the same model gives the same
        # float32 scores wherever its arrays lie (the cost: benchmarks/speed/bench_pca_projection.py).
        flat = windows.numpy().reshape(len(windows), -1).astype(np.float64) - self.mean_
        components = self.components_.astype(np.float64)
        reconstruction = (flat @ components.T) @ components
        return ((flat - reconstruction) ** 2).astype(np.float32).reshape(windows.shape)

    def model_state(self):
        return {"mean": self.mean_.tolist(), "components": self.components_.tolist()}, {}

    def load_model_state(self, config, tensors):
        self.mean_ = np.asarray(config["mean"], dtype=np.float32)
        self.components_ = np.asarray(config["components"], dtype=np.float32)


class DeviationDetector(BaseDetector):
    """How far each reading is from its sensor's centre on the training rows: the baseline with
    nothing to learn.

    A sensor's element score is its squared scaled reading, `((x - centre) / spread)²` with the
    input scaler's centre and spread (by default the median and IQR / 1.349 of the training rows),
    then normalised, smoothed, averaged over sensors and thresholded like every other detector's.
    It sees levels, not shapes or relations between sensors: a reading inside its usual range
    scores low whatever the other sensors do. Compare a network with it before trusting that the
    network learned more than each sensor's usual level.

    With `window_size=W` and `score_reduction="window"` a row's score is the mean over the windows
    covering it of each window's mean squared reading, as the nearest-window detector gives a
    window's distance to its rows: the level over about a window, not one reading's. At the window
    `seqae fit` chooses it is the level member of the default for several sensors (docs/benchmarks.md,
    "Auto-configuration", has the evidence).

    Parameters as every detector's (`BaseDetector`; `random_state` unused: nothing is random), with
    `window_size=1` (each reading alone; the reduction then changes nothing) and `scaling="robust"`
    by default.
    """

    model_type = "deviation"
    defaults = {"window_size": 1, "scaling": "robust"}

    def _fit_model(self, train_parts, validation_parts):
        pass  # the scaler, fitted by `fit`, is the whole model

    def _element_scores(self, scaled):
        if self.window_size > 1:
            return super()._element_scores(scaled)
        # A window of one row covers one row: the squares themselves, as float64 as the window
        # accumulator would give them (chunked scoring goes through _window_scores, to the same values).
        return np.square(scaled).astype(np.float64)

    def _normalizer_elements(self, scaled_parts, elements):
        # Each sensor in units of the spread of its single readings' squares, whatever the window:
        # the spread of its window means over the held-out rows is small for a steady sensor, and
        # would give it a weight that the first drift turns into false alarms.
        return [np.square(part).astype(np.float64) for part in scaled_parts]

    def _window_scores(self, windows):
        return np.square(windows.numpy())

    def model_state(self):
        return {}, {}

    def load_model_state(self, config, tensors):
        pass
