"""The ensemble detector: the mean of its members' normalised scores, calibrated out of sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqae.detectors import BaseDetector, EnsembleDetector, NearestWindowsDetector, make_detector
from seqae.errors import ConfigError
from seqae.streaming import score_csv

WINDOW = 12


def periodic(n_rows=700, period=30, n_features=3, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    columns = {f"s{j}": np.sin(2 * np.pi * t / period + j) + 0.05 * rng.normal(size=n_rows) for j in range(n_features)}
    return pd.DataFrame(columns, index=pd.date_range("2026-01-01", periods=n_rows, freq="min"))


@pytest.fixture(scope="module")
def frames():
    frame = periodic()
    test = frame.copy()
    test.iloc[550:580, 1] += 2.0  # a level shift in s1
    return frame.iloc[:400], test


@pytest.fixture(scope="module")
def fitted(frames):
    return EnsembleDetector(window_size=WINDOW).fit(frames[0])


def test_the_score_is_the_mean_of_the_members_normalised_scores(fitted, frames):
    _, test = frames
    assert [type(m).__name__ for m in fitted.members_] == ["NearestWindowsDetector", "PCADetector"]
    members = np.mean([member.anomaly_score(test) for member in fitted.members_], axis=0)
    # (the ensemble's element scores are float32, as every detector's)
    np.testing.assert_allclose(fitted.anomaly_score(test), members, rtol=1e-5, atol=1e-6)
    # every member got the ensemble's window, scaling and held-out share
    assert all(m.window_size == WINDOW and m.scaling == "robust" for m in fitted.members_)


def test_calibrated_on_the_members_out_of_sample_scores_of_the_held_out_rows(fitted, frames):
    train, _ = frames
    knn = fitted.members_[0]
    assert len(knn.memory_) == len(train) - WINDOW + 1  # the member remembers the held-out rows now ...
    expected = np.mean([member.validation_scores_ for member in fitted.members_], axis=0)
    np.testing.assert_allclose(fitted.validation_scores_, expected, rtol=1e-9)  # ... after they were scored
    assert np.all(fitted.anomaly_score(train)[320 + WINDOW:390] <= fitted.validation_scores_[WINDOW:70] + 1e-9)
    assert fitted.predict(train)[:320].mean() < 0.05


def test_finds_the_shift_blames_its_sensor_and_round_trips(fitted, frames, tmp_path):
    _, test = frames
    detection = fitted.detect(test)
    assert detection.flags[550:580].mean() > 0.5
    assert fitted.sensor_scores(test).iloc[550:580].sum().idxmax() == "s1"
    fitted.save(tmp_path / "m")
    again = BaseDetector.load(tmp_path / "m")
    assert isinstance(again, EnsembleDetector)
    again_detection = again.detect(test)
    assert np.array_equal(again_detection.scores, detection.scores, equal_nan=True)
    assert np.array_equal(again.anomaly_score(test), fitted.anomaly_score(test))
    assert again.threshold_.value_ == fitted.threshold_.value_


def test_a_file_scored_in_chunks_equals_the_file_scored_whole(fitted, frames, tmp_path):
    _, test = frames
    path = tmp_path / "test.csv"
    test.to_csv(path, index_label="timestamp")
    score_csv(fitted, path, tmp_path / "whole.csv", quiet=True)
    score_csv(fitted, path, tmp_path / "chunks.csv", chunk_rows=97, quiet=True)
    assert (tmp_path / "whole.csv").read_text() == (tmp_path / "chunks.csv").read_text()


def test_members_are_any_detectors_with_their_own_parameters(frames):
    train, test = frames
    detector = make_detector("ensemble", window_size=WINDOW,
                             members=[["deviation", {}], ["knn-window", {"n_neighbors": 2}]]).fit(train)
    assert detector.members_[1].n_neighbors == 2
    alone = NearestWindowsDetector(window_size=WINDOW, n_neighbors=2).fit(train)
    np.testing.assert_array_equal(detector.members_[1].anomaly_score(test), alone.anomaly_score(test))


@pytest.mark.parametrize("members, message", [
    ([["knn-window", {"window_size": 8}]], "member 1 \\(knn-window\\) sets 'window_size', which the ensemble sets"),
    ([["knn-window", {}], ["pca", {"smoothing": 5}]], "member 2 \\(pca\\) sets 'smoothing'"),
    ([["lstm-forecast", {}]], "score_reduction='last'; an ensemble averages"),
    ([["ensemble", {}]], "an ensemble cannot hold an ensemble"),
    ([["nope", {}]], "unknown model 'nope'"),
    ([["pca", {"n_components": 0}]], "n_components must be"),
    ("knn-window", "members must be \\(model type, parameters\\) pairs"),
    ([], "members must be"),
])
def test_bad_members_are_one_line_config_errors(members, message, frames):
    with pytest.raises(ConfigError, match=message):
        EnsembleDetector(members=members).fit(frames[0])
