"""The dev-set benchmark of `seqae fit` with no options: auto-configuration over SKAB, nab-dev and
the synthetic validation set, 3 seeds, beside every candidate it chose from.

    python benchmarks/quality/defaults.py                      # all three sets, seeds 0 1 2 (~80 min on 2 busy cores)
    python benchmarks/quality/defaults.py --sets skab --seeds 0 --limit 5 --no-networks
    python benchmarks/quality/defaults.py --switch-z 2 --smoothing --tag defaults-switching   # the rule auto replaced

For each file and seed, `seqae.autoconfig.auto_fit` sees the training rows only (protocol.py) and
chooses without labels; the chosen detector and every candidate are then scored on the whole series
and their average precision (AP) taken on the test rows. Writes benchmarks/results/defaults.per_file.csv
(one row per set, file, seed, detector), defaults.choices.csv (what auto chose per file and seed,
with its validation APs) and defaults.md (mean per-file AP per set: mean ± sd over seeds, fit
seconds per file).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import protocol  # noqa: E402

RESULTS = protocol.REPO / "benchmarks" / "results"

# The peers' figures of the issue (mean per-file AP, measured elsewhere with each peer's defaults).
PEERS = {
    "skab": "0.866 PyOD windowed IsolationForest; 0.854 PyOD TS-AE",
    "nab-dev": "0.471 PyOD TS-AE; 0.448 PyOD TS-VAE; 0.435 SKAB's Conv-AE; 0.404 PyOD IForest",
    "synthetic": "–",
}
BEFORE = {"skab": "0.832 (lstm-ae, window 32)", "nab-dev": "0.202 (lstm-ae, window 32)", "synthetic": "–"}


WINDOW_SCORE_FAMILIES = ("lstm-ae", "pca")  # re-scored with each window's mean error given to its rows


def window_score(detector, frame: pd.DataFrame, n_train: int) -> np.ndarray:
    """The lever `score_reduction="window"` that the detectors do not have yet, measured on a
    fitted detector: each window's error, averaged over its steps (per sensor), is given to every
    row of the window, then averaged over the windows covering a row (the nearest-window detector
    scores that way); each sensor normalised by its median and MAD on the held-out training rows,
    then summed."""
    import torch

    from seqae.windows import reverse_windowing, sliding_windows

    scaled = detector.scaler_.transform(frame.to_numpy(dtype=np.float64))
    w = detector.window_size
    windows, starts = sliding_windows(scaled, w)
    per_window = []
    for first in range(0, len(windows), 512):
        batch = torch.from_numpy(np.ascontiguousarray(windows[first:first + 512], dtype=np.float32))
        per_window.append(np.asarray(detector.window_scores(batch)).mean(axis=1))  # (batch, n_features)
    per_window = np.concatenate(per_window)
    rows = reverse_windowing(np.repeat(per_window[:, None, :], w, axis=1), starts, len(scaled), "mean")
    held_out = rows[n_train - int(n_train * 0.2):n_train]
    center = np.median(held_out, axis=0)
    scale = 1.4826 * np.median(np.abs(held_out - center), axis=0)
    scale = np.maximum(scale, max(1e-2 * float(np.median(scale)), 1e-8))
    return ((rows - center) / scale).sum(axis=1)


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
                ap = protocol.average_precision(file.labels, protocol.test_scores(result.detector, file))
                per_file.append({"set": set_name, "file": file.name, "seed": seed, "detector": "auto",
                                 "ap": ap, "fit_seconds": fit_seconds})
                for row in result.candidates.itertuples():
                    cand_ap = protocol.average_precision(file.labels, protocol.test_scores(result.fitted[row.name], file))
                    per_file.append({"set": set_name, "file": file.name, "seed": seed,
                                     "detector": row.name.split(" w=")[0], "ap": cand_ap,
                                     "fit_seconds": row.fit_seconds, "validation_ap": row.validation_ap})
                    if row.model_type in WINDOW_SCORE_FAMILIES:
                        scores = window_score(result.fitted[row.name], file.frame, len(file.train))
                        per_file.append({"set": set_name, "file": file.name, "seed": seed,
                                         "detector": f"{row.model_type} (window score)",
                                         "ap": protocol.average_precision(file.labels, scores[len(file.train):]),
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(protocol.SETS), choices=protocol.SETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--limit", type=int, help="the first N files of each set (exploration)")
    parser.add_argument("--no-networks", action="store_true", help="the baseline candidates only")
    parser.add_argument("--switch-z", type=float, help="let auto switch to a candidate that beats the incumbent "
                        "by this many standard errors (default: seqae's, never)")
    parser.add_argument("--smoothing", action="store_true", help="let auto choose a smoothing too")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--tag", default="defaults", help="file name stem of the results")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
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


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
