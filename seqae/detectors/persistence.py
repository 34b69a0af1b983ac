"""A fitted detector on disk: a directory with a readable `config.json` (parameters, scaler,
normaliser, threshold, alert rules, the model's own config) and, where the model has tensors,
`weights.pt` (loaded with `weights_only=True`: no pickle).

`FORMAT_VERSION` counts the changes of this layout that an older seqae cannot read; a class whose
saved model an older format cannot rebuild sets its `min_format_version`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from seqae.alerts import AlertRules
from seqae.data import Scaler
from seqae.detectors.registry import DETECTORS
from seqae.errors import ConfigError, DataError
from seqae.files import staged_directory
from seqae.threshold_registry import threshold_from_dict

FORMAT_VERSION = 3  # 2: conv-ae's network encodes a window to latent_dim values; 3: alert rules calibrated
DECISIONS_FORMAT = 3  # the oldest format whose alert rules carry the calibration a feed is judged against


def save(detector, path: str | os.PathLike) -> Path:
    """Write fitted `detector` to the directory `path`, whole or not at all (into a temporary
    sibling, then renamed); a `ConfigError` if `path` exists and is not an empty directory."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target}: already exists and is not an empty directory; choose a new path")
    config, tensors = detector.model_state()
    state = {
        "format_version": FORMAT_VERSION,
        "model_type": detector.model_type,
        "class": type(detector).__name__,
        "params": {k: v for k, v in detector.get_params(deep=False).items() if k != "threshold"},
        "feature_names": list(detector.feature_names_in_),
        "n_features": int(detector.n_features_in_),
        "scaler": detector.scaler_.to_dict(),
        "normalizer": {"center": detector.normalizer_[0].tolist(), "scale": detector.normalizer_[1].tolist()},
        "threshold": detector.threshold_.to_dict(),
        "alert_rules": detector.alert_rules_.to_dict(),
        # The `threshold` parameter as given (None = the default), so get_params round-trips.
        "threshold_param": None if detector.threshold is None else detector.threshold.to_dict(),
        "model": config,
    }
    with staged_directory(target) as staging:
        (staging / "config.json").write_text(json.dumps(state, indent=2, default=_jsonable))
        if tensors:
            torch.save(tensors, staging / "weights.pt")
    return target


def load(path: str | os.PathLike, expected: type | None = None):
    """The detector saved in the directory `path`, of the class its `config.json` names (which
    must be `expected` or a subclass of it, when given); a one-line `DataError` otherwise."""
    directory = Path(path)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise DataError(f"{directory}: no config.json; expected a directory written by seqae's save()")
    try:
        state = json.loads(config_file.read_text())
        detector_cls = DETECTORS[state["model_type"]]
    except (json.JSONDecodeError, KeyError) as exc:
        raise DataError(f"{config_file}: not a seqae model config ({exc}); save the model again") from None
    if expected is not None and not issubclass(detector_cls, expected):
        raise DataError(f"{directory}: holds a {state['class']}, not a {expected.__name__}; "
                        f"load it with {state['class']}.load or BaseDetector.load")
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(f"{directory}: saved by a newer seqae (format {state['format_version']}); upgrade seqae")
    if state.get("format_version", 0) < detector_cls.min_format_version:
        raise DataError(f"{directory}: a {state['model_type']} saved by an older seqae (format "
                        f"{state.get('format_version', 0)}), whose network this seqae no longer builds "
                        f"(format {detector_cls.min_format_version} and later); fit the model again")
    if state.get("format_version", 0) < DECISIONS_FORMAT:
        raise DataError(f"{directory}: saved by an older seqae (format {state.get('format_version', 0)}), whose alert "
                        "rules lack the normal scores a feed is judged against; fit the model again")
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


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot save {type(value).__name__} in config.json")
