"""The alert rules (merge, minimum length, hysteresis, cooldown) and the row-by-row tracker that runs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator

from seqae.data.timestamps import time_from_state, time_state
from seqae.errors import ConfigError, DataError, NotFittedError
from seqae.params import Integer, Real, check_params, is_real
from seqae.thresholds import Threshold


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
        self.set_levels(float(np.median(scores)), float(value))
        self.n_calibration_ = int(scores.size)
        self.tail_scores_ = np.sort(scores)[-N_TAIL_SCORES:]
        self._fit_tail(np.sort(scores))
        return self

    def set_levels(self, center: float, value: float) -> None:
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
        other.set_levels(self.center_, float(value))
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
        self.alerts: list[Alert] = []  # the alerts raised (the last `keep` of them after `forget(keep)`)
        self.n_alerts = 0  # alerts raised so far: the next one's id
        self.n_rows = 0  # rows seen
        self.n_settled = 0  # rows whose alert id has been returned
        self._episode: Alert | None = None  # the current episode (fired or not); alert_id -1 until fired
        self._on = False  # the current episode's score is at or above the close level
        self._last_closed: Alert | None = None  # the last alert that ended (a cooldown can reopen it)
        self._finished = False

    def update(self, scores, contributions=None, index=None,
               on_step: Callable[[int], None] | None = None) -> np.ndarray:
        """Run the rules over the next rows; their alert ids as far as they are settled.

        `index` (optional): the rows' timestamps, kept on each alert (`Alert.start_time`, ...) so
        that `alert_table` can name times without the whole series' index (chunked scoring).
        `on_step` (optional): called with a row's position among these rows after the rules ran on
        it, for every row that can change an alert (an episode going on, or a score above the
        threshold); the other rows change nothing but the row count. A live feed reports alerts
        opening and closing from it.
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
            if on_step is not None:
                on_step(k)
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
            episode.alert_id = self.n_alerts
            self.n_alerts += 1
            episode.fired_at, episode.fired_time = row, time
            self.alerts.append(episode)

    def _end_episode(self, closed: bool) -> None:
        episode = self._episode
        self._episode, self._on = None, False
        if episode.alert_id >= 0:
            episode.closed = closed
            self._last_closed = episode

    @property
    def idle(self) -> bool:
        """No episode is going on: rows at or below the threshold change nothing but the row count."""
        return self._episode is None

    # ---- saving (a live feed restarted where it stopped) ------------------------------------------

    def state(self) -> dict:
        """Everything the tracker holds, JSON-able (times as ISO text), for `from_state`."""
        alerts = [_alert_state(a) for a in self.alerts]
        episode = self._episode
        return {
            "n_rows": self.n_rows, "n_settled": self.n_settled, "on": self._on, "finished": self._finished,
            "alerts": alerts, "n_alerts": self.n_alerts,
            # the episode and the last closed alert: an alert's id, or (an episode not fired yet) itself
            "episode": None if episode is None else (
                episode.alert_id if episode.alert_id >= 0 else _alert_state(episode)),
            "last_closed": None if self._last_closed is None else self._last_closed.alert_id,
        }

    @classmethod
    def from_state(cls, rules: AlertRules, state: dict) -> "AlertTracker":
        """A tracker of `rules` that goes on from `state()`, as if it had seen the same rows."""
        tracker = cls(rules)
        try:
            tracker.alerts = [_alert_from_state(a) for a in state["alerts"]]
            tracker.n_alerts = int(state.get("n_alerts", len(tracker.alerts)))  # states before forget(): all kept
            by_id = {alert.alert_id: alert for alert in tracker.alerts}
            tracker.n_rows, tracker.n_settled = int(state["n_rows"]), int(state["n_settled"])
            tracker._on, tracker._finished = bool(state["on"]), bool(state["finished"])
            episode, last = state["episode"], state["last_closed"]
            tracker._episode = (None if episode is None else by_id[episode] if isinstance(episode, int)
                                else _alert_from_state(episode))
            tracker._last_closed = None if last is None else by_id[last]
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DataError(f"not the state of an alert tracker ({type(exc).__name__}: {exc})") from None
        return tracker

    def forget(self, keep: int) -> None:
        """Keep only the last `keep` alerts in `alerts` (and in `state()`), so that a feed scored for
        months holds a bounded list; ids go on counting (`n_alerts`). An alert that can still change
        is never dropped: the one going on, the last closed one (a cooldown may rejoin it), and any
        with rows whose alert id is not settled yet."""
        drop = len(self.alerts) - max(int(keep), 0)
        for k in range(max(drop, 0)):
            alert = self.alerts[k]
            if alert is self._episode or alert is self._last_closed or alert.end >= self.n_settled:
                drop = k
                break
        if drop > 0:
            del self.alerts[:drop]

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


_ALERT_TIMES = ("start_time", "end_time", "fired_time", "peak_time")


def _alert_state(alert: Alert) -> dict:
    state = {k: getattr(alert, k) for k in ("alert_id", "start", "end", "fired_at", "peak", "n_flagged", "closed")}
    state["peak_score"] = float(alert.peak_score)
    state["shares"] = None if alert.shares is None else [float(v) for v in alert.shares]
    for key in _ALERT_TIMES:
        state[key] = time_state(getattr(alert, key))
    return state


def _alert_from_state(state: dict) -> Alert:
    shares = None if state["shares"] is None else np.asarray(state["shares"], dtype=np.float64)
    return Alert(int(state["alert_id"]), int(state["start"]), int(state["end"]), int(state["fired_at"]),
                 int(state["peak"]), float(state["peak_score"]), int(state["n_flagged"]), shares,
                 bool(state["closed"]), *(time_from_state(state[key]) for key in _ALERT_TIMES))


def _check_calibration(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        raise DataError("alert rules need some calibration scores (normal rows held out from training)")
    if not np.all(np.isfinite(scores)):
        raise DataError(f"calibration scores have {int((~np.isfinite(scores)).sum())} non-finite values")
    return scores
