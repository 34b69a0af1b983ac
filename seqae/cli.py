"""The seqae command line: the `seqae` group, its error handling, and its commands registered from
the modules that hold them (`cli_fit`, `cli_scoring`, `cli_latent`, `cli_runs`), thin click commands
over `seqae.tracking`, `seqae.serving`, `seqae.pipeline` and `seqae.demo`.

    seqae demo                                  generated sensors -> fit, score, evaluate, in MLflow
    seqae fit DATA.csv [--model lstm-ae] ...    fit a detector; every fit is an MLflow run
    seqae fit A.csv B.csv ... | DIR             one detector on several recordings
    seqae fit FLEET.csv --asset-column machine  one detector per machine, one model
    seqae score MODEL DATA.csv -o scores.csv    decisions per time point, as live (+ --intervals)
    seqae watch MODEL [CSV|-]                   score a live feed row by row, alerts as they open and close
    seqae evaluate MODEL DATA.csv --label-column anomaly
    seqae feedback MODEL --alert ID --normal    an operator's verdict learnt: the next version (cli_feedback.py)
    seqae encode|decode|sample MODEL ...        an autoencoder's latent space as CSV files (cli_latent.py)
    seqae serve MODEL [--port 5001]             MLflow's REST scoring server for the model
    seqae ui [--port 5000]                      the MLflow UI on seqae's store
    seqae runs [--experiment seqae]             the latest runs as a table
    seqae run PIPELINE.toml [--data-dir DIR]    a pipeline file end to end (pipelines/), in MLflow

Errors seqae raises on purpose become one line and a non-zero exit code: 2 for an option or
parameter it cannot use (`ConfigError`), 1 for data it cannot use (`DataError`) and the rest, 128 +
the signal's number for a SIGTERM that stopped a command's worker processes (`Stopped`); a bug
keeps its traceback. `seqae.tracking` (and with it MLflow) is imported by the commands that need
it, so that `seqae --help` answers quickly.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
import warnings

import click

import seqae
from seqae.errors import ConfigError, SeqaeError, Stopped, hide_credentials, shown, storage_error

from seqae.cli_commands import SeqaeCommand
from seqae.cli_feedback import feedback as FEEDBACK_COMMAND
from seqae.cli_fit import COMMANDS as FIT_COMMANDS
from seqae.cli_latent import COMMANDS as LATENT_COMMANDS
from seqae.cli_runs import COMMANDS as RUNS_COMMANDS
from seqae.cli_scoring import COMMANDS as SCORING_COMMANDS


class UsageFailure(click.ClickException):
    """A one-line error for an option or parameter value seqae cannot use (exit code 2)."""

    exit_code = 2


class StoppedBySignal(click.ClickException):
    """A command a signal stopped (`seqae.errors.Stopped`): one line, exit code 128 + the signal."""

    def __init__(self, stopped: Stopped):
        super().__init__(str(stopped))
        self.exit_code = 128 + stopped.signum


class SeqaeGroup(click.Group):
    """Runs a command; turns seqae's errors into one-line messages and warnings into one line each."""

    command_class = SeqaeCommand  # for a command made with @cli.command; the modules name their own class

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.showwarning = _echo_warning
            # A library's deprecation notices are for its developers, not for someone fitting a model.
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.filterwarnings("ignore", category=category)
            try:
                return super().invoke(ctx)
            except ConfigError as exc:
                raise UsageFailure(shown(exc)) from None
            except SeqaeError as exc:
                raise click.ClickException(shown(exc)) from None
            except Stopped as exc:
                raise StoppedBySignal(exc) from None
            except Exception as exc:
                failure = _disk_failure(exc)
                if failure is None:
                    raise
                raise click.ClickException(shown(failure)) from None


def _disk_failure(exc: Exception):
    """A full (over-quota, failing) disk as one line (None for any other exception): the store's
    reading of it where the command has loaded `seqae.tracking`."""
    store = sys.modules.get("seqae.tracking.store")
    return store.storage_failure(exc) if store else storage_error(exc, getattr(exc, "filename", None) or os.getcwd())


def _echo_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {shown(message)}", err=True)


def _report_bug(kind, value, trace):
    """A bug keeps its traceback, without the tracking password a URI in it may hold."""
    sys.stderr.write(hide_credentials("".join(traceback.format_exception(kind, value, trace))))


@click.group(cls=SeqaeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(seqae.__version__, "-V", "--version", prog_name="seqae")
@click.option("--threads", type=click.IntRange(1, 1024), default=1, show_default=True, envvar="SEQAE_THREADS",
              help="torch threads for fitting and scoring (env SEQAE_THREADS). seqae's LSTMs are small: one "
                   "thread is the fastest with seqae's passive OpenMP waiting; on idle cores, more threads "
                   "pay off with OMP_WAIT_POLICY=ACTIVE (see benchmarks/README.md).")
def cli(threads):
    """seqae: anomaly detection for multi-sensor time series, tracked in MLflow.

    `seqae fit` chooses a window from the data and fits the default (the nearest-normal-window
    distance, the level baseline for several sensors and an LSTM autoencoder, their scores
    averaged), or fits the one --model names: LSTM autoencoders and forecasters, PCA and others.

    Every fit is an MLflow run (stored in ./mlruns/, or at MLFLOW_TRACKING_URI when it is set);
    every model can be scored from the command line, served over REST and reviewed in the MLflow UI.
    Start with `seqae demo`.
    """
    # --threads is applied by each command that runs torch (SeqaeCommand), after its arguments parse.


def main():
    sys.excepthook = _report_bug
    try:
        cli(prog_name="seqae")
    finally:
        # The command is done; the interpreter's exit would now run its last garbage collections over
        # every object torch, pandas, MLflow and SQLAlchemy made, 1.4 s after a fit on two cores
        # (benchmarks/README.md, "The command line"). Frozen objects are not collected again; what
        # exit must do still runs (atexit: MLflow's runs ended, temporary folders removed).
        gc.freeze()


for command in FIT_COMMANDS:  # fit
    cli.add_command(command)
for command in SCORING_COMMANDS:  # score, watch, evaluate
    cli.add_command(command)
for command in LATENT_COMMANDS:  # encode, decode, sample
    cli.add_command(command)
for command in RUNS_COMMANDS:  # serve, ui, runs, run, demo
    cli.add_command(command)
cli.add_command(FEEDBACK_COMMAND)
