"""What each scoring and modelling lever does, on SKAB and on the synthetic validation set.

    python -m benchmarks.quality levers                        # fits what is not cached yet, prints the tables
    python -m benchmarks.quality levers --cache DIR --jobs 2

Every model variant is fitted once per file and seed (3 seeds) on SKAB's 34 labelled files and on
the 32 files of the synthetic set (protocol.py: SKAB's anomaly-free recording with injected anomalies), with
the leaderboard protocol (fit on the first 400 rows, score the rest). What the network outputs per
time point and sensor is cached (`--cache`, default benchmarks/out/levers/): the element scores
`window_scores` gives (squared error, or the VAE's -log-likelihood / negative ELBO) averaged over
the windows covering a row, and the signed residuals. The scoring levers (normalisation and the rows it is
fitted on, how the sensors are combined, smoothing, Mahalanobis distance, ensembles, threshold
source) are then applied to the cache, the way
`BaseDetector` applies them: a row of this table with the pipeline's settings reproduces the
pipeline's numbers (the `skab` study).

Columns: validation AUC-PR (mean per file; what the settings were chosen on), SKAB AUC-PR (mean per
file), and SKAB's pooled F1 / FAR % with the upper control limit 1.5 x the 99th percentile of the
training rows' scores; mean ± std over the 3 seeds (an ensemble row is one average of 3 models).
Fitting everything from scratch takes about 70 minutes on two cores. Writes the tables to
benchmarks/results/levers.md (and, with the settings, to the cache folder); `--limit N` fits the
first N files of each set only, into a cache of its own, for a quick run.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

CACHE = common.OUT / "levers"
TRAIN_ROWS = protocol.SKAB_TRAIN_ROWS
SEEDS = (0, 1, 2)

# name -> (model type, parameters); "<name>" is cached for SKAB and "val_<name>" for the validation set
VARIANTS = {
    "lstm": ("lstm-ae", {}),
    "lstm_w16": ("lstm-ae", {"window_size": 16}),
    "lstm_w64": ("lstm-ae", {"window_size": 64}),
    "lstm_l4": ("lstm-ae", {"latent_dim": 4}),
    "lstm_noise05": ("lstm-ae", {"noise_std": 0.5}),
    "lstm_noval": ("lstm-ae", {"validation_fraction": 0.0}),
    "vae": ("lstm-vae", {}),
    "vae_w64": ("lstm-vae", {"window_size": 64}),
    "vae_fixvar": ("lstm-vae", {"learn_variance": False}),
    "vae_elbo": ("lstm-vae", {"score": "elbo"}),
    "dense": ("dense-ae", {}),
    "conv": ("conv-ae", {}),
    "lstm_rscale": ("lstm-ae", {"scaling": "robust"}),
    "vae_rscale": ("lstm-vae", {"scaling": "robust"}),
    "dense_rscale": ("dense-ae", {"scaling": "robust"}),
    # third round: the LSTM-AE settings the validation set leaned towards, combined (and lstm_l4 above)
    "lstm_l2_rscale": ("lstm-ae", {"latent_dim": 2, "scaling": "robust"}),
    "lstm_l4_rscale": ("lstm-ae", {"latent_dim": 4, "scaling": "robust"}),
    "lstm_l8_rscale": ("lstm-ae", {"latent_dim": 8, "scaling": "robust"}),
    "lstm_w64_rscale": ("lstm-ae", {"window_size": 64, "scaling": "robust"}),
    "lstm_w64_l4": ("lstm-ae", {"window_size": 64, "latent_dim": 4}),
    "lstm_w64_l4_rscale": ("lstm-ae", {"window_size": 64, "latent_dim": 4, "scaling": "robust"}),
    "vae_l4_rscale": ("lstm-vae", {"latent_dim": 4, "scaling": "robust"}),
    "lstm_w16_l4_rscale": ("lstm-ae", {"window_size": 16, "latent_dim": 4, "scaling": "robust"}),
    "lstm_l4_rscale_h32": ("lstm-ae", {"latent_dim": 4, "scaling": "robust", "hidden_size": 32}),
    "lstm_l4_rscale_h128": ("lstm-ae", {"latent_dim": 4, "scaling": "robust", "hidden_size": 128}),
    # the baseline with nothing to learn (deterministic: its three "seeds" are the same model)
    "deviation": ("deviation", {"scaling": "robust"}),
    "deviation_std": ("deviation", {"scaling": "standard"}),
}

# Cached apart from the networks' outputs: the isolation forest's row scores (its pipeline's settings)
# and the default LSTM-AE's latent vector of every window.
FOREST = ("iforest", {"normalization": "robust", "smoothing": 10})
LATENT = ("lstm-ae", {})

# An ensemble member's normaliser rows: each detector's default (as in its pipeline).
MEMBER_FIT_ROWS = {"lstm": "validation", "vae": "train", "dense": "validation", "conv": "validation"}

# the pipelines' scoring: robust normalisation fitted on the training rows, 10-row smoothing, UCL
BASE = dict(method="robust", fit_rows="train", k=10, reduction="mean", combine="mean", thr_rows="all",
            q=0.99, factor=1.5, ensemble=False, transform="squared", clip=None, floor=0.01, latent=None)

# (lever, setting, variant, scoring changes)
LEVERS = [
    ("per-sensor normalisation (LSTM-AE)", "none", "lstm", {"method": "none"}),
    ("per-sensor normalisation (LSTM-AE)", "zscore (the old default)", "lstm", {"method": "zscore"}),
    ("per-sensor normalisation (LSTM-AE)", "**robust: median, MAD (default)**", "lstm", {}),
    ("per-sensor normalisation (LSTM-AE)", "Mahalanobis, Ledoit-Wolf, on the residual vector", "lstm",
     {"method": "mahalanobis"}),
    ("per-sensor normalisation (LSTM-VAE)", "none", "vae", {"method": "none"}),
    ("per-sensor normalisation (LSTM-VAE)", "zscore", "vae", {"method": "zscore"}),
    ("per-sensor normalisation (LSTM-VAE)", "**robust**", "vae", {}),
    ("per-sensor normalisation (dense AE)", "none", "dense", {"method": "none"}),
    ("per-sensor normalisation (dense AE)", "zscore", "dense", {"method": "zscore"}),
    ("per-sensor normalisation (dense AE)", "**robust**", "dense", {}),
    ("normaliser fitted on (LSTM-AE)", "training rows (in-sample errors; the old default)", "lstm", {}),
    ("normaliser fitted on (LSTM-AE)", "**held-out last 20 % (out-of-sample errors)**", "lstm",
     {"fit_rows": "validation"}),
    ("normaliser fitted on (LSTM-AE)", "all 400 rows (not offered)", "lstm", {"fit_rows": "all"}),
    ("normaliser fitted on (LSTM-VAE)", "**training rows**", "vae", {}),
    ("normaliser fitted on (LSTM-VAE)", "held-out last 20 %", "vae", {"fit_rows": "validation"}),
    ("normaliser fitted on (LSTM-VAE)", "all 400 rows (not offered)", "vae", {"fit_rows": "all"}),
    ("normaliser fitted on (dense AE)", "training rows", "dense", {}),
    ("normaliser fitted on (dense AE)", "**held-out last 20 %**", "dense", {"fit_rows": "validation"}),
    ("normaliser fitted on (dense AE)", "all 400 rows (not offered)", "dense", {"fit_rows": "all"}),
    ("normaliser fitted on (conv AE)", "training rows", "conv", {}),
    ("normaliser fitted on (conv AE)", "**held-out last 20 %**", "conv", {"fit_rows": "validation"}),
    ("sensors combined by (LSTM-AE)", "**mean**", "lstm", {}),
    ("sensors combined by (LSTM-AE)", "mean of the positive parts", "lstm", {"combine": "meanpos"}),
    ("sensors combined by (LSTM-AE)", "max", "lstm", {"combine": "max"}),
    ("sensors combined by (LSTM-AE)", "mean of the top 2", "lstm", {"combine": "top2"}),
    ("sensors combined by (LSTM-AE)", "mean of the top 3", "lstm", {"combine": "top3"}),
    ("sensors combined by (LSTM-AE)", "root mean square of the positive parts", "lstm", {"combine": "rms"}),
    ("sensors combined by (LSTM-AE)", "log-mean-exp (soft max)", "lstm", {"combine": "lse"}),
    ("sensors combined by (LSTM-VAE)", "**mean**", "vae", {}),
    ("sensors combined by (LSTM-VAE)", "mean of the positive parts", "vae", {"combine": "meanpos"}),
    ("sensors combined by (LSTM-VAE)", "max", "vae", {"combine": "max"}),
    ("sensors combined by (LSTM-VAE)", "mean of the top 2", "vae", {"combine": "top2"}),
    ("sensors combined by (LSTM-VAE)", "root mean square of the positive parts", "vae", {"combine": "rms"}),
    ("sensors combined by (dense AE)", "**mean**", "dense", {}),
    ("sensors combined by (dense AE)", "mean of the positive parts", "dense", {"combine": "meanpos"}),
    ("sensors combined by (dense AE)", "max", "dense", {"combine": "max"}),
    ("sensors combined by (dense AE)", "mean of the top 2", "dense", {"combine": "top2"}),
    ("input scaling (LSTM-AE)", "mean, standard deviation", "lstm", {}),
    ("input scaling (LSTM-AE)", "median, IQR / 1.349", "lstm_rscale", {}),
    ("input scaling (LSTM-AE)", "**mean, std; normaliser on the held-out rows (the second round's pipeline)**", "lstm",
     {"fit_rows": "validation"}),
    ("input scaling (LSTM-AE)", "median, IQR / 1.349; normaliser on the held-out rows", "lstm_rscale",
     {"fit_rows": "validation"}),
    ("input scaling (LSTM-VAE)", "**mean, standard deviation**", "vae", {}),
    ("input scaling (LSTM-VAE)", "median, IQR / 1.349", "vae_rscale", {}),
    ("input scaling (dense AE)", "**mean, standard deviation**", "dense", {}),
    ("input scaling (dense AE)", "median, IQR / 1.349", "dense_rscale", {}),
    ("smoothing, causal rolling mean (LSTM-AE)", "1 (none)", "lstm", {"k": 1}),
    ("smoothing, causal rolling mean (LSTM-AE)", "**10 rows**", "lstm", {}),
    ("smoothing, causal rolling mean (LSTM-AE)", "30 rows", "lstm", {"k": 30}),
    ("smoothing, causal rolling mean (LSTM-VAE)", "1 (none)", "vae", {"k": 1}),
    ("smoothing, causal rolling mean (LSTM-VAE)", "**10 rows**", "vae", {}),
    ("smoothing, causal rolling mean (LSTM-VAE)", "30 rows", "vae", {"k": 30}),
    ("score of a row (LSTM-AE)", "**mean of the windows covering it**", "lstm", {}),
    ("score of a row (LSTM-AE)", "the window ending there (last)", "lstm", {"reduction": "last"}),
    ("window length (LSTM-AE)", "16", "lstm_w16", {}),
    ("window length (LSTM-AE)", "**32**", "lstm", {}),
    ("window length (LSTM-AE)", "64", "lstm_w64", {}),
    ("window length (LSTM-VAE)", "**32**", "vae", {}),
    ("window length (LSTM-VAE)", "64", "vae_w64", {}),
    ("latent size (LSTM-AE)", "**16**", "lstm", {}),
    ("latent size (LSTM-AE)", "4", "lstm_l4", {}),
    ("denoising training (LSTM-AE)", "**no noise**", "lstm", {}),
    ("denoising training (LSTM-AE)", "noise std 0.5 on the inputs", "lstm_noise05", {}),
    ("early stopping (LSTM-AE)", "**on the last 20 % of the training rows, patience 5**", "lstm", {}),
    ("early stopping (LSTM-AE)", "none: 30 epochs on all 400 rows", "lstm_noval", {}),
    ("VAE decoder variance", "**learned**", "vae", {}),
    ("VAE decoder variance", "fixed at 1", "vae_fixvar", {}),
    ("VAE score", "**reconstruction probability, -log p(x|z)**", "vae", {}),
    ("VAE score", "negative ELBO (+ KL per element)", "vae_elbo", {}),
    ("ensemble (LSTM-AE)", "**one model**", "lstm", {}),
    ("ensemble (LSTM-AE)", "mean score of 3 seeds", "lstm", {"ensemble": True}),
    ("ensemble (LSTM-VAE)", "**one model**", "vae", {}),
    ("ensemble (LSTM-VAE)", "mean score of 3 seeds", "vae", {"ensemble": True}),
    ("threshold (LSTM-AE)", "**UCL on all 400 training rows**", "lstm", {}),
    ("threshold (LSTM-AE)", "UCL on the held-out last 20 %", "lstm", {"thr_rows": "validation"}),
    ("threshold (LSTM-AE)", "99th percentile of all training rows (factor 1)", "lstm", {"factor": 1.0}),
    ("threshold (LSTM-VAE)", "**UCL on all 400 training rows**", "vae", {}),
    ("threshold (LSTM-VAE)", "UCL on the held-out last 20 %", "vae", {"thr_rows": "validation"}),
]

# Third round, every row with the LSTM-AE pipeline's scoring (normaliser on the held-out rows) unless it
# says otherwise; members of an ensemble ("a+b") are each normalised as in their own pipeline, their
# row scores put on one scale by the median and MAD of their training rows' scores, and averaged.
HELD_OUT = {"fit_rows": "validation"}
LEVERS_3 = [
    ("LSTM-AE settings combined", "window 32, latent 16, standard scaling (the defaults)", "lstm", HELD_OUT),
    ("LSTM-AE settings combined", "latent 4", "lstm_l4", HELD_OUT),
    ("LSTM-AE settings combined", "robust scaling", "lstm_rscale", HELD_OUT),
    ("LSTM-AE settings combined", "latent 2, robust scaling", "lstm_l2_rscale", HELD_OUT),
    ("LSTM-AE settings combined", "**latent 4, robust scaling (the pipeline's network)**", "lstm_l4_rscale",
     HELD_OUT),
    ("LSTM-AE settings combined", "latent 8, robust scaling", "lstm_l8_rscale", HELD_OUT),
    ("LSTM-AE settings combined", "window 64, robust scaling", "lstm_w64_rscale", HELD_OUT),
    ("LSTM-AE settings combined", "window 64, latent 4", "lstm_w64_l4", HELD_OUT),
    ("LSTM-AE settings combined", "window 64, latent 4, robust scaling", "lstm_w64_l4_rscale", HELD_OUT),
    ("LSTM-AE settings combined", "window 16, latent 4, robust scaling", "lstm_w16_l4_rscale", HELD_OUT),
    ("LSTM-AE settings combined", "latent 4, robust scaling, hidden 32", "lstm_l4_rscale_h32", HELD_OUT),
    ("LSTM-AE settings combined", "latent 4, robust scaling, hidden 128", "lstm_l4_rscale_h128", HELD_OUT),
    ("LSTM-VAE settings combined", "latent 4, robust scaling (normaliser on the training rows)", "vae_l4_rscale",
     {}),
    ("smoothing (LSTM-AE, latent 4, robust scaling)", "5 rows", "lstm_l4_rscale", {**HELD_OUT, "k": 5}),
    ("smoothing (LSTM-AE, latent 4, robust scaling)", "10 rows", "lstm_l4_rscale", HELD_OUT),
    ("smoothing (LSTM-AE, latent 4, robust scaling)", "**20 rows (the pipeline)**", "lstm_l4_rscale",
     {**HELD_OUT, "k": 20}),
    ("smoothing (LSTM-AE, latent 4, robust scaling)", "30 rows", "lstm_l4_rscale", {**HELD_OUT, "k": 30}),
    ("smoothing (LSTM-AE, latent 4, robust scaling, hidden 128)", "20 rows", "lstm_l4_rscale_h128",
     {**HELD_OUT, "k": 20}),
    ("deviation from the training level (no network)", "standard scaling, normaliser on the first 80 %, 10 rows",
     "deviation_std", {}),
    ("deviation from the training level (no network)", "robust scaling, normaliser on the first 80 %, 10 rows",
     "deviation", {}),
    ("deviation from the training level (no network)", "robust scaling, normaliser on the held-out 20 %, 10 rows",
     "deviation", HELD_OUT),
    ("deviation from the training level (no network)", "**robust scaling, held-out normaliser, 20 rows (the "
     "pipeline)**", "deviation", {**HELD_OUT, "k": 20}),
    ("deviation from the training level (no network)", "robust scaling, held-out normaliser, 30 rows",
     "deviation", {**HELD_OUT, "k": 30}),
    ("per-sensor error before normalising (LSTM-AE)", "**squared error**", "lstm", HELD_OUT),
    ("per-sensor error before normalising (LSTM-AE)", "absolute error (root of the squared)", "lstm",
     {**HELD_OUT, "transform": "absolute"}),
    ("per-sensor error before normalising (LSTM-AE)", "log of the squared error", "lstm",
     {**HELD_OUT, "transform": "log"}),
    ("normalised sensor score capped (LSTM-AE)", "at 3", "lstm", {**HELD_OUT, "clip": 3.0}),
    ("normalised sensor score capped (LSTM-AE)", "at 10", "lstm", {**HELD_OUT, "clip": 10.0}),
    ("normaliser's floor, × the median sensor's MAD (LSTM-AE)", "**0.01**", "lstm", HELD_OUT),
    ("normaliser's floor, × the median sensor's MAD (LSTM-AE)", "0.1", "lstm", {**HELD_OUT, "floor": 0.1}),
    ("normaliser's floor, × the median sensor's MAD (LSTM-AE)", "0.5", "lstm", {**HELD_OUT, "floor": 0.5}),
    ("normaliser's floor, × the median sensor's MAD (LSTM-AE)", "1", "lstm", {**HELD_OUT, "floor": 1.0}),
    ("latent distance (LSTM-AE)", "Mahalanobis distance of the window's code, Ledoit-Wolf on the training "
     "windows' codes", "lstm", {"latent": "alone"}),
    ("latent distance (LSTM-AE)", "reconstruction + latent distance, each on its training MAD scale", "lstm",
     {**HELD_OUT, "latent": "added"}),
    ("detectors combined", "LSTM-AE + LSTM-VAE", "lstm+vae", {}),
    ("detectors combined", "LSTM-AE + dense AE", "lstm+dense", {}),
    ("detectors combined", "LSTM-AE + LSTM-VAE + dense AE", "lstm+vae+dense", {}),
    ("detectors combined", "isolation forest alone", "iforest", {}),
    ("detectors combined", "LSTM-AE + isolation forest", "lstm+iforest", {}),
    ("detectors combined", "LSTM-VAE + isolation forest", "vae+iforest", {}),
    ("detectors combined", "LSTM-AE + LSTM-VAE + isolation forest", "lstm+vae+iforest", {}),
    ("detectors combined", "LSTM-AE (latent 4, robust scaling) + LSTM-VAE", "lstm_l4_rscale+vae", {}),
]
MEMBER_FIT_ROWS.update({name: "validation" for name in VARIANTS if name.startswith(("lstm_", "deviation"))})


# ---- fitting and caching ------------------------------------------------------------------------------

def _outputs(detector, scaled: np.ndarray) -> dict[str, np.ndarray]:
    """Element scores and signed residuals per row and sensor, mean and last over covering windows."""
    import torch

    from seqae.windows import batched_windows
    from seqae.windows import WindowAccumulator

    n, n_features = scaled.shape
    w = detector.window_size
    acc = {key: WindowAccumulator(n, w, (n_features,), reduction) for key, reduction in
           (("sq_mean", "mean"), ("sq_last", "last"), ("res_mean", "mean"))}
    for windows, starts in batched_windows(scaled, w, 1, 256):
        with torch.inference_mode():
            if detector.model_type == "lstm-vae":
                z_mean, _ = detector.net_.encode(windows)
                reconstruction = detector.net_.decode(z_mean, w)[0].numpy()
            elif detector.model_type == "deviation":  # the "reconstruction" is the training centre
                reconstruction = np.zeros(windows.shape, dtype=np.float32)
            else:
                reconstruction = detector.net_(windows).numpy()
        elements = detector.window_scores(windows)
        acc["sq_mean"].add(elements, starts)
        acc["sq_last"].add(elements, starts)
        acc["res_mean"].add(windows.numpy() - reconstruction, starts)
    return {key: a.result().astype(np.float32) for key, a in acc.items()}


def _fit_one(job) -> str:
    path, model_type, params, seed, target = job
    if os.path.exists(target):
        return target
    import torch

    from seqae.data import read_sensor_csv
    from seqae.detectors import make_detector

    common.ignore_gap_warnings()
    torch.set_num_threads(1)
    frame, labels = read_sensor_csv(path, sep=";", label_columns=["anomaly", "changepoint"], return_labels=True)
    started = time.perf_counter()
    detector = make_detector(model_type, random_state=seed, **params).fit(frame.iloc[:TRAIN_ROWS])
    fit_seconds = time.perf_counter() - started
    values = frame.to_numpy()
    train = _outputs(detector, detector.scaler_.transform(values[:TRAIN_ROWS]))
    test = _outputs(detector, detector.scaler_.transform(values[TRAIN_ROWS:]))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    np.savez(target, labels=labels["anomaly"].to_numpy()[TRAIN_ROWS:], fit_s=fit_seconds,
             n_val=TRAIN_ROWS - len(detector.train_scores_),
             best_epoch=detector.history_.best_epoch if hasattr(detector, "history_") else -1,
             **{f"train_{k}": v for k, v in train.items()}, **{f"test_{k}": v for k, v in test.items()})
    return target


def _fit_extra(job) -> str:
    """The forest's row scores, or the LSTM-AE's latent code per window, of one file and seed."""
    path, kind, seed, target = job
    if os.path.exists(target):
        return target
    import torch

    from seqae.data import read_sensor_csv
    from seqae.detectors import make_detector

    common.ignore_gap_warnings()
    torch.set_num_threads(1)
    frame = read_sensor_csv(path, sep=";", label_columns=["anomaly", "changepoint"])
    model_type, params = FOREST if kind == "iforest" else LATENT
    detector = make_detector(model_type, random_state=seed, **params).fit(frame.iloc[:TRAIN_ROWS])
    n_val = TRAIN_ROWS - len(detector.train_scores_)
    if kind == "iforest":
        scores = detector.anomaly_score(frame)
        out = {"train": scores[:TRAIN_ROWS], "test": scores[TRAIN_ROWS:]}
    else:
        out = {"train": detector.encode(frame.iloc[:TRAIN_ROWS]), "test": detector.encode(frame.iloc[TRAIN_ROWS:])}
    os.makedirs(os.path.dirname(target), exist_ok=True)
    np.savez(target, n_val=n_val, window=detector.window_size, **out)
    return target


def fit_all(cache: Path, skab_files, validation_files, jobs: int, contaminated_files=()) -> None:
    work = []
    for name, (model_type, params) in VARIANTS.items():
        sets = [(name, skab_files), (f"val_{name}", validation_files)]
        if name in CONTAMINATED_VARIANTS:
            sets.append((f"con_{name}", contaminated_files))
        for tag, files in sets:
            for seed in SEEDS:
                for path in files:
                    stem = "_".join(Path(path).with_suffix("").parts[-2:])
                    work.append((path, model_type, params, seed, str(cache / tag / f"seed{seed}" / f"{stem}.npz")))
    extra = []
    for kind in ("iforest", "latent"):
        for tag, files in ((kind, skab_files), (f"val_{kind}", validation_files)):
            for seed in SEEDS:
                for path in files:
                    stem = "_".join(Path(path).with_suffix("").parts[-2:])
                    extra.append((path, kind, seed, str(cache / tag / f"seed{seed}" / f"{stem}.npz")))
    todo = [job for job in work if not os.path.exists(job[-1])]
    todo_extra = [job for job in extra if not os.path.exists(job[-1])]
    if not todo and not todo_extra:
        return
    print(f"fitting {len(todo) + len(todo_extra)} of {len(work) + len(extra)} (file, seed, variant) models ...",
          file=sys.stderr, flush=True)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        for done, _ in enumerate(pool.map(_fit_one, todo, chunksize=4), 1):
            if done % 100 == 0:
                print(f"  {done}/{len(todo)}", file=sys.stderr, flush=True)
        list(pool.map(_fit_extra, todo_extra, chunksize=4))


# ---- scoring levers on the cache ----------------------------------------------------------------------

def _rows(which: str, n_val: int) -> slice:
    return {"train": slice(0, TRAIN_ROWS - n_val), "validation": slice(TRAIN_ROWS - n_val, TRAIN_ROWS),
            "all": slice(0, TRAIN_ROWS)}[which]


def _transform(elements: np.ndarray, how: str) -> np.ndarray:
    if how == "squared":
        return elements
    if how == "absolute":
        return np.sqrt(np.maximum(elements, 0.0))
    if how == "log":
        return np.log(np.maximum(elements, 0.0) + 1e-6)
    raise ValueError(how)


def _scores(d, method: str, fit_rows: slice, reduction: str, transform: str = "squared",
            floor: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Training-row and test-row normalised per-sensor scores `(n, n_features)`, before smoothing and
    before they are combined into one score per row, as `BaseDetector` computes them."""
    if method == "mahalanobis":
        from sklearn.covariance import LedoitWolf

        train, test = d["train_res_mean"], d["test_res_mean"]
        shrunk = LedoitWolf().fit(train[fit_rows])
        precision, center = shrunk.precision_, shrunk.location_

        def terms(r):  # r_f (P r)_f per sensor: they add up to the squared distance
            r = r - center
            return r * (r @ precision)
        return terms(train), terms(test)
    from seqae.detectors.scoring import fit_normalizer

    train, test = (_transform(d[f"{part}_sq_{reduction}"], transform) for part in ("train", "test"))
    center, scale = fit_normalizer(train[fit_rows], method, floor_share=floor)
    return (train - center) / scale, (test - center) / scale


def _combine(z: np.ndarray, how: str) -> np.ndarray:
    """One score per row from the (smoothed) normalised per-sensor scores `(n, n_features)`."""
    if how == "mean":
        return z.mean(axis=1)
    if how == "meanpos":  # mean of the positive parts: a sensor reconstructed better than usual
        return np.clip(z, 0.0, None).mean(axis=1)  # does not offset another sensor's excess error
    if how == "max":
        return z.max(axis=1)
    if how.startswith("top"):
        k = int(how[3:])
        return np.sort(z, axis=1)[:, -k:].mean(axis=1)
    if how == "rms":  # root mean square of the positive parts: an L2 norm of the excess error
        return np.sqrt((np.clip(z, 0.0, None) ** 2).mean(axis=1))
    if how == "lse":  # log-mean-exp, a soft maximum (temperature 1 in units of the sensor's spread)
        peak = z.max(axis=1, keepdims=True)
        return (peak + np.log(np.exp(z - peak).mean(axis=1, keepdims=True)))[:, 0]
    raise ValueError(how)


def _smooth(scores: np.ndarray, k: int) -> np.ndarray:
    """The package's causal smoothing, on a (n_timepoints, n_columns) array."""
    from seqae.detectors.scoring import causal_smooth

    return causal_smooth(np.asarray(scores, dtype=np.float64), k)


def _latent_distance(cache: Path, tag: str, seed: int, name: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Squared Mahalanobis distance of each window's code from the training windows' codes (Ledoit-Wolf),
    given to the row where the window ends (the first rows take the first window's), smoothed."""
    from sklearn.covariance import LedoitWolf

    d = np.load(cache / tag.replace("lstm", "latent") / f"seed{seed}" / name)
    window, train, test = int(d["window"]), d["train"], d["test"]
    shrunk = LedoitWolf().fit(train)
    distance = lambda z: np.einsum("ij,jk,ik->i", z - shrunk.location_, shrunk.precision_, z - shrunk.location_)

    def per_row(values):
        return np.concatenate([np.full(window - 1, values[0]), values])
    return (_smooth(per_row(distance(train))[:, None], k)[:, 0], _smooth(per_row(distance(test))[:, None], k)[:, 0])


def _on_training_scale(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both row scores in units of the training scores' median and MAD (seqae's robust normaliser)."""
    from seqae.detectors.scoring import fit_normalizer

    (center,), (scale,) = fit_normalizer(train[:, None], "robust")
    return (train - center) / scale, (test - center) / scale


def _one_model(cache: Path, tag: str, seed: int, name: str, options: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """Training-row and test-row scores of one model (one variant, file and seed), and its n_val."""
    if tag.endswith("iforest"):
        d = np.load(cache / tag / f"seed{seed}" / name)
        return d["train"], d["test"], int(d["n_val"])
    d = np.load(cache / tag / f"seed{seed}" / name)
    n_val = int(d["n_val"])
    if options["latent"] == "alone":
        return (*_latent_distance(cache, tag, seed, name, options["k"]), n_val)
    fit = _rows("all" if n_val == 0 else options["fit_rows"], n_val)
    train, test = _scores(d, options["method"], fit, options["reduction"], options["transform"], options["floor"])
    if options["clip"] is not None:
        train, test = np.minimum(train, options["clip"]), np.minimum(test, options["clip"])
    train, test = (_combine(_smooth(z, options["k"]), options["combine"]) for z in (train, test))
    if options["latent"] == "added":
        latent = _on_training_scale(*_latent_distance(cache, tag, seed, name, options["k"]))
        train, test = _on_training_scale(train, test)
        train, test = train + latent[0], test + latent[1]
    return train, test, n_val


def evaluate(cache: Path, tag: str, method="robust", fit_rows="train", k=10, reduction="mean", combine="mean",
             thr_rows="all", q=0.99, factor=1.5, ensemble=False, transform="squared", clip=None, floor=0.01,
             latent=None) -> pd.DataFrame:
    """One row per seed (or one for the ensemble): mean per-file AUC-PR, pooled F1, FAR, MAR.

    `tag` may name several variants joined by "+" ("val_lstm+vae"): each is scored with its own
    pipeline's normaliser rows, put on the scale of its training scores, and the scores averaged."""
    from seqae import metrics

    options = dict(method=method, fit_rows=fit_rows, k=k, reduction=reduction, combine=combine,
                   transform=transform, clip=clip, floor=floor, latent=latent)
    prefix = tag[:4] if tag.startswith(("val_", "con_")) else ""
    members = [prefix + m for m in tag.removeprefix(prefix).split("+")]
    files = sorted(p.name for p in (cache / members[0] / "seed0").glob("*.npz"))
    groups = [list(SEEDS)] if ensemble else [[s] for s in SEEDS]
    out = []
    for group in groups:
        results = []
        for name in files:
            train_parts, test_parts = [], []
            for seed in group:
                for member in members:
                    if len(members) == 1:
                        train, test, n_val = _one_model(cache, member, seed, name, options)
                    else:
                        own = {**options, "fit_rows": MEMBER_FIT_ROWS.get(member.removeprefix("val_"), "train")}
                        train, test, n_val = _one_model(cache, member, seed, name, own)
                        train, test = _on_training_scale(train, test)
                    train_parts.append(train)
                    test_parts.append(test)
            labels = np.load(cache / f"{prefix}lstm" / "seed0" / name)["labels"]  # every cache has the same files
            train, test = np.mean(train_parts, axis=0), np.mean(test_parts, axis=0)
            threshold = np.quantile(train[_rows("all" if n_val == 0 else thr_rows, n_val)], q) * factor
            results.append(metrics.evaluate(labels, test, (test > threshold).astype(np.int8), max_buffer=0))
        pooled = metrics.pooled(results)
        out.append({"auc_pr": np.mean([r["auc_pr"] for r in results]), "f1": pooled["f1"],
                    "far": pooled["far"], "mar": pooled["mar"]})
    return pd.DataFrame(out)


KINDS = ("level_shift", "drift", "variance", "stuck")
# Fitted on the contaminated validation set too (protocol.write_synthetic_set(contaminate=True)).
CONTAMINATED_VARIANTS = ("lstm", "lstm_l4_rscale", "vae", "dense", "deviation")
BY_KIND = [  # (label, variant, scoring changes): the pipelines' settings
    ("LSTM-AE pipeline (latent 4, robust scaling, 20 rows)", "lstm_l4_rscale", {"fit_rows": "validation", "k": 20}),
    ("LSTM-AE, seqae's defaults (10 rows)", "lstm", {"fit_rows": "validation"}),
    ("LSTM-VAE pipeline", "vae", {}),
    ("dense AE pipeline", "dense", {"fit_rows": "validation"}),
    ("deviation pipeline (no network)", "deviation", {"fit_rows": "validation", "k": 20}),
]


def validation_by_kind(cache: Path, tag: str, options: dict) -> dict[str, float]:
    """Mean AUC-PR per injected anomaly kind (the validation files are named <kind>_<segment>)."""
    from seqae import metrics

    per_kind: dict[str, list[float]] = {}
    for path in sorted((cache / tag / "seed0").glob("*.npz")):
        labels = np.load(cache / "val_lstm" / "seed0" / path.name)["labels"]
        kind = path.stem.rsplit("_", 1)[0]
        for seed in SEEDS:
            _, test, _ = _one_model(cache, tag, seed, path.name, options)
            per_kind.setdefault(kind, []).append(metrics.auc_pr(labels, test))
    return {kind: float(np.mean(values)) for kind, values in per_kind.items()}


def validation_attribution(cache: Path, tag: str, options: dict) -> dict[str, float]:
    """Share of the validation anomalies whose injected sensor is the one the detector blames most:
    the sensor with the largest sum of positive (smoothed, normalised) contributions over the
    anomaly's rows, as `seqae demo` and `Detection.intervals` rank them. Per kind and overall."""
    injected = pd.read_csv(cache / "validation-data" / "injected.csv")
    hits: dict[str, list[bool]] = {}
    for row in injected.itertuples(index=False):
        name = row.file.replace("/", "_").replace(".csv", ".npz")
        if not (cache / tag / "seed0" / name).exists():  # a run with --limit fits the first files only
            continue
        sensors = [c for c in pd.read_csv(cache / "validation-data" / row.file, sep=";", nrows=0).columns
                   if c not in ("datetime", "anomaly", "changepoint")]
        span = slice(row.first_row - TRAIN_ROWS, row.last_row - TRAIN_ROWS + 1)
        for seed in SEEDS:
            d = np.load(cache / tag / f"seed{seed}" / name)
            n_val = int(d["n_val"])
            fit = _rows("all" if n_val == 0 else options["fit_rows"], n_val)
            _, test = _scores(d, options["method"], fit, options["reduction"])
            shares = np.clip(_smooth(test, options["k"])[span], 0.0, None).sum(axis=0)
            hit = sensors[int(np.argmax(shares))] == row.sensor
            hits.setdefault(row.kind, []).append(hit)
            hits.setdefault("all", []).append(hit)
    return {kind: float(np.mean(values)) for kind, values in hits.items()}


def cell(values: pd.Series, digits: int) -> str:
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def levers_table(cache: Path, levers: list) -> list[str]:
    """The markdown rows of a levers table: validation AUC-PR, SKAB AUC-PR, F1 and FAR per setting."""
    lines = ["| lever | setting | validation AUC-PR | SKAB AUC-PR | SKAB F1 | SKAB FAR % |",
             "|---|---|---|---|---|---|"]
    for lever, setting, variant, changes in levers:
        options = {**BASE, **changes}
        skab = evaluate(cache, variant, **options)
        validation = evaluate(cache, f"val_{variant}", **options)
        lines.append(f"| {lever} | {setting} | {cell(validation.auc_pr, 3)} | {cell(skab.auc_pr, 3)} | "
                     f"{cell(skab.f1, 3)} | {cell(skab.far, 1)} |")
    return lines


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--cache", type=Path, help=f"the fitted models' outputs (default: {CACHE}, "
                        "or beside it with --limit)")
    parser.add_argument("--skab-dir", type=Path, default=protocol.SKAB_DIR)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes fitting the models")
    parser.add_argument("--limit", type=int, help="the first N files of SKAB and of each validation set (a quick run)")
    common.output_options(parser)
    args = parser.parse_args(argv)
    common.ignore_gap_warnings()
    cache = args.cache or (CACHE if args.limit is None else CACHE.with_name(f"{CACHE.name}-first{args.limit}"))

    validation_dir = cache / "validation-data"
    if not (validation_dir / "injected.csv").exists():
        protocol.write_synthetic_set(args.skab_dir, validation_dir)
    skab_files = sorted(glob.glob(str(args.skab_dir / "[ov]*" / "*.csv")))
    validation_files = sorted(glob.glob(str(validation_dir / "*" / "*.csv")))
    contaminated_dir = cache / "validation-contaminated"
    if not (contaminated_dir / "injected.csv").exists():
        protocol.write_synthetic_set(args.skab_dir, contaminated_dir, contaminate=True)
    contaminated_files = sorted(glob.glob(str(contaminated_dir / "*" / "*.csv")))
    if args.limit is None and len(skab_files) != 34:
        print(f"error: {args.skab_dir} holds {len(skab_files)} labelled files, not SKAB's 34; pass --skab-dir",
              file=sys.stderr)
        return 2
    fit_all(cache, skab_files[:args.limit], validation_files[:args.limit], args.jobs, contaminated_files[:args.limit])
    args.out.mkdir(parents=True, exist_ok=True)
    return report(cache, args.out)


def report(cache: Path, out: Path) -> int:
    """The tables of the cached outputs: printed and written to `out`/levers.md."""

    lines = levers_table(cache, LEVERS)
    lines += ["", "Third round (the LSTM-AE's scoring is its pipeline's: normaliser on the held-out rows):", ""]
    lines += levers_table(cache, LEVERS_3)
    stopped = []
    for variant in ("lstm", "vae", "dense"):
        epochs = [int(np.load(f)["best_epoch"]) for f in glob.glob(str(cache / variant / "seed*" / "*.npz"))]
        stopped.append(f"{variant}: {np.mean(np.array(epochs) == 0):.0%} of fits keep the first epoch's weights, "
                       f"median kept epoch {np.median(epochs) + 1:.0f}")
    lines += ["", "Validation AUC-PR by injected anomaly kind (mean over files and seeds; each pipeline's scoring):",
              "", "| detector | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for label, variant, changes in BY_KIND:
        by_kind = validation_by_kind(cache, f"val_{variant}", {**BASE, **changes})
        lines.append(f"| {label} | " + " | ".join(f"{by_kind.get(kind, np.nan):.3f}" for kind in KINDS) + " |")
    lines += ["", "Validation anomalies blamed on the injected sensor (the largest share over the anomaly's rows; "
              "32 anomalies × 3 seeds):", "", "| detector | " + " | ".join(KINDS) + " | all |",
              "|---|" + "---|" * (len(KINDS) + 1)]
    for label, variant, changes in BY_KIND:
        blamed = validation_attribution(cache, f"val_{variant}", {**BASE, **changes})
        lines.append(f"| {label} | " + " | ".join(f"{blamed.get(kind, np.nan):.0%}" for kind in (*KINDS, "all")) + " |")
    lines += ["", "Validation AUC-PR with the test anomaly's twin in 40 of the training rows (10 %), against the clean "
              "set (mean ± std over seeds; each pipeline's scoring):", "",
              "| detector | clean training rows | 10 % of them anomalous | change |", "|---|---|---|---|"]
    for label, variant, changes in BY_KIND:
        clean = evaluate(cache, f"val_{variant}", **{**BASE, **changes}).auc_pr
        dirty = evaluate(cache, f"con_{variant}", **{**BASE, **changes}).auc_pr
        lines.append(f"| {label} | {cell(clean, 3)} | {cell(dirty, 3)} | {(dirty - clean).mean():+.3f} |")
    table = "\n".join(lines)
    print(table)
    print("\nEarly stopping on SKAB: " + "; ".join(stopped))
    (out / "levers.md").write_text(table + "\n")
    (cache / "levers.json").write_text(json.dumps({"base": BASE, "seeds": SEEDS}))
    return 0
