"""What one asset's fit is: how it is fitted (`FitSpec`), what it gave (`FittedAsset`), how an
asset is named, and a fitted detector as bytes, to travel from where it was fitted (a worker
process, a Spark executor) to where the fleet is assembled."""

from __future__ import annotations

import io
import sys
import tarfile
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seqae.detectors import BaseDetector, make_detector
from seqae.autoconfig import auto_fit, check_auto_params
from seqae.threshold_registry import threshold_from_dict

SHARED = "(shared)"  # the name of a fleet's shared fallback detector, beside its assets


@dataclass(frozen=True)
class FitSpec:
    """How each asset's detector is fitted: a model type and its parameters, or "auto".

    Args:
        model_type: "auto" (`seqae.autoconfig.auto_fit`: the window and the detector chosen from
            the asset's own rows) or a detector's model type (`seqae.detectors.DETECTORS`).
        params: the detector's parameters (a `threshold` is a `seqae.thresholds.Threshold`); for
            "auto" only `seqae.autoconfig.AUTO_PARAMS` (`networks` False: the baselines only,
            without the LSTM autoencoder).
    """

    model_type: str = "auto"
    params: dict = field(default_factory=dict)

    def check(self) -> "FitSpec":
        """Raise a one-line `ConfigError` for a model type or parameter that cannot be fitted."""
        if self.model_type == "auto":
            check_auto_params(self.params)
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
            given = spec.params
            auto = auto_fit(data, random_state=given.get("random_state"), window_size=given.get("window_size"),
                            networks=given.get("networks", True), alert_rules=given.get("alert_rules"),
                            roles=given.get("roles"))
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


def asset_key(value) -> str:
    """An asset value as the fleet compares it: text (7, 7.0 and "7" name one asset)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value)


def asset_label(asset: str, asset_column: str) -> str:
    """An asset as a message names it: `machine 'm01'`, or the shared detector."""
    return "the shared detector" if asset == SHARED else f"{asset_column} {asset!r}"


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
