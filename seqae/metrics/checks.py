"""The checks every metric runs on its inputs, and the small arithmetic they share."""

from __future__ import annotations

import math

import numpy as np

from seqae.errors import DataError


def ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


def check_binary(values, name: str, length: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        array = array.reshape(-1) if array.ndim == 2 and 1 in array.shape else array
    if array.ndim != 1:
        raise DataError(f"{name} must be one 0/1 value per time point (1-D), got shape {array.shape}")
    if length is not None and array.size != length:
        raise DataError(f"{name} has {array.size} values but y_true has {length}; give one per time point")
    if array.size == 0:
        raise DataError(f"{name} is empty; give one 0/1 value per time point")
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{name} must hold 0/1 values, got dtype {array.dtype}")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{name} must hold only 0 and 1, found {int(bad.sum())} other values "
                        f"(first at position {first}: {array[first]!r})")
    return array.astype(bool)


def check_scores(scores, length: int) -> np.ndarray:
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("scores must be numbers, one per time point") from None
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise DataError(f"scores must be one value per time point (1-D), got shape {array.shape}")
    if array.size != length:
        raise DataError(f"scores has {array.size} values but y_true has {length}; give one per time point")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"scores has {int(bad.sum())} non-finite values (first at position {first}: "
                        f"{array[first]}); score every point or drop the unscored ones from y_true too")
    return array


def one_class(y_true: np.ndarray) -> bool:
    n_anomalous = int(np.count_nonzero(y_true))
    return n_anomalous == 0 or n_anomalous == y_true.size


def is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)
