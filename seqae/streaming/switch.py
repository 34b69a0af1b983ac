"""A live feed handed from one model to another between two rows, none lost and none answered twice.

`seqae watch models:/NAME@ALIAS` follows the alias (`seqae.tracking.watch`): when it points at
another version, the watch builds that version's scorer with `switched` and scores the next row
with it. What the new scorer holds:

- **its own warm-up, as a fresh watch of the last rows would have it**: the feed's last scored rows
  (`RecentRows`, raw readings: they mean the same to any model) are scored again by the new model,
  unanswered, so its window, smoothing, the alert rules' burn-in and its normal reference are those
  of a watch that had seen them; each sensor's level starts from the new model's training rows.
  Everything in raw-score units belongs to the model that made it and stays behind with it.
- **the live alerts**: the alerts raised so far, the count their ids go on from, the alert going
  on (or within its cooldown) and the rows learnt as a new normal are the feed's, not the model's:
  they carry over, so an open alert stays open, with its id, until the new model's scores close it;
  no alert opens twice. The rows of an episode still going on are not learnt by the new reference
  when it ends (their raw scores were the old model's).
- **the state columns' last readings**: each column both models watch (`seqae.data.states`) keeps
  the feed's last reading, so the first reading after the switch is compared with it (a transition
  across the switch is reported, a constant that moved before it is not reported again).

What the watch reads changes with it (`read_for`): the row parser reads the state columns the new
model watches from the next row on, and the row shaper holds them as that model holds them, so a
column the old model did not watch (a command that toggled only in the new model's training rows)
is read, held and its events reported from the switch on. What they settled stays: the separator,
the time format, the last row's time, the last readings of the columns still read and the rows
waiting for a later time (a column new to the feed has no reading in those: they were read before).

Row positions go on from the old scorer's: the first row after the switch is row `n_rows` of the
feed for both, so alert rows and the every-`REFRESH_ROWS` refreshes keep their places.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqae.alerts import AlertTracker
from seqae.data import RowParser, RowShaper, shaper_for_detector
from seqae.data.regular import block_from_state, block_state
from seqae.detectors import BaseDetector
from seqae.errors import ConfigError, DataError
from seqae.streaming.live import LiveScorer

# The alert tracker's state that belongs to the feed (`AlertTracker.state`), carried to the new model;
# the rest (its normal reference, the rows it has scored for the burn-in) is the new model's own.
FEED_ALERT_KEYS = ("alerts", "n_alerts", "n_settled", "episode", "last_closed", "on", "since", "learn_until",
                   "level")


def rows_to_warm(detector: BaseDetector) -> int:
    """The rows a fresh watch of `detector` answers `warming_up` before its first judged row: the
    first full window, the smoothing and the alert rules' burn-in."""
    return int(detector.window_size) - 1 + int(detector.smoothing) - 1 + int(detector.alert_rules_.burn_in)


class RecentRows:
    """The last `size` rows a feed scored, raw (times, readings, file lines), for the next model to
    warm up on. `size`: twice what the current model needs (`rows_to_warm`), at least 64."""

    def __init__(self, size: int):
        self.size = int(size)
        self.index: pd.Index | None = None
        self.values = np.empty((0, 0))
        self.lines = np.empty(0, dtype=np.int64)

    @classmethod
    def for_detector(cls, detector: BaseDetector) -> "RecentRows":
        return cls(max(2 * rows_to_warm(detector), 64))

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, index: pd.Index, values: np.ndarray, lines) -> None:
        """The rows just scored (in the feed's order): their readings in the model's columns alone
        (the watched state columns split off, `seqae.streaming.live.split_watched`)."""
        if not len(index):
            return
        values = np.asarray(values, dtype=np.float64)
        lines = np.asarray(lines, dtype=np.int64)
        if self.index is None or not len(self.index):
            self.index, self.values, self.lines = index[-self.size:], values[-self.size:], lines[-self.size:]
            return
        self.index = self.index.append(index)[-self.size:]
        self.values = np.concatenate([self.values, values])[-self.size:]
        self.lines = np.concatenate([self.lines, lines])[-self.size:]

    def last(self, n: int) -> tuple[pd.Index, np.ndarray]:
        """The last `n` rows kept (fewer when fewer came): their times and readings."""
        if self.index is None or n <= 0:
            return pd.RangeIndex(0), np.empty((0, self.values.shape[1] if self.values.ndim == 2 else 0))
        return self.index[-n:], self.values[-n:]

    def state(self) -> dict | None:
        """The rows kept, JSON-able, bit for bit (None when none came yet)."""
        if self.index is None or not len(self.index):
            return None
        return block_state(self.index, self.values, self.lines)

    def load_state(self, state: dict | None) -> None:
        if state is None:
            return
        try:
            index, values, lines = block_from_state(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the state's recent rows cannot be read ({type(exc).__name__}: {exc}); start "
                            "without it") from None
        self.add(index, values, lines)


def switched(scorer: LiveScorer, detector: BaseDetector, recent: RecentRows) -> LiveScorer:
    """A scorer of `detector` that goes on from the next row of `scorer`'s feed: warmed on the last
    `rows_to_warm(detector)` rows of `recent`, with `scorer`'s alerts and the last readings of the
    state columns both watch (see the module docstring).
    A `ConfigError` when `detector` reads other sensors than the feed's."""
    expected, found = list(scorer.feature_names), [str(n) for n in detector.feature_names_in_]
    if found != expected:
        raise ConfigError(f"the new model reads the sensors {found}, the feed has {expected}; it cannot take "
                          "over this watch: start a new watch with it")
    index, values = recent.last(min(rows_to_warm(detector), scorer.n_rows))
    new = LiveScorer(detector, scorer.tracker.level)
    start = scorer.n_rows - len(index)
    new.feed.n_rows = new.tracker.n_rows = new.tracker.n_settled = start
    if len(index):
        new.score(values, index)  # unanswered: the warm-up of a watch that had seen these rows
    carried, own = scorer.tracker.state(), new.tracker.state()
    merged = {**own, **{key: carried[key] for key in FEED_ALERT_KEYS if key in carried}, "quarantine": []}
    new.feed.tracker = AlertTracker.from_state(detector.alert_rules_, merged)
    new.feed.last_states = {name: value for name, value in scorer.feed.last_states.items() if name in new.watched}
    new.events = []
    return new


def read_for(scorer: LiveScorer, parser: RowParser, shaper: RowShaper | None) -> RowShaper | None:
    """The watch's reading made that of `scorer`'s model from the next row on: `parser` reads the
    state columns the model watches (`RowParser.read_optional`: what it settled stays), and the shaper
    returned (None where the rows go on as they come) holds the columns as the model holds them, with
    the rows `shaper` had waiting carried over (no reading in a column new to the feed)."""
    take = parser.read_optional(scorer.watched)
    new = shaper_for_detector(scorer.detector, parser.name, parser.options, parser.columns)
    return new.carry(shaper, take) if new is not None and shaper is not None else new
