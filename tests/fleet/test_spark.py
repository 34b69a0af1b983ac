"""`seqae.fleet.spark` on a real `local[2]` SparkSession: a fleet fitted through `groupBy(machine).applyInPandas`
and logged as one MLflow model; its scores, and a one-detector model's, equal `seqae score` on the same
rows to the last bit, whatever order Spark delivers the rows in; bad input is one line naming the machine."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("pyspark", reason="the Spark extra is not installed: pip install -e '.[spark]'")

from spark_session import java_missing_reason, local_session  # noqa: E402

from seqae.fleet import spark as seqae_spark  # noqa: E402
from seqae import tracking  # noqa: E402
from seqae.cli import cli  # noqa: E402
from seqae.errors import DataError  # noqa: E402
from seqae.fleet import FleetDetector  # noqa: E402
from seqae.synthetic import make_fleet_data  # noqa: E402

N_MACHINES, N_ROWS, N_NORMAL = 3, 300, 200
SENSORS = ["sensor_0", "sensor_1", "sensor_2"]
TINY = {"window_size": 16, "hidden_size": 8, "latent_dim": 4, "epochs": 2, "learning_rate": 0.01, "random_state": 0,
        "verbose": False}


@pytest.fixture(scope="module")
def spark():
    reason = java_missing_reason()
    if reason:
        pytest.skip(reason)
    handler = signal.getsignal(signal.SIGINT)
    session = local_session(cores=2)
    yield session
    session.stop()
    # The SparkContext installs a SIGINT handler that cancels its jobs; put back the one it replaced,
    # so that an interrupt after the session has stopped is an interrupt again.
    signal.signal(signal.SIGINT, handler)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An MLflow store (SQLite) in tmp for the module, through MLFLOW_TRACKING_URI."""
    root = tmp_path_factory.mktemp("spark-store")
    before = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    yield root
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def fleet_rows():
    """3 machines x 300 rows, a spike and a level shift after each machine's first 200 rows."""
    frame, _ = make_fleet_data(N_MACHINES, N_ROWS, len(SENSORS), normal_rows=N_NORMAL,
                               anomalies=("spike", "level_shift"), anomaly_length=20, random_state=3)
    return frame.reset_index()  # timestamp, machine, sensors


def spark_frame(spark, rows: pd.DataFrame):
    """The rows as a Spark DataFrame spread over 3 partitions in shuffled order: nothing keeps them in time order."""
    return spark.createDataFrame(rows.sample(frac=1.0, random_state=0)).repartition(3)


def seqae_score(model: str, rows: pd.DataFrame, directory: Path) -> pd.DataFrame:
    """`seqae score MODEL machine.csv` on one machine's rows; the scores CSV read back."""
    csv, out = directory / "machine.csv", directory / "scores.csv"
    rows.drop(columns="machine").to_csv(csv, index=False)
    result = CliRunner().invoke(cli, ["score", model, str(csv), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return pd.read_csv(out)


def assert_same_scores(spark_scores: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert len(spark_scores) == len(reference)
    for column in reference.columns.drop("timestamp"):
        ours, theirs = spark_scores[column].to_numpy(), reference[column].to_numpy()
        assert np.array_equal(ours, theirs, equal_nan=ours.dtype.kind == "f"), column  # NaN: warming up


@pytest.fixture(scope="module")
def spark_fit(spark, store, fleet_rows):
    train = fleet_rows.groupby("machine", group_keys=False).head(N_NORMAL)
    return seqae_spark.fit(spark_frame(spark, train), asset_column="machine", time_column="timestamp",
                           model_type="lstm-ae", params=TINY, register="spark-fleet", alias="champion",
                           experiment="spark")


def test_fit_logs_every_machine_as_one_registered_model(spark_fit, store):
    result = spark_fit
    assert result.registered_uri == "models:/spark-fleet@champion"
    client = mlflow.MlflowClient()
    parent = client.get_run(result.run_id)
    assert parent.data.params["model_type"] == "fleet:lstm-ae" and parent.data.metrics["training/assets"] == N_MACHINES
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(c.data.params["machine"] for c in children) == ["m00", "m01", "m02"]
    assert all(c.data.metrics["training/rows"] == N_NORMAL and "scores/train_p99" in c.data.metrics for c in children)
    loaded = tracking.load_model(result.registered_uri).detector
    assert isinstance(loaded, FleetDetector) and loaded.assets_ == ["m00", "m01", "m02"]
    assert list(result.table["n_rows"]) == [N_NORMAL] * N_MACHINES


def test_a_machine_fitted_on_spark_is_the_machine_fitted_here(spark_fit, fleet_rows):
    """Same rows, seed and thread count: the executor trains the very network one process trains."""
    from seqae.detectors import make_detector

    rows = fleet_rows[fleet_rows.machine == "m01"].iloc[:N_NORMAL].set_index("timestamp")[SENSORS]
    here = make_detector("lstm-ae", **TINY).fit(rows)
    there = spark_fit.fleet.detectors_["m01"]
    assert np.array_equal(here.detect(rows).scores, there.detect(rows).scores, equal_nan=True)


def test_fleet_scores_equal_seqae_score_of_the_fleet_export(spark, spark_fit, fleet_rows, tmp_path):
    scores = seqae_spark.score(spark_frame(spark, fleet_rows), spark_fit.registered_uri, asset_column="machine",
                               time_column="timestamp")
    assert scores.columns[:2] == ["machine", "timestamp"]
    assert scores.schema["timestamp"].dataType.simpleString() == "timestamp"
    assert scores.columns[2:] == ["score", "raw_score", "is_anomaly", "alert_id", "warming_up",
                                  *[f"contribution_{s}" for s in SENSORS]]
    scored = scores.toPandas()
    assert len(scored) == len(fleet_rows)
    fleet_rows.to_csv(tmp_path / "fleet.csv", index=False)
    result = CliRunner().invoke(cli, ["score", spark_fit.registered_uri, str(tmp_path / "fleet.csv"),
                                      "-o", str(tmp_path / "scores.csv")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    reference = pd.read_csv(tmp_path / "scores.csv")
    for machine in ("m00", "m01", "m02"):
        ours = scored[scored.machine == machine].sort_values("timestamp")
        assert list(ours.timestamp) == list(fleet_rows[fleet_rows.machine == machine].timestamp)
        assert_same_scores(ours, reference[reference.machine == machine].drop(columns="machine"))
        assert (ours.score.iloc[N_NORMAL:] > 1.0).sum() > 0  # the spike and the level shift, above the threshold


def test_one_detector_model_scores_every_machine_apart_as_seqae_score(spark, store, fleet_rows, tmp_path):
    m00 = fleet_rows[fleet_rows.machine == "m00"].iloc[:N_NORMAL].drop(columns="machine")
    m00.to_csv(tmp_path / "m00.csv", index=False)
    fitted = CliRunner().invoke(cli, ["fit", str(tmp_path / "m00.csv"), "--model", "deviation", "-q"],
                                catch_exceptions=False)
    assert fitted.exit_code == 0, fitted.output
    model_uri = fitted.output.strip().splitlines()[-1]
    rows = fleet_rows.rename(columns={"machine": "pump", "timestamp": "read_at"})
    scored = seqae_spark.score(spark_frame(spark, rows), model_uri, asset_column="pump",
                               time_column="read_at").toPandas()
    assert list(scored.columns[:2]) == ["pump", "read_at"]
    for machine in ("m00", "m01", "m02"):
        reference = seqae_score(model_uri, fleet_rows[fleet_rows.machine == machine], tmp_path)
        assert_same_scores(scored[scored.pump == machine].sort_values("read_at"), reference)


def test_bad_input_is_one_line_naming_the_column_or_machine(spark, spark_fit, fleet_rows):
    frame = spark_frame(spark, fleet_rows)
    with pytest.raises(DataError, match=r"^column 'sensor_2' is missing from the DataFrame \(it has 'timestamp', "
                                        r"'machine', 'sensor_0', 'sensor_1'\); models:/spark-fleet@champion needs"):
        seqae_spark.score(frame.drop("sensor_2"), spark_fit.registered_uri, asset_column="machine",
                          time_column="timestamp")
    with pytest.raises(DataError, match=r"sensor column 'sensor_1' is string, not numbers"):
        seqae_spark.score(frame.withColumn("sensor_1", frame.sensor_1.cast("string")), spark_fit.registered_uri,
                          asset_column="machine", time_column="timestamp")
    short = fleet_rows[(fleet_rows.machine != "m02") | (fleet_rows.index < 3 * 10)]
    with pytest.raises(DataError, match=r"^machine 'm02': .*10 rows.*window"):
        seqae_spark.fit(spark_frame(spark, short), asset_column="machine", time_column="timestamp",
                        model_type="lstm-ae", params=TINY)
    unseen = spark_frame(spark, fleet_rows.replace({"machine": {"m02": "m07"}}))
    scores = seqae_spark.score(unseen, spark_fit.registered_uri, asset_column="machine", time_column="timestamp")
    with pytest.raises(Exception, match=r"machine 'm07' has no detector in this model \(it has 3: 'm00', 'm01', "
                                        r"'m02'\)"):
        scores.collect()
