"""A pipeline file (`seqae.pipeline_file`: its sections and checks) run end to end: read files, fit,
score, threshold, evaluate, log.

How the numbers are made (SKAB's leaderboard protocol when `train_rows` is set):

    for each seed, for each file: fit on the training rows (labels there are never read),
    score the test rows as a live feed of them (flags and alerts by the model's alert rules, the
    threshold calibrated on held-out training scores only), and rank them retrospectively,
    `metrics.evaluate_decisions` -> one row of the per-file table
    per seed: TP/FP/TN/FN summed over every test point of every file -> precision, recall, F1,
    FAR, MAR (SKAB's pooling; events likewise); AUC-PR, AUC-ROC and VUS-PR are the MEAN of the
    per-file values (`auc_pr_pooled` is the average precision of all files' scores ranked
    together, meaningful only because every detector's scores are normalised by its own
    training spread); fit_seconds is the mean per fit
    summary: one row per seed, then the mean and the standard deviation (ddof=1) over seeds

`run_pipeline` logs one MLflow parent run, a child run per (file, seed), the pooled metrics and
the two tables on the parent, through `seqae.tracking`.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seqae import metrics
from seqae.data import read_header, read_sensor_csv, time_gaps
from seqae.errors import DataError, DataWarning, about_file
from seqae.pipeline_file import ALERT_KEYS, RANKING_KEYS, SUMMARY_KEYS, Pipeline, load_pipeline
from seqae.workers import worker_pool
# ---- running it ------------------------------------------------------------------------------------

@dataclass
class FileResult:
    """One fitted and scored file: its per-file metrics and the arrays pooled metrics need."""

    file: str
    seed: int
    metrics: dict
    scores: np.ndarray = field(repr=False)  # (n_test,) test scores
    labels: np.ndarray = field(repr=False)  # (n_test,) 0/1
    alerts: metrics.AlertCounts | None = field(default=None, repr=False)  # the model's alerts against the labels


@dataclass
class PipelineResult:
    pipeline: Pipeline
    summary: pd.DataFrame  # index: seed 0, 1, ..., then "mean" and "std"; columns: SUMMARY_KEYS
    per_file: pd.DataFrame  # one row per (seed, file)
    run_id: str | None = None
    run_url: str | None = None

    def table(self, columns=None) -> pd.DataFrame:
        """The report columns as `mean ± std` strings, one row: what `seqae run` prints."""
        columns = list(columns or self.pipeline.report)
        mean, std = self.summary.loc["mean"], self.summary.loc["std"]
        cells = {}
        for key in columns:
            digits = 1 if key in ("far", "mar", "fit_seconds", "mean_detection_delay") else 3
            spread = "" if not np.isfinite(std[key]) else f" ± {std[key]:.{digits}f}"
            cells[key] = f"{mean[key]:.{digits}f}{spread}"
        return pd.DataFrame([cells], index=[self.pipeline.name])


def run_pipeline(path, data_dir=None, seeds=None, experiment: str | None = None, quiet: bool = False,
                 track: bool = True) -> PipelineResult:
    """Run a pipeline file end to end and return its summary and per-file tables.

    Args:
        path: the pipeline TOML file.
        data_dir: replaces `[data] directory` (the CLI's `--data-dir`).
        seeds: replace `[run] seeds`.
        experiment: replaces `[run] experiment`.
        quiet: print nothing (otherwise one line per fitted file on stderr).
        track: log to MLflow (one parent run, a child run per file and seed).
    """
    pipeline = load_pipeline(path, data_dir=data_dir, seeds=seeds, experiment=experiment)
    say = (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    logger = None
    if track:
        from seqae import tracking  # the only module that imports mlflow

        logger = tracking.start_pipeline_run(pipeline.experiment, pipeline.name, pipeline.params(),
                                             pipeline.text)
    try:
        results = []
        with contextlib.closing(_results(pipeline)) as done:  # an error here stops the workers at once
            for result in done:
                results.append(result)
                m = result.metrics
                say(f"seed {result.seed}  {result.file}: AUC-PR {m['auc_pr']:.3f}  F1 {m['f1']:.3f}  "
                    f"FAR {m['far']:.1f}%  fit {m['fit_seconds']:.1f}s")
                if logger is not None:
                    logger.log_file(result.file, result.seed, m)
        per_file = pd.DataFrame([{"seed": r.seed, "file": r.file, **r.metrics} for r in results])
        per_file = per_file.sort_values(["seed", "file"], kind="stable").reset_index(drop=True)
        summary = summarise(results, pipeline.seeds)
    except BaseException:
        if logger is not None:
            logger.fail()
        raise
    result = PipelineResult(pipeline, summary, per_file)
    if logger is not None:
        result.run_id, result.run_url = logger.finish(summary, per_file, pipeline.report)
    return result


def summarise(results: list[FileResult], seeds) -> pd.DataFrame:
    """Per seed: pooled counts and rates, mean per-file ranking metrics; then mean and std rows."""
    rows = {}
    for seed in seeds:
        mine = [r for r in results if r.seed == seed]
        row = dict.fromkeys(SUMMARY_KEYS, math.nan)
        row.update(metrics.pooled([r.metrics for r in mine]))
        for key in RANKING_KEYS:
            values = [r.metrics[key] for r in mine if np.isfinite(r.metrics[key])]
            row[key] = float(np.mean(values)) if values else math.nan
        labels = np.concatenate([r.labels for r in mine])
        if 0 < labels.sum() < labels.size:
            row["auc_pr_pooled"] = metrics.auc_pr(labels, np.concatenate([r.scores for r in mine]))
        counted = [r.alerts for r in mine if r.alerts is not None]
        if counted:
            total = sum(counted[1:], counted[0]).to_dict()
            row.update({key: float(total[key]) for key in ALERT_KEYS})
        row["fit_seconds"] = float(np.mean([r.metrics["fit_seconds"] for r in mine]))
        rows[seed] = row
    table = pd.DataFrame.from_dict(rows, orient="index")[list(SUMMARY_KEYS)].astype(np.float64)
    table.loc["mean"] = table.loc[list(seeds)].mean()
    table.loc["std"] = table.loc[list(seeds)].std(ddof=1) if len(seeds) > 1 else math.nan
    table.index.name = "seed"
    return table


def _results(pipeline: Pipeline):
    """FileResults as they are done, fitted in `pipeline.jobs` processes."""
    if pipeline.train_rows is not None:
        jobs = [(pipeline, seed, (path,)) for seed in pipeline.seeds for path in pipeline.files]
    else:
        jobs = [(pipeline, seed, pipeline.files) for seed in pipeline.seeds]
    if pipeline.jobs == 1 or len(jobs) == 1:
        _warm_up()
        for job in jobs:
            yield from _run_job(job)
        return
    # Worker processes of one thread each (seqae.workers), so `jobs` processes use `jobs` cores.
    with worker_pool(min(pipeline.jobs, len(jobs)), preload=(__name__,), setup=_warm_up) as pool:
        for done in pool.map(_run_job, jobs):
            yield from done


def _warm_up() -> None:
    """Pay torch's one-off start-up cost in a process (seconds) before any fit is timed."""
    import torch

    lstm = torch.nn.LSTM(2, 4, batch_first=True)
    lstm(torch.zeros(2, 3, 2))[0].sum().backward()


def _run_job(job) -> list[FileResult]:
    pipeline, seed, paths = job
    if pipeline.train_rows is not None:
        path = paths[0]
        frame, labels = read_data_file(pipeline, path)
        n_train = pipeline.train_rows
        if len(frame) <= n_train:
            raise DataError(f"{path}: has {len(frame)} rows, not more than [protocol] train_rows = "
                            f"{n_train}; nothing would be left to score")
        detector, fit_seconds = _fit(pipeline, seed, frame.iloc[:n_train], path)
        extra = {"n_train_rows": n_train, "n_train_labelled_anomalous": int(labels[:n_train].sum()),
                 "n_time_gaps": len(time_gaps(frame.index))}
        return [_score(pipeline, seed, detector, fit_seconds, path, frame.iloc[n_train:],
                       labels[n_train:], extra)]
    frame, _ = read_data_file(pipeline, pipeline.train_file, labels=False)
    detector, fit_seconds = _fit(pipeline, seed, frame, pipeline.train_file)
    out = []
    for path in paths:
        test, labels = read_data_file(pipeline, path)
        out.append(_score(pipeline, seed, detector, fit_seconds, path, test, labels,
                          {"n_train_rows": len(frame), "n_train_labelled_anomalous": 0,
                           "n_time_gaps": len(time_gaps(test.index))}))
    return out


def read_data_file(pipeline: Pipeline, path: Path, labels: bool = True):
    """A data file read as the pipeline says: (sensor frame, 0/1 labels as an array, or None).

    With `labels=False` (the train_file), label columns the file lacks are not asked for.
    """
    label_columns = (pipeline.label_column, *pipeline.ignore_columns)
    if not labels:
        header = read_header(path, pipeline.read.sep) or []
        label_columns = tuple(c for c in label_columns if c in header)
    with warnings.catch_warnings():
        # A gap in the timestamps is counted per file (n_time_gaps), not printed once per file and seed.
        warnings.simplefilter("ignore", DataWarning)
        frame, label_frame = read_sensor_csv(path, pipeline.read, columns=pipeline.columns,
                                             label_columns=label_columns, return_labels=True)
    values = label_frame[pipeline.label_column].to_numpy() if labels else None
    return frame, values


def _fit(pipeline: Pipeline, seed: int, frame: pd.DataFrame, path: Path):
    detector = pipeline.detector(seed)
    started = time.perf_counter()
    with about_file(path):
        detector.fit(frame)
    return detector, time.perf_counter() - started


def _score(pipeline, seed, detector, fit_seconds, path, frame, labels, extra) -> FileResult:
    started = time.perf_counter()
    with about_file(path):
        detection = detector.detect(frame, ranking=True)
    score_seconds = time.perf_counter() - started
    alerts = detector.find_alerts(detection)
    values = metrics.evaluate_decisions(labels, detection.ranking_scores, detection.scores, detection.flags,
                                        alerts.spans(), alerts.fired_rows(), index=frame.index)
    counts = metrics.alert_counts(labels, alerts.spans(), fired_at=alerts.fired_rows(), index=frame.index)
    values.update(extra)
    values.update({"n_test_rows": len(frame), "n_test_labelled_anomalous": int(labels.sum()),
                   "threshold": float(detector.threshold_.value_), "fit_seconds": fit_seconds,
                   "score_seconds": score_seconds})
    return FileResult(pipeline.file_label(path), seed, values, detection.ranking_scores, labels, counts)
