"""The state file of `seqae watch`: what a restarted watch needs to go on from the next row.

One JSON object, written whole or not at all (beside the file, then renamed over it):

    {"format": 1, "source": the file followed, or "<stdin>"; "offset", "line": how far it was read,
     "scorer": `LiveScorer.state()` (the window, the smoothing, the alert tracker),
     "parser": `RowParser.state()` (the last row's time and readings, the rows read)}

`resume` reads it back into the scorer and the place to go on from; `write_state` writes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from seqae.data import RowParser
from seqae.detectors import BaseDetector
from seqae.errors import DataError
from seqae.files import StagedFile
from seqae.streaming.live import LiveScorer

STATE_FORMAT = 1


@dataclass
class Resume:
    """Where a watch goes on from: its scorer, the followed file's byte offset and line number (None:
    the source's own start, the end of a followed file unless `--from-start`) and the row parser's
    state (None: the first row may have any time)."""

    scorer: LiveScorer
    offset: int | None = None
    line: int | None = None
    parser: dict | None = None


def resume(path: str | os.PathLike | None, detector: BaseDetector, data: str | None) -> Resume:
    """The scorer and the place a watch of `data` (a file, or "-" / None for stdin) goes on from.

    Without a state file at `path` (or without `path`): a new scorer. With one: its scorer (a
    `DataError` if it was written for another model); a file's position where the same file was
    followed; the last row's time (rows must come after it) for the same file or a pipe."""
    state = _read(path) if path is not None else None
    if state is None:
        return Resume(LiveScorer(detector))
    scorer = LiveScorer.restore(detector, state["scorer"])
    pipe = data in (None, "-")
    same_file = not pipe and state.get("source") == data
    return Resume(scorer, offset=state["offset"] if same_file else None, line=state["line"] if same_file else None,
                  parser=state.get("parser") if same_file or pipe else None)


def write_state(path: str | os.PathLike, scorer: LiveScorer, parser: RowParser | None, source: str,
                offset: int, line: int) -> None:
    """The state file, whole or not at all: the scorer, the row parser and how far `source` was read
    (`offset` bytes, up to line `line`)."""
    state = {"format": STATE_FORMAT, "source": source, "offset": offset, "line": line, "scorer": scorer.state(),
             "parser": None if parser is None else parser.state()}
    staged = StagedFile(path)
    try:
        staged.handle.write(json.dumps(state))
        staged.handle.flush()
        os.fsync(staged.handle.fileno())
        staged.close()
        staged.commit()
    except BaseException:
        staged.discard()
        raise


def _read(path: str | os.PathLike) -> dict | None:
    """The state file at `path`, or None when there is none yet."""
    if not os.path.exists(path):
        return None
    try:
        state = json.loads(open(path, encoding="utf-8").read())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a state file written by seqae watch ({exc}); remove it or give another "
                        "path") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or "scorer" not in state:
        raise DataError(f"{path}: not a state file written by seqae watch; remove it or give another path")
    return state
