"""A fleet through `seqae.fleet.spark` on `local[2]` against the same work in one process and in the
parallel processes of `FleetDetector(n_jobs=2)`: fit one detector per machine, then score every row.

The fleet: `--machines` machines x `--rows` rows x `--sensors` sensors (`make_fleet_data`, every
machine its own levels and mixing), written once to benchmarks/out/spark/fleet.parquet. Each
variant runs in a child process of its own, so that its peak memory is its own:

    one        in one process: each machine's detector fitted (`fit_asset`), one after another;
               then every row scored (`FleetDetector.score_frame`) and written to parquet
    processes  fit with `FleetDetector(n_jobs=2)` (forkserver workers, one torch thread each);
               scored as `one` (a fleet scores in one process)
    spark      a local[2] SparkSession reading the parquet file: `seqae.fleet.spark.fit` (the Spark job,
               then logging the fleet as one MLflow model with a child run per machine to a SQLite
               store in benchmarks/out/spark/) and `seqae.fleet.spark.score` written to parquet

Peak memory: the child's own peak RSS (for `processes`, without its workers'); for `spark`,
the driver's, the JVM's and each Python worker's (VmHWM of every `pyspark.daemon` process under
the JVM, read after the jobs, while Spark keeps its workers for reuse). The scores of `spark` are
checked against those of `one`, row by row: they must be identical.

    python -m benchmarks.speed.bench_spark [--machines 100] [--rows 5000] [--model knn-window] [--window-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.speed.common import OUT, REPO, machine, save

WORK = OUT / "spark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--sensors", type=int, default=4)
    parser.add_argument("--model", default="knn-window")
    parser.add_argument("--window-size", type=int, default=32)
    parser.add_argument("--variants", default="one,processes,spark")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return
    import numpy as np
    import pandas as pd

    from seqae.synthetic import make_fleet_data

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    before = machine()
    frame, _ = make_fleet_data(args.machines, args.rows, args.sensors, random_state=0)
    frame.reset_index().to_parquet(WORK / "fleet.parquet", index=False)
    results = {}
    for variant in args.variants.split(","):
        command = [sys.executable, "-m", "benchmarks.speed.bench_spark", "--child", variant, "--machines", str(args.machines), "--rows",
                   str(args.rows), "--sensors", str(args.sensors), "--model", args.model,
                   "--window-size", str(args.window_size)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"{variant} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
        results[variant] = {**json.loads(done.stdout.strip().splitlines()[-1]),
                            "child_seconds": time.perf_counter() - started}
        print(variant, json.dumps(results[variant]), flush=True)
    if "one" in results and "spark" in results:
        one = pd.read_parquet(WORK / "scores-one.parquet").sort_values(["machine", "timestamp"], ignore_index=True)
        spark = pd.read_parquet(WORK / "scores-spark.parquet").sort_values(["machine", "timestamp"], ignore_index=True)
        results["spark_scores_identical"] = all(
            np.array_equal(one[c].to_numpy(), spark[c].to_numpy()) for c in one.columns.drop("timestamp"))
    ratios = {}
    for variant in ("processes", "spark"):
        if "one" in results and variant in results:
            ratios[f"fit_{variant}_vs_one"] = results["one"]["fit_seconds"] / results[variant]["fit_seconds"]
            ratios[f"score_{variant}_vs_one"] = results["one"]["score_seconds"] / results[variant]["score_seconds"]
    if "processes" in results and "spark" in results:
        ratios["fit_spark_vs_processes"] = results["processes"]["fit_seconds"] / results["spark"]["fit_seconds"]
    print("spark scores identical to one process's:", results.get("spark_scores_identical"))
    path = save("spark", {"machine": before, "args": vars(args), "results": results, "ratios": ratios})
    print(json.dumps(ratios, indent=2))
    print(f"-> {path}")


def spec(args):
    from seqae.fleet import FitSpec

    params = {"window_size": args.window_size} if args.model != "deviation" else {}
    return FitSpec(args.model, {**params, "random_state": 0})


def one_thread() -> None:
    from seqae.workers import one_thread as set_one_thread

    set_one_thread()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(args) -> dict:
    import pandas as pd

    from seqae.fleet import FleetDetector, fit_asset

    one_thread()
    frame = pd.read_parquet(WORK / "fleet.parquet")
    fit_spec = spec(args)
    started = time.perf_counter()
    detectors = {}
    for machine_name, rows in frame.groupby("machine", sort=True):
        detectors[machine_name] = fit_asset(fit_spec, rows.set_index("timestamp").drop(columns="machine")).detector
    fit_seconds = time.perf_counter() - started
    fleet = FleetDetector.from_detectors(detectors, asset_column="machine", spec=fit_spec)
    score_seconds = score_in_one_process(fleet, frame, "scores-one.parquet")
    return {"fit_seconds": fit_seconds, "score_seconds": score_seconds, "peak_rss_mib": peak_mib()}


def score_in_one_process(fleet, frame, name: str) -> float:
    started = time.perf_counter()
    scores = fleet.score_frame(frame.drop(columns="timestamp"))
    scores.insert(1, "timestamp", frame["timestamp"].to_numpy())
    scores.to_parquet(WORK / name, index=False)
    return time.perf_counter() - started


def run_processes(args) -> dict:
    import pandas as pd

    from seqae.fleet import FleetDetector

    one_thread()
    frame = pd.read_parquet(WORK / "fleet.parquet")
    rows = {m: part.set_index("timestamp").drop(columns="machine") for m, part in frame.groupby("machine", sort=True)}
    started = time.perf_counter()
    fleet = FleetDetector(spec(args), asset_column="machine", n_jobs=2).fit(rows)
    fit_seconds = time.perf_counter() - started
    score_seconds = score_in_one_process(fleet, frame, "scores-processes.parquet")
    return {"fit_seconds": fit_seconds, "score_seconds": score_seconds, "peak_rss_mib": peak_mib()}


def run_spark(args) -> dict:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORK / 'mlflow.db'}"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from seqae.fleet import spark as fleet_spark

    started = time.perf_counter()
    session = (SparkSession.builder.master("local[2]").appName("seqae-bench")
               .config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC").config("spark.driver.memory", "2g").getOrCreate())
    session_seconds = time.perf_counter() - started
    df = session.read.parquet(str(WORK / "fleet.parquet"))
    fit_spec = spec(args)
    started = time.perf_counter()
    fitted = fleet_spark.fit(df, asset_column="machine", time_column="timestamp", model_type=fit_spec.model_type,
                             params=fit_spec.params, experiment="bench-spark")
    fit_and_log_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scores = fleet_spark.score(df, fitted.model_uri, asset_column="machine", time_column="timestamp")
    scores.write.mode("overwrite").parquet(str(WORK / "scores-spark.parquet"))
    score_seconds = time.perf_counter() - started
    workers = python_workers()
    session.stop()
    return {"session_start_seconds": session_seconds, "fit_seconds": fitted.fit_seconds,
            "fit_and_log_seconds": fit_and_log_seconds, "score_seconds": score_seconds,
            "driver_peak_rss_mib": peak_mib(), **workers}


def python_workers() -> dict:
    """VmHWM of the JVM and of every pyspark.daemon process (the daemon and the workers it forked)."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    below, todo = [], list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        below.append(pid)
        todo.extend(children.get(pid, []))
    jvm = [p for p in below if "java" in commands.get(p, "").split(" ")[0]]
    python = [p for p in below if "pyspark.daemon" in commands.get(p, "")]
    return {"jvm_peak_rss_mib": [hwm_mib(p) for p in jvm],
            "python_worker_peak_rss_mib": sorted(hwm_mib(p) for p in python)}


def hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


CHILDREN = {"one": run_one, "processes": run_processes, "spark": run_spark}

if __name__ == "__main__":
    main()
