"""Candidates and their combinations on the dev sets: which detector, or mean of detectors, auto should fit.

    python -m benchmarks.quality ensembles score            # fit each member on each file, cache its scores
    python -m benchmarks.quality ensembles score --networks # the LSTM members too (seed 0; minutes)
    python -m benchmarks.quality ensembles table            # mean per-file AP of members and combinations

`score` fits every member on each file's training rows (protocol.py; no labels) and caches the
scores of the whole series in benchmarks/out/ensemble-scores/ (one .npz per set and member). `table`
combines cached members without refitting: each member's score is normalised by its median and MAD
on the held-out training rows (the last 20 %, the rows every detector holds out), then the members'
normalised scores are averaged (or their maximum taken); the table is the mean per-file average
precision (AP) of the test rows, per set.
"""

from __future__ import annotations

import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

CACHE = common.OUT / "ensemble-scores"
HELD_OUT = 0.2


def members(window: int, networks: bool) -> dict:
    """name -> (model_type, params, rescore with each window's mean error on its rows?)."""
    out = {
        "knn": ("knn-window", {"window_size": window}, False),
        "knn-k5": ("knn-window", {"window_size": window, "n_neighbors": 5}, False),
        "knn-half": ("knn-window", {"window_size": max(8, window // 2)}, False),
        "knn-quarter": ("knn-window", {"window_size": max(8, window // 4)}, False),
        "knn-all": ("knn-window", {"window_size": window}, "memory"),
        "knn-wide": ("knn-window", {"window_size": window, "validation_fraction": 0.3}, False),
        "deviation": ("deviation", {}, False),
        "deviation-window": ("deviation", {"window_size": window, "score_reduction": "window"}, False),
        "knn+deviation-window": ("ensemble", {"window_size": window, "members": [
            ["knn-window", {}], ["deviation", {"score_reduction": "window"}]]}, False),
        "ensemble": ("ensemble", {"window_size": window}, False),
        "pca": ("pca", {"window_size": window, "scaling": "robust"}, False),
        "pca-win": ("pca", {"window_size": window, "scaling": "robust"}, True),
        "pca-window": ("pca", {"window_size": window, "scaling": "robust", "score_reduction": "window"}, False),
        "pca-window-v": ("pca", {"window_size": window, "scaling": "robust", "score_reduction": "window",
                                 "normalize_on": "validation"}, False),
        "iforest": ("iforest", {"window_size": min(window, 32), "random_state": 0}, False),
    }
    if networks:
        net_w = min(window, 64)
        out["lstm-ae-win"] = ("lstm-ae", {"window_size": net_w, "scaling": "robust", "latent_dim": 4,
                                          "epochs": 30, "random_state": 0}, True)
        out["lstm-forecast"] = ("lstm-forecast", {"window_size": net_w, "scaling": "robust",
                                                  "hidden_size": 32, "epochs": 30, "random_state": 0}, False)
    return out


def score(sets, networks: bool, only=None, cache: Path = CACHE, limit: int | None = None) -> None:
    """Fit each member on each file of `sets` and save its scores of the whole series under `cache`."""
    import torch

    from seqae.autoconfig import choose_window, find_period
    from seqae.detectors import make_detector

    torch.set_num_threads(1)
    cache.mkdir(parents=True, exist_ok=True)
    for set_name in sets:
        files = protocol.load(set_name, limit)
        windows = [choose_window(len(f.train), find_period(f.train.to_numpy())) for f in files]
        names = list(members(64, networks))
        for name in names:
            if only and name not in only:
                continue
            path = cache / f"{set_name}.{name}.npz"
            if path.exists():
                continue
            started = time.perf_counter()
            arrays = {}
            for file, window in zip(files, windows):
                model_type, params, rescore = members(window, networks)[name]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    detector = make_detector(model_type, **params).fit(file.train)
                if rescore == "memory":  # every training row's window in memory after the normaliser is fitted
                    from seqae.windows import window_tensor
                    scaled = detector.scaler_.transform(file.train.to_numpy(dtype=np.float64))
                    detector.memory_ = window_tensor(scaled, detector.window_size).numpy().astype(np.float32).copy()
                    s = np.asarray(detector.anomaly_score(file.frame), dtype=np.float64)
                elif rescore:
                    s = common.window_score(detector, file.frame, len(file.train))
                else:
                    s = np.asarray(detector.anomaly_score(file.frame), dtype=np.float64)
                arrays[file.name] = s
            np.savez(path, **arrays)
            print(f"{set_name} {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


SMOOTHED = {"deviation": (10, 30), "knn": (16, 64)}  # member -> causal rolling means tried on top of it


def load_cache(set_name, cache: Path = CACHE):
    from seqae.autoconfig import causal_mean

    out = {}
    for path in sorted(cache.glob(f"{set_name}.*.npz")):
        with np.load(path) as data:
            out[path.name[len(set_name) + 1:-4]] = {k: data[k] for k in data.files}
    for name, lengths in SMOOTHED.items():
        for k in lengths:
            if name in out:
                out[f"{name}~{k}"] = {f: causal_mean(np.nan_to_num(s), k) for f, s in out[name].items()}
    return out


def normalised(scores: np.ndarray, n_train: int) -> np.ndarray:
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
    held = s[n_train - int(n_train * HELD_OUT):n_train]
    center = np.median(held)
    scale = 1.4826 * np.median(np.abs(held - center))
    if not scale > 0:
        scale = held.std() if held.std() > 0 else 1.0
    return (s - center) / scale


def table(sets, max_size: int, top: int, cache: Path = CACHE, limit: int | None = None) -> pd.DataFrame:
    """Mean per-file AP per set of every member and combination of up to `max_size` members, best first."""
    rows = []
    for set_name in sets:
        files = {f.name: f for f in protocol.load(set_name, limit)}
        scores = load_cache(set_name, cache)
        names = sorted(scores)
        for size in range(1, max_size + 1):
            for combo in itertools.combinations(names, size):
                for how in (("mean",) if size == 1 else ("mean", "max")):
                    aps = []
                    for file_name, file in files.items():
                        n_train = len(file.train)
                        parts = np.stack([normalised(scores[m][file_name], n_train) for m in combo])
                        s = parts.mean(axis=0) if how == "mean" else parts.max(axis=0)
                        aps.append(common.average_precision(file.labels, s[n_train:]))
                    rows.append({"set": set_name, "members": "+".join(combo), "how": how, "ap": float(np.nanmean(aps))})
    frame = pd.DataFrame(rows).pivot_table(index=["members", "how"], columns="set", values="ap").reset_index()
    present = [s for s in sets if s in frame]
    frame["mean"] = frame[present].mean(axis=1)
    frame["min"] = frame[present].min(axis=1)
    return frame.sort_values("mean", ascending=False).head(top)


def main(argv=None) -> int:
    parser = common.parser(__name__, __doc__)
    parser.add_argument("what", choices=["score", "table"], help="fit and cache the members, or combine the cache")
    parser.add_argument("--sets", nargs="+", default=["skab", "nab-dev", "synthetic"], choices=protocol.SETS)
    parser.add_argument("--networks", action="store_true", help="the LSTM members too")
    parser.add_argument("--only", nargs="+", help="these members only")
    parser.add_argument("--max-size", type=int, default=3, help="combinations of up to this many members")
    parser.add_argument("--top", type=int, default=40, help="rows of the table")
    parser.add_argument("--limit", type=int, help="the first N files of each set (a quick run, cached apart)")
    parser.add_argument("--cache", type=Path, help=f"the members' scores (default: {CACHE}, or beside it with --limit)")
    args = parser.parse_args(argv)
    cache = args.cache or (CACHE if args.limit is None else CACHE.with_name(f"{CACHE.name}-first{args.limit}"))
    if args.what == "score":
        score(args.sets, args.networks, args.only, cache, args.limit)
    else:
        with pd.option_context("display.width", 200, "display.max_rows", 500):
            print(table(args.sets, args.max_size, args.top, cache, args.limit).round(3).to_string(index=False))
    return 0
