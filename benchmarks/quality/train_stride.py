"""The LSTM-AE's AP and fit time on SKAB and nab-dev with every k-th training window (`train_stride`).

    python -m benchmarks.quality train-stride                  # SKAB and nab-dev, seeds 0 1, strides 1 2 4
    python -m benchmarks.quality train-stride --sets skab --seeds 0 --limit 5

Each file of each set (protocol.py: SKAB's first 400 rows train, nab-dev's first 15 %) is fitted
by `LSTMAutoencoder(train_stride=k, random_state=seed)`, every other parameter at seqae's default,
one torch thread; the variants take turns file by file, so the machine's load falls on all alike.
AP: the test rows' average precision, the mean over files. Writes
benchmarks/results/<tag>.per_file.csv as it goes and prints the table per set and stride; the
same question with other parameters and paired intervals is the `fit-budget` study.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.quality import common, protocol


def run(sets, seeds, strides, limit, out: Path) -> pd.DataFrame:
    from seqae import LSTMAutoencoder

    common.one_torch_thread()
    rows = []
    for set_name in sets:
        for file in protocol.load(set_name, limit):
            for seed in seeds:
                for stride in strides:
                    detector = LSTMAutoencoder(train_stride=stride, random_state=seed, verbose=False)
                    ap, seconds = common.fit_and_score(detector, file)
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
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, ["skab", "nab-dev"], seeds=[0, 1])
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 4])
    common.output_options(parser, tag="lstm_ae_train_stride")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    per_file = run(args.sets, args.seeds, args.strides, args.limit, args.out / f"{args.tag}.per_file.csv")
    print(table(per_file).to_string())
    return 0
