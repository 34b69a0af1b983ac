"""A fleet fitted elsewhere (each machine's detector on a Spark executor, `seqae.spark.fit`) as
MLflow runs: one parent run holding the fleet as ONE model, a child run per machine.

    parent run: the fit spec, the asset column, how many machines, where the rows came from, the
      wall time of the whole fit and the machines' own times added up, the per-machine table
      (fleet/assets.csv), and the model (`log_fleet_model`), registered on request
    child run per machine: its detector's parameters, its threshold, the percentiles of its
      training scores, its rows and fit seconds
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

import seqae
from seqae.fleet import FleetDetector
from seqae.tracking.fleet_runs import FleetFitResult, log_fleet_outcome
from seqae.tracking.models import check_alias
from seqae.tracking.store import DEFAULT_EXPERIMENT, experiment_id, flat_params, now_ms, use_store


def log_fitted_fleet(fleet: FleetDetector, table: pd.DataFrame, *, fit_seconds: float, source: str,
                     experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None, register: str | None = None,
                     alias: str | None = None) -> FleetFitResult:
    """Log a fitted fleet as a new parent run with a child run per machine; returns where it went.

    `table` has one row per machine: the asset column, `n_rows`, `model_type`, `window_size`,
    `threshold`, `fit_seconds`, `auto_chosen` and `train_score_p<q>` columns."""
    fleet.check_fitted()
    if alias is not None:
        check_alias(alias)
    store = use_store()
    exp_id = experiment_id(experiment, store)
    client = MlflowClient()
    model_type = fleet.spec.model_type if fleet.spec is not None else "auto"
    column = fleet.asset_column
    tags = {"seqae.model_type": f"fleet:{model_type}", "seqae.version": seqae.__version__,
            "seqae.asset_column": column, "seqae.source": source}
    run_name = run_name or f"fleet {model_type} on a {source} ({len(fleet.detectors_)} {column}s)"
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=tags) as run:
        run_id = run.info.run_id
        spec_params = fleet.spec.to_dict()["params"] if fleet.spec is not None else {}
        mlflow.log_params({k: str(v)[:6000] for k, v in {
            "model_type": f"fleet:{model_type}", "asset_column": column, "source": source,
            **{f"spec.{k}": v for k, v in spec_params.items()}}.items()})
        children = {str(row[column]): _log_machine_run(client, exp_id, run_id, fleet, row)
                    for row in table.to_dict("records")}
        return log_fleet_outcome(client, exp_id, run_id, fleet, table, children, fit_seconds, _example_rows(fleet),
                                 register=register, alias=alias)


def _example_rows(fleet: FleetDetector) -> pd.DataFrame:
    """One window of the first machine's usual readings (its scaler's means): the model's input example."""
    first = fleet.assets_[0]
    detector = fleet.detectors_[first]
    rows = pd.DataFrame(np.tile(detector.scaler_.mean_, (int(getattr(detector, "window_size", 1)), 1)),
                        columns=[str(n) for n in fleet.feature_names_in_])
    rows.insert(0, fleet.asset_column, first)
    return rows


def _log_machine_run(client: MlflowClient, exp_id: str, parent_run_id: str, fleet: FleetDetector, row: dict) -> str:
    asset = str(row[fleet.asset_column])
    detector = fleet.detectors_[asset]
    child = client.create_run(exp_id, run_name=f"{detector.model_type} on {fleet.asset_column} {asset}",
                              tags={"mlflow.parentRunId": parent_run_id, "seqae.model_type": detector.model_type,
                                    "seqae.asset": asset})
    params = {**flat_params(detector), "model_type": detector.model_type, fleet.asset_column: asset,
              **({"auto.chosen": row["auto_chosen"]} if row.get("auto_chosen") else {})}
    values = {"threshold": float(detector.threshold_.value_), "fit_seconds": float(row["fit_seconds"]),
              "n_train_rows": float(row["n_rows"]),
              **{k: float(v) for k, v in row.items() if k.startswith("train_score_p")}}
    now = now_ms()
    client.log_batch(child.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items() if np.isfinite(v)],
                     params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.set_terminated(child.info.run_id)
    return child.info.run_id
