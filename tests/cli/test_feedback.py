"""`seqae feedback` through the CLI on a real MLflow store: verdicts learnt, versioned, bounded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli_store import chdir, error_line, run
from seqae import tracking

REPO = Path(__file__).resolve().parents[2]
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
    ("start,end,verdict,note\n2020-01-01 00:00:00,2020-01-01 00:01:00,normal,\n", 1, "is in no scoring or watch run"),
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
    assert "is in no scoring or watch run" in error_line(run("feedback", "models:/m/1", "--verdicts", "v.csv"))
    result = run("feedback", "models:/m/1", "--verdicts", "v.csv", "--data", "test.csv")
    assert result.exit_code == 0, result.output
    assert os.path.exists("v.csv") and _versions() == ["1", "2"]


# ---- the alerts a watch raised -------------------------------------------------------------------------

def _watch(model: str, csv: str, *args: str) -> tuple[list[dict], str | None]:
    """`python -m seqae watch MODEL -` with the rows of `csv` piped in, on the store in the cwd: the
    alerts it opened (their answers' `alert`) and its monitoring run's id."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "seqae", "watch", model, "-", *args], input=Path(csv).read_text(),
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    opened = []
    for line in done.stdout.splitlines():
        alert = json.loads(line)["alert"]
        for event in [] if alert is None else alert if isinstance(alert, list) else [alert]:
            if event["event"] == "open":
                opened.append(event)
    found = re.search(r"monitoring run (\w+)", done.stderr)
    return opened, found.group(1) if found else None


def test_a_normal_verdict_on_a_watch_alert_by_id_is_learnt_from_the_watch_run(store):
    opened, watch_run = _watch("models:/m/1", "test.csv")
    assert watch_run and opened, opened
    alert = opened[0]
    client = MlflowClient()
    kept = client.list_artifacts(watch_run, "monitoring/rows")
    assert f"monitoring/rows/{alert['alert_id']}.csv" in [f.path for f in kept]
    rows = pd.read_csv(client.download_artifacts(watch_run, f"monitoring/rows/{alert['alert_id']}.csv", str(store)),
                       index_col=0, parse_dates=True)
    start = pd.Timestamp(alert["start"])
    assert rows.index[0] == start - pd.Timedelta(seconds=9) and list(rows.columns) == ["a", "b"]  # window_size - 1 before
    with open(client.download_artifacts(watch_run, "monitoring/followed_levels.json", str(store))) as handle:
        assert len(json.load(handle)[str(alert["alert_id"])]) == 2

    result = run("feedback", "models:/m/1", "--alert", alert["alert_id"], "--normal")
    assert result.exit_code == 0, result.output
    assert f"from watch run {watch_run}" in result.output and _versions() == ["1", "2"]

    again, _ = _watch("models:/m/2", "test.csv", "--no-track")
    assert not [a for a in again if abs(pd.Timestamp(a["start"]) - start) < pd.Timedelta(seconds=40)], again
    assert len(again) < len(opened)


def test_an_alert_id_is_looked_up_in_the_newest_run_or_the_run_named(store):
    result = run("score", "models:/m/1", "test.csv", "-o", "s1.csv")
    scoring_run = re.search(r"alerts kept for feedback in run (\w+)", result.output).group(1)
    opened, watch_run = _watch("models:/m/1", "test.csv")  # newer, with an alert 0 too
    assert opened[0]["alert_id"] == 0

    result = run("feedback", "models:/m/1", "--alert", "0", "--fault")
    assert result.exit_code == 0, result.output
    assert f"from watch run {watch_run} (watch <stdin>), the newest with it" in result.output
    result = run("feedback", "models:/m/1", "--alert", "0", "--fault", "--run", scoring_run)
    assert result.exit_code == 0, result.output
    assert f"from scoring run {scoring_run}" in result.output and _versions() == ["1", "2", "3"]

    message = error_line(run("feedback", "models:/m/1", "--alert", "99", "--normal"))
    assert "alert 99 is in no scoring or watch run of models:/m/1" in message
    assert "the latest 20 `seqae score` and 20 `seqae watch` runs" in message and "--run RUN_ID" in message
    message = error_line(run("feedback", "models:/m/1", "--alert", "99", "--normal", "--run", watch_run))
    assert f"(looked in run {watch_run})" in message
    assert "no such run" in error_line(run("feedback", "models:/m/1", "--alert", "0", "--normal", "--run", "f" * 32))
    fit_run = MlflowClient().get_model_version("m", "1").run_id
    assert "keeps no alerts" in error_line(run("feedback", "models:/m/1", "--alert", "0", "--normal", "--run", fit_run))
    assert _versions() == ["1", "2", "3"]
