"""A fleet fit as MLflow runs: one parent run holding the fleet model, a child run per asset.

`fit_fleet_and_log` does it all in this process; a fleet fitted elsewhere logs the same layout
with `log_asset_run` per asset and `seqae.tracking.log_fleet_model` for the model.

    parent run: the fit spec, the asset column, how many assets, the fleet export as its dataset,
      per-asset table (fleet/assets.csv), the wall time of the whole fit and each asset's own,
      and ONE model (`log_fleet_model`), registered on request
    child run per asset (and one for the shared fallback detector): its detector's parameters,
      what auto chose and why, its threshold, score quantiles, training alert counts, fit seconds
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

import seqae
from seqae.data import FleetTrainingData
from seqae.errors import ConfigError, about_file
from seqae.fleet import FleetDetector, FittedAsset
from seqae.tracking.models import check_alias, log_fleet_model, registered_uri
from seqae.tracking.store import (DEFAULT_EXPERIMENT, csv_dataset, experiment_id, flat_params, log_metrics,
                                  mlflow_warnings_off, now_ms, ui_url, use_store)


@dataclass
class FleetFitResult:
    fleet: FleetDetector
    run_id: str  # the parent run
    experiment_id: str
    model_uri: str  # models:/m-<id>: the whole fleet as one model
    registered_uri: str | None
    fit_seconds: float  # wall time of fitting every asset (in parallel processes)
    asset_seconds: float  # the assets' own fit times added up: what one process would take
    child_run_ids: dict[str, str]  # asset (or "(shared)") -> its child run
    table: pd.DataFrame  # one row per asset: rows, model type, threshold, fit seconds, auto's choice
    run_url: str


def fit_fleet_and_log(fleet: FleetDetector, data: FleetTrainingData, *, experiment: str = DEFAULT_EXPERIMENT,
                      run_name: str | None = None, register: str | None = None, alias: str | None = None,
                      tags: dict | None = None) -> FleetFitResult:
    """Fit `fleet` on each asset's training rows inside a new parent run; log a child run per asset
    and the fleet as one model (registered as `register`, `alias` pointing at it)."""
    if alias is not None:
        if not register:
            raise ConfigError("--alias names a registered version: give --register NAME too")
        check_alias(alias)
    fleet.check_params()  # before a run is opened: a mistyped option leaves no failed run
    store = use_store()
    exp_id = experiment_id(experiment, store)
    client = MlflowClient()
    model_type = fleet.spec.model_type if fleet.spec is not None else "auto"
    run_tags = {"seqae.model_type": f"fleet:{model_type}", "seqae.version": seqae.__version__,
                "seqae.asset_column": data.asset_column, **(tags or {})}
    run_name = run_name or f"fleet {model_type} on {data.name} ({len(data.assets)} {data.asset_column}s)"
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=run_tags) as run:
        run_id = run.info.run_id
        params = {"model_type": f"fleet:{model_type}", "fallback": fleet.fallback or "(none)", "n_jobs": fleet.n_jobs,
                  **{f"spec.{k}": v for k, v in ((fleet.spec.to_dict()["params"] if fleet.spec else {}).items())},
                  **data.options}
        mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        frame = fleet_frame(data)
        with mlflow_warnings_off():
            mlflow.log_input(csv_dataset(frame, data.path), context="training")
        started = time.perf_counter()
        with about_file(data.path):
            fleet.fit(data.assets)
        fit_seconds = time.perf_counter() - started
        children = {name: log_asset_run(client, exp_id, run_id, name, fitted, data.asset_column)
                    for name, fitted in fleet.fitted_.items()}
        table = asset_table(fleet)
        return log_fleet_outcome(client, exp_id, run_id, fleet, table, children, fit_seconds, frame,
                                 register=register, alias=alias)


def log_fleet_outcome(client: MlflowClient, exp_id: str, run_id: str, fleet: FleetDetector, table: pd.DataFrame,
                      children: dict[str, str], fit_seconds: float, example: pd.DataFrame, *,
                      register: str | None = None, alias: str | None = None) -> FleetFitResult:
    """What closes a fleet's parent run, wherever the fleet was fitted: the fit's seconds (wall time
    and the assets' own added up), the per-asset table (fleet/assets.csv) and the fleet as ONE model
    (`example`: rows of its input, for the signature), registered as `register` with `alias`."""
    asset_seconds = float(table["fit_seconds"].sum())
    log_metrics(client, run_id, [Metric(k, float(v), now_ms(), 0) for k, v in {
        "fit_seconds": fit_seconds, "asset_fit_seconds_total": asset_seconds, "n_assets": len(fleet.detectors_),
        "n_train_rows": float(table["n_rows"].sum())}.items()])
    mlflow.log_text(table.to_csv(index=False), "fleet/assets.csv")
    model_info = log_fleet_model(fleet, example, registered_model_name=register)
    return FleetFitResult(fleet, run_id, exp_id, model_info.model_uri, registered_uri(model_info, register, alias),
                          fit_seconds, asset_seconds, children, table, ui_url(exp_id, run_id))


def fleet_frame(data: FleetTrainingData) -> pd.DataFrame:
    """The fleet's training rows as one frame: the asset column, then the sensors, asset after asset."""
    return pd.concat([frame.assign(**{data.asset_column: asset})[[data.asset_column, *frame.columns]]
                      for asset, frame in data.assets.items()])


def asset_table(fleet: FleetDetector) -> pd.DataFrame:
    """One row per fitted asset (and the shared detector): rows, model, threshold, fit seconds, auto's choice."""
    rows = []
    for name, fitted in fleet.fitted_.items():
        detector = fitted.detector
        rows.append({fleet.asset_column: name, "n_rows": fitted.n_rows, "model_type": detector.model_type,
                     "window_size": int(getattr(detector, "window_size", 1)),
                     "threshold": float(detector.threshold_.value_), "fit_seconds": fitted.fit_seconds,
                     "auto_chosen": fitted.auto_chosen or ""})
    return pd.DataFrame(rows)


def log_asset_run(client: MlflowClient, exp_id: str, parent_run_id: str, name: str, fitted: FittedAsset,
                  asset_column: str) -> str:
    """A finished child run of `parent_run_id` for one asset's fit (`name`: the asset, or
    `FleetDetector.SHARED`): parameters, threshold, score quantiles, training alerts, fit time.
    Returns its run id. (A fleet fitted elsewhere, a Spark job say, logs its assets' runs with it.)"""
    detector = fitted.detector
    shared = name == FleetDetector.SHARED
    label = "shared detector" if shared else f"{asset_column} {name}"
    tags = {"mlflow.parentRunId": parent_run_id, "seqae.model_type": detector.model_type,
            "seqae.asset": name, **({"seqae.auto.reason": fitted.auto_reason} if fitted.auto_reason else {})}
    child = client.create_run(exp_id, run_name=f"{detector.model_type} on {label}", tags=tags)
    params = {**flat_params(detector), "model_type": detector.model_type, asset_column: name,
              "n_train_rows": fitted.n_rows,
              **({"auto.chosen": fitted.auto_chosen} if fitted.auto_chosen else {})}
    detection = detector.training_detection_
    alerts = detector.find_alerts(detection)
    values = {"threshold": float(detector.threshold_.value_), "fit_seconds": fitted.fit_seconds,
              "n_train_rows": float(fitted.n_rows),
              **{f"train_{k}": float(v) for k, v in alerts.counts().items()}}
    for part, scores in (("train", detector.train_scores_), ("validation", detector.validation_scores_)):
        if scores is not None:
            values.update({f"{part}_score_p{q}": float(np.percentile(scores, q)) for q in (50, 90, 99)})
    now = now_ms()
    client.log_batch(child.info.run_id,
                     metrics=[Metric(k, v, now, 0) for k, v in values.items() if np.isfinite(v)],
                     params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.set_terminated(child.info.run_id)
    return child.info.run_id
