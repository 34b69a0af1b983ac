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
run score -m benchmarks.speed.bench_score --threads 2,1
run fit_skab -m benchmarks.speed.bench_fit --protocol skab --seeds 0,1 --threads 1
run fit_anomaly_free -m benchmarks.speed.bench_fit --protocol anomaly-free --seeds 0,1 --threads 1
run train_levers -m benchmarks.speed.bench_train_levers --threads 1,2
run serve -m benchmarks.speed.bench_serve --threads 1
run serve_2workers -m benchmarks.speed.bench_serve --threads 1 --workers 2
run memory -m benchmarks.speed.bench_memory --rows 10000000 --score-strides 1,4 --threads 1
run precision -m benchmarks.speed.bench_precision --rows 1000000 --threads 1
run fleet -m benchmarks.speed.bench_fleet --machines 8 --rows 2000 --sensors 4 --jobs 2 --model lstm-ae --rounds 2
run spark -m benchmarks.speed.bench_spark --machines 100 --rows 5000
