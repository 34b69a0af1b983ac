"""A fleet over a Spark DataFrame: one detector per machine fitted, and every machine's rows scored,
each machine's rows together on one executor and in time order (`groupBy(asset).applyInPandas`).
The optional extra `seqae[spark]` (pyspark 4).

    from seqae.fleet import spark as fleet_spark
    fitted = fleet_spark.fit(df, asset_column="machine", time_column="timestamp", register="pumps",
                             model_type="knn-window", params={"window_size": 32})
    fitted.registered_uri                     # models:/pumps/1: ONE MLflow model, a detector per machine
    scores = fleet_spark.score(df_new, "models:/pumps/1", asset_column="machine", time_column="timestamp")
    # a Spark DataFrame: machine, timestamp, score, raw_score, is_anomaly, alert_id, warming_up, contribution_<sensor>

Why not `mlflow.pyfunc.spark_udf`: it hands a model batches of rows cut wherever Spark's partitions
and Arrow batches end, in no order; a windowed model needs a machine's rows whole and in time
order. Here each machine is one group: its rows are sorted by the time column on the executor and
scored by that machine's detector (`BaseDetector.detect`, then its alert rules), exactly as `seqae
score` scores a CSV of those rows. A model of one detector (`seqae fit pump.csv`) scores every
machine with that detector, each machine's series kept apart.

`fit` fits each machine's detector inside the group (`seqae.fleet.fit_asset`, one torch thread:
`seqae.workers.one_thread`), ships it back to the driver as bytes (`detector_bytes`, a few kB to a
few MB), assembles the `FleetDetector` and logs it as one MLflow model with a child run per machine
(`seqae.fleet.runs.log_fitted_fleet`),
registered as `register`. A machine whose rows cannot be fitted stops `fit` with one line naming it.

`score` is lazy like any Spark transformation: the model is loaded and checked against the
DataFrame's columns on the driver at once, and the rows are scored when the result is written or
collected. An error on an executor (a machine the model has not seen, a machine with fewer rows
than one window, duplicate times) then surfaces as Spark's `PythonException`, whose message
carries seqae's one line naming the machine.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.errors import ConfigError, DataError, SeqaeError, name_list
from seqae.fleet.detector import FleetDetector
from seqae.fleet.runs import SCORE_QUANTILES, log_fitted_fleet
from seqae.fleet.spec import FitSpec, asset_key, detector_bytes, detector_from_bytes, fit_asset
from seqae.workers import one_thread


@dataclass
class SparkFitResult:
    fleet: FleetDetector
    run_id: str  # the parent run; a child run per machine
    model_uri: str  # models:/m-<id>: every machine's detector as one model
    registered_uri: str | None
    fit_seconds: float  # wall time of the Spark job that fitted every machine
    asset_seconds: float  # the machines' own fit times added up: what one process would take
    table: pd.DataFrame  # one row per machine: rows, model type, window, threshold, fit seconds, auto's choice
    run_url: str


# ---- score ---------------------------------------------------------------------------------------

def score(df, model_uri: str, *, asset_column: str, time_column: str, threshold: float | None = None):
    """Score every machine's rows of the Spark DataFrame `df` with the model at `model_uri` (a fleet
    model: each machine by its own detector; a one-detector model: every machine by it).

    Returns a Spark DataFrame with one row per row of `df`: `asset_column` and `time_column` as they
    were, then each machine's decisions as a live feed of its rows would make them
    (`BaseDetector.detect`): `score` (calibrated: 1.0 = the threshold), `raw_score`, `is_anomaly`,
    `alert_id` (counted within the machine; -1: none), `warming_up` and `contribution_<sensor>` for
    each sensor. `threshold`: the flag level on the calibrated score for this call."""
    from seqae import tracking

    model = tracking.load_model(model_uri).detector
    if isinstance(model, FleetDetector):
        shipped = _ShippedModel({a: detector_bytes(d) for a, d in model.detectors_.items()},
                                None if model.fallback_detector_ is None else detector_bytes(model.fallback_detector_),
                                None, asset_column)
    else:
        shipped = _ShippedModel({}, None, detector_bytes(model), asset_column)
    sensors = [str(n) for n in model.feature_names_in_]
    _check_columns(df, asset_column, time_column, sensors, model_uri)
    if threshold is not None:
        threshold = float(threshold)
    fields = [df.schema[asset_column], df.schema[time_column]]
    schema = _output_schema(fields, sensors)
    broadcast = df.sparkSession.sparkContext.broadcast(shipped)

    def score_machine(rows: pd.DataFrame) -> pd.DataFrame:
        return _score_rows(rows, broadcast.value, asset_column, time_column, sensors, threshold)

    return df.select(asset_column, time_column, *sensors).groupBy(asset_column).applyInPandas(score_machine, schema)


@dataclass
class _ShippedModel:
    """What every executor gets (a Spark broadcast): each detector as bytes, loaded on first use."""

    detectors: dict  # asset -> detector bytes (a fleet)
    fallback: bytes | None  # the fleet's shared detector
    single: bytes | None  # a one-detector model: every machine's detector
    asset_column: str

    def detector_for(self, asset):
        """The detector that scores `asset`'s rows; an asset the model has not seen, without a
        fallback, is a `DataError` naming it. A machine's own detector is loaded for its one group
        and let go; the detector every machine shares is loaded once per Python worker."""
        if self.single is not None:
            key, blob = "(single)", self.single
        elif asset_key(asset) in self.detectors:
            key = asset_key(asset)
            blob = self.detectors[key]
        elif self.fallback is not None:
            key, blob = "(shared)", self.fallback
        else:
            raise DataError(f"{self.asset_column} {asset_key(asset)!r} has no detector in this model (it has "
                            f"{len(self.detectors)}: {name_list(self.detectors)}); fit the model on its rows "
                            "too, or fit with a shared fallback detector")
        _one_thread_once()
        if key not in ("(single)", "(shared)"):
            return detector_from_bytes(blob)
        loaded = _LOADED.setdefault(id(self), {})
        if key not in loaded:
            loaded[key] = detector_from_bytes(blob)
        return loaded[key]


_LOADED: dict = {}  # per Python worker: id(shipped model) -> {"(single)" or "(shared)": detector}
_THREADS_SET: list = []  # per Python worker: [True] once torch and BLAS are on one thread


def _one_thread_once() -> None:
    """One torch and one BLAS thread in this Python worker, as seqae's commands and `seqae score` use."""
    if not _THREADS_SET:
        one_thread()
        _THREADS_SET.append(True)


def _score_rows(rows: pd.DataFrame, model: _ShippedModel, asset_column: str, time_column: str, sensors: list,
                threshold: float | None) -> pd.DataFrame:
    asset = rows[asset_column].iloc[0]
    detector = model.detector_for(asset)  # an unseen machine: its error names it
    try:
        rows = _in_time_order(rows, asset_column, time_column)
        detection = detector.detect(rows[sensors].reset_index(drop=True).astype(np.float64),
                                    level=1.0 if threshold is None else threshold)
    except SeqaeError as exc:
        raise type(exc)(f"{asset_column} {asset_key(asset)!r}: {exc}") from None
    answer = detection.to_frame().reset_index(drop=True)
    answer.insert(0, time_column, rows[time_column].to_numpy())
    answer.insert(0, asset_column, rows[asset_column].to_numpy())
    return answer


# ---- fit -----------------------------------------------------------------------------------------

def fit(df, *, asset_column: str, time_column: str, model_type: str = "auto", params: dict | None = None,
        columns: list[str] | None = None, register: str | None = None, alias: str | None = None,
        experiment: str | None = None, run_name: str | None = None) -> SparkFitResult:
    """Fit one detector per machine of the Spark DataFrame `df` (rows assumed normal) and log them
    as ONE MLflow model in a new run, with a child run per machine; registered as `register`
    (and `alias` pointing at it) when given.

    Args:
        df: the fleet's rows: `asset_column`, `time_column` and the sensors.
        model_type, params: how each machine's detector is fitted (`seqae.fleet.FitSpec`): "auto"
            (the window and detector chosen from each machine's own rows) or a model type.
        columns: the sensors; default every column of `df` but the asset and time columns.
        experiment, run_name: where the run goes (default experiment "seqae").
    """
    from pyspark.sql.types import BinaryType, DoubleType, LongType, StringType, StructField, StructType

    from seqae import tracking

    spec = FitSpec(model_type, dict(params or {})).check()
    if alias is not None:
        if not register:
            raise ConfigError("alias names a registered version: give register=NAME too")
        tracking.check_alias(alias)
    sensors = list(columns) if columns is not None else [c for c in df.columns if c not in (asset_column, time_column)]
    if not sensors:
        raise DataError(f"no sensor columns: the DataFrame has only {name_list(df.columns)}")
    _check_columns(df, asset_column, time_column, sensors, "the model")
    schema = StructType([StructField("asset", StringType()), StructField("error", StringType()),
                         StructField("detector", BinaryType()), StructField("n_rows", LongType()),
                         StructField("fit_seconds", DoubleType()), StructField("auto_chosen", StringType()),
                         StructField("warnings", StringType())]
                        + [StructField(f"train_score_p{q}", DoubleType()) for q in SCORE_QUANTILES])

    def fit_machine(rows: pd.DataFrame) -> pd.DataFrame:
        return _fit_rows(rows, spec, asset_column, time_column, sensors)

    started = time.perf_counter()
    fitted = (df.select(asset_column, time_column, *sensors).groupBy(asset_column)
              .applyInPandas(fit_machine, schema).toPandas())
    fit_seconds = time.perf_counter() - started
    if fitted.empty:
        raise DataError("the DataFrame has no rows to fit")
    fitted = fitted.sort_values("asset", kind="stable").reset_index(drop=True)
    failed = fitted[fitted["error"].notna()]
    if len(failed):
        more = f" (and {len(failed) - 1} more {asset_column}s)" if len(failed) > 1 else ""
        raise DataError(f"{failed['error'].iloc[0]}{more}")
    fleet = FleetDetector.from_detectors({row.asset: detector_from_bytes(row.detector) for row in fitted.itertuples()},
                                         asset_column=asset_column, spec=spec)
    for row in fitted.itertuples():
        for message in filter(None, row.warnings.split("\n") if isinstance(row.warnings, str) else []):
            warnings.warn(f"{asset_column} {row.asset!r}: {message}", stacklevel=2)
    table = _asset_table(fleet, fitted)
    logged = log_fitted_fleet(fleet, table, fit_seconds=fit_seconds, source="Spark DataFrame", experiment=experiment,
                              run_name=run_name, register=register, alias=alias)
    return SparkFitResult(fleet, logged.run_id, logged.model_uri, logged.registered_uri, fit_seconds,
                          float(table["fit_seconds"].sum()), table, logged.run_url)


def _fit_rows(rows: pd.DataFrame, spec: FitSpec, asset_column: str, time_column: str, sensors: list) -> pd.DataFrame:
    """One machine's fit, as one row: its detector as bytes, or the one-line error naming it."""
    asset = asset_key(rows[asset_column].iloc[0])
    answer = {"asset": asset, "error": None, "detector": None, "n_rows": len(rows), "fit_seconds": np.nan,
              "auto_chosen": None, "warnings": None, **{f"train_score_p{q}": np.nan for q in SCORE_QUANTILES}}
    _one_thread_once()
    try:
        rows = _in_time_order(rows, asset_column, time_column)
        frame = rows[sensors].astype(np.float64).set_axis(pd.Index(rows[time_column].to_numpy(), name=time_column))
        result = fit_asset(spec, frame)
    except SeqaeError as exc:
        answer["error"] = f"{asset_column} {asset!r}: {exc}"
        return pd.DataFrame([answer])
    scores = result.detector.train_scores_
    answer.update(detector=detector_bytes(result.detector), fit_seconds=result.fit_seconds,
                  auto_chosen=result.auto_chosen, warnings="\n".join(result.warnings) or None,
                  **{f"train_score_p{q}": float(np.percentile(scores, q)) for q in SCORE_QUANTILES})
    return pd.DataFrame([answer])


def _asset_table(fleet: FleetDetector, fitted: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in fitted.itertuples():
        detector = fleet.detectors_[row.asset]
        rows.append({fleet.asset_column: row.asset, "n_rows": int(row.n_rows), "model_type": detector.model_type,
                     "window_size": int(getattr(detector, "window_size", 1)),
                     "threshold": float(detector.threshold_.value_), "fit_seconds": float(row.fit_seconds),
                     "auto_chosen": row.auto_chosen if isinstance(row.auto_chosen, str) else "",
                     **{f"train_score_p{q}": getattr(row, f"train_score_p{q}") for q in SCORE_QUANTILES}})
    return pd.DataFrame(rows)


# ---- shared ----------------------------------------------------------------------------------------

def _in_time_order(rows: pd.DataFrame, asset_column: str, time_column: str) -> pd.DataFrame:
    """One machine's rows sorted by time; missing or repeated times are a `DataError` (their order,
    and so every window across them, would be whatever order Spark delivered them in)."""
    times = rows[time_column]
    if times.isna().any():
        raise DataError(f"column {time_column!r} is empty in {int(times.isna().sum())} rows; every row needs its time")
    rows = rows.sort_values(time_column, kind="stable").reset_index(drop=True)
    repeated = rows[time_column].duplicated()
    if repeated.any():
        raise DataError(f"{int(repeated.sum())} rows repeat a time of an earlier row (first "
                        f"{rows[time_column][repeated].iloc[0]}); one row per time point, please")
    return rows


def _check_columns(df, asset_column: str, time_column: str, sensors: list, what: str) -> None:
    from pyspark.sql.types import NumericType

    found = list(df.columns)
    missing = [c for c in (asset_column, time_column, *sensors) if c not in found]
    if missing:
        raise DataError(f"column {missing[0]!r} is missing from the DataFrame (it has {name_list(found)}); "
                        f"{what} needs {asset_column!r}, {time_column!r} and the sensors {name_list(sensors)}")
    not_numbers = [c for c in sensors if not isinstance(df.schema[c].dataType, NumericType)]
    if not_numbers:
        kind = df.schema[not_numbers[0]].dataType.simpleString()
        raise DataError(f"sensor column {not_numbers[0]!r} is {kind}, not numbers; cast it (col(...).cast('double'))"
                        " or leave it out with columns=[...]")


def _output_schema(fields: list, sensors: list):
    from pyspark.sql.types import DoubleType, IntegerType, LongType, StructField, StructType

    return StructType([*fields, StructField("score", DoubleType()), StructField("raw_score", DoubleType()),
                       StructField("is_anomaly", IntegerType()), StructField("alert_id", LongType()),
                       StructField("warming_up", IntegerType())]
                      + [StructField(f"contribution_{name}", DoubleType()) for name in sensors])
