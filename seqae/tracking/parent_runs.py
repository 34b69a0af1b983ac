"""A parent run and its finished child runs, for work that is logged from outside `seqae.tracking`
(a fleet's fit: one parent run holding one model, a child run per asset) without knowing MLflow.

    with parent_run(experiment, run_name, tags) as run:   # the active run; FAILED if the block raises
        run.log_params({...}); run.log_dataset(frame, path)
        run.log_child("lstm-ae on machine m01", tags={...}, params={...}, metrics={...})
        run.log_metrics({...}); run.log_table(table, "fleet/assets.csv")
        model_uri, registered = run.log_fleet_model(fleet, example, register="pumps", alias="champion")
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import mlflow
import pandas as pd
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

from seqae.tracking.models import log_fleet_model, registered_uri
from seqae.tracking.store import as_metrics, csv_dataset, experiment_id, log_dataset, log_metrics, ui_url, use_store

PARAM_CHARS = 6000  # MLflow's limit on a parameter's value


@dataclass
class ParentRun:
    """The open run of a `parent_run` block; what the block logs goes through its methods."""

    run_id: str
    experiment_id: str
    client: MlflowClient

    @property
    def url(self) -> str:
        """The run's page in the MLflow UI."""
        return ui_url(self.experiment_id, self.run_id)

    def log_params(self, params: dict) -> None:
        mlflow.log_params({k: _param_text(v) for k, v in params.items()})

    def log_dataset(self, frame: pd.DataFrame, path: str | os.PathLike, context: str = "training") -> None:
        """`frame`, read from the file `path`, as a dataset input of the run."""
        log_dataset(csv_dataset(frame, path), context)

    def log_metrics(self, values: dict) -> None:
        """Each finite value of `values` as a metric at step 0."""
        log_metrics(self.client, self.run_id, as_metrics(values))

    def log_table(self, table: pd.DataFrame, artifact_file: str) -> None:
        """`table` as a CSV artifact (without its index)."""
        mlflow.log_text(table.to_csv(index=False), artifact_file)

    def log_child(self, run_name: str, *, tags: dict, params: dict, metrics: dict) -> str:
        """A finished child run of this run with its parameters and finite metrics; returns its id."""
        child = self.client.create_run(self.experiment_id, run_name=run_name,
                                       tags={"mlflow.parentRunId": self.run_id, **tags})
        self.client.log_batch(child.info.run_id, metrics=as_metrics(metrics),
                              params=[Param(k, _param_text(v)) for k, v in params.items()])
        self.client.set_terminated(child.info.run_id)
        return child.info.run_id

    def log_fleet_model(self, fleet, example: pd.DataFrame, *, register: str | None = None,
                        alias: str | None = None) -> tuple[str, str | None]:
        """The fleet as ONE model of this run (`log_fleet_model`), registered as `register` with
        `alias` pointing at it; returns (its models:/m-<id> URI, its registered URI or None)."""
        info = log_fleet_model(fleet, example, registered_model_name=register)
        return info.model_uri, registered_uri(info, register, alias)


@contextlib.contextmanager
def parent_run(experiment: str, run_name: str, tags: dict) -> Iterator[ParentRun]:
    """A new run in `experiment` (created if missing), active inside the block: FINISHED after it,
    FAILED when the block raises (an error, Ctrl-C, `seqae.errors.Stopped`)."""
    exp_id = experiment_id(experiment, use_store())
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=tags) as run:
        yield ParentRun(run.info.run_id, exp_id, MlflowClient())


def _param_text(value) -> str:
    return str(value)[:PARAM_CHARS]
