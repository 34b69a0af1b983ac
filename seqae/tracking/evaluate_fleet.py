"""A fleet model evaluated on a labelled fleet export: each machine's rows scored by its own detector
and measured as `seqae evaluate` measures a file of those rows alone, then pooled over the fleet.

    labelled fleet CSV --read_fleet_for_detector: each machine's rows as a file of their own-->
      {machine: rows, labels} --every machine checked known (or the fleet's shared fallback) first-->
      per machine: score_detector, labelled_metrics --> one row of the per-machine table
      --seqae.metrics.pooled_decisions--> the fleet's figures: rows, segments and alerts of every
        machine counted together; AUC-PR, VUS-PR and live AUC-PR the mean over the machines

Logged to the fleet's run (a new run when this store has none): the pooled figures as its
`Evaluation/<key>` and `evaluation details/<key>` metrics in one batch, the per-machine table as `evaluation/<file>/per_<machine column>.csv`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from seqae import metrics
from seqae.data import ReadOptions, read_fleet_for_detector
from seqae.errors import DataError, name_list
from seqae.fleet import FleetDetector
from seqae.tracking.labelled import evaluation_run, labelled_metrics, log_evaluation_metrics, score_detector
from seqae.tracking.models import LoadedModel
from seqae.tracking.store import DEFAULT_EXPERIMENT, reach_store, ui_url

OWN, SHARED = "own", "shared"  # the `detector` column: the machine's own detector, or the fleet's fallback


@dataclass
class FleetEvaluation:
    """A fleet's figures on labelled rows (`evaluate_fleet`)."""

    per_asset: pd.DataFrame  # one row per machine, in order of first appearance: the asset column, detector
    #                          (own | shared), n_rows, then `labelled_metrics`' keys
    metrics: dict[str, float]  # `seqae.metrics.pooled_decisions` over the machines
    rows: pd.DataFrame  # the rows read: the asset column, the sensors, the labels (the run's dataset)


@dataclass
class FleetEvaluationResult:
    metrics: dict[str, float]  # pooled over the machines (`FleetEvaluation.metrics`)
    per_asset: pd.DataFrame
    asset_column: str
    run_id: str
    experiment_id: str
    new_run: bool  # True when the fleet had no run in this store and a new one was made
    run_url: str


def evaluate_fleet(fleet: FleetDetector, data_path, *, label_column: str,
                   options: ReadOptions | None = None) -> FleetEvaluation:
    """Each machine of a labelled fleet export scored by its detector (`fleet.detector_for`) and
    measured on its own rows, then pooled. A machine the fleet has no detector for (and no shared
    fallback) stops it before any scoring, in one line naming every such machine."""
    fleet.check_fitted()
    column = fleet.asset_column
    frames, labels = read_fleet_for_detector(fleet, data_path, label_column=label_column, options=options)
    unknown = [asset for asset in frames if asset not in fleet.detectors_]
    if unknown and fleet.fallback_detector_ is None:
        known = fleet.assets_
        raise DataError(f"{data_path}: {column} {name_list(unknown)} {'has' if len(unknown) == 1 else 'have'} no "
                        f"detector in this model (it has {len(known)}: {name_list(known)}); drop their rows from "
                        f"the file, or fit the fleet on them too (a fleet fitted with `seqae fit --fallback shared` "
                        f"evaluates them with its shared detector)")
    table, results, counts, rows = [], [], [], []
    for asset, frame in frames.items():
        detector = fleet.detector_for(asset)
        where = f"{data_path}, {column} {asset!r}"
        detection = score_detector(detector, frame, where)
        y = labels[asset][label_column].to_numpy()
        values, alert_counts = labelled_metrics(y, detection, detector.find_alerts(detection), return_alert_counts=True)
        table.append({column: asset, "detector": OWN if asset in fleet.detectors_ else SHARED, "n_rows": len(frame),
                      **values})
        results.append(values)
        counts.append(alert_counts)
        rows.append(frame.assign(**{label_column: y}).assign(**{column: asset})[[column, *frame.columns, label_column]])
    return FleetEvaluation(pd.DataFrame(table), metrics.pooled_decisions(results, counts), pd.concat(rows))


def evaluate_fleet_and_log(loaded: LoadedModel, model_uri: str, data_path, *, label_column: str,
                           options: ReadOptions | None = None, experiment: str = DEFAULT_EXPERIMENT,
                           run_name: str | None = None) -> FleetEvaluationResult:
    """`evaluate_fleet` of the fleet `loaded` holds, logged to the fleet's run (a new run in
    `experiment` when this store has none): the pooled figures as metrics, the per-machine table."""
    fleet = loaded.detector
    store = reach_store()
    evaluation = evaluate_fleet(fleet, data_path, label_column=label_column, options=options)
    path = Path(data_path)
    model_type = f"fleet:{fleet.spec.model_type if fleet.spec is not None else 'auto'}"
    params = {"asset_column": fleet.asset_column, "n_assets": len(fleet.detectors_),
              "fallback": "shared" if fleet.fallback_detector_ is not None else "(none)"}
    with evaluation_run(loaded, model_uri, path, store=store, experiment=experiment, run_name=run_name,
                        model_type=model_type, params=params) as run:
        log_evaluation_metrics(evaluation.metrics, evaluation.rows, path, run.model_id)
        MlflowClient().log_text(run.run_id, evaluation.per_asset.to_csv(index=False),
                                f"evaluation/{path.stem}/per_{fleet.asset_column}.csv")
    return FleetEvaluationResult(evaluation.metrics, evaluation.per_asset, fleet.asset_column, run.run_id,
                                 run.experiment_id, run.new_run, ui_url(run.experiment_id, run.run_id))
