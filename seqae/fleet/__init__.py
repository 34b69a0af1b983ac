"""A fleet: one detector per asset (a machine, a pump, a line), fitted, saved and served as one model.

    fleet rows (every asset's readings, an asset column) --split by asset, each asset's rows in
      their order--> one detector per asset (`FitSpec.fit`, in worker processes)
      [+ with fallback="shared": one detector on every asset's rows, each asset a recording of its own]
      --> FleetDetector
    rows to score --each asset's rows to its detector (an unseen asset: an error naming it, or the
      shared fallback detector)--> score, is_anomaly, alert_id, contribution_<sensor> per row,
      in the input's row order, beside the asset column

    spec.py      what one asset's fit is: `FitSpec`, `fit_asset`, `FittedAsset`; an asset's name;
                 a fitted detector as bytes (`detector_bytes`)
    fitting.py   fitting the assets, one after another or in worker processes (`seqae.workers`)
    detector.py  `FleetDetector`: each asset's rows routed to its detector; save / load
    scoring.py   `score_fleet_csv`: a fleet export of any length scored in chunks
    runs.py      a fleet fit as MLflow runs (a parent run, one model, a child run per asset), from
                 files (`fit_fleet_from_files`, what `seqae fit --asset-column` calls) or fitted elsewhere
    spark.py     the same fit and scoring over a Spark DataFrame (`seqae.fleet.spark`; pyspark is
                 the optional extra `seqae[spark]`)

From Python:

    from seqae.fleet import FitSpec, FleetDetector
    spec = FitSpec("knn-window", {"window_size": 32})      # or FitSpec() / FitSpec("auto", {"random_state": 0})
    fleet = FleetDetector(spec, asset_column="machine", fallback="shared", n_jobs=4).fit(frame)
    scores = fleet.score_frame(new_frame)  # machine, score, is_anomaly, alert_id, contribution_<sensor>
    fleet.save("fleet-model/")             # fleet.json (readable) + assets/<k>/ and fallback/ (BaseDetector.save)
    same = FleetDetector.load("fleet-model/")

`frame` is a DataFrame with the asset column and the sensor columns (every other column, numeric),
indexed by time or by row number, each asset's rows in time order (other assets' rows may be
interleaved). `fit` also takes `{asset: frame}` or `{asset: [frame, frame, ...]}` (several
recordings of one asset). Asset values are compared as text: 7 and "7" are the same machine.

Fitting the assets elsewhere (a Spark executor per group, say) and assembling the model:

    fitted = fit_asset(spec, asset_rows)        # FittedAsset: .detector, .fit_seconds, .auto_reason, .warnings,
                                                #   .peak_memory_mib (of the process that fitted it)
    blob = detector_bytes(fitted.detector)      # the saved directory as bytes: ship it back to the driver
    ...
    fleet = FleetDetector.from_detectors({asset: detector_from_bytes(blob), ...}, asset_column="machine",
                                         spec=spec, fallback_detector=shared_or_None)
    log_fitted_fleet(fleet, table, fit_seconds=..., source="...")  # ONE MLflow model, a child run per asset

Scoring elsewhere: `fleet.score_frame(rows)` of one group's rows (or `fleet.detector_for(asset).detect(rows)`)
gives exactly what `seqae score` writes for them; `seqae.tracking.load_model(MODEL_URI).detector` is
the FleetDetector of a logged or registered fleet model (`seqae.tracking.load_detector` refuses one).

`fit_asset` runs one fit in the calling process (one torch thread is the caller's choice:
`seqae.workers.one_thread`). The fitted detectors of one fleet must share their sensor columns
(`from_detectors` checks it). Nothing here imports MLflow: the runs go through `seqae.tracking`.
"""

from seqae.fleet.spec import (FitSpec, FittedAsset, asset_key, detector_bytes, detector_from_bytes,
                              fit_asset)
from seqae.fleet.fitting import fit_assets
from seqae.fleet.detector import FLEET_FILE, FleetDetector
from seqae.fleet.scoring import score_fleet_csv
from seqae.fleet.runs import FleetFitResult, fit_fleet_and_log, fit_fleet_from_files, log_fitted_fleet, refuse_fleet_options

__all__ = [
    "FLEET_FILE", "FitSpec", "FittedAsset", "FleetDetector", "FleetFitResult", "asset_key",
    "detector_bytes", "detector_from_bytes", "fit_asset", "fit_assets", "fit_fleet_and_log", "fit_fleet_from_files",
    "log_fitted_fleet", "refuse_fleet_options", "score_fleet_csv",
]
