"""A pipeline file from `pipelines/` read and checked: `load_pipeline` gives the `Pipeline` that
`seqae.pipeline.run_pipeline` runs.

A pipeline is a TOML file with six sections (every key is checked; an unknown one is an error):

    [data]       directory, files (glob patterns under it), sep, time_column, columns,
                 label_column (the 0/1 truth), ignore_columns (never sensors, e.g. SKAB's
                 `changepoint`), fill, and how the files are written: decimal, time_unit,
                 timezone, dayfirst (`data.ReadOptions`, the CLI's read options)
    [protocol]   train_rows = N (fit on the first N rows of each file, score the rest) or
                 train_file = "path" (fit once on that file, score every file whole)
    [model]      type = a model type of `seqae.detectors.DETECTORS` ("lstm-ae", "pca", ...), and the
                 detector's keyword arguments (window_size = 32, ...)
    [threshold]  spec = "ucl:q=0.99,factor=1.5" (see `threshold_registry.parse_threshold`),
                 on = "validation" | "all" (which training rows the threshold is fitted on)
    [run]        seeds = [0, 1, 2], experiment = "name", jobs = 2 (files fitted in parallel)
    [metrics]    report = ["auc_pr", "f1", ...] (the columns of the summary table)

Relative paths in the file are relative to the pipeline file's own folder; `data_dir` (the CLI's
`--data-dir`) replaces `[data] directory`.
"""

from __future__ import annotations

import glob
import sys
from dataclasses import dataclass
from pathlib import Path

from seqae import metrics
from seqae.data import FILL_POLICIES, ReadOptions
from seqae.detectors import DETECTORS, THRESHOLD_SOURCES, make_detector
from seqae.errors import ConfigError
from seqae.params import Satisfies, check_params
from seqae.threshold_registry import parse_threshold

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


