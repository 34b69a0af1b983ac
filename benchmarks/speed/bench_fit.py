"""Fit: seqae's LSTM-AE against the textbook PyTorch loop on SKAB, wall time and AUC-PR in one run.

`--protocol skab` (the SKAB leaderboard protocol), for each of the 34 files: fit on the first 400
rows, score the rest, AUC-PR (sklearn's average_precision_score) of the scores against the
`anomaly` labels, averaged over the files. `--protocol anomaly-free`: fit once per seed on SKAB's
anomaly-free recording (9,405 rows: ~7,500 training windows, where the loop's speed shows), then
score every row of each of the 34 files, AUC-PR averaged over the files. Same architecture and
sizes everywhere (window 32, hidden 64, latent 16, batch 64, at most 30 epochs, Adam 1e-3, 20 % of
the training rows held out for validation); the configurations take turns file by file so that a
change in the machine's load falls on all of them alike.

    textbook       benchmarks/speed/textbook_lstm_ae.py: all 30 epochs (best validation epoch kept),
                   DataLoader, per-window scoring for the threshold
    seqae-30       every training and validation window, all 30 epochs: the same work as the textbook
    seqae-before   the defaults before the caps on windows per epoch: every window, stopping 5 epochs
                   after the best validation loss
    seqae          LSTMAutoencoder() as shipped
    seqae-stride-N seqae-before with train_stride=N: every N-th training window
    --variants     any other parameters, named on the command line

Fit time is everything `fit` does (scaling, training, scoring the training rows, threshold);
windows/s counts the training windows of each epoch run.

    python -m benchmarks.speed.bench_fit [--protocol skab|anomaly-free] [--seeds 0,1] [--files 34] [--threads 1]
                                   [--strides 2,4] [--variants 'name:param=value,...;...'] [--no-same-work]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.metrics import average_precision_score

from benchmarks.quality.common import BEFORE, parse_variants  # the defaults before the caps; --variants
from benchmarks.speed.common import SKAB, SKAB_LABELS, SKAB_TRAIN_ROWS, machine, save, skab_files, table
from benchmarks.speed.textbook_lstm_ae import TextbookDetector

from seqae import LSTMAutoencoder, read_sensor_csv
from seqae.windows import window_starts

# Six SKAB files have gaps in their timestamps (docs/benchmarks.md); the protocol scores them as they
# are, so seqae's warning about them is not repeated for every fit.
warnings.filterwarnings("ignore", message=r".*gaps? in the timestamps", category=UserWarning)

SIZES = dict(window_size=32, hidden_size=64, latent_dim=16, batch_size=64, epochs=30)



def configurations(strides: list[int], variants: dict[str, dict] | None = None, same_work: bool = True) -> dict:
    """name -> make(seed) -> detector."""
    seqae = {k: v for k, v in SIZES.items()}
    configs = {"textbook": lambda seed: TextbookDetector(**SIZES, seed=seed)}
    if same_work:
        configs["seqae-30"] = lambda seed: LSTMAutoencoder(**seqae, **BEFORE | {"patience": 0}, random_state=seed)
    configs["seqae-before"] = lambda seed: LSTMAutoencoder(**seqae, **BEFORE, random_state=seed)
    configs["seqae"] = lambda seed: LSTMAutoencoder(**seqae, random_state=seed)
    for stride in strides:
        configs[f"seqae-stride-{stride}"] = (
            lambda seed, stride=stride: LSTMAutoencoder(**seqae, **BEFORE | {"train_stride": stride},
                                                        random_state=seed))
    for name, params in (variants or {}).items():
        configs[name] = lambda seed, params=params: LSTMAutoencoder(**seqae, **params, random_state=seed)
    return configs


def only(configs: dict, names: str) -> dict:
    """The textbook and the configurations named (all when none are)."""
    wanted = {"textbook", *filter(None, names.split(","))}
    return configs if len(wanted) == 1 else {k: v for k, v in configs.items() if k in wanted}


def fit_and_score(detector, train, test) -> dict:
    started = time.perf_counter()
    if isinstance(detector, TextbookDetector):
        detector.fit(train.to_numpy())
        fit_seconds = time.perf_counter() - started
        epochs = detector.epochs
        n_windows = len(train) - int(len(train) * detector.validation_fraction) - detector.window_size + 1
        scores = detector.score(test.to_numpy())
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            detector.fit(train)
        fit_seconds = time.perf_counter() - started
        epochs = len(detector.history_.train_loss)
        n_train = len(train) - int(len(train) * detector.validation_fraction)
        n_windows = len(window_starts(n_train, detector.window_size, detector.train_stride))
        n_windows = min(n_windows, detector.max_epoch_windows or n_windows)  # what an epoch trains on
        scores = detector.anomaly_score(test)
    return {"fit_seconds": fit_seconds, "epochs": epochs, "train_windows": epochs * n_windows,
            "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1", help="model seeds, comma-separated")
    parser.add_argument("--files", type=int, default=None, help="only the first N SKAB files")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every configuration")
    parser.add_argument("--strides", default="2,4", help="train_stride options to measure ('' for none)")
    parser.add_argument("--protocol", choices=["skab", "anomaly-free"], default="skab")
    parser.add_argument("--variants", default="",
                        help="more LSTM-AE configurations: 'name:param=value,param=value;name2:...' "
                             "(e.g. 'cap256:max_epoch_windows=256')")
    parser.add_argument("--no-same-work", action="store_true", help="leave out seqae-30 (all 30 epochs)")
    parser.add_argument("--only", default="", help="only these configurations, comma-separated (textbook always)")
    args = parser.parse_args()
    if args.protocol == "anomaly-free":
        return anomaly_free(args)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    strides = [int(s) for s in args.strides.split(",") if s]
    configs = only(configurations(strides, parse_variants(args.variants), not args.no_same_work), args.only)
    started = machine()
    records = []
    files = skab_files(args.files)
    for file_number, path in enumerate(files):
        frame, labels = read_sensor_csv(path, label_columns=SKAB_LABELS, return_labels=True)
        train, test = frame.iloc[:SKAB_TRAIN_ROWS], frame.iloc[SKAB_TRAIN_ROWS:]
        truth = labels["anomaly"].to_numpy()[SKAB_TRAIN_ROWS:]
        names = list(configs)
        for seed in seeds:
            # Rotate the order file by file: no configuration always runs first or last.
            shift = (file_number + seed) % len(names)
            for name in names[shift:] + names[:shift]:
                result = fit_and_score(configs[name](seed), train, test)
                records.append({"file": f"{path.parent.name}/{path.name}", "seed": seed, "config": name,
                                "fit_seconds": result["fit_seconds"], "epochs": result["epochs"],
                                "train_windows": result["train_windows"],
                                "auc_pr": float(average_precision_score(truth, result["scores"]))})
        print(f"{path.parent.name}/{path.name}: " + ", ".join(
            f"{r['config']} {r['fit_seconds']:.2f}s AP {r['auc_pr']:.3f}"
            for r in records if r["file"] == f"{path.parent.name}/{path.name}" and r["seed"] == seeds[-1]),
            flush=True)

    summary = summarise(records, list(configs))
    print(table(summary, COLUMNS))
    result = {"machine_at_start": started, "protocol": "skab", "threads": args.threads, "seeds": seeds,
              "files": len(files), "summary": summary, "records": records}
    print(f"saved {save('fit', result)}")


COLUMNS = ["config", "fit_seconds", "speedup", "windows_per_s", "epochs", "auc_pr", "auc_pr_sd_over_seeds",
           "auc_pr_delta", "delta_ci95"]


def anomaly_free(args) -> None:
    """Fit each configuration on the anomaly-free recording, score all 34 files; per seed."""
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    configs = only(configurations([int(s) for s in args.strides.split(",") if s], parse_variants(args.variants),
                                  not args.no_same_work), args.only)
    started = machine()
    train = read_sensor_csv(SKAB / "anomaly-free" / "anomaly-free.csv")
    tests = []
    for path in skab_files(args.files):
        frame, labels = read_sensor_csv(path, label_columns=SKAB_LABELS, return_labels=True)
        tests.append((f"{path.parent.name}/{path.name}", frame[train.columns], labels["anomaly"].to_numpy()))
    records = []
    names = list(configs)
    for seed in seeds:
        shift = seed % len(names)
        for name in names[shift:] + names[:shift]:
            detector = configs[name](seed)
            result = fit_and_score(detector, train, tests[0][1])
            for file, frame, truth in tests:
                scores = (detector.score(frame.to_numpy()) if isinstance(detector, TextbookDetector)
                          else detector.anomaly_score(frame))
                # The one fit's time and windows, spread over the files so that sums over records add up.
                records.append({"file": file, "seed": seed, "config": name,
                                "fit_seconds": result["fit_seconds"] / len(tests), "epochs": result["epochs"],
                                "train_windows": result["train_windows"] / len(tests),
                                "auc_pr": float(average_precision_score(truth, scores))})
            print(f"seed {seed} {name}: fit {result['fit_seconds']:.1f}s, {result['epochs']} epochs, "
                  f"AUC-PR {np.mean([r['auc_pr'] for r in records[-len(tests):]]):.3f}", flush=True)
    summary = summarise(records, names)
    print(table(summary, COLUMNS))
    result = {"machine_at_start": started, "protocol": "anomaly-free", "threads": args.threads, "seeds": seeds,
              "files": len(tests), "summary": summary, "records": records}
    print(f"saved {save('fit_anomaly_free', result)}")


def summarise(records: list[dict], names: list[str]) -> list[dict]:
    """Per configuration: total fit time, speed-up over the textbook, windows/s, mean AUC-PR and its
    difference from the textbook's, paired by file and seed, with a 95 % interval of that mean."""
    by = {name: [r for r in records if r["config"] == name] for name in names}
    base = by["textbook"]
    base_seconds = sum(r["fit_seconds"] for r in base)
    seeds = sorted({r["seed"] for r in records})
    rows = []
    for name in names:
        runs = by[name]
        seconds = sum(r["fit_seconds"] for r in runs)
        deltas = np.array([r["auc_pr"] - b["auc_pr"] for r, b in zip(runs, base)])
        per_seed = [np.mean([r["auc_pr"] for r in runs if r["seed"] == s]) for s in seeds]
        rows.append({
            "config": name,
            "fit_seconds": seconds,
            "speedup": base_seconds / seconds,
            "windows_per_s": sum(r["train_windows"] for r in runs) / seconds,
            "epochs": float(np.mean([r["epochs"] for r in runs])),
            "auc_pr": float(np.mean([r["auc_pr"] for r in runs])),
            "auc_pr_sd_over_seeds": float(np.std(per_seed)) if len(per_seed) > 1 else float("nan"),
            "auc_pr_delta": float(deltas.mean()),
            "delta_ci95": float(1.96 * deltas.std(ddof=1) / np.sqrt(len(deltas))) if len(deltas) > 1 else 0.0,
        })
    return rows


if __name__ == "__main__":
    main()
