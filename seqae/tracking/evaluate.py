"""Scoring labelled data with a logged model, as an evaluation run beside the model's own; a fleet
model machine by machine and pooled (`seqae.tracking.evaluate_fleet`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from seqae.data import ReadOptions, read_for_detector
from seqae.detectors import BaseDetector, Detection
from seqae.errors import ConfigError, DataError
from seqae.fleet import FleetDetector
from seqae.windows import window_mean_scores
from seqae.tracking.evaluate_fleet import FleetEvaluationResult, evaluate_fleet_and_log
from seqae.tracking.expected import largest_alerts, latent_marks, log_expected_readings
from seqae.tracking.labelled import evaluation_run, labelled_metrics, log_evaluation_metrics, score_detector
from seqae.tracking.models import load_model
from seqae.tracking.store import DEFAULT_EXPERIMENT, flat_params, reach_store, ui_url
from seqae.tracking.verdict_log import verdict_log
from seqae.verdicts import verdict_labels

VERDICT_LABEL = "verdict_label"  # the label column of rows labelled from the verdict log


@dataclass
class EvaluationResult:
    metrics: dict[str, float]  # `labelled_metrics`' keys: auc_pr (ranking), precision, ..., anomaly_recall (live)
    run_id: str
    experiment_id: str
    new_run: bool  # True when the model had no run in this store and a new one was made
    run_url: str
    detection: Detection
    labels: np.ndarray
    notes: list[str] = field(default_factory=list)  # how the labels were made, where the user should know


def evaluate_and_log(model_uri: str, data_path, *, label_column: str | None = None,
                     labels_from_verdicts: bool = False, time_column=None, sep=None,
                     fill=None, experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None,
                     options: ReadOptions | None = None) -> EvaluationResult | FleetEvaluationResult:
    """Score a labelled CSV, compute the metrics and log them (with the dataset and plots) to the
    model's run; a model without a run in this store gets a new run in `experiment`. A fleet model
    evaluates each machine's rows with its own detector (`evaluate_fleet_and_log`).

    The labels are the file's `label_column`, or with `labels_from_verdicts` the operators' verdicts
    on the registered model's versions (`verdict_log`): a fault's rows 1, every other row 0; `notes`
    says how many rows no verdict covered."""
    if (label_column is None) == (not labels_from_verdicts):
        raise ConfigError("give the labels one way: a 0/1 column of the file (--label-column NAME) or the "
                          "model's verdict log (--labels-from-verdicts)")
    loaded = load_model(model_uri)
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill)
    if isinstance(loaded.detector, FleetDetector):
        if labels_from_verdicts:
            raise ConfigError(f"{model_uri}: a fleet model keeps no verdicts; label the file with --label-column NAME")
        return evaluate_fleet_and_log(loaded, model_uri, data_path, label_column=label_column, options=options,
                                      experiment=experiment, run_name=run_name)
    store = reach_store()
    detector = loaded.detector
    notes = []
    if labels_from_verdicts:
        log = verdict_log(model_uri)
        frame = read_for_detector(detector, data_path, options=options)
        y, n_without = verdict_labels(frame.index, log)
        if n_without == len(frame):
            raise DataError(f"{data_path}: none of the {len(log)} verdicts of {model_uri} falls within its rows "
                            f"({frame.index[0]} .. {frame.index[-1]}); evaluate the file the verdicts were given on")
        if n_without:
            n_faults = int((log["verdict"] == "fault").sum())
            notes.append(f"{n_without} of {len(frame)} rows have no verdict and count as normal (label 0); "
                         f"{int(y.sum())} rows are within the {n_faults} fault verdicts")
        label_column = VERDICT_LABEL
    else:
        frame, labels = read_for_detector(detector, data_path, label_column=label_column, options=options)
        y = labels[label_column].to_numpy()
    detection = score_detector(detector, frame, data_path)
    alerts = detector.find_alerts(detection)
    values = labelled_metrics(y, detection, alerts)

    path = Path(data_path)
    with evaluation_run(loaded, model_uri, path, store=store, experiment=experiment, run_name=run_name,
                        model_type=detector.model_type, params=flat_params(detector)) as run:
        log_evaluation_metrics(values, frame.assign(**{label_column: y}), path, run.model_id)
        _log_evaluation_plots(run.run_id, path, detection, y, alerts)
        _log_why_flagged(run.run_id, path, detector, frame, detection, alerts)
    return EvaluationResult(values, run.run_id, run.experiment_id, run.new_run, ui_url(run.experiment_id, run.run_id),
                            detection, y, notes)


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
