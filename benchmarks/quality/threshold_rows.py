"""The detectors' default threshold: held-out rows scored inside the training series vs on their own.

    python -m benchmarks.quality threshold-rows             # LSTM-AE with its defaults, 3 seeds, ~4 min on two cores

By default a detector fits its threshold (the 99th percentile) on the scores of the held-out last
20 % of its training rows. Until this was fixed, `fit` scored those rows as a short series of their
own: their first and last rows are then covered by few windows, score high, and set a conservative
threshold. `fit` now scores all the training rows as one series and slices the held-out rows out of
it. This script measures both thresholds on the same fitted models (the LSTM-AE with its defaults:
no smoothing, 99th percentile of the held-out scores; robust normalisation fitted on the training
rows, so that the held-out rows play no other part) on SKAB (34 files,
leaderboard protocol) and on the synthetic set (protocol.py), and prints the pooled F1 / FAR / MAR
of each and the median ratio of the two thresholds; the table goes to benchmarks/results/threshold_rows.md.
"""

from __future__ import annotations

import glob
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from benchmarks.quality import common, protocol

TRAIN_ROWS = protocol.SKAB_TRAIN_ROWS
SEEDS = (0, 1, 2)


def _one(job):
    path, seed = job
    import torch

    from seqae import metrics
    from seqae.data import read_sensor_csv
    from seqae.detectors import make_detector

    common.ignore_gap_warnings()
    torch.set_num_threads(1)
    frame, labels = read_sensor_csv(path, sep=";", label_columns=["anomaly", "changepoint"], return_labels=True)
    detector = make_detector("lstm-ae", normalize_on="train", random_state=seed).fit(frame.iloc[:TRAIN_ROWS])
    n_train = len(detector.train_scores_)
    alone = np.quantile(detector.anomaly_score(frame.iloc[n_train:TRAIN_ROWS]), 0.99)
    sliced = detector.threshold_.value_
    test = detector.anomaly_score(frame.iloc[TRAIN_ROWS:])
    truth = labels["anomaly"].to_numpy()[TRAIN_ROWS:]
    results = {name: metrics.evaluate(truth, test, (test > value).astype(np.int8), max_buffer=0)
               for name, value in (("alone", alone), ("sliced", sliced))}
    return seed, sliced / alone, results


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--skab-dir", type=Path, default=protocol.SKAB_DIR)
    parser.add_argument("--validation-dir", type=Path, default=common.OUT / "levers" / "validation-data",
                        help="the synthetic set's files (written there when missing; default: the levers study's)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes fitting the models")
    parser.add_argument("--limit", type=int, help="the first N files of each set (a quick run)")
    common.output_options(parser)
    args = parser.parse_args(argv)
    from seqae import metrics

    common.ignore_gap_warnings()
    if not (args.validation_dir / "injected.csv").exists():
        protocol.write_synthetic_set(args.skab_dir, args.validation_dir)
    sets = {"validation": sorted(glob.glob(str(args.validation_dir / "*" / "*.csv")))[:args.limit],
            "SKAB": sorted(glob.glob(str(args.skab_dir / "[ov]*" / "*.csv")))[:args.limit]}
    lines = ["| data | held-out rows scored | F1 | FAR % | MAR % | threshold, sliced / alone (median) |",
             "|---|---|---|---|---|---|"]
    print("\n".join(lines))
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        for name, files in sets.items():
            results = list(pool.map(_one, [(f, s) for s in SEEDS for f in files], chunksize=4))
            ratio = np.median([r[1] for r in results])
            for how, label in (("alone", "as a series of their own (before)"),
                               ("sliced", "inside the training series (now)")):
                pooled = [metrics.pooled([r[2][how] for r in results if r[0] == seed]) for seed in SEEDS]
                cells = [f"{np.mean([p[k] for p in pooled]):.{d}f} ± {np.std([p[k] for p in pooled], ddof=1):.{d}f}"
                         for k, d in (("f1", 3), ("far", 1), ("mar", 1))]
                lines.append(f"| {name} | {label} | {' | '.join(cells)} | {ratio:.2f} |")
                print(lines[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threshold_rows.md").write_text("\n".join(lines) + "\n")
    return 0
