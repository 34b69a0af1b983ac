"""A fit from Python with seqae's thread default (one) against torch's own (one thread per core, with
the passive OpenMP waiting `import seqae` sets), in one run.

Each round starts a fresh process per setting that imports seqae, reads the first 400 rows of a
SKAB file and times `LSTMAutoencoder(random_state=0).fit` alone; `SEQAE_THREADS` sets the threads
seqae's fit runs on (unset: one). Before seqae chose its threads, a fit from Python ran on torch's
default, which is the `SEQAE_THREADS=<cores>` row.

    python -m benchmarks.speed.bench_threads_api [--rounds 5] [--file valve1/0.csv]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from benchmarks.speed.common import REPO, SKAB, SKAB_TRAIN_ROWS, machine, median, save, table


FIT = """
import sys, time, warnings
warnings.simplefilter("ignore")
import seqae
from seqae import LSTMAutoencoder, read_sensor_csv
frame = read_sensor_csv(sys.argv[1], label_columns=["anomaly", "changepoint"]).iloc[:int(sys.argv[2])]
started = time.perf_counter()
LSTMAutoencoder(random_state=0).fit(frame)
print(time.perf_counter() - started)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--file", default="valve1/0.csv")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    settings = {"seqae's default (1 thread)": None, f"SEQAE_THREADS={cores} (torch's default)": str(cores)}
    seconds = {name: [] for name in settings}
    base = {k: v for k, v in os.environ.items() if k not in ("SEQAE_THREADS", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    base["PYTHONPATH"] = str(REPO)
    for round_ in range(args.rounds):
        for name, threads in settings.items():
            env = dict(base, **({"SEQAE_THREADS": threads} if threads else {}))
            done = subprocess.run([sys.executable, "-c", FIT, str(SKAB / args.file), str(SKAB_TRAIN_ROWS)], env=env,
                                  capture_output=True, text=True, check=True)
            seconds[name].append(float(done.stdout.strip().splitlines()[-1]))
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items()), flush=True)
    one = median(seconds["seqae's default (1 thread)"])
    rows = [{"setting": k, "median fit s": median(v), "vs one thread": median(v) / one} for k, v in seconds.items()]
    print(table(rows, ["setting", "median fit s", "vs one thread"]))
    print("saved", save("threads_api", {"machine": machine(), "file": args.file, "seconds": seconds, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
