"""The options several seqae commands share, and the names of their choices.

Kept apart from the commands (`seqae.cli`) so that each module has one job; like the commands, nothing
here imports torch or MLflow until an option's value is converted.
"""

from __future__ import annotations

import csv
import functools
import json

import click

from seqae.errors import ConfigError

INPUT_FILE = click.Path(exists=True, dir_okay=False, readable=True)
OUTPUT_FILE = click.Path(dir_okay=False, writable=True)
# The names of the choices, so that --help and a mistyped option answer without importing torch,
# pandas or MLflow (tests/cli/test_cli.py checks them against seqae.tracking, seqae.detectors and seqae.data).
DEFAULT_EXPERIMENT = "seqae"  # tracking.DEFAULT_EXPERIMENT
MODEL_TYPES = ("lstm-ae", "lstm-vae", "dense-ae", "conv-ae", "pca", "deviation", "iforest", "knn-window",
               "lstm-forecast", "ensemble")  # detectors.DETECTORS
FILL_POLICIES = ("error", "ffill", "interpolate")  # data.FILL_POLICIES
TIME_UNITS = ("s", "ms", "us", "ns", "step")  # data.TIME_UNITS
DUPLICATE_POLICIES = ("error", "first", "last", "mean")  # data.DUPLICATE_POLICIES
DEVICES = ("auto", "cpu", "cuda")  # devices.DEVICES


class ThresholdType(click.ParamType):
    name = "KIND[:NAME=VALUE,...]"

    def convert(self, value, param, ctx):
        from seqae.threshold_registry import parse_threshold

        try:
            return parse_threshold(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


def parse_params(ctx, param, values) -> dict:
    """`--param NAME=VALUE` pairs; VALUE is read as JSON (numbers, true/false) or else as text."""
    params = {}
    for item in values:
        name, equals, text = item.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE (e.g. --param beta=0.5)", ctx, param)
        try:
            params[name.strip().replace("-", "_")] = json.loads(text)
        except json.JSONDecodeError:
            params[name.strip().replace("-", "_")] = text
    return params


def split_columns(ctx, param, value):
    """`--columns A,B,...` as a CSV row: a name with a comma in it is quoted (`'"Pressure, inlet",Flow'`)."""
    if value is None:
        return None
    if value.count('"') % 2:
        raise click.BadParameter(f"{value!r} has a quote that is not closed; quote a name with a comma in it "
                                 "whole: '\"Pressure, inlet\",Flow'", ctx, param)
    columns = [c.strip() for c in next(csv.reader([value], skipinitialspace=True), []) if c.strip()]
    if not columns:
        raise click.BadParameter("give at least one column name, comma-separated", ctx, param)
    return columns


def separator(ctx, param, value):
    return "\t" if value in ("tab", "\\t") else value


READ_OPTION_NAMES = ("time_column", "sep", "decimal", "time_unit", "timezone", "dayfirst", "fill", "skip_rows", "sort",
                     "duplicates", "resample")


def split_seeds(ctx, param, value):
    """`--seeds 0,1,2`: whole numbers, at least one."""
    if value is None:
        return None
    try:
        seeds = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of whole numbers (e.g. 0,1,2)",
                                 ctx, param) from None
    if not seeds:
        raise click.BadParameter("give at least one seed (e.g. 0,1,2)", ctx, param)
    return seeds


def read_options(command):
    """How a sensor CSV is written: --time-column, --sep, --decimal, --time-unit, --timezone,
    --dayfirst, --fill, --skip-rows, --sort, --duplicates, --resample, handed to the command as one
    `read` argument (a `ReadOptions`)."""

    @functools.wraps(command)
    def with_read_options(*args, **kwargs):
        from seqae.data import ReadOptions

        given = {name: kwargs.pop(name) for name in READ_OPTION_NAMES}
        return command(*args, read=ReadOptions(**{k: v for k, v in given.items() if v is not None}), **kwargs)

    options = [
        click.option("--time-column", metavar="NAME[,NAME]",
                     help="The timestamp column, or a date and a time-of-day column (date,time); found by name "
                          "(timestamp, datetime, time, date and time, ...) if not given."),
        click.option("--sep", callback=separator, metavar="SEP",
                     help="Column separator (',' ';' or 'tab'); sniffed from the header if not given."),
        click.option("--decimal", type=click.Choice([".", ","]),
                     help="Decimal mark of the readings; ',' is detected when the separator is not ',' and "
                          "readings look like 0,0063."),
        click.option("--time-unit", type=click.Choice(TIME_UNITS),
                     help="Numbers in the time column: epoch s, ms, us or ns since 1970 (UTC), or step (kept "
                          "as numbers); told apart by their size if not given."),
        click.option("--timezone", metavar="ZONE",
                     help="The zone of local times written without a UTC offset (e.g. Europe/Berlin); they "
                          "are read as instants and written in UTC, the hour the clocks go back over read in "
                          "file order (first pass summer time)."),
        click.option("--dayfirst/--no-dayfirst", default=None,
                     help="Dates like 01/03/2026 are day-first (1 March) or month-first; decided from the "
                          "dates if not given (01.03.2026 is day-first)."),
        click.option("--fill", type=click.Choice(FILL_POLICIES), default="error", show_default=True,
                     help="Missing or infinite readings: stop with an error, carry the last "
                          "reading forward (ffill) or interpolate (linear in time)."),
        click.option("--skip-rows", type=click.IntRange(0), metavar="N",
                     help="Rows under the header that hold no readings (units, descriptions); a units row is "
                          "found and skipped with a warning if not given."),
        click.option("--sort", is_flag=True, default=None,
                     help="Sort the rows by time in memory (fit, score, evaluate; the file must fit in memory); "
                          "without it a row earlier than the row above it is an error."),
        click.option("--duplicates", type=click.Choice(DUPLICATE_POLICIES), default="error", show_default=True,
                     help="Rows that repeat a time: stop with an error, or keep the first row, the last, or "
                          "their mean."),
        click.option("--resample", metavar="RULE",
                     help="Put the rows on a regular grid (e.g. 1min, 15s; a number for a time column of "
                          "numbers): each grid time the mean of the readings within half a step of it, or "
                          "interpolated in time between the readings around it."),
    ]
    for option in reversed(options):
        with_read_options = option(with_read_options)
    return with_read_options


def device_option(command):
    """--device auto|cpu|cuda, handed to the command as `device` (checked: cuda where torch sees no
    GPU is a one-line error before any work)."""

    def check(ctx, param, value):
        from seqae.devices import resolve_device

        resolve_device(value)  # a ConfigError, one line, exit 2
        return value

    return click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True, callback=check,
                        help="Where networks train and score: auto (a CUDA GPU when torch sees one, else the CPU), "
                             "cpu or cuda. Scores on a GPU agree with the CPU's within the tolerance "
                             "docs/benchmarks.md states.")(command)


def follow_alias_options(answers: str, kept: str = ""):
    """--follow-alias/--no-follow-alias and --check-every for a command that answers `answers`
    ("request", "row") with a model that may be models:/NAME@ALIAS; `kept`: what the switch keeps."""

    def decorate(command):
        command = click.option("--check-every", type=click.FloatRange(0.1), default=30.0, show_default=True,
                               metavar="SECONDS",
                               help="With --follow-alias: how often to ask the registry where the alias points.")(command)
        return click.option("--follow-alias/--no-follow-alias", default=True, show_default=True,
                            help=f"For models:/NAME@ALIAS: when the alias moves to another version, load it and "
                                 f"answer with it from the next {answers} on{kept}; no effect on any other "
                                 "model.")(command)

    return decorate


def experiment_option(command):
    """--experiment for a command that logs runs."""
    return click.option("--experiment", default=DEFAULT_EXPERIMENT, show_default=True,
                        help="MLflow experiment to log to.")(command)


def shown_experiment_option(command):
    """--experiment for a command that only reads runs (`seqae ui`, `seqae runs`)."""
    return click.option("--experiment", default=DEFAULT_EXPERIMENT, show_default=True,
                        help="MLflow experiment whose runs are shown.")(command)


def server_options(default_port: int):
    """--host and --port of a command that starts a server (`seqae serve`, `seqae ui`)."""

    def add(command):
        command = click.option("--port", type=click.IntRange(1, 65535), default=default_port, show_default=True,
                               help="Port to listen on.")(command)
        return click.option("--host", default="127.0.0.1", show_default=True,
                            help="Interface to listen on.")(command)

    return add


# --epochs of `seqae fit` and `seqae demo`: one description for both.
EPOCHS_HELP = ("Maximum passes over the training windows; training stops sooner when the validation "
               "loss stops improving.")

# Each kind of threshold with an example (tests/test_docs.py checks them against seqae.threshold_registry.THRESHOLDS).
THRESHOLD_HELP = ("How scores become flags, fitted on held-out normal scores: quantile:q=0.99 (default), "
                  "ucl:q=0.99,factor=1.5, far:target=0.005, pot:risk=1e-4, fixed:value=3, or an alert budget, "
                  "alerts:per_day=1 or alerts:per_1000_rows=1 (the threshold that raises that many alerts on the "
                  "held-out normal rows).")
