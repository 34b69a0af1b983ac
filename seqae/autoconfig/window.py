"""The window auto-configuration reads a series with: its dominant period (the ACF's highest peak,
`seqae.data.period`), then as many whole periods as the held-out rows hold."""

from __future__ import annotations

import numpy as np

VALIDATION_FRACTION = 0.2  # the held-out share of the training rows, as every detector's default
MIN_WINDOW, MAX_WINDOW = 8, 256  # the window's range in rows


def choose_window(n_rows: int, period: int | None, validation_fraction: float = VALIDATION_FRACTION) -> int:
    """The window for `n_rows` training rows: as long as the held-out rows allow (every window must
    fit in them, and at most MAX_WINDOW rows), cut to a whole number of periods when there is one.

    Long windows let a window model see a level shift or a broken rhythm against its context; the
    held-out rows bound them because the detectors hold those out for validation."""
    cap = int(np.clip(int(n_rows * validation_fraction), MIN_WINDOW, MAX_WINDOW))
    if period is None or period >= cap:
        return cap
    return int(max(MIN_WINDOW, period * (cap // period)))
