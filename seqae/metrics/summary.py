"""Every metric of one scored file in one dict (`evaluate`, `evaluate_decisions`), and SKAB's pooling
over files (`pooled`; `pooled_decisions` for `evaluate_decisions`' results with their alerts)."""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from seqae.errors import DataError
from seqae.intervals import flags_to_intervals
from seqae.metrics.alerts import AlertCounts, alert_counts
from seqae.metrics.checks import check_binary, check_scores, is_nan
from seqae.metrics.points import ConfusionCounts, auc_pr, auc_roc, confusion_counts
from seqae.metrics.ranges import EventCounts, VUS_MAX_BUFFER, VUS_N_THRESHOLDS, event_counts, vus_pr


METRIC_KEYS = (
    "tp", "fp", "tn", "fn", "precision", "recall", "f1", "far", "mar", "auc_pr", "auc_roc", "vus_pr",
    "event_f1", "event_precision", "event_recall", "mean_detection_delay", "n_events", "n_detected_events",
)


POOLED_KEYS = ("tp", "fp", "tn", "fn", "precision", "recall", "f1", "far", "mar")


POOLED_EVENT_KEYS = ("event_f1", "event_precision", "event_recall", "mean_detection_delay",
                     "n_events", "n_detected_events")


MEAN_KEYS = ("auc_pr", "auc_roc", "vus_pr", "live_auc_pr")  # rankings: no counts to pool, averaged over files


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
    y_true = check_binary(y_true, "y_true")
    result = dict.fromkeys(METRIC_KEYS, math.nan)
    if flags is not None:
        flags = check_binary(flags, "flags", length=y_true.size)
        result.update(confusion_counts(y_true, flags).to_dict())
        result.update(event_counts(y_true, flags).to_dict())
    else:
        result["n_events"] = len(flags_to_intervals(y_true))
    if scores is not None:
        scores = check_scores(scores, length=y_true.size)
        result["auc_pr"] = auc_pr(y_true, scores)
        result["auc_roc"] = auc_roc(y_true, scores)
        result["vus_pr"] = vus_pr(y_true, scores, max_buffer=max_buffer, n_thresholds=n_thresholds)
    return result


def evaluate_decisions(y_true, ranking_scores, live_scores, flags, alert_spans, fired_at, index=None, *,
                       return_alert_counts: bool = False) -> dict | tuple[dict, AlertCounts]:
    """Every metric of a labelled file scored as live monitoring decides it: `evaluate` of the
    retrospective `ranking_scores` (auc_pr, auc_roc, vus_pr: how well the rows are ranked after the
    fact) and of the live `flags` (precision, recall, f1, far, events), `live_auc_pr` (the ranking of
    the calibrated `live_scores`), and the alerts counted where they fired (`alert_counts` of
    `alert_spans` and `fired_at`). A row without a score (NaN: warming up) ranks lowest. With
    `return_alert_counts`, also the `AlertCounts` (what `pooled_decisions` adds up over files)."""
    lowest = (lambda s: np.nan_to_num(np.asarray(s, dtype=np.float64), nan=-1e300))
    result = evaluate(y_true, lowest(ranking_scores), flags)
    result["live_auc_pr"] = auc_pr(check_binary(y_true, "y_true"), lowest(live_scores))
    counts = alert_counts(y_true, alert_spans, fired_at=fired_at, index=index, flags=flags)
    result.update(counts.to_dict())
    return (result, counts) if return_alert_counts else result


def pooled_decisions(results: Iterable[Mapping], alerts: Iterable[AlertCounts]) -> dict:
    """`evaluate_decisions` over several files (or machines) at once: rows, segments and alerts of
    every file counted together (`pooled` of `results`; the `AlertCounts` in `alerts`, one per
    result, added up: alert precision is true alerts of all files / alerts of all files, not a mean
    of ratios), and the ranking metrics (`MEAN_KEYS`) the mean over the files where they are defined.

    >>> counts = AlertCounts(2, 1, 2, 1, 100, 10, 5)
    >>> pooled_decisions([{"tp": 3, "fp": 1, "tn": 5, "fn": 1, "auc_pr": 0.5},
    ...                   {"tp": 0, "fp": 1, "tn": 3, "fn": 2, "auc_pr": 1.0}], [counts, counts])["alert_precision"]
    0.5
    """
    results, alerts = list(results), list(alerts)
    if len(alerts) != len(results):
        raise DataError(f"pooled_decisions() got {len(results)} results and {len(alerts)} alert counts; "
                        "give one AlertCounts per result")
    summary = pooled(results)
    summary.update(sum(alerts[1:], alerts[0]).to_dict())
    for key in MEAN_KEYS:
        values = [float(result[key]) for result in results if key in result and not is_nan(result[key])]
        summary[key] = float(np.mean(values)) if values else math.nan
    return summary


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
        if any(is_nan(result[key]) for key in ("tp", "fp", "tn", "fn")):
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
