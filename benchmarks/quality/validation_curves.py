"""The validation curves early stopping decides on, and stopping rules replayed on them.

The curves: the LSTM-AE's (or LSTM-VAE's) training and validation loss at every epoch of a fit that
never stops early, for each file of the dev sets.

    python -m benchmarks.quality validation-curves [--models lstm-ae] [--sets skab nab-dev] [--seeds 0 1 2] \
        [--tag validation_curves_skab]

Each file (protocol.py's split) is fitted at seqae's defaults with `patience=0, rise_patience=0`
(never stopping early), one torch thread. A fit's weights after epoch k do not depend on how many
epochs follow (the same draws in the same order), so a stopping rule can be replayed on these
curves: it stops at some epoch s and keeps the epoch of the lowest validation loss up to s, the
weights a fit with `epochs=s` that never stops early keeps. Writes benchmarks/results/<tag>.csv
(model, set, file, seed, epoch, train_loss, validation_loss).

    python -m benchmarks.quality validation-curves --replay validation_curves_skab validation_curves_nab

replays stopping rules on saved curves instead: patience p (stop after p epochs without a lower
validation loss), and patience 5 that stops after `rise_patience` epochs without a lower loss
instead when the last of them is above the best by more than a share `rise_tolerance` of it. For
each rule and set: the mean number of epochs run, and the share of fits that keep the same epoch
as patience 5 (the default before the rule), whose weights, and so AP, are then exactly its own.

    python -m benchmarks.quality validation-curves --changed-fits validation_curves_skab validation_curves_nab \
        --rule patience=5,rise_patience=3,rise_tolerance=0.05 --tag rise_patience_changed_fits

measures AP where a rule changes the kept epoch: each such fit (LSTM-AE) is fitted twice, never
stopping early, for as many epochs as patience 5 runs and as the rule runs, and both test APs are
written to benchmarks/results/<tag>.csv; every other fit keeps patience 5's weights and AP.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol


def curves(models, sets, seeds, out: Path, limit: int | None = None) -> pd.DataFrame:
    from seqae.detectors import make_detector

    common.one_torch_thread()
    rows = []
    for set_name in sets:
        for file in protocol.load(set_name, limit):
            for model in models:
                for seed in seeds:
                    detector = make_detector(model, patience=0, rise_patience=0, random_state=seed, verbose=False)
                    history = detector.fit(file.train).history_
                    rows += [{"model": model, "set": set_name, "file": file.name, "seed": seed, "epoch": epoch,
                              "train_loss": train, "validation_loss": validation}
                             for epoch, (train, validation) in enumerate(
                                 zip(history.train_loss, history.validation_loss), 1)]
            pd.DataFrame(rows).to_csv(out, index=False)  # as it goes
            print(f"{set_name} {file.name}", flush=True)
    return pd.DataFrame(rows)


def stop(validation_loss: np.ndarray, patience: int, rise_patience: int = 0,
         rise_tolerance: float = 0.05) -> tuple[int, int]:
    """(epochs run, kept epoch, both 1-based) of a fit whose validation losses would be
    `validation_loss`, stopped by the training loop's own rule (`seqae.training.stops_early`)."""
    from seqae.training import TrainConfig, stops_early

    config = TrainConfig(patience=patience, rise_patience=rise_patience, rise_tolerance=rise_tolerance)
    best, since, kept = np.inf, 0, 0
    for epoch, loss in enumerate(validation_loss, 1):
        if loss < best:
            best, since, kept = loss, 0, epoch
        else:
            since += 1
        if stops_early(config, since, loss, best):
            return epoch, kept
    return len(validation_loss), kept


RULES = ([{"patience": p} for p in (5, 4, 3, 2)]
         + [{"patience": 5, "rise_patience": q, "rise_tolerance": tolerance}
            for q in (1, 2, 3) for tolerance in (0.02, 0.05, 0.1, 0.2)])


def replay(tags: list[str], folder: Path) -> pd.DataFrame:
    saved = pd.concat([pd.read_csv(folder / f"{tag}.csv") for tag in tags])
    fits = {key: group.sort_values("epoch")["validation_loss"].to_numpy()
            for key, group in saved.groupby(["model", "set", "file", "seed"])}
    rows = []
    for rule in RULES:
        for (model, set_name), keys in _by_model_and_set(fits).items():
            ran, same = [], []
            for key in keys:
                epochs, kept = stop(fits[key], **rule)
                ran.append(epochs)
                same.append(kept == stop(fits[key], 5)[1])
            rows.append({"model": model, "set": set_name, "rule": _name(rule), "fits": len(keys),
                         "mean_epochs": np.mean(ran), "same_kept_epoch_as_patience_5": np.mean(same)})
    return pd.DataFrame(rows).round(3)


def changed_fits(tags: list[str], rule: dict, folder: Path, out: Path) -> pd.DataFrame:
    from seqae.detectors import make_detector

    common.one_torch_thread()
    saved = pd.concat([pd.read_csv(folder / f"{tag}.csv") for tag in tags])
    rows = []
    for (model, set_name), group in saved.groupby(["model", "set"]):
        files = {file.name: file for file in protocol.load(set_name)}
        for (name, seed), fit in group.groupby(["file", "seed"]):
            losses = fit.sort_values("epoch")["validation_loss"].to_numpy()
            (default_epochs, default_kept), (rule_epochs, rule_kept) = stop(losses, 5), stop(losses, **rule)
            if default_kept == rule_kept:
                continue
            file = files[name]
            ap = {}
            for which, epochs in (("default", default_epochs), ("rule", rule_epochs)):
                detector = make_detector(model, epochs=epochs, patience=0, rise_patience=0, random_state=int(seed),
                                         verbose=False)
                ap[which] = common.average_precision(file.labels, common.test_scores(detector.fit(file.train), file))
            rows.append({"model": model, "set": set_name, "file": name, "seed": seed,
                         "default_epochs": default_epochs, "default_kept": default_kept, "rule_epochs": rule_epochs,
                         "rule_kept": rule_kept, "default_ap": ap["default"], "rule_ap": ap["rule"]})
            pd.DataFrame(rows).to_csv(out, index=False)
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def _by_model_and_set(fits: dict) -> dict:
    groups: dict = {}
    for key in fits:
        groups.setdefault(key[:2], []).append(key)
    return groups


def _name(rule: dict) -> str:
    name = f"patience {rule['patience']}"
    if "rise_patience" not in rule:
        return name
    return f"{name}, {rule['rise_patience']} when risen > {rule['rise_tolerance']:.0%} above the best"


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--models", nargs="+", default=["lstm-ae"], choices=["lstm-ae", "lstm-vae"])
    common.dev_set_options(parser, ["skab", "nab-dev"], seeds=[0, 1, 2])
    common.output_options(parser, tag="validation_curves")
    parser.add_argument("--replay", nargs="+", metavar="TAG", help="replay the stopping rules on saved curves")
    parser.add_argument("--changed-fits", nargs="+", metavar="TAG", help="AP of the fits --rule changes")
    parser.add_argument("--rule", default="patience=5,rise_patience=3,rise_tolerance=0.05")
    args = parser.parse_args(argv)
    if args.changed_fits:
        rule = {key: float(value) if "." in value else int(value)
                for key, value in (item.split("=") for item in args.rule.split(","))}
        changed_fits(args.changed_fits, rule, args.out, args.out / f"{args.tag}.csv")
        return 0
    if args.replay:
        table = replay(args.replay, args.out)
        print(table.to_string(index=False))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    curves(args.models, args.sets, args.seeds, args.out / f"{args.tag}.csv", args.limit)
    return 0
