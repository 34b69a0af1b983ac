"""What `seqae score` raised, kept in MLflow for the verdicts given later.

A scoring pass that raised alerts is one small run in the experiment of the model's run (tags
`seqae.kind=scoring`, `seqae.model_run_id`, `seqae.model_uri`): its alert table
(`alerts/alerts.csv`) and each alert's rows with the `window_size - 1` rows before it
(`alerts/rows/<alert_id>.csv`, `seqae.verdicts.alert_rows`), and the level each sensor's readings
were followed at when it fired (`alerts/followed_levels.json`, `Alert.followed_level`), logged in
one batch of artifacts (`seqae.tracking.kept_alerts.write_alerts`, the layout a watch's monitoring run
keeps too). `seqae feedback` finds an alert in the latest such runs of its model
(`seqae.tracking.kept_alerts.find_kept_alert`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
from mlflow.entities import Param
from mlflow.tracking import MlflowClient

from seqae.errors import hide_credentials
from seqae.tracking.kept_alerts import FOLDERS, write_alerts
from seqae.tracking.models import LoadedModel
from seqae.tracking.store import DEFAULT_EXPERIMENT, experiment_id, mlflow_warnings_off, process_tags, reach_store
from seqae.verdicts import alert_rows

FOLDER = FOLDERS["scoring"]  # the artifacts' folder: alerts/


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
        root = Path(tmp) / FOLDER
        write_alerts(root, table, rows, followed_levels)
        client.log_artifacts(run_id, str(root), FOLDER)
    client.set_terminated(run_id)
    return run_id
