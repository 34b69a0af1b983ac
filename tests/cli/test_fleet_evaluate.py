"""`seqae evaluate` of a fleet model, from the command line, against a real MLflow store and real CSV
files: each machine's line equals `seqae evaluate` of that machine's own detector on its rows alone,
and the pooled figures are made from the machines' counts added up."""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from cli_store import enter_store
from seqae import tracking
from seqae.cli import cli
from seqae.synthetic import make_fleet_data

N_ROWS, N_TRAIN = 360, 180


@pytest.fixture(scope="module")
def fleet_files(tmp_path_factory):
    """A labelled export of 3 machines (anomalies in the second half of each), and a fleet of PCA
    detectors fitted on each machine's first half with `seqae fit --asset-column machine`."""
    root = tmp_path_factory.mktemp("fleet-evaluate")
    frame, labels = make_fleet_data(3, N_ROWS, 3, anomalies=("spike", "level_shift", "noise"), normal_rows=N_TRAIN,
                                    anomaly_length=25, random_state=5)
    frame.assign(anomaly=labels.to_numpy()).to_csv(root / "fleet.csv", index_label="timestamp")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = CliRunner().invoke(cli, ["fit", "fleet.csv", "--asset-column", "machine", "--model", "pca",
                                          "--window-size", "16", "--train-rows", str(N_TRAIN),
                                          "--label-column", "anomaly", "--jobs", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_id = re.search(r"^run:\s+([0-9a-f]{32})", result.output, re.M).group(1)
    model_uri = re.search(r"^model:\s+(\S+)", result.output, re.M).group(1)
    return root, run_id, model_uri


@pytest.fixture
def in_store(fleet_files, monkeypatch):
    enter_store(fleet_files[0], monkeypatch)
    return fleet_files


def evaluate(*args):
    return CliRunner().invoke(cli, ["evaluate", *map(str, args), "--label-column", "anomaly"])


def test_each_machine_as_evaluate_of_its_own_detector_and_the_fleet_pooled_from_their_counts(in_store, tmp_path):
    root, run_id, model_uri = in_store
    result = evaluate(model_uri, "fleet.csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Per machine (ranking, retrospective | live decisions, as `seqae watch` makes them):"
    assert lines[1].split()[:4] == ["machine", "rows", "AUC-PR", "VUS-PR"]
    assert [line.split()[:2] for line in lines[2:5]] == [["m00", str(N_ROWS)], ["m01", str(N_ROWS)],
                                                         ["m02", str(N_ROWS)]]
    assert "Pooled over 3 machines" in result.stdout and "Ranking, retrospective" in result.stdout
    assert re.search(r"^  AUC-PR \(mean\)\s+\d\.\d{3}  ", result.stdout, re.M)
    assert f"logged to the model's run {run_id} with the per-machine table evaluation/fleet/per_machine.csv" \
        in result.stdout

    per_machine = pd.read_csv(mlflow.artifacts.download_artifacts(
        f"runs:/{run_id}/evaluation/fleet/per_machine.csv", dst_path=str(tmp_path)), dtype={"machine": str})
    assert list(per_machine["machine"]) == ["m00", "m01", "m02"] and set(per_machine["detector"]) == {"own"}
    fleet = tracking.load_model(model_uri).detector
    rows = pd.read_csv(root / "fleet.csv")
    for _, row in per_machine.iterrows():  # the machine's rows alone, evaluated with its own detector
        machine = row["machine"]
        rows[rows["machine"] == machine].drop(columns="machine").to_csv(tmp_path / f"{machine}.csv", index=False)
        saved = fleet.detectors_[machine].save(tmp_path / f"model-{machine}")
        alone = evaluate(saved, tmp_path / f"{machine}.csv", "--experiment", "per-machine")
        assert alone.exit_code == 0, alone.output
        single_run = re.search(r"logged to a new run ([0-9a-f]{32})", alone.stdout).group(1)
        logged = {key.partition("/")[2]: value for key, value in MlflowClient().get_run(single_run).data.metrics.items()}
        finite = {key: float(row[key]) for key in logged}
        assert logged == finite, machine
        assert sorted(key for key in per_machine.columns[3:] if np.isfinite(row[key])) == sorted(logged)
        assert re.search(rf"^{machine} +{N_ROWS} +{logged['auc_pr']:.3f} +{logged['vus_pr']:.3f} +\| ",
                         result.stdout, re.M)

    pooled = {key.partition("/")[2]: value for key, value in MlflowClient().get_run(run_id).data.metrics.items()
              if key.partition("/")[0] in ("Evaluation", "evaluation details")}
    for key in ("tp", "fp", "tn", "fn", "n_alerts", "n_true_alerts", "n_anomalies", "n_anomalies_found",
                "n_events", "n_detected_events", "n_normal_rows"):
        assert pooled[key] == per_machine[key].sum(), key
    tp, fp, fn = (per_machine[key].sum() for key in ("tp", "fp", "fn"))
    assert pooled["precision"] == pytest.approx(tp / (tp + fp), rel=1e-12)
    assert pooled["recall"] == pytest.approx(tp / (tp + fn), rel=1e-12)
    assert pooled["alert_precision"] == pytest.approx(per_machine["n_true_alerts"].sum()
                                                      / per_machine["n_alerts"].sum(), rel=1e-12)
    for key in ("auc_pr", "vus_pr", "live_auc_pr"):  # rankings: the mean over machines
        assert pooled[key] == pytest.approx(per_machine[key].mean(), rel=1e-12)
    assert f"({int(tp + fn)} of {3 * N_ROWS} rows labelled anomalous, {int(tp + fp)} flagged)" in result.stdout


def test_machines_the_fleet_has_no_detector_for_are_named_in_one_line(in_store, tmp_path):
    rows = pd.read_csv(in_store[0] / "fleet.csv")
    rows["machine"] = rows["machine"].replace({"m01": "m08", "m02": "m09"})
    rows.to_csv(tmp_path / "new.csv", index=False)
    result = evaluate(in_store[2], tmp_path / "new.csv")
    assert result.exit_code == 1
    assert re.fullmatch(r"Error: \S*new\.csv: machine 'm08', 'm09' have no detector in this model \(it has 3: "
                        r"'m00', 'm01', 'm02'\); drop their rows from the file, or fit the fleet on them too .*\n",
                        result.output)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows.drop(columns="machine"), r"column 'machine' that names each row's asset is not found"),
    (lambda rows: rows.drop(columns="sensor_1"), r"sensor_1"),
    (lambda rows: rows.drop(columns="anomaly"), r"label column 'anomaly' not found"),
])
def test_a_fleet_export_without_what_the_model_needs_is_a_one_line_error(in_store, tmp_path, change, message):
    change(pd.read_csv(in_store[0] / "fleet.csv")).to_csv(tmp_path / "bad.csv", index=False)
    result = evaluate(in_store[2], tmp_path / "bad.csv")
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1 and re.search(message, result.output)


def test_a_fleet_with_a_shared_detector_evaluates_a_new_machine_with_it(fleet_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fitted = CliRunner().invoke(cli, ["fit", str(fleet_files[0] / "fleet.csv"), "--asset-column", "machine",
                                      "--model", "pca", "--window-size", "16", "--train-rows", str(N_TRAIN),
                                      "--label-column", "anomaly", "--jobs", "1", "--fallback", "shared"])
    assert fitted.exit_code == 0, fitted.output
    run_id = re.search(r"^run:\s+([0-9a-f]{32})", fitted.output, re.M).group(1)
    model_uri = re.search(r"^model:\s+(\S+)", fitted.output, re.M).group(1)
    rows = pd.read_csv(fleet_files[0] / "fleet.csv")
    rows["machine"] = rows["machine"].replace({"m02": "m09"})
    rows.to_csv(tmp_path / "new.csv", index=False)

    result = evaluate(model_uri, tmp_path / "new.csv")
    assert result.exit_code == 0, result.output
    assert re.search(rf"^m09 \(shared\) +{N_ROWS} ", result.stdout, re.M), result.stdout
    per_machine = pd.read_csv(mlflow.artifacts.download_artifacts(
        f"runs:/{run_id}/evaluation/new/per_machine.csv", dst_path=str(tmp_path)), dtype={"machine": str})
    assert dict(zip(per_machine["machine"], per_machine["detector"])) == {"m00": "own", "m01": "own", "m09": "shared"}
