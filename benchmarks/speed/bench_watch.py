"""Live scoring: `seqae watch` through a pipe, row by row (latency) and as fast as it reads (throughput).

A model is fitted on generated data (8 sensors) and saved: `knn-window` (what `seqae fit --model
auto` keeps; window 80, as auto gives SKAB-sized files) and the LSTM-AE (window 32, hidden 64, latent
16). `python -m seqae watch MODEL - --no-track` runs in a child process, one torch thread:

- latency: one row written to its stdin, the answer read from its stdout, then the next row;
  `--rows` rows after a warm-up of 200 rows; p50, p95 and p99 of write-to-answer, in ms;
- throughput: once the first row is answered (the model loaded: the start-up is timed apart),
  `--throughput-rows` rows written as fast as the pipe takes them (a writer thread) while the
  answers are read; rows/s over the wall time from the next row written to the last answer read;
- memory: the child's peak resident set (VmHWM) after the throughput run.

`--state` runs each watch with `--state FILE` (a fresh file each; `--state-every` at its default):
what keeping the state for a restart costs a row.

`--baseline DIR` runs the same measurements with the seqae of another checkout (say, the commit
before a change, `git worktree add DIR COMMIT`) on the same saved models, variant after variant
in one run, so that the machine's load falls on both alike.

`--stages` times the stages apart in process instead (a child per variant, one thread, the same
rows piped through an os.pipe into `seqae.streaming.feed.watch`): rows/s and microseconds a row
parsing, scoring (the model), running the alert rules and writing the answers; `--rounds` rounds of
the variants in turn.

`--long-rows N` pipes N rows into one watch (`knn-window` unless `--models` says otherwise),
generated on the fly (a fixed block of generated rows repeated, the timestamps going on one second
a row; nothing holds the N rows) and as fast as the watch takes them, and samples the watch's
resident set (VmRSS) every `--sample-every` answers: RSS at the start, middle and end, and the
slope of a straight line through the samples after the first 10 % and through the second half
(MiB per million rows);
`--long-seconds` stops writing rows once that long has passed.

    python -m benchmarks.speed.bench_watch [--rows 1000] [--throughput-rows 50000] [--models knn-window lstm-ae]
        [--baseline DIR] [--state]
    python -m benchmarks.speed.bench_watch --stages --baseline DIR [--rounds 2] [--throughput-rows 20000]
    python -m benchmarks.speed.bench_watch --long-rows 10000000 [--long-seconds 600] [--sample-every 100000]

Writes benchmarks/out/watch.json (or watch_long.json) and prints a table.
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


STATE_ARGS: list[str] = []  # `--state FILE` for each watch, with --state (a fresh FILE each)


def start(model_dir: Path, repo: Path = REPO) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(repo), SEQAE_THREADS="1", OMP_NUM_THREADS="1")
    state = []
    if STATE_ARGS:
        STATE_ARGS.append(f"{STATE_ARGS[0]}/state-{len(STATE_ARGS)}.json")
        state = ["--state", STATE_ARGS[-1]]
    return subprocess.Popen([sys.executable, "-m", "seqae", "watch", str(model_dir), "-", "--no-track", *state],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            bufsize=1, env=env, cwd=repo)  # `python -m` puts its folder first: repo's seqae


def status_mib(pid: int, field: str) -> float:
    """A field of /proc/PID/status in MiB: VmRSS (resident now) or VmHWM (the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def latency(model_dir: Path, header: str, rows: list[str], warm_up: int, repo: Path = REPO) -> dict:
    process = start(model_dir, repo)
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


def throughput(model_dir: Path, header: str, rows: list[str], repo: Path = REPO) -> dict:
    process = start(model_dir, repo)
    launched = time.perf_counter()
    process.stdin.write(header + "\n" + rows[0] + "\n")
    process.stdin.flush()
    process.stdout.readline()  # the first answer: the model is loaded, the watch is reading
    start_up = time.perf_counter() - launched
    rows = rows[1:]

    def writer():
        for first in range(0, len(rows), 1000):
            process.stdin.write("\n".join(rows[first:first + 1000]) + "\n")
        process.stdin.close()

    started = time.perf_counter()
    thread = threading.Thread(target=writer)
    thread.start()
    answered, peak = 0, 0.0
    for _ in process.stdout:
        answered += 1
        if answered % 1000 == 0 or answered == len(rows):
            peak = status_mib(process.pid, "VmHWM")  # this child's peak so far (it is gone after wait)
    seconds = time.perf_counter() - started
    thread.join()
    process.wait(timeout=60)
    return {"rows": answered, "seconds": seconds, "rows_per_s": answered / seconds, "peak_rss_mib": peak,
            "start_up_s": start_up}


STAGES_CHILD = """
import io, json, os, sys, threading, time
import torch
torch.set_num_threads(1)
from benchmarks.speed.bench_watch import make_rows, MODELS
from seqae.detectors import make_detector
from seqae.data import RowParser
from seqae.streaming import LiveScorer, feed
name, n = sys.argv[1], int(sys.argv[2])
frame = make_rows(2000 + n)
detector = make_detector(name, random_state=0, **MODELS[name]).fit(frame.iloc[:2000])
lines = frame.to_csv().splitlines()
data = ("\\n".join(lines[:1] + lines[2001:]) + "\\n").encode()
read, write = os.pipe()
def writer():
    for first in range(0, len(data), 1 << 16):
        os.write(write, data[first:first + (1 << 16)])
    os.close(write)
os.dup2(read, 0)
scorer = LiveScorer(detector)
seconds = {}
def timed(owner, attr, key):
    method = getattr(owner, attr)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started
    setattr(owner, attr, wrapper)
timed(RowParser, "parse", "parse")
timed(feed.RowWriter, "write", "write")
timed(scorer.scorer, "score", "model")
timed(scorer, "_run_alerts", "alerts")
thread = threading.Thread(target=writer)
started = time.perf_counter()
thread.start()
summary = feed.watch(scorer, feed.LineSource("-"), io.StringIO())
total = time.perf_counter() - started
print(json.dumps({"rows": summary.rows, "rows_per_s": summary.rows / total,
                  **{key + "_us": value / summary.rows * 1e6 for key, value in seconds.items()}}))
"""


def stages(name: str, n_rows: int, repo: Path) -> dict:
    """The watch loop in a child process with `repo`'s seqae, its stages timed apart."""
    env = dict(os.environ, PYTHONPATH=str(repo), SEQAE_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", STAGES_CHILD, name, str(n_rows)], env=env, capture_output=True,
                          text=True, cwd=repo)  # `python -c` puts its folder first: the variant's seqae
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def long_feed(block: list[str], n_rows: int, first_time: np.datetime64):
    """Chunks of CSV text, `n_rows` rows in all: the rows of `block` (their readings) over and
    over, the time one second later each row; made as they are written."""
    readings = [row.split(",", 1)[1] for row in block]
    for first in range(0, n_rows, len(block)):
        n = min(len(block), n_rows - first)
        times = np.datetime_as_string(first_time + np.arange(first, first + n).astype("m8[s]"), unit="s")
        yield "".join(f"{t},{r}\n" for t, r in zip(times.tolist(), readings[:n]))


def long_run(model_dir: Path, header: str, block: list[str], n_rows: int, sample_every: int,
             seconds: float | None = None) -> dict:
    """Pipe `n_rows` rows into one watch (fewer if `seconds` run out first), sampling its RSS every
    `sample_every` answers."""
    process = start(model_dir)
    process.stdin.write(header + "\n")
    process.stdin.flush()
    first_time = np.datetime64("2030-01-01T00:00:00")

    def writer():
        for chunk in long_feed(block, n_rows, first_time):
            if seconds is not None and time.perf_counter() - started > seconds:
                break
            process.stdin.write(chunk)
        process.stdin.close()

    thread = threading.Thread(target=writer)
    started = time.perf_counter()
    thread.start()
    samples = []  # (rows answered, seconds, RSS MiB)
    answered = 0
    for _ in process.stdout:
        answered += 1
        if answered % sample_every == 0 or answered == 1000:
            samples.append((answered, time.perf_counter() - started, status_mib(process.pid, "VmRSS")))
            print(f"  {answered:,} rows, {samples[-1][1]:.0f} s, RSS {samples[-1][2]:.1f} MiB", flush=True)
    seconds = time.perf_counter() - started
    end = samples[-1][2] if samples else float("nan")
    thread.join()
    process.wait(timeout=120)
    if process.returncode:
        raise SystemExit(process.stderr.read())
    rows = np.array([s[0] for s in samples], dtype=float)
    rss = np.array([s[2] for s in samples])
    def slope(after):  # MiB per million rows, a straight line through the samples from `after` rows on
        keep = rows >= after
        return float(np.polyfit(rows[keep] / 1e6, rss[keep], 1)[0]) if keep.sum() >= 2 else float("nan")

    middle = samples[int(np.argmin(np.abs(rows - answered / 2)))]
    rate = (samples[-1][0] - samples[0][0]) / (samples[-1][1] - samples[0][1])  # after the start-up
    return {"rows": answered, "seconds": seconds, "rows_per_s": rate, "samples": samples,
            "rss_start_mib": samples[0][2], "rss_middle_mib": middle[2], "rss_end_mib": end,
            "slope_mib_per_million_rows": slope(0.1 * answered),
            "slope_second_half_mib_per_million_rows": slope(0.5 * answered)}


def report(file_name: str, payload: dict, commit: str, load_before, columns: list[str], rows: list[list[str]]) -> None:
    """Save `payload` with the commit and the load average before and after as OUT/`file_name`, and
    print the same as a markdown table."""
    load_after = os.getloadavg()
    (OUT / file_name).write_text(json.dumps({"commit": commit, "load_before": load_before, "load_after": load_after,
                                             **payload}, indent=2))
    print(f"commit {commit}; load average {load_before} at the start, {load_after} at the end")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows timed one by one (after 200 warm-up rows)")
    parser.add_argument("--throughput-rows", type=int, default=50_000)
    parser.add_argument("--models", nargs="+", default=None, choices=list(MODELS))
    parser.add_argument("--baseline", type=Path, help="another checkout's seqae, measured in the same run")
    parser.add_argument("--long-rows", type=int, help="pipe this many rows into one watch, sampling its RSS")
    parser.add_argument("--sample-every", type=int, default=100_000)
    parser.add_argument("--long-seconds", type=float, help="stop writing rows after this many seconds")
    parser.add_argument("--stages", action="store_true", help="time the stages apart, in process")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--state", action="store_true", help="each watch with --state FILE")
    args = parser.parse_args(argv)
    import torch

    from seqae.detectors import make_detector

    torch.set_num_threads(1)
    warm_up = 200
    n_fit = 2000
    load_before = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.long_rows:
        name = (args.models or ["knn-window"])[0]
        frame = make_rows(n_fit + 20_000)
        text = frame.to_csv().splitlines()
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / name
            make_detector(name, random_state=0, **MODELS[name]).fit(frame.iloc[:n_fit]).save(model_dir)
            result = long_run(model_dir, text[0], text[1 + n_fit:], args.long_rows, args.sample_every,
                              args.long_seconds)
        result.update(model=name, commit=commit, load_before=load_before, load_after=os.getloadavg())
        (OUT / "watch_long.json").write_text(json.dumps(result, indent=2))
        print(f"{name}: {result['rows']:,} rows in {result['seconds']:.0f} s ({result['rows_per_s']:,.0f} rows/s "
              "after the first 1,000); "
              f"RSS {result['rss_start_mib']:.1f} MiB at the start, {result['rss_middle_mib']:.1f} in the middle, "
              f"{result['rss_end_mib']:.1f} at the end; slope {result['slope_mib_per_million_rows']:+.2f} MiB per "
              f"million rows after the first 10 %, {result['slope_second_half_mib_per_million_rows']:+.2f} over the "
              f"second half; load average {load_before} -> {result['load_after']}")
        return 0
    variants = [("this", REPO)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    if args.stages:
        rounds = []
        for _ in range(args.rounds):
            for name in args.models or ["knn-window"]:
                for variant, repo in variants:
                    rounds.append({"model": name, "variant": variant, **stages(name, args.throughput_rows, repo)})
                    print(rounds[-1], flush=True)
        report("watch_stages.json", {"rounds": rounds}, commit, load_before,
               ["model", "variant", "rows/s", "parse us/row", "model us/row", "alerts us/row", "write us/row"],
               [[r["model"], r["variant"], f"{r['rows_per_s']:,.0f}", f"{r['parse_us']:.1f}", f"{r['model_us']:.1f}",
                 f"{r['alerts_us']:.1f}", f"{r['write_us']:.1f}"] for r in rounds])
        return 0
    frame = make_rows(n_fit + max(args.rows + warm_up, args.throughput_rows))
    text = frame.to_csv().splitlines()
    header, rows = text[0], text[1 + n_fit:]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.state:
            STATE_ARGS[:] = [tmp]
        for name in args.models or list(MODELS):
            model_dir = Path(tmp) / name
            make_detector(name, random_state=0, **MODELS[name]).fit(frame.iloc[:n_fit]).save(model_dir)
            for variant, repo in variants:
                results[f"{name} ({variant})" if args.baseline else name] = {
                    "latency": latency(model_dir, header, rows[:args.rows + warm_up], warm_up, repo),
                    "throughput": throughput(model_dir, header, rows[:args.throughput_rows], repo)}
    report("watch_state.json" if args.state else "watch.json", {"results": results, "state": args.state}, commit,
           load_before,
           ["model", "p50 ms", "p95 ms", "p99 ms", "rows/s piped", "start-up s", "peak RSS MiB"],
           [[name, f"{r['latency']['p50_ms']:.2f}", f"{r['latency']['p95_ms']:.2f}", f"{r['latency']['p99_ms']:.2f}",
             f"{r['throughput']['rows_per_s']:,.0f}", f"{r['throughput']['start_up_s']:.1f}",
             f"{r['throughput']['peak_rss_mib']:.0f}"] for name, r in results.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
