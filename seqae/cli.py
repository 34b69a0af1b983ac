"""The seqae command line: thin click commands over `seqae.tracking` and `seqae.serving`.

    seqae demo                                  generated sensors -> fit, score, evaluate, in MLflow
    seqae fit DATA.csv [--model lstm-ae] ...    fit a detector; every fit is an MLflow run
    seqae fit A.csv B.csv ... | DIR             one detector on several recordings
    seqae fit FLEET.csv --asset-column machine  one detector per machine, one model
    seqae score MODEL DATA.csv -o scores.csv    decisions per time point, as live (+ --intervals)
    seqae watch MODEL [CSV|-]                   score a live feed row by row, alerts as they open and close
    seqae evaluate MODEL DATA.csv --label-column anomaly
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

import functools
import os
import sys
import traceback
import warnings

import click

import seqae
from seqae.errors import ConfigError, SeqaeError, Stopped, hide_credentials, shown, storage_error

from seqae.cli_commands import CleanExitCommand, SeqaeCommand
from seqae.cli_latent import COMMANDS as LATENT_COMMANDS
from seqae.cli_options import (EPOCHS_HELP, INPUT_FILE, MODEL_TYPES, OUTPUT_FILE, THRESHOLD_HELP, ThresholdType,
                                 device_option, experiment_option, parse_params, read_options, server_options,
                                 shown_experiment_option, split_columns)

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

    command_class = SeqaeCommand  # `ui` and `runs`, which run no torch, are plain commands

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
    cli(prog_name="seqae")


def _tracking():
    from seqae import tracking

    tracking.quiet_mlflow()
    return tracking


# ---- fit ---------------------------------------------------------------------------------------------

@cli.command()
@click.argument("data", nargs=-1, required=True, type=click.Path(exists=True, readable=True))
@click.option("--model", "model_type", type=click.Choice(["auto", *MODEL_TYPES]), default="auto", show_default=True,
              help="auto: choose the window and the detector from the data, without labels (docs/benchmarks.md); "
                   "lstm-ae: LSTM seq2seq autoencoder; lstm-vae: LSTM variational autoencoder; "
                   "dense-ae, conv-ae, pca, iforest: baselines; deviation: each reading's distance from its sensor's "
                   "usual level, the baseline with nothing to learn; knn-window: distance to the nearest normal "
                   "window; lstm-forecast: LSTM next-step forecaster; ensemble: the mean of its members' "
                   "normalised scores, knn-window and PCA on windows unless -p members=... names others (auto's "
                   "default is an ensemble of knn-window, deviation and lstm-ae).")
@click.option("--window-size", type=int, help="Rows per window.")
@click.option("--epochs", type=int, help=EPOCHS_HELP)
@click.option("--hidden-size", type=int, help="Hidden units (LSTM) or channels (conv).")
@click.option("--latent-dim", type=int, help="Size of the code a window is encoded to.")
@click.option("--batch-size", type=int, help="Windows per optimiser step.")
@click.option("--learning-rate", type=float, help="Adam's step size.")
@click.option("--noise-std", type=float, help="Denoising: std of the noise added to training inputs.")
@click.option("--seed", type=int, help="Random seed; the same seed gives the same model.")
@click.option("--threshold", type=ThresholdType(), help=THRESHOLD_HELP)
@click.option("--param", "-p", "extra_params", multiple=True, metavar="NAME=VALUE", callback=parse_params,
              help="Any other detector parameter, e.g. -p beta=0.5 -p patience=10 -p validation_fraction=0.25.")
@click.option("--columns", callback=split_columns, metavar="A,B,...",
              help="Sensor columns to use (default: every numeric column but the time and label columns).")
@click.option("--label-column", metavar="NAME", help="A 0/1 label column: never used as a sensor.")
@click.option("--train-rows", type=int, metavar="N", help="Fit on the first N rows only.")
@click.option("--train-until", metavar="TIME", help="Fit on the rows up to this time (inclusive).")
@click.option("--asset-column", metavar="NAME",
              help="A fleet export: the column naming each row's machine (or pump, line...). Fits one detector "
                   "per machine, logged and registered as one model that routes each machine's rows to its own.")
@click.option("--fallback", type=click.Choice(["none", "shared"]), default="none", show_default=True,
              help="With --asset-column: shared also fits one detector on every machine's rows, which scores "
                   "machines the model has not seen (none: they are an error naming them).")
@click.option("--jobs", "-j", type=click.IntRange(1, 1024), metavar="N",
              help="With --asset-column: machines fitted at once, each in its own process with one torch thread "
                   "(default: the CPUs this process may use).")
@read_options
@experiment_option
@click.option("--run-name", help="Name of the MLflow run.")
@click.option("--register", metavar="NAME", help="Register the model under NAME in the model registry.")
@click.option("--alias", help="Alias for the registered version (e.g. champion), so that "
                                "models:/NAME@ALIAS finds it; models:/NAME/latest is always the newest.")
@click.option("--compare", is_flag=True,
              help="With no --model: also fit the other candidates (the default's members alone, PCA, the "
                   "networks) and score each on anomalies injected into the held-out rows; each is a child run. "
                   "The default is kept all the same (docs/benchmarks.md).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or stage lines; print only the model URI.")
@device_option
def fit(data, model_type, window_size, epochs, hidden_size, latent_dim, batch_size, learning_rate, noise_std,
        seed, threshold, extra_params, columns, label_column, train_rows, train_until, asset_column, fallback, jobs,
        read, experiment, run_name, register, alias, compare, quiet, device):
    """Fit a detector on DATA.csv (rows assumed normal) and log it as an MLflow run.

    Several files (or a directory of .csv files) are recordings of the same sensors: one detector
    on all of them, no window across two files, each file's last rows held out, every file a
    dataset of the run. With --asset-column, DATA.csv is a fleet export: one detector per machine.

    The run gets the parameters, the loss per epoch, the threshold and score quantiles, the CSV as
    its training dataset, plots (losses, scores, per-sensor contributions, latent space), the
    effective config and the model, which `seqae score`, `seqae serve` and MLflow can load.
    """
    tracking = _tracking()
    from seqae.data import read_training_files
    from seqae.detectors import DETECTORS, make_detector

    given = {"window_size": window_size, "epochs": epochs, "hidden_size": hidden_size,
             "latent_dim": latent_dim, "batch_size": batch_size, "learning_rate": learning_rate,
             "noise_std": noise_std, "random_state": seed, "threshold": threshold}
    params = {name: value for name, value in given.items() if value is not None}
    params.update(extra_params)
    if model_type == "auto":
        from seqae.autoconfig import AUTO_PARAMS

        one_model = sorted(set(params) - set(AUTO_PARAMS))
        if one_model:
            raise click.BadParameter(f"{one_model[0]} sets a parameter of one model, and --model auto chooses "
                                     "its own; name the model too (e.g. --model lstm-ae)", param_hint="--model")
    if compare and (model_type != "auto" or asset_column is not None):
        raise click.BadParameter("--compare compares auto's candidates on one data set; leave out "
                                 + ("--model" if model_type != "auto" else "--asset-column"), param_hint="--compare")
    fallback = None if fallback == "none" else fallback
    if asset_column is not None:
        from seqae.fleet import fit_fleet_from_files

        fitted = fit_fleet_from_files(data, asset_column, model_type=model_type, params=params, fallback=fallback,
                                      jobs=jobs, columns=columns, label_column=label_column, train_rows=train_rows,
                                      train_until=train_until, options=read, experiment=experiment, run_name=run_name,
                                      register=register, alias=alias)
        _echo_fitted(fitted, fitted.summary(), f"experiment {experiment!r}; a child run per {asset_column}", quiet)
        return
    from seqae.fleet import refuse_fleet_options

    refuse_fleet_options(fallback=fallback, jobs=jobs)
    training = read_training_files(data, columns=columns, label_column=label_column, options=read,
                                   train_rows=train_rows, train_until=train_until)
    if model_type == "auto":
        from seqae.progress import StageLog

        given = {k: v for k, v in params.items() if k not in ("window_size", "random_state", "threshold")}
        result = tracking.fit_auto_and_log(training, random_state=params.get("random_state"),
                                           window_size=params.get("window_size"), threshold=threshold,
                                           given=given, experiment=experiment, run_name=run_name,
                                           register=register, alias=alias, device=device, compare=compare,
                                           verbose=not quiet, progress=StageLog("auto", enabled=not quiet))
    else:
        if "verbose" in DETECTORS[model_type]().get_params():
            params.setdefault("verbose", not quiet)
        if "device" in DETECTORS[model_type]().get_params():
            params.setdefault("device", device)
        result = tracking.fit_and_log(make_detector(model_type, **params), training, experiment=experiment,
                                      run_name=run_name, register=register, alias=alias)
    frame = training.frame
    m = result.metrics
    epochs_note = (f", best epoch {int(m['best_epoch'])} of {int(m['epochs_run'])}" if "best_epoch" in m else "")
    files = f" of {len(training.recordings)} files" if training.recordings else ""
    summary = (f"Fitted {result.detector.model_type} on {len(frame)} rows{files} x {frame.shape[1]} sensors in "
               f"{result.fit_seconds:.1f} s{epochs_note}; threshold {m['threshold']:.4g}")
    if result.auto is not None:
        summary = f"{result.auto.reason}\n{summary}"
    from seqae.data.roles import describe_roles

    roles = result.detector.roles_
    if len(roles) > result.detector.n_features_in_:  # state or constant columns left out of the model
        summary += f"\ncolumns: {describe_roles(roles, list(result.detector.feature_names_in_))}"
    _echo_fitted(result, summary, f"experiment {experiment!r}", quiet)


def _echo_fitted(result, summary: str, where: str, quiet: bool) -> None:
    """What a fit prints: its model URI alone when quiet, else the summary, the run, the model and
    how to score and view it."""
    if quiet:
        click.echo(result.registered_uri or result.model_uri)
        return
    click.echo(summary)
    click.echo(f"run:    {result.run_id}  ({where})")
    click.echo(f"model:  {result.model_uri}")
    if result.registered_uri:
        click.echo(f"        {result.registered_uri}")
    click.echo(f"score:  seqae score {result.registered_uri or result.model_uri} DATA.csv -o scores.csv")
    click.echo(f"view:   {_tracking().how_to_view(result.run_url)}")


# ---- score / evaluate ----------------------------------------------------------------------------------

@cli.command()
@click.argument("model_uri", metavar="MODEL_URI")
@click.argument("data", type=INPUT_FILE)
@click.option("--output", "-o", type=OUTPUT_FILE, required=True,
              help="Scores CSV, one row per time point as a live feed of DATA.csv would decide it: time, score "
                   "(calibrated: 1.0 = the threshold), raw_score, is_anomaly, alert_id, warming_up, "
                   "contribution_<sensor>.")
@click.option("--intervals", type=OUTPUT_FILE,
              help="Alerts CSV, one row per alert: start, end, duration, fired_at (when it would have fired "
                   "live), peak time and score, p-value and severity, top sensors with their shares.")
@click.option("--reconstruction", type=OUTPUT_FILE,
              help="Expected readings CSV: time, then what the model expected each sensor to read, in the "
                   "sensors' units (neural models).")
@click.option("--precision", type=click.Choice(["float32", "bfloat16"]), default="float32", show_default=True,
              help="bfloat16: the network's forward pass in bfloat16, faster on CPUs with native bfloat16 "
                   "(benchmarks/README.md measures it; scores move by a few hundredths of their spread).")
@click.option("--retrospective", is_flag=True,
              help="Add ranking_score: each row scored from the windows covering it, which reach up to "
                   "window_size - 1 rows past it; for ranking rows after the fact (AUC-PR), never for decisions.")
@click.option("--causal", is_flag=True, hidden=True,
              help="Every score is causal: each row from the rows up to it alone, as `seqae watch` has it.")
@read_options
@device_option
def score(model_uri, data, output, intervals, reconstruction, precision, retrospective, causal, read, device):
    """Score DATA.csv with a fitted model; write one row per time point.

    MODEL_URI: runs:/<run_id>/model, models:/<name>@<alias>, models:/m-<id>, a downloaded MLflow
    model directory, or a directory saved with BaseDetector.save. A fleet model (seqae fit
    --asset-column) scores each machine's rows with its own detector and writes the machine column
    beside the time, machine after machine. DATA.csv is read and scored in
    chunks of rows (which must be in time order), so a file of any length fits in memory; the
    scores equal those of the whole file scored at once. The outputs are written whole or not at all.
    Times with a UTC offset, epoch times and times read with --timezone are written in UTC.
    """
    _check_distinct_outputs({"--output": output, "--intervals": intervals, "--reconstruction": reconstruction})
    from seqae.fleet import FleetDetector
    from seqae.streaming import score_csv

    detector = _tracking().load_model(model_uri).detector
    written = ", ".join(path for path in (output, intervals, reconstruction) if path)
    if isinstance(detector, FleetDetector):  # each machine's rows to its own detector
        from seqae.fleet import score_fleet_csv

        result = score_fleet_csv(detector, data, output, intervals_path=intervals, options=read, precision=precision,
                                 reconstruction_path=reconstruction, ranking=retrospective)
        click.echo(f"Scored {result['rows']} rows of {result['assets']} {detector.asset_column}s: "
                   f"{result['anomalies']} flagged, {result['alerts']} alerts -> {written}")
        return
    if "device" in detector.get_params():
        detector.set_params(device=device)
    result = score_csv(detector, data, output, intervals_path=intervals, options=read, precision=precision,
                       reconstruction_path=reconstruction, ranking=retrospective)
    click.echo(f"Scored {result['rows']} rows: {result['anomalies']} flagged, {result['alerts']} alerts "
               f"(score 1.0 = the threshold, {detector.threshold_.value_:.4g} raw at the start) -> {written}")


def _check_distinct_outputs(outputs: dict) -> None:
    """Refuse two options that name the same file (the second would replace the first)."""
    seen = {}
    for option, path in outputs.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise UsageFailure(f"{seen[key][0]} and {option} both name {path}: the second would replace the "
                               f"first; give each output a file of its own")
        seen[key] = (option, path)


@cli.command()
@click.argument("model_uri", metavar="MODEL_URI")
@click.argument("data", metavar="[CSV|-]", required=False, default="-")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True,
              help="json: one object per row (timestamp, line, score, is_anomaly, warming_up, alert); csv: one "
                   "CSV row per row.")
@click.option("--from-start", is_flag=True, help="Follow CSV from its first row (default: from its end, like tail -f).")
@click.option("--strict", is_flag=True, help="Stop at the first malformed row instead of reporting and skipping it.")
@click.option("--state", "state_path", type=OUTPUT_FILE, metavar="FILE",
              help="Keep what a restart needs here, each block of rows added before its answers: a watch started "
                   "with an existing FILE, even after kill -9, goes on after the last row answered, none twice.")
@click.option("--state-every", type=click.IntRange(1), default=1000, show_default=True, metavar="N",
              help="Rewrite the state file whole (synced to the disk) every N rows, and on exit.")
@click.option("--report-every", type=click.IntRange(1), default=1000, show_default=True, metavar="N",
              help="Log monitoring metrics to the MLflow run every N rows.")
@click.option("--no-track", is_flag=True, help="No MLflow monitoring run.")
@read_options
@experiment_option
@device_option
def watch(model_uri, data, fmt, from_start, strict, state_path, state_every, report_every, no_track, read,
          experiment, device):
    """Score a live feed row by row: CSV lines from stdin (- or no CSV) or from a file that keeps growing.

    The first line is the header; each row is answered at once on stdout (flushed) with its score
    (equal to `seqae score`'s), its flag, and an alert event when the model's alert rules
    open or close an alert. Malformed rows are reported on stderr with their line number and skipped.
    SIGINT/SIGTERM end the watch cleanly. Each watch is an MLflow run beside the model's run.
    """
    import sys

    tracking = _tracking()
    from seqae.streaming import feed
    from seqae.streaming.state import resume

    loaded = tracking.load_detector(model_uri)
    if "device" in loaded.detector.get_params():
        loaded.detector.set_params(device=device)
    resumed = resume(state_path, loaded.detector, data, options=read)
    source = feed.LineSource(data, from_start=from_start, offset=resumed.offset, line=resumed.line)
    warn = functools.partial(click.echo, err=True)
    monitor = None if no_track else tracking.MonitoringRun(
        loaded, source=source.name, experiment=experiment, report_every=report_every, warn=warn,
        alert_table=resumed.scorer.alert_table, drift=resumed.scorer.drift)
    status = "FAILED"
    try:
        with feed.StopSignals() as stop:
            summary = feed.watch(resumed.scorer, source, sys.stdout, options=read, fmt=fmt, strict=strict,
                                 state_path=state_path, state_every=state_every, parser_state=resumed.parser,
                                 shaper_state=resumed.shaper, report=monitor, stop=stop, warn=warn)
        status = "FINISHED"
    finally:
        if monitor is not None:
            monitor.close(status)
    click.echo(f"watch: {summary.rows} rows scored, {summary.skipped} skipped, {summary.opened} alerts opened, "
               f"{summary.closed} closed ({summary.stopped_by})"
               + (f"; monitoring run {monitor.run_id}" if monitor is not None else ""), err=True)


@cli.command()
@click.argument("model_uri", metavar="MODEL_URI")
@click.argument("data", type=INPUT_FILE)
@click.option("--label-column", required=True, metavar="NAME", help="The 0/1 column: 1 = anomalous row.")
@read_options
@experiment_option
@click.option("--run-name", help="Name of the new run, when the model has no run in this store.")
def evaluate(model_uri, data, label_column, read, experiment, run_name):
    """Score labelled DATA.csv and log its metrics to the model's MLflow run.

    Prints precision, recall, F1, false-alarm rate, AUC-PR, VUS-PR, event F1, detection delay and
    the alert metrics, and logs them to the model's run (a new run in --experiment if the model has
    none in this store).
    """
    tracking = _tracking()
    result = tracking.evaluate_and_log(model_uri, data, label_column=label_column, options=read,
                                       experiment=experiment, run_name=run_name)
    from seqae.metrics.report import format_metrics

    click.echo(format_metrics(result.metrics))
    where = "a new run" if result.new_run else "the model's run"
    click.echo(f"logged to {where} {result.run_id}; view: {tracking.how_to_view(result.run_url)}")


for command in LATENT_COMMANDS:  # encode, decode, sample
    cli.add_command(command)


# ---- servers --------------------------------------------------------------------------------------------

@cli.command()
@click.argument("model_uri", metavar="MODEL_URI")
@server_options(default_port=5001)
@click.option("--workers", "-w", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Server processes, each with its own copy of the model: more requests at once.")
@click.option("--max-request-mb", type=click.IntRange(min=1), default=64, show_default=True,
              help="Largest request body in MB; a larger one is refused (413) without being held in memory. "
                   "The default holds a day of 1-second readings (86,400 rows) of SKAB's 8 sensors 2.7 times "
                   "over: 24 MB as dataframe_records, 13 MB as dataframe_split.")
@device_option
def serve(model_uri, host, port, workers, max_request_mb, device):
    """Serve a model over REST with MLflow's scoring server.

    POST /invocations with {"dataframe_split": {"columns": [...], "data": [[...], ...]}} (or
    dataframe_records), rows in time order, at least one window of them; add "params":
    {"threshold": 2.5} to override the threshold. GET /ping answers when the model is loaded.
    A request the server cannot use gets a 4xx with a one-line JSON reason.
    """
    _tracking()
    from seqae import serving

    serving.serve_model(model_uri, host=host, port=port, workers=workers, device=device,
                        max_request_mb=max_request_mb, announce=click.echo)


@cli.command(cls=click.Command)
@server_options(default_port=5000)
@shown_experiment_option
def ui(host, port, experiment):
    """Start the MLflow UI on seqae's store and print the URL of the experiment's runs; Ctrl-C stops it."""
    _tracking()
    from seqae import serving

    serving.run_ui(host=host, port=port, experiment=experiment,
                   announce=lambda url: click.echo(f"MLflow UI: {url}  (Ctrl-C to stop)"))


@cli.command(cls=CleanExitCommand)
@shown_experiment_option
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True, help="How many runs.")
@click.option("--wide", is_flag=True, help="Every column, whole run ids and names, and the child runs (auto's "
                                           "candidates, a fleet's machines) under their parent.")
def runs(experiment, limit, wide):
    """List the latest runs: id, name, status, model URI, key parameters and metrics."""
    tracking = _tracking()
    table = tracking.runs_table(experiment, limit=limit)
    if table.empty:
        click.echo(f"no runs in experiment {experiment!r} yet; make one with `seqae demo` or `seqae fit`")
        return
    click.echo(tracking.format_runs(table, width=RUNS_WIDTH, wide=wide))


RUNS_WIDTH = 120  # the columns `seqae runs` fits its table to (without --wide)


# ---- run (pipelines) --------------------------------------------------------------------------------------

def _split_seeds(ctx, param, value):
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


@cli.command()
@click.argument("pipeline_file", metavar="PIPELINE.toml", type=INPUT_FILE)
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="The folder of the data files; replaces the pipeline's [data] directory.")
@click.option("--seeds", callback=_split_seeds, metavar="0,1,2", help="Replace the pipeline's [run] seeds.")
@click.option("--experiment", help="MLflow experiment to log to; replaces the pipeline's [run] experiment.")
@click.option("--quiet", "-q", is_flag=True, help="No line per fitted file; print only the table.")
def run(pipeline_file, data_dir, seeds, experiment, quiet):
    """Run a pipeline file (pipelines/*.toml) end to end, logged to MLflow.

    Fits, scores and evaluates every file of the pipeline for each seed, pools the metrics over the
    files, and prints their mean and standard deviation over the seeds; one MLflow parent run with
    a child run per file and seed.
    """
    from seqae.pipeline import run_pipeline

    _tracking()
    result = run_pipeline(pipeline_file, data_dir=data_dir, seeds=seeds, experiment=experiment, quiet=quiet)
    table = result.table()
    click.echo(table.T.to_string(header=False) if len(table.columns) > 4 else table.to_string())
    click.echo(f"mean ± std over seeds {', '.join(map(str, result.pipeline.seeds))}; "
               f"{len(result.pipeline.files)} files; run {result.run_id}: {result.run_url}")


# ---- demo ------------------------------------------------------------------------------------------------

@cli.command()
@click.option("--out-dir", type=click.Path(file_okay=False), default="seqae-demo", show_default=True,
              help="Where the generated CSV, scores and intervals go.")
@experiment_option
@click.option("--epochs", type=click.IntRange(1, 1000), default=20, show_default=True, help=EPOCHS_HELP)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo(out_dir, experiment, epochs, quiet):
    """Fit, score and evaluate an LSTM autoencoder on generated sensors with known anomalies.

    Generates 4 sensors with 4 injected anomalies, fits an LSTM autoencoder on the normal first
    half, scores and evaluates the second half through the logged model, all in one MLflow run,
    and compares the deviation baseline (nothing learned) on the same rows.
    """
    _tracking()
    from seqae import demo as demo_module

    if not quiet:
        click.echo(f"Generating {demo_module.DEMO_ROWS} rows of {demo_module.DEMO_SENSORS} sensors: the normal first "
                   f"{demo_module.DEMO_TRAIN_ROWS} to {out_dir}/train.csv, the rest, with 4 injected anomalies, to "
                   f"{out_dir}/test.csv; fitting an LSTM autoencoder on train.csv ...")
    result = demo_module.run_demo(out_dir, experiment=experiment, epochs=epochs, verbose=not quiet)
    fit_result, evaluation = result.fit, result.evaluation
    click.echo(f"\nFitted in {fit_result.fit_seconds:.1f} s; run {fit_result.run_id}, model {fit_result.model_uri}")
    click.echo(f"Scores: {result.scores_path}, intervals: {result.intervals_path} "
               f"({result.scores['anomalies']} rows flagged, {result.scores['alerts']} alerts)\n")
    click.echo("Injected anomalies and what the model made of them:")
    click.echo(result.injected.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.2f}"))
    click.echo(f"\nAgainst the known labels of {result.test_path} (rows the model did not see):")
    from seqae.metrics.report import format_metrics

    click.echo(format_metrics(evaluation.metrics))
    base, found = result.baseline, result.baseline_injected
    missed = ", ".join(found.loc[~found["detected"], "kind"]) or "none"
    click.echo(f"\nWhat the network adds: the deviation baseline (each reading's distance from its sensor's "
               f"usual level, nothing learned) gets AUC-PR {base['auc_pr']:.3f}, F1 {base['f1']:.3f} on the same "
               f"rows, against the LSTM autoencoder's {evaluation.metrics['auc_pr']:.3f} and "
               f"{evaluation.metrics['f1']:.3f}.\nIt flags {int(found['detected'].sum())} of {len(found)} injected "
               f"anomalies (missed: {missed}). On your own data, fit `--model deviation` too and compare.")
    click.echo(f"\nSee the run (losses, plots, model): seqae ui, then open {fit_result.run_url}")
    click.echo(f"Serve the model: seqae serve {fit_result.model_uri}")
