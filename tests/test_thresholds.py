"""Label-free thresholds: the conformal false-alarm-rate threshold, peaks-over-threshold, specs, round-trips."""

import doctest
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seqae.threshold_registry
import seqae.thresholds
from seqae.detectors import BaseDetector, PCADetector
from seqae.errors import ConfigError, NotFittedError
from seqae.threshold_registry import THRESHOLDS, make_threshold, parse_threshold, threshold_from_dict
from seqae.thresholds import (FalseAlarmRateThreshold, FixedThreshold, PeaksOverThreshold, QuantileThreshold,
                              UpperControlLimit)


@pytest.mark.parametrize("module", [seqae.thresholds, seqae.threshold_registry], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


def test_every_kind_is_registered():
    assert {"quantile", "ucl", "fixed", "far", "pot"} <= set(THRESHOLDS)
    assert isinstance(make_threshold("far", target=0.05), FalseAlarmRateThreshold)
    assert isinstance(make_threshold("pot", risk=1e-4), PeaksOverThreshold)


# --- false-alarm rate (split-conformal) ---------------------------------------------------------

FAR_CASES = [
    # n calibration scores 1..n, target, k = ceil((n + 1)(1 - target)) -> value_ = k
    (19, 0.1, 18),
    (99, 0.01, 99),    # the smallest n that certifies 1 %
    (100, 0.01, 100),  # 101 * 0.99 = 99.99 -> 100
    (200, 0.05, 191),  # 201 * 0.95 = 190.95 -> 191
    (9, 0.5, 5),
]


@pytest.mark.parametrize("n, target, k", FAR_CASES)
def test_far_value_is_the_conformal_order_statistic(n, target, k):
    scores = np.random.default_rng(n).permutation(np.arange(1.0, n + 1))
    threshold = FalseAlarmRateThreshold(target=target).fit(scores)
    assert threshold.value_ == float(k)


@pytest.mark.parametrize("draw", ["normal", "cauchy"])
def test_far_flag_rate_on_normal_data_is_at_most_the_target(draw):
    """The guarantee, checked empirically: 1000 calibration/test draws of iid scores, any distribution."""
    rng = np.random.default_rng(11)
    n_calibration, n_test, target = 200, 500, 0.05
    sample = rng.standard_normal if draw == "normal" else rng.standard_cauchy
    rates = [FalseAlarmRateThreshold(target=target).fit(sample(n_calibration)).flag(sample(n_test)).mean()
             for _ in range(1000)]
    exact = 1 - math.ceil((n_calibration + 1) * (1 - target)) / (n_calibration + 1)  # 0.0498
    assert np.mean(rates) <= target + 0.003
    assert np.mean(rates) == pytest.approx(exact, abs=0.003)


def test_far_p_values_are_valid_on_normal_data():
    rng = np.random.default_rng(5)
    threshold = FalseAlarmRateThreshold(target=0.05).fit(rng.normal(size=999))
    p_values = threshold.p_values(rng.normal(size=20_000))
    for level in (0.01, 0.05, 0.2, 0.5):
        assert np.mean(p_values <= level) <= level + 0.01
    assert p_values.min() >= 1 / 1000 and p_values.max() <= 1.0


@given(st.lists(st.integers(0, 20), min_size=20, max_size=80),
       st.lists(st.floats(-5, 30, allow_nan=False), min_size=1, max_size=30),
       st.sampled_from([0.05, 0.1, 0.25, 0.5]))
def test_far_flags_are_p_values_at_most_the_target(calibration, scores, target):
    threshold = FalseAlarmRateThreshold(target=target).fit(np.array(calibration, dtype=float))
    np.testing.assert_array_equal(threshold.flag(scores), threshold.p_values(scores) <= target)


def test_far_p_values_by_hand_and_nan():
    threshold = FalseAlarmRateThreshold(target=0.25).fit([1.0, 2.0, 2.0, 3.0])
    # (1 + #calibration >= score) / 5
    np.testing.assert_allclose(threshold.p_values([0.0, 2.0, 2.5, 3.0, 9.0, np.nan]),
                               [1.0, 0.8, 0.4, 0.4, 0.2, np.nan])


def test_far_with_too_few_calibration_scores_warns_and_uses_the_largest():
    with pytest.warns(UserWarning, match=r"50 calibration scores cannot certify a false-alarm rate of 0.01 "
                                         r"\(that needs at least 99\).*1/51"):
        threshold = FalseAlarmRateThreshold(target=0.01).fit(np.arange(50.0))
    assert threshold.value_ == 49.0


def test_far_p_values_before_fit():
    with pytest.raises(NotFittedError, match="call fit"):
        FalseAlarmRateThreshold().p_values([1.0])


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 2])
def test_far_bad_target(target):
    with pytest.raises(ConfigError, match="far target must be a false-alarm rate between 0 and 1"):
        FalseAlarmRateThreshold(target=target).fit([1.0, 2.0])


# --- peaks over threshold -----------------------------------------------------------------------

POT_CASES = [
    # name, draw n scores, true 1 - risk quantile, GPD shape of the tail
    ("exponential", lambda rng, n: rng.exponential(1.0, n), lambda risk: -math.log(risk), 0.0),
    ("pareto-3", lambda rng, n: rng.pareto(3.0, n) + 1.0, lambda risk: risk ** (-1 / 3), 1 / 3),
]


@pytest.mark.parametrize("name, draw, true_quantile, true_shape", POT_CASES)
def test_pot_finds_a_known_tail_quantile(name, draw, true_quantile, true_shape):
    values, shapes = [], []
    for seed in range(8):
        threshold = PeaksOverThreshold(risk=1e-3, initial_quantile=0.98).fit(draw(np.random.default_rng(seed), 10_000))
        values.append(threshold.value_)
        shapes.append(threshold.shape_)
        assert threshold.n_peaks_ == 200
        assert threshold.value_ == pytest.approx(true_quantile(1e-3), rel=0.3)
    assert np.mean(values) == pytest.approx(true_quantile(1e-3), rel=0.06)
    assert np.mean(shapes) == pytest.approx(true_shape, abs=0.08)


def test_pot_reaches_beyond_the_largest_normal_score():
    """risk 1e-5 from 5000 scores: past every score seen, near the true quantile on average (one fit varies ~20 %)."""
    values = []
    for seed in range(20):
        scores = np.random.default_rng(seed).exponential(1.0, 5000)
        values.append(PeaksOverThreshold(risk=1e-5).fit(scores).value_)
        assert values[-1] > scores.max()
    assert np.mean(values) == pytest.approx(-math.log(1e-5), rel=0.15)


def test_pot_formula_by_hand_for_an_exponential_tail():
    # 10 peaks over t = quantile(0.9); fitted exponential (forced: min_peaks above 10) -> t - mean * log(q n / N_t)
    scores = np.concatenate([np.zeros(90), np.arange(1.0, 11.0)])
    with pytest.warns(UserWarning, match="exponential tail"):
        threshold = PeaksOverThreshold(risk=0.01, initial_quantile=0.9, min_peaks=11).fit(scores)
    initial = np.quantile(scores, 0.9)
    excesses = scores[scores > initial] - initial
    assert threshold.initial_threshold_ == initial
    assert threshold.shape_ == 0.0
    assert threshold.value_ == pytest.approx(initial - excesses.mean() * math.log(0.01 * 100 / 10))


def test_pot_with_too_few_peaks_warns_and_falls_back_to_an_exponential_tail():
    scores = np.random.default_rng(0).exponential(1.0, 400)  # 8 peaks over the 0.98 quantile
    with pytest.warns(UserWarning, match=r"only 8 scores above the initial threshold .* exponential tail"):
        threshold = PeaksOverThreshold(risk=1e-3).fit(scores)
    assert threshold.n_peaks_ == 8 and threshold.shape_ == 0.0
    assert threshold.value_ > threshold.initial_threshold_


def test_pot_with_a_flat_tail_warns_and_uses_the_initial_threshold():
    with pytest.warns(UserWarning, match="no score above the initial threshold"):
        threshold = PeaksOverThreshold().fit(np.ones(500))
    assert threshold.value_ == 1.0


@pytest.mark.parametrize("params, match", [
    ({"risk": 0.05}, r"risk must be above 0 and below 1 - initial_quantile = 0.02, got 0.05"),
    ({"risk": 0.0}, "risk must be above 0"),
    ({"initial_quantile": 1.0}, "initial_quantile must be between 0 and 1"),
    ({"min_peaks": 2.5}, "min_peaks must be a whole number"),
])
def test_pot_bad_parameters(params, match):
    with pytest.raises(ConfigError, match=match):
        PeaksOverThreshold(**params).fit(np.arange(1000.0))


# --- specs -------------------------------------------------------------------------------------

SPEC_CASES = [
    ("quantile", QuantileThreshold, {"q": 0.99}),
    ("quantile:q=0.995", QuantileThreshold, {"q": 0.995}),
    (" ucl : q=0.99 , factor=1.5 ", UpperControlLimit, {"q": 0.99, "factor": 1.5}),
    ("ucl:factor=4", UpperControlLimit, {"q": 0.99, "factor": 4}),
    ("far:target=0.005", FalseAlarmRateThreshold, {"target": 0.005}),
    ("pot:risk=1e-4", PeaksOverThreshold, {"risk": 1e-4, "initial_quantile": 0.98, "min_peaks": 10}),
    ("pot:risk=1e-4,initial_quantile=0.95,min_peaks=20", PeaksOverThreshold,
     {"risk": 1e-4, "initial_quantile": 0.95, "min_peaks": 20}),
    ("fixed:value=-2.5", FixedThreshold, {"value": -2.5}),
]


@pytest.mark.parametrize("spec, cls, params", SPEC_CASES)
def test_parse_threshold(spec, cls, params):
    threshold = parse_threshold(spec)
    assert type(threshold) is cls
    assert threshold.get_params() == params


@pytest.mark.parametrize("spec, match", [
    ("", "threshold spec is empty; write KIND or KIND:NAME=VALUE"),
    ("median", r"threshold spec 'median': unknown threshold 'median'; choose one of (alerts, )?far, fixed, pot, quantile, ucl"),
    ("quantile:p=0.9", r"threshold spec 'quantile:p=0.9': threshold 'quantile' takes no parameter 'p'; it takes q"),
    ("far:target=abc", r"threshold spec 'far:target=abc': parameter 'target' must be a number, got 'abc'"),
    ("far:target=nan", "must be a finite number, got 'nan'"),
    ("ucl:q0.99", r"'q0.99' is not NAME=VALUE"),
    ("ucl:q=", r"'q=' is not NAME=VALUE"),
    ("ucl:q=0.9,q=0.95", "parameter 'q' is given twice"),
    ("quantile:q=1.5", r"threshold spec 'quantile:q=1.5': quantile q must be between 0 and 1"),
    ("pot:risk=0.1", "pot risk must be above 0 and below 1 - initial_quantile"),
])
def test_parse_threshold_errors_are_one_line(spec, match):
    with pytest.raises(ConfigError, match=match) as caught:
        parse_threshold(spec)
    assert "\n" not in str(caught.value)


# --- saving -------------------------------------------------------------------------------------

ROUND_TRIP_CASES = [
    ("quantile:q=0.95", {}),
    ("ucl:q=0.99,factor=1.5", {}),
    ("fixed:value=3.5", {}),
    ("far:target=0.02", {"calibration_scores_"}),
    ("pot:risk=1e-4,initial_quantile=0.95", {"initial_threshold_", "n_peaks_", "shape_", "scale_"}),
]


@pytest.mark.parametrize("spec, extras", ROUND_TRIP_CASES)
def test_to_dict_round_trip(spec, extras):
    rng = np.random.default_rng(4)
    threshold = parse_threshold(spec).fit(rng.gamma(2.0, size=2000))
    state = json.loads(json.dumps(threshold.to_dict()))
    restored = threshold_from_dict(state)
    assert type(restored) is type(threshold)
    assert restored.get_params() == threshold.get_params()
    assert restored.value_ == threshold.value_
    new_scores = rng.gamma(2.0, size=500)
    np.testing.assert_array_equal(restored.flag(new_scores), threshold.flag(new_scores))
    for name in extras:
        np.testing.assert_array_equal(getattr(restored, name), getattr(threshold, name))
    if isinstance(threshold, FalseAlarmRateThreshold):
        np.testing.assert_array_equal(restored.p_values(new_scores), threshold.p_values(new_scores))
    # without its value the dict gives an unfitted threshold with the same parameters
    unfitted = threshold_from_dict({key: value for key, value in state.items() if key != "value"})
    assert unfitted.get_params() == threshold.get_params()
    with pytest.raises(NotFittedError):
        unfitted.flag(new_scores)


def test_a_detector_saves_and_reloads_a_conformal_threshold(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    detector = PCADetector(n_components=2, threshold=FalseAlarmRateThreshold(target=0.05)).fit(X)
    assert len(detector.threshold_.calibration_scores_) == len(detector.validation_scores_)
    reloaded = BaseDetector.load(detector.save(tmp_path / "model"))
    assert reloaded.threshold_.value_ == detector.threshold_.value_
    scores = detector.anomaly_score(X)
    np.testing.assert_array_equal(reloaded.threshold_.p_values(scores), detector.threshold_.p_values(scores))
    assert reloaded.get_params()["threshold"].get_params() == {"target": 0.05}


def test_fitting_warns_nothing_on_enough_normal_scores():
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for spec in ("far:target=0.01", "pot:risk=1e-3", "quantile", "ucl"):
            parse_threshold(spec).fit(rng.exponential(size=3000))
