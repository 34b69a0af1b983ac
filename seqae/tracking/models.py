"""The fitted detector, or a fleet of them (one per asset), as an MLflow model: logged as a pyfunc
model from code (`pyfunc_model.py`), and any model URI or directory loaded back as what it holds."""

from __future__ import annotations

import platform
import re
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType

from seqae.detectors import BaseDetector
from seqae.errors import ConfigError
from seqae.fleet import FleetDetector, asset_key
from seqae.tracking.store import flat_params, mlflow_warnings_off, reach_store


MODEL_NAME = "model"  # the logged model's name inside its run


PYFUNC_MODEL_FILE = Path(__file__).with_name("pyfunc_model.py")


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the seqae package, logged as the model's code


# What the logged model needs to load and score, pinned to the versions that fitted it.
MODEL_REQUIREMENTS = ("mlflow", "torch", "numpy", "pandas", "scikit-learn", "scipy", "tqdm")


def check_alias(alias: str) -> None:
    """MLflow's rules for a registered-model alias, checked before a model is fitted for nothing."""
    if not re.fullmatch(r"[\w\-]{1,255}", alias):
        raise ConfigError(f"alias {alias!r} may only hold letters, digits, '_' and '-' (at most 255)")
    if alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise ConfigError(f"alias {alias!r} is reserved by MLflow (models:/NAME/latest already means the "
                          "newest version, models:/NAME/3 version 3); choose another, e.g. champion")


def alias_of(model_uri: str) -> tuple[str, str] | None:
    """(NAME, ALIAS) of `models:/NAME@ALIAS`, None for any other model URI or path."""
    match = re.fullmatch(r"models:/([^/@]+)@([^/@]+)", model_uri.strip())
    return None if match is None else (match.group(1), match.group(2))


def alias_version(name: str, alias: str) -> str:
    """The version of registered model `name` that `alias` points at now, in the store `use_store`
    chose; a one-line `ConfigError` when there is none."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        raise ConfigError(f"models:/{name}@{alias}: no version of {name!r} has the alias {alias!r} "
                          f"({str(exc.message).splitlines()[0] if str(exc.message) else type(exc).__name__}); "
                          "list the models with `seqae runs`") from None


def registered_uri(model_info, register: str | None, alias: str | None) -> str | None:
    """Where a logged model was registered (`register`): `models:/NAME@ALIAS` once `alias` is set to
    its version, else `models:/NAME/VERSION`; None when it was not registered."""
    if not register:
        return None
    version = model_info.registered_model_version
    if alias:
        MlflowClient().set_registered_model_alias(register, alias, version)
        return f"models:/{register}@{alias}"
    return f"models:/{register}/{version}"


def log_detector_model(detector: BaseDetector, example_frame: pd.DataFrame,
                       registered_model_name: str | None = None):
    """Log a fitted detector to the active run as a pyfunc model from code; returns its ModelInfo.

    Artifacts: the directory `BaseDetector.save` writes (config.json with scaler and threshold,
    weights.pt). Code: the seqae package, so that the model loads where seqae is not installed.
    """
    example = example_frame[list(detector.feature_names_in_)].iloc[: detector.window_size].reset_index(drop=True)
    with tempfile.TemporaryDirectory(prefix="seqae-model-") as tmp, mlflow_warnings_off(), installed_pins_trusted():
        saved = detector.save(Path(tmp) / "detector")
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(PYFUNC_MODEL_FILE),
            artifacts={"detector": str(saved)},
            code_paths=[str(PACKAGE_DIR)],
            pip_requirements=model_requirements(),
            signature=_signature(detector, example),
            input_example=example,
            registered_model_name=registered_model_name,
            model_type=detector.model_type,
            params={k: str(v) for k, v in flat_params(detector).items()},
        )


def log_fleet_model(fleet: FleetDetector, example_frame: pd.DataFrame, registered_model_name: str | None = None):
    """Log a fitted fleet (one detector per asset, `seqae.fleet.FleetDetector`) to the active run as
    ONE pyfunc model from code; returns its ModelInfo.

    Artifact `fleet`: the directory `FleetDetector.save` writes (fleet.json beside each asset's
    saved detector). The model's input is the asset column (text) and the sensors; its answer
    the asset column, then what a single detector answers. `example_frame`: rows with the asset
    column and the sensors; the input example is the first asset's first window of rows.
    """
    example = fleet_example(fleet, example_frame)
    with tempfile.TemporaryDirectory(prefix="seqae-fleet-") as tmp, mlflow_warnings_off(), installed_pins_trusted():
        saved = fleet.save(Path(tmp) / "fleet")
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(PYFUNC_MODEL_FILE),
            artifacts={"fleet": str(saved)},
            code_paths=[str(PACKAGE_DIR)],
            pip_requirements=model_requirements(),
            signature=_fleet_signature(fleet, example),
            input_example=example,
            registered_model_name=registered_model_name,
            model_type="seqae-fleet",
            params={"asset_column": fleet.asset_column, "n_assets": str(len(fleet.detectors_)),
                    "fallback": str(fleet.fallback_detector_ is not None).lower(),
                    "model_types": ",".join(sorted({d.model_type for d in fleet.detectors_.values()}))},
        )


def fleet_example(fleet: FleetDetector, frame: pd.DataFrame) -> pd.DataFrame:
    """The first asset's first window of rows of `frame`: the asset column as text, then the sensors."""
    first = fleet.assets_[0]
    keys = frame[fleet.asset_column].map(asset_key)
    rows = frame[(keys == first).to_numpy()].iloc[: fleet.detectors_[first].window_size]
    example = rows[list(fleet.feature_names_in_)].reset_index(drop=True)
    example.insert(0, fleet.asset_column, first)
    return example


def _fleet_signature(fleet: FleetDetector, example: pd.DataFrame):
    # No default threshold: each machine's own applies unless a request sends one (NaN: none sent;
    # MLflow fills a param's default into every request).
    inferred = infer_signature(example, params={"threshold": float("nan"), "reconstruction": False})
    outputs = [ColSpec("string", fleet.asset_column), ColSpec("double", "score"), ColSpec("integer", "is_anomaly"),
               ColSpec("long", "alert_id")]
    outputs += [ColSpec("double", f"contribution_{name}") for name in fleet.feature_names_in_]
    return ModelSignature(inputs=inferred.inputs, outputs=Schema(outputs), params=inferred.params)


@contextmanager
def installed_pins_trusted():
    """While logging a model whose requirements are `model_requirements()`: MLflow's check that the
    environment satisfies them is skipped, where the model is saved and where its input example is
    loaded back to be validated. They pin what is installed here (and MLflow pins itself as
    installed), so the check cannot find a mismatch, and it first maps every installed distribution
    to its modules: ~6 % of a CLI fit of 400 rows (benchmarks/README.md, CLI). Artifacts are
    unchanged; where MLflow no longer has the check under that name, nothing is skipped."""
    import mlflow.pyfunc
    from mlflow.utils import environment

    modules = [m for m in (environment, mlflow.pyfunc) if hasattr(m, "warn_dependency_requirement_mismatches")]
    checks = [m.warn_dependency_requirement_mismatches for m in modules]
    for module in modules:
        module.warn_dependency_requirement_mismatches = _no_check
    try:
        yield
    finally:
        for module, check in zip(modules, checks):
            module.warn_dependency_requirement_mismatches = check


def _no_check(requirements) -> None:
    return None


def model_requirements() -> list[str]:
    """`name==version` of what the model needs, as installed here (torch without its local tag:
    `2.13.0+cpu` is not on PyPI, `2.13.0` is)."""
    return [f"{name}=={metadata.version(name).split('+')[0]}" for name in MODEL_REQUIREMENTS]


def _signature(detector: BaseDetector, example: pd.DataFrame):
    """Inputs (the sensors, doubles) and the `threshold`, `reconstruction` and `context_rows` params inferred from the
    example; the outputs spelled out (inferring them would flag is_anomaly as an integer that might be
    missing; `expected_<sensor>` come only when asked for)."""
    # threshold: the flag level on the calibrated score, 1.0 the model's own (MLflow fills in a default
    # for a param a request leaves out); context_rows -1: none; k >= 0: the rows after the first k
    inferred = infer_signature(example, params={"threshold": 1.0, "reconstruction": False, "context_rows": -1})
    outputs = [ColSpec("double", "score"), ColSpec("integer", "is_anomaly"), ColSpec("long", "alert_id")]
    outputs += [ColSpec("double", f"contribution_{name}") for name in detector.feature_names_in_]
    inputs = inferred.inputs
    book = getattr(detector, "states_", None)
    if book is not None and book.columns:  # the watched state columns: optional, whole numbers or not
        inputs = Schema(inputs.inputs + [ColSpec(AnyType(), name, required=False) for name in book.columns])
        outputs.append(ColSpec("string", "state_events"))
    return ModelSignature(inputs=inputs, outputs=Schema(outputs), params=inferred.params)


@dataclass
class LoadedModel:
    detector: BaseDetector | FleetDetector  # a FleetDetector only from load_model
    uri: str
    run_id: str | None = None  # the run that logged it (None for a directory written by save())
    model_id: str | None = None  # MLflow's logged-model id (models:/m-...)
    pyfunc: object | None = None  # the mlflow PyFuncModel, when loaded through MLflow


def load_detector(model_uri: str) -> LoadedModel:
    """A fitted detector from `runs:/<run>/model`, `models:/<name>@<alias>`, `models:/m-<id>`,
    a downloaded MLflow model directory, or a directory written by `BaseDetector.save`; a fleet
    model (one detector per asset) is refused in one line: `load_model` takes both."""
    loaded = load_model(model_uri)
    if isinstance(loaded.detector, FleetDetector):
        raise ConfigError(f"{model_uri}: a fleet model (one detector per {loaded.detector.asset_column}); this "
                          "command takes a model of one detector; `seqae score`, `seqae evaluate` and `seqae serve` take a fleet")
    return loaded


def load_model(model_uri: str) -> LoadedModel:
    """`load_detector`, and a fleet model (`FleetDetector`: an MLflow model logged by
    `log_fleet_model`, or a directory written by `FleetDetector.save`) as the fleet it holds."""
    path = Path(model_uri).expanduser()
    if path.is_dir():
        if (path / "MLmodel").is_file():
            model = _load_pyfunc(str(path))
        elif (path / "config.json").is_file():
            return LoadedModel(BaseDetector.load(path), str(path))
        elif FleetDetector.is_fleet_directory(path):
            return LoadedModel(FleetDetector.load(path), str(path))
        else:
            raise ConfigError(f"{path}: neither a seqae model directory (config.json or fleet.json) nor an MLflow "
                              "model directory (MLmodel)")
    elif ":/" in model_uri:
        reach_store()
        model = _load_pyfunc(model_uri)
    else:
        raise ConfigError(f"{model_uri}: no such model directory, and not a model URI; give "
                          "runs:/<run_id>/model, models:/<name>@<alias>, models:/m-<id> or a directory")
    try:
        python_model = model.unwrap_python_model()
    except MlflowException:
        python_model = None
    detector = getattr(python_model, "fleet", None) or getattr(python_model, "detector", None)
    if not isinstance(detector, (BaseDetector, FleetDetector)):
        raise ConfigError(f"{model_uri}: an MLflow model, but not a seqae detector")
    warn_environment_mismatches(model_uri, getattr(python_model, "model_dir", None),
                                model.metadata.flavors.get("python_function", {}).get("python_version"))
    return LoadedModel(detector, model_uri, model.metadata.run_id,
                       getattr(model.metadata, "model_id", None), model)


def load_pyfunc_model(model_uri: str):
    """The MLflow pyfunc model of `model_uri`; a directory written by `save()` is wrapped first."""
    loaded = load_model(model_uri)
    if loaded.pyfunc is not None:
        return loaded.pyfunc
    detector = loaded.detector
    if isinstance(detector, FleetDetector):
        first = detector.detectors_[detector.assets_[0]]
        example = pd.DataFrame(np.tile(first.scaler_.mean_, (first.window_size, 1)),
                               columns=list(detector.feature_names_in_))
        example.insert(0, detector.asset_column, detector.assets_[0])
        artifacts, signature = {"fleet": str(Path(model_uri).expanduser())}, _fleet_signature(detector, example)
    else:
        example = pd.DataFrame(np.tile(detector.scaler_.mean_, (detector.window_size, 1)),
                               columns=list(detector.feature_names_in_))
        artifacts, signature = {"detector": str(Path(model_uri).expanduser())}, _signature(detector, example)
    with tempfile.TemporaryDirectory(prefix="seqae-pyfunc-") as tmp, mlflow_warnings_off():
        mlflow.pyfunc.save_model(
            path=str(Path(tmp) / MODEL_NAME), python_model=str(PYFUNC_MODEL_FILE),
            artifacts=artifacts, code_paths=[str(PACKAGE_DIR)],
            pip_requirements=model_requirements(), signature=signature)
        # Loading reads everything into memory: the directory can go.
        return mlflow.pyfunc.load_model(str(Path(tmp) / MODEL_NAME), suppress_warnings=True)


def warn_environment_mismatches(model_uri: str, model_dir: Path | None, python_version: str | None) -> None:
    """A warning for each package the model pins (its requirements.txt) at another version than the one
    installed here, and for another Python minor version: what MLflow's loader warns about, for the
    few packages a seqae model pins. (MLflow's own check first maps every installed distribution to
    its modules, 0.3-1.4 s of each `seqae score`; benchmarks/README.md, CLI.)"""
    if python_version and python_version.split(".")[:2] != platform.python_version().split(".")[:2]:
        warnings.warn(f"{model_uri}: logged with Python {python_version}, loaded with Python "
                      f"{platform.python_version()}; if it fails to load or scores differ, use Python {python_version}")
    requirements = Path(model_dir) / "requirements.txt" if model_dir is not None else None
    if requirements is None or not requirements.is_file():
        return
    for line in requirements.read_text().splitlines():
        name, pinned, version = line.strip().partition("==")
        if not pinned or not name or any(c in name for c in "[;@ "):
            continue
        try:
            installed = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version.strip():
            warnings.warn(f"{model_uri}: logged with {name}=={version.strip()}, this environment has "
                          f"{name} {installed or 'not installed'}; if scores differ, install {name}=={version.strip()}")


def _load_pyfunc(uri: str):
    try:
        with mlflow_warnings_off():
            # seqae checks the model's pinned packages itself (warn_environment_mismatches).
            return mlflow.pyfunc.load_model(uri, suppress_warnings=True)
    except MlflowException as exc:
        first = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else type(exc).__name__
        raise ConfigError(f"{uri}: cannot load the model ({first}); list runs and models with "
                          "`seqae runs`") from None


def run_exists(run_id: str) -> bool:
    try:
        MlflowClient().get_run(run_id)
    except MlflowException:
        return False
    return True
