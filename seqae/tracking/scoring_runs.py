"""What `seqae score` raised, kept in MLflow for the verdicts given later.

A scoring pass that raised alerts is one small run in the experiment of the model's run (tags
`seqae.kind=scoring`, `seqae.model_run_id`, `seqae.model_uri`): its alert table
(`alerts/alerts.csv`) and each alert's rows with the `window_size - 1` rows before it
(`alerts/rows/<alert_id>.csv`, `seqae.verdicts.alert_rows`), and the level each sensor's readings
were followed at when it fired (`alerts/followed_levels.json`, `Alert.followed_level`), logged in
one batch of artifacts.
`seqae feedback` finds an alert in the latest such run of its model (`find_scored_alert`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

from seqae.errors import hide_credentials
from seqae.tracking.models import LoadedModel
from seqae.tracking.store import DEFAULT_EXPERIMENT, experiment_id, mlflow_warnings_off, process_tags, reach_store
from seqae.verdicts import Verdict, alert_rows, find_alert

ALERTS_ARTIFACT = "alerts/alerts.csv"
ROWS_DIR = "alerts/rows"
LEVELS_ARTIFACT = "alerts/followed_levels.json"
RECORDS_SEARCHED = 20  # scoring runs of a model looked through for an alert, newest first


def model_experiment(client: MlflowClient, loaded: LoadedModel, experiment: str = DEFAULT_EXPERIMENT) -> str:
    """The experiment of the model's run, or `experiment` for a model without a run in this store."""
    if loaded.run_id:
        try:
            return client.get_run(loaded.run_id).info.experiment_id
        except Exception:  # the model's run lives in another store
            pass
    return experiment_id(experiment)


def log_scored_alerts(loaded: LoadedModel, data: str | os.PathLike, table: pd.DataFrame, options=None,
                      experiment: str = DEFAULT_EXPERIMENT, followed_levels: dict | None = None) -> str | None:
    """Keep `table` (the alerts of scoring `data` with `loaded`), each alert's rows and `followed_levels`
    (alert id -> each sensor's followed level when it fired) as a finished scoring run; returns its
    id (None when there was no alert: nothing is logged)."""
    if table.empty:
        return None
    detector = loaded.detector
    rows = alert_rows(data, table, list(detector.feature_names_in_), detector.window_size, options)
    reach_store()
    client = MlflowClient()
    tags = {"seqae.kind": "scoring", "seqae.model_uri": hide_credentials(loaded.uri), "seqae.source":
            os.path.abspath(os.fspath(data)), **process_tags()}
    if loaded.run_id:
        tags["seqae.model_run_id"] = loaded.run_id
    if loaded.model_id:
        tags["seqae.model_id"] = str(loaded.model_id)
    with mlflow_warnings_off():
        run = client.create_run(model_experiment(client, loaded, experiment),
                                run_name=f"score {Path(data).name}", tags=tags)
    run_id = run.info.run_id
    client.log_batch(run_id, params=[Param("model_uri", hide_credentials(loaded.uri)),
                                     Param("n_alerts", str(len(table)))])
    with tempfile.TemporaryDirectory(prefix="seqae-alerts-") as tmp:
        root = Path(tmp) / "alerts"
        (root / "rows").mkdir(parents=True)
        table.to_csv(root / "alerts.csv", index=False)
        if followed_levels:
            (root / "followed_levels.json").write_text(json.dumps({str(k): v for k, v in followed_levels.items()}))
        for alert_id, frame in rows.items():
            frame.rename_axis(frame.index.name or "time").to_csv(root / "rows" / f"{alert_id}.csv")
        client.log_artifacts(run_id, str(root), "alerts")
    client.set_terminated(run_id)
    return run_id


def find_scored_alert(loaded: LoadedModel,
                      verdict: Verdict) -> tuple[pd.Series, pd.DataFrame | None, str, list | None] | None:
    """(the alert's row of its table, its rows or None, the scoring run's id, each sensor's followed
    level when it fired or None) of the newest scoring run of `loaded`'s model that raised the alert
    `verdict` names; None when none did."""
    if not loaded.run_id:
        return None
    client = MlflowClient()
    try:
        experiment = client.get_run(loaded.run_id).info.experiment_id
    except Exception:
        return None
    runs = client.search_runs([experiment], filter_string=f"tags.`seqae.kind` = 'scoring' and "
                                                          f"tags.`seqae.model_run_id` = '{loaded.run_id}'",
                              order_by=["attributes.start_time DESC"], max_results=RECORDS_SEARCHED)
    with tempfile.TemporaryDirectory(prefix="seqae-verdict-") as tmp:
        for run in runs:
            try:
                path = client.download_artifacts(run.info.run_id, ALERTS_ARTIFACT, tmp)
            except Exception:
                continue
            alert = find_alert(pd.read_csv(path), verdict)
            if alert is None:
                continue
            level = _level(client, run.info.run_id, int(alert["alert_id"]), tmp)
            try:
                rows_path = client.download_artifacts(run.info.run_id, f"{ROWS_DIR}/{int(alert['alert_id'])}.csv", tmp)
            except Exception:
                return alert, None, run.info.run_id, level
            return alert, pd.read_csv(rows_path, index_col=0), run.info.run_id, level
    return None


def _level(client: MlflowClient, run_id: str, alert_id: int, tmp: str) -> list | None:
    """Alert `alert_id`'s followed level kept by scoring run `run_id`; None where it kept none."""
    try:
        with open(client.download_artifacts(run_id, LEVELS_ARTIFACT, tmp)) as handle:
            return json.load(handle).get(str(alert_id))
    except Exception:  # a run logged without levels, or one it cannot read: the training level stands
        return None
