"""New rows scored and decided as they arrive, from the rows before them alone, with the state a restart needs.

    rows --scaler_--> appended to the last window_size - 1 scaled rows --the windows ending on the
      new rows (scoring.causal_element_scores)--> normalised, smoothed with the last smoothing - 1
      rows' contributions --> raw scores --the alert rules' tracker (seqae.alerts)--> calibrated scores,
      flags, alerts opening and closing

`CausalScorer(detector).score(values, index)` fed a series in pieces of any length (down to one row)
gives, value for value, the raw scores `detector.detect(series)` decides on: windows are scored in
batches padded to the detector's batch quantum, each window's steps added in the same order, and
the smoothing carries the rows it reaches back to. `LiveScorer` runs the model's alert rules over
them (`AlertTracker`: the same decisions and alerts as `detect` of the whole series) and reports
each alert as it opens and as its close is final; `state()` is everything both hold (a few windows
of rows, the normal reference, the open alert, the row count) as JSON, and
`LiveScorer.restore(detector, state)` goes on from it as if nothing had stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.alerts import AlertTracker, alert_records, alert_table
from seqae.detectors import BaseDetector, Detection, RawScores, scoring
from seqae.errors import DataError

STATE_FORMAT = 2  # 2: the tracker keeps the normal reference of the feed


class CausalScorer:
    """Causal raw scores of a series fed in pieces: `score(values, index)` returns the new rows' `RawScores`."""

    def __init__(self, detector: BaseDetector):
        detector.check_fitted()
        self.detector = detector
        n_features = int(detector.n_features_in_)
        self.recent = np.empty((0, n_features), dtype=np.float32)  # the last window_size - 1 scaled rows
        self.unsmoothed = np.empty((0, n_features))  # the last smoothing - 1 scored rows' contributions
        self.n_rows = 0  # rows scored so far

    def score(self, values: np.ndarray, index: pd.Index) -> RawScores:
        """The causal raw scores of the next rows: `values` `(n_rows, n_features)` in the detector's
        column order, finite (`BaseDetector.check_input`), and their `index`."""
        detector = self.detector
        window = detector.window_size
        series = np.concatenate([self.recent, detector.scaler_.transform(values).astype(np.float32)])
        elements = scoring.causal_element_scores(detector.window_scores, series, window, detector.score_reduction,
                                                 detector.score_batch_size())  # one per window ending on a new row
        raw = detector.causal_raw(elements, index, previous=self.unsmoothed)
        keep = detector.smoothing - 1
        if keep and len(elements):
            unsmoothed = scoring.contributions(elements, detector.normalizer_)
            self.unsmoothed = np.concatenate([self.unsmoothed, unsmoothed])[-keep:]
        self.recent = series[max(len(series) - (window - 1), 0):] if window > 1 else series[:0]
        self.n_rows += len(values)
        return raw

    def state(self) -> dict:
        return {"n_rows": self.n_rows, "recent": self.recent.tolist(), "unsmoothed": self.unsmoothed.tolist()}

    def load_state(self, state: dict) -> None:
        n_features = int(self.detector.n_features_in_)
        recent = np.asarray(state["recent"], dtype=np.float32).reshape(-1, n_features)
        unsmoothed = np.asarray(state["unsmoothed"], dtype=np.float64).reshape(-1, n_features)
        if len(recent) > self.detector.window_size - 1 or len(unsmoothed) > self.detector.smoothing - 1:
            raise DataError("the state holds more rows than this model's window and smoothing keep; "
                            "it was written for another model")
        self.recent, self.unsmoothed, self.n_rows = recent, unsmoothed, int(state["n_rows"])


@dataclass
class AlertEvent:
    """An alert opening (it fired) or closing (its end is final: its cooldown passed with no new episode
    joining it, or it settled as a possible new normal), at `position` (the row of the update that
    brought it). A new episode that joins an alert within its cooldown is the same alert: no event."""

    position: int  # row of the update's Detection
    event: str  # "open" or "close"
    alert: dict  # the alert's row of the alert table as it stands (`seqae.alerts.ALERT_COLUMNS`)


class LiveScorer:
    """A fitted detector scoring a feed: `update(rows)` takes new rows only and returns their causal
    `Detection`; `events` then lists the alerts that opened or closed on them; `state()` / `restore`
    carry everything across a restart. The last `alerts_kept` alerts are kept (`alert_table()`, the
    state): memory and the state file stay bounded however long the feed runs.

    >>> scorer = LiveScorer(detector)            # doctest: +SKIP
    >>> detection = scorer.update(frame.iloc[:1])  # one row, or many
    >>> scorer.events, scorer.state()
    """

    alerts_kept = 1000

    def __init__(self, detector: BaseDetector, level: float = 1.0):
        self.scorer = CausalScorer(detector)
        self.detector = detector
        self.tracker: AlertTracker = detector.alert_rules_.tracker(level)
        self.events: list[AlertEvent] = []  # the last update's
        self.feature_names = [str(name) for name in detector.feature_names_in_]

    @property
    def n_rows(self) -> int:
        return self.scorer.n_rows

    def update(self, rows) -> Detection:
        """Score the next rows of the feed (a frame with the model's sensor columns, its index the
        rows' times, or an array `(n_rows, n_features)`); the rows before the first full window are
        `warming_up`. Runs the alert rules over them; `events` lists what opened or closed."""
        values, index = self.detector.check_input(rows, min_rows=1)
        if not isinstance(rows, pd.DataFrame):
            index = pd.RangeIndex(self.n_rows, self.n_rows + len(values), name="row")
        return self.score(values, index)

    def score(self, values: np.ndarray, index: pd.Index) -> Detection:
        """`update` of rows already checked: `values` `(n_rows, n_features)` finite, in the model's order."""
        raw = self.scorer.score(values, index)
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

        # the times as a list: the rules look up the time of each row they run on (an index lookup is slow)
        step = tracker.update(raw.scores, raw.contributions, list(raw.index), on_step=on_step)
        self.events = events
        tracker.forget(self.alerts_kept)
        return Detection(raw.index, self.feature_names, step.scores, raw.contributions, tracker.level, step.flags,
                         step.warming_up | raw.warming_up, raw.scores)

    def _event(self, position: int, kind: str, alert) -> AlertEvent:
        row = alert_records([alert], None, self.feature_names)[0]
        if kind != "close":  # its end is not known yet
            row["end"] = row["duration"] = None
        return AlertEvent(position, kind, row)

    def alert_table(self) -> pd.DataFrame:
        """The alerts raised so far, the last `alerts_kept` of them (the last may still be open:
        `closed` False)."""
        return alert_table(self.tracker.alerts, None, self.feature_names)

    # ---- restarts ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """What a restart needs, JSON-able: the last rows of the window and the smoothing, the alert
        tracker (open alert, episode, cooldown), the row count, and what identifies the model."""
        detector = self.detector
        return {"format": STATE_FORMAT, "model": _model_identity(detector), **self.scorer.state(),
                "tracker": self.tracker.state()}

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
        try:
            scorer.scorer.load_state(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the state's rows cannot be read ({type(exc).__name__}: {exc}); start without it") \
                from None
        scorer.tracker = AlertTracker.from_state(detector.alert_rules_, state["tracker"])
        if scorer.tracker.n_rows != scorer.n_rows:
            raise DataError(f"the state's alert tracker has seen {scorer.tracker.n_rows} rows and its scorer "
                            f"{scorer.n_rows}; it is damaged: start without it")
        return scorer


def _model_identity(detector: BaseDetector) -> dict:
    """What must match between a state and the model that continues it."""
    return {"model_type": detector.model_type, "feature_names": [str(n) for n in detector.feature_names_in_],
            "window_size": int(detector.window_size), "smoothing": int(detector.smoothing),
            "threshold": float(detector.threshold_.value_)}


