"""Score a CSV file of any length in chunks of rows, in memory that does not grow with the file.

    CSV --chunks of rows--> parsed by read_sensor_csv's rules --gaps filled--> scaled
      --the detector's feed (seqae.detectors.feed: the windows ending on each row, each sensor's level,
      the model's alert rules, row after row)--> calibrated scores, flags, alert ids
      --> output CSV, appended once a row's alert id is settled; at the end the alert table

`score_csv(detector, "big.csv", "scores.csv")` writes, value for value, what
`detector.detect(read_sensor_csv("big.csv", columns=...)).to_frame()` holds for the whole file: the
decisions a live feed of the file would make (`seqae watch` gives the same rows). With
`ranking=True` it adds each row's retrospective score (`anomaly_score`: the windows covering it,
which reach past it), for ranking only:

- the file's format (separator, time column, decimal mark, day-first dates, epoch unit) is settled
  on the first chunk by `ReadOptions.settle`, and every chunk is parsed by `seqae.data.parse_timestamps`
  and `seqae.data.parse_numbers`, the parsers of `read_sensor_csv`: the same text is the same instant, a
  number, a missing value or a one-line error (its row number counted from the top of the file);
- the last `window_size - 1` rows of a chunk wait for the next one, and windows are fed to the net
  in the same batches of windows as `detect` feeds them, so a window spanning a chunk
  edge is the same tensor in the same batch;
- the per-row sums of the `WindowAccumulator` roll forward across chunk edges, in the order a whole
  pass adds them, for `score_reduction` 'mean' and 'last' and any `score_stride`;
- with `fill='ffill'` or `'interpolate'`, rows whose gap can only be filled from a later reading
  wait for it.

The rows before the first full window have no score, and the model's `burn_in` rows after them
calibrate the reference: the `warming_up` column marks both.

What a whole-file read allows and a chunked one does not: rows must already be in time order (a
whole-file read sorts them); `score_csv` stops with a one-line error at the first row out of order.
Memory is bounded by `chunk_rows` plus one batch of windows, except in two cases it cannot be:
rows waiting for a reading to fill a gap (a sensor silent for a million rows holds a million rows),
and rows whose alert id is not settled yet (an alert still open, or an episode that may still fire:
`seqae.alerts` bounds how long).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seqae.data import ChunkReader, ReadOptions, options_for_detector, read_header
from seqae.detectors import BaseDetector, Detection, RawScores, scoring
from seqae.files import StagedFile, staged_files
from seqae.progress import ProgressBar
from seqae.errors import ConfigError, DataError
from seqae.alerts import alert_state_events, alert_table, followed_levels
from seqae.detectors.feed import Feed
from seqae.windows import WindowAccumulator, batched_windows


def score_csv(detector: BaseDetector, in_path: str | os.PathLike, out_path: str | os.PathLike, *,
              intervals_path: str | os.PathLike | None = None, chunk_rows: int = 100_000,
              options: ReadOptions | None = None, time_column: str | None = None, sep: str | None = None,
              fill: str | None = None, quiet: bool = False, precision: str = "float32",
              reconstruction_path: str | os.PathLike | None = None, ranking: bool = False) -> dict:
    """Score every row of a sensor CSV, reading and writing `chunk_rows` rows at a time.

    Args:
        detector: a fitted seqae detector; the file needs the sensor columns it was fitted on.
        in_path: the CSV to score, rows in time order.
        out_path: the scores CSV: the time column (or `row`), `score` (calibrated: 1.0 = the threshold),
            `raw_score`, `is_anomaly`, `alert_id` (-1: none), `warming_up` and one `contribution_<sensor>`
            column per sensor, as `Detection.to_frame()`.
        intervals_path: where to write the alert table (`seqae.alerts.ALERT_COLUMNS`: start, end,
            duration, when it fired, peak, p-value, severity, top sensors), or None.
        chunk_rows: rows read at a time.
        options: how the file is written (`ReadOptions`), as for `read_sensor_csv`; `time_column`,
            `sep` and `fill`, when given, replace its fields.
        quiet: no progress bar (it goes to stderr otherwise).
        precision: "float32" or "bfloat16" for the network's forward pass (`BaseDetector.scoring_precision`).
        reconstruction_path: where to write what the model expected each row to read (the time
            column, then one column per sensor in its own units), as `reconstruct` gives it for
            the whole file; neural detectors only.
        ranking: add `ranking_score`, each row's retrospective score (`BaseDetector.anomaly_score`),
            for ranking rows after the fact; the decisions never use it.

    Returns:
        `{"rows", "anomalies" (flagged rows), "alerts", "seconds", "alert_table", "followed_levels"}`;
        `followed_levels`: alert id -> each sensor's followed level when it fired (`Alert.followed_level`).

    Output files appear whole or not at all: each is written to a temporary file beside it and
    renamed over it at the end, and removed if anything fails.
    """
    detector.check_fitted()
    if not isinstance(chunk_rows, (int, np.integer)) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    options = (options or ReadOptions()).replace(time_column=time_column, sep=sep, fill=fill)
    name = os.fspath(in_path)
    if reconstruction_path is not None and not hasattr(detector, "reconstruct"):
        raise ConfigError(f"model {detector.model_type!r} has no decoder to say what it expected; "
                          "--reconstruction needs a neural model (lstm-ae, lstm-vae, dense-ae, conv-ae)")
    outputs = [Path(out_path)] + ([Path(intervals_path)] if intervals_path is not None else [])
    outputs += [Path(reconstruction_path)] if reconstruction_path is not None else []
    for path in outputs:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory; give a file name for the output")
        if not path.parent.is_dir():
            raise ConfigError(f"{path}: the directory {str(path.parent)!r} does not exist; create it first")
        if os.path.exists(name) and path.exists() and os.path.samefile(name, path):
            raise ConfigError(f"{path}: is the input file; write the scores to another path")

    with detector.scoring_precision(precision):  # checked before anything is read or written
        return _score_csv(detector, name, outputs, intervals_path, chunk_rows, options, quiet,
                          reconstruction_path is not None, ranking)


def _score_csv(detector, name, outputs, intervals_path, chunk_rows, options, quiet, reconstruct=False,
               ranking=False) -> dict:
    started = time.perf_counter()
    modelled = list(detector.feature_names_in_)
    decider = _Decider(detector)
    reader = ChunkReader(name, modelled, options_for_detector(detector, options), int(chunk_rows),
                         optional=decider.watched(read_header(name, options.sep)))
    retrospective = _ChunkScorer(detector, name, reconstruct=reconstruct) if ranking or reconstruct else None
    staged: list[StagedFile] = []
    progress = ProgressBar(_count_rows(name), os.path.basename(name), "rows", enabled=not quiet, unit_scale=True)
    counts = {"rows": 0, "anomalies": 0, "written": 0}
    waiting: list[tuple[Detection, np.ndarray]] = []  # decided rows waiting for their retrospective scores
    ranked: list[np.ndarray] = []  # retrospective scores waiting for their decided rows

    def write(decided: list[tuple[Detection, np.ndarray]], ranks: list[np.ndarray]) -> None:
        # A row is written once its alert id is settled (a later row can still join it to an alert)
        # and, with `ranking`, once the windows after it that its retrospective score needs were read.
        waiting.extend(decided)
        if retrospective is None:
            ready = waiting[:]
            waiting.clear()
        else:
            ranked.extend(ranks)
            ready = _pair(waiting, ranked, ranking)
        for rows, alert_ids in ready:
            frame = rows.to_frame(alert_ids)
            frame.index = _time_text(frame.index)
            frame.to_csv(staged[0].handle, header=counts["written"] == 0)
            counts["written"] += len(rows.scores)

    def retrospective_rows(blocks) -> list[np.ndarray]:
        out = []
        for block in blocks:
            if reconstruct:
                retrospective.expected_rows.to_csv(staged[-1].handle, header=counts["expected"] == 0)
                counts["expected"] += len(block.scores)
            out.append(block.scores)
        return out

    counts["expected"] = 0
    try:
        with staged_files(outputs) as files:
            staged += files
            for index, values in reader:
                progress.update(len(index))
                if not len(index):
                    continue
                states = decider.states_of(values, reader.columns)
                values = values[:, :len(modelled)]
                decided = decider.add(values, index, states)
                counts["rows"] += len(index)
                ranks = retrospective_rows(retrospective.push(index, values)) if retrospective else []
                write(decided, ranks)
            if decider.feed.n_rows < detector.window_size:
                raise DataError(f"{name}: has {decider.feed.n_rows} rows, fewer than one window (window_size="
                                f"{detector.window_size}); give at least {detector.window_size} rows")
            ranks = retrospective_rows(retrospective.finish()) if retrospective else []
            settled, table = decider.finish()
            write(settled, ranks)
            if intervals_path is not None:
                table.to_csv(staged[1].handle, index=False)
    finally:
        progress.close()
    return {"rows": counts["rows"], "anomalies": decider.n_flagged, "alerts": len(table),
            "seconds": time.perf_counter() - started, "alert_table": table,
            "followed_levels": followed_levels(decider.feed.tracker.alerts)}


def _pair(decided: list[tuple[Detection, np.ndarray]], ranked: list[np.ndarray], keep: bool):
    """The decided rows whose retrospective scores have come (set on them when `keep`), taken off both lists."""
    out = []
    while decided and ranked:
        rows, alert_ids = decided[0]
        scores = ranked[0]
        n = min(len(rows.scores), len(scores))
        part = rows.rows(0, n)
        if keep:
            part.ranking_scores = scores[:n]
        out.append((part, alert_ids[:n]))
        if n == len(rows.scores):
            decided.pop(0)
        else:
            decided[0] = (rows.rows(n, len(rows.scores)), alert_ids[n:])
        if n == len(scores):
            ranked.pop(0)
        else:
            ranked[0] = scores[n:]
    return out


class _ChunkScorer:
    """Rows in, the retrospective scores of the rows no later window can reach out (`anomaly_score`),
    and with `reconstruct` what the model expected them to read."""

    def __init__(self, detector: BaseDetector, name: str, reconstruct: bool = False):
        self.detector, self.name = detector, name
        self.window_size, self.stride = detector.window_size, detector.score_stride
        self.batch = detector.score_batch_size()  # windows per forward pass, as detect() batches them
        n_features = detector.n_features_in_
        self.scaled = np.empty((0, n_features), dtype=np.float32)  # rows a window may still need
        self.scaled_first = 0  # series row of self.scaled[0]
        self.index = None  # index of the rows not handed out yet
        self.accumulator = WindowAccumulator(0, self.window_size, (n_features,), detector.score_reduction)
        self.n_rows = 0  # rows read so far
        self.next_window = 0  # regular windows start at i * stride; those before this one are scored
        self.unsmoothed_tail = np.empty((0, n_features))  # rows the score's smoothing still needs
        # With `reconstruct`: what the model expected, summed over windows as the scores are.
        self.expected = WindowAccumulator(0, self.window_size, (n_features,), detector.score_reduction) \
            if reconstruct else None
        self.expected_rows = None  # the expected readings of the rows last handed out (a frame)

    def push(self, index: pd.Index, values: np.ndarray):
        if not len(index):
            return
        self.scaled = np.concatenate([self.scaled, self.detector.scaler_.transform(values)])
        self.index = index if self.index is None else self.index.append(index)
        self.accumulator.extend(len(index))
        if self.expected is not None:
            self.expected.extend(len(index))
        self.n_rows += len(index)
        # Whole batches of regular windows that lie inside the rows read: the batches `detect` feeds.
        if self.n_rows >= self.window_size:
            fitting = (self.n_rows - self.window_size) // self.stride + 1 - self.next_window
            n_windows = (fitting // self.batch) * self.batch
            if n_windows:
                first = self.next_window * self.stride
                stop = (self.next_window + n_windows - 1) * self.stride + self.window_size
                self._score(first, stop)
                self.next_window += n_windows
        # Later windows start at next_window * stride, or at n_rows - window_size or after (the
        # extra window at the end of the series): rows before both are finished.
        done = max(0, min(self.next_window * self.stride, self.n_rows - self.window_size))
        if self.next_window and done > self.accumulator.first_row:
            yield self._hand_out(done)
        keep = done - self.scaled_first
        if keep > 0:
            self.scaled, self.scaled_first = self.scaled[keep:], done

    def finish(self):
        if self.n_rows < self.window_size:
            raise DataError(f"{self.name}: has {self.n_rows} rows, fewer than one window "
                            f"(window_size={self.window_size}); give at least {self.window_size} rows")
        first, last_start = self.next_window * self.stride, self.n_rows - self.window_size
        if first <= last_start:  # regular windows left, and the extra one at the end if any
            self._score(first, self.n_rows)
        elif last_start % self.stride:  # only the extra window at the end
            self._score(last_start, self.n_rows)
        if self.n_rows > self.accumulator.first_row:
            yield self._hand_out(self.n_rows)

    def _score(self, first: int, stop: int) -> None:
        """Score the windows of series rows [first, stop) that start every stride rows from `first`."""
        rows = self.scaled[first - self.scaled_first:stop - self.scaled_first]
        for windows, starts in batched_windows(rows, self.window_size, self.stride, self.batch):
            self.accumulator.add(self.detector.window_scores(windows), starts + first)
            if self.expected is not None:
                self.expected.add(self.detector.window_reconstructions(windows), starts + first)

    def _hand_out(self, stop: int) -> RawScores:
        n = stop - self.accumulator.first_row
        unsmoothed = scoring.contributions(self.accumulator.pop(n), self.detector.normalizer_)
        contributions = scoring.causal_smooth(unsmoothed, self.detector.smoothing, previous=self.unsmoothed_tail)
        # the smoothing of the next rows reaches back over the last smoothing - 1 of these
        keep = self.detector.smoothing - 1
        self.unsmoothed_tail = np.concatenate([self.unsmoothed_tail, unsmoothed])[-keep:] if keep else None
        scores = contributions.sum(axis=1)
        index, self.index = self.index[:n], self.index[n:]
        if self.expected is not None:
            self.expected_rows = pd.DataFrame(self.detector.scaler_.inverse_transform(self.expected.pop(n)),
                                              index=index, columns=list(self.detector.feature_names_in_))
        return RawScores(index, scores, contributions, np.zeros(len(scores), dtype=bool))


class _Decider:
    """The detector's feed over consecutive chunks (`seqae.detectors.feed.Feed`): each row handed back
    decided, with its alert id once no later row can change it, and at the end the alert table: the
    same as `detect` of the whole file."""

    def __init__(self, detector: BaseDetector):
        self.feed = Feed(detector)
        self.feature_names = list(detector.feature_names_in_)
        self.faults = getattr(detector, "faults_", None)  # labelled faults an alert may be like
        self.pending: list[Detection] = []  # decided rows whose alert ids are not settled yet, in order
        self.events: dict[int, str] = {}  # row position -> its state events (seqae.data.states), for the alert table
        self.n_flagged = 0

    def watched(self, header: list[str] | None) -> list[str]:
        """The state and constant columns the model watches that a file with columns `header` holds."""
        book = self.feed.states
        return [] if book is None or header is None else [name for name in book.columns if name in header]

    def states_of(self, values: np.ndarray, columns: list[str]) -> pd.DataFrame | None:
        """The watched columns of a block read as `columns` (`ChunkReader.columns`), or None."""
        names = self.watched(columns)
        return pd.DataFrame(values[:, [columns.index(n) for n in names]], columns=names) if names else None

    def add(self, values: np.ndarray, index: pd.Index, states: pd.DataFrame | None = None):
        """Rows in (`Feed.score`), the rows whose alert ids are settled out."""
        first = self.feed.n_rows
        detection, settled = self.feed.score(values, index, states=states)
        if detection.state_events is not None:
            self.events.update((first + k, text) for k, text in enumerate(detection.state_events) if text)
        self.n_flagged += int(detection.flags.sum())
        self.pending.append(detection)
        return self._hand_out(settled)

    def finish(self) -> tuple[list[tuple[Detection, np.ndarray]], pd.DataFrame]:
        settled = self._hand_out(self.feed.finish())
        alerts = self.feed.tracker.alerts
        table = alert_table(alerts, None, self.feature_names, faults=self.faults)
        if self.feed.states is not None:  # what the state and constant columns did within each alert
            table["state_events"] = alert_state_events(alerts, self.events)
        return settled, table

    def _hand_out(self, alert_ids: np.ndarray) -> list[tuple[Detection, np.ndarray]]:
        out, done = [], 0
        while done < len(alert_ids):
            first = self.pending[0]
            n = min(len(first.scores), len(alert_ids) - done)
            out.append((first.rows(0, n), alert_ids[done:done + n]))
            if n == len(first.scores):
                self.pending.pop(0)
            else:
                self.pending[0] = first.rows(n, len(first.scores))
            done += n
        return out


def _time_text(index: pd.Index) -> pd.Index:
    """A block's times as text, each from its own value: what `to_csv` writes for a whole file of
    times with seconds, whatever rows share the block (pandas drops the time of day of a block whose
    times all fall at midnight, which a block of one row can)."""
    if not isinstance(index, pd.DatetimeIndex):
        return index
    text = index.strftime("%Y-%m-%d %H:%M:%S")
    fraction = index.microsecond != 0
    if fraction.any():
        text = np.where(fraction, text + index.strftime(".%f"), text)
    if index.tz is not None:
        text = pd.Index(text) + index.strftime("%z").str.replace(r"(\d\d)$", r":\1", regex=True)
    return pd.Index(text, name=index.name)


def _count_rows(name: str) -> int | None:
    """Lines after the header (a quick estimate for the progress bar), or None if unreadable."""
    try:
        lines, last = 0, b"\n"
        with open(name, "rb") as fh:
            while block := fh.read(1 << 22):
                lines += block.count(b"\n")
                last = block[-1:]
        return max(lines + (last != b"\n") - 1, 0)
    except OSError:
        return None
