"""Flags -> alerts: the rules that turn a score series into intervals an operator can act on.

An alert says "something is wrong here, from then to then, mostly these sensors". Points above a
threshold are not alerts: on real data the flags of one anomaly come in pieces, and normal rows
cross any threshold now and then. `AlertRules` sits between the threshold and the alert table:

    scores ──threshold (open level)──> episodes ──hysteresis, gap, minimum length, cooldown──> alerts

The rules, in the order a row meets them (all counts in rows; `AlertTracker` runs them row by row):

- **open**: an episode opens at the first row whose score is above the threshold (`open_level_`).
- **hysteresis**: once it has fired, an alert stays on while the score is at or above the lower
  `close_level_` = centre + `hysteresis` × (threshold − centre), the centre being the median
  calibration score; so a score dithering around the threshold is one alert, not many. Before it
  fires, an episode is on only while above the threshold.
- **gap**: after the score falls below the close level, a score above the threshold within
  `min_gap` rows resumes the same episode (Merlion's `alm_window_minutes` merge); otherwise the
  episode ends at its last row at or above the close level, decided `min_gap` + 1 rows later.
- **minimum length**: an episode becomes an alert ("fires") at its `min_length`-th row above the
  threshold (Merlion's `min_alm_in_window`: rows below it, in a gap or above the close level only,
  are no evidence), or at once when a score reaches `extreme_level_` = centre + `extreme` × (threshold − centre) (telemanom's pruning keeps
  short sequences only when their peak stands out). An episode that ends before firing is dropped.
- **cooldown**: a new episode that opens within `cooldown` rows after an alert's end, with the same
  top sensor (the largest contribution on its first row) as that alert's, joins that alert instead
  of raising a new one (Merlion's `alm_suppress_minutes`, but the rows stay in the alert).

The row where an alert fires (`fired_at`) is when it would have been raised live; its `start` is
its first row above the threshold. Everything is causal: `AlertTracker.update` takes rows in chunks
of any size (down to one) and `AlertRules.apply` runs one tracker over the whole series, so both
give identical alerts; a row's alert id is settled once no later row can change it: at most
max(min_length × (min_gap + 1), cooldown + 1) rows after it (220 rows with the defaults), the
longest an episode can wait to fire or an ended alert can be rejoined.

Defaults, chosen without labels (benchmarks/quality/alerts.py): see `AlertRules`.

The alert table (`find_alerts`, `Alerts.table`): one row per alert with start, end, duration,
fired_at, peak time and score, the peak's conformal p-value and a severity (−log10 of the chance
that a normal row scores that high, from the calibration scores: comparable across sensors and
models), and the top sensors with their shares; `Alerts.alert_ids` gives each row its alert's id
(−1: none), the `alert_id` column of scored and served rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.params import Integer, NoneOr, Real, Satisfies, check_params, is_real
from seqae.thresholds import Threshold, register_threshold

ALERT_COLUMNS = ["alert_id", "start", "end", "duration", "n_rows", "n_flagged", "fired_at", "peak_time",
                 "peak_score", "p_value", "severity", "top_sensor", "top_sensors", "closed"]
N_TAIL_SCORES = 1000  # the largest calibration scores kept for p-values and severities


class AlertRules(BaseEstimator):
    """Merge, hysteresis, minimum length and cooldown between flags and alerts (module docstring).

    Args (rows):
        min_gap: flags separated by at most this many rows below the close level are one alert.
        min_length: rows above the threshold an episode needs before it fires.
        hysteresis: where the close level sits between the median calibration score (0) and the
            threshold (1: the alert closes where it opened).
        extreme: an episode fires at once when a score is this many times as far above the median
            calibration score as the threshold is (a spike is still caught at once).
        cooldown: rows after an alert's end during which a new episode with the same top sensor
            joins it.

    How the defaults were chosen, without labels of SKAB, nab-dev or the demo
    (`python benchmarks/quality/alerts.py --grid ...`, benchmarks/results/alerts-grid.choice.csv and
    alerts-extreme.choice.csv): over 270 settings (min_gap 0-120, min_length 1-50, hysteresis 0.5-1,
    cooldown 0-600), the one with the largest mean, over the deviation detector and the demo's
    LSTM-AE, of anomaly recall x alert precision x min(1, alerts per anomaly found) on 8 generated
    series (seeds 1-8, 4 injected anomalies each), an alert counting as found only if it fired at
    most 30 rows before its anomaly began, among the settings raising at most 1 false alert per
    1,000 rows on SKAB's anomaly-free recording. min_gap=10, min_length=20, cooldown=120 score
    0.626 (bare runs of flags 0.422; min_gap 0: 0.579, 30: 0.533, 60: 0.463; min_length 10: 0.392,
    30: 0.578; no cooldown: 0.611). The hysteresis made no difference there (0.5, 0.75 and 1 tie);
    0.75 keeps a raised alert whole through a dip just under the threshold. `extreme` varied alone
    with those: 5 scores 0.626, 3 0.567, 10 0.532, 2 0.528, 1.5 0.429, 100 0.391.

    `fit(calibration_scores, threshold)` sets the levels from normal scores the model was not
    trained on; `to_dict`/`from_dict` save and restore the rules (fitted or not) as JSON.
    """

    parameter_constraints = {
        "min_gap": Integer(0, message="alert min_gap must be a whole number of rows >= 0, got {value!r}"),
        "min_length": Integer(1, message="alert min_length must be a whole number of rows >= 1, got {value!r}"),
        "hysteresis": Real(0.0, 1.0, message="alert hysteresis must be between 0 (close at the median "
                                             "normal score) and 1 (close at the threshold), got {value!r}"),
        "extreme": Real(1.0, message="alert extreme must be >= 1 (times the threshold's distance above the "
                                     "median normal score), got {value!r}"),
        "cooldown": Integer(0, message="alert cooldown must be a whole number of rows >= 0, got {value!r}"),
    }
    PARAMS = ("min_gap", "min_length", "hysteresis", "extreme", "cooldown")

    def __init__(self, min_gap: int = 10, min_length: int = 20, hysteresis: float = 0.75, extreme: float = 5.0,
                 cooldown: int = 120):
        self.min_gap = min_gap
        self.min_length = min_length
        self.hysteresis = hysteresis
        self.extreme = extreme
        self.cooldown = cooldown

    def check_params(self) -> None:
        """Raise a one-line `ConfigError` for the first parameter outside its constraints."""
        check_params(self.get_params(deep=False), self.parameter_constraints)

    def fit(self, calibration_scores, threshold) -> "AlertRules":
        """Set the levels from normal scores (held out from training) and the threshold (a number or a
        fitted `Threshold`): `center_`, `open_level_`, `close_level_`, `extreme_level_`, and the
        largest calibration scores for p-values and severities."""
        self.check_params()
        scores = _check_calibration(calibration_scores)
        value = threshold.value_ if isinstance(threshold, Threshold) else threshold
        if not is_real(value):
            raise ConfigError(f"alert rules need a finite threshold value, got {value!r}; fit the threshold first")
        self._set_levels(float(np.median(scores)), float(value))
        self.n_calibration_ = int(scores.size)
        self.tail_scores_ = np.sort(scores)[-N_TAIL_SCORES:]
        self._fit_tail(np.sort(scores))
        return self

    def _set_levels(self, center: float, value: float) -> None:
        self.center_ = center
        self.open_level_ = value
        spread = max(value - center, 0.0)
        self.close_level_ = min(center + self.hysteresis * spread, value)
        self.extreme_level_ = center + self.extreme * spread if spread > 0 else value

    def _fit_tail(self, ascending: np.ndarray) -> None:
        """An exponential tail above the 0.9 quantile (at least 10 scores above it): the chance that a
        normal score exceeds x beyond the calibration scores, P = q exp(-(x - u) / sigma)."""
        n = ascending.size
        share = min(max(0.1, 10.0 / n), 1.0)
        self.tail_start_ = float(np.quantile(ascending, 1.0 - share))
        excess = ascending[ascending > self.tail_start_] - self.tail_start_
        self.tail_share_ = float(excess.size / n) if excess.size else 1.0 / (n + 1)
        self.tail_scale_ = float(excess.mean()) if excess.size and excess.mean() > 0 else \
            float(max(np.ptp(ascending), 1e-12))

    def check_fitted(self) -> None:
        if not hasattr(self, "open_level_"):
            raise NotFittedError("AlertRules are not fitted yet; call fit(calibration_scores, threshold) first")

    # ---- severities -------------------------------------------------------------------------------

    def p_values(self, scores) -> np.ndarray:
        """Conformal p-value of each score against the calibration scores, (1 + #{>= score}) / (n + 1).

        Exact for scores above the `N_TAIL_SCORES`-th largest calibration score (peaks of alerts
        are); its floor is 1 / (n + 1), so it cannot rank alerts beyond the largest normal score:
        `exceedance` can."""
        self.check_fitted()
        scores = np.asarray(scores, dtype=np.float64)
        tail = self.tail_scores_
        at_or_above = tail.size - np.searchsorted(tail, scores, side="left")
        at_or_above = np.where(scores < tail[0], self.n_calibration_, at_or_above)
        return (1.0 + at_or_above) / (self.n_calibration_ + 1.0)

    def exceedance(self, scores) -> np.ndarray:
        """The chance that a normal row scores at least this high: the calibration scores' share at or
        above it, and beyond the top 10 % an exponential tail fitted to them (so it keeps falling
        past the largest normal score)."""
        self.check_fitted()
        scores = np.asarray(scores, dtype=np.float64)
        empirical = self.p_values(scores)
        tail = self.tail_share_ * np.exp(-(scores - self.tail_start_) / self.tail_scale_)
        return np.where(scores > self.tail_start_, np.minimum(tail, empirical), empirical)

    # ---- applying them ----------------------------------------------------------------------------

    def tracker(self) -> "AlertTracker":
        """A fresh row-by-row runner of these (fitted) rules."""
        self.check_fitted()
        return AlertTracker(self)

    def apply(self, scores, contributions=None) -> tuple[list["Alert"], np.ndarray]:
        """Alerts of a whole series and each row's alert id (-1: none), exactly as `tracker()` gives them
        fed in any chunks. `contributions` (n_timepoints, n_features) name the top sensors and drive
        the cooldown; without them no cooldown join happens."""
        tracker = self.tracker()
        ids = [tracker.update(scores, contributions), tracker.finish()]
        return tracker.alerts, np.concatenate(ids)

    # ---- saving -------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """`params` and, once fitted, `fitted` (the levels and the tail of the calibration scores), JSON-able."""
        state = {"kind": "alert_rules", "params": self.get_params()}
        if hasattr(self, "open_level_"):
            state["fitted"] = {
                "center": self.center_, "open_level": self.open_level_, "close_level": self.close_level_,
                "extreme_level": self.extreme_level_, "n_calibration": self.n_calibration_,
                "tail_scores": self.tail_scores_.tolist(), "tail_start": self.tail_start_,
                "tail_share": self.tail_share_, "tail_scale": self.tail_scale_,
            }
        return state

    @classmethod
    def from_dict(cls, state: dict) -> "AlertRules":
        """Rules saved with `to_dict`, fitted if they were."""
        params = dict(state.get("params", {}))
        unknown = sorted(set(params) - set(cls.PARAMS))
        if unknown:
            raise ConfigError(f"alert rules take no parameter {unknown[0]!r}; they take {', '.join(cls.PARAMS)}")
        rules = cls(**params)
        rules.check_params()
        fitted = state.get("fitted")
        if fitted:
            for key in ("center", "open_level", "close_level", "extreme_level", "tail_start", "tail_share",
                        "tail_scale"):
                setattr(rules, f"{key}_", float(fitted[key]))
            rules.n_calibration_ = int(fitted["n_calibration"])
            rules.tail_scores_ = np.asarray(fitted["tail_scores"], dtype=np.float64)
        return rules

    def with_threshold(self, value: float) -> "AlertRules":
        """A copy with the same calibration but another threshold value (the levels moved with it)."""
        self.check_fitted()
        other = AlertRules.from_dict(self.to_dict())
        other._set_levels(self.center_, float(value))
        return other


@dataclass
class Alert:
    """One alert, in row positions of the series the tracker saw (all inclusive)."""

    alert_id: int
    start: int  # first row above the threshold
    end: int  # last row at or above the close level
    fired_at: int  # the row at which the rules raised it (live)
    peak: int  # the row of its highest score
    peak_score: float
    n_flagged: int  # its rows above the threshold
    shares: np.ndarray | None  # (n_features,) sum of the positive contributions over its rows
    closed: bool = False  # False: the data ended while it could still go on
    # the times of those rows, when the tracker was given them (`update(..., index=...)`)
    start_time: object = None
    end_time: object = None
    fired_time: object = None
    peak_time: object = None

    @property
    def top(self) -> int | None:
        return None if self.shares is None else int(np.argmax(self.shares))


class AlertTracker:
    """The rules as a state machine over rows: `update(scores, contributions)` per chunk returns the
    alert ids of the rows it settled (in order, continuing from the last call), `finish()` those of
    the rest; `alerts` lists the alerts raised so far (the last one may still be open)."""

    def __init__(self, rules: AlertRules):
        rules.check_fitted()
        self.rules = rules
        self.open_level = rules.open_level_
        self.close_level = rules.close_level_
        self.extreme_level = rules.extreme_level_
        self.alerts: list[Alert] = []
        self.n_rows = 0  # rows seen
        self.n_settled = 0  # rows whose alert id has been returned
        self._episode: Alert | None = None  # the current episode (fired or not); alert_id -1 until fired
        self._on = False  # the current episode's score is at or above the close level
        self._last_closed: Alert | None = None  # the last alert that ended (a cooldown can reopen it)
        self._finished = False

    def update(self, scores, contributions=None, index=None) -> np.ndarray:
        """Run the rules over the next rows; their alert ids as far as they are settled.

        `index` (optional): the rows' timestamps, kept on each alert (`Alert.start_time`, ...) so
        that `alert_table` can name times without the whole series' index (chunked scoring).
        """
        if self._finished:
            raise ConfigError("this AlertTracker has finished; start a new one with AlertRules.tracker()")
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if contributions is not None:
            contributions = np.asarray(contributions, dtype=np.float64)
            if contributions.ndim != 2 or len(contributions) != len(scores):
                raise DataError(f"contributions must be (n_timepoints, n_features) with {len(scores)} rows, "
                                f"got shape {contributions.shape}")
        if np.isnan(scores).any():
            first = int(np.flatnonzero(np.isnan(scores))[0])
            raise DataError(f"scores has NaN values (first at row {self.n_rows + first}); score every row")
        first, k = self.n_rows, 0
        above = np.flatnonzero(scores > self.open_level)  # idle rows below the threshold change nothing
        while k < len(scores):
            if self._episode is None:
                j = int(np.searchsorted(above, k))
                if j == above.size:
                    break
                k = int(above[j])
            self._step(first + k, float(scores[k]), None if contributions is None else contributions[k],
                       None if index is None else index[k])
            k += 1
        self.n_rows = first + len(scores)
        return self._settle(self._pending_from())

    def finish(self) -> np.ndarray:
        """End of the data: the open episode ends there (kept, `closed=False`, if it fired; dropped if
        not) and the remaining rows are settled."""
        if not self._finished:
            if self._episode is not None:
                self._end_episode(closed=False)
            self._finished = True
        return self._settle(self.n_rows)

    # ---- the rules, one row at a time -----------------------------------------------------------

    def _step(self, row: int, score: float, contribution, time=None) -> None:
        rules = self.rules
        episode = self._episode
        if episode is not None:
            # hysteresis keeps a raised alert on; an episode that has not fired needs flags
            fired = episode.alert_id >= 0
            if self._on and (score >= self.close_level if fired else score > self.open_level):
                self._extend(row, score, contribution, time)
                return
            self._on = False
            waited = row - episode.end - 1  # rows below the close level since its last row
            if score > self.open_level and waited <= rules.min_gap:
                self._on = True
                self._extend(row, score, contribution, time)
                return
            if waited < rules.min_gap:
                return
            self._end_episode(closed=True)
        if score <= self.open_level:
            return
        previous = self._last_closed
        if (previous is not None and contribution is not None and previous.shares is not None
                and row - previous.end - 1 <= rules.cooldown
                and int(np.argmax(contribution)) == previous.top):
            # the same sensors again within the cooldown: the earlier alert goes on
            previous.closed = False
            self._episode, self._last_closed = previous, None
        else:
            shares = None if contribution is None else np.zeros(len(contribution))
            self._episode = Alert(-1, row, row, -1, row, score, 0, shares, start_time=time, peak_time=time)
        self._on = True
        self._extend(row, score, contribution, time)

    def _extend(self, row: int, score: float, contribution, time=None) -> None:
        episode = self._episode
        episode.end, episode.end_time = row, time
        if score > self.open_level:
            episode.n_flagged += 1
        if score > episode.peak_score:
            episode.peak, episode.peak_score, episode.peak_time = row, score, time
        if contribution is not None and episode.shares is not None:
            episode.shares += np.clip(contribution, 0.0, None)
        if episode.alert_id < 0 and (episode.n_flagged >= self.rules.min_length
                                     or score >= self.extreme_level):
            episode.alert_id = len(self.alerts)
            episode.fired_at, episode.fired_time = row, time
            self.alerts.append(episode)

    def _end_episode(self, closed: bool) -> None:
        episode = self._episode
        self._episode, self._on = None, False
        if episode.alert_id >= 0:
            episode.closed = closed
            self._last_closed = episode

    # ---- which rows are settled -----------------------------------------------------------------

    def _pending_from(self) -> int:
        """The first row whose alert id a later row may still change."""
        pending = self.n_rows
        episode = self._episode
        if episode is not None:
            pending = episode.end + 1 if episode.alert_id >= 0 else episode.start
        previous = self._last_closed
        if previous is not None and self.n_rows - previous.end - 1 <= self.rules.cooldown:
            pending = min(pending, previous.end + 1)
        return max(pending, self.n_settled)

    def _settle(self, upto: int) -> np.ndarray:
        first = self.n_settled
        ids = np.full(upto - first, -1, dtype=np.int64)
        for alert in reversed(self.alerts):
            if alert.end < first:
                break
            lo, hi = max(alert.start, first), min(alert.end, upto - 1)
            if lo <= hi:
                ids[lo - first:hi - first + 1] = alert.alert_id
        self.n_settled = upto
        return ids


# ---- the alert table ----------------------------------------------------------------------------------


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
    value = threshold.value_ if isinstance(threshold, Threshold) else threshold
    rules = AlertRules() if rules is None else rules
    if hasattr(rules, "open_level_"):
        if value is not None and float(value) != rules.open_level_:
            rules = rules.with_threshold(float(value))
    else:
        if calibration_scores is None:
            raise ConfigError("alert rules need calibration scores (normal scores held out from training, "
                              "detector.validation_scores_) to be fitted; pass calibration_scores")
        rules = AlertRules(**rules.get_params()).fit(calibration_scores, value)
    found, alert_ids = rules.apply(scores, contributions)
    n_features = None if contributions is None else np.asarray(contributions).shape[1]
    names = list(feature_names) if feature_names is not None else (
        [f"x{j}" for j in range(n_features)] if n_features else [])
    return Alerts(alert_table(found, index, names, rules, top=top), alert_ids, rules, found)


def detection_alerts(detection, calibration_scores=None, *, rules: AlertRules | None = None, top: int = 3) -> Alerts:
    """`find_alerts` of a `seqae.detectors.base.Detection` (index, scores, contributions, threshold,
    feature names), with the detector's held-out scores as calibration, e.g.
    `detection_alerts(detector.detect(frame), detector.validation_scores_, rules=rules)`."""
    return find_alerts(detection.index, detection.scores, detection.contributions, detection.threshold,
                       calibration_scores, detection.feature_names, rules=rules, top=top)


def alert_table(found: list[Alert], index, feature_names: list[str], rules: AlertRules,
                top: int = 3) -> pd.DataFrame:
    """One row per alert (`ALERT_COLUMNS`): times from `index` (the series' index, by row position),
    or, with `index=None`, the times the tracker kept (`AlertTracker.update(..., index=chunk_index)`)
    or else row positions; duration as a time span when the times are timestamps (else in rows);
    `severity` = -log10 of `rules.exceedance(peak_score)`.

    Chunked use (what `seqae score` needs): `tracker = rules.tracker()`, per chunk
    `tracker.update(scores, contributions, index)`, then `tracker.finish()` and
    `alert_table(tracker.alerts, None, feature_names, rules)`."""
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
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)


# ---- a threshold set by an alert budget ----------------------------------------------------------------

MIN_EMPIRICAL_ALERTS = 3  # below this many budgeted alerts on the calibration rows, extrapolate the tail


@register_threshold
class AlertBudgetThreshold(Threshold):
    """The threshold that, with the alert rules, raises a budgeted number of alerts on normal rows.

    `alerts:per_1000_rows=1` (any data) or `alerts:per_day=1` (timestamped data: `rows_per_day`, set
    from the timestamps' usual step, turns it into rows). Fitted on calibration scores (normal rows
    held out from training) together with the rules (`rules_`, the alert rules to use with it):

    - When the budget allows at least 3 alerts on the calibration rows, the threshold is the lowest
      calibration score at which the rules raise at most the budgeted count there (a bisection over
      the calibration scores; the count falls as the threshold rises).
    - Otherwise (a tight budget, few calibration rows) it is extrapolated: an exponential tail of the
      scores times the alerts per row above a level, measured where the rules still raise 3 alerts
      (`_extrapolate`). Measured on generated normal scores this errs towards fewer alerts than
      budgeted (an upper bound): a guess beyond the data, to check on held-back rows.

    Tolerance (empirical budgets): on new normal data like the calibration rows and as long, the
    count is within 3 sqrt(N) + N / 4 of the budgeted N (Poisson noise, plus the threshold's own
    sampling error: it was fitted on one sample); tests/test_alerts.py checks it on generated
    normal scores.
    The rules' own parameters (`min_gap`, ...) are parameters of this threshold too, with the same
    defaults as `AlertRules`; the cooldown needs contributions, which a threshold never sees, so the
    count it fits is taken without it (conservative: the cooldown only removes alerts).
    """

    kind = "alerts"
    parameter_constraints = {
        "per_1000_rows": NoneOr(Real(0.0, low_open=True), message="alerts per_1000_rows must be a positive "
                                                                  "number of alerts, got {value!r}"),
        "per_day": NoneOr(Real(0.0, low_open=True), message="alerts per_day must be a positive number of "
                                                            "alerts, got {value!r}"),
        "rows_per_day": NoneOr(Real(0.0, low_open=True), message="alerts rows_per_day must be a positive "
                                                                 "number of rows, got {value!r}"),
        "budget": Satisfies(lambda v, p: (p["per_1000_rows"] is None) != (p["per_day"] is None), "",
                            message="the alerts threshold takes exactly one budget: per_1000_rows=N (any "
                                    "data) or per_day=N (timestamped data), e.g. 'alerts:per_day=1'"),
        **AlertRules.parameter_constraints,
    }

    def __init__(self, per_1000_rows: float | None = None, per_day: float | None = None,
                 rows_per_day: float | None = None, min_gap: int = 10, min_length: int = 20,
                 hysteresis: float = 0.75, extreme: float = 5.0, cooldown: int = 120):
        self.per_1000_rows = per_1000_rows
        self.per_day = per_day
        self.rows_per_day = rows_per_day
        self.min_gap = min_gap
        self.min_length = min_length
        self.hysteresis = hysteresis
        self.extreme = extreme
        self.cooldown = cooldown

    def check_params(self) -> None:
        params = self.get_params(deep=False)
        check_params({**params, "budget": None}, self.parameter_constraints)

    def budget_per_row(self) -> float:
        """The budget as alerts per row."""
        if self.per_1000_rows is not None:
            return float(self.per_1000_rows) / 1000.0
        if self.rows_per_day is None:
            raise ConfigError(f"threshold 'alerts:per_day={self.per_day}' needs the rows per day: fit on "
                              "timestamped data (seqae sets rows_per_day from the usual step) or pass "
                              "rows_per_day=N, or budget per 1,000 rows with 'alerts:per_1000_rows=N'")
        return float(self.per_day) / float(self.rows_per_day)

    def alert_rules(self) -> AlertRules:
        """The (unfitted) rules this threshold's parameters describe."""
        return AlertRules(**{name: getattr(self, name) for name in AlertRules.PARAMS})

    def _fit_value(self, scores: np.ndarray) -> float:
        rate = self.budget_per_row()
        base = self.alert_rules().fit(scores, float(np.max(scores)))
        n = scores.size
        candidates = np.unique(scores[scores >= base.center_])  # ascending

        def count(value: float) -> int:
            return len(base.with_threshold(value).apply(scores)[0])

        def lowest_within(target: float) -> float:
            """The lowest candidate, coming down from the largest score, above which the count stays
            <= target. Far down the count falls again (everything merges into a few long alerts), so
            the search walks down from the top in doubling steps, then bisects the last step."""
            top = candidates.size - 1  # count(candidates[top]) = 0: nothing is above the largest score
            ok, step = top, 1
            while True:
                below = max(top - step, 0)
                if count(candidates[below]) > target:
                    break
                ok = below
                if below == 0:
                    return float(candidates[0])
                step *= 2
            lo, hi = below, ok  # count(lo) > target, count(hi) <= target
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if count(candidates[mid]) <= target else (mid, hi)
            return float(candidates[hi])

        target = rate * n
        self.expected_calibration_alerts_ = float(target)
        if target >= MIN_EMPIRICAL_ALERTS:
            value = lowest_within(target)
            self.method_ = "empirical"
        else:
            value = self._extrapolate(scores, lambda level: base.with_threshold(level).apply(scores)[0], target)
            self.method_ = "tail"
        self.rules_ = base.with_threshold(value)
        self.calibration_alerts_ = count(value)
        return value

    def _extrapolate(self, scores, count_alerts, target: float) -> float:
        """Rows above a level from an exponential tail, times alerts per row above it.

        The share of normal rows above a level x beyond the calibration scores' 0.9 quantile u is
        taken as 0.1 exp(-(x - u) / sigma), sigma their mean excess over u (the rules' tail,
        `AlertRules.exceedance`). Alerts per row above the level (theta) are measured at the highest
        of 40 levels from u to the largest score where the rules raise at least 3 alerts (1 when
        none does). The threshold is where theta times that share gives `target` alerts.

        Measured on generated normal scores (20,000 new rows, budgets of 0.05-1 per 1,000 rows fitted
        on 500-20,000 calibration rows): with min_length=5 the count came out at 0-2.5 times the
        budget (median 0.3); with the default min_length=20 no level of the calibration rows raises 3
        alerts, theta is 1 and the new rows raised none: an extrapolated budget is an upper bound.
        """
        n = scores.size
        rules = self.alert_rules().fit(scores, float(np.max(scores)))
        low = float(np.quantile(scores, 0.9 if n >= 100 else 0.5))
        levels = np.unique(np.quantile(scores[scores >= low], np.linspace(0.0, 1.0, 40)))
        theta = 1.0
        for level in levels[::-1]:
            found = len(count_alerts(level))
            if found >= MIN_EMPIRICAL_ALERTS:
                theta = min(1.0, found / max(int(np.count_nonzero(scores > level)), 1))
                break
        self.alerts_per_exceedance_ = float(theta)
        needed = target / n / theta  # share of normal rows above the threshold
        if needed >= rules.tail_share_:
            return float(np.quantile(scores, 1.0 - needed))
        return rules.tail_start_ + rules.tail_scale_ * math.log(rules.tail_share_ / needed)

    def _fitted_state(self) -> dict:
        return {"rules": self.rules_.to_dict(), "method": self.method_,
                "calibration_alerts": self.calibration_alerts_}

    def _load_fitted_state(self, fitted: dict) -> None:
        if "rules" in fitted:
            self.rules_ = AlertRules.from_dict(fitted["rules"])
        self.method_ = fitted.get("method")
        self.calibration_alerts_ = fitted.get("calibration_alerts")


def rows_per_day(index) -> float | None:
    """Rows per day from a timestamp index's median step (None without timestamps or a step)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    steps = np.diff(index.values.astype("datetime64[ns]").astype(np.int64))
    step = float(np.median(steps[steps > 0])) if np.any(steps > 0) else 0.0
    return 86_400e9 / step if step > 0 else None


def _check_calibration(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        raise DataError("alert rules need some calibration scores (normal rows held out from training)")
    if not np.all(np.isfinite(scores)):
        raise DataError(f"calibration scores have {int((~np.isfinite(scores)).sum())} non-finite values")
    return scores
