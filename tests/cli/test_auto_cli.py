"""`seqae fit` with no model named: auto-configuration through the real CLI and a real MLflow store.

Two fits of the same generated sensors (400 training rows, seed 0): the default alone, and with
--compare. The console names the default, its members and why; stderr shows one line per stage;
the plain fit is one run with no child runs; the compared fit has every candidate as a finished
child run with its validation AP, exactly one marked chosen, and keeps the same model (its scores
equal the plain fit's); the logged model scores a file like any other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from seqae.cli import cli
from seqae.synthetic import make_sensor_data


def _fit(root, *extra):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = CliRunner().invoke(cli, ["fit", "train.csv", "--seed", "0", *extra])
        assert result.exit_code == 0, result.output
        client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
        experiment = client.get_experiment_by_name("seqae")
        runs = client.search_runs([experiment.experiment_id])
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "auto")}
        score = CliRunner().invoke(cli, ["score", _model_uri(result.stdout), "all.csv", "-o", "scores.csv"])
        scores = pd.read_csv(root / "scores.csv") if score.exit_code == 0 else None
    return result, runs, score, scores, artifacts


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    frame, _, _ = make_sensor_data(700, 3, normal_rows=400, anomalies=("level_shift",), random_state=2)
    out = {}
    for name, extra in (("plain", []), ("compared", ["--compare"])):
        root = tmp_path_factory.mktemp(name)
        frame.iloc[:400].to_csv(root / "train.csv", index_label="timestamp")
        frame.to_csv(root / "all.csv", index_label="timestamp")
        out[name] = _fit(root, *extra)
    return out


def _model_uri(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith("model:"))


def test_the_console_names_the_default_its_members_and_why(fits):
    result = fits["plain"][0]
    first = result.stdout.splitlines()[0]
    assert first.startswith("auto: knn-window+deviation+lstm-ae w=") and "window" in first
    assert "the LSTM autoencoder for the shape through time" in first
    assert "validation AP" not in first and "--compare scores the alternatives" in first
    compared = fits["compared"][0].stdout.splitlines()[0]
    assert compared.startswith(first.split(" (")[0]) and "validation AP" in compared


def test_stderr_has_one_line_per_stage(fits):
    lines = fits["plain"][0].stderr.splitlines()
    stages = [line for line in lines if line.startswith("auto: ")]
    assert stages[0].startswith("auto: the period and window of 400 rows x 3 sensors: done in ")
    assert stages[-1].startswith("auto: fitting knn-window+deviation+lstm-ae w=") and " done in " in stages[-1]
    assert not any("\r" in line for line in lines)  # no bar: stderr is not a terminal here
    compared = [line for line in fits["compared"][0].stderr.splitlines() if line.startswith("auto: ")]
    assert any(line.startswith("auto: fitting candidate 2 of ") for line in compared)
    assert compared[-1].startswith("auto: scoring ")


def test_the_plain_fit_is_one_run_without_children(fits):
    _, runs, _, _, artifacts = fits["plain"]
    assert len(runs) == 1 and runs[0].data.params["auto.candidates"] == "0"
    assert runs[0].data.params["model_type"] == "ensemble"
    assert runs[0].data.tags["seqae.auto.reason"].startswith("auto: knn-window+deviation+lstm-ae")
    assert "auto/candidates.csv" not in artifacts


def test_every_compared_candidate_is_a_child_run_and_the_default_is_chosen(fits):
    _, runs, _, _, artifacts = fits["compared"]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert int(parent.data.params["auto.candidates"]) == len(children) >= 3
    assert all(c.info.status == "FINISHED" and 0.0 <= c.data.metrics["Validation/ap"] <= 1.0 for c in children)
    chosen = [c for c in children if c.data.tags["seqae.auto.chosen"] == "true"]
    assert len(chosen) == 1
    assert chosen[0].data.params["model_type"] == parent.data.params["model_type"] == \
        parent.data.tags["seqae.model_type"]
    assert parent.data.tags["seqae.auto.reason"].startswith("auto: ")
    assert "scores/threshold" in parent.data.metrics
    assert "auto/candidates.csv" in artifacts


def test_comparing_keeps_the_same_model(fits):
    plain, compared = fits["plain"][3], fits["compared"][3]
    assert plain is not None and compared is not None
    assert np.array_equal(plain["score"].to_numpy(), compared["score"].to_numpy(), equal_nan=True)


def test_the_chosen_model_scores_a_file(fits):
    _, _, score, scores, _ = fits["plain"]
    assert score.exit_code == 0, score.output
    assert len(scores) == 700
    warming = scores["warming_up"].astype(bool)
    assert np.isfinite(scores.loc[scores["raw_score"].notna(), "score"]).all() and not scores.loc[warming, "is_anomaly"].any()
    assert scores["score"].notna().sum() > 600  # every row after the first window has its score


@pytest.mark.parametrize("extra, message", [
    (["--model", "pca"], "--compare compares auto's candidates on one data set; leave out --model"),
    (["--asset-column", "machine"], "leave out --asset-column"),
])
def test_compare_needs_auto_on_one_data_set(tmp_path, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rows = np.random.default_rng(0).normal(size=(300, 2))
    pd.DataFrame(rows, columns=["a", "b"]).assign(machine="m1").to_csv("train.csv", index_label="step")
    result = CliRunner().invoke(cli, ["fit", "train.csv", "--compare", *extra])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "mlruns").exists()


def test_options_of_one_model_need_the_model_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rows = np.random.default_rng(0).normal(size=(300, 2))
    pd.DataFrame(rows, columns=["a", "b"]).to_csv("train.csv", index_label="step")
    result = CliRunner().invoke(cli, ["fit", "train.csv", "--epochs", "3"])
    assert result.exit_code == 2
    assert "epochs sets a parameter of one model, and --model auto chooses its own" in result.output
    assert not (tmp_path / "mlruns").exists() or not any((tmp_path / "mlruns").rglob("*.png"))


def test_the_alert_rules_and_column_roles_pass_through_auto(tmp_path, monkeypatch):
    """What decides and what the columns are is the user's to set on the default too; the model is auto's."""
    from seqae.tracking import load_detector

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.normal(size=300)},
                         index=pd.date_range("2026-01-01", periods=300, freq="min"))
    frame.to_csv("train.csv", index_label="timestamp")
    result = CliRunner().invoke(cli, ["fit", "train.csv", "-q", "--param", "networks=false",
                                      "--param", 'alert_rules={"settle": 60, "burn_in": 10}',
                                      "--param", 'roles={"c": "state"}'])
    assert result.exit_code == 0, result.output
    detector = load_detector(result.stdout.strip().splitlines()[-1]).detector
    assert detector.alert_rules_.settle == 60 and detector.alert_rules_.burn_in == 10
    assert detector.roles_ == {"a": "continuous", "b": "continuous", "c": "state"}
    assert list(detector.feature_names_in_) == ["a", "b"]  # the state column is not modelled
