"""Scoring with a fitted model: `seqae score`, `seqae watch` and `seqae evaluate`, thin click
commands over `seqae.tracking` (`score_model_csv`, `watch_model`, `evaluate_and_log`), registered on
the `seqae` group by `seqae.cli`. Like `seqae.cli`, nothing here imports torch, pandas or MLflow
until a command runs.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from seqae.cli_commands import SeqaeCommand, quiet_tracking
from seqae.cli_options import (INPUT_FILE, OUTPUT_FILE, device_option, experiment_option, follow_alias_options,
                                 read_options)


@click.command(cls=SeqaeCommand)
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
@click.option("--no-track", is_flag=True,
              help="Keep no scoring run: by default, a model logged in MLflow that raised alerts keeps their table "
                   "and rows in a small run beside its own, where `seqae feedback` finds them.")
@read_options
@device_option
def score(model_uri, data, output, intervals, reconstruction, precision, retrospective, causal, no_track, read,
          device):
    """Score DATA.csv with a fitted model; write one row per time point.

    MODEL_URI: runs:/<run_id>/model, models:/<name>@<alias>, models:/m-<id>, a downloaded MLflow
    model directory, or a directory saved with BaseDetector.save. A fleet model (seqae fit
    --asset-column) scores each machine's rows with its own detector and writes the machine column
    beside the time, machine after machine. DATA.csv is read and scored in
    chunks of rows (which must be in time order), so a file of any length fits in memory; the
    scores equal those of the whole file scored at once. The outputs are written whole or not at all.
    Times with a UTC offset, epoch times and times read with --timezone are written in UTC.
    """
    loaded, result = quiet_tracking().score_model_csv(
        model_uri, data, output, intervals_path=intervals, reconstruction_path=reconstruction, options=read,
        precision=precision, ranking=retrospective, device=device)
    written = ", ".join(path for path in (output, intervals, reconstruction) if path)
    if "assets" in result:  # a fleet: each machine's rows scored by its own detector
        click.echo(f"Scored {result['rows']} rows of {result['assets']} {loaded.detector.asset_column}s: "
                   f"{result['anomalies']} flagged, {result['alerts']} alerts -> {written}")
        return
    click.echo(f"Scored {result['rows']} rows: {result['anomalies']} flagged, {result['alerts']} alerts "
               f"(score 1.0 = the threshold, {loaded.detector.threshold_.value_:.4g} raw at the start) -> {written}")
    if not no_track and result["alerts"] and loaded.run_id:  # for `seqae feedback` on these alerts
        from seqae.tracking.scoring_runs import log_scored_alerts

        run_id = log_scored_alerts(loaded, data, result["alert_table"], options=read,
                                   followed_levels=result.get("followed_levels"))
        click.echo(f"alerts kept for feedback in run {run_id}")


@click.command(cls=SeqaeCommand)
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
@follow_alias_options("row", " (each row answered once, open alerts kept)")
@read_options
@experiment_option
@device_option
def watch(model_uri, data, fmt, from_start, strict, state_path, state_every, report_every, no_track, follow_alias,
          check_every, read, experiment, device):
    """Score a live feed row by row: CSV lines from stdin (- or no CSV) or from a file that keeps growing.

    The first line is the header; each row is answered at once on stdout (flushed) with its score
    (equal to `seqae score`'s), its flag, and an alert event when the model's alert rules
    open or close an alert. Malformed rows are reported on stderr with their line number and skipped.
    SIGINT/SIGTERM end the watch cleanly. Each watch is an MLflow run beside the model's run.
    A watch of models:/NAME@ALIAS switches to the version the alias moves to between two rows,
    says so on stderr ("model NAME version 1 -> 2 at row R") and names the version on each row.
    """
    summary, monitoring_run = quiet_tracking().watch_model(
        model_uri, data, sys.stdout, fmt=fmt, from_start=from_start, strict=strict, state_path=state_path,
        state_every=state_every, report_every=report_every, track=not no_track, options=read,
        experiment=experiment, device=device, follow_alias=follow_alias, check_every=check_every,
        warn=functools.partial(click.echo, err=True))
    click.echo(f"watch: {summary.rows} rows scored, {summary.skipped} skipped, {summary.opened} alerts opened, "
               f"{summary.closed} closed ({summary.stopped_by})"
               + (f"; monitoring run {monitoring_run}" if monitoring_run is not None else ""), err=True)


@click.command(cls=SeqaeCommand)
@click.argument("model_uri", metavar="MODEL_URI")
@click.argument("data", type=INPUT_FILE)
@click.option("--label-column", metavar="NAME", help="The 0/1 column: 1 = anomalous row.")
@click.option("--labels-from-verdicts", is_flag=True,
              help="Instead of a label column: the operators' verdicts on the registered model's versions "
                   "(`seqae feedback`): a fault's rows are anomalous, every other row normal.")
@read_options
@experiment_option
@click.option("--run-name", help="Name of the new run, when the model has no run in this store.")
def evaluate(model_uri, data, label_column, labels_from_verdicts, read, experiment, run_name):
    """Score labelled DATA.csv and log its metrics to the model's MLflow run.

    Prints precision, recall, F1, false-alarm rate, AUC-PR, VUS-PR, event F1, detection delay and
    the alert metrics, and logs them to the model's run (a new run in --experiment if the model has
    none in this store). A fleet model (seqae fit --asset-column) evaluates each machine's rows
    (DATA.csv has the same machine column) with its own detector: a line per machine, then the
    figures pooled over the machines (rows and alerts of all counted together; the rankings their
    mean), logged with the per-machine table. A machine the fleet has no detector for is an error
    naming it, unless the fleet has a shared detector for such machines (seqae fit --fallback shared).
    With --labels-from-verdicts, the labels are the verdicts given on the registered model's
    versions (`seqae feedback`): the rows of each fault 1, every other row 0 (a warning says how
    many rows no verdict covered).
    """
    if (label_column is None) == (not labels_from_verdicts):
        raise click.UsageError("give the labels one way: --label-column NAME or --labels-from-verdicts")
    tracking = quiet_tracking()
    result = tracking.evaluate_and_log(model_uri, data, label_column=label_column,
                                       labels_from_verdicts=labels_from_verdicts, options=read,
                                       experiment=experiment, run_name=run_name)
    for note in getattr(result, "notes", []):
        click.echo(f"Warning: {note}", err=True)
    from seqae.metrics import MEAN_KEYS
    from seqae.metrics.report import format_metrics, format_per_asset

    where = ("a new run " if result.new_run else "the model's run ") + result.run_id
    if isinstance(result, tracking.FleetEvaluationResult):
        column, n_assets = result.asset_column, len(result.per_asset)
        click.echo(f"Per {column} (ranking, retrospective | live decisions, as `seqae watch` makes them):")
        click.echo(format_per_asset(result.per_asset, column))
        click.echo(f"\nPooled over {n_assets} {column}s (their rows, anomalies and alerts counted together; "
                   f"rankings: the mean over {column}s):")
        click.echo(format_metrics(result.metrics, means=MEAN_KEYS))
        where += f" with the per-{column} table evaluation/{Path(data).stem}/per_{column}.csv"
    else:
        click.echo(format_metrics(result.metrics))
    click.echo(f"logged to {where}; view: {tracking.how_to_view(result.run_url)}")


COMMANDS = [score, watch, evaluate]
