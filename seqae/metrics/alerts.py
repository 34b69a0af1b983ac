"""Alert metrics: alerts (intervals an operator acts on) against labelled segments."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.errors import DataError
from seqae.intervals import flags_to_intervals
from seqae.metrics.checks import check_binary, ratio


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
        return ratio(self.n_anomalies_found, self.n_anomalies)

    @property
    def alert_precision(self) -> float:
        """Alerts that hit a segment / alerts; NaN without alerts."""
        return ratio(self.n_true_alerts, self.n_alerts)

    @property
    def false_alerts_per_1000_rows(self) -> float:
        """False alerts per 1,000 normal rows; NaN without normal rows."""
        return ratio(1000.0 * self.n_false_alerts, self.n_normal_rows)

    @property
    def false_alerts_per_day(self) -> float:
        """False alerts per day of normal rows; NaN without timestamps."""
        return self.n_false_alerts / self.normal_days if self.normal_days > 0 else math.nan

    @property
    def alerts_per_anomaly_found(self) -> float:
        """True alerts / segments found: 1 when each anomaly is one alert; NaN when none was found."""
        return ratio(self.n_true_alerts, self.n_anomalies_found)

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
    y_true = check_binary(y_true, "y_true")
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
