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
what `sensor_scores` returns and what names the top sensors of an anomalous interval.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

from seqae import nets
from seqae.data import Scaler
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.thresholds import QuantileThreshold, Threshold, flags_to_intervals, threshold_from_dict
from seqae.training import (History, TrainConfig, batched_windows, pad_batch, seeded_generator, train,
                            window_tensor)
from seqae.windows import WindowAccumulator

FORMAT_VERSION = 1
NORMALIZATIONS = ("zscore", "robust", "none")
SCORE_REDUCTIONS = ("mean", "last")
SCORE_PRECISIONS = ("float32", "bfloat16")
THRESHOLD_SOURCES = ("validation", "all")
NORMALIZE_SOURCES = ("train", "validation")
MAX_SEED = 2**32 - 2  # random_state + 1 seeds the VAE's training draws; scikit-learn takes < 2**32
SCORE_BATCH = 1024  # at most this many windows per forward pass when scoring (see _score_batch)
SCORE_BATCH_VALUES = 1 << 19  # and at most this many window steps x hidden units: ~2 MiB of float32


@dataclass
class Detection:
    """Everything one scoring pass yields, for `n_timepoints` rows."""

    index: pd.Index  # the frame's index (timestamps or row numbers)
    feature_names: list[str]
    scores: np.ndarray  # (n_timepoints,) higher = more anomalous
    contributions: np.ndarray  # (n_timepoints, n_features) each sensor's share; rows sum to scores
    threshold: float
    flags: np.ndarray  # (n_timepoints,) 0/1

    def sensor_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.contributions, index=self.index, columns=self.feature_names)

    def to_frame(self) -> pd.DataFrame:
        """One row per time point: score, is_anomaly and one contribution column per sensor."""
        frame = pd.DataFrame({"score": self.scores, "is_anomaly": self.flags}, index=self.index)
        for j, name in enumerate(self.feature_names):
            frame[f"contribution_{name}"] = self.contributions[:, j]
        return frame

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

    Subclasses implement `_fit_model`, `_window_scores` and the `_model_state` pair.
    """

    model_type = "base"
    scoring_precisions: tuple[str, ...] = ("float32",)  # detectors with a network add "bfloat16"
    batch_quantum = 1  # windows per forward pass are a multiple of this (networks: see training.pad_batch)
    _precision = "float32"  # the scoring precision; another only inside a `scoring_precision` block

    # ---- public API -----------------------------------------------------------------------------

    def fit(self, X, y=None) -> "BaseDetector":
        """Learn what normal looks like from `X` (a frame of sensors, or an array), all assumed normal.

        The last `validation_fraction` of the rows (in time order) is held out: it decides early
        stopping and, by default, the threshold.
        """
        self._check_params()
        values, _ = self._validate(X, fitting=True)
        n_val = int(len(values) * self.validation_fraction)
        if n_val and (n_val < self.window_size or len(values) - n_val < self.window_size):
            warnings.warn(
                f"{len(values)} training rows are too few to hold out {self.validation_fraction:.0%} "
                f"for validation with window_size={self.window_size}; training on all rows, "
                "without early stopping, threshold fitted on training scores",
                stacklevel=2,
            )
            n_val = 0
        self.scaler_ = Scaler().fit(values, method=self.scaling)
        scaled = self.scaler_.transform(values)  # (n_timepoints, n_features) float32
        n_train = len(scaled) - n_val
        self._fit_model(scaled[:n_train], scaled[n_train:] if n_val else None)

        # Score the whole frame once and slice it: the held-out rows scored as a short series of
        # their own would have their first and last rows covered by few windows, and score high.
        elements = self._element_scores(scaled)
        normalize_rows = slice(n_train, None) if self.normalize_on == "validation" and n_val else slice(0, n_train)
        self.normalizer_ = _fit_normalizer(elements[normalize_rows], self.normalization)
        scores = self._smooth(self._contributions(elements)).sum(axis=1)
        self.train_scores_ = scores[:n_train]
        self.validation_scores_ = scores[n_train:] if n_val else None
        if self.threshold_on == "all":
            threshold_scores = scores
        elif self.validation_scores_ is not None:
            threshold_scores = self.validation_scores_
        else:
            threshold_scores = self.train_scores_
        threshold = QuantileThreshold(0.99) if self.threshold is None else clone(self.threshold)
        self.threshold_ = threshold.fit(threshold_scores)
        return self

    def detect(self, X) -> Detection:
        """Score `X` once and return scores, per-sensor contributions and flags together."""
        self._check_fitted()
        values, index = self._validate(X)
        contributions = self._smooth(self._contributions(self._element_scores(self.scaler_.transform(values))))
        scores = contributions.sum(axis=1)
        return Detection(index, list(self.feature_names_in_), scores, contributions,
                         self.threshold_.value_, self.threshold_.flag(scores))

    @contextmanager
    def scoring_precision(self, precision: str = "float32"):
        """Score in `precision` inside the `with` block: "float32" (the default) or "bfloat16".

        bfloat16 runs the network's forward pass under torch's CPU autocast (the errors are still
        computed in float32): 1.3-1.45x the rows/s of `detect` and 1.15x those of `seqae score` on a
        CPU with native bfloat16 (AVX512-BF16 or AMX), the same SKAB AUC-PR to 4 decimals
        (benchmarks/README.md); scores move by up to a few hundredths of their spread. On a CPU
        without it, it can be slower: measure first.
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

    def anomaly_score(self, X) -> np.ndarray:
        """One score per time point (row of `X`); higher = more anomalous."""
        return self.detect(X).scores

    def predict(self, X) -> np.ndarray:
        """0/1 per time point: 1 where the score is above the fitted threshold."""
        return self.detect(X).flags

    def sensor_scores(self, X) -> pd.DataFrame:
        """Time point × sensor: each sensor's share of the score (each row sums to the score)."""
        return self.detect(X).sensor_frame()

    def anomalies(self, X, top: int = 3) -> pd.DataFrame:
        """Anomalous intervals: start, end, n_points, peak time and score, the top sensors."""
        return self.detect(X).intervals(top=top)

    def save(self, path: str | os.PathLike) -> Path:
        """Save to a directory: `config.json` (readable) and, for neural detectors, `weights.pt`.

        The directory is written whole or not at all: into a temporary sibling, then renamed.
        """
        self._check_fitted()
        target = Path(path)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigError(f"{target}: already exists and is not an empty directory; choose a new path")
        config, tensors = self._model_state()
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
            # The `threshold` parameter as given (None = the default), so get_params round-trips.
            "threshold_param": None if self.threshold is None else self.threshold.to_dict(),
            "model": config,
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes it private; a model is an ordinary folder
            (staging / "config.json").write_text(json.dumps(state, indent=2, default=_jsonable))
            if tensors:
                torch.save(tensors, staging / "weights.pt")
            if target.exists():
                target.rmdir()
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
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
        detector = detector_cls(**state["params"])
        param = state.get("threshold_param", state["threshold"])
        detector.threshold = None if param is None else threshold_from_dict(
            {k: v for k, v in param.items() if k != "value"})
        detector.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
        detector.n_features_in_ = int(state["n_features"])
        detector.scaler_ = Scaler.from_dict(state["scaler"])
        detector.normalizer_ = (np.asarray(state["normalizer"]["center"]), np.asarray(state["normalizer"]["scale"]))
        detector.threshold_ = threshold_from_dict(state["threshold"])
        tensors = {}
        if (directory / "weights.pt").exists():
            tensors = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        detector._load_model_state(state["model"], tensors)
        return detector

    # ---- input checks ---------------------------------------------------------------------------

    def _validate(self, X, fitting: bool = False) -> tuple[np.ndarray, pd.Index]:
        """`X` as `(n_timepoints, n_features)` float64 in the fitted column order, and its index."""
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            if fitting:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                missing = [n for n in self.feature_names_in_ if n not in names]
                if missing:
                    raise DataError(
                        f"column {missing[0]!r} that the model was fitted on is missing; the data has "
                        f"{', '.join(repr(n) for n in names[:12])}; it needs "
                        f"{', '.join(repr(n) for n in self.feature_names_in_)}"
                    )
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
        if len(values) < self.window_size:
            raise DataError(f"the data has {len(values)} rows, fewer than one window "
                            f"(window_size={self.window_size}); give at least {self.window_size} rows")
        finite = np.isfinite(values)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            raise DataError(f"column {self.feature_names_in_[col]!r} has {int((~finite[:, col]).sum())} "
                            f"missing or infinite values (first at position {row}); fill or drop them first")
        return values, index

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def _check_params(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        _check_int("window_size", self.window_size, 1)
        _check_real("validation_fraction", self.validation_fraction, 0.0, 1.0, high_open=True)
        need(self.normalization in NORMALIZATIONS,
             f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {self.normalization!r}")
        need(self.normalize_on in NORMALIZE_SOURCES,
             f"normalize_on must be one of {', '.join(NORMALIZE_SOURCES)}, got {self.normalize_on!r}")
        need(self.scaling in Scaler.METHODS,
             f"scaling must be one of {', '.join(Scaler.METHODS)}, got {self.scaling!r}")
        need(self.score_reduction in SCORE_REDUCTIONS,
             f"score_reduction must be one of {', '.join(SCORE_REDUCTIONS)}, got {self.score_reduction!r}")
        need(_is_int(self.smoothing) and self.smoothing >= 1,
             f"smoothing must be a whole number of rows >= 1 (1 = no smoothing), got {self.smoothing!r}")
        need(self.threshold_on in THRESHOLD_SOURCES,
             f"threshold_on must be one of {', '.join(THRESHOLD_SOURCES)}, got {self.threshold_on!r}")
        need(_is_int(self.score_stride) and 1 <= self.score_stride <= self.window_size,
             f"score_stride must be an integer from 1 to window_size={self.window_size}, got {self.score_stride!r}")
        need(self.threshold is None or isinstance(self.threshold, Threshold),
             f"threshold must be a seqae Threshold (e.g. QuantileThreshold(0.99)), got {self.threshold!r}")
        need(self.random_state is None or (_is_int(self.random_state) and 0 <= self.random_state <= MAX_SEED),
             f"random_state must be None or a whole number from 0 to {MAX_SEED}, got {self.random_state!r}")

    # ---- scores ---------------------------------------------------------------------------------

    def _element_scores(self, scaled: np.ndarray) -> np.ndarray:
        """Raw score per time point and sensor, `(n_timepoints, n_features)`: window steps averaged."""
        accumulator = WindowAccumulator(len(scaled), self.window_size, (scaled.shape[1],), self.score_reduction)
        for windows, starts in batched_windows(scaled, self.window_size, self.score_stride, self._score_batch()):
            accumulator.add(self.window_scores(windows), starts)
        return accumulator.result()

    def window_scores(self, windows: torch.Tensor) -> np.ndarray:
        """Element scores `(batch, window, n_features)` of scaled windows of the same shape.

        A window's scores do not depend on the other windows of its batch: networks run on
        batches padded to a multiple of `batch_quantum` windows (`training.pad_batch`).
        """
        n_windows = len(windows)
        return self._window_scores(pad_batch(windows, self.batch_quantum))[:n_windows]

    def _score_batch(self) -> int:
        """Windows per forward pass when scoring. An LSTM's activations for a batch are about
        batch x window_size x hidden_size floats; past ~2 MiB they fall out of the CPU's cache and
        a window costs more (in `detect` on two EPYC cores, windows of 32 rows x 64 hidden units
        score 1.25x (two threads) and 1.39x (one) faster in batches of 256 than of 1024:
        benchmarks/README.md), so large windows and nets get smaller batches."""
        width = max(int(getattr(self, "hidden_size", 0) or 0), int(self.n_features_in_))
        return max(1, min(SCORE_BATCH, SCORE_BATCH_VALUES // (self.window_size * width)))

    def _contributions(self, elements: np.ndarray) -> np.ndarray:
        """Normalised per-sensor scores divided by the sensor count: rows sum to the point's score."""
        center, scale = self.normalizer_
        return (elements - center) / scale / elements.shape[1]

    def _smooth(self, contributions: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        """Causal rolling mean of the contributions over `smoothing` rows; rows still sum to the score.

        Row t becomes the mean of rows t - smoothing + 1 .. t (the first rows of a series average the
        rows there are), so a score never looks ahead. `previous`: the unsmoothed rows just before
        these, at most `smoothing - 1` of them, for a series scored in pieces to match it scored whole.
        """
        k = self.smoothing
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

    # ---- subclass hooks -------------------------------------------------------------------------

    def _fit_model(self, train_part: np.ndarray, validation_part: np.ndarray | None) -> None:
        raise NotImplementedError

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        """`(batch, window, n_features)` scaled windows -> element scores of the same shape."""
        raise NotImplementedError

    def _model_state(self) -> tuple[dict, dict]:
        """(JSON-able config that rebuilds the model, dict of tensors) for `save`."""
        raise NotImplementedError

    def _load_model_state(self, config: dict, tensors: dict) -> None:
        raise NotImplementedError


class _TorchDetector(BaseDetector):
    """A detector whose model is a torch autoencoder trained by `training.train`."""

    scoring_precisions = SCORE_PRECISIONS
    batch_quantum = 16

    def _build_net(self, n_features: int) -> torch.nn.Module:
        raise NotImplementedError

    def _net_args(self, n_features: int) -> dict:
        raise NotImplementedError

    def _loss(self, net, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(net(inputs), targets)

    def _fit_model(self, train_part, validation_part) -> None:
        generator = seeded_generator(self.random_state)
        with torch.random.fork_rng(devices=[]):
            # Weight init and dropout draw from torch's global generator: seed it, then restore it.
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
            self.net_args_ = self._net_args(train_part.shape[1])
            self.net_ = self._build_net(**self.net_args_)
            train_windows = window_tensor(train_part, self.window_size, self.train_stride)
            val_windows = None
            if validation_part is not None:
                val_windows = window_tensor(validation_part, self.window_size, 1)
            config = TrainConfig(
                epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                weight_decay=self.weight_decay, grad_clip=self.grad_clip, patience=self.patience,
                noise_std=self.noise_std, verbose=self.verbose,
            )
            self.history_ = train(self.net_, self._loss, train_windows, val_windows, config, generator)

    def supports_precision(self, precision: str) -> bool:
        if precision == "float32" or precision not in self.scoring_precisions:
            return precision in self.scoring_precisions
        self._check_fitted()
        probe = torch.zeros(self.batch_quantum, self.window_size, self.n_features_in_)
        try:  # the VAE's forward pass draws a latent: from a forked generator, so nothing changes
            with torch.random.fork_rng(devices=[]), torch.inference_mode(), \
                    torch.autocast("cpu", dtype=torch.bfloat16):
                self.net_(probe)
        except RuntimeError:
            return False
        return True

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            with self._autocast():
                reconstruction = self.net_(windows)
            return nets.squared_error(reconstruction.float(), windows).numpy()

    def encode(self, X) -> np.ndarray:
        """The latent vector of each window of `X` (windows every `score_stride` rows)."""
        self._check_fitted()
        values, _ = self._validate(X)
        scaled = self.scaler_.transform(values)
        out = []
        with torch.inference_mode():
            for windows, _ in batched_windows(scaled, self.window_size, self.score_stride, self._score_batch()):
                z = self.net_.encode(pad_batch(windows, self.batch_quantum))
                out.append((z[0] if isinstance(z, tuple) else z)[:len(windows)].numpy())
        return np.concatenate(out)  # (n_windows, latent)

    def _model_state(self):
        return ({"net": type(self.net_).__name__, "net_args": self.net_args_,
                 "history": self.history_.to_dict()},
                {k: v.detach().cpu() for k, v in self.net_.state_dict().items()})

    def _load_model_state(self, config, tensors):
        if not tensors:
            raise DataError(f"no weights.pt beside config.json; a {type(self).__name__} needs its weights")
        self.net_args_ = dict(config["net_args"])
        self.net_ = self._build_net(**self.net_args_)
        self.net_.load_state_dict(tensors)
        self.net_.eval()
        self.history_ = History.from_dict(config["history"])

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("hidden_size", "latent_dim", "epochs", "batch_size", "train_stride", "num_layers"):
            if hasattr(self, name):  # num_layers: the LSTM detectors only
                _check_int(name, getattr(self, name), 1)
        _check_int("patience", self.patience, 0)
        _check_real("learning_rate", self.learning_rate, 0.0, low_open=True)
        _check_real("weight_decay", self.weight_decay, 0.0)
        _check_real("grad_clip", self.grad_clip, 0.0)
        _check_real("dropout", self.dropout, 0.0, 1.0, high_open=True)
        _check_real("noise_std", self.noise_std, 0.0)
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise ConfigError(f"verbose must be true or false, got {self.verbose!r}")


class LSTMAutoencoder(_TorchDetector):
    """LSTM sequence-to-sequence autoencoder; the score is the reconstruction error.

    Args:
        window_size: rows per window.
        hidden_size: LSTM hidden units (encoder and decoder).
        latent_dim: size of the vector one window is encoded to.
        num_layers: stacked LSTM layers; dropout applies between them.
        dropout: dropout between LSTM layers (num_layers > 1).
        epochs: maximum passes over the training windows.
        batch_size: windows per optimiser step.
        learning_rate: Adam's step size.
        weight_decay: Adam's L2 penalty.
        grad_clip: max gradient norm (0 = no clipping).
        patience: epochs without a better validation loss before stopping (0 = never).
        validation_fraction: the last part of the training rows held out, in time order.
        noise_std: denoising training: Gaussian noise of this std on the inputs (scaled units).
        train_stride: rows between training windows.
        score_stride: rows between scored windows (1 = every window; larger is faster).
        score_reduction: `mean` of all windows covering a row, or the `last` (the one ending there).
        normalization: per-sensor normalisation of the error before summing: `robust` (by its
            median and MAD on the rows `normalize_on` names; the default: a few anomalous rows
            there do not mute a sensor), `zscore` (mean and standard deviation) or `none`.
        normalize_on: the rows whose errors the normalisation is fitted on: `validation` (the
            held-out rows; the default of the LSTM-AE, dense and conv AEs: out-of-sample errors, the
            size of the errors new normal data gives, where a net's errors on the rows it was
            trained on are smaller; falls back to `train` when nothing is held out) or `train`
            (the rows the net was trained on; the default of the LSTM-VAE, PCA and the forest).
        scaling: the input scaler fitted on the training rows: `standard` (mean, standard
            deviation) or `robust` (median, IQR / 1.349; an IQR of 0 falls back to the deviation).
        smoothing: rows of the causal rolling mean applied to the score (and to each sensor's share
            of it); 1 = none. A score then never looks ahead; a one-row spike is diluted by it.
        threshold: a `Threshold` fitted on the scores of normal data (default: 99th percentile).
        threshold_on: fit the threshold on the held-out `validation` rows or `all` training rows
            (either way sliced from the scores of all the training rows scored as one series).
        random_state: seed for weights, shuffling and noise; same seed, same model.
        verbose: show a progress bar per epoch.
    """

    model_type = "lstm-ae"

    def __init__(self, window_size: int = 32, hidden_size: int = 64, latent_dim: int = 16,
                 num_layers: int = 1, dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, validation_fraction: float = 0.2, noise_std: float = 0.0,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "validation",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose

    def _net_args(self, n_features):
        return {"n_features": n_features, "hidden_size": self.hidden_size, "latent_dim": self.latent_dim,
                "num_layers": self.num_layers, "dropout": self.dropout}

    def _build_net(self, **args):
        return nets.LSTMSeq2Seq(**args)


class LSTMVAE(_TorchDetector):
    """Recurrent variational autoencoder trained on the ELBO.

    Takes the arguments of `LSTMAutoencoder`, and:
        beta: weight of the KL term in the ELBO.
        learn_variance: the decoder predicts a variance per step and sensor (else it is fixed at 1).
        score: `reconstruction_probability` (-log p(x | z), per step and sensor) or `elbo`
            (that plus the window's KL spread evenly over its steps and sensors).
        n_samples: latent draws averaged when scoring, seeded by `random_state` so that the same
            model gives the same scores; 0 decodes the mean latent (one pass, deterministic).
    """

    model_type = "lstm-vae"
    SCORES = ("reconstruction_probability", "elbo")

    def __init__(self, window_size: int = 32, hidden_size: int = 64, latent_dim: int = 16,
                 num_layers: int = 1, dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, validation_fraction: float = 0.2, noise_std: float = 0.0,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "train",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False,
                 beta: float = 1.0, learn_variance: bool = True,
                 score: str = "reconstruction_probability", n_samples: int = 0):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose
        self.beta = beta
        self.learn_variance = learn_variance
        self.score = score
        self.n_samples = n_samples

    def _net_args(self, n_features):
        return {"n_features": n_features, "hidden_size": self.hidden_size, "latent_dim": self.latent_dim,
                "num_layers": self.num_layers, "dropout": self.dropout,
                "learn_variance": bool(self.learn_variance)}

    def _build_net(self, **args):
        return nets.LSTMVAENet(**args)

    def _check_params(self):
        super()._check_params()
        if self.score not in self.SCORES:
            raise ConfigError(f"score must be one of {', '.join(self.SCORES)}, got {self.score!r}")
        _check_int("n_samples", self.n_samples, 0)
        _check_real("beta", self.beta, 0.0)
        if not isinstance(self.learn_variance, (bool, np.bool_)):
            raise ConfigError(f"learn_variance must be true or false, got {self.learn_variance!r}")

    def _fit_model(self, train_part, validation_part):
        # Training draws latents from their own generator, seeded from random_state.
        self._train_generator = seeded_generator(None if self.random_state is None else self.random_state + 1)
        try:
            super()._fit_model(train_part, validation_part)
        finally:
            del self._train_generator

    def _loss(self, net, inputs, targets):
        x_mean, x_logvar, z_mean, z_logvar = net(inputs, generator=self._train_generator, sample=net.training)
        return nets.elbo_loss(targets, x_mean, x_logvar, z_mean, z_logvar, beta=self.beta)

    def _window_scores(self, windows):
        with torch.inference_mode():
            with self._autocast():
                z_mean, z_logvar = (t.float() for t in self.net_.encode(windows))
            window_size = windows.shape[1]

            def decode(z):  # the network in the scoring precision, the likelihood in float32
                with self._autocast():
                    return (t.float() for t in self.net_.decode(z, window_size))
            if self.n_samples == 0:
                x_mean, x_logvar = decode(z_mean)
                nll = nets.gaussian_nll(windows, x_mean, x_logvar)
            else:
                # Seeded afresh for every batch: the same model scores the same data the same way.
                generator = seeded_generator(0 if self.random_state is None else self.random_state)
                nll = torch.zeros_like(windows)
                for _ in range(self.n_samples):
                    z = nets.reparameterise(z_mean, z_logvar, generator)
                    x_mean, x_logvar = decode(z)
                    nll += nets.gaussian_nll(windows, x_mean, x_logvar)
                nll /= self.n_samples
            if self.score == "elbo":
                n_elements = windows.shape[1] * windows.shape[2]
                nll = nll + (self.beta * nets.gaussian_kl(z_mean, z_logvar) / n_elements)[:, None, None]
            return nll.numpy()


class DenseAutoencoder(_TorchDetector):
    """Dense autoencoder on flattened windows (a textbook baseline). Arguments as LSTMAutoencoder."""

    model_type = "dense-ae"

    def __init__(self, window_size: int = 32, hidden_size: int = 64, latent_dim: int = 16,
                 dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, validation_fraction: float = 0.2, noise_std: float = 0.0,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "validation",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose

    def _net_args(self, n_features):
        return {"n_features": n_features, "window_size": self.window_size,
                "hidden_size": self.hidden_size, "latent_dim": self.latent_dim, "dropout": self.dropout}

    def _build_net(self, **args):
        return nets.DenseAE(**args)


class ConvAutoencoder(_TorchDetector):
    """1-D convolutional autoencoder over time (a textbook baseline). Arguments as LSTMAutoencoder;
    `hidden_size` is the channel count of the outer convolutions, `latent_dim` of the inner ones."""

    model_type = "conv-ae"

    def __init__(self, window_size: int = 32, hidden_size: int = 32, latent_dim: int = 16,
                 dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, validation_fraction: float = 0.2, noise_std: float = 0.0,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "validation",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose

    def _net_args(self, n_features):
        return {"n_features": n_features, "hidden_size": self.hidden_size,
                "latent_dim": self.latent_dim, "dropout": self.dropout}

    def _build_net(self, **args):
        return nets.ConvAE(**args)


class PCADetector(BaseDetector):
    """PCA reconstruction error on flattened windows (a baseline; `window_size=1` is point-wise PCA).

    Args:
        window_size: rows per window.
        n_components: components kept: an int, or a float in (0, 1) for that share of the variance.
        Other arguments as LSTMAutoencoder.
    """

    model_type = "pca"

    def __init__(self, window_size: int = 1, n_components: float | int = 0.95,
                 validation_fraction: float = 0.2, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "train",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None):
        self.window_size = window_size
        self.n_components = n_components
        self.validation_fraction = validation_fraction
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        n = self.n_components
        if not ((_is_int(n) and n >= 1) or (_is_real(n) and not _is_int(n) and 0.0 < n < 1.0)):
            raise ConfigError(f"n_components must be a whole number of components >= 1 or a share of the "
                              f"variance between 0 and 1 (exclusive), got {n!r}")

    def _fit_model(self, train_part, validation_part):
        windows = window_tensor(train_part, self.window_size).reshape(-1, self.window_size * train_part.shape[1])
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
        # in float32 that moved every score of a reloaded model by ~1e-5 relative on an AVX-512
        # Xeon. In float64 those differences are ~1e-16, below float32's resolution, so the same
        # model gives the same float32 scores wherever its arrays lie (`detect` takes 1.5x as long:
        # benchmarks/bench_pca_projection.py).
        flat = windows.numpy().reshape(len(windows), -1).astype(np.float64) - self.mean_
        components = self.components_.astype(np.float64)
        reconstruction = (flat @ components.T) @ components
        return ((flat - reconstruction) ** 2).astype(np.float32).reshape(windows.shape)

    def _model_state(self):
        return {"mean": self.mean_.tolist(), "components": self.components_.tolist()}, {}

    def _load_model_state(self, config, tensors):
        self.mean_ = np.asarray(config["mean"], dtype=np.float32)
        self.components_ = np.asarray(config["components"], dtype=np.float32)


class IsolationForestDetector(BaseDetector):
    """Isolation forest on flattened windows (Liu, Ting and Zhou, 2008): a baseline without a network.

    Each window of `window_size` rows is one point of `window_size * n_features` values; a window is
    anomalous when random axis-parallel splits isolate it in few steps. The window's score is
    scikit-learn's `-score_samples`, `2 ** (-mean path length / c(max_samples))`, in (0, 1]; 0.5
    and above is what the original paper calls anomalous. This is the windowed IsolationForest of
    PyOD and TSB-AD.

    Which sensors moved: every split on a window's path through a tree isolates it from part of
    the training windows; log(training windows at the node / at the child it went to) measures
    how much. A sensor's share of the window's score is its share of that isolation, summed over
    the splits on its readings in every tree (in the spirit of DIFFI's local importance, Carletti
    et al. 2023). A window isolated by splits on one sensor's readings is blamed on that sensor.

    The fitted forest is kept as plain arrays (children, split feature and value, training
    samples per node), saved in `config.json`, and scored by a numpy walk of the trees that
    gives scikit-learn's scores.

    Args:
        window_size: rows per window.
        n_estimators: trees.
        max_samples: training windows drawn (without replacement) for each tree; at most all.
        max_features: share of the window's values each tree may split on (1.0 = all).
        normalization: per-sensor normalisation of the shares before summing (default `none`:
            the score stays the forest's score).
        Other arguments as LSTMAutoencoder.
    """

    model_type = "iforest"

    def __init__(self, window_size: int = 32, n_estimators: int = 100, max_samples: int = 256,
                 max_features: float = 1.0, validation_fraction: float = 0.2, score_stride: int = 1,
                 score_reduction: str = "mean", normalization: str = "none",
                 normalize_on: str = "train", scaling: str = "standard", smoothing: int = 1,
                 threshold: Threshold | None = None, threshold_on: str = "validation",
                 random_state: int | None = None):
        self.window_size = window_size
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.validation_fraction = validation_fraction
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("n_estimators", "max_samples"):
            _check_int(name, getattr(self, name), 1)
        _check_real("max_features", self.max_features, 0.0, 1.0, low_open=True)

    def _fit_model(self, train_part, validation_part):
        n_features = train_part.shape[1]
        windows = window_tensor(train_part, self.window_size).reshape(-1, self.window_size * n_features)
        windows = windows.numpy()
        forest = IsolationForest(n_estimators=self.n_estimators, max_samples=min(self.max_samples, len(windows)),
                                 max_features=self.max_features, random_state=self.random_state)
        forest.fit(windows)
        self.forest_ = _forest_arrays(forest)

    def _window_scores(self, windows):
        flat = windows.numpy().reshape(len(windows), -1)
        scores, shares = _forest_scores(self.forest_, flat, windows.shape[2])
        n_features = windows.shape[2]
        # (batch, window, n_features): each step carries the window's score split by sensor; the
        # mean over sensors (what _contributions sums) is the window's score.
        elements = (scores[:, None] * shares * n_features).astype(np.float32)
        return np.repeat(elements[:, None, :], windows.shape[1], axis=1)

    def _model_state(self):
        return {key: value.tolist() for key, value in self.forest_.items()}, {}

    def _load_model_state(self, config, tensors):
        self.forest_ = {key: np.asarray(value, dtype=_FOREST_DTYPES[key]) for key, value in config.items()}


_FOREST_DTYPES = {"roots": np.int64, "left": np.int64, "right": np.int64, "feature": np.int64,
                  "value": np.float64, "n_samples": np.int64, "max_samples": np.int64}


def _forest_arrays(forest: IsolationForest) -> dict[str, np.ndarray]:
    """A fitted IsolationForest as flat node arrays of all its trees (node ids global, leaves -1)."""
    roots, left, right, feature, value, n_samples = [], [], [], [], [], []
    offset = 0
    for tree, features in zip(forest.estimators_, forest.estimators_features_):
        t = tree.tree_
        leaf = t.children_left == -1
        roots.append(offset)
        left.append(np.where(leaf, -1, t.children_left + offset))
        right.append(np.where(leaf, -1, t.children_right + offset))
        # the tree's feature k is column features[k] of the window
        feature.append(np.where(leaf, -1, np.asarray(features)[np.maximum(t.feature, 0)]))
        value.append(t.threshold)
        n_samples.append(t.n_node_samples)
        offset += t.node_count
    return {"roots": np.asarray(roots), "left": np.concatenate(left), "right": np.concatenate(right),
            "feature": np.concatenate(feature), "value": np.concatenate(value),
            "n_samples": np.concatenate(n_samples), "max_samples": np.asarray([forest.max_samples_])}


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n points."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _forest_scores(forest: dict, flat: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores `(n_windows,)` and each sensor's share `(n_windows, n_features)` of flattened windows.

    `flat[:, k * n_features + f]` is sensor f at step k of the window.
    """
    # scikit-learn compares float32 inputs with float64 split values
    flat = np.asarray(flat, dtype=np.float32).astype(np.float64)  # (n_windows, window * n_features)
    n_windows, n_trees = len(flat), len(forest["roots"])
    nodes = np.broadcast_to(forest["roots"], (n_windows, n_trees)).copy()  # (n_windows, n_trees)
    depth = np.zeros((n_windows, n_trees), dtype=np.int64)
    per_sensor = np.zeros((n_windows, n_features))  # isolation gained by splits on each sensor
    active = forest["left"][nodes] != -1
    while active.any():
        window, node = np.nonzero(active)[0], nodes[active]
        column = forest["feature"][node]
        go_left = flat[window, column] <= forest["value"][node]
        child = np.where(go_left, forest["left"][node], forest["right"][node])
        # log of the share of the node's training windows the split left behind with this one
        gain = np.log(forest["n_samples"][node] / forest["n_samples"][child])
        np.add.at(per_sensor, (window, column % n_features), gain)
        nodes[active] = child
        depth[active] += 1
        active = forest["left"][nodes] != -1
    path_length = depth + _average_path_length(forest["n_samples"][nodes])  # (n_windows, n_trees)
    normaliser = _average_path_length(forest["max_samples"])[0]
    scores = 2.0 ** (-path_length.mean(axis=1) / normaliser) if normaliser > 0 else np.ones(n_windows)
    total = per_sensor.sum(axis=1, keepdims=True)
    shares = np.divide(per_sensor, total, out=np.full_like(per_sensor, 1.0 / n_features), where=total > 0)
    return scores, shares


class DeviationDetector(BaseDetector):
    """How far each reading is from its sensor's centre on the training rows: the baseline with
    nothing to learn.

    A sensor's element score is its squared scaled reading, `((x - centre) / spread)²` with the
    input scaler's centre and spread (by default the median and IQR / 1.349 of the training rows),
    then normalised, smoothed, averaged over sensors and thresholded like every other detector's.
    It sees levels, not shapes or relations between sensors: a reading inside its usual range
    scores low whatever the other sensors do. Compare a network with it before trusting that the
    network learned more than each sensor's usual level.

    Args:
        scaling: `robust` (median, IQR / 1.349; the default) or `standard` (mean, standard deviation).
        Other arguments as LSTMAutoencoder; `random_state` is accepted for a uniform interface and
        unused (nothing is random).
    """

    model_type = "deviation"
    window_size = 1  # a row at a time; not a parameter
    score_stride = 1
    score_reduction = "mean"

    def __init__(self, validation_fraction: float = 0.2, normalization: str = "robust",
                 normalize_on: str = "validation", scaling: str = "robust", smoothing: int = 1,
                 threshold: Threshold | None = None, threshold_on: str = "validation",
                 random_state: int | None = None):
        self.validation_fraction = validation_fraction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state

    def _fit_model(self, train_part, validation_part):
        pass  # the scaler, fitted by `fit`, is the whole model

    def _element_scores(self, scaled):
        # A window of one row covers one row: the squares themselves, as float64 as the window
        # accumulator would give them (chunked scoring goes through _window_scores, to the same values).
        return np.square(scaled).astype(np.float64)

    def _window_scores(self, windows):
        return np.square(windows.numpy())

    def _model_state(self):
        return {}, {}

    def _load_model_state(self, config, tensors):
        pass


DETECTORS: dict[str, type[BaseDetector]] = {
    cls.model_type: cls for cls in (LSTMAutoencoder, LSTMVAE, DenseAutoencoder, ConvAutoencoder, PCADetector,
                                    IsolationForestDetector, DeviationDetector)
}


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def _fit_normalizer(elements: np.ndarray, method: str, floor_share: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Per-sensor (center, scale) of the training element scores `(n_timepoints, n_features)`; no
    scale below `floor_share` times the median sensor's."""
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


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot save {type(value).__name__} in config.json")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def _check_int(name: str, value, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {what}, got {value!r}")


def _check_real(name: str, value, low: float, high: float | None = None, *, low_open: bool = False,
                high_open: bool = False) -> None:
    """`value` is a finite number in the range from `low` to `high` (either end open or closed)."""
    ok = _is_real(value) and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if high is None and low_open and low == 0:
            where = "positive"
        elif high is None:
            where = f"{'>' if low_open else '>='} {low:g}"
        else:
            where = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be {where}, got {value!r}")
