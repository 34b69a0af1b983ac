"""A fault verdict kept as a labelled example: the alert table's `like_fault` (score --intervals,
watch, the served model) and `seqae evaluate --labels-from-verdicts`, on a real MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_store import chdir, error_line, run
from seqae import tracking
from seqae.alerts.faults import like_fault, similarity

REPO = Path(__file__).resolve().parents[2]
N_TRAIN, N_TEST = 400, 600
# (first row of the test file, sensor): a level shift of 30 rows; the first two are the same fault
SHIFTS = ((100, "a"), (300, "a"), (480, "c"))
SENSORS = ["a", "b", "c"]


def _series(n: int, first: int, seed: int) -> np.ndarray:
    t = np.arange(first, first + n)
    rng = np.random.default_rng(seed)
    waves = [np.sin(2 * np.pi * t / 50), np.cos(2 * np.pi * t / 50), np.sin(2 * np.pi * t / 35)]
    return np.column_stack(waves) + 0.02 * rng.normal(size=(n, 3))


def _write(path, values: np.ndarray, first: int) -> None:
    times = pd.date_range("2026-03-02", periods=len(values) + first, freq="s")[first:]
    pd.DataFrame(values, columns=SENSORS, index=times).to_csv(path, index_label="timestamp")


def _time(row: int) -> pd.Timestamp:
    return pd.Timestamp("2026-03-02") + pd.Timedelta(seconds=N_TRAIN + row)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """`m` version 1 (knn-window) fitted on clean waves; `test.csv` with the three level shifts, scored
    by version 1 (the alert table `a1.csv`); version 2: its first alert kept as a fault."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _write(tmp_path / "train.csv", _series(N_TRAIN, 0, 0), 0)
    test = _series(N_TEST, N_TRAIN, 1)
    for row, sensor in SHIFTS:
        test[row:row + 30, SENSORS.index(sensor)] += 1.0
    _write(tmp_path / "test.csv", test, N_TRAIN)
    with chdir(tmp_path):
        result = run("fit", "train.csv", "--model", "knn-window", "--window-size", "10", "--register", "m", "-q")
        assert result.exit_code == 0, result.output
        result = run("score", "models:/m/1", "test.csv", "-o", "s1.csv", "--intervals", "a1.csv")
        assert result.exit_code == 0, result.output
        table = pd.read_csv("a1.csv", keep_default_na=False)
        assert [_shift_of(start) for start in table["start"]] == [0, 1, 2], table
        result = run("feedback", "models:/m/1", "--alert", "0", "--fault", "--note", "valve stuck")
        assert result.exit_code == 0, result.output
        yield tmp_path


def _shift_of(start) -> int | None:
    """Which of `SHIFTS` an alert starting at `start` is on."""
    start = pd.Timestamp(start)
    return next((k for k, (row, _) in enumerate(SHIFTS) if abs(start - _time(row)) < pd.Timedelta(seconds=15)), None)


def test_an_alert_like_a_kept_fault_is_marked_in_score_watch_and_the_served_answer(store):
    result = run("score", "models:/m/2", "test.csv", "-o", "s2.csv", "--intervals", "a2.csv", "--no-track")
    assert result.exit_code == 0, result.output
    before, after = pd.read_csv("a1.csv", keep_default_na=False), pd.read_csv("a2.csv", keep_default_na=False)
    fault = tracking.load_detector("models:/m/2").detector.faults_[0]
    marked = f"{fault['start']} (valve stuck)"
    assert list(after["like_fault"]) == [marked, marked, ""]  # the fault itself, the second like it, the other not
    assert list(before["like_fault"]) == ["", "", ""]  # version 1 keeps no fault
    # matching only annotates: the decisions are the same
    assert before.drop(columns="like_fault").equals(after.drop(columns="like_fault"))
    s1, s2 = pd.read_csv("s1.csv"), pd.read_csv("s2.csv")
    assert s1[["is_anomaly", "alert_id"]].equals(s2[["is_anomaly", "alert_id"]])

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    watched = subprocess.run([sys.executable, "-m", "seqae", "watch", "models:/m/2", "-", "--no-track"], cwd=store,
                             env=env, input=(store / "test.csv").read_text(), capture_output=True, text=True,
                             timeout=120)
    assert watched.returncode == 0, watched.stderr
    events = [json.loads(line)["alert"] for line in watched.stdout.splitlines() if '"alert": {' in line]
    opened = {e["alert_id"]: e["like_fault"] for e in events if e["event"] == "open"}
    assert opened == {0: marked, 1: marked, 2: ""}  # marked when it fires, as in the table

    frame = pd.read_csv("test.csv", index_col="timestamp")
    answer = tracking.load_pyfunc_model("models:/m/2").predict(frame)
    by_alert = answer[answer["alert_id"] >= 0].groupby("alert_id")["like_fault"].agg(set).to_dict()
    assert by_alert == {0: {marked}, 1: {marked}, 2: {""}}
    assert set(answer.loc[answer["alert_id"] < 0, "like_fault"]) == {""}
    assert "like_fault" not in tracking.load_pyfunc_model("models:/m/1").predict(frame).columns


def test_evaluate_labels_a_file_from_the_verdicts_of_the_models_versions(store):
    table = pd.read_csv("a1.csv")
    normal = table.iloc[2]
    (store / "v.csv").write_text(f"start,end,verdict,note\n{normal['start']},{normal['end']},normal,pump test\n")
    result = run("feedback", "models:/m/2", "--verdicts", "v.csv", "--data", "test.csv")
    assert result.exit_code == 0, result.output

    times = pd.read_csv("test.csv", index_col="timestamp", parse_dates=True).index
    fault_rows = int(((times >= table["start"][0]) & (times <= table["end"][0])).sum())
    normal_rows = int(((times >= normal["start"]) & (times <= normal["end"])).sum())
    for version in ("1", "3"):  # every version is evaluated on the same labels
        result = run("evaluate", f"models:/m/{version}", "test.csv", "--labels-from-verdicts")
        assert result.exit_code == 0, result.output
        assert f"({fault_rows} of {N_TEST} rows labelled anomalous" in result.output
        assert (f"Warning: {N_TEST - fault_rows - normal_rows} of {N_TEST} rows have no verdict and count as normal"
                in result.stderr)


@pytest.mark.parametrize("args", [[], ["--label-column", "x", "--labels-from-verdicts"]])
def test_evaluate_takes_the_labels_one_way(tmp_path, args):
    (tmp_path / "test.csv").write_text("a,x\n1,0\n")
    result = run("evaluate", "models:/m/1", tmp_path / "test.csv", *args)
    assert result.exit_code == 2 and "give the labels one way" in result.output


def test_evaluate_with_verdict_labels_refuses_in_one_line_without_verdicts_or_their_rows(store):
    assert run("fit", "train.csv", "--model", "pca", "--window-size", "10", "--register", "q", "-q").exit_code == 0
    for args, message in [(["models:/q/1", "test.csv"], "registered model 'q' has no operator verdicts"),
                          (["models:/m/1", "train.csv"], "none of the 1 verdicts of models:/m/1 falls")]:
        result = run("evaluate", *args, "--labels-from-verdicts")
        assert result.exit_code == 1 and message in error_line(result), result.output


@pytest.mark.parametrize("alert, fault, expected", [
    ({"a": 0.94, "b": 0.05, "c": 0.01}, {"a": 0.93, "b": 0.05, "c": 0.02}, 1.0),
    ({"a": 1.0}, {"c": 1.0}, 0.0),
    ({"a": 0.5, "b": 0.5}, {"a": 1.0}, np.sqrt(0.5)),
    ({}, {"a": 1.0}, 0.0),
])
def test_similarity_of_share_profiles(alert, fault, expected):
    assert similarity(alert, fault) == pytest.approx(expected, abs=2e-3)


def test_like_fault_names_the_closest_fault_above_the_cutoff_and_nothing_without_shares():
    names = ["a", "b", "c"]
    faults = [{"start": "2026-03-04 10:00:00", "note": "", "top_sensors": [["c", 0.9], ["b", 0.1]]},
              {"start": "2026-03-05 08:00:00", "note": "valve", "top_sensors": [["a", 0.8], ["b", 0.2]]}]
    assert like_fault(np.array([8.0, 2.0, 0.1]), names, faults) == "2026-03-05 08:00:00 (valve)"
    assert like_fault(np.array([0.0, 1.0, 9.0]), names, faults) == "2026-03-04 10:00:00"
    assert like_fault(np.array([1.0, 1.0, 1.0]), names, faults) == ""  # cos 0.86 and 0.08: under 0.9
    assert like_fault(None, names, faults) == "" and like_fault(np.zeros(3), names, faults) == ""
