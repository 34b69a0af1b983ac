"""The dev sets and their protocols: which rows train, which rows test, what counts as anomalous.

    skab           SKAB's 34 labelled files (8 sensors); the first 400 rows train, the rest test
                   (the leaderboard split).
    nab-dev        31 univariate NAB series; the first 15 % of rows train (NAB's probationary period),
                   the rest test; a test row is anomalous when its timestamp lies in a window of
                   labels/combined_windows.json (inclusive ends).
    synthetic      SKAB's anomaly-free recording cut into 32 files with one injected anomaly each
                   (below), laid out like a SKAB file: 400 training rows. No SKAB test label is read.
    telemetry-dev  14 channels of NASA spacecraft telemetry (7 SMAP, 7 MSL): per channel,
                   train.csv (all normal) trains, test.csv tests, its `anomaly` column the labels.

The sets are read in place from `../shared/data` next to the repository (`SEQAE_DATA` elsewhere;
its README describes them). Every detector sees the training rows only; the figure is the mean
over files of each file's average precision on its test rows (`common.average_precision`).

The synthetic set: the anomaly-free recording (`anomaly-free/anomaly-free.csv`, 9,405 rows of the
same testbed, no labels) is cut into 8 segments of 1,175 rows; the first 400 rows of a segment are
its training rows and one anomaly is injected into the rest. Each segment is used once per anomaly
kind, a different sensor each time (32 files):

    level_shift   the sensor's readings move by 5 training standard deviations (up or down)
    drift         a ramp from 0 to 8 training standard deviations over the anomaly
    variance      Gaussian noise of 4 training standard deviations added
    stuck         the sensor repeats its last reading (a frozen transmitter)

The anomaly starts 150 to 250 rows after the training rows and lasts 100 to 400 rows; the
magnitudes are generic (in units of each sensor's own training spread), not fitted to SKAB's
anomalies. They are large because the recording itself wanders: the median test reading of the
thermocouple is 2 to 6.5 training standard deviations from its training mean, with no anomaly at
all. The files are written in SKAB's format (`;`, `datetime`, `anomaly`, `changepoint`), so every
pipeline runs on them unchanged:

    python -m benchmarks.quality synthetic-set /tmp/skab-validation
    seqae run pipelines/skab-lstm-ae.toml --data-dir /tmp/skab-validation
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SEQAE_DATA", REPO.parent / "shared" / "data"))
SKAB_DIR = DATA / "skab"
NAB_DIR = DATA / "nab-dev"
TELEMETRY_DIR = DATA / "telemetry-dev"
SKAB_TRAIN_ROWS = 400
NAB_TRAIN_SHARE = 0.15
SETS = ("skab", "nab-dev", "synthetic", "telemetry-dev")

KINDS = ("level_shift", "drift", "variance", "stuck")
N_SEGMENTS = 8
SEGMENT_ROWS = 1175
CONTAMINATED_ROWS = slice(100, 140)  # with contaminate=True: 40 of the 320 rows a detector trains on


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


def skab_paths(skab_dir: Path = SKAB_DIR) -> list[Path]:
    """SKAB's 34 labelled files (valve1, valve2, other), in one fixed order."""
    paths = sorted(p for group in ("valve1", "valve2", "other") for p in (skab_dir / group).glob("*.csv"))
    if not paths:
        raise SystemExit(f"no SKAB files under {skab_dir}; set SEQAE_DATA to the folder holding skab/")
    return paths


def skab_files(limit: int | None = None) -> list[DevFile]:
    """SKAB's 34 labelled files, first 400 rows train."""
    return [_skab_file(p, p.relative_to(SKAB_DIR).as_posix()) for p in skab_paths()[:limit]]


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


def telemetry_files(limit: int | None = None) -> list[DevFile]:
    """telemetry-dev's 14 channels (MSL, then SMAP): train.csv trains, test.csv tests; every column kept."""
    channels = sorted(p for p in TELEMETRY_DIR.glob("*/*") if (p / "train.csv").is_file())
    if not channels:
        raise SystemExit(f"no channels under {TELEMETRY_DIR}; set SEQAE_DATA to the folder holding telemetry-dev/")
    out = []
    for channel in channels[:limit]:
        train = pd.read_csv(channel / "train.csv", index_col="timestamp", parse_dates=True).astype(np.float64)
        test = pd.read_csv(channel / "test.csv", index_col="timestamp", parse_dates=True)
        labels = test.pop("anomaly").to_numpy(dtype=np.int8)
        out.append(DevFile(channel.relative_to(TELEMETRY_DIR).as_posix(), train, test.astype(np.float64), labels))
    return out


def synthetic_files(random_state: int = 0) -> list[DevFile]:
    """The synthetic set's 32 files (no SKAB test labels involved), 400 rows train."""
    with tempfile.TemporaryDirectory() as tmp:
        table = write_synthetic_set(SKAB_DIR, Path(tmp), random_state=random_state)
        return [_skab_file(Path(tmp) / name, name) for name in table["file"]]


def continuous_columns(frame: pd.DataFrame) -> list[str]:
    """The telemetry value and every column with more than 16 distinct values or a value that is not
    a whole number: what a detector sees of a telemetry-dev channel while the command channels (0/1,
    mode numbers) are left out of the model."""
    keep = []
    for column in frame.columns:
        values = frame[column].to_numpy(dtype=np.float64)
        if column == "value" or len(np.unique(values)) > 16 or not np.allclose(values, np.round(values)):
            keep.append(column)
    return keep


def load(name: str, limit: int | None = None, continuous: bool = False) -> list[DevFile]:
    """The files of dev set `name` (one of SETS), the first `limit` of them when given; with
    `continuous`, telemetry-dev's channels reduced to their `continuous_columns` (of the training rows)."""
    if name == "telemetry-dev" and continuous:
        files = telemetry_files(limit)
        for file in files:
            keep = continuous_columns(file.train)
            file.train, file.test = file.train[keep], file.test[keep]
        return files
    if name == "skab":
        return skab_files(limit)
    if name == "nab-dev":
        return nab_files(limit)
    if name == "synthetic":
        return synthetic_files()[:limit] if limit else synthetic_files()
    if name == "telemetry-dev":
        return telemetry_files(limit)
    raise ValueError(f"unknown dev set {name!r}; choose from {', '.join(SETS)}")


def write_synthetic_set(skab_dir: Path, out_dir: Path, random_state: int = 0,
                        contaminate: bool = False) -> pd.DataFrame:
    """Write the 32 files under `out_dir/<kind>/<segment>.csv`; return what was injected where.

    With `contaminate`, the same anomaly (kind, sensor, size) is also put into 40 of the training
    rows (CONTAMINATED_ROWS: 10 % of the 400, in the part a detector trains on, not its held-out
    last 20 %), as when a user's "normal" stretch holds an episode of the fault; the test rows are
    exactly those of the clean set."""
    source = skab_dir / "anomaly-free" / "anomaly-free.csv"
    frame = pd.read_csv(source, sep=";")
    sensors = [c for c in frame.columns if c != "datetime"]
    rng = np.random.default_rng(random_state)
    rows = []
    for k, kind in enumerate(KINDS):
        for segment in range(N_SEGMENTS):
            part = frame.iloc[segment * SEGMENT_ROWS:(segment + 1) * SEGMENT_ROWS].reset_index(drop=True)
            values = part[sensors].to_numpy(dtype=np.float64).copy()
            sensor = (segment + 2 * k) % len(sensors)
            spread = values[:SKAB_TRAIN_ROWS, sensor].std() or 1.0
            first = SKAB_TRAIN_ROWS + int(rng.integers(150, 251))
            length = int(rng.integers(100, 401))
            last = min(first + length, len(values)) - 1
            span = slice(first, last + 1)
            n = last - first + 1
            # its own generator, so that the test rows stay those of the clean set
            extra = np.random.default_rng([random_state, 1, k, segment])
            dirty = CONTAMINATED_ROWS
            m = dirty.stop - dirty.start
            if kind == "level_shift":
                sign = rng.choice([-1.0, 1.0])
                values[span, sensor] += sign * 5.0 * spread
                if contaminate:
                    values[dirty, sensor] += sign * 5.0 * spread
            elif kind == "drift":
                sign = rng.choice([-1.0, 1.0])
                values[span, sensor] += sign * np.linspace(0.0, 8.0 * spread, n)
                if contaminate:
                    values[dirty, sensor] += sign * np.linspace(0.0, 8.0 * spread, m)
            elif kind == "variance":
                values[span, sensor] += 4.0 * spread * rng.normal(size=n)
                if contaminate:
                    values[dirty, sensor] += 4.0 * spread * extra.normal(size=m)
            else:  # stuck
                values[span, sensor] = values[first - 1, sensor]
                if contaminate:
                    values[dirty, sensor] = values[dirty.start - 1, sensor]
            out = part.copy()
            out[sensors] = values
            out["anomaly"] = 0.0
            out.loc[first:last, "anomaly"] = 1.0
            out["changepoint"] = 0.0
            out.loc[[first, last], "changepoint"] = 1.0
            path = out_dir / kind / f"{segment}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            out.to_csv(path, sep=";", index=False)
            rows.append({"file": f"{kind}/{segment}.csv", "kind": kind, "sensor": sensors[sensor],
                         "first_row": first, "last_row": last, "train_std": spread,
                         "contaminated_rows": f"{dirty.start}-{dirty.stop - 1}" if contaminate else ""})
    table = pd.DataFrame(rows)
    table.to_csv(out_dir / "injected.csv", index=False)
    return table

