#!/usr/bin/env bash
# Every figure of benchmarks/README.md, one script after another (about 85 minutes on two cores).
# Logs and JSON results go to benchmarks/out/; the load average is logged before and after each.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p benchmarks/out
run() {
    local name=$1; shift
    echo "== $name: $(date +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a benchmarks/out/run_all.log
    "$PY" "$@" > "benchmarks/out/$name.log" 2>&1
    echo "   done $(date +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a benchmarks/out/run_all.log
}
run score benchmarks/speed/bench_score.py --threads 2,1
run fit_skab benchmarks/speed/bench_fit.py --protocol skab --seeds 0,1 --threads 1
run fit_anomaly_free benchmarks/speed/bench_fit.py --protocol anomaly-free --seeds 0,1 --threads 1
run train_levers benchmarks/speed/bench_train_levers.py --threads 1,2
run serve benchmarks/speed/bench_serve.py --threads 1
run serve_2workers benchmarks/speed/bench_serve.py --threads 1 --workers 2
run memory benchmarks/speed/bench_memory.py --rows 10000000 --score-strides 1,4 --threads 1
run precision benchmarks/speed/bench_precision.py --rows 1000000 --threads 1
run fleet benchmarks/speed/bench_fleet.py --machines 8 --rows 2000 --sensors 4 --jobs 2 --model lstm-ae --rounds 2
run spark benchmarks/speed/bench_spark.py --machines 100 --rows 5000
