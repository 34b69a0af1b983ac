"""How a sensor CSV is written (`ReadOptions`), and what its header and first rows say about the
options left open.

    ReadOptions.settle   the format, decided once on the first rows: the separator (`sniff_separator`:
                         the one the header holds most of), the time column or a date and a time-of-day
                         column (`find_time_columns`: by name), the decimal mark (`has_comma_numbers`),
                         the unit of epoch numbers (`epoch_unit`: by size), day-first dates
                         (`guess_dayfirst`: from the dates themselves)

The rows after are read by these decisions, whoever reads them (`seqae.data.rows`,
`seqae.data.timestamps`): a file whole, in chunks, or a live feed's lines.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from seqae.errors import ConfigError, DataError, name_list


FILL_POLICIES = ("error", "ffill", "interpolate")


DECIMAL_MARKS = (".", ",")


SEPARATORS = (";", ",", "\t")  # the separators a header is sniffed for


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
    fill: str = "error"  # missing or infinite readings: 'error', 'ffill' or 'interpolate'

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

    def replace(self, **changes) -> "ReadOptions":
        """These options with the fields given that are not None changed."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def settled(self) -> bool:
        return isinstance(self.time_column, tuple) and self.sep is not None and self.decimal is not None

    def settle(self, name: str, raw: pd.DataFrame, exclude: Sequence[str] = ()) -> "ReadOptions":
        """The options with everything the file leaves open decided from `raw`, its first rows (as
        strings): the separator, the time column(s) (`()` for none), the decimal mark, the unit of
        numbers in the time column and whether dates are day-first. `exclude`: label columns,
        never the time. Later rows are read by the same decisions."""
        sep = self.sep if self.sep is not None else sniff_separator(name)
        time_columns = find_time_columns(name, raw, self.time_column, exclude)
        decimal = self.decimal
        if decimal is None:
            decimal = "," if sep != "," and has_comma_numbers(raw, [c for c in raw.columns if c not in time_columns]) \
                else "."
        time_unit, dayfirst = self.time_unit, self.dayfirst
        if time_columns:
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
        return dataclasses.replace(self, sep=sep, decimal=decimal, time_column=time_columns, time_unit=time_unit,
                                   dayfirst=dayfirst)


def header_separator(header: str) -> str:
    """`;`, `,` or tab, whichever the header line holds most of; `,` for a one-column header."""
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def sniff_separator(path: str | os.PathLike) -> str:
    """The separator of a CSV file: `header_separator` of its first line."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        return header_separator(fh.readline())


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
        f"{name}: {where} has dates like {text!r} (row {int(column.index[row]) + 2}) that read as day-first or "
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
