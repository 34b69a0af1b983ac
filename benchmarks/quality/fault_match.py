"""How well the alert table's `like_fault` tells a fault seen before from other alerts, on SKAB.

Per file (first 400 rows fit, the rest scored as a live feed, `detect`): its alerts, each judged
true when it fired inside a labelled segment or within its tolerance (max(30 rows, 10 % of the
segment) after it), false otherwise. The first true alert of a file is kept as a labelled fault
(`seqae.feedback.fault_record` of its rows, as `seqae feedback --fault` keeps it); every alert of the
other files of the same sub-folder (valve1, valve2, other: the same kind of experiment) is compared
with it (`seqae.alerts.faults`). Printed: at each cut-off, the share of true and of false alerts
that match the fault, over all (fault, other file) pairs.

    python -m benchmarks.quality fault-match [--model knn-window] [--skab-dir DIR]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol
from seqae.alerts.faults import alert_profile, fault_profile, similarity
from seqae.detectors import make_detector
from seqae.feedback import fault_record

CUTOFFS = (0.5, 0.7, 0.8, 0.9, 0.95)
TRAIN_ROWS = 400


def file_alerts(path: Path, model: str):
    """(fault record of its first true alert or None, [(shares, true?)], sensor names) of one SKAB file."""
    raw = pd.read_csv(path, sep=";", index_col="datetime", parse_dates=True)
    y = raw["anomaly"].to_numpy().astype(int)[TRAIN_ROWS:]
    sensors = raw.drop(columns=["anomaly", "changepoint"])
    detector = make_detector(model).fit(sensors.iloc[:TRAIN_ROWS])
    test = sensors.iloc[TRAIN_ROWS:]
    detection = detector.detect(test)
    edges = np.flatnonzero(np.diff(np.r_[0, y, 0]))
    segments = list(zip(edges[::2], edges[1::2] - 1))
    judged, fault = [], None
    for alert in detection.alerts:
        true = any(s <= alert.fired_at <= e + max(30, int(0.1 * (e - s + 1))) for s, e in segments)
        judged.append((alert.shares, true))
        if true and fault is None:
            first = max(0, alert.start - detector.window_size + 1)
            rows = test.iloc[first:alert.end + 1]
            fault = fault_record(detector, rows.to_numpy(), rows.index)
    return fault, judged, list(detector.feature_names_in_)


def main(argv=None) -> None:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--model", default="knn-window", help="the model type fitted on each file")
    parser.add_argument("--skab-dir", type=Path, default=protocol.SKAB_DIR, help="SKAB's folder")
    args = parser.parse_args(argv)
    pairs = []  # (similarity, true alert?) of another file's alert against a file's fault
    for sub in ("valve1", "valve2", "other"):
        found = [file_alerts(path, args.model) for path in sorted((args.skab_dir / sub).glob("*.csv"))]
        for k, (fault, _, _) in enumerate(found):
            if fault is None:
                continue
            profile = fault_profile(fault)
            for j, (_, judged, names) in enumerate(found):
                if j != k:
                    pairs += [(similarity(alert_profile(shares, names, top=len(profile)), profile), true)
                              for shares, true in judged]
    sims = np.array([s for s, _ in pairs])
    true = np.array([t for _, t in pairs], dtype=bool)
    print(f"{args.model}: {true.sum()} true and {(~true).sum()} false (fault, alert) pairs")
    print("| cut-off | true alerts matched | false alerts matched |")
    print("|---|---|---|")
    for cutoff in CUTOFFS:
        hit = sims >= cutoff
        print(f"| {cutoff:g} | {hit[true].sum()} / {true.sum()} ({hit[true].mean():.0%}) "
              f"| {hit[~true].sum()} / {(~true).sum()} ({hit[~true].mean():.0%}) |")


if __name__ == "__main__":
    main()
