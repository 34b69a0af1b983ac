"""SKAB leaderboard table: every pipeline in pipelines/skab-*.toml, measured, side by side.

    python -m benchmarks.quality skab                       # all SKAB pipelines, 3 seeds each, logged to ./mlruns
    python -m benchmarks.quality skab --data-dir DIR        # SKAB somewhere else
    python -m benchmarks.quality skab --only skab-lstm-ae skab-pca --no-track
    python -m benchmarks.quality skab --only skab-deviation --limit 2 --no-track --out /tmp/skab   # 6 files

Each pipeline runs through `seqae.pipeline.run_pipeline`, exactly as `seqae run` runs it. The table
is printed as Markdown (the one in docs/benchmarks.md) and written, with every pipeline's per-seed
summary and per-file table, to `benchmarks/results/`. Two rows are computed from the labels alone:
a detector that flags every test point (F1 about 0.70 at FAR 100 %, because 54 % of SKAB's test
points are anomalous), and the published leaderboard rows, copied for reference and marked so.

AUC-PR and VUS-PR are the mean over the 34 files of the per-file value; F1, FAR and MAR pool the
confusion counts of every test point of every file (SKAB's rule); event F1 pools segments and
false-alarm points likewise; fit seconds is the mean per fitted file. Each cell is the mean ± the
standard deviation over the seeds.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.quality import common, protocol

COLUMNS = ("auc_pr", "vus_pr", "f1", "far", "mar", "event_f1", "fit_seconds")
HEADERS = ("AUC-PR", "VUS-PR", "F1", "FAR %", "MAR %", "event F1", "fit s / file")

# SKAB's README, outlier-detection leaderboard (F1, FAR %, MAR %); not measured here.
PUBLISHED = [
    ("Conv-AE", 0.78, 13.55, 28.02), ("MSET", 0.78, 39.73, 14.13), ("T-squared+Q (PCA)", 0.76, 26.62, 24.92),
    ("LSTM-AE", 0.74, 29.96, 25.92), ("T-squared", 0.66, None, None), ("LSTM-VAE", 0.56, 9.13, 55.03),
    ("Vanilla LSTM", 0.54, None, None), ("Vanilla AE", 0.39, None, None), ("Isolation forest", 0.29, None, None),
]


def main(argv=None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = common.parser(__name__, __doc__)
    parser.add_argument("--data-dir", type=Path, help="SKAB's folder (default: the pipelines' own)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="pipeline names (file stems) to run")
    parser.add_argument("--seeds", type=int, nargs="+", help="replace each pipeline's seeds")
    parser.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    parser.add_argument("--limit", type=int, help="the first N files of each of SKAB's folders (a quick run)")
    common.output_options(parser)
    args = parser.parse_args(argv)
    if args.limit is None:
        return measure(args)
    with tempfile.TemporaryDirectory() as tmp:
        skab_dir = args.data_dir or protocol.SKAB_DIR
        for group in ("valve1", "valve2", "other"):  # every pipeline reads all three folders
            (Path(tmp) / group).mkdir()
            for path in sorted((skab_dir / group).glob("*.csv"))[:args.limit]:
                (Path(tmp) / group / path.name).symlink_to(path)
        args.data_dir = Path(tmp)
        return measure(args)


def measure(args) -> int:
    """Run the pipelines as `args` says, write their CSVs and the table."""
    from seqae.errors import SeqaeError
    from seqae.pipeline import load_pipeline, run_pipeline

    paths = sorted((protocol.REPO / "pipelines").glob("skab-*.toml"))
    if args.only:
        unknown = sorted(set(args.only) - {p.stem for p in paths})
        if unknown:
            print(f"error: no pipeline {unknown[0]!r}; there are {', '.join(p.stem for p in paths)}", file=sys.stderr)
            return 2
        paths = [p for p in paths if p.stem in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        first = load_pipeline(paths[0], data_dir=args.data_dir)
        rows.append(always_anomalous(first))
        for path in paths:
            started = time.perf_counter()
            result = run_pipeline(path, data_dir=args.data_dir, seeds=args.seeds, quiet=True,
                                  track=not args.no_track)
            result.summary.to_csv(args.out / f"{path.stem}.summary.csv")
            result.per_file.to_csv(args.out / f"{path.stem}.per_file.csv", index=False)
            rows.append((path.stem, result.summary))
            print(f"{path.stem}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    except SeqaeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    table = markdown_table(rows)
    (args.out / "skab.md").write_text(table + "\n")
    print(table)
    return 0


def always_anomalous(pipeline) -> tuple[str, pd.DataFrame]:
    """Flag every test point (a constant score): the floor any detector's numbers are read against."""
    from seqae import metrics
    from seqae.pipeline import read_data_file

    results = []
    for path in pipeline.files:
        _, labels = read_data_file(pipeline, path)
        test = labels[pipeline.train_rows:]
        results.append(metrics.evaluate(test, np.zeros(len(test)), np.ones_like(test)))
    row = metrics.pooled(results)
    for key in ("auc_pr", "vus_pr"):  # a constant score: AUC-PR is the share of anomalous points
        row[key] = float(np.mean([r[key] for r in results]))
    row["fit_seconds"] = np.nan
    summary = pd.DataFrame([row, row], index=["mean", "std"])
    summary.loc["std"] = 0.0
    return "always anomalous (every test point flagged)", summary


def markdown_table(rows) -> str:
    lines = ["| pipeline | " + " | ".join(HEADERS) + " |", "|---|" + "---|" * len(HEADERS)]
    for name, summary in rows:
        mean, std = summary.loc["mean"], summary.loc["std"]
        cells = []
        for key in COLUMNS:
            if not np.isfinite(mean[key]):
                cells.append("–")
                continue
            digits = 1 if key in ("far", "mar", "fit_seconds") else 3
            spread = f" ± {std[key]:.{digits}f}" if np.isfinite(std[key]) and std[key] > 0 else ""
            cells.append(f"{mean[key]:.{digits}f}{spread}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, f1, far, mar in PUBLISHED:
        cells = ["–", "–", f"{f1:.2f}", "–" if far is None else f"{far:.2f}", "–" if mar is None else f"{mar:.2f}",
                 "–", "–"]
        lines.append(f"| *published: {name}* | " + " | ".join(cells) + " |")
    return "\n".join(lines)
