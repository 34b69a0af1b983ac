"""Auto-configuration: the period, the window, the injected anomalies, the choice and its reason;
the two detector families it adds (nearest normal windows, the LSTM forecaster)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqae import metrics
from seqae.autoconfig import (INJECTION_KINDS, AutoFitResult, Candidate, auto_fit, causal_mean, choose_window,
                              default_candidates, find_period, inject, injection_suite, select)
from seqae.detectors import BaseDetector, make_detector
from seqae.errors import ConfigError, DataError
from seqae.detectors import LSTMForecaster, NearestWindowsDetector


def periodic(n_rows=1200, period=60, n_features=2, noise=0.05, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    columns = {f"s{j}": np.sin(2 * np.pi * t / period + j) + 0.5 * np.sin(4 * np.pi * t / period)
               + noise * rng.normal(size=n_rows) for j in range(n_features)}
    return pd.DataFrame(columns, index=pd.date_range("2026-01-01", periods=n_rows, freq="min"))


@pytest.mark.parametrize("period", [12, 37, 60, 150])
def test_find_period_recovers_the_true_period(period):
    frame = periodic(n_rows=1500, period=period, n_features=3)
    assert abs(find_period(frame.to_numpy()) - period) <= max(1, period // 20)


def test_find_period_of_noise_is_none():
    values = np.random.default_rng(0).normal(size=(800, 2))
    assert find_period(values) is None


def test_find_period_ignores_constant_and_takes_the_clearest_sensor():
    values = periodic(n_rows=900, period=45, n_features=1).to_numpy()
    values = np.column_stack([np.zeros(len(values)), values, np.random.default_rng(1).normal(size=len(values))])
    assert find_period(values) == 45


@pytest.mark.parametrize("n_rows, period, expected", [
    (400, None, 80),     # no period: as long as the held-out rows (20 %)
    (400, 5, 80),        # a whole number of periods
    (400, 30, 60),
    (600, 288, 120),     # a period longer than the held-out rows: the held-out rows
    (5000, 200, 200),    # at most MAX_WINDOW (256) rows, whole periods
    (50, None, 10),
])
def test_choose_window(n_rows, period, expected):
    assert choose_window(n_rows, period) == expected


def test_auto_window_is_near_the_true_period_on_generated_data():
    result = auto_fit(periodic(n_rows=1200, period=60), random_state=0, networks=False)
    assert result.period == pytest.approx(60, abs=2)
    assert result.window_size % result.period == 0 and result.window_size <= 240


@pytest.mark.parametrize("kind", INJECTION_KINDS)
def test_inject_changes_only_its_span_and_sensor(kind):
    values = periodic(n_rows=300).to_numpy()
    rng = np.random.default_rng(0)
    out = inject(values, kind, first=250, length=20, sensor=1, rng=rng, spread=1.0)
    changed = np.argwhere(out != values)
    assert len(changed) > 0
    assert set(changed[:, 1]) == {1} and changed[:, 0].min() >= 250 and changed[:, 0].max() < 270


def test_injection_suite_labels_only_the_heldout_rows():
    values = periodic(n_rows=500).to_numpy()
    suite, table = injection_suite(values, n_heldout=100, random_state=0)
    assert len(suite) == len(table) == 2 * len(INJECTION_KINDS)
    for (modified, labels), row in zip(suite, table.itertuples()):
        assert np.array_equal(modified[:400], values[:400])
        assert labels.shape == (100,) and labels.sum() == row.length
        assert row.first_row >= 400


def test_causal_mean_matches_the_detectors_smoothing():
    scores = np.random.default_rng(0).normal(size=50)
    frame = pd.DataFrame({"x": scores})
    smoothed = make_detector("deviation", smoothing=5, normalization="none", scaling="standard").fit(frame)
    plain = make_detector("deviation", normalization="none", scaling="standard").fit(frame)
    assert np.allclose(smoothed.anomaly_score(frame), causal_mean(plain.anomaly_score(frame), 5))


def test_auto_fit_returns_a_fitted_detector_and_one_line():
    frame = periodic(n_rows=600, period=40)
    result = auto_fit(frame, random_state=0, networks=False)
    assert isinstance(result, AutoFitResult) and isinstance(result.detector, BaseDetector)
    assert result.chosen in set(result.candidates["name"])
    assert result.candidates["chosen"].sum() == 1
    assert {"name", "model_type", "params", "validation_ap", "fit_seconds"} <= set(result.candidates.columns)
    assert "\n" not in result.reason and result.chosen in result.reason
    assert len(result.detector.anomaly_score(frame)) == len(frame)


def test_auto_fit_is_reproducible():
    frame = periodic(n_rows=500, period=25)
    a = auto_fit(frame, random_state=3, networks=False)
    b = auto_fit(frame, random_state=3, networks=False)
    assert a.chosen == b.chosen and np.array_equal(a.detector.anomaly_score(frame), b.detector.anomaly_score(frame))


def test_auto_keeps_a_baseline_when_the_data_has_only_level_shifts():
    # Piecewise-constant readings plus noise: nothing for a network to learn but each sensor's level.
    rng = np.random.default_rng(0)
    levels = np.repeat(rng.normal(size=(8, 2)), 50, axis=0)
    frame = pd.DataFrame(levels * 0.1 + rng.normal(size=levels.shape), columns=["a", "b"])
    tiny = {"hidden_size": 8, "epochs": 3, "learning_rate": 0.01}
    candidates = [Candidate("deviation", "deviation", {}),
                  Candidate("lstm-ae w=16", "lstm-ae", {"window_size": 16, "latent_dim": 4, **tiny}),
                  Candidate("lstm-forecast w=16", "lstm-forecast", {"window_size": 16, **tiny})]
    result = auto_fit(frame, random_state=0, candidates=candidates, switch_z=2.0)  # switching allowed
    assert result.chosen == "deviation"
    assert "did not beat the level baseline" in result.reason


@pytest.mark.parametrize("incumbent, challenger, z, expected", [
    ([0.5, 0.5, 0.5, 0.5], [0.9, 0.8, 0.9, 0.8], 2.0, 1),              # clearly better: switch
    ([0.5, 0.5, 0.5, 0.5], [1.0, 0.1, 1.0, 0.2], 2.0, 0),              # better on average, within the noise
    ([0.5, 0.5, 0.5, 0.5], [0.9, 0.8, 0.9, 0.8], float("inf"), 0),     # the default: never switch
    ([0.9, 0.9, 0.9, 0.9], [0.5, 0.6, 0.5, 0.6], 0.0, 0),              # worse: keep
])
def test_select_switches_only_on_clear_evidence(incumbent, challenger, z, expected):
    table = pd.DataFrame({"validation_ap": [np.mean(incumbent), 0.1, np.mean(challenger)],
                          "injection_aps": [np.array(incumbent), np.full(4, 0.1), np.array(challenger)]})
    assert select(table, z) == (2 if expected else 0)


@pytest.mark.parametrize("n_features, chosen", [(1, "knn-window w="), (2, "knn-window+deviation w=")])
def test_auto_keeps_the_incumbent_by_default_and_says_why(n_features, chosen):
    # one sensor: the nearest-normal-window distance; several: it with the level baseline
    result = auto_fit(periodic(n_rows=600, period=40, n_features=n_features), random_state=0, networks=False)
    assert result.chosen.startswith(chosen) and result.smoothing == 1
    assert result.reason.startswith(f"auto: {chosen}")
    assert "is kept" in result.reason or "did not beat" in result.reason
    assert result.candidates["name"].str.startswith("knn-window w=").any()  # the distance alone is reported


def test_with_several_sensors_auto_keeps_the_level_member_that_sees_a_level_shift():
    # Eight noisy sensors; in new rows one sensor's level moves by one standard deviation for 100
    # rows, its noise unchanged. The default keeps the level baseline beside the nearest windows,
    # and ranks the shift's rows above the distance alone (AP 0.49 against 0.44 when written).
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(800, 8)), columns=[f"s{j}" for j in range(8)])
    train, new = frame.iloc[:500], frame.iloc[500:].copy()
    new.iloc[150:250, 1] += 1.0
    labels = np.zeros(len(new), dtype=np.int8)
    labels[150:250] = 1
    result = auto_fit(train, random_state=0, networks=False)
    assert result.detector.model_type == "ensemble"
    assert ["deviation", {"score_reduction": "window"}] in result.detector.members
    whole = pd.concat([train, new])
    knn = result.fitted[result.candidates["name"].iloc[1]]
    assert knn.model_type == "knn-window"
    ap = {name: metrics.auc_pr(labels, np.asarray(detector.anomaly_score(whole))[len(train):])
          for name, detector in [("chosen", result.detector), ("knn", knn)]}
    assert ap["chosen"] > ap["knn"] + 0.02


def test_auto_fit_needs_enough_rows():
    with pytest.raises(DataError, match="at least 80 training rows"):
        auto_fit(np.zeros((40, 1)))


def test_default_candidates_cap_the_networks_window():
    names = {c.model_type: c for c in default_candidates(200)}
    assert names["knn-window"].params["window_size"] == 200
    assert names["lstm-ae"].params["window_size"] == 64
    assert {c.model_type for c in default_candidates(50, networks=False)} == {"deviation", "pca", "knn-window"}
    several = default_candidates(50, n_features=3, networks=False)
    assert [c.model_type for c in several[:2]] == ["ensemble", "knn-window"]
    assert several[0].params["window_size"] == 50


# ---- the two families auto-configuration adds -------------------------------------------------------

@pytest.mark.parametrize("model_type, params", [
    ("knn-window", {"window_size": 16}),
    ("knn-window", {"window_size": 8, "n_neighbors": 3, "max_memory": 50}),
    ("lstm-forecast", {"window_size": 16, "hidden_size": 8, "epochs": 3, "random_state": 0}),
])
def test_new_families_fit_score_flag_and_round_trip(tmp_path, model_type, params):
    frame = periodic(n_rows=600, period=30, n_features=3)
    test = frame.copy()
    test.iloc[500:520, 1] += 3.0
    detector = make_detector(model_type, **params).fit(frame.iloc[:400])
    scores = detector.anomaly_score(test)
    assert scores.shape == (600,) and np.all(np.isfinite(scores))
    assert scores[500:520].mean() > np.quantile(scores[:400], 0.99)
    contributions = detector.sensor_scores(test)  # each sensor's share of the live (causal) raw score
    causal = detector.anomaly_score(test, causal=True)
    scored = np.isfinite(causal)
    assert np.allclose(contributions.sum(axis=1)[scored], causal[scored])
    assert contributions.iloc[500:520].sum().idxmax() == "s1"
    detector.save(tmp_path / "m")
    again = BaseDetector.load(tmp_path / "m")
    assert type(again) is type(detector)
    assert np.array_equal(again.anomaly_score(test), scores)


def test_nearest_windows_keeps_at_most_max_memory_windows():
    detector = NearestWindowsDetector(window_size=10, max_memory=20).fit(periodic(n_rows=500))
    assert len(detector.memory_) == 20


def test_nearest_windows_remember_the_held_out_rows_after_calibrating_on_them():
    frame = periodic(n_rows=500, period=25, n_features=2)
    every = NearestWindowsDetector(window_size=10).fit(frame)
    train_only = NearestWindowsDetector(window_size=10, memory_from="train").fit(frame)
    assert len(train_only.memory_) == 400 - 10 + 1  # the rows before the held-out 20 %
    assert len(every.memory_) == 500 - 10 + 1
    # the normaliser and threshold come from the held-out rows' out-of-sample distances in both
    assert every.threshold_.value_ == train_only.threshold_.value_
    assert np.array_equal(every.validation_scores_, train_only.validation_scores_)
    # a remembered window is at distance 0: the held-out rows now score as the training rows do
    assert np.all(every.anomaly_score(frame)[410:490] <= train_only.anomaly_score(frame)[410:490])
    with pytest.raises(ConfigError, match="memory_from"):
        NearestWindowsDetector(memory_from="everything").fit(frame)


def test_forecaster_seeded_and_checked():
    frame = periodic(n_rows=300, period=20, n_features=1)
    a = LSTMForecaster(window_size=12, hidden_size=8, epochs=2, random_state=1).fit(frame)
    b = LSTMForecaster(window_size=12, hidden_size=8, epochs=2, random_state=1).fit(frame)
    assert np.array_equal(a.anomaly_score(frame), b.anomaly_score(frame))
    assert a.forecast(frame).shape == (300 - 11, 1)
    with pytest.raises(ConfigError, match="window_size must be at least 2"):
        LSTMForecaster(window_size=1).fit(frame)
    with pytest.raises(ConfigError, match="n_neighbors must be"):
        NearestWindowsDetector(n_neighbors=0).fit(frame)
