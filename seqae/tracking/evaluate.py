"""Scoring labelled data with a logged model, as an evaluation run beside the model's own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from seqae import metrics
from seqae.data import ReadOptions, read_for_detector
from seqae.detectors import BaseDetector, Detection
from seqae.errors import about_file, hide_credentials
from seqae.windows import window_mean_scores
from seqae.tracking.expected import largest_alerts, latent_marks, log_expected_readings
from seqae.tracking.models import load_detector, run_exists
from seqae.tracking.store import (DEFAULT_EXPERIMENT, csv_dataset, experiment_id, flat_params, mlflow_warnings_off,
                                  reach_store, tracked_run, ui_url)


EVAL_PREFIX = "eval_"


def score_detector(detector: BaseDetector, frame: pd.DataFrame, path) -> Detection:
    """The live decisions on `frame`, with the retrospective scores for ranking beside them."""
    with about_file(path):
        return detector.detect(frame, ranking=True)


@dataclass
class EvaluationResult:
    metrics: dict[str, float]  # `labelled_metrics`' keys: auc_pr (ranking), precision, ..., anomaly_recall (live)
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
    store = reach_store()
    detector = loaded.detector
    frame, labels = read_for_detector(detector, data_path, time_column=time_column, label_column=label_column,
                                      sep=sep, fill=fill, options=options)
    detection = score_detector(detector, frame, data_path)
    y = labels[label_column].to_numpy()
    alerts = detector.find_alerts(detection)
    values = labelled_metrics(y, detection, alerts)

    path = Path(data_path)
    existing = loaded.run_id if loaded.run_id and run_exists(loaded.run_id) else None
    if existing:
        exp_id = MlflowClient().get_run(existing).info.experiment_id
        run_context = tracked_run(run_id=existing)
    else:
        exp_id = experiment_id(experiment, store)
        run_context = tracked_run(experiment_id=exp_id, run_name=run_name or f"evaluate {path.name}",
                                  tags={"seqae.model_uri": hide_credentials(model_uri),
                                        "seqae.model_type": detector.model_type})
    with run_context as run:
        if not existing:
            mlflow.log_params({**flat_params(detector), "model_type": detector.model_type,
                               "model_uri": hide_credentials(model_uri)})
        dataset = csv_dataset(frame.assign(**{label_column: y}), path)
        with mlflow_warnings_off():
            mlflow.log_input(dataset, context="evaluation")
        finite = {EVAL_PREFIX + k: float(v) for k, v in values.items() if np.isfinite(v)}
        mlflow.log_metrics(finite, dataset=dataset, model_id=loaded.model_id if existing else None)
        _log_evaluation_plots(run.info.run_id, path, detection, y, alerts)
        _log_why_flagged(run.info.run_id, path, detector, frame, detection, alerts)
    return EvaluationResult(values, run.info.run_id, exp_id, not existing, ui_url(exp_id, run.info.run_id),
                            detection, y)


def labelled_metrics(y: np.ndarray, detection: Detection, alerts) -> dict[str, float]:
    """`seqae.metrics.evaluate_decisions` of a detection with its retrospective scores."""
    return metrics.evaluate_decisions(y, detection.ranking_scores, detection.scores, detection.flags, alerts.spans(),
                                      alerts.fired_rows(), index=detection.index)


def _log_why_flagged(run_id: str, path: Path, detector: BaseDetector, frame: pd.DataFrame,
                     detection: Detection, alerts) -> None:
    """Neural detectors: actual against expected readings of the largest alerts (flagged intervals
    where there is none), and the latent space of the file's windows with their windows marked."""
    if not hasattr(detector, "encode"):
        return
    from seqae import plots  # matplotlib loads only where a figure is drawn: not for score or serve
    folder = f"evaluation/{path.stem}"
    largest = largest_alerts(detection, alerts)
    log_expected_readings(run_id, detector, frame, detection, largest, folder, path.name)
    latent = detector.encode(frame)
    MlflowClient().log_figure(run_id, plots.latent_scatter(
        latent, window_mean_scores(detection.ranking_scores, detector.window_size, detector.score_stride),
        title=f"{path.name}: latent space of {len(latent)} windows (PCA of encode())",
        marked=latent_marks(detector, detection, largest)), f"{folder}/latent_space.png")


def _log_evaluation_plots(run_id: str, path: Path, detection: Detection, labels: np.ndarray, alerts) -> None:
    from seqae import plots  # matplotlib loads only where a figure is drawn: not for score or serve

    client = MlflowClient()
    folder = f"evaluation/{path.stem}"
    client.log_figure(run_id, plots.score_timeline(
        detection.index, detection.scores, detection.threshold, detection.flags, labels=labels,
        alert_ids=alerts.alert_ids,
        title=f"{path.name}: score per time point, labelled anomalies in orange, flags in red, "
              f"{len(alerts.table)} alerts in purple"),
        f"{folder}/scores.png")
    client.log_text(run_id, alerts.table.to_csv(index=False), f"{folder}/alerts.csv")
    client.log_figure(run_id, plots.contribution_heatmap(
        detection.index, detection.contributions, detection.feature_names,
        title=f"{path.name}: per-sensor contribution to the score"), f"{folder}/sensor_contributions.png")
