"""A fit as an MLflow run: parameters, losses per epoch, threshold and score summaries, the
dataset, plots, the effective config and the model (registered on request). The metrics are named
by `seqae.tracking.metric_names` (`Loss/train`, `scores/threshold`, ...).

Which figures a run draws is its `plots` setting: "all" (the loss curves, the scores over time, the
per-sensor contributions, the latent space and the expected readings of the largest alerts),
"default" (the loss curves and the scores, what a reviewer reads first, at a fraction of the
drawing time) or "none" (matplotlib is not imported). The loss curves and the scores are drawn in
the figure process (`seqae.figure_process`), started as the fit begins, while the run logs its
model; the other figures need the fitted detector and are drawn here.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

import seqae
from seqae.data import TrainingData
from seqae.data.roles import describe_roles
from seqae.detectors import BaseDetector, Detection
from seqae.errors import ConfigError, about_file
from seqae.figure_process import FigureSpec, drawing, warm_up
from seqae.windows import window_mean_scores
from seqae.tracking.expected import largest_alerts, latent_marks, log_expected_readings
from seqae.tracking.metric_names import LOSS_TRAIN, LOSS_VALIDATION, metric_name, named
from seqae.tracking.models import check_alias, log_detector_model, registered_uri
from seqae.tracking.store import (DEFAULT_EXPERIMENT, as_metrics, csv_dataset, experiment_id, flat_params, log_metrics,
                                  log_dataset, now_ms, tracked_run, ui_url, use_store)

PLOT_SETS = ("default", "all", "none")  # the figures a fit run draws: the loss curves and scores, every one, none


def check_plots(plots: str) -> str:
    """`plots` if it names one of `PLOT_SETS`; a one-line `ConfigError` otherwise."""
    if plots not in PLOT_SETS:
        raise ConfigError(f"plots must be one of {', '.join(PLOT_SETS)}, not {plots!r}: "
                          "default draws the loss curves and the scores, all every figure, none no figure")
    return plots


@dataclass
class FitResult:
    detector: BaseDetector
    run_id: str
    experiment_id: str
    model_uri: str  # models:/m-<id>, loadable with mlflow.pyfunc.load_model
    registered_uri: str | None  # models:/<name>@<alias> or models:/<name>/<version> when registered
    fit_seconds: float
    metrics: dict[str, float]
    run_url: str
    auto: object | None = None  # seqae.autoconfig.AutoFitResult, when auto-configuration chose the detector
    data: TrainingData | None = None  # what it was fitted on

    def summary(self) -> str:
        """What the fit was, in a few lines: auto's reason, the rows, sensors and files it took, its
        time, best epoch and threshold, and the columns left out of the model."""
        m, frame = self.metrics, self.data.frame
        epochs = f", best epoch {int(m['best_epoch'])} of {int(m['epochs_run'])}" if "best_epoch" in m else ""
        files = f" of {len(self.data.recordings)} files" if self.data.recordings else ""
        n = int(self.detector.n_features_in_)  # the modelled sensors; `columns:` below names the others
        lines = [f"Fitted {self.detector.model_type} on {len(frame)} rows{files} x {n} sensor{'s' * (n != 1)} in "
                 f"{self.fit_seconds:.1f} s{epochs}; threshold {m['threshold']:.4g}"]
        if self.auto is not None:
            lines.insert(0, self.auto.reason)
        roles = self.detector.roles_
        if len(roles) > self.detector.n_features_in_:  # state or constant columns left out of the model
            lines.append(f"columns: {describe_roles(roles, list(self.detector.feature_names_in_))}")
            watched = getattr(self.detector, "states_", None)
            if watched is not None and watched.describe():  # seqae.data.states: reported in state_events
                lines.append(f"watched: {watched.describe()} (scores.csv's state_events)")
        return "\n".join(lines)


def fit_and_log(detector: BaseDetector, data: TrainingData, *, experiment: str = DEFAULT_EXPERIMENT,
                run_name: str | None = None, register: str | None = None, alias: str | None = None,
                tags: dict | None = None, plots: str = "all") -> FitResult:
    """Fit `detector` on `data` inside a new MLflow run and log everything a reviewer needs.

    With `register`, the model becomes a new version of that registered model, and `alias` (if
    given) points at it: `models:/<register>@<alias>`; `models:/<register>/latest` is always the
    newest version. `plots`: which figures are drawn (`PLOT_SETS`).
    """
    check_plots(plots)
    if alias is not None:
        if not register:
            raise ConfigError("--alias names a registered version: give --register NAME too")
        check_alias(alias)
    # The checks fit() starts with, before a run is opened: a mistyped option leaves no failed run.
    detector.check_params()
    with about_file(data.path):
        detector.check_segments(data.fit_input)
    if plots != "none":
        warm_up()
    store = use_store()
    exp_id = experiment_id(experiment, store)
    client = MlflowClient()
    run_tags = {"seqae.model_type": detector.model_type, "seqae.version": seqae.__version__, **(tags or {})}
    run_name = run_name or f"{detector.model_type} on {data.name}"
    with tracked_run(experiment_id=exp_id, run_name=run_name, tags=run_tags) as run:
        run_id = run.info.run_id
        mlflow.log_params({**flat_params(detector), "model_type": detector.model_type, **data.options})
        log_training_inputs(data)

        started = time.perf_counter()
        with about_file(data.path):
            detector.fit(data.fit_input)
        fit_seconds = time.perf_counter() - started
        return _log_fitted(client, exp_id, run_id, detector, data, fit_seconds, register, alias, plots)


def fit_auto_and_log(data: TrainingData, *, random_state: int | None = None, window_size: int | None = None,
                     threshold=None, experiment: str = DEFAULT_EXPERIMENT, run_name: str | None = None, register: str | None = None,
                     alias: str | None = None, tags: dict | None = None, verbose: bool = False,
                     device: str = "auto", compare: bool = False, progress=None, given: dict | None = None,
                     plots: str = "all") -> FitResult:
    """`seqae fit` with no model named: auto-configuration (`seqae.autoconfig.auto_fit`) inside
    one MLflow run; `given`: its other parameters (`networks`, `alert_rules`, `roles`). The default is logged on the run like any fit (and registered on request), with
    what auto chose as `auto.*` parameters and its one-line reason as a tag. With `compare`, every
    candidate is also a child run with its settings, its validation AP on the injected anomalies
    (overall and per kind) and its fit time. `progress`: a `seqae.progress.StageLog`; `plots`: which
    figures are drawn (`PLOT_SETS`)."""
    from seqae.autoconfig import auto_fit

    check_plots(plots)
    if alias is not None:
        if not register:
            raise ConfigError("--alias names a registered version: give --register NAME too")
        check_alias(alias)
    if plots != "none":
        warm_up()
    store = use_store()
    exp_id = experiment_id(experiment, store)
    client = MlflowClient()
    run_tags = {"seqae.model_type": "auto", "seqae.version": seqae.__version__, **(tags or {})}
    with tracked_run(experiment_id=exp_id, run_name=run_name or f"auto on {data.name}", tags=run_tags) as run:
        run_id = run.info.run_id
        log_training_inputs(data)
        started = time.perf_counter()
        with about_file(data.path):
            auto = auto_fit(data.fit_input, random_state=random_state, window_size=window_size, verbose=verbose,
                            device=device, compare=compare, progress=progress, **(given or {}))
        detector = auto.detector
        if threshold is not None:
            detector.set_threshold(threshold)
        fit_seconds = time.perf_counter() - started
        mlflow.log_params({**flat_params(detector), "model_type": detector.model_type, "auto.chosen": auto.chosen,
                           "auto.period": auto.period if auto.period else "(none)",
                           "auto.window_size": auto.window_size, "auto.candidates": len(auto.candidates),
                           **data.options})
        mlflow.set_tags({"seqae.model_type": detector.model_type, "seqae.auto.reason": auto.reason})
        if len(auto.candidates):
            _log_candidates(client, exp_id, run_id, auto.candidates, data.name)
            mlflow.log_text(auto.candidates.drop(columns=["injection_aps"], errors="ignore").to_csv(index=False),
                            "auto/candidates.csv")
        if len(auto.injections):
            mlflow.log_text(auto.injections.to_csv(index=False), "auto/injections.csv")
        result = _log_fitted(client, exp_id, run_id, detector, data, fit_seconds, register, alias, plots)
    result.auto = auto
    return result


def log_training_inputs(data: TrainingData) -> None:
    """Every file the active run trains on as a dataset input of the run (context "training")."""
    for recording in data.recordings or [data]:
        log_dataset(csv_dataset(recording.frame, recording.path), "training")


def _log_candidates(client: MlflowClient, exp_id: str, parent_run_id: str, candidates: pd.DataFrame,
                    file_name: str) -> None:
    """One finished child run per candidate: its settings, validation APs and fit seconds."""
    for row in candidates.to_dict("records"):
        tags = {"mlflow.parentRunId": parent_run_id, "seqae.model_type": row["model_type"],
                "seqae.auto.chosen": str(bool(row.get("chosen", False))).lower()}
        child = client.create_run(exp_id, run_name=f"candidate {row['name']} on {file_name}", tags=tags)
        params = {"model_type": row["model_type"], **{f"{k}": v for k, v in dict(row["params"]).items()}}
        values = {k: float(v) for k, v in row.items()
                  if (k == "validation_ap" or k.startswith("ap_") or k == "fit_seconds")
                  and isinstance(v, (int, float, np.floating)) and np.isfinite(v)}
        now = now_ms()
        client.log_batch(child.info.run_id, metrics=[Metric(metric_name(k), v, now, 0) for k, v in values.items()],
                         params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        client.set_terminated(child.info.run_id)


def _log_fitted(client: MlflowClient, exp_id: str, run_id: str, detector: BaseDetector, data: TrainingData,
                fit_seconds: float, register: str | None, alias: str | None, plots: str) -> FitResult:
    """What every fit run logs once its detector is fitted: losses, summaries, plots, config, model."""
    detection = detector.training_detection_  # the training rows as fit scored them, not scored again
    alerts = detector.find_alerts(detection)
    summary = {**_fit_summary(detector, detection, fit_seconds),
               **{f"train_{k}": float(v) for k, v in alerts.counts().items()}}
    log_metrics(client, run_id, _history_metrics(detector) + as_metrics(named(summary)))
    mlflow.log_params({"threshold_rule": threshold_rule(detector), "level_rule": level_rule(detector)})
    client.log_text(run_id, alerts.table.to_csv(index=False), "alerts/training_alerts.csv")
    figures = _fit_figures(detector, detection, alerts) if plots != "none" else []
    with tempfile.TemporaryDirectory(prefix="seqae-figures-") as folder:
        with drawing(figures, folder):
            if plots == "all":
                _log_more_plots(run_id, detector, data.frame, detection, alerts)
            mlflow.log_dict(_effective_config(detector, data.options), "config.json")
            modelled = list(detector.feature_names_in_)
            mlflow.log_dict({"roles": detector.roles_, "modelled": modelled}, "columns.json")
            mlflow.set_tag("seqae.columns", describe_roles(detector.roles_, modelled))
            model_info = log_detector_model(detector, data.frame, registered_model_name=register)
        if figures:
            client.log_artifacts(run_id, folder, "plots")
    return FitResult(detector, run_id, exp_id, model_info.model_uri, registered_uri(model_info, register, alias),
                     fit_seconds, summary, ui_url(exp_id, run_id), data=data)


def threshold_rule(detector: BaseDetector) -> str:
    """The rule that made a fitted detector's threshold and the scores it was fitted on, in words:
    e.g. "quantile 0.99 of the 80 held-out rows' scores"."""
    threshold = detector.threshold_
    if threshold.kind == "fixed":
        return threshold.rule()
    rows = "held-out" if detector.threshold_on == "validation" else "training"
    n = getattr(threshold, "n_fit_scores_", None)
    return f"{threshold.rule()} of the {f'{n} ' if n else ''}{rows} rows' scores"


def level_rule(detector: BaseDetector) -> str:
    """How a feed of the fitted detector follows each sensor's level (`seqae.detectors.feed`), in
    words: e.g. "the mean of the last 604 rows judged normal, over whole periods of 288 rows"."""
    rows, period = int(detector.level_rows_), detector.level_period_
    if not rows:
        return "not followed: the training rows' level stands"
    return f"the mean of the last {rows} rows judged normal" + (
        f", over whole periods of {period} rows" if period and rows >= period else "")


def _fit_summary(detector: BaseDetector, detection: Detection, fit_seconds: float) -> dict[str, float]:
    summary = {"threshold": float(detector.threshold_.value_), "fit_seconds": fit_seconds,
               "train_flagged_fraction": float(np.mean(detection.flags)),
               "n_train_rows": float(len(detection.scores))}
    for name, scores in (("train", detector.train_scores_), ("validation", detector.validation_scores_)):
        if scores is None:
            continue
        for q in (50, 90, 99):
            summary[f"{name}_score_p{q}"] = float(np.percentile(scores, q))
        summary[f"{name}_score_max"] = float(np.max(scores))
    history = getattr(detector, "history_", None)
    if history is not None and history.train_loss:
        summary["epochs_run"] = float(len(history.train_loss))
        summary["best_epoch"] = float(history.best_epoch + 1)  # 1-based, as the loss steps
        summary["final_train_loss"] = float(history.train_loss[-1])
        if history.validation_loss:
            summary["best_validation_loss"] = float(min(history.validation_loss))
    return summary


def _history_metrics(detector: BaseDetector) -> list[Metric]:
    """`Loss/train` and `Loss/validation` at step = epoch (from 1)."""
    history = getattr(detector, "history_", None)
    if history is None:
        return []
    now = now_ms()
    out = [Metric(LOSS_TRAIN, float(v), now, epoch) for epoch, v in enumerate(history.train_loss, 1)]
    out += [Metric(LOSS_VALIDATION, float(v), now, epoch) for epoch, v in enumerate(history.validation_loss, 1)]
    return out


def _fit_figures(detector: BaseDetector, detection: Detection, alerts) -> list[FigureSpec]:
    """The figures every fit run with figures draws: the loss curves (networks) and the scores on the
    training rows with the threshold, the flags and the alerts."""
    name = type(detector).__name__
    figures = []
    history = getattr(detector, "history_", None)
    if history is not None and history.train_loss:
        figures.append(FigureSpec("loss_curves", "loss_curves.png",
                                  (list(history.train_loss), list(history.validation_loss), history.best_epoch + 1),
                                  {"title": f"{name}: loss per epoch"}))
    n_val = 0 if detector.validation_scores_ is None else len(detector.validation_scores_)
    figures.append(FigureSpec("score_timeline", "scores.png",
                              (detection.index, detection.scores, detection.threshold, detection.flags),
                              {"split_at": len(detection.scores) - n_val if n_val else None,
                               "alert_ids": alerts.alert_ids,
                               "title": f"{name} on its training data: score per time point "
                                        f"({int(detection.above_level.sum())} of {len(detection.scores)} above "
                                        f"the threshold, {len(alerts.table)} alerts)"}))
    return figures


def _log_more_plots(run_id: str, detector: BaseDetector, frame: pd.DataFrame, detection: Detection, alerts) -> None:
    """The figures only `plots="all"` draws: the contributions, the latent space and the expected readings."""
    from seqae import plots  # matplotlib loads only where a figure is drawn: not for score or serve

    client = MlflowClient()
    client.log_figure(run_id, plots.contribution_heatmap(detection.index, detection.contributions,
                                                         detection.feature_names),
                      "plots/sensor_contributions.png")
    largest = largest_alerts(detection, alerts)
    if hasattr(detector, "encode"):
        latent = detector.encode(frame)
        client.log_figure(run_id, plots.latent_scatter(
            latent, window_mean_scores(detection.ranking_scores, detector.window_size, detector.score_stride),
            title=f"Latent space: {len(latent)} training windows (PCA of encode())",
            marked=latent_marks(detector, detection, largest)),
            "plots/latent_space.png")
    log_expected_readings(run_id, detector, frame, detection, largest, "plots", "training data")


def _effective_config(detector: BaseDetector, data_options: dict) -> dict:
    """What was fitted, with what, on what: the fitted threshold with its value included."""
    params = {k: v for k, v in detector.get_params(deep=False).items() if k != "threshold"}
    return {
        "seqae_version": seqae.__version__,
        "model_type": detector.model_type,
        "params": params,
        "threshold": detector.threshold_.to_dict(),
        "alert_rules": detector.alert_rules_.get_params(),
        "data": data_options,
    }
