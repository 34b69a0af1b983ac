"""Timestamps as exports write them, read into one convention.

A time with a UTC offset (`2026-03-01T00:00:00Z`, `+01:00`, `-0500`), an epoch number (seconds,
milliseconds, microseconds or nanoseconds since 1970, told apart by their size) and a local time
read with `timezone` are instants: the index is in UTC and every output writes them in UTC. A local
time without an offset and without `timezone` stays as written (a naive index). Small numbers in a
time column (below 1e9: a counter, seconds since the start) stay numbers.

    find_time_columns   which column is the time (or a date and a time-of-day column)
    epoch_unit, guess_dayfirst   what the first rows say about numbers and dates
    parse_timestamps    a block of rows' time text -> the index, with one-line errors
    parse_time_fields   the same for rows a reader split itself (the live feed)
    time_gaps, warn_about_gaps   jumps in the timestamps worth a warning
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from seqae.errors import ConfigError, DataError, DataWarning, name_list

if TYPE_CHECKING:
    from seqae.data.csv import ReadOptions


# Column names taken as the timestamp when the user names none (compared case-insensitively), in
# three tiers: a whole timestamp; then a date column with a time-of-day column; then a lone date or time.
TIME_COLUMN_NAMES = ("timestamp", "datetime", "date_time", "time_stamp", "ts", "_time", "timestamp_utc",
                     "time_utc", "zeitstempel")


DATE_TIME_PAIRS = (("date", "time"), ("datum", "uhrzeit"), ("datum", "zeit"))


LONE_TIME_NAMES = ("time", "date", "zeit", "datum")


GAP_FACTOR = 10  # a step this many times the median step between timestamps is a gap worth a warning


# Numbers in a time column: epoch seconds, milliseconds, microseconds or nanoseconds since
# 1970-01-01 UTC, or `step` (plain numbers: a counter, seconds since the start).
TIME_UNITS = ("s", "ms", "us", "ns", "step")


# The smallest epoch number of each unit taken without --time-unit (2001-09-09); the largest is ten
# times it (the year 2286; nanoseconds end at int64's 2262).
EPOCH_MAGNITUDES = {"s": 1e9, "ms": 1e12, "us": 1e15, "ns": 1e18}


DAYFIRST_SAMPLE = 5000  # dates looked at to tell 01/03 day-first from month-first (spread over the rows)


STEP_LIMIT = 1e9  # numbers in a time column all smaller than this (in size) are steps, not epoch times


UNIT_NAMES = {"s": "epoch seconds", "ms": "epoch milliseconds", "us": "epoch microseconds",
               "ns": "epoch nanoseconds", "step": "plain numbers"}


# A time of day followed by a UTC offset: 00:00:00Z, 00:00+01:00, 00:00:00.5-0500, 00:00:00 +01.
_OFFSET = re.compile(r":\d{2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


# A date written day and month first, in either order: 01.03.2026, 3/1/26, 01-03-2026 00:00.
_DAY_MONTH = r"^(\d{1,2})([./-])(\d{1,2})\2\d{2,4}(?:\D|$)"


def find_time_columns(name: str, raw: pd.DataFrame, given, exclude: Sequence[str]) -> tuple[str, ...]:
    """The time column(s) of the file: given (a name, 'date,time' or a tuple), else found by name."""
    if given is None:
        names = {}
        for col in raw.columns:
            if col not in exclude:
                names.setdefault(col.lower(), col)
        for col in raw.columns:
            if col.lower() in TIME_COLUMN_NAMES and col not in exclude:
                return (col,)
        for date, time_of_day in DATE_TIME_PAIRS:
            if date in names and time_of_day in names:
                return names[date], names[time_of_day]
        for col in raw.columns:
            if col.lower() in LONE_TIME_NAMES and col not in exclude:
                return (col,)
        return ()
    if isinstance(given, str):
        parts = (given,) if given in raw.columns or "," not in given else tuple(p.strip() for p in given.split(","))
    else:
        parts = tuple(given)
    if len(parts) > 2 or not all(parts):
        raise ConfigError(f"--time-column names one column, or a date and a time column (date,time); got {given!r}")
    for col in parts:
        if col not in raw.columns:
            raise DataError(
                f"{name}: time column {col!r} not found; the file has columns "
                f"{name_list(raw.columns)}; check --time-column"
            )
    return parts


def columns_phrase(time_columns: Sequence[str]) -> str:
    if len(time_columns) == 1:
        return f"time column {time_columns[0]!r}"
    return f"time columns {time_columns[0]!r} and {time_columns[1]!r}"


def _verb(time_columns: Sequence[str], verb: str) -> str:
    """`verb` agreeing with one time column or two ('has' / 'have', 'mixes' / 'mix')."""
    return verb if len(time_columns) == 1 else {"has": "have", "mixes": "mix"}[verb]


def time_text(raw: pd.DataFrame | Mapping[str, pd.Series], time_columns: Sequence[str]) -> pd.Series:
    """The timestamps of `raw` (a frame of strings, or its time columns by name) as written: one
    column, or a date and a time of day joined by a space."""
    parts = [raw[c].str.strip() for c in time_columns]
    return parts[0] if len(parts) == 1 else parts[0] + " " + parts[1]


def is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def epoch_unit(name: str, where: str, numbers: pd.Series) -> str:
    """The unit of a time column of numbers, from their size: epoch s/ms/us/ns for dates from 2001,
    `step` for numbers below 1e9; anything else is refused rather than guessed."""
    low, high = float(numbers.abs().min()), float(numbers.abs().max())
    if high < STEP_LIMIT:
        return "step"
    for unit, smallest in EPOCH_MAGNITUDES.items():
        if smallest <= low and high < min(10 * smallest, 2.0 ** 63):
            return unit
    raise DataError(
        f"{name}: {where} holds numbers from {float(numbers.min()):.15g} to {float(numbers.max()):.15g}: neither "
        "epoch seconds, milliseconds, microseconds or nanoseconds of one date range from 2001 on, nor steps below "
        "1e9; pass --time-unit s, ms, us or ns to read them as epoch times, or --time-unit step to keep them as numbers"
    )


def guess_dayfirst(name: str, where: str, column: pd.Series) -> bool | None:
    """Whether dates like 01/03/2026 are day-first, from the dates themselves; None for dates that
    do not start with a day and a month (2026-03-01). Refused where nothing tells."""
    column = column.str.strip()
    if not len(column) or not re.match(_DAY_MONTH, column.iloc[0]):
        return None  # 2026-03-01, 1 Mar 2026, ...: the order is written out
    if len(column) > DAYFIRST_SAMPLE:  # rows spread over the file, the last one too: every day is in it
        column = column.iloc[np.unique(np.linspace(0, len(column) - 1, DAYFIRST_SAMPLE).astype(np.int64))]
    fields = column.str.extract(_DAY_MONTH)
    found = fields[0].notna().to_numpy()
    if not found.any():
        return None
    first = pd.to_numeric(fields[0][found]).to_numpy()
    second = pd.to_numeric(fields[2][found]).to_numpy()
    if (first > 12).any() or (first == second).all():  # 13/03/2026 (or only 01/01, 02/02: either way)
        return True
    if (second > 12).any():  # 03/13/2026
        return False
    if (fields[1][found] == ".").all():  # 01.03.2026: the European way, day first
        return True
    row = int(np.flatnonzero(found)[int(np.flatnonzero(first != second)[0])])
    text = column.iloc[row]
    raise DataError(
        f"{name}: {where} has dates like {text!r} (row {int(column.index[row]) + 2}) that read as day-first or "
        "month-first, and no date in the file tells which; pass --dayfirst or --no-dayfirst"
    )


def parse_timestamps(name: str, raw: pd.DataFrame, options: ReadOptions, first_line: int = 2) -> pd.Index:
    """The index of the rows of `raw` (strings, as `read_table` gives them), by settled `options`
    (`ReadOptions.settle`; unsettled ones are settled on `raw`).

    Returns a DatetimeIndex (in UTC for times with an offset, epoch numbers and `timezone`; naive
    otherwise), an index of numbers (`time_unit='step'`) or, without a time column, the row
    numbers counted from the first row of the file. `first_line`: the file line of `raw`'s first
    row, for messages.
    """
    if not options.settled:
        options = options.settle(name, raw)
    columns = options.time_column
    if not columns:
        return pd.RangeIndex(first_line - 2, first_line - 2 + len(raw), name="row")
    return parse_time_fields(name, [raw[col] for col in columns], options, first_line)


def parse_time_fields(name: str, fields: Sequence[Sequence[str]], options: ReadOptions,
                      first_line: int = 2) -> pd.Index:
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
                          f"times in {where} of {name} carry their own ({text.iloc[0]!r}): leave --timezone out")
    stamps = _to_datetime(text, options.dayfirst, utc=bool(aware.all()))
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        hint = "fix them or name another column with --time-column"
        if options.dayfirst is not None and re.match(_DAY_MONTH, text.iloc[row]):
            hint += f" (dates are read {'day' if options.dayfirst else 'month'}-first: is --dayfirst right?)"
        raise DataError(
            f"{name}: {where} {_verb(columns, 'has')} {int(bad.sum())} values that are not timestamps "
            f"(first at row {row + first_line}: {text.iloc[row]!r}); {hint}"
        )
    index = pd.DatetimeIndex(stamps).as_unit("ns")
    if options.timezone is not None:
        index = _localise(name, where, index, text, options.timezone, first_line)
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


def _to_datetime(text: pd.Series, dayfirst: bool | None, utc: bool) -> pd.Series:
    """Parse timestamps with the format of the first one (fast), else ISO 8601, else one by one;
    values that are not timestamps become NaT."""
    dayfirst = bool(dayfirst)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' advice on formats: the attempts below are the answer
        guessed = pd.tseries.api.guess_datetime_format(text.iloc[0], dayfirst=dayfirst) if len(text) else None
        for fmt in ([guessed] if guessed else []) + ["ISO8601"]:
            try:
                return pd.to_datetime(text, format=fmt, utc=utc)
            except (ValueError, TypeError, OverflowError):
                pass
        try:
            return pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst, utc=utc)
        except (ValueError, TypeError, OverflowError):
            return pd.Series(pd.NaT, index=text.index)


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
              first_line: int) -> pd.DatetimeIndex:
    """Local times taken in `timezone`, as instants in UTC; a time that a daylight-saving change
    skips or repeats is refused, with its row."""
    local = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    bad = local.isna()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        skipped = index[pos:pos + 1].tz_localize(timezone, ambiguous=True, nonexistent="NaT").isna()[0]
        at = f"{text.iloc[pos]!r} at row {pos + first_line}"
        has = "has" if where.startswith("time column ") else "have"
        if skipped:
            raise DataError(
                f"{name}: {where} {has} {at}, a time that does not exist in {timezone} (the clocks skip it when "
                f"daylight saving starts); is --timezone {timezone} the zone the logger kept? If it kept no daylight "
                "saving, pass a fixed offset such as --timezone Etc/GMT-1 (UTC+1)"
            )
        raise DataError(
            f"{name}: {where} {has} {at}, a time that happens twice in {timezone} (the clocks go back over it), so "
            "it does not say which instant it is; export the times in UTC or with their UTC offset, or, if the logger "
            "kept no daylight saving, pass a fixed offset such as --timezone Etc/GMT-1 (UTC+1)"
        )
    return local.tz_convert("UTC")


def check_timezone(timezone: str):
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"--timezone {timezone!r} is not a time zone name; use one like Europe/Berlin, "
                          "America/New_York or UTC") from None


def check_unique_times(name: str, index: pd.Index, file_rows: np.ndarray) -> None:
    """A one-line error at the first timestamp that repeats one before it; `file_rows[i]` is the
    file line of `index[i]`."""
    dup = index.duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{name}: timestamp {index[pos]} appears more than once (row {int(file_rows[pos])}); "
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
