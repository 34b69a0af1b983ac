"""The recurrent models as detectors and as members of auto's default, on the four dev sets, 3 seeds.

    python -m benchmarks.quality recurrent score                        # fit every member, cache its test scores
    python -m benchmarks.quality recurrent score --members lstm-ae lstm-vae --seeds 0 1 2
    python -m benchmarks.quality recurrent table                        # members and defaults, mean per-file AP
    python -m benchmarks.quality recurrent table --defaults 'knn+deviation-window+lstm-ae/knn+lstm-ae'

`score` fits each member on each file's training rows (protocol.py; no labels) at auto's window
(`seqae.autoconfig.choose_window`, from the training rows' period), robust input scaling, the last
20 % held out, and caches its scores of the test rows (scored in context: the whole series) in
benchmarks/out/recurrent-scores/ (one .npz per set, member and seed; a member without a seed once).
On telemetry-dev a detector sees the telemetry value and any column with more than 16 distinct
values or values that are not whole numbers (`protocol.continuous_columns`): the command channels are left
out, as the column roles of `seqae fit` will leave them out; in practice the value alone.

`table` combines cached members without fitting again. A default is written `A+B` (the mean of the
members' scores on every file) or `A+B/C` (`A+B` for several sensors, `C` for one). The mean of
members' scores is exactly `EnsembleDetector`'s score: each member's per-sensor score normalised by
its own median and MAD on the held-out rows, averaged over members (the ensemble's own
normalisation is none). The table gives per set the mean per-file AP of the test rows (mean ± sd
over seeds) and the difference to today's default paired by file and seed, with a 95 % interval.
Writes benchmarks/results/<tag>.md and <tag>.per_file.csv.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

CACHE = common.OUT / "recurrent-scores"
ALL_SETS = ("skab", "nab-dev", "synthetic", "telemetry-dev")
TODAY = "knn+deviation-window/knn"  # the default without a recurrent member: several sensors / one
STEPS_PER_EPOCH = 1 << 16  # the -budget members: an epoch trains on at most this many window rows


def dev_files(set_name: str, limit: int | None = None) -> list[protocol.DevFile]:
    """The set's files; telemetry-dev's reduced to `protocol.continuous_columns` of the training rows."""
    return protocol.load(set_name, limit, continuous=True)


def member_specs(window: int) -> dict[str, tuple[str, dict, bool]]:
    """name -> (model type, parameters at `window`, seeded?). Every member as an ensemble holds it:
    auto's window, robust scaling, each window's mean error given to its rows where it has a choice."""
    net = {"window_size": window, "scaling": "robust", "score_reduction": "window", "verbose": False}
    ae = {**net, "latent_dim": 4}
    vae = {**net, "latent_dim": 4, "normalize_on": "validation"}
    return {
        "knn": ("knn-window", {"window_size": window}, False),
        "deviation-window": ("deviation", {"window_size": window, "score_reduction": "window"}, False),
        "pca-window": ("pca", {"window_size": window, "scaling": "robust", "score_reduction": "window",
                               "normalize_on": "validation"}, False),
        "lstm-ae": ("lstm-ae", ae, True),
        "lstm-ae-l16": ("lstm-ae", {**ae, "latent_dim": 16}, True),
        "lstm-ae-budget": ("lstm-ae", {**ae, "max_epoch_windows": max(64, STEPS_PER_EPOCH // window)}, True),
        "lstm-ae-h32": ("lstm-ae", {**ae, "hidden_size": 32}, True),
        "lstm-ae-center-budget": ("lstm-ae", {**ae, "window_norm": "center",
                                              "max_epoch_windows": max(64, STEPS_PER_EPOCH // window)}, True),
        "lstm-ae-w64": ("lstm-ae", {**ae, "window_size": min(window, 64)}, True),
        "lstm-ae-center-w64": ("lstm-ae", {**ae, "window_size": min(window, 64), "window_norm": "center"}, True),
        "lstm-ae-center": ("lstm-ae", {**ae, "window_norm": "center"}, True),
        "lstm-ae-standardize": ("lstm-ae", {**ae, "window_norm": "standardize"}, True),
        "lstm-ae-tf": ("lstm-ae", {**ae, "decoder": "teacher_forcing"}, True),
        "lstm-ae-tf-center": ("lstm-ae", {**ae, "decoder": "teacher_forcing", "window_norm": "center"}, True),
        "lstm-ae-tf-center-l16": ("lstm-ae", {**ae, "decoder": "teacher_forcing", "window_norm": "center",
                                              "latent_dim": 16}, True),
        "lstm-ae-tf-standardize": ("lstm-ae", {**ae, "decoder": "teacher_forcing", "window_norm": "standardize"},
                                   True),
        "lstm-ae-tf-center-h32": ("lstm-ae", {**ae, "decoder": "teacher_forcing", "window_norm": "center",
                                              "hidden_size": 32}, True),
        "lstm-ae-tf-center-budget": ("lstm-ae", {**ae, "decoder": "teacher_forcing", "window_norm": "center",
                                                 "max_epoch_windows": max(64, STEPS_PER_EPOCH // window)}, True),
        "lstm-vae": ("lstm-vae", vae, True),
        "lstm-vae-l16": ("lstm-vae", {**vae, "latent_dim": 16}, True),
        "lstm-vae-elbo": ("lstm-vae", {**vae, "score": "elbo"}, True),
        "lstm-forecast": ("lstm-forecast", {**net, "hidden_size": 32}, True),
    }


def cache_path(cache: Path, set_name: str, member: str, seed: int | None) -> Path:
    return cache / (f"{set_name}.{member}" + ("" if seed is None else f".s{seed}") + ".npz")


def auto_window(file: protocol.DevFile) -> int:
    from seqae.autoconfig import choose_window, find_period

    return choose_window(len(file.train), find_period(file.train.to_numpy(dtype=np.float64)))


def score(sets, members, seeds, cache: Path = CACHE, limit: int | None = None) -> None:
    """Fit each member on each file of `sets` and cache its test scores and fit seconds."""
    from seqae.detectors import make_detector

    common.one_torch_thread()
    cache.mkdir(parents=True, exist_ok=True)
    for set_name in sets:
        files = dev_files(set_name, limit)
        windows = [auto_window(file) for file in files]
        for member in members:
            seeded = member_specs(64)[member][2]
            for seed in (seeds if seeded else [None]):
                path = cache_path(cache, set_name, member, seed)
                if path.exists():
                    continue
                started, arrays = time.perf_counter(), {}
                for file, window in zip(files, windows):
                    model_type, params, _ = member_specs(window)[member]
                    if seeded:
                        params = {**params, "random_state": seed}
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        detector = make_detector(model_type, **params)
                        fit_started = time.perf_counter()
                        detector.fit(file.train)
                        fit_seconds = time.perf_counter() - fit_started
                        arrays[file.name] = common.test_scores(detector, file)
                    arrays[f"{file.name}#fit_seconds"] = np.array(fit_seconds)
                np.savez(path, **arrays)
                print(f"{set_name} {member} seed {seed}: {time.perf_counter() - started:.0f} s",
                      file=sys.stderr, flush=True)


def load_member(cache: Path, set_name: str, member: str, seed: int) -> dict[str, np.ndarray] | None:
    for path in (cache_path(cache, set_name, member, seed), cache_path(cache, set_name, member, None)):
        if path.exists():
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
    return None


def parse_default(text: str) -> tuple[list[str], list[str]]:
    """`A+B/C` -> (members for several sensors, members for one); `A+B` -> the same for both."""
    several, _, one = text.partition("/")
    return several.split("+"), (one or several).split("+")


def members_of(defaults: list[str]) -> set[str]:
    return {m for text in defaults for part in parse_default(text) for m in part}


def per_file_aps(sets, defaults: list[str], seeds, cache: Path = CACHE, limit: int | None = None) -> pd.DataFrame:
    """One row per set, default, file and seed: the AP of the mean of the members' cached scores,
    and the fit seconds of its members together."""
    rows = []
    for set_name in sets:
        files = dev_files(set_name, limit)
        for seed in seeds:
            scores = {m: load_member(cache, set_name, m, seed) for m in members_of(defaults)}
            for text in defaults:
                several, one = parse_default(text)
                for file in files:
                    chosen = several if file.train.shape[1] > 1 else one
                    if any(scores[m] is None or file.name not in scores[m] for m in chosen):
                        continue
                    mean = np.mean([np.nan_to_num(scores[m][file.name].astype(np.float64)) for m in chosen], axis=0)
                    rows.append({"set": set_name, "default": text, "file": file.name, "seed": seed,
                                 "ap": common.average_precision(file.labels, mean),
                                 "fit_seconds": float(sum(scores[m][f"{file.name}#fit_seconds"] for m in chosen))})
    return pd.DataFrame(rows)


def table(per_file: pd.DataFrame, baseline: str = TODAY) -> pd.DataFrame:
    """Per set and default: mean per-file AP (mean and sd over seeds), the paired difference to
    `baseline` with a 95 % interval of its mean, fit seconds per file, and files x seeds measured."""
    rows = []
    base = per_file[per_file["default"] == baseline].set_index(["set", "file", "seed"])["ap"]
    for (set_name, text), group in per_file.groupby(["set", "default"], sort=False):
        by_seed = group.groupby("seed")["ap"].mean()
        diff = (group.set_index(["set", "file", "seed"])["ap"] - base).dropna()
        half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.nan
        rows.append({"set": set_name, "default": text, "ap": by_seed.mean(),
                     "sd": by_seed.std(ddof=1) if len(by_seed) > 1 else np.nan,
                     "vs_today": diff.mean() if len(diff) else np.nan, "ci95": half,
                     "fit_s": group["fit_seconds"].mean(), "n": len(group)})
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame) -> str:
    lines = ["| default | set | mean per-file AP (± sd over seeds) | − today's, paired (95 % CI) | fit s / file | fits |",
             "|---|---|---|---|---|---|"]
    for row in summary.itertuples():
        sd = f" ± {row.sd:.3f}" if np.isfinite(row.sd) else ""
        diff = f"{row.vs_today:+.3f} ± {row.ci95:.3f}" if np.isfinite(row.ci95) else "–"
        lines.append(f"| {row.default} | {row.set} | {row.ap:.3f}{sd} | {diff} | {row.fit_s:.1f} | {row.n} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("what", choices=["score", "table"], help="fit and cache the members, or combine the cache")
    common.dev_set_options(parser, ALL_SETS, seeds=[0])
    parser.add_argument("--members", nargs="+", default=list(member_specs(64)), choices=list(member_specs(64)),
                        help="members to fit (score)")
    parser.add_argument("--defaults", nargs="+", default=None,
                        help="defaults to combine (table): A+B, or A+B/C (several sensors / one sensor)")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"the members' scores (default: {CACHE})")
    common.output_options(parser, tag="recurrent")
    args = parser.parse_args(argv)
    if args.what == "score":
        score(args.sets, args.members, args.seeds, args.cache, args.limit)
        return 0
    defaults = args.defaults or [TODAY] + [m for m in member_specs(64)]
    if TODAY not in defaults:
        defaults = [TODAY] + defaults
    per_file = per_file_aps(args.sets, defaults, args.seeds, args.cache, args.limit)
    summary = table(per_file)
    text = markdown(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    per_file.to_csv(args.out / f"{args.tag}.per_file.csv", index=False)
    (args.out / f"{args.tag}.md").write_text(text + "\n")
    print(text)
    return 0
