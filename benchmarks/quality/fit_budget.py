"""The LSTM-AE's and LSTM-VAE's AP and fit time on the dev sets under other fit parameters (caps, stride, patience).

The parameters: caps on the windows an epoch trains and validates on (`max_epoch_windows`,
`max_validation_windows`), `train_stride`, `patience`, `score_stride`, or any other integer one.

    python -m benchmarks.quality fit-budget --variants 'cap128:max_epoch_windows=128,max_validation_windows=256'
    python -m benchmarks.quality fit-budget --models lstm-vae --sets nab-dev --seeds 0 1 2 --variants '...'

Each file of each set (protocol.py: SKAB's first 400 rows train, nab-dev's first 15 %) is fitted by
the model at seqae's defaults with the variant's parameters on top, one torch thread; `before` is
the defaults before the caps (every window every epoch, stride 1, patience 5) and `default` the
defaults as they are now. The variants take turns file by file, so the machine's load falls on all
alike. AP: the test rows' average precision, the mean over files; the difference to `before` is
paired by file and seed, with a 95 % interval of its mean. Writes benchmarks/results/<tag>.per_file.csv
as it goes and <tag>.csv, the table per model, set and variant, which it prints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol


def fit_variants(text: str, with_default: bool = True) -> dict[str, dict]:
    """`before` (the defaults before the caps), `default` (unless `with_default` is False), then the
    variants `name:key=value,...;name2:...` of `text`."""
    return {"before": dict(common.BEFORE)} | ({"default": {}} if with_default else {}) | common.parse_variants(text)


def run(models, sets, seeds, variants, limit, out: Path, start: int = 0) -> pd.DataFrame:
    from seqae.detectors import make_detector

    common.one_torch_thread()
    rows = []
    for set_name in sets:
        for file_number, file in enumerate(protocol.load(set_name, limit)[start:], start):
            for model in models:
                for seed in seeds:
                    names = list(variants)
                    shift = (file_number + seed) % len(names)  # no variant always first or last
                    for name in names[shift:] + names[:shift]:
                        detector = make_detector(model, **variants[name], random_state=seed, verbose=False)
                        ap, seconds = common.fit_and_score(detector, file)
                        rows.append({"model": model, "set": set_name, "file": file.name, "seed": seed,
                                     "variant": name, "ap": ap, "fit_seconds": seconds,
                                     "epochs_run": len(detector.history_.train_loss)})
            pd.DataFrame(rows).to_csv(out, index=False)  # as it goes: a stopped run keeps its files
            last = [r for r in rows if r["file"] == file.name and r["seed"] == seeds[-1]]
            print(f"{set_name} {file.name}: " + ", ".join(
                f"{r['model']} {r['variant']} AP {r['ap']:.3f} {r['fit_seconds']:.2f} s" for r in last), flush=True)
    return pd.DataFrame(rows)


def table(per_file: pd.DataFrame) -> pd.DataFrame:
    keys = ["model", "set", "file", "seed"]
    before = per_file[per_file["variant"] == "before"].set_index(keys)
    rows = []
    for (model, set_name, variant), group in per_file.groupby(["model", "set", "variant"], sort=False):
        group = group.set_index(keys)
        delta = group["ap"] - before["ap"].reindex(group.index)
        per_seed = group.groupby(level="seed")["ap"].mean()
        rows.append({"model": model, "set": set_name, "variant": variant, "ap": group["ap"].mean(),
                     "ap_sd_over_seeds": per_seed.std() if len(per_seed) > 1 else np.nan,
                     "ap_delta": delta.mean(),
                     "delta_ci95": 1.96 * delta.std(ddof=1) / np.sqrt(len(delta)) if len(delta) > 1 else 0.0,
                     "worst_file_delta": delta.min(), "epochs": group["epochs_run"].mean(),
                     "fit_seconds": group["fit_seconds"].sum(),
                     "speed_up": before["fit_seconds"][before.index.isin(group.index)].sum()
                     / group["fit_seconds"].sum()})
    return pd.DataFrame(rows).round(4)


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--models", nargs="+", default=["lstm-ae"], choices=["lstm-ae", "lstm-vae"])
    common.dev_set_options(parser, ["skab", "nab-dev"], seeds=[0, 1, 2])
    parser.add_argument("--variants", default="", help="'name:param=value,param=value;name2:...'")
    parser.add_argument("--no-default", action="store_true", help="leave out the defaults as they are")
    parser.add_argument("--start", type=int, default=0, help="skip the first N files of each set (a run resumed)")
    common.output_options(parser, tag="lstm_fit_budget")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    per_file = run(args.models, args.sets, args.seeds, fit_variants(args.variants, not args.no_default), args.limit,
                   args.out / f"{args.tag}.per_file.csv", args.start)
    summary = table(per_file)
    summary.to_csv(args.out / f"{args.tag}.csv", index=False)
    print(summary.to_string(index=False))
    return 0
