"""The estimator every detector is: fit on normal data, then score, decide, explain and save.

Every detector follows scikit-learn's estimator contract: `__init__` only stores its arguments,
`fit` validates and sets attributes with a trailing underscore and returns `self`, and every method
after `fit` checks that it was fitted. Higher score = more anomalous, everywhere.

How a frame becomes decisions (the flow in STYLE.md):

    frame (n_timepoints × n_features) --scaler_--> scaled --windows--> (n_windows, window, features)
      --model--> an element score per window step and sensor (squared error, or -log-likelihood)
      --the window ending on each row--> (n_timepoints, n_features) --normalised by each sensor's
        spread on normal data, smoothed over `smoothing` rows--> contributions --summed--> raw score
      --alert_rules_ (seqae.alerts): calibrated against normal scores, flags, alerts--> Detection

Every row is decided from the rows up to it, as a live feed would be: `detect` is what an operator
acts on. `anomaly_score` gives the retrospective raw score for ranking (AUC-PR), each row from the
windows covering it. The stages after the model are public functions of `seqae.detectors.scoring`;
`seqae.detectors.persistence` writes and reads a fitted detector.

Parameters are declared once, in the class that introduces them (`parameters`: name -> `Param`,
its default, constraint and meaning), and a subclass states the defaults it changes (`defaults`).
The `__init__` that stores them is generated (`seqae.params.keyword_init`) with an explicit
signature, so `get_params`, `clone` and `help()` see every parameter and its class's default.
Every subclass with a `model_type` registers itself in `seqae.detectors.registry.DETECTORS`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone

from seqae.alerts import AlertRules, Alerts, alert_table, rows_per_day
from seqae.data import Scaler, find_period
from seqae.data.roles import column_roles, modelled_columns
from seqae.data.states import StateBook
from seqae.detectors import persistence, scoring
from seqae.detectors.detection import Detection, RawScores
from seqae.detectors.feed import Feed, level_of, like_verdicts
from seqae.detectors.inputs import check_table, held_out_rows
from seqae.detectors.parameters import SCORE_PRECISIONS, SHARED_PARAMETERS
from seqae.detectors.registry import DETECTORS
from seqae.devices import on_compute_threads
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.params import check_params, declared_parameters, keyword_init
from seqae.thresholds import QuantileThreshold, Threshold
from seqae.windows import pad_batch



class BaseDetector(BaseEstimator):
    """What every seqae detector shares: input checks, scaling, windows, scores, thresholds, save.

    Subclasses declare their own parameters (`parameters`, `defaults`; see the module docstring)
    and implement `_fit_model`, `_window_scores` and the `model_state` pair.
    """

    model_type = "base"
    batch_quantum = 1  # windows per forward pass are a multiple of this (networks: see windows.pad_batch)
    min_format_version = 1  # the oldest save format this class's model still loads from

    parameters = SHARED_PARAMETERS

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
        stopping, and its causal scores (each row's from the rows up to it, as a live feed scores
        it) calibrate the threshold and the alert rules.

        `X` may also be a list of frames (or arrays): separate recordings of the same sensors, one
        model for all of them. No window spans two recordings, each holds out its own last
        `validation_fraction` of rows, and the scaler sees all their rows. The fitted scores
        (`train_scores_`, `validation_scores_`, `calibration_scores_`, `training_detection_`) are
        the recordings' one after the other.
        """
        self.check_params()
        segments, feature_names = self.check_segments(X)
        # Readings are modelled; state and constant columns are listed with their role (seqae.data.roles).
        self.roles_ = column_roles(np.concatenate([values for values, _ in segments]), feature_names, self.roles)
        modelled = modelled_columns(self.roles_)
        self.states_ = StateBook().fit([pd.DataFrame(v, columns=feature_names) for v, _ in segments], self.roles_)
        keep = [feature_names.index(name) for name in modelled]
        segments = [(values[:, keep], index) for values, index in segments]
        self.feature_names_in_ = np.asarray(modelled, dtype=object)
        self.n_features_in_ = len(modelled)
        readings = np.concatenate([values for values, _ in segments])
        self.level_period_ = find_period(max((values for values, _ in segments), key=len))  # a feed follows it over
        self.level_reference_ = level_of(readings, self.level_period_)  # each sensor's level in the training rows
        n_vals = held_out_rows([len(values) for values, _ in segments], self.validation_fraction, self.window_size)
        self.scaler_ = Scaler().fit(np.concatenate([values for values, _ in segments]), method=self.scaling)
        scaled = [self.scaler_.transform(values) for values, _ in segments]  # each (n_timepoints, n_features) float32
        n_trains = [len(part) - n_val for part, n_val in zip(scaled, n_vals)]
        self._fit_model([part[:n] for part, n in zip(scaled, n_trains)],
                        [part[n:] for part, n in zip(scaled, n_trains) if n < len(part)] or None)

        # Score each recording once and slice it: the held-out rows scored as a short series of
        # their own would have their first and last rows covered by few windows, and score high.
        elements = self._training_element_scores(scaled)
        causal = self._training_causal_elements(scaled)  # before a memory takes in the held-out rows
        normalize_rows = [element[n:] if self.normalize_on == "validation" and any(n_vals) else element[:n]
                          for element, n in zip(self._normalizer_elements(scaled, elements), n_trains)]
        self.normalizer_ = scoring.fit_normalizer(np.concatenate(normalize_rows), self.normalization)
        self.fit_contributions_ = {  # unsmoothed, normalised: what an ensemble of fitted detectors pools
            "ranking": np.concatenate([scoring.contributions(e, self.normalizer_) for e in elements]),
            "causal": np.concatenate([scoring.contributions(e, self.normalizer_) for e in causal])}
        ranking = [scoring.causal_smooth(scoring.contributions(e, self.normalizer_), self.smoothing).sum(axis=1)
                   for e in elements]
        self.train_scores_ = np.concatenate([part[:n] for part, n in zip(ranking, n_trains)])
        self.validation_scores_ = (np.concatenate([part[n:] for part, n in zip(ranking, n_trains)])
                                   if any(n_vals) else None)
        raw = [self._smoothed_raw(e) for e in causal]
        calibration = [(r.scores[n:] if any(n_vals) else r.scores[:n]) for r, n in zip(raw, n_trains)]
        self.calibration_scores_ = np.concatenate(calibration)
        self.calibration_scores_ = self.calibration_scores_[np.isfinite(self.calibration_scores_)]
        if self.calibration_scores_.size == 0:
            raise DataError(f"the training rows leave no row with a full window (window_size="
                            f"{self.window_size}) to calibrate the threshold on; give more rows")
        index = segments[0][1] if len(segments) == 1 else segments[0][1].append([i for _, i in segments[1:]])
        raw_scores = np.concatenate([r.scores for r in raw])
        self.training_raw_ = RawScores(index, raw_scores, np.concatenate([r.contributions for r in raw]),
                                       ~np.isfinite(raw_scores))
        self.training_ranking_ = np.concatenate(ranking)
        self._fit_threshold()
        if any(n_vals):
            self._absorb_held_out(scaled)
        return self

    def _training_causal_elements(self, scaled_parts: list[np.ndarray]) -> list[np.ndarray]:
        """Each recording's causal element scores, a row of NaN for each row before its first full
        window (`scoring.causal_element_scores`)."""
        out = []
        for part in scaled_parts:
            scores = scoring.causal_element_scores(self.window_scores, part, self.window_size, self.score_reduction,
                                                   self.score_batch_size())
            out.append(np.concatenate([np.full((len(part) - len(scores), part.shape[1]), np.nan), scores]))
        return out

    def _smoothed_raw(self, elements: np.ndarray) -> RawScores:
        """The causal raw scores of one series from its causal element scores (NaN rows warming up)."""
        n_warming = int(np.argmax(np.isfinite(elements[:, 0]))) if np.isfinite(elements[:, 0]).any() else len(elements)
        return self.causal_raw(elements[n_warming:], pd.RangeIndex(len(elements)))

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
        """threshold_ and alert_rules_ from the held-out rows' causal scores (or every training row's,
        with `threshold_on="all"`), and the decisions on the training rows (`training_detection_`)."""
        training = self.training_raw_
        scores = training.scores[np.isfinite(training.scores)] if self.threshold_on == "all" \
            else self.calibration_scores_
        threshold = QuantileThreshold(0.99) if self.threshold is None else clone(self.threshold)
        if getattr(threshold, "per_day", None) is not None and threshold.rows_per_day is None:
            threshold.set_params(rows_per_day=rows_per_day(training.index))  # a budget per day: rows per day
        self.threshold_ = threshold.fit(scores)
        # The alert rules, calibrated on the same normal scores: a budget threshold brings its own; a
        # fixed threshold stays where it was put.
        rules = getattr(self.threshold_, "rules_", None)
        if rules is None:
            rules = AlertRules(**(self.alert_rules or {}))
            if self.threshold_.kind == "fixed":
                rules.set_params(memory=0)
            rules.fit(scores, self.threshold_)
        self.alert_rules_ = rules
        # a feed follows each sensor's level over as many rows judged normal as it was fitted on (seqae.detectors.feed)
        self.level_rows_ = int(min(len(training.scores), rules.memory))
        self.training_detection_ = self.decide(training, ranking_scores=self.training_ranking_)

    @on_compute_threads
    def detect(self, X, level: float = 1.0, ranking: bool = False) -> Detection:
        """Score `X` as a live feed would from its first row, and decide: calibrated scores, flags and
        alerts (`seqae.alerts`), each row from the rows up to it alone (`seqae.streaming.LiveScorer`
        gives the same numbers row by row).

        A row's raw score is that of the window ending on it (`scoring.causal_element_scores`),
        normalised and smoothed; the first `window_size - 1` rows have no full window yet and the
        next `alert_rules_.burn_in` calibrate the reference: `warming_up` marks them (flag 0). Any
        number of rows is accepted. `level`: the flag level in calibrated units (1.0: the fitted
        threshold). `ranking`: also the retrospective scores for ranking (`anomaly_score`).
        """
        self.check_fitted()
        values, index = self.check_input(X, min_rows=1)
        feed = Feed(self, level)
        detection, settled = feed.score(values, index, states=self.states_.given(X) if feed.states else None)
        detection.alert_ids = np.concatenate([settled, feed.finish()])
        detection.alerts = feed.tracker.alerts
        if ranking:
            detection.ranking_scores = self._ranking_scores(self.scaler_.transform(values))
        return detection

    def decide(self, raw: "RawScores", level: float = 1.0, ranking_scores: np.ndarray | None = None) -> Detection:
        """The decisions of a fresh feed of `raw` scores (`causal_raw`): the model's alert rules run
        from its first row."""
        decisions = self.alert_rules_.apply(raw.scores, raw.contributions, raw.index, level=level)
        warming = decisions.warming_up | raw.warming_up
        return Detection(raw.index, list(self.feature_names_in_), decisions.scores, raw.contributions, float(level),
                         decisions.flags, warming, raw.scores, decisions.alert_ids, decisions.alerts, ranking_scores)

    def causal_raw(self, elements: np.ndarray, index: pd.Index, previous: np.ndarray | None = None) -> RawScores:
        """The causal raw scores of rows `index` from the element scores of the windows ending on
        them (`scoring.causal_element_scores`), which are the last `len(elements)` rows; the rows
        before them are warming up. `previous`: the unsmoothed contributions of the scored rows
        just before these (at most `smoothing - 1`), for a series scored in pieces."""
        n_rows = len(index)
        n_warming = n_rows - len(elements)
        contributions = np.full((n_rows, int(self.n_features_in_)), np.nan)
        contributions[n_warming:] = scoring.causal_smooth(scoring.contributions(elements, self.normalizer_),
                                                          self.smoothing, previous=previous)
        warming_up = np.zeros(n_rows, dtype=bool)
        warming_up[:n_warming] = True
        return RawScores(index, contributions.sum(axis=1), contributions, warming_up)

    def _ranking_scores(self, scaled: np.ndarray) -> np.ndarray:
        """The retrospective score of each row: the windows covering it, normalised and smoothed
        (NaN for a series shorter than one window)."""
        if len(scaled) < self.window_size:
            return np.full(len(scaled), np.nan)
        elements = self._element_scores(scaled)
        return scoring.causal_smooth(scoring.contributions(elements, self.normalizer_), self.smoothing).sum(axis=1)

    def like_verdicts(self, values: np.ndarray) -> np.ndarray:
        """For each row of the checked readings `values` (a fresh feed), whether the window ending on
        it is like one operators judged normal (`verdict_gate`; False where there is none)."""
        return like_verdicts(self, values)

    def verdict_gate(self):
        """A function of scaled windows `(batch, window, features)` giving, for each, whether it is like
        a window operators judged normal (`seqae.feedback`); None when the model keeps none. A feed
        consults it where an alert would fire, and such an alert is not raised (`AlertTracker.update`'s
        `known`); the scores stay the model's."""
        return None

    @contextmanager
    def scoring_precision(self, precision: str = "float32"):
        """Score in `precision` inside the `with` block. A detector without a network scores in
        float32 only and refuses the others in one line; `NeuralDetector` adds bfloat16."""
        check_precision(precision, self.model_type)
        yield self

    @on_compute_threads
    def anomaly_score(self, X, causal: bool = False) -> np.ndarray:
        """The raw score of each row (higher = more anomalous), for ranking: retrospective (each row
        from the windows covering it, which reach up to `window_size - 1` rows past it), or with
        `causal` each row's as a live feed scores it from the rows up to it (`detect`'s raw scores:
        NaN before the first full window)."""
        if causal:
            return self.detect(X).raw_scores
        self.check_fitted()
        values, _ = self.check_input(X)
        return self._ranking_scores(self.scaler_.transform(values))

    def predict(self, X) -> np.ndarray:
        """0/1 per time point, as live monitoring flags it (`detect`)."""
        return self.detect(X).flags

    def sensor_scores(self, X) -> pd.DataFrame:
        """Time point × sensor: each sensor's share of the raw score (each row sums to it)."""
        return self.detect(X).sensor_frame()

    def alerts(self, X, top: int = 3) -> pd.DataFrame:
        """The alerts an operator acts on, as a live feed of `X` raises them (`seqae.alerts`): start,
        end, duration, when it fired, peak time and score, p-value and severity against normal
        scores, the top sensors with their shares, whether and why it closed, and the labelled fault
        (`learn_fault`) it is like (`like_fault`)."""
        return self.find_alerts(self.detect(X), top=top).table

    def find_alerts(self, detection: Detection, top: int = 3) -> Alerts:
        """`seqae.alerts.Alerts` (the table and each row's alert id) of a detection of this model."""
        self.check_fitted()
        return Alerts(alert_table(detection.alerts, detection.index, detection.feature_names, top=top,
                                  faults=getattr(self, "faults_", None)),
                      detection.alert_ids, self.alert_rules_, detection.alerts)

    def learn_normal(self, X, force: bool = False, where: str = "the verdict rows", followed_level=None):
        """An operator's verdict that rows `X` (an alert's rows, with the window_size - 1 before them)
        are normal: a window memory takes their windows, the threshold rises over them where it must
        (at most the alert rules' `extreme` times unless `force`); returns `seqae.feedback.NormalVerdict`.
        `followed_level`: each sensor's, when a feed raised them (`Alert.followed_level`); None: the training rows'."""
        from seqae import feedback

        self.check_fitted()
        values, index = self.check_input(X)
        return feedback.learn_normal(self, values, index, force=force, where=where, followed_level=followed_level)

    def learn_fault(self, X, note: str = "") -> dict:
        """An operator's verdict that rows `X` are a fault: kept with the model as a labelled example
        (`faults_`: times, note, top sensors), saved with it; returns the record."""
        from seqae import feedback

        self.check_fitted()
        values, index = self.check_input(X)
        return feedback.learn_fault(self, values, index, note=str(note))

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
        rows accepted (default: one window). An array as wide as the fitted table (`roles_`, which
        holds the columns left out of the model too) gives the modelled columns by position."""
        roles = getattr(self, "roles_", None)
        if (roles and not isinstance(X, pd.DataFrame) and np.ndim(X) == 2
                and np.shape(X)[1] == len(roles) != int(self.n_features_in_)):
            X = np.asarray(X)[:, [k for k, name in enumerate(roles) if name in set(self.feature_names_in_)]]
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
