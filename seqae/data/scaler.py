"""The per-sensor scaler, fitted on training rows only and saved as plain JSON."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqae.errors import ConfigError, DataError


@dataclass
class Scaler:
    """Per-sensor standardisation `(x - mean_) / scale_`, fitted on training rows only (`mean_` is
    the median when fitted with `method="robust"`).

    A constant sensor gets `scale_ = 1` so that it never turns into NaN. Scaled values are clipped
    to +-`CLIP` standard deviations: a reading that far out is anomalous either way, and clipping
    keeps it (and its squared error) finite in float32 instead of turning the scores to NaN.
    """

    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None

    CLIP = 1e6

    DEGENERATE = 10  # a robust spread below 1/DEGENERATE of the 10th-90th percentile range is degenerate

    METHODS = ("standard", "robust")

    def fit(self, values: np.ndarray, method: str = "standard") -> "Scaler":
        """`standard`: mean and standard deviation; `robust`: median and IQR / 1.349 (the standard
        deviation of a normal distribution), which a minority of anomalous or drifting training rows
        barely moves. A sensor whose IQR is degenerate falls back to its standard deviation: 0, or
        less than 1/`DEGENERATE` of its 10th-90th percentile range (readings quantised to a few
        levels, most rows on one: a flow meter at 32.000 for half the rows, 31 and 33 for the rest,
        has an IQR of 0.001 and would count a normal step of 1 as 1,300 spreads, dwarfing every
        other sensor); a constant one to 1. For normally distributed readings the IQR / 1.349 is
        four times the floor, and up to a tenth of far-off training rows leave the 10th-90th
        percentile range alone, so the rule spares both."""
        if method not in self.METHODS:
            raise ConfigError(f"scaling must be one of {', '.join(self.METHODS)}, got {method!r}")
        values = np.asarray(values, dtype=np.float64)  # (n_timepoints, n_features)
        # Moments of values / peak, scaled back: no overflow for readings near the float64 limit.
        peak = np.abs(values).max(axis=0)
        unit = np.where(peak > 0, peak, 1.0)
        std = (values / unit).std(axis=0) * unit  # also the fallback of a robust scale
        if method == "standard":
            self.mean_ = (values / unit).mean(axis=0) * unit
        else:
            self.mean_ = np.median(values, axis=0)
            q10, q25, q75, q90 = np.percentile(values / unit, [10, 25, 75, 90], axis=0)
            iqr = (q75 - q25) * unit / 1.349
            usable = (iqr > 1e-12 * np.maximum(1.0, np.abs(self.mean_))) & (iqr >= (q90 - q10) * unit / self.DEGENERATE)
            std = np.where(usable, iqr, std)
        tiny = std <= 1e-12 * np.maximum(1.0, np.abs(self.mean_))
        self.scale_ = np.where(tiny, 1.0, std)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        scaled = (np.asarray(values, dtype=np.float64) - self.mean_) / self.scale_
        return np.clip(scaled, -self.CLIP, self.CLIP).astype(np.float32)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.scale_ + self.mean_

    def to_dict(self) -> dict:
        return {"mean": [float(v) for v in self.mean_], "scale": [float(v) for v in self.scale_]}

    @classmethod
    def from_dict(cls, state: dict) -> "Scaler":
        mean = np.asarray(state["mean"], dtype=np.float64)
        scale = np.asarray(state["scale"], dtype=np.float64)
        if mean.shape != scale.shape or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise DataError("scaler state is damaged: mean and scale must be finite lists of equal length")
        return cls(mean, scale)
