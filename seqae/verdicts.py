"""Operators' verdicts on alerts, and the rows each alert was raised on.

    verdicts CSV (alert_id, or start and end as the alert table writes them; verdict normal | fault;
      note) --read_verdicts--> [Verdict]
    the scored CSV + its alert table --alert_rows--> each alert's rows, with the window_size - 1 rows
      before it (what its first window saw), at most MAX_ALERT_ROWS of its own
    a verdict log (each verdict's start, end, verdict) + rows' times --verdict_labels--> 0/1 labels
      (`seqae evaluate --labels-from-verdicts`)

`seqae score` keeps each alert's rows beside its alert table, so that a verdict given later finds
them without the scored file (`seqae.tracking.scoring_runs`), and so does `seqae watch` for the
alerts it raises (`seqae.streaming.alert_rows`, `seqae.tracking.monitor`); `seqae feedback --data
FILE` reads them from the file instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqae.data import ChunkReader, ReadOptions
from seqae.errors import ConfigError, DataError

VERDICTS = ("normal", "fault")
MAX_ALERT_ROWS = 5000  # rows of one alert kept for a verdict (its first ones: where it opened)
CHUNK_ROWS = 100_000


@dataclass
class Verdict:
    """One verdict: the alert it is about (its id, or its start and end as text), `normal` or
    `fault`, a note, and the line of the verdicts file it came from (0: given on the command line)."""

    verdict: str
    alert_id: int | None = None
    start: str | None = None
    end: str | None = None
    note: str = ""
    line: int = 0

    def names(self) -> str:
        """The alert as the operator named it."""
        return f"alert {self.alert_id}" if self.alert_id is not None else f"the alert from {self.start} to {self.end}"


def read_verdicts(path: str | os.PathLike) -> list[Verdict]:
    """The verdicts of a CSV file: a `verdict` column (normal | fault), an `alert_id` column or
    `start` and `end` columns (the alert table's values, as text), an optional `note`. A one-line
    `ConfigError` names the first thing wrong, with its line."""
    name = os.fspath(path)
    try:
        frame = pd.read_csv(name, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: not a CSV file of verdicts ({str(exc).splitlines()[0]}); give the columns "
                          "start,end,verdict,note (or alert_id,verdict,note)") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    by_id = "alert_id" in frame.columns
    if "verdict" not in frame.columns or not (by_id or {"start", "end"} <= set(frame.columns)):
        raise ConfigError(f"{name}: expected the columns start,end,verdict,note (or alert_id,verdict,note), found "
                          f"{','.join(frame.columns) or 'none'}; name the alert by its id or its start and end")
    if frame.empty:
        raise ConfigError(f"{name}: has a header but no verdict; add one row per alert")
    out = []
    for k, row in enumerate(frame.to_dict("records")):
        line = k + 2
        verdict = row["verdict"].strip().lower()
        if verdict not in VERDICTS:
            raise ConfigError(f"{name}, line {line}: verdict must be normal or fault, found {row['verdict']!r}")
        note = row.get("note", "").strip()
        text_id = row.get("alert_id", "").strip() if by_id else ""
        if text_id:
            try:
                alert_id = int(text_id)
            except ValueError:
                raise ConfigError(f"{name}, line {line}: alert_id must be a whole number, found {text_id!r}") from None
            out.append(Verdict(verdict, alert_id=alert_id, note=note, line=line))
            continue
        start, end = row.get("start", "").strip(), row.get("end", "").strip()
        if not start or not end:
            raise ConfigError(f"{name}, line {line}: no alert_id and no start and end; name the alert as the "
                              "alert table does")
        out.append(Verdict(verdict, start=start, end=end, note=note, line=line))
    return out


def _as_key(value):
    """A table's start or end (or a verdict's, as text) as a value to compare: a time, or a number."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return text
    return stamp.tz_convert(None) if stamp.tzinfo else stamp


def find_alert(table: pd.DataFrame, verdict: Verdict) -> pd.Series | None:
    """The row of alert `table` that `verdict` is about, or None."""
    if table.empty:
        return None
    if verdict.alert_id is not None:
        rows = table[table["alert_id"].astype(int) == verdict.alert_id]
    else:
        start, end = _as_key(verdict.start), _as_key(verdict.end)
        rows = table[[(_as_key(s) == start and _as_key(e) == end) for s, e in zip(table["start"], table["end"])]]
    return None if rows.empty else rows.iloc[-1]


def alert_rows(path: str | os.PathLike, table: pd.DataFrame, columns: list[str], window_size: int,
               options: ReadOptions | None = None) -> dict[int, pd.DataFrame]:
    """Each alert's rows of the sensor CSV `path` (as a detector reads them: `ChunkReader`), with
    the `window_size - 1` rows before its start; at most `MAX_ALERT_ROWS` of its own. Alerts are
    found by their start and end in the rows' index (times, or row numbers for a file without a
    time column), which is in time order. Read in chunks: memory holds the kept rows and one chunk."""
    spans = [(int(a), _as_key(s), _as_key(e)) for a, s, e in zip(table["alert_id"], table["start"], table["end"])]
    kept: dict[int, list[pd.DataFrame]] = {alert_id: [] for alert_id, _, _ in spans}
    own = {alert_id: 0 for alert_id, _, _ in spans}  # rows of the alert itself kept so far
    context = max(0, int(window_size) - 1)
    tail = None  # the last `context` rows of the previous chunk
    for index, values in ChunkReader(os.fspath(path), list(columns), options or ReadOptions(), CHUNK_ROWS):
        if not len(index):
            continue
        chunk = pd.DataFrame(values, index=index, columns=columns)
        n_tail = 0 if tail is None else len(tail)
        rows = chunk if tail is None else pd.concat([tail, chunk])
        keys = _keys(rows.index)
        for alert_id, start, end in spans:
            if own[alert_id] >= MAX_ALERT_ROWS or keys is None or not _comparable(keys, start):
                continue
            # the alert's rows among this chunk's own (the tail's were looked at with the chunk before)
            first = max(int(np.searchsorted(keys, _key_value(start), side="left")), n_tail)
            stop = int(np.searchsorted(keys, _key_value(end), side="right"))
            stop = min(stop, first + MAX_ALERT_ROWS - own[alert_id])
            if stop <= first:
                continue
            begin = max(0, first - context) if not own[alert_id] else first
            kept[alert_id].append(rows.iloc[begin:stop])
            own[alert_id] += stop - first
        tail = rows.iloc[len(rows) - min(context, len(rows)):] if context else None
    return {alert_id: pd.concat(parts) for alert_id, parts in kept.items() if parts}


def verdict_labels(index: pd.Index, log: pd.DataFrame) -> tuple[np.ndarray, int]:
    """0/1 labels of rows `index` (times, or row numbers) from a verdict log (`start`, `end`, `verdict`
    as the alert table and the verdicts file write them): 1 for a row within a fault's span, 0
    elsewhere (a normal verdict's rows and rows no verdict covers alike; a row both a fault and a
    normal verdict cover is a fault); and how many rows no verdict covers."""
    keys = _keys(index)
    if keys is None:
        raise DataError(f"the rows are indexed by {index.dtype} values, neither times nor row numbers; read the "
                        "file with its time column (--time-column NAME)")
    labels = np.zeros(len(index), dtype=np.int8)
    covered = np.zeros(len(index), dtype=bool)
    for start, end, verdict in zip(log["start"], log["end"], log["verdict"]):
        start, end = _as_key(start), _as_key(end)
        if not _comparable(keys, start) or not _comparable(keys, end):
            continue
        first = int(np.searchsorted(keys, _key_value(start), side="left"))
        stop = int(np.searchsorted(keys, _key_value(end), side="right"))
        covered[first:stop] = True
        if str(verdict).strip().lower() == "fault":
            labels[first:stop] = 1
    return labels, int(np.count_nonzero(~covered))


def _keys(index: pd.Index):
    """An index as sorted values to search: datetime64 (time zones dropped) or integers; None otherwise."""
    if isinstance(index, pd.DatetimeIndex):
        return (index.tz_localize(None) if index.tz is not None else index).to_numpy("datetime64[ns]")
    if pd.api.types.is_integer_dtype(index):
        return index.to_numpy(np.int64)
    return None


def _key_value(key):
    return np.datetime64(key.tz_localize(None) if key.tzinfo else key, "ns") if isinstance(key, pd.Timestamp) \
        else key


def _comparable(keys: np.ndarray, key) -> bool:
    return np.issubdtype(keys.dtype, np.datetime64) == isinstance(key, pd.Timestamp)


def check_rows(rows: pd.DataFrame | None, verdict: Verdict, window_size: int, where: str) -> pd.DataFrame:
    """The rows of `verdict`'s alert, or a one-line `DataError` saying what to do."""
    if rows is None or len(rows) < window_size:
        found = "none" if rows is None else f"{len(rows)}"
        raise DataError(f"{where}: {verdict.names()} has {found} rows kept, fewer than one window (window_size="
                        f"{window_size}); give the scored file with --data FILE")
    return rows
