"""A validation set for choosing seqae's settings without SKAB's test labels.

SKAB's 34 labelled files are the test set: nothing in seqae's defaults or pipelines is chosen by
looking at their labels. Settings are chosen here instead, on SKAB's anomaly-free recording
(`anomaly-free/anomaly-free.csv`, 9,405 rows of the same testbed, no labels), cut into 8 segments
of 1,175 rows laid out like a SKAB file: the first 400 rows are the training rows, and one anomaly
is injected into the rest. Each segment is used once per anomaly kind, a different sensor each
time (32 files):

    level_shift   the sensor's readings move by 5 training standard deviations (up or down)
    drift         a ramp from 0 to 8 training standard deviations over the anomaly
    variance      Gaussian noise of 4 training standard deviations added
    stuck         the sensor repeats its last reading (a frozen transmitter)

The anomaly starts 150 to 250 rows after the training rows and lasts 100 to 400 rows; the
magnitudes are generic (in units of each sensor's own training spread), not fitted to SKAB's
anomalies. They are large because the recording itself wanders: the median test reading of the
thermocouple is 2 to 6.5 training standard deviations from its training mean, with no anomaly at
all, so a smaller anomaly would be indistinguishable from the normal drift. The files are written in SKAB's format (`;`, `datetime`, `anomaly`, `changepoint`), so
every pipeline runs on them unchanged:

    python benchmarks/quality/skab_validation.py /tmp/skab-validation
    seqae run pipelines/skab-lstm-ae.toml --data-dir /tmp/skab-validation
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KINDS = ("level_shift", "drift", "variance", "stuck")
N_SEGMENTS = 8
SEGMENT_ROWS = 1175
sys.path.insert(0, str(Path(__file__).resolve().parent))
import protocol  # noqa: E402

TRAIN_ROWS = protocol.SKAB_TRAIN_ROWS  # the files are laid out like SKAB's


CONTAMINATED_ROWS = slice(100, 140)  # with contaminate=True: 40 of the 320 rows a detector trains on


def make_validation_set(skab_dir: Path, out_dir: Path, random_state: int = 0,
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
            spread = values[:TRAIN_ROWS, sensor].std() or 1.0
            first = TRAIN_ROWS + int(rng.integers(150, 251))
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the validation files into")
    parser.add_argument("--skab-dir", type=Path, default=protocol.SKAB_DIR, help="SKAB's folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (args.skab_dir / "anomaly-free" / "anomaly-free.csv").is_file():
        print(f"error: {args.skab_dir} has no anomaly-free/anomaly-free.csv; pass --skab-dir", file=sys.stderr)
        return 2
    table = make_validation_set(args.skab_dir, args.out_dir)
    print(f"wrote {len(table)} files to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
