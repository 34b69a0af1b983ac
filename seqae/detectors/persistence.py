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
from seqae.data.states import StateBook
from seqae.detectors.registry import DETECTORS
from seqae.errors import ConfigError, DataError, shorten
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
        "roles": dict(detector.roles_),
        "level": {"rows": int(detector.level_rows_), "reference": [float(v) for v in detector.level_reference_],
                  "period": detector.level_period_},
        "n_features": int(detector.n_features_in_),
        "scaler": detector.scaler_.to_dict(),
        "normalizer": {"center": detector.normalizer_[0].tolist(), "scale": detector.normalizer_[1].tolist()},
        "threshold": detector.threshold_.to_dict(),
        "alert_rules": detector.alert_rules_.to_dict(),
        # The `threshold` parameter as given (None = the default), so get_params round-trips.
        "threshold_param": None if detector.threshold is None else detector.threshold.to_dict(),
        "model": config,
    }
    if getattr(detector, "states_", None) is not None and detector.states_.columns:
        state["states"] = detector.states_.to_dict()  # what the state and constant columns did in training
    if getattr(detector, "faults_", None):  # an operator's labelled faults (seqae.feedback)
        state["faults"] = list(detector.faults_)
    with staged_directory(target) as staging:
        (staging / "config.json").write_text(json.dumps(state, indent=2, default=_jsonable))
        if tensors:
            torch.save(tensors, staging / "weights.pt")
    return target


def load(path: str | os.PathLike, expected: type | None = None):
    """The detector saved in the directory `path`, of the class its `config.json` names (which
    must be `expected` or a subclass of it, when given). The whole config is checked before
    anything is built: a config that is not what `save` writes (a field missing or of another type,
    a parameter the model does not take) is a one-line `DataError` naming the file and the field."""
    directory = Path(path)
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise DataError(f"{directory}: no config.json; expected a directory written by seqae's save()")
    try:
        state = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{config_file}: not a seqae model config ({exc}); fit the model again") from None
    detector_cls = check_config(state, config_file)
    if expected is not None and not issubclass(detector_cls, expected):
        raise DataError(f"{directory}: holds a {state.get('class', detector_cls.__name__)}, not a "
                        f"{expected.__name__}; load it with {detector_cls.__name__}.load or BaseDetector.load")
    try:
        return _build(detector_cls, state, directory)
    except DataError as exc:  # what a detector says of its own saved state (no weights.pt, say)
        message = str(exc)
        raise DataError(message if message.startswith(str(directory)) else f"{directory}: {message}") from None
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        reason = str(exc) if isinstance(exc, (ValueError, RuntimeError)) else f"{type(exc).__name__}: {exc}"
        reason = reason.removeprefix(f"{directory}: ").splitlines()[0] if reason.strip() else type(exc).__name__
        raise DataError(f"{config_file}: the saved model does not load ({shorten(reason, 200)[1:-1]}); "
                        "fit the model again") from None


CONFIG_FIELDS = {  # field of config.json -> (the types it may hold, in words)
    "model_type": ((str,), "a model type"),
    "params": ((dict,), "an object of parameters"),
    "feature_names": ((list,), "a list of sensor names"),
    "n_features": ((int,), "a whole number"),
    "scaler": ((dict,), "an object (mean, scale)"),
    "normalizer": ((dict,), "an object (center, scale)"),
    "threshold": ((dict,), "an object (kind, params, value)"),
    "alert_rules": ((dict,), "an object (params, fitted)"),
    "model": ((dict,), "an object"),
}


def check_config(state, config_file: Path) -> type:
    """The detector class a saved `config.json` (parsed: `state`) names, once every field `load`
    reads holds what `save` writes there; a one-line `DataError` for the first that does not."""
    def wrong(what: str) -> DataError:
        return DataError(f"{config_file}: {what}; fit the model again, or put back the folder as seqae saved it")

    if not isinstance(state, dict):
        raise wrong(f"holds {type(state).__name__}, not an object of fields")
    for field, (types, words) in CONFIG_FIELDS.items():
        if field not in state:
            if field == "alert_rules":  # the one field whose absence has its own story
                raise DataError(f"{config_file.parent}: saved by an older seqae, without alert rules (format "
                                f"{state.get('format_version', 0)}); fit the model again")
            raise wrong(f"has no {field!r}")
        value = state[field]
        if not isinstance(value, types) or isinstance(value, bool):
            raise wrong(f"{field!r} is {type(value).__name__} {shorten(value, 40)}, not {words}")
    if state["model_type"] not in DETECTORS:
        raise wrong(f"model type {shorten(state['model_type'])} is not one this seqae knows ({', '.join(DETECTORS)})")
    detector_cls = DETECTORS[state["model_type"]]
    version = state.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise wrong(f"'format_version' is {shorten(version, 40)}, not a whole number")
    if version > FORMAT_VERSION:
        raise DataError(f"{config_file.parent}: saved by a newer seqae (format {version}); upgrade seqae")
    if version < detector_cls.min_format_version:
        raise DataError(f"{config_file.parent}: a {state['model_type']} saved by an older seqae (format {version}), "
                        f"whose network this seqae no longer builds (format {detector_cls.min_format_version} "
                        "and later); fit the model again")
    if version < DECISIONS_FORMAT:
        raise DataError(f"{config_file.parent}: saved by an older seqae (format {version}), whose alert rules lack "
                        "the normal scores a feed is judged against; fit the model again")
    known = detector_cls().get_params(deep=False)
    unknown = [name for name in state["params"] if name not in known or name == "threshold"]
    if unknown:
        raise wrong(f"parameter {shorten(unknown[0])} is not one a {state['model_type']} takes")
    names = state["feature_names"]
    if not names or not all(isinstance(n, str) for n in names) or len(names) != state["n_features"]:
        raise wrong(f"'feature_names' must name the model's {state['n_features']} sensors (found "
                    f"{shorten(names, 60)})")
    param = state.get("threshold_param")
    if param is not None and not isinstance(param, dict):
        raise wrong(f"'threshold_param' is {type(param).__name__}, not an object or null")
    return detector_cls


def _build(detector_cls, state: dict, directory: Path):
    """The detector a checked config (and weights.pt, where the model has tensors) describes."""
    detector = detector_cls(**state["params"])
    detector.check_params()
    param = state.get("threshold_param", state["threshold"])
    detector.threshold = None if param is None else threshold_from_dict(
        {k: v for k, v in param.items() if k != "value"})
    detector.feature_names_in_ = np.asarray(state["feature_names"], dtype=object)
    detector.n_features_in_ = int(state["n_features"])
    roles = state.get("roles")
    if not isinstance(roles, dict) or not set(state["feature_names"]) <= set(roles):
        raise DataError(f"{directory}: 'roles' must give the role of every column the model reads; fit the model again")
    detector.roles_ = {str(name): str(role) for name, role in roles.items()}
    detector.states_ = StateBook.from_dict(state.get("states", {}))  # none recorded: no events
    level = state.get("level")
    if not isinstance(level, dict) or len(level.get("reference", ())) != len(state["feature_names"]):
        raise DataError(f"{directory}: 'level' must give the training level of every column the model reads; "
                        "fit the model again")
    detector.level_rows_ = int(level["rows"])
    detector.level_reference_ = np.asarray(level["reference"], dtype=np.float64)
    period = level.get("period")  # saved before whole periods: the means over every row, as then
    detector.level_period_ = int(period) if isinstance(period, int) and period > 0 else None
    detector.scaler_ = Scaler.from_dict(state["scaler"])
    detector.normalizer_ = (np.asarray(state["normalizer"]["center"]), np.asarray(state["normalizer"]["scale"]))
    detector.threshold_ = threshold_from_dict(state["threshold"])
    detector.alert_rules_ = AlertRules.from_dict(state["alert_rules"])
    if state.get("faults"):
        detector.faults_ = list(state["faults"])
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
