"""`seqae fit` with no model named: auto-configuration through the real CLI and a real MLflow store.

One fit on generated periodic sensors (400 training rows): the console names what was chosen and
why, the parent run holds the winner (its parameters, `auto.*` choices, the reason as a tag, the
model), every candidate is a finished child run with its validation AP, exactly one is marked
chosen, and the logged model scores a file like any other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from seqae.cli import cli
from seqae.synthetic import make_sensor_data


@pytest.fixture(scope="module")
def auto_fit_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto")
    frame, _, _ = make_sensor_data(700, 3, normal_rows=400, anomalies=("level_shift",), random_state=2)
    frame.iloc[:400].to_csv(root / "train.csv", index_label="timestamp")
    frame.to_csv(root / "all.csv", index_label="timestamp")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = CliRunner().invoke(cli, ["fit", "train.csv", "--seed", "0"])
        assert result.exit_code == 0, result.output
        client = MlflowClient(tracking_uri=f"sqlite:///{root}/mlruns/mlflow.db")
        experiment = client.get_experiment_by_name("seqae")
        runs = client.search_runs([experiment.experiment_id])
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "auto")}
        score = CliRunner().invoke(cli, ["score", _model_uri(result.output), "all.csv", "-o", "scores.csv"])
        scores = pd.read_csv(root / "scores.csv") if score.exit_code == 0 else None
    return result, runs, score, scores, artifacts


def _model_uri(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith("model:"))


def test_the_console_says_what_was_chosen_and_why(auto_fit_run):
    result = auto_fit_run[0]
    first = result.output.splitlines()[0]
    assert first.startswith("auto: ") and "validation AP" in first and "window" in first


def test_every_candidate_is_a_child_run_and_one_is_chosen(auto_fit_run):
    _, runs, _, _, artifacts = auto_fit_run
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert int(parent.data.params["auto.candidates"]) == len(children) >= 3
    assert all(c.info.status == "FINISHED" and 0.0 <= c.data.metrics["validation_ap"] <= 1.0 for c in children)
    chosen = [c for c in children if c.data.tags["seqae.auto.chosen"] == "true"]
    assert len(chosen) == 1
    assert chosen[0].data.params["model_type"] == parent.data.params["model_type"] == \
        parent.data.tags["seqae.model_type"]
    assert parent.data.tags["seqae.auto.reason"].startswith("auto: ")
    assert "threshold" in parent.data.metrics
    assert "auto/candidates.csv" in artifacts


def test_the_chosen_model_scores_a_file(auto_fit_run):
    _, _, score, scores, _ = auto_fit_run
    assert score.exit_code == 0, score.output
    assert len(scores) == 700
    warming = scores["warming_up"].astype(bool)
    assert np.isfinite(scores.loc[scores["raw_score"].notna(), "score"]).all() and not scores.loc[warming, "is_anomaly"].any()
    assert scores["score"].notna().sum() > 600  # every row after the first window has its score


def test_options_of_one_model_need_the_model_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    rows = np.random.default_rng(0).normal(size=(300, 2))
    pd.DataFrame(rows, columns=["a", "b"]).to_csv("train.csv", index_label="step")
    result = CliRunner().invoke(cli, ["fit", "train.csv", "--epochs", "3"])
    assert result.exit_code == 2
    assert "epochs sets a parameter of one model, and --model auto chooses its own" in result.output
    assert not (tmp_path / "mlruns").exists() or not any((tmp_path / "mlruns").rglob("*.png"))
