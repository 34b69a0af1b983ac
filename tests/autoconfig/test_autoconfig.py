"""Auto-configuration: the period, the window, the injected anomalies, the default and its reason,
the comparison that changes nothing; the two detector families it adds (nearest normal windows,
the LSTM forecaster)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqae import metrics
from seqae.autoconfig import (INJECTION_KINDS, AutoFitResult, Candidate, auto_fit, causal_mean, choose_window,
                              default_candidate, default_candidates, find_period, inject, injection_suite)
from seqae.progress import StageLog
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


def test_auto_fit_fits_the_default_alone_and_says_what_its_members_are():
    frame = periodic(n_rows=600, period=40)
    result = auto_fit(frame, random_state=0, networks=False)
    assert isinstance(result, AutoFitResult) and isinstance(result.detector, BaseDetector)
    assert list(result.fitted) == [result.chosen] and result.candidates.empty and result.injections.empty
    assert result.chosen == f"knn-window+deviation w={result.window_size}"
    assert "\n" not in result.reason and result.reason.startswith(f"auto: {result.chosen} (period 40 rows")
    assert "the nearest normal window" in result.reason and "the level baseline" in result.reason
    assert "--compare scores the alternatives" in result.reason
    assert len(result.detector.anomaly_score(frame)) == len(frame)


def test_the_default_holds_the_lstm_autoencoder_for_several_sensors():
    members = ["knn-window", "deviation", "lstm-ae"]
    candidate = default_candidate(80, 3)
    assert candidate.model_type == "ensemble" and candidate.params["window_size"] == 80
    assert [model_type for model_type, _ in candidate.params["members"]] == members
    assert candidate.name == "+".join(members) + " w=80"
    without = default_candidate(80, 3, networks=False)
    assert [m for m, _ in without.params["members"]] == members[:-1]
    one = default_candidate(80, 1)  # one sensor: the nearest normal window alone
    assert (one.model_type, one.name, one.params) == ("knn-window", "knn-window w=80", {"window_size": 80})


def test_comparing_fits_every_candidate_and_keeps_the_default_all_the_same():
    frame = periodic(n_rows=500, period=25)
    plain = auto_fit(frame, random_state=3, networks=False)
    compared = auto_fit(frame, random_state=3, networks=False, compare=True)
    assert compared.chosen == plain.chosen
    assert np.array_equal(compared.detector.anomaly_score(frame), plain.detector.anomaly_score(frame))
    table = compared.candidates
    assert list(table["name"]) == [c.name for c in default_candidates(plain.window_size, 2, networks=False)]
    assert list(compared.fitted) == list(table["name"]) and table["chosen"].tolist() == [True] + [False] * (len(table) - 1)
    assert {"model_type", "params", "validation_ap", "fit_seconds", "ap_spike", "ap_phase"} <= set(table.columns)
    assert table["validation_ap"].between(0, 1).all()
    assert len(compared.injections) == 2 * len(INJECTION_KINDS)
    assert f"validation AP {table['validation_ap'].iloc[0]:.2f}" in compared.reason


def test_auto_reads_the_period_and_counts_the_sensors_of_the_modelled_columns_only(capsys):
    # one reading and a wide table of commands: a 0/1 square wave of period 8 (whose ACF peaks higher
    # than the reading's), rare toggles and constants, as a telemetry export has them
    frame = periodic(n_rows=600, period=40, n_features=1)
    t = np.arange(len(frame))
    frame["cmd_square"] = (t % 8 < 4).astype(float)
    frame["cmd_rare"] = (t % 150 == 0).astype(float)
    for k in range(20):
        frame[f"cmd_off_{k}"] = 0.0
    result = auto_fit(frame, random_state=0, networks=False, progress=StageLog("auto"))
    assert result.period == 40 and result.chosen == f"knn-window w={result.window_size}"  # one sensor
    assert list(result.detector.feature_names_in_) == ["s0"] and len(result.detector.roles_) == 23
    assert capsys.readouterr().err.startswith("auto: the period and window of 600 rows x 1 sensors (of 23 columns; "
                                              "the others are states or constants): done in ")


def test_auto_fit_is_reproducible():
    frame = periodic(n_rows=500, period=25)
    a = auto_fit(frame, random_state=3, networks=False)
    b = auto_fit(frame, random_state=3, networks=False)
    assert a.chosen == b.chosen and np.array_equal(a.detector.anomaly_score(frame), b.detector.anomaly_score(frame))


def test_auto_fit_with_the_lstm_member_is_reproducible():
    frame = periodic(n_rows=400, period=20, n_features=2)
    a = auto_fit(frame, random_state=1, window_size=20)
    b = auto_fit(frame, random_state=1, window_size=20)
    assert a.chosen == "knn-window+deviation+lstm-ae w=20"
    assert auto_fit(frame[["s0"]], random_state=1, window_size=20).chosen == "knn-window w=20"  # one sensor
    lstm = a.detector.members_[2]
    assert lstm.model_type == "lstm-ae" and lstm.random_state == 1 and lstm.window_size == 20
    assert np.array_equal(a.detector.anomaly_score(frame), b.detector.anomaly_score(frame))


def test_stage_lines_tell_a_log_how_far_auto_got(capsys):
    frame = periodic(n_rows=500, period=25)
    auto_fit(frame, random_state=0, networks=False, compare=True, progress=StageLog("auto"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("auto: the period and window of 500 rows x 2 sensors: done in ")
    assert lines[1] == "auto: period 25 rows, window 100"
    assert lines[2].startswith("auto: fitting knn-window+deviation w=100: done in ")
    assert lines[3].startswith("auto: fitting candidate 2 of 4: knn-window w=100: done in ")
    assert lines[-1].startswith("auto: scoring 4 candidates on 14 copies with injected anomalies: done in ")
    assert len(lines) == 7 and not any("\r" in line or line.endswith("...") for line in lines)


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
    result = auto_fit(train, random_state=0, networks=False, compare=True)
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


def test_default_candidates_put_the_default_first_and_cap_the_networks_window():
    names = {c.name.split(" w=")[0]: c for c in default_candidates(200)}
    assert list(names)[0] == "knn-window" and names["knn-window"].params["window_size"] == 200  # one sensor
    assert names["lstm-ae"].params["window_size"] == names["lstm-vae"].params["window_size"] == 64
    assert [c.model_type for c in default_candidates(50, networks=False)] == ["knn-window", "deviation", "pca"]
    several = default_candidates(50, n_features=3, networks=False)
    assert [c.name for c in several[:2]] == ["knn-window+deviation w=50", "knn-window w=50"]
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
