"""Serving: latency of `seqae serve` for a 200-row request, and requests/s with 8 concurrent clients.

A default-sized LSTM-AE (window 32, hidden 64, latent 16, 8 sensors) is fitted on generated data
and saved; `seqae serve MODEL --port P` runs in a child process on 127.0.0.1 (MLflow's scoring
server under uvicorn). Clients POST the same 200-row `dataframe_split` request to /invocations over
kept-alive HTTP/1.1 connections (http.client):

- latency: one client, `--requests` requests one after another; p50 and p99;
- throughput: 8 (or each `--clients` count of) client threads, each sending `--requests` requests;
  requests/s over the wall time, with p50/p99 of those requests.

Every loop is bounded and the server is stopped at the end (or on any error). The answer to the
first request is checked against the in-process detector's scores. For scale, the time `detect`
itself and the MLflow pyfunc model's `predict` (input check, schema enforcement, output frame)
take on the same 200 rows in this process are measured too.

    python -m benchmarks.speed.bench_serve [--requests 200] [--clients 8] [--threads 1] [--workers 1]
    python -m benchmarks.speed.bench_serve --clients 8,16 --workers 1,2    # the grid, one server after the other

With `--workers N` the server is `seqae serve --workers N` (N uvicorn processes on the port); with
several counts, one server after the other, each measured with one client and each `--clients`
count. Saved as serve.json (one worker) or serve_<counts>workers.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.speed.bench_memory import fitted_model, rows, save_fresh
from benchmarks.speed.common import OUT, machine, save, table

REQUEST_ROWS = 200
START_SECONDS = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(connection: http.client.HTTPConnection, body: bytes) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    return time.perf_counter() - started, response.status, payload


def client(port: int, body: bytes, n: int, latencies: list, failures: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(n):
            seconds, status, payload = post(connection, body)
            if status != 200:
                failures.append((status, payload[:200]))
            latencies.append(seconds)
    finally:
        connection.close()


def wait_until_up(port: int, server: subprocess.Popen) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < START_SECONDS:
        if server.poll() is not None:
            raise SystemExit(f"seqae serve exited with code {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"seqae serve did not answer /ping within {START_SECONDS} s")


def percentiles(latencies: list[float]) -> dict:
    ms = np.array(latencies) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "requests": len(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per client")
    parser.add_argument("--clients", default="8", help="concurrent clients, comma-separated (e.g. 8,16)")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for the server")
    parser.add_argument("--workers", default="1", help="seqae serve --workers, comma-separated (e.g. 1,2): "
                                                       "one server after the other")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    started = machine()
    OUT.mkdir(exist_ok=True)
    torch.set_num_threads(args.threads)
    detector = fitted_model()
    model = save_fresh(detector, OUT / "serve_model")
    frame = rows(10_000, REQUEST_ROWS)
    body = json.dumps({"dataframe_split": {"columns": list(frame.columns),
                                           "data": frame.to_numpy().tolist()}}).encode()
    in_process = []
    for _ in range(50):
        t = time.perf_counter()
        expected = detector.detect(frame)
        in_process.append(time.perf_counter() - t)
    from seqae import tracking

    pyfunc = tracking.load_pyfunc_model(str(model))
    pyfunc.predict(frame)
    pyfunc_times = []
    for _ in range(50):
        t = time.perf_counter()
        pyfunc.predict(frame)
        pyfunc_times.append(time.perf_counter() - t)
    result = {"machine_at_start": started, "threads": args.threads, "workers": workers, "clients": clients,
              "request_rows": REQUEST_ROWS, "request_bytes": len(body),
              "detect_in_process": percentiles(in_process), "pyfunc_predict_in_process": percentiles(pyfunc_times),
              "servers": []}
    rows_out = [
        {"measure": "detect() in process, 200 rows", **result["detect_in_process"]},
        {"measure": "the MLflow pyfunc's predict() in process", **result["pyfunc_predict_in_process"]},
    ]
    for n_workers in workers:
        served = serve_and_measure(model, body, expected.scores, n_workers, clients, args)
        result["servers"].append(served)
        rows_out.append({"measure": f"seqae serve, {n_workers} worker(s), 1 client", **served["sequential"]})
        for measured in served["concurrent"]:
            rows_out.append({"measure": f"seqae serve, {n_workers} worker(s), {measured['clients']} clients",
                             **measured})
        print(f"{n_workers} worker(s): startup {served['startup_seconds']:.1f} s; failures {served['failures']}; "
              f"largest score difference served vs in process {served['max_score_difference_vs_in_process']:.2e}",
              flush=True)
    print(table(rows_out, ["measure", "requests", "p50_ms", "p99_ms", "mean_ms", "requests_per_s"]))
    name = "serve" if workers == [1] else f"serve_{'_'.join(map(str, workers))}workers"
    print(f"saved {save(name, result)}")


def serve_and_measure(model, body: bytes, expected_scores, n_workers: int, clients: list[int], args) -> dict:
    """Start `seqae serve --workers n_workers`, measure one client and each count of concurrent
    clients, stop it."""
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    seqae = str(Path(sys.executable).with_name("seqae"))
    log = open(OUT / "serve_server.log", "w")
    server = subprocess.Popen([seqae, "--threads", str(args.threads), "serve", str(model), "--port", str(port),
                               "--workers", str(n_workers)], stdout=log, stderr=subprocess.STDOUT, env=env)
    result = {"workers": n_workers, "concurrent": []}
    try:
        result["startup_seconds"] = wait_until_up(port, server)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        _, status, payload = post(connection, body)
        answer = json.loads(payload)
        scores = np.array([row["score"] for row in answer["predictions"]])
        result["max_score_difference_vs_in_process"] = float(np.abs(scores - expected_scores).max())
        for _ in range(10):  # warm-up
            post(connection, body)
        connection.close()

        latencies, failures = [], []
        client(port, body, args.requests, latencies, failures)
        result["sequential"] = percentiles(latencies)
        for n_clients in clients:
            latencies = []
            threads = [threading.Thread(target=client, args=(port, body, args.requests, latencies, failures))
                       for _ in range(n_clients)]
            t = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
            wall = time.perf_counter() - t
            result["concurrent"].append({"clients": n_clients, **percentiles(latencies),
                                         "requests_per_s": len(latencies) / wall, "seconds": wall})
        result["failures"] = len(failures)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    return result


if __name__ == "__main__":
    main()
