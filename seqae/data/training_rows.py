"""The rows a model learns from, and the rows a fitted model scores, read from a CSV.

    read_training_data   the first `train_rows`, or the rows up to `train_until`, or all; the
                         label column, if named, never a sensor; how the file was read, for the run
    read_for_detector    the sensors a fitted detector needs (other columns ignored), and the labels
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from seqae.data.csv import ReadOptions, read_header, read_sensor_csv
from seqae.errors import ConfigError, DataError, missing_columns_message


@dataclass
class TrainingData:
    """The rows a detector learns from and how they were read (logged with the run)."""

    frame: pd.DataFrame  # (n_timepoints, n_features) float sensors, indexed by time
    path: Path
    options: dict = field(default_factory=dict)


def read_training_data(path, *, columns=None, time_column=None, label_column=None, sep=None,
                       fill=None, train_rows: int | None = None, train_until: str | None = None,
                       options: ReadOptions | None = None) -> TrainingData:
    """Read a sensor CSV and keep the training rows: the first `train_rows`, or those up to and
    including the time `train_until`, or all. The label column, if named, is never a sensor.
    `options`: how the file is written; `time_column`, `sep` and `fill`, when given, replace its fields."""
    if train_rows is not None and train_until is not None:
        raise ConfigError("give either --train-rows or --train-until, not both")
    path = Path(path)
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill)
    frame = read_sensor_csv(path, options, columns=columns, label_columns=[label_column] if label_column else [])
    n_rows = len(frame)
    if train_rows is not None:
        if train_rows < 1:
            raise ConfigError(f"--train-rows must be at least 1, got {train_rows}")
        if train_rows > n_rows:
            raise DataError(f"{path}: --train-rows {train_rows} asks for more rows than the file has ({n_rows})")
        frame = frame.iloc[:train_rows]
    elif train_until is not None:
        first = frame.index[0]
        frame = frame.loc[:_index_key(frame.index, train_until, path, options.timezone)]
        if frame.empty:
            raise DataError(f"{path}: no rows at or before --train-until {train_until}; the first row is at {first}")
    options = {
        "data_path": str(path.resolve()),
        "columns": ",".join(columns) if columns else "(all numeric)",
        "time_column": frame.index.name or "(none)",
        "label_column": label_column or "(none)",
        "sep": options.sep or "(sniffed)",
        "fill": options.fill,
        **{key: value for key, value in (("decimal", options.decimal), ("time_unit", options.time_unit),
                                         ("timezone", options.timezone), ("dayfirst", options.dayfirst))
           if value is not None},
        "train_rows": train_rows if train_rows is not None else "(all)",
        "train_until": train_until or "(none)",
        "n_rows_in_file": n_rows,
        "n_train_rows": len(frame),
        "n_features": frame.shape[1],
        "sensors": ",".join(frame.columns),
    }
    return TrainingData(frame, path, options)


def _index_key(index: pd.Index, text: str, path: Path, timezone: str | None = None):
    if isinstance(index, pd.DatetimeIndex):
        try:
            key = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise ConfigError(f"--train-until {text!r} is not a timestamp; write it like "
                              f"{index[0].isoformat()}") from None
        if index.tz is None and key.tz is not None:
            raise ConfigError(f"--train-until {text!r} has a UTC offset, and the times of {path} have none; write "
                              f"it like {index[0].isoformat()}")
        if index.tz is not None:  # the index is in UTC: a time without an offset is read as the file's are
            key = key.tz_localize(timezone or "UTC") if key.tz is None else key
            key = key.tz_convert(index.tz)
        return key
    if index.name is None:
        raise DataError(f"{path}: --train-until needs a time column, and the file has none; "
                        "use --train-rows or name one with --time-column")
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--train-until {text!r} is not a number, and the time column "
                          f"{index.name!r} holds numbers") from None


def read_for_detector(detector, path, *, time_column=None, label_column=None,
                      sep=None, fill=None, options: ReadOptions | None = None):
    """Read the sensors `detector` was fitted on from a CSV (other columns are ignored); with
    `label_column`, also the labels: `(frame, labels)`. `options`: how the file is written;
    `time_column`, `sep` and `fill`, when given, replace its fields."""
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill)
    needed = [str(name) for name in detector.feature_names_in_]
    header = read_header(path, options.sep)
    if header is not None:
        missing = [name for name in needed if name not in header]
        if missing:
            raise DataError(missing_columns_message(missing, header, needed, str(path)))
    labels = [label_column] if label_column else []
    return read_sensor_csv(path, options, columns=needed, label_columns=labels, return_labels=bool(label_column))
