"""The rows each alert of a watch was raised on, kept for a verdict given later (`seqae feedback`).

    the rows a LiveScorer just scored (times, readings; row positions of the feed) + its alerts
      --AlertRows.add--> each alert's rows with the window_size - 1 rows before it (what its first
      window saw), at most MAX_ALERT_ROWS of its own (its first ones), as `seqae score` keeps them
      (`seqae.verdicts.alert_rows`)
      --changed()--> the rows of the alerts that moved since the last call (the monitoring run logs them)
      --followed_levels()--> each sensor's followed level when the scorer's alerts fired, read off
      them (`Alert.followed_level`, which the scorer keeps and saves itself)
      --raised_by--> the model answering when each alert fired, as the watch named it (`answering`:
      a watch following an alias names each version it switches to), for a verdict to go to the
      model that raised the alert

An alert fires some rows after its episode began (its `start`): the rows of the episode going on,
with the `window_size - 1` before it, wait here until it fires or ends. A fired alert gathers rows
until its close is final (its end may still move within its cooldown), then is cut at its end.

Bounded: the rows of the alerts the scorer still keeps (`LiveScorer.alerts_kept`), at most
`KEPT_ROWS` rows in all (the oldest closed alerts' rows are let go first; the monitoring run
logged them when they closed). `state()` / `load_state` carry them (and `raised_by`) across a restart in the
watch's state file (`seqae.streaming.state`), bit for bit; the rows answered after the state's
last whole write are gone over again by `resume`, which adds them here again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqae.alerts import followed_levels as levels_of
from seqae.data.regular import block_from_state, block_state
from seqae.detectors import BaseDetector
from seqae.errors import DataError
from seqae.streaming.live import LiveScorer
from seqae.verdicts import MAX_ALERT_ROWS

KEPT_ROWS = 100_000  # rows of all the alerts kept at once


class _Rows:
    """Contiguous rows of a feed: their times, readings and row positions, gathered in parts."""

    def __init__(self, index: pd.Index, values: np.ndarray, first: int):
        self.parts = [(index, np.asarray(values, dtype=np.float64))]
        self.first = int(first)  # the position of the first row
        self.n = len(index)

    @property
    def stop(self) -> int:
        """The position after the last row."""
        return self.first + self.n

    def append(self, index: pd.Index, values: np.ndarray) -> None:
        if len(index):
            self.parts.append((index, np.asarray(values, dtype=np.float64)))
            self.n += len(index)

    def whole(self) -> tuple[pd.Index, np.ndarray]:
        if len(self.parts) > 1:
            index = self.parts[0][0].append([part[0] for part in self.parts[1:]])
            self.parts = [(index, np.concatenate([part[1] for part in self.parts]))]
        return self.parts[0]

    def between(self, lo: int, hi: int) -> tuple[pd.Index, np.ndarray]:
        """The rows at positions lo .. hi - 1 (those of them held)."""
        index, values = self.whole()
        lo, hi = max(lo - self.first, 0), max(min(hi - self.first, self.n), 0)
        return index[lo:hi], values[lo:hi]

    def keep_from(self, position: int) -> None:
        index, values = self.between(position, self.stop)
        self.first, self.n, self.parts = max(self.first, min(position, self.stop)), len(index), [(index, values)]

    def keep_until(self, stop: int) -> None:
        index, values = self.between(self.first, stop)
        self.n, self.parts = len(index), [(index, values)]

    def state(self) -> dict:
        index, values = self.whole()
        return block_state(index, values, np.arange(self.first, self.stop, dtype=np.int64))

    @classmethod
    def from_state(cls, state: dict) -> "_Rows":
        index, values, positions = block_from_state(state)
        return cls(index, values, int(positions[0]) if len(positions) else 0)


class AlertRows:
    """Each alert a watch raises, its rows as read and its followed level: `add` after each block
    scored, `rows`/`changed`/`followed_levels` for the monitoring run, `state`/`load_state` for a restart."""

    def __init__(self, feature_names: list[str], window_size: int, max_rows: int = MAX_ALERT_ROWS,
                 kept_rows: int = KEPT_ROWS):
        self.columns = [str(name) for name in feature_names]
        self.context = max(0, int(window_size) - 1)
        self.max_rows, self.kept_rows = int(max_rows), int(kept_rows)
        self.recent: _Rows | None = None  # the rows an alert that fires next may need
        self.alerts: dict[int, _Rows] = {}  # alert id -> its rows, in id order
        self.starts: dict[int, int] = {}  # alert id -> its first row's position
        self.open: set[int] = set()  # the alerts kept whose close is not final yet
        self.raised: list = []  # the alerts of the scorer last seen (its tracker's list): their followed levels
        self.next_id = 0  # the alerts with a lower id have been seen
        self.total = 0  # rows of all the alerts kept
        self.model: dict | None = None  # the model answering, as `answering` named it (None: not named yet)
        self.raised_by: dict[int, dict] = {}  # alert id -> the model answering when it fired, in id order
        self._changed: set[int] = set()
        self._unmarked: list[int] = []  # the alerts that fired before a model was named

    @classmethod
    def for_detector(cls, detector: BaseDetector) -> "AlertRows":
        return cls(list(detector.feature_names_in_), detector.window_size)

    def add(self, scorer: LiveScorer, index: pd.Index, values: np.ndarray) -> None:
        """The rows `scorer` has just scored (its last `len(index)` rows; their readings in the model's
        columns alone): kept for the alerts they belong to, and for an alert that may fire next."""
        n_rows = len(index)
        if not n_rows:
            return
        stop = scorer.n_rows
        first = stop - n_rows
        self.context = max(0, int(scorer.detector.window_size) - 1)  # the version answering
        if self.recent is None or self.recent.stop != first:  # the first rows, or rows before these were not seen
            self.recent = _Rows(index, values, first)
        else:
            self.recent.append(index, values)
        alerts = self.raised = scorer.tracker.alerts
        oldest = min(self.open | {self.next_id})
        recent = []  # the alerts that fired or may still change: the last ones
        for alert in reversed(alerts):
            if alert.alert_id < oldest:
                break
            recent.append(alert)
        for alert in reversed(recent):  # in id order
            self._gather(alert, stop)
        if alerts:  # the alerts the scorer let go (the oldest ones): their rows too, and who raised them
            while self.alerts and next(iter(self.alerts)) < alerts[0].alert_id:
                self._drop(next(iter(self.alerts)))
            while self.raised_by and next(iter(self.raised_by)) < alerts[0].alert_id:
                del self.raised_by[next(iter(self.raised_by))]
        if self.total > self.kept_rows:
            self._bound()
        needed = scorer.tracker.earliest_open_row()  # the episode going on began there (or none goes on)
        if any(self.starts[alert_id] == needed for alert_id in self.open):
            needed = stop  # the episode is an alert that gathers its own rows
        self.recent.keep_from(max(needed - self.context, stop - self.context - self.max_rows))

    def _gather(self, alert, stop: int) -> None:
        """Alert `alert`'s rows up to position `stop` (its first `max_rows` and the context before them)."""
        alert_id = int(alert.alert_id)
        kept = self.alerts.get(alert_id)
        last = alert.start + self.max_rows  # the position after its last row kept
        if kept is None:
            if alert_id < self.next_id:  # seen before, and let go (or never held)
                return
            self.next_id = alert_id + 1
            self._mark(alert_id)
            lo = max(alert.start - self.context, 0)
            if self.recent.first > alert.start:  # its first rows came before the rows held (a restart without them)
                return
            index, values = self.recent.between(lo, min(stop, last))
            kept = self.alerts[alert_id] = _Rows(index, values, max(lo, self.recent.first))
            self.starts[alert_id] = int(alert.start)
            self.open.add(alert_id)
            self.total += kept.n
        elif alert_id in self.open:
            if kept.stop < self.recent.first:  # rows between went unseen: it keeps its first rows
                self.open.discard(alert_id)
                return
            before = kept.n
            kept.append(*self.recent.between(kept.stop, min(stop, last)))
            self.total += kept.n - before
        else:
            return
        if alert.closed:
            before = kept.n
            kept.keep_until(alert.end + 1)
            self.total += kept.n - before
            self.open.discard(alert_id)
        self._changed.add(alert_id)

    def answering(self, model: dict) -> None:
        """The model answering from the next row on, as the monitoring run names it (e.g. its URI and
        run id): each alert that fires from now on is marked with it in `raised_by`, and so are the
        alerts that fired before a model was named (the rows a restart went over again, answered by
        the model it restarted with)."""
        self.model = dict(model)
        for alert_id in self._unmarked:
            self.raised_by[alert_id] = self.model
        self._unmarked = []

    def _mark(self, alert_id: int) -> None:
        if self.model is None:
            self._unmarked.append(alert_id)
        else:
            self.raised_by[alert_id] = self.model

    def _drop(self, alert_id: int) -> None:
        self.total -= self.alerts.pop(alert_id).n
        self.starts.pop(alert_id, None)
        self.open.discard(alert_id)
        self._changed.discard(alert_id)

    def _bound(self) -> None:
        """At most `kept_rows` rows in all: the oldest closed alerts' rows let go first."""
        for alert_id in list(self.alerts):
            if self.total <= self.kept_rows:
                break
            if alert_id not in self.open:
                self._drop(alert_id)

    def rows(self, alert_id: int) -> pd.DataFrame | None:
        """Alert `alert_id`'s rows kept (time index, the model's columns), or None."""
        kept = self.alerts.get(int(alert_id))
        if kept is None:
            return None
        index, values = kept.whole()
        return pd.DataFrame(values, index=index, columns=self.columns)

    @property
    def moved(self) -> bool:
        """Some alert fired or gathered rows since the last `changed()` (all the alerts kept after a restart)."""
        return bool(self._changed)

    def changed(self) -> dict[int, pd.DataFrame]:
        """The rows of the alerts that fired or gathered rows since the last call (all the alerts kept
        after a restart)."""
        out = {alert_id: self.rows(alert_id) for alert_id in sorted(self._changed) if alert_id in self.alerts}
        self._changed = set()
        return out

    def followed_levels(self) -> dict[int, list[float]]:
        """Alert id -> each sensor's followed level when it fired, for the alerts the scorer keeps."""
        return levels_of(self.raised)

    # ---- restarts ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """Everything kept, JSON-able, the rows bit for bit."""
        return {"next_id": self.next_id, "recent": None if self.recent is None else self.recent.state(),
                "raised_by": {str(alert_id): model for alert_id, model in self.raised_by.items()},
                "alerts": [{"alert_id": alert_id, "start": self.starts[alert_id], "open": alert_id in self.open,
                            "rows": kept.state()} for alert_id, kept in self.alerts.items()]}

    def load_state(self, state: dict | None, scorer: LiveScorer) -> None:
        """Go on from `state()` (None: a state file written without alert rows: nothing kept; without
        `raised_by`: the alerts kept before the restart raised by a model not named), beside
        `scorer` restored from the same state file (its alerts' followed levels)."""
        self.raised = scorer.tracker.alerts
        if state is None:
            return
        try:
            self.next_id = int(state["next_id"])
            self.recent = None if state["recent"] is None else _Rows.from_state(state["recent"])
            for entry in state["alerts"]:
                alert_id = int(entry["alert_id"])
                self.alerts[alert_id] = _Rows.from_state(entry["rows"])
                self.total += self.alerts[alert_id].n
                self.starts[alert_id] = int(entry["start"])
                if entry["open"]:
                    self.open.add(alert_id)
            self.raised_by = {int(alert_id): dict(model) for alert_id, model in (state.get("raised_by") or {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the state's alert rows cannot be read ({type(exc).__name__}: {exc}); start "
                            "without it") from None
        self._changed = set(self.alerts)  # a new monitoring run: none of them logged there yet
