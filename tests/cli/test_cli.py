"""The command line through click's CliRunner, on a real MLflow store in a temporary directory.

Each command's happy path, then a table of bad inputs: the exit code (2 for an option or
parameter, 1 for data), the one-line message, no traceback, no output file left behind.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from cli_store import FIT_ARGS, N_TEST, SENSORS, error_line, fitted_store, in_fitted_store, run

from seqae import devices, tracking
from seqae.alerts import ALERT_COLUMNS
from seqae.cli import cli


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    return fitted_store(tmp_path_factory)


@pytest.fixture
def in_store(tmp_path_factory, monkeypatch):
    """Run in the store's directory, on its ./mlruns (no MLFLOW_TRACKING_URI)."""
    return in_fitted_store(tmp_path_factory, monkeypatch)


# ---- the group ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: cli {command}") or f"{command} [OPTIONS]" in result.stdout
    assert cli.commands[command].help and cli.commands[command].help.split()[0] in result.stdout


def test_help_lists_every_command_and_version():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("fit", "score", "evaluate", "serve", "ui", "runs", "demo"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M)
    assert run("--version").stdout.strip() == "seqae, version 0.1.0"


def test_threads_option_and_environment_set_torch_threads(in_store, monkeypatch, tmp_path):
    """Each command that runs torch applies them once its arguments parse: here `score` of a model
    that is not there, which fails after that."""
    data = tmp_path / "data.csv"
    data.write_text("timestamp,a\n2026-01-01 00:00:00,1.0\n")

    def score(*options) -> int:
        result = run(*options, "score", "models:/no-such-model", data, "-o", tmp_path / "scores.csv")
        assert "cannot load the model" in error_line(result)
        return torch.get_num_threads()

    before = torch.get_num_threads()
    try:
        assert score("--threads", 3) == 3
        monkeypatch.setenv("SEQAE_THREADS", "2")
        assert score() == 2
        monkeypatch.delenv("SEQAE_THREADS")
        assert score() == 1  # the default
        result = run("--threads", 0, "score", "models:/no-such-model", data, "-o", tmp_path / "scores.csv")
        assert result.exit_code == 2 and "0 is not in the range" in error_line(result)
        assert score("--threads", 3) == 3
        assert devices.threads_wanted() == 3  # what fits and scoring run on
        assert not (tmp_path / "scores.csv").exists()
    finally:
        torch.set_num_threads(before)
        devices.set_threads(None)


def test_a_gap_in_the_timestamps_is_one_warning_line_and_the_fit_goes_on(tmp_path, monkeypatch, fitted):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    frame = pd.read_csv(fitted.train_csv)
    stamps = pd.to_datetime(frame["timestamp"])
    frame["timestamp"] = (stamps.where(stamps.index < 100, stamps + pd.Timedelta(hours=2))).astype(str)
    gappy = tmp_path / "gappy.csv"
    frame.to_csv(gappy, index=False)
    result = run("fit", gappy, "--model", "deviation", "--label-column", "anomaly", "-q")
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warning_lines) == 1 and "1 gap in the timestamps" in warning_lines[0]
    assert "2 h" in warning_lines[0]


@pytest.mark.parametrize("args, exit_code", [
    (["--help"], 0), (["--version"], 0), (["fit", "--help"], 0), (["score", "--help"], 0),
    (["fit"], 2),  # a missing argument
    (["fit", "--bogus", "data.csv"], 2),  # an unknown option
    (["score", "models:/m-1"], 2),
    (["--threads", "2", "watch"], 2),
])
def test_help_and_usage_errors_load_neither_torch_nor_pandas_nor_mlflow(args, exit_code):
    code = ("import sys; from click.testing import CliRunner; from seqae.cli import cli; "
            f"assert CliRunner().invoke(cli, {args!r}).exit_code == {exit_code}; "
            "print(sorted(m for m in ('torch', 'pandas', 'mlflow', 'sklearn', 'scipy') if m in sys.modules))")
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "[]"


def test_the_store_alone_loads_neither_torch_nor_the_detectors():
    """`seqae runs` and `seqae ui` need only seqae.tracking's store: its names load their own module."""
    code = ("import sys; from seqae import tracking; from seqae.tracking import runs_table, use_store; "
            "print(sorted(m for m in ('torch', 'sklearn', 'matplotlib', 'seqae.detectors') if m in sys.modules)); "
            "tracking.load_detector; print('torch' in sys.modules)")
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split() == ["[]", "True"]  # and the rest of the package is there when asked for


def test_the_choices_the_cli_names_without_importing_are_the_packages_own():
    from seqae import devices, tracking
    from seqae.cli_options import DEFAULT_EXPERIMENT, DUPLICATE_POLICIES, FILL_POLICIES, MODEL_TYPES, TIME_UNITS
    from seqae.data import DUPLICATE_POLICIES as duplicate_policies, FILL_POLICIES as fill_policies
    from seqae.data import TIME_UNITS as time_units
    from seqae.detectors import DETECTORS
    from seqae.tracking.fit import PLOT_SETS

    assert MODEL_TYPES == tuple(DETECTORS)
    assert tuple(next(p for p in cli.commands["fit"].params if p.name == "plots").type.choices) == PLOT_SETS
    assert (FILL_POLICIES, TIME_UNITS) == (tuple(fill_policies), tuple(time_units))
    assert DUPLICATE_POLICIES == tuple(duplicate_policies)
    assert DEFAULT_EXPERIMENT == tracking.DEFAULT_EXPERIMENT


def test_python_dash_m_seqae_is_the_command():
    answer = subprocess.run([sys.executable, "-m", "seqae", "--version"], capture_output=True, text=True,
                            timeout=120)
    assert answer.returncode == 0
    assert answer.stdout.strip() == "seqae, version 0.1.0"


# ---- fit ---------------------------------------------------------------------------------------------

def test_fit_prints_run_model_and_how_to_view_it(fitted):
    out = fitted.fit_output
    assert re.search(r"^Fitted lstm-ae on 400 rows x 3 sensors in [\d.]+ s, best epoch \d of 3; threshold ",
                     out, re.M)
    assert f"run:    {fitted.run_id}  (experiment 'seqae')" in out
    assert f"model:  {fitted.model_uri}" in out
    assert "models:/seqae-test@champion" in out
    assert re.search(rf"view:   seqae ui, then open http://127\.0\.0\.1:5000/#/experiments/\d+/runs/"
                     rf"{fitted.run_id}\?workflowType=machine_learning", out)


def test_fit_excludes_the_label_column_from_the_sensors(in_store):
    detector = tracking.load_detector(in_store.model_uri).detector
    assert list(detector.feature_names_in_) == SENSORS


def test_fit_with_threshold_params_and_train_until_quiet(in_store):
    result = run("fit", in_store.test_csv, "--columns", "sensor_0,sensor_2", "--model", "pca",
                 "--window-size", "4", "--threshold", "ucl:q=0.95,factor=2", "-p", "n_components=3",
                 "--train-until", "2026-01-01 00:08:20", "--run-name", "pca-fit", "--quiet")
    assert result.exit_code == 0, result.output
    model_uri = result.stdout.strip()
    assert re.fullmatch(r"models:/m-[0-9a-f]+", model_uri)  # --quiet: the URI only
    detector = tracking.load_detector(model_uri).detector
    assert list(detector.feature_names_in_) == ["sensor_0", "sensor_2"]
    assert detector.n_components == 3 and detector.threshold.factor == 2
    run_data = MlflowClient().search_runs(
        [tracking.experiment_id("seqae")], "tags.mlflow.runName = 'pca-fit'")[0].data
    # test.csv starts at 00:06:40; up to 00:08:20 inclusive is 101 rows
    assert run_data.params["n_train_rows"] == "101"
    assert run_data.params["threshold"] == "ucl" and run_data.params["threshold_factor"] == "2"


def test_fit_draws_the_loss_curves_and_scores_by_default_and_every_figure_or_none_on_request(in_store):
    client = MlflowClient()
    assert {a.path for a in client.list_artifacts(in_store.run_id, "plots")} == {"plots/loss_curves.png",
                                                                                 "plots/scores.png"}
    for plots, expected in (("none", set()), ("all", {"plots/scores.png", "plots/sensor_contributions.png"})):
        result = run("fit", in_store.train_csv, "--label-column", "anomaly", "--model", "pca", "--window-size", "4",
                     "--plots", plots, "--run-name", f"plots-{plots}")
        assert result.exit_code == 0, result.output
        run_id = re.search(r"^run:\s+([0-9a-f]{32})", result.stdout, re.M).group(1)
        assert {a.path for a in client.list_artifacts(run_id, "plots")} == expected
        assert {a.path for a in client.list_artifacts(run_id, "alerts")} == {"alerts/training_alerts.csv"}


def test_fit_logs_to_mlflow_tracking_uri_when_set(tmp_path, monkeypatch, fitted):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = run("fit", fitted.train_csv, "--model", "pca", "--window-size", "2", "--experiment", "env-store",
                 "-q")
    assert result.exit_code == 0, result.output
    assert tracking.resolve_store().tracking_uri == uri
    runs = tracking.runs_table("env-store")
    assert len(runs) == 1 and runs["model"].iloc[0] == "pca"
    assert not (tmp_path / "mlruns").exists()  # neither seqae's default store nor MLflow's ./mlruns artifacts


def test_a_sqlite_tracking_uri_keeps_artifacts_beside_its_database(tmp_path, monkeypatch, fitted):
    team = tmp_path / "team"
    team.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{team / 'mlflow.db'}")
    result = run("fit", fitted.train_csv, "--model", "pca", "--window-size", "2", "--experiment", "team", "-q")
    assert result.exit_code == 0, result.output
    assert (team / "artifacts").is_dir() and any((team / "artifacts").rglob("MLmodel"))
    assert not (tmp_path / "mlruns").exists()


# ---- score -------------------------------------------------------------------------------------------

def test_score_writes_scores_and_alerts_equal_to_the_detector(in_store, tmp_path):
    scores_csv, intervals_csv = tmp_path / "scores.csv", tmp_path / "intervals.csv"
    result = run("score", in_store.registered_uri, in_store.test_csv, "-o", scores_csv,
                 "--intervals", intervals_csv)
    assert result.exit_code == 0, result.output
    assert re.match(rf"Scored {N_TEST} rows: \d+ flagged, \d+ alerts \(score 1.0 = the threshold, [\d.e+-]+ raw "
                    r"at the start\) -> ", result.stdout)
    scores = pd.read_csv(scores_csv)
    assert list(scores.columns) == ["timestamp", "score", "raw_score", "is_anomaly", "alert_id", "warming_up",
                                    *[f"contribution_{s}" for s in SENSORS]]
    assert len(scores) == N_TEST
    detector = tracking.load_detector(in_store.model_uri).detector
    detection = detector.detect(pd.read_csv(in_store.test_csv, index_col="timestamp")[SENSORS])
    np.testing.assert_array_equal(scores["score"].to_numpy(), detection.scores)
    np.testing.assert_array_equal(scores["raw_score"].to_numpy(), detection.raw_scores)
    np.testing.assert_array_equal(scores["is_anomaly"].to_numpy(), detection.flags)
    alerts = detector.find_alerts(detection)
    np.testing.assert_array_equal(scores["alert_id"].to_numpy(), alerts.alert_ids)
    table = pd.read_csv(intervals_csv)
    assert list(table.columns) == ALERT_COLUMNS
    assert len(table) == len(alerts.table) >= 1
    assert set(scores.loc[scores["alert_id"] >= 0, "alert_id"]) == set(table["alert_id"])


def test_score_in_bfloat16_is_close_to_float32(in_store, tmp_path):
    exact, reduced = tmp_path / "float32.csv", tmp_path / "bfloat16.csv"
    assert run("score", in_store.registered_uri, in_store.test_csv, "-o", exact).exit_code == 0
    result = run("score", in_store.registered_uri, in_store.test_csv, "-o", reduced, "--precision", "bfloat16")
    if tracking.load_detector(in_store.registered_uri).detector.supports_precision("bfloat16"):
        assert result.exit_code == 0, result.output
        a, b = pd.read_csv(exact)["raw_score"].to_numpy(), pd.read_csv(reduced)["raw_score"].to_numpy()
        scored = np.isfinite(a)
        assert not np.array_equal(a[scored], b[scored]) and np.corrcoef(a[scored], b[scored])[0, 1] > 0.999
    else:  # a CPU without bfloat16 kernels for the LSTM: one line, nothing written
        assert result.exit_code == 2  # a configuration error, as every ConfigError in the CLI
        assert "cannot run model 'lstm-ae' in bfloat16" in error_line(result)
        assert not reduced.exists()
    result = run("score", in_store.registered_uri, in_store.test_csv, "-o", reduced, "--precision", "float16")
    assert result.exit_code == 2 and "'float16' is not one of 'float32', 'bfloat16'" in error_line(result)


def test_score_on_device_cpu_equals_the_default_and_cuda_without_a_gpu_is_one_line(in_store, tmp_path):
    default, on_cpu, on_cuda = tmp_path / "default.csv", tmp_path / "cpu.csv", tmp_path / "cuda.csv"
    assert run("score", in_store.registered_uri, in_store.test_csv, "-o", default).exit_code == 0
    result = run("score", in_store.registered_uri, in_store.test_csv, "-o", on_cpu, "--device", "cpu")
    assert result.exit_code == 0, result.output
    if not torch.cuda.is_available():  # auto is the CPU here: the same scores, to the bit
        assert on_cpu.read_bytes() == default.read_bytes()
        for command in (["score", in_store.registered_uri, in_store.test_csv, "-o", on_cuda],
                        ["fit", in_store.train_csv, *FIT_ARGS], ["serve", in_store.registered_uri]):
            result = run(*command, "--device", "cuda")
            assert result.exit_code == 2
            assert "device 'cuda': torch sees no CUDA GPU here" in error_line(result)
        assert not on_cuda.exists()
    result = run("score", in_store.registered_uri, in_store.test_csv, "-o", on_cuda, "--device", "tpu")
    assert result.exit_code == 2 and "'tpu' is not one of 'auto', 'cpu', 'cuda'" in error_line(result)


def test_score_accepts_a_saved_detector_directory_and_a_downloaded_model(in_store, tmp_path):
    import mlflow

    detector = tracking.load_detector(in_store.model_uri).detector
    saved = detector.save(tmp_path / "saved")
    downloaded = mlflow.artifacts.download_artifacts(in_store.model_uri, dst_path=str(tmp_path / "dl"))
    outputs = []
    for source in (saved, downloaded, f"runs:/{in_store.run_id}/model", "models:/seqae-test/latest"):
        out = tmp_path / f"scores-{len(outputs)}.csv"
        result = run("score", source, in_store.test_csv, "-o", out)
        assert result.exit_code == 0, result.output
        outputs.append(pd.read_csv(out))
    for other in outputs[1:]:
        pd.testing.assert_frame_equal(outputs[0], other)


# ---- evaluate / runs ---------------------------------------------------------------------------------

def test_evaluate_prints_the_table_and_logs_to_the_models_run(in_store):
    result = run("evaluate", in_store.model_uri, in_store.test_csv, "--label-column", "anomaly")
    assert result.exit_code == 0, result.output
    assert "Ranking, retrospective" in result.stdout and "Live decisions" in result.stdout
    for label in ("precision", "recall", "F1", "false-alarm rate (%)", "AUC-PR", "alert time precision",
                  "NAB score"):
        assert re.search(rf"^  {re.escape(label)}\s+(-?\d+\.\d+%?|n/a)  \S", result.stdout, re.M), label
    assert f"logged to the model's run {in_store.run_id}" in result.stdout
    run_info = MlflowClient().get_run(in_store.run_id)
    for key in ("evaluation details/precision", "evaluation details/recall", "evaluation details/f1",
                "evaluation details/far", "Evaluation/auc_pr", "Evaluation/live_auc_pr",
                "evaluation details/alert_time_precision"):
        assert key in run_info.data.metrics
    auc_pr = float(re.search(r"^  AUC-PR\s+(\S+)  ", result.stdout, re.M).group(1))
    assert run_info.data.metrics["Evaluation/auc_pr"] == pytest.approx(auc_pr, abs=5e-4)
    contexts = {d.dataset.name: [t.value for t in d.tags if t.key == "mlflow.data.context"]
                for d in run_info.inputs.dataset_inputs}
    assert contexts["test.csv"] == ["evaluation"] and contexts["train.csv"] == ["training"]
    artifacts = {a.path for a in MlflowClient().list_artifacts(in_store.run_id, "evaluation/test")}
    assert {"evaluation/test/scores.png", "evaluation/test/alerts.csv"} <= artifacts


def test_evaluate_a_model_without_a_run_makes_a_new_run(in_store, tmp_path):
    saved = tracking.load_detector(in_store.model_uri).detector.save(tmp_path / "saved")
    result = run("evaluate", saved, in_store.test_csv, "--label-column", "anomaly", "--experiment", "offline")
    assert result.exit_code == 0, result.output
    run_id = re.search(r"logged to a new run ([0-9a-f]{32})", result.stdout).group(1)
    assert "evaluation details/f1" in MlflowClient().get_run(run_id).data.metrics


def test_runs_lists_the_session_fit(in_store):
    result = run("runs")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:6] == ["run", "name", "status", "started", "model", "model_uri"]
    assert any(row.startswith(in_store.run_id[:8]) and "session-fit" in row and "lstm-ae" in row
               and in_store.model_uri in row for row in rows)
    wide = run("runs", "--wide")
    assert wide.stdout.splitlines()[0].split()[:2] == ["run_id", "name"]
    assert any(row.startswith(in_store.run_id) for row in wide.stdout.splitlines())


def test_runs_shows_the_flat_metric_names_of_older_runs(in_store):
    client = MlflowClient()
    older = client.create_run(tracking.experiment_id("flat-names"), run_name="flat-names")
    now = int(time.time() * 1000)
    flat = {"eval_auc_pr": 0.6125, "threshold": 3.25, "eval_f1": 0.4375, "best_validation_loss": 0.0625,
            "eval_far": 1.5}
    client.log_batch(older.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in flat.items()])
    client.set_terminated(older.info.run_id)
    result = run("runs", "--experiment", "flat-names", "--wide")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    shown = dict(zip(header.split()[-8:], row.split()[-8:]))  # the metric and param columns: no spaces in them
    assert shown == {"eval_auc_pr": "0.6125", "threshold": "3.25", "eval_f1": "0.4375", "window": "-", "epochs": "-",
                     "train_rows": "-", "best_val_loss": "0.0625", "eval_far_%": "1.5"}, result.stdout


def test_runs_of_an_empty_experiment(in_store):
    tracking.experiment_id("empty")
    result = run("runs", "--experiment", "empty")
    assert result.exit_code == 0
    assert "no runs in experiment 'empty' yet" in result.stdout


# ---- demo --------------------------------------------------------------------------------------------

def test_demo_fits_scores_evaluates_and_logs_one_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = run("demo", "--epochs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for kind in ("spike", "level_shift", "noise", "frequency"):
        assert re.search(rf"^\s*{kind}\s+sensor_\d", out, re.M)
    for name in ("train.csv", "test.csv", "scores.csv", "intervals.csv"):
        assert (tmp_path / "seqae-demo" / name).is_file()
    run_id = re.search(r"run ([0-9a-f]{32}), model models:/m-", out).group(1)
    logged = MlflowClient().get_run(run_id)
    assert logged.info.run_name == "demo-lstm-ae"
    assert {"Loss/train", "scores/threshold", "evaluation details/f1", "Evaluation/auc_pr"} <= set(logged.data.metrics)
    assert "?workflowType=machine_learning" in out
    # the no-network baseline on the same rows, printed and logged beside the network's figures
    baseline = re.search(r"deviation baseline .* gets AUC-PR ([\d.]+), F1 ([\d.]+) on the same rows", out)
    assert baseline, out
    assert logged.data.metrics["baseline/auc_pr"] == pytest.approx(float(baseline.group(1)), abs=5e-4)
    assert 0 < logged.data.metrics["baseline/auc_pr"] < 1
    # which figure is whose: the baseline's injected anomalies named as the baseline's, the model's beside them
    covered = re.search(r"The baseline's alerts cover (\d) of 4 injected anomalies \(missed: [^)]*\), the LSTM "
                        r"autoencoder's (\d)\.", out)
    assert covered, out
    model_rows = re.findall(r"^\s*(?:spike|level_shift|noise|frequency)\s+sensor_\d.*\s(True|False)\s", out, re.M)
    assert len(model_rows) == 4 and int(covered.group(2)) == model_rows.count("True"), out


# ---- bad input -----------------------------------------------------------------------------------------

@pytest.fixture
def bad_files(tmp_path):
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=40, freq="s").astype(str),
                          "sensor_0": np.arange(40.0), "sensor_1": np.ones(40), "sensor_2": np.zeros(40)})
    text = frame.copy()
    text["sensor_1"] = text["sensor_1"].astype(object)
    text.loc[7, "sensor_1"] = "n/a?"
    paths = {"text": tmp_path / "text.csv", "short": tmp_path / "short.csv",
             "two_sensors": tmp_path / "two_sensors.csv"}
    text.to_csv(paths["text"], index=False)
    frame.iloc[:5].to_csv(paths["short"], index=False)
    frame.drop(columns="sensor_2").to_csv(paths["two_sensors"], index=False)
    return paths


TRAIN, TEST, MODEL = "<train>", "<test>", "<model>"
BAD_INPUTS = [  # (arguments, exit code, the message, as a regex)
    (["fit", "missing.csv"], 2, r"Invalid value for 'DATA...': Path 'missing.csv' does not exist"),
    (["fit", TRAIN, "--model", "transformer"], 2, r"'transformer' is not one of 'auto', 'lstm-ae'"),
    (["fit", TRAIN, "--threshold", "quantile:q=2"], 2, r"threshold spec 'quantile:q=2': quantile q must be"),
    (["fit", TRAIN, "--threshold", "quantile:q"], 2, r"'q' is not NAME=VALUE"),
    (["fit", TRAIN, "-p", "beta"], 2, r"'beta' is not NAME=VALUE"),
    (["fit", TRAIN, "--model", "lstm-ae", "-p", "beta=0.5"], 2, r"^Error: model 'lstm-ae' takes no parameter 'beta'"),
    (["fit", TRAIN, "-p", "beta=0.5"], 2, r"beta sets a parameter of one model, and --model auto chooses its own"),
    (["fit", TRAIN, "--train-rows", "5", "--train-until", "2026-01-01"], 2,
     r"^Error: give either --train-rows or --train-until, not both$"),
    (["fit", TRAIN, "--train-until", "yesterday"], 2, r"^Error: --train-until 'yesterday' is not a timestamp"),
    (["fit", TRAIN, "--register", "x", "--alias", "latest"], 2, r"^Error: alias 'latest' is reserved by MLflow"),
    (["fit", TRAIN, "--model", "lstm-ae", "--epochs", "0"], 2, r"^Error: epochs must be a positive integer, got 0$"),
    (["fit", TRAIN, "--label-column", "anomaly", "--train-rows", "10", *FIT_ARGS], 1,
     r"^Error: \S*train\.csv: the data has 10 rows, fewer than one window \(window_size=16\)"),
    (["fit", TRAIN, "--columns", "sensor_0,pressure"], 1, r"^Error: \S*train\.csv: column 'pressure' not found"),
    (["fit", "text"], 1, r"^Error: \S*text\.csv: column 'sensor_1' has 1 non-numeric values \(first at row 9: 'n/a\?'\)"),
    (["score", "models:/no-such-model@latest", TEST, "-o", "out.csv"], 2,
     r"^Error: models:/no-such-model@latest: cannot load the model \("),
    (["score", "no/such/dir", TEST, "-o", "out.csv"], 2, r"^Error: no/such/dir: no such model directory"),
    (["score", MODEL, "two_sensors", "-o", "out.csv"], 1,
     r"^Error: \S*two_sensors\.csv: column 'sensor_2' that the model was fitted on is missing"),
    (["score", MODEL, "short", "-o", "out.csv"], 1,
     r"^Error: \S*short\.csv: has 5 rows, fewer than one window \(window_size=16\)"),
    (["score", MODEL, "text", "-o", "out.csv"], 1, r"^Error: \S*text\.csv: column 'sensor_1' has 1 non-numeric"),
    (["score", MODEL, TEST, "-o", "no-dir/out.csv"], 2, r"^Error: no-dir/out.csv: the directory 'no-dir' does not exist; create it first$"),
    (["score", MODEL, TEST], 2, r"Missing option '--output' / '-o'"),
    (["score", MODEL, TEST, "-o", "x.csv", "--intervals", "x.csv"], 2,
     r"^Error: --output and --intervals both name x.csv: the second would replace the first"),
    (["evaluate", MODEL, TEST, "--label-column", "truth"], 1, r"^Error: \S*test\.csv: label column 'truth' not found"),
    (["evaluate", MODEL, TEST, "--label-column", "sensor_0"], 1,
     r"^Error: \S*test\.csv: column 'sensor_0' is named both as a sensor and as a label column"),
    (["runs", "--experiment", "nope"], 2, r"^Error: no experiment named 'nope' in sqlite:///"),
]


@pytest.mark.parametrize("args, code, message", BAD_INPUTS, ids=[" ".join(a[:2]) + f" #{i}"
                                                                  for i, (a, _, _) in enumerate(BAD_INPUTS)])
def test_bad_input_is_one_line_with_its_exit_code_and_no_output_file(in_store, bad_files, tmp_path,
                                                                    monkeypatch, args, code, message):
    substitutes = {TRAIN: in_store.train_csv, TEST: in_store.test_csv, MODEL: in_store.model_uri,
                   **{name: path for name, path in bad_files.items()}}
    args = [str(substitutes.get(a, a)) for a in args]
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    # The session's store, named by the variable, so that the commands run in an empty directory.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{in_store.root / 'mlruns' / 'mlflow.db'}")
    result = run(*args)
    assert result.exit_code == code, result.output
    assert re.search(message, error_line(result)), error_line(result)
    assert sorted(p.name for p in workdir.iterdir()) == []  # no output, no temporary file


@pytest.mark.parametrize("args", [["--epochs", "0"], ["-p", "dropout=abc"], ["--train-rows", "10"]])
def test_a_fit_refused_for_its_parameters_or_too_few_rows_leaves_no_run(in_store, args):
    result = run("fit", in_store.train_csv, "--label-column", "anomaly", *FIT_ARGS[:-4], *args,
                 "--experiment", "refused")
    assert result.exit_code in (1, 2)
    assert error_line(result)
    experiment = MlflowClient().get_experiment_by_name("refused")
    assert experiment is None or not MlflowClient().search_runs([experiment.experiment_id])


def test_a_failed_score_leaves_an_existing_output_as_it_was(in_store, bad_files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.csv").write_text("previous results\n")
    result = run("score", in_store.model_uri, bad_files["short"], "-o", out / "scores.csv",
                 "--intervals", out / "intervals.csv")
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["scores.csv"]
    assert (out / "scores.csv").read_text() == "previous results\n"


def test_ui_refuses_a_tracking_server_uri(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    result = run("ui", "--port", "5999")
    assert result.exit_code == 2
    assert re.search(r"^Error: MLFLOW_TRACKING_URI is a tracking server \(http://mlflow\.example:5000\); "
                     r"open it in a browser", error_line(result))
