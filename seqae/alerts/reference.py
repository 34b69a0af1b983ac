"""What normal scores look like now: the calibration scores of the fit, plus the recent scores of the
feed judged normal, against which each new score is calibrated.

    raw score x_t --(x - median) / (threshold - median) of the reference as it stood--> calibrated c_t
      (1.0 = the model's threshold, 0 = a typical normal score; comparable across files and models)

The threshold keeps its place in the reference: fitted at `r0` times the reference's
(`SPREAD_QUANTILE` quantile - median) above its median, it stays there as the reference moves, so
a quantile threshold stays that quantile of recent normal scores ("thresholds that recalibrate on
recent scores"). Rows join the reference `delay` rows after they were scored (`admit`), and only
when the rules judged them normal; the oldest joined rows leave past `capacity`; the calibration
scores stay. The median, the threshold and the exceedance tail are worked out again every
`REFRESH_ROWS` rows of the feed, from the rows joined by then: everything depends on row numbers,
not on how the rows were split into chunks, so a feed scored whole, in chunks or row by row gets
the same numbers.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from seqae.errors import DataError

REFRESH_ROWS = 16  # the statistics are worked out again at every multiple of this many rows
SPREAD_QUANTILE = 0.99  # the threshold's place: r0 x (this quantile - median) above the median
TAIL_SHARE = 0.1  # the exceedance beyond the reference's top 10 % follows an exponential tail
MAX_CALIBRATION = 2000  # calibration scores kept (evenly spaced order statistics of them beyond)


def sorted_sample(scores, size: int = MAX_CALIBRATION) -> np.ndarray:
    """The finite `scores` sorted, or `size` evenly spaced order statistics of them when there are more."""
    values = np.sort(np.asarray(scores, dtype=np.float64).reshape(-1))
    values = values[np.isfinite(values)]
    if values.size > size:
        values = values[np.linspace(0, values.size - 1, size).round().astype(np.int64)]
    return values


def quantile_of_sorted(values: np.ndarray, q: float) -> float:
    """`np.quantile(values, q)` (linear interpolation) of an already sorted array."""
    position = q * (values.size - 1)
    low = int(math.floor(position))
    high = min(low + 1, values.size - 1)
    return float(values[low] + (values[high] - values[low]) * (position - low))


class NormalReference:
    """The calibration scores and the admitted recent ones, with the statistics of the last refresh.

    `calibration`: sorted normal scores the model was not trained on; `r0`: where the threshold sits
    (see the module docstring); `delay`, `capacity`: rows before an admitted score joins, and how
    many joined scores are kept (0: the reference never moves)."""

    def __init__(self, calibration: np.ndarray, r0: float, delay: int, capacity: int):
        if calibration.size == 0:
            raise DataError("alert rules need some calibration scores (normal rows held out from training)")
        self.calibration = calibration
        self.r0, self.delay, self.capacity = float(r0), int(delay), int(capacity)
        self.joined: deque[float] = deque()  # admitted scores that joined, oldest first
        self.waiting: deque[tuple[int, float]] = deque()  # (row due, score) admitted, not joined yet
        self.admitted: list[int] = []  # rows admitted since the last `take_admitted`
        self.values = calibration  # calibration and joined scores, sorted
        self._statistics()

    # ---- the feed ---------------------------------------------------------------------------------

    def admit(self, row: int, score: float, at_once: bool = False) -> None:
        """A row judged normal: its score joins the reference `delay` rows after `row` (`at_once`: at
        the next refresh, for the rows that calibrate a feed's start)."""
        if self.capacity > 0:
            self.waiting.append((row - self.delay if at_once else row, float(score)))
            self.admitted.append(row)

    def take_admitted(self) -> list[int]:
        """The rows admitted since the last call (what else follows the normal rows: a sensor's level)."""
        rows, self.admitted = self.admitted, []
        return rows

    def refresh(self, row: int) -> None:
        """At row `row` (a multiple of `REFRESH_ROWS`): the admitted scores due by then join, the
        oldest beyond `capacity` leave, and the statistics are worked out again."""
        due = []
        while self.waiting and self.waiting[0][0] <= row - self.delay:
            due.append(self.waiting.popleft()[1])
        if not due:
            return
        self.joined.extend(due)
        gone = [self.joined.popleft() for _ in range(max(0, len(self.joined) - self.capacity))]
        values = self.values
        if gone:
            positions = np.searchsorted(values, np.asarray(gone), side="left")
            # equal values are interchangeable: remove the first copy of each, one per score gone
            keep = np.ones(values.size, dtype=bool)
            for position in np.sort(positions):
                while not keep[position]:
                    position += 1
                keep[position] = False
            values = values[keep]
        added = np.sort(np.asarray(due))
        self.values = np.insert(values, np.searchsorted(values, added, side="left"), added)
        self._statistics()

    # ---- what a score means -----------------------------------------------------------------------

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """Each raw score in threshold units: 0 at the reference's median, 1 at the threshold."""
        return (np.asarray(scores, dtype=np.float64) - self.median) / self.spread

    @property
    def threshold(self) -> float:
        """The threshold in raw score units, as the reference stands."""
        return self.median + self.spread

    def severity(self, score: float) -> float:
        """-log10 of the chance that a normal row scores at least `score`: the reference's share at or
        above it, and beyond its top `TAIL_SHARE` an exponential tail fitted to that top, so that it
        keeps growing past the largest normal score and two alerts beyond it still differ, however
        near it (from the largest normal score on, the tail goes on from its empirical share
        1 / (n + 1); worked out in logs: no underflow however far)."""
        n = self.values.size
        empirical = -math.log10((1.0 + n - np.searchsorted(self.values, score, side="left")) / (n + 1.0))
        if score <= self.tail_start:
            return float(empirical)
        tail = -math.log10(self.tail_share) + (score - self.tail_start) / self.tail_scale / math.log(10.0)
        if score > self.values[-1]:
            # above every normal score the empirical share stops at 1 / (n + 1): the same tail goes on
            # from there, so that two scores beyond the largest never tie
            tail = max(tail, empirical + (score - self.values[-1]) / self.tail_scale / math.log(10.0))
        return float(max(tail, empirical))

    def _statistics(self) -> None:
        values = self.values
        self.median = quantile_of_sorted(values, 0.5)
        gap = quantile_of_sorted(values, SPREAD_QUANTILE) - self.median
        floor = 1e-9 * max(1.0, abs(self.median))
        self.spread = max(self.r0 * max(gap, floor), floor)
        share = min(max(TAIL_SHARE, 10.0 / values.size), 1.0)
        self.tail_start = quantile_of_sorted(values, 1.0 - share)
        excess = values[values > self.tail_start] - self.tail_start
        self.tail_share = excess.size / values.size if excess.size else 1.0 / (values.size + 1)
        self.tail_scale = float(excess.mean()) if excess.size and excess.mean() > 0 else \
            float(max(values[-1] - values[0], 1e-12))

    # ---- saving -------------------------------------------------------------------------------------

    def state(self) -> dict:
        """What a restart needs beyond the calibration (which the rules keep): the joined and waiting scores."""
        return {"joined": list(self.joined), "waiting": [[row, value] for row, value in self.waiting]}

    def load_state(self, state: dict) -> None:
        joined = [float(v) for v in state["joined"]]
        self.waiting = deque((int(row), float(value)) for row, value in state["waiting"])
        self.joined = deque()
        self.values = self.calibration
        if joined:
            self.joined.extend(joined)
            added = np.sort(np.asarray(joined))
            self.values = np.insert(self.values, np.searchsorted(self.values, added, side="left"), added)
        self._statistics()
