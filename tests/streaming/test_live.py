"""Causal scores, the decisions on them and the live scorer: each row decided from the rows up to it
alone, the same whether a series is scored whole, in chunks of a file, or row by row through
`LiveScorer`, across a restart from its state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from seqae.data import read_sensor_csv
from seqae.detectors import BaseDetector, make_detector, scoring
from seqae.errors import DataError
from seqae.detectors.feed import Feed
from seqae.streaming import LiveScorer, score_csv
from seqae.synthetic import make_sensor_data

from conftest import MODEL_TYPES, tiny_params

N_ROWS, N_TRAIN = 500, 300


@pytest.fixture(scope="module")
def series():
    frame, _, _ = make_sensor_data(N_ROWS, 3, normal_rows=N_TRAIN, anomalies=("spike", "level_shift"),
                                   anomaly_length=40, random_state=2)
    frame.index.name = "timestamp"
    return frame


@pytest.fixture(scope="module")
def detectors(series):
    """Every detector kind, small, smoothing 3 where it has a window (2 for the rest)."""
    out = {}
    for model_type in MODEL_TYPES:
        params = tiny_params(model_type, smoothing=3)
        if "epochs" in params:
            params["epochs"] = 2
        if "verbose" in make_detector(model_type).get_params():
            params["verbose"] = False
        out[model_type] = make_detector(model_type, **params).fit(series.iloc[:N_TRAIN])
    return out


def test_causal_rows_use_no_later_row(detectors, series):
    """Changing the rows after t changes no decision up to t; the retrospective scores do change."""
    detector = detectors["lstm-ae"]
    changed = series.copy()
    changed.iloc[350:, :] += 5.0
    live, live_changed = (detector.detect(f) for f in (series, changed))
    for field in ("scores", "raw_scores", "flags"):
        np.testing.assert_array_equal(getattr(live, field)[:350], getattr(live_changed, field)[:350])
    ranking, ranking_changed = (detector.anomaly_score(f) for f in (series, changed))
    assert not np.array_equal(ranking[:350], ranking_changed[:350])


def test_causal_score_is_the_window_ending_on_the_row(detectors, series):
    """Hand-computed for one row: the window ending on it, its steps averaged, normalised, smoothed."""
    detector = detectors["knn-window"]
    w, k = detector.window_size, detector.smoothing
    detection = detector.detect(series)
    scaled = detector.scaler_.transform(series.to_numpy())
    t = 200
    rows = []
    for end in range(t - k + 1, t + 1):
        import torch
        window = torch.from_numpy(np.ascontiguousarray(scaled[end - w + 1:end + 1], dtype=np.float32))[None]
        elements = detector.window_scores(window)[0].astype(np.float64).mean(axis=0)
        rows.append(scoring.contributions(elements[None], detector.normalizer_)[0])
    np.testing.assert_allclose(detection.contributions[t], np.mean(rows, axis=0), rtol=1e-9)
    assert detection.raw_scores[t] == pytest.approx(detection.contributions[t].sum())


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_warming_up_rows(detectors, series, model_type):
    detector = detectors[model_type]
    detection = detector.detect(series)
    n_warm = detector.window_size - 1  # no full window yet; then the rules' burn-in calibrates the reference
    n_calibrating = detector.alert_rules_.burn_in
    assert detection.warming_up.sum() == n_warm + n_calibrating and detection.warming_up[:n_warm + n_calibrating].all()
    assert np.isnan(detection.scores[:n_warm]).all() and np.isfinite(detection.scores[n_warm:]).all()
    assert not detection.flags[:n_warm + n_calibrating].any()
    frame = detection.to_frame()
    assert list(frame.columns[:5]) == ["score", "raw_score", "is_anomaly", "alert_id", "warming_up"]
    # a series shorter than a window: all warming up, nothing invented
    short = detector.detect(series.iloc[:max(n_warm, 1)])
    assert short.warming_up.all() and np.isnan(short.scores[:n_warm]).all() and not short.flags.any()


def test_last_reduction_causal_equals_default_after_warm_up(series):
    # memory 0: the feed holds each sensor's level where training left it (no level to follow)
    detector = make_detector("lstm-ae", **tiny_params("lstm-ae", epochs=2, score_reduction="last", verbose=False,
                                                        alert_rules={"memory": 0})).fit(series.iloc[:N_TRAIN])
    n_warm = detector.window_size - 1
    np.testing.assert_array_equal(detector.anomaly_score(series, causal=True)[n_warm:],
                                  detector.anomaly_score(series)[n_warm:])


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("chunk", [1, 5, 37])
def test_live_scorer_equals_causal_batch(detectors, series, model_type, chunk):
    detector = detectors[model_type]
    n_rows = 150 if chunk == 1 else N_ROWS  # row by row: past the warm-up and the smoothing, not the whole series
    series = series.iloc[:n_rows]
    whole = detector.detect(series)
    scorer = LiveScorer(detector)
    parts = [scorer.update(series.iloc[i:i + chunk]) for i in range(0, n_rows, chunk)]
    for field in ("scores", "raw_scores", "contributions", "flags", "warming_up"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in parts]), getattr(whole, field))
    assert scorer.n_rows == n_rows


@settings(max_examples=15)
@given(cuts=st.lists(st.integers(1, N_ROWS - 1), max_size=12, unique=True), restart=st.integers(0, N_ROWS))
def test_any_pieces_and_a_restart_give_the_batch_scores_and_alerts(detectors, series, cuts, restart):
    """Pieces of any length (hypothesis), and a restart from the JSON state at any row: the same
    scores, the same alerts opened and closed (for good) as the whole series' detection."""
    detector = detectors["knn-window"]
    whole = detector.detect(series)
    expected = detector.find_alerts(whole).table
    edges = sorted(set(cuts) | {restart, 0, N_ROWS})
    scorer, scores, events = LiveScorer(detector), [], []
    for first, stop in zip(edges[:-1], edges[1:]):
        if first == restart:
            scorer = LiveScorer.restore(detector, json.loads(json.dumps(scorer.state())))
        detection = scorer.update(series.iloc[first:stop])
        scores.append(detection.scores)
        events += [(e.event, e.alert["alert_id"], e.alert["fired_at"], e.alert["end"], first + e.position)
                   for e in scorer.events]
    np.testing.assert_array_equal(np.concatenate(scores), whole.scores)
    assert len(expected) >= 1
    opened = [(a, fired) for kind, a, fired, _, _ in events if kind == "open"]
    closed = [(a, end) for kind, a, _, end, _ in events if kind == "close"]
    assert opened == list(zip(expected["alert_id"], expected["fired_at"]))
    # a close is final once the cooldown after the alert's end has passed (or it settled); the batch
    # table also closes the alerts whose cooldown the end of the data cut short, which a feed has not
    cooldown = detector.alert_rules_.cooldown
    decided = [(a, end) for a, end, c, why in zip(expected["alert_id"], expected["end"], expected["closed"],
                                                  expected["reason"])
               if c and (why == "settled" or series.index.get_loc(end) + cooldown + 1 < N_ROWS)]
    assert closed == decided
    # an alert opens on the row it fires
    for kind, _, fired, _, row in events:
        if kind == "open":
            assert series.index[row] == fired
    table = scorer.alert_table()
    assert list(table["alert_id"]) == list(expected["alert_id"])


def test_causal_scorer_on_arrays_counts_rows(detectors, series):
    detector = detectors["pca"]
    scorer = LiveScorer(detector)
    detection = scorer.update(series.to_numpy()[:10])
    assert list(detection.index) == list(range(10))
    assert list(scorer.update(series.to_numpy()[10:12]).index) == [10, 11]


def test_restore_refuses_another_models_state(detectors, series):
    scorer = LiveScorer(detectors["knn-window"])
    scorer.update(series.iloc[:20])
    with pytest.raises(DataError, match="another model"):
        LiveScorer.restore(detectors["pca"], scorer.state())
    with pytest.raises(DataError, match="not the state"):
        LiveScorer.restore(detectors["knn-window"], {"format": 99})


def test_update_checks_its_rows(detectors, series):
    scorer = LiveScorer(detectors["knn-window"])
    with pytest.raises(DataError, match="column 'sensor_1' is missing|missing"):
        scorer.update(series.drop(columns=[series.columns[1]]).iloc[:3])
    bad = series.iloc[:3].copy()
    bad.iloc[1, 0] = np.nan
    with pytest.raises(DataError, match="missing or infinite"):
        scorer.update(bad)
    assert scorer.n_rows == 0


@pytest.mark.parametrize("chunk_rows", [2, 13, 10_000])
def test_chunked_causal_score_csv_equals_whole_file(detectors, series, tmp_path, chunk_rows):
    detector = detectors["lstm-ae"]
    path = tmp_path / "sensors.csv"
    series.to_csv(path)
    detection = detector.detect(read_sensor_csv(path, columns=list(detector.feature_names_in_)))
    alerts = detector.find_alerts(detection)
    expected_scores, expected_intervals = tmp_path / "whole.csv", tmp_path / "whole_intervals.csv"
    detection.to_frame().to_csv(expected_scores)
    alerts.table.to_csv(expected_intervals, index=False)
    out, intervals = tmp_path / "chunked.csv", tmp_path / "intervals.csv"
    summary = score_csv(detector, path, out, intervals_path=intervals, chunk_rows=chunk_rows, quiet=True)
    assert out.read_text() == expected_scores.read_text()
    assert intervals.read_text() == expected_intervals.read_text()
    assert summary["rows"] == N_ROWS and summary["alerts"] == len(alerts.table) >= 1
    written = pd.read_csv(out)
    assert written["score"].isna().sum() == detector.window_size - 1
    assert written["warming_up"].sum() == detector.window_size - 1 + detector.alert_rules_.burn_in


def test_a_feed_is_public_for_pieces(detectors, series):
    detector = detectors["deviation"]
    feed = Feed(detector)
    values = series.to_numpy()
    a, _ = feed.score(values[:7], series.index[:7])
    b, _ = feed.score(values[7:], series.index[7:])
    whole = detector.detect(series)
    np.testing.assert_array_equal(np.concatenate([a.raw_scores, b.raw_scores]), whole.raw_scores)
    np.testing.assert_array_equal(np.concatenate([a.scores, b.scores]), whole.scores)
    assert isinstance(detector, BaseDetector)

def test_a_scorer_keeping_one_alert_reports_the_same_events(detectors, series):
    """`alerts_kept` bounds the alert list (and the state) of a feed that runs for months: the
    events and ids are those of a scorer that keeps every alert; its table holds the last ones."""
    detector = detectors["knn-window"]
    bounded, every = LiveScorer(detector), LiveScorer(detector)
    bounded.alerts_kept = 1
    seen = {"bounded": [], "every": []}
    for first in range(0, N_ROWS, 25):
        for name, scorer in (("bounded", bounded), ("every", every)):
            scorer.update(series.iloc[first:first + 25])
            seen[name] += [(first + e.position, e.event, e.alert["alert_id"]) for e in scorer.events]
    assert seen["bounded"] == seen["every"] and len(every.alert_table()) > 1
    kept = bounded.alert_table()
    assert 1 <= len(kept) <= 2 and kept["alert_id"].tolist() == every.alert_table()["alert_id"].tolist()[-len(kept):]
    assert len(bounded.state()["feed"]["tracker"]["alerts"]) == len(kept)
