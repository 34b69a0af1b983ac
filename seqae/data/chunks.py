"""A sensor CSV read a block of rows at a time, the same way `read_sensor_csv` reads it whole.

`ChunkReader` yields (index, values) blocks with gaps filled by the file's fill policy
(`GapFiller` carries a gap across block edges), so that a file of any length is read in bounded
memory: chunked scoring (`seqae.streaming`) and the benchmarks read through it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqae.data.csv import fill_missing, read_table
from seqae.data.options import ReadOptions, time_text
from seqae.data.rows import parse_numbers
from seqae.data.timestamps import check_unique_times, mixed_offsets_error, parse_timestamps
from seqae.errors import DataError, missing_columns_message


class ChunkReader:
    """(index, values) of the rows of a sensor CSV, a chunk at a time, gaps filled.

    values: `(n_rows, n_features)` float64 in the order of `columns`. The format is settled on the
    first chunk and holds for the whole file.
    """

    def __init__(self, name: str, columns: list[str], options: ReadOptions, chunk_rows: int):
        self.name, self.columns, self.options, self.chunk_rows = name, columns, options, chunk_rows
        self.filler = None if options.fill == "error" else GapFiller(name, columns, options.fill)
        self.last_stamp = None  # the previous chunk's last time value, to check the order across edges
        self.last_text = None  # and that time as written

    def __iter__(self):
        line = 2  # file line of the chunk's first row: the header is line 1
        options = self.options
        for number, raw in enumerate(read_table(self.name, options.sep, self.chunk_rows)):
            if number == 0:
                options = options.settle(self.name, raw)
                missing = [c for c in self.columns if c not in raw.columns]
                if missing:
                    raise DataError(missing_columns_message(missing, raw.columns, self.columns, self.name))
            index = self._index(raw, options, line)
            values = np.column_stack([parse_numbers(self.name, raw[c], c, options.decimal, first_line=line)
                                      for c in self.columns])
            lines = np.arange(line, line + len(raw))
            if self.filler is None:
                frame = pd.DataFrame(values, columns=self.columns)
                fill_missing(self.name, frame, "error", file_rows=lines)  # raises at a gap
                yield index, values
            else:
                yield from self.filler.push(index, values, lines)
            line += len(raw)
        if self.filler is not None:
            yield from self.filler.finish()

    def _index(self, raw: pd.DataFrame, options: ReadOptions, line: int) -> pd.Index:
        index = parse_timestamps(self.name, raw, options, first_line=line)
        if not options.time_column:
            return index
        previous = self.last_stamp  # the previous chunk's last row, as a one-element index
        text = time_text(raw, options.time_column)
        if previous is not None and getattr(index, "tz", None) != getattr(previous, "tz", None):
            rows = [(line - 1, self.last_text), (line, text.iloc[0])]  # the previous chunk's last row, this one's first
            with_offset, without = rows if getattr(previous, "tz", None) is not None else rows[::-1]
            raise mixed_offsets_error(self.name, options.time_column, with_offset, without)
        both = index if previous is None else previous.append(index)
        stamps = both.asi8 if isinstance(both, pd.DatetimeIndex) else both.to_numpy()
        later = stamps[1:] > stamps[:-1]
        if not later.all():
            pos = int(np.flatnonzero(~later)[0])  # both[pos + 1] is not after both[pos]
            first_line = line - (previous is not None)  # file line of both[0]
            if stamps[pos + 1] == stamps[pos]:
                check_unique_times(self.name, both[:pos + 2], file_rows=np.arange(pos + 2) + first_line)
            raise DataError(
                f"{self.name}: row {first_line + pos + 1} ({both[pos + 1]}) is earlier than the row above it "
                f"({both[pos]}); chunked scoring takes rows in file order: sort the file by time first"
            )
        self.last_stamp, self.last_text = index[-1:], text.iloc[-1]
        return index


class GapFiller:
    """`read_sensor_csv`'s fill policies ('ffill', 'interpolate') applied chunk by chunk.

    A missing reading is filled from the readings around it in the whole file: carried forward
    from the last one (the first readings backward from the first one), or interpolated linearly
    in row position between the two around it (np.interp, as pandas does). A row is handed on once
    every gap in it can be filled; until then it waits, with the rows after it.
    """

    def __init__(self, name: str, columns: list[str], fill: str):
        self.name, self.columns, self.fill = name, columns, fill
        n_features = len(columns)
        self.anchor_position = np.full(n_features, -1, dtype=np.int64)  # last reading handed on, per sensor
        self.anchor_value = np.full(n_features, np.nan)
        self.first_position = 0  # series position of the first waiting row
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
        if not finite.all():
            values = values.copy()
            positions = self.first_position + np.arange(len(values))
            for c in np.flatnonzero(~finite.all(axis=0)):
                known = np.flatnonzero(finite[:, c])
                xp, fp = positions[known], self.values[known, c]
                if self.anchor_position[c] >= 0:
                    xp = np.concatenate([[self.anchor_position[c]], xp])
                    fp = np.concatenate([[self.anchor_value[c]], fp])
                gaps = np.flatnonzero(~finite[:, c])
                if len(xp) == 0:  # nothing to fill from yet
                    if final:  # the whole-file error: this sensor has no finite reading at all
                        frame = pd.DataFrame({self.columns[c]: self.values[:, c]})
                        fill_missing(self.name, frame, self.fill, file_rows=self.lines)
                    n_ready = 0
                    continue
                if self.fill == "ffill":
                    before = np.searchsorted(xp, positions[gaps], side="right") - 1
                    values[gaps, c] = fp[np.maximum(before, 0)]
                else:
                    values[gaps, c] = np.interp(positions[gaps], xp, fp)
                    waiting = gaps[positions[gaps] > xp[-1]]  # after the last reading: needs the next one
                    if len(waiting) and not final:
                        n_ready = min(n_ready, int(waiting[0]))
        if n_ready == 0:
            return
        handed = finite[:n_ready]
        for c in range(values.shape[1]):
            known = np.flatnonzero(handed[:, c])
            if len(known):
                self.anchor_position[c] = self.first_position + known[-1]
                self.anchor_value[c] = self.values[known[-1], c]
        yield self.index[:n_ready], values[:n_ready]
        self.index, self.values, self.lines = self.index[n_ready:], self.values[n_ready:], self.lines[n_ready:]
        self.first_position += n_ready
