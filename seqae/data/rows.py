"""Rows of a sensor CSV, from text to readings and times: the one parser every reader goes through.

    text fields ──parse_numbers (a column of a block), parse_reading and plain_readings (a live
                  feed's fields, without pandas, to the same float64)──> readings, NaN where missing;
                  text that is not a number is a one-line error naming the column and row
                ──parse_timestamps, parse_time_fields (`seqae.data.timestamps`)──> the time index

`read_sensor_csv` and the chunked reader (`seqae.data.csv`, `seqae.data.chunks`) parse blocks of
rows that pandas split; `RowParser` splits a live feed's lines itself and parses them by the same
functions, reporting each line that does not parse (wrong field count, text, a missing reading, a
time not after the last row's) instead of stopping. The format (separator, time column, decimal
mark, dates) is `ReadOptions`, settled once on the first rows (`seqae.data.options`), so the same
text is the same number and the same instant whichever way a row came.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seqae.data.options import COMMA_NUMBER, MISSING_TEXT, ReadOptions
from seqae.data.text import header_separator
from seqae.data.timestamps import parse_time_fields, time_from_state, time_state
from seqae.errors import ConfigError, DataError, missing_columns_message, shorten


# A reading with decimal commas whose points group thousands: 1.234,5.
_POINT_GROUPED = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?(?:[eE][+-]?\d+)?"


def _number_text(text: pd.Series, decimal: str) -> pd.Series:
    """Stripped readings as text pandas reads as numbers: with decimal commas, `1.234,5` becomes
    `1234.5`, and a point that does not group thousands (`1.5`) is not a number."""
    if decimal == ".":
        return text
    grouped = text.str.fullmatch(_POINT_GROUPED).to_numpy(dtype=bool)
    plain = ~text.str.contains(".", regex=False).to_numpy(dtype=bool)
    converted = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return converted.where(grouped | plain, "not a number")


def has_numbers(column: pd.Series, decimal: str = ".") -> bool:
    """Whether some reading of a column of strings is a number."""
    values = pd.to_numeric(_number_text(column.str.strip(), decimal), errors="coerce")
    return bool(values.notna().any())


def parse_numbers(name: str, column: pd.Series, col: str, decimal: str = ".", first_line: int = 2) -> np.ndarray:
    """A column of readings (strings) as float64: numbers, NaN for the usual spellings of missing
    (`''`, `nan`, `n/a`, `-`, ...); other text is a one-line error naming the column and row.
    `decimal`: the decimal mark, `.` or `,` (then points may group thousands: `1.234,5`)."""
    text = column.str.strip()
    values = pd.to_numeric(_number_text(text, decimal), errors="coerce")
    # Text that is neither a number nor a usual spelling of "missing" is an error of its own.
    missing_text = text.str.lower().isin(MISSING_TEXT)
    bad = (values.isna() & ~missing_text).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = text.iloc[row]
        hint = "clean them or leave the column out with --columns"
        if decimal == "." and re.fullmatch(COMMA_NUMBER, value):
            hint = f"{shorten(value)} has a decimal comma: pass --decimal , to read decimal commas"
        elif decimal == "," and pd.notna(pd.to_numeric(value, errors="coerce")):
            hint = (f"the file is read with decimal commas, and {shorten(value)} has a point: write every number "
                    "one way, or pass --decimal . if points are its decimals")
        raise DataError(
            f"{name}: column {col!r} has {int(bad.sum())} non-numeric values (first at row "
            f"{row + first_line}: {shorten(column.iloc[row])}); {hint}"
        )
    return values.to_numpy(dtype=np.float64)


def parse_reading(text: str, decimal: str = ".") -> float | None:
    """One stripped reading as `parse_numbers` reads it, without pandas (a live feed's row): the
    number, NaN for a usual spelling of missing (`''`, `n/a`, `-`, ...), or None for text
    `parse_numbers` must judge (its message names the column and row): text that is not a number,
    non-ASCII digits, and, with decimal commas, a point (`1.234,5`).

    Python's float() and pandas' to_numeric read ASCII decimal text to the same float64 (but for
    the sign of an integer zero: pandas reads `-0` as 0), so a row read here and the same row read
    in a file give the same scores."""
    if decimal == ",":
        if "." in text:
            return None
        text = text.replace(",", ".")
    if text.isascii() and "_" not in text:  # float() takes 1_000; pandas does not
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            return value if value == value or text.lower() == "nan" else None
    return float("nan") if text.lower() in MISSING_TEXT else None


def plain_readings(texts: list[str]) -> np.ndarray | None:
    """Readings written as plain ASCII numbers with decimal points, read by float() at once (what
    `parse_reading` leaves to float()); None when one of them is not (a missing reading, text,
    'nan'): `parse_reading` and `parse_numbers` judge those one by one."""
    text = "".join(texts)
    if not text.isascii() or "_" in text:
        return None
    try:
        values = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
    except ValueError:
        return None
    return None if np.isnan(values).any() else values


@dataclass
class ParsedRows:
    """The rows of a block of lines that parsed, and a message per line that did not."""

    index: pd.Index
    values: np.ndarray  # (n_rows, n_features)
    lines: list[int]
    errors: list[tuple[int, str]] = field(default_factory=list)


class RowParser:
    """Lines of a sensor CSV parsed as `read_sensor_csv` parses a file: the header names the
    columns, the format (separator, time column, units rows under the header, decimal mark, dates)
    is settled on the first rows, and each row's time must come after the last row's (or be the
    same, where `duplicates` keeps one row per time). `fill` 'ffill' carries a sensor's last
    reading into a missing one; 'error' skips the row. `optional`: columns the header holds, read
    after `columns`, whose missing reading refuses no row (a model's state columns, which no score
    reads: a gap is left NaN, no reading, where the last one stands)."""

    def __init__(self, name: str, header: str, columns: list[str], options: ReadOptions,
                 optional: list[str] = ()):
        if options.fill == "interpolate":
            raise ConfigError("--fill interpolate needs the reading after a gap, which a live feed does not have "
                              "yet; use --fill ffill or --fill error")
        if options.sort:
            raise ConfigError("--sort needs the whole file, and a live feed answers each row as it comes: feed the "
                              "rows in time order and leave --sort out")
        sep = options.sep if options.sep is not None else header_separator(header)
        if len(sep) != 1:
            raise ConfigError(f"--sep {sep!r}: a live feed is split on one character; give , ; or tab")
        self.header = [c.strip() for c in next(csv.reader([header], delimiter=sep))]
        missing = [c for c in columns if c not in self.header]
        if missing:
            raise DataError(missing_columns_message(missing, self.header, columns, name))
        self.n_required = len(columns)
        columns = list(columns) + [c for c in optional if c in self.header and c not in columns]
        self.name, self.sep, self.columns = name, sep, columns
        self.optional = columns[self.n_required:]
        self.options = options.replace(sep=sep)
        self.repeats = options.duplicates != "error"  # a row may have the last row's time
        self.last_time = None  # the time of the last row handed on
        self.last_values = None  # its readings (for ffill)
        self.n_rows = 0  # rows handed on (the row number of a feed without a time column)
        self._value_at: list[int] = []  # the fields of the model's columns, in its order (once settled)
        self._time_at: list[int] = []  # the fields of the time column(s)

    def parse(self, lines: list[tuple[int, str]]) -> ParsedRows:
        """The rows of `lines` that parse, in order, and a message for each line that does not.

        Lines are split on the separator (by the csv module where a field is quoted), times read by
        `parse_time_fields` and readings as `parse_reading` reads them, the rules `read_sensor_csv`
        follows: a block at once where every row is well formed, row by row (for the messages)
        where one is not; only text those cannot settle is handed to pandas (`parse_numbers`)."""
        fields, numbers, errors = [], [], []
        sep, n_fields = self.sep, len(self.header)
        if self.options.skip_rows and lines and lines[0][0] <= 1 + self.options.skip_rows:
            lines = [(number, text) for number, text in lines if number > 1 + self.options.skip_rows]
        for number, text in lines:
            if '"' in text or "\r" in text or "\0" in text:
                row = next(csv.reader([text], delimiter=sep), [])
            else:
                row = text.split(sep)
            if len(row) != n_fields:
                errors.append((number, f"expected {n_fields} fields (the header's), found {len(row)}"))
                continue
            fields.append(row)  # fields keep their spaces: the parsers strip them
            numbers.append(number)
        rows = ParsedRows(pd.Index([]), np.empty((0, len(self.columns))), [], errors)
        if not fields:
            return rows
        if not self.options.settled:
            raw = pd.DataFrame([[value.strip() for value in row] for row in fields], columns=self.header)
            try:
                self.options = self.options.settle(self.name, raw, at_top=numbers[0] == 2)
            except DataError as exc:
                raise DataError(f"{self.name}: the format cannot be read from line {numbers[0]}: {exc}") from None
            skipped = sum(number <= 1 + self.options.skip_rows for number in numbers)
            fields, numbers = fields[skipped:], numbers[skipped:]
            if not fields:
                return rows
        if not self._value_at:  # the fields to read, once the format is settled (here or by the caller)
            self._value_at = [self.header.index(c) for c in self.columns]
            self._time_at = [self.header.index(c) for c in self.options.time_column]
        timed, index = self._times(fields, numbers, errors)  # the rows with a time, and their times
        values, read = self._values([fields[k] for k in timed], [numbers[k] for k in timed], errors)
        finite = np.isfinite(values[:, :self.n_required]).all(axis=1)
        if read.all() and finite.all() and self._in_order(index):  # the usual block: every row kept
            keep = list(range(len(timed)))
        else:
            keep = self._check_rows(index, values, read, finite, [numbers[k] for k in timed], errors)
        errors.sort()
        if keep:
            self.last_values = values[keep[-1]].copy()
            if index is None:
                rows.index = pd.RangeIndex(self.n_rows, self.n_rows + len(keep), name="row")
            else:
                rows.index = index if len(keep) == len(index) else index[keep]
                self.last_time = rows.index[-1]
            rows.values = values if len(keep) == len(values) else values[keep]
            rows.lines = [numbers[timed[i]] for i in keep]
            self.n_rows += len(keep)
        return rows

    def _times(self, fields: list[list[str]], numbers: list[int], errors: list) -> tuple[list[int], pd.Index | None]:
        """The positions of the rows whose time reads, and their times (None without a time column);
        a refused time's message goes to `errors`. The block is read at once; a block with a bad
        time row by row."""
        if not self.options.time_column:
            return list(range(len(fields))), None
        columns = [[row[j] for row in fields] for j in self._time_at]
        try:
            return list(range(len(fields))), parse_time_fields(self.name, columns, self.options,
                                                               first_line=numbers[0], previous=self.last_time)
        except DataError:
            pass
        timed, pieces = [], []
        for k, number in enumerate(numbers):
            try:
                pieces.append(parse_time_fields(self.name, [[column[k]] for column in columns], self.options,
                                                first_line=number,
                                                previous=pieces[-1][0] if pieces else self.last_time))
            except DataError as exc:
                errors.append((number, _without_name(str(exc), self.name)))
                continue
            timed.append(k)
        if not pieces:
            return [], None
        return timed, pieces[0].append(pieces[1:]) if len(pieces) > 1 else pieces[0]

    def _values(self, fields: list[list[str]], numbers: list[int], errors: list) -> tuple[np.ndarray, np.ndarray]:
        """The rows' readings `(n_rows, n_features)` and which rows read (a refused row's message
        goes to `errors`). A block of plain decimal numbers is read by float() at once."""
        decimal, value_at = self.options.decimal, self._value_at
        read = np.ones(len(fields), dtype=bool)
        if not fields:
            return np.empty((0, len(self.columns))), read
        if decimal == ".":
            values = plain_readings([row[j] for row in fields for j in value_at])
            if values is not None:
                return values.reshape(len(fields), len(value_at)), read
        values = np.empty((len(fields), len(value_at)))
        for k, row in enumerate(fields):
            readings = [parse_reading(row[j].strip(), decimal) for j in value_at]
            if None in readings:
                try:
                    readings = self._readings(row, numbers[k])
                except DataError as exc:
                    errors.append((numbers[k], _without_name(str(exc), self.name)))
                    read[k] = False
                    values[k] = np.nan
                    continue
            values[k] = readings
        return values, read

    def _in_order(self, index: pd.Index | None) -> bool:
        """Whether the block's times rise, from after the last row's (True without a time column)."""
        if index is None or not len(index):
            return True
        keys = index.asi8 if isinstance(index, pd.DatetimeIndex) else index.to_numpy()
        if len(keys) > 1 and not ((np.diff(keys) >= 0) if self.repeats else (np.diff(keys) > 0)).all():
            return False
        if self.last_time is None:
            return True
        try:
            return bool(index[0] >= self.last_time if self.repeats else index[0] > self.last_time)
        except TypeError:
            return False

    def _check_rows(self, index, values: np.ndarray, read: np.ndarray, finite: np.ndarray, numbers: list[int],
                    errors: list) -> list[int]:
        """The rows kept of a block with a refused row, one by one (`_check`); --fill ffill fills
        `values` in place."""
        times = list(index) if index is not None else [None] * len(values)
        keep = []
        last_time, last_values = self.last_time, self.last_values
        for k, time in enumerate(times):
            if not read[k]:
                continue
            message = self._check(time, values[k], finite[k], last_time, last_values)
            if message:
                errors.append((numbers[k], message))
                continue
            if not finite[k]:  # --fill ffill (the check refused it under --fill error)
                values[k] = np.where(np.isfinite(values[k]), values[k], last_values)
            last_time, last_values = time, values[k]
            keep.append(k)
        return keep

    def _readings(self, row: list[str], number: int) -> list[float]:
        """A row's readings read by pandas, column by column: the message of `parse_numbers` for
        text it refuses (naming the column), the number for text only it reads (1.234,5)."""
        decimal = self.options.decimal
        return [float(parse_numbers(self.name, pd.Series([row[j].strip()], dtype=object), column, decimal,
                                    first_line=number)[0]) for column, j in zip(self.columns, self._value_at)]

    def _check(self, time, values: np.ndarray, finite: bool, last_time, last_values) -> str | None:
        """Why a parsed row is refused (None: it is not): a missing reading, or a time not after the
        last row's (`last_time`, `last_values`: the row kept before it)."""
        if not finite:
            bad = ~np.isfinite(values[:self.n_required])
            column = self.columns[int(np.flatnonzero(bad)[0])]
            if self.options.fill == "error":
                return (f"column {column!r} has no reading (missing or infinite); fill it at the source or "
                        "pass --fill ffill")
            if last_values is None or not np.isfinite(last_values[:self.n_required][bad]).all():
                return f"column {column!r} has no reading and no earlier one to carry forward"
        if time is not None and last_time is not None:
            try:
                later = time >= last_time if self.repeats else time > last_time
            except TypeError:
                return (f"time {time} cannot be compared with the last row's ({last_time}): times with "
                        "and without a UTC offset mixed")
            if not later:
                if time == last_time:
                    return (f"time {time} is not after the last row's ({last_time}): it repeats it; pass --duplicates "
                            "first, last or mean to keep one row per time")
                return f"time {time} is not after the last row's ({last_time}); rows must come in time order"
        return None

    def read_optional(self, optional: list[str]) -> list[int | None]:
        """Read `optional` (those the header holds) after the model's columns from the next row on, in
        place of the optional columns read so far (a watch switching to a model that watches other state
        columns). What the parser settled stays: the separator, the format, the last row's time, the
        rows read, and the last readings of the columns it goes on reading; a column new to it has no
        reading yet. Returns, for each column now read, its position among the columns read before
        (None: a new one), so that rows read before can be laid out as the next ones
        (`seqae.data.regular.RowShaper.carry`)."""
        before = list(self.columns)
        columns = before[:self.n_required] + [c for c in dict.fromkeys(optional)
                                               if c in self.header and c not in before[:self.n_required]]
        take = [before.index(c) if c in before else None for c in columns]
        if self.last_values is not None:
            self.last_values = np.array([np.nan if k is None else self.last_values[k] for k in take])
        self.columns, self.optional = columns, columns[self.n_required:]
        self._value_at = []  # found again at the next rows (the time fields with them)
        return take

    def state(self) -> dict:
        """The last row's time and readings, the rows read, and the format settled on the first rows
        (a restart reads the rows after by the same decisions)."""
        settled = {key: getattr(self.options, key) for key in SETTLED} if self.options.settled else None
        state = {"sep": self.sep, "last_time": time_state(self.last_time), "n_rows": self.n_rows,
                 "last_values": None if self.last_values is None else [float(v) for v in self.last_values],
                 "format": settled}
        if self.optional:  # the columns read after the model's (the rows of a state file hold them too)
            state["optional"] = list(self.optional)
        return state

    def load_state(self, state: dict) -> None:
        self.last_time = time_from_state(state["last_time"])
        self.n_rows = int(state["n_rows"])
        self.last_values = None if state["last_values"] is None else np.asarray(state["last_values"], float)
        if self.last_values is not None and len(self.last_values) != len(self.columns):  # other optional columns
            self.last_values = np.concatenate([self.last_values[:self.n_required],
                                               np.full(len(self.columns) - self.n_required, np.nan)])
        settled = state.get("format")
        if settled and set(settled) == set(SETTLED) and settled["sep"] == self.sep:
            left_open = {key: value for key, value in settled.items() if getattr(self.options, key) is None}
            self.options = self.options.replace(**left_open)

    @staticmethod
    def advanced(state: dict, index: pd.Index, values: np.ndarray) -> dict:
        """`state()` of a parser that has parsed these rows too (a restart going over rows it had
        answered): their last time and readings, one more row each."""
        if not len(index):
            return state
        return {**state, "last_time": time_state(index[-1]), "n_rows": int(state["n_rows"]) + len(index),
                "last_values": [float(v) for v in values[-1]]}


# What `ReadOptions.settle` decides, kept in the state so that a restart reads by the same decisions.
SETTLED = ("sep", "decimal", "time_column", "time_unit", "dayfirst", "time_format", "skip_rows")


def _without_name(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message
