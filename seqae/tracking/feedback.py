"""`seqae feedback`: operators' verdicts learnt by a model, as a new version of it in MLflow.

    model (models:/NAME/1) + verdicts --each alert's rows (and the level its feed followed): the
      newest `seqae score` or `seqae watch` run where that model raised it (a watch of an alias that
      switched to it included; raised by another version: an error naming it), or the run --run names
      (`kept_alerts`), or --data FILE (the training level)--> BaseDetector.learn_normal / learn_fault
      --> a feedback run: the new model, registered as the next version of NAME; the verdicts as a
          dataset input and an artifact; what each verdict moved; tags naming the parent model's
          URI, run id and model id (`seqae.parent_*`)

Every verdict is found and learnt in memory before the run opens: a verdict that cannot be used is
a one-line error, and nothing is logged or registered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

import seqae
from seqae.errors import ConfigError, DataError, hide_credentials
from seqae.tracking.metric_names import feedback_name
from seqae.tracking.models import check_alias, load_detector, log_detector_model, registered_uri
from seqae.tracking.kept_alerts import find_kept_alert, where_searched
from seqae.tracking.scoring_runs import model_experiment
from seqae.tracking.store import (DEFAULT_EXPERIMENT, as_metrics, csv_dataset, flat_params, log_metrics,
                                  log_dataset, tracked_run, ui_url, use_store)
from seqae.verdicts import Verdict, alert_rows, check_rows


@dataclass
class FeedbackResult:
    run_id: str
    model_uri: str  # models:/m-<id>
    registered_uri: str  # models:/NAME/VERSION (or @ALIAS)
    version: str
    effects: pd.DataFrame  # one row per verdict: what it changed
    run_url: str
    notes: list[str] = field(default_factory=list)  # what the verdicts could not do


def registered_name(model_uri: str, register: str | None) -> str:
    """The registered model a feedback version joins: `register`, else the NAME of models:/NAME/..."""
    if register:
        return register
    match = re.fullmatch(r"models:/([^/@]+)(?:/[^/]+|@[^/]+)", model_uri.strip())
    if match is None or match.group(1).startswith("m-"):
        raise ConfigError(f"{model_uri} is not a registered model's version; name the registered model the new "
                          "version joins with --register NAME")
    return match.group(1)


def feedback_and_log(model_uri: str, verdicts: list[Verdict], *, verdicts_path: str | None = None,
                     data: str | None = None, options=None, register: str | None = None, alias: str | None = None,
                     force: bool = False, experiment: str = DEFAULT_EXPERIMENT,
                     run_id: str | None = None) -> FeedbackResult:
    """Learn `verdicts` into the model of `model_uri` and log the result as a new registered version.
    `run_id`: the scoring or monitoring run that raised the alerts (default: the newest that has each)."""
    if alias is not None:
        check_alias(alias)
    name = registered_name(model_uri, register)
    use_store()
    loaded = load_detector(model_uri)
    detector = loaded.detector
    where = verdicts_path or "--alert"
    found = [_rows_of(loaded, verdict, data, options, where, run_id) for verdict in verdicts]
    effects, notes, faults = [], [], []
    for verdict, (alert, rows, source, level) in zip(verdicts, found):
        label = f"{where}, line {verdict.line}" if verdict.line else where
        if verdict.verdict == "normal":
            effect = detector.learn_normal(rows, force=force, where=f"{label} ({verdict.names()})",
                                           followed_level=level)
            if effect.held_back:
                notes.append(f"{verdict.names()}: still {effect.peak_after:.3g} times the threshold after the "
                             f"windows were kept as judged normal; the threshold was left where it was (beyond the alert "
                             f"rules' extreme); pass --force to raise it that far")
            effects.append({"alert_id": alert.get("alert_id"), "start": alert.get("start"), "end": alert.get("end"),
                            "verdict": "normal", "note": verdict.note, "source": source, **effect.as_dict()})
        else:
            record = detector.learn_fault(rows, note=verdict.note)
            faults.append(record)
            effects.append({"alert_id": alert.get("alert_id"), "start": alert.get("start"), "end": alert.get("end"),
                            "verdict": "fault", "note": verdict.note, "source": source, "rows": record["rows"]})
    effects = pd.DataFrame(effects)
    example = found[0][1]
    client = MlflowClient()
    tags = {"seqae.kind": "feedback", "seqae.model_type": detector.model_type, "seqae.version": seqae.__version__,
            "seqae.parent_model_uri": hide_credentials(model_uri)}
    if loaded.run_id:
        tags["seqae.parent_run_id"] = loaded.run_id
    if loaded.model_id:
        tags["seqae.parent_model_id"] = str(loaded.model_id)
    with tracked_run(experiment_id=model_experiment(client, loaded, experiment),
                     run_name=f"feedback on {hide_credentials(model_uri)}", tags=tags) as run:
        run_id = run.info.run_id
        mlflow.log_params({**flat_params(detector), "model_type": detector.model_type,
                           "parent_model_uri": hide_credentials(model_uri), "parent_run_id": loaded.run_id or "",
                           "n_verdicts": len(verdicts), "force": force})
        metrics = []
        for step, row in enumerate(effects.to_dict("records")):
            if row["verdict"] == "normal":
                metrics += as_metrics({feedback_name(k): row[k] for k in (
                    "peak_before", "peak_after", "threshold_before", "threshold_after", "threshold_ratio",
                    "windows_learnt")}, step=step)
        log_metrics(client, run_id, metrics)
        table = pd.DataFrame([{"alert_id": v.alert_id, "start": v.start, "end": v.end, "verdict": v.verdict,
                               "note": v.note} for v in verdicts])
        log_dataset(csv_dataset(table, Path(verdicts_path or "verdicts.csv"), name="verdicts"), "verdicts")
        mlflow.log_text(table.to_csv(index=False), "feedback/verdicts.csv")
        mlflow.log_text(effects.to_csv(index=False), "feedback/effects.csv")
        if faults:
            mlflow.log_text(json.dumps(getattr(detector, "faults_", []), indent=2), "feedback/faults.json")
        info = log_detector_model(detector, example, registered_model_name=name)
        exp_id = run.info.experiment_id
    return FeedbackResult(run_id, info.model_uri, registered_uri(info, name, alias), str(info.registered_model_version),
                          effects, ui_url(exp_id, run_id), notes)


def _rows_of(loaded, verdict: Verdict, data: str | None, options, where: str, run_id: str | None = None):
    """(the alert's row of its table as a dict, its rows as a frame, where they came from, each
    sensor's followed level when it fired or None) for `verdict`."""
    detector = loaded.detector
    columns = list(detector.feature_names_in_)
    label = f"{where}, line {verdict.line}" if verdict.line else where
    found = find_kept_alert(loaded, verdict, run_id)
    if found is not None and found.other_model and data is not None and verdict.alert_id is None:
        found = None  # its rows come from --data: another model's alert of the same times is not needed
    if found is None and (data is None or verdict.alert_id is not None or run_id is not None):
        if run_id is not None:
            how = "check the id, or leave --run out to look in the model's latest runs"
        elif verdict.alert_id is not None:
            how = "name the run that raised it with --run RUN_ID, or give its start and end with --data FILE"
        else:
            how = ("score the file with `seqae score MODEL FILE -o scores.csv` first, or give it with --data FILE")
        raise DataError(f"{label}: {verdict.names()} is in no scoring or watch run of {hide_credentials(loaded.uri)} "
                        f"(looked in {where_searched(loaded, run_id)}); {how}")
    if found is not None and found.other_model:
        asked = hide_credentials(loaded.uri)
        args = f"--alert {verdict.alert_id} --{verdict.verdict}" if verdict.alert_id is not None else f"--verdicts {where}"
        give = (f"give the verdict to it: `seqae feedback {found.raised_by_uri} {args}`" if found.raised_by_uri
                else "give the verdict to that model")
        raise DataError(f"{label}: {verdict.names()} of {found.source()} was raised by {found.raiser()}, not by "
                        f"{asked}; {give}, or pass --run {found.run_id} to teach {asked} all the same")
    if found is not None:
        alert, rows, source, level = dict(found.alert), found.rows, found.source(), found.level
        if run_id is None:
            source += ", the newest with it"
        missing = [] if rows is None else [c for c in columns if c not in rows.columns]
        if missing:
            raise DataError(f"{label}: {verdict.names()} of {found.source()} has rows without the model's "
                            f"columns {missing}; it was raised by another model: name a run of this one with --run "
                            "RUN_ID, or give the file with --data FILE")
    else:
        alert, rows, source, level = {"alert_id": -1, "start": verdict.start, "end": verdict.end}, None, data, None
    if data is not None:
        table = pd.DataFrame([{"alert_id": 0, "start": alert["start"], "end": alert["end"]}])
        rows = alert_rows(data, table, columns, detector.window_size, options).get(0)
        source = data
    rows = check_rows(rows, verdict, detector.window_size, label)[columns]
    try:
        rows.index = pd.DatetimeIndex(pd.to_datetime(rows.index.astype(str)))
    except (ValueError, TypeError):
        rows = rows.reset_index(drop=True)
    return alert, rows, source, level
