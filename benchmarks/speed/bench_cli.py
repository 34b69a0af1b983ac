"""The command line as users wait for it: `seqae fit` and `seqae score` against their imports and the
same work in process, `seqae --help` against `import click`, all as ratios within one run.

A SKAB file (default valve1/0.csv) is cut in two: its first 400 rows are DATA.csv for `seqae fit`,
the other rows the file `seqae score` scores. Each round runs, one after another, in fresh child
processes (the same interpreter, this checkout's seqae first on the path):

    click            python -c "import click"
    help             seqae --help
    imports          python -c "import torch, pandas, mlflow, sklearn"
    fit in process   import seqae's modules, read DATA.csv, then time `fit` alone (one torch thread):
                     the LSTM-AE (`--model lstm-ae`) and `autoconfig.auto_fit` (`--model auto`)
    seqae fit        seqae fit DATA.csv --model lstm-ae -q (also with --plots none: what the figures add),
                     and seqae fit DATA.csv -q (auto); each with --seed (default 0), as its fit in process
    seqae score      seqae score MODEL REST.csv -o scores.csv (MODEL: the LSTM-AE the last fit logged)

in a fresh MLflow store (a SQLite file in a temporary folder). The ratios asked of the CLI are
fit / (imports + fit in process) and score / imports; each figure is the median of the rounds.
`--before DIR` also runs, in each round, `seqae fit --model lstm-ae` and its fit in process from another
checkout of seqae (DIR, with its own MLflow store), so that a change's effect on the wait is
measured in one run: the ratio before / now of each.
`--lstm-ae-only` runs only what the LSTM-AE fit's ratio needs (imports, its fit in process, `seqae fit
--model lstm-ae` with and without figures), for a quicker run on a busy machine.
The command and its fit in process take the same seed, so both train the same epochs: an unseeded
fit stops at another epoch each time, and its spread (0.4-2.3 s) would swamp the ratio's.
`--profile` also runs each CLI command once under cProfile and prints where its time goes (shares
of the profiled run: the profiler slows Python code more than C code, so read them as shares).

    python -m benchmarks.speed.bench_cli [--rounds 3] [--file valve1/0.csv] [--profile] [--before DIR] [--lstm-ae-only]
"""

from __future__ import annotations

import argparse
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.speed.common import REPO, SKAB, SKAB_TRAIN_ROWS, machine, median, save, table


IN_PROCESS = """
import sys, time
import torch
from seqae.data import read_training_data
from seqae.detectors import make_detector
from seqae.autoconfig import auto_fit
import seqae.tracking
torch.set_num_threads(1)
training = read_training_data(sys.argv[1], label_column="anomaly")
started, cpu = time.perf_counter(), time.process_time()
if sys.argv[2] == "auto":
    auto_fit(training.frame, random_state=int(sys.argv[3]))
else:
    make_detector(sys.argv[2], verbose=False, random_state=int(sys.argv[3])).fit(training.frame)
print(time.perf_counter() - started, time.process_time() - cpu)
"""

# Stages of a profiled CLI run: (label, file, function) whose cumulative time the stage is.
STAGES = [
    ("import torch", "torch/__init__.py", "<module>"),
    ("import mlflow", "mlflow/__init__.py", "<module>"),
    ("import MLflow's SQL store", "mlflow/store/tracking/sqlalchemy_store.py", "<module>"),
    ("import matplotlib (seqae.plots)", "seqae/plots.py", "<module>"),
    ("import torch._dynamo (torch.optim's first use)", "torch/_dynamo/__init__.py", "<module>"),
    ("read the CSV", "seqae/data/training_rows.py", "read_training_data"),
    ("fit", "seqae/detectors/base.py", "fit"),
    ("auto_fit", "seqae/autoconfig/auto.py", "auto_fit"),
    ("log the dataset", "mlflow/tracking/fluent.py", "log_input"),
    ("figures", "seqae/tracking/fit.py", "_log_fit_plots"),
    ("log the model", "seqae/tracking/models.py", "log_detector_model"),
    ("  of which MLflow's requirement check", "mlflow/utils/requirements_utils.py", "warn_dependency_requirement_mismatches"),
    ("  of which loading and predicting the input example", "mlflow/models/utils.py", "_validate_serving_input"),
    ("load the model", "seqae/tracking/models.py", "load_detector"),
    ("score the CSV", "seqae/streaming.py", "score_csv"),
]


def split_file(source: Path, folder: Path) -> tuple[Path, Path]:
    lines = source.read_text().splitlines(keepends=True)
    train, rest = folder / "train.csv", folder / "rest.csv"
    train.write_text("".join(lines[: SKAB_TRAIN_ROWS + 1]))
    rest.write_text(lines[0] + "".join(lines[SKAB_TRAIN_ROWS + 1:]))
    return train, rest


def timed(command: list[str], env: dict, cwd: Path) -> tuple[float, float, str]:
    """The command's wall seconds, its CPU seconds (user + system, its own and its children's) and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, done.stdout.strip()


def stages(profile: Path) -> dict[str, float]:
    stats = pstats.Stats(str(profile)).stats
    total = max(entry[3] for entry in stats.values())
    shares = {}
    for label, file_end, function in STAGES:
        found = [entry[3] for (file, _, name), entry in stats.items() if name == function and file.endswith(file_end)]
        if found:
            shares[label] = max(found) / total
    shares["whole command (profiled seconds)"] = total
    return shares


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--file", default="valve1/0.csv", help="a SKAB file, relative to the SKAB folder")
    parser.add_argument("--profile", action="store_true", help="also profile each CLI command once")
    parser.add_argument("--seed", type=int, default=0,
                        help="the LSTM-AE's seed, in the command and in process alike, so both fit the same epochs")
    parser.add_argument("--before", type=Path, help="another checkout of seqae whose lstm-ae fit runs each round too")
    parser.add_argument("--lstm-ae-only", action="store_true",
                        help="only the imports, the LSTM-AE's fit in process and `seqae fit --model lstm-ae`")
    args = parser.parse_args(argv)

    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = {"machine": machine(), "file": args.file, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="seqae-bench-cli-") as tmp:
        folder = Path(tmp)
        train, rest = split_file(SKAB / args.file, folder)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        seqae = [py, "-m", "seqae"]
        model = {"uri": None}

        fit_lstm_command = seqae + ["fit", str(train), "--label-column", "anomaly", "--model", "lstm-ae",
                                    "--seed", str(args.seed), "-q"]

        def fit_lstm() -> tuple[float, float]:
            seconds, cpu, out = timed(fit_lstm_command, env, folder)
            model["uri"] = out.splitlines()[-1]
            return seconds, cpu

        fit_lstm()  # a model to score in the first round, and a warm file cache
        seconds = {name: [] for name in ("click", "help", "imports", "fit in process (lstm-ae)",
                                         "fit in process (auto)", "seqae fit --model lstm-ae",
                                         "seqae fit --model lstm-ae --plots none", "seqae fit (auto)",
                                         "seqae score")}
        if args.lstm_ae_only:
            seconds = {name: [] for name in ("imports", "fit in process (lstm-ae)", "seqae fit --model lstm-ae",
                                             "seqae fit --model lstm-ae --plots none")}
        if args.before:
            env_before = {**env, "PYTHONPATH": str(args.before.resolve()) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                          "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'before.db'}"}
            timed(fit_lstm_command, env_before, folder)  # its store made before the rounds, as the other's
            seconds.update({"fit in process (lstm-ae), before": [], "seqae fit --model lstm-ae, before": []})
        commands = {
            "click": [py, "-c", "import click"],
            "help": seqae + ["--help"],
            "imports": [py, "-c", "import torch, pandas, mlflow, sklearn"],
            "seqae fit (auto)": seqae + ["fit", str(train), "--label-column", "anomaly", "--seed", str(args.seed), "-q"],
            "seqae fit --model lstm-ae --plots none": fit_lstm_command + ["--plots", "none"],
        }
        cpu = {name: [] for name in seconds}
        for round_ in range(args.rounds):
            for name in seconds:
                if name.startswith("fit in process"):
                    kind = "auto" if "auto" in name else "lstm-ae"
                    _, _, out = timed([py, "-c", IN_PROCESS, str(train), kind, str(args.seed)],
                                      env_before if name.endswith("before") else env, folder)
                    wall, used = (float(v) for v in out.splitlines()[-1].split())
                elif name == "seqae fit --model lstm-ae, before":
                    wall, used, _ = timed(fit_lstm_command, env_before, folder)
                elif name == "seqae fit --model lstm-ae":
                    wall, used = fit_lstm()
                elif name == "seqae score":
                    wall, used, _ = timed(seqae + ["score", model["uri"], str(rest), "-o", str(folder / "scores.csv")],
                                          env, folder)
                else:
                    wall, used, _ = timed(commands[name], env, folder)
                seconds[name].append(wall)
                cpu[name].append(used)
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items()), flush=True)
        m = {name: median(values) for name, values in seconds.items()}
        c = {name: median(values) for name, values in cpu.items()}
        ratios = {}
        for command in ("seqae fit --model lstm-ae", "seqae fit --model lstm-ae --plots none"):
            if command in m:
                what = command.replace("seqae fit --model ", "fit ")
                ratios[f"{what} / (imports + fit in process)"] = m[command] / (m["imports"] + m["fit in process (lstm-ae)"])
                ratios[f"{what} / (imports + fit in process), CPU seconds"] = (
                    c[command] / (c["imports"] + c["fit in process (lstm-ae)"]))
        if not args.lstm_ae_only:
            ratios.update({
                "help / import click": m["help"] / m["click"],
                "fit auto / (imports + fit in process)": m["seqae fit (auto)"] / (m["imports"] + m["fit in process (auto)"]),
                "score / imports": m["seqae score"] / m["imports"],
            })
        if args.before:
            ratios["fit lstm-ae, before / now"] = m["seqae fit --model lstm-ae, before"] / m["seqae fit --model lstm-ae"]
            ratios["fit in process (lstm-ae), before / now"] = (m["fit in process (lstm-ae), before"]
                                                                 / m["fit in process (lstm-ae)"])
            result["before"] = str(args.before)
        result.update(seconds=seconds, cpu_seconds=cpu, medians=m, cpu_medians=c, ratios=ratios)
        print(table([{"what": k, "median s": v, "median CPU s": c[k]} for k, v in m.items()],
                    ["what", "median s", "median CPU s"]))
        print(table([{"ratio": k, "value": v} for k, v in ratios.items()], ["ratio", "value"]))

        if args.profile:
            profiles = {}
            profiled = [("seqae fit --model lstm-ae", fit_lstm_command[3:]),
                        ("seqae fit (auto)", ["fit", str(train), "--label-column", "anomaly", "--seed", str(args.seed), "-q"]),
                        ("seqae score", ["score", model["uri"], str(rest), "-o", str(folder / "scores.csv")])]
            for name, command in profiled[:1] if args.lstm_ae_only else profiled:
                profile = folder / "run.prof"
                timed([py, "-m", "cProfile", "-o", str(profile), "-m", "seqae", *command], env, folder)
                profiles[name] = stages(profile)
                print(f"\n{name}, profiled:")
                print(table([{"stage": k, "share": f"{v:.0%}" if v <= 1 else f"{v:.1f}"}
                             for k, v in profiles[name].items()], ["stage", "share"]))
            result["profiles"] = profiles
    print("saved", save("cli", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
