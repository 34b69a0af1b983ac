"""Alert metrics: alerts against labelled segments, counted where they fired, the normal time they cover
counted against them, with the spill-over tolerance."""

import math

import numpy as np
import pandas as pd
import pytest

from seqae import metrics
from seqae.errors import DataError

#            0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
LABELS = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("alerts, fired, tolerance, expected", [
    # one alert per segment, fired inside: recall 1, precision 1
    ([(2, 3), (12, 13)], None, 0, {"n_anomalies_found": 2, "n_true_alerts": 2, "delays": (0, 0)}),
    # an alert fired 2 rows after a segment's end: false without tolerance, true with 2 rows
    ([(6, 7)], None, 0, {"n_anomalies_found": 0, "n_true_alerts": 0, "delays": ()}),
    ([(6, 7)], None, 2, {"n_anomalies_found": 1, "n_true_alerts": 1, "delays": (4,)}),
    # fragments: two alerts on one segment, a false one in the middle
    ([(2, 2), (4, 4), (8, 9)], None, 0, {"n_anomalies_found": 1, "n_true_alerts": 2, "delays": (0,)}),
    # one long alert over both segments, fired before the first began: false, and it finds neither
    ([(1, 15)], [1], 0, {"n_anomalies_found": 0, "n_true_alerts": 0, "delays": ()}),
    # the same alert fired inside the first segment: true, finds the first only (it fired there)
    ([(1, 15)], [3], 0, {"n_anomalies_found": 1, "n_true_alerts": 1, "delays": (1,)}),
    ([], None, 0, {"n_anomalies_found": 0, "n_true_alerts": 0, "delays": ()}),
])
def test_alert_counts_by_hand(alerts, fired, tolerance, expected):
    counts = metrics.alert_counts(LABELS, alerts, fired_at=fired, tolerance_rows=tolerance, tolerance_share=0.0)
    assert counts.n_anomalies == 2 and counts.n_alerts == len(alerts)
    assert counts.n_normal_rows == 15 - 2 * tolerance
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
    assert counts.delays == () and counts.n_false_alerts == 1  # raised before the segment began: false


def test_an_alert_raised_before_its_segment_is_false_however_far_it_runs_into_it():
    labels = np.zeros(300, dtype=int)
    labels[200:250] = 1
    early = metrics.alert_counts(labels, [(100, 260)], fired_at=[119])  # 81 rows before the segment
    assert (early.n_true_alerts, early.n_anomalies_found, early.n_false_alerts) == (0, 0, 1)
    assert metrics.alert_counts(labels, [(100, 260)], fired_at=[200]).n_true_alerts == 1


def test_normal_time_inside_alerts_counts_against_them():
    labels = np.zeros(200, dtype=int)
    labels[50:60] = 1  # tolerance 30 rows: rows 50..89 are not normal time
    tight = metrics.alert_counts(labels, [(52, 70)], fired_at=[52])
    blanket = metrics.alert_counts(labels, [(52, 189)], fired_at=[52])
    assert tight.alert_precision == blanket.alert_precision == 1.0  # both fired inside the anomaly
    assert tight.alert_time_precision == 1.0 and tight.normal_rows_in_alerts == 0.0
    assert blanket.alert_time_precision == pytest.approx(38 / 138)  # rows 52..89 of 52..189
    assert blanket.normal_rows_in_alerts == pytest.approx(100 / 160)  # rows 90..189 of the 160 normal ones


def test_nab_score_of_the_firing_rows():
    labels = np.zeros(100, dtype=int)
    labels[40:50] = 1
    at_start = metrics.alert_counts(labels, [(40, 45)], fired_at=[40])
    assert at_start.nab_score == pytest.approx(100.0)  # detected at the window's first row, nothing else
    counted = metrics.nab_counts(labels, np.eye(100, dtype=int)[44] + np.eye(100, dtype=int)[5], probation=0)
    assert metrics.alert_counts(labels, [(44, 46), (5, 6)], fired_at=[44, 5]).nab_score == pytest.approx(counted.score)
    assert math.isnan(metrics.alert_counts(np.zeros(10, int), [(2, 3)]).nab_score)  # no window to score


def test_ratios_and_pooling():
    a = metrics.alert_counts(LABELS, [(2, 3), (8, 8)], tolerance_rows=0, tolerance_share=0.0)
    b = metrics.alert_counts(LABELS, [(12, 13)], tolerance_rows=0, tolerance_share=0.0)
    assert (a.anomaly_recall, a.alert_precision, a.false_alerts_per_1000_rows) == (0.5, 0.5, 1000 / 15)
    pooled = a + b
    assert pooled.n_anomalies == 4 and pooled.n_anomalies_found == 2 and pooled.alert_precision == 2 / 3
    assert pooled.alerts_per_anomaly_found == 1.0 and pooled.median_alert_delay == 0.0
    assert pooled.nab_windows == 4 and pooled.nab_raw == pytest.approx(a.nab_raw + b.nab_raw)
    assert set(pooled.to_dict()) == set(metrics.ALERT_METRIC_KEYS)
    none = metrics.alert_counts([0, 0, 0], [])
    assert math.isnan(none.anomaly_recall) and math.isnan(none.alert_precision)
    assert none.false_alerts_per_1000_rows == 0.0 and math.isnan(none.false_alerts_per_day)


def test_per_row_alert_ids_and_per_day():
    ids = np.array([-1, -1, 0, 0, -1, -1, -1, -1, 1, -1, -1, -1, 2, 2, -1, -1, -1, -1, -1, -1])
    index = pd.date_range("2026-01-01", periods=20, freq="h")
    counts = metrics.alert_counts(LABELS, ids, index=index, tolerance_rows=0, tolerance_share=0.0)
    assert (counts.n_alerts, counts.n_true_alerts) == (3, 2)
    assert counts.false_alerts_per_day == pytest.approx(1 / (15 / 24))


def test_bad_alerts_are_refused():
    with pytest.raises(DataError, match="0 <= start <= end < 20"):
        metrics.alert_counts(LABELS, [(5, 25)])
    with pytest.raises(DataError, match="fired_at has 1 values for 2 alerts"):
        metrics.alert_counts(LABELS, [(2, 3), (5, 6)], fired_at=[2])
