"""Print the Markdown tables of benchmarks/README.md from the results in benchmarks/out/*.json.

    python -m benchmarks.speed.report            # after benchmarks/speed/run_all.sh (or the scripts one by one)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "out"


def load(name: str) -> dict | None:
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def md(rows: list[list], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def n(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def load_note(result: dict) -> str:
    start = result.get("machine_at_start", {}).get("load_average")
    end = result.get("machine_at_end", {}).get("load_average")
    commit = (result.get("machine_at_start", {}).get("git_commit")
              or result.get("machine_at_end", {}).get("git_commit", "?"))
    return f"load average (1, 5, 15 min) {start} at the start, {end} at the end; commit {commit}"


def fit_section(name: str, title: str) -> str:
    result = load(name)
    if result is None:
        return f"({name}.json missing: run python -m benchmarks.speed.bench_fit)"
    rows = [[r["config"], n(r["fit_seconds"]), f"{r['speedup']:.2f}x", n(r["windows_per_s"]), f"{r['epochs']:.1f}",
             f"{r['auc_pr']:.3f}", f"{r['auc_pr_delta']:+.3f} ± {r['delta_ci95']:.3f}"] for r in result["summary"]]
    header = ["configuration", "fit seconds (all fits)", "speed-up", "training windows/s", "epochs run (mean)",
              "AUC-PR (mean of files)", "AUC-PR − textbook's (95 % CI, paired)"]
    return (f"**{title}** ({result['files']} files, seeds {result['seeds']}, {result['threads']} torch thread(s); "
            f"{load_note(result)})\n\n" + md(rows, header))


def score_section() -> str:
    result = load("score")
    if result is None:
        return "(score.json missing: run python -m benchmarks.speed.bench_score)"
    parts = [f"({load_note(result)}; {result['flops_per_window']:,} FLOPs per window)"]
    rows = [[r["threads"], f"{r['rows']:,}", n(r["seqae_rows_per_s"]), n(r["textbook_rows_per_s"]),
             f"{r['speedup']:.1f}x", f"{100 * r['net_share_of_detect']:.0f} %", n(r["net_gflops"]),
             n(r["ceiling_gflops"]), n(r["step_shape_gflops"]), f"{100 * r['share_of_ceiling']:.0f} %",
             f"{100 * r['share_of_step_shape']:.0f} %"] for r in result.get("throughput", [])]
    parts.append(md(rows, ["threads", "rows", "seqae rows/s", "textbook rows/s (extrapolated)", "speed-up",
                           "net's share of detect", "LSTM GFLOP/s", "square matmul GFLOP/s",
                           "step-shape matmul GFLOP/s", "of square", "of step shape"]))
    for r in result.get("throughput", []):
        total = sum(r["split_seconds"].values())
        parts.append(f"- {r['threads']} thread(s), where detect's time goes: " + ", ".join(
            f"{k} {100 * v / total:.1f} %" for k, v in r["split_seconds"].items()))
        best = r["matmul_gflops_best_round"]
        parts.append("  matmul GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in best.items()))
    if "levers" in result:
        rows = [[r["threads"], r["variant"], n(r["rows_per_s"]), f"{r['vs_batch_256']:.2f}x"] for r in result["levers"]]
        parts.append(md(rows, ["threads", "scoring variant (200k rows)", "rows/s", "vs batch 256 (shipped)"]))
    if "batch_by_size" in result:
        sizes = [64, 128, 256, 512, 1024, 2048]
        rows = [[r["threads"], r["hidden"], r["window"], r["picked"]] + [n(r[f"b{b}"]) for b in sizes]
                for r in result["batch_by_size"]]
        parts.append(md(rows, ["threads", "hidden", "window", "score_batch_size picks"] + [f"batch {b}" for b in sizes]))
    threads = load("score_threads")  # bench_score.py --parts threads, when run on its own
    if threads is not None and "thread_policy" in threads:
        result = {**result, "thread_policy": threads["thread_policy"]}
        parts.append(f"(thread policy: {load_note(threads)})")
    if "thread_policy" in result:
        rows = [["yes" if r.get("contended") else "no", r["threads"], r["omp_wait_policy"], n(r["rows_per_s"]),
                 n(r["slowest_round_rows_per_s"]), f"{r['vs_1_thread_default']:.2f}x"] for r in result["thread_policy"]]
        parts.append(md(rows, ["another process busy on one core", "threads", "OMP_WAIT_POLICY", "rows/s (median)",
                               "rows/s (slowest round)", "vs 1 thread"]))
    if "skab" in result:
        rows = [[r["scoring"], f"{r['auc_pr']:.4f}", f"{r['delta_vs_stride_1']:+.5f}", f"{r['worst_file_delta']:+.4f}"]
                for r in result["skab"]]
        parts.append(md(rows, ["SKAB scoring (34 files)", "AUC-PR", "mean Δ vs stride 1", "worst file Δ"]))
    return "\n\n".join(parts)


def levers_section() -> str:
    result = load("train_levers")
    if result is None:
        return "(train_levers.json missing: run python -m benchmarks.speed.bench_train_levers)"
    rows = [[r["threads"], r["windows"], r["variant"], n(r.get("windows_per_s")),
             f"{r['speedup_vs_textbook']:.2f}x" if "speedup_vs_textbook" in r else f"{r['seconds']:.1f} s",
             f"{r['speedup_vs_loop']:.2f}x" if "speedup_vs_loop" in r else ""]
            for r in result["rows"]]
    return f"({load_note(result)})\n\n" + md(rows, ["threads", "training windows", "variant", "windows/s",
                                                   "vs textbook", "vs loop (one lever)"])


def profile_section() -> str:
    result = load("train_profile") or load("train_levers")
    if result is None or "step_profiles" not in result:
        return "(run python -m benchmarks.speed.bench_train_levers --profile-only --name train_profile)"
    rows = [[p["threads"]] + [f"{100 * v:.0f} %" for v in p["shares"].values()] + [n(p["lstm_gflops_estimate"])]
            for p in result["step_profiles"]]
    header = ["threads"] + list(result["step_profiles"][0]["shares"]) + ["LSTM kernels GFLOP/s (estimate)"]
    return f"({load_note(result)})\n\n" + md(rows, header)


def serve_section() -> str:
    parts = [_serve_table("serve", "python -m benchmarks.speed.bench_serve")]
    for name in sorted(p.stem for p in OUT.glob("serve_*workers.json")):
        parts.append(_serve_table(name, f"python -m benchmarks.speed.bench_serve --workers {name[6:-7]}"))
    return "\n\n".join(parts)


def _serve_table(name: str, command: str) -> str:
    result = load(name)
    if result is None:
        return f"({name}.json missing: run {command})"
    rows = [["detect() in process, 200 rows", result["detect_in_process"]["requests"],
             n(result["detect_in_process"]["p50_ms"]), n(result["detect_in_process"]["p99_ms"]), ""]]
    if "pyfunc_predict_in_process" in result:
        rows.append(["the MLflow pyfunc's predict() in process", result["pyfunc_predict_in_process"]["requests"],
                     n(result["pyfunc_predict_in_process"]["p50_ms"]), n(result["pyfunc_predict_in_process"]["p99_ms"]),
                     ""])
    # One server (older runs) or several, one after the other (--workers 1,2).
    servers = result.get("servers") or [{**result, "workers": result.get("workers", 1),
                                         "concurrent": [result["concurrent"]]}]
    notes = []
    for served in servers:
        label = f"seqae serve, {served['workers']} worker(s)"
        rows.append([f"{label}, 1 client", served["sequential"]["requests"], n(served["sequential"]["p50_ms"]),
                     n(served["sequential"]["p99_ms"]), n(1000 / served["sequential"]["mean_ms"])])
        for c in served["concurrent"]:
            rows.append([f"{label}, {c['clients']} clients", c["requests"], n(c["p50_ms"]), n(c["p99_ms"]),
                         n(c["requests_per_s"])])
        notes.append(f"{served['workers']} worker(s): failures {served['failures']}, served scores − in-process "
                     f"scores {served['max_score_difference_vs_in_process']:.1e}")
    return (f"({load_note(result)}; server OMP_NUM_THREADS={result['threads']}; request "
            f"{result['request_bytes']:,} bytes; {'; '.join(notes)})\n\n"
            + md(rows, ["measure", "requests", "p50 ms", "p99 ms", "requests/s"]))


def memory_section() -> str:
    parts = []
    labels = {"memory": "", "memory_2threads": "seqae's default wait policy (passive since 89590b0), 2 threads; ",
              "memory_2threads_active": "OMP_WAIT_POLICY=ACTIVE, 2 threads; "}
    for name, label in labels.items():
        result = load(name)
        if result is None:
            continue
        rows = [[r["way"], f"{r['rows']:,}", r["score_stride"], r["threads"], n(r["seconds"]), n(r["rows_per_s"]),
                 n(r["peak_rss_mib"]), r["exit_code"], r.get("identical_to_whole_file", "")]
                for r in result["results"]]
        header = ["way", "rows", "score_stride", "threads", "seconds", "rows/s", "peak RSS MiB", "exit",
                  "identical to whole-file"]
        parts.append(f"({label}{load_note(result)})\n\n" + md(rows, header))
    stages = load("memory_stages")
    if stages is not None:
        st = stages["stages"]
        total = st["score_csv_seconds"]
        parts.append(f"Stages of chunked scoring, timed apart on {st['rows']:,} rows, {st['threads']} thread(s) "
                     f"({load_note(stages)}): parsing {n(st['parse_seconds'])} s "
                     f"({100 * st['parse_seconds'] / total:.0f} %), detect {n(st['detect_seconds'])} s "
                     f"({100 * st['detect_seconds'] / total:.0f} %), writing the CSV {n(st['write_seconds'])} s "
                     f"({100 * st['write_seconds'] / total:.0f} %); score_csv doing all three: {n(total)} s.")
    return "\n\n".join(parts) or "(memory.json missing: run python -m benchmarks.speed.bench_memory)"


def main() -> None:
    sections = {
        "fit (SKAB protocol)": fit_section("fit", "SKAB protocol: fit on each file's first 400 rows"),
        "fit (anomaly-free)": fit_section("fit_anomaly_free", "Fit on anomaly-free.csv, score all 34 files"),
        "scoring": score_section(),
        "training levers": levers_section(),
        "training step profile": profile_section(),
        "serving": serve_section(),
        "memory": memory_section(),
    }
    for title, body in sections.items():
        print(f"### {title}\n\n{body}\n")


if __name__ == "__main__":
    sys.exit(main())
