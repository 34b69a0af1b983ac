"""The estimator every detector is: fit on normal data, then score, flag, explain and save.

Every detector follows scikit-learn's estimator contract: `__init__` only stores its arguments,
`fit` validates and sets attributes with a trailing underscore and returns `self`, and every method
after `fit` checks that it was fitted. Higher score = more anomalous, everywhere.

How a frame becomes scores (the flow in STYLE.md):

    frame (n_timepoints × n_features) --scaler_--> scaled --windows--> (n_windows, window, features)
      --model--> an element score per window step and sensor (squared error, or -log-likelihood)
      --mean over the windows covering a row--> (n_timepoints, n_features)
      --normalised by each sensor's spread (median, MAD) on the training rows' errors, or on the
        held-out rows' with normalize_on="validation"--> per-sensor scores
      --causal rolling mean over `smoothing` rows (1 = none)-->
      --mean over sensors--> one score per time point --threshold_--> flags --alert_rules_--> alerts

The per-sensor scores are each sensor's share of the point's score (they add up to it), which is
what `sensor_scores` returns and what names the top sensors of an alert. The stages after the
model are public functions of `seqae.detectors.scoring`; a `Detection` carries one pass's results;
`seqae.detectors.persistence` writes and reads a fitted detector.

Parameters are declared once, in the class that introduces them (`parameters`: name -> `Param`,
its default, constraint and meaning), and a subclass states the defaults it changes (`defaults`).
The `__init__` that stores them is generated (`seqae.params.keyword_init`) with an explicit
signature, so `get_params`, `clone` and `help()` see every parameter and its class's default.
Every subclass with a `model_type` registers itself in `seqae.detectors.registry.DETECTORS`.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone

from seqae.alerts import AlertRules, detection_alert_ids, detection_alerts, rows_per_day
from seqae.data import Scaler
from seqae.detectors import persistence, scoring
from seqae.detectors.detection import Detection
from seqae.detectors.inputs import check_table
from seqae.detectors.registry import DETECTORS
from seqae.devices import on_compute_threads
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.params import (Integer, NoneOr, OneOf, Param, Real, Satisfies, check_params, declared_parameters,
                          keyword_init)
from seqae.thresholds import QuantileThreshold, Threshold
from seqae.windows import pad_batch

NORMALIZATIONS = ("zscore", "robust", "none")
SCORE_REDUCTIONS = ("mean", "last", "window")
SCORE_PRECISIONS = ("float32", "bfloat16")
THRESHOLD_SOURCES = ("validation", "all")
NORMALIZE_SOURCES = ("train", "validation")
MAX_SEED = 2**32 - 2  # random_state + 1 seeds the VAE's training draws; scikit-learn takes < 2**32


class BaseDetector(BaseEstimator):
    """What every seqae detector shares: input checks, scaling, windows, scores, thresholds, save.

    Subclasses declare their own parameters (`parameters`, `defaults`; see the module docstring)
    and implement `_fit_model`, `_window_scores` and the `model_state` pair.
    """

    model_type = "base"
    batch_quantum = 1  # windows per forward pass are a multiple of this (networks: see windows.pad_batch)
    min_format_version = 1  # the oldest save format this class's model still loads from

    parameters = {
        "window_size": Param(32, Integer(1), "rows per window."),
        "validation_fraction": Param(
            0.2, Real(0.0, 1.0, high_open=True),
            "the last part of the training rows held out, in time order: it decides early stopping and, by "
            "default, the threshold."),
        "normalization": Param(
            "robust", OneOf(NORMALIZATIONS),
            "per-sensor normalisation of the element scores before summing: `robust` (by their median and MAD "
            "on the rows `normalize_on` names: a few anomalous rows there do not mute a sensor), `zscore` "
            "(mean and standard deviation) or `none`."),
        "normalize_on": Param(
            "validation", OneOf(NORMALIZE_SOURCES),
            "the rows whose element scores the normalisation is fitted on: `validation` (the held-out rows: "
            "out-of-sample scores, the size new normal data gives, where a model's errors on the rows it was "
            "trained on are smaller; `train` when nothing is held out) or `train` (the rows the model was "
            "fitted on)."),
        "scaling": Param(
            "standard", OneOf(Scaler.METHODS),
            "the input scaler fitted on the training rows: `standard` (mean, standard deviation) or `robust` "
            "(median, IQR / 1.349; an IQR of 0 falls back to the deviation)."),
        "score_reduction": Param(
            "mean", OneOf(SCORE_REDUCTIONS),
            "`mean` of all windows covering a row, the `last` (the one ending there), or `window`: each "
            "window's mean score over its steps, given to each of its rows, then the mean of the windows "
            "covering a row (`window_scores`)."),
        "smoothing": Param(
            1, Integer(1, message="smoothing must be a whole number of rows >= 1 (1 = no smoothing), got {value!r}"),
            "rows of the causal rolling mean applied to the score (and to each sensor's share of it); 1 = none. "
            "It adds no look-ahead, but with `score_reduction=\"mean\"` a row's score already uses the rows up "
            "to `window_size - 1` after it; `detect(X, causal=True)` scores each row from the rows up to it "
            "alone. A one-row spike is diluted by it."),
        "threshold_on": Param(
            "validation", OneOf(THRESHOLD_SOURCES),
            "fit the threshold on the held-out `validation` rows or `all` training rows (either way sliced "
            "from the scores of all the training rows scored as one series)."),
        "score_stride": Param(1, Integer(1, "window_size"),
                              "rows between scored windows (1 = every window; larger is faster)."),
        "threshold": Param(
            None, NoneOr(Satisfies(lambda t, _: isinstance(t, Threshold), ""),
                         message="threshold must be a seqae Threshold (e.g. QuantileThreshold(0.99)), got {value!r}"),
            "a `Threshold` fitted on the scores of normal data (None: the 99th percentile)."),
        "random_state": Param(
            None, NoneOr(Integer(0, MAX_SEED), f"None or a whole number from 0 to {MAX_SEED}"),
            "seed of every random draw (weights, shuffling, noise, samples): same seed, same model; "
            "accepted and unused where nothing is random."),
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = keyword_init(cls, declared_parameters(cls))
        if "model_type" in cls.__dict__:
            DETECTORS[cls.model_type] = cls

    # ---- public API -----------------------------------------------------------------------------

    @on_compute_threads
    def fit(self, X, y=None) -> "BaseDetector":
        """Learn what normal looks like from `X` (a frame of sensors, or an array), all assumed normal.

        The last `validation_fraction` of the rows (in time order) is held out: it decides early
        stopping and, by default, the threshold.

        `X` may also be a list of frames (or arrays): separate recordings of the same sensors, one
        model for all of them. No window spans two recordings, each holds out its own last
        `validation_fraction` of rows, and the scaler sees all their rows. The fitted scores
        (`train_scores_`, `validation_scores_`, `training_detection_`) are the recordings' one
        after the other.
        """
        self.check_params()
        segments, feature_names = self.check_segments(X)
        self.feature_names_in_ = np.asarray(feature_names, dtype=object)
        self.n_features_in_ = len(feature_names)
        n_vals = self._held_out_rows([len(values) for values, _ in segments])
        self.scaler_ = Scaler().fit(np.concatenate([values for values, _ in segments]), method=self.scaling)
        scaled = [self.scaler_.transform(values) for values, _ in segments]  # each (n_timepoints, n_features) float32
        n_trains = [len(part) - n_val for part, n_val in zip(scaled, n_vals)]
        self._fit_model([part[:n] for part, n in zip(scaled, n_trains)],
                        [part[n:] for part, n in zip(scaled, n_trains) if n < len(part)] or None)

        # Score each recording once and slice it: the held-out rows scored as a short series of
        # their own would have their first and last rows covered by few windows, and score high.
        elements = self._training_element_scores(scaled)
        normalize_rows = [element[n:] if self.normalize_on == "validation" and any(n_vals) else element[:n]
                          for element, n in zip(self._normalizer_elements(scaled, elements), n_trains)]
        self.normalizer_ = scoring.fit_normalizer(np.concatenate(normalize_rows), self.normalization)
        contributions = [scoring.causal_smooth(scoring.contributions(element, self.normalizer_), self.smoothing)
                         for element in elements]
        scores = [part.sum(axis=1) for part in contributions]
        self.train_scores_ = np.concatenate([part[:n] for part, n in zip(scores, n_trains)])
        self.validation_scores_ = (np.concatenate([part[n:] for part, n in zip(scores, n_trains)])
                                   if any(n_vals) else None)
        index = segments[0][1] if len(segments) == 1 else segments[0][1].append([i for _, i in segments[1:]])
        all_scores = np.concatenate(scores)
        # What fit computed on its own rows, kept so that logging the fit does not score them again.
        self.training_detection_ = Detection(index, list(self.feature_names_in_), all_scores,
                                             np.concatenate(contributions), np.nan,
                                             np.zeros(len(all_scores), dtype=np.int8))
        self._fit_threshold()
        if any(n_vals):
            self._absorb_held_out(scaled)
        return self

    def _held_out_rows(self, lengths: list[int]) -> list[int]:
        """Rows held out at the end of each recording: its last `validation_fraction`, or none for a
        recording too short to leave a window on either side (with a warning)."""
        n_vals = [int(n * self.validation_fraction) for n in lengths]
        short = [k for k, (n, n_val) in enumerate(zip(lengths, n_vals))
                 if n_val and (n_val < self.window_size or n - n_val < self.window_size)]
        if short and len(lengths) == 1:
            warnings.warn(
                f"{lengths[0]} training rows are too few to hold out {self.validation_fraction:.0%} "
                f"for validation with window_size={self.window_size}; training on all rows, "
                "without early stopping, threshold fitted on training scores",
                stacklevel=4,  # the caller of fit (past fit and on_compute_threads)
            )
        elif short:
            n_vals = [0 if k in short else n_val for k, n_val in enumerate(n_vals)]
            where = ", ".join(f"{k + 1} ({lengths[k]} rows)" for k in short[:5])
            warnings.warn(
                f"recordings {where} are too short to hold out {self.validation_fraction:.0%} for validation "
                f"with window_size={self.window_size}; all their rows are training rows"
                + ("" if any(n_vals) else "; no rows held out: no early stopping, threshold fitted on "
                   "training scores"),
                stacklevel=4,  # the caller of fit (past fit and on_compute_threads)
            )
        return [0 if k in short else n_val for k, n_val in enumerate(n_vals)]

    def set_threshold(self, threshold: Threshold | None) -> "BaseDetector":
        """Fit another `threshold` (None: the default) and the alert rules with it on the normal
        scores that `fit` kept, without fitting the model again."""
        self.check_fitted()
        if not hasattr(self, "training_detection_"):
            raise NotFittedError(f"this {type(self).__name__} was loaded, not fitted here: its training scores are "
                                 "not kept; fit it with the threshold instead")
        self.set_params(threshold=threshold)
        self.check_params()
        self._fit_threshold()
        return self

    def _fit_threshold(self) -> None:
        """threshold_ and alert_rules_ from the held-out rows' scores (or those `threshold_on` names)."""
        training = self.training_detection_
        if self.threshold_on == "all":
            threshold_scores = training.scores
        elif self.validation_scores_ is not None:
            threshold_scores = self.validation_scores_
        else:
            threshold_scores = self.train_scores_
        threshold = QuantileThreshold(0.99) if self.threshold is None else clone(self.threshold)
        if getattr(threshold, "per_day", None) is not None and threshold.rows_per_day is None:
            threshold.set_params(rows_per_day=rows_per_day(training.index))  # a budget per day: rows per day
        self.threshold_ = threshold.fit(threshold_scores)
        # The alert rules, fitted on the same normal scores: a budget threshold brings its own.
        rules = getattr(self.threshold_, "rules_", None)
        self.alert_rules_ = rules if rules is not None else AlertRules().fit(threshold_scores, self.threshold_)
        training.threshold, training.flags = self.threshold_.value_, self.threshold_.flag(training.scores)

    @on_compute_threads
    def detect(self, X, causal: bool = False) -> Detection:
        """Score `X` once and return scores, per-sensor contributions and flags together.

        `causal=True`: each row's score from the rows up to it alone, as a live feed would score
        it (`seqae.streaming.LiveScorer` gives the same numbers row by row): the window ending on
        the row (`scoring.causal_element_scores`), normalised and smoothed as usual. The first
        `window_size - 1` rows have no full window yet: `warming_up` marks them, with a NaN score
        and contributions and flag 0. Any number of rows is accepted. The default scores give a
        row the windows covering it, which (with `score_reduction="mean"`) reach up to
        `window_size - 1` rows past it; docs/benchmarks.md measures what causal scores cost.
        """
        self.check_fitted()
        values, index = self.check_input(X, min_rows=1 if causal else None)
        scaled = self.scaler_.transform(values)
        if causal:
            return self.causal_detection(scoring.causal_element_scores(
                self.window_scores, scaled, self.window_size, self.score_reduction, self.score_batch_size()), index)
        elements = self._element_scores(scaled)
        contributions = scoring.causal_smooth(scoring.contributions(elements, self.normalizer_), self.smoothing)
        scores = contributions.sum(axis=1)
        return Detection(index, list(self.feature_names_in_), scores, contributions,
                         self.threshold_.value_, self.threshold_.flag(scores))

    def causal_detection(self, elements: np.ndarray, index: pd.Index,
                         previous: np.ndarray | None = None) -> Detection:
        """The causal `Detection` of rows `index` from the element scores of the windows ending on
        them (`scoring.causal_element_scores`), which are the last `len(elements)` rows; the rows
        before them are warming up. `previous`: the unsmoothed contributions of the scored rows
        just before these (at most `smoothing - 1`), for a series scored in pieces."""
        n_rows = len(index)
        n_warming = n_rows - len(elements)
        contributions = np.full((n_rows, int(self.n_features_in_)), np.nan)
        contributions[n_warming:] = scoring.causal_smooth(scoring.contributions(elements, self.normalizer_),
                                                          self.smoothing, previous=previous)
        scores = contributions.sum(axis=1)
        warming_up = np.zeros(n_rows, dtype=bool)
        warming_up[:n_warming] = True
        return Detection(index, list(self.feature_names_in_), scores, contributions,
                         self.threshold_.value_, self.threshold_.flag(scores), warming_up)

    @contextmanager
    def scoring_precision(self, precision: str = "float32"):
        """Score in `precision` inside the `with` block. A detector without a network scores in
        float32 only and refuses the others in one line; `NeuralDetector` adds bfloat16."""
        check_precision(precision, self.model_type)
        yield self

    def anomaly_score(self, X, causal: bool = False) -> np.ndarray:
        """One score per time point (row of `X`); higher = more anomalous. `causal`: as `detect`."""
        return self.detect(X, causal=causal).scores

    def predict(self, X) -> np.ndarray:
        """0/1 per time point: 1 where the score is above the fitted threshold."""
        return self.detect(X).flags

    def sensor_scores(self, X) -> pd.DataFrame:
        """Time point × sensor: each sensor's share of the score (each row sums to the score)."""
        return self.detect(X).sensor_frame()

    def alerts(self, X, top: int = 3) -> pd.DataFrame:
        """The alerts an operator acts on: flags turned into intervals by the fitted alert rules
        (`alert_rules_`, `seqae.alerts`): start, end, duration, when it fired, peak time and score,
        p-value and severity against normal scores, the top sensors with their shares."""
        return self.find_alerts(self.detect(X), top=top).table

    def find_alerts(self, detection: "Detection", top: int = 3):
        """`seqae.alerts.Alerts` (the table and each row's alert id) of a detection of this model."""
        self.check_fitted()
        return detection_alerts(detection, rules=self.alert_rules_, top=top)

    def find_alert_ids(self, detection: "Detection") -> np.ndarray:
        """Each row's alert id (-1: none), as `find_alerts(detection).alert_ids`, without the table."""
        self.check_fitted()
        return detection_alert_ids(detection, rules=self.alert_rules_)

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a directory: `config.json` (readable) and, for detectors with tensors, `weights.pt`;
        written whole or not at all (`seqae.detectors.persistence`)."""
        self.check_fitted()
        return persistence.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BaseDetector":
        """Load a detector saved with `save`; `BaseDetector.load` picks the class from the file."""
        return persistence.load(path, None if cls is BaseDetector else cls)

    # ---- checks -----------------------------------------------------------------------------------

    def check_segments(self, X) -> tuple[list[tuple[np.ndarray, pd.Index]], list[str]]:
        """`X` (one frame or array, or a list of them: separate recordings) checked for fitting
        (`inputs.check_table`): a list of `(values, index)` pairs, the columns of each in the
        first's order, and the first's column names, which `fit` records."""
        parts = X if isinstance(X, (list, tuple)) else [X]
        if not parts:
            raise DataError("fit got an empty list of recordings; give at least one frame")
        segments, names = [], None
        for k, part in enumerate(parts):
            try:
                values, index, names = check_table(part, names, self.window_size, owner=type(self).__name__)
            except DataError as exc:
                if parts is X:
                    raise DataError(f"recording {k + 1} of {len(X)}: {exc}") from None
                raise
            segments.append((values, index))
        return segments, names

    def check_input(self, X, min_rows: int | None = None) -> tuple[np.ndarray, pd.Index]:
        """`X` as `(n_timepoints, n_features)` float64 in the fitted column order, and its index;
        a `DataError` naming what is wrong otherwise (`inputs.check_table`). `min_rows`: the fewest
        rows accepted (default: one window)."""
        values, index, _ = check_table(X, list(self.feature_names_in_), self.window_size, min_rows,
                                       owner=type(self).__name__)
        return values, index

    def check_fitted(self) -> None:
        """Raise `NotFittedError` unless `fit` (or `load`) has run."""
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def check_params(self) -> None:
        """Raise a one-line `ConfigError` for the first parameter outside its constraints."""
        constraints = {name: param.constraint for name, param in declared_parameters(type(self)).items()}
        check_params(self.get_params(deep=False), constraints)

    # ---- scores ---------------------------------------------------------------------------------

    def _element_scores(self, scaled: np.ndarray) -> np.ndarray:
        """Raw score per time point and sensor, `(n_timepoints, n_features)`."""
        return scoring.element_scores(self.window_scores, scaled, self.window_size, self.score_stride,
                                      self.score_reduction, self.score_batch_size())

    @on_compute_threads
    def window_scores(self, windows: torch.Tensor) -> np.ndarray:
        """Element scores `(batch, window, n_features)` of scaled windows of the same shape.

        A window's scores do not depend on the other windows of its batch: networks run on
        batches padded to a multiple of `batch_quantum` windows (`windows.pad_batch`). With
        `score_reduction="window"` every step of a window gets the window's mean score per sensor,
        so a row's score is the mean over the windows covering it of their whole error (how the
        nearest-window detector scores): a step the model reconstructs well inside a window it
        reconstructs badly still shares the blame.
        """
        n_windows = len(windows)
        scores = self._window_scores(pad_batch(windows, self.batch_quantum))[:n_windows]
        if self.score_reduction == "window":
            # a strided mean over the steps axis: the same sums whatever the batch or alignment
            scores = np.broadcast_to(scores.mean(axis=1, keepdims=True), scores.shape)
        return scores

    def score_batch_size(self) -> int:
        """Windows per forward pass when scoring (`scoring.score_batch_size`)."""
        return scoring.score_batch_size(self.window_size, max(int(getattr(self, "hidden_size", 0) or 0),
                                                              int(self.n_features_in_)))

    # ---- subclass hooks -------------------------------------------------------------------------

    def _fit_model(self, train_parts: list[np.ndarray], validation_parts: list[np.ndarray] | None) -> None:
        """Fit the model on the scaled training rows of each recording (`window_tensor` takes the
        list: no window spans two); `validation_parts`: their held-out rows, or None."""
        raise NotImplementedError

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        """`(batch, window, n_features)` scaled windows -> element scores of the same shape."""
        raise NotImplementedError

    def _training_element_scores(self, scaled_parts: list[np.ndarray]) -> list[np.ndarray]:
        """The element scores `fit` calibrates on: each recording's, scored whole. A detector made
        of fitted detectors (the ensemble) gives theirs as they computed them in their own fits."""
        return [self._element_scores(part) for part in scaled_parts]

    def _normalizer_elements(self, scaled_parts: list[np.ndarray], elements: list[np.ndarray]) -> list[np.ndarray]:
        """The element scores, per recording, whose rows the normaliser is fitted on (default:
        `elements`, the ones `fit` calibrates on)."""
        return elements

    def _absorb_held_out(self, scaled_parts: list[np.ndarray]) -> None:
        """Called at the end of `fit`, once the normaliser, threshold and alert rules are fitted on
        the held-out rows' scores (out of sample, as new rows' scores are): a detector whose model
        is a memory of normal windows may add the held-out rows to it. `scaled_parts`: every
        training row, scaled, one array per recording. Networks and fitted projections keep what
        they learnt (default: nothing)."""

    def model_state(self) -> tuple[dict, dict]:
        """(JSON-able config that rebuilds the model, dict of tensors) for `save`."""
        raise NotImplementedError

    def load_model_state(self, config: dict, tensors: dict) -> None:
        raise NotImplementedError


BaseDetector.__init__ = keyword_init(BaseDetector, declared_parameters(BaseDetector))


def check_precision(precision: str, model_type: str, supported: tuple[str, ...] = ("float32",)) -> None:
    """A one-line `ConfigError` unless `precision` is one of `SCORE_PRECISIONS` that `supported` holds."""
    if precision not in SCORE_PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(SCORE_PRECISIONS)}, got {precision!r}")
    if precision not in supported:
        raise ConfigError(f"model {model_type!r} has no network to run in {precision}; score it in float32")
