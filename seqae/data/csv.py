"""Read sensor CSVs into a frame (time × sensors).

`read_sensor_csv` reads a whole file, `read_fleet_csv` a fleet export (a column names each row's
asset), the chunked reader (`seqae.data.chunks`) a block of rows at a time, all by the same steps:

    header line ──sniffed or --sep──> the separator (of the decompressed text for a .gz, .bz2, .xz, .zip)
    first rows ──ReadOptions.settle──> the format, decided once (`seqae.data.options`): the time
                                       column (or a date and a time-of-day column), a units row
                                       under the header (skipped, with a warning), the decimal
                                       mark, day-first dates, the unit of epoch numbers, the one
                                       format of the times
    each block of rows ──parse_timestamps, parse_numbers (`seqae.data.rows`)──> time index, float readings
                       ──check_time_order──> in time order (or sorted, with --sort), or a one-line error
                       ──fill_missing──> gaps filled (interpolated by time), or a one-line error
                       ──RowShaper (`seqae.data.regular`)──> one row per time (--duplicates), on a
                                                           regular grid (--resample)

Timestamps follow `seqae.data.timestamps`' one convention (instants in UTC).

Every problem is a one-line `DataError` (or `ConfigError` for an option) naming the file, column and
row, with what to do about it. Row numbers are the line numbers of the file (the header is line 1).
"""

from __future__ import annotations

import csv
import os
import re
import warnings
import zipfile
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from seqae.data.options import MISSING_TEXT, ReadOptions, has_comma_numbers
from seqae.data.text import compression_of, open_text, sniff_separator
from seqae.data.regular import RowShaper, first_step, time_keys, time_positions
from seqae.data.rows import has_numbers, parse_numbers
from seqae.data.timestamps import check_time_order, parse_timestamps, warn_about_gaps
from seqae.errors import DataError, DataWarning, name_list, shorten


def read_sensor_csv(
    path: str | os.PathLike,
    options: ReadOptions | None = None,
    *,
    time_column: str | Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    label_columns: Sequence[str] = (),
    sep: str | None = None,
    fill: str | None = None,
    decimal: str | None = None,
    time_unit: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    skip_rows: int | None = None,
    sort: bool | None = None,
    duplicates: str | None = None,
    resample: str | None = None,
    return_labels: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV of sensor readings into a float frame indexed by time.

    Args:
        path: the CSV file.
        options: how the file is written (`ReadOptions`); the keyword arguments below, when given,
            replace its fields.
        time_column: the timestamp column, or a date and a time-of-day column (`"date,time"` or
            `("date", "time")`); found by name (`timestamp`, `datetime`, `time`, `date` with
            `time`, ...) when not given. A file without one gets a plain 0..n-1 index.
        columns: the sensor columns to keep; by default every numeric column other than the
            timestamp and the label columns.
        label_columns: columns that hold labels (0/1), never used as sensors.
        sep: the separator; sniffed from the header (`,` or `;` or tab) when not given.
        fill: what to do with missing or infinite values: `error` (default), `ffill` (carry the
            last reading forward, the first ones backward) or `interpolate` (linear in time between
            the neighbouring readings).
        decimal: `.` or `,`; by default `,` when the separator is not `,` and readings look like `0,0063`.
        time_unit: numbers in the time column are epoch `s`, `ms`, `us`, `ns` or `step` (kept as
            numbers); by default told apart by their size.
        timezone: the zone (`Europe/Berlin`) of local times written without a UTC offset; they
            become instants in UTC.
        dayfirst: whether dates like `01/03/2026` are day-first; by default decided from the dates.
        skip_rows: rows under the header that hold no readings; by default a units or description
            row there (text over columns of numbers) is found and skipped with a warning.
        sort: sort the rows by time; by default a row earlier than the row above it is refused.
        duplicates: rows that repeat a time: `error` (default), or keep the `first`, the `last` or
            their `mean`.
        resample: a regular step (`1min`, `15s`; a number for a time column of numbers): each grid
            time the mean of the readings within half a step of it, or interpolated in time where
            none is that close (`seqae.data.regular`).
        return_labels: also return the label columns as a second frame on the same index.

    Returns:
        The frame of sensors (`n_timepoints` rows, one float64 column per sensor), and the labels
        frame when `return_labels` is set.
    """
    name = os.fspath(path)
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill, decimal=decimal,
                                                 time_unit=time_unit, timezone=timezone, dayfirst=dayfirst,
                                                 skip_rows=skip_rows, sort=sort, duplicates=duplicates,
                                                 resample=resample)
    raw, options = _settled_rows(name, read_table(name, options.sep), options, list(label_columns))
    frame, labels = _parse_rows(name, raw, options, columns, list(label_columns), return_labels)
    frame, labels = _series(name, frame, labels, options, np.arange(len(frame)) + _first_line(options))
    return (frame, labels) if return_labels else frame


def read_fleet_csv(path: str | os.PathLike, asset_column: str, options: ReadOptions | None = None, *,
                   columns: Sequence[str] | None = None, label_columns: Sequence[str] = (),
                   return_labels: bool = False) -> dict[str, pd.DataFrame] | tuple[dict, dict]:
    """Read a fleet export, the rows of many assets with a column naming each row's asset, into
    `{asset: frame}` (assets in order of first appearance, named by their text).

    Each asset's rows are read as `read_sensor_csv` reads a file of their own (sorted by time,
    their times unique, gaps filled within the asset), and its errors name the asset and the
    file's line. The other arguments are `read_sensor_csv`'s; `asset_column` is never a sensor.
    With `return_labels`, also `{asset: labels}`.
    """
    name = os.fspath(path)
    options = options or ReadOptions()
    raw = read_table(name, options.sep)
    if asset_column not in raw.columns:
        raise DataError(f"{name}: column {asset_column!r} that names each row's asset is not found; the file has "
                        f"columns {name_list(raw.columns)}; check --asset-column")
    if columns is not None and asset_column in columns:
        raise DataError(f"{name}: column {asset_column!r} names the assets; it cannot be a sensor too")
    raw, options = _settled_rows(name, raw, options, list(label_columns) + [asset_column])
    first_line = _first_line(options)
    keys = raw[asset_column].astype(str).str.strip()
    if (keys == "").any():
        row = int(np.flatnonzero((keys == "").to_numpy())[0]) + first_line
        raise DataError(f"{name}: column {asset_column!r} is empty at row {row}; every row needs its asset")
    frame, labels = _parse_rows(name, raw, options, columns, list(label_columns), return_labels,
                                exclude=[asset_column])
    frames, all_labels = {}, {}
    for key in pd.unique(keys):
        rows = np.flatnonzero((keys == key).to_numpy())
        frames[key], all_labels[key] = _series(f"{name}, {asset_column} {key!r}", frame.iloc[rows],
                                               labels.iloc[rows] if labels is not None else None, options,
                                               rows + first_line)
    return (frames, all_labels) if return_labels else frames


def _settled_rows(name: str, raw: pd.DataFrame, options: ReadOptions, exclude: list) -> tuple[pd.DataFrame,
                                                                                                ReadOptions]:
    """The options settled on the file's rows (`ReadOptions.settle`), and its rows of readings: those
    after the units rows under the header (`skip_rows`), the index of `raw` kept (row 0: line 2)."""
    for col in exclude:
        if col not in raw.columns:
            raise DataError(
                f"{name}: label column {col!r} not found; the file has columns {name_list(raw.columns)}"
            )
    options = options.settle(name, raw, exclude=exclude)
    if options.skip_rows:
        raw = raw.iloc[options.skip_rows:]
        if raw.empty:
            raise DataError(f"{name}: has no rows of readings after the {options.skip_rows} rows under the header "
                            "that --skip-rows skips")
    return raw, options


def _first_line(options: ReadOptions) -> int:
    """The file line of the first row of readings: the header is line 1."""
    return 2 + (options.skip_rows or 0)


def _parse_rows(name: str, raw: pd.DataFrame, options: ReadOptions, columns, label_columns: list,
                return_labels: bool, exclude: Sequence[str] = ()):
    """Every row of readings of `raw` parsed by settled `options`, in file order: (sensors, labels or None)."""
    first_line = _first_line(options)
    index = parse_timestamps(name, raw, options, first_line=first_line)

    candidates = [c for c in raw.columns
                  if c not in options.time_column and c not in label_columns and c not in exclude]
    if columns is not None:
        if len(columns) == 0:
            raise DataError(f"{name}: columns= is empty; name at least one sensor column or leave it out")
        missing = [c for c in columns if c not in raw.columns]
        if missing:
            raise DataError(
                f"{name}: column {missing[0]!r} not found; the file has columns "
                f"{name_list(raw.columns)}; check --columns"
            )
        both = [c for c in columns if c in label_columns]
        if both:
            raise DataError(f"{name}: column {both[0]!r} is named both as a sensor and as a label column; "
                            "a label is never a sensor: name another label column")
        sensors = list(columns)
    else:
        # A column with no numeric value at all (an id, a status text) is not a sensor.
        sensors = [c for c in candidates if has_numbers(raw[c], options.decimal)]
        _warn_about_empty_columns(name, raw, [c for c in candidates if c not in sensors])
        if not sensors:
            raise DataError(
                f"{name}: no numeric sensor columns found among {name_list(candidates)}; the file needs at least "
                f"one column of numbers besides the timestamp and labels{_no_numbers_hint(raw, candidates, options)}"
            )

    frame = pd.DataFrame({str(col): parse_numbers(name, raw[col], col, options.decimal, first_line)
                          for col in sensors}, index=index)

    labels = None
    if return_labels:
        labels = {}
        for col in label_columns:
            values = parse_numbers(name, raw[col], col, options.decimal, first_line)
            if np.isnan(values).any():
                row = int(np.flatnonzero(np.isnan(values))[0]) + first_line
                raise DataError(f"{name}: label column {col!r} is empty at row {row}; labels must be 0 or 1")
            other = (values != 0) & (values != 1)
            if other.any():
                row = int(np.flatnonzero(other)[0])
                raise DataError(
                    f"{name}: label column {col!r} has {int(other.sum())} values other than 0 and 1 (first at "
                    f"row {row + first_line}: {shorten(raw[col].iloc[row].strip())}); labels must be 0 (normal) or 1 "
                    "(anomalous): is it the right column?"
                )
            labels[col] = values.astype(np.int8)
        labels = pd.DataFrame(labels, index=index)

    return frame, labels


def _warn_about_empty_columns(name: str, raw: pd.DataFrame, columns: Sequence[str]) -> None:
    """One warning naming the columns left out of the sensors because every value in them is empty
    or a spelling of missing (a sensor that logged nothing), not text (an id, a status)."""
    empty = [c for c in columns if not re.fullmatch(r"Unnamed: \d+", c)  # no name: a trailing separator
             and raw[c].str.strip().str.lower().isin(MISSING_TEXT).all()]
    if empty:
        are = "is" if len(empty) == 1 else "are"
        warnings.warn(f"{name}: {'column' if len(empty) == 1 else 'columns'} {name_list(empty)} {are} left out: no "
                      f"row has a reading in {'it' if len(empty) == 1 else 'them'}; name the sensors with --columns "
                      "to check what is read", DataWarning, stacklevel=4)


def _series(name: str, frame: pd.DataFrame, labels: pd.DataFrame | None, options: ReadOptions,
            file_rows: np.ndarray):
    """The rows of one series (a file, or one asset's rows of it: `file_rows` their lines) in time
    order (or sorted, with `options.sort`), gaps warned about and filled, one row per time and on
    the grid as `options.duplicates` and `options.resample` say."""
    if options.time_column:
        if options.sort:
            order = np.argsort(time_keys(frame.index), kind="stable")
            if not (order == np.arange(len(order))).all():
                frame, file_rows = frame.iloc[order], file_rows[order]
                labels = labels.iloc[order] if labels is not None else None
        check_time_order(name, frame.index, file_rows, repeats=options.duplicates != "error",
                         values=frame.to_numpy())
        warn_about_gaps(name, frame.index)
    held = options.held(frame.columns, frame.to_numpy())
    frame = fill_missing(name, frame, options.fill, file_rows=file_rows, hold=held)
    if not RowShaper.needed(options.duplicates, options.resample):
        return frame, labels
    n_labels = 0 if labels is None else labels.shape[1]
    values = frame.to_numpy() if not n_labels else np.hstack([frame.to_numpy(), labels.to_numpy(np.float64)])
    shaper = RowShaper(name, options.duplicates, options.resample, n_labels, hold=[c in held for c in frame.columns])
    parts = [shaper.push(frame.index, values, file_rows), shaper.finish()]
    index = parts[0][0].append(parts[1][0])
    values = np.concatenate([parts[0][1], parts[1][1]])
    shaped = pd.DataFrame(values[:, :frame.shape[1]], index=index, columns=frame.columns)
    if n_labels:
        labels = pd.DataFrame(values[:, frame.shape[1]:].astype(np.int8), index=index, columns=labels.columns)
    return shaped, labels


def read_table(path: str | os.PathLike, sep: str | None = None,
               chunk_rows: int | None = None) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """The file as one frame of strings, or (`chunk_rows` given) an iterator of frames of that many
    rows; column names stripped, the header checked."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise DataError(f"{name}: no such file; check the path")
    if os.path.isdir(name):
        raise DataError(f"{name}: is a directory, expected a CSV file")
    if os.path.getsize(name) == 0:
        raise DataError(f"{name}: the file is empty; expected a header line and rows of readings")
    if sep is None:
        sep = sniff_separator(name)
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
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:  # a damaged or odd compressed file
        if compression_of(name) is None or isinstance(exc, DataError):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(f"{name}: cannot be read as a {compression_of(name)} compressed CSV ({first}); "
                        "decompress it and read the CSV") from None


def _header_names(name: str, sep: str) -> list[str]:
    if len(sep) != 1:  # a regular expression: pandas' own reading of the header stands
        return []
    with open_text(name) as fh:
        return [c.strip() for c in next(csv.reader(fh, delimiter=sep), [])]


def _no_numbers_hint(raw: pd.DataFrame, candidates: Sequence[str], options: ReadOptions) -> str:
    if options.decimal == "." and has_comma_numbers(raw, candidates):
        return "; its readings have decimal commas (0,5): pass --decimal ,"
    return f"; check the separator (the columns were split at {options.sep!r}: --sep)"


def fill_missing(name: str, frame: pd.DataFrame, fill: str, file_rows: np.ndarray,
                 hold=()) -> pd.DataFrame:
    """Apply the fill policy to non-finite values; `file_rows[i]` is the file line of frame row i.

    `interpolate` is linear in time between the readings around a gap (`time_positions`: by row for
    a frame without a time column; the same as by row for regularly spaced times), the readings
    before the first and after the last carried outward; `ffill` carries the last reading forward,
    the first backward, and so does `interpolate` in the columns `hold` names (state columns:
    `seqae.data.roles.held_columns`)."""
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
        return clean.ffill().bfill()
    keys = time_keys(frame.index) if not isinstance(frame.index, pd.RangeIndex) else np.arange(len(frame))
    positions = time_positions(keys, keys[0], first_step(keys))
    values = clean.to_numpy(copy=True)
    held = set(hold)
    held = [str(c) in held for c in frame.columns]
    for col in np.flatnonzero(np.isnan(values).any(axis=0)):
        if held[col]:
            values[:, col] = clean.iloc[:, col].ffill().bfill().to_numpy()
            continue
        known = ~np.isnan(values[:, col])
        values[~known, col] = np.interp(positions[~known], positions[known], values[known, col])
    return pd.DataFrame(values, index=frame.index, columns=frame.columns)


def read_header(path, sep: str | None = None) -> list[str] | None:
    """The column names of a CSV (split at `sep`, else at the separator `read_sensor_csv` sniffs),
    or None when its first line cannot be read as one."""
    try:
        header = pd.read_csv(path, sep=sep or sniff_separator(path), nrows=0, engine="c")
    except (ValueError, OSError, csv.Error, UnicodeDecodeError):
        return None
    return [str(c).strip() for c in header.columns]
