"""The record rule's memory (`AlertRules.record`): the highest raw score of a feed's last rows.

    each scored row no alert was on at --remember(row, score)--> a sliding maximum of the last
      `span` rows (a deque of decreasing scores: each row goes in and out once)
      --before(row)--> the score an episode beginning at `row` must beat to fire

Bounded by the span whatever the feed's length, and saved as a list of (row, score) for a restart.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class Record:
    """The highest raw scores of the last `span` rows remembered (0: no rule, nothing kept)."""

    def __init__(self, span: int):
        self.span = int(span)
        self._rows: deque[tuple[int, float]] = deque()  # (row, score), scores decreasing

    def remember(self, row: int, score: float) -> None:
        """A scored row's raw score (rows in increasing order)."""
        if not self.span:
            return
        rows = self._rows
        while rows and rows[-1][1] <= score:
            rows.pop()
        rows.append((row, score))
        while rows[0][0] < row - self.span:
            rows.popleft()

    def before(self, row: int) -> float:
        """The highest score remembered of the `span` rows before `row` (-inf: none, or no rule)."""
        rows = self._rows
        while rows and rows[0][0] < row - self.span:
            rows.popleft()
        return rows[0][1] if rows else -np.inf

    def state(self) -> list:
        return [[row, score] for row, score in self._rows]

    def load_state(self, state) -> None:
        self._rows = deque((int(row), float(score)) for row, score in state)
