"""Evaluation: point and event metrics, AUC-PR, VUS-PR, false-alarm rate, detection delay.

Every function takes `y_true` (0/1 per time point, 1 = anomalous) and either `y_pred` / `flags`
(0/1 per time point, what a threshold said) or `scores` (higher = more anomalous).

What is offered and how each number is defined:

| key | definition |
|---|---|
| `tp`, `fp`, `tn`, `fn` | confusion counts over time points |
| `precision`, `recall`, `f1` | point-wise: TP/(TP+FP), TP/(TP+FN), 2TP/(2TP+FP+FN) |
| `far`, `mar` | SKAB's false-alarm and missed-alarm rates, **in %**: 100·FP/(FP+TN), 100·FN/(FN+TP) |
| `auc_pr` | average precision, step-wise as `sklearn.metrics.average_precision_score` |
| `auc_roc` | area under the ROC curve (`sklearn.metrics.roc_auc_score`) |
| `vus_pr` | volume under the range-PR surface over buffer lengths 0..`max_buffer` (Paparrizos et al.) |
| `event_precision`, `event_recall`, `event_f1` | Merlion's revised point-adjusted scores (below) |
| `mean_detection_delay` | rows from a segment's first point to its first flag, mean over detected segments |
| `n_events`, `n_detected_events` | anomalous segments in `y_true`, and how many got at least one flag |

A ratio whose denominator is zero is NaN, never a crash and never a made-up 0 or 1: `precision` with
no flag, `recall`/`mar` with no anomalous point, `far` with no normal point, `f1` with neither
anomalies nor flags. The ranking metrics (`auc_pr`, `auc_roc`, `vus_pr`) need both classes and are
NaN otherwise (an all-anomalous series ranks nothing).

**Point-adjusted F1 is not offered.** Point adjustment (Xu et al., WWW 2018) marks a whole anomalous
segment as found when any one of its points is flagged, and scores every point of it as a true
positive. On long segments that rewards luck: Kim et al. (AAAI 2022, "Towards a rigorous evaluation
of time-series anomaly detection") show that uniformly random scores reach point-adjusted F1 close to
or above published detectors on the usual benchmarks. `event_f1` keeps what is fair in the idea (a
segment is one event, found if any point is flagged) without its inflation: each segment counts once,
while every falsely flagged point counts as a false alarm.

Pooling over files (SKAB's protocol): `pooled` sums TP/FP/TN/FN over the per-file results of
`evaluate`, then computes F1, FAR and MAR from the sums (and the event scores from summed event
counts). Prefer it to concatenating files, which would join an anomaly at the end of one file to one
at the start of the next and let VUS buffers reach across files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from seqae.errors import DataError
from seqae.thresholds import flags_to_intervals

VUS_MAX_BUFFER = 100
"""Default largest buffer length of VUS: TSB-AD's `get_metrics(slidingWindow=100)` default."""

VUS_N_THRESHOLDS = 250
"""Default number of score thresholds of VUS: TSB-AD's `thre=250`."""

METRIC_KEYS = (
    "tp", "fp", "tn", "fn", "precision", "recall", "f1", "far", "mar", "auc_pr", "auc_roc", "vus_pr",
    "event_f1", "event_precision", "event_recall", "mean_detection_delay", "n_events", "n_detected_events",
)
"""The keys of `evaluate`'s result, in a stable order."""

POOLED_KEYS = ("tp", "fp", "tn", "fn", "precision", "recall", "f1", "far", "mar")
POOLED_EVENT_KEYS = ("event_f1", "event_precision", "event_recall", "mean_detection_delay",
                     "n_events", "n_detected_events")


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


# --- point-wise -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfusionCounts:
    """Point-wise confusion counts; `+` sums them (pooling over files)."""

    tp: int
    fp: int
    tn: int
    fn: int

    def __add__(self, other: "ConfusionCounts") -> "ConfusionCounts":
        return ConfusionCounts(self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn)

    @property
    def precision(self) -> float:
        """TP / (TP + FP); NaN when nothing is flagged."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN); NaN when nothing is anomalous."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2TP / (2TP + FP + FN), the harmonic mean of precision and recall; NaN with no anomaly and no flag."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def far(self) -> float:
        """False-alarm rate in %, SKAB's FAR: 100 FP / (FP + TN); NaN when nothing is normal."""
        return 100.0 * _ratio(self.fp, self.fp + self.tn)

    @property
    def mar(self) -> float:
        """Missed-alarm rate in %, SKAB's MAR: 100 FN / (FN + TP); NaN when nothing is anomalous."""
        return 100.0 * _ratio(self.fn, self.fn + self.tp)

    def to_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1, "far": self.far, "mar": self.mar}


def confusion_counts(y_true, y_pred) -> ConfusionCounts:
    """Point-wise TP, FP, TN, FN of 0/1 flags against 0/1 labels.

    >>> confusion_counts([0, 1, 1, 0, 1], [0, 1, 0, 1, 1])
    ConfusionCounts(tp=2, fp=1, tn=1, fn=1)
    """
    y_true = _check_binary(y_true, "y_true")
    y_pred = _check_binary(y_pred, "y_pred", length=y_true.size)
    tp = int(np.count_nonzero(y_true & y_pred))
    fp = int(np.count_nonzero(~y_true & y_pred))
    fn = int(np.count_nonzero(y_true & ~y_pred))
    return ConfusionCounts(tp=tp, fp=fp, tn=int(y_true.size) - tp - fp - fn, fn=fn)


def precision(y_true, y_pred) -> float:
    """Point-wise precision TP / (TP + FP); NaN when nothing is flagged."""
    return confusion_counts(y_true, y_pred).precision


def recall(y_true, y_pred) -> float:
    """Point-wise recall TP / (TP + FN); NaN when nothing is anomalous."""
    return confusion_counts(y_true, y_pred).recall


def f1_score(y_true, y_pred) -> float:
    """Point-wise F1 = 2TP / (2TP + FP + FN); NaN when there is neither an anomaly nor a flag."""
    return confusion_counts(y_true, y_pred).f1


def false_alarm_rate(y_true, y_pred) -> float:
    """SKAB's FAR in %: 100 FP / (FP + TN), the share of normal points flagged."""
    return confusion_counts(y_true, y_pred).far


def missed_alarm_rate(y_true, y_pred) -> float:
    """SKAB's MAR in %: 100 FN / (FN + TP), the share of anomalous points not flagged."""
    return confusion_counts(y_true, y_pred).mar


# --- ranking (threshold-free) -------------------------------------------------------------------


def auc_pr(y_true, scores) -> float:
    """Average precision: sum over thresholds of (R_k - R_{k-1}) P_k, as sklearn computes it.

    No interpolation (the trapezoid rule over a PR curve overestimates). NaN unless both classes occur.

    >>> auc_pr([0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8])  # (0.5 - 0) * 1 + (1 - 0.5) * 2/3
    0.8333333333333333
    """
    y_true = _check_binary(y_true, "y_true")
    scores = _check_scores(scores, length=y_true.size)
    if _one_class(y_true):
        return math.nan
    return float(average_precision_score(y_true, scores))


def auc_roc(y_true, scores) -> float:
    """Area under the ROC curve (ties count one half). NaN unless both classes occur.

    >>> auc_roc([0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8])  # 3 of the 4 (anomalous, normal) pairs ordered right
    0.75
    """
    y_true = _check_binary(y_true, "y_true")
    scores = _check_scores(scores, length=y_true.size)
    if _one_class(y_true):
        return math.nan
    return float(roc_auc_score(y_true, scores))


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
    y_true = _check_binary(y_true, "y_true")
    scores = _check_scores(scores, length=y_true.size)
    if isinstance(max_buffer, bool) or not isinstance(max_buffer, (int, np.integer)) or max_buffer < 0:
        raise DataError(f"max_buffer must be a whole number >= 0, got {max_buffer!r}")
    if isinstance(n_thresholds, bool) or not isinstance(n_thresholds, (int, np.integer)) or n_thresholds < 1:
        raise DataError(f"n_thresholds must be a whole number >= 1, got {n_thresholds!r}")
    if _one_class(y_true):
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


# --- events --------------------------------------------------------------------------------------


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
        return _ratio(self.n_detected_events, self.n_detected_events + self.n_false_alarm_points)

    @property
    def recall(self) -> float:
        """Detected segments / all segments; NaN when there is no anomalous segment."""
        return _ratio(self.n_detected_events, self.n_events)

    @property
    def f1(self) -> float:
        """Harmonic mean of `precision` and `recall`; NaN with no segment and no flag."""
        missed = self.n_events - self.n_detected_events
        return _ratio(2 * self.n_detected_events, 2 * self.n_detected_events + self.n_false_alarm_points + missed)

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
    y_true = _check_binary(y_true, "y_true")
    y_pred = _check_binary(y_pred, "y_pred", length=y_true.size)
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
    y_true = _check_binary(y_true, "y_true")
    y_pred = _check_binary(y_pred, "y_pred", length=y_true.size)
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


# --- all together ------------------------------------------------------------------------------


def evaluate(y_true, scores, flags, *, max_buffer: int = VUS_MAX_BUFFER,
             n_thresholds: int = VUS_N_THRESHOLDS) -> dict:
    """Every metric of this module for one series, keyed as in `METRIC_KEYS`.

    `scores` feed the ranking metrics (`auc_pr`, `auc_roc`, `vus_pr`), `flags` the rest; either may
    be None, and its metrics are then NaN. `far` and `mar` are in %. Degenerate series (no
    anomaly, all anomalous, no flag) give NaN where a ratio is undefined, never an error.

    >>> result = evaluate([0, 0, 1, 1, 0, 0], [0.1, 0.2, 0.9, 0.3, 0.8, 0.1], [0, 0, 1, 0, 1, 0])
    >>> result["precision"], result["recall"], result["far"], result["event_f1"]
    (0.5, 0.5, 25.0, 0.6666666666666666)
    """
    y_true = _check_binary(y_true, "y_true")
    result = dict.fromkeys(METRIC_KEYS, math.nan)
    if flags is not None:
        flags = _check_binary(flags, "flags", length=y_true.size)
        result.update(confusion_counts(y_true, flags).to_dict())
        result.update(event_counts(y_true, flags).to_dict())
    else:
        result["n_events"] = len(flags_to_intervals(y_true))
    if scores is not None:
        scores = _check_scores(scores, length=y_true.size)
        result["auc_pr"] = auc_pr(y_true, scores)
        result["auc_roc"] = auc_roc(y_true, scores)
        result["vus_pr"] = vus_pr(y_true, scores, max_buffer=max_buffer, n_thresholds=n_thresholds)
    return result


def pooled(results: Iterable[Mapping]) -> dict:
    """SKAB's pooling: sum TP/FP/TN/FN over files, then precision, recall, F1, FAR, MAR from the sums.

    `results` are per-file dicts holding at least `tp`, `fp`, `tn`, `fn` (what `evaluate` returns).
    When every one also holds the event keys (`n_events`, `n_detected_events`,
    `mean_detection_delay`), the event scores are pooled the same way: segments found and missed
    and false-alarm points summed, the delay averaged over all detected segments of all files.

    >>> pooled([{"tp": 3, "fp": 1, "tn": 5, "fn": 1}, {"tp": 0, "fp": 1, "tn": 3, "fn": 2}])["far"]
    20.0
    """
    results = list(results)
    if not results:
        raise DataError("pooled() got no results; give it the evaluate() result of at least one file")
    total = ConfusionCounts(0, 0, 0, 0)
    for number, result in enumerate(results):
        missing = [key for key in ("tp", "fp", "tn", "fn") if key not in result]
        if missing:
            raise DataError(f"pooled(): result {number} has no {missing[0]!r}; "
                            "give it dicts returned by evaluate() with flags")
        if any(_is_nan(result[key]) for key in ("tp", "fp", "tn", "fn")):
            raise DataError(f"pooled(): result {number} has no confusion counts (it was evaluated without flags)")
        total = total + ConfusionCounts(*(int(result[key]) for key in ("tp", "fp", "tn", "fn")))
    summary = total.to_dict()
    if all(key in result for result in results for key in ("n_events", "n_detected_events",
                                                           "mean_detection_delay")):
        n_events = sum(int(result["n_events"]) for result in results)
        n_detected = sum(int(result["n_detected_events"]) for result in results)
        delay_sum = sum(result["mean_detection_delay"] * result["n_detected_events"]
                        for result in results if result["n_detected_events"])
        events = EventCounts(n_events, n_detected, total.fp)
        summary.update(events.to_dict())
        summary["mean_detection_delay"] = delay_sum / n_detected if n_detected else math.nan
    return summary


# --- input checks ------------------------------------------------------------------------------


def _check_binary(values, name: str, length: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        array = array.reshape(-1) if array.ndim == 2 and 1 in array.shape else array
    if array.ndim != 1:
        raise DataError(f"{name} must be one 0/1 value per time point (1-D), got shape {array.shape}")
    if length is not None and array.size != length:
        raise DataError(f"{name} has {array.size} values but y_true has {length}; give one per time point")
    if array.size == 0:
        raise DataError(f"{name} is empty; give one 0/1 value per time point")
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{name} must hold 0/1 values, got dtype {array.dtype}")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name} must hold only 0 and 1, found {int(bad.sum())} other values "
                        f"(first at position {first}: {array[first]!r})")
    return array.astype(bool)


def _check_scores(scores, length: int) -> np.ndarray:
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("scores must be numbers, one per time point") from None
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise DataError(f"scores must be one value per time point (1-D), got shape {array.shape}")
    if array.size != length:
        raise DataError(f"scores has {array.size} values but y_true has {length}; give one per time point")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"scores has {int(bad.sum())} non-finite values (first at position {first}: "
                        f"{array[first]}); score every point or drop the unscored ones from y_true too")
    return array


def _one_class(y_true: np.ndarray) -> bool:
    n_anomalous = int(np.count_nonzero(y_true))
    return n_anomalous == 0 or n_anomalous == y_true.size


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --- alerts ------------------------------------------------------------------------------------
# An alert is an interval of rows (start, end inclusive) that says "something is wrong here"; these
# count alerts against labelled anomalous segments. An alert hits a segment when it overlaps the
# segment extended after its end by the spill-over tolerance, max(`tolerance_rows`, `tolerance_share`
# × the segment's length) rows: a model's score stays high for a while after an anomaly ends (its
# windows still hold anomalous rows), and an alert that outlives the segment, or starts just after it,
# is about that anomaly. Defaults 30 rows and 10 %: the rule of the SKAB figures in docs/benchmarks.md.

ALERT_TOLERANCE_ROWS = 30
ALERT_TOLERANCE_SHARE = 0.1
ALERT_METRIC_KEYS = ("anomaly_recall", "alert_precision", "false_alerts_per_1000_rows", "false_alerts_per_day",
                     "alerts_per_anomaly_found", "median_alert_delay", "n_alerts", "n_true_alerts",
                     "n_false_alerts", "n_anomalies", "n_anomalies_found", "n_normal_rows")


@dataclass(frozen=True)
class AlertCounts:
    """Alerts against labelled segments, for one series or pooled over several with `+`.

    `delays` holds, for each segment found, rows from its first row to the first row at which an
    alert hitting it had fired (0 when an alert was already raised when it began).
    `normal_days` is the time the normal rows span (NaN without timestamps).
    """

    n_anomalies: int
    n_anomalies_found: int
    n_alerts: int
    n_true_alerts: int
    n_normal_rows: int
    delays: tuple[int, ...] = ()
    normal_days: float = math.nan

    def __add__(self, other: "AlertCounts") -> "AlertCounts":
        return AlertCounts(self.n_anomalies + other.n_anomalies, self.n_anomalies_found + other.n_anomalies_found,
                           self.n_alerts + other.n_alerts, self.n_true_alerts + other.n_true_alerts,
                           self.n_normal_rows + other.n_normal_rows, self.delays + other.delays,
                           self.normal_days + other.normal_days)

    @property
    def n_false_alerts(self) -> int:
        return self.n_alerts - self.n_true_alerts

    @property
    def anomaly_recall(self) -> float:
        """Segments hit by at least one alert / segments; NaN without segments."""
        return _ratio(self.n_anomalies_found, self.n_anomalies)

    @property
    def alert_precision(self) -> float:
        """Alerts that hit a segment / alerts; NaN without alerts."""
        return _ratio(self.n_true_alerts, self.n_alerts)

    @property
    def false_alerts_per_1000_rows(self) -> float:
        """False alerts per 1,000 normal rows; NaN without normal rows."""
        return _ratio(1000.0 * self.n_false_alerts, self.n_normal_rows)

    @property
    def false_alerts_per_day(self) -> float:
        """False alerts per day of normal rows; NaN without timestamps."""
        return self.n_false_alerts / self.normal_days if self.normal_days > 0 else math.nan

    @property
    def alerts_per_anomaly_found(self) -> float:
        """True alerts / segments found: 1 when each anomaly is one alert; NaN when none was found."""
        return _ratio(self.n_true_alerts, self.n_anomalies_found)

    @property
    def median_alert_delay(self) -> float:
        """Median rows from a found segment's start to its alert; NaN when none was found."""
        return float(np.median(self.delays)) if self.delays else math.nan

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in ALERT_METRIC_KEYS}


def alert_counts(y_true, alerts, *, fired_at=None, index=None, tolerance_rows: int = ALERT_TOLERANCE_ROWS,
                 tolerance_share: float = ALERT_TOLERANCE_SHARE, max_early_rows: int | None = None) -> AlertCounts:
    """Count alerts against the labelled segments of `y_true` (0/1 per row).

    Args:
        alerts: the alerts as (start, end) row positions, both inclusive, or one alert id per row
            (-1 or any negative: no alert; `seqae.alerts.Alerts.alert_ids`).
        fired_at: per alert, the row at which it was raised (default: its start), for the delays.
        index: the rows' timestamps, to count false alerts per day (the normal rows times the
            median step).
        tolerance_rows, tolerance_share: the spill-over after a segment's end (see above).
        max_early_rows: None (the default) counts an alert that overlaps a segment whenever it fired;
            a number counts it only if it fired at most that many rows before the segment began (an
            alert raised long before an anomaly, that ran on into it, is then a false alert).

    >>> counts = alert_counts([0, 0, 1, 1, 1, 0, 0, 0, 0, 0], [(3, 6), (8, 9)], tolerance_rows=1, tolerance_share=0)
    >>> counts.anomaly_recall, counts.alert_precision, counts.n_false_alerts, counts.delays
    (1.0, 0.5, 1, (1,))
    """
    y_true = _check_binary(y_true, "y_true")
    spans = _alert_spans(alerts, y_true.size)
    fired = np.asarray(spans[:, 0] if fired_at is None else fired_at, dtype=np.int64).reshape(-1)
    if fired.size != len(spans):
        raise DataError(f"fired_at has {fired.size} values for {len(spans)} alerts; give one per alert")
    segments = np.asarray(flags_to_intervals(y_true), dtype=np.int64).reshape(-1, 2)
    lengths = segments[:, 1] - segments[:, 0] + 1
    reach = segments[:, 1] + np.maximum(tolerance_rows, np.ceil(tolerance_share * lengths)).astype(np.int64)
    true_alert = np.zeros(len(spans), dtype=bool)
    delays = []
    for (first, last), end in zip(segments, reach):
        hits = (spans[:, 0] <= end) & (spans[:, 1] >= first)
        if max_early_rows is not None:
            hits &= fired >= first - max_early_rows
        true_alert |= hits
        if hits.any():
            delays.append(int(max(fired[hits].min(), first) - first))
    n_normal = int(np.count_nonzero(~y_true))
    normal_days = math.nan
    if index is not None and isinstance(index, pd.DatetimeIndex) and len(index) == y_true.size and len(index) > 1:
        steps = np.diff(index.values.astype("datetime64[ns]").astype(np.int64))
        steps = steps[steps > 0]
        if steps.size:
            normal_days = n_normal * float(np.median(steps)) / 86_400e9
    return AlertCounts(len(segments), len(delays), len(spans), int(true_alert.sum()), n_normal, tuple(delays),
                       normal_days)


def _alert_spans(alerts, n_rows: int) -> np.ndarray:
    """(n_alerts, 2) inclusive row spans from a list of spans or from per-row alert ids."""
    array = np.asarray(alerts)
    if array.ndim == 1 and array.size == n_rows and array.size != 2 and np.issubdtype(array.dtype, np.integer):
        ids = array
        spans = []
        for alert_id in np.unique(ids[ids >= 0]):
            rows = np.flatnonzero(ids == alert_id)
            spans.append((rows[0], rows[-1]))
        return np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    array = np.asarray(alerts, dtype=np.int64).reshape(-1, 2) if array.size else np.zeros((0, 2), np.int64)
    if array.size and (array.min() < 0 or array.max() >= n_rows or np.any(array[:, 1] < array[:, 0])):
        raise DataError(f"alerts must be (start, end) row positions with 0 <= start <= end < {n_rows}")
    return array
