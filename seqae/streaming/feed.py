"""A feed of CSV lines scored as they arrive: the loop behind `seqae watch`.

    a pipe (stdin) or a file that keeps growing (followed like `tail -f`)
      --LineSource: complete lines as they come, with their line numbers-->
      --RowParser (`seqae.data.rows`): split, times and readings parsed by read_sensor_csv's rules;
        a malformed row (wrong field count, text, a missing reading under --fill error, a time not
        after the last) reported with its line number and skipped-->
      --RowShaper (`seqae.data.regular`), with --duplicates last/mean or --resample: a row (a grid
        time) handed on once a later time has come-->
      --LiveScorer: causal scores, alerts opening and closing--> one JSON line (or CSV row) per row,
        flushed as soon as the rows that came together are scored
      --with --state, each block of rows appended to the state file before its answers are written,
        and the whole state every N rows and at the end (`seqae.streaming.state`)-->

`watch` ends cleanly at the end of a pipe, on SIGINT or SIGTERM (`stop()` turns true), or when
the reader of its output goes away; it writes the state file then. A restart with the same state
file, even after kill -9, goes on from the row after the last one answered, each row answered once:
the scorer's window and smoothing, the alert tracker (an open alert stays open, its id kept, never
opened again), rows waiting for a later time and, for a followed file, the byte offset and line
number it had reached. Rows waiting at the end of a pipe stay in the state for the next watch.
"""

from __future__ import annotations

import csv
import json
import math
import os
import select
import sys
import time
from dataclasses import dataclass
from typing import Callable, TextIO

import numpy as np
import pandas as pd

from seqae.data import ParsedRows, ReadOptions, RowParser, compression_of, shaper_for_detector
from seqae.detectors import Detection
from seqae.errors import ConfigError, DataError
from seqae.streaming.alert_rows import AlertRows
from seqae.streaming.live import AlertEvent, LiveScorer, split_watched
from seqae.streaming.state import StateFile
from seqae.streaming.switch import RecentRows, read_for

POLL_SECONDS = 0.1  # how often a followed file is looked at, and a pipe's wait between stop checks
READ_BYTES = 1 << 16


class LineSource:
    """Complete lines from stdin (`path` None or "-") or from a file that keeps growing.

    `header()` is the first line; `read()` the lines that have come since, `[]` when none came
    within `POLL_SECONDS`, None at the end of a pipe (a followed file never ends). A file is
    followed from its end, or from its first row with `from_start`, or from `offset` (a restart).
    """

    def __init__(self, path: str | None = None, from_start: bool = False, offset: int | None = None,
                 line: int | None = None):
        self.name = "<stdin>" if path in (None, "-") else os.fspath(path)
        self.pipe = path in (None, "-")
        self.buffer = b""
        self.ended = False
        if self.pipe:
            self.fd = sys.stdin.fileno()
            self.handle = None
        else:
            if not os.path.isfile(self.name):
                raise DataError(f"{self.name}: no such file; check the path")
            if compression_of(self.name):
                raise DataError(f"{self.name}: a compressed file cannot be followed as it grows; pipe it in "
                                f"decompressed (e.g. zcat {self.name} | seqae watch MODEL -)")
            self.handle = open(self.name, "rb")
            self.fd = None
        self.offset = 0  # bytes consumed up to the end of the last complete line handed out (a file)
        self.line = 0  # file line number of the last line handed out
        self.block, self.block_offset, self.block_line = b"", 0, 0  # the last lines handed out, from where
        self._from_start, self._resume = from_start, (offset, line)

    def header(self) -> str:
        """The header line (waits for it on a pipe); positions a followed file where rows start."""
        while b"\n" not in self.buffer:
            more = self._read_bytes(wait=True)
            if more is None:
                break
        if not self.buffer.strip():
            raise DataError(f"{self.name}: no header line; expected the sensors' column names first")
        if self.buffer[:2] == b"\x1f\x8b":
            raise DataError(f"{self.name}: the input is gzip-compressed; decompress it into the watch (e.g. zcat "
                            "data.csv.gz | seqae watch MODEL -)")
        text, _, rest = self.buffer.partition(b"\n")
        self.offset, self.line, self.buffer = len(text) + 1, 1, rest
        if not self.pipe:
            offset, line = self._resume
            if offset is not None:
                if offset > os.path.getsize(self.name):
                    raise DataError(f"{self.name}: the state file says {offset} bytes were read, but the file "
                                    "is shorter now; it was replaced: start without the state file")
                self.offset, self.line = int(offset), int(line)
            elif not self._from_start:  # follow from the end: count the lines already there
                self.handle.seek(self.offset)
                tail = self.handle.read()
                complete = tail.rfind(b"\n") + 1  # a last line still being written is read when it ends
                self.offset += complete
                self.line += tail[:complete].count(b"\n")
            self.handle.seek(self.offset)
            self.buffer = b""
        return text.decode("utf-8-sig", errors="replace").rstrip("\r")

    def read(self) -> list[tuple[int, str]] | None:
        """The complete lines that came since the last call, with their line numbers."""
        if self.ended:
            return None
        more = self._read_bytes(wait=True)
        if more is None and not self.buffer:
            self.ended = True
            return None
        if more is None:  # the pipe ended without a last newline: the last line is complete
            self.buffer += b"\n"
            self.ended = True
        cut = self.buffer.rfind(b"\n") + 1
        if not cut:
            return []
        block, self.buffer = self.buffer[:cut], self.buffer[cut:]
        self.block, self.block_offset, self.block_line = block, self.offset, self.line
        self.offset += len(block)
        lines = []
        for raw in block.split(b"\n")[:-1]:
            self.line += 1
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if text.strip():
                lines.append((self.line, text))
        return lines

    def position_after(self, line: int) -> tuple[int, int]:
        """(byte offset, line) just after line `line` of the lines `read` last handed out."""
        if line <= self.block_line:
            return self.block_offset, self.block_line
        cut = -1
        for _ in range(min(line, self.line) - self.block_line):
            cut = self.block.index(b"\n", cut + 1)
        return self.block_offset + cut + 1, min(line, self.line)

    def _read_bytes(self, wait: bool) -> bytes | None:
        """Bytes that came within POLL_SECONDS (b"" if none), None at the end of a pipe."""
        if self.pipe:
            ready, _, _ = select.select([self.fd], [], [], POLL_SECONDS if wait else 0)
            if not ready:
                return b""
            data = os.read(self.fd, READ_BYTES)
            if not data:
                return None
        else:
            data = self.handle.read(READ_BYTES)
            if not data:
                time.sleep(POLL_SECONDS if wait else 0)
                return b""
        self.buffer += data
        return data

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


# ---- output ---------------------------------------------------------------------------------------

def json_value(value):
    """A value of a row or an alert as JSON: times as ISO text, NaN as null, numpy as Python."""
    if value is None:
        return None
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return str(pd.Timedelta(value))
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def json_times(index: pd.Index) -> list:
    """`json_value` of each time of `index`, the block at once where the times are whole seconds
    (numpy writes them as Timestamp.isoformat does), one by one otherwise."""
    if isinstance(index, pd.DatetimeIndex) and len(index) and (index.tz is None or str(index.tz) == "UTC"):
        ns = index.as_unit("ns").asi8
        if (ns >= 0).all() and not (ns % 1_000_000_000).any():
            text = np.datetime_as_string(ns.view("M8[ns]").astype("M8[s]"), unit="s")
            return (np.char.add(text, "+00:00") if index.tz is not None else text).tolist()
    return [json_value(time) for time in index]


def event_record(event: AlertEvent) -> dict:
    return {"event": event.event, **{key: json_value(value) for key, value in event.alert.items()}}


CSV_COLUMNS = ["timestamp", "line", "score", "is_anomaly", "warming_up", "alert_event", "alert_id"]


class RowWriter:
    """One JSON line (`json`) or CSV row (`csv`) per scored row on `out`, flushed per block; with
    `states` (a model that watches state columns) each row's `state_events` too."""

    def __init__(self, out: TextIO, fmt: str = "json", version: str | None = None, states: bool = False):
        if fmt not in ("json", "csv"):
            raise ConfigError(f"format must be json or csv, got {fmt!r}")
        self.out, self.fmt = out, fmt
        self.csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self.header_written = False
        self.version = version  # the model version answering, named on each row (a watch following an alias)
        self.states = states

    def start(self) -> None:
        """The CSV header, once, flushed (a reader waiting on a followed file gets it at once)."""
        if self.csv is not None and not self.header_written:
            self.csv.writerow(CSV_COLUMNS + (["state_events"] if self.states else [])
                              + (["model_version"] if self.version is not None else []))
            self.out.flush()
            self.header_written = True

    def write(self, detection: Detection, lines: list[int], events: list[AlertEvent]) -> None:
        by_row: dict[int, list[dict]] = {}
        for event in events:
            by_row.setdefault(event.position, []).append(event_record(event))
        self.start()
        version = [] if self.version is None else [self.version]
        named = {} if self.version is None else {"model_version": self.version}
        events = detection.state_events if self.states else None
        if self.states and events is None:  # a model taking over the watch that watches none
            events = [""] * len(detection.scores)
        # the rows' values as Python objects once (an index or array looked up row by row is slow)
        for k, (timestamp, score, flag, warming) in enumerate(zip(json_times(detection.index),
                                                                  detection.scores.tolist(),
                                                                  detection.flags.tolist(),
                                                                  detection.warming_up.tolist())):
            alerts = by_row.get(k)
            alert = None if not alerts else alerts[0] if len(alerts) == 1 else alerts
            score = score if math.isfinite(score) else None
            if self.csv is not None:
                last = alerts[-1] if alerts else None
                self.csv.writerow([timestamp, lines[k], "" if score is None else repr(score),
                                   int(flag), int(warming), "" if last is None else last["event"],
                                   "" if last is None else last["alert_id"]]
                                  + ([] if events is None else [events[k]]) + version)
            else:
                states = {} if events is None else {"state_events": events[k]}
                self.out.write(json.dumps({"timestamp": timestamp, "line": lines[k], "score": score,
                                           "is_anomaly": int(flag), "warming_up": bool(warming),
                                           "alert": alert, **states, **named}) + "\n")
        self.out.flush()


# ---- the loop -------------------------------------------------------------------------------------

@dataclass
class WatchSummary:
    rows: int = 0  # rows scored in this run
    skipped: int = 0  # malformed rows
    opened: int = 0
    closed: int = 0
    stopped_by: str = "end of input"


def watch(scorer: LiveScorer, source: LineSource, out: TextIO, *, options: ReadOptions | None = None,
          fmt: str = "json", strict: bool = False, state_path: str | os.PathLike | None = None,
          state_every: int = 1000, parser_state: dict | None = None, shaper_state: dict | None = None,
          report: Callable | None = None, stop: Callable[[], bool] = lambda: False,
          warn: Callable[[str], None] | None = None, follow=None, recent: RecentRows | None = None,
          alert_rows: AlertRows | None = None) -> WatchSummary:
    """Score the rows of `source` as they come, writing one answer per row to `out`.

    Args:
        scorer: the model's `LiveScorer` (`seqae.streaming.state.resume` restores it on a restart).
        source: the lines, a followed file positioned where the state file says it stopped.
        options: how the CSV is written (`ReadOptions`); fill 'error' or 'ffill'; `duplicates` and
            `resample` hand a row (a grid time) on once a later time has come.
        fmt: `json` (one object per row) or `csv`.
        strict: stop with a `DataError` at the first malformed row instead of skipping it.
        state_path: the state file (`seqae.streaming.state`): each block of rows appended to it
            before its answers, the whole state at the start, every `state_every` rows and at the end.
        parser_state: the row parser's state to go on from (`Resume.parser`): the last row's time,
            the state columns it read (then those `scorer` watches, `seqae.streaming.switch.read_for`).
        shaper_state: the rows waiting for a later time to go on from (`Resume.shaper`).
        report: called with (detection, events) after each block of rows (the monitoring run).
        stop: polled between blocks; True ends the watch (the signal handlers set it).
        warn: where malformed rows are reported (stderr by default).
        follow: polled between blocks (`check(scorer, recent)`): a new scorer to answer from the next
            row on (`seqae.streaming.switch.switched`), or None; its `version` names the model on each
            row and its `state()` goes into the state file (`seqae.tracking.watch.AliasFollower`); the
            rows are read from then on with the state columns it watches (`read_for`).
        recent: the feed's last rows scored (`Resume.recent`), kept for the next model to warm up on.
        alert_rows: the rows of the alerts raised (`Resume.alert_rows`), kept for the monitoring run
            and, with `state_path`, in the state file.
    """
    warn = warn or (lambda message: print(message, file=sys.stderr, flush=True))
    options = options or ReadOptions()
    # a CSV's columns are its header's: a watch following an alias has state_events from the start, as a
    # version taking over may watch state columns; a JSON answer has them from the first model watching some
    writer = RowWriter(out, fmt, None if follow is None else follow.version,
                       states=bool(scorer.watched) or (follow is not None and fmt == "csv"))
    if follow is not None and recent is None:
        recent = RecentRows.for_detector(scorer.detector)
    columns = [str(c) for c in scorer.detector.feature_names_in_]
    summary = WatchSummary()
    parser = shaper = None
    state_file = StateFile(state_path) if state_path is not None else None
    since_state = 0
    try:
        if stop():
            summary.stopped_by = "signal"
            return summary
        # the columns the state file's rows were read with (a restart), then those the model watches
        read = list(parser_state.get("optional") or []) if parser_state else scorer.watched
        parser = RowParser(source.name, source.header(), columns, options, optional=read)
        if parser_state:
            parser.load_state(parser_state)
        shaper = shaper_for_detector(scorer.detector, source.name, options, parser.columns)
        if shaper is not None and shaper_state:
            shaper.load_state(shaper_state)
        shaper = read_for(scorer, parser, shaper)
        answered = (source.offset, source.line)  # how far the rows are answered
        if state_file is not None:  # the state as resumed, alone: the blocks answered from here follow it
            state_file.snapshot(scorer, parser, shaper, source.name, *answered, recent=recent,
                                    model=None if follow is None else follow.state(), alert_rows=alert_rows)
        writer.start()
        while True:
            if stop():
                summary.stopped_by = "signal"
                break
            new = follow.check(scorer, recent) if follow is not None else None
            if new is not None:  # the next row is the new model's: so are the blocks the state file adds from here
                scorer, writer.version = new, follow.version
                shaper = read_for(scorer, parser, shaper)  # the state columns it watches read from the next row
                writer.states = writer.states or bool(scorer.watched)
                if state_file is not None:
                    state_file.snapshot(scorer, parser, shaper, source.name, *answered, recent=recent,
                                        model=follow.state(), alert_rows=alert_rows)
                    since_state = 0
            lines = source.read()
            if lines is None:
                break
            if not lines:
                continue
            before = (parser.last_time, parser.last_values, parser.n_rows)
            rows = parser.parse(lines)
            reached = (source.offset, source.line)
            failure = None
            if strict and rows.errors:  # the rows before the first malformed one are still answered
                number, message = rows.errors[0]
                failure = DataError(f"{source.name}: line {number}: {message} (--strict stops at the first "
                                    "malformed row)")
                keep = [k for k, line in enumerate(rows.lines) if line < number]
                rows = ParsedRows(rows.index[keep], rows.values[keep], [rows.lines[k] for k in keep])
                # the parser's state as of the last row scored (the state file must not skip the rest)
                parser.last_time, parser.last_values, parser.n_rows = before
                if keep:
                    parser.last_time, parser.last_values = rows.index[-1], rows.values[-1].copy()
                    parser.n_rows += len(keep)
                reached = source.position_after(number - 1)
            for number, message in rows.errors:
                warn(f"{source.name}: line {number}: {message}; skipped")
            summary.skipped += len(rows.errors)
            parsed = (rows.index, rows.values, rows.lines) if rows.lines else None
            shaped = parsed if shaper is None or parsed is None else shaper.push(*parsed)
            detection = None
            if shaped is not None and len(shaped[0]):  # the watched state columns split off the readings
                readings, states = split_watched(shaped[1], len(columns), parser.optional)
                detection = scorer.score(readings, shaped[0]) if states is None else \
                    scorer.score(readings, shaped[0], states=states)
            if state_file is not None:  # before the answers: a restart goes over this block, never answers it again
                state_file.answered(parsed, *reached)
            answered = reached
            if detection is not None:
                if recent is not None:
                    recent.add(shaped[0], readings, shaped[2])
                if alert_rows is not None:
                    alert_rows.add(scorer, shaped[0], readings)
                try:
                    writer.write(detection, shaped[2] if isinstance(shaped[2], list) else shaped[2].tolist(),
                                 scorer.events)
                except BrokenPipeError:
                    summary.stopped_by = "output closed"
                    break
                summary.rows += len(detection.scores)
                summary.opened += sum(e.event == "open" for e in scorer.events)
                summary.closed += sum(e.event == "close" for e in scorer.events)
                if report is not None:
                    report(detection, scorer.events)
            since_state += len(rows.lines)
            if state_file is not None and since_state >= state_every:
                state_file.snapshot(scorer, parser, shaper, source.name, *answered, recent=recent,
                                    model=None if follow is None else follow.state(), alert_rows=alert_rows)
                since_state = 0
            if failure is not None:
                raise failure
    finally:
        # a state file that could not be written keeps what a restart goes on from: nothing more is added
        if state_file is not None and parser is not None and not state_file.failed:
            try:
                state_file.snapshot(scorer, parser, shaper, source.name, *answered, recent=recent,
                                    model=None if follow is None else follow.state(), alert_rows=alert_rows)
            finally:
                state_file.close()
        source.close()
    return summary


class StopSignals:
    """Inside the `with` block SIGINT and SIGTERM set `stopped` (the watch then ends after the
    block of rows it is on, and writes its state) instead of killing the process."""

    def __init__(self):
        self.stopped = False
        self._previous = {}

    def __enter__(self) -> "StopSignals":
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._stop)
        return self

    def _stop(self, signum, frame) -> None:
        self.stopped = True

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def __call__(self) -> bool:
        return self.stopped
