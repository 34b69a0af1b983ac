"""seqae's MLflow side: where runs live, what a fit run logs, models by URI, evaluation runs.

This is the one module (with the model file `pyfunc_model.py` and the servers in `serving.py`) that
imports MLflow; the detectors, data and plots below it know nothing of it. The CLI and pipelines
call the functions here:

    read_training_data  CSV -> the rows a detector learns from, and how they were read
    fit_and_log         fit inside an MLflow run; log params, losses per epoch, threshold,
                        summary metrics, the dataset, plots, the config and the model
    load_detector       any model URI or directory -> the fitted detector (and its run, if any)
    evaluate_and_log    CSV with labels -> precision, recall, F1, false-alarm rate, AUC-PR,
                        logged against the model's run
    runs_table          the runs of an experiment as a table

The store: `MLFLOW_TRACKING_URI` when it is set; otherwise a SQLite database in `./mlruns/` with
the artifacts in `./mlruns/artifacts/`, so a fresh checkout needs no server. The model registry
uses the same store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

import seqae
from seqae import metrics, plots
from seqae.data import ReadOptions, read_sensor_csv
from seqae.detectors import BaseDetector, Detection
from seqae.errors import ConfigError, DataError
from seqae.windows import window_starts

DEFAULT_EXPERIMENT = "seqae"
STORE_DIR = "mlruns"
UI_HOST = "127.0.0.1"
UI_PORT = 5000
MODEL_NAME = "model"  # the logged model's name inside its run
PYFUNC_MODEL_FILE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE_DIR = Path(__file__).parent
# What the logged model needs to load and score, pinned to the versions that fitted it.
MODEL_REQUIREMENTS = ("mlflow", "torch", "numpy", "pandas", "scikit-learn", "scipy", "tqdm")
METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call
EVAL_PREFIX = "eval_"
BASELINE_PREFIX = "baseline_deviation_eval_"  # the demo's no-network baseline, on the same evaluation rows


# ---- the store -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Store:
    tracking_uri: str
    artifact_location: str | None  # artifact root of experiments seqae creates (None: the store's own)

    @property
    def is_server(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://", "databricks"))


def resolve_store() -> Store:
    """`MLFLOW_TRACKING_URI` if set, else SQLite in `./mlruns/mlflow.db` with `./mlruns/artifacts/`.

    A SQLite file named by `MLFLOW_TRACKING_URI` keeps the artifacts of the experiments seqae creates
    in `artifacts/` beside it (MLflow's own default would be `./mlruns/` of whatever directory a
    command runs in); a server keeps its own artifact store.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri.startswith("sqlite:///") and "?" not in uri:
        database = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
        return Store(uri, (database.parent / "artifacts").as_uri())
    if uri:
        return Store(uri, None)
    root = Path.cwd().resolve() / STORE_DIR
    return Store(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())


def use_store() -> Store:
    """Point MLflow's tracking and registry at the store (creating `./mlruns/` if it is ours)."""
    store = resolve_store()
    if store.artifact_location:
        Path(store.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # MLflow also exports the URIs as environment variables; put back what the user had, or the
    # next resolve_store would take seqae's own default for the user's choice.
    exported = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.tracking_uri)
    for name, value in exported.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return store


def quiet_mlflow() -> None:
    """For command-line use: no per-file download bars, no INFO chatter from MLflow."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def experiment_id(name: str, store: Store | None = None, create: bool = True) -> str:
    """The id of experiment `name`, created (with seqae's artifact location) if it does not exist."""
    store = store or use_store()
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is None:
        if not create:
            names = [e.name for e in client.search_experiments()]
            raise ConfigError(f"no experiment named {name!r} in {store.tracking_uri}; "
                              f"it has {', '.join(repr(n) for n in names) or 'none'}")
        try:
            return client.create_experiment(name, artifact_location=store.artifact_location)
        except MlflowException:
            found = client.get_experiment_by_name(name)  # created meanwhile by another process
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise ConfigError(f"experiment {name!r} is deleted; restore it in the MLflow UI "
                          "or choose another name with --experiment")
    return found.experiment_id


def ui_url(experiment: str | None = None, run_id: str | None = None,
           base: str | None = None) -> str:
    """The MLflow UI page of a run or experiment, in the training (not GenAI) view."""
    store = resolve_store()
    if base is None:
        base = store.tracking_uri if store.is_server else f"http://{UI_HOST}:{UI_PORT}"
    page = "/#/experiments"
    if experiment is not None:
        page += f"/{experiment}"
        if run_id is not None:
            page += f"/runs/{run_id}"
    return base.rstrip("/") + page + "?workflowType=machine_learning"


# ---- training data ---------------------------------------------------------------------------------

@dataclass
class TrainingData:
    """The rows a detector learns from and how they were read (logged with the run)."""

    frame: pd.DataFrame  # (n_timepoints, n_features) float sensors, indexed by time
    path: Path
    options: dict = field(default_factory=dict)


def read_training_data(path, *, columns=None, time_column=None, label_column=None, sep=None,
                       fill=None, train_rows: int | None = None, train_until: str | None = None,
                       options: ReadOptions | None = None) -> TrainingData:
    """Read a sensor CSV and keep the training rows: the first `train_rows`, or those up to and
    including the time `train_until`, or all. The label column, if named, is never a sensor.
    `options`: how the file is written; `time_column`, `sep` and `fill`, when given, replace its fields."""
    if train_rows is not None and train_until is not None:
        raise ConfigError("give either --train-rows or --train-until, not both")
    path = Path(path)
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill)
    frame = read_sensor_csv(path, options, columns=columns, label_columns=[label_column] if label_column else [])
    n_rows = len(frame)
    if train_rows is not None:
        if train_rows < 1:
            raise ConfigError(f"--train-rows must be at least 1, got {train_rows}")
        if train_rows > n_rows:
            raise DataError(f"{path}: --train-rows {train_rows} asks for more rows than the file has ({n_rows})")
        frame = frame.iloc[:train_rows]
    elif train_until is not None:
        first = frame.index[0]
        frame = frame.loc[:_index_key(frame.index, train_until, path, options.timezone)]
        if frame.empty:
            raise DataError(f"{path}: no rows at or before --train-until {train_until}; the first row is at {first}")
    options = {
        "data_path": str(path.resolve()),
        "columns": ",".join(columns) if columns else "(all numeric)",
        "time_column": frame.index.name or "(none)",
        "label_column": label_column or "(none)",
        "sep": options.sep or "(sniffed)",
        "fill": options.fill,
        **{key: value for key, value in (("decimal", options.decimal), ("time_unit", options.time_unit),
                                         ("timezone", options.timezone), ("dayfirst", options.dayfirst))
           if value is not None},
        "train_rows": train_rows if train_rows is not None else "(all)",
        "train_until": train_until or "(none)",
        "n_rows_in_file": n_rows,
        "n_train_rows": len(frame),
        "n_features": frame.shape[1],
        "sensors": ",".join(frame.columns),
    }
    return TrainingData(frame, path, options)


def _index_key(index: pd.Index, text: str, path: Path, timezone: str | None = None):
    if isinstance(index, pd.DatetimeIndex):
        try:
            key = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise ConfigError(f"--train-until {text!r} is not a timestamp; write it like "
                              f"{index[0].isoformat()}") from None
        if index.tz is None and key.tz is not None:
            raise ConfigError(f"--train-until {text!r} has a UTC offset, and the times of {path} have none; write "
                              f"it like {index[0].isoformat()}")
        if index.tz is not None:  # the index is in UTC: a time without an offset is read as the file's are
            key = key.tz_localize(timezone or "UTC") if key.tz is None else key
            key = key.tz_convert(index.tz)
        return key
    if index.name is None:
        raise DataError(f"{path}: --train-until needs a time column, and the file has none; "
                        "use --train-rows or name one with --time-column")
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--train-until {text!r} is not a number, and the time column "
                          f"{index.name!r} holds numbers") from None


# ---- fit + log -------------------------------------------------------------------------------------

@dataclass
class FitResult:
    detector: BaseDetector
    run_id: str
    experiment_id: str
    model_uri: str  # models:/m-<id>, loadable with mlflow.pyfunc.load_model
    registered_uri: str | None  # models:/<name>@<alias> or models:/<name>/<version> when registered
    fit_seconds: float
    metrics: dict[str, float]
    run_url: str


def fit_and_log(detector: BaseDetector, data: TrainingData, *, experiment: str = DEFAULT_EXPERIMENT,
                run_name: str | None = None, register: str | None = None, alias: str | None = None,
                tags: dict | None = None) -> FitResult:
    """Fit `detector` on `data` inside a new MLflow run and log everything a reviewer needs.

    With `register`, the model becomes a new version of that registered model, and `alias` (if
    given) points at it: `models:/<register>@<alias>`; `models:/<register>/latest` is always the
    newest version.
    """
    if alias is not None:
        if not register:
            raise ConfigError("--alias names a registered version: give --register NAME too")
        check_alias(alias)
    # The checks fit() starts with, before a run is opened: a mistyped option leaves no failed run.
    detector.check_params()
    with _about_file(data.path):
        detector.check_input(data.frame, fitting=True)
    store = use_store()
    exp_id = experiment_id(experiment, store)
    client = MlflowClient()
    run_tags = {"seqae.model_type": detector.model_type, "seqae.version": seqae.__version__, **(tags or {})}
    run_name = run_name or f"{detector.model_type} on {data.path.name}"
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=run_tags) as run:
        run_id = run.info.run_id
        mlflow.log_params({**_flat_params(detector), "model_type": detector.model_type, **data.options})
        with _mlflow_warnings_off():
            mlflow.log_input(_dataset(data.frame, data.path), context="training")

        started = time.perf_counter()
        with _about_file(data.path):
            detector.fit(data.frame)
        fit_seconds = time.perf_counter() - started
        detection = detector.detect(data.frame)

        summary = _fit_summary(detector, detection, fit_seconds)
        _log_metrics(client, run_id, _history_metrics(detector) + _as_metrics(summary))
        _log_fit_plots(run_id, detector, data.frame, detection)
        mlflow.log_dict(_effective_config(detector, data.options), "config.json")
        model_info = log_detector_model(detector, data.frame, registered_model_name=register)
        registered_uri = None
        if register:
            version = model_info.registered_model_version
            registered_uri = f"models:/{register}/{version}"
            if alias:
                client.set_registered_model_alias(register, alias, version)
                registered_uri = f"models:/{register}@{alias}"
    return FitResult(detector, run_id, exp_id, model_info.model_uri, registered_uri, fit_seconds,
                     summary, ui_url(exp_id, run_id))


def check_alias(alias: str) -> None:
    """MLflow's rules for a registered-model alias, checked before a model is fitted for nothing."""
    if not re.fullmatch(r"[\w\-]{1,255}", alias):
        raise ConfigError(f"alias {alias!r} may only hold letters, digits, '_' and '-' (at most 255)")
    if alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise ConfigError(f"alias {alias!r} is reserved by MLflow (models:/NAME/latest already means the "
                          "newest version, models:/NAME/3 version 3); choose another, e.g. champion")


def log_detector_model(detector: BaseDetector, example_frame: pd.DataFrame,
                       registered_model_name: str | None = None):
    """Log a fitted detector to the active run as a pyfunc model from code; returns its ModelInfo.

    Artifacts: the directory `BaseDetector.save` writes (config.json with scaler and threshold,
    weights.pt). Code: the seqae package, so that the model loads where seqae is not installed.
    """
    example = example_frame[list(detector.feature_names_in_)].iloc[: detector.window_size].reset_index(drop=True)
    with tempfile.TemporaryDirectory(prefix="seqae-model-") as tmp, _mlflow_warnings_off():
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
            params={k: str(v) for k, v in _flat_params(detector).items()},
        )


def model_requirements() -> list[str]:
    """`name==version` of what the model needs, as installed here (torch without its local tag:
    `2.13.0+cpu` is not on PyPI, `2.13.0` is)."""
    return [f"{name}=={metadata.version(name).split('+')[0]}" for name in MODEL_REQUIREMENTS]


def _signature(detector: BaseDetector, example: pd.DataFrame):
    """Inputs (the sensors, doubles) and the `threshold` param inferred from the example; the
    outputs spelled out (inferring them would flag is_anomaly as an integer that might be missing)."""
    inferred = infer_signature(example, params={"threshold": float(detector.threshold_.value_)})
    outputs = [ColSpec("double", "score"), ColSpec("integer", "is_anomaly")]
    outputs += [ColSpec("double", f"contribution_{name}") for name in detector.feature_names_in_]
    return ModelSignature(inputs=inferred.inputs, outputs=Schema(outputs), params=inferred.params)


def _flat_params(detector: BaseDetector) -> dict:
    """The detector's parameters, its threshold spelled out (`threshold=quantile`, `threshold_q=0.99`)."""
    params = detector.get_params(deep=False)
    threshold = params.pop("threshold", None)
    if threshold is not None:
        params["threshold"] = threshold.kind
        params.update({f"threshold_{k}": v for k, v in threshold.get_params().items()})
    else:
        params["threshold"] = "quantile (default, q=0.99)"
    return params


def _fit_summary(detector: BaseDetector, detection: Detection, fit_seconds: float) -> dict[str, float]:
    summary = {"threshold": float(detector.threshold_.value_), "fit_seconds": fit_seconds,
               "train_flagged_fraction": float(np.mean(detector.threshold_.flag(detector.train_scores_))),
               "n_train_rows": float(len(detection.scores))}
    for name, scores in (("train", detector.train_scores_), ("validation", detector.validation_scores_)):
        if scores is None:
            continue
        for q in (50, 90, 99):
            summary[f"{name}_score_p{q}"] = float(np.percentile(scores, q))
        summary[f"{name}_score_max"] = float(np.max(scores))
    history = getattr(detector, "history_", None)
    if history is not None and history.train_loss:
        summary["epochs_run"] = float(len(history.train_loss))
        summary["best_epoch"] = float(history.best_epoch + 1)  # 1-based, as the loss steps
        summary["final_train_loss"] = float(history.train_loss[-1])
        if history.validation_loss:
            summary["best_validation_loss"] = float(min(history.validation_loss))
    return summary


def _history_metrics(detector: BaseDetector) -> list[Metric]:
    """train_loss / validation_loss at step = epoch (from 1)."""
    history = getattr(detector, "history_", None)
    if history is None:
        return []
    now = _now_ms()
    out = [Metric("train_loss", float(v), now, epoch) for epoch, v in enumerate(history.train_loss, 1)]
    out += [Metric("validation_loss", float(v), now, epoch) for epoch, v in enumerate(history.validation_loss, 1)]
    return out


def _as_metrics(values: dict[str, float], step: int = 0) -> list[Metric]:
    now = _now_ms()
    return [Metric(key, float(v), now, step) for key, v in values.items() if np.isfinite(v)]


def _log_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> None:
    for first in range(0, len(metrics), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[first:first + METRICS_PER_BATCH])


def _log_fit_plots(run_id: str, detector: BaseDetector, frame: pd.DataFrame, detection: Detection) -> None:
    client = MlflowClient()
    name = type(detector).__name__
    history = getattr(detector, "history_", None)
    if history is not None and history.train_loss:
        client.log_figure(run_id, plots.loss_curves(history.train_loss, history.validation_loss,
                                                    history.best_epoch + 1, title=f"{name}: loss per epoch"),
                          "plots/loss_curves.png")
    n_val = 0 if detector.validation_scores_ is None else len(detector.validation_scores_)
    client.log_figure(run_id, plots.score_timeline(
        detection.index, detection.scores, detection.threshold, detection.flags,
        split_at=len(detection.scores) - n_val if n_val else None,
        title=f"{name} on its training data: score per time point "
              f"({int(detection.flags.sum())} of {len(detection.scores)} above the threshold)"),
        "plots/scores.png")
    client.log_figure(run_id, plots.contribution_heatmap(detection.index, detection.contributions,
                                                         detection.feature_names),
                      "plots/sensor_contributions.png")
    if hasattr(detector, "encode"):
        latent = detector.encode(frame)
        client.log_figure(run_id, plots.latent_scatter(
            latent, window_mean_scores(detection.scores, detector.window_size, detector.score_stride),
            title=f"Latent space: {len(latent)} training windows (PCA of encode())"),
            "plots/latent_space.png")


def window_mean_scores(scores: np.ndarray, window_size: int, stride: int) -> np.ndarray:
    """The mean point score of each window (the windows `encode` returns, every `stride` rows)."""
    starts = window_starts(len(scores), window_size, stride)
    cumulative = np.concatenate([[0.0], np.cumsum(scores)])
    return (cumulative[starts + window_size] - cumulative[starts]) / window_size


def _effective_config(detector: BaseDetector, data_options: dict) -> dict:
    """What was fitted, with what, on what: the fitted threshold with its value included."""
    params = {k: v for k, v in detector.get_params(deep=False).items() if k != "threshold"}
    return {
        "seqae_version": seqae.__version__,
        "model_type": detector.model_type,
        "params": params,
        "threshold": detector.threshold_.to_dict(),
        "data": data_options,
    }


def _dataset(frame: pd.DataFrame, path: Path, name: str | None = None):
    with _mlflow_warnings_off():
        return mlflow.data.from_pandas(frame.reset_index(), source=str(Path(path).resolve()),
                                       name=name or Path(path).name)


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def _about_file(path):
    """Name the file in a DataError raised without it (the detectors do not know file names)."""
    try:
        yield
    except DataError as exc:
        message = str(exc)
        if not message.startswith(str(path)):
            raise DataError(f"{path}: {message}") from None
        raise


@contextlib.contextmanager
def _mlflow_warnings_off():
    """MLflow's advice that does not apply here: a local CSV path that two dataset-source classes
    both accept; integer columns that might hold missing values (0/1 labels never do)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dataset source can be interpreted in multiple ways.*")
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column.*")
        yield


# ---- models by URI ---------------------------------------------------------------------------------

@dataclass
class LoadedModel:
    detector: BaseDetector
    uri: str
    run_id: str | None = None  # the run that logged it (None for a directory written by save())
    model_id: str | None = None  # MLflow's logged-model id (models:/m-...)
    pyfunc: object | None = None  # the mlflow PyFuncModel, when loaded through MLflow


def load_detector(model_uri: str) -> LoadedModel:
    """A fitted detector from `runs:/<run>/model`, `models:/<name>@<alias>`, `models:/m-<id>`,
    a downloaded MLflow model directory, or a directory written by `BaseDetector.save`."""
    path = Path(model_uri).expanduser()
    if path.is_dir():
        if (path / "MLmodel").is_file():
            model = _load_pyfunc(str(path))
        elif (path / "config.json").is_file():
            return LoadedModel(BaseDetector.load(path), str(path))
        else:
            raise ConfigError(f"{path}: neither a seqae model directory (config.json) nor an MLflow "
                              "model directory (MLmodel)")
    elif ":/" in model_uri:
        use_store()
        model = _load_pyfunc(model_uri)
    else:
        raise ConfigError(f"{model_uri}: no such model directory, and not a model URI; give "
                          "runs:/<run_id>/model, models:/<name>@<alias>, models:/m-<id> or a directory")
    try:
        detector = getattr(model.unwrap_python_model(), "detector", None)
    except MlflowException:
        detector = None
    if not isinstance(detector, BaseDetector):
        raise ConfigError(f"{model_uri}: an MLflow model, but not a seqae detector")
    return LoadedModel(detector, model_uri, model.metadata.run_id,
                       getattr(model.metadata, "model_id", None), model)


def load_pyfunc_model(model_uri: str):
    """The MLflow pyfunc model of `model_uri`; a directory written by `save()` is wrapped first."""
    loaded = load_detector(model_uri)
    if loaded.pyfunc is not None:
        return loaded.pyfunc
    detector = loaded.detector
    example = pd.DataFrame(np.tile(detector.scaler_.mean_, (detector.window_size, 1)),
                           columns=list(detector.feature_names_in_))
    with tempfile.TemporaryDirectory(prefix="seqae-pyfunc-") as tmp, _mlflow_warnings_off():
        mlflow.pyfunc.save_model(
            path=str(Path(tmp) / MODEL_NAME), python_model=str(PYFUNC_MODEL_FILE),
            artifacts={"detector": str(Path(model_uri).expanduser())}, code_paths=[str(PACKAGE_DIR)],
            pip_requirements=model_requirements(), signature=_signature(detector, example))
        # Loading reads everything into memory: the directory can go.
        return mlflow.pyfunc.load_model(str(Path(tmp) / MODEL_NAME))


def _load_pyfunc(uri: str):
    try:
        with _mlflow_warnings_off():
            return mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        first = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else type(exc).__name__
        raise ConfigError(f"{uri}: cannot load the model ({first}); list runs and models with "
                          "`seqae runs`") from None


def _run_exists(run_id: str) -> bool:
    try:
        MlflowClient().get_run(run_id)
    except MlflowException:
        return False
    return True


# ---- scoring files -----------------------------------------------------------------------------------

def read_for_detector(detector: BaseDetector, path, *, time_column=None, label_column=None,
                      sep=None, fill=None, options: ReadOptions | None = None):
    """Read the sensors `detector` was fitted on from a CSV (other columns are ignored); with
    `label_column`, also the labels: `(frame, labels)`. `options`: how the file is written;
    `time_column`, `sep` and `fill`, when given, replace its fields."""
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill)
    needed = [str(name) for name in detector.feature_names_in_]
    header = _csv_header(path, options.sep)
    if header is not None:
        missing = [name for name in needed if name not in header]
        if missing:
            raise DataError(f"{path}: column {missing[0]!r} that the model was fitted on is missing; "
                            f"the file has {', '.join(repr(c) for c in header[:12])}; the model needs "
                            f"{', '.join(repr(c) for c in needed)}")
    labels = [label_column] if label_column else []
    return read_sensor_csv(path, options, columns=needed, label_columns=labels, return_labels=bool(label_column))


def _csv_header(path, sep) -> list[str] | None:
    """The column names of a CSV, or None when its first line cannot be read as one."""
    import csv

    try:
        header = pd.read_csv(path, sep=sep, nrows=0, engine="python" if sep is None else "c")
    except (ValueError, OSError, csv.Error, UnicodeDecodeError):
        return None
    return [str(c).strip() for c in header.columns]


def score_detector(detector: BaseDetector, frame: pd.DataFrame, path) -> Detection:
    with _about_file(path):
        return detector.detect(frame)


# ---- evaluation ----------------------------------------------------------------------------------------

@dataclass
class EvaluationResult:
    metrics: dict[str, float]  # seqae.metrics.evaluate's keys: precision, recall, f1, far (%), auc_pr, ...
    run_id: str
    experiment_id: str
    new_run: bool  # True when the model had no run in this store and a new one was made
    run_url: str
    detection: Detection
    labels: np.ndarray


def evaluate_and_log(model_uri: str, data_path, *, label_column: str, time_column=None, sep=None,
                     fill=None, experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None,
                     options: ReadOptions | None = None) -> EvaluationResult:
    """Score a labelled CSV, compute the metrics and log them (with the dataset and plots) to the
    model's run; a model without a run in this store gets a new run in `experiment`."""
    loaded = load_detector(model_uri)
    store = use_store()
    detector = loaded.detector
    frame, labels = read_for_detector(detector, data_path, time_column=time_column, label_column=label_column,
                                      sep=sep, fill=fill, options=options)
    detection = score_detector(detector, frame, data_path)
    y = labels[label_column].to_numpy()
    values = metrics.evaluate(y, detection.scores, detection.flags)

    path = Path(data_path)
    existing = loaded.run_id if loaded.run_id and _run_exists(loaded.run_id) else None
    if existing:
        exp_id = MlflowClient().get_run(existing).info.experiment_id
        run_context = mlflow.start_run(run_id=existing)
    else:
        exp_id = experiment_id(experiment, store)
        run_context = mlflow.start_run(experiment_id=exp_id, run_name=run_name or f"evaluate {path.name}",
                                       tags={"seqae.model_uri": str(model_uri),
                                             "seqae.model_type": detector.model_type})
    with run_context as run:
        if not existing:
            mlflow.log_params({**_flat_params(detector), "model_type": detector.model_type,
                               "model_uri": str(model_uri)})
        dataset = _dataset(frame.assign(**{label_column: y}), path)
        with _mlflow_warnings_off():
            mlflow.log_input(dataset, context="evaluation")
        finite = {EVAL_PREFIX + k: float(v) for k, v in values.items() if np.isfinite(v)}
        mlflow.log_metrics(finite, dataset=dataset, model_id=loaded.model_id if existing else None)
        _log_evaluation_plots(run.info.run_id, path, detection, y)
    return EvaluationResult(values, run.info.run_id, exp_id, not existing, ui_url(exp_id, run.info.run_id),
                            detection, y)


def _log_evaluation_plots(run_id: str, path: Path, detection: Detection, labels: np.ndarray) -> None:
    client = MlflowClient()
    folder = f"evaluation/{path.stem}"
    client.log_figure(run_id, plots.score_timeline(
        detection.index, detection.scores, detection.threshold, detection.flags, labels=labels,
        title=f"{path.name}: score per time point, labelled anomalies in orange, flags in red"),
        f"{folder}/scores.png")
    client.log_figure(run_id, plots.contribution_heatmap(
        detection.index, detection.contributions, detection.feature_names,
        title=f"{path.name}: per-sensor contribution to the score"), f"{folder}/sensor_contributions.png")
    client.log_text(run_id, detection.intervals().to_csv(index=False), f"{folder}/intervals.csv")


# ---- listing runs ---------------------------------------------------------------------------------------

RUN_COLUMNS = {  # search_runs column -> table header
    "run_id": "run_id",
    "tags.mlflow.runName": "name",
    "status": "status",
    "start_time": "started",
    "params.model_type": "model",
    "params.window_size": "window",
    "params.epochs": "epochs",
    "params.n_train_rows": "train_rows",
    "metrics.best_validation_loss": "best_val_loss",
    "metrics.threshold": "threshold",
    "metrics.eval_f1": "eval_f1",
    "metrics.eval_far": "eval_far_%",
    "metrics.eval_auc_pr": "eval_auc_pr",
}


def runs_table(experiment: str = DEFAULT_EXPERIMENT, limit: int = 20) -> pd.DataFrame:
    """The latest runs of `experiment`: id, name, status, start, model type, key params and metrics."""
    store = use_store()
    exp_id = experiment_id(experiment, store, create=False)
    runs = mlflow.search_runs([exp_id], max_results=limit, order_by=["attributes.start_time DESC"])
    if runs.empty:
        return pd.DataFrame(columns=list(RUN_COLUMNS.values()))
    table = runs[[c for c in RUN_COLUMNS if c in runs.columns]].rename(columns=RUN_COLUMNS)
    table["started"] = pd.to_datetime(table["started"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    return table


# ---- the demo -------------------------------------------------------------------------------------------

DEMO_ROWS = 3000  # one per second
DEMO_TRAIN_ROWS = 1500  # the normal first half, what the model learns from
DEMO_SENSORS = 4


@dataclass
class DemoResult:
    fit: FitResult
    evaluation: EvaluationResult
    scores: dict  # what streaming.score_csv says: rows, anomalies (flagged rows), intervals
    train_path: Path
    test_path: Path
    scores_path: Path
    intervals_path: Path
    injected: pd.DataFrame  # one row per injected anomaly and what the model made of it
    baseline: dict  # seqae.metrics.evaluate of the deviation baseline (no network) on the same rows
    baseline_injected: pd.DataFrame  # `injected` for the baseline


def run_demo(out_dir="seqae-demo", *, experiment: str = DEFAULT_EXPERIMENT, epochs: int = 20,
             verbose: bool = False) -> DemoResult:
    """Generate sensors with known anomalies (all in the second half), fit an LSTM autoencoder on
    the first half (`train.csv`), score and evaluate the second (`test.csv`) through the logged
    model, as a user would; all of it in one MLflow run."""
    from seqae.detectors import LSTMAutoencoder
    from seqae.streaming import score_csv
    from seqae.synthetic import injected_table, write_demo_csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, test_path = out_dir / "train.csv", out_dir / "test.csv"
    with tempfile.TemporaryDirectory(prefix="seqae-demo-") as tmp:
        whole = Path(tmp) / "sensors.csv"
        injected = injected_table(write_demo_csv(whole, n_timepoints=DEMO_ROWS, n_features=DEMO_SENSORS,
                                                 normal_rows=DEMO_TRAIN_ROWS, random_state=0))
        header, *rows = whole.read_text().splitlines(keepends=True)
    train_path.write_text(header + "".join(rows[:DEMO_TRAIN_ROWS]))
    test_path.write_text(header + "".join(rows[DEMO_TRAIN_ROWS:]))
    injected[["start", "end"]] -= DEMO_TRAIN_ROWS  # rows of test.csv

    data = read_training_data(train_path, label_column="anomaly")
    detector = LSTMAutoencoder(window_size=16, hidden_size=32, latent_dim=8, epochs=epochs, batch_size=64,
                               learning_rate=3e-3, patience=5, random_state=0, verbose=verbose)
    fit = fit_and_log(detector, data, experiment=experiment, run_name="demo-lstm-ae",
                      tags={"seqae.demo": "generated sensors with injected anomalies"})
    scores_path, intervals_path = out_dir / "scores.csv", out_dir / "intervals.csv"
    scored = score_csv(load_detector(fit.model_uri).detector, test_path, scores_path,
                       intervals_path=intervals_path, quiet=True)
    evaluation = evaluate_and_log(fit.model_uri, test_path, label_column="anomaly", experiment=experiment)

    # What the network adds: the baseline that learns nothing but each sensor's usual level, scored
    # on the same rows, logged beside the network's own evaluation.
    from seqae.detectors import DeviationDetector

    baseline = DeviationDetector().fit(data.frame)
    detection = baseline.detect(read_for_detector(baseline, test_path))
    baseline_metrics = metrics.evaluate(evaluation.labels, detection.scores, detection.flags)
    _log_metrics(MlflowClient(), fit.run_id,
                 _as_metrics({BASELINE_PREFIX + k: v for k, v in baseline_metrics.items()}))
    return DemoResult(fit, evaluation, scored, train_path, test_path, scores_path, intervals_path,
                      found_injected(injected, evaluation.detection), baseline_metrics,
                      found_injected(injected, detection))


def found_injected(injected: pd.DataFrame, detection: Detection) -> pd.DataFrame:
    """For each injected anomaly (rows `start`..`end` in `sensor`): was any of its rows flagged,
    how many rows after its start the first flag came, and which sensor the model blamed most."""
    rows = []
    for anomaly in injected.itertuples(index=False):
        span = slice(anomaly.start, anomaly.end + 1)
        flagged = np.flatnonzero(detection.flags[span])
        share = np.clip(detection.contributions[span], 0.0, None).sum(axis=0)
        rows.append({
            "kind": anomaly.kind,
            "sensor": anomaly.sensor,
            "start": detection.index[anomaly.start],
            "rows": anomaly.end - anomaly.start + 1,
            "detected": bool(len(flagged)),
            "delay_rows": int(flagged[0]) if len(flagged) else None,
            "blamed": detection.feature_names[int(np.argmax(share))],
            "peak_score": float(detection.scores[span].max()),
        })
    return pd.DataFrame(rows)


# ---- pipelines (`seqae run`) ----------------------------------------------------------------------------
# One parent run per pipeline invocation; a child run per (file, seed) with that file's metrics; on the
# parent, the pooled metrics (mean and std over seeds, and each seed's), the summary and per-file
# tables as CSV artifacts, and the pipeline file as written. `seqae.pipeline` calls these; nothing
# else there knows MLflow exists.

PIPELINE_TAG = "seqae.pipeline"
PARAMS_PER_BATCH = 100  # MLflow's limit of params in one log_batch call


class PipelineRunLogger:
    """The MLflow side of one `seqae.pipeline.run_pipeline` call (from `start_pipeline_run`)."""

    def __init__(self, client: MlflowClient, experiment_id: str, run_id: str, pipeline_name: str):
        self.client = client
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.pipeline_name = pipeline_name

    def log_file(self, file: str, seed: int, values: dict) -> str:
        """A finished child run for one fitted and scored file; returns its run id."""
        child = self.client.create_run(
            self.experiment_id, run_name=f"{file} seed {seed}",
            tags={"mlflow.parentRunId": self.run_id, PIPELINE_TAG: self.pipeline_name,
                  "seqae.file": file, "seqae.seed": str(seed)})
        run_id = child.info.run_id
        finite = {k: float(v) for k, v in values.items() if _is_number(v) and np.isfinite(v)}
        self.client.log_batch(run_id, params=[Param("file", file), Param("seed", str(seed))])
        _log_metrics(self.client, run_id, _as_metrics(finite))
        self.client.set_terminated(run_id, "FINISHED")
        return run_id

    def finish(self, summary: pd.DataFrame, per_file: pd.DataFrame, report) -> tuple[str, str]:
        """Pooled metrics and the tables on the parent run, then close it; returns (run id, UI URL)."""
        values = {}
        for key in summary.columns:
            for row, suffix in (("mean", ""), ("std", "_std")):
                values[f"{key}{suffix}"] = summary.loc[row, key]
            for seed in summary.index[:-2]:
                values[f"seed{seed}_{key}"] = summary.loc[seed, key]
        finite = {k: float(v) for k, v in values.items() if np.isfinite(v)}
        _log_metrics(self.client, self.run_id, _as_metrics(finite))
        self.client.log_text(self.run_id, summary.to_csv(), "summary.csv")
        self.client.log_text(self.run_id, per_file.to_csv(index=False), "per_file.csv")
        self.client.set_tag(self.run_id, "seqae.report", ",".join(report))
        self.client.set_terminated(self.run_id, "FINISHED")
        return self.run_id, ui_url(self.experiment_id, self.run_id)

    def fail(self) -> None:
        """Mark the parent run failed (an error or Ctrl-C stopped the pipeline)."""
        self.client.set_terminated(self.run_id, "FAILED")


def start_pipeline_run(experiment: str, pipeline_name: str, params: dict, pipeline_text: str) -> PipelineRunLogger:
    """Open the parent run of a pipeline: its parameters and the pipeline file as an artifact."""
    store = use_store()
    exp_id = experiment_id(experiment, store)
    client = MlflowClient()
    run = client.create_run(exp_id, run_name=pipeline_name,
                            tags={PIPELINE_TAG: pipeline_name, "seqae.version": seqae.__version__})
    logged = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for first in range(0, len(logged), PARAMS_PER_BATCH):
        client.log_batch(run.info.run_id, params=logged[first:first + PARAMS_PER_BATCH])
    client.log_text(run.info.run_id, pipeline_text, f"{pipeline_name}.toml")
    return PipelineRunLogger(client, exp_id, run.info.run_id, pipeline_name)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
