"""A fleet fit as MLflow runs: one parent run holding the fleet as ONE model, a child run per asset.

    fit_fleet_from_files   `seqae fit FLEET.csv --asset-column NAME`: the export read, the fleet's
                           rules applied (one export, --jobs by default the CPUs it may use, no
                           progress bar per worker), then `fit_fleet_and_log`
    fit_fleet_and_log      a fleet fitted here, on each asset's training rows, inside a new run
    log_fitted_fleet       a fleet fitted elsewhere (each asset on a Spark executor) as the same runs

    parent run: the fit spec, the asset column, how many assets, the fleet export as its dataset
      (fitted here), the per-asset table (fleet/assets.csv), the wall time of the whole fit and
      the assets' own times added up, and ONE model (`seqae.tracking.log_fleet_model`),
      registered on request
    child run per asset (and one for the shared fallback detector): its detector's parameters,
      what auto chose and why, its threshold, score quantiles, training alert counts, fit seconds

MLflow itself is `seqae.tracking`'s (`parent_run`); nothing here imports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import seqae
from seqae import tracking
from seqae.data import FleetTrainingData, ReadOptions, read_fleet_training
from seqae.errors import ConfigError, about_file
from seqae.fleet.detector import FleetDetector
from seqae.fleet.spec import SHARED, FitSpec, FittedAsset
from seqae.tracking.metric_names import named
from seqae.workers import available_cpus

SCORE_QUANTILES = (50, 90, 99)  # the percentiles of each asset's training scores its child run gets


@dataclass
class FleetFitResult:
    fleet: FleetDetector
    run_id: str  # the parent run
    experiment_id: str
    model_uri: str  # models:/m-<id>: the whole fleet as one model
    registered_uri: str | None
    fit_seconds: float  # wall time of fitting every asset (in parallel processes)
    asset_seconds: float  # the assets' own fit times added up: what one process would take
    child_run_ids: dict[str, str]  # asset (or "(shared)") -> its child run
    table: pd.DataFrame  # one row per asset: rows, model type, threshold, fit seconds, auto's choice
    run_url: str
    n_train_rows: int  # the assets' training rows (the shared detector's counted once, with theirs)

    def summary(self) -> str:
        """One line: what was fitted on what, in how long, with how many processes."""
        fleet, column = self.fleet, self.fleet.asset_column
        kinds = self.table[self.table[column] != SHARED]["model_type"].value_counts()
        chosen = ", ".join(f"{kind} for {count}" for kind, count in kinds.items())
        shared = " and a shared fallback detector" if fleet.fallback_detector_ is not None else ""
        processes = min(fleet.n_jobs, len(self.table))
        return (f"Fitted {len(fleet.detectors_)} {column}s ({chosen}){shared} on {self.n_train_rows} rows x "
                f"{fleet.n_features_in_} sensors in {self.fit_seconds:.1f} s with {processes} process"
                f"{'es' if processes > 1 else ''} (their fits take {self.asset_seconds:.1f} s one after another)")


def refuse_fleet_options(*, fallback: str | None = None, jobs: int | None = None) -> None:
    """A one-line `ConfigError` for a fleet's option given to a fit of one model (no --asset-column)."""
    if fallback is not None or jobs is not None:
        option = "--fallback" if fallback is not None else "--jobs"
        raise ConfigError(f"{option} applies to a fleet: give --asset-column too")


def fit_fleet_from_files(paths, asset_column: str, *, model_type: str = "auto", params: dict | None = None,
                         fallback: str | None = None, jobs: int | None = None, columns=None, label_column=None,
                         train_rows: int | None = None, train_until: str | None = None,
                         options: ReadOptions | None = None, experiment: str | None = None,
                         run_name: str | None = None, register: str | None = None,
                         alias: str | None = None) -> FleetFitResult:
    """`seqae fit FLEET.csv --asset-column NAME`: one detector per asset of the one export in
    `paths`, in `jobs` worker processes (default: the CPUs this process may use), one parent run,
    one model. A network's progress bar stays off (one per worker would garble the terminal)."""
    from seqae.detectors import DETECTORS

    if len(paths) != 1:
        raise ConfigError(f"--asset-column reads one fleet export; got {len(paths)} paths")
    params = dict(params or {})
    if model_type != "auto" and "verbose" in DETECTORS[model_type]().get_params():
        params.setdefault("verbose", False)
    fleet = FleetDetector(FitSpec(model_type, params), asset_column=asset_column, fallback=fallback,
                          n_jobs=available_cpus() if jobs is None else jobs)
    fleet.check_params()
    training = read_fleet_training(paths[0], asset_column, columns=columns, label_column=label_column,
                                   options=options, train_rows=train_rows, train_until=train_until,
                                   roles=params.get("roles"))
    return fit_fleet_and_log(fleet, training, experiment=experiment, run_name=run_name, register=register,
                             alias=alias)


def fit_fleet_and_log(fleet: FleetDetector, data: FleetTrainingData, *, experiment: str | None = None,
                      run_name: str | None = None, register: str | None = None, alias: str | None = None,
                      tags: dict | None = None) -> FleetFitResult:
    """Fit `fleet` on each asset's training rows inside a new parent run (in `experiment`, default
    seqae's); log a child run per asset and the fleet as one model (registered as `register`,
    `alias` pointing at it)."""
    if alias is not None:
        if not register:
            raise ConfigError("--alias names a registered version: give --register NAME too")
        tracking.check_alias(alias)
    fleet.check_params()  # before a run is opened: a mistyped option leaves no failed run
    model_type = fleet.spec.model_type if fleet.spec is not None else "auto"
    run_tags = {"seqae.model_type": f"fleet:{model_type}", "seqae.version": seqae.__version__,
                "seqae.asset_column": data.asset_column, **(tags or {})}
    run_name = run_name or f"fleet {model_type} on {data.name} ({len(data.assets)} {data.asset_column}s)"
    with tracking.parent_run(experiment or tracking.DEFAULT_EXPERIMENT, run_name, run_tags) as run:
        run.log_params({"model_type": f"fleet:{model_type}", "fallback": fleet.fallback or "(none)",
                        "n_jobs": fleet.n_jobs, **_spec_params(fleet), **data.options})
        frame = fleet_frame(data)
        run.log_dataset(frame, data.path)
        started = time.perf_counter()
        with about_file(data.path):
            fleet.fit(data.assets)
        fit_seconds = time.perf_counter() - started
        children = {name: log_asset_run(run, name, fitted, data.asset_column) for name, fitted in fleet.fitted_.items()}
        return _log_outcome(run, fleet, asset_table(fleet), children, fit_seconds, frame,
                            sum(len(rows) for rows in data.assets.values()), register, alias)


def log_fitted_fleet(fleet: FleetDetector, table: pd.DataFrame, *, fit_seconds: float, source: str,
                     experiment: str | None = None, run_name: str | None = None, register: str | None = None,
                     alias: str | None = None) -> FleetFitResult:
    """Log a fleet fitted elsewhere as a new parent run with a child run per asset; returns where it went.

    `table` has one row per asset: the asset column, `n_rows`, `model_type`, `window_size`,
    `threshold`, `fit_seconds`, `auto_chosen` and `train_score_p<q>` columns."""
    fleet.check_fitted()
    if alias is not None:
        tracking.check_alias(alias)
    model_type = fleet.spec.model_type if fleet.spec is not None else "auto"
    column = fleet.asset_column
    tags = {"seqae.model_type": f"fleet:{model_type}", "seqae.version": seqae.__version__,
            "seqae.asset_column": column, "seqae.source": source}
    run_name = run_name or f"fleet {model_type} on a {source} ({len(fleet.detectors_)} {column}s)"
    with tracking.parent_run(experiment or tracking.DEFAULT_EXPERIMENT, run_name, tags) as run:
        run.log_params({"model_type": f"fleet:{model_type}", "asset_column": column, "source": source,
                        **_spec_params(fleet)})
        children = {str(row[column]): _log_fitted_asset_run(run, fleet, row) for row in table.to_dict("records")}
        return _log_outcome(run, fleet, table, children, fit_seconds, _example_rows(fleet),
                            int(table["n_rows"].sum()), register, alias)


def _log_outcome(run, fleet: FleetDetector, table: pd.DataFrame, children: dict[str, str], fit_seconds: float,
                 example: pd.DataFrame, n_train_rows: int, register: str | None, alias: str | None) -> FleetFitResult:
    """What closes a fleet's parent run, wherever the fleet was fitted: the fit's seconds (wall time
    and the assets' own added up), the per-asset table (fleet/assets.csv) and the fleet as ONE model
    (`example`: rows of its input, for the signature), registered as `register` with `alias`."""
    asset_seconds = float(table["fit_seconds"].sum())
    run.log_metrics(named({"fit_seconds": fit_seconds, "asset_fit_seconds_total": asset_seconds,
                           "n_assets": len(fleet.detectors_), "n_train_rows": float(table["n_rows"].sum())}))
    run.log_table(table, "fleet/assets.csv")
    model_uri, registered = run.log_fleet_model(fleet, example, register=register, alias=alias)
    return FleetFitResult(fleet, run.run_id, run.experiment_id, model_uri, registered, fit_seconds, asset_seconds,
                          children, table, run.url, n_train_rows)


def fleet_frame(data: FleetTrainingData) -> pd.DataFrame:
    """The fleet's training rows as one frame: the asset column, then the sensors, asset after asset."""
    return pd.concat([frame.assign(**{data.asset_column: asset})[[data.asset_column, *frame.columns]]
                      for asset, frame in data.assets.items()])


def asset_table(fleet: FleetDetector) -> pd.DataFrame:
    """One row per fitted asset (and the shared detector): rows, model, threshold, fit seconds, auto's choice."""
    rows = []
    for name, fitted in fleet.fitted_.items():
        detector = fitted.detector
        rows.append({fleet.asset_column: name, "n_rows": fitted.n_rows, "model_type": detector.model_type,
                     "window_size": int(getattr(detector, "window_size", 1)),
                     "threshold": float(detector.threshold_.value_), "fit_seconds": fitted.fit_seconds,
                     "auto_chosen": fitted.auto_chosen or ""})
    return pd.DataFrame(rows)


def log_asset_run(run, name: str, fitted: FittedAsset, asset_column: str) -> str:
    """A finished child run of `run` (a `seqae.tracking.ParentRun`) for one asset's fit (`name`:
    the asset, or the shared detector): parameters, threshold, score quantiles, training alerts,
    fit time. Returns its run id."""
    detector = fitted.detector
    label = "shared detector" if name == SHARED else f"{asset_column} {name}"
    tags = {"seqae.model_type": detector.model_type, "seqae.asset": name,
            **({"seqae.auto.reason": fitted.auto_reason} if fitted.auto_reason else {})}
    params = {**tracking.flat_params(detector), "model_type": detector.model_type, asset_column: name,
              "n_train_rows": fitted.n_rows, **({"auto.chosen": fitted.auto_chosen} if fitted.auto_chosen else {})}
    alerts = detector.find_alerts(detector.training_detection_)
    values = {"threshold": float(detector.threshold_.value_), "fit_seconds": fitted.fit_seconds,
              "n_train_rows": float(fitted.n_rows), **{f"train_{k}": float(v) for k, v in alerts.counts().items()}}
    for part, scores in (("train", detector.train_scores_), ("validation", detector.validation_scores_)):
        if scores is not None:
            values.update({f"{part}_score_p{q}": float(np.percentile(scores, q)) for q in SCORE_QUANTILES})
    return run.log_child(f"{detector.model_type} on {label}", tags=tags, params=params, metrics=named(values))


def _log_fitted_asset_run(run, fleet: FleetDetector, row: dict) -> str:
    """A finished child run for one asset fitted elsewhere, from its row of the asset table."""
    asset = str(row[fleet.asset_column])
    detector = fleet.detectors_[asset]
    params = {**tracking.flat_params(detector), "model_type": detector.model_type, fleet.asset_column: asset,
              **({"auto.chosen": row["auto_chosen"]} if row.get("auto_chosen") else {})}
    values = {"threshold": float(detector.threshold_.value_), "fit_seconds": float(row["fit_seconds"]),
              "n_train_rows": float(row["n_rows"]), **{k: float(v) for k, v in row.items() if k.startswith("train_score_p")}}
    return run.log_child(f"{detector.model_type} on {fleet.asset_column} {asset}",
                         tags={"seqae.model_type": detector.model_type, "seqae.asset": asset},
                         params=params, metrics=named(values))


def _example_rows(fleet: FleetDetector) -> pd.DataFrame:
    """One window of the first asset's usual readings (its scaler's means): the model's input example."""
    first = fleet.assets_[0]
    detector = fleet.detectors_[first]
    rows = pd.DataFrame(np.tile(detector.scaler_.mean_, (int(getattr(detector, "window_size", 1)), 1)),
                        columns=[str(n) for n in fleet.feature_names_in_])
    rows.insert(0, fleet.asset_column, first)
    return rows


def _spec_params(fleet: FleetDetector) -> dict:
    return {f"spec.{k}": v for k, v in (fleet.spec.to_dict()["params"] if fleet.spec is not None else {}).items()}
