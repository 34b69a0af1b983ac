"""Several recordings per model and one model per machine, from the command line, against a real
MLflow store, real CSV files, real worker processes and a real `seqae serve` over HTTP."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from cli_store import chdir, enter_store, free_port, start_seqae, stop, wait_for
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from seqae import tracking
from seqae.cli import cli
from seqae.data import read_fleet_csv, read_sensor_csv
from seqae.detectors import make_detector
from seqae.fleet import FitSpec, FleetDetector
from seqae.fleet import score_fleet_csv
from seqae.synthetic import make_fleet_data

WINDOW = "16"
N_TRAIN, N_NEW = 400, 150


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory):
    """A fleet export of 3 machines (train and new rows, the new ones with a machine never seen),
    one file per machine, and `seqae fit --asset-column machine --fallback shared -j 2` on it."""
    root = tmp_path_factory.mktemp("fleet-store")
    frame, _ = make_fleet_data(3, N_TRAIN + N_NEW, 3, random_state=3)
    times = frame.index.unique()
    train, new = frame[frame.index < times[N_TRAIN]], frame[frame.index >= times[N_TRAIN]]
    new = new.replace({"machine": {"m02": "m09"}})  # a machine the model has not seen
    train.to_csv(root / "fleet.csv", index_label="timestamp")
    new.to_csv(root / "fleet_new.csv", index_label="timestamp")
    (root / "recordings").mkdir()
    for machine, rows in train.groupby("machine"):
        rows.drop(columns="machine").to_csv(root / "recordings" / f"{machine}.csv", index_label="timestamp")
    with chdir(root):
        result = CliRunner(env={"MLFLOW_TRACKING_URI": None}).invoke(
            cli, ["fit", "fleet.csv", "--asset-column", "machine", "--model", "knn-window", "--window-size", WINDOW,
                  "--fallback", "shared", "--jobs", "2", "--register", "pumps", "--alias", "champion"],
            catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root, result.output


@pytest.fixture
def in_store(fleet_store, monkeypatch):
    enter_store(fleet_store[0], monkeypatch)
    return fleet_store


def run_id_of(output: str) -> str:
    return re.search(r"^run:\s+([0-9a-f]{32})", output, re.M).group(1)


# ---- several recordings, one model ------------------------------------------------------------------

def test_a_directory_of_recordings_fits_one_model_with_every_file_a_dataset(in_store):
    root, _ = in_store
    result = CliRunner().invoke(cli, ["fit", "recordings", "--model", "pca", "--window-size", WINDOW])
    assert result.exit_code == 0, result.output
    assert "Fitted pca on 1200 rows of 3 files x 3 sensors" in result.output
    run = MlflowClient().get_run(run_id_of(result.output))
    assert sorted(d.dataset.name for d in run.inputs.dataset_inputs) == ["m00.csv", "m01.csv", "m02.csv"]
    assert run.data.params["n_files"] == "3" and run.data.params["files"] == "m00.csv,m01.csv,m02.csv"
    logged = tracking.load_detector(f"runs:/{run.info.run_id}/model").detector
    parts = [read_sensor_csv(root / "recordings" / f"m0{k}.csv") for k in range(3)]
    in_memory = make_detector("pca", window_size=int(WINDOW)).fit(parts)  # no window across two files
    np.testing.assert_array_equal(logged.detect(parts[1]).scores, in_memory.detect(parts[1]).scores)
    assert logged.threshold_.value_ == in_memory.threshold_.value_


def test_auto_configures_one_model_on_several_files(in_store):
    result = CliRunner().invoke(cli, ["fit", "recordings/m00.csv", "recordings/m01.csv", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("auto: ")
    assert "rows of 2 files" in result.output
    run = MlflowClient().get_run(run_id_of(result.output))
    assert len(run.inputs.dataset_inputs) == 2


# ---- one model per machine ----------------------------------------------------------------------------

def test_a_fleet_fit_is_a_parent_run_with_a_child_per_machine_and_one_registered_model(in_store):
    _, output = in_store
    assert "Fitted 3 machines (knn-window for 3) and a shared fallback detector on 1200 rows x 3 sensors" in output
    assert "with 2 processes" in output and "models:/pumps@champion" in output
    client = MlflowClient()
    parent = client.get_run(run_id_of(output))
    assert parent.data.tags["seqae.asset_column"] == "machine" and parent.data.metrics["training/assets"] == 3
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.data.tags["seqae.asset"] for c in children) == ["(shared)", "m00", "m01", "m02"]
    assert all("scores/threshold" in c.data.metrics and c.data.params["model_type"] == "knn-window" for c in children)
    assert "fleet/assets.csv" in [a.path for a in client.list_artifacts(parent.info.run_id, "fleet")]
    version = client.get_model_version_by_alias("pumps", "champion")
    assert version.run_id == parent.info.run_id  # the whole fleet is one version of one model
    fleet = tracking.load_model("models:/pumps@champion").detector
    assert isinstance(fleet, FleetDetector) and fleet.assets_ == ["m00", "m01", "m02"]


def test_score_routes_each_machine_and_keeps_the_machine_column(in_store, tmp_path):
    root, _ = in_store
    out, alerts = tmp_path / "scores.csv", tmp_path / "alerts.csv"
    result = CliRunner().invoke(cli, ["score", "models:/pumps@champion", "fleet_new.csv", "-o", str(out),
                                      "--intervals", str(alerts)])
    assert result.exit_code == 0, result.output
    assert f"Scored {3 * N_NEW} rows of 3 machines" in result.output
    scores = pd.read_csv(out)
    assert list(scores.columns[:3]) == ["timestamp", "machine", "score"]
    assert list(pd.unique(scores["machine"])) == ["m00", "m01", "m09"]
    fleet = tracking.load_model("models:/pumps@champion").detector
    new = pd.read_csv(root / "fleet_new.csv", index_col="timestamp", parse_dates=True)
    expected = fleet.score_frame(new)
    for machine in ("m00", "m01", "m09"):  # m09: the shared fallback detector
        np.testing.assert_allclose(scores.loc[scores["machine"] == machine, "score"].to_numpy(),
                                   expected.loc[expected["machine"] == machine, "score"].to_numpy(), rtol=1e-12)
    assert pd.read_csv(alerts).columns[0] == "machine"


def test_chunked_fleet_scoring_equals_the_whole_fleet_scored_at_once(in_store, tmp_path):
    root, _ = in_store
    fleet = tracking.load_model("models:/pumps@champion").detector
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    score_fleet_csv(fleet, root / "fleet_new.csv", whole, quiet=True)
    score_fleet_csv(fleet, root / "fleet_new.csv", chunked, chunk_rows=37, quiet=True)
    pd.testing.assert_frame_equal(pd.read_csv(whole), pd.read_csv(chunked))


@pytest.mark.parametrize("option, message", [
    (["--reconstruction", "expected.csv"], "--reconstruction does not apply to a fleet model, which answers scores "
     "only; score one machine's rows with a model fitted on it alone for its expected readings"),
])
def test_score_refuses_what_a_fleet_model_does_not_answer_in_one_line(in_store, tmp_path, option, message):
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(cli, ["score", "models:/pumps@champion", "fleet_new.csv", "-o", str(out), *option])
    assert result.exit_code == 2 and result.output.strip() == f"Error: {message}"
    assert not out.exists() and not (in_store[0] / "expected.csv").exists()


@pytest.fixture(scope="module")
def fleet_without_fallback(fleet_store):
    """The same machines fitted in this process without a fallback, saved as a directory."""
    root, _ = fleet_store
    assets = read_fleet_csv(root / "fleet.csv", "machine")
    fleet = FleetDetector(FitSpec("knn-window", {"window_size": int(WINDOW)})).fit(assets)
    return fleet.save(root / "fleet-model"), fleet


def test_an_unseen_machine_is_one_line_naming_it_and_writes_nothing(in_store, fleet_without_fallback, tmp_path):
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(cli, ["score", str(fleet_without_fallback[0]), "fleet_new.csv", "-o", str(out)])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "Traceback" not in result.output
    assert "fleet_new.csv: machine 'm09' has no detector in this model (it has 3: 'm00', 'm01', 'm02')" in result.output
    assert "--fallback shared" in result.output and not out.exists()


def test_fleet_errors_at_fit_are_one_line(in_store):
    runner = CliRunner()
    both = runner.invoke(cli, ["fit", "fleet.csv", "fleet_new.csv", "--asset-column", "machine"])
    assert both.exit_code == 2 and both.output.strip() == "Error: --asset-column reads one fleet export; got 2 paths"
    for option in (["--jobs", "2"], ["--fallback", "shared"]):
        alone = runner.invoke(cli, ["fit", "fleet.csv", *option])
        assert alone.exit_code == 2
        assert alone.output.strip() == f"Error: {option[0]} applies to a fleet: give --asset-column too"
    missing = runner.invoke(cli, ["fit", "fleet.csv", "--asset-column", "pump", "--model", "deviation"])
    assert missing.exit_code == 1
    assert "fleet.csv: column 'pump' that names each row's asset is not found" in missing.output


# ---- serving ------------------------------------------------------------------------------------------

def post(url: str, frame: pd.DataFrame) -> tuple[int, dict]:
    body = json.dumps({"dataframe_split": {"columns": list(frame.columns),
                                           "data": frame.astype(object).to_numpy().tolist()}}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_served_fleet_routes_each_request_by_machine(in_store, fleet_without_fallback, tmp_path):
    root, _ = in_store
    directory, fleet = fleet_without_fallback
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_seqae(["serve", str(directory), "--port", str(port)], cwd=root, log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(f"{url}/ping", process, log)
        new = pd.read_csv(root / "fleet_new.csv")
        rows = new[new["machine"] != "m09"].drop(columns="timestamp").reset_index(drop=True)  # interleaved m00, m01
        status, answer = post(url, rows)
        assert status == 200, answer
        served = pd.DataFrame(answer["predictions"])
        expected = fleet.score_frame(rows)
        assert list(served["machine"]) == list(rows["machine"])
        np.testing.assert_array_equal(served["score"].to_numpy(), expected["score"].to_numpy())
        np.testing.assert_array_equal(served["alert_id"].to_numpy(), expected["alert_id"].to_numpy())
        np.testing.assert_array_equal(served["is_anomaly"].to_numpy(), expected["is_anomaly"].to_numpy())
        assert len(set(fleet.detectors_[m].threshold_.value_ for m in ("m00", "m01"))) == 2  # each its own

        status, answer = post(url, new.drop(columns="timestamp"))
        assert status == 400 and "machine 'm09' has no detector in this model" in answer["message"]
        assert "\n" not in answer["message"]
        status, answer = post(url, rows.drop(columns="machine"))
        assert status == 400 and "column 'machine' that names each row's machine is missing" in answer["message"]
        status, answer = post(url, rows.iloc[:10])
        assert status == 400 and "fewer than one window" in answer["message"]
    finally:
        assert stop(process) in (0, -15), log.read_text()


def test_errors_in_one_machines_rows_name_the_machine_and_the_fleet_files_line(in_store, fleet_without_fallback,
                                                                                tmp_path):
    root, _ = in_store
    lines = (root / "fleet_new.csv").read_text().splitlines()
    bad_line = next(i for i, line in enumerate(lines) if ",m01," in line and i > 40) + 1  # 1-based file line
    parts = lines[bad_line - 1].split(",")
    parts[3] = "abc"
    lines[bad_line - 1] = ",".join(parts)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    fleet = fleet_without_fallback[1]
    keep = FleetDetector.from_detectors({**fleet.detectors_, "m09": fleet.detectors_["m00"]}, asset_column="machine")
    with pytest.raises(Exception, match=rf"bad.csv, machine 'm01': column 'sensor_1' has 1 non-numeric values "
                                        rf"\(first at row {bad_line}: 'abc'\)"):
        score_fleet_csv(keep, bad, tmp_path / "scores.csv", quiet=True)
    assert not (tmp_path / "scores.csv").exists()
    with pytest.raises(Exception, match=rf"bad.csv: column 'sensor_1' has 1 non-numeric values "
                                        rf"\(first at row {bad_line}: 'abc'\)"):
        read_fleet_csv(bad, "machine")
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join(lines[:3] + [lines[1]]) + "\n")  # m00's first row again, on line 4
    with pytest.raises(Exception, match=r"twice.csv, machine 'm00': timestamp .* appears more than once \(row 4 "):
        read_fleet_csv(twice, "machine")
