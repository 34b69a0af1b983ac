"""Where runs live: the MLflow store (`MLFLOW_TRACKING_URI`, or SQLite in ./mlruns), experiments,
the UI's addresses, the runs table, and the small helpers every run logs through (metrics in
batches, a detector's parameters, a CSV as a dataset)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqae.errors import ConfigError

if TYPE_CHECKING:  # the store needs no detector (nor torch) to list runs
    from seqae.detectors import BaseDetector


DEFAULT_EXPERIMENT = "seqae"


STORE_DIR = "mlruns"


UI_HOST = "127.0.0.1"


UI_PORT = 5000


METRICS_PER_BATCH = 1000  # MLflow's limit for one log_batch call


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
    """For command-line use: no per-file download bars, no INFO chatter from MLflow, and no "View run
    at ..." line on stdout for every run logged to a tracking server (seqae prints the run's URL once)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
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


def how_to_view(url: str) -> str:
    """What a user does to see `url`: open it, where a tracking server already shows it; else start
    `seqae ui` on the local store first."""
    return f"open {url}" if resolve_store().is_server else f"seqae ui, then open {url}"


def flat_params(detector: BaseDetector) -> dict:
    """The detector's parameters, its threshold spelled out (`threshold=quantile`, `threshold_q=0.99`)."""
    params = detector.get_params(deep=False)
    threshold = params.pop("threshold", None)
    if threshold is not None:
        params["threshold"] = threshold.kind
        params.update({f"threshold_{k}": v for k, v in threshold.get_params().items()})
    else:
        params["threshold"] = "quantile (default, q=0.99)"
    return params


def as_metrics(values: dict[str, float], step: int = 0) -> list[Metric]:
    now = now_ms()
    return [Metric(key, float(v), now, step) for key, v in values.items() if np.isfinite(v)]


def log_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> None:
    for first in range(0, len(metrics), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[first:first + METRICS_PER_BATCH])


def csv_dataset(frame: pd.DataFrame, path: Path, name: str | None = None):
    with mlflow_warnings_off():
        return mlflow.data.from_pandas(frame.reset_index(), source=str(Path(path).resolve()),
                                       name=name or Path(path).name)


def now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def mlflow_warnings_off():
    """MLflow's advice that does not apply here: a local CSV path that two dataset-source classes
    both accept; integer columns that might hold missing values (0/1 labels never do)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dataset source can be interpreted in multiple ways.*")
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column.*")
        yield


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
