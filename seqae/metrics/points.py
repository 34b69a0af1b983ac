"""Point metrics: each row counted on its own (confusion counts, precision, recall, F1, FAR, MAR,
AUC-PR, AUC-ROC)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqae.metrics.checks import check_binary, check_scores, one_class, ratio


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
        return ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN); NaN when nothing is anomalous."""
        return ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2TP / (2TP + FP + FN), the harmonic mean of precision and recall; NaN with no anomaly and no flag."""
        return ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def far(self) -> float:
        """False-alarm rate in %, SKAB's FAR: 100 FP / (FP + TN); NaN when nothing is normal."""
        return 100.0 * ratio(self.fp, self.fp + self.tn)

    @property
    def mar(self) -> float:
        """Missed-alarm rate in %, SKAB's MAR: 100 FN / (FN + TP); NaN when nothing is anomalous."""
        return 100.0 * ratio(self.fn, self.fn + self.tp)

    def to_dict(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1, "far": self.far, "mar": self.mar}


def confusion_counts(y_true, y_pred) -> ConfusionCounts:
    """Point-wise TP, FP, TN, FN of 0/1 flags against 0/1 labels.

    >>> confusion_counts([0, 1, 1, 0, 1], [0, 1, 0, 1, 1])
    ConfusionCounts(tp=2, fp=1, tn=1, fn=1)
    """
    y_true = check_binary(y_true, "y_true")
    y_pred = check_binary(y_pred, "y_pred", length=y_true.size)
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


def auc_pr(y_true, scores) -> float:
    """Average precision: sum over thresholds of (R_k - R_{k-1}) P_k, as sklearn computes it.

    No interpolation (the trapezoid rule over a PR curve overestimates). NaN unless both classes occur.

    >>> auc_pr([0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8])  # (0.5 - 0) * 1 + (1 - 0.5) * 2/3
    0.8333333333333333
    """
    y_true = check_binary(y_true, "y_true")
    scores = check_scores(scores, length=y_true.size)
    if one_class(y_true):
        return math.nan
    from sklearn.metrics import average_precision_score  # sklearn.metrics loads in ~0.8 s: only where scored

    return float(average_precision_score(y_true, scores))


def auc_roc(y_true, scores) -> float:
    """Area under the ROC curve (ties count one half). NaN unless both classes occur.

    >>> auc_roc([0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8])  # 3 of the 4 (anomalous, normal) pairs ordered right
    0.75
    """
    y_true = check_binary(y_true, "y_true")
    scores = check_scores(scores, length=y_true.size)
    if one_class(y_true):
        return math.nan
    from sklearn.metrics import roc_auc_score  # loaded only where scored, as in auc_pr

    return float(roc_auc_score(y_true, scores))
