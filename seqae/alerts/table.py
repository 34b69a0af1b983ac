"""The alert table an operator reads, and each row's alert id, from a scored series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.errors import ConfigError, DataError
from seqae.thresholds import Threshold
from seqae.alerts.rules import Alert, AlertRules


ALERT_COLUMNS = ["alert_id", "start", "end", "duration", "n_rows", "n_flagged", "fired_at", "peak_time",
                 "peak_score", "p_value", "severity", "top_sensor", "top_sensors", "closed"]


@dataclass
class Alerts:
    """What `find_alerts` returns: `table` (one row per alert, `ALERT_COLUMNS`) and `alert_ids`
    (one per row of the series, -1 where no alert), the fitted `rules`, and `found`, the alerts
    in row positions (`Alert`: start, end, fired_at, peak as positions in the series)."""

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


def find_alerts(index, scores, contributions, threshold, calibration_scores=None, feature_names=None, *,
                rules: AlertRules | None = None, top: int = 3) -> Alerts:
    """The alert table and per-row alert ids of one scored series.

    Args:
        index: the rows' timestamps or positions (`Detection.index`); a `pd.Index` or array.
        scores: (n_timepoints,) higher = more anomalous (`Detection.scores`).
        contributions: (n_timepoints, n_features) each sensor's share (`Detection.contributions`), or None.
        threshold: the threshold value (`Detection.threshold`) or a fitted `Threshold`.
        calibration_scores: normal scores held out from training (`detector.validation_scores_`);
            needed unless `rules` are already fitted.
        feature_names: the sensors' names (`Detection.feature_names`).
        rules: `AlertRules` (default: `AlertRules()`); fitted ones are used as they are, but with this
            threshold value if it differs (their calibration kept).
        top: how many sensors the table names per alert.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    index = pd.Index(index) if not isinstance(index, pd.Index) else index
    if len(index) != len(scores):
        raise DataError(f"index has {len(index)} rows but scores has {len(scores)}; give one per row")
    rules = fitted_rules(rules, threshold, calibration_scores)
    found, alert_ids = rules.apply(scores, contributions)
    n_features = None if contributions is None else np.asarray(contributions).shape[1]
    names = list(feature_names) if feature_names is not None else (
        [f"x{j}" for j in range(n_features)] if n_features else [])
    return Alerts(alert_table(found, index, names, rules, top=top), alert_ids, rules, found)


def fitted_rules(rules: AlertRules | None, threshold, calibration_scores=None) -> AlertRules:
    """The rules `find_alerts` applies: fitted ones as they are (with `threshold`'s value if it
    differs), unfitted ones (default `AlertRules()`) fitted on `calibration_scores`."""
    value = threshold.value_ if isinstance(threshold, Threshold) else threshold
    rules = AlertRules() if rules is None else rules
    if hasattr(rules, "open_level_"):
        if value is not None and float(value) != rules.open_level_:
            rules = rules.with_threshold(float(value))
        return rules
    if calibration_scores is None:
        raise ConfigError("alert rules need calibration scores (normal scores held out from training, "
                          "detector.validation_scores_) to be fitted; pass calibration_scores")
    return AlertRules(**rules.get_params()).fit(calibration_scores, value)


def detection_alert_ids(detection, calibration_scores=None, *, rules: AlertRules | None = None) -> np.ndarray:
    """Each row's alert id (-1: none) of a detection, as `detection_alerts(...).alert_ids`, without
    building the alert table (what a caller that answers row by row, like the scoring server, needs)."""
    scores, contributions = idle_warm_up(detection.scores, detection.contributions,
                                         getattr(detection, "warming_up", None))
    rules = fitted_rules(rules, detection.threshold, calibration_scores)
    return rules.apply(np.asarray(scores, dtype=np.float64).reshape(-1), contributions)[1]


def detection_alerts(detection, calibration_scores=None, *, rules: AlertRules | None = None, top: int = 3) -> Alerts:
    """`find_alerts` of a `seqae.detectors.base.Detection` (index, scores, contributions, threshold,
    feature names), with the detector's held-out scores as calibration, e.g.
    `detection_alerts(detector.detect(frame), detector.validation_scores_, rules=rules)`. Rows
    still warming up (causal scores) count as rows below every level (`idle_warm_up`)."""
    scores, contributions = idle_warm_up(detection.scores, detection.contributions,
                                         getattr(detection, "warming_up", None))
    return find_alerts(detection.index, scores, contributions, detection.threshold,
                       calibration_scores, detection.feature_names, rules=rules, top=top)


def idle_warm_up(scores, contributions, warming_up):
    """`(scores, contributions)` for the alert rules: the rows still warming up (no score yet, NaN)
    given a score of -inf and no contributions, so that they open nothing and keep the row count."""
    if warming_up is None or not np.any(warming_up):
        return scores, contributions
    warming_up = np.asarray(warming_up, dtype=bool)
    scores = np.where(warming_up, -np.inf, scores)
    if contributions is not None:
        contributions = np.where(warming_up[:, None], 0.0, contributions)
    return scores, contributions


def alert_table(found: list[Alert], index, feature_names: list[str], rules: AlertRules,
                top: int = 3) -> pd.DataFrame:
    """One row per alert (`ALERT_COLUMNS`): times from `index` (the series' index, by row position),
    or, with `index=None`, the times the tracker kept (`AlertTracker.update(..., index=chunk_index)`)
    or else row positions; duration as a time span when the times are timestamps (else in rows);
    `severity` = -log10 of `rules.exceedance(peak_score)`.

    Chunked use (what `seqae score` needs): `tracker = rules.tracker()`, per chunk
    `tracker.update(scores, contributions, index)`, then `tracker.finish()` and
    `alert_table(tracker.alerts, None, feature_names, rules)`."""
    return pd.DataFrame(alert_records(found, index, feature_names, rules, top=top), columns=ALERT_COLUMNS)


def alert_records(found: list[Alert], index, feature_names: list[str], rules: AlertRules,
                  top: int = 3) -> list[dict]:
    """The rows of `alert_table` as dicts (`ALERT_COLUMNS`), without building a frame: a live feed
    reports one alert at a time."""
    rows = []
    peaks = np.array([a.peak_score for a in found], dtype=np.float64)
    p_values = rules.p_values(peaks) if found else []
    exceedance = rules.exceedance(peaks) if found else []
    def time(alert: Alert, what: str):
        position = getattr(alert, "fired_at" if what == "fired" else what)
        if index is not None:
            return index[position]
        kept = getattr(alert, f"{what}_time")
        return position if kept is None else kept

    for k, alert in enumerate(found):
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
            "peak_score": alert.peak_score,
            "p_value": float(p_values[k]),
            "severity": float(-np.log10(max(exceedance[k], 1e-300))),
            "top_sensor": named[0][0] if named else "",
            "top_sensors": ", ".join(f"{name} ({100 * s:.0f}%)" for name, s in named),
            "closed": alert.closed,
        })
    return rows
