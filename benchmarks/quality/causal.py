"""What causal scores cost: AP with each row scored from the rows up to it alone, against the default.

Causal scores are what `anomaly_score(X, causal=True)`, `seqae score` and `seqae watch` decide on; the
default scores average the windows covering a row, up to `window_size - 1` rows past it.

    python -m benchmarks.quality causal                        # SKAB and nab-dev, seed 0 (~15 min on 2 busy cores)
    python -m benchmarks.quality causal --sets skab --limit 5 --no-networks

Detectors: `knn-window` at the window `seqae fit --model auto` chooses (auto's default winner) and
auto's `lstm-ae` candidate (window at most 64, latent 4, robust scaling, 30 epochs), both fitted on
the training rows of each file (protocol.py) with seed 0. Each scores the whole series (the test rows
in context) both ways; AP is taken on the test rows (a causal score's warm-up rows all lie in the
training rows). Also the share of normal test rows above the model's threshold (the threshold is
fitted on the default scores). Writes benchmarks/results/<tag>.per_file.csv and <tag>.md.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol


def candidates(train: pd.DataFrame, networks: bool):
    from seqae.autoconfig import choose_window, default_candidates, find_period

    values = train.to_numpy(dtype=np.float64)
    window = choose_window(len(values), find_period(values))
    keep = ("knn-window", "lstm-ae") if networks else ("knn-window",)
    return [c for c in default_candidates(window, values.shape[1], networks=networks) if c.model_type in keep]


def run(sets, seed, limit, networks, verbose) -> pd.DataFrame:
    from seqae.detectors import make_detector

    rows = []
    for set_name in sets:
        for file in protocol.load(set_name, limit):
            for candidate in candidates(file.train, networks):
                params = dict(candidate.params, random_state=seed)
                if candidate.model_type == "lstm-ae":
                    params["verbose"] = False
                started = time.perf_counter()
                detector = make_detector(candidate.model_type, **params).fit(file.train)
                fit_seconds = time.perf_counter() - started
                normal = file.labels == 0
                flags = detector.detect(file.frame).flags[len(file.train):]  # the live decisions: causal
                for mode in ("default", "causal"):
                    scores = detector.anomaly_score(file.frame, causal=mode == "causal")[len(file.train):]
                    rows.append({"set": set_name, "file": file.name, "detector": candidate.model_type,
                                 "window": detector.window_size, "mode": mode,
                                 "ap": common.average_precision(file.labels, scores),
                                 "normal_flag_share": float(flags[normal].mean()) if normal.any() else np.nan,
                                 "fit_seconds": fit_seconds})
                if verbose:
                    ap = {r["mode"]: r["ap"] for r in rows[-2:]}
                    print(f"{set_name} {file.name} {candidate.name}: AP {ap['default']:.3f} -> causal "
                          f"{ap['causal']:.3f}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def table(per_file: pd.DataFrame) -> str:
    summary = per_file.groupby(["set", "detector", "mode"]).agg(ap=("ap", "mean"),
                                                                  flagged=("normal_flag_share", "mean"))
    lines = ["| set | detector | default AP | causal AP | change | normal rows flagged, default | causal |",
             "|---|---|---|---|---|---|---|"]
    for (set_name, detector), _ in per_file.groupby(["set", "detector"], sort=False):
        d, c = summary.loc[(set_name, detector, "default")], summary.loc[(set_name, detector, "causal")]
        lines.append(f"| {set_name} | {detector} | {d.ap:.3f} | {c.ap:.3f} | {c.ap - d.ap:+.3f} | "
                     f"{100 * d.flagged:.2f} % | {100 * c.flagged:.2f} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, ["skab", "nab-dev"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-networks", action="store_true", help="knn-window only")
    common.output_options(parser, tag="causal")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    common.one_torch_thread()
    per_file = run(args.sets, args.seed, args.limit, not args.no_networks, args.verbose)
    args.out.mkdir(parents=True, exist_ok=True)
    per_file.to_csv(args.out / f"{args.tag}.per_file.csv", index=False)
    text = table(per_file)
    (args.out / f"{args.tag}.md").write_text(text + "\n")
    print(text)
    return 0
