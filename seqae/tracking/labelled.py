"""A detector's decisions on labelled rows and the run they are logged to, shared by the evaluation
of a model of one detector (`evaluate.py`) and of a fleet, machine by machine (`evaluate_fleet.py`).

    score_detector          the live decisions, with the retrospective ranking scores beside them
    labelled_metrics        `seqae.metrics.evaluate_decisions` of them against the labels
    evaluation_run          the model's own run when this store has it, else a new run
    log_evaluation_metrics  the labelled rows as the run's evaluation dataset, the metrics in one batch
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from seqae import metrics
from seqae.detectors import BaseDetector, Detection
from seqae.errors import about_file, hide_credentials
from seqae.tracking.metric_names import evaluation_name
from seqae.tracking.models import LoadedModel, run_exists
from seqae.tracking.store import Store, csv_dataset, experiment_id, log_dataset, tracked_run


def score_detector(detector: BaseDetector, frame: pd.DataFrame, path) -> Detection:
    """The live decisions on `frame`, with the retrospective scores for ranking beside them."""
    with about_file(path):
        return detector.detect(frame, ranking=True)


def labelled_metrics(y: np.ndarray, detection: Detection, alerts, *, return_alert_counts: bool = False):
    """`seqae.metrics.evaluate_decisions` of a detection with its retrospective scores (and, with
    `return_alert_counts`, the `AlertCounts` that `seqae.metrics.pooled_decisions` adds up)."""
    return metrics.evaluate_decisions(y, detection.ranking_scores, detection.scores, detection.flags, alerts.spans(),
                                      alerts.fired_rows(), index=detection.index,
                                      return_alert_counts=return_alert_counts)


@dataclass(frozen=True)
class EvaluationRun:
    run_id: str
    experiment_id: str
    new_run: bool  # True when the model had no run in this store and a new one was made
    model_id: str | None  # the logged model its metrics are linked to (in the model's own run)


@contextlib.contextmanager
def evaluation_run(loaded: LoadedModel, model_uri: str, data_path, *, store: Store, experiment: str,
                   run_name: str | None, model_type: str, params: dict) -> Iterator[EvaluationRun]:
    """The model's run, when this store has it; else a new run in `experiment` (named `run_name`,
    by default `evaluate <file>`) holding the model's `params`, `model_type` and URI."""
    existing = loaded.run_id if loaded.run_id and run_exists(loaded.run_id) else None
    if existing:
        exp_id = MlflowClient().get_run(existing).info.experiment_id
        run_context = tracked_run(run_id=existing)
    else:
        exp_id = experiment_id(experiment, store)
        run_context = tracked_run(experiment_id=exp_id, run_name=run_name or f"evaluate {Path(data_path).name}",
                                  tags={"seqae.model_uri": hide_credentials(model_uri),
                                        "seqae.model_type": model_type})
    with run_context as run:
        if not existing:
            mlflow.log_params({**params, "model_type": model_type, "model_uri": hide_credentials(model_uri)})
        yield EvaluationRun(run.info.run_id, exp_id, not existing, loaded.model_id if existing else None)


def log_evaluation_metrics(values: dict, rows: pd.DataFrame, data_path, model_id: str | None) -> None:
    """`rows` (the labelled rows read) as the active run's evaluation dataset, and the finite
    `values` as its metrics (`metric_names.evaluation_name`: `Evaluation/auc_pr`, `evaluation
    details/f1`), in one batch linked to that dataset and `model_id`."""
    dataset = csv_dataset(rows, Path(data_path))
    log_dataset(dataset, "evaluation")
    finite = {evaluation_name(k): float(v) for k, v in values.items() if np.isfinite(v)}
    mlflow.log_metrics(finite, dataset=dataset, model_id=model_id)
