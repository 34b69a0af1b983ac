"""Training-loop levers, one at a time: windows per second of each against the textbook loop.

Every variant trains the same LSTM seq2seq AE (window 32, hidden 64, latent 16, 8 SKAB sensors) from
the same initial weights on the same windows of SKAB's anomaly-free file, with a validation pass per
epoch, for the same epochs; the variants take turns, round after round (benchmarks/speed/common.py).

    textbook     benchmarks/speed/textbook_lstm_ae.py: DataLoader of windows, loss.item() per step
    seqae        seqae.training.train as it is (strided view, batches gathered by index, fused Adam)
    loop         a copy of seqae's loop with plain Adam: the reference for one lever at a time
    fused-adam   the loop with torch.optim.Adam(fused=True)
    no-sync      the loop, the epoch loss summed as a tensor (no .item() per step)
    bf16         the loop under torch.autocast('cpu', bfloat16)
    batch-N      the loop with N windows per step (fewer, larger steps: changes the optimisation)
    compiled     the loop on torch.compile(net)
    cell-decoder the loop on a net whose decoder adds W_ih z once and steps an LSTMCell

    python -m benchmarks.speed.bench_train_levers [--threads 1,2] [--rounds 5] [--profile-only]

Last, torch.profiler splits one epoch of seqae's `train` into the LSTM kernels, the other matrix
products, the optimiser and clipping, and the rest.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch
from torch import nn

from benchmarks.speed.common import SKAB, interleaved, machine, median, save, table
from benchmarks.speed.textbook_lstm_ae import TextbookDetector

from seqae.data import read_sensor_csv
from seqae.nets import LSTMSeq2Seq
from seqae.training import TrainConfig, seeded_generator, train
from seqae.windows import window_tensor

WINDOW, HIDDEN, LATENT, BATCH = 32, 64, 16, 64


class CellDecoderSeq2Seq(LSTMSeq2Seq):
    """LSTMSeq2Seq whose decoder computes the input projection of the repeated latent once."""

    def decode(self, z: torch.Tensor, window_size: int) -> torch.Tensor:
        w_ih, w_hh = self.decoder.weight_ih_l0, self.decoder.weight_hh_l0
        projected = z @ w_ih.T + self.decoder.bias_ih_l0 + self.decoder.bias_hh_l0  # (batch, 4 * hidden)
        h = z.new_zeros(len(z), self.decoder.hidden_size)
        c = torch.zeros_like(h)
        outputs = []
        for _ in range(window_size):
            gates = projected + h @ w_hh.T
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return self.output(torch.stack(outputs, dim=1))


def mse(net, inputs, targets):
    return nn.functional.mse_loss(net(inputs), targets)


def variant_loop(net, train_windows, val_windows, epochs, batch_size, *, fused=False, sync=True,
                 bf16=False, seed=0):
    """seqae.training.train's loop with one lever switched; same Adam, clipping and validation."""
    generator = seeded_generator(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused or None)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(train_windows), generator=generator)
        total = torch.zeros(())
        for first in range(0, len(train_windows), batch_size):
            batch = train_windows[order[first:first + batch_size]]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = mse(net, batch, batch)
            if sync and not torch.isfinite(loss):
                raise RuntimeError("non-finite loss")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            if sync:
                total += loss.item() * len(batch)
            else:
                total += loss.detach().float() * len(batch)
        float(total)
        net.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for first in range(0, len(val_windows), 1024):
                batch = val_windows[first:first + 1024]
                mse(net, batch, batch).item()


def scaled_rows(n_rows: int) -> np.ndarray:
    frame = read_sensor_csv(SKAB / "anomaly-free" / "anomaly-free.csv")
    values = frame.to_numpy()[:n_rows]
    return ((values - values.mean(axis=0)) / values.std(axis=0)).astype(np.float32)


def run(threads: int, n_rows: int, epochs: int, rounds: int, with_compile: bool) -> list[dict]:
    torch.set_num_threads(threads)
    values = scaled_rows(n_rows)
    n_val = int(0.2 * n_rows)
    train_part, val_part = values[:n_rows - n_val], values[n_rows - n_val:]
    train_windows, val_windows = window_tensor(train_part, WINDOW), window_tensor(val_part, WINDOW)
    torch.manual_seed(0)
    initial = LSTMSeq2Seq(8, HIDDEN, LATENT).state_dict()

    def net(cls=LSTMSeq2Seq):
        module = cls(8, HIDDEN, LATENT)
        module.load_state_dict(copy.deepcopy(initial))
        return module

    textbook = TextbookDetector(WINDOW, HIDDEN, LATENT, epochs=epochs, batch_size=BATCH)
    config = TrainConfig(epochs=epochs, batch_size=BATCH, patience=0, verbose=False)
    variants = {
        "textbook": lambda: textbook.train_model(train_part, val_part),
        "seqae": lambda: train(net(), mse, train_windows, val_windows, config, seeded_generator(0)),
        "loop": lambda: variant_loop(net(), train_windows, val_windows, epochs, BATCH),
        "fused-adam": lambda: variant_loop(net(), train_windows, val_windows, epochs, BATCH, fused=True),
        "no-sync": lambda: variant_loop(net(), train_windows, val_windows, epochs, BATCH, sync=False),
        "bf16": lambda: variant_loop(net(), train_windows, val_windows, epochs, BATCH, bf16=True),
        "batch-128": lambda: variant_loop(net(), train_windows, val_windows, epochs, 128),
        "batch-256": lambda: variant_loop(net(), train_windows, val_windows, epochs, 256),
        "cell-decoder": lambda: variant_loop(net(CellDecoderSeq2Seq), train_windows, val_windows, epochs, BATCH),
    }
    compile_seconds = None
    if with_compile:
        try:
            compiled = torch.compile(net())
            started = time.perf_counter()
            variant_loop(compiled, train_windows, val_windows, 1, BATCH)
            compile_seconds = time.perf_counter() - started
            variants["compiled"] = lambda: variant_loop(compiled, train_windows, val_windows, epochs, BATCH)
        except Exception as exc:  # a compiler failure is a measured outcome, not a crash of the benchmark
            print(f"torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
    for run_once in variants.values():  # warm-up: oneDNN primitives, allocator
        run_once()
    seconds = interleaved(variants, rounds)
    n_windows = epochs * len(train_windows)
    base = median(seconds["textbook"])
    rows = []
    for name, times in seconds.items():
        ratios = [t_ref / t for t_ref, t in zip(seconds["textbook"], times)]
        vs_loop = [t_ref / t for t_ref, t in zip(seconds["loop"], times)]
        rows.append({"threads": threads, "windows": len(train_windows), "variant": name,
                     "seconds": median(times), "windows_per_s": n_windows / median(times),
                     "speedup_vs_textbook": median(ratios), "speedup_vs_loop": median(vs_loop),
                     "vs_textbook_of_medians": base / median(times)})
    if compile_seconds is not None:
        rows.append({"threads": threads, "windows": len(train_windows), "variant": "compiled: first epoch",
                     "seconds": compile_seconds})
    return rows


def step_profile(threads: int) -> dict:
    """Where one epoch of seqae.training.train goes (torch.profiler, self CPU time), on 5,969
    windows, and the LSTM kernels' GFLOP/s counting a backward pass as twice the forward's FLOPs."""
    from torch.profiler import ProfilerActivity, profile

    from bench_score import flops_per_window

    torch.set_num_threads(threads)
    values = scaled_rows(7500)
    train_windows, val_windows = window_tensor(values[:6000], WINDOW), window_tensor(values[6000:], WINDOW)
    config = TrainConfig(epochs=1, batch_size=BATCH, patience=0, verbose=False)
    net = LSTMSeq2Seq(8, HIDDEN, LATENT)
    train(net, mse, train_windows, val_windows, config, seeded_generator(0))  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train(net, mse, train_windows, val_windows, config, seeded_generator(0))
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups = {"LSTM forward and backward": ("rnn",), "other matrix products": ("aten::mm", "aten::addmm", "aten::bmm"),
              "optimiser and clipping": ("adam", "zero_grad", "norm", "clip")}
    shares = {name: sum(e.self_cpu_time_total for e in events if any(k in e.key.lower() for k in keys)) / total
              for name, keys in groups.items()}
    shares["everything else"] = 1 - sum(shares.values())
    lstm_seconds = shares["LSTM forward and backward"] * total / 1e6
    training_flops = len(train_windows) * 3 * flops_per_window() + len(val_windows) * flops_per_window()
    return {"threads": threads, "shares": shares, "lstm_gflops_estimate": training_flops / lstm_seconds / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="torch thread counts to measure, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile)")
    parser.add_argument("--profile-only", action="store_true", help="only where a training epoch's time goes")
    parser.add_argument("--name", default="train_levers", help="results go to benchmarks/out/NAME.json")
    args = parser.parse_args()
    started = machine()
    rows = []
    if args.profile_only:
        profiles = [step_profile(int(t)) for t in args.threads.split(",")]
        for entry in profiles:
            print(entry)
        print(f"saved {save(args.name, {'machine_at_start': started, 'step_profiles': profiles})}")
        return
    # The SKAB protocol's training set (320 rows -> 289 windows) and a larger one (6000 rows).
    for threads in [int(t) for t in args.threads.split(",")]:
        rows += run(threads, 400, epochs=10, rounds=args.rounds, with_compile=not args.no_compile)
        rows += run(threads, 7500, epochs=1, rounds=args.rounds, with_compile=False)
    columns = ["threads", "windows", "variant", "seconds", "windows_per_s", "speedup_vs_textbook", "speedup_vs_loop"]
    print(table(rows, columns))
    profiles = [step_profile(int(t)) for t in args.threads.split(",")]
    for entry in profiles:
        print(f"{entry['threads']} thread(s): " + ", ".join(f"{k} {100 * v:.0f} %" for k, v in entry["shares"].items())
              + f"; LSTM kernels ~{entry['lstm_gflops_estimate']:.0f} GFLOP/s")
    print(f"saved {save(args.name, {'machine_at_start': started, 'rows': rows, 'step_profiles': profiles})}")


if __name__ == "__main__":
    main()
