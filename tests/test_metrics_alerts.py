"""Alert metrics: alerts (intervals) against labelled segments, with the spill-over tolerance."""

import math

import numpy as np
import pandas as pd
import pytest

from seqae import metrics
from seqae.errors import DataError

#            0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
LABELS = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("alerts, tolerance, expected", [
    # one alert per segment, both inside: recall 1, precision 1
    ([(2, 3), (12, 13)], 0, {"n_anomalies_found": 2, "n_true_alerts": 2, "delays": (0, 0)}),
    # an alert that starts 2 rows after a segment's end: false without tolerance, true with 2 rows
    ([(6, 7)], 0, {"n_anomalies_found": 0, "n_true_alerts": 0, "delays": ()}),
    ([(6, 7)], 2, {"n_anomalies_found": 1, "n_true_alerts": 1, "delays": (4,)}),
    # fragments: two alerts on one segment, a false one in the middle
    ([(2, 2), (4, 4), (8, 9)], 0, {"n_anomalies_found": 1, "n_true_alerts": 2, "delays": (0,)}),
    # one long alert over both segments: both found by one alert
    ([(1, 15)], 0, {"n_anomalies_found": 2, "n_true_alerts": 1, "delays": (0, 0)}),
    ([], 0, {"n_anomalies_found": 0, "n_true_alerts": 0, "delays": ()}),
])
def test_alert_counts_by_hand(alerts, tolerance, expected):
    counts = metrics.alert_counts(LABELS, alerts, tolerance_rows=tolerance, tolerance_share=0.0)
    assert counts.n_anomalies == 2 and counts.n_alerts == len(alerts) and counts.n_normal_rows == 15
    for key, value in expected.items():
        assert getattr(counts, key) == value


def test_the_default_tolerance_is_30_rows_or_a_tenth_of_the_segment():
    labels = np.zeros(1000, dtype=int)
    labels[100:500] = 1  # 400 rows: 10 % = 40 > 30
    labels[800:810] = 1  # 10 rows: 30
    counts = metrics.alert_counts(labels, [(539, 545), (839, 839), (840, 845)])
    # 539 is 40 rows after 499: true; 839 is 30 rows after 809: true; 840 is beyond it: false
    assert (counts.n_true_alerts, counts.n_false_alerts) == (2, 1)
    assert metrics.alert_counts(labels, [(540, 545)]).n_true_alerts == 0


def test_delay_is_to_the_row_the_alert_fired():
    counts = metrics.alert_counts(LABELS, [(1, 4), (13, 13)], fired_at=[3, 13], tolerance_rows=0)
    assert counts.delays == (1, 1)  # fired at 3: one row after the segment's start at 2
    counts = metrics.alert_counts(LABELS, [(0, 4)], fired_at=[1], tolerance_rows=0)
    assert counts.delays == (0,)  # already raised when the segment began


def test_ratios_and_pooling():
    a = metrics.alert_counts(LABELS, [(2, 3), (8, 8)], tolerance_rows=0)
    b = metrics.alert_counts(LABELS, [(12, 13)], tolerance_rows=0)
    assert (a.anomaly_recall, a.alert_precision, a.false_alerts_per_1000_rows) == (0.5, 0.5, 1000 / 15)
    pooled = a + b
    assert pooled.n_anomalies == 4 and pooled.n_anomalies_found == 2 and pooled.alert_precision == 2 / 3
    assert pooled.alerts_per_anomaly_found == 1.0 and pooled.median_alert_delay == 0.0
    assert set(pooled.to_dict()) == set(metrics.ALERT_METRIC_KEYS)
    none = metrics.alert_counts([0, 0, 0], [])
    assert math.isnan(none.anomaly_recall) and math.isnan(none.alert_precision)
    assert none.false_alerts_per_1000_rows == 0.0 and math.isnan(none.false_alerts_per_day)


def test_per_row_alert_ids_and_per_day():
    ids = np.array([-1, -1, 0, 0, -1, -1, -1, -1, 1, -1, -1, -1, 2, 2, -1, -1, -1, -1, -1, -1])
    index = pd.date_range("2026-01-01", periods=20, freq="h")
    counts = metrics.alert_counts(LABELS, ids, index=index, tolerance_rows=0)
    assert (counts.n_alerts, counts.n_true_alerts) == (3, 2)
    assert counts.false_alerts_per_day == pytest.approx(1 / (15 / 24))


def test_bad_alerts_are_refused():
    with pytest.raises(DataError, match="0 <= start <= end < 20"):
        metrics.alert_counts(LABELS, [(5, 25)])
    with pytest.raises(DataError, match="fired_at has 1 values for 2 alerts"):
        metrics.alert_counts(LABELS, [(2, 3), (5, 6)], fired_at=[2])


def test_an_alert_raised_long_before_a_segment_can_count_as_false():
    labels = np.zeros(300, dtype=int)
    labels[200:250] = 1
    alerts, fired = [(100, 260)], [119]  # raised 81 rows before the segment, ran on into it
    assert metrics.alert_counts(labels, alerts, fired_at=fired).n_true_alerts == 1
    strict = metrics.alert_counts(labels, alerts, fired_at=fired, max_early_rows=30)
    assert (strict.n_true_alerts, strict.n_anomalies_found) == (0, 0)
    assert metrics.alert_counts(labels, alerts, fired_at=fired, max_early_rows=81).n_true_alerts == 1
