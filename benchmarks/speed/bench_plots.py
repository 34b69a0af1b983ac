"""Each figure a fit run logs, drawn and saved as PNG: this checkout's `seqae.plots` against the
same module at an older revision (`--ref`, default the commit before the figures were made cheap),
the two taking turns in one process, round after round; each figure's median seconds.

The inputs have the shapes of a CLI fit of an LSTM-AE: the first `--rows` rows of a SKAB file (its
8 sensors, timestamps as the index), 30 epochs of losses, a latent vector (16 numbers) per window of
20 rows, and three "expected readings" figures of three sensors each over 80 rows. The readings are
real; the scores, flags, contributions, latent vectors and expected readings are made from them
(distance from a rolling mean; seeded noise), which costs the figures what real ones cost: a
figure's time depends on how many points, intervals and panels it draws, not on their values.
Each figure is built and saved to an in-memory PNG at matplotlib's default dpi, as
`MlflowClient.log_figure` saves it.

    python -m benchmarks.speed.bench_plots [--rounds 5] [--rows 400] [--ref REV] [--file valve1/0.csv]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.speed.common import REPO, SKAB, machine, median, save, table
from seqae import plots

BEFORE = "aca6550"  # seqae/plots.py as it was: constrained layout at every draw, no decimation


def load_plots_at(revision: str, folder: Path):
    """seqae/plots.py as it was at `revision`, imported as a module of its own."""
    source = subprocess.run(["git", "show", f"{revision}:seqae/plots.py"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
    path = folder / f"plots_{revision}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"plots_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(file: Path, n_rows: int) -> dict:
    frame = pd.read_csv(file, sep=";", index_col="datetime", parse_dates=True)
    frame = frame.drop(columns=["anomaly", "changepoint"]).iloc[:n_rows]
    values = frame.to_numpy(dtype=np.float64)
    rolling = frame.rolling(20, min_periods=1).mean().to_numpy()
    scale = values.std(axis=0) + 1e-9
    contributions = ((values - rolling) / scale) ** 2  # (n_rows, n_sensors)
    scores = contributions.sum(axis=1)
    threshold = float(np.quantile(scores, 0.97))
    flags = (scores > threshold).astype(np.int8)
    alert_ids = np.where(flags > 0, np.cumsum(np.diff(flags, prepend=0) > 0) - 1, -1)
    rng = np.random.default_rng(0)
    window_size = 20
    n_windows = n_rows - window_size + 1
    latent = rng.normal(size=(n_windows, 16)) + scores[window_size - 1:, None] / max(threshold, 1e-9)
    window_scores = np.convolve(scores, np.ones(window_size) / window_size, mode="valid")
    peaks = np.argsort(-scores, kind="stable")[:3]
    marked = {f"alert {k}": (np.arange(n_windows) <= p) & (np.arange(n_windows) + window_size > p)
              for k, p in enumerate(peaks)}
    expected = []
    for p in peaks:
        shown = slice(max(0, p - 40), min(n_rows, p + 40))
        expected.append((frame.index[shown], values[shown][:, :3], rolling[shown][:, :3],
                         list(frame.columns[:3]), (p - shown.start, p - shown.start)))
    return {"index": frame.index, "names": list(frame.columns), "scores": scores, "threshold": threshold,
            "flags": flags, "alert_ids": alert_ids, "contributions": contributions, "latent": latent,
            "window_scores": window_scores, "marked": marked, "expected": expected,
            "train_loss": list(1.0 / np.arange(1, 31)), "validation_loss": list(1.2 / np.arange(1, 31))}


def figures(module, data: dict) -> dict:
    """Figure name -> a call that builds it, as seqae.tracking.fit logs them."""
    out = {
        "loss_curves": lambda: module.loss_curves(data["train_loss"], data["validation_loss"], 25,
                                                  title="LSTMAutoencoder: loss per epoch"),
        "scores": lambda: module.score_timeline(
            data["index"], data["scores"], data["threshold"], data["flags"], split_at=int(0.8 * len(data["scores"])),
            alert_ids=data["alert_ids"], title="LSTMAutoencoder on its training data: score per time point"),
        "sensor_contributions": lambda: module.contribution_heatmap(data["index"], data["contributions"],
                                                                    data["names"]),
        "latent_space": lambda: module.latent_scatter(data["latent"], data["window_scores"],
                                                      title="Latent space (PCA of encode())", marked=data["marked"]),
    }
    for k, args in enumerate(data["expected"], 1):
        out[f"expected_{k}"] = lambda args=args: module.expected_readings(
            *args, title="training data: alert 0: actual against expected readings of three sensors")
    return out


def draw_and_save(build) -> float:
    started = time.perf_counter()
    build().savefig(io.BytesIO(), format="png")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--ref", default=BEFORE, help="the revision whose seqae/plots.py is 'before'")
    parser.add_argument("--file", default="valve1/0.csv", help="a SKAB file, relative to the SKAB folder")
    args = parser.parse_args(argv)

    data = inputs(SKAB / args.file, args.rows)
    with tempfile.TemporaryDirectory(prefix="seqae-bench-plots-") as tmp:
        variants = {"before": figures(load_plots_at(args.ref, Path(tmp)), data), "now": figures(plots, data)}
        for calls in variants.values():  # fonts, caches and imports warmed before timing
            for build in calls.values():
                draw_and_save(build)
        seconds = {(variant, name): [] for variant, calls in variants.items() for name in calls}
        for _ in range(args.rounds):
            for name in variants["now"]:
                for variant in variants:
                    seconds[(variant, name)].append(draw_and_save(variants[variant][name]))
    rows = []
    for name in variants["now"]:
        before, now = median(seconds[("before", name)]), median(seconds[("now", name)])
        rows.append({"figure": name, "before s": before, "now s": now, "now / before": now / before})
    total_before = sum(r["before s"] for r in rows)
    total_now = sum(r["now s"] for r in rows)
    rows.append({"figure": "all", "before s": total_before, "now s": total_now,
                 "now / before": total_now / total_before})
    result = {"machine": machine(), "file": args.file, "rows": args.rows, "rounds": args.rounds, "ref": args.ref,
              "figures": rows}
    print(table(rows, ["figure", "before s", "now s", "now / before"]))
    print("saved", save(f"plots_{args.rows}", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
