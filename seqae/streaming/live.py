"""New rows scored and decided as they arrive, from the rows before them alone, with the state a restart needs.

`LiveScorer(detector)` runs a feed of the detector (`seqae.detectors.feed.Feed`: the causal scores,
each sensor's level, the alert rules' tracker) over rows fed in pieces of any length, down to one
row, and gives, value for value, `detector.detect(series)` of the whole series; it reports each
alert as it opens and as its close is final. `state()` is everything it holds (a few windows of
rows, the level and the normal reference, the open alert, the row count) as JSON, and
`LiveScorer.restore(detector, state)` goes on from it as if nothing had stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.alerts import alert_records, alert_table
from seqae.detectors import BaseDetector, Detection
from seqae.detectors.feed import Feed
from seqae.errors import DataError

STATE_FORMAT = 2  # 2: the feed keeps each sensor's level and the normal reference


@dataclass
class AlertEvent:
    """An alert opening (it fired) or closing (its end is final: its cooldown passed with no new episode
    joining it, or it settled as a possible new normal), at `position` (the row of the update that
    brought it). A new episode that joins an alert within its cooldown is the same alert: no event."""

    position: int  # row of the update's Detection
    event: str  # "open" or "close"
    alert: dict  # the alert's row of the alert table as it stands (`seqae.alerts.ALERT_COLUMNS`)


class LiveScorer:
    """A fitted detector scoring a feed: `update(rows)` takes new rows only and returns their decisions
    (`Detection`); `events` then lists the alerts that opened or closed on them; `state()` / `restore`
    carry everything across a restart. The last `alerts_kept` alerts are kept (`alert_table()`, the
    state): memory and the state file stay bounded however long the feed runs.

    >>> scorer = LiveScorer(detector)            # doctest: +SKIP
    >>> detection = scorer.update(frame.iloc[:1])  # one row, or many
    >>> scorer.events, scorer.state()
    """

    alerts_kept = 1000

    def __init__(self, detector: BaseDetector, level: float = 1.0):
        self.detector = detector
        self.feed = Feed(detector, level)
        self.events: list[AlertEvent] = []  # the last update's
        self.feature_names = [str(name) for name in detector.feature_names_in_]
        self.faults = getattr(detector, "faults_", None)  # labelled faults an alert may be like

    @property
    def n_rows(self) -> int:
        return self.feed.n_rows

    @property
    def tracker(self):
        return self.feed.tracker

    @property
    def watched(self) -> list[str]:
        """The state and constant columns the model watches (`seqae.data.states`; [] for none)."""
        return [] if self.feed.states is None else self.feed.states.columns

    def update(self, rows) -> Detection:
        """Score the next rows of the feed (a frame with the model's sensor columns, its index the
        rows' times, or an array `(n_rows, n_features)`); the rows before the first full window and the
        rules' burn-in are `warming_up`. `events` lists the alerts that opened or closed on them; a
        frame's watched columns give the detection's `state_events`."""
        values, index = self.detector.check_input(rows, min_rows=1)
        if not isinstance(rows, pd.DataFrame):
            index = pd.RangeIndex(self.n_rows, self.n_rows + len(values), name="row")
        return self.score(values, index, states=self.feed.states.given(rows) if self.watched else None)

    def score(self, values: np.ndarray, index: pd.Index, states: pd.DataFrame | None = None) -> Detection:
        """`update` of rows already checked: `values` `(n_rows, n_features)` finite, in the model's order;
        `states`: the same rows' watched columns, any of them (`Feed.score`)."""
        tracker, events = self.tracker, []
        reported = [tracker.n_alerts]  # alerts whose open was reported
        pending = [alert for alert in tracker.alerts if not alert.closed]  # open, or ended within the cooldown

        def on_step(position: int) -> None:  # what the rules did on this row
            fresh = tracker.n_alerts - reported[0]
            if fresh:
                for alert in tracker.alerts[-fresh:]:
                    events.append(self._event(position, "open", alert))
                    pending.append(alert)
                reported[0] = tracker.n_alerts
            for alert in [a for a in pending if a.closed]:
                events.append(self._event(position, "close", alert))
                pending.remove(alert)

        detection, _ = self.feed.score(values, index, on_step=on_step, states=states)
        self.events = events
        tracker.forget(self.alerts_kept)
        return detection

    def _event(self, position: int, kind: str, alert) -> AlertEvent:
        row = alert_records([alert], None, self.feature_names, faults=self.faults)[0]
        if kind != "close":  # its end is not known yet
            row["end"] = row["duration"] = None
        return AlertEvent(position, kind, row)

    def drift(self) -> dict[str, float]:
        """How far the feed has moved from the fitted model (`Feed.drift`)."""
        return self.feed.drift()

    def alert_table(self) -> pd.DataFrame:
        """The alerts raised so far, the last `alerts_kept` of them (the last may still be open:
        `closed` False)."""
        return alert_table(self.tracker.alerts, None, self.feature_names, faults=self.faults)

    # ---- restarts ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """What a restart needs, JSON-able: the feed (the last rows of the window and the smoothing, each
        sensor's level, the normal reference, the open alert, the row count) and what identifies the model."""
        return {"format": STATE_FORMAT, "model": _model_identity(self.detector), "feed": self.feed.state()}

    @classmethod
    def restore(cls, detector: BaseDetector, state: dict) -> "LiveScorer":
        """A scorer that goes on from `state()` as if it had never stopped; a `DataError` if the state
        was written for another model or is not a scorer's state."""
        scorer = cls(detector)
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise DataError(f"not the state of a seqae live scorer (format {STATE_FORMAT}); start without it")
        expected, found = _model_identity(detector), state.get("model")
        if found != expected:
            differs = next((k for k in expected if not isinstance(found, dict) or found.get(k) != expected[k]),
                           "model")
            raise DataError(f"the state was written for another model ({differs}: "
                            f"{(found or {}).get(differs)!r}, this model's: {expected.get(differs)!r}); "
                            "start without it or watch with the model that wrote it")
        if not isinstance(state.get("feed"), dict):
            raise DataError("the state holds no feed; start without it")
        scorer.feed = Feed.from_state(detector, state["feed"])
        return scorer


def split_watched(values: np.ndarray, n_features: int, names: list[str]) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Rows read with the watched columns `names` after the model's `n_features` columns
    (`RowParser`'s `optional`): the model's readings, and the watched columns (None without any)."""
    if not names:
        return values, None
    return values[:, :n_features], pd.DataFrame(values[:, n_features:n_features + len(names)], columns=names)


def _model_identity(detector: BaseDetector) -> dict:
    """What must match between a state and the model that continues it."""
    return {"model_type": detector.model_type, "feature_names": [str(n) for n in detector.feature_names_in_],
            "window_size": int(detector.window_size), "smoothing": int(detector.smoothing),
            "threshold": float(detector.threshold_.value_)}
