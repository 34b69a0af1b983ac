"""The basic thresholds (quantile, upper control limit, fixed) and flags -> intervals; each kind's rule in words."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.intervals import flags_to_intervals
from seqae.threshold_registry import make_threshold, parse_threshold, threshold_from_dict
from seqae.thresholds import FixedThreshold, QuantileThreshold, Threshold, UpperControlLimit

NORMAL = np.arange(1, 101, dtype=float)  # 1..100


@pytest.mark.parametrize("flags, expected", [
    ([], []),
    ([0, 0, 0], []),
    ([1, 1, 1], [(0, 2)]),
    ([1], [(0, 0)]),
    ([0, 1, 1, 0, 0, 1, 0, 1], [(1, 2), (5, 5), (7, 7)]),
    ([1, 0, 1], [(0, 0), (2, 2)]),
    ([0, 0, 1, 1], [(2, 3)]),
    ([True, False, True, True], [(0, 0), (2, 3)]),
    (np.array([0, 2, 5, 0], dtype=np.int8), [(1, 2)]),  # anything non-zero is flagged
])
def test_flags_to_intervals(flags, expected):
    assert flags_to_intervals(flags) == expected


def test_quantile_threshold_is_the_quantile_of_the_normal_scores():
    threshold = QuantileThreshold(0.9).fit(NORMAL)
    assert threshold.value_ == pytest.approx(np.quantile(NORMAL, 0.9)) == pytest.approx(90.1)
    assert threshold.n_fit_scores_ == 100
    assert threshold.flag([50.0, 90.1, 90.2, 1e9]).tolist() == [0, 0, 1, 1]  # strictly above
    assert threshold.flag(NORMAL).mean() == pytest.approx(0.1)  # about 1 - q of normal points


def test_upper_control_limit_scales_the_quantile():
    threshold = UpperControlLimit(q=0.99, factor=1.5).fit(NORMAL)
    assert threshold.value_ == pytest.approx(1.5 * np.quantile(NORMAL, 0.99))
    assert threshold.flag(NORMAL).sum() == 0  # 1.5 x the 99th percentile is above every normal score


def test_fixed_threshold_ignores_the_scores():
    threshold = FixedThreshold(3.0).fit(NORMAL)
    assert threshold.value_ == 3.0
    assert threshold.flag([2.9, 3.0, 3.1]).tolist() == [0, 0, 1]


@pytest.mark.parametrize("threshold", [QuantileThreshold(), UpperControlLimit(), FixedThreshold(1.0)])
def test_flag_before_fit_raises_not_fitted(threshold):
    with pytest.raises(NotFittedError, match=rf"{type(threshold).__name__} is not fitted yet; call fit\(scores\) first"):
        threshold.flag(NORMAL)


@pytest.mark.parametrize("threshold, message", [
    (QuantileThreshold(q=1.0), r"quantile q must be between 0 and 1 \(exclusive\), got 1.0"),
    (QuantileThreshold(q=0.0), r"quantile q must be between 0 and 1 \(exclusive\), got 0.0"),
    (UpperControlLimit(q=1.5), r"quantile q must be between 0 and 1 \(exclusive\), got 1.5"),
    (UpperControlLimit(factor=0.0), "factor must be positive, got 0.0"),
    (FixedThreshold("abc"), "a fixed threshold needs a finite number, got 'abc'"),
    (FixedThreshold(float("nan")), "a fixed threshold needs a finite number, got nan"),
])
def test_bad_parameters_are_config_errors_at_fit(threshold, message):
    with pytest.raises(ConfigError, match=message):
        threshold.fit(NORMAL)


@pytest.mark.parametrize("scores, message", [
    ([], "cannot fit a threshold on no scores"),
    ([1.0, np.nan, np.inf], "cannot fit a threshold on scores with 2 non-finite values"),
])
def test_bad_scores_are_data_errors(scores, message):
    with pytest.raises(DataError, match=message):
        QuantileThreshold().fit(scores)


@pytest.mark.parametrize("threshold", [QuantileThreshold(0.95), UpperControlLimit(0.9, 4 / 3), FixedThreshold(2.5)])
def test_a_fitted_threshold_round_trips_through_json(threshold):
    threshold.fit(NORMAL)
    state = json.loads(json.dumps(threshold.to_dict()))
    assert state["kind"] == threshold.kind and state["value"] == threshold.value_
    again = threshold_from_dict(state)
    assert type(again) is type(threshold)
    assert again.get_params() == threshold.get_params()
    assert again.value_ == threshold.value_
    np.testing.assert_array_equal(again.flag(NORMAL), threshold.flag(NORMAL))


def test_an_unfitted_threshold_saves_without_a_value():
    state = QuantileThreshold(0.9).to_dict()
    assert state == {"kind": "quantile", "params": {"q": 0.9}}
    assert not hasattr(threshold_from_dict(state), "value_")


def test_thresholds_are_scikit_learn_estimators():
    threshold = UpperControlLimit(q=0.95, factor=2.0)
    assert isinstance(threshold, Threshold)
    copy = clone(threshold.fit(NORMAL))
    assert copy.get_params() == {"q": 0.95, "factor": 2.0} and not hasattr(copy, "value_")


def test_make_threshold_by_kind():
    threshold = make_threshold("ucl", q=0.95, factor=2.0)
    assert isinstance(threshold, UpperControlLimit) and threshold.get_params() == {"q": 0.95, "factor": 2.0}
    assert isinstance(make_threshold("quantile"), QuantileThreshold)
    assert make_threshold("fixed", value=4.0).value == 4.0


def test_make_threshold_rejects_unknown_kinds_and_parameters():
    with pytest.raises(ConfigError, match=r"unknown threshold 'percentile'; choose one of .*quantile"):
        make_threshold("percentile")
    with pytest.raises(ConfigError, match="threshold 'quantile' takes no parameter 'factor'; it takes q"):
        make_threshold("quantile", factor=2.0)


@pytest.mark.parametrize("spec, rule", [
    ("quantile:q=0.99", "quantile 0.99"),
    ("ucl:q=0.95,factor=2", "2 x quantile 0.95 (SKAB's upper control limit)"),
    ("fixed:value=6e7", "fixed at 6e+07, whatever the scores"),
    ("far:target=0.001", "false-alarm rate at most 0.001 (split-conformal order statistic)"),
    ("pot", "peaks over threshold: exceeded with probability 0.001 by a generalised Pareto tail above quantile 0.98"),
    ("alerts:per_day=1", "the lowest at which the alert rules raise at most 1 per day"),
])
def test_each_kind_says_its_rule_in_words(spec, rule):
    assert parse_threshold(spec).rule() == rule
