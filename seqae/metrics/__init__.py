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

Alerts (`alert_counts`, `AlertCounts`) are counted where they fire, the normal time they cover
counted against them, and NAB's score of their firing rows beside (`seqae.metrics.alerts`).

    points.py   each row counted on its own; ranges.py VUS and events; alerts.py alerts against
    segments; nab.py NAB's score; summary.py `evaluate` (every metric of one file) and `pooled`
    (over files; `pooled_decisions` with the alerts); checks.py the input checks they share.
"""

from seqae.metrics.checks import check_binary, check_scores
from seqae.metrics.points import (ConfusionCounts, auc_pr, auc_roc, confusion_counts, f1_score, false_alarm_rate,
                                  missed_alarm_rate, precision, recall)
from seqae.metrics.ranges import (VUS_MAX_BUFFER, VUS_N_THRESHOLDS, EventCounts, detection_delays, event_counts,
                                  event_f1, vus_pr, vus_roc)
from seqae.metrics.alerts import (ALERT_METRIC_KEYS, ALERT_TOLERANCE_ROWS, ALERT_TOLERANCE_SHARE, AlertCounts,
                                  alert_counts, segment_reach)
from seqae.metrics.nab import PROFILES as NAB_PROFILES, NabCounts, nab_counts
from seqae.metrics.summary import (MEAN_KEYS, METRIC_KEYS, POOLED_EVENT_KEYS, POOLED_KEYS, evaluate, evaluate_decisions,
                                   pooled, pooled_decisions)

__all__ = [
    "ALERT_METRIC_KEYS", "ALERT_TOLERANCE_ROWS", "ALERT_TOLERANCE_SHARE", "MEAN_KEYS", "METRIC_KEYS", "POOLED_EVENT_KEYS",
    "NAB_PROFILES", "POOLED_KEYS", "VUS_MAX_BUFFER", "VUS_N_THRESHOLDS", "AlertCounts", "ConfusionCounts",
    "EventCounts", "NabCounts", "nab_counts",
    "alert_counts", "auc_pr", "auc_roc", "check_binary", "check_scores", "confusion_counts", "detection_delays",
    "evaluate", "evaluate_decisions", "event_counts", "event_f1", "f1_score", "false_alarm_rate", "missed_alarm_rate", "pooled",
    "pooled_decisions",
    "precision", "recall", "segment_reach", "vus_pr", "vus_roc",
]
