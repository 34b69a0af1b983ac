"""knn-window with threshold_on="all": every training row's causal score out of sample (a self-join
with an exclusion zone of one window), so the threshold is fitted on the whole training stretch."""

import numpy as np
import pandas as pd
import pytest

from seqae.detectors import make_detector
from seqae.detectors.neighbours import _nearest_distances


def _noise(n_rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-01", periods=n_rows, freq="min")
    return pd.DataFrame({"a": rng.normal(size=n_rows), "b": rng.normal(size=n_rows)}, index=index)


def test_an_excluded_window_is_never_a_match_and_one_with_no_match_scores_inf():
    rng = np.random.default_rng(1)
    windows = rng.normal(size=(40, 5, 2)).astype(np.float32)
    starts = np.arange(40)
    norms = (windows.reshape(40, -1).astype(np.float64) ** 2).sum(axis=1)
    distances, nearest = _nearest_distances(windows, windows, norms, 1, exclude=(starts, starts, 5))
    assert np.all(np.abs(nearest[:, 0] - starts) >= 5)
    for k in range(40):  # the brute-force nearest among the windows sharing no row with window k
        allowed = [j for j in range(40) if abs(j - k) >= 5]
        best = min(((windows[k] - windows[j]) ** 2).mean() for j in allowed)
        assert distances[k].sum() / 2 == pytest.approx(best, rel=1e-4)
    alone, _ = _nearest_distances(windows[:1], windows[:3], norms[:3], 1, exclude=(starts[:1], starts[:3], 5))
    assert np.isinf(alone).all()


def test_every_training_row_calibrates_out_of_sample():
    train = _noise(600)
    train.iloc[100:110, 0] += 6.0  # a pattern the training rows hold once, early: never held out
    held_out = make_detector("knn-window", window_size=20).fit(train)
    every_row = make_detector("knn-window", window_size=20, threshold_on="all").fit(train)
    assert every_row.alert_rules_.n_calibration_ == len(train) - 20 + 1
    assert held_out.alert_rules_.n_calibration_ < 150  # the last fifth only
    # the pattern's windows match nothing but themselves: out of sample they score above every other
    # training row (in sample, every row before the held-out ones scored its own distance, 0, alike)
    raw = every_row.training_raw_.scores
    assert np.all(np.isfinite(raw[19:]))
    assert np.nanmax(raw[100:130]) > np.nanmax(np.r_[raw[19:95], raw[135:]])
    # the scores of new rows do not change: the same memory (every training window) either way
    test = _noise(300, seed=3)
    np.testing.assert_allclose(held_out.detect(test).raw_scores, every_row.detect(test).raw_scores, rtol=1e-6)


def test_training_rows_too_few_for_a_match_calibrate_as_on_the_held_out_rows_with_a_warning():
    train = _noise(110)  # 71 windows of 40 rows: the middle ones share rows with every other
    with pytest.warns(UserWarning) as caught:
        detector = make_detector("knn-window", window_size=40, threshold_on="all").fit(train)
    said = [str(w.message) for w in caught]
    assert any(m.startswith("threshold_on='all': in a recording of 110 rows some windows of 40 rows share rows") for m in said)
    assert any("too few to hold out" in m for m in said)
    with pytest.warns(UserWarning, match="too few to hold out"):
        reference = make_detector("knn-window", window_size=40).fit(train)
    assert detector.threshold_.value_ == pytest.approx(reference.threshold_.value_)
