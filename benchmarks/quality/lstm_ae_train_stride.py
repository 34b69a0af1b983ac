"""The LSTM-AE's AP and fit time on both dev sets with every k-th training window (`train_stride`).

    python benchmarks/quality/lstm_ae_train_stride.py                        # SKAB and nab-dev, seeds 0 1, strides 1 2 4
    python benchmarks/quality/lstm_ae_train_stride.py --sets skab --seeds 0 --limit 5

Each file of each set (protocol.py: SKAB's first 400 rows train, nab-dev's first 15 %) is fitted
by `LSTMAutoencoder(train_stride=k, random_state=seed)`, every other parameter at seqae's default,
one torch thread; the variants take turns file by file, so the machine's load falls on all alike.
AP: the test rows' average precision (protocol.average_precision), the mean over files. Writes
benchmarks/results/lstm_ae_train_stride.per_file.csv and prints the table per set and stride.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import protocol  # noqa: E402

RESULTS = protocol.REPO / "benchmarks" / "results"


def run(sets, seeds, strides, limit, out: Path) -> pd.DataFrame:
    import torch

    from seqae import LSTMAutoencoder

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    rows = []
    for set_name in sets:
        for file in protocol.load(set_name, limit):
            for seed in seeds:
                for stride in strides:
                    detector = LSTMAutoencoder(train_stride=stride, random_state=seed, verbose=False)
                    started = time.perf_counter()
                    detector.fit(file.train)
                    seconds = time.perf_counter() - started
                    ap = protocol.average_precision(file.labels, protocol.test_scores(detector, file))
                    rows.append({"set": set_name, "file": file.name, "seed": seed, "train_stride": stride,
                                 "ap": ap, "fit_seconds": seconds, "epochs_run": len(detector.history_.train_loss)})
            pd.DataFrame(rows).to_csv(out, index=False)  # as it goes: a stopped run keeps its files
            print(f"{set_name} {file.name}: " + ", ".join(f"stride {r['train_stride']} AP {r['ap']:.3f} {r['fit_seconds']:.2f} s"
                                                     for r in rows[-len(strides) * len(seeds):]), flush=True)
    return pd.DataFrame(rows)


def table(per_file: pd.DataFrame) -> pd.DataFrame:
    by_seed = per_file.groupby(["set", "train_stride", "seed"]).agg(ap=("ap", "mean"), fit_seconds=("fit_seconds", "sum"),
                                                                   epochs=("epochs_run", "mean"))
    summary = by_seed.groupby(["set", "train_stride"]).agg(ap_mean=("ap", "mean"), ap_sd=("ap", "std"),
                                                           fit_seconds=("fit_seconds", "mean"), epochs=("epochs", "mean"))
    first = per_file[per_file["train_stride"] == per_file["train_stride"].min()].set_index(["set", "file", "seed"])["ap"]
    deltas = per_file.set_index(["set", "file", "seed"]).assign(delta=lambda f: f["ap"] - first.reindex(f.index).values)
    summary["ap_delta_worst_file"] = deltas.groupby(["set", "train_stride"])["delta"].min()
    summary["speed_up"] = summary["fit_seconds"].groupby(level="set").transform("first") / summary["fit_seconds"]
    return summary.round(4)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["skab", "nab-dev"], choices=protocol.SETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--limit", type=int, help="the first N files of each set")
    parser.add_argument("--tag", default="lstm_ae_train_stride")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    per_file = run(args.sets, args.seeds, args.strides, args.limit, RESULTS / f"{args.tag}.per_file.csv")
    print(table(per_file).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
