"""The state file of `seqae watch`: what a restarted watch needs to answer each row exactly once.

One JSON object per line. The first is a snapshot, written whole or not at all (beside the file,
then renamed over it), when the watch starts, every `--state-every` rows and when it ends:

    {"format": 2, "source": the file followed, or "<stdin>"; "offset", "line": how far it was answered,
     "scorer": `LiveScorer.state()` (the window, the smoothing, the alert tracker),
     "parser": `RowParser.state()` (the last row's time and readings, the rows read, the format),
     "shaper": `RowShaper.state()` (rows waiting for a later time: --duplicates last/mean, --resample),
     "alert_rows": for a tracked watch, the rows of the alerts it keeps (their followed levels are
     the scorer's: `seqae.streaming.alert_rows.AlertRows`, what `seqae feedback --alert ID` reads from its run),
     and, for a watch following a model alias: "model": the registered model's name and the version
     answering, "recent": the last rows scored (`seqae.streaming.switch.RecentRows`)}

Then one line per block of rows answered since, appended before the block's answers are written:

    {"offset", "line": how far the block took the watch, "rows": the block's rows as parsed
     (`seqae.data.regular.block_state`: times, readings and lines, bit for bit)}

A watch killed at any point (kill -9) leaves in the file every block it answered. `resume` reads the
snapshot and goes over the blocks after it again, without answering them (scoring is the same
function of the same rows, so the scorer, its alerts, the parser and the rows waiting come out as
they were), and the watch goes on from the line after the last of them: no row is answered twice
and no alert opens twice. A kill between a block's line and its answers (one write apart) loses
those answers; a power cut can lose what the system had not written to the disk yet (the snapshot
is synced; the lines after it are not, which keeps a row's answer as fast as without --state).
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import dataclass

from seqae.data import ReadOptions, RowParser, RowShaper, shaper_for_detector
from seqae.data.regular import block_from_state, block_state
from seqae.detectors import BaseDetector
from seqae.errors import DataError, storage_error
from seqae.files import StagedFile
from seqae.streaming.alert_rows import AlertRows
from seqae.streaming.live import LiveScorer, split_watched
from seqae.streaming.switch import RecentRows

STATE_FORMAT = 2
READ_FORMATS = (1, 2)  # format 1: a snapshot alone


@dataclass
class Resume:
    """Where a watch goes on from: its scorer, the followed file's byte offset and line number (None:
    the source's own start, the end of a followed file unless `--from-start`), the row parser's
    state (None: the first row may have any time), the rows waiting in the shaper (None: none) and
    the last rows scored (`RecentRows`, kept for a watch following a model alias) and the rows of
    the alerts raised (`AlertRows`, kept for a tracked watch's monitoring run)."""

    scorer: LiveScorer
    offset: int | None = None
    line: int | None = None
    parser: dict | None = None
    shaper: dict | None = None
    recent: RecentRows | None = None
    alert_rows: AlertRows | None = None


def resume(path: str | os.PathLike | None, detector: BaseDetector, data: str | None,
           options: ReadOptions | None = None) -> Resume:
    """The scorer and the place a watch of `data` (a file, or "-" / None for stdin) goes on from.

    Without a state file at `path` (or without `path`): a new scorer. With one: its scorer (a
    `DataError` if it was written for another model), with the blocks answered after the snapshot
    gone over again (`options`: the watch's --duplicates and --resample, which those blocks went
    through); a file's position where the same file was followed; the last row's time (rows must
    come after it) and the rows waiting for the same file or a pipe."""
    state = _read(path) if path is not None else None
    recent, kept = RecentRows.for_detector(detector), AlertRows.for_detector(detector)
    if state is None:
        return Resume(LiveScorer(detector), recent=recent, alert_rows=kept)
    snapshot, blocks = state
    scorer = LiveScorer.restore(detector, snapshot["scorer"])
    recent.load_state(snapshot.get("recent"))
    kept.load_state(snapshot.get("alert_rows"), scorer)
    pipe = data in (None, "-")
    same_file = not pipe and snapshot.get("source") == data
    parser = snapshot.get("parser") if same_file or pipe else None
    offset, line = snapshot["offset"], snapshot["line"]
    options = options or ReadOptions()
    # the blocks hold the watched state columns read after the model's (`RowParser`'s optional): split alike
    watched = list((snapshot.get("parser") or {}).get("optional") or [])
    shaper = shaper_for_detector(detector, str(data), options, list(detector.feature_names_in_) + watched)
    if shaper is not None and snapshot.get("shaper"):
        shaper.load_state(snapshot["shaper"])
    for block in blocks:  # answered after the snapshot: gone over again, not answered again
        offset, line = block["offset"], block["line"]
        if block.get("rows") is None:
            continue
        index, values, lines = block_from_state(block["rows"])
        if parser is not None:
            parser = RowParser.advanced(parser, index, values)
        if shaper is not None:
            index, values, lines = shaper.push(index, values, lines)
        if len(index):
            readings, states = split_watched(values, len(detector.feature_names_in_), watched)
            scorer.score(readings, index) if states is None else scorer.score(readings, index, states=states)
            recent.add(index, readings, lines)
            kept.add(scorer, index, readings)
    return Resume(scorer, offset=offset if same_file else None, line=line if same_file else None, parser=parser,
                  shaper=shaper.state() if shaper is not None and (same_file or pipe) else None, recent=recent,
                  alert_rows=kept)


def saved_model(path: str | os.PathLike | None) -> dict | None:
    """The model a watch following an alias last answered with, as its state file at `path` says
    (`{"name", "version"}`), or None (no file, or written by a watch of a fixed model)."""
    state = _read(path) if path is not None else None
    model = state[0].get("model") if state is not None else None
    return model if isinstance(model, dict) and {"name", "version"} <= set(model) else None


class StateFile:
    """The state file of a running watch: `snapshot` writes it whole, `answered` appends a block.

    A write that fails (a full disk) is a one-line `seqae.errors.StorageError` naming the file, and
    the file is written no more (`failed`): a block cut short is cut off again, so the file keeps the
    last snapshot and the blocks answered after it, whole, which is where a restart goes on from."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self.handle = None
        self.failed = False

    def snapshot(self, scorer: LiveScorer, parser: RowParser | None, shaper: RowShaper | None, source: str,
                 offset: int, line: int, recent: RecentRows | None = None, model: dict | None = None,
                 alert_rows: AlertRows | None = None) -> None:
        """The whole state, synced to the disk and renamed over the file: the scorer, the row
        parser, the rows waiting in the shaper and how far `source` was answered (`offset` bytes,
        up to line `line`); for a watch following an alias, the `model` answering and the `recent`
        rows; for a tracked watch, its `alert_rows`."""
        state = {"format": STATE_FORMAT, "source": source, "offset": offset, "line": line, "scorer": scorer.state(),
                 "parser": None if parser is None else parser.state(),
                 "shaper": None if shaper is None else shaper.state()}
        if model is not None:
            state["model"] = model
        if recent is not None:
            state["recent"] = recent.state()
        if alert_rows is not None:
            state["alert_rows"] = alert_rows.state()
        self.close()
        try:
            staged = StagedFile(self.path)
            try:
                staged.handle.write(json.dumps(state) + "\n")
                staged.handle.flush()
                os.fsync(staged.handle.fileno())
                staged.close()
                staged.commit()
            except BaseException:
                staged.discard()
                raise
            self.handle = open(self.path, "ab", buffering=0)  # unbuffered: a failed append is cut off whole
        except OSError as exc:
            raise self._failure(exc) from None

    def answered(self, rows, offset: int, line: int) -> None:
        """Append a block of rows about to be answered (`rows`: (index, values, lines) as parsed, or
        None for a block of malformed lines only) and how far it takes the watch."""
        record = {"offset": offset, "line": line, "rows": None if rows is None else block_state(*rows)}
        data = memoryview((json.dumps(record) + "\n").encode())
        size = os.fstat(self.handle.fileno()).st_size
        try:
            while data:  # in the system's hands before the answers: a kill of the watch loses nothing
                data = data[self.handle.write(data):]
        except OSError as exc:
            with suppress(OSError):
                os.ftruncate(self.handle.fileno(), size)
            raise self._failure(exc) from None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _failure(self, exc: OSError) -> OSError:
        """A write that failed: a full disk as a `StorageError` naming the file; no write follows."""
        self.failed = True
        self.close()
        return storage_error(exc, self.path) or exc


def _read(path: str | os.PathLike) -> tuple[dict, list[dict]] | None:
    """The state file at `path` (its snapshot, and the blocks answered after it), or None when there
    is none yet. A last line cut short (a kill while it was written) is a block never answered."""
    if not os.path.exists(path):
        return None
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as exc:
        raise DataError(f"{path}: not a state file written by seqae watch ({exc}); remove it or give another "
                        "path") from None
    first, _, rest = text.partition("\n")
    try:
        state = json.loads(first)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not a state file written by seqae watch ({exc}); remove it or give another "
                        "path") from None
    if not isinstance(state, dict) or state.get("format") not in READ_FORMATS or "scorer" not in state:
        raise DataError(f"{path}: not a state file written by seqae watch; remove it or give another path")
    blocks = []
    for text in rest.split("\n")[:-1]:  # complete lines only
        try:
            block = json.loads(text)
        except json.JSONDecodeError:
            break
        if not isinstance(block, dict) or "offset" not in block or "line" not in block:
            break
        blocks.append(block)
    return state, blocks
