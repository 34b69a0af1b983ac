"""The dev sets' protocols, shared by the quality benchmarks: which rows train, which rows test, what counts.

    SKAB      34 multivariate files; the first 400 rows train, the rest test (the leaderboard split).
    nab-dev   31 univariate NAB series; the first 15 % of rows train (NAB's probationary period), the
              rest test; a test row is anomalous when its timestamp lies in a window of
              labels/combined_windows.json (inclusive ends).
    synthetic SKAB's anomaly-free recording cut into 32 files with one injected anomaly each
              (benchmarks/quality/skab_validation.py), laid out like a SKAB file: 400 training rows.

Both real sets are read in place from `../shared/data` next to the repository (`SEQAE_DATA` elsewhere).
The metric is the mean over files of each file's average precision (AUC-PR) on its test rows; the
training rows' labels are never read.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SEQAE_DATA", REPO.parent / "shared" / "data"))
SKAB_DIR = DATA / "skab"
NAB_DIR = DATA / "nab-dev"
SKAB_TRAIN_ROWS = 400
NAB_TRAIN_SHARE = 0.15
SETS = ("skab", "nab-dev", "synthetic")


@dataclass
class DevFile:
    """One file of a dev set: its training rows, its test rows and the test rows' 0/1 labels."""

    name: str  # path relative to the set's folder
    train: pd.DataFrame  # (n_train, n_features) assumed normal
    test: pd.DataFrame  # (n_test, n_features)
    labels: np.ndarray  # (n_test,) 0/1

    @property
    def frame(self) -> pd.DataFrame:
        """Training and test rows as one series (scoring it whole gives the test rows their context)."""
        return pd.concat([self.train, self.test])


def skab_files(limit: int | None = None) -> list[DevFile]:
    """SKAB's 34 labelled files (valve1, valve2, other), first 400 rows train."""
    paths = sorted(p for group in ("valve1", "valve2", "other") for p in (SKAB_DIR / group).glob("*.csv"))
    if not paths:
        raise SystemExit(f"no SKAB files under {SKAB_DIR}; set SEQAE_DATA to the folder holding skab/")
    return [_skab_file(p, p.relative_to(SKAB_DIR).as_posix()) for p in paths[:limit]]


def _skab_file(path: Path, name: str) -> DevFile:
    raw = pd.read_csv(path, sep=";", index_col="datetime", parse_dates=True)
    labels = raw["anomaly"].to_numpy(dtype=np.int8)
    sensors = raw.drop(columns=["anomaly", "changepoint"]).astype(np.float64)
    return DevFile(name, sensors.iloc[:SKAB_TRAIN_ROWS], sensors.iloc[SKAB_TRAIN_ROWS:],
                   labels[SKAB_TRAIN_ROWS:])


def nab_files(limit: int | None = None) -> list[DevFile]:
    """nab-dev's 31 series, first 15 % of rows train, labels from combined_windows.json."""
    windows = json.loads((NAB_DIR / "labels" / "combined_windows.json").read_text())
    out = []
    for name in sorted(windows)[:limit]:
        raw = pd.read_csv(NAB_DIR / "data" / name, index_col="timestamp", parse_dates=True)
        values = raw[["value"]].astype(np.float64)
        labels = np.zeros(len(values), dtype=np.int8)
        for start, end in windows[name]:
            labels[(values.index >= pd.Timestamp(start)) & (values.index <= pd.Timestamp(end))] = 1
        n_train = int(len(values) * NAB_TRAIN_SHARE)
        out.append(DevFile(name, values.iloc[:n_train], values.iloc[n_train:], labels[n_train:]))
    return out


def synthetic_files(random_state: int = 0) -> list[DevFile]:
    """benchmarks/quality/skab_validation.py's 32 files (no SKAB test labels involved), 400 rows train."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from skab_validation import make_validation_set

    with tempfile.TemporaryDirectory() as tmp:
        table = make_validation_set(SKAB_DIR, Path(tmp), random_state=random_state)
        return [_skab_file(Path(tmp) / name, name) for name in table["file"]]


def load(name: str, limit: int | None = None) -> list[DevFile]:
    if name == "skab":
        return skab_files(limit)
    if name == "nab-dev":
        return nab_files(limit)
    if name == "synthetic":
        return synthetic_files()[:limit] if limit else synthetic_files()
    raise ValueError(f"unknown dev set {name!r}; choose from {', '.join(SETS)}")


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of `scores` against 0/1 `labels` (non-finite scores rank lowest)."""
    from seqae import metrics

    scores = np.asarray(scores, dtype=np.float64)
    scores = np.where(np.isfinite(scores), scores, np.nanmin(np.where(np.isfinite(scores), scores, np.inf)))
    return metrics.auc_pr(labels, scores)


def test_scores(detector, file: DevFile) -> np.ndarray:
    """A fitted detector's scores of the test rows, scored in context: the whole series at once."""
    return np.asarray(detector.anomaly_score(file.frame))[len(file.train):]
