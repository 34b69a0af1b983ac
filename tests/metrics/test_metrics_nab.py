"""NAB's score (seqae.metrics.nab) against cases computed by hand from NAB v1.1's rules (nab/sweeper.py):
a detection in a window earns scaledSigmoid(-(right - i + 1) / width) / scaledSigmoid(-1); outside a
window it costs fp_weight * scaledSigmoid(|prev_right - i| / (prev_width - 1)), the full fp_weight
before the first window; a window without a detection costs fn_weight; probation rows count for nothing."""

import math

import numpy as np
import pytest

from seqae.metrics.nab import NabCounts, nab_counts, probation_rows, scaled_sigmoid


def sigma(position):  # NAB's scaledSigmoid, written out
    return -1.0 if position >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


MAX_TP = sigma(-1.0)  # 0.98661...


def rows(n, ones):
    out = np.zeros(n, dtype=int)
    out[list(ones)] = 1
    return out


@pytest.mark.parametrize("n, window, detected, probation, expected_raw", [
    # a detection at the window's left edge earns 1; one 3 rows past a 4-row window costs 0.11 * sigma(3 / 3)
    (10, (3, 6), [3, 9], 0, 1.0 + 0.11 * sigma(1.0)),
    # the labelled centre of an 8-row window earns sigma(-0.5) / sigma(-1); a detection before the first window
    # costs the full 0.11
    (20, (8, 15), [12, 2], 0, sigma(-0.5) / MAX_TP - 0.11),
    # a missed window costs 1; 6 rows past a 5-row window costs 0.11 * sigma(6 / 4); 15 rows past, sigma >= 3: 0.11;
    # the detection at row 3 lies in NAB's probation (floor(0.15 * 40) = 6 rows) and counts for nothing
    (40, (20, 24), [3, 30, 39], None, -1.0 + 0.11 * sigma(1.5) - 0.11),
    # only the earliest detection in a window counts, the later ones cost nothing
    (30, (10, 19), [15, 11, 19], 0, sigma(-(19 - 11 + 1) / 10) / MAX_TP),
])
def test_hand_computed_cases(n, window, detected, probation, expected_raw):
    labels = rows(n, range(window[0], window[1] + 1))
    counts = nab_counts(labels, rows(n, detected), probation=probation)
    assert counts.raw == pytest.approx(expected_raw, abs=1e-12)
    assert counts.score == pytest.approx(100.0 * (expected_raw + 1.0) / 2.0, abs=1e-9)


def test_null_and_perfect_detectors_score_0_and_100():
    labels = rows(100, list(range(40, 50)) + list(range(70, 80)))
    assert nab_counts(labels, np.zeros(100, int), probation=0).score == 0.0
    assert nab_counts(labels, rows(100, [40, 70]), probation=0).score == pytest.approx(100.0)


def test_files_pool_by_adding_their_counts():
    a = nab_counts(rows(10, [3, 4, 5, 6]), rows(10, [3, 9]), probation=0)
    b = nab_counts(rows(20, range(8, 16)), rows(20, []), probation=0)
    pooled = a + b
    assert pooled.n_windows == 2 and pooled.n_detected_windows == 1 and pooled.n_false_rows == 1
    assert pooled.score == pytest.approx(100.0 * (a.raw + b.raw + 2.0) / 4.0)
    assert isinstance(pooled, NabCounts)


def test_windows_as_spans_equal_windows_as_labels_and_profiles_change_the_weights():
    labels, detected = rows(60, range(20, 30)), rows(60, [25, 5, 45])
    assert nab_counts(labels, detected, probation=0) == nab_counts([(20, 29)], detected, probation=0)
    low_fp = nab_counts(labels, detected, profile="reward_low_FP_rate", probation=0)
    standard = nab_counts(labels, detected, probation=0)
    assert low_fp.raw < standard.raw  # the false detections cost twice as much
    with pytest.raises(ValueError, match="unknown NAB profile"):
        nab_counts(labels, detected, profile="lenient")


def test_probation_is_15_percent_capped_at_750_rows_and_scaled_sigmoid_is_nabs():
    assert probation_rows(1000) == 150 and probation_rows(22_695) == 750
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0 and scaled_sigmoid(3.0) == -1.0
