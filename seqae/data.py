"""Read sensor CSVs into a frame (time × sensors) and scale it.

`read_sensor_csv` is where a user's file becomes data: comma or semicolon separated, a timestamp
column found by name (or given), the numeric columns other than the timestamp and the label columns
as sensors, rows sorted by time. Every problem is a one-line `DataError` naming the file, column and
row, with what to do about it. Row numbers are the line numbers of the file (the header is line 1).

The `Scaler` is a per-sensor standardiser fitted on training data only, saved as plain JSON.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from seqae.errors import ConfigError, DataError, DataWarning

# Column names taken as the timestamp when the user names none (compared case-insensitively).
TIME_COLUMN_NAMES = ("timestamp", "datetime", "time", "date", "ts", "date_time", "time_stamp")
GAP_FACTOR = 10  # a step this many times the median step between timestamps is a gap worth a warning
FILL_POLICIES = ("error", "ffill", "interpolate")


def read_sensor_csv(
    path: str | os.PathLike,
    *,
    time_column: str | None = None,
    columns: Sequence[str] | None = None,
    label_columns: Sequence[str] = (),
    sep: str | None = None,
    fill: str = "error",
    return_labels: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV of sensor readings into a float frame indexed by time.

    Args:
        path: the CSV file.
        time_column: the timestamp column; found by name (`timestamp`, `datetime`, `time`, ...) when
            not given. A file without one gets a plain 0..n-1 index.
        columns: the sensor columns to keep; by default every numeric column other than the
            timestamp and the label columns.
        label_columns: columns that hold labels (0/1), never used as sensors.
        sep: the separator; sniffed from the header (`,` or `;` or tab) when not given.
        fill: what to do with missing or infinite values: `error` (default), `ffill` (carry the
            last reading forward, the first ones backward) or `interpolate` (linear between the
            neighbouring rows); gaps are filled after the rows are sorted by time.
        return_labels: also return the label columns as a second frame on the same index.

    Returns:
        The frame of sensors (`n_timepoints` rows, one float64 column per sensor), and the labels
        frame when `return_labels` is set.
    """
    name = os.fspath(path)
    if fill not in FILL_POLICIES:
        raise ConfigError(f"fill policy {fill!r} is not one of {', '.join(FILL_POLICIES)}; pick one")
    raw = _read_table(name, sep)
    label_columns = list(label_columns)
    for col in label_columns:
        if col not in raw.columns:
            raise DataError(
                f"{name}: label column {col!r} not found; the file has columns {_list(raw.columns)}"
            )
    time_col = _find_time_column(name, raw, time_column, exclude=label_columns)
    index = _time_index(name, raw, time_col)

    candidates = [c for c in raw.columns if c != time_col and c not in label_columns]
    if columns is not None:
        if len(columns) == 0:
            raise DataError(f"{name}: columns= is empty; name at least one sensor column or leave it out")
        missing = [c for c in columns if c not in raw.columns]
        if missing:
            raise DataError(
                f"{name}: column {missing[0]!r} not found; the file has columns "
                f"{_list(raw.columns)}; check --columns"
            )
        both = [c for c in columns if c in label_columns]
        if both:
            raise DataError(f"{name}: column {both[0]!r} is named both as a sensor and as a label column; "
                            "a label is never a sensor: name another label column")
        sensors = list(columns)
    else:
        # A column with no numeric value at all (an id, a status text) is not a sensor.
        sensors = [c for c in candidates if _has_numbers(raw[c])]
        if not sensors:
            raise DataError(
                f"{name}: no numeric sensor columns found among {_list(candidates)}; "
                "the file needs at least one column of numbers besides the timestamp and labels"
            )

    frame = pd.DataFrame({str(col): _numeric_column(name, raw[col], col) for col in sensors}, index=index)

    labels = None
    if return_labels:
        labels = {}
        for col in label_columns:
            values = _numeric_column(name, raw[col], col)
            if np.isnan(values).any():
                row = int(np.flatnonzero(np.isnan(values))[0]) + 2
                raise DataError(f"{name}: label column {col!r} is empty at row {row}; labels must be 0 or 1")
            other = (values != 0) & (values != 1)
            if other.any():
                row = int(np.flatnonzero(other)[0])
                raise DataError(
                    f"{name}: label column {col!r} has {int(other.sum())} values other than 0 and 1 (first at "
                    f"row {row + 2}: {raw[col].iloc[row].strip()!r}); labels must be 0 (normal) or 1 "
                    "(anomalous): is it the right column?"
                )
            labels[col] = values.astype(np.int8)
        labels = pd.DataFrame(labels, index=index)

    # Sort by time before filling gaps: a gap is filled from its neighbours in time, not in the file.
    order = np.arange(len(frame))
    if time_col is not None:
        order = np.argsort(index.to_numpy(), kind="stable")
        if not (order == np.arange(len(order))).all():
            frame = frame.iloc[order]
            labels = labels.iloc[order] if labels is not None else None
        _check_duplicates(name, frame.index, order)
        _warn_about_gaps(name, frame.index)
    frame = _handle_missing(name, frame, fill, file_rows=order + 2)
    return (frame, labels) if return_labels else frame


def _read_table(name: str, sep: str | None, chunk_rows: int | None = None):
    """The file as one frame of strings, or (`chunk_rows` given) an iterator of frames of that many rows."""
    if not os.path.exists(name):
        raise DataError(f"{name}: no such file; check the path")
    if os.path.isdir(name):
        raise DataError(f"{name}: is a directory, expected a CSV file")
    if os.path.getsize(name) == 0:
        raise DataError(f"{name}: the file is empty; expected a header line and rows of readings")
    if sep is None:
        sep = _sniff_separator(name)
    chunks = _string_chunks(name, sep, chunk_rows)
    return chunks if chunk_rows is not None else next(chunks)


def _string_chunks(name: str, sep: str, chunk_rows: int | None):
    """Frames of strings, the whole file at once or `chunk_rows` rows at a time, checked on the way."""
    try:
        reader = pd.read_csv(name, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True,
                             chunksize=chunk_rows)
        for number, raw in enumerate([reader] if chunk_rows is None else reader):
            raw.columns = [str(c).strip() for c in raw.columns]
            if number == 0:
                if raw.empty:
                    raise DataError(f"{name}: has a header but no rows of readings")
                # pandas renames a repeated name ('a' -> 'a.1'); look at the header line itself.
                header = _header_names(name, sep)
                repeated = [c for i, c in enumerate(header) if c in header[:i]]
                if repeated:
                    raise DataError(f"{name}: column {repeated[0]!r} appears more than once in the header; "
                                    "rename one")
            yield raw
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: the file is empty; expected a header line and rows of readings") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"{name}: not a readable CSV ({first}); check the separator (--sep)") from None


def _header_names(name: str, sep: str) -> list[str]:
    if len(sep) != 1:  # a regular expression: pandas' own reading of the header stands
        return []
    with open(name, newline="", encoding="utf-8", errors="replace") as fh:
        return [c.strip() for c in next(csv.reader(fh, delimiter=sep), [])]


def _sniff_separator(name: str) -> str:
    """`;`, `,` or tab, whichever the header holds most of; `,` for a one-column file."""
    with open(name, newline="", encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    counts = {s: header.count(s) for s in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _find_time_column(
    name: str, raw: pd.DataFrame, time_column: str | None, exclude: Sequence[str]
) -> str | None:
    if time_column is not None:
        if time_column not in raw.columns:
            raise DataError(
                f"{name}: time column {time_column!r} not found; the file has columns "
                f"{_list(raw.columns)}; check --time-column"
            )
        return time_column
    for col in raw.columns:
        if col.lower() in TIME_COLUMN_NAMES and col not in exclude:
            return col
    return None


def _time_index(name: str, raw: pd.DataFrame, time_col: str | None, first_line: int = 2) -> pd.Index:
    """The index of the rows; `first_line` is the file line of the first row (for error messages)."""
    if time_col is None:
        return pd.RangeIndex(len(raw), name="row")
    text = raw[time_col].str.strip()
    blank = (text == "").to_numpy()
    if blank.any():
        row = int(np.flatnonzero(blank)[0]) + first_line
        raise DataError(f"{name}: time column {time_col!r} is empty at row {row}; every row needs a timestamp")
    numeric = pd.to_numeric(text, errors="coerce")
    if not numeric.isna().any():
        # Numbers in the time column: epoch seconds or a step counter, kept as they are.
        return pd.Index(numeric.to_numpy(), name=time_col)
    try:
        stamps = pd.to_datetime(text, errors="coerce", format="mixed")
    except (ValueError, TypeError):
        # Different UTC offsets in one column (a log across a daylight-saving change): as UTC.
        stamps = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: time column {time_col!r} has {int(bad.sum())} values that are not timestamps "
            f"(first at row {row + first_line}: {raw[time_col].iloc[row]!r}); fix them or name another "
            "column with --time-column"
        )
    return pd.DatetimeIndex(stamps, name=time_col)


def _check_duplicates(name: str, index: pd.Index, order: np.ndarray) -> None:
    dup = index.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{name}: timestamp {index[pos]} appears more than once (row {int(order[pos]) + 2}); "
            "each row needs its own timestamp: drop or aggregate the repeats"
        )


def time_gaps(index: pd.Index) -> np.ndarray:
    """Positions `i` where the step from `index[i]` to `index[i + 1]` is more than GAP_FACTOR times the
    median step (sorted datetime or numeric timestamps; none for a plain row index)."""
    return _steps_and_gaps(index)[1]


def _steps_and_gaps(index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """The steps between consecutive timestamps, and the positions of those that are gaps."""
    none = np.empty(0, dtype=np.int64)
    if len(index) < 3 or not (isinstance(index, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(index)):
        return none, none
    steps = np.diff(index.to_numpy())
    usual = np.median(steps)
    if not usual > np.zeros_like(usual):
        return steps, none
    return steps, np.flatnonzero(steps > GAP_FACTOR * usual)


def _warn_about_gaps(name: str, index: pd.Index) -> None:
    """One warning when the timestamps jump: a window across the jump joins readings from either
    side of it as if they were adjacent."""
    steps, gaps = _steps_and_gaps(index)
    if not len(gaps):
        return
    longest = int(gaps[np.argmax(steps[gaps])])
    warnings.warn(
        f"{name}: {len(gaps)} gap{'s' if len(gaps) > 1 else ''} in the timestamps longer than {GAP_FACTOR} x the "
        f"usual step of {_duration(np.median(steps))} (the longest: {_duration(steps[longest])} before "
        f"{index[longest + 1]}); windows across a gap join readings from either side as if adjacent: split "
        "the file at the gaps if that matters", DataWarning, stacklevel=3)


def _duration(step) -> str:
    """A step between timestamps for a message: '1 s', '4 min 7 s', '2 h 5 min', '3 d 4 h'; numbers as they are."""
    if not isinstance(step, (np.timedelta64, pd.Timedelta)):
        return f"{step:g}"
    seconds = pd.Timedelta(step).total_seconds()
    if seconds < 60:
        return f"{seconds:g} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _has_numbers(column: pd.Series) -> bool:
    values = pd.to_numeric(column.str.strip(), errors="coerce")
    return bool(values.notna().any())


_MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none", "-", "?"}


def _numeric_column(name: str, column: pd.Series, col: str, first_line: int = 2) -> np.ndarray:
    text = column.str.strip()
    values = pd.to_numeric(text, errors="coerce")
    # Text that is neither a number nor a usual spelling of "missing" is an error of its own.
    missing_text = text.str.lower().isin(_MISSING_TEXT)
    bad = (values.isna() & ~missing_text).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: column {col!r} has {int(bad.sum())} non-numeric values (first at row "
            f"{row + first_line}: {column.iloc[row]!r}); clean them or leave the column out with --columns"
        )
    return values.to_numpy(dtype=np.float64)


def _handle_missing(name: str, frame: pd.DataFrame, fill: str, file_rows: np.ndarray) -> pd.DataFrame:
    """Apply the fill policy to non-finite values; `file_rows[i]` is the file line of frame row i."""
    values = frame.to_numpy()
    bad = ~np.isfinite(values)
    if not bad.any():
        return frame
    if fill == "error":
        rows, cols = np.nonzero(bad)
        first = int(np.argmin(file_rows[rows] * values.shape[1] + cols))  # first in the file
        col = frame.columns[cols[first]]
        n_bad = int(bad[:, cols[first]].sum())
        what = "infinite" if np.isinf(values[rows[first], cols[first]]) else "missing"
        raise DataError(
            f"{name}: column {col!r} has {n_bad} missing or infinite values (first, {what}, at row "
            f"{int(file_rows[rows[first]])}); clean them or pass --fill ffill or --fill interpolate"
        )
    clean = frame.mask(~np.isfinite(frame))
    all_missing = clean.isna().all()
    if all_missing.any():
        col = all_missing.index[all_missing.to_numpy()][0]
        raise DataError(f"{name}: column {col!r} has no finite value to fill from; leave it out with --columns")
    if fill == "ffill":
        clean = clean.ffill().bfill()
    else:
        clean = clean.interpolate(method="linear", limit_direction="both")
    return clean


def _list(names: Iterable) -> str:
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:12])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


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

    METHODS = ("standard", "robust")

    def fit(self, values: np.ndarray, method: str = "standard") -> "Scaler":
        """`standard`: mean and standard deviation; `robust`: median and IQR / 1.349 (the standard
        deviation of a normal distribution), which a minority of anomalous or drifting training rows
        barely moves. A sensor whose IQR is 0 (readings quantised to a few levels) falls back to its
        standard deviation; a constant one to 1."""
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
            q25, q75 = np.percentile(values / unit, [25, 75], axis=0)
            iqr = (q75 - q25) * unit / 1.349
            std = np.where(iqr > 1e-12 * np.maximum(1.0, np.abs(self.mean_)), iqr, std)
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
