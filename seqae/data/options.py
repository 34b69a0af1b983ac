"""How a sensor CSV is written (`ReadOptions`), and what its header and first rows say about the
options left open.

    ReadOptions.settle   the format, decided once on the first rows: the separator (`sniff_separator`:
                         the one the header holds most of, compressed files read decompressed), the time
                         column or a date and a time-of-day column (`find_time_columns`: by name), a units
                         row under the header (`units_rows`), the decimal mark (`has_comma_numbers`), the
                         unit of epoch numbers (`epoch_unit`: by size), day-first dates (`guess_dayfirst`:
                         from the dates themselves) and the one format of the times (`time_format_of`)

The rows after are read by these decisions, whoever reads them (`seqae.data.rows`,
`seqae.data.timestamps`): a file whole, in chunks, or a live feed's lines.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from seqae.data.roles import held_by_readings
from seqae.data.text import sniff_separator
from seqae.errors import ConfigError, DataError, DataWarning, name_list, shorten


FILL_POLICIES = ("error", "ffill", "interpolate")


DECIMAL_MARKS = (".", ",")


HOLD_STATES = "states"  # ReadOptions.hold: the columns whose readings look like states hold their last reading


HOLD_ALL = "all"  # ReadOptions.hold: every column holds its last reading (its values are readings, never between two)


DUPLICATE_POLICIES = ("error", "first", "last", "mean")  # rows that repeat a time: refused, or one row kept


MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none", "-", "?"}  # how exports spell a missing reading


UNITS_ROWS_LOOKED_AT = 5  # leading rows that may be a units or description row under the header


# A reading with a decimal comma: 0,0063, -12,5, 1.234,5 (points group thousands).
COMMA_NUMBER = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+(?:[eE][+-]?\d+)?"


# Column names taken as the timestamp when the user names none (compared case-insensitively), in
# three tiers: a whole timestamp; then a date column with a time-of-day column; then a lone date or time.
TIME_COLUMN_NAMES = ("timestamp", "datetime", "date_time", "time_stamp", "ts", "_time", "timestamp_utc",
                     "time_utc", "zeitstempel")


DATE_TIME_PAIRS = (("date", "time"), ("datum", "uhrzeit"), ("datum", "zeit"))


LONE_TIME_NAMES = ("time", "date", "zeit", "datum")


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


# A date written day and month first, in either order: 01.03.2026, 3/1/26, 01-03-2026 00:00.
DAY_MONTH = r"^(\d{1,2})([./-])(\d{1,2})\2\d{2,4}(?:\D|$)"


@dataclass(frozen=True)
class ReadOptions:
    """How a sensor CSV is written. A field left None is decided from the file by `settle`.

    The CLI's read options, a pipeline's [data] table and the keyword arguments of
    `read_sensor_csv` are the same fields.
    """

    sep: str | None = None  # ',', ';', '\t', ...; None: the one the header line holds most of
    decimal: str | None = None  # '.' or ','; None: ',' when the separator is not ',' and readings look like 0,0063
    time_column: str | tuple[str, ...] | None = None  # a column, or a date and a time-of-day column
    # ('date,time' or ('date', 'time')); None: found by name; () once settled: none, rows are numbered
    time_unit: str | None = None  # numbers in the time column: s, ms, us, ns since 1970 UTC, or step; None: by size
    timezone: str | None = None  # where local times written without an offset were taken ('Europe/Berlin')
    dayfirst: bool | None = None  # 01/03/2026 is 1 March; None: decided from the dates (01.03.2026 is day-first)
    fill: str = "error"  # missing or infinite readings: 'error', 'ffill' or 'interpolate' (by time)
    skip_rows: int | None = None  # rows under the header that hold no readings (units); None: a units row is found
    sort: bool = False  # sort the rows by time in memory; False: a row earlier than the one above it is refused
    duplicates: str = "error"  # rows repeating a time: 'error', or one row kept: the 'first', the 'last', their 'mean'
    resample: str | None = None  # a regular step ('1min', or a number for a time column of numbers): each step
    # the time-weighted mean of the readings joined by straight lines; None: the rows as they are
    time_format: str | None = None  # 'ISO8601', a strptime format or 'mixed' (none guessed); None: from the first time
    hold: tuple[str, ...] | str | None = None  # columns that take their last reading in a gap and at a grid time,
    # never a value between two (a model's state and constant columns); 'states': those whose readings are few
    # whole numbers (`seqae.data.roles.held_by_readings`, for training rows); 'all': every column; None: none

    def __post_init__(self):
        if self.fill not in FILL_POLICIES:
            raise ConfigError(f"fill policy {self.fill!r} is not one of {', '.join(FILL_POLICIES)}; pick one")
        if self.sep is not None and (not isinstance(self.sep, str) or not self.sep):
            raise ConfigError(f"--sep must be a separator such as ',' ';' or 'tab', got {self.sep!r}")
        if self.decimal is not None and self.decimal not in DECIMAL_MARKS:
            raise ConfigError(f"--decimal must be '.' or ',', got {self.decimal!r}")
        if self.decimal is not None and self.decimal == self.sep:
            raise ConfigError(f"--decimal {self.decimal!r} is also the separator; a file with decimal commas is "
                              "separated by ';' (or tab)")
        if self.time_unit is not None and self.time_unit not in TIME_UNITS:
            raise ConfigError(f"--time-unit must be one of {', '.join(TIME_UNITS)}, got {self.time_unit!r}")
        if self.dayfirst not in (None, True, False):
            raise ConfigError(f"dayfirst must be True, False or None, got {self.dayfirst!r}")
        if isinstance(self.time_column, (list, tuple)):
            columns = tuple(str(c) for c in self.time_column)
            if len(columns) > 2:
                raise ConfigError(f"--time-column names one column, or a date and a time column (date,time); got "
                                  f"{len(columns)}: {', '.join(columns)}")
            object.__setattr__(self, "time_column", columns)
        if self.timezone is not None:
            check_timezone(self.timezone)
        if self.skip_rows is not None and (isinstance(self.skip_rows, bool) or not isinstance(self.skip_rows, int)
                                           or self.skip_rows < 0):
            raise ConfigError(f"--skip-rows must be a whole number of rows (0 or more), got {self.skip_rows!r}")
        if self.sort not in (True, False):
            raise ConfigError(f"sort must be True or False, got {self.sort!r}")
        if self.duplicates not in DUPLICATE_POLICIES:
            raise ConfigError(f"--duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, got {self.duplicates!r}")
        if self.resample is not None:
            resample_step(self.resample)
        if self.hold is not None and self.hold not in (HOLD_STATES, HOLD_ALL):
            if isinstance(self.hold, str) or not all(isinstance(c, str) for c in self.hold):
                raise ConfigError(f"hold must name columns (a list of names) or be {HOLD_STATES!r} or {HOLD_ALL!r}, "
                                  f"got {self.hold!r}")
            object.__setattr__(self, "hold", tuple(self.hold))

    def held(self, names, values: np.ndarray) -> tuple[str, ...]:
        """The columns of `names` that hold their last reading (`hold`), `values` the rows read (for 'states')."""
        if self.hold == HOLD_STATES:
            return held_by_readings(values, list(names))
        if self.hold == HOLD_ALL:
            return tuple(str(c) for c in names)
        return tuple(self.hold or ())

    @property
    def blends(self) -> bool:
        """Whether reading may make a value between two readings (`fill` 'interpolate', `duplicates`
        'mean', `resample`): only then does a column read otherwise for being held (`hold`)."""
        return self.fill == "interpolate" or self.duplicates == "mean" or self.resample is not None

    def replace(self, **changes) -> "ReadOptions":
        """These options with the fields given that are not None changed."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def settled(self) -> bool:
        return (isinstance(self.time_column, tuple) and self.sep is not None and self.decimal is not None
                and self.skip_rows is not None)

    def settle(self, name: str, raw: pd.DataFrame, exclude: Sequence[str] = (), at_top: bool = True) -> "ReadOptions":
        """The options with everything the file leaves open decided from `raw`, its first rows (as
        strings): the separator, the time column(s) (`()` for none), the units rows under the header
        (`at_top`: `raw` starts with the file's first row), the decimal mark, the unit of numbers in
        the time column, whether dates are day-first and the format of the times. `exclude`: label
        columns, never the time. Later rows are read by the same decisions; the rows after
        `skip_rows` are the readings."""
        sep = self.sep if self.sep is not None else sniff_separator(name)
        time_columns = find_time_columns(name, raw, self.time_column, exclude)
        skip_rows = self.skip_rows
        if skip_rows is None:
            skip_rows = units_rows(name, raw, time_columns, exclude, sep) if at_top else 0
        raw = raw.iloc[skip_rows:] if at_top else raw
        decimal = self.decimal
        if decimal is None:
            decimal = "," if sep != "," and has_comma_numbers(raw, [c for c in raw.columns if c not in time_columns]) \
                else "."
        time_unit, dayfirst, time_format = self.time_unit, self.dayfirst, self.time_format
        if time_columns and len(raw):
            where = columns_phrase(time_columns)
            text = time_text(raw, time_columns)
            text = text[text != ""]
            if time_unit is None and len(time_columns) == 1 and len(text) and is_number_text(text.iloc[0]):
                numbers = pd.to_numeric(text, errors="coerce")
                if numbers.notna().all():
                    time_unit = epoch_unit(name, where, numbers)
            if time_unit is not None and time_unit != "step" and self.timezone is not None:
                raise ConfigError(f"--timezone {self.timezone} is for local times written without a UTC offset; "
                                  f"{where} of {name} holds {UNIT_NAMES[time_unit]}, which count from 1970 in UTC: "
                                  "leave --timezone out")
            if time_unit is None and dayfirst is None:
                dayfirst = guess_dayfirst(name, columns_phrase(time_columns[:1]), raw[time_columns[0]])
            if time_unit is None and time_format is None and len(text):
                time_format = time_format_of(first_time(text), dayfirst)
        return dataclasses.replace(self, sep=sep, decimal=decimal, time_column=time_columns, time_unit=time_unit,
                                   dayfirst=dayfirst, skip_rows=skip_rows, time_format=time_format)


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


def units_rows(name: str, raw: pd.DataFrame, time_columns: Sequence[str], exclude: Sequence[str], sep: str) -> int:
    """How many rows under the header are a units or description row (`,(bar),(degC)`, `,bar,degC`,
    `Unit;°C;bar`): text, no number, in columns whose rows below hold numbers, and no time in the time
    column; each found is a one-line warning naming it (`--skip-rows` says so, and stops the warning)."""
    readings = [c for c in raw.columns if c not in time_columns and c not in exclude]
    found = 0
    while found < min(UNITS_ROWS_LOOKED_AT, len(raw) - 1) and _is_units_row(raw, found, time_columns, readings):
        found += 1
    if found:
        lines = "line 2" if found == 1 else f"lines 2-{found + 1}"
        first = sep.join(str(v) for v in raw.iloc[0].tolist())
        warnings.warn(f"{name}: {lines} ({first[:80]!r}{', ...' if found > 1 else ''}) hold no readings but text "
                      f"over columns of numbers, a units or description row under the header: skipped (pass "
                      f"--skip-rows {found} to say so)", DataWarning, stacklevel=4)
    return found


def _is_units_row(raw: pd.DataFrame, row: int, time_columns: Sequence[str], readings: Sequence[str]) -> bool:
    """Whether row `row` of `raw` holds no time and no number, and text over a column of numbers."""
    for col in time_columns:
        text = raw[col].iloc[row].strip()
        if any(ch.isdigit() for ch in text) and not pd.isna(time_alone(text)):
            return False
    below = raw.iloc[row + 1:row + 51]
    over_numbers = False
    for col in readings:
        text = raw[col].iloc[row].strip()
        if text.lower() in MISSING_TEXT:
            continue
        if is_number_text(text) or re.fullmatch(COMMA_NUMBER, text):
            return False
        column = below[col].str.strip()
        numbers = pd.to_numeric(column.where(~column.str.fullmatch(COMMA_NUMBER), column.str.replace(",", ".")),
                                errors="coerce")
        over_numbers = over_numbers or bool(numbers.notna().any())
    return over_numbers


def time_alone(text: str):
    """`text` read as a time by whatever format pandas finds for it alone (NaT if none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.to_datetime(text, format="mixed")
        except (ValueError, TypeError, OverflowError):
            return pd.NaT


def time_format_of(text: str, dayfirst: bool | None) -> str:
    """The one format a time column is read by, from its first time: `ISO8601` (its variants: with
    `T` or a space, fractions of a second, offsets), else the strptime format pandas guesses
    (`%d.%m.%Y %H:%M:%S`), else `mixed` (each time read alone, all written alike)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pd.to_datetime(pd.Series([text]), format="ISO8601")
            return "ISO8601"
        except (ValueError, TypeError, OverflowError):
            pass
        guessed = pd.tseries.api.guess_datetime_format(text, dayfirst=bool(dayfirst))
        clock = re.fullmatch(r"(.*\d)\s*([AaPp][Mm])", text.strip())
        if guessed is None and clock:  # 02/28/2026 07:00:00 PM: pandas guesses the time without its AM/PM
            hours = pd.tseries.api.guess_datetime_format(clock.group(1), dayfirst=bool(dayfirst))
            if hours and "%H" in hours:
                return hours.replace("%H", "%I") + text.strip()[len(clock.group(1)):-2] + "%p"
        return guessed or "mixed"


def first_time(text: pd.Series) -> str:
    """The first of a column's times (as written) with a digit in it: what its format is read from."""
    timed = text[text.str.contains(r"\d", regex=True)]
    return timed.iloc[0] if len(timed) else text.iloc[0]


def time_shape(text: str) -> str:
    """How a time is written, without its digits: '2026-03-01 00:05:00' and '2026-12-31 23:59:59.5'
    are '0-0-0 0:0:0' (a fraction of a second is no other format, nor a month or AM/PM written in
    letters); '01.03.2026 00:05:00' is '0.0.0 0:0:0'."""
    return re.sub(r"[^\W\d_]+", "a", re.sub(r"\d+", "0", re.sub(r"(:\d\d)[.,]\d+", r"\1", text.strip())))


def resample_step(rule: str) -> tuple[str, float | int]:
    """`--resample RULE` as ('time', nanoseconds) for a fixed step such as `1min` or `15s`, or
    ('number', step) for a number (a time column of plain numbers)."""
    text = str(rule).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not number > 0 or number == float("inf"):
            raise ConfigError(f"--resample {rule!r} must be a positive step, such as 1min or 15s (or a number for "
                              "a time column of plain numbers)")
        return "number", number
    try:
        offset = pd.tseries.frequencies.to_offset(text)
        nanos = int(offset.nanos)
    except (ValueError, TypeError):
        raise ConfigError(f"--resample {rule!r} is not a fixed step; give one like 1s, 10s, 1min, 15min or 1h "
                          "(months and years have no fixed length)") from None
    if nanos <= 0:
        raise ConfigError(f"--resample {rule!r} must be a positive step, such as 1min or 15s")
    return "time", nanos


def columns_phrase(time_columns: Sequence[str]) -> str:
    if len(time_columns) == 1:
        return f"time column {time_columns[0]!r}"
    return f"time columns {time_columns[0]!r} and {time_columns[1]!r}"


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
    column = column[column != ""]
    if not len(column) or not re.match(DAY_MONTH, column.iloc[0]):
        return None  # 2026-03-01, 1 Mar 2026, ...: the order is written out
    if len(column) > DAYFIRST_SAMPLE:  # rows spread over the file, the last one too: every day is in it
        column = column.iloc[np.unique(np.linspace(0, len(column) - 1, DAYFIRST_SAMPLE).astype(np.int64))]
    fields = column.str.extract(DAY_MONTH)
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
        f"{name}: {where} has dates like {shorten(text)} (row {int(column.index[row]) + 2}) that read as day-first or "
        "month-first, and no date in the file tells which; pass --dayfirst or --no-dayfirst"
    )


def has_comma_numbers(raw: pd.DataFrame, columns: Sequence[str]) -> bool:
    """Whether some reading in these columns is written with a decimal comma (0,0063)."""
    return any(raw[c].str.contains(",", regex=False).any() and raw[c].str.strip().str.fullmatch(COMMA_NUMBER).any()
               for c in columns)



def check_timezone(timezone: str):
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"--timezone {timezone!r} is not a time zone name; use one like Europe/Berlin, "
                          "America/New_York or UTC") from None
