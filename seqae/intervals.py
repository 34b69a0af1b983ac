"""Runs of flagged rows as intervals of row positions (the plots, the range metrics and the expected
readings' table read flags this way)."""

from __future__ import annotations

import numpy as np


def flags_to_intervals(flags) -> list[tuple[int, int]]:
    """Runs of consecutive 1s as `(first, last)` row positions, both inclusive.

    >>> flags_to_intervals([0, 1, 1, 0, 0, 1, 0, 1])
    [(1, 2), (5, 5), (7, 7)]
    """
    flags = np.asarray(flags).astype(bool)
    if flags.size == 0:
        return []
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(s), int(e)) for s, e in zip(starts, ends)]
