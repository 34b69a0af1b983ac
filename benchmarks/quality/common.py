"""What the quality studies share: the command line, fitting and scoring a dev file, its average
precision, the window-score lever, the LSTM fit variants, and Markdown tables.

Results a study writes go to `RESULTS` (benchmarks/results/, the files the docs cite; a study
rewrites its own when run again); caches and scratch go to `OUT` (benchmarks/out/, not committed).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import STUDIES, protocol

RESULTS = protocol.REPO / "benchmarks" / "results"
OUT = protocol.REPO / "benchmarks" / "out"

# seqae's defaults before the caps on windows per epoch: every training window every epoch, every
# validation window every epoch, stopping 5 epochs after the best validation loss (and no sooner
# when it has risen: `rise_patience` came later still).
BEFORE = dict(max_epoch_windows=None, max_validation_windows=None, train_stride=1, patience=5, rise_patience=0)


def parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The argument parser of the study in `module` (its `__name__`): its docstring is the help."""
    commands = [name for name, stem in STUDIES.items() if f"benchmarks.quality.{stem}" == module]
    prog = f"python -m benchmarks.quality {commands[0]}" if commands else None
    return argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def dev_set_options(parser: argparse.ArgumentParser, sets, seeds=None) -> None:
    """--sets (default `sets`), --seeds (when `seeds` is given: their default) and --limit."""
    parser.add_argument("--sets", nargs="+", default=list(sets), choices=protocol.SETS, help="dev sets (protocol.py)")
    if seeds is not None:
        parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds), help="model seeds")
    parser.add_argument("--limit", type=int, help="the first N files of each set (a quick run)")


def output_options(parser: argparse.ArgumentParser, tag: str | None = None) -> None:
    """--out (default benchmarks/results/) and, when `tag` is given, --tag: the results' file name stem."""
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results (default: benchmarks/results)")
    if tag is not None:
        parser.add_argument("--tag", default=tag, help="file name stem of the results (default: %(default)s)")


def one_torch_thread() -> None:
    """One torch thread (the figures were measured so) and no warnings (six SKAB files have gaps)."""
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")


def ignore_gap_warnings() -> None:
    """Six SKAB files have gaps in their timestamps (docs/benchmarks.md); the protocol scores them as
    they are, so seqae's warning about them is not repeated for every fit."""
    warnings.filterwarnings("ignore", message=r".*gaps? in the timestamps", category=UserWarning)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of `scores` against 0/1 `labels` (non-finite scores rank lowest)."""
    from seqae import metrics

    scores = np.asarray(scores, dtype=np.float64)
    scores = np.where(np.isfinite(scores), scores, np.nanmin(np.where(np.isfinite(scores), scores, np.inf)))
    return metrics.auc_pr(labels, scores)


def test_scores(detector, file: protocol.DevFile) -> np.ndarray:
    """A fitted detector's scores of the test rows, scored in context: the whole series at once."""
    return np.asarray(detector.anomaly_score(file.frame))[len(file.train):]


def fit_and_score(detector, file: protocol.DevFile) -> tuple[float, float]:
    """Fit `detector` on the file's training rows; (average precision of its test scores, fit seconds)."""
    started = time.perf_counter()
    detector.fit(file.train)
    seconds = time.perf_counter() - started
    return average_precision(file.labels, test_scores(detector, file)), seconds


def window_score(detector, frame: pd.DataFrame, n_train: int) -> np.ndarray:
    """The lever `score_reduction="window"` measured on a fitted network or PCA: each window's error,
    averaged over its steps (per sensor), is given to every row of the window, then averaged over the
    windows covering a row (the nearest-window detector scores that way); each sensor normalised by
    its median and MAD on the held-out training rows, then summed."""
    import torch

    from seqae.windows import reverse_windowing, sliding_windows

    scaled = detector.scaler_.transform(frame.to_numpy(dtype=np.float64))
    w = detector.window_size
    windows, starts = sliding_windows(scaled, w)
    per_window = []
    for first in range(0, len(windows), 512):
        batch = torch.from_numpy(np.ascontiguousarray(windows[first:first + 512], dtype=np.float32))
        per_window.append(np.asarray(detector.window_scores(batch)).mean(axis=1))  # (batch, n_features)
    per_window = np.concatenate(per_window)
    rows = reverse_windowing(np.repeat(per_window[:, None, :], w, axis=1), starts, len(scaled), "mean")
    held_out = rows[n_train - int(n_train * 0.2):n_train]
    center = np.median(held_out, axis=0)
    scale = 1.4826 * np.median(np.abs(held_out - center), axis=0)
    scale = np.maximum(scale, max(1e-2 * float(np.median(scale)), 1e-8))
    return ((rows - center) / scale).sum(axis=1)


def parse_variants(text: str) -> dict[str, dict]:
    """`name:key=value,key=value;name2:...` -> {name: params}; values are ints, or None as `none`."""
    variants = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, settings = item.partition(":")
        params = {}
        for setting in filter(None, settings.split(",")):
            key, _, value = setting.partition("=")
            params[key.strip()] = None if value.strip().lower() == "none" else int(value)
        variants[name.strip()] = params
    return variants


def markdown_table(frame: pd.DataFrame, float_format: str) -> list[str]:
    """The lines of a Markdown table of `frame`'s columns and rows, floats as `float_format` (".3f")."""
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:{float_format}}" if isinstance(v, float) else str(v) for v in row) + " |")
    return lines
