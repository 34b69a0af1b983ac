"""One detector on several recordings: no window spans two, each holds out its own last rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from seqae.detectors import NearestWindowsDetector, make_detector
from seqae.errors import DataError
from seqae.windows import sliding_windows, window_tensor

from conftest import MODEL_TYPES, WINDOW, tiny_params


def test_window_tensor_of_several_series_keeps_each_series_windows():
    a = np.arange(10.0).reshape(-1, 1)
    b = 100 + np.arange(7.0).reshape(-1, 1)
    windows = window_tensor([a, b], 3).numpy()
    expected = np.concatenate([sliding_windows(a, 3)[0], sliding_windows(b, 3)[0]])
    np.testing.assert_array_equal(windows, expected.astype(np.float32))
    assert len(windows) == 8 + 5  # no window starts in a and ends in b


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_one_recording_in_a_list_fits_as_the_frame_alone(model_type, train_frame):
    alone = make_detector(model_type, **tiny_params(model_type)).fit(train_frame)
    listed = make_detector(model_type, **tiny_params(model_type)).fit([train_frame])
    np.testing.assert_array_equal(alone.train_scores_, listed.train_scores_)
    assert alone.threshold_.value_ == listed.threshold_.value_


def test_no_training_window_spans_two_recordings(train_frame):
    first, second = train_frame.iloc[:300], train_frame.iloc[300:] + 50.0  # far apart: a joined window stands out
    n_train = [len(first) - int(len(first) * 0.2), len(second) - int(len(second) * 0.2)]
    for memory_from, rows in (("train", n_train), ("all", [len(first), len(second)])):
        detector = NearestWindowsDetector(window_size=WINDOW, max_memory=10_000, memory_from=memory_from).fit(
            [first, second])
        assert len(detector.memory_) == sum(n - WINDOW + 1 for n in rows)
        scaled = [detector.scaler_.transform(part.to_numpy()) for part in (first, second)]
        allowed = np.concatenate([sliding_windows(part[:n], WINDOW)[0] for part, n in zip(scaled, rows)])
        np.testing.assert_array_equal(detector.memory_, allowed.astype(np.float32))


def test_each_recording_holds_out_its_own_last_rows(train_frame):
    first, second = train_frame.iloc[:250], train_frame.iloc[250:]
    detector = make_detector("deviation").fit([first, second])
    assert len(detector.validation_scores_) == int(250 * 0.2) + int(350 * 0.2)
    assert len(detector.train_scores_) + len(detector.validation_scores_) == len(train_frame)
    # the held-out rows are the last of each: the first recording's come before the second's training rows
    alone = make_detector("deviation").fit(first)
    assert len(alone.validation_scores_) == 50


def test_a_recording_too_short_to_hold_out_trains_on_all_its_rows(train_frame):
    with pytest.warns(UserWarning, match=r"recordings 2 \(40 rows\) are too short to hold out"):
        detector = make_detector("pca", window_size=WINDOW).fit([train_frame.iloc[:500], train_frame.iloc[500:540]])
    assert len(detector.validation_scores_) == 100


def test_recordings_with_other_sensors_are_refused_naming_the_recording(train_frame):
    other = train_frame.rename(columns={"sensor_1": "flow"})
    with pytest.raises(DataError, match=r"recording 2 of 2: .*'sensor_1'"):
        make_detector("deviation").fit([train_frame, other])
    with pytest.raises(DataError, match="empty list of recordings"):
        make_detector("deviation").fit([])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"recording 2 of 2: the data has 5 rows, fewer than one window"):
            make_detector("pca", window_size=WINDOW).fit([train_frame, train_frame.iloc[:5]])
