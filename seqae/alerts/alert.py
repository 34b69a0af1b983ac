"""One alert of a feed, and its state for a restart (`AlertTracker.state`, `seqae watch`'s state file)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqae.data.timestamps import time_from_state, time_state


@dataclass
class Alert:
    """One alert, in row positions of the feed the tracker saw (all inclusive)."""

    alert_id: int  # -1 while its episode has not fired, or fired hidden
    start: int  # first row above the flag level
    end: int  # last row at or above the close level
    fired_at: int  # the row at which the rules raised it (live)
    peak: int  # the row of its highest calibrated score
    peak_score: float  # that calibrated score (1.0 = the threshold)
    peak_raw: float  # the model's raw score there
    peak_severity: float  # -log10 of the chance that a normal row scores that high (against the reference then)
    n_flagged: int  # its rows above the flag level
    shares: np.ndarray | None  # (n_features,) sum of the positive contributions over its rows
    closed: bool = False  # its end is final (after the cooldown, or settled); False: it may still go on
    reason: str = ""  # once closed: "ended" (the score fell back) or "settled" (a possible new normal)
    # the times of those rows, when the tracker was given them (`update(..., index=...)`)
    start_time: object = None
    end_time: object = None
    fired_time: object = None
    peak_time: object = None
    # each sensor's followed level (readings) when the feed raised it (`seqae.detectors.feed.Feed`): what a
    # verdict on its rows compares like with like (`BaseDetector.learn_normal`); None: not known
    followed_level: np.ndarray | None = None
    hidden: bool = False  # fired like a pattern operators judged normal: not raised (`seqae.alerts.tracker`)

    @property
    def raised(self) -> bool:
        """Fired and raised: it has an id, the operator is told."""
        return self.alert_id >= 0

    @property
    def fired(self) -> bool:
        """Fired by the rules, raised or hidden."""
        return self.raised or self.hidden

    @property
    def top(self) -> int | None:
        return None if self.shares is None else int(np.argmax(self.shares))


_ALERT_TIMES = ("start_time", "end_time", "fired_time", "peak_time")
_ALERT_FIELDS = ("alert_id", "start", "end", "fired_at", "peak", "peak_score", "peak_raw", "peak_severity", "n_flagged",
                 "closed", "reason")


def alert_state(alert: Alert) -> dict:
    """`alert` as JSON-able values (times as ISO text)."""
    state = {k: getattr(alert, k) for k in _ALERT_FIELDS}
    for key in ("peak_score", "peak_raw", "peak_severity"):
        state[key] = float(state[key])
    state["shares"] = None if alert.shares is None else [float(v) for v in alert.shares]
    for key in _ALERT_TIMES:
        state[key] = time_state(getattr(alert, key))
    if alert.followed_level is not None:
        state["followed_level"] = [float(v) for v in alert.followed_level]
    if alert.hidden:
        state["hidden"] = True
    return state


def alert_from_state(state: dict) -> Alert:
    """The alert `alert_state` gave."""
    shares = None if state["shares"] is None else np.asarray(state["shares"], dtype=np.float64)
    return Alert(int(state["alert_id"]), int(state["start"]), int(state["end"]), int(state["fired_at"]),
                 int(state["peak"]), float(state["peak_score"]), float(state["peak_raw"]), float(state["peak_severity"]),
                 int(state["n_flagged"]), shares, bool(state["closed"]), str(state["reason"]),
                 *(time_from_state(state[key]) for key in _ALERT_TIMES),
                 None if state.get("followed_level") is None else np.asarray(state["followed_level"], dtype=np.float64),
                 bool(state.get("hidden", False)))
