"""The PCA detector's projection in float64 (what seqae does) against float32 (what it did).

float32 BLAS products sum in an order that depends on the CPU, the operands' alignment and the
thread count, so a reloaded PCA model scored differently on an AVX-512 Xeon; float64 keeps those
differences below float32's resolution. This measures what that costs: `detect` of a fitted PCA
detector on `--rows` generated rows x 8 sensors, against the same detector whose projection runs
in float32, taking turns for `--rounds` rounds, one thread.

    python -m benchmarks.speed.bench_pca_projection [--rows 1000000] [--rounds 5] [--window 1 16]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmarks.speed.common import interleaved, machine, median, save, table

from seqae import PCADetector


class Float32Projection(PCADetector):
    """The projection as it was: float32 products."""

    def _window_scores(self, windows):
        flat = windows.numpy().reshape(len(windows), -1) - self.mean_
        reconstruction = (flat @ self.components_.T) @ self.components_
        return ((flat - reconstruction) ** 2).reshape(windows.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    t = np.arange(args.rows)[:, None]
    values = np.sin(t / np.arange(5, 13)) + 0.1 * rng.standard_normal((args.rows, 8))
    rows = []
    with threadpool_limits(1):
        for window in args.window:
            detector = PCADetector(window_size=window, random_state=0).fit(values[:5000])
            old = Float32Projection(window_size=window, random_state=0).fit(values[:5000])
            seconds = interleaved({"float64": lambda: detector.detect(values),
                                   "float32": lambda: old.detect(values)}, args.rounds)
            gap = np.max(np.abs(detector.anomaly_score(values) - old.anomaly_score(values)))
            rows.append({"window": window, "rows": args.rows, "float64_s": median(seconds["float64"]),
                         "float32_s": median(seconds["float32"]),
                         "ratio": median(seconds["float64"]) / median(seconds["float32"]),
                         "max_score_gap": float(gap)})
    print(table(rows, list(rows[0])))
    save("pca_projection", {"machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
