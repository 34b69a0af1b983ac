"""Live scoring: `seqae watch` through a pipe, row by row (latency) and as fast as it reads (throughput).

A model is fitted on generated data (8 sensors) and saved: `knn-window` (what `seqae fit --model
auto` keeps; window 80, as auto gives SKAB-sized files) and the LSTM-AE (window 32, hidden 64, latent
16). `python -m seqae watch MODEL - --no-track` runs in a child process, one torch thread:

- latency: one row written to its stdin, the answer read from its stdout, then the next row;
  `--rows` rows after a warm-up of 200 rows; p50, p95 and p99 of write-to-answer, in ms;
- throughput: `--throughput-rows` rows written as fast as the pipe takes them (a writer thread)
  while the answers are read; rows/s over the wall time from the first row written to the last
  answer read;
- memory: the child's peak resident set (ru_maxrss) after the throughput run.

    python benchmarks/speed/bench_watch.py [--rows 1000] [--throughput-rows 50000] [--models knn-window lstm-ae]

Writes benchmarks/out/watch.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parents[1]
OUT = ROOT.parent / "out"
MODELS = {
    "knn-window": dict(window_size=80),
    "lstm-ae": dict(window_size=32, hidden_size=64, latent_dim=16, epochs=3, verbose=False),
}


def make_rows(n_rows: int, n_sensors: int = 8, seed: int = 0):
    from seqae.synthetic import make_sensor_data

    frame, _, _ = make_sensor_data(n_rows, n_sensors, normal_rows=n_rows - 41, anomalies=(), random_state=seed)
    frame.index.name = "timestamp"
    return frame


def start(model_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), SEQAE_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "seqae", "watch", str(model_dir), "-", "--no-track"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            bufsize=1, env=env)


def latency(model_dir: Path, header: str, rows: list[str], warm_up: int) -> dict:
    process = start(model_dir)
    process.stdin.write(header + "\n")
    times = []
    for k, row in enumerate(rows):
        started = time.perf_counter()
        process.stdin.write(row + "\n")
        process.stdin.flush()
        answer = process.stdout.readline()
        if not answer:
            raise SystemExit(process.stderr.read())
        if k >= warm_up:
            times.append(time.perf_counter() - started)
    process.stdin.close()
    process.wait(timeout=60)
    ms = np.asarray(times) * 1000
    return {"rows": len(times), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def throughput(model_dir: Path, header: str, rows: list[str]) -> dict:
    process = start(model_dir)
    process.stdin.write(header + "\n")
    process.stdin.flush()

    def writer():
        for first in range(0, len(rows), 1000):
            process.stdin.write("\n".join(rows[first:first + 1000]) + "\n")
        process.stdin.close()

    started = time.perf_counter()
    thread = threading.Thread(target=writer)
    thread.start()
    answered = sum(1 for _ in process.stdout)
    seconds = time.perf_counter() - started
    thread.join()
    process.wait(timeout=60)
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # MiB, the largest child so far
    return {"rows": answered, "seconds": seconds, "rows_per_s": answered / seconds, "peak_rss_mib": peak}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows timed one by one (after 200 warm-up rows)")
    parser.add_argument("--throughput-rows", type=int, default=50_000)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args(argv)
    import torch

    from seqae.detectors import make_detector

    torch.set_num_threads(1)
    warm_up = 200
    n_fit = 2000
    frame = make_rows(n_fit + max(args.rows + warm_up, args.throughput_rows))
    text = frame.to_csv().splitlines()
    header, rows = text[0], text[1 + n_fit:]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model_dir = Path(tmp) / name
            make_detector(name, random_state=0, **MODELS[name]).fit(frame.iloc[:n_fit]).save(model_dir)
            results[name] = {"latency": latency(model_dir, header, rows[:args.rows + warm_up], warm_up),
                             "throughput": throughput(model_dir, header, rows[:args.throughput_rows])}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "watch.json").write_text(json.dumps(results, indent=2))
    print("| model | p50 ms | p95 ms | p99 ms | rows/s piped | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        lat, thr = r["latency"], r["throughput"]
        print(f"| {name} | {lat['p50_ms']:.2f} | {lat['p95_ms']:.2f} | {lat['p99_ms']:.2f} | "
              f"{thr['rows_per_s']:,.0f} | {thr['peak_rss_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
