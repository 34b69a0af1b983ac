"""What every benchmark shares: the machine, the SKAB files, timing in interleaved rounds, results.

Timings on a shared two-core machine are noisy, so every figure is a ratio measured within one run:
the variants of a comparison take turns, round after round, and each is summarised by its median.
Each script writes its figures to `benchmarks/out/<name>.json` (gitignored) and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.quality import protocol  # the dev sets' paths and splits, shared with the quality studies

ROOT = Path(__file__).resolve().parent
REPO = protocol.REPO
OUT = ROOT.parent / "out"
SKAB = protocol.SKAB_DIR
SKAB_LABELS = ["anomaly", "changepoint"]
SKAB_TRAIN_ROWS = protocol.SKAB_TRAIN_ROWS


def skab_files(limit: int | None = None) -> list[Path]:
    """The 34 SKAB files with anomalies (valve1, valve2, other), in a fixed order."""
    files = protocol.skab_paths()
    return files[:limit] if limit else files


def machine() -> dict:
    """CPU model and count, load average, library versions and thread settings."""
    model = platform.processor() or "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_modified": _git("status", "--porcelain", "--untracked-files=no", "--", "seqae").splitlines(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),  # as this process was started
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def interleaved(variants: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each variant, the variants taking turns for `rounds` rounds."""
    seconds = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def median(values) -> float:
    return float(statistics.median(values))


def save(name: str, result: dict) -> Path:
    OUT.mkdir(exist_ok=True)
    result = {"machine_at_end": machine(), **result}
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=float))
    return path


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain text table of `rows` (dicts) in `columns` order."""
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
