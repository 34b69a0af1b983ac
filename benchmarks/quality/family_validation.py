"""Can anomalies injected into the held-out rows choose a detector family per file? Validation vs test AP.

The question: between the nearest-window distance and its mean with the level baseline, what
auto's validation (its injected copies) says against what the test rows say.

    python -m benchmarks.quality family-validation        # ~10 min on 2 busy cores (run under nice)
    python -m benchmarks.quality family-validation --sets skab --limit 3

For every file of SKAB, nab-dev and the synthetic set (protocol.py), each detector below is fitted
on the training rows and scored (1) on auto's 14 injected copies (`seqae.autoconfig.injection_suite`,
seed 0; validation AP on the held-out rows) and (2) on the whole series (test AP on the test rows).
`knn-window` remembers only the rows before the held-out ones here, so that the held-out rows are
out of sample in validation, as they are for the other detectors. The "pair" rows are the sum of the
two members' scores (each already normalised by its detector). Prints and writes
benchmarks/results/family_validation.md: mean validation and test AP per set, the per-file
correlation between the two differences (pair minus `knn-window`), and the test AP of choosing the
pair where its validation AP is higher.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol


def detectors(window: int) -> dict:
    return {"knn-window": ("knn-window", {"window_size": window, "memory_from": "train"}),
            "deviation": ("deviation", {}),
            "deviation, smoothing 30": ("deviation", {"smoothing": 30}),
            "deviation by window": ("deviation", {"window_size": window, "score_reduction": "window"})}


PAIRS = {"knn-window + deviation smoothing 30": ("knn-window", "deviation, smoothing 30"),
         "knn-window + deviation by window": ("knn-window", "deviation by window")}


def measure(sets, limit=None) -> pd.DataFrame:
    from seqae import metrics
    from seqae.autoconfig import VALIDATION_FRACTION, choose_window, find_period, injection_suite
    from seqae.detectors import make_detector

    rows = []
    for set_name in sets:
        for file in protocol.load(set_name, limit):
            values = file.train.to_numpy(dtype=np.float64)
            n, n_heldout = len(values), int(len(values) * VALIDATION_FRACTION)
            window = choose_window(n, find_period(values))
            suite, _ = injection_suite(values, n_heldout, 0)
            validation, test = {}, {}
            for name, (model_type, params) in detectors(window).items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    detector = make_detector(model_type, **params).fit(file.train)
                validation[name] = [np.asarray(detector.anomaly_score(copy), dtype=np.float64)[n - n_heldout:]
                                    for copy, _ in suite]
                test[name] = np.asarray(detector.anomaly_score(file.frame), dtype=np.float64)[n:]
            for name, (a, b) in PAIRS.items():
                validation[name] = [x + y for x, y in zip(validation[a], validation[b])]
                test[name] = test[a] + test[b]
            for name in validation:
                rows.append({"set": set_name, "file": file.name, "detector": name,
                             "validation_ap": float(np.mean([metrics.auc_pr(labels, np.nan_to_num(s))
                                                             for s, (_, labels) in zip(validation[name], suite)])),
                             "test_ap": common.average_precision(file.labels, test[name])})
            print(f"{set_name} {file.name}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def report(per_file: pd.DataFrame) -> str:
    sets = list(dict.fromkeys(per_file["set"]))
    means = per_file.groupby(["detector", "set"], sort=False)[["validation_ap", "test_ap"]].mean().unstack("set")
    lines = ["| detector | " + " | ".join(f"{s} validation | {s} test" for s in sets) + " |",
             "|---|" + "---|---|" * len(sets)]
    for det in means.index:
        lines.append(f"| {det} | " + " | ".join(f"{means.loc[det, ('validation_ap', s)]:.3f} | "
                                               f"{means.loc[det, ('test_ap', s)]:.3f}" for s in sets) + " |")
    lines += ["", "| pair | set | files | r(validation difference, test difference) | test AP choosing by validation |",
              "|---|---|---|---|---|"]
    wide = per_file.pivot_table(index=["set", "file"], columns="detector", values=["validation_ap", "test_ap"])
    for pair in PAIRS:
        for s in sets:
            d = wide.loc[s].dropna()
            dv = d[("validation_ap", pair)] - d[("validation_ap", "knn-window")]
            dt = d[("test_ap", pair)] - d[("test_ap", "knn-window")]
            chosen = np.where(dv > 0, d[("test_ap", pair)], d[("test_ap", "knn-window")])
            lines.append(f"| {pair} | {s} | {len(d)} | {np.corrcoef(dv, dt)[0, 1]:.2f} | {chosen.mean():.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    common.dev_set_options(parser, ["skab", "nab-dev", "synthetic"])
    common.output_options(parser, tag="family_validation")
    args = parser.parse_args(argv)
    per_file = measure(args.sets, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    per_file.to_csv(args.out / f"{args.tag}.per_file.csv", index=False, float_format="%.4g")
    text = report(per_file)
    (args.out / f"{args.tag}.md").write_text(text)
    print(text)
    return 0
