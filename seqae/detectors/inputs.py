"""The checks a detector's input passes: a table of finite numbers, one column per sensor, in the
fitted order, and at least as many rows as the detector needs. Pure: they change nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from seqae.errors import DataError, missing_columns_message


def check_table(X, names: list[str] | None, window_size: int, min_rows: int | None = None,
                owner: str = "the detector") -> tuple[np.ndarray, pd.Index, list[str]]:
    """`X` (a frame, or an array: its columns named `x0`, `x1`, ...) as `(n_timepoints, n_features)`
    float64, its index and its column names; a `DataError` naming what is wrong otherwise.

    `names`: the sensor columns expected (a fitted detector's), which a frame's columns are put in
    the order of; None takes `X`'s as they are. `min_rows`: the fewest rows accepted (default: one
    window of `window_size`). `owner` names the fitted detector in a column-count mismatch."""
    if isinstance(X, pd.DataFrame):
        columns = [str(c) for c in X.columns]
        if names is not None:
            missing = [n for n in names if n not in columns]
            if missing:
                raise DataError(missing_columns_message(missing, columns, names))
            X = X.set_axis(columns, axis=1)[list(names)]
        names = columns if names is None else names
        index = X.index
        try:
            values = X.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            bad = next(c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]))
            raise DataError(f"column {bad!r} is not numeric (dtype {X[bad].dtype}); "
                            "read the file with read_sensor_csv or convert it") from None
    else:
        values = np.asarray(X, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        index = pd.RangeIndex(len(values))
    if values.ndim != 2:
        raise DataError(f"expected a 2-D table (time × sensors), got an array of shape {values.shape}")
    if names is None:
        names = [f"x{j}" for j in range(values.shape[1])]
    elif values.shape[1] != len(names):
        raise DataError(f"the data has {values.shape[1]} sensors, but {owner} was "
                        f"fitted with {len(names)}; pass the same sensor columns")
    if values.shape[1] == 0:
        raise DataError("the data has no sensor columns")
    if len(values) < (window_size if min_rows is None else min_rows):
        if min_rows is not None:
            raise DataError(f"the data has {len(values)} rows; give at least {min_rows}")
        raise DataError(f"the data has {len(values)} rows, fewer than one window "
                        f"(window_size={window_size}); give at least {window_size} rows")
    finite = np.isfinite(values)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise DataError(f"column {names[col]!r} has {int((~finite[:, col]).sum())} "
                        f"missing or infinite values (first at position {row}); fill or drop them first")
    return values, index, names


def held_out_rows(lengths: list[int], fraction: float, window_size: int) -> list[int]:
    """Rows held out at the end of each recording of `lengths` rows: its last `fraction`, or none for
    a recording too short to leave a window on either side (with a warning)."""
    n_vals = [int(n * fraction) for n in lengths]
    short = [k for k, (n, n_val) in enumerate(zip(lengths, n_vals))
             if n_val and (n_val < window_size or n - n_val < window_size)]
    if short and len(lengths) == 1:
        warnings.warn(
            f"{lengths[0]} training rows are too few to hold out {fraction:.0%} for validation with "
            f"window_size={window_size}; training on all rows, without early stopping, threshold fitted on "
            "training scores",
            stacklevel=5,  # the caller of fit (past held_out_rows, fit and on_compute_threads)
        )
    elif short:
        n_vals = [0 if k in short else n_val for k, n_val in enumerate(n_vals)]
        where = ", ".join(f"{k + 1} ({lengths[k]} rows)" for k in short[:5])
        warnings.warn(
            f"recordings {where} are too short to hold out {fraction:.0%} for validation with "
            f"window_size={window_size}; all their rows are training rows"
            + ("" if any(n_vals) else "; no rows held out: no early stopping, threshold fitted on training scores"),
            stacklevel=5,
        )
    return [0 if k in short else n_val for k, n_val in enumerate(n_vals)]
