"""A fleet export of any length scored with a fleet model (`seqae.fleet.FleetDetector`), in chunks.

    fleet CSV --chunks of rows--> each row's text appended to its asset's own file (in a temporary
      directory; every asset checked known, or the fallback, before any scoring)
      --each asset's file scored by `seqae.streaming.score_csv` with that asset's detector-->
      one scores CSV: the time column, the asset column, then score, is_anomaly, alert_id and
      contribution_<sensor>; assets in order of first appearance, each asset's rows in time order

Each asset's rows get exactly what `score_csv` gives a file of those rows (the same values as
`FleetDetector.score_frame` and as the served fleet model), read in bounded memory; the temporary
copy takes as much disk as the input. Errors name the file, the asset and the file's line.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd

from seqae.data import ReadOptions, read_table, sniff_separator
from seqae.errors import ConfigError, DataError, SeqaeError
from seqae.files import scratch_directory, staged_files
from seqae.fleet.detector import FleetDetector
from seqae.fleet.spec import asset_key
from seqae.streaming import score_csv


def score_fleet_csv(fleet: FleetDetector, in_path: str | os.PathLike, out_path: str | os.PathLike, *,
                    intervals_path: str | os.PathLike | None = None, chunk_rows: int = 100_000,
                    options: ReadOptions | None = None, quiet: bool = False, precision: str = "float32",
                    reconstruction_path: str | os.PathLike | None = None, ranking: bool = False) -> dict:
    """Score every row of a fleet export: each asset's rows with its detector (`fleet.detector_for`).

    Args as `seqae.streaming.score_csv`; the file needs the fleet's asset column. The intervals
    file has the asset column first, then the alert table of each asset; each asset's rows are a
    feed of their own. `reconstruction_path` is refused in one line (a fleet answers scores only).

    Returns `{"rows", "anomalies", "alerts", "assets", "seconds"}`. Outputs appear whole or not at all.
    """
    fleet.check_fitted()
    if reconstruction_path is not None:
        raise ConfigError("--reconstruction does not apply to a fleet model, which answers scores only; score one "
                          "machine's rows with a model fitted on it alone for its expected readings")
    started = time.perf_counter()
    name = os.fspath(in_path)
    options = options or ReadOptions()
    outputs = [Path(out_path)] + ([Path(intervals_path)] if intervals_path is not None else [])
    for path in outputs:
        if os.path.exists(name) and path.exists() and os.path.samefile(name, path):
            raise ConfigError(f"{path}: is the input file; write the scores to another path")
    column = fleet.asset_column
    with scratch_directory("seqae-fleet") as tmp:
        files = _split_by_asset(name, column, options, int(chunk_rows), Path(tmp))
        try:
            detectors = {asset: fleet.detector_for(asset) for asset in files}  # every asset known before scoring
        except DataError as exc:
            raise DataError(f"{name}: {exc}") from None
        counts = {"rows": 0, "anomalies": 0, "alerts": 0, "assets": len(files)}
        with staged_files(outputs) as staged:
            for k, (asset, asset_file) in enumerate(files.items()):
                scores_file, alerts_file = Path(tmp) / f"{k}.scores.csv", Path(tmp) / f"{k}.alerts.csv"
                try:
                    result = score_csv(detectors[asset], asset_file, scores_file, chunk_rows=chunk_rows,
                                       intervals_path=alerts_file if intervals_path is not None else None,
                                       options=options, quiet=quiet, precision=precision, ranking=ranking)
                except SeqaeError as exc:
                    raise type(exc)(_in_the_fleet_file(str(exc), asset_file, name, column, asset, options)) from None
                for key in ("rows", "anomalies", "alerts"):
                    counts[key] += result[key]
                _append_with_asset(scores_file, staged[0].handle, column, asset, first=k == 0, position=1)
                if intervals_path is not None:
                    _append_with_asset(alerts_file, staged[1].handle, column, asset, first=k == 0, position=0)
    return {**counts, "seconds": time.perf_counter() - started}


def _split_by_asset(name: str, column: str, options: ReadOptions, chunk_rows: int, folder: Path) -> dict[str, Path]:
    """Each asset's rows of the file, as written, into a CSV of its own in `folder`: {asset: path}."""
    sep = options.sep or sniff_separator(name)
    files: dict[str, Path] = {}
    line = 2
    for raw in read_table(name, sep, chunk_rows):
        if column not in raw.columns:
            raise DataError(f"{name}: column {column!r} that names each row's asset is missing; the file has "
                            f"columns {', '.join(repr(c) for c in raw.columns[:12])}; the model routes rows by it")
        keys = raw[column].str.strip()
        if (keys == "").any():
            row = line + int((keys == "").to_numpy().nonzero()[0][0])
            raise DataError(f"{name}: column {column!r} is empty at row {row}; every row needs its asset")
        keys = keys.map(asset_key)
        for asset, rows in raw.drop(columns=[column]).groupby(keys.to_numpy(), sort=False):
            path = files.setdefault(asset, folder / f"asset-{len(files)}.csv")
            rows.to_csv(path, sep=sep, index=False, mode="a", header=not path.exists())
        line += len(raw)
    return files


def _append_with_asset(source: Path, handle, column: str, asset: str, first: bool, position: int) -> None:
    """Copy a CSV into `handle`, the asset column inserted at `position`, the header once."""
    if not source.exists() or source.stat().st_size == 0:
        return
    try:
        chunks = pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=100_000)
        for number, part in enumerate(chunks):
            part.insert(min(position, len(part.columns)), column, asset)
            part.to_csv(handle, index=False, header=first and number == 0)
    except pd.errors.EmptyDataError:
        return


def _in_the_fleet_file(message: str, asset_file: Path, name: str, column: str, asset: str,
                       options: ReadOptions) -> str:
    """An error about an asset's own file, told about the fleet file: its name, the asset, its lines."""
    message = message.replace(f"{asset_file}: ", "").replace(str(asset_file), name)
    if re.search(r"\brows? \d+", message):
        lines = _asset_lines(name, column, asset, options)
        message = re.sub(r"\b(rows?) (\d+)", lambda m: f"{m.group(1)} {lines.get(int(m.group(2)), m.group(2))}",
                         message)
    return f"{name}, {column} {asset!r}: {message}"


def _asset_lines(name: str, column: str, asset: str, options: ReadOptions) -> dict[int, int]:
    """{line in the asset's own file: line in the fleet file} (read again, only to word an error)."""
    sep = options.sep or sniff_separator(name)
    mapping, own, line = {}, 2, 2
    for raw in read_table(name, sep, 100_000):
        for is_asset in (raw[column].str.strip().map(asset_key) == asset).to_numpy():
            if is_asset:
                mapping[own] = line
                own += 1
            line += 1
    return mapping
