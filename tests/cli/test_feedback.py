"""`seqae feedback` through the CLI on a real MLflow store: verdicts learnt, versioned, bounded."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli_store import chdir, error_line, run
from seqae import tracking

N_TRAIN, N_TEST = 400, 500
BUMPS = (150, 350)  # where the test file holds the same harmless bump twice


def _series(n: int, first: int, seed: int) -> np.ndarray:
    t = np.arange(first, first + n)
    rng = np.random.default_rng(seed)
    return np.column_stack([np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 50)]) + 0.02 * rng.normal(size=(n, 2))


def _write(path, values: np.ndarray, first: int) -> None:
    times = pd.date_range("2026-03-02", periods=len(values) + first, freq="s")[first:]
    pd.DataFrame(values, columns=["a", "b"], index=times).to_csv(path, index_label="timestamp")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A store in tmp_path with `m` version 1 (knn-window) fitted on a clean sine, and a test file
    with the same bump twice (and `spike.csv` with one huge spike)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _write(tmp_path / "train.csv", _series(N_TRAIN, 0, 0), 0)
    test = _series(N_TEST, N_TRAIN, 1)
    bump = 1.5 * np.hanning(30)
    for at in BUMPS:
        test[at:at + 30, 0] += bump
    _write(tmp_path / "test.csv", test, N_TRAIN)
    with chdir(tmp_path):
        result = run("fit", "train.csv", "--model", "knn-window", "--window-size", "10", "--register", "m", "-q")
        assert result.exit_code == 0, result.output
        yield tmp_path


def _alerts(path) -> pd.DataFrame:
    return pd.read_csv(path)


def _versions() -> list[str]:
    return sorted(str(v.version) for v in MlflowClient().search_model_versions("name='m'"))


def test_a_normal_verdict_makes_version_2_with_its_lineage_and_the_pattern_stops_alerting(store):
    result = run("score", "models:/m/1", "test.csv", "-o", "s1.csv", "--intervals", "a1.csv")
    assert result.exit_code == 0, result.output
    assert "alerts kept for feedback" in result.output
    before = _alerts("a1.csv")
    scoring_run = re.search(r"alerts kept for feedback in run (\w+)", result.output).group(1)
    with open(MlflowClient().download_artifacts(scoring_run, "alerts/followed_levels.json", str(store))) as handle:
        levels = json.load(handle)  # the level each alert was raised at, for its verdict's windows
    assert sorted(levels) == sorted(str(a) for a in before["alert_id"]) and all(len(v) == 2 for v in levels.values())
    starts = pd.to_datetime(before["start"])
    second_bump = pd.Timestamp("2026-03-02") + pd.Timedelta(seconds=N_TRAIN + BUMPS[1])
    assert len(before) >= 2 and (abs(starts - second_bump) < pd.Timedelta(seconds=40)).any()
    first = before.iloc[0]
    (store / "v.csv").write_text(f"start,end,verdict,note\n{first['start']},{first['end']},normal,the Monday bump\n")

    result = run("feedback", "models:/m/1", "--verdicts", "v.csv")
    assert result.exit_code == 0, result.output
    assert "models:/m/2" in result.output and _versions() == ["1", "2"]

    client = MlflowClient()
    v1, v2 = client.get_model_version("m", "1"), client.get_model_version("m", "2")
    tags = client.get_run(v2.run_id).data.tags
    assert tags["seqae.parent_run_id"] == v1.run_id and tags["seqae.parent_model_uri"] == "models:/m/1"
    inputs = client.get_run(v2.run_id).inputs.dataset_inputs
    assert any(d.dataset.name == "verdicts" for d in inputs)
    logged = client.get_run(v2.run_id).data.metrics  # the verdict's effect, its key figures first on the run page
    assert logged["Feedback/threshold_ratio"] >= 1 and {"Feedback/peak_before", "feedback details/windows_learnt"} <= set(logged)
    assert client.get_registered_model("m").aliases == {}  # no --alias: no alias moves

    result = run("score", "models:/m/2", "test.csv", "-o", "s2.csv", "--intervals", "a2.csv", "--no-track")
    assert result.exit_code == 0, result.output
    after = _alerts("a2.csv")
    late = pd.to_datetime(after["start"]) > pd.Timestamp(first["end"])
    assert not (abs(pd.to_datetime(after["start"][late]) - second_bump) < pd.Timedelta(seconds=40)).any(), after


def test_a_fault_verdict_by_alert_id_is_kept_with_the_new_version_and_the_alias_moves_when_asked(store):
    assert run("score", "models:/m/1", "test.csv", "-o", "s1.csv").exit_code == 0
    result = run("feedback", "models:/m/1", "--alert", "0", "--fault", "--note", "valve stuck", "--alias", "champion")
    assert result.exit_code == 0, result.output
    assert "fault kept" in result.output
    detector = tracking.load_detector("models:/m@champion").detector
    assert [f["note"] for f in detector.faults_] == ["valve stuck"]
    assert detector.faults_[0]["top_sensors"][0][0] == "a"


def test_a_normal_verdict_beyond_extreme_needs_force_where_no_memory_learns_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _write(tmp_path / "train.csv", _series(N_TRAIN, 0, 0), 0)
    test = _series(200, N_TRAIN, 1)
    test[100:130, 0] += 40.0
    _write(tmp_path / "test.csv", test, N_TRAIN)
    with chdir(tmp_path):
        assert run("fit", "train.csv", "--model", "deviation", "--window-size", "10", "--register", "m",
                   "-q").exit_code == 0
        assert run("score", "models:/m/1", "test.csv", "-o", "s.csv").exit_code == 0
        result = run("feedback", "models:/m/1", "--alert", "0", "--normal")
        assert result.exit_code == 1
        assert "pass --force" in error_line(result) and _versions() == ["1"]
        result = run("feedback", "models:/m/1", "--alert", "0", "--normal", "--force")
        assert result.exit_code == 0, result.output
        ratio = float(re.search(r"threshold x([0-9.e+]+)", result.output).group(1))
        assert ratio > 3.0 and _versions() == ["1", "2"]


@pytest.mark.parametrize("content, code, message", [
    ("when,verdict\n1,normal\n", 2, "expected the columns start,end,verdict,note"),
    ("start,end,verdict,note\n2026-03-02 00:10:00,2026-03-02 00:11:00,harmless,\n", 2, "must be normal or fault"),
    ("alert_id,verdict\nseven,normal\n", 2, "alert_id must be a whole number"),
    ("start,end,verdict,note\n", 2, "no verdict"),
    ("start,end,verdict,note\n2020-01-01 00:00:00,2020-01-01 00:01:00,normal,\n", 1, "is in no scoring run"),
])
def test_bad_verdicts_are_one_line_and_register_nothing(store, content, code, message):
    assert run("score", "models:/m/1", "test.csv", "-o", "s1.csv").exit_code == 0
    (store / "v.csv").write_text(content)
    result = run("feedback", "models:/m/1", "--verdicts", "v.csv")
    assert result.exit_code == code, result.output
    assert message in error_line(result)
    assert _versions() == ["1"]
    assert not [r for r in MlflowClient().search_runs(["1"]) if r.data.tags.get("seqae.kind") == "feedback"]


def test_verdicts_from_data_need_no_scoring_run(store):
    result = run("score", "models:/m/1", "test.csv", "-o", "s1.csv", "--intervals", "a1.csv", "--no-track")
    assert result.exit_code == 0 and "alerts kept" not in result.output
    first = _alerts("a1.csv").iloc[0]
    (store / "v.csv").write_text(f"start,end,verdict\n{first['start']},{first['end']},normal\n")
    assert "is in no scoring run" in error_line(run("feedback", "models:/m/1", "--verdicts", "v.csv"))
    result = run("feedback", "models:/m/1", "--verdicts", "v.csv", "--data", "test.csv")
    assert result.exit_code == 0, result.output
    assert os.path.exists("v.csv") and _versions() == ["1", "2"]
