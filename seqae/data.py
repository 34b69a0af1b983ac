"""Read sensor CSVs into a frame (time × sensors) and scale it.

One reader for every way seqae takes a CSV: `read_sensor_csv` reads a whole file, the chunked
scorer (`seqae.streaming`) a block of rows at a time, both through the same steps:

    header line ──sniffed or --sep──> the separator
    first rows ──ReadOptions.settle──> the format, decided once: the time column (or a date and a
                                       time-of-day column), the decimal mark, day-first dates, the
                                       unit of epoch numbers
    each block of rows ──parse_timestamps, parse_numbers──> time index, float readings
                       ──fill_missing──> gaps filled, or a one-line error

A reader of one row at a time settles the options on its first row (or is given every one of
them) and calls the same two parsers on each row.

Timestamps keep one convention. A time with a UTC offset (`2026-03-01T00:00:00Z`, `+01:00`,
`-0500`), an epoch number (seconds, milliseconds, microseconds or nanoseconds since 1970, told
apart by their size) and a local time read with `timezone` are instants: the index is in UTC and
every output writes them in UTC (`2026-03-01 00:00:00+00:00`). A local time without an offset and
without `timezone` stays as written (a naive index). Small numbers in a time column (below 1e9: a
counter, seconds since the start) stay numbers.

Every problem is a one-line `DataError` (or `ConfigError` for an option) naming the file, column and
row, with what to do about it. Row numbers are the line numbers of the file (the header is line 1).

The `Scaler` is a per-sensor standardiser fitted on training data only, saved as plain JSON.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from seqae.errors import ConfigError, DataError, DataWarning

# Column names taken as the timestamp when the user names none (compared case-insensitively), in
# three tiers: a whole timestamp; then a date column with a time-of-day column; then a lone date or time.
TIME_COLUMN_NAMES = ("timestamp", "datetime", "date_time", "time_stamp", "ts", "_time", "timestamp_utc",
                     "time_utc", "zeitstempel")
DATE_TIME_PAIRS = (("date", "time"), ("datum", "uhrzeit"), ("datum", "zeit"))
LONE_TIME_NAMES = ("time", "date", "zeit", "datum")
GAP_FACTOR = 10  # a step this many times the median step between timestamps is a gap worth a warning
FILL_POLICIES = ("error", "ffill", "interpolate")
DECIMAL_MARKS = (".", ",")
# Numbers in a time column: epoch seconds, milliseconds, microseconds or nanoseconds since
# 1970-01-01 UTC, or `step` (plain numbers: a counter, seconds since the start).
TIME_UNITS = ("s", "ms", "us", "ns", "step")
# The smallest epoch number of each unit taken without --time-unit (2001-09-09); the largest is ten
# times it (the year 2286; nanoseconds end at int64's 2262).
EPOCH_MAGNITUDES = {"s": 1e9, "ms": 1e12, "us": 1e15, "ns": 1e18}
DAYFIRST_SAMPLE = 5000  # dates looked at to tell 01/03 day-first from month-first (spread over the rows)
STEP_LIMIT = 1e9  # numbers in a time column all smaller than this (in size) are steps, not epoch times
_UNIT_NAMES = {"s": "epoch seconds", "ms": "epoch milliseconds", "us": "epoch microseconds",
               "ns": "epoch nanoseconds", "step": "plain numbers"}

# A time of day followed by a UTC offset: 00:00:00Z, 00:00+01:00, 00:00:00.5-0500, 00:00:00 +01.
_OFFSET = re.compile(r":\d{2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
# A date written day and month first, in either order: 01.03.2026, 3/1/26, 01-03-2026 00:00.
_DAY_MONTH = r"^(\d{1,2})([./-])(\d{1,2})\2\d{2,4}(?:\D|$)"
# A reading with a decimal comma: 0,0063, -12,5, 1.234,5 (points group thousands).
_COMMA_NUMBER = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+(?:[eE][+-]?\d+)?"
_POINT_GROUPED = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?(?:[eE][+-]?\d+)?"


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
            _zone(self.timezone)

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
        time_columns = _time_columns(name, raw, self.time_column, exclude)
        decimal = self.decimal
        if decimal is None:
            decimal = "," if sep != "," and _has_comma_numbers(raw, [c for c in raw.columns if c not in time_columns]) \
                else "."
        time_unit, dayfirst = self.time_unit, self.dayfirst
        if time_columns:
            where = _where(time_columns)
            text = time_text(raw, time_columns)
            text = text[text != ""]
            if time_unit is None and len(time_columns) == 1 and len(text) and _is_number(text.iloc[0]):
                numbers = pd.to_numeric(text, errors="coerce")
                if numbers.notna().all():
                    time_unit = _epoch_unit(name, where, numbers)
            if time_unit is not None and time_unit != "step" and self.timezone is not None:
                raise ConfigError(f"--timezone {self.timezone} is for local times written without a UTC offset; "
                                  f"{where} of {name} holds {_UNIT_NAMES[time_unit]}, which count from 1970 in UTC: "
                                  "leave --timezone out")
            if time_unit is None and dayfirst is None:
                dayfirst = _dayfirst(name, _where(time_columns[:1]), raw[time_columns[0]])
        return dataclasses.replace(self, sep=sep, decimal=decimal, time_column=time_columns, time_unit=time_unit,
                                   dayfirst=dayfirst)


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
            last reading forward, the first ones backward) or `interpolate` (linear between the
            neighbouring rows); gaps are filled after the rows are sorted by time.
        decimal: `.` or `,`; by default `,` when the separator is not `,` and readings look like `0,0063`.
        time_unit: numbers in the time column are epoch `s`, `ms`, `us`, `ns` or `step` (kept as
            numbers); by default told apart by their size.
        timezone: the zone (`Europe/Berlin`) of local times written without a UTC offset; they
            become instants in UTC.
        dayfirst: whether dates like `01/03/2026` are day-first; by default decided from the dates.
        return_labels: also return the label columns as a second frame on the same index.

    Returns:
        The frame of sensors (`n_timepoints` rows, one float64 column per sensor), and the labels
        frame when `return_labels` is set.
    """
    name = os.fspath(path)
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill, decimal=decimal,
                                                 time_unit=time_unit, timezone=timezone, dayfirst=dayfirst)
    raw = read_table(name, options.sep)
    label_columns = list(label_columns)
    for col in label_columns:
        if col not in raw.columns:
            raise DataError(
                f"{name}: label column {col!r} not found; the file has columns {name_list(raw.columns)}"
            )
    options = options.settle(name, raw, exclude=label_columns)
    index = parse_timestamps(name, raw, options)

    candidates = [c for c in raw.columns if c not in options.time_column and c not in label_columns]
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
        sensors = [c for c in candidates if _has_numbers(raw[c], options.decimal)]
        if not sensors:
            raise DataError(
                f"{name}: no numeric sensor columns found among {name_list(candidates)}; the file needs at least "
                f"one column of numbers besides the timestamp and labels{_no_numbers_hint(raw, candidates, options)}"
            )

    frame = pd.DataFrame({str(col): parse_numbers(name, raw[col], col, options.decimal) for col in sensors},
                         index=index)

    labels = None
    if return_labels:
        labels = {}
        for col in label_columns:
            values = parse_numbers(name, raw[col], col, options.decimal)
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
    if options.time_column:
        keys = index.asi8 if isinstance(index, pd.DatetimeIndex) else index.to_numpy()  # not Timestamp objects
        order = np.argsort(keys, kind="stable")
        if not (order == np.arange(len(order))).all():
            frame = frame.iloc[order]
            labels = labels.iloc[order] if labels is not None else None
        check_unique_times(name, frame.index, file_rows=order + 2)
        _warn_about_gaps(name, frame.index)
    frame = fill_missing(name, frame, options.fill, file_rows=order + 2)
    return (frame, labels) if return_labels else frame


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


def _header_names(name: str, sep: str) -> list[str]:
    if len(sep) != 1:  # a regular expression: pandas' own reading of the header stands
        return []
    with open(name, newline="", encoding="utf-8-sig", errors="replace") as fh:
        return [c.strip() for c in next(csv.reader(fh, delimiter=sep), [])]


def sniff_separator(path: str | os.PathLike) -> str:
    """`;`, `,` or tab, whichever the header holds most of; `,` for a one-column file."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    counts = {s: header.count(s) for s in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _time_columns(name: str, raw: pd.DataFrame, given, exclude: Sequence[str]) -> tuple[str, ...]:
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


def _where(time_columns: Sequence[str]) -> str:
    if len(time_columns) == 1:
        return f"time column {time_columns[0]!r}"
    return f"time columns {time_columns[0]!r} and {time_columns[1]!r}"


def _verb(time_columns: Sequence[str], verb: str) -> str:
    """`verb` agreeing with one time column or two ('has' / 'have', 'mixes' / 'mix')."""
    return verb if len(time_columns) == 1 else {"has": "have", "mixes": "mix"}[verb]


def time_text(raw: pd.DataFrame, time_columns: Sequence[str]) -> pd.Series:
    """The timestamps of `raw` as written: one column, or a date and a time of day joined by a space."""
    parts = [raw[c].str.strip() for c in time_columns]
    return parts[0] if len(parts) == 1 else parts[0] + " " + parts[1]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _epoch_unit(name: str, where: str, numbers: pd.Series) -> str:
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


def _dayfirst(name: str, where: str, column: pd.Series) -> bool | None:
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
    where = _where(columns)
    for col in columns:
        blank = (raw[col].str.strip() == "").to_numpy()
        if blank.any():
            row = int(np.flatnonzero(blank)[0]) + first_line
            raise DataError(f"{name}: time column {col!r} is empty at row {row}; every row needs a timestamp")
    text = time_text(raw, columns)
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
        f"{name}: {_where(time_columns)} {_verb(time_columns, 'mixes')} times with a UTC offset (row "
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
            f"{name}: {where} holds {_UNIT_NAMES[unit]}, but {int(bad.sum())} values are not numbers (first at row "
            f"{row + first_line}: {text.iloc[row]!r}); write every time the same way, or check --time-unit"
        )
    if unit == "step":
        return pd.Index(numbers.to_numpy())
    try:
        stamps = pd.to_datetime(numbers, unit=unit, utc=True)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        raise DataError(f"{name}: {where} holds numbers from {numbers.min():.15g} to {numbers.max():.15g}, out of "
                        f"range as {_UNIT_NAMES[unit]}; check --time-unit") from None
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


def _zone(timezone: str):
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


_MISSING_TEXT = {"", "nan", "na", "n/a", "null", "none", "-", "?"}


def _number_text(text: pd.Series, decimal: str) -> pd.Series:
    """Stripped readings as text pandas reads as numbers: with decimal commas, `1.234,5` becomes
    `1234.5`, and a point that does not group thousands (`1.5`) is not a number."""
    if decimal == ".":
        return text
    grouped = text.str.fullmatch(_POINT_GROUPED).to_numpy(dtype=bool)
    plain = ~text.str.contains(".", regex=False).to_numpy(dtype=bool)
    converted = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return converted.where(grouped | plain, "not a number")


def _has_numbers(column: pd.Series, decimal: str = ".") -> bool:
    values = pd.to_numeric(_number_text(column.str.strip(), decimal), errors="coerce")
    return bool(values.notna().any())


def _has_comma_numbers(raw: pd.DataFrame, columns: Sequence[str]) -> bool:
    """Whether some reading in these columns is written with a decimal comma (0,0063)."""
    return any(raw[c].str.contains(",", regex=False).any() and raw[c].str.strip().str.fullmatch(_COMMA_NUMBER).any()
               for c in columns)


def _no_numbers_hint(raw: pd.DataFrame, candidates: Sequence[str], options: ReadOptions) -> str:
    if options.decimal == "." and _has_comma_numbers(raw, candidates):
        return "; its readings have decimal commas (0,5): pass --decimal ,"
    return f"; check the separator (the columns were split at {options.sep!r}: --sep)"


def parse_numbers(name: str, column: pd.Series, col: str, decimal: str = ".", first_line: int = 2) -> np.ndarray:
    """A column of readings (strings) as float64: numbers, NaN for the usual spellings of missing
    (`''`, `nan`, `n/a`, `-`, ...); other text is a one-line error naming the column and row.
    `decimal`: the decimal mark, `.` or `,` (then points may group thousands: `1.234,5`)."""
    text = column.str.strip()
    values = pd.to_numeric(_number_text(text, decimal), errors="coerce")
    # Text that is neither a number nor a usual spelling of "missing" is an error of its own.
    missing_text = text.str.lower().isin(_MISSING_TEXT)
    bad = (values.isna() & ~missing_text).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = text.iloc[row]
        hint = "clean them or leave the column out with --columns"
        if decimal == "." and re.fullmatch(_COMMA_NUMBER, value):
            hint = f"{value!r} has a decimal comma: pass --decimal , to read decimal commas"
        elif decimal == "," and pd.notna(pd.to_numeric(value, errors="coerce")):
            hint = (f"the file is read with decimal commas, and {value!r} has a point: write every number one way, "
                    "or pass --decimal . if points are its decimals")
        raise DataError(
            f"{name}: column {col!r} has {int(bad.sum())} non-numeric values (first at row "
            f"{row + first_line}: {column.iloc[row]!r}); {hint}"
        )
    return values.to_numpy(dtype=np.float64)


def fill_missing(name: str, frame: pd.DataFrame, fill: str, file_rows: np.ndarray) -> pd.DataFrame:
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


def name_list(names: Iterable) -> str:
    """Column names for a message: 'a', 'b', ... (the first 12, and how many in all)."""
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
