"""seqae.metrics: hand-computed cases, a reference for VUS, and properties under hypothesis."""

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score as sklearn_f1
from sklearn.metrics import precision_score, recall_score

import seqae.metrics
from seqae.errors import DataError
from seqae.metrics import (METRIC_KEYS, ConfusionCounts, auc_pr, auc_roc, confusion_counts, detection_delays,
                           evaluate, evaluate_decisions, event_counts, event_f1, f1_score, false_alarm_rate,
                           missed_alarm_rate, pooled, pooled_decisions, precision, recall, vus_pr, vus_roc)
from seqae.intervals import flags_to_intervals

nan = math.nan


def same(a, b, tol=1e-12):
    """Equal numbers, or both NaN."""
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return abs(a - b) <= tol


binary = st.lists(st.integers(0, 1), min_size=1, max_size=60)


@st.composite
def labels_and_flags(draw, max_size=60):
    n = draw(st.integers(1, max_size))
    y_true = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    y_pred = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return np.array(y_true), np.array(y_pred)


@st.composite
def labels_and_scores(draw, min_size=2, max_size=60, both_classes=True):
    n = draw(st.integers(min_size, max_size))
    y_true = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    if both_classes:
        y_true[draw(st.integers(0, n - 1))] = 1
        zero = draw(st.integers(0, n - 1))
        if y_true.sum() == n:
            y_true[zero] = 0
    # few distinct values, so ties are common
    scores = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=float)
    return y_true, scores


def test_docstring_examples():
    assert doctest.testmod(seqae.metrics).failed == 0


# --- point-wise ---------------------------------------------------------------------------------

POINT_CASES = [
    # y_true, y_pred, (tp, fp, tn, fn), precision, recall, f1, far %, mar %
    ([0, 1, 1, 0, 1], [0, 1, 0, 1, 1], (2, 1, 1, 1), 2 / 3, 2 / 3, 2 / 3, 50.0, 100 / 3),
    ([0, 0, 1, 1, 0, 0, 0, 1], [0, 0, 1, 1, 1, 1, 0, 0], (2, 2, 3, 1), 0.5, 2 / 3, 4 / 7, 40.0, 100 / 3),
    # nothing anomalous, nothing flagged: only FAR is defined
    ([0, 0, 0], [0, 0, 0], (0, 0, 3, 0), nan, nan, nan, 0.0, nan),
    # nothing anomalous, one false alarm
    ([0, 0, 0, 0], [1, 0, 0, 0], (0, 1, 3, 0), 0.0, nan, 0.0, 25.0, nan),
    # all anomalous, all flagged: FAR undefined
    ([1, 1], [1, 1], (2, 0, 0, 0), 1.0, 1.0, 1.0, nan, 0.0),
    # all anomalous, nothing flagged
    ([1, 1, 1], [0, 0, 0], (0, 0, 0, 3), nan, 0.0, 0.0, nan, 100.0),
    # SKAB's trap: 54 % anomalous, flag everything -> F1 0.70 at FAR 100 %
    ([1] * 54 + [0] * 46, [1] * 100, (54, 46, 0, 0), 0.54, 1.0, 108 / 154, 100.0, 0.0),
]


@pytest.mark.parametrize("y_true, y_pred, counts, p, r, f, far, mar", POINT_CASES)
def test_point_metrics_hand_computed(y_true, y_pred, counts, p, r, f, far, mar):
    assert confusion_counts(y_true, y_pred) == ConfusionCounts(*counts)
    assert same(precision(y_true, y_pred), p)
    assert same(recall(y_true, y_pred), r)
    assert same(f1_score(y_true, y_pred), f)
    assert same(false_alarm_rate(y_true, y_pred), far)
    assert same(missed_alarm_rate(y_true, y_pred), mar)


@given(labels_and_flags())
def test_point_metrics_agree_with_sklearn_where_defined(data):
    y_true, y_pred = data
    counts = confusion_counts(y_true, y_pred)
    assert counts.tp + counts.fp + counts.tn + counts.fn == len(y_true)
    if y_pred.any():
        assert same(precision(y_true, y_pred), precision_score(y_true, y_pred))
    if y_true.any():
        assert same(recall(y_true, y_pred), recall_score(y_true, y_pred))
        assert same(missed_alarm_rate(y_true, y_pred), 100 * (1 - recall_score(y_true, y_pred)))
    if y_true.any() or y_pred.any():
        assert same(f1_score(y_true, y_pred), sklearn_f1(y_true, y_pred))
    if (y_true == 0).any():
        normal = y_true == 0
        assert same(false_alarm_rate(y_true, y_pred), 100 * y_pred[normal].mean())


def test_inputs_may_be_bool_float_or_column():
    expected = confusion_counts([0, 1, 1], [1, 1, 0])
    assert confusion_counts(np.array([False, True, True]), np.array([1.0, 1.0, 0.0])) == expected
    assert confusion_counts(np.array([[0], [1], [1]]), [1, 1, 0]) == expected


@pytest.mark.parametrize("y_true, y_pred, match", [
    ([0, 1, 2], [0, 1, 1], r"y_true must hold only 0 and 1, found 1 other values \(first at position 2: "),
    ([0, 1, 1], [0, 1], "y_pred has 2 values but y_true has 3"),
    ([], [], "y_true is empty"),
    ([0, 1, nan], [0, 1, 1], "y_true must hold only 0 and 1"),
    (["a", "b"], [0, 1], "y_true must hold 0/1 values"),
    (np.zeros((2, 3)), np.zeros(6), r"1-D\), got shape \(2, 3\)"),
])
def test_bad_labels_are_one_line_errors(y_true, y_pred, match):
    with pytest.raises(DataError, match=match):
        confusion_counts(y_true, y_pred)


# --- ranking ------------------------------------------------------------------------------------

RANKING_CASES = [
    # y_true, scores, average precision, AUC-ROC
    ([0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8], 0.5 * 1 + 0.5 * 2 / 3, 0.75),
    ([0, 0, 1, 1], [1, 2, 3, 4], 1.0, 1.0),
    ([1, 1, 0, 0], [1, 2, 3, 4], 0.5 * 1 / 3 + 0.5 * 2 / 4, 0.0),
    # one threshold for tied scores: precision 1/2 at recall 1
    ([1, 0], [0.5, 0.5], 0.5, 0.5),
    # ranks 1, 3, 5 of 5 anomalous: AP = (1/3)(1/1 + 2/3 + 3/5)
    ([1, 0, 1, 0, 1], [5, 4, 3, 2, 1], (1 + 2 / 3 + 3 / 5) / 3, 0.5),
]


@pytest.mark.parametrize("y_true, scores, ap, roc", RANKING_CASES)
def test_auc_pr_and_roc_hand_computed(y_true, scores, ap, roc):
    assert auc_pr(y_true, scores) == pytest.approx(ap, abs=1e-12)
    assert auc_roc(y_true, scores) == pytest.approx(roc, abs=1e-12)


@pytest.mark.parametrize("y_true", [[0, 0, 0, 0], [1, 1, 1, 1]])
def test_ranking_metrics_are_nan_with_one_class(y_true):
    scores = [0.1, 0.2, 0.3, 0.4]
    assert math.isnan(auc_pr(y_true, scores))
    assert math.isnan(auc_roc(y_true, scores))
    assert math.isnan(vus_pr(y_true, scores))
    assert math.isnan(vus_roc(y_true, scores))


@given(labels_and_scores())
def test_ranking_metrics_depend_on_the_order_of_scores_only(data):
    y_true, scores = data
    transformed = np.exp(3 * scores) - 7  # strictly increasing
    assert auc_pr(y_true, transformed) == pytest.approx(auc_pr(y_true, scores), abs=1e-12)
    assert auc_roc(y_true, transformed) == pytest.approx(auc_roc(y_true, scores), abs=1e-12)
    assert auc_roc(y_true, -scores) == pytest.approx(1 - auc_roc(y_true, scores), abs=1e-12)
    assert vus_pr(y_true, transformed, max_buffer=6, n_thresholds=20) == pytest.approx(
        vus_pr(y_true, scores, max_buffer=6, n_thresholds=20), abs=1e-12)


def test_random_scores_give_average_precision_near_the_anomaly_share():
    rng = np.random.default_rng(0)
    y_true = (rng.random(20_000) < 0.2).astype(int)
    scores = rng.random(20_000)
    assert auc_pr(y_true, scores) == pytest.approx(y_true.mean(), abs=0.01)
    assert auc_roc(y_true, scores) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("scores, match", [
    ([0.1, nan, 0.3], r"scores has 1 non-finite values \(first at position 1: nan\)"),
    ([0.1, 0.2], "scores has 2 values but y_true has 3"),
    (["a", "b", "c"], "scores must be numbers"),
])
def test_bad_scores_are_one_line_errors(scores, match):
    with pytest.raises(DataError, match=match):
        auc_pr([0, 1, 0], scores)


# --- VUS ----------------------------------------------------------------------------------------


def plain_vus(y_true, scores, max_buffer, n_thresholds):
    """(VUS-ROC, VUS-PR) the slow, plain way: labels built point by point for every buffer and threshold.

    Written from the definition of Paparrizos et al. (VLDB 2022) as TSB-AD computes it
    (`RangeAUC_volume_opt`): for buffer length l, each segment gets soft labels sqrt(1 - d/l) on the
    l // 2 points either side (summed, capped at 1); at each sampled threshold TP sums the soft labels
    of flagged points, the positives count P + (flagged soft-label mass)/2, recall is capped at 1 and
    multiplied by the share of widened-and-merged ranges holding a flag.
    """
    y_true = [int(v) for v in y_true]
    scores = [float(v) for v in scores]
    n = len(y_true)
    n_anomalous = sum(y_true)
    segments = flags_to_intervals(y_true)
    descending = sorted(scores, reverse=True)
    thresholds = [descending[int(r)] for r in np.linspace(0, n - 1, n_thresholds)]
    roc_areas, pr_areas = [], []
    for buffer in range(max_buffer + 1):
        half = buffer // 2
        soft = [float(v) for v in y_true]
        for start, end in segments:
            for d in range(1, half + 1):
                for i in (start - d, end + d):
                    if 0 <= i < n:
                        soft[i] += math.sqrt(1 - d / buffer)
        soft = [min(1.0, v) for v in soft]
        ranges = []
        for start, end in segments:
            lo, hi = max(start - half, 0), min(end + half, n - 1)
            if ranges and lo <= ranges[-1][1]:
                ranges[-1][1] = hi
            else:
                ranges.append([lo, hi])
        tpr, fpr, prec = [0.0], [0.0], [1.0]
        for threshold in thresholds:
            flagged = [s >= threshold for s in scores]
            tp = sum(soft[i] for i in range(n) if flagged[i])
            positives = (n_anomalous + n_anomalous + sum(soft[i] for i in range(n)
                                                         if flagged[i] and not y_true[i])) / 2
            hit = sum(any(flagged[lo:hi + 1]) for lo, hi in ranges)
            tpr.append(min(tp / positives, 1.0) * hit / len(ranges))
            fpr.append((sum(flagged) - tp) / (n - positives))
            prec.append(tp / sum(flagged))
        pr_areas.append(sum((tpr[k] - tpr[k - 1]) * prec[k] for k in range(1, len(tpr))))
        tpr.append(1.0)
        fpr.append(1.0)
        roc_areas.append(sum((fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1]) / 2 for k in range(1, len(tpr))))
    return sum(roc_areas) / len(roc_areas), sum(pr_areas) / len(pr_areas)


def vus_case(name):
    """Inputs on which TSB-AD's own code was run to get REFERENCE_VUS (below)."""
    rng = np.random.default_rng(sum(map(ord, name)))
    if name == "random-segments":
        y = np.zeros(1200, int)
        for start in rng.integers(0, 1150, 6):
            y[start:start + rng.integers(1, 50)] = 1
        return y, rng.random(1200) + 0.8 * y * rng.random(1200)
    if name == "segments-at-both-ends":
        y = np.zeros(1000, int)
        y[:30] = 1
        y[970:] = 1
        return y, np.convolve(y, np.ones(15) / 15, "same") + 0.05 * rng.random(1000)
    if name == "close-segments-tied-scores":
        y = np.zeros(600, int)
        y[100:103] = 1
        y[110:112] = 1
        y[140] = 1
        return y, np.round(rng.random(600), 1) + y
    if name == "score-lags-20-rows":
        y = np.zeros(500, int)
        y[200:260] = 1
        return y, np.roll(y.astype(float), 20) + 0.1 * rng.random(500)
    if name == "random-scores":
        y = np.zeros(300, int)
        y[50:60] = 1
        return y, rng.random(300)
    if name == "many-short-segments":
        y = (rng.random(400) < 0.3).astype(int)
        return y, rng.random(400) + 0.3 * y
    raise KeyError(name)


# (max_buffer, n_thresholds, VUS-ROC, VUS-PR) from TSB-AD's basic_metricor().RangeAUC_volume_opt(
# labels, score, windowSize=max_buffer, thre=n_thresholds) (TheDatumOrg/TSB-AD, commit 4361675,
# TSB_AD/evaluation/basic_metrics.py, MIT licence), run on vus_case(name).
REFERENCE_VUS = {
    "random-segments": (100, 250, 0.8970063020595165, 0.6633731769883425),
    "segments-at-both-ends": (100, 250, 0.999998896261543, 0.9999659917669965),
    "close-segments-tied-scores": (100, 250, 0.9977255435791049, 0.8875842857433833),
    "score-lags-20-rows": (100, 250, 0.9314405395441321, 0.8084512330227663),
    "random-scores": (100, 250, 0.898579801625979, 0.28773020452767206),
    "many-short-segments": (17, 60, 0.9384064873871725, 0.9045568510195259),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_VUS))
def test_vus_matches_tsb_ad_reference(name):
    y_true, scores = vus_case(name)
    max_buffer, n_thresholds, reference_roc, reference_pr = REFERENCE_VUS[name]
    assert vus_pr(y_true, scores, max_buffer=max_buffer, n_thresholds=n_thresholds) == pytest.approx(
        reference_pr, abs=1e-9)
    assert vus_roc(y_true, scores, max_buffer=max_buffer, n_thresholds=n_thresholds) == pytest.approx(
        reference_roc, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(labels_and_scores(max_size=50), st.integers(0, 14), st.integers(1, 40))
def test_vus_matches_the_plain_computation(data, max_buffer, n_thresholds):
    y_true, scores = data
    roc, pr = plain_vus(y_true, scores, max_buffer, n_thresholds)
    assert vus_pr(y_true, scores, max_buffer=max_buffer, n_thresholds=n_thresholds) == pytest.approx(pr, abs=1e-9)
    assert vus_roc(y_true, scores, max_buffer=max_buffer, n_thresholds=n_thresholds) == pytest.approx(
        roc, abs=1e-9)


@given(labels_and_scores(max_size=80), st.integers(0, 30))
def test_vus_pr_of_the_labels_themselves_is_one(data, max_buffer):
    y_true, _ = data
    assert vus_pr(y_true, y_true.astype(float), max_buffer=max_buffer) == pytest.approx(1.0)


def test_vus_pr_forgives_a_score_that_fires_just_before_the_anomaly():
    y_true = np.zeros(2000, int)
    y_true[1000:1040] = 1
    scores = np.roll(y_true.astype(float), -5) + 0.01 * np.random.default_rng(3).random(2000)
    assert auc_pr(y_true, scores) < 0.9
    assert vus_pr(y_true, scores) > auc_pr(y_true, scores) + 0.05


@pytest.mark.parametrize("params, match", [
    ({"max_buffer": -1}, "max_buffer must be a whole number >= 0, got -1"),
    ({"max_buffer": 2.5}, "max_buffer must be a whole number"),
    ({"n_thresholds": 0}, "n_thresholds must be a whole number >= 1, got 0"),
])
def test_vus_bad_parameters(params, match):
    with pytest.raises(DataError, match=match):
        vus_pr([0, 1, 0], [0.1, 0.9, 0.2], **params)


# --- events -------------------------------------------------------------------------------------

EVENT_CASES = [
    # y_true, y_pred, n_events, n_detected, false-alarm points, delays, precision, recall, f1
    ([0, 1, 1, 1, 0, 0, 1, 1, 0], [1, 0, 0, 1, 0, 0, 0, 0, 0], 2, 1, 1, (2,), 0.5, 0.5, 0.5),
    # segments touching both ends of the series
    ([1, 1, 0, 0, 1], [0, 1, 0, 0, 1], 2, 2, 0, (1, 0), 1.0, 1.0, 1.0),
    # false alarms count per point (Merlion's revised point-adjusted precision: 1 / (1 + 3))
    ([0, 0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0, 1], 1, 1, 3, (3,), 0.25, 1.0, 0.4),
    # a flag just after a segment is a false alarm, not a late detection
    ([0, 1, 1, 0, 0], [0, 0, 0, 1, 0], 1, 0, 1, (), 0.0, 0.0, 0.0),
    # nothing flagged
    ([0, 1, 1, 0], [0, 0, 0, 0], 1, 0, 0, (), nan, 0.0, 0.0),
    # nothing anomalous
    ([0, 0, 0], [0, 1, 0], 0, 0, 1, (), 0.0, nan, 0.0),
    # neither
    ([0, 0, 0], [0, 0, 0], 0, 0, 0, (), nan, nan, nan),
]


@pytest.mark.parametrize("y_true, y_pred, n_events, n_detected, n_false, delays, p, r, f", EVENT_CASES)
def test_event_metrics_hand_computed(y_true, y_pred, n_events, n_detected, n_false, delays, p, r, f):
    counts = event_counts(y_true, y_pred)
    assert (counts.n_events, counts.n_detected_events, counts.n_false_alarm_points) == (n_events, n_detected,
                                                                                        n_false)
    assert counts.detection_delays == delays
    assert same(counts.precision, p)
    assert same(counts.recall, r)
    assert same(counts.f1, f)
    assert same(event_f1(y_true, y_pred), f)
    assert same(counts.mean_detection_delay, float(np.mean(delays)) if delays else nan)


def test_detection_delays_per_segment():
    delays = detection_delays([0, 1, 1, 1, 0, 1, 1, 0, 1], [0, 0, 0, 1, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(delays, [2.0, nan, 0.0])


@given(labels_and_flags())
def test_event_counts_follow_their_definition(data):
    y_true, y_pred = data
    segments = flags_to_intervals(y_true)
    found = [start for start, end in segments if y_pred[start:end + 1].any()]
    counts = event_counts(y_true, y_pred)
    assert counts.n_events == len(segments)
    assert counts.n_detected_events == len(found)
    assert counts.n_false_alarm_points == int(((y_true == 0) & (y_pred == 1)).sum())
    expected_delays = [int(np.flatnonzero(y_pred[start:end + 1])[0])
                       for start, end in segments if y_pred[start:end + 1].any()]
    assert list(counts.detection_delays) == expected_delays
    if counts.n_detected_events and counts.n_false_alarm_points == 0 and len(found) == len(segments):
        assert counts.f1 == 1.0


# --- evaluate and pooled ------------------------------------------------------------------------


def test_evaluate_returns_every_key_in_a_stable_order():
    y_true = np.array([0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0])
    scores = np.array([0.1, 0.3, 0.9, 0.8, 0.2, 0.1, 0.7, 0.1, 0.2, 0.3, 0.2, 0.1])
    flags = (scores > 0.5).astype(int)
    result = evaluate(y_true, scores, flags, max_buffer=4)
    assert tuple(result) == METRIC_KEYS
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (2, 1, 6, 3)
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 5)
    assert result["far"] == pytest.approx(100 / 7)
    assert result["mar"] == pytest.approx(60.0)
    assert result["auc_pr"] == pytest.approx(auc_pr(y_true, scores))
    assert result["vus_pr"] == pytest.approx(vus_pr(y_true, scores, max_buffer=4))
    assert (result["n_events"], result["n_detected_events"]) == (2, 1)
    assert result["event_precision"] == pytest.approx(1 / 2)
    assert result["event_recall"] == pytest.approx(1 / 2)
    assert result["mean_detection_delay"] == 0.0


@pytest.mark.parametrize("y_true, scores, flags", [
    ([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], [0, 0, 0, 1]),  # no anomaly
    ([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], [0, 0, 0, 1]),  # all anomalous
    ([0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0]),  # constant score, no flag
    ([1], [3.0], [1]),                                   # a single point
])
def test_evaluate_degenerate_series_gives_nan_not_an_error(y_true, scores, flags):
    result = evaluate(y_true, scores, flags)
    assert tuple(result) == METRIC_KEYS
    assert all(isinstance(value, (int, float)) for value in result.values())


def test_evaluate_without_flags_or_without_scores():
    y_true, scores, flags = [0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2], [0, 1, 0, 0]
    without_flags = evaluate(y_true, scores, None)
    assert without_flags["auc_pr"] == 1.0 and math.isnan(without_flags["f1"])
    assert without_flags["n_events"] == 1
    without_scores = evaluate(y_true, None, flags)
    assert math.isnan(without_scores["auc_pr"]) and without_scores["f1"] == pytest.approx(2 / 3)


def test_pooled_sums_counts_before_dividing():
    first = evaluate([0, 0, 1, 1, 1, 0], None, [1, 0, 1, 1, 0, 0])   # tp 2, fp 1, tn 2, fn 1
    second = evaluate([0, 0, 0, 0, 1, 1], None, [0, 0, 0, 0, 0, 0])  # tp 0, fp 0, tn 4, fn 2
    summary = pooled([first, second])
    assert (summary["tp"], summary["fp"], summary["tn"], summary["fn"]) == (2, 1, 6, 3)
    assert summary["f1"] == pytest.approx(4 / 8)
    assert summary["far"] == pytest.approx(100 / 7)
    assert summary["mar"] == pytest.approx(60.0)
    # not the mean of per-file F1 (2/3 and 0)
    assert summary["f1"] != pytest.approx((first["f1"] + second["f1"]) / 2)
    assert (summary["n_events"], summary["n_detected_events"]) == (2, 1)
    assert summary["event_f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert summary["mean_detection_delay"] == 0.0


@given(st.lists(labels_and_flags(max_size=30), min_size=1, max_size=5))
def test_pooled_equals_the_counts_of_all_points_together(files):
    summary = pooled(evaluate(y_true, None, y_pred) for y_true, y_pred in files)
    together = confusion_counts(np.concatenate([y for y, _ in files]), np.concatenate([p for _, p in files]))
    for key, value in together.to_dict().items():
        assert same(summary[key], value)
    events = [event_counts(y_true, y_pred) for y_true, y_pred in files]
    total = events[0]
    for more in events[1:]:
        total = total + more
    assert same(summary["event_f1"], total.f1)
    assert same(summary["mean_detection_delay"], total.mean_detection_delay, tol=1e-9)


@pytest.mark.parametrize("results, match", [
    ([], "pooled\\(\\) got no results"),
    ([{"tp": 1, "fp": 0, "tn": 3}], "result 0 has no 'fn'"),
    ([evaluate([0, 1], [0.1, 0.9], None)], "result 0 has no confusion counts"),
])
def test_pooled_bad_input(results, match):
    with pytest.raises(DataError, match=match):
        pooled(results)


def test_pooled_decisions_adds_up_each_files_counts_and_averages_the_rankings():
    files = [([0, 0, 1, 1, 1, 0, 0, 0], [0.1, 0.2, 0.9, 0.8, 0.7, 0.3, 0.2, 0.1], [(2, 3), (6, 7)], [2, 6]),
             ([0, 0, 0, 1, 1, 0], [0.5, 0.1, 0.2, 0.3, 0.9, 0.4], [(0, 0)], [0])]
    results, counts = zip(*(evaluate_decisions(y, scores, scores, [int(s > 0.45) for s in scores], spans, fired,
                                               return_alert_counts=True) for y, scores, spans, fired in files))
    summary = pooled_decisions(results, counts)
    assert (summary["n_alerts"], summary["n_true_alerts"]) == (3, 2)  # the second file's fired before its anomaly
    assert summary["alert_precision"] == pytest.approx(2 / 3)  # not the mean of 2/2 and 0/1
    assert summary["tp"] == results[0]["tp"] + results[1]["tp"] and summary["fp"] == results[0]["fp"] + results[1]["fp"]
    assert summary["auc_pr"] == pytest.approx((results[0]["auc_pr"] + results[1]["auc_pr"]) / 2)
    with pytest.raises(DataError, match="2 results and 1 alert counts"):
        pooled_decisions(results, counts[:1])
