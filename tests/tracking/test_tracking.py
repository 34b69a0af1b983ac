"""What a fit run holds in MLflow, and the logged model against the detector that was fitted.

One `fit_and_log` per module on the shared store (a real SQLite store in a temporary directory):
its params, the loss per epoch, the summary metrics, the plots, the config, the dataset input, and
a model that loads with `mlflow.pyfunc.load_model` in a fresh process, from its own copy of seqae,
and gives exactly the scores of the detector in memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from cli_store import SENSORS, fitted_store

from seqae import tracking
from seqae.alerts import ALERT_COLUMNS
from seqae.data import read_training_data
from seqae.detectors import LSTMAutoencoder, NearestWindowsDetector
from seqae.errors import ConfigError, DataError
from seqae.thresholds import QuantileThreshold

EPOCHS = 3


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A detector fitted and logged by `fit_and_log`, kept in memory to compare with its model."""
    store = fitted_store(tmp_path_factory)
    previous = os.getcwd()
    os.chdir(store.root)
    saved_uri = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        data = read_training_data(store.train_csv, label_column="anomaly")
        detector = LSTMAutoencoder(window_size=16, hidden_size=16, latent_dim=8, epochs=EPOCHS, learning_rate=0.01,
                                   threshold=QuantileThreshold(0.995), random_state=1)
        result = tracking.fit_and_log(detector, data, experiment="tracking-tests", run_name="in-memory")
    finally:
        os.chdir(previous)
        if saved_uri is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved_uri
    return store, data, result


@pytest.fixture
def in_store(logged, monkeypatch):
    monkeypatch.chdir(logged[0].root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.use_store()
    return logged


# ---- the store -----------------------------------------------------------------------------------

def test_default_store_is_sqlite_in_mlruns_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = tracking.use_store()
    root = tmp_path.resolve() / "mlruns"
    assert store.tracking_uri == f"sqlite:///{root / 'mlflow.db'}"
    assert store.artifact_location == (root / "artifacts").as_uri()
    assert mlflow.get_tracking_uri() == store.tracking_uri == mlflow.get_registry_uri()
    exp_id = tracking.experiment_id("fresh")
    assert mlflow.MlflowClient().get_experiment(exp_id).artifact_location == store.artifact_location


def test_tracking_uri_variable_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'team.db'}")
    store = tracking.resolve_store()
    assert store.tracking_uri == f"sqlite:///{tmp_path / 'team.db'}"
    assert store.artifact_location == (tmp_path / "artifacts").as_uri()  # beside the database
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.resolve_store().artifact_location is None  # a server keeps its own
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'team.db'}")
    assert tracking.ui_url("3", "abc") == "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example/")
    assert tracking.ui_url("3") == "https://mlflow.example/#/experiments/3?workflowType=machine_learning"


def test_missing_experiment_is_named_with_those_that_exist(in_store):
    with pytest.raises(ConfigError, match=r"no experiment named 'absent' in sqlite:///.*; it has .*'tracking-tests'"):
        tracking.experiment_id("absent", create=False)


# ---- a fit run ---------------------------------------------------------------------------------------

def test_run_has_detector_and_data_params(in_store):
    store, data, result = in_store
    params = mlflow.MlflowClient().get_run(result.run_id).data.params
    assert params["model_type"] == "lstm-ae"
    assert params["window_size"] == "16" and params["hidden_size"] == "16" and params["epochs"] == str(EPOCHS)
    assert params["threshold"] == "quantile" and params["threshold_q"] == "0.995"
    assert params["label_column"] == "anomaly" and params["sensors"] == ",".join(SENSORS)
    assert params["n_train_rows"] == str(len(data.frame)) and params["data_path"] == str(store.train_csv.resolve())


def test_run_has_the_loss_of_every_epoch(in_store):
    _, _, result = in_store
    client = mlflow.MlflowClient()
    history = result.detector.history_
    for key, values in (("Loss/train", history.train_loss), ("Loss/validation", history.validation_loss)):
        logged = sorted(client.get_metric_history(result.run_id, key), key=lambda m: m.step)
        assert [m.step for m in logged] == list(range(1, len(values) + 1))
        assert [m.value for m in logged] == pytest.approx(values, rel=1e-12)
    assert len(history.train_loss) == EPOCHS


def test_run_has_threshold_and_summary_metrics(in_store):
    _, _, result = in_store
    metrics = mlflow.MlflowClient().get_run(result.run_id).data.metrics
    detector = result.detector
    assert metrics["scores/threshold"] == pytest.approx(detector.threshold_.value_, rel=1e-12)
    assert metrics["scores/validation_p99"] == pytest.approx(np.percentile(detector.validation_scores_, 99))
    assert metrics["scores/train_max"] == pytest.approx(detector.train_scores_.max())
    assert metrics["training/best_epoch"] == detector.history_.best_epoch + 1
    assert metrics["training/seconds"] > 0


def test_run_names_the_rule_that_made_its_threshold(in_store):
    _, _, result = in_store
    params = mlflow.MlflowClient().get_run(result.run_id).data.params
    n = len(result.detector.calibration_scores_)
    assert params["threshold_rule"] == f"quantile 0.995 of the {n} held-out rows' scores"


def test_run_names_how_a_feed_follows_each_sensors_level(in_store, tmp_path):
    t = np.arange(600)
    frame = pd.DataFrame({"value": np.sin(2 * np.pi * t / 48) + 0.01 * np.random.default_rng(0).normal(size=t.size)},
                         index=pd.date_range("2026-01-01", periods=t.size, freq="min").rename("timestamp"))
    frame.to_csv(tmp_path / "daily.csv")
    data = read_training_data(tmp_path / "daily.csv")
    result = tracking.fit_and_log(NearestWindowsDetector(window_size=24), data, experiment="tracking-tests", plots="none")
    params = mlflow.MlflowClient().get_run(result.run_id).data.params
    rows = result.detector.level_rows_
    assert rows >= 2 * 48
    assert params["level_rule"] == f"the mean of the last {rows} rows judged normal, over whole periods of 48 rows"


def test_run_has_plots_config_and_dataset(in_store):
    store, data, result = in_store
    client = mlflow.MlflowClient()
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {"plots/loss_curves.png", "plots/scores.png", "plots/sensor_contributions.png",
            "plots/latent_space.png"} <= plots
    alerts = pd.read_csv(client.download_artifacts(result.run_id, "alerts/training_alerts.csv"))
    assert list(alerts.columns) == ALERT_COLUMNS
    assert client.get_run(result.run_id).data.metrics["alerts/train_n_alerts"] == len(alerts)
    local = Path(client.download_artifacts(result.run_id, "plots/scores.png"))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and local.stat().st_size > 10_000
    config = json.loads(Path(client.download_artifacts(result.run_id, "config.json")).read_text())
    assert config["model_type"] == "lstm-ae" and config["params"]["window_size"] == 16
    assert config["threshold"]["kind"] == "quantile"
    assert config["threshold"]["value"] == pytest.approx(result.detector.threshold_.value_)
    columns = json.loads(Path(client.download_artifacts(result.run_id, "columns.json")).read_text())
    assert columns == {"roles": {name: "continuous" for name in data.frame.columns}, "modelled": list(data.frame.columns)}
    assert client.get_run(result.run_id).data.tags["seqae.columns"].startswith(f"{data.frame.shape[1]} columns: ")
    (dataset_input,) = client.get_run(result.run_id).inputs.dataset_inputs
    assert dataset_input.dataset.name == "train.csv"
    assert json.loads(dataset_input.dataset.source)["uri"] == str(store.train_csv.resolve())
    assert [t.value for t in dataset_input.tags if t.key == "mlflow.data.context"] == ["training"]
    profile = json.loads(dataset_input.dataset.profile)
    assert profile["num_rows"] == len(data.frame)


def test_model_has_signature_with_threshold_param_and_pinned_requirements(in_store):
    _, _, result = in_store
    info = mlflow.models.get_model_info(result.model_uri)
    assert info.signature.inputs.input_names() == SENSORS
    assert info.signature.outputs.input_names() == ["score", "is_anomaly", "alert_id",
                                                    *[f"contribution_{s}" for s in SENSORS]]
    params = {p.name: p for p in info.signature.params.params}
    assert params["threshold"].default == 1.0  # the flag level on the calibrated score: the model's own
    requirements = (Path(mlflow.artifacts.download_artifacts(result.model_uri)) / "requirements.txt").read_text()
    for name in ("mlflow==", "torch==", "numpy==", "pandas==", "scikit-learn=="):
        assert name in requirements


def test_loading_a_model_warns_once_per_package_it_pins_at_another_version(in_store, tmp_path):
    import platform
    import warnings
    from importlib import metadata

    _, _, result = in_store
    model_dir = Path(mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(tmp_path / "model")))
    with warnings.catch_warnings(record=True) as caught:  # the environment that logged it: nothing to say
        warnings.simplefilter("always")
        loaded = tracking.load_detector(str(model_dir))
    assert not [w for w in caught if "logged with" in str(w.message)]
    assert loaded.pyfunc.unwrap_python_model().model_dir == model_dir.resolve()
    numpy_pin = f"numpy=={metadata.version('numpy')}"
    (model_dir / "requirements.txt").write_text(f"mlflow==0.0.1\n{numpy_pin}\ntorch==0.0.2\n")
    with pytest.warns(UserWarning) as caught:
        tracking.load_detector(str(model_dir))
    messages = [str(w.message) for w in caught if "logged with" in str(w.message)]
    assert len(messages) == 2
    assert f"logged with mlflow==0.0.1, this environment has mlflow {metadata.version('mlflow')}" in messages[0]
    assert "torch==0.0.2" in messages[1] and "install torch==0.0.2" in messages[1]
    with pytest.warns(UserWarning, match=f"logged with Python 2.7.18, loaded with Python {platform.python_version()}"):
        tracking.warn_environment_mismatches("m", None, "2.7.18")


def test_model_in_a_new_process_scores_exactly_as_the_detector(in_store, tmp_path):
    """Loaded with mlflow.pyfunc.load_model in a fresh interpreter, from the model's own copy of seqae."""
    store, _, result = in_store
    model_dir = mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(tmp_path / "model"))
    test = pd.read_csv(store.test_csv, index_col="timestamp")
    code = (
        "import json, sys, pandas as pd, mlflow.pyfunc\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "import seqae\n"
        "frame = pd.read_csv(sys.argv[2], index_col='timestamp').drop(columns='anomaly')\n"
        "out = model.predict(frame.reset_index(drop=True), params={'threshold': float(sys.argv[3])})\n"
        "print(json.dumps({'seqae': seqae.__file__, 'score': out['score'].tolist(),\n"
        "                  'is_anomaly': out['is_anomaly'].tolist()}))\n"
    )
    threshold = float(np.nanmedian(result.detector.detect(test[SENSORS]).scores))  # a flag level below 1
    answer = subprocess.run([sys.executable, "-c", code, model_dir, str(store.test_csv), repr(threshold)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"})
    assert answer.returncode == 0, answer.stderr
    out = json.loads(answer.stdout.strip().splitlines()[-1])
    assert Path(out["seqae"]).is_relative_to(Path(model_dir).resolve())  # the model carries its code
    detection = result.detector.detect(test[SENSORS], level=threshold)
    np.testing.assert_array_equal(np.asarray(out["score"], dtype=float), detection.scores)
    np.testing.assert_array_equal(np.asarray(out["is_anomaly"]), detection.flags)
    assert detection.flags.sum() > result.detector.detect(test[SENSORS]).flags.sum()  # the level moved them


def test_pyfunc_refuses_bad_input_with_one_line(in_store):
    from mlflow.exceptions import MlflowException

    _, data, result = in_store
    python_model = mlflow.pyfunc.load_model(result.model_uri).unwrap_python_model()
    frame = data.frame.reset_index(drop=True)
    cases = [
        (frame.iloc[:5], r"^the request has 5 rows, fewer than one window \(window_size=16\); send at least 16"),
        (frame.drop(columns="sensor_1"), r"^column 'sensor_1' is missing; the request has 'sensor_0', 'sensor_2'"),
        (frame.astype(object).assign(sensor_2=["x"] + [1.0] * (len(frame) - 1)),
         r"^column 'sensor_2' has 1 non-numeric values \(first at row 0: 'x'\); send numbers$"),
        (frame.assign(sensor_0=np.nan), r"^column 'sensor_0' has missing or infinite values \(first at row 0\)"),
    ]
    for bad, message in cases:
        # The class is defined by the model's own file, loaded as a module of MLflow's naming.
        with pytest.raises(MlflowException, match=message) as caught:
            python_model.predict(None, bad)
        assert type(caught.value).__name__ == "InvalidModelInput"
        body = json.loads(caught.value.serialize_as_json())
        assert body["error_code"] == "INVALID_PARAMETER_VALUE" and "\n" not in body["message"]
        assert "stack_trace" not in body


def test_registering_without_register_name_is_refused_before_fitting(in_store):
    _, data, _ = in_store
    detector = LSTMAutoencoder(window_size=16, epochs=1)
    with pytest.raises(ConfigError, match=r"--alias names a registered version: give --register NAME too"):
        tracking.fit_and_log(detector, data, alias="champion")
    assert not hasattr(detector, "threshold_")


def test_an_unknown_figure_set_is_refused_before_the_files_are_read(in_store, tmp_path):
    with pytest.raises(ConfigError, match="plots must be one of default, all, none, not 'every'"):
        tracking.fit_files_and_log([tmp_path / "not-read.csv"], model_type="pca", plots="every")


@pytest.mark.parametrize("model_type", ["lstm-vae", "dense-ae", "conv-ae", "iforest"])
def test_every_model_type_logs_a_run_with_its_plots_and_a_loadable_model(in_store, model_type):
    from seqae.detectors import DETECTORS, make_detector

    store, data, _ = in_store
    params = {"window_size": 8, "random_state": 0}
    if "epochs" in DETECTORS[model_type]().get_params():
        params.update(epochs=1, hidden_size=8, latent_dim=4)
    result = tracking.fit_and_log(make_detector(model_type, **params), data, experiment="every-model")
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    assert run.info.run_name == f"{model_type} on train.csv" and run.data.params["model_type"] == model_type
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    neural = hasattr(result.detector, "history_")
    assert ("plots/loss_curves.png" in plots) == neural
    assert ("plots/latent_space.png" in plots) == hasattr(result.detector, "encode")
    assert {"plots/scores.png", "plots/sensor_contributions.png"} <= plots
    assert ("Loss/train" in run.data.metrics) == neural
    reloaded = tracking.load_detector(result.model_uri).detector
    np.testing.assert_array_equal(reloaded.detect(data.frame).scores, result.detector.detect(data.frame).scores)


# ---- training rows ---------------------------------------------------------------------------------

def test_training_rows_by_count_and_by_time(in_store):
    store, _, _ = in_store
    first = read_training_data(store.test_csv, label_column="anomaly", train_rows=50)
    assert len(first.frame) == 50 and list(first.frame.columns) == SENSORS
    until = read_training_data(store.test_csv, label_column="anomaly", train_until=str(first.frame.index[49]))
    pd.testing.assert_frame_equal(until.frame, first.frame)
    assert until.options["train_until"] == str(first.frame.index[49]) and until.options["n_train_rows"] == 50


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(train_rows=0), ConfigError, r"--train-rows must be at least 1, got 0"),
    (dict(train_rows=10_000), DataError, r"test\.csv: --train-rows 10000 asks for more rows than the file has \(300\)"),
    (dict(train_until="2020-01-01"), DataError, r"test\.csv: no rows at or before --train-until 2020-01-01; "
                                                r"the first row is at 2026-01-01 00:06:40"),
    (dict(train_until="noon-ish"), ConfigError, r"--train-until 'noon-ish' is not a timestamp"),
])
def test_training_rows_errors(in_store, kwargs, error, message):
    store, _, _ = in_store
    with pytest.raises(error, match=message):
        read_training_data(store.test_csv, label_column="anomaly", **kwargs)
