"""The generated series the demo and the tests use: seeded, labelled, anomalies where they say they are."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqae.data import read_sensor_csv
from seqae.synthetic import ANOMALY_KINDS, injected_table, make_sensor_data, write_demo_csv


def test_same_seed_same_data_and_another_seed_other_data():
    a, labels_a, injected_a = make_sensor_data(600, 3, random_state=1)
    b, labels_b, injected_b = make_sensor_data(600, 3, random_state=1)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_series_equal(labels_a, labels_b)
    assert injected_a == injected_b
    assert not np.allclose(make_sensor_data(600, 3, random_state=2)[0].to_numpy(), a.to_numpy())


def test_shape_names_and_time_index():
    frame, labels, _ = make_sensor_data(500, 4, start="2026-02-01 12:00:00")
    assert frame.shape == (500, 4)
    assert list(frame.columns) == ["sensor_0", "sensor_1", "sensor_2", "sensor_3"]
    assert frame.index[0] == pd.Timestamp("2026-02-01 12:00:00") and frame.index.freq == "s"
    assert labels.index.equals(frame.index) and labels.name == "anomaly"
    assert np.isfinite(frame.to_numpy()).all()


def test_labels_mark_exactly_the_injected_intervals_after_the_normal_rows():
    frame, labels, injected = make_sensor_data(1200, 4, normal_rows=700, anomalies=ANOMALY_KINDS,
                                               anomaly_length=30, random_state=3)
    expected = np.zeros(len(frame), dtype=int)
    for anomaly in injected:
        assert anomaly.start >= 700 and anomaly.end < len(frame)
        expected[anomaly.start:anomaly.end + 1] = 1
    np.testing.assert_array_equal(labels.to_numpy(), expected)
    assert [a.kind for a in injected] == list(ANOMALY_KINDS)
    assert [a.sensor for a in injected] == ["sensor_0", "sensor_1", "sensor_2", "sensor_3", "sensor_0"]
    spans = sorted((a.start, a.end) for a in injected)
    assert all(later[0] > earlier[1] for earlier, later in zip(spans, spans[1:]))  # no overlaps
    spike = injected[0]
    assert spike.start == spike.end
    assert [(a.end - a.start + 1) for a in injected[1:]] == [30, 30, 30, 30]


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_each_anomaly_changes_only_its_sensor_and_rows(kind):
    clean, _, _ = make_sensor_data(800, 3, normal_rows=500, anomalies=(), random_state=4)
    frame, _, injected = make_sensor_data(800, 3, normal_rows=500, anomalies=(kind,), random_state=4)
    (anomaly,) = injected
    changed = ~np.isclose(frame.to_numpy(), clean.to_numpy())
    rows, cols = np.nonzero(changed)
    assert set(cols) == {frame.columns.get_loc(anomaly.sensor)}
    assert rows.min() >= anomaly.start and rows.max() <= anomaly.end
    assert changed[anomaly.start:anomaly.end + 1].any(axis=1).mean() > 0.9


def test_the_spike_and_level_shift_are_as_large_as_documented():
    clean, _, _ = make_sensor_data(800, 3, normal_rows=500, anomalies=(), random_state=5)
    frame, _, injected = make_sensor_data(800, 3, normal_rows=500, anomalies=("spike", "level_shift"),
                                          random_state=5)
    std = clean.iloc[:500].std()  # the sensor's spread, measurement noise included
    spike, shift = injected
    jump = frame[spike.sensor].iloc[spike.start] - clean[spike.sensor].iloc[spike.start]
    assert 7.5 < jump / std[spike.sensor] < 8.5  # +8 std
    moved = (frame[shift.sensor] - clean[shift.sensor]).iloc[shift.start:shift.end + 1] / std[shift.sensor]
    np.testing.assert_allclose(moved, 3.0, rtol=0.05)  # +3 std


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_timepoints=300, anomaly_length=40, normal_rows=100), "300 rows cannot hold 100 normal rows and 4 anomalies"),
    (dict(anomalies=("spike", "glitch")), "unknown anomaly kind 'glitch'"),
])
def test_impossible_layouts_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_sensor_data(**kwargs)


def test_demo_csv_reads_back(tmp_path):
    path = tmp_path / "demo.csv"
    injected = write_demo_csv(path, n_timepoints=400, n_features=3, anomaly_length=20, random_state=6)
    frame, labels = read_sensor_csv(path, label_columns=["anomaly"], return_labels=True)
    expected, expected_labels, _ = make_sensor_data(400, 3, anomaly_length=20, random_state=6)
    assert list(frame.columns) == list(expected.columns)
    np.testing.assert_allclose(frame.to_numpy(), expected.to_numpy(), rtol=1e-5)
    np.testing.assert_array_equal(labels["anomaly"].to_numpy(), expected_labels.to_numpy())
    table = injected_table(injected)
    assert list(table.columns) == ["start", "end", "sensor", "kind"] and len(table) == 4
