"""Fittable thresholds: objects fitted on scores of normal data that turn scores into flags.

A threshold is not a number hidden inside a model (darts' `QuantileDetector` habit): it is fitted on
the scores of normal data, holds `value_`, can be replaced on a fitted detector, and saves as a
small dict. `flags_to_intervals` groups flagged points into anomalous intervals.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from seqae.errors import ConfigError, DataError, NotFittedError


class Threshold(BaseEstimator):
    """Base class: `fit(normal_scores)` sets `value_`; `flag(scores)` is `scores > value_`."""

    kind = "base"

    def fit(self, scores) -> "Threshold":
        scores = _check_scores(scores)
        self._check_params()
        self.value_ = float(self._fit_value(scores))
        self.n_fit_scores_ = int(len(scores))
        return self

    def flag(self, scores) -> np.ndarray:
        """0/1 flags: 1 where the score is above the fitted value."""
        if not hasattr(self, "value_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(scores) first")
        return (np.asarray(scores, dtype=np.float64) > self.value_).astype(np.int8)

    def to_dict(self) -> dict:
        state = {"kind": self.kind, "params": self.get_params()}
        if hasattr(self, "value_"):
            state["value"] = self.value_
        return state

    def _fit_value(self, scores: np.ndarray) -> float:
        raise NotImplementedError

    def _check_params(self) -> None:
        pass


class QuantileThreshold(Threshold):
    """The `q` quantile of the normal scores (0.99: about 1 % of normal points flagged)."""

    kind = "quantile"

    def __init__(self, q: float = 0.99):
        self.q = q

    def _check_params(self) -> None:
        if not 0.0 < self.q < 1.0:
            raise ConfigError(f"quantile q must be between 0 and 1 (exclusive), got {self.q}")

    def _fit_value(self, scores: np.ndarray) -> float:
        return np.quantile(scores, self.q)


class UpperControlLimit(Threshold):
    """SKAB's rule: the `q` quantile of the training scores times `factor`.

    SKAB's LSTM-AE notebook uses q=0.99, factor=3/2; its Conv-AE uses factor=4/3.
    """

    kind = "ucl"

    def __init__(self, q: float = 0.99, factor: float = 1.5):
        self.q = q
        self.factor = factor

    def _check_params(self) -> None:
        if not 0.0 < self.q < 1.0:
            raise ConfigError(f"quantile q must be between 0 and 1 (exclusive), got {self.q}")
        if not self.factor > 0:
            raise ConfigError(f"factor must be positive, got {self.factor}")

    def _fit_value(self, scores: np.ndarray) -> float:
        return np.quantile(scores, self.q) * self.factor


class FixedThreshold(Threshold):
    """A value the user chose; fitting leaves it as it is."""

    kind = "fixed"

    def __init__(self, value: float = 0.0):
        self.value = value

    def _fit_value(self, scores: np.ndarray) -> float:
        return self.value


THRESHOLDS: dict[str, type[Threshold]] = {
    cls.kind: cls for cls in (QuantileThreshold, UpperControlLimit, FixedThreshold)
}


def register_threshold(cls: type[Threshold]) -> type[Threshold]:
    """Make a Threshold subclass known by its `kind` to `make_threshold` and `threshold_from_dict`."""
    THRESHOLDS[cls.kind] = cls
    return cls


def make_threshold(kind: str, **params) -> Threshold:
    """Build a threshold by kind name (`quantile`, `ucl`, `fixed`, ...) with its parameters."""
    if kind not in THRESHOLDS:
        raise ConfigError(f"unknown threshold {kind!r}; choose one of {', '.join(sorted(THRESHOLDS))}")
    cls = THRESHOLDS[kind]
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"threshold {kind!r} takes no parameter {unknown[0]!r}; it takes {', '.join(valid) or 'none'}"
        )
    return cls(**params)


def threshold_from_dict(state: dict) -> Threshold:
    """Rebuild a threshold saved with `Threshold.to_dict`."""
    threshold = make_threshold(state["kind"], **state.get("params", {}))
    if "value" in state:
        threshold.value_ = float(state["value"])
    return threshold


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


def _check_scores(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise DataError("cannot fit a threshold on no scores; give it the scores of some normal data")
    if not np.all(np.isfinite(scores)):
        raise DataError(f"cannot fit a threshold on scores with {int((~np.isfinite(scores)).sum())} non-finite values")
    return scores
