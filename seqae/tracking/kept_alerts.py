"""A model's alerts kept in MLflow for the verdicts given later: how a run keeps them, and finding one.

Two kinds of run keep the alerts a model raised, in the experiment of the model's run (tag
`seqae.model_run_id`), each under its own folder of artifacts:

    `seqae score` (tag seqae.kind=scoring, `seqae.tracking.scoring_runs`)      alerts/
    `seqae watch` (tag seqae.kind=monitoring, `seqae.tracking.monitor`)       monitoring/

and the same layout in it (`write_alerts`): the alert table (`alerts.csv`), each alert's rows with
the `window_size - 1` rows before it (`rows/<alert_id>.csv`, at most `seqae.verdicts.MAX_ALERT_ROWS`
of its own) and each sensor's followed level when it fired (`followed_levels.json`: alert id ->
levels, `Alert.followed_level`).

A watch following `models:/NAME@ALIAS` answers with each version the alias moves to: its run names
the models' runs it answered with (tag `seqae.model_run_ids`, `FOLLOWED_TAG`) and its alert table
the model that raised each alert (columns `RAISED_BY`: `model_uri`, `model_run_id`; a table logged
before them, or a cell left empty, has the run's `seqae.model_run_id` as the raiser).

`find_kept_alert` looks an alert up in the latest runs of both kinds of a model and the latest
watch runs that answered with it, newest first, and takes it from the first that has it raised by
the model (an alert another version raised is not taught to this one unless named with --run); or
in one run named by its id (when several runs have an alert with that id: a watch restarted
without its state counts alert ids from 0 again).
"""

from __future__ import annotations

import dataclasses
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
FOLLOWED_TAG = "seqae.model_run_ids"  # a watch run's tag: the runs of the models it answered with, comma-separated
RAISED_BY = ("model_uri", "model_run_id")  # a watch's alert table: the model that raised each alert


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
    raised_by_uri: str = ""  # the model that raised it ("": not kept; the run's model)
    raised_by_run: str = ""  # its run's id ("": not known)
    other_model: bool = False  # found only as raised by another model than the one asked about

    def source(self) -> str:
        """The run, as a user reads it: `watch run 3f2a... (watch data.csv)`."""
        return f"{KIND_NAMES[self.kind]} {self.run_id}" + (f" ({self.run_name})" if self.run_name else "")

    def raiser(self) -> str:
        """The model that raised it, as a user reads it: `models:/pump/1` or `the model of run 3f2a...`."""
        return self.raised_by_uri or f"the model of run {self.raised_by_run}"


def find_kept_alert(loaded: LoadedModel, verdict: Verdict, run_id: str | None = None) -> KeptAlert | None:
    """The alert `verdict` names, in the newest of the latest `RUNS_SEARCHED` scoring runs,
    `RUNS_SEARCHED` monitoring runs of `loaded`'s model and `RUNS_SEARCHED` monitoring runs that
    answered with it after a switch that has it raised by that model, or in run `run_id` alone
    (whoever raised it); None when none has it. Where the runs searched have it only as raised by
    another model: the newest of those, `other_model` set (the caller says which model to give the
    verdict to). A `ConfigError` when `run_id` is no run of the store, or a run that keeps no alerts."""
    client = MlflowClient()
    if run_id is not None:
        runs = [_named_run(client, run_id)]
    elif not loaded.run_id:
        return None
    else:
        try:
            client.get_run(loaded.run_id)
        except Exception:  # the model's run lives in another store
            return None
        runs = _runs_of(client, loaded.run_id)
    other = None
    with tempfile.TemporaryDirectory(prefix="seqae-verdict-") as tmp:
        for run in runs:
            kind = run.data.tags.get("seqae.kind")
            found = _in_run(client, run.info.run_id, FOLDERS[kind], verdict, tmp)
            if found is None:
                continue
            alert = found[0]
            raised_by_run = _cell(alert, "model_run_id") or run.data.tags.get("seqae.model_run_id", "")
            kept = KeptAlert(*found, run.info.run_id, kind, run.data.tags.get("mlflow.runName", ""),
                             _cell(alert, "model_uri"), raised_by_run)
            if run_id is not None or raised_by_run == loaded.run_id:
                return kept
            other = other or dataclasses.replace(kept, other_model=True)
    return other


def where_searched(loaded: LoadedModel, run_id: str | None = None) -> str:
    """Where `find_kept_alert` looked, for the message of an alert it did not find."""
    if run_id is not None:
        return f"run {run_id}"
    if not loaded.run_id:
        return f"no run: {loaded.uri} has no MLflow run in this store to link scoring and watch runs to"
    return (f"the latest {RUNS_SEARCHED} `seqae score` and {RUNS_SEARCHED} `seqae watch` runs of the model's run "
            f"{loaded.run_id}, and the latest {RUNS_SEARCHED} `seqae watch` runs that switched to it")


def _runs_of(client: MlflowClient, model_run_id: str) -> list:
    """The runs that may keep alerts of the model of run `model_run_id`, newest first: its latest
    scoring and monitoring runs (in its experiment, tag `seqae.model_run_id`) and the latest
    monitoring runs that answered with it (in any experiment, `FOLLOWED_TAG`)."""
    experiment = client.get_run(model_run_id).info.experiment_id
    runs = {}
    for kind in FOLDERS:
        for run in client.search_runs([experiment], filter_string=f"tags.`seqae.kind` = '{kind}' and "
                                                                  f"tags.`seqae.model_run_id` = '{model_run_id}'",
                                      order_by=["attributes.start_time DESC"], max_results=RUNS_SEARCHED):
            runs[run.info.run_id] = run
    experiments = [e.experiment_id for e in client.search_experiments()]
    for run in client.search_runs(experiments, filter_string=f"tags.`seqae.kind` = 'monitoring' and "
                                                             f"tags.`{FOLLOWED_TAG}` LIKE '%{model_run_id}%'",
                                  order_by=["attributes.start_time DESC"], max_results=RUNS_SEARCHED):
        runs.setdefault(run.info.run_id, run)
    return sorted(runs.values(), key=lambda run: run.info.start_time or 0, reverse=True)


def _cell(alert: pd.Series, column: str) -> str:
    """A text cell of an alert's row, "" where the table has no such column or the cell is empty."""
    value = alert.get(column)
    return "" if value is None or pd.isna(value) else str(value)


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
        table = pd.read_csv(client.download_artifacts(run_id, f"{folder}/alerts.csv", tmp),
                            dtype={column: str for column in RAISED_BY})  # a run id of digits stays text
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
