"""`seqae run`'s MLflow side: a parent run per pipeline, a child run per (file, seed)."""

from __future__ import annotations


import numpy as np
import pandas as pd
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

import seqae
from seqae.tracking.metric_names import metric_name, named, seed_name, seed_std_name
from seqae.tracking.store import as_metrics, experiment_id, log_metrics, ui_url, use_store


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
        log_metrics(self.client, run_id, as_metrics(named(finite)))
        self.client.set_terminated(run_id, "FINISHED")
        return run_id

    def finish(self, summary: pd.DataFrame, per_file: pd.DataFrame, report) -> tuple[str, str]:
        """Pooled metrics and the tables on the parent run, then close it; returns (run id, UI URL).
        The mean over the seeds has the figure's own name (`Evaluation/auc_pr`), the standard
        deviation `seed std/<key>`, each seed's figure `seed <seed>/<key>`."""
        values = {}
        for key in summary.columns:
            values[metric_name(key)] = summary.loc["mean", key]
            values[seed_std_name(key)] = summary.loc["std", key]
            for seed in summary.index[:-2]:
                values[seed_name(seed, key)] = summary.loc[seed, key]
        finite = {k: float(v) for k, v in values.items() if np.isfinite(v)}
        log_metrics(self.client, self.run_id, as_metrics(finite))
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
