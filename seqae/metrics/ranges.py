"""Range and event metrics: VUS (a buffer around each labelled segment), events found and their delays."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqae.errors import DataError
from seqae.intervals import flags_to_intervals
from seqae.metrics.checks import check_binary, check_scores, one_class, ratio


VUS_MAX_BUFFER = 100
"""Default largest buffer length of VUS: TSB-AD's `get_metrics(slidingWindow=100)` default."""


VUS_N_THRESHOLDS = 250
"""Default number of score thresholds of VUS: TSB-AD's `thre=250`."""


def vus_pr(y_true, scores, max_buffer: int = VUS_MAX_BUFFER, n_thresholds: int = VUS_N_THRESHOLDS) -> float:
    """Volume under the range-PR surface (VUS-PR, Paparrizos et al., VLDB 2022).

    For each buffer length l = 0, 1, ..., `max_buffer`, every anomalous segment is widened by l // 2
    points on each side with soft labels sqrt(1 - d / l) at distance d (capped at 1 where buffers
    meet); a range-aware precision and recall are computed at `n_thresholds` score thresholds (the
    scores at evenly spaced ranks), recall is multiplied by the share of (widened) segments that hold
    at least one flag, and the average precision of that curve is taken. VUS-PR is the mean over l.
    A detector that fires a little before or after a labelled segment is then not scored as if it
    had missed it, and no single buffer length has to be chosen.

    This follows TSB-AD's reference (`basic_metricor.RangeAUC_volume_opt`, TheDatumOrg/TSB-AD,
    `TSB_AD/evaluation/basic_metrics.py`) step for step, including its sampled thresholds, with the
    same defaults as its `get_metrics`: `max_buffer=100` (its `slidingWindow`), `n_thresholds=250`.
    It is vectorised: one pass over buffer lengths, each O(points near anomalies + thresholds), so
    100k points take well under a second. NaN unless both classes occur.
    """
    return _range_vus(y_true, scores, max_buffer, n_thresholds)[1]


def vus_roc(y_true, scores, max_buffer: int = VUS_MAX_BUFFER, n_thresholds: int = VUS_N_THRESHOLDS) -> float:
    """Volume under the range-ROC surface, the ROC companion of `vus_pr` (same construction)."""
    return _range_vus(y_true, scores, max_buffer, n_thresholds)[0]


def _range_vus(y_true, scores, max_buffer: int, n_thresholds: int) -> tuple[float, float]:
    y_true = check_binary(y_true, "y_true")
    scores = check_scores(scores, length=y_true.size)
    if isinstance(max_buffer, bool) or not isinstance(max_buffer, (int, np.integer)) or max_buffer < 0:
        raise DataError(f"max_buffer must be a whole number >= 0, got {max_buffer!r}")
    if isinstance(n_thresholds, bool) or not isinstance(n_thresholds, (int, np.integer)) or n_thresholds < 1:
        raise DataError(f"n_thresholds must be a whole number >= 1, got {n_thresholds!r}")
    if one_class(y_true):
        return math.nan, math.nan

    n_points = y_true.size
    n_anomalous = int(y_true.sum())
    segments = np.asarray(flags_to_intervals(y_true), dtype=np.int64).reshape(-1, 2)
    starts, ends = segments[:, 0], segments[:, 1]
    n_segments = len(segments)

    # thresholds: the scores at n_thresholds evenly spaced ranks of the descending order
    ascending = np.sort(scores)
    thresholds = ascending[::-1][np.linspace(0, n_points - 1, n_thresholds).astype(int)]  # (n_thresholds,)
    n_flagged = _count_at_or_above(ascending, thresholds)
    tp_anomalous = _count_at_or_above(np.sort(scores[y_true]), thresholds)

    # normal points within max_buffer // 2 of a segment: the only ones a buffer can give a soft label
    half = max_buffer // 2
    cover = np.zeros(n_points + 1, dtype=np.int64)
    np.add.at(cover, np.maximum(starts - half, 0), 1)
    np.add.at(cover, starts, -1)
    np.add.at(cover, ends + 1, 1)
    np.add.at(cover, np.minimum(ends + half + 1, n_points), -1)
    near = np.flatnonzero((np.cumsum(cover[:-1]) > 0) & ~y_true)
    near = near[np.argsort(-scores[near], kind="stable")]  # most anomalous first
    n_near_flagged = _count_at_or_above(np.sort(scores[near]), thresholds)

    # distance to the nearest and second-nearest segment ending before / starting after each point;
    # a ramp is sqrt(1 - d/l) >= sqrt(1/2) for d <= l // 2, so two ramps on one point always cap at 1
    before = np.searchsorted(ends, near) - 1
    after = np.searchsorted(starts, near, side="right")

    def distance(index, valid, anchor):
        return np.where(valid, np.abs(near - anchor[np.clip(index, 0, n_segments - 1)]), np.inf)

    before_1 = distance(before, before >= 0, ends)
    before_2 = distance(before - 1, before >= 1, ends)
    after_1 = distance(after, after < n_segments, starts)
    after_2 = distance(after + 1, after + 1 < n_segments, starts)

    # highest score in each segment widened by h on both sides, grown as h grows
    segment_max = np.maximum.reduceat(scores[y_true], np.concatenate(([0], np.cumsum(ends - starts + 1)[:-1])))
    grown_to = 0

    roc_areas = np.empty(max_buffer + 1)
    pr_areas = np.empty(max_buffer + 1)
    for buffer in range(max_buffer + 1):
        h = buffer // 2
        for step in range(grown_to + 1, h + 1):
            segment_max = np.maximum(segment_max, np.maximum(scores[np.maximum(starts - step, 0)],
                                                             scores[np.minimum(ends + step, n_points - 1)]))
        grown_to = h

        n_ramps = (before_1 <= h).astype(np.int8) + (before_2 <= h) + (after_1 <= h) + (after_2 <= h)
        with np.errstate(divide="ignore", invalid="ignore"):
            single = np.where(before_1 <= h, np.sqrt(1 - before_1 / buffer),
                              np.where(after_1 <= h, np.sqrt(1 - after_1 / buffer), 0.0))
        soft_label = np.where(n_ramps >= 2, 1.0, single)
        near_tp = np.concatenate(([0.0], np.cumsum(soft_label)))[n_near_flagged]  # (n_thresholds,)

        # segments whose widened ranges touch are one range
        separate = ends[:-1] + h < starts[1:] - h
        first = np.concatenate(([0], np.flatnonzero(separate) + 1))
        range_max = np.maximum.reduceat(segment_max, first)
        existence = _count_at_or_above(np.sort(range_max), thresholds) / first.size

        tp = tp_anomalous + near_tp
        positives = (n_anomalous + (n_anomalous + near_tp)) / 2
        tpr = np.minimum(tp / positives, 1.0) * existence
        fpr = (n_flagged - tp) / (n_points - positives)
        precision_at = tp / n_flagged

        pr_areas[buffer] = np.dot(np.diff(tpr, prepend=0.0), precision_at)
        tpr_curve = np.concatenate(([0.0], tpr, [1.0]))
        fpr_curve = np.concatenate(([0.0], fpr, [1.0]))
        roc_areas[buffer] = np.dot(np.diff(fpr_curve), (tpr_curve[1:] + tpr_curve[:-1]) / 2)
    return float(roc_areas.mean()), float(pr_areas.mean())


def _count_at_or_above(ascending: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of the sorted values are >= each threshold."""
    return ascending.size - np.searchsorted(ascending, thresholds, side="left")


@dataclass(frozen=True)
class EventCounts:
    """Anomalous segments found and missed, false-alarm points, and delays; `+` pools files.

    `detection_delays` holds, for each detected segment, the rows from its first point to its
    first flagged point.
    """

    n_events: int
    n_detected_events: int
    n_false_alarm_points: int
    detection_delays: tuple[int, ...] = ()

    def __add__(self, other: "EventCounts") -> "EventCounts":
        return EventCounts(self.n_events + other.n_events, self.n_detected_events + other.n_detected_events,
                           self.n_false_alarm_points + other.n_false_alarm_points,
                           self.detection_delays + other.detection_delays)

    @property
    def precision(self) -> float:
        """Detected segments / (detected segments + falsely flagged points); NaN when nothing is flagged."""
        return ratio(self.n_detected_events, self.n_detected_events + self.n_false_alarm_points)

    @property
    def recall(self) -> float:
        """Detected segments / all segments; NaN when there is no anomalous segment."""
        return ratio(self.n_detected_events, self.n_events)

    @property
    def f1(self) -> float:
        """Harmonic mean of `precision` and `recall`; NaN with no segment and no flag."""
        missed = self.n_events - self.n_detected_events
        return ratio(2 * self.n_detected_events, 2 * self.n_detected_events + self.n_false_alarm_points + missed)

    @property
    def mean_detection_delay(self) -> float:
        """Mean rows from segment start to first flag over detected segments; NaN when none was detected."""
        return float(np.mean(self.detection_delays)) if self.detection_delays else math.nan

    def to_dict(self) -> dict:
        return {"event_f1": self.f1, "event_precision": self.precision, "event_recall": self.recall,
                "mean_detection_delay": self.mean_detection_delay, "n_events": self.n_events,
                "n_detected_events": self.n_detected_events}


def event_counts(y_true, y_pred) -> EventCounts:
    """Merlion's revised point-adjusted counts of flags against labelled segments.

    Follows `merlion.evaluate.anomaly.accumulate_tsad_score` with its defaults (no early or late
    detection window, `max_early_sec=max_delay_sec=None`) and `ScoreType.RevisedPointAdjusted`:
    an anomalous segment (a run of 1s in `y_true`) is one true positive if any of its points is
    flagged, else one false negative; every flagged normal point is one false positive. Merlion's
    precision is then TP_segments / (TP_segments + FP_points) and its recall TP_segments /
    segments. Where Merlion returns 0.0 for 0/0, seqae returns NaN.

    >>> counts = event_counts([0, 1, 1, 1, 0, 0, 1, 1, 0], [1, 0, 0, 1, 0, 0, 0, 0, 0])
    >>> counts.n_events, counts.n_detected_events, counts.n_false_alarm_points, counts.detection_delays
    (2, 1, 1, (2,))
    """
    y_true = check_binary(y_true, "y_true")
    y_pred = check_binary(y_pred, "y_pred", length=y_true.size)
    delays = _segment_delays(y_true, y_pred)
    found = delays >= 0
    return EventCounts(n_events=len(delays), n_detected_events=int(found.sum()),
                       n_false_alarm_points=int(np.count_nonzero(y_pred & ~y_true)),
                       detection_delays=tuple(int(d) for d in delays[found]))


def event_f1(y_true, y_pred) -> float:
    """Event-wise F1 (Merlion's revised point-adjusted F1); see `event_counts`."""
    return event_counts(y_true, y_pred).f1


def detection_delays(y_true, y_pred) -> np.ndarray:
    """Per anomalous segment, in time order: rows from its first point to its first flag; NaN if missed.

    >>> detection_delays([0, 1, 1, 1, 0, 1, 1], [0, 0, 0, 1, 0, 0, 0])
    array([ 2., nan])
    """
    y_true = check_binary(y_true, "y_true")
    y_pred = check_binary(y_pred, "y_pred", length=y_true.size)
    delays = _segment_delays(y_true, y_pred)
    return np.where(delays >= 0, delays, np.nan)


def _segment_delays(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per anomalous segment of the checked 0/1 arrays: rows from its start to its first flag, -1 if none."""
    segments = np.asarray(flags_to_intervals(y_true), dtype=np.int64).reshape(-1, 2)
    flagged = np.flatnonzero(y_pred)
    # the first flagged row at or after each segment start; the segment is found if it is inside
    first_flag = np.searchsorted(flagged, segments[:, 0])
    found = first_flag < flagged.size
    found[found] = flagged[first_flag[found]] <= segments[found, 1]
    delays = np.full(len(segments), -1, dtype=np.int64)
    delays[found] = flagged[first_flag[found]] - segments[found, 0]
    return delays
