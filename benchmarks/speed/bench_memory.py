"""Memory: `seqae score` on a generated 10M-row, 8-sensor CSV, peak RSS and wall time.

The CSV (a timestamp a second and 8 sensors: sums of sines and noise, ~0.9 GB) is written to
benchmarks/out/ in chunks, never held in memory. A default-sized LSTM-AE (window 32, hidden 64,
latent 16) is fitted on its first 5,000 rows and saved; then `seqae score MODEL DATA.csv -o ...
--intervals ...` runs in a child process under /usr/bin/time -v, which reports the child's peak
resident set size and wall time. For contrast, the same model scores the first `--whole-rows` rows
the whole-file way (read_sensor_csv + detect) in another child, and the stages of chunked scoring
are timed apart on those rows (parsing, detect, writing the CSV).

Each model is saved with the score_stride asked for (`--score-strides 1,4`): stride 1 scores every
window, stride k every k-th (see bench_score.py for what that costs in AUC-PR).

    python -m benchmarks.speed.bench_memory [--rows 10000000] [--score-strides 1] [--threads 1] [--stages-only]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.speed.common import OUT, machine, save, table

from seqae import LSTMAutoencoder

N_FEATURES = 8
PERIODS = np.array([60.0, 97.0, 151.0, 233.0, 379.0, 613.0, 997.0, 1597.0])  # seconds
MIXING = np.random.default_rng(7).normal(size=(N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES)


def rows(first: int, n: int, seed: int = 0) -> pd.DataFrame:
    """Rows [first, first + n) of the generated series: correlated periodic sensors plus noise."""
    t = np.arange(first, first + n, dtype=np.float64)
    drivers = np.sin(2 * np.pi * t[:, None] / PERIODS)
    noise = np.random.default_rng([seed, first]).normal(scale=0.05, size=(n, N_FEATURES))
    stamps = pd.Timestamp("2026-01-01") + pd.to_timedelta(t, unit="s")
    return pd.DataFrame(drivers @ MIXING + noise, columns=[f"sensor_{j}" for j in range(N_FEATURES)],
                        index=pd.DatetimeIndex(stamps, name="timestamp"))


def fitted_model() -> LSTMAutoencoder:
    """The benchmarks' model: a default-sized LSTM-AE (window 32, hidden 64, latent 16) fitted for 3
    epochs on the first 5,000 generated rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LSTMAutoencoder(epochs=3, random_state=0).fit(rows(0, 5000))


def save_fresh(detector: LSTMAutoencoder, path: Path) -> Path:
    """Save `detector` to `path`, replacing what a previous run left there."""
    shutil.rmtree(path, ignore_errors=True)
    return detector.save(path)


def write_csv(path: Path, n_rows: int, chunk: int = 500_000) -> None:
    temporary = path.with_suffix(".part")
    with open(temporary, "w", newline="") as out:
        for first in range(0, n_rows, chunk):
            rows(first, min(chunk, n_rows - first)).to_csv(out, header=first == 0, float_format="%.5f")
    os.replace(temporary, path)


def timed_child(command: list[str], env: dict) -> dict:
    """Run under /usr/bin/time -v: wall seconds, peak RSS (MiB), the exit code, stderr's tail."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {"seconds": wall, "peak_rss_mib": int(peak.group(1)) / 1024 if peak else float("nan"),
            "exit_code": done.returncode, "stdout": done.stdout.strip()[-400:],
            "progress_bar_seen": "rows/s" in done.stderr or "rows" in done.stderr.split("Command being timed")[0],
            "stderr_tail": done.stderr.split("Command being timed")[0].strip()[-400:]}


WHOLE_FILE = """
import sys, torch
from seqae import BaseDetector
from seqae.data import read_sensor_csv
detector = BaseDetector.load(sys.argv[1])
frame = read_sensor_csv(sys.argv[2], columns=list(detector.feature_names_in_))
detection = detector.detect(frame)
detection.to_frame().to_csv(sys.argv[3])
print(len(detection.scores), "rows")
"""


STAGES = """
import sys, time, numpy as np, pandas as pd, torch
from seqae import BaseDetector
from seqae.data import ChunkReader, ReadOptions
from seqae.streaming import score_csv
detector = BaseDetector.load(sys.argv[1])
path, out = sys.argv[2], sys.argv[3]
clock = time.perf_counter
t = clock()
chunks = list(ChunkReader(path, list(detector.feature_names_in_), ReadOptions(), 100_000))
parse = clock() - t
frame = pd.DataFrame(np.concatenate([v for _, v in chunks]), columns=list(detector.feature_names_in_),
                     index=chunks[0][0].append([i for i, _ in chunks[1:]]))
t = clock()
detection = detector.detect(frame)
score = clock() - t
t = clock()
detection.to_frame().to_csv(out)
write = clock() - t
t = clock()
score_csv(detector, path, out, quiet=True)
total = clock() - t
print(parse, score, write, total)
"""


def stages(model: Path, data: Path, env: dict) -> dict:
    """Seconds of each stage of chunked scoring, timed apart in one child process: parsing the CSV
    in chunks, detect() on the parsed rows, writing the scores CSV; and score_csv doing all three."""
    done = subprocess.run([sys.executable, "-c", STAGES, str(model), str(data), str(OUT / "memory_stages.csv")],
                          capture_output=True, text=True, env=env, check=True)
    parse, score, write, total = (float(x) for x in done.stdout.split()[-4:])
    return {"parse_seconds": parse, "detect_seconds": score, "write_seconds": write, "score_csv_seconds": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--score-strides", default="1", help="models saved with these score_stride values")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for the scoring process")
    parser.add_argument("--whole-rows", type=int, default=1_000_000, help="rows for the whole-file contrast")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--name", default="memory", help="results go to benchmarks/out/NAME.json")
    parser.add_argument("--stages-only", action="store_true",
                        help="only time the stages of chunked scoring on the --whole-rows file")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    started = machine()
    data = OUT / f"sensors_{args.rows}.csv"
    if args.regenerate or not data.exists():
        t = time.perf_counter()
        write_csv(data, args.rows)
        print(f"wrote {data} ({data.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f} s")
    whole = OUT / f"sensors_{args.whole_rows}.csv"
    if args.whole_rows and (args.regenerate or not whole.exists()):
        write_csv(whole, args.whole_rows)

    detector = fitted_model()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if args.stages_only:
        model = save_fresh(detector, OUT / "memory_model_stride1")
        result = {"rows": args.whole_rows, "threads": args.threads, **stages(model, whole, env)}
        print(result)
        print(f"saved {save(args.name, {'machine_at_start': started, 'stages': result})}")
        return
    seqae = str(Path(sys.executable).with_name("seqae"))
    results = []
    for stride in [int(s) for s in args.score_strides.split(",")]:
        model = save_fresh(detector.set_params(score_stride=stride), OUT / f"memory_model_stride{stride}")
        scores, intervals = OUT / "memory_scores.csv", OUT / "memory_intervals.csv"
        run = timed_child([seqae, "score", str(model), str(data), "-o", str(scores), "--intervals", str(intervals)],
                          env)
        run.update(way="seqae score (chunked)", rows=args.rows, score_stride=stride, threads=args.threads,
                   rows_per_s=args.rows / run["seconds"], output_gib=scores.stat().st_size / 2**30
                   if scores.exists() else float("nan"))
        results.append(run)
        print(table([run], ["way", "rows", "score_stride", "threads", "seconds", "rows_per_s", "peak_rss_mib",
                            "exit_code"]), flush=True)
        if args.whole_rows:
            contrast = timed_child([sys.executable, "-c", WHOLE_FILE, str(model), str(whole),
                                    str(OUT / "memory_whole_scores.csv")], env)
            contrast.update(way="read_sensor_csv + detect (whole file)", rows=args.whole_rows, score_stride=stride,
                            threads=args.threads, rows_per_s=args.whole_rows / contrast["seconds"])
            results.append(contrast)
            chunked = timed_child([seqae, "score", str(model), str(whole), "-o", str(OUT / "memory_chunked_small.csv")],
                                  env)
            chunked.update(way="seqae score (chunked)", rows=args.whole_rows, score_stride=stride,
                           threads=args.threads, rows_per_s=args.whole_rows / chunked["seconds"])
            results.append(chunked)
            same = (OUT / "memory_whole_scores.csv").read_bytes() == (OUT / "memory_chunked_small.csv").read_bytes()
            chunked["identical_to_whole_file"] = same
            chunked["stages"] = stages(model, whole, env)
            print(f"stages on {args.whole_rows:,} rows: {chunked['stages']}", flush=True)
    columns = ["way", "rows", "score_stride", "threads", "seconds", "rows_per_s", "peak_rss_mib", "exit_code",
               "progress_bar_seen"]
    print(table(results, columns))
    print(f"saved {save(args.name, {'machine_at_start': started, 'results': results})}")


if __name__ == "__main__":
    main()
