"""A fleet: one detector per asset (a machine, a pump, a line), fitted, saved and served as one model.

    fleet rows (every asset's readings, an asset column) --split by asset, each asset's rows in
      their order--> one detector per asset (`FitSpec.fit`, in parallel processes)
      [+ with fallback="shared": one detector on every asset's rows, each asset a recording of its own]
      --> FleetDetector
    rows to score --each asset's rows to its detector (an unseen asset: an error naming it, or the
      shared fallback detector)--> score, is_anomaly, alert_id, contribution_<sensor> per row,
      in the input's row order, beside the asset column

Every asset's detector is an ordinary seqae detector fitted on that asset's rows alone; its scores
are exactly what the detector gives those rows scored alone (`BaseDetector.detect`), and its alert
ids count within that asset. Nothing here knows MLflow: `seqae.tracking` logs a FleetDetector as
one MLflow model (`log_fleet_model`), whose pyfunc routes each request's rows by the asset column.

From Python (a Spark job does the same per group, see below):

    from seqae.fleet import FitSpec, FleetDetector
    spec = FitSpec("knn-window", {"window_size": 32})      # or FitSpec() / FitSpec("auto", {"random_state": 0})
    fleet = FleetDetector(spec, asset_column="machine", fallback="shared", n_jobs=4).fit(frame)
    scores = fleet.score_frame(new_frame)  # machine, score, is_anomaly, alert_id, contribution_<sensor>
    fleet.save("fleet-model/")             # fleet.json (readable) + assets/<k>/ and fallback/ (BaseDetector.save)
    same = FleetDetector.load("fleet-model/")

`frame` is a DataFrame with the asset column and the sensor columns (every other column, numeric),
indexed by time or by row number, each asset's rows in time order (other assets' rows may be
interleaved). `fit` also takes `{asset: frame}` or `{asset: [frame, frame, ...]}` (several
recordings of one asset). Asset values are compared as text: 7 and "7" are the same machine.

Fitting the assets elsewhere (a Spark executor per group, say) and assembling the model:

    fitted = fit_asset(spec, asset_rows)        # FittedAsset: .detector, .fit_seconds, .auto_reason, .warnings,
                                                #   .peak_memory_mib (of the process that fitted it)
    blob = detector_bytes(fitted.detector)      # the saved directory as bytes: ship it back to the driver
    ...
    fleet = FleetDetector.from_detectors({asset: detector_from_bytes(blob), ...}, asset_column="machine",
                                         spec=spec, fallback_detector=shared_or_None)
    seqae.tracking.log_fleet_model(fleet, example_frame, registered_model_name="pumps")  # ONE MLflow model

Scoring elsewhere: `fleet.score_frame(rows)` of one group's rows (or `fleet.detector_for(asset).detect(rows)`)
gives exactly what `seqae score` writes for them; `seqae.tracking.load_model(MODEL_URI).detector` is
the FleetDetector of a logged or registered fleet model (`seqae.tracking.load_detector` refuses one).

`fit_asset` runs one fit in the calling process (one torch thread is the caller's choice; the
process pool here sets it in each worker). The fitted detectors of one fleet must share their
sensor columns (`from_detectors` checks it).
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import numpy as np
import pandas as pd

from seqae.detectors import BaseDetector, Detection, make_detector
from seqae.errors import ConfigError, DataError, SeqaeError, name_list
from seqae.files import staged_directory
from seqae.threshold_registry import threshold_from_dict

FLEET_FORMAT_VERSION = 1
FLEET_FILE = "fleet.json"
FALLBACKS = (None, "shared")
AUTO_PARAMS = ("window_size", "random_state", "threshold", "networks")  # what auto-configuration takes


@dataclass(frozen=True)
class FitSpec:
    """How each asset's detector is fitted: a model type and its parameters, or "auto".

    Args:
        model_type: "auto" (`seqae.autoconfig.auto_fit`: the window and the detector chosen from
            the asset's own rows) or a detector's model type (`seqae.detectors.DETECTORS`).
        params: the detector's parameters (a `threshold` is a `seqae.thresholds.Threshold`); for
            "auto" only `window_size`, `random_state`, `threshold` and `networks` (False: the
            baselines only, without the LSTM candidates).
    """

    model_type: str = "auto"
    params: dict = field(default_factory=dict)

    def check(self) -> "FitSpec":
        """Raise a one-line `ConfigError` for a model type or parameter that cannot be fitted."""
        if self.model_type == "auto":
            other = sorted(set(self.params) - set(AUTO_PARAMS))
            if other:
                raise ConfigError(f"{other[0]} sets a parameter of one model, and auto-configuration chooses its "
                                  "own; name the model too (e.g. --model lstm-ae)")
        else:
            make_detector(self.model_type, **self.params).check_params()
        return self

    def fit(self, data) -> "FittedAsset":
        """Fit one detector on `data` (a frame, or a list of frames: separate recordings)."""
        return fit_asset(self, data)

    def to_dict(self) -> dict:
        params = {k: (v.to_dict() if k == "threshold" and v is not None else v) for k, v in self.params.items()}
        return {"model_type": self.model_type, "params": params}

    @classmethod
    def from_dict(cls, state: dict) -> "FitSpec":
        params = dict(state.get("params", {}))
        if params.get("threshold") is not None:
            params["threshold"] = threshold_from_dict({k: v for k, v in params["threshold"].items() if k != "value"})
        return cls(state["model_type"], params)


@dataclass
class FittedAsset:
    """One asset's fit: the detector, what it took, what auto chose, the warnings fit raised."""

    detector: BaseDetector
    fit_seconds: float
    n_rows: int
    auto_chosen: str | None = None  # the candidate auto-configuration kept
    auto_reason: str | None = None  # its one-line reason
    candidates: pd.DataFrame | None = None  # auto's candidate table (no fitted candidates kept)
    warnings: list[str] = field(default_factory=list)
    peak_memory_mib: float = float("nan")  # peak resident memory of the process that fitted it, so far


def fit_asset(spec: FitSpec, data) -> FittedAsset:
    """Fit one detector as `spec` says on `data` (a frame, or a list of frames), in this process.

    Warnings are caught and returned in `FittedAsset.warnings` (a worker process's warnings would
    be lost otherwise); errors are raised as they are."""
    spec.check()
    started = time.perf_counter()
    auto = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if spec.model_type == "auto":
            from seqae.autoconfig import auto_fit

            auto = auto_fit(data, random_state=spec.params.get("random_state"),
                            window_size=spec.params.get("window_size"), networks=spec.params.get("networks", True))
            detector = auto.detector
            if spec.params.get("threshold") is not None:
                detector.set_threshold(spec.params["threshold"])
        else:
            detector = make_detector(spec.model_type, **spec.params).fit(data)
    seconds = time.perf_counter() - started
    n_rows = sum(len(part) for part in data) if isinstance(data, (list, tuple)) else len(data)
    messages = list(dict.fromkeys(str(w.message) for w in caught
                                  if not issubclass(w.category, (DeprecationWarning, FutureWarning))))
    memory = _peak_memory_mib()
    if auto is None:
        return FittedAsset(detector, seconds, n_rows, warnings=messages, peak_memory_mib=memory)
    candidates = auto.candidates.drop(columns=["injection_aps"], errors="ignore")
    return FittedAsset(detector, seconds, n_rows, auto.chosen, auto.reason, candidates, messages, memory)


def _peak_memory_mib() -> float:
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20  # KiB on Linux, bytes on macOS


def detector_bytes(detector: BaseDetector) -> bytes:
    """A fitted detector as bytes: its saved directory (`BaseDetector.save`) in an uncompressed tar."""
    with tempfile.TemporaryDirectory(prefix="seqae-detector-") as tmp:
        saved = detector.save(Path(tmp) / "detector")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path in sorted(saved.iterdir()):
                tar.add(path, arcname=path.name)
        return buffer.getvalue()


def detector_from_bytes(blob: bytes) -> BaseDetector:
    """The detector `detector_bytes` packed."""
    with tempfile.TemporaryDirectory(prefix="seqae-detector-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
            tar.extractall(tmp, filter="data")
        return BaseDetector.load(tmp)


def asset_key(value) -> str:
    """An asset value as the fleet compares it: text (7, 7.0 and "7" name one asset)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value)


class FleetDetector:
    """One fitted detector per asset, held, scored, saved and logged as one model.

    Args:
        spec: how each asset's detector is fitted (`FitSpec`; default: auto-configuration).
        asset_column: the column that names the asset of each row (e.g. "machine").
        fallback: None (an asset the model has not seen is an error naming it) or "shared" (`fit`
            also fits one detector on every asset's rows, each asset a recording of its own, and
            scores an unseen asset's rows with it).
        n_jobs: processes fitting assets at once (1: in this process); each runs one torch thread.

    Fitted attributes: `detectors_` (asset -> detector, in order of first appearance),
    `fallback_detector_` (or None), `fitted_` (asset -> `FittedAsset`, and "(shared)" for the
    fallback; empty after `load`), `feature_names_in_`, `n_features_in_`.
    """

    SHARED = "(shared)"  # the fallback detector's name in `fitted_`

    def __init__(self, spec: FitSpec | None = None, asset_column: str = "machine", fallback: str | None = None,
                 n_jobs: int = 1):
        self.spec = spec
        self.asset_column = asset_column
        self.fallback = fallback
        self.n_jobs = n_jobs

    # ---- fit -----------------------------------------------------------------------------------

    def fit(self, X, y=None) -> "FleetDetector":
        """Fit one detector per asset of `X`: a frame with the asset column, `{asset: frame}` or
        `{asset: [frame, ...]}`. Returns self."""
        spec = self.check_params()
        data = self.split(X) if isinstance(X, pd.DataFrame) else self._check_mapping(X)
        jobs = list(data.items())
        if self.fallback == "shared":  # the largest fit first, so that no worker starts it last
            jobs.insert(0, (self.SHARED, [part for parts in data.values()
                                          for part in (parts if isinstance(parts, list) else [parts])]))
        results = dict(self._fit_all(spec, jobs))
        fitted = {name: results[name] for name in [*data, *([self.SHARED] if self.SHARED in results else [])]}
        for name, result in fitted.items():
            for message in result.warnings:
                warnings.warn(f"{self._asset_label(name)}: {message}", stacklevel=2)
        self.fitted_ = fitted
        self.set_detectors({a: fitted[a].detector for a in data},
                            fitted[self.SHARED].detector if self.fallback == "shared" else None)
        return self

    def _fit_all(self, spec: FitSpec, jobs: list):
        """(name, FittedAsset) for each job, in order; in a pool of `n_jobs` spawned processes."""
        if self.n_jobs == 1 or len(jobs) == 1:
            return [(name, _fit_named(spec, name, data, self.asset_column)) for name, data in jobs]
        workers = min(self.n_jobs, len(jobs))
        with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(),
                                 initializer=one_thread) as pool:
            futures = [(name, pool.submit(_fit_named, spec, name, data, self.asset_column)) for name, data in jobs]
            return [(name, future.result()) for name, future in futures]

    @classmethod
    def from_detectors(cls, detectors: dict, *, asset_column: str = "machine", spec: FitSpec | None = None,
                       fallback_detector: BaseDetector | None = None) -> "FleetDetector":
        """A fleet of detectors fitted elsewhere (one per asset, the same sensor columns)."""
        fleet = cls(spec, asset_column, "shared" if fallback_detector is not None else None)
        fleet.check_params()
        fleet.fitted_ = {}
        fleet.set_detectors({asset_key(a): d for a, d in detectors.items()}, fallback_detector)
        return fleet

    def set_detectors(self, detectors: dict, fallback_detector: BaseDetector | None) -> None:
        if not detectors:
            raise DataError("a fleet needs at least one asset's detector")
        every = list(detectors.items()) + ([(self.SHARED, fallback_detector)] if fallback_detector is not None else [])
        first_asset, first = every[0]
        for asset, detector in every:
            if not isinstance(detector, BaseDetector):
                raise ConfigError(f"{self._asset_label(asset)}: expected a fitted seqae detector, got "
                                  f"{type(detector).__name__}")
            detector.check_fitted()
            if list(detector.feature_names_in_) != list(first.feature_names_in_):
                raise DataError(f"{self._asset_label(asset)} was fitted on sensors "
                                f"{name_list(detector.feature_names_in_)}, {self._asset_label(first_asset)} on "
                                f"{name_list(first.feature_names_in_)}; a fleet's detectors share their sensors")
        self.detectors_ = dict(detectors)
        self.fallback_detector_ = fallback_detector
        self.feature_names_in_ = np.asarray(first.feature_names_in_, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)

    # ---- routing and scoring ---------------------------------------------------------------------

    @property
    def assets_(self) -> list[str]:
        self.check_fitted()
        return list(self.detectors_)

    def detector_for(self, asset) -> BaseDetector:
        """The detector that scores `asset`'s rows: its own, or the shared fallback for an asset the
        fleet has not seen (a `DataError` naming it without one)."""
        self.check_fitted()
        key = asset_key(asset)
        if key in self.detectors_:
            return self.detectors_[key]
        if self.fallback_detector_ is not None:
            return self.fallback_detector_
        known = list(self.detectors_)
        raise DataError(f"{self.asset_column} {key!r} has no detector in this model (it has {len(known)}: "
                        f"{name_list(known)}); fit the model on its rows too, or fit with --fallback shared "
                        "to score unseen assets with a detector shared by all")

    def split(self, X: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Each asset's rows of `X`, in their order, without the asset column: `{asset: frame}`,
        assets in order of first appearance."""
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"expected a table with a {self.asset_column!r} column, got {type(X).__name__}")
        if self.asset_column not in X.columns:
            raise DataError(f"column {self.asset_column!r} that names each row's asset is missing; the data has "
                            f"columns {name_list(X.columns)}")
        keys = X[self.asset_column]
        if keys.isna().any():
            row = int(np.flatnonzero(keys.isna().to_numpy())[0])
            raise DataError(f"column {self.asset_column!r} is empty at row {row} (and {int(keys.isna().sum()) - 1} "
                            "more); every row needs its asset")
        keys = keys.map(asset_key)
        sensors = X.drop(columns=[self.asset_column])
        return {key: sensors[(keys == key).to_numpy()] for key in pd.unique(keys)}

    def detect(self, X) -> dict[str, Detection]:
        """`{asset: Detection}`: each asset's rows of `X` (a frame with the asset column) scored by
        its detector (`detector_for`), every unseen asset checked before any is scored."""
        self.check_fitted()
        parts = self.split(X)
        detectors = {asset: self.detector_for(asset) for asset in parts}
        out = {}
        for asset, rows in parts.items():
            try:
                out[asset] = detectors[asset].detect(rows)
            except SeqaeError as exc:
                raise type(exc)(f"{self._asset_label(asset)}: {exc}") from None
        return out

    def score_frame(self, X: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
        """One row per row of `X`, in its order and with its index: the asset column, `score`,
        `is_anomaly`, `alert_id` (by each asset's alert rules, counted within the asset; -1: none)
        and `contribution_<sensor>`. `threshold` replaces every detector's for this call."""
        detections = self.detect(X)
        keys = X[self.asset_column].map(asset_key).to_numpy()
        parts = []
        for asset, detection in detections.items():
            if threshold is not None:
                detection.threshold = float(threshold)
                detection.flags = (detection.scores > threshold).astype(np.int8)
            alert_ids = self.detector_for(asset).find_alert_ids(detection)
            part = detection.to_frame(alert_ids).reset_index(drop=True)
            part.index = np.flatnonzero(keys == asset)
            parts.append(part)
        scores = pd.concat(parts).sort_index()
        scores.insert(0, self.asset_column, X[self.asset_column].to_numpy())
        return scores.set_axis(X.index, axis=0)

    # ---- save / load -----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """A directory, written whole or not at all: `fleet.json` (the asset column, the fit spec,
        the sensors, each asset with its directory, model type and threshold) beside each asset's
        saved detector (`assets/<k>/`, `BaseDetector.save`) and `fallback/` for a shared one."""
        self.check_fitted()
        target = Path(path)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigError(f"{target}: already exists and is not an empty directory; choose a new path")
        width = max(3, len(str(len(self.detectors_) - 1)))
        assets = []
        with staged_directory(target) as staging:
            for k, (asset, detector) in enumerate(self.detectors_.items()):
                directory = f"assets/{k:0{width}d}"
                detector.save(staging / directory)
                assets.append({"asset": asset, "directory": directory, "model_type": detector.model_type,
                               "threshold": float(detector.threshold_.value_)})
            fallback = None
            if self.fallback_detector_ is not None:
                self.fallback_detector_.save(staging / "fallback")
                fallback = {"directory": "fallback", "model_type": self.fallback_detector_.model_type,
                            "threshold": float(self.fallback_detector_.threshold_.value_)}
            state = {"format_version": FLEET_FORMAT_VERSION, "kind": "seqae-fleet",
                     "asset_column": self.asset_column,
                     "spec": None if self.spec is None else self.spec.to_dict(),
                     "feature_names": [str(n) for n in self.feature_names_in_],
                     "n_assets": len(assets), "assets": assets, "fallback": fallback}
            (staging / FLEET_FILE).write_text(json.dumps(state, indent=2))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FleetDetector":
        """A fleet saved with `save`."""
        directory = Path(path)
        if not (directory / FLEET_FILE).is_file():
            raise DataError(f"{directory}: no {FLEET_FILE}; expected a directory written by FleetDetector.save()")
        try:
            state = json.loads((directory / FLEET_FILE).read_text())
            assets = {entry["asset"]: directory / entry["directory"] for entry in state["assets"]}
            asset_column = state["asset_column"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{directory / FLEET_FILE}: not a seqae fleet ({exc}); save the fleet again") from None
        if state.get("format_version", 0) > FLEET_FORMAT_VERSION:
            raise DataError(f"{directory}: saved by a newer seqae (fleet format {state['format_version']}); "
                            "upgrade seqae")
        spec = FitSpec.from_dict(state["spec"]) if state.get("spec") else None
        fallback = state.get("fallback")
        return cls.from_detectors({asset: BaseDetector.load(where) for asset, where in assets.items()},
                                  asset_column=asset_column, spec=spec,
                                  fallback_detector=BaseDetector.load(directory / fallback["directory"])
                                  if fallback else None)

    @staticmethod
    def is_fleet_directory(path: str | os.PathLike) -> bool:
        """Whether `path` is a directory written by `FleetDetector.save`."""
        return (Path(path) / FLEET_FILE).is_file()

    # ---- checks ----------------------------------------------------------------------------------

    def check_fitted(self) -> None:
        if not hasattr(self, "detectors_"):
            from seqae.errors import NotFittedError

            raise NotFittedError("this FleetDetector is not fitted yet; call fit() first")

    def check_params(self) -> FitSpec:
        """The fit spec, after a one-line `ConfigError` for a parameter that cannot be used."""
        if not isinstance(self.asset_column, str) or not self.asset_column:
            raise ConfigError(f"asset_column must name a column, got {self.asset_column!r}")
        if self.fallback not in FALLBACKS:
            raise ConfigError(f"fallback must be None or 'shared', got {self.fallback!r}")
        if not isinstance(self.n_jobs, (int, np.integer)) or isinstance(self.n_jobs, bool) or self.n_jobs < 1:
            raise ConfigError(f"n_jobs must be a whole number of processes >= 1, got {self.n_jobs!r}")
        spec = self.spec if self.spec is not None else FitSpec()
        if not isinstance(spec, FitSpec):
            raise ConfigError(f"spec must be a seqae.fleet.FitSpec, got {type(spec).__name__}")
        return spec.check()

    def _check_mapping(self, X) -> dict:
        if not isinstance(X, dict) or not X:
            raise DataError(f"expected a frame with a {self.asset_column!r} column or a non-empty "
                            f"{{asset: frame}} mapping, got {type(X).__name__}")
        return {asset_key(a): (list(v) if isinstance(v, (list, tuple)) else v) for a, v in X.items()}

    def _asset_label(self, asset: str) -> str:
        return "the shared detector" if asset == self.SHARED else f"{self.asset_column} {asset!r}"


def _fit_named(spec: FitSpec, name: str, data, asset_column: str) -> FittedAsset:
    """`fit_asset`, its errors naming the asset (they cross the process boundary as they are)."""
    try:
        return fit_asset(spec, data)
    except SeqaeError as exc:
        label = "the shared detector" if name == FleetDetector.SHARED else f"{asset_column} {name!r}"
        raise type(exc)(f"{label}: {exc}") from None


def worker_context():
    """How worker processes start: forked from a server process that imported seqae once
    (forkserver; one import of torch for the whole pool instead of one per worker), or spawned
    where there is no forkserver (Windows). Never forked from this process: a forked child inherits
    torch's OpenMP pool in whatever state the parent left it."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(["seqae.fleet"])
    return context


def one_thread() -> None:
    """A worker's setup: one torch thread and one BLAS thread, as seqae's commands use by default."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)
