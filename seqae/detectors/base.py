"""The estimators users hold: fit on normal data, then score, flag, explain and save.

Every detector follows scikit-learn's estimator contract: `__init__` only stores its arguments,
`fit` validates and sets attributes with a trailing underscore and returns `self`, and every method
after `fit` checks that it was fitted. Higher score = more anomalous, everywhere.

How a frame becomes scores (the flow in STYLE.md):

    frame (n_timepoints × n_features) --scaler_--> scaled --windows--> (n_windows, window, features)
      --net--> an element score per window step and sensor (squared error, or -log-likelihood)
      --mean over the windows covering a row--> (n_timepoints, n_features)
      --normalised by each sensor's spread (median, MAD) on the training rows' errors, or on the
        held-out rows' with normalize_on="validation"--> per-sensor scores
      --causal rolling mean over `smoothing` rows (1 = none)-->
      --mean over sensors--> one score per time point --threshold_--> flags --> intervals

The per-sensor scores are each sensor's share of the point's score (they add up to it), which is
what `sensor_scores` returns and what names the top sensors of an anomalous interval. The stages
after the model are public functions of `seqae.detectors.scoring`.

Every subclass with a `model_type` is registered in `DETECTORS` when its class is defined, so
`make_detector` and `BaseDetector.load` find it; this module imports none of them.
"""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone

from seqae.alerts import AlertRules, detection_alert_ids, detection_alerts, rows_per_day
from seqae.data import Scaler
from seqae.detectors import scoring
from seqae.devices import on_compute_threads
from seqae.errors import ConfigError, DataError, NotFittedError, missing_columns_message
from seqae.files import staged_directory
from seqae.intervals import flags_to_intervals
from seqae.params import Integer, NoneOr, OneOf, Real, Satisfies, check_params, collect_constraints
from seqae.threshold_registry import threshold_from_dict
from seqae.thresholds import QuantileThreshold, Threshold
from seqae.windows import pad_batch

FORMAT_VERSION = 2  # 2: conv-ae's network encodes a window to latent_dim values (a bottleneck)
NORMALIZATIONS = ("zscore", "robust", "none")
SCORE_REDUCTIONS = ("mean", "last", "window")
SCORE_PRECISIONS = ("float32", "bfloat16")
THRESHOLD_SOURCES = ("validation", "all")
NORMALIZE_SOURCES = ("train", "validation")
MAX_SEED = 2**32 - 2  # random_state + 1 seeds the VAE's training draws; scikit-learn takes < 2**32


@dataclass
class Detection:
    """Everything one scoring pass yields, for `n_timepoints` rows."""

    index: pd.Index  # the frame's index (timestamps or row numbers)
    feature_names: list[str]
    scores: np.ndarray  # (n_timepoints,) higher = more anomalous
    contributions: np.ndarray  # (n_timepoints, n_features) each sensor's share; rows sum to scores
    threshold: float
    flags: np.ndarray  # (n_timepoints,) 0/1
    # causal scores only: (n_timepoints,) bool, True for the rows before the first full window,
    # which have no score yet (NaN score and contributions, flag 0); None for the default scores
    warming_up: np.ndarray | None = None

    def sensor_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.contributions, index=self.index, columns=self.feature_names)

    def to_frame(self, alert_ids: np.ndarray | None = None) -> pd.DataFrame:
        """One row per time point: score, is_anomaly, with `alert_ids` the row's alert (-1: none),
        for causal scores `warming_up` (0/1), and one contribution column per sensor."""
        return pd.DataFrame(self.columns(alert_ids), index=self.index)

    def columns(self, alert_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The columns of `to_frame`, in its order, as arrays of one value per time point (what a
        caller that needs no frame, like the scoring server's answer, builds its output from)."""
        columns = {"score": self.scores, "is_anomaly": self.flags}
        if alert_ids is not None:
            columns["alert_id"] = np.asarray(alert_ids, dtype=np.int64)
        if self.warming_up is not None:
            columns["warming_up"] = self.warming_up.astype(np.int8)
        for j, name in enumerate(self.feature_names):
            columns[f"contribution_{name}"] = self.contributions[:, j]
        return columns

    def intervals(self, top: int = 3) -> pd.DataFrame:
        """Flagged points merged into intervals, with the sensors that moved most in each."""
        rows = []
        for first, last in flags_to_intervals(self.flags):
            span = slice(first, last + 1)
            peak = first + int(np.argmax(self.scores[span]))
            share = np.clip(self.contributions[span], 0.0, None).sum(axis=0)
            total = share.sum()
            share = share / total if total > 0 else share
            order = np.argsort(-share, kind="stable")[:top]
            named = [(self.feature_names[j], share[j]) for j in order if share[j] > 0]
            rows.append({
                "start": self.index[first],
                "end": self.index[last],
                "n_points": last - first + 1,
                "peak_time": self.index[peak],
                "peak_score": float(self.scores[peak]),
                "top_sensor": named[0][0] if named else "",
                "top_sensors": ", ".join(f"{name} ({100 * s:.0f}%)" for name, s in named),
            })
        columns = ["start", "end", "n_points", "peak_time", "peak_score", "top_sensor", "top_sensors"]
        return pd.DataFrame(rows, columns=columns)


class BaseDetector(BaseEstimator):
    """What every seqae detector shares: input checks, scaling, windows, scores, thresholds, save.

    Subclasses implement `_fit_model`, `_window_scores` and the `model_state` pair, and list
    their parameters' constraints in `parameter_constraints` (added to their bases').
    """

    model_type = "base"
    scoring_precisions: tuple[str, ...] = ("float32",)  # detectors with a network add "bfloat16"
    batch_quantum = 1  # windows per forward pass are a multiple of this (networks: see training.pad_batch)
    _precision = "float32"  # the scoring precision; another only inside a `scoring_precision` block
    min_format_version = 1  # the oldest save format this class's model still loads from

    parameter_constraints = {
        "window_size": Integer(1),
        "validation_fraction": Real(0.0, 1.0, high_open=True),
        "normalization": OneOf(NORMALIZATIONS),
        "normalize_on": OneOf(NORMALIZE_SOURCES),
        "scaling": OneOf(Scaler.METHODS),
        "score_reduction": OneOf(SCORE_REDUCTIONS),
        "smoothing": Integer(1, message="smoothing must be a whole number of rows >= 1 (1 = no smoothing), "
                                        "got {value!r}"),
        "threshold_on": OneOf(THRESHOLD_SOURCES),
        "score_stride": Integer(1, "window_size"),
        "threshold": NoneOr(Satisfies(lambda t, _: isinstance(t, Threshold), ""),
                            message="threshold must be a seqae Threshold (e.g. QuantileThreshold(0.99)), "
                                    "got {value!r}"),
        "random_state": NoneOr(Integer(0, MAX_SEED), f"None or a whole number from 0 to {MAX_SEED}"),
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
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
        segments = self.check_segments(X)
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

    def check_segments(self, X) -> list[tuple[np.ndarray, pd.Index]]:
        """`X` (one frame or array, or a list of them: separate recordings) as a list of checked
        `(values, index)` pairs, the columns of each in the first's order; `fitting` records them."""
        if not isinstance(X, (list, tuple)):
            return [self.check_input(X, fitting=True)]
        if not X:
            raise DataError("fit got an empty list of recordings; give at least one frame")
        segments = []
        for k, part in enumerate(X):
            try:
                segments.append(self.check_input(part, fitting=k == 0))
            except DataError as exc:
                raise DataError(f"recording {k + 1} of {len(X)}: {exc}") from None
        return segments

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
        """Score in `precision` inside the `with` block: "float32" (the default) or "bfloat16".

        bfloat16 runs the network's forward pass under torch's CPU autocast (the errors are still
        computed in float32). It pays only on a CPU with native bfloat16 (AVX512-BF16 or AMX), and
        scores move by a few hundredths of their spread: benchmarks/README.md measures both. Where
        the CPU has no bfloat16 kernels for the network it is refused (`supports_precision`).
        Detectors without a network (pca, iforest, deviation) score in float32 only.
        """
        if precision not in SCORE_PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(SCORE_PRECISIONS)}, got {precision!r}")
        if precision not in self.scoring_precisions:
            raise ConfigError(f"model {self.model_type!r} has no network to run in {precision}; "
                              "score it in float32")
        if not self.supports_precision(precision):
            raise ConfigError(f"this CPU cannot run model {self.model_type!r} in {precision} (torch's kernels "
                              "refused it; bfloat16 needs AVX512-BF16 or AMX); score it in float32")
        before, self._precision = self._precision, precision
        try:
            yield self
        finally:
            self._precision = before

    def supports_precision(self, precision: str) -> bool:
        """Whether this detector can score in `precision` on this machine: a network's forward pass
        in bfloat16 needs CPU kernels for it (oneDNN's LSTM has none on a CPU without AVX512-BF16)."""
        return precision in self.scoring_precisions

    def _autocast(self):
        """The forward pass's autocast context for the current scoring precision."""
        if self._precision == "bfloat16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return nullcontext()

    def anomaly_score(self, X, causal: bool = False) -> np.ndarray:
        """One score per time point (row of `X`); higher = more anomalous. `causal`: as `detect`."""
        return self.detect(X, causal=causal).scores

    def predict(self, X) -> np.ndarray:
        """0/1 per time point: 1 where the score is above the fitted threshold."""
        return self.detect(X).flags

    def sensor_scores(self, X) -> pd.DataFrame:
        """Time point × sensor: each sensor's share of the score (each row sums to the score)."""
        return self.detect(X).sensor_frame()

    def anomalies(self, X, top: int = 3) -> pd.DataFrame:
        """Anomalous intervals: start, end, n_points, peak time and score, the top sensors."""
        return self.detect(X).intervals(top=top)

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
        """Save to a directory: `config.json` (readable) and, for neural detectors, `weights.pt`.

        The directory is written whole or not at all: into a temporary sibling, then renamed.
        """
        self.check_fitted()
        target = Path(path)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigError(f"{target}: already exists and is not an empty directory; choose a new path")
        config, tensors = self.model_state()
        state = {
            "format_version": FORMAT_VERSION,
            "model_type": self.model_type,
            "class": type(self).__name__,
            "params": {k: v for k, v in self.get_params(deep=False).items() if k != "threshold"},
            "feature_names": list(self.feature_names_in_),
            "n_features": int(self.n_features_in_),
            "scaler": self.scaler_.to_dict(),
            "normalizer": {"center": self.normalizer_[0].tolist(), "scale": self.normalizer_[1].tolist()},
            "threshold": self.threshold_.to_dict(),
            "alert_rules": self.alert_rules_.to_dict(),
            # The `threshold` parameter as given (None = the default), so get_params round-trips.
            "threshold_param": None if self.threshold is None else self.threshold.to_dict(),
            "model": config,
        }
        with staged_directory(target) as staging:
            (staging / "config.json").write_text(json.dumps(state, indent=2, default=_jsonable))
            if tensors:
                torch.save(tensors, staging / "weights.pt")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BaseDetector":
        """Load a detector saved with `save`; `BaseDetector.load` picks the class from the file."""
        directory = Path(path)
        config_file = directory / "config.json"
        if not config_file.is_file():
            raise DataError(f"{directory}: no config.json; expected a directory written by seqae's save()")
        try:
            state = json.loads(config_file.read_text())
            detector_cls = DETECTORS[state["model_type"]]
        except (json.JSONDecodeError, KeyError) as exc:
            raise DataError(f"{config_file}: not a seqae model config ({exc}); save the model again") from None
        if cls is not BaseDetector and not issubclass(detector_cls, cls):
            raise DataError(f"{directory}: holds a {state['class']}, not a {cls.__name__}; "
                            f"load it with {state['class']}.load or BaseDetector.load")
        if state.get("format_version", 0) > FORMAT_VERSION:
            raise DataError(f"{directory}: saved by a newer seqae (format {state['format_version']}); upgrade seqae")
        if state.get("format_version", 0) < detector_cls.min_format_version:
            raise DataError(f"{directory}: a {state['model_type']} saved by an older seqae (format "
                            f"{state.get('format_version', 0)}), whose network this seqae no longer builds "
                            f"(format {detector_cls.min_format_version} and later); fit the model again")
        detector = detector_cls(**state["params"])
        param = state.get("threshold_param", state["threshold"])
        detector.threshold = None if param is None else threshold_from_dict(
            {k: v for k, v in param.items() if k != "value"})
        detector.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
        detector.n_features_in_ = int(state["n_features"])
        detector.scaler_ = Scaler.from_dict(state["scaler"])
        detector.normalizer_ = (np.asarray(state["normalizer"]["center"]), np.asarray(state["normalizer"]["scale"]))
        detector.threshold_ = threshold_from_dict(state["threshold"])
        if "alert_rules" not in state:
            raise DataError(f"{directory}: saved by an older seqae, without alert rules (format "
                            f"{state.get('format_version', 0)}); fit the model again")
        detector.alert_rules_ = AlertRules.from_dict(state["alert_rules"])
        tensors = {}
        if (directory / "weights.pt").exists():
            tensors = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        detector.load_model_state(state["model"], tensors)
        return detector

    # ---- checks -----------------------------------------------------------------------------------

    def check_input(self, X, fitting: bool = False, min_rows: int | None = None) -> tuple[np.ndarray, pd.Index]:
        """`X` as `(n_timepoints, n_features)` float64 in the fitted column order, and its index;
        a `DataError` naming what is wrong otherwise. `fitting=True` records the column names.
        `min_rows`: the fewest rows accepted (default: one window)."""
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if fitting:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                missing = [n for n in self.feature_names_in_ if n not in names]
                if missing:
                    raise DataError(missing_columns_message(missing, names, self.feature_names_in_))
                X = X.set_axis(names, axis=1)[list(self.feature_names_in_)]
            index = X.index
            try:
                values = X.to_numpy(dtype=np.float64)
            except (TypeError, ValueError):
                bad = next(c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]))
                raise DataError(f"column {bad!r} is not numeric (dtype {X[bad].dtype}); "
                                "read the file with read_sensor_csv or convert it") from None
        else:
            values = np.asarray(X, dtype=np.float64)
            if values.ndim == 1:
                values = values[:, None]
            if fitting:
                self.feature_names_in_ = np.asarray([f"x{j}" for j in range(values.shape[1])], dtype=object)
            index = pd.RangeIndex(len(values))
        if values.ndim != 2:
            raise DataError(f"expected a 2-D table (time × sensors), got an array of shape {values.shape}")
        if fitting:
            self.n_features_in_ = values.shape[1]
        elif values.shape[1] != self.n_features_in_:
            raise DataError(f"the data has {values.shape[1]} sensors, but {type(self).__name__} was "
                            f"fitted with {self.n_features_in_}; pass the same sensor columns")
        if values.shape[1] == 0:
            raise DataError("the data has no sensor columns")
        if len(values) < (self.window_size if min_rows is None else min_rows):
            if min_rows is not None:
                raise DataError(f"the data has {len(values)} rows; give at least {min_rows}")
            raise DataError(f"the data has {len(values)} rows, fewer than one window "
                            f"(window_size={self.window_size}); give at least {self.window_size} rows")
        finite = np.isfinite(values)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise DataError(f"column {self.feature_names_in_[col]!r} has {int((~finite[:, col]).sum())} "
                            f"missing or infinite values (first at position {row}); fill or drop them first")
        return values, index

    def check_fitted(self) -> None:
        """Raise `NotFittedError` unless `fit` (or `load`) has run."""
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def check_params(self) -> None:
        """Raise a one-line `ConfigError` for the first parameter outside its constraints."""
        check_params(self.get_params(deep=False), collect_constraints(type(self)))

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


DETECTORS: dict[str, type[BaseDetector]] = {}  # model_type -> class, filled as the classes are defined


def make_detector(model_type: str, **params) -> BaseDetector:
    """Build a detector by its model type (`lstm-ae`, `lstm-vae`, `dense-ae`, `conv-ae`, `pca`, `iforest`,
    `deviation`)."""
    if model_type not in DETECTORS:
        raise ConfigError(f"unknown model {model_type!r}; choose one of {', '.join(DETECTORS)}")
    cls = DETECTORS[model_type]
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"model {model_type!r} takes no parameter {unknown[0]!r}; "
                          f"it takes {', '.join(sorted(valid))}")
    return cls(**params)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot save {type(value).__name__} in config.json")
