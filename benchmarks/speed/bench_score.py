"""Batch scoring: rows/s of seqae against the textbook per-window loop, and the LSTM's GFLOP/s.

1. Throughput. A generated series (default 1,000,000 rows x 8 sensors, seqae.synthetic) is scored by
   an LSTM-AE (window 32, hidden 64, latent 16) with `detect` (scores, contributions and flags of
   every row), and by the textbook loop (benchmarks/speed/textbook_lstm_ae.py: one window at a time under
   torch.no_grad) holding the same weights. The textbook loop costs the same for every window, so it
   is timed on the first `--textbook-rows` rows and its rows/s extrapolated to the whole series; the
   two take turns, round after round.
2. GFLOP/s. The FLOPs of the LSTM and linear layers per window, counted analytically (2 per
   multiply-add of each matrix product; the gates' element-wise work is not counted), over the time
   of the net's forward passes alone (the batches `detect` makes), against float32 matrix products
   measured in the same rounds, with MKL (torch.matmul) and with oneDNN (the library nn.LSTM runs
   on; on this AMD CPU it is twice as fast as MKL): large square products (2048 and 4096: the
   machine's ceiling) and the LSTM's own per-step product (batch x hidden) @ (hidden x 4 hidden),
   the ceiling an LSTM of this size can reach. Each ceiling is its best round.
3. Levers, on the first `--lever-rows` rows: windows per forward pass, threads, inference_mode
   against no_grad, bfloat16 autocast, score_stride; the time split between the net, the window
   accumulator and the rest; OpenMP threads spinning or sleeping while they wait (child processes,
   since OMP_WAIT_POLICY is read when torch loads), alone and beside a process that keeps one core
   busy, as another job on a shared machine would.
4. What score_stride and bfloat16 cost in AUC-PR on SKAB (fit on the first 400 rows of each file,
   score the rest, the mean of the files' AUC-PR), paired with stride 1 in float32.

    python -m benchmarks.speed.bench_score [--rows 1000000] [--threads 1,2] [--skab-files 34]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.metrics import average_precision_score

from benchmarks.speed.common import SKAB_LABELS, SKAB_TRAIN_ROWS, interleaved, machine, median, save, skab_files, table
from benchmarks.speed.textbook_lstm_ae import LSTMAutoencoder as TextbookNet, TextbookDetector

from seqae import LSTMAutoencoder, nets, read_sensor_csv
from seqae.detectors import scoring
from seqae.synthetic import make_sensor_data
from seqae.windows import WindowAccumulator, batched_windows

# Six SKAB files have gaps in their timestamps (docs/benchmarks.md); the protocol scores them as they
# are, so seqae's warning about them is not repeated for every fit.
warnings.filterwarnings("ignore", message=r".*gaps? in the timestamps", category=UserWarning)

WINDOW, HIDDEN, LATENT, N_FEATURES = 32, 64, 16, 8
PARTS = "throughput,levers,batch_by_size,threads,skab"


def flops_per_window(window=WINDOW, hidden=HIDDEN, latent=LATENT, n_features=N_FEATURES) -> int:
    """Matrix-product FLOPs of one LSTMSeq2Seq forward pass (one layer each way)."""
    gates = 4 * hidden
    encoder = window * 2 * gates * (n_features + hidden)  # input and recurrent products per step
    to_latent = 2 * hidden * latent
    decoder = window * 2 * gates * (latent + hidden)
    output = window * 2 * hidden * n_features
    return encoder + to_latent + decoder + output


def matmul_gflops(m: int, k: int, n: int, library: str, seconds: float = 1.5) -> float:
    """GFLOP/s of an (m x k) @ (k x n) float32 product, repeated for `seconds`: with `mkl` (what
    torch.matmul calls) or `onednn` (the library nn.LSTM runs on, through mkldnn_linear)."""
    a, b = torch.randn(m, k), torch.randn(n, k)
    if library == "onednn":
        a, b = a.to_mkldnn(), b.to_mkldnn()
        product = lambda: torch._C._nn.mkldnn_linear(a, b, None)  # noqa: E731
    else:
        b = b.T.contiguous()
        product = lambda: a @ b  # noqa: E731
    product()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        product()
        calls += 1
    return 2 * m * k * n * calls / (time.perf_counter() - started) / 1e9


def net_forward_only(detector, values: np.ndarray) -> None:
    """The net's forward passes over every batch of windows `detect` would make, nothing else."""
    scaled = detector.scaler_.transform(values)
    with torch.inference_mode():
        for windows, _ in batched_windows(scaled, WINDOW, detector.score_stride, detector.score_batch_size()):
            detector.net_(windows)


@contextlib.contextmanager
def score_batch(size: int):
    """Score `size` windows per forward pass, whatever BaseDetector.score_batch_size would pick."""
    saved = scoring.SCORE_BATCH, scoring.SCORE_BATCH_VALUES
    scoring.SCORE_BATCH, scoring.SCORE_BATCH_VALUES = size, 1 << 62
    try:
        yield
    finally:
        scoring.SCORE_BATCH, scoring.SCORE_BATCH_VALUES = saved


def with_no_grad(detector):
    def window_scores(windows):
        with torch.no_grad():
            return nets.squared_error(detector.net_(windows), windows).numpy()
    return window_scores


def textbook_with_weights(detector) -> TextbookDetector:
    textbook = TextbookDetector(WINDOW, HIDDEN, LATENT)
    textbook.model = TextbookNet(N_FEATURES, HIDDEN, LATENT)
    textbook.model.load_state_dict(detector.net_.state_dict())
    textbook.mean, textbook.std = detector.scaler_.mean_, detector.scaler_.scale_
    return textbook


def time_split(detector, values: np.ndarray) -> dict:
    """Seconds in each stage of scoring `values` (the stages of BaseDetector.detect)."""
    split = dict.fromkeys(["scale", "gather windows", "net forward", "error + to numpy", "accumulate", "normalise"],
                          0.0)
    clock = time.perf_counter
    t = clock()
    scaled = detector.scaler_.transform(values)
    split["scale"] += clock() - t
    accumulator = WindowAccumulator(len(scaled), WINDOW, (N_FEATURES,), detector.score_reduction)
    batches = batched_windows(scaled, WINDOW, detector.score_stride, detector.score_batch_size())
    while True:
        t = clock()
        batch = next(batches, None)
        split["gather windows"] += clock() - t
        if batch is None:
            break
        windows, starts = batch
        t = clock()
        with torch.inference_mode():
            reconstruction = detector.net_(windows)
        split["net forward"] += clock() - t
        t = clock()
        with torch.inference_mode():
            errors = nets.squared_error(reconstruction, windows).numpy()
        split["error + to numpy"] += clock() - t
        t = clock()
        accumulator.add(errors, starts)
        split["accumulate"] += clock() - t
    t = clock()
    contributions = scoring.contributions(accumulator.result(), detector.normalizer_)
    detector.threshold_.flag(contributions.sum(axis=1))
    split["normalise"] += clock() - t
    return split


def throughput(detector, frame, textbook_rows: int, rounds: int, threads: int) -> list[dict]:
    torch.set_num_threads(threads)
    textbook = textbook_with_weights(detector)
    subset = frame.to_numpy()[:textbook_rows]
    values = frame.to_numpy()
    n_rows, batch = len(frame), detector.score_batch_size()
    ceilings = {}
    variants = {
        "seqae detect": lambda: detector.detect(frame),
        "net forward only": lambda: net_forward_only(detector, values),
        "textbook loop": lambda: textbook.score(subset),
    }
    for library in ("mkl", "onednn"):
        for size in (2048, 4096):
            key = f"{library} {size}"
            ceilings[key] = []
            variants[key] = lambda key=key, library=library, size=size: ceilings[key].append(
                matmul_gflops(size, size, size, library))
        key = f"{library} step shape"
        ceilings[key] = []
        variants[key] = lambda key=key, library=library: ceilings[key].append(
            matmul_gflops(batch, HIDDEN, 4 * HIDDEN, library))
    seconds = interleaved(variants, rounds)
    seqae_rate = n_rows / median(seconds["seqae detect"])
    textbook_rate = textbook_rows / median(seconds["textbook loop"])
    ratios = [(n_rows / s) / (textbook_rows / t) for s, t in zip(seconds["seqae detect"], seconds["textbook loop"])]
    n_windows = n_rows - WINDOW + 1
    net_gflops = n_windows * flops_per_window() / median(seconds["net forward only"]) / 1e9
    best = {key: max(values) for key, values in ceilings.items()}  # the best round: the least disturbed
    ceiling = max(best[f"{lib} {size}"] for lib in ("mkl", "onednn") for size in (2048, 4096))
    step_shape = max(best["mkl step shape"], best["onednn step shape"])
    split = time_split(detector, values)
    return [{
        "threads": threads, "rows": n_rows, "seqae_rows_per_s": seqae_rate,
        "textbook_rows_per_s": textbook_rate, "textbook_rows_timed": textbook_rows,
        "speedup": median(ratios), "seqae_seconds": median(seconds["seqae detect"]),
        "net_share_of_detect": median(seconds["net forward only"]) / median(seconds["seqae detect"]),
        "net_gflops": net_gflops, "ceiling_gflops": ceiling, "step_shape_gflops": step_shape,
        "share_of_ceiling": net_gflops / ceiling, "share_of_step_shape": net_gflops / step_shape,
        "matmul_gflops_best_round": best, "split_seconds": split,
    }]


def levers(detector, frame, rounds: int, threads_list: list[int]) -> list[dict]:
    rows = []
    n_rows = len(frame)
    for threads in threads_list:
        torch.set_num_threads(threads)
        variants = {}
        for size in (64, 256, 1024, 4096):
            variants[f"batch {size}"] = (lambda size=size: _scored(detector, frame, batch=size))
        variants["batch 256, no_grad"] = lambda: _scored(detector, frame, batch=256, no_grad=True)
        variants["batch 256, bf16 autocast"] = lambda: _scored(detector, frame, batch=256, bf16=True)
        for stride in (2, 4, 8, 32):
            variants[f"batch 256, score_stride {stride}"] = (
                lambda stride=stride: _scored(detector, frame, batch=256, stride=stride))
        for run in variants.values():
            run()
        seconds = interleaved(variants, rounds)
        base = seconds["batch 256"]
        for name, times in seconds.items():
            rows.append({"threads": threads, "variant": name, "rows_per_s": n_rows / median(times),
                         "vs_batch_256": median([b / t for b, t in zip(base, times)])})
    return rows


def _scored(detector, frame, batch: int, no_grad=False, bf16=False, stride=1):
    detector.set_params(score_stride=stride)
    try:
        with score_batch(batch), detector.scoring_precision("bfloat16" if bf16 else "float32"):
            if no_grad:
                detector._window_scores = with_no_grad(detector)
            return detector.detect(frame)
    finally:
        detector.__dict__.pop("_window_scores", None)
        detector.set_params(score_stride=1)


def batch_by_size(threads_list: list[int]) -> list[dict]:
    """Windows/s of LSTMSeq2Seq forward passes by batch size, for several window and hidden sizes,
    beside the batch BaseDetector.score_batch_size picks for that size."""
    rows = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        for hidden, window in ((32, 32), (64, 32), (64, 64), (128, 32), (128, 64)):
            net = nets.LSTMSeq2Seq(N_FEATURES, hidden, LATENT).eval()
            picked = LSTMAutoencoder(window_size=window, hidden_size=hidden)
            picked.n_features_in_ = N_FEATURES
            row = {"threads": threads, "hidden": hidden, "window": window, "picked": picked.score_batch_size()}
            for batch in (64, 128, 256, 512, 1024, 2048):
                x = torch.randn(batch, window, N_FEATURES)
                with torch.inference_mode():
                    net(x)
                    best = float("inf")
                    for _ in range(max(3, 4096 // batch)):
                        started = time.perf_counter()
                        net(x)
                        best = min(best, time.perf_counter() - started)
                row[f"b{batch}"] = batch / best
            rows.append(row)
    return rows


THREAD_CHILD = """
import sys, time, warnings, torch
from seqae import LSTMAutoencoder
from seqae.synthetic import make_sensor_data
frame, _, _ = make_sensor_data(int(sys.argv[1]), 8, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    detector = LSTMAutoencoder(epochs=1, random_state=0).fit(frame.iloc[:2000])
detector.detect(frame.iloc[:5000])
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    detector.detect(frame)
    times.append(time.perf_counter() - started)
times.sort()
print(len(frame) / times[len(times) // 2], torch.get_num_threads())
"""


BUSY_CHILD = """
import numpy as np
a = np.random.rand(400, 400)
while True:
    a = a @ a
    a /= np.abs(a).max()
"""


def thread_policy(n_rows: int, rounds: int, contended: bool) -> list[dict]:
    """rows/s of detect() in child processes with 1 or 2 OpenMP threads, spinning (the default) or
    sleeping (OMP_WAIT_POLICY=PASSIVE) while they wait for each other; the children take turns.
    `contended`: meanwhile another process keeps one core busy (one thread of matrix products), as
    a second job on a shared machine would."""
    import os
    import subprocess

    busy = None
    if contended:
        busy = subprocess.Popen([sys.executable, "-c", BUSY_CHILD],
                                env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                                         MKL_NUM_THREADS="1"))
    settings = [(threads, policy) for threads in (1, 2) for policy in ("default", "PASSIVE")]
    rates = {setting: [] for setting in settings}
    try:
        for _ in range(rounds):
            for threads, policy in settings:
                env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
                env.pop("OMP_WAIT_POLICY", None)
                if policy != "default":
                    env["OMP_WAIT_POLICY"] = policy
                done = subprocess.run([sys.executable, "-c", THREAD_CHILD, str(n_rows), "3"], env=env,
                                      capture_output=True, text=True, check=True, timeout=1800)
                rates[(threads, policy)].append(float(done.stdout.split()[-2]))
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    base = rates[(1, "default")]
    return [{"contended": contended, "threads": threads, "omp_wait_policy": policy, "rows_per_s": median(values),
             "slowest_round_rows_per_s": min(values),
             "vs_1_thread_default": median([v / b for v, b in zip(values, base)])}
            for (threads, policy), values in rates.items()]


def skab_cost(n_files: int | None, strides=(1, 2, 4, 8, 16, 32)) -> list[dict]:
    """Mean AUC-PR over the SKAB files for each score_stride and for bfloat16, from one fit per file."""
    torch.set_num_threads(1)
    results = {f"stride {s}": [] for s in strides}
    results["stride 1, bf16 autocast"] = []
    for path in skab_files(n_files):
        frame, labels = read_sensor_csv(path, label_columns=SKAB_LABELS, return_labels=True)
        truth = labels["anomaly"].to_numpy()[SKAB_TRAIN_ROWS:]
        test = frame.iloc[SKAB_TRAIN_ROWS:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            detector = LSTMAutoencoder(random_state=0).fit(frame.iloc[:SKAB_TRAIN_ROWS])
        for stride in strides:
            detector.set_params(score_stride=stride)
            results[f"stride {stride}"].append(average_precision_score(truth, detector.anomaly_score(test)))
        detector.set_params(score_stride=1)
        with detector.scoring_precision("bfloat16"):
            results["stride 1, bf16 autocast"].append(average_precision_score(truth, detector.anomaly_score(test)))
    base = np.array(results["stride 1"])
    rows = []
    for name, values in results.items():
        deltas = np.array(values) - base
        rows.append({"scoring": name, "auc_pr": float(np.mean(values)), "delta_vs_stride_1": float(deltas.mean()),
                     "worst_file_delta": float(deltas.min()), "files": len(values)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--textbook-rows", type=int, default=20_000)
    parser.add_argument("--lever-rows", type=int, default=200_000)
    parser.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skab-files", type=int, default=None, help="only the first N SKAB files (0 = skip)")
    parser.add_argument("--parts", default=PARTS, help=f"comma-separated, of {PARTS}")
    args = parser.parse_args()
    parts = args.parts.split(",")
    threads_list = [int(t) for t in args.threads.split(",")]
    started = machine()
    result = {"machine_at_start": started, "flops_per_window": flops_per_window()}

    frame, _, _ = make_sensor_data(args.rows, N_FEATURES, random_state=0)
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = LSTMAutoencoder(window_size=WINDOW, hidden_size=HIDDEN, latent_dim=LATENT, epochs=3,
                                   random_state=0).fit(frame.iloc[:5000])
    textbook = textbook_with_weights(detector)
    window = frame.to_numpy()[:WINDOW]
    with torch.no_grad():
        scaled = torch.tensor((window - textbook.mean) / textbook.std, dtype=torch.float32)[None]
        same = float((textbook.model(scaled) - detector.net_(scaled)).abs().max())
    result["textbook_vs_seqae_max_reconstruction_difference"] = same
    print(f"same weights: largest reconstruction difference {same:.2e}")

    if "throughput" in parts:
        result["throughput"] = []
        for threads in threads_list:
            result["throughput"] += throughput(detector, frame, args.textbook_rows, args.rounds, threads)
        print(table(result["throughput"], ["threads", "rows", "seqae_rows_per_s", "textbook_rows_per_s", "speedup",
                                           "net_gflops", "ceiling_gflops", "step_shape_gflops", "share_of_ceiling",
                                           "share_of_step_shape"]))
        for row in result["throughput"]:
            print(f"threads {row['threads']}: matmul GFLOP/s (best round) {row['matmul_gflops_best_round']}")
        for row in result["throughput"]:
            total = sum(row["split_seconds"].values())
            print(f"threads {row['threads']}: " + ", ".join(
                f"{k} {100 * v / total:.1f}%" for k, v in row["split_seconds"].items()))
    if "levers" in parts:
        result["levers"] = levers(detector, frame.iloc[:args.lever_rows], args.rounds, threads_list)
        print(table(result["levers"], ["threads", "variant", "rows_per_s", "vs_batch_256"]))
    if "batch_by_size" in parts:
        result["batch_by_size"] = batch_by_size(threads_list)
        print(table(result["batch_by_size"], ["threads", "hidden", "window", "picked", "b64", "b128", "b256", "b512",
                                              "b1024", "b2048"]))
    if "threads" in parts:
        result["thread_policy"] = (thread_policy(args.lever_rows, args.rounds, contended=False)
                                   + thread_policy(args.lever_rows, args.rounds, contended=True))
        print(table(result["thread_policy"], ["contended", "threads", "omp_wait_policy", "rows_per_s",
                                              "slowest_round_rows_per_s", "vs_1_thread_default"]))
    if "skab" in parts and args.skab_files != 0:
        result["skab"] = skab_cost(args.skab_files)
        print(table(result["skab"], ["scoring", "auc_pr", "delta_vs_stride_1", "worst_file_delta", "files"]))
    name = "score" if args.parts == PARTS else "score_" + "_".join(parts)
    print(f"saved {save(name, result)}")


if __name__ == "__main__":
    main()
