"""A model's alerts kept in MLflow for the verdicts given later: how a run keeps them, and finding one.

Two kinds of run keep the alerts a model raised, in the experiment of the model's run (tag
`seqae.model_run_id`), each under its own folder of artifacts:

    `seqae score` (tag seqae.kind=scoring, `seqae.tracking.scoring_runs`)      alerts/
    `seqae watch` (tag seqae.kind=monitoring, `seqae.tracking.monitor`)       monitoring/

and the same layout in it (`write_alerts`): the alert table (`alerts.csv`), each alert's rows with
the `window_size - 1` rows before it (`rows/<alert_id>.csv`, at most `seqae.verdicts.MAX_ALERT_ROWS`
of its own) and each sensor's followed level when it fired (`followed_levels.json`: alert id ->
levels, `Alert.followed_level`).

`find_kept_alert` looks an alert up in the latest runs of both kinds of a model, newest first, or in
one run named by its id (when several runs have an alert with that id: a watch restarted without
its state counts alert ids from 0 again).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from seqae.errors import ConfigError
from seqae.tracking.models import LoadedModel
from seqae.verdicts import Verdict, find_alert

FOLDERS = {"scoring": "alerts", "monitoring": "monitoring"}  # a run's kind -> the folder of its alerts
KIND_NAMES = {"scoring": "scoring run", "monitoring": "watch run"}
RUNS_SEARCHED = 20  # runs of each kind of a model looked through for an alert, newest first


def write_alerts(folder: str | Path, table: pd.DataFrame | None, rows: dict[int, pd.DataFrame],
                 followed_levels: dict | None) -> None:
    """Write into `folder` (created) the alert `table` (None: not this time), the `rows` of each alert
    (alert id -> its rows, a time index) and `followed_levels` (alert id -> each sensor's level; None
    or empty: none), as `find_kept_alert` reads them."""
    root = Path(folder)
    (root / "rows").mkdir(parents=True, exist_ok=True)
    if table is not None:
        table.to_csv(root / "alerts.csv", index=False)
    if followed_levels:
        (root / "followed_levels.json").write_text(json.dumps({str(k): v for k, v in followed_levels.items()}))
    for alert_id, frame in rows.items():
        frame.rename_axis(frame.index.name or "time").to_csv(root / "rows" / f"{int(alert_id)}.csv")


@dataclass
class KeptAlert:
    """An alert found in a run: its row of the alert table, its rows (None: the run kept none), each
    sensor's followed level when it fired (None: not kept), and the run."""

    alert: pd.Series
    rows: pd.DataFrame | None
    level: list | None
    run_id: str
    kind: str  # scoring | monitoring
    run_name: str = ""

    def source(self) -> str:
        """The run, as a user reads it: `watch run 3f2a... (watch data.csv)`."""
        return f"{KIND_NAMES[self.kind]} {self.run_id}" + (f" ({self.run_name})" if self.run_name else "")


def find_kept_alert(loaded: LoadedModel, verdict: Verdict, run_id: str | None = None) -> KeptAlert | None:
    """The alert `verdict` names, in the newest of the latest `RUNS_SEARCHED` scoring runs and
    `RUNS_SEARCHED` monitoring runs of `loaded`'s model that has it, or in run `run_id` alone; None
    when none has it. A `ConfigError` when `run_id` is no run of the store, or a run that keeps no alerts."""
    client = MlflowClient()
    if run_id is not None:
        runs = [_named_run(client, run_id)]
    elif not loaded.run_id:
        return None
    else:
        try:
            experiment = client.get_run(loaded.run_id).info.experiment_id
        except Exception:  # the model's run lives in another store
            return None
        runs = []
        for kind in FOLDERS:
            runs += client.search_runs([experiment], filter_string=f"tags.`seqae.kind` = '{kind}' and "
                                                                   f"tags.`seqae.model_run_id` = '{loaded.run_id}'",
                                       order_by=["attributes.start_time DESC"], max_results=RUNS_SEARCHED)
        runs.sort(key=lambda run: run.info.start_time or 0, reverse=True)
    with tempfile.TemporaryDirectory(prefix="seqae-verdict-") as tmp:
        for run in runs:
            kind = run.data.tags.get("seqae.kind")
            found = _in_run(client, run.info.run_id, FOLDERS[kind], verdict, tmp)
            if found is not None:
                return KeptAlert(*found, run.info.run_id, kind, run.data.tags.get("mlflow.runName", ""))
    return None


def where_searched(loaded: LoadedModel, run_id: str | None = None) -> str:
    """Where `find_kept_alert` looked, for the message of an alert it did not find."""
    if run_id is not None:
        return f"run {run_id}"
    if not loaded.run_id:
        return f"no run: {loaded.uri} has no MLflow run in this store to link scoring and watch runs to"
    return (f"the latest {RUNS_SEARCHED} `seqae score` and {RUNS_SEARCHED} `seqae watch` runs of the model's run "
            f"{loaded.run_id}")


def _named_run(client: MlflowClient, run_id: str):
    try:
        run = client.get_run(run_id)
    except Exception:
        raise ConfigError(f"--run {run_id}: no such run in this store; give the id of a `seqae score` or "
                          "`seqae watch` run (`seqae runs` lists them)") from None
    kind = run.data.tags.get("seqae.kind", "")
    if kind not in FOLDERS:
        raise ConfigError(f"--run {run_id}: a {kind or 'plain'} run, which keeps no alerts; give the id of a "
                          "`seqae score` or `seqae watch` run")
    return run


def _in_run(client: MlflowClient, run_id: str, folder: str, verdict: Verdict,
            tmp: str) -> tuple[pd.Series, pd.DataFrame | None, list | None] | None:
    """(the alert's row of the table, its rows or None, its followed level or None) in run `run_id`,
    or None where the run has no such alert."""
    try:
        table = pd.read_csv(client.download_artifacts(run_id, f"{folder}/alerts.csv", tmp))
    except Exception:  # a run that logged no table (yet)
        return None
    alert = find_alert(table, verdict)
    if alert is None:
        return None
    alert_id = int(alert["alert_id"])
    try:
        with open(client.download_artifacts(run_id, f"{folder}/followed_levels.json", tmp)) as handle:
            level = json.load(handle).get(str(alert_id))
    except Exception:  # a run logged without levels: the training level stands
        level = None
    try:
        rows = pd.read_csv(client.download_artifacts(run_id, f"{folder}/rows/{alert_id}.csv", tmp), index_col=0)
    except Exception:  # a run that kept no rows of it
        rows = None
    return alert, rows, level
