"""The scoring layer's options: smoothing of the score, the per-sensor normalisation, and the
isolation forest's numpy scorer against scikit-learn's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import IsolationForest

from conftest import N_NORMAL, tiny_params
from seqae.data import Scaler
from seqae.detectors import PCADetector, make_detector
from seqae.detectors.forest import forest_arrays, forest_scores
from seqae.detectors.scoring import fit_normalizer
from seqae.errors import ConfigError
from seqae.streaming import score_csv
from seqae.synthetic import make_sensor_data


@pytest.mark.parametrize("model_type", ["pca", "lstm-ae"])
def test_smoothing_is_a_causal_rolling_mean_of_the_unsmoothed_score(model_type, train_frame, frame):
    fixed_levels = {"memory": 0}  # the feed holds each sensor's level where training left it
    plain = make_detector(model_type, **tiny_params(model_type, alert_rules=fixed_levels)).fit(train_frame)
    smoothed = make_detector(model_type, **tiny_params(model_type, smoothing=5, alert_rules=fixed_levels)).fit(train_frame)
    expected = pd.Series(plain.anomaly_score(frame)).rolling(5, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(smoothed.anomaly_score(frame), expected, rtol=1e-9, atol=1e-12)
    # the causal scores the decisions use: the same rolling mean, from the first row with a score
    detection = smoothed.detect(frame)
    n_warm = smoothed.window_size - 1
    causal = pd.Series(plain.anomaly_score(frame, causal=True)[n_warm:]).rolling(5, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(detection.raw_scores[n_warm:], causal, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(detection.contributions.sum(axis=1), detection.raw_scores, rtol=1e-12)
    # the ranking scores of the training rows are smoothed too (the held-out rows by default), the
    # rolling mean running on from the training rows before them
    whole = np.concatenate([plain.train_scores_, plain.validation_scores_])
    expected_validation = pd.Series(whole).rolling(5, min_periods=1).mean().to_numpy()[len(plain.train_scores_):]
    np.testing.assert_allclose(smoothed.validation_scores_, expected_validation, rtol=1e-9, atol=1e-12)
    assert smoothed.threshold_.value_ == pytest.approx(np.quantile(smoothed.calibration_scores_, 0.99))


def test_a_score_never_looks_ahead(train_frame, frame):
    detector = make_detector("pca", **tiny_params("pca", window_size=1, smoothing=10)).fit(train_frame)
    changed = frame.copy()
    changed.iloc[700:, 0] += 50.0  # a change from row 700 on may move rows 700.. only
    before, after = detector.anomaly_score(frame), detector.anomaly_score(changed)
    np.testing.assert_array_equal(before[:700], after[:700])
    assert after[700] > before[700]


def test_smoothed_scores_of_a_file_read_in_chunks_equal_the_file_scored_whole(tmp_path):
    frame, _, _ = make_sensor_data(5000, 3, normal_rows=600, random_state=2)
    detector = make_detector("pca", window_size=4, smoothing=7, random_state=0).fit(frame.iloc[:600])
    path = tmp_path / "sensors.csv"
    frame.to_csv(path, index_label="timestamp")
    score_csv(detector, path, tmp_path / "scores.csv", chunk_rows=333, quiet=True, ranking=True)
    chunked = pd.read_csv(tmp_path / "scores.csv")
    np.testing.assert_allclose(chunked["ranking_score"].to_numpy(), detector.anomaly_score(frame), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(chunked["raw_score"].to_numpy(), detector.anomaly_score(frame, causal=True), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("smoothing", [0, -3, 2.5, True, "10"])
def test_bad_smoothing_is_a_config_error(smoothing, train_frame):
    with pytest.raises(ConfigError, match="smoothing must be a whole number of rows >= 1"):
        make_detector("pca", smoothing=smoothing).fit(train_frame)


def test_robust_normalisation_ignores_a_few_huge_training_errors():
    rng = np.random.default_rng(0)
    errors = rng.chisquare(1, size=(1000, 2))
    contaminated = errors.copy()
    contaminated[:20, 0] += 1e4  # 2 % of the training rows far off in sensor 0
    center, scale = fit_normalizer(errors, "robust")
    center_c, scale_c = fit_normalizer(contaminated, "robust")
    np.testing.assert_allclose(scale_c, scale, rtol=0.1)
    np.testing.assert_allclose(center_c, center, rtol=0.1)
    z_center, z_scale = fit_normalizer(contaminated, "zscore")
    assert z_scale[0] > 100 * scale_c[0]  # the standard deviation is not robust: sensor 0 muted


def test_robust_is_the_default_normalisation_of_the_reconstruction_models():
    for model_type in ("lstm-ae", "lstm-vae", "dense-ae", "conv-ae", "pca"):
        assert make_detector(model_type).normalization == "robust"
    assert make_detector("iforest").normalization == "none"


def test_the_plain_autoencoders_fit_their_normaliser_on_the_held_out_rows_by_default():
    for model_type in ("lstm-ae", "dense-ae", "conv-ae"):
        assert make_detector(model_type).normalize_on == "validation"
    for model_type in ("lstm-vae", "pca", "iforest"):
        assert make_detector(model_type).normalize_on == "train"


def test_the_numpy_forest_scores_equal_scikit_learns():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(500, 24)).astype(np.float32)
    test = (1.5 * rng.normal(size=(300, 24))).astype(np.float32)
    forest = IsolationForest(n_estimators=40, max_samples=128, max_features=0.7, random_state=0).fit(train)
    scores, shares = forest_scores(forest_arrays(forest), test, n_features=3)
    np.testing.assert_allclose(scores, -forest.score_samples(test), rtol=1e-12)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert (shares >= 0).all()


def test_the_forest_blames_the_sensor_whose_readings_isolate_the_window():
    rng = np.random.default_rng(1)
    window, n_features = 8, 3
    train = rng.normal(size=(600, window * n_features)).astype(np.float32)
    forest = IsolationForest(n_estimators=100, random_state=0).fit(train)
    odd = rng.normal(size=(50, window, n_features)).astype(np.float32)
    odd[:, :, 2] += 6.0  # sensor 2 far off at every step
    scores, shares = forest_scores(forest_arrays(forest), odd.reshape(50, -1), n_features)
    assert (shares.argmax(axis=1) == 2).all()
    assert scores.min() > np.quantile(-forest.score_samples(train), 0.99)


def test_isolation_forest_detector_finds_a_level_shift(sensor_data):
    frame, labels, _ = sensor_data
    detector = make_detector("iforest", window_size=16, n_estimators=50, random_state=0).fit(frame.iloc[:N_NORMAL])
    scores = detector.anomaly_score(frame)
    shifted = labels.to_numpy()[N_NORMAL:] == 1
    assert np.median(scores[N_NORMAL:][shifted]) > np.quantile(scores[:N_NORMAL], 0.99)


@pytest.mark.parametrize("params, message", [
    ({"n_estimators": 0}, "n_estimators must be a positive integer, got 0"),
    ({"max_samples": 2.5}, "max_samples must be a positive integer, got 2.5"),
    ({"max_features": 0.0}, r"max_features must be in \(0, 1\], got 0.0"),
])
def test_bad_forest_parameters_are_config_errors(params, message, train_frame):
    with pytest.raises(ConfigError, match=message):
        make_detector("iforest", **params).fit(train_frame)


# ---- what fit scores: the training rows as one series, the normaliser's rows, the input scaler -----


@pytest.mark.parametrize("model_type", ["pca", "lstm-ae"])
def test_fit_scores_the_training_rows_as_one_series(model_type, train_frame):
    detector = make_detector(model_type, **tiny_params(model_type, smoothing=3)).fit(train_frame)
    whole = detector.anomaly_score(train_frame)
    n_train = len(detector.train_scores_)
    np.testing.assert_allclose(detector.train_scores_, whole[:n_train], rtol=1e-6, atol=1e-9)
    # the held-out rows are a slice of that series, not a short series of their own whose first and
    # last rows (covered by few windows) would score high and raise the threshold
    np.testing.assert_allclose(detector.validation_scores_, whole[n_train:], rtol=1e-6, atol=1e-9)
    alone = detector.anomaly_score(train_frame.iloc[n_train:])
    assert not np.allclose(alone, detector.validation_scores_)
    # the calibration: the held-out rows' causal scores, their windows reaching back into the rows before
    causal = detector.anomaly_score(train_frame, causal=True)
    np.testing.assert_allclose(detector.calibration_scores_, causal[n_train:], rtol=1e-6, atol=1e-9)
    assert detector.threshold_.value_ == pytest.approx(np.quantile(causal[n_train:], 0.99))


def test_normalize_on_validation_fits_the_normaliser_on_the_held_out_rows(train_frame):
    params = tiny_params("lstm-ae", normalize_on="validation")
    detector = make_detector("lstm-ae", **params).fit(train_frame)
    elements = detector._element_scores(detector.scaler_.transform(train_frame.to_numpy()))
    n_train = len(detector.train_scores_)
    for fitted, expected in zip(detector.normalizer_, fit_normalizer(elements[n_train:], "robust")):
        np.testing.assert_allclose(fitted, expected, rtol=1e-6)
    in_sample = make_detector("lstm-ae", **tiny_params("lstm-ae", normalize_on="train")).fit(train_frame)
    for fitted, expected in zip(in_sample.normalizer_, fit_normalizer(elements[:n_train], "robust")):
        np.testing.assert_allclose(fitted, expected, rtol=1e-6)
    # the network is the same either way: only the normaliser moves
    np.testing.assert_array_equal(detector.history_.validation_loss, in_sample.history_.validation_loss)


def test_normalize_on_validation_without_held_out_rows_uses_the_training_rows(train_frame):
    detector = make_detector("pca", **tiny_params("pca", normalize_on="validation",
                                                  validation_fraction=0.0)).fit(train_frame)
    elements = detector._element_scores(detector.scaler_.transform(train_frame.to_numpy()))
    np.testing.assert_allclose(detector.normalizer_[1], fit_normalizer(elements, "robust")[1], rtol=1e-6)


def test_robust_scaling_ignores_a_minority_of_anomalous_training_rows():
    rng = np.random.default_rng(0)
    values = rng.normal(10.0, 2.0, size=(1000, 2))
    contaminated = values.copy()
    contaminated[:50, 0] += 200.0  # 5 % of the rows far off in sensor 0
    robust = Scaler().fit(contaminated, method="robust")
    assert robust.mean_[0] == pytest.approx(10.0, abs=0.5) and robust.scale_[0] == pytest.approx(2.0, rel=0.15)
    standard = Scaler().fit(contaminated)
    assert standard.scale_[0] > 20.0  # the standard deviation grows with the anomalous rows


def test_robust_scaling_of_a_quantised_sensor_falls_back_to_the_standard_deviation():
    values = np.full((400, 2), 32.0)
    values[:40, 0] = 31.0  # 90 % of the readings at one level: IQR 0
    values[:, 1] = 5.0  # constant
    scaler = Scaler().fit(values, method="robust")
    assert scaler.scale_[0] == pytest.approx(values[:, 0].std())
    assert scaler.scale_[1] == 1.0
    assert np.isfinite(scaler.transform(values)).all()
    again = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(values), scaler.transform(values))


@pytest.mark.parametrize("params, message", [
    ({"normalize_on": "all"}, "normalize_on must be one of train, validation, got 'all'"),
    ({"scaling": "minmax"}, "scaling must be one of standard, robust, got 'minmax'"),
])
def test_bad_scoring_options_are_config_errors(params, message, train_frame):
    with pytest.raises(ConfigError, match=message):
        make_detector("pca", **params).fit(train_frame)


def test_window_reduction_gives_each_row_the_mean_of_the_whole_errors_of_the_windows_covering_it(train_frame):
    """score_reduction="window", by hand: each window's per-sensor error averaged over its steps,
    each row the mean of those of the windows covering it; then normalised and summed as always."""
    from seqae.windows import sliding_windows

    stepwise = PCADetector(window_size=4, n_components=2).fit(train_frame)
    whole = PCADetector(window_size=4, n_components=2, score_reduction="window").fit(train_frame)
    scaled = stepwise.scaler_.transform(train_frame.to_numpy())
    windows, starts = sliding_windows(scaled, 4)
    per_step = stepwise.window_scores(torch.from_numpy(np.ascontiguousarray(windows)))  # (n, 4, features)
    window_means = per_step.astype(np.float64).mean(axis=1)  # (n, features)
    expected = np.zeros(scaled.shape)
    for row in range(len(scaled)):
        covering = (starts <= row) & (row < starts + 4)
        expected[row] = window_means[covering].mean(axis=0)
    center, scale = whole.normalizer_
    got = whole.fit_contributions_["ranking"]  # the training rows' retrospective per-sensor scores
    np.testing.assert_allclose(got, (expected - center) / scale / scaled.shape[1], rtol=1e-4, atol=1e-6)
    # the models are the same; only how their errors reach the rows differs
    assert np.array_equal(whole.components_, stepwise.components_)
    assert not np.allclose(whole.anomaly_score(train_frame), stepwise.anomaly_score(train_frame))
