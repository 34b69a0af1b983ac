"""Each sensor's level a feed follows, over whole periods: a daily pattern must not move it.

A feed follows each sensor's level with the mean of its last readings judged normal, against the
training rows' level (`seqae.detectors.feed`). Over part of a cycle both means depend on the phase
they end at: a square wave followed over 2.7 periods rose and fell by 0.15 of its spread every
cycle, which shifted every window and raised alerts on a series that repeats its training rows.
"""

import numpy as np
import pandas as pd
import pytest

from seqae.data import find_period
from seqae.detectors import make_detector
from seqae.detectors.feed import Feed, level_of

PERIOD = 96


def _square_wave(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """A third of each period at 80, the rest at 20, with a little noise: a daily on/off pattern."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_rows)
    values = np.where(t % PERIOD < PERIOD // 3, 80.0, 20.0) + rng.normal(0.0, 1.0, n_rows)
    return pd.DataFrame({"value": values}, index=pd.date_range("2026-01-01", periods=n_rows, freq="15min"))


@pytest.fixture(scope="module")
def periodic():
    frame = _square_wave(20 * PERIOD)
    n_train = int(2.7 * PERIOD)  # training rows that end part way through a cycle
    detector = make_detector("knn-window", window_size=24, random_state=0).fit(frame.iloc[:n_train])
    return detector, frame.iloc[n_train:]


def test_the_training_level_is_taken_over_whole_periods_and_saved_with_the_period(periodic, tmp_path):
    detector, _ = periodic
    assert detector.level_period_ == PERIOD
    training = _square_wave(20 * PERIOD).iloc[:int(2.7 * PERIOD)].to_numpy()
    np.testing.assert_allclose(detector.level_reference_, training[-2 * PERIOD:].mean(axis=0))
    detector.save(tmp_path / "model")
    loaded = type(detector).load(tmp_path / "model")
    assert loaded.level_period_ == PERIOD
    np.testing.assert_allclose(loaded.level_reference_, detector.level_reference_)


def test_a_repeating_daily_pattern_keeps_its_level_and_raises_no_alert(periodic):
    detector, test = periodic
    feed, shifts = Feed(detector), []
    for start in range(0, len(test), 16):  # a live feed, a quarter of an hour's block at a time
        part = test.iloc[start:start + 16]
        feed.score(part.to_numpy(), part.index)
        shifts.append(feed.drift()["level_shift"])
    assert max(shifts) < 0.02  # in spreads; a mean over part of a cycle moved it by 0.15
    assert detector.detect(test).alerts == []


def test_a_level_shift_is_still_followed_and_still_alerts_when_it_comes():
    frame = _square_wave(20 * PERIOD, seed=1)
    frame.iloc[12 * PERIOD:, 0] += 15.0  # the whole pattern 15 higher from day 12 on
    n_train = int(2.7 * PERIOD)
    detector = make_detector("knn-window", window_size=24, random_state=0).fit(frame.iloc[:n_train])
    detection = detector.detect(frame.iloc[n_train:])
    shift_row = 12 * PERIOD - n_train
    fired = [alert.fired_at for alert in detection.alerts]
    assert any(shift_row <= row <= shift_row + PERIOD for row in fired)
    assert not any(row > shift_row + 4 * PERIOD for row in fired)  # the new level is followed, not alerted on


def test_level_of_cuts_to_the_last_whole_periods():
    readings = _square_wave(int(2.5 * PERIOD)).to_numpy()
    whole = readings[-2 * PERIOD:].mean(axis=0)
    np.testing.assert_allclose(level_of(readings, PERIOD), whole)
    np.testing.assert_allclose(level_of(readings, None), readings.mean(axis=0))
    np.testing.assert_allclose(level_of(readings[:50], PERIOD), readings[:50].mean(axis=0))  # no whole period
    assert find_period(readings) == PERIOD
