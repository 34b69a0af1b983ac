"""A pipeline file from `pipelines/` run end to end: read files, fit, score, threshold, evaluate, log.

A pipeline is a TOML file with six sections (every key is checked; an unknown one is an error):

    [data]       directory, files (glob patterns under it), sep, time_column, columns,
                 label_column (the 0/1 truth), ignore_columns (never sensors, e.g. SKAB's
                 `changepoint`), fill, and how the files are written: decimal, time_unit,
                 timezone, dayfirst (`data.ReadOptions`, the CLI's read options)
    [protocol]   train_rows = N (fit on the first N rows of each file, score the rest) or
                 train_file = "path" (fit once on that file, score every file whole)
    [model]      type = "lstm-ae" | "lstm-vae" | "dense-ae" | "conv-ae" | "pca" | "iforest" | "deviation", and the
                 detector's keyword arguments (window_size = 32, ...)
    [threshold]  spec = "ucl:q=0.99,factor=1.5" (see `threshold_registry.parse_threshold`),
                 on = "validation" | "all" (which training rows the threshold is fitted on)
    [run]        seeds = [0, 1, 2], experiment = "name", jobs = 2 (files fitted in parallel)
    [metrics]    report = ["auc_pr", "f1", ...] (the columns of the summary table)

Relative paths in the file are relative to the pipeline file's own folder; `data_dir` (the CLI's
`--data-dir`) replaces `[data] directory`.

How the numbers are made (SKAB's leaderboard protocol when `train_rows` is set):

    for each seed, for each file: fit on the training rows (labels there are never read),
    score the test rows as a live feed of them (flags and alerts by the model's alert rules, the
    threshold calibrated on held-out training scores only), and rank them retrospectively,
    `metrics.evaluate_decisions` -> one row of the per-file table
    per seed: TP/FP/TN/FN summed over every test point of every file -> precision, recall, F1,
    FAR, MAR (SKAB's pooling; events likewise); AUC-PR, AUC-ROC and VUS-PR are the MEAN of the
    per-file values (`auc_pr_pooled` is the average precision of all files' scores ranked
    together, meaningful only because every detector's scores are normalised by its own
    training spread); fit_seconds is the mean per fit
    summary: one row per seed, then the mean and the standard deviation (ddof=1) over seeds

`run_pipeline` logs one MLflow parent run, a child run per (file, seed), the pooled metrics and
the two tables on the parent, through `seqae.tracking`.
"""

from __future__ import annotations

import contextlib
import glob
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seqae import metrics
from seqae.data import FILL_POLICIES, ReadOptions, read_header, read_sensor_csv, time_gaps
from seqae.detectors import DETECTORS, THRESHOLD_SOURCES, make_detector
from seqae.errors import ConfigError, DataError, DataWarning, about_file
from seqae.params import Satisfies, check_params
from seqae.threshold_registry import parse_threshold
from seqae.workers import worker_pool

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SECTIONS = ("data", "protocol", "model", "threshold", "run", "metrics")
RANKING_KEYS = ("auc_pr", "auc_roc", "vus_pr")  # averaged over files
EXTRA_KEYS = ("auc_pr_pooled", "fit_seconds")
ALERT_KEYS = ("anomaly_recall", "alert_precision", "alerts_per_anomaly_found", "false_alerts_per_1000_rows",
              "n_alerts")  # pooled over files: alerts and segments summed
SUMMARY_KEYS = metrics.POOLED_KEYS + metrics.POOLED_EVENT_KEYS + RANKING_KEYS + ALERT_KEYS + EXTRA_KEYS
DEFAULT_REPORT = ("auc_pr", "vus_pr", "f1", "far", "mar", "event_f1", "fit_seconds")
PIPELINE_EXPERIMENT = "seqae-pipelines"  # pipelines log apart from single fits (experiment "seqae")


# ---- the pipeline file ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pipeline:
    """A checked pipeline file: everything `run_pipeline` needs, paths resolved."""

    path: Path
    name: str  # the file's stem: `skab-lstm-ae`
    text: str  # the file as written (logged with the run)
    files: tuple[Path, ...]  # data files, sorted
    directory: Path  # what `files` are named relative to
    read: ReadOptions  # how the data files are written: sep, time_column, decimal, ..., fill
    columns: tuple[str, ...] | None
    label_column: str
    ignore_columns: tuple[str, ...]
    train_rows: int | None
    train_file: Path | None
    model_type: str
    model_params: dict
    threshold_spec: str | None
    threshold_on: str | None
    seeds: tuple[int, ...]
    experiment: str
    jobs: int
    report: tuple[str, ...]

    def file_label(self, path: Path) -> str:
        """A data file's name relative to the data directory (`valve1/0.csv`)."""
        try:
            return path.relative_to(self.directory).as_posix()
        except ValueError:
            return str(path)

    def detector(self, seed: int):
        """The pipeline's detector, unfitted, seeded with `seed`."""
        params = dict(self.model_params, random_state=seed)
        if self.threshold_spec is not None:
            params["threshold"] = parse_threshold(self.threshold_spec)
        if self.threshold_on is not None:
            params["threshold_on"] = self.threshold_on
        return make_detector(self.model_type, **params)

    def params(self) -> dict:
        """Flat, loggable description of the pipeline."""
        out = {"pipeline": self.name, "model_type": self.model_type,
               "data_directory": str(self.directory), "n_files": len(self.files),
               "label_column": self.label_column, "seeds": ",".join(map(str, self.seeds)),
               "threshold": self.threshold_spec or "detector default",
               "threshold_on": self.threshold_on or "detector default"}
        if self.train_rows is not None:
            out["train_rows"] = self.train_rows
        else:
            out["train_file"] = str(self.train_file)
        out.update({f"model.{k}": v for k, v in self.model_params.items()})
        return out


class _Section:
    """One table of the TOML file; every read names the file, the section and the key on error."""

    def __init__(self, path: Path, name: str, table: dict):
        self.path, self.name, self.table = path, name, table
        self.read: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}: [{self.name}] {key}"

    def get(self, key: str, kinds: tuple, expected: str, default=None, required: bool = False):
        self.read.add(key)
        if key not in self.table:
            if required:
                raise ConfigError(f"{self.path}: [{self.name}] needs {key!r} ({expected})")
            return default
        value = self.table[key]
        of_kind = Satisfies(lambda v, _: isinstance(v, kinds) and (bool in kinds or not isinstance(v, bool)), expected,
                            message=lambda name, v, _: f"{self.where(name)} must be {expected}, got {v!r}")
        check_params({key: value}, {key: of_kind})
        return value

    def strings(self, key: str, expected: str, default=None, required: bool = False):
        value = self.get(key, (list, str), expected, default, required)
        if value is None or value is default:
            return value
        items = [value] if isinstance(value, str) else value
        if not items or not all(isinstance(v, str) and v for v in items):
            raise ConfigError(f"{self.where(key)} must be {expected}, got {value!r}")
        return tuple(items)

    def check_unknown(self, allowed: tuple[str, ...] | None = None) -> None:
        allowed = allowed if allowed is not None else tuple(sorted(self.read))
        unknown = [k for k in self.table if k not in allowed]
        if unknown:
            raise ConfigError(f"{self.path}: [{self.name}] has no key {unknown[0]!r}; "
                              f"its keys are {', '.join(allowed)}")


def load_pipeline(path, data_dir=None, seeds=None, experiment: str | None = None) -> Pipeline:
    """Read and check a pipeline file; `data_dir`, `seeds` and `experiment` override the file's."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such pipeline file; the ones shipped are in pipelines/")
    text = path.read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the line it names") from None
    unknown = [k for k in document if k not in SECTIONS]
    if unknown:
        raise ConfigError(f"{path}: unknown section or key {unknown[0]!r} at the top level; "
                          f"the sections are {', '.join(f'[{s}]' for s in SECTIONS)}")
    tables = {}
    for name in SECTIONS:
        table = document.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name!r} must be a section [{name}], got a value {table!r}")
        tables[name] = _Section(path, name, table)
    base = path.resolve().parent

    # [data]
    data = tables["data"]
    directory = data.get("directory", (str,), "a folder path (relative to the pipeline file)")
    patterns = data.strings("files", "a glob pattern or a list of them, e.g. [\"valve1/*.csv\"]",
                            default=("*.csv",))
    sep = data.get("sep", (str,), "a separator such as ';' or ','")
    time_column = data.get("time_column", (str,), "a column name")
    columns = data.strings("columns", "a list of sensor column names")
    label_column = data.get("label_column", (str,), "the name of the 0/1 label column", required=True)
    ignore_columns = data.strings("ignore_columns", "a list of column names", default=())
    fill = data.get("fill", (str,), f"one of {', '.join(FILL_POLICIES)}", default="error")
    if fill not in FILL_POLICIES:
        raise ConfigError(f"{data.where('fill')} must be one of {', '.join(FILL_POLICIES)}, got {fill!r}")
    if sep is not None and not sep:
        raise ConfigError(f"{data.where('sep')} must not be empty; leave it out to sniff the separator")
    read = {"sep": sep, "time_column": time_column, "fill": fill,
            "decimal": data.get("decimal", (str,), "'.' or ','"),
            "time_unit": data.get("time_unit", (str,), "one of s, ms, us, ns, step"),
            "timezone": data.get("timezone", (str,), "a time zone name such as 'Europe/Berlin'"),
            "dayfirst": data.get("dayfirst", (bool,), "true or false")}
    try:
        read = ReadOptions(**{key: value for key, value in read.items() if value is not None})
    except ConfigError as exc:
        option, _, rest = str(exc).removeprefix("--").partition(" ")  # --time-unit must ... -> time_unit must ...
        raise ConfigError(f"{path}: [data] {option.replace('-', '_')} {rest}") from None
    data.check_unknown(("directory", "files", "sep", "time_column", "columns", "label_column",
                        "ignore_columns", "fill", "decimal", "time_unit", "timezone", "dayfirst"))
    if data_dir is not None:
        root = Path(data_dir).resolve()
        if not root.is_dir():
            raise ConfigError(f"--data-dir {data_dir}: no such folder; give the folder that holds the data files")
    else:
        root = (base / directory).resolve() if directory else base
        if not root.is_dir():
            raise ConfigError(f"{data.where('directory')} = {directory!r}: no folder {root}; "
                              "fix the path (it is relative to the pipeline file) or pass --data-dir")
    files = []
    for pattern in patterns:
        found = sorted(Path(p) for p in glob.glob(str(root / pattern), recursive=True) if Path(p).is_file())
        if not found:
            raise ConfigError(f"{data.where('files')}: pattern {pattern!r} matches no file in {root}; "
                              "check the pattern, [data] directory or --data-dir")
        files.extend(f for f in found if f not in files)

    # [protocol]
    protocol = tables["protocol"]
    train_rows = protocol.get("train_rows", (int,), "a whole number of rows >= 1")
    train_file = protocol.get("train_file", (str,), "a file path (relative to the data directory)")
    protocol.check_unknown(("train_rows", "train_file"))
    if (train_rows is None) == (train_file is None):
        raise ConfigError(f"{path}: [protocol] needs exactly one of train_rows (fit on the first rows of "
                          "each file) or train_file (fit once on one file)")
    if train_rows is not None and train_rows < 1:
        raise ConfigError(f"{protocol.where('train_rows')} must be >= 1, got {train_rows}")
    train_path = None
    if train_file is not None:
        train_path = (root / train_file).resolve()
        if not train_path.is_file():
            raise ConfigError(f"{protocol.where('train_file')} = {train_file!r}: no file {train_path}")
        files = [f for f in files if f.resolve() != train_path]
        if not files:
            raise ConfigError(f"{data.where('files')}: every file matched is the train_file; "
                              "nothing is left to score")

    # [model]
    model = dict(tables["model"].table)
    model_type = model.pop("type", None)
    if not isinstance(model_type, str) or model_type not in DETECTORS:
        raise ConfigError(f"{path}: [model] type must be one of {', '.join(DETECTORS)}, got {model_type!r}")
    for key, section in (("random_state", "[run] seeds"), ("threshold", "[threshold] spec"),
                         ("threshold_on", "[threshold] on")):
        if key in model:
            raise ConfigError(f"{path}: [model] {key} is set by {section}; move it there")
    try:
        make_detector(model_type, **model).check_params()
    except ConfigError as exc:
        raise ConfigError(f"{path}: [model] {exc}") from None

    # [threshold]
    threshold = tables["threshold"]
    spec = threshold.get("spec", (str,), "a spec such as 'ucl:q=0.99,factor=1.5' or 'quantile:q=0.995'")
    threshold_on = threshold.get("on", (str,), f"one of {', '.join(THRESHOLD_SOURCES)}")
    threshold.check_unknown(("spec", "on"))
    if spec is not None:
        try:
            parse_threshold(spec)
        except ConfigError as exc:
            raise ConfigError(f"{threshold.where('spec')}: {exc}") from None
    if threshold_on is not None and threshold_on not in THRESHOLD_SOURCES:
        raise ConfigError(f"{threshold.where('on')} must be one of {', '.join(THRESHOLD_SOURCES)}, "
                          f"got {threshold_on!r}")

    # [run]
    run = tables["run"]
    file_seeds = run.get("seeds", (list, int), "a list of whole numbers, e.g. [0, 1, 2]", default=[0])
    name = run.get("experiment", (str,), "an MLflow experiment name", default=PIPELINE_EXPERIMENT)
    jobs = run.get("jobs", (int,), "a whole number of parallel processes >= 1", default=1)
    run.check_unknown(("seeds", "experiment", "jobs"))
    seeds = _check_seeds(file_seeds if seeds is None else seeds, run.where("seeds"))
    if jobs < 1:
        raise ConfigError(f"{run.where('jobs')} must be >= 1, got {jobs}")

    # [metrics]
    report_section = tables["metrics"]
    report = report_section.strings("report", f"a list of metric names from {', '.join(SUMMARY_KEYS)}",
                                    default=DEFAULT_REPORT)
    report_section.check_unknown(("report",))
    bad = [m for m in report if m not in SUMMARY_KEYS]
    if bad:
        raise ConfigError(f"{report_section.where('report')}: unknown metric {bad[0]!r}; "
                          f"choose from {', '.join(SUMMARY_KEYS)}")

    return Pipeline(
        path=path, name=path.stem, text=text, files=tuple(files), directory=root, read=read,
        columns=columns, label_column=label_column,
        ignore_columns=tuple(c for c in ignore_columns if c != label_column),
        train_rows=train_rows, train_file=train_path, model_type=model_type, model_params=model,
        threshold_spec=spec, threshold_on=threshold_on, seeds=seeds,
        experiment=experiment or name, jobs=jobs, report=tuple(report),
    )


def _check_seeds(seeds, where: str) -> tuple[int, ...]:
    seeds = [seeds] if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ConfigError(f"{where} must be a non-empty list of whole numbers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where} lists a seed twice ({list(seeds)}); give each seed once")
    return tuple(int(s) for s in seeds)


# ---- running it ------------------------------------------------------------------------------------

@dataclass
class FileResult:
    """One fitted and scored file: its per-file metrics and the arrays pooled metrics need."""

    file: str
    seed: int
    metrics: dict
    scores: np.ndarray = field(repr=False)  # (n_test,) test scores
    labels: np.ndarray = field(repr=False)  # (n_test,) 0/1
    alerts: metrics.AlertCounts | None = field(default=None, repr=False)  # the model's alerts against the labels


@dataclass
class PipelineResult:
    pipeline: Pipeline
    summary: pd.DataFrame  # index: seed 0, 1, ..., then "mean" and "std"; columns: SUMMARY_KEYS
    per_file: pd.DataFrame  # one row per (seed, file)
    run_id: str | None = None
    run_url: str | None = None

    def table(self, columns=None) -> pd.DataFrame:
        """The report columns as `mean ± std` strings, one row: what `seqae run` prints."""
        columns = list(columns or self.pipeline.report)
        mean, std = self.summary.loc["mean"], self.summary.loc["std"]
        cells = {}
        for key in columns:
            digits = 1 if key in ("far", "mar", "fit_seconds", "mean_detection_delay") else 3
            spread = "" if not np.isfinite(std[key]) else f" ± {std[key]:.{digits}f}"
            cells[key] = f"{mean[key]:.{digits}f}{spread}"
        return pd.DataFrame([cells], index=[self.pipeline.name])


def run_pipeline(path, data_dir=None, seeds=None, experiment: str | None = None, quiet: bool = False,
                 track: bool = True) -> PipelineResult:
    """Run a pipeline file end to end and return its summary and per-file tables.

    Args:
        path: the pipeline TOML file.
        data_dir: replaces `[data] directory` (the CLI's `--data-dir`).
        seeds: replace `[run] seeds`.
        experiment: replaces `[run] experiment`.
        quiet: print nothing (otherwise one line per fitted file on stderr).
        track: log to MLflow (one parent run, a child run per file and seed).
    """
    pipeline = load_pipeline(path, data_dir=data_dir, seeds=seeds, experiment=experiment)
    say = (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    logger = None
    if track:
        from seqae import tracking  # the only module that imports mlflow

        logger = tracking.start_pipeline_run(pipeline.experiment, pipeline.name, pipeline.params(),
                                             pipeline.text)
    try:
        results = []
        with contextlib.closing(_results(pipeline)) as done:  # an error here stops the workers at once
            for result in done:
                results.append(result)
                m = result.metrics
                say(f"seed {result.seed}  {result.file}: AUC-PR {m['auc_pr']:.3f}  F1 {m['f1']:.3f}  "
                    f"FAR {m['far']:.1f}%  fit {m['fit_seconds']:.1f}s")
                if logger is not None:
                    logger.log_file(result.file, result.seed, m)
        per_file = pd.DataFrame([{"seed": r.seed, "file": r.file, **r.metrics} for r in results])
        per_file = per_file.sort_values(["seed", "file"], kind="stable").reset_index(drop=True)
        summary = summarise(results, pipeline.seeds)
    except BaseException:
        if logger is not None:
            logger.fail()
        raise
    result = PipelineResult(pipeline, summary, per_file)
    if logger is not None:
        result.run_id, result.run_url = logger.finish(summary, per_file, pipeline.report)
    return result


def summarise(results: list[FileResult], seeds) -> pd.DataFrame:
    """Per seed: pooled counts and rates, mean per-file ranking metrics; then mean and std rows."""
    rows = {}
    for seed in seeds:
        mine = [r for r in results if r.seed == seed]
        row = dict.fromkeys(SUMMARY_KEYS, math.nan)
        row.update(metrics.pooled([r.metrics for r in mine]))
        for key in RANKING_KEYS:
            values = [r.metrics[key] for r in mine if np.isfinite(r.metrics[key])]
            row[key] = float(np.mean(values)) if values else math.nan
        labels = np.concatenate([r.labels for r in mine])
        if 0 < labels.sum() < labels.size:
            row["auc_pr_pooled"] = metrics.auc_pr(labels, np.concatenate([r.scores for r in mine]))
        counted = [r.alerts for r in mine if r.alerts is not None]
        if counted:
            total = sum(counted[1:], counted[0]).to_dict()
            row.update({key: float(total[key]) for key in ALERT_KEYS})
        row["fit_seconds"] = float(np.mean([r.metrics["fit_seconds"] for r in mine]))
        rows[seed] = row
    table = pd.DataFrame.from_dict(rows, orient="index")[list(SUMMARY_KEYS)].astype(np.float64)
    table.loc["mean"] = table.loc[list(seeds)].mean()
    table.loc["std"] = table.loc[list(seeds)].std(ddof=1) if len(seeds) > 1 else math.nan
    table.index.name = "seed"
    return table


def _results(pipeline: Pipeline):
    """FileResults as they are done, fitted in `pipeline.jobs` processes."""
    if pipeline.train_rows is not None:
        jobs = [(pipeline, seed, (path,)) for seed in pipeline.seeds for path in pipeline.files]
    else:
        jobs = [(pipeline, seed, pipeline.files) for seed in pipeline.seeds]
    if pipeline.jobs == 1 or len(jobs) == 1:
        _warm_up()
        for job in jobs:
            yield from _run_job(job)
        return
    # Worker processes of one thread each (seqae.workers), so `jobs` processes use `jobs` cores.
    with worker_pool(min(pipeline.jobs, len(jobs)), preload=(__name__,), setup=_warm_up) as pool:
        for done in pool.map(_run_job, jobs):
            yield from done


def _warm_up() -> None:
    """Pay torch's one-off start-up cost in a process (seconds) before any fit is timed."""
    import torch

    lstm = torch.nn.LSTM(2, 4, batch_first=True)
    lstm(torch.zeros(2, 3, 2))[0].sum().backward()


def _run_job(job) -> list[FileResult]:
    pipeline, seed, paths = job
    if pipeline.train_rows is not None:
        path = paths[0]
        frame, labels = read_data_file(pipeline, path)
        n_train = pipeline.train_rows
        if len(frame) <= n_train:
            raise DataError(f"{path}: has {len(frame)} rows, not more than [protocol] train_rows = "
                            f"{n_train}; nothing would be left to score")
        detector, fit_seconds = _fit(pipeline, seed, frame.iloc[:n_train], path)
        extra = {"n_train_rows": n_train, "n_train_labelled_anomalous": int(labels[:n_train].sum()),
                 "n_time_gaps": len(time_gaps(frame.index))}
        return [_score(pipeline, seed, detector, fit_seconds, path, frame.iloc[n_train:],
                       labels[n_train:], extra)]
    frame, _ = read_data_file(pipeline, pipeline.train_file, labels=False)
    detector, fit_seconds = _fit(pipeline, seed, frame, pipeline.train_file)
    out = []
    for path in paths:
        test, labels = read_data_file(pipeline, path)
        out.append(_score(pipeline, seed, detector, fit_seconds, path, test, labels,
                          {"n_train_rows": len(frame), "n_train_labelled_anomalous": 0,
                           "n_time_gaps": len(time_gaps(test.index))}))
    return out


def read_data_file(pipeline: Pipeline, path: Path, labels: bool = True):
    """A data file read as the pipeline says: (sensor frame, 0/1 labels as an array, or None).

    With `labels=False` (the train_file), label columns the file lacks are not asked for.
    """
    label_columns = (pipeline.label_column, *pipeline.ignore_columns)
    if not labels:
        header = read_header(path, pipeline.read.sep) or []
        label_columns = tuple(c for c in label_columns if c in header)
    with warnings.catch_warnings():
        # A gap in the timestamps is counted per file (n_time_gaps), not printed once per file and seed.
        warnings.simplefilter("ignore", DataWarning)
        frame, label_frame = read_sensor_csv(path, pipeline.read, columns=pipeline.columns,
                                             label_columns=label_columns, return_labels=True)
    values = label_frame[pipeline.label_column].to_numpy() if labels else None
    return frame, values


def _fit(pipeline: Pipeline, seed: int, frame: pd.DataFrame, path: Path):
    detector = pipeline.detector(seed)
    started = time.perf_counter()
    with about_file(path):
        detector.fit(frame)
    return detector, time.perf_counter() - started


def _score(pipeline, seed, detector, fit_seconds, path, frame, labels, extra) -> FileResult:
    started = time.perf_counter()
    with about_file(path):
        detection = detector.detect(frame, ranking=True)
    score_seconds = time.perf_counter() - started
    alerts = detector.find_alerts(detection)
    values = metrics.evaluate_decisions(labels, detection.ranking_scores, detection.scores, detection.flags,
                                        alerts.spans(), alerts.fired_rows(), index=frame.index)
    counts = metrics.alert_counts(labels, alerts.spans(), fired_at=alerts.fired_rows(), index=frame.index)
    values.update(extra)
    values.update({"n_test_rows": len(frame), "n_test_labelled_anomalous": int(labels.sum()),
                   "threshold": float(detector.threshold_.value_), "fit_seconds": fit_seconds,
                   "score_seconds": score_seconds})
    return FileResult(pipeline.file_label(path), seed, values, detection.ranking_scores, labels, counts)
