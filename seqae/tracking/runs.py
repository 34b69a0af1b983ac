"""The runs table of `seqae runs`: an experiment's latest runs, the model each logged, child runs
counted on their parent's line (auto's candidates, a fleet's machines, a pipeline's files and seeds),
and the runs whose process died marked.

A run still RUNNING whose process (`store.process_tags`) no longer runs on this machine is ended
KILLED in the store and tagged `seqae.dead`, with its RUNNING child runs; the table shows it as
`dead`, not as a run that is still going. `format_runs` fits the table to a terminal's width (120
columns by default): the short run id, a name cut to fit, and the columns that fit, in order of use;
`wide=True` shows every column and lists the child runs under their parent.
"""

from __future__ import annotations

import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from seqae.tracking.metric_names import flat_name
from seqae.tracking.store import DEFAULT_EXPERIMENT, experiment_id, process_gone, reach_store

RUN_COLUMNS = {  # what a column shows -> its header (the run's own fields, then its params and metrics)
    "run_id": "run_id",
    "name": "name",
    "status": "status",
    "started": "started",
    "params.model_type": "model",
    "model_uri": "model_uri",
    "metrics.Evaluation/auc_pr": "eval_auc_pr",
    "metrics.scores/threshold": "threshold",
    "metrics.evaluation details/f1": "eval_f1",
    "params.window_size": "window",
    "params.epochs": "epochs",
    "params.n_train_rows": "train_rows",
    "metrics.training/best_validation_loss": "best_val_loss",
    "metrics.evaluation details/far": "eval_far_%",
}

NARROW_COLUMNS = ("run_id", "name", "status", "started", "model", "model_uri")  # kept however narrow

DEAD_TAG = "seqae.dead"

DEAD = "dead"  # the status shown for a run whose process ended without ending it

SHORT_ID = 8  # characters of the run id in the narrow table

NAME_WIDTH = 32  # the narrow table cuts a longer name, to leave room for other columns

MIN_NAME = 12  # and to no fewer characters, however narrow the table

MAX_CHILDREN = 50_000  # MLflow's most runs one search returns


def runs_table(experiment: str = DEFAULT_EXPERIMENT, limit: int = 20) -> pd.DataFrame:
    """The latest `limit` top-level runs of `experiment`, newest first, with their child runs after
    each (column `parent`: the parent's run id; `children`: how many a run has). Runs whose process
    died are marked first (`mark_dead_runs`). seqae's own experiment, before a run made it, has
    no runs; another experiment that does not exist is a `ConfigError`."""
    store = reach_store()
    client = MlflowClient()
    if experiment == DEFAULT_EXPERIMENT and client.get_experiment_by_name(experiment) is None:
        return pd.DataFrame(columns=[*RUN_COLUMNS.values(), "parent", "children"])
    exp_id = experiment_id(experiment, store, create=False)
    parents = client.search_runs([exp_id], "tags.mlflow.parentRunId IS NULL", max_results=limit,
                                 order_by=["attributes.start_time DESC"])
    if not parents:
        return pd.DataFrame(columns=[*RUN_COLUMNS.values(), "parent", "children"])
    oldest = min(run.info.start_time for run in parents)
    listed = {run.info.run_id for run in parents}
    children: dict[str, list[Run]] = {}
    for child in client.search_runs([exp_id], f"tags.mlflow.parentRunId IS NOT NULL AND "
                                              f"attributes.start_time >= {oldest}", max_results=MAX_CHILDREN,
                                    order_by=["attributes.start_time ASC"]):
        parent = child.data.tags["mlflow.parentRunId"]
        if parent in listed:
            children.setdefault(parent, []).append(child)
    dead = mark_dead_runs(client, parents, children)
    rows = []
    for run in parents:
        kids = children.get(run.info.run_id, [])
        rows.append(_row(run, dead, parent=None, n_children=len(kids)))
        rows += [_row(kid, dead, parent=run.info.run_id, n_children=0) for kid in kids]
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS.values(), "parent", "children"])


def mark_dead_runs(client: MlflowClient, runs: list[Run], children: dict[str, list[Run]]) -> set[str]:
    """End KILLED (and tag `seqae.dead`) each RUNNING run of `runs` whose process is gone, with its
    RUNNING child runs; returns the ids of every run marked dead, now or before."""
    dead = {run.info.run_id for group in (runs, *children.values()) for run in group
            if run.data.tags.get(DEAD_TAG) == "true"}
    for run in runs:
        kids = [kid for kid in children.get(run.info.run_id, []) if kid.info.status == "RUNNING"]
        if run.info.status == "RUNNING" and process_gone(run.data.tags):
            doomed = [run, *kids]
        else:
            doomed = [kid for kid in kids if process_gone(kid.data.tags)]
        for gone in doomed:
            dead.add(gone.info.run_id)
            try:
                client.set_tag(gone.info.run_id, DEAD_TAG, "true")
                client.set_terminated(gone.info.run_id, "KILLED")
            except MlflowException:  # a store that cannot be written now (a full disk): shown dead all the same
                pass
    return dead


def _row(run: Run, dead: set[str], parent: str | None, n_children: int) -> list:
    info, data = run.info, run.data
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    values = {"run_id": info.run_id, "name": info.run_name or data.tags.get("mlflow.runName", ""),
              "status": DEAD if info.run_id in dead else info.status,
              "started": pd.Timestamp(info.start_time, unit="ms").strftime("%Y-%m-%d %H:%M:%S"),
              # a run that did not finish may have begun to log a model it never completed
              "model_uri": f"models:/{outputs[-1].model_id}" if outputs and info.status == "FINISHED" else None}
    for key in RUN_COLUMNS:
        kind, _, name = key.partition(".")
        if kind == "params":
            values[key] = data.params.get(name)
        elif kind == "metrics":
            # the runs of an older store have the metric under its flat name (`eval_auc_pr`)
            values[key] = data.metrics.get(name, data.metrics.get(flat_name(name)))
    return [values.get(key) for key in RUN_COLUMNS] + [parent, n_children]


def format_runs(table: pd.DataFrame, width: int = 120, wide: bool = False) -> str:
    """`runs_table` as text. Narrow (the default): top-level runs only, each line at most `width`
    characters: the first 8 characters of the run id, the name cut to fit (its child runs counted
    after it, `(+5)`), status, start to the minute, model type and model URI, then as many of the
    other columns as fit, in `RUN_COLUMNS`' order; a note under the table explains the marks it
    shows. `wide`: every column whole, child runs under their parent."""
    if wide:
        names = [("  └ " if isinstance(parent, str) else "") + str(name)
                 for name, parent in zip(table["name"], table["parent"])]
        return _text(table.assign(name=names).drop(columns=["parent", "children"]))
    show = table[table["parent"].isna()].drop(columns=["parent"])
    counts = [f" (+{n})" if n else "" for n in show["children"]]  # kept whole when the name is cut
    names = [str(name) for name in show["name"]]
    show = show.assign(run_id=show["run_id"].str[:SHORT_ID], started=show["started"].str[:16])
    show = show.drop(columns=["children"]).rename(columns={"run_id": "run"})
    required = ["run", *NARROW_COLUMNS[1:]]
    optional = [c for c in show.columns if c not in required and show[c].notna().any()]
    name_width = max(MIN_NAME, min(max(len(n) + len(c) for n, c in zip(names, counts)), NAME_WIDTH))
    while True:
        text = _text(show[[c for c in show.columns if c in required or c in optional]]
                     .assign(name=[_cut(n, name_width - len(c)) + c for n, c in zip(names, counts)]))
        if max(len(line) for line in text.splitlines()) <= width:
            break
        if optional:
            optional.pop()
        elif name_width > MIN_NAME:
            name_width -= 1
        else:
            break
    notes = []
    if (table["children"] > 0).any():
        notes.append("(+N): the run's child runs (auto's candidates, a fleet's machines, a pipeline's files); "
                     "--wide lists them")
    if (table["status"] == DEAD).any():
        notes.append("dead: its process ended without ending the run (killed, or its machine stopped); "
                     "marked KILLED")
    return "\n".join([text, *notes])


def _text(table: pd.DataFrame) -> str:
    """A plain table: text columns to the left, numbers to the right, a missing value as `-`."""
    columns = []
    for header in table.columns:
        cells = [_cell(v) for v in table[header]]
        size = max(len(header), *(len(c) for c in cells))
        right = header not in ("run", *NARROW_COLUMNS)  # the params and metrics
        columns.append([(c.rjust(size) if right else c.ljust(size)) for c in [header, *cells]])
    return "\n".join(" ".join(row).rstrip() for row in zip(*columns))


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
