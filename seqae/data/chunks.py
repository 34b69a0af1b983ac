"""A sensor CSV read a block of rows at a time, the same way `read_sensor_csv` reads it whole.

`ChunkReader` yields (index, values) blocks with gaps filled by the file's fill policy
(`GapFiller` carries a gap across block edges; state columns hold their last reading), one row
per time and on the grid as the options say (`seqae.data.regular.RowShaper`, which carries the
rows a later block may still change), so that a file of any length is read in bounded memory:
chunked scoring (`seqae.streaming`) and the benchmarks read through it. With `sort`, the file is
read whole by `read_sensor_csv` (it must fit in memory) and handed on in blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqae.data.csv import fill_missing, read_header, read_sensor_csv, read_table
from seqae.data.options import ReadOptions, time_text
from seqae.data.regular import RowShaper, first_step, time_keys, time_positions
from seqae.data.rows import parse_numbers
from seqae.data.timestamps import check_time_order, mixed_offsets_error, parse_timestamps
from seqae.errors import DataError, missing_columns_message


class ChunkReader:
    """(index, values) of the rows of a sensor CSV, a chunk at a time, gaps filled.

    values: `(n_rows, n_features)` float64 in the order of `columns`. The format is settled on the
    first chunk and holds for the whole file. `optional`: columns read after `columns`, whose gaps
    a fill policy of 'error' leaves as NaN (a model's state columns, which no score reads).
    """

    def __init__(self, name: str, columns: list[str], options: ReadOptions, chunk_rows: int,
                 optional: list[str] = ()):
        self.required = list(columns)
        columns = self.required + [c for c in optional if c not in self.required]
        self.name, self.columns, self.options, self.chunk_rows = name, columns, options, chunk_rows
        self.filler = self.shaper = None  # made on the first chunk, which tells the held columns (`_start`)
        self.last_stamp = None  # the previous chunk's last time value, to check the order across edges
        self.last_text = None  # and that time as written

    def __iter__(self):
        if self.options.sort:
            yield from self._sorted()
            return
        line = 2  # file line of the chunk's first row: the header is line 1
        options, skip, started = self.options, 0, False
        for number, raw in enumerate(read_table(self.name, options.sep, self.chunk_rows)):
            if number == 0:
                options = options.settle(self.name, raw)
                missing = [c for c in self.required if c not in raw.columns]
                if missing:
                    raise DataError(missing_columns_message(missing, raw.columns, self.required, self.name))
                skip = options.skip_rows
            if skip:  # the rows under the header that hold no readings
                cut = min(skip, len(raw))
                raw, line, skip = raw.iloc[cut:], line + cut, skip - cut
                if raw.empty:
                    continue
            index = self._index(raw, options, line)
            values = np.column_stack([parse_numbers(self.name, raw[c], c, options.decimal, first_line=line)
                                      for c in self.columns])
            lines = np.arange(line, line + len(raw))
            if not started:
                self._start(values)
                started = True
            if self.filler is None:
                frame = pd.DataFrame(values[:, :len(self.required)], columns=self.required)
                fill_missing(self.name, frame, "error", file_rows=lines)  # raises at a gap
                yield from self._shaped(index, values, lines)
            else:
                for filled in self.filler.push(index, values, lines):
                    yield from self._shaped(*filled)
            line += len(raw)
        if self.filler is not None:
            for filled in self.filler.finish():
                yield from self._shaped(*filled)
        if self.shaper is not None:
            yield from self._ready(self.shaper.finish())

    def _start(self, values: np.ndarray) -> None:
        """The gap filler and the row shaper, holding the columns `options.hold` names ('states': those
        whose readings in the first chunk are few whole numbers)."""
        options = self.options
        held = options.held(self.columns, values)
        hold = [c in held for c in self.columns]
        self.filler = None if options.fill == "error" else GapFiller(self.name, self.columns, options.fill, hold)
        self.shaper = RowShaper(self.name, options.duplicates, options.resample, hold=hold) \
            if RowShaper.needed(options.duplicates, options.resample) else None

    def _sorted(self):
        """The file read whole (`read_sensor_csv`, rows sorted by time) and handed on in chunks."""
        header = read_header(self.name, self.options.sep)
        missing = [c for c in self.columns if header is not None and c not in header]
        if missing:
            raise DataError(missing_columns_message(missing, header, self.columns, self.name))
        frame = read_sensor_csv(self.name, self.options, columns=self.columns)
        values = frame.to_numpy()
        for first in range(0, len(frame), self.chunk_rows):
            yield frame.index[first:first + self.chunk_rows], values[first:first + self.chunk_rows]

    def _shaped(self, index: pd.Index, values: np.ndarray, lines: np.ndarray):
        if self.shaper is None:
            yield index, values
        else:
            yield from self._ready(self.shaper.push(index, values, lines))

    @staticmethod
    def _ready(rows):
        if rows is not None and len(rows[0]):
            yield rows[0], rows[1]

    def _index(self, raw: pd.DataFrame, options: ReadOptions, line: int) -> pd.Index:
        previous = self.last_stamp  # the previous chunk's last row, as a one-element index
        index = parse_timestamps(self.name, raw, options, first_line=line,
                                 previous=None if previous is None else previous[0])
        if not options.time_column:
            return index
        text = time_text(raw, options.time_column)
        if previous is not None and getattr(index, "tz", None) != getattr(previous, "tz", None):
            rows = [(line - 1, self.last_text), (line, text.iloc[0])]  # the previous chunk's last row, this one's first
            with_offset, without = rows if getattr(previous, "tz", None) is not None else rows[::-1]
            raise mixed_offsets_error(self.name, options.time_column, with_offset, without)
        both = index if previous is None else previous.append(index)
        first_line = line - (previous is not None)  # file line of both[0]
        check_time_order(self.name, both, np.arange(len(both)) + first_line,
                         repeats=options.duplicates != "error")
        self.last_stamp, self.last_text = index[-1:], text.iloc[-1]
        return index


class GapFiller:
    """`read_sensor_csv`'s fill policies ('ffill', 'interpolate') applied chunk by chunk.

    A missing reading is filled from the readings around it in the whole file: carried forward
    from the last one (the first readings backward from the first one), or interpolated linearly
    in time between the two around it (`fill_missing`'s positions: steps of the file's first step
    from its first time; rows without a time column by row). A row is handed on once every gap in
    it can be filled; until then it waits, with the rows after it. (index, values, lines) in and out.
    """

    def __init__(self, name: str, columns: list[str], fill: str, hold=()):
        self.name, self.columns, self.fill = name, columns, fill
        self.held = np.asarray(hold, dtype=bool) if len(hold) else np.zeros(len(columns), dtype=bool)  # carried forward
        n_features = len(columns)
        self.anchor_key = [None] * n_features  # the key of the last reading handed on, per sensor
        self.anchor_value = np.full(n_features, np.nan)
        self.n_handed = 0  # rows handed on: the series position of the first waiting row
        self.origin, self.unit, self.last_key = None, None, None  # interpolation in time: see `_positions`
        self.index, self.values, self.lines = None, np.empty((0, n_features)), np.empty(0, dtype=np.int64)

    def push(self, index: pd.Index, values: np.ndarray, lines: np.ndarray):
        if self.index is None:
            self.index, self.values, self.lines = index, values, lines
        else:
            self.index = self.index.append(index)
            self.values = np.concatenate([self.values, values])
            self.lines = np.concatenate([self.lines, lines])
        yield from self._hand_on(final=False)

    def finish(self):
        if self.index is not None and len(self.index):
            yield from self._hand_on(final=True)

    def _hand_on(self, final: bool):
        values = self.values
        finite = np.isfinite(values)
        n_ready = len(values)
        keys = self._keys()
        if not finite.all():
            values = values.copy()
            for c in np.flatnonzero(~finite.all(axis=0)):
                known = np.flatnonzero(finite[:, c])
                xk = keys[known]
                if self.anchor_key[c] is not None:
                    xk = np.concatenate([np.asarray([self.anchor_key[c]], dtype=keys.dtype), xk])
                fp = self.values[known, c] if self.anchor_key[c] is None else \
                    np.concatenate([[self.anchor_value[c]], self.values[known, c]])
                gaps = np.flatnonzero(~finite[:, c])
                if len(xk) == 0:  # nothing to fill from yet
                    if final:  # the whole-file error: this sensor has no finite reading at all
                        frame = pd.DataFrame({self.columns[c]: self.values[:, c]})
                        fill_missing(self.name, frame, self.fill, file_rows=self.lines)
                    n_ready = 0
                    continue
                if self.fill == "ffill" or self.held[c]:
                    before = np.searchsorted(xk, keys[gaps], side="right") - 1
                    values[gaps, c] = fp[np.maximum(before, 0)]
                else:
                    xp, at = self._positions(xk), self._positions(keys[gaps])
                    values[gaps, c] = np.interp(at, xp, fp)
                    waiting = gaps[keys[gaps] > xk[-1]]  # after the last reading: needs the next one
                    if len(waiting) and not final:
                        n_ready = min(n_ready, int(waiting[0]))
        if n_ready == 0:
            return
        handed = finite[:n_ready]
        for c in range(values.shape[1]):
            known = np.flatnonzero(handed[:, c])
            if len(known):
                self.anchor_key[c] = keys[known[-1]]
                self.anchor_value[c] = self.values[known[-1], c]
        yield self.index[:n_ready], values[:n_ready], self.lines[:n_ready]
        self.index, self.values, self.lines = self.index[n_ready:], self.values[n_ready:], self.lines[n_ready:]
        self.n_handed += n_ready

    def _keys(self) -> np.ndarray:
        """The waiting rows' keys: their times for `interpolate` over a time column (noting the
        first time and the first step, the unit of `_positions`), else their series positions."""
        if self.fill != "interpolate" or isinstance(self.index, pd.RangeIndex):
            return self.n_handed + np.arange(len(self.values))
        keys = time_keys(self.index)
        if len(keys):
            if self.origin is None:
                self.origin = keys[0]
            if self.unit is None:
                seen = keys if self.last_key is None else np.concatenate([[self.last_key], keys]).astype(keys.dtype)
                if (seen[1:] > seen[:-1]).any():
                    self.unit = first_step(seen)
            self.last_key = keys[-1]
        return keys

    def _positions(self, keys: np.ndarray) -> np.ndarray:
        if self.fill != "interpolate" or isinstance(self.index, pd.RangeIndex) or self.origin is None:
            return keys.astype(np.float64)
        return time_positions(keys, self.origin, self.unit if self.unit is not None else 1)
