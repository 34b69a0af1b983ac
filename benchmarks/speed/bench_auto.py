"""`seqae fit` with no options: the default alone against `--compare`, on SKAB files and a wide file.

Two measurements, each variant in its own child process (this checkout's seqae, or `--before DIR`'s),
the variants taking turns round by round so that the shared machine's load falls on all alike:

    skab   `auto_fit(train, random_state=0)` on the first 400 rows of the first `--files` SKAB files:
           the default alone (what `seqae fit` fits), with `compare=True` (what `seqae fit --compare`
           fits: every candidate, scored on the injected anomalies), and with `--before DIR` the
           auto_fit of another checkout (one that fitted every candidate to report it, always)
    wide   the default on a generated file of `--wide-rows` x `--wide-sensors` continuous sensors (a
           random walk plus noise per sensor: no period, so the longest window, 256 rows), at 1 and
           2 torch threads, with the seconds of each stage

    python -m benchmarks.speed.bench_auto [--files 10] [--rounds 2] [--before DIR] [--wide-rows 3000 --wide-sensors 55]

Writes benchmarks/out/bench_auto.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.speed.common import REPO, SKAB_TRAIN_ROWS, machine, median, save, skab_files, table

CHILD = """
import io, json, sys, time, warnings
import numpy as np, pandas as pd, torch
warnings.simplefilter("ignore")
torch.set_num_threads(int(sys.argv[2]))
from seqae.autoconfig import auto_fit
task = json.loads(sys.argv[1])
out = []
if task["kind"] == "skab":
    for path in task["files"]:
        train = pd.read_csv(path, sep=";", index_col="datetime", parse_dates=True).drop(
            columns=["anomaly", "changepoint"]).iloc[:task["rows"]]
        started = time.perf_counter()
        kwargs = {"compare": True} if task["variant"] == "compare" else {}
        result = auto_fit(train, random_state=0, **kwargs)
        out.append({"file": path, "seconds": time.perf_counter() - started, "chosen": result.chosen})
else:
    rng = np.random.default_rng(0)
    n, k = task["rows"], task["sensors"]
    frame = pd.DataFrame(0.1 * rng.normal(size=(n, k)).cumsum(axis=0) + rng.normal(size=(n, k)),
                         columns=[f"sensor_{j}" for j in range(k)],
                         index=pd.date_range("2026-01-01", periods=n, freq="s"))
    from seqae.progress import StageLog
    log = io.StringIO()
    started = time.perf_counter()
    result = auto_fit(frame, random_state=0, progress=StageLog("auto", stream=log))
    seconds = time.perf_counter() - started
    members = getattr(result.detector, "members_", [result.detector])
    epochs = [len(m.history_.train_loss) for m in members if hasattr(m, "history_")]
    out.append({"seconds": seconds, "chosen": result.chosen, "stages": log.getvalue().splitlines(),
                "epochs": epochs})
print(json.dumps(out))
"""


def child(task: dict, threads: int, checkout: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(task), str(threads)], env=env, cwd=checkout,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the child for {task['kind']} {task.get('variant', '')} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def skab(files: list[Path], rounds: int, before: Path | None) -> list[dict]:
    variants = {"default": REPO, "compare": REPO} | ({"before": before} if before else {})
    seconds: dict[str, list[list[float]]] = {name: [] for name in variants}
    chosen = {}
    for r in range(rounds):
        names = list(variants)
        names = names[r % len(names):] + names[:r % len(names)]
        for name in names:
            task = {"kind": "skab", "variant": name, "files": [str(f) for f in files], "rows": SKAB_TRAIN_ROWS}
            rows = child(task, 1, variants[name])
            seconds[name].append([row["seconds"] for row in rows])
            chosen[name] = rows[0]["chosen"]
    out = []
    for name, runs in seconds.items():
        per_file = np.median(np.array(runs), axis=0)  # the median over rounds, per file
        out.append({"variant": name, "what it fits": chosen[name], "files": len(per_file),
                    "median s / file": median(per_file), "mean s / file": float(np.mean(per_file)),
                    "largest s": float(np.max(per_file))})
    base = next(row for row in out if row["variant"] == "default")["mean s / file"]
    for row in out:
        row["x the default"] = row["mean s / file"] / base
    return out


def wide(rows: int, sensors: int, rounds: int) -> list[dict]:
    out = []
    for threads in (1, 2):
        runs = [child({"kind": "wide", "rows": rows, "sensors": sensors}, threads, REPO)[0] for _ in range(rounds)]
        best = min(runs, key=lambda run: run["seconds"])
        out.append({"threads": threads, "rows x sensors": f"{rows} x {sensors}", "what it fits": best["chosen"],
                    "median s": median([run["seconds"] for run in runs]), "LSTM epochs": best["epochs"],
                    "stages": best["stages"]})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10, help="the first N SKAB files")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", type=Path, help="another checkout whose auto_fit is timed beside")
    parser.add_argument("--wide-rows", type=int, default=3000)
    parser.add_argument("--wide-sensors", type=int, default=55)
    parser.add_argument("--skip", choices=["skab", "wide"], help="leave one measurement out")
    args = parser.parse_args(argv)
    result = {"machine": machine(), "rounds": args.rounds}
    if args.skip != "skab":
        result["skab"] = skab(skab_files(args.files), args.rounds, args.before)
        print(table(result["skab"], ["variant", "what it fits", "files", "median s / file", "mean s / file",
                                     "largest s", "x the default"]))
    if args.skip != "wide":
        result["wide"] = wide(args.wide_rows, args.wide_sensors, args.rounds)
        print(table(result["wide"], ["threads", "rows x sensors", "what it fits", "median s", "LSTM epochs"]))
        for row in result["wide"]:
            print(f"{row['threads']} thread(s): " + "; ".join(row["stages"]))
    print(f"wrote {save('bench_auto', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
