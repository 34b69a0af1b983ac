"""Alert metrics: alerts (intervals an operator acts on) against labelled segments, counted where they fire.

An alert is **true** when the row where it fired (`fired_at`: when a live system raised it) lies
inside a labelled segment or within the tolerance after its end, max(`tolerance_rows`,
`tolerance_share` x the segment's length) rows; an alert that fires before a segment begins is a
false alert, however far it runs into it. A segment is **found** by its first true alert; its
delay is the rows from its first row to that alert's firing row.

The time an alert covers counts too: the normal rows (outside every segment and its tolerance)
inside alerts are normal time an operator was told was anomalous (`normal_rows_in_alerts`, the
share of normal rows; `normal_rows_flagged` the same for the flags, given them), and `alert_time_precision` weighs each alert by its rows: rows of alerts
inside segments (or their tolerance) / rows inside alerts. Long alerts that blanket normal time
score low there however many segments they hit. NAB's score (`seqae.metrics.nab`) of the firing
rows is given beside them: an early detection in a window earns more, every false one costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.errors import DataError
from seqae.intervals import flags_to_intervals
from seqae.metrics.checks import check_binary, ratio
from seqae.metrics.nab import nab_counts


ALERT_TOLERANCE_ROWS = 30


ALERT_TOLERANCE_SHARE = 0.1


ALERT_METRIC_KEYS = ("anomaly_recall", "alert_precision", "alert_time_precision", "false_alerts_per_1000_rows",
                     "false_alerts_per_day", "normal_rows_in_alerts", "normal_rows_flagged", "alerts_per_anomaly_found",
                     "median_alert_delay", "nab_score", "n_alerts", "n_true_alerts", "n_false_alerts", "n_anomalies",
                     "n_anomalies_found", "n_normal_rows")


@dataclass(frozen=True)
class AlertCounts:
    """Alerts against labelled segments, for one series or pooled over several with `+`.

    `delays` holds, for each segment found, rows from its first row to the firing row of its first
    true alert. `normal_days` is the time the normal rows span (NaN without timestamps). `nab_raw`
    and `nab_windows` are NAB's raw score and window count (standard profile, no probation)."""

    n_anomalies: int
    n_anomalies_found: int
    n_alerts: int
    n_true_alerts: int
    n_normal_rows: int
    n_alert_rows: int  # rows inside alerts
    n_normal_rows_in_alerts: int  # normal rows (outside segments and their tolerance) inside alerts
    delays: tuple[int, ...] = ()
    normal_days: float = math.nan
    nab_raw: float = 0.0
    nab_windows: int = 0
    n_normal_rows_flagged: int = 0  # normal rows whose flag is 1 (when `alert_counts` was given the flags)

    def __add__(self, other: "AlertCounts") -> "AlertCounts":
        return AlertCounts(*(getattr(self, f) + getattr(other, f) for f in (
            "n_anomalies", "n_anomalies_found", "n_alerts", "n_true_alerts", "n_normal_rows", "n_alert_rows",
            "n_normal_rows_in_alerts", "delays", "normal_days", "nab_raw", "nab_windows", "n_normal_rows_flagged")))

    @property
    def n_false_alerts(self) -> int:
        return self.n_alerts - self.n_true_alerts

    @property
    def anomaly_recall(self) -> float:
        """Segments found by an alert firing in them / segments; NaN without segments."""
        return ratio(self.n_anomalies_found, self.n_anomalies)

    @property
    def alert_precision(self) -> float:
        """Alerts that fired inside a segment (or its tolerance) / alerts; NaN without alerts."""
        return ratio(self.n_true_alerts, self.n_alerts)

    @property
    def alert_time_precision(self) -> float:
        """Rows inside alerts that are not normal time / rows inside alerts; NaN without alerts."""
        return ratio(self.n_alert_rows - self.n_normal_rows_in_alerts, self.n_alert_rows)

    @property
    def false_alerts_per_1000_rows(self) -> float:
        """False alerts per 1,000 normal rows; NaN without normal rows."""
        return ratio(1000.0 * self.n_false_alerts, self.n_normal_rows)

    @property
    def false_alerts_per_day(self) -> float:
        """False alerts per day of normal rows; NaN without timestamps."""
        return self.n_false_alerts / self.normal_days if self.normal_days > 0 else math.nan

    @property
    def normal_rows_in_alerts(self) -> float:
        """The share of normal rows that lie inside an alert; NaN without normal rows."""
        return ratio(self.n_normal_rows_in_alerts, self.n_normal_rows)

    @property
    def normal_rows_flagged(self) -> float:
        """The share of normal rows (outside segments and their tolerance) flagged; NaN without normal rows."""
        return ratio(self.n_normal_rows_flagged, self.n_normal_rows)

    @property
    def alerts_per_anomaly_found(self) -> float:
        """True alerts / segments found: 1 when each anomaly is one alert; NaN when none was found."""
        return ratio(self.n_true_alerts, self.n_anomalies_found)

    @property
    def median_alert_delay(self) -> float:
        """Median rows from a found segment's start to its alert; NaN when none was found."""
        return float(np.median(self.delays)) if self.delays else math.nan

    @property
    def nab_score(self) -> float:
        """NAB's normalised score of the firing rows (standard profile): 0 detecting nothing, 100 perfect."""
        return 100.0 * (self.nab_raw + self.nab_windows) / (2.0 * self.nab_windows) if self.nab_windows else math.nan

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in ALERT_METRIC_KEYS}


def alert_counts(y_true, alerts, *, fired_at=None, index=None, flags=None, tolerance_rows: int = ALERT_TOLERANCE_ROWS,
                 tolerance_share: float = ALERT_TOLERANCE_SHARE) -> AlertCounts:
    """Count alerts against the labelled segments of `y_true` (0/1 per row), where they fired.

    Args:
        alerts: the alerts as (start, end) row positions, both inclusive, or one alert id per row
            (-1 or any negative: no alert; `seqae.alerts.Alerts.alert_ids`).
        fired_at: per alert, the row at which it was raised (default: its start).
        index: the rows' timestamps, to count false alerts per day (the normal rows times the
            median step).
        flags: 0/1 per row, to count the normal rows flagged (`normal_rows_flagged`).
        tolerance_rows, tolerance_share: the spill-over after a segment's end (module docstring).

    >>> counts = alert_counts([0, 0, 1, 1, 1, 0, 0, 0, 0, 0], [(1, 6), (8, 9)], fired_at=[3, 8],
    ...                       tolerance_rows=1, tolerance_share=0)
    >>> counts.anomaly_recall, counts.alert_precision, counts.n_false_alerts, counts.delays
    (1.0, 0.5, 1, (1,))
    >>> alert_counts([0, 0, 1, 1, 1, 0], [(1, 4)], fired_at=[1], tolerance_rows=0).alert_precision  # fired too early
    0.0
    """
    y_true = check_binary(y_true, "y_true")
    spans = _alert_spans(alerts, y_true.size)
    fired = np.asarray(spans[:, 0] if fired_at is None else fired_at, dtype=np.int64).reshape(-1)
    if fired.size != len(spans):
        raise DataError(f"fired_at has {fired.size} values for {len(spans)} alerts; give one per alert")
    segments, reach = segment_reach(y_true, tolerance_rows, tolerance_share)
    near = np.zeros(y_true.size, dtype=bool)  # inside a segment or its tolerance
    true_alert = np.zeros(len(spans), dtype=bool)
    delays = []
    for (first, last), end in zip(segments, reach):
        near[first:end + 1] = True
        hits = (fired >= first) & (fired <= end)
        true_alert |= hits
        if hits.any():
            delays.append(int(fired[hits].min() - first))
    inside = np.zeros(y_true.size, dtype=bool)
    for start, end in spans:
        inside[start:end + 1] = True
    detections = np.zeros(y_true.size, dtype=np.int8)
    detections[fired[(fired >= 0) & (fired < y_true.size)]] = 1
    nab = nab_counts(y_true, detections, probation=0)
    n_normal = int(np.count_nonzero(~near))
    normal_days = math.nan
    if index is not None and isinstance(index, pd.DatetimeIndex) and len(index) == y_true.size and len(index) > 1:
        steps = np.diff(index.values.astype("datetime64[ns]").astype(np.int64))
        steps = steps[steps > 0]
        if steps.size:
            normal_days = n_normal * float(np.median(steps)) / 86_400e9
    flagged = 0 if flags is None else int((check_binary(flags, "flags", length=y_true.size).astype(bool) & ~near).sum())
    return AlertCounts(len(segments), len(delays), len(spans), int(true_alert.sum()), n_normal,
                       int(inside.sum()), int((inside & ~near).sum()), tuple(delays), normal_days, nab.raw,
                       nab.n_windows, flagged)


def segment_reach(y_true, tolerance_rows: int = ALERT_TOLERANCE_ROWS,
                  tolerance_share: float = ALERT_TOLERANCE_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """The labelled segments of `y_true` (0/1 per row) as (first, last) rows, shape (n, 2), and the
    last row at which an alert that fires counts for each (its end plus the tolerance).

    >>> segments, reach = segment_reach([0, 1, 1, 0, 0], tolerance_rows=1)
    >>> segments.tolist(), reach.tolist()
    ([[1, 2]], [3])
    """
    segments = np.asarray(flags_to_intervals(check_binary(y_true, "y_true")), dtype=np.int64).reshape(-1, 2)
    lengths = segments[:, 1] - segments[:, 0] + 1
    return segments, segments[:, 1] + np.maximum(tolerance_rows, np.ceil(tolerance_share * lengths)).astype(np.int64)


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
