"""Everything that talks to MLflow (with `seqae.serving`'s servers); nothing else in seqae imports it.

    store.py          where runs live (MLFLOW_TRACKING_URI, or SQLite in ./mlruns), experiments, the
                      UI's addresses, the runs table, logging helpers
    fit.py            a fit as a run: params, losses, threshold, summaries, dataset, plots, the model
    fleet_runs.py     a fleet fit: a parent run with the fleet as one model, a child run per asset
    models.py         the detector as an MLflow pyfunc model from code, and any model URI loaded back
    pyfunc_model.py   the served model (MLflow loads it from code)
    evaluate.py       scoring labelled data as an evaluation run
    pipeline_runs.py  `seqae run`: a parent run and a child run per file and seed
    spark_runs.py     a fleet fitted on Spark executors: a parent run with the fleet as one model
    monitor.py        `seqae watch`: a monitoring run per watch, linked to the model's run
"""

from seqae.tracking.store import (DEFAULT_EXPERIMENT, STORE_DIR, UI_HOST, UI_PORT, Store, as_metrics, csv_dataset,
                                  experiment_id, flat_params, how_to_view, log_metrics, quiet_mlflow, resolve_store,
                                  runs_table, ui_url, use_store)
from seqae.tracking.models import (MODEL_NAME, LoadedModel, check_alias, load_detector, load_model, load_pyfunc_model,
                                   log_detector_model, log_fleet_model, model_requirements,
                                   warn_environment_mismatches)
from seqae.tracking.fit import FitResult, fit_and_log, fit_auto_and_log
from seqae.tracking.fleet_runs import FleetFitResult, fit_fleet_and_log
from seqae.tracking.evaluate import EvaluationResult, evaluate_and_log, score_detector
from seqae.tracking.pipeline_runs import PipelineRunLogger, start_pipeline_run
from seqae.tracking.spark_runs import log_fitted_fleet
from seqae.tracking.monitor import MonitoringRun, expected_share

__all__ = [
    "DEFAULT_EXPERIMENT", "MODEL_NAME", "STORE_DIR", "UI_HOST", "UI_PORT", "EvaluationResult", "FitResult",
    "FleetFitResult", "LoadedModel", "MonitoringRun", "PipelineRunLogger", "Store", "as_metrics", "check_alias",
    "csv_dataset", "evaluate_and_log", "expected_share", "experiment_id", "fit_and_log", "fit_auto_and_log",
    "fit_fleet_and_log", "flat_params", "how_to_view", "load_detector", "load_model", "load_pyfunc_model",
    "log_detector_model", "log_fitted_fleet", "log_fleet_model", "log_metrics", "model_requirements", "quiet_mlflow",
    "resolve_store", "runs_table", "score_detector", "start_pipeline_run", "ui_url", "use_store",
    "warn_environment_mismatches",
]
