"""The alert table an operator reads, and each row's alert id, from a feed's decisions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.alerts.faults import like_fault
from seqae.alerts.rules import AlertRules
from seqae.alerts.alert import Alert
from seqae.errors import DataError
from seqae.thresholds import Threshold


ALERT_COLUMNS = ["alert_id", "start", "end", "duration", "n_rows", "n_flagged", "fired_at", "peak_time",
                 "peak_score", "peak_raw_score", "p_value", "severity", "top_sensor", "top_sensors", "closed",
                 "reason", "like_fault"]


@dataclass
class Alerts:
    """The alerts of a scored series: `table` (one row per alert, `ALERT_COLUMNS`), `alert_ids` (one
    per row of the series, -1 where no alert), the fitted `rules`, and `found`, the alerts in row
    positions (`Alert`: start, end, fired_at, peak as positions in the series)."""

    table: pd.DataFrame
    alert_ids: np.ndarray
    rules: AlertRules
    found: list[Alert]

    def spans(self) -> list[tuple[int, int]]:
        """Each alert's (start, end) row positions, inclusive (what `seqae.metrics.alert_counts` takes)."""
        return [(a.start, a.end) for a in self.found]

    def fired_rows(self) -> list[int]:
        """Each alert's firing row position."""
        return [a.fired_at for a in self.found]

    def counts(self) -> dict:
        """Alert counts for logging as metrics: `n_alerts`, `n_alert_rows`."""
        return {"n_alerts": int(len(self.table)), "n_alert_rows": int(np.count_nonzero(self.alert_ids >= 0))}


def find_alerts(index, scores, contributions, rules: AlertRules, feature_names=None, *, threshold=None,
                level: float = 1.0, top: int = 3, faults=None) -> Alerts:
    """The alerts of one series of raw scores fed from its first row, as a live feed would raise them.

    Args:
        index: the rows' timestamps or positions; a `pd.Index` or array.
        scores: (n_timepoints,) the model's raw scores, NaN for rows with none yet (`Detection.raw_scores`).
        contributions: (n_timepoints, n_features) each sensor's share, or None.
        rules: fitted `AlertRules` (a detector's `alert_rules_`).
        feature_names: the sensors' names.
        threshold: another threshold (raw units, or a fitted `Threshold`) for the same calibration.
        level: the flag level in calibrated units (1.0: the threshold).
        top: how many sensors the table names per alert.
        faults: the model's labelled faults (`detector.faults_`), for `like_fault`.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    index = pd.Index(index) if not isinstance(index, pd.Index) else index
    if len(index) != len(scores):
        raise DataError(f"index has {len(index)} rows but scores has {len(scores)}; give one per row")
    if threshold is not None:
        rules = rules.with_threshold(threshold.value_ if isinstance(threshold, Threshold) else float(threshold))
    decisions = rules.apply(scores, contributions, level=level)
    n_features = None if contributions is None else np.asarray(contributions).shape[1]
    names = list(feature_names) if feature_names is not None else (
        [f"x{j}" for j in range(n_features)] if n_features else [])
    return Alerts(alert_table(decisions.alerts, index, names, top=top, faults=faults), decisions.alert_ids, rules,
                  decisions.alerts)


def alert_table(found: list[Alert], index, feature_names: list[str], top: int = 3, faults=None) -> pd.DataFrame:
    """One row per alert (`ALERT_COLUMNS`): times from `index` (the series' index, by row position),
    or, with `index=None`, the times the tracker kept (`AlertTracker.update(..., index=chunk_index)`)
    or else row positions; duration as a time span when the times are timestamps (else in rows);
    `peak_score` in calibrated units (1.0 = the threshold), `p_value` the chance that a normal row
    scores as high as the peak (against the normal reference when it peaked) and `severity` its
    -log10; `like_fault` the labelled fault of `faults` (a model's `faults_`) the alert's sensor
    shares are like (`seqae.alerts.faults`), "" when none."""
    return pd.DataFrame(alert_records(found, index, feature_names, top=top, faults=faults), columns=ALERT_COLUMNS)


def alert_records(found: list[Alert], index, feature_names: list[str], top: int = 3, faults=None) -> list[dict]:
    """The rows of `alert_table` as dicts (`ALERT_COLUMNS`), without building a frame: a live feed
    reports one alert at a time (an alert that just fired is compared with `faults` on its shares
    so far)."""
    def time(alert: Alert, what: str):
        position = getattr(alert, "fired_at" if what == "fired" else what)
        if index is not None:
            return index[position]
        kept = getattr(alert, f"{what}_time")
        return position if kept is None else kept

    rows = []
    for alert in found:
        start, end = time(alert, "start"), time(alert, "end")
        timed = isinstance(start, (pd.Timestamp, np.datetime64))
        named: list[tuple[str, float]] = []
        if alert.shares is not None and feature_names:
            total = alert.shares.sum()
            share = alert.shares / total if total > 0 else alert.shares
            order = np.argsort(-share, kind="stable")[:top]
            named = [(feature_names[j], float(share[j])) for j in order if share[j] > 0]
        rows.append({
            "alert_id": alert.alert_id,
            "start": start,
            "end": end,
            "duration": end - start if timed else alert.end - alert.start + 1,
            "n_rows": alert.end - alert.start + 1,
            "n_flagged": alert.n_flagged,
            "fired_at": time(alert, "fired"),
            "peak_time": time(alert, "peak"),
            "peak_score": float(alert.peak_score),
            "peak_raw_score": float(alert.peak_raw),
            "p_value": float(10.0 ** -alert.peak_severity),
            "severity": float(alert.peak_severity),
            "top_sensor": named[0][0] if named else "",
            "top_sensors": ", ".join(f"{name} ({100 * s:.0f}%)" for name, s in named),
            "closed": alert.closed,
            "reason": alert.reason,
            "like_fault": like_fault(alert.shares, feature_names, faults) if faults else "",
        })
    return rows


def followed_levels(found: list[Alert]) -> dict[int, list[float]]:
    """Alert id -> each sensor's followed level when it fired (`Alert.followed_level`), for the
    alerts of `found` that kept one: what a verdict on an alert's rows is compared at."""
    return {int(alert.alert_id): [float(v) for v in alert.followed_level]
            for alert in found if alert.followed_level is not None}


def alert_state_events(found: list[Alert], events: dict[int, str]) -> list[str]:
    """For each alert of `found` (`alert_table`'s rows), the state events (`seqae.data.states`) of its
    rows, start to end, `"; "`-joined; `events`: row position -> that row's events (rows with none left out)."""
    return ["; ".join(text for row, text in sorted(events.items()) if alert.start <= row <= alert.end)
            for alert in found]
