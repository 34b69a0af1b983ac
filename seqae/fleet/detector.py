"""The fleet detector: one fitted detector per asset, each asset's rows routed to its own (or to a
shared fallback detector), saved as one directory and logged as one model.

    rows with an asset column --each asset's rows, in their order, to `detector_for(asset)`-->
      score, is_anomaly, alert_id, contribution_<sensor> per row, in the input's row order,
      beside the asset column

Every asset's detector is an ordinary seqae detector fitted on that asset's rows alone
(`seqae.fleet.fitting`); its scores are exactly what the detector gives those rows scored alone
(`BaseDetector.detect`), and its alert ids count within that asset.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from seqae.detectors import BaseDetector, Detection
from seqae.errors import ConfigError, DataError, NotFittedError, SeqaeError, name_list
from seqae.files import staged_directory
from seqae.fleet.fitting import fit_assets
from seqae.fleet.spec import SHARED, FitSpec, asset_key, asset_label

FLEET_FORMAT_VERSION = 1
FLEET_FILE = "fleet.json"
FALLBACKS = (None, "shared")


class FleetDetector:
    """One fitted detector per asset, held, scored, saved and logged as one model.

    Args:
        spec: how each asset's detector is fitted (`FitSpec`; default: auto-configuration).
        asset_column: the column that names the asset of each row (e.g. "machine").
        fallback: None (an asset the model has not seen is an error naming it) or "shared" (`fit`
            also fits one detector on every asset's rows, each asset a recording of its own, and
            scores an unseen asset's rows with it).
        n_jobs: processes fitting assets at once (1: in this process; else worker processes of
            `seqae.workers`, each on one torch thread, gone with the process that started them).

    Fitted attributes: `detectors_` (asset -> detector, in order of first appearance),
    `fallback_detector_` (or None), `fitted_` (asset -> `FittedAsset`, and "(shared)" for the
    fallback; empty after `load`), `feature_names_in_`, `n_features_in_`.
    """

    SHARED = SHARED  # the fallback detector's name in `fitted_`

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
        results = dict(fit_assets(spec, jobs, self.asset_column, self.n_jobs))
        fitted = {name: results[name] for name in [*data, *([self.SHARED] if self.SHARED in results else [])]}
        for name, result in fitted.items():
            for message in result.warnings:
                warnings.warn(f"{self._asset_label(name)}: {message}", stacklevel=2)
        self.fitted_ = fitted
        self.set_detectors({a: fitted[a].detector for a in data},
                            fitted[self.SHARED].detector if self.fallback == "shared" else None)
        return self

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

    def detect(self, X, level: float = 1.0) -> dict[str, Detection]:
        """`{asset: Detection}`: each asset's rows of `X` (a frame with the asset column) scored by
        its detector (`detector_for`), every unseen asset checked before any is scored."""
        self.check_fitted()
        parts = self.split(X)
        detectors = {asset: self.detector_for(asset) for asset in parts}
        out = {}
        for asset, rows in parts.items():
            try:
                out[asset] = detectors[asset].detect(rows, level=level)
            except SeqaeError as exc:
                raise type(exc)(f"{self._asset_label(asset)}: {exc}") from None
        return out

    def score_frame(self, X: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
        """One row per row of `X`, in its order and with its index: the asset column, then each asset's
        decisions (`BaseDetector.detect`: `score` calibrated so that 1.0 is the asset's threshold,
        `raw_score`, `is_anomaly`, `alert_id` counted within the asset, -1: none, `warming_up`,
        `contribution_<sensor>`). `threshold`: the flag level on the calibrated score for this call."""
        detections = self.detect(X, level=1.0 if threshold is None else float(threshold))
        keys = X[self.asset_column].map(asset_key).to_numpy()
        parts = []
        for asset, detection in detections.items():
            part = detection.to_frame().reset_index(drop=True)
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
        return asset_label(asset, self.asset_column)
