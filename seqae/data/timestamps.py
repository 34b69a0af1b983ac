"""Timestamps as exports write them, read into one convention.

A time with a UTC offset (`2026-03-01T00:00:00Z`, `+01:00`, `-0500`), an epoch number (seconds,
milliseconds, microseconds or nanoseconds since 1970, told apart by their size) and a local time
read with `timezone` are instants: the index is in UTC and every output writes them in UTC. A local
time without an offset and without `timezone` stays as written (a naive index). Small numbers in a
time column (below 1e9: a counter, seconds since the start) stay numbers.

    parse_timestamps    a block of rows' time text -> the index, with one-line errors, by settled
                        `ReadOptions` (which column, which unit, day-first, the one format of the
                        column: `seqae.data.options`); a row in another format is refused, never
                        read by a format of its own
    parse_time_fields   the same for rows a reader split itself (the live feed)
    check_time_order    rows in time order, each time once (or repeats allowed, for --duplicates)
    time_gaps, warn_about_gaps   jumps in the timestamps worth a warning
    time_state, time_from_state  a row's time as JSON and back (the state of a live feed, of its alerts)
"""

from __future__ import annotations

import re
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from seqae.data.options import (DAY_MONTH, UNIT_NAMES, ReadOptions, columns_phrase, first_time, time_alone,
                                 time_format_of, time_shape, time_text)
from seqae.errors import ConfigError, DataError, DataWarning, shorten


GAP_FACTOR = 10  # a step this many times the median step between timestamps is a gap worth a warning


# A time of day followed by a UTC offset: 00:00:00Z, 00:00+01:00, 00:00:00.5-0500, 00:00:00 +01.
_OFFSET = re.compile(r":\d{2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


def _verb(time_columns: Sequence[str], verb: str) -> str:
    """`verb` agreeing with one time column or two ('has' / 'have', 'mixes' / 'mix')."""
    return verb if len(time_columns) == 1 else {"has": "have", "mixes": "mix"}[verb]


def parse_timestamps(name: str, raw: pd.DataFrame, options: ReadOptions, first_line: int = 2,
                     previous=None) -> pd.Index:
    """The index of the rows of `raw` (strings, as `read_table` gives them, the rows after any units
    row), by settled `options` (`ReadOptions.settle`; unsettled ones are settled on `raw`).

    Returns a DatetimeIndex (in UTC for times with an offset, epoch numbers and `timezone`; naive
    otherwise), an index of numbers (`time_unit='step'`) or, without a time column, the row
    numbers counted from the first row of readings. `first_line`: the file line of `raw`'s first
    row, for messages; `previous`: the time of the row before it (a local time that the autumn
    clock change repeats is read as the first of its two instants not before it).
    """
    if not options.settled:
        options = options.settle(name, raw)
    columns = options.time_column
    if not columns:
        start = first_line - 2 - (options.skip_rows or 0)
        return pd.RangeIndex(start, start + len(raw), name="row")
    return parse_time_fields(name, [raw[col] for col in columns], options, first_line, previous)


def parse_time_fields(name: str, fields: Sequence[Sequence[str]], options: ReadOptions,
                      first_line: int = 2, previous=None) -> pd.Index:
    """`parse_timestamps` of rows already split: `fields[c]` holds the text of settled
    `options.time_column[c]` for each row (a Series or a list of strings). A reader that splits
    lines itself (the live feed) reads its times here, by the rules a whole file is read by."""
    columns = options.time_column
    fields = [field if isinstance(field, pd.Series) else pd.Series(list(field), dtype=object) for field in fields]
    if len(fields) != len(columns):
        raise ValueError(f"parse_time_fields: {len(fields)} fields for time columns {columns!r}")
    where = columns_phrase(columns)
    for col, field in zip(columns, fields):
        blank = (field.str.strip() == "").to_numpy()
        if blank.any():
            row = int(np.flatnonzero(blank)[0]) + first_line
            raise DataError(f"{name}: time column {col!r} is empty at row {row}; every row needs a timestamp")
    text = time_text(dict(zip(columns, fields)), columns)
    index_name = columns[0] if len(columns) == 1 else "timestamp"
    if options.time_unit is not None:
        return _epoch_index(name, where, text, options.time_unit, first_line).rename(index_name)
    aware = text.str.contains(_OFFSET).to_numpy(dtype=bool)
    if aware.any() and not aware.all():
        with_offset, without = int(np.flatnonzero(aware)[0]), int(np.flatnonzero(~aware)[0])
        raise mixed_offsets_error(name, columns, (with_offset + first_line, text.iloc[with_offset]),
                                  (without + first_line, text.iloc[without]))
    if aware.all() and options.timezone is not None:
        raise ConfigError(f"--timezone {options.timezone} is for local times written without a UTC offset; the "
                          f"times in {where} of {name} carry their own ({shorten(text.iloc[0])}): leave --timezone out")
    time_format = options.time_format or (time_format_of(first_time(text), options.dayfirst) if len(text)
                                          else "ISO8601")
    stamps = _to_datetime(text, time_format, options.dayfirst, utc=bool(aware.all()))
    bad = stamps.isna().to_numpy()
    if time_format == "mixed" and not bad.all():  # each time read alone: all must be written as the first is
        shapes = text.map(time_shape)
        bad = bad | (shapes != shapes.iloc[int(np.flatnonzero(~bad)[0])]).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = text.iloc[row]
        hint = "fix them or name another column with --time-column"
        if options.dayfirst is not None and re.match(DAY_MONTH, value):
            hint += f" (dates are read {'day' if options.dayfirst else 'month'}-first: is --dayfirst right?)"
        elif any(ch.isdigit() for ch in value) and not pd.isna(time_alone(value)):
            raise DataError(
                f"{name}: {where} {_verb(columns, 'mixes')} time formats: row {row + first_line} ({shorten(value)}) "
                f"is not written as the column's first time is ({_described(time_format, first_time(text))}), so it is not "
                "read by a format of its own; export the column with every time in one format"
            )
        raise DataError(
            f"{name}: {where} {_verb(columns, 'has')} {int(bad.sum())} values that are not timestamps "
            f"(first at row {row + first_line}: {shorten(value)}); {hint}"
        )
    index = pd.DatetimeIndex(stamps).as_unit("ns")
    if options.timezone is not None:
        index = _localise(name, where, index, text, options.timezone, first_line, previous)
    return index.rename(index_name)


def mixed_offsets_error(name: str, time_columns: Sequence[str], with_offset: tuple[int, str],
                        without: tuple[int, str]) -> DataError:
    """The error for a file whose times are written with a UTC offset in one row and without in
    another: `with_offset` and `without` are (file line, time as written)."""
    return DataError(
        f"{name}: {columns_phrase(time_columns)} {_verb(time_columns, 'mixes')} times with a UTC offset (row "
        f"{with_offset[0]}: {with_offset[1]!r}) and without one (row {without[0]}: {without[1]!r}); write every "
        "time with its offset, or every time without one (and name their zone with --timezone)"
    )


def _to_datetime(text: pd.Series, time_format: str, dayfirst: bool | None, utc: bool) -> pd.Series:
    """Timestamps read by the column's one format (`ReadOptions.time_format`): `ISO8601`, a strptime
    format (a fraction of a second may come and go: `%S` and `%S.%f` are one format), or `mixed`
    (each read alone); what the format does not read is NaT."""
    dayfirst = bool(dayfirst)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' advice on formats: the column has one
        try:
            if time_format == "mixed":
                return pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst, utc=utc)
            stamps = pd.to_datetime(text, format=time_format, utc=utc, errors="coerce")
            plain = time_format.replace("%S.%f", "%S").replace("%S,%f", "%S")
            others = [f for f in (plain, plain.replace("%S", "%S.%f"), plain.replace("%S", "%S,%f"))
                      if f != time_format] if "%S" in plain else []
            for other in others:  # with or without a fraction of a second
                bad = stamps.isna().to_numpy()
                if not bad.any():
                    break
                stamps[bad] = pd.to_datetime(text[bad], format=other, utc=utc, errors="coerce")
            return stamps
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=text.index)


def _described(time_format: str, first: str) -> str:
    """The format of a time column, for a message: 'ISO 8601, like ...' or '%d.%m.%Y %H:%M:%S, like ...'."""
    if time_format == "ISO8601":
        return f"ISO 8601, like {first!r}"
    if time_format == "mixed":
        return f"like {first!r}"
    return f"{time_format}, like {first!r}"


def _epoch_index(name: str, where: str, text: pd.Series, unit: str, first_line: int) -> pd.Index:
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: {where} holds {UNIT_NAMES[unit]}, but {int(bad.sum())} values are not numbers (first at row "
            f"{row + first_line}: {text.iloc[row]!r}); write every time the same way, or check --time-unit"
        )
    if unit == "step":
        return pd.Index(numbers.to_numpy())
    try:
        stamps = pd.to_datetime(numbers, unit=unit, utc=True)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        raise DataError(f"{name}: {where} holds numbers from {numbers.min():.15g} to {numbers.max():.15g}, out of "
                        f"range as {UNIT_NAMES[unit]}; check --time-unit") from None
    return pd.DatetimeIndex(stamps).as_unit("ns")


def _localise(name: str, where: str, index: pd.DatetimeIndex, text: pd.Series, timezone: str,
              first_line: int, previous=None) -> pd.DatetimeIndex:
    """Local times taken in `timezone`, as instants in UTC.

    A time the autumn clock change repeats (02:30 happens twice in Europe/Berlin) is read in file
    order, as the logger wrote it: the first of its two instants (summer time) unless that comes
    before the row above it (`previous` for the first row), so the hour written twice reads as two
    hours. A time the spring change skips is refused, with its row."""
    local = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    bad = local.isna()
    if not bad.any():
        return local.tz_convert("UTC")
    summer = index.tz_localize(timezone, ambiguous=np.ones(len(index), dtype=bool), nonexistent="NaT")
    skipped = summer.isna()
    if skipped.any():
        pos = int(np.flatnonzero(skipped)[0])
        has = "has" if where.startswith("time column ") else "have"
        raise DataError(
            f"{name}: {where} {has} {text.iloc[pos]!r} at row {pos + first_line}, a time that does not exist in "
            f"{timezone} (the clocks skip it when daylight saving starts); is --timezone {timezone} the zone the "
            "logger kept? If it kept no daylight saving, pass a fixed offset such as --timezone Etc/GMT-1 (UTC+1)"
        )
    winter = index.tz_localize(timezone, ambiguous=np.zeros(len(index), dtype=bool), nonexistent="NaT")
    chosen, first, second = local.asi8.copy(), summer.asi8, winter.asi8
    before = None if previous is None else pd.Timestamp(previous).value
    for pos in np.flatnonzero(bad):  # a few rows a year: the hour the clocks go back over
        before = chosen[pos - 1] if pos else before
        chosen[pos] = first[pos] if before is None or first[pos] >= before else second[pos]
    return pd.DatetimeIndex(chosen.view("M8[ns]")).tz_localize("UTC")


def check_unique_times(name: str, index: pd.Index, file_rows: np.ndarray, values: np.ndarray | None = None) -> None:
    """A one-line error at the first timestamp that repeats one before it; `file_rows[i]` is the
    file line of `index[i]`, `values[i]` its readings (to say whether the row repeats exactly)."""
    dup = index.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(index[:pos] == index[pos])[0])
        same = values is not None and np.array_equal(values[first], values[pos], equal_nan=True)
        what = "repeats it exactly" if same else "with other readings"
        local = isinstance(index, pd.DatetimeIndex) and index.tz is None
        raise DataError(
            f"{name}: timestamp {index[pos]} appears more than once (row {int(file_rows[pos])} {what}, after row "
            f"{int(file_rows[first])}); pass --duplicates first, last or mean to keep one row per time"
            + (" (local times repeat an hour when the clocks go back: pass --timezone ZONE to read them as instants)"
               if local else "")
        )


def check_time_order(name: str, index: pd.Index, file_rows: np.ndarray, repeats: bool = False,
                     values: np.ndarray | None = None) -> None:
    """A one-line error at the first row earlier than the row above it (naming --sort, and
    --timezone for local times that step back as clocks do in autumn), or (unless `repeats`) at
    the first time that repeats (`check_unique_times`). `file_rows[i]`: the file line of `index[i]`."""
    if len(index) < 2:
        return
    keys = index.asi8 if isinstance(index, pd.DatetimeIndex) else index.to_numpy()
    steps = keys[1:] - keys[:-1]
    back = np.flatnonzero(steps < 0)
    if len(back):
        pos = int(back[0]) + 1
        raise order_error(name, int(file_rows[pos]), index[pos], index[pos - 1])
    if not repeats and not (steps > 0).all():
        check_unique_times(name, index, file_rows, values)


def order_error(name: str, row: int, time, before) -> DataError:
    """The error for a row whose time `time` comes before `before`, the time of the row above it."""
    hint = "sort the file by time, or pass --sort to sort it in memory"
    if (isinstance(time, pd.Timestamp) and time.tz is None and time.floor("h") == before.floor("h")
            and before - time >= pd.Timedelta("15min")):  # the clock hour written twice, as in autumn
        hint = (f"local times that step back {_duration(before - time)} as clocks do when summer time ends: pass "
                f"--timezone ZONE (the logger's, e.g. Europe/Berlin) to read them as instants, or {hint}")
    return DataError(f"{name}: row {row} ({time}) is earlier than the row above it ({before}); rows must come in "
                     f"time order: {hint}")


def time_gaps(index: pd.Index) -> np.ndarray:
    """Positions `i` where the step from `index[i]` to `index[i + 1]` is more than GAP_FACTOR times the
    median step (sorted datetime or numeric timestamps; none for a plain row index)."""
    return _steps_and_gaps(index)[1]


def _steps_and_gaps(index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """The steps between consecutive timestamps, and the positions of those that are gaps."""
    none = np.empty(0, dtype=np.int64)
    if len(index) < 3 or not (isinstance(index, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(index)):
        return none, none
    if isinstance(index, pd.DatetimeIndex):  # naive or in a time zone: nanoseconds since 1970
        steps = np.diff(index.as_unit("ns").asi8).astype("timedelta64[ns]")
    else:
        steps = np.diff(index.to_numpy())
    usual = np.median(steps)
    if not usual > np.zeros_like(usual):
        return steps, none
    return steps, np.flatnonzero(steps > GAP_FACTOR * usual)


def warn_about_gaps(name: str, index: pd.Index) -> None:
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


def time_state(value):
    """A row's time (a pandas Timestamp, a number or None) as JSON: a Timestamp as {"time": ISO text}."""
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return {"time": pd.Timestamp(value).isoformat()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def time_from_state(value):
    """The inverse of `time_state`."""
    if isinstance(value, dict):
        return pd.Timestamp(value["time"])
    return value
