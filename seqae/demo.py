"""The demo: generated sensors with injected anomalies, fitted, scored and evaluated as a user
would, all in one MLflow run; what the model found beside the baseline that learns nothing."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from seqae import metrics
from seqae.data import read_for_detector, read_training_data
from seqae.detectors import Detection
from seqae.tracking.metric_names import baseline_name, named
from seqae.tracking import (DEFAULT_EXPERIMENT, EvaluationResult, FitResult, as_metrics, evaluate_and_log,
                            fit_and_log, load_detector, log_metrics)




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
    detection = baseline.detect(read_for_detector(baseline, test_path), ranking=True)
    alerts = baseline.find_alerts(detection)
    baseline_metrics = metrics.evaluate_decisions(evaluation.labels, detection.ranking_scores, detection.scores,
                                                  detection.flags, alerts.spans(), alerts.fired_rows(),
                                                  index=detection.index)
    log_metrics(MlflowClient(), fit.run_id,
                as_metrics(named(baseline_metrics, baseline_name)))
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
            "peak_score": float(np.nanmax(np.r_[detection.scores[span], -np.inf])),
        })
    return pd.DataFrame(rows)
