"""A detector scoring a feed: each row scored and decided from the rows before it, with the state a
restart needs. What `BaseDetector.detect`, chunked scoring (`seqae score`), the served model and
`seqae watch` all run, so that they give the same numbers.

    new rows --minus each sensor's current level, over its spread (the scaler)--> scaled rows
      --the windows ending on them (scoring.causal_element_scores)--> normalised, smoothed --> raw scores
      --the alert rules' tracker (seqae.alerts)--> calibrated scores, flags, alerts
      rows the rules judged normal --`delay` rows later--> the normal reference, and each sensor's level
    the windows of the rows scored above the flag level --like one operators judged normal?
      (`BaseDetector.verdict_gate`)--> `known`: an alert that would fire at such a row fires hidden, not
      raised, the rules going on as for it (`AlertTracker.update`); an alert that fires keeps the level it
      was raised at

Normal behaviour drifts (a temperature creeps up, a machine ages): each sensor's level is the
mean of its last `level_rows_` readings judged normal (`BaseDetector.fit` sets it to the training
rows' length), moved from the training rows' level; until that many rows have been judged normal
the training level stands. Where the training rows have a period (`level_period_`), both means are
taken over whole periods (`level_of`): over part of a cycle a mean moves with the phase (a daily
pattern followed over 1.7 days rises and falls each day) and would shift every window by it.

A reading is scaled once, when it arrives, with the level of its block: the level and the reference
are worked out again at every `REFRESH_ROWS`-th row of the feed, so the numbers depend on row
positions only, never on how the rows were split into pieces.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
import torch

from seqae.alerts.reference import REFRESH_ROWS
from seqae.detectors import scoring
from seqae.detectors.detection import Detection
from seqae.errors import DataError
from seqae.windows import batched_windows


def level_of(readings: np.ndarray, period: int | None) -> np.ndarray:
    """Each sensor's level in `readings` `(n_rows, n_features)`: the mean of their last whole
    periods (of `period` rows; every row where no period fits), so that the phase they end at does
    not move it."""
    n = len(readings)
    rows = n - n % int(period) if period and n >= period else n
    return np.asarray(readings[n - rows:], dtype=np.float64).mean(axis=0)


class Feed:
    """Rows in (`score(values, index)`, in order, pieces of any length), decisions out."""

    def __init__(self, detector, level: float = 1.0):
        detector.check_fitted()
        self.detector = detector
        self.tracker = detector.alert_rules_.tracker(level)
        n_features = int(detector.n_features_in_)
        self.recent = np.empty((0, n_features), dtype=np.float32)  # the last window_size - 1 scaled rows
        self.unsmoothed = np.empty((0, n_features))  # the last smoothing - 1 scored rows' contributions
        self.gate = detector.verdict_gate()  # None: no verdict judged a pattern normal
        self.n_rows = 0
        self.readings: deque[tuple[int, np.ndarray]] = deque()  # recent rows' readings, for the rows admitted late
        self.waiting: deque[tuple[int, np.ndarray]] = deque()  # admitted readings, joining the level after `delay`
        self.normal: deque[np.ndarray] = deque()  # the last level_rows_ readings judged normal
        self.offset = np.zeros(n_features)  # each sensor's level, less the training rows' median
        self.feature_names = [str(name) for name in detector.feature_names_in_]
        book = getattr(detector, "states_", None)
        self.states = book if book is not None and book.columns else None  # seqae.data.states.StateBook
        self.last_states: dict[str, float] = {}  # each watched column's last reading

    def score(self, values: np.ndarray, index: pd.Index, on_step=None,
              states: pd.DataFrame | None = None) -> tuple[Detection, np.ndarray]:
        """The decisions of the next rows: `values` `(n_rows, n_features)` finite, in the detector's
        column order (`BaseDetector.check_input`), and their `index`; and the alert ids this call
        settled, which continue from the last call's (`AlertTracker.update`: a row's id is settled
        once no later row can change it). `on_step(k)`: called after each row `k` of these that could
        change an alert (`AlertTracker.update`). `states`: the same rows' state and constant columns
        (any of them; None: none), whose events (`StateBook.events`) the detection's `state_events`
        holds when the model watches such columns; they change no score or decision."""
        detection, settled = self._decided(values, index, on_step)
        if self.states is not None:
            events, self.last_states = self.states.events(pd.DataFrame(index=range(len(index))) if states is None
                                                          else states, self.last_states)
            detection.state_events = np.asarray(events, dtype=object)
        return detection, settled

    def _decided(self, values: np.ndarray, index: pd.Index, on_step=None) -> tuple[Detection, np.ndarray]:
        parts, settled = [], []
        first = 0
        while first < len(values):
            t = self.n_rows
            stop = first + min(len(values) - first, REFRESH_ROWS - t % REFRESH_ROWS)
            if t % REFRESH_ROWS == 0:
                self._refresh_level(t)
            step = None if on_step is None else (lambda k, at=first: on_step(at + k))
            detection, ids = self._score_block(values[first:stop], index[first:stop], step)
            parts.append(detection)
            settled.append(ids)
            first = stop
        if not parts:
            return self._empty(index), np.empty(0, dtype=np.int64)
        return _joined(parts, self.feature_names, self.tracker.level), np.concatenate(settled)

    def finish(self) -> np.ndarray:
        """The end of the feed: the alert ids of the rows not settled yet (`AlertTracker.finish`)."""
        return self.tracker.finish()

    def _score_block(self, values: np.ndarray, index: pd.Index, on_step=None) -> tuple[Detection, np.ndarray]:
        detector = self.detector
        window = detector.window_size
        scaled = detector.scaler_.transform(values - self.offset).astype(np.float32)
        series = np.concatenate([self.recent, scaled])
        elements = scoring.causal_element_scores(detector.window_scores, series, window, detector.score_reduction,
                                                 detector.score_batch_size())  # one per window ending on a new row
        raw = detector.causal_raw(elements, index, previous=self.unsmoothed)
        keep = detector.smoothing - 1
        if keep and len(elements):
            unsmoothed = scoring.contributions(elements, detector.normalizer_)
            self.unsmoothed = np.concatenate([self.unsmoothed, unsmoothed])[-keep:]
        self.recent = series[max(len(series) - (window - 1), 0):] if window > 1 else series[:0]
        first = self.n_rows
        self.readings.extend((first + k, row) for k, row in enumerate(np.asarray(values, dtype=np.float64)))
        # asked by the tracker of the rows above the flag level alone: elsewhere a verdict decides nothing
        known = None if self.gate is None else (lambda rows: _known_at(self.gate, series, window, len(values), rows))
        step = self.tracker.update(raw.scores, raw.contributions, list(index), on_step=on_step, known=known)
        self._mark_level(first)
        self.n_rows += len(values)
        self._take_admitted()
        return Detection(index, self.feature_names, step.scores, raw.contributions, self.tracker.level, step.flags,
                         step.warming_up | raw.warming_up, raw.scores), step.alert_ids

    # ---- each sensor's level --------------------------------------------------------------------------

    @property
    def followed_level(self) -> np.ndarray:
        """Each sensor's followed level now, in readings: the rows are scaled less it (`offset`)."""
        return self.detector.level_reference_ + self.offset

    def _mark_level(self, first: int) -> None:
        """The alerts that fired from row `first` on (this block) keep the level its rows were scaled
        less (`Alert.followed_level`)."""
        for alert in reversed(self.tracker.alerts):
            if alert.fired_at < first:
                break
            alert.followed_level = self.followed_level.copy()

    def _take_admitted(self) -> None:
        """The rows the rules admitted to the normal reference since the last call: their readings wait
        `delay` rows to join the level; readings no admission can reach any more are let go."""
        admitted = self.tracker.reference.take_admitted()
        if self.detector.level_rows_:
            by_row = {row: reading for row, reading in self.readings}
            self.waiting.extend((row, by_row[row]) for row in admitted if row in by_row)
        oldest = self.tracker.earliest_open_row()  # no admission reaches further back
        while self.readings and self.readings[0][0] < oldest:
            self.readings.popleft()

    def _refresh_level(self, row: int) -> None:
        size = self.detector.level_rows_
        if not size:
            return
        delay, changed = self.detector.alert_rules_.delay, False
        while self.waiting and self.waiting[0][0] <= row - delay:
            self.normal.append(self.waiting.popleft()[1])
            changed = True
        while len(self.normal) > size:
            self.normal.popleft()
        if changed and len(self.normal) == size:
            level = level_of(np.asarray(self.normal), self.detector.level_period_)
            self.offset = level - self.detector.level_reference_

    def drift(self) -> dict[str, float]:
        """How far the feed has moved from what the model was fitted on: `threshold_ratio`, the
        threshold in raw units now over the fitted one, and `level_shift`, the largest move of a
        sensor's level in units of its spread (the scaler's)."""
        fitted = self.detector.alert_rules_.threshold_value
        ratio = self.tracker.reference.threshold / fitted if fitted > 0 else float("nan")
        shift = np.abs(self.offset) / self.detector.scaler_.scale_
        return {"threshold_ratio": float(ratio), "level_shift": float(shift.max()) if shift.size else 0.0}

    # ---- restarts ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """Everything the feed holds, JSON-able (`from_state`)."""
        state = {"n_rows": self.n_rows, "recent": self.recent.tolist(), "unsmoothed": self.unsmoothed.tolist(),
                 "readings": [[row, reading.tolist()] for row, reading in self.readings],
                 "waiting": [[row, reading.tolist()] for row, reading in self.waiting],
                 "normal": [reading.tolist() for reading in self.normal], "offset": self.offset.tolist(),
                 "tracker": self.tracker.state()}
        if self.states is not None:  # the watched columns' last readings, which the next row compares with
            state["last_states"] = dict(self.last_states)
        return state

    @classmethod
    def from_state(cls, detector, state: dict) -> "Feed":
        """A feed of `detector` that goes on from `state()` as if it had never stopped."""
        from seqae.alerts import AlertTracker

        feed = cls(detector)
        n_features = int(detector.n_features_in_)
        try:
            recent = np.asarray(state["recent"], dtype=np.float32).reshape(-1, n_features)
            unsmoothed = np.asarray(state["unsmoothed"], dtype=np.float64).reshape(-1, n_features)
            if len(recent) > detector.window_size - 1 or len(unsmoothed) > detector.smoothing - 1:
                raise ValueError("more rows than this model's window and smoothing keep")
            feed.recent, feed.unsmoothed, feed.n_rows = recent, unsmoothed, int(state["n_rows"])
            rows = (lambda pairs: deque((int(r), np.asarray(v, dtype=np.float64).reshape(n_features)) for r, v in pairs))
            feed.readings, feed.waiting = rows(state["readings"]), rows(state["waiting"])
            feed.normal = deque(np.asarray(v, dtype=np.float64).reshape(n_features) for v in state["normal"])
            feed.offset = np.asarray(state["offset"], dtype=np.float64).reshape(n_features)
            feed.last_states = {str(name): float(value) for name, value in state.get("last_states", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the state's rows cannot be read ({type(exc).__name__}: {exc}); start without it") \
                from None
        feed.tracker = AlertTracker.from_state(detector.alert_rules_, state["tracker"])
        if feed.tracker.n_rows != feed.n_rows:
            raise DataError(f"the state's alert tracker has seen {feed.tracker.n_rows} rows and its feed "
                            f"{feed.n_rows}; it is damaged: start without it")
        return feed

    def _empty(self, index: pd.Index) -> Detection:
        n = len(self.feature_names)
        return Detection(index, self.feature_names, np.empty(0), np.empty((0, n)), self.tracker.level,
                         np.empty(0, dtype=np.int8), np.empty(0, dtype=bool), np.empty(0))


def like_verdicts(detector, values: np.ndarray) -> np.ndarray:
    """For each row of `values` (checked readings, a fresh feed), whether the window ending on it is
    like one operators judged normal (`BaseDetector.verdict_gate`; False for every row when the
    model keeps none, and for the rows before the first full window)."""
    gate = detector.verdict_gate()
    if gate is None:
        return np.zeros(len(values), dtype=bool)
    scaled = detector.scaler_.transform(values).astype(np.float32)
    return _known(gate, scaled, detector.window_size, len(values), detector.score_batch_size())


def _known_at(gate, series: np.ndarray, window: int, n_rows: int, rows: np.ndarray) -> np.ndarray:
    """`gate` of the windows ending on rows `rows` (positions among the last `n_rows` rows of the
    scaled `series`, each with a full window), in one batch."""
    ends = np.asarray(rows, dtype=np.int64) + len(series) - n_rows  # each window's last row in `series`
    windows = np.stack([series[end - window + 1:end + 1] for end in ends])  # (batch, window, features)
    return gate(torch.from_numpy(windows))


def _known(gate, series: np.ndarray, window: int, n_rows: int, batch_size: int) -> np.ndarray:
    """`gate` of the window ending on each of the last `n_rows` rows of the scaled `series`."""
    known = np.zeros(n_rows, dtype=bool)
    n_windows = len(series) - window + 1
    if n_windows <= 0:
        return known
    for windows, starts in batched_windows(series, window, 1, batch_size):
        known[starts + n_rows - n_windows] = gate(windows)
    return known


def _joined(parts: list[Detection], feature_names: list[str], level: float) -> Detection:
    """The blocks of one `score` call as one detection."""
    if len(parts) == 1:
        return parts[0]
    cat = np.concatenate
    return Detection(parts[0].index.append([p.index for p in parts[1:]]), feature_names, cat([p.scores for p in parts]),
                     cat([p.contributions for p in parts]), level, cat([p.flags for p in parts]),
                     cat([p.warming_up for p in parts]), cat([p.raw_scores for p in parts]))
