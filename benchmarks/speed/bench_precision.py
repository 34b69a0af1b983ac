"""`seqae score --precision bfloat16` against float32: rows/s of the command, and how far the scores move.

A default-sized LSTM-AE (window 32, hidden 64, latent 16, 8 sensors) is fitted on the first 5,000
rows of bench_memory.py's generated series and saved; a CSV of `--rows` rows of it is written to
benchmarks/out/. Then `seqae --threads T score MODEL DATA.csv -o OUT --precision P` runs as a child
process for each precision, `--rounds` times alternately, and the median wall time of each gives
rows/s. The two score files are compared: the largest difference in units of the float32 scores'
standard deviation, their correlation, and the rows whose flag differs. Whether bfloat16 is faster
depends on the CPU: it needs native bfloat16 (AVX512-BF16 or AMX); `lscpu` says which this is.

    python -m benchmarks.speed.bench_precision [--rows 1000000] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.speed.bench_memory import fitted_model, save_fresh, write_csv
from benchmarks.speed.common import OUT, machine, save, table


def cpu_flags() -> list[str]:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    started = machine()
    OUT.mkdir(exist_ok=True)
    model = save_fresh(fitted_model(), OUT / "precision_model")
    data = OUT / f"precision_{args.rows}.csv"
    if not data.exists():
        write_csv(data, args.rows)
    seqae = str(Path(sys.executable).with_name("seqae"))
    seconds = {"float32": [], "bfloat16": []}
    for _ in range(args.rounds):
        for precision in seconds:
            out = OUT / f"precision_scores_{precision}.csv"
            t = time.perf_counter()
            subprocess.run([seqae, "--threads", str(args.threads), "score", str(model), str(data), "-o", str(out),
                            "--precision", precision], check=True, stdout=subprocess.DEVNULL,
                           env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
            seconds[precision].append(time.perf_counter() - t)
    exact = pd.read_csv(OUT / "precision_scores_float32.csv")
    reduced = pd.read_csv(OUT / "precision_scores_bfloat16.csv")
    a, b = exact["score"].to_numpy(), reduced["score"].to_numpy()
    result = {
        "machine_at_start": started, "rows": args.rows, "rounds": args.rounds, "threads": args.threads,
        "cpu_bf16_flags": cpu_flags(),
        "seconds": seconds,
        "rows_per_s": {p: args.rows / float(np.median(s)) for p, s in seconds.items()},
        "max_difference_in_stds": float(np.abs(a - b).max() / a.std()),
        "correlation": float(np.corrcoef(a, b)[0, 1]),
        "flags_differing": int((exact["is_anomaly"] != reduced["is_anomaly"]).sum()),
        "flagged_float32": int(exact["is_anomaly"].sum()),
    }
    result["speedup"] = result["rows_per_s"]["bfloat16"] / result["rows_per_s"]["float32"]
    print(table([{"precision": p, "median seconds": float(np.median(s)), "rows_per_s": result["rows_per_s"][p]}
                 for p, s in seconds.items()], ["precision", "median seconds", "rows_per_s"]))
    print(f"bfloat16 / float32 rows/s: {result['speedup']:.2f}x; largest score difference "
          f"{result['max_difference_in_stds']:.3f} std; correlation {result['correlation']:.6f}; flags differing "
          f"{result['flags_differing']} of {args.rows} ({result['flagged_float32']} flagged in float32); "
          f"CPU flags {' '.join(result['cpu_bf16_flags']) or 'none'}")
    print(f"saved {save('precision', result)}")


if __name__ == "__main__":
    main()
