"""`seqae fit` with no options (auto) on the dev sets, 3 seeds, beside every candidate `--compare` fits.

    python -m benchmarks.quality defaults                      # the four dev sets, seeds 0 1 2 (hours on 2 busy cores)
    python -m benchmarks.quality defaults --sets skab --seeds 0 --limit 5 --no-networks
    python -m benchmarks.quality defaults --switch-z 2 --smoothing --tag defaults-switching   # the rule auto replaced

For each file and seed, `seqae.autoconfig.auto_fit(..., compare=True)` sees the training rows only
(protocol.py; telemetry-dev's continuous columns, `protocol.continuous_columns`) and fits the
default and every other candidate without labels; `--switch-z` and `--smoothing` replay the switching
rule auto once had on the candidates' APs on the injected anomalies. The kept detector and every
candidate are then scored on the whole series and their average precision (AP) taken on the test
rows. Writes
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


def select(table: pd.DataFrame, z: float = 2.0) -> int:
    """The row of `table` (`auto_fit(..., compare=True).candidates`) a switching rule keeps: the first
    (the default) unless the best of the others beats it on the injected anomalies by more than `z`
    standard errors of the paired difference, copy by copy. The rule auto once had, measured here."""
    scores = table["validation_ap"].to_numpy(dtype=np.float64)
    if len(scores) == 1 or not np.isfinite(scores[1:]).any():
        return 0
    challenger = 1 + int(np.nanargmax(scores[1:]))
    if not np.isfinite(scores[0]):
        return challenger
    diff = np.asarray(table.loc[challenger, "injection_aps"]) - np.asarray(table.loc[0, "injection_aps"])
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return 0
    standard_error = diff.std(ddof=1) / np.sqrt(len(diff))
    return challenger if diff.mean() > z * standard_error and diff.mean() > 0 else 0


def best_smoothing(result, name: str, train: pd.DataFrame) -> int:
    """The causal smoothing (none, a quarter window, a window) with the best AP on the injected
    anomalies for candidate `name` of a one-recording `auto_fit(..., compare=True)` result."""
    from seqae.autoconfig import VALIDATION_FRACTION, causal_mean, injected_ap, injection_suite

    detector = result.fitted[name]
    window = int(getattr(detector, "window_size", result.window_size))
    values = train.to_numpy(dtype=np.float64)
    n_heldout = int(len(values) * VALIDATION_FRACTION)
    suite, _ = injection_suite(values, n_heldout, detector.random_state)
    before = np.asarray(detector.anomaly_score(train), dtype=np.float64)[: len(values) - n_heldout]
    raw = result.injection_scores[name]
    best, best_ap = 1, float(result.candidates.set_index("name").loc[name, "validation_ap"])
    for k in sorted({max(1, window // 4), window} - {1}):
        lead = before[max(0, len(before) - (k - 1)):]
        ap = float(np.nanmean([injected_ap(labels, causal_mean(np.concatenate([lead, s]), k)[len(lead):])
                               for s, (_, labels) in zip(raw, suite)]))
        if ap > best_ap + 1e-9:
            best, best_ap = k, ap
    return best


def run(sets, seeds, limit, networks, verbose, switch_z=None, smoothing=False):
    from seqae.autoconfig import auto_fit
    from seqae.detectors import make_detector

    per_file, choices = [], []
    for set_name in sets:
        files = protocol.load(set_name, limit, continuous=True)
        for seed in seeds:
            for file in files:
                started = time.perf_counter()
                result = auto_fit(file.train, random_state=seed, networks=networks, compare=True)
                compare_seconds = time.perf_counter() - started
                table = result.candidates
                chosen = 0 if switch_z is None else select(table, switch_z)
                name = table.loc[chosen, "name"]
                detector, k = result.fitted[name], 1
                if smoothing:
                    k = best_smoothing(result, name, file.train)
                    if k > 1:
                        detector = make_detector(table.loc[chosen, "model_type"], **table.loc[chosen, "params"],
                                                 smoothing=k).fit(file.train)
                ap = common.average_precision(file.labels, common.test_scores(detector, file))
                per_file.append({"set": set_name, "file": file.name, "seed": seed, "detector": "auto",
                                 "ap": ap, "fit_seconds": float(table.loc[0, "fit_seconds"])})
                for row in table.itertuples():
                    cand_ap = common.average_precision(file.labels, common.test_scores(result.fitted[row.name], file))
                    per_file.append({"set": set_name, "file": file.name, "seed": seed,
                                     "detector": row.name.split(" w=")[0], "ap": cand_ap,
                                     "fit_seconds": row.fit_seconds, "validation_ap": row.validation_ap})
                choices.append({"set": set_name, "file": file.name, "seed": seed, "chosen": name, "smoothing": k,
                                "period": result.period, "window": result.window_size, "test_ap": ap,
                                "fit_seconds": compare_seconds, "reason": result.reason})
                if verbose:
                    print(f"{set_name} {file.name} seed {seed}: AP {ap:.3f} {compare_seconds:.1f} s  {result.reason}",
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
    common.dev_set_options(parser, protocol.SETS, seeds=[0, 1, 2])
    parser.add_argument("--no-networks", action="store_true", help="the baseline candidates only")
    parser.add_argument("--switch-z", type=float, help="switch to a candidate that beats the default by this many "
                        "standard errors on the injected anomalies (default: never, as seqae does)")
    parser.add_argument("--smoothing", action="store_true", help="choose a smoothing on the injected anomalies too")
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
