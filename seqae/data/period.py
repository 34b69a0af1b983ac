"""A series' dominant period in rows: the highest peak of its autocorrelation.

What auto-configuration cuts its window to (`seqae.autoconfig.choose_window`), and what a detector
follows each sensor's level over (whole periods: a mean over part of a cycle moves with the phase).
"""

from __future__ import annotations

import numpy as np

PERIOD_MIN_LAG = 3  # the shortest period looked for (TSB-AD's find_length starts at 3 too)
PERIOD_MIN_ACF = 0.2  # an ACF peak weaker than this is not a period


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """ACF of a 1-D series at lags 0..max_lag (FFT, biased estimator as statsmodels' `acf`)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(x)
    spectrum = np.fft.rfft(x, 2 * n)
    acov = np.fft.irfft(spectrum * np.conj(spectrum))[: max_lag + 1]
    return acov / acov[0] if acov[0] > 0 else np.zeros(max_lag + 1)


def find_period(values, *, min_lag: int = PERIOD_MIN_LAG, max_lag: int | None = None,
                min_acf: float = PERIOD_MIN_ACF) -> int | None:
    """The dominant period of a series in rows, or None: over the sensors, the lag of the highest
    local maximum of the autocorrelation between `min_lag` and `max_lag` (default: half the rows),
    if it is at least `min_acf`.

    >>> t = np.arange(1000)
    >>> find_period(np.sin(2 * np.pi * t / 50))
    50
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n = len(values)
    max_lag = n // 2 if max_lag is None else min(max_lag, n // 2)
    best_lag, best_acf = None, min_acf
    for j in range(values.shape[1]):
        x = values[:, j]
        if max_lag <= min_lag + 1 or not np.all(np.isfinite(x)) or np.ptp(x) == 0:
            continue
        r = autocorrelation(x, max_lag)
        inner = r[min_lag:max_lag]  # a peak needs a neighbour on each side
        peaks = np.flatnonzero((inner[1:-1] > inner[:-2]) & (inner[1:-1] >= inner[2:])) + min_lag + 1
        if len(peaks) == 0:
            continue
        top = peaks[np.argmax(r[peaks])]
        if r[top] >= best_acf:
            best_lag, best_acf = int(top), float(r[top])
    return best_lag
