"""Rows in time order to a series with one row per time (`--duplicates`), on a regular grid if asked
(`--resample`), and the positions a gap is interpolated at (`--fill interpolate`, by time).

    rows in time order, times may repeat ──RowShaper.push──> the rows that are ready; finish: the rest

One `RowShaper` serves a file read whole (`read_sensor_csv`: every row pushed at once), in chunks
(`ChunkReader`) and a live feed (`seqae watch`), so that all three give the same rows, value for value.

- `--duplicates first` keeps the first row of each time, at once; `last` keeps the last and `mean`
  their mean, so a row waits until a later time has come (a live feed answers it then). Label
  columns take their largest label.
- `--resample RULE`: the grid times are the multiples of the step (counted from 1970-01-01 in the
  index's own clock, or from 0 for a time column of plain numbers), from the first at or after the
  first reading. A grid time's value is the mean of the readings within half a step of it (from
  half a step before, up to but not including half a step after), or, where no reading is that
  close, the reading interpolated at the grid time along the straight line between the readings
  before and after it. A grid time is handed on once a reading half a step after it or later has
  come (its line is that reading's), so a live feed answers it then; at the end of a file the
  last grid times with readings are handed on too. Labels: the largest of the readings the value
  is made from.
- Held columns (`hold`: state and constant columns, `seqae.data.roles.held_columns`) are never
  averaged or interpolated, as a valve holds its position: a grid time takes the last reading at
  or before it, `--duplicates mean` the last of the repeats.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from seqae.data.options import resample_step
from seqae.errors import ConfigError


def time_keys(index: pd.Index) -> np.ndarray:
    """The times of `index` as numbers that order them: nanoseconds (int64) of a DatetimeIndex (in
    its own clock), the numbers of a numeric index, the row numbers of a RangeIndex."""
    return index.asi8 if isinstance(index, pd.DatetimeIndex) else index.to_numpy()


def time_positions(keys: np.ndarray, origin, unit) -> np.ndarray:
    """`keys` as positions in a series: (key - origin) / unit, where unit is the series' first step.
    Whole steps are exact integers (the positions of a regular series are 0, 1, 2, ...), so that a
    gap is interpolated by time, and a regular series exactly as by row."""
    if np.issubdtype(keys.dtype, np.integer):
        whole, part = np.divmod(keys.astype(np.int64) - np.int64(origin), np.int64(unit))
        return whole.astype(np.float64) + part / float(unit)
    positions = (keys.astype(np.float64) - float(origin)) / float(unit)
    nearest = np.round(positions)
    return np.where(np.abs(positions - nearest) < 1e-9, nearest, positions)


def first_step(keys: np.ndarray):
    """The first positive step between consecutive keys (1 if there is none)."""
    steps = np.diff(keys)
    positive = np.flatnonzero(steps > 0)
    return steps[positive[0]] if len(positive) else 1


class RowShaper:
    """Rows (index, values, lines) in time order to rows with one row per time, on the grid of
    `resample` if given. `n_labels`: the last columns of `values` are 0/1 labels (their largest
    value is kept); `hold`: which of the first columns are held (True: the last reading, never a
    mean or a line). `push` returns the rows that are ready; `finish` the rest."""

    def __init__(self, name: str, duplicates: str = "error", resample: str | None = None, n_labels: int = 0,
                 hold=()):
        self.name, self.duplicates, self.rule, self.n_labels = name, duplicates, resample, n_labels
        self.holding = np.flatnonzero(np.asarray(hold, dtype=bool))  # the held columns' positions
        self.step = None  # the grid step in index keys (ns or a number), once the index is known
        self.kind = None  # the index: (class, tz, name), once known
        self.last_key = None  # `first`: the time of the last row handed on
        self.held = None  # `last`, `mean`: the rows of the last time, (keys, values, lines)
        self.pending = None  # resample: readings a grid time to come needs, (keys, values, lines)
        self.next_grid = None  # resample: the next grid time (a key)
        self.width = 0  # columns of values

    @staticmethod
    def needed(duplicates: str, resample: str | None) -> bool:
        return duplicates != "error" or resample is not None

    def push(self, index: pd.Index, values: np.ndarray, lines: np.ndarray, final: bool = False):
        """The rows ready after these: (index, values, lines)."""
        self._know(index)
        self.width = values.shape[1]
        keys, lines = time_keys(index), np.asarray(lines, dtype=np.int64)
        keys, values, lines = self._one_per_time(keys, values, lines, final)
        if self.step is not None:
            keys, values, lines = self._on_grid(keys, values, lines, final)
        return self._index(keys), values, lines

    def finish(self):
        """The rows still waiting: the last time's (`last`, `mean`), the last grid times."""
        if self.kind is None:
            return None
        empty = self._index(np.empty(0, dtype=np.int64)), np.empty((0, self.width)), np.empty(0, dtype=np.int64)
        return self.push(*empty, final=True)

    # ---- one row per time --------------------------------------------------------------------

    def _one_per_time(self, keys, values, lines, final):
        if self.duplicates == "error":
            return keys, values, lines
        if self.duplicates == "first":
            keep = np.ones(len(keys), dtype=bool)
            keep[1:] = keys[1:] != keys[:-1]
            if len(keys) and self.last_key is not None and keys[0] == self.last_key:
                keep[0] = False
            if len(keys):
                self.last_key = keys[-1]
            return keys[keep], values[keep], lines[keep]
        if self.held is not None:
            keys = np.concatenate([self.held[0], keys])
            values = np.concatenate([self.held[1], values])
            lines = np.concatenate([self.held[2], lines])
            self.held = None
        if not len(keys):
            return keys, values, lines
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        if not final:  # the last time may go on in the next rows
            last = starts[-1]
            self.held = (keys[last:], values[last:], lines[last:])
            keys, values, lines = keys[:last], values[:last], lines[:last]
            starts = starts[:-1]
            if not len(starts):
                return keys, values, lines
        ends = np.r_[starts[1:], len(keys)] - 1
        if self.duplicates == "last":
            merged = values[ends]
        else:
            counts = (ends - starts + 1)[:, None]
            merged = np.add.reduceat(values, starts, axis=0) / counts
            merged[:, self.holding] = values[ends][:, self.holding]
        if self.n_labels:
            merged[:, -self.n_labels:] = np.maximum.reduceat(values[:, -self.n_labels:], starts, axis=0)
        return keys[starts], merged, lines[ends]

    # ---- the grid ----------------------------------------------------------------------------

    def _on_grid(self, keys, values, lines, final):
        if self.pending is not None:
            keys = np.concatenate([self.pending[0], keys])
            values = np.concatenate([self.pending[1], values])
            lines = np.concatenate([self.pending[2], lines])
        self.pending = (keys, values, lines)
        if not len(keys):
            return keys, values, lines
        step = self.step
        if self.next_grid is None:  # the first grid time at or after the first reading
            self.next_grid = -((-keys[0]) // step) * step
        first = self.next_grid
        doubled = 2 * keys  # in half steps: a grid time's span is [2g - step, 2g + step)
        if final:  # every grid time with a reading in its span, or before it
            reach = doubled[-1] - (2 * first - step)
        else:  # the spans the last reading is past: none of their readings is still to come
            reach = doubled[-1] - (2 * first + step)
        n = int(reach // (2 * step)) + 1 if reach >= 0 else 0
        if n == 0:
            return keys[:0], values[:0], lines[:0]
        grid = first + np.arange(n) * step
        grid = grid.astype(keys.dtype) if np.issubdtype(keys.dtype, np.integer) else grid
        starts = np.searchsorted(doubled, 2 * grid - step, side="left")  # the first reading in each span
        stops = np.searchsorted(doubled, 2 * grid + step, side="left")  # the first reading after it
        out = np.empty((n, values.shape[1]))
        counts = stops - starts
        full = counts > 0
        if full.any():  # the mean of the readings in the span
            spans = np.flatnonzero(full)
            # the spans follow each other: each sum runs from its first reading to the next span's
            sums = np.add.reduceat(values[:stops[spans[-1]]], starts[spans], axis=0)
            out[spans] = sums / counts[spans][:, None]
        empty = np.flatnonzero(~full)
        if len(empty):  # between the reading before and the one after, at the grid time
            before, after = starts[empty] - 1, stops[empty]
            after = np.minimum(after, len(keys) - 1)
            weight = _fraction(keys[before], keys[after], grid[empty])
            out[empty] = values[before] + weight[:, None] * (values[after] - values[before])
        if len(self.holding):  # the last reading at or before the grid time
            at = np.maximum(np.searchsorted(keys, grid, side="right") - 1, 0)
            out[:, self.holding] = values[at][:, self.holding]
        if self.n_labels:
            low = np.where(full, starts, starts - 1)
            high = np.where(full, stops - 1, np.minimum(stops, len(keys) - 1))
            marks = np.vstack([np.zeros((1, self.n_labels)), np.cumsum(values[:, -self.n_labels:], axis=0)])
            out[:, -self.n_labels:] = (marks[high + 1] - marks[low]) > 0
        closing = lines[np.minimum(stops, len(lines) - 1)]
        self.next_grid = grid[-1] + step
        keep = max(int(np.searchsorted(doubled, 2 * self.next_grid - step, side="left")) - 1, 0)
        self.pending = (keys[keep:], values[keep:], lines[keep:])
        return grid, out, closing

    # ---- the index and the state -------------------------------------------------------------

    def _know(self, index: pd.Index) -> None:
        if self.kind is not None:
            return
        self.kind = (type(index).__name__, str(index.tz) if isinstance(index, pd.DatetimeIndex) and index.tz else None,
                     index.name)
        if self.rule is not None:
            self.step = grid_step(self.rule, index)

    def _index(self, keys: np.ndarray) -> pd.Index:
        kind, tz, name = self.kind
        if kind == "DatetimeIndex":
            index = pd.DatetimeIndex(keys.astype(np.int64).view("M8[ns]"), name=name)
            return index.tz_localize(tz) if tz else index
        return pd.Index(keys, name=name)

    def carry(self, previous: "RowShaper", take: list[int | None]) -> "RowShaper":
        """Go on from `previous` (the same duplicates and resample rule, over other columns): its rows
        waiting and its place on the grid, each of this shaper's columns taken from `previous`'s column
        `take[j]`, or no reading (NaN) where `take[j]` is None (`RowParser.read_optional`). Returns self."""
        def columns(rows):
            if rows is None:
                return None
            keys, values, lines = rows
            laid = np.full((len(values), len(take)), np.nan)
            for j, k in enumerate(take):
                if k is not None and k < values.shape[1]:
                    laid[:, j] = values[:, k]
            return keys, laid, lines

        self.kind, self.step, self.last_key, self.next_grid = previous.kind, previous.step, previous.last_key, \
            previous.next_grid
        self.held, self.pending = columns(previous.held), columns(previous.pending)
        self.width = len(take)
        return self

    def state(self) -> dict:
        """What a restart needs, JSON-able: the rows waiting and the next grid time."""
        return {"kind": None if self.kind is None else list(self.kind), "width": self.width,
                "last_key": _number(self.last_key), "next_grid": _number(self.next_grid),
                "held": rows_state(self.held), "pending": rows_state(self.pending)}

    def load_state(self, state: dict) -> None:
        if state.get("kind") is not None:
            kind, tz, name = state["kind"]
            self.kind = (kind, tz, name)
            if self.rule is not None:
                self.step = grid_step(self.rule, pd.DatetimeIndex([]) if kind == "DatetimeIndex" else pd.Index([0.0]))
        self.last_key, self.next_grid, self.width = state.get("last_key"), state.get("next_grid"), state["width"]
        self.held, self.pending = rows_from_state(state.get("held")), rows_from_state(state.get("pending"))


def grid_step(rule: str, index: pd.Index):
    """The step of `--resample RULE` in the keys of `index`: nanoseconds for times, a number for a
    time column of numbers; a `ConfigError` where the two do not match or there is no time column."""
    kind, step = resample_step(rule)
    if isinstance(index, pd.RangeIndex):
        raise ConfigError(f"--resample {rule} needs a time column, and the rows have none; name it with --time-column")
    if isinstance(index, pd.DatetimeIndex):
        if kind != "time":
            raise ConfigError(f"--resample {rule} is a number, and the time column holds times; give a step such "
                              "as 1s, 1min or 15min")
        return np.int64(step)
    if kind != "number":
        raise ConfigError(f"--resample {rule} is a duration, and the time column holds plain numbers; give a step "
                          "in their units (e.g. --resample 10)")
    return step


def _fraction(before: np.ndarray, after: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Where `at` lies between `before` and `after`, from 0 to 1 (times as exact integer differences)."""
    if np.issubdtype(before.dtype, np.integer):
        span = (after.astype(np.int64) - before.astype(np.int64)).astype(np.float64)
        return (at.astype(np.int64) - before.astype(np.int64)).astype(np.float64) / np.where(span > 0, span, 1.0)
    span = after - before
    return (at - before) / np.where(span > 0, span, 1.0)


def _number(value):
    return None if value is None else value.item() if isinstance(value, np.generic) else value


def rows_state(rows) -> dict | None:
    """Rows (keys, values, lines) as JSON, bit for bit: the arrays' bytes in base64."""
    if rows is None:
        return None
    keys, values, lines = rows
    return {"keys": _encode(keys), "values": _encode(values), "lines": _encode(lines)}


def rows_from_state(state: dict | None):
    if state is None:
        return None
    return _decode(state["keys"]), _decode(state["values"]), _decode(state["lines"])


def block_state(index: pd.Index, values: np.ndarray, lines) -> dict:
    """Rows as parsed (their index, readings and file lines) as JSON, bit for bit, for `block_from_state`."""
    kind = [type(index).__name__, str(index.tz) if isinstance(index, pd.DatetimeIndex) and index.tz else None,
            index.name]
    return {"kind": kind, **rows_state((time_keys(index), np.asarray(values, dtype=np.float64),
                                        np.asarray(lines, dtype=np.int64)))}


def block_from_state(state: dict) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    keys, values, lines = rows_from_state(state)
    kind, tz, name = state["kind"]
    if kind == "DatetimeIndex":
        index = pd.DatetimeIndex(keys.astype(np.int64).view("M8[ns]"), name=name)
        index = index.tz_localize(tz) if tz else index
    elif kind == "RangeIndex":
        start = int(keys[0]) if len(keys) else 0
        index = pd.RangeIndex(start, start + len(keys), name=name)
    else:
        index = pd.Index(keys, name=name)
    return index, values, lines


def _encode(array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def _decode(state: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(state["data"]), dtype=np.dtype(state["dtype"])).reshape(state["shape"]).copy()
