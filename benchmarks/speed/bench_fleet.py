"""Fleet fit: N machines in parallel worker processes against the same machines one after another
in one process, as `seqae fit FLEET.csv --asset-column machine [--jobs P]` fits them.

Each variant runs in a fresh Python process (as each `seqae fit` does), which imports seqae, makes
the fleet (`seqae.synthetic.make_fleet_data`: N machines x R rows x S sensors, every machine its
own levels and mixing) and times `FleetDetector(spec, n_jobs=...).fit(frame)` alone: for the
parallel variant that includes starting the workers (a forkserver that imports seqae once, then a
fork per worker, each on one torch thread). The variants take turns, round after round; the ratio
is the median sequential time over the median parallel time. Both fits give identical scores
(checked on every machine's training rows).

    python -m benchmarks.speed.bench_fleet [--machines 8] [--rows 2000] [--sensors 4] [--jobs 2]
                                           [--model lstm-ae] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from benchmarks.speed.common import REPO, machine, median, save, table

MODELS = {  # what each machine's detector is: small and seeded, as a fleet of many machines wants
    "lstm-ae": {"window_size": 32, "hidden_size": 32, "latent_dim": 8, "epochs": 10, "random_state": 0,
                "verbose": False},
    "knn-window": {"window_size": 32},
    "pca": {"window_size": 32},
}


def fit_once(args) -> dict:
    """In a fresh process: make the fleet, time its fit with `args.n_jobs` processes."""
    import numpy as np
    import torch

    from seqae.fleet import FitSpec, FleetDetector
    from seqae.synthetic import make_fleet_data

    torch.set_num_threads(1)
    frame, _ = make_fleet_data(args.machines, args.rows, args.sensors, random_state=0)
    fleet = FleetDetector(FitSpec(args.model, MODELS[args.model]), asset_column="machine", n_jobs=args.n_jobs)
    started = time.perf_counter()
    fleet.fit(frame)
    seconds = time.perf_counter() - started
    checksum = float(sum(np.sum(d.train_scores_, dtype=np.float64) for d in fleet.detectors_.values()))
    own_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "asset_seconds": float(sum(f.fit_seconds for f in fleet.fitted_.values())),
            "checksum": checksum, "worker_peak_mib": max(f.peak_memory_mib for f in fleet.fitted_.values()),
            "process_peak_mib": own_kib / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=8)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--sensors", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--model", choices=sorted(MODELS), default="lstm-ae")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, help=argparse.SUPPRESS)  # set in the fresh process of one fit
    args = parser.parse_args()
    if args.n_jobs is not None:
        print(json.dumps(fit_once(args)))
        return

    started_on = machine()
    variants = {"one process, machines one after another": 1, f"{args.jobs} worker processes": args.jobs}
    runs = {name: [] for name in variants}
    for round_number in range(args.rounds):
        order = list(variants.items()) if round_number % 2 == 0 else list(variants.items())[::-1]
        for name, n_jobs in order:
            command = [sys.executable, "-m", "benchmarks.speed.bench_fleet", "--machines", str(args.machines), "--rows", str(args.rows),
                       "--sensors", str(args.sensors), "--model", args.model, "--n-jobs", str(n_jobs)]
            out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    checksums = {round(r["checksum"], 6) for rs in runs.values() for r in rs}
    sequential = median(r["seconds"] for r in runs["one process, machines one after another"])
    rows = []
    for name, results in runs.items():
        seconds = median(r["seconds"] for r in results)
        rows.append({"variant": name, "fit seconds (median)": seconds, "speed-up": sequential / seconds,
                     "machines/s": args.machines / seconds,
                     "per-machine fits added up (s)": median(r["asset_seconds"] for r in results),
                     "peak RSS of a fitting process (MiB)": max(r["worker_peak_mib"] for r in results),
                     "peak RSS of the process (MiB)": max(r["process_peak_mib"] for r in results)})
    print(f"{args.machines} machines x {args.rows} rows x {args.sensors} sensors, {args.model}, "
          f"{args.rounds} rounds; identical fitted scores: {len(checksums) == 1}")
    print(table(rows, list(rows[0])))
    path = save(f"fleet_{args.model}", {"machine_at_start": started_on, "args": vars(args), "rows": rows, "runs": runs,
                          "identical_scores": len(checksums) == 1})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
