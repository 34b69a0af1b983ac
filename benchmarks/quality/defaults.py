"""`seqae fit` with no options (auto) on the dev sets, 3 seeds, beside every candidate it chose from.

    python -m benchmarks.quality defaults                      # SKAB, nab-dev, synthetic, seeds 0 1 2 (~80 min on 2 busy cores)
    python -m benchmarks.quality defaults --sets skab --seeds 0 --limit 5 --no-networks
    python -m benchmarks.quality defaults --switch-z 2 --smoothing --tag defaults-switching   # the rule auto replaced

For each file and seed, `seqae.autoconfig.auto_fit` sees the training rows only (protocol.py) and
chooses without labels; the chosen detector and every candidate are then scored on the whole series
and their average precision (AP) taken on the test rows; the LSTM-AE and PCA candidates also with
each window's mean error given to its rows (`common.window_score`). Writes
benchmarks/results/<tag>.per_file.csv (one row per set, file, seed, detector), <tag>.choices.csv
(what auto chose per file and seed, with its validation APs) and <tag>.md (mean per-file AP per
set: mean ± sd over seeds, fit seconds per file).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

# The peers' figures of the issue (mean per-file AP, measured elsewhere with each peer's defaults).
PEERS = {
    "skab": "0.866 PyOD windowed IsolationForest; 0.854 PyOD TS-AE",
    "nab-dev": "0.471 PyOD TS-AE; 0.448 PyOD TS-VAE; 0.435 SKAB's Conv-AE; 0.404 PyOD IForest",
    "synthetic": "–",
    "telemetry-dev": "0.255 PyOD TS-VAE; 0.253 PyOD TS-AE; 0.207 PyOD IForest",
}
BEFORE = {"skab": "0.832 (lstm-ae, window 32)", "nab-dev": "0.202 (lstm-ae, window 32)", "synthetic": "–"}


WINDOW_SCORE_FAMILIES = ("lstm-ae", "pca")  # re-scored with each window's mean error given to its rows


def run(sets, seeds, limit, networks, verbose, switch_z=None, smoothing=False):
    from seqae.autoconfig import CHALLENGER_Z, auto_fit

    switch_z = CHALLENGER_Z if switch_z is None else switch_z

    per_file, choices = [], []
    for set_name in sets:
        files = protocol.load(set_name, limit)
        for seed in seeds:
            for file in files:
                started = time.perf_counter()
                result = auto_fit(file.train, random_state=seed, networks=networks, switch_z=switch_z,
                                  smoothing=smoothing)
                fit_seconds = time.perf_counter() - started
                ap = common.average_precision(file.labels, common.test_scores(result.detector, file))
                per_file.append({"set": set_name, "file": file.name, "seed": seed, "detector": "auto",
                                 "ap": ap, "fit_seconds": fit_seconds})
                for row in result.candidates.itertuples():
                    cand_ap = common.average_precision(file.labels, common.test_scores(result.fitted[row.name], file))
                    per_file.append({"set": set_name, "file": file.name, "seed": seed,
                                     "detector": row.name.split(" w=")[0], "ap": cand_ap,
                                     "fit_seconds": row.fit_seconds, "validation_ap": row.validation_ap})
                    if row.model_type in WINDOW_SCORE_FAMILIES:
                        scores = common.window_score(result.fitted[row.name], file.frame, len(file.train))
                        per_file.append({"set": set_name, "file": file.name, "seed": seed,
                                         "detector": f"{row.model_type} (window score)",
                                         "ap": common.average_precision(file.labels, scores[len(file.train):]),
                                         "fit_seconds": row.fit_seconds})
                choices.append({"set": set_name, "file": file.name, "seed": seed, "chosen": result.chosen,
                                "smoothing": result.smoothing, "period": result.period,
                                "window": result.window_size, "test_ap": ap, "fit_seconds": fit_seconds,
                                "reason": result.reason})
                if verbose:
                    print(f"{set_name} {file.name} seed {seed}: AP {ap:.3f} {fit_seconds:.1f} s  {result.reason}",
                          file=sys.stderr, flush=True)
    return pd.DataFrame(per_file), pd.DataFrame(choices)


def table(per_file: pd.DataFrame) -> str:
    """Mean per-file AP per set and detector: mean ± sd over seeds; fit seconds per file."""
    by_seed = per_file.groupby(["set", "detector", "seed"]).agg(ap=("ap", "mean"), fit=("fit_seconds", "mean"))
    summary = by_seed.groupby(["set", "detector"]).agg(ap=("ap", "mean"), sd=("ap", "std"), fit=("fit", "mean"))
    sets = list(dict.fromkeys(per_file["set"]))
    detectors = ["auto"] + sorted(d for d in per_file["detector"].unique() if d != "auto")
    lines = ["| detector | " + " | ".join(f"{s} AP | fit s" for s in sets) + " |",
             "|---|" + "---|---|" * len(sets)]
    for det in detectors:
        cells = []
        for s in sets:
            if (s, det) in summary.index:
                row = summary.loc[(s, det)]
                sd = f" ± {row.sd:.3f}" if np.isfinite(row.sd) else ""
                cells += [f"{row.ap:.3f}{sd}", f"{row.fit:.1f}"]
            else:
                cells += ["–", "–"]
        name = "**auto (the default)**" if det == "auto" else det
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| seqae before (no options) | " + " | ".join(f"{BEFORE.get(s, '–')} | –" for s in sets) + " |")
    lines.append("| best peers, their defaults | " + " | ".join(f"{PEERS.get(s, '–')} | –" for s in sets) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, ["skab", "nab-dev", "synthetic"], seeds=[0, 1, 2])
    parser.add_argument("--no-networks", action="store_true", help="the baseline candidates only")
    parser.add_argument("--switch-z", type=float, help="let auto switch to a candidate that beats the incumbent "
                        "by this many standard errors (default: seqae's, never)")
    parser.add_argument("--smoothing", action="store_true", help="let auto choose a smoothing too")
    common.output_options(parser, tag="defaults")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    common.one_torch_thread()
    per_file, choices = run(args.sets, args.seeds, args.limit, not args.no_networks, args.verbose,
                            args.switch_z, args.smoothing)
    args.out.mkdir(parents=True, exist_ok=True)
    per_file.to_csv(args.out / f"{args.tag}.per_file.csv", index=False)
    choices.to_csv(args.out / f"{args.tag}.choices.csv", index=False)
    text = table(per_file)
    (args.out / f"{args.tag}.md").write_text(text + "\n")
    print(text)
    print(choices.groupby(["set", "chosen"]).size().to_string())
    return 0
