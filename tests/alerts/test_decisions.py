"""Decisions as live monitoring makes them, end to end: one truth for when an alert fired (`seqae score
--intervals` and a real `seqae watch` subprocess agree, and nothing places an alert before the change),
flags that stay few while normal behaviour drifts, a lasting change that settles, the calibrated score."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from seqae.cli import cli
from seqae.detectors import make_detector

REPO = Path(__file__).resolve().parents[2]
N_TRAIN, N_TEST, SHIFT_AT, WINDOW = 600, 600, 420, 24


def periodic(n: int, seed: int, trend_per_row: float = 0.0) -> pd.DataFrame:
    """Two noisy sine sensors (period 40 rows), sampled every second, with an optional slow trend."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = np.c_[np.sin(2 * np.pi * t / 40), np.cos(2 * np.pi * t / 40)] + 0.1 * rng.normal(size=(n, 2))
    values += trend_per_row * t[:, None]
    return pd.DataFrame(values, columns=["flow", "pressure"],
                        index=pd.date_range("2026-03-01", periods=n, freq="s", name="timestamp"))


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """A model fitted on normal rows, and test rows with a level shift of `pressure` at row SHIFT_AT."""
    folder = tmp_path_factory.mktemp("decisions")
    train = periodic(N_TRAIN, seed=1)
    test = periodic(N_TEST, seed=2)
    test.iloc[SHIFT_AT:, 1] += 2.0
    test.index = test.index + pd.Timedelta(seconds=N_TRAIN)
    detector = make_detector("knn-window", window_size=WINDOW).fit(train)
    detector.save(folder / "model")
    test.to_csv(folder / "test.csv")
    return folder, detector, test


def test_fired_at_of_seqae_score_is_the_row_where_seqae_watch_fires(shifted):
    folder, detector, test = shifted
    result = CliRunner().invoke(cli, ["score", str(folder / "model"), str(folder / "test.csv"),
                                      "-o", str(folder / "scores.csv"), "--intervals", str(folder / "alerts.csv")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(folder / "alerts.csv", parse_dates=["start", "fired_at", "end"])
    assert len(table) >= 1
    shift_time = test.index[SHIFT_AT]
    # nothing places an alert, a flag or a firing before the shift
    assert (table["start"] >= shift_time).all() and (table["fired_at"] >= shift_time).all()
    scores = pd.read_csv(folder / "scores.csv", parse_dates=["timestamp"])
    assert not scores.loc[scores["timestamp"] < shift_time, "is_anomaly"].any()

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    lines = (folder / "test.csv").read_text()
    watch = subprocess.run([sys.executable, "-m", "seqae", "watch", str(folder / "model"), "-", "--no-track"],
                           input=lines, capture_output=True, text=True, cwd=folder, env=env, timeout=300)
    assert watch.returncode == 0, watch.stderr
    answers = [json.loads(line) for line in watch.stdout.splitlines()]
    opened = [a for a in answers if a["alert"] is not None and a["alert"]["event"] == "open"]
    assert [pd.Timestamp(a["timestamp"]) for a in opened] == list(table["fired_at"])  # an alert opens where it fired
    assert [pd.Timestamp(a["alert"]["fired_at"]) for a in opened] == list(table["fired_at"])
    np.testing.assert_array_equal([a["score"] if a["score"] is not None else np.nan for a in answers],
                                  scores["score"].to_numpy())


def test_a_slow_trend_scored_for_twenty_times_the_training_rows_keeps_its_flags_few():
    """Normal behaviour drifting away from the training rows: the reference follows it, and at most
    5 % of the rows are flagged (without it, nearly every row after the first few hundred is)."""
    n_train = 500
    drift = 2.0 / n_train  # the level moves by two sensor amplitudes per training length, 40 over the run
    frame = periodic(21 * n_train, seed=3, trend_per_row=drift)
    detector = make_detector("knn-window", window_size=WINDOW).fit(frame.iloc[:n_train])
    detection = detector.detect(frame.iloc[n_train:])
    assert detection.flags.mean() <= 0.05
    still = make_detector("knn-window", window_size=WINDOW, alert_rules={"memory": 0}).fit(frame.iloc[:n_train])
    assert (still.detect(frame.iloc[n_train:]).scores > 1.0).mean() > 0.5  # a reference that does not move


def test_a_lasting_change_settles_and_stops_flagging():
    train = periodic(500, seed=4)
    test = periodic(1500, seed=5)
    test.iloc[300:, 0] += 3.0  # from row 300 on, for good
    detector = make_detector("knn-window", window_size=WINDOW).fit(train)
    detection = detector.detect(test)
    first = detection.alerts[0]
    assert 300 <= first.fired_at < 300 + WINDOW and first.reason == "settled" and first.closed
    settle = detector.alert_rules_.settle
    assert first.end == first.fired_at + settle  # on for `settle` rows after it fired, then a possible new normal
    assert detection.flags[first.end + 2 * settle:].mean() <= 0.05  # the new level is normal now
    assert len(detection.alerts) == 1


def test_the_calibrated_score_is_one_at_the_threshold_and_comparable_across_models():
    train, test = periodic(600, seed=6), periodic(600, seed=7)
    test.iloc[400:420, 0] += 4.0
    for model_type in ("knn-window", "deviation", "pca"):
        detector = make_detector(model_type, window_size=WINDOW).fit(train)
        rules = detector.alert_rules_
        assert rules.fixed().apply(np.array([rules.threshold_value])).scores[0] == pytest.approx(1.0)
        detection = detector.detect(test)
        normal = detection.scores[~detection.warming_up][:300]
        # a normal row: around 0 to 1; the anomaly: well above, whatever the model's raw units
        assert np.median(normal) < 0.6 and np.nanmax(detection.scores[400:440]) > 3.0, model_type
