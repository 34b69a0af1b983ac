"""Everything that talks to MLflow (with `seqae.serving`'s servers); nothing else in seqae imports it.

    store.py          where runs live (MLFLOW_TRACKING_URI, or SQLite in ./mlruns), experiments, the
                      UI's addresses, a run as this process logs it, logging helpers
    sqlite_store.py   a local SQLite store, created whole or not at all
    runs.py           the runs table of `seqae runs`: child runs counted, dead runs marked
    metric_names.py   the metrics' names, `<section>/<key>`, in the order the MLflow run page shows them
    fit.py            a fit as a run: params, losses, threshold, summaries, dataset, plots, the model
    fit_files.py      `seqae fit`: files read and fitted as one run (or a fleet), the options' rules
    score_files.py    `seqae score`: any model URI loaded and a file scored with it
    models.py         the detector as an MLflow pyfunc model from code, and any model URI loaded back
    pyfunc_model.py   the served model (MLflow loads it from code)
    evaluate.py       scoring labelled data as an evaluation run
    evaluate_fleet.py the same for a fleet model: per machine, and pooled over the machines
    labelled.py       what both share: a detection's metrics on labelled rows, the evaluation run
    pipeline_runs.py  `seqae run`: a parent run and a child run per file and seed
    parent_runs.py    a parent run with finished child runs, for runs logged from outside (a fleet's)
    monitor.py        `seqae watch`: a monitoring run per watch, linked to the model's run
    kept_alerts.py    the alerts a scoring or monitoring run keeps for `seqae feedback`, and finding one
    watch.py          `seqae watch`: the model loaded, its state read back, the feed followed and monitored
"""

import importlib

# Each name is imported from its module on first use (PEP 562), so that a command that needs only the
# store (`seqae runs`, `seqae ui`) does not import the detectors, torch and scikit-learn with it.
_HOMES = {
    "DEFAULT_EXPERIMENT": "store", "STORE_DIR": "store", "UI_HOST": "store", "UI_PORT": "store",
    "Store": "store", "as_metrics": "store", "csv_dataset": "store", "experiment_id": "store",
    "flat_params": "store", "how_to_view": "store", "log_metrics": "store", "quiet_mlflow": "store",
    "resolve_store": "store", "ui_url": "store", "use_store": "store", "reach_store": "store",
    "check_server": "store",
    "process_tags": "store", "process_gone": "store", "storage_failure": "store", "tracked_run": "store",
    "prepare_sqlite_store": "sqlite_store",
    "runs_table": "runs", "format_runs": "runs", "mark_dead_runs": "runs",
    "MODEL_NAME": "models", "LoadedModel": "models", "alias_of": "models", "alias_version": "models",
    "check_alias": "models", "load_detector": "models",
    "load_model": "models", "load_pyfunc_model": "models", "log_detector_model": "models",
    "log_fleet_model": "models", "model_requirements": "models", "warn_environment_mismatches": "models",
    "FitResult": "fit", "fit_and_log": "fit", "fit_auto_and_log": "fit", "fit_files_and_log": "fit_files",
    "score_model_csv": "score_files", "watch_model": "watch",
    "ParentRun": "parent_runs", "parent_run": "parent_runs",
    "EvaluationResult": "evaluate", "evaluate_and_log": "evaluate", "score_detector": "labelled",
    "FleetEvaluationResult": "evaluate_fleet", "evaluate_fleet": "evaluate_fleet",
    "PipelineRunLogger": "pipeline_runs", "start_pipeline_run": "pipeline_runs",
    "MonitoringRun": "monitor", "expected_share": "monitor",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'seqae.tracking' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"seqae.tracking.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
