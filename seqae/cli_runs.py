"""The runs and what serves them: `seqae serve`, `seqae ui`, `seqae runs`, `seqae run` (a pipeline
file) and `seqae demo`, thin click commands over `seqae.serving`, `seqae.tracking`, `seqae.pipeline`
and `seqae.demo`, registered on the `seqae` group by `seqae.cli`. Like `seqae.cli`, nothing here
imports torch, pandas or MLflow until a command runs.
"""

from __future__ import annotations

import click

from seqae.cli_commands import CleanExitCommand, SeqaeCommand, quiet_tracking
from seqae.cli_options import (EPOCHS_HELP, INPUT_FILE, device_option, experiment_option, follow_alias_options,
                                 server_options, shown_experiment_option, split_seeds)


@click.command(cls=SeqaeCommand)
@click.argument("model_uri", metavar="MODEL_URI")
@server_options(default_port=5001)
@click.option("--workers", "-w", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Server processes, each with its own copy of the model: more requests at once.")
@click.option("--max-request-mb", type=click.IntRange(min=1), default=64, show_default=True,
              help="Largest request body in MB; a larger one is refused (413) without being held in memory. "
                   "The default holds a day of 1-second readings (86,400 rows) of SKAB's 8 sensors 2.7 times "
                   "over: 24 MB as dataframe_records, 13 MB as dataframe_split.")
@follow_alias_options("request", " (each answer names its version in the X-Seqae-Model-Version header)")
@device_option
def serve(model_uri, host, port, workers, max_request_mb, follow_alias, check_every, device):
    """Serve a model over REST with MLflow's scoring server.

    POST /invocations with {"dataframe_split": {"columns": [...], "data": [[...], ...]}} (or
    dataframe_records), rows in time order, at least one window of them; add "params":
    {"threshold": 2.5} to override the threshold. GET /ping answers when the model is loaded.
    A request the server cannot use gets a 4xx with a one-line JSON reason.
    """
    quiet_tracking()
    from seqae import serving

    serving.serve_model(model_uri, host=host, port=port, workers=workers, device=device,
                        max_request_mb=max_request_mb, follow_alias=follow_alias, check_every=check_every,
                        announce=click.echo)


@click.command(cls=click.Command)
@server_options(default_port=5000)
@shown_experiment_option
def ui(host, port, experiment):
    """Start the MLflow UI on seqae's store and print the URL of the experiment's runs; Ctrl-C stops it."""
    quiet_tracking()
    from seqae import serving

    serving.run_ui(host=host, port=port, experiment=experiment,
                   announce=lambda url: click.echo(f"MLflow UI: {url}  (Ctrl-C to stop)"))


@click.command(cls=CleanExitCommand)
@shown_experiment_option
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True, help="How many runs.")
@click.option("--wide", is_flag=True, help="Every column, whole run ids and names, and the child runs (auto's "
                                           "candidates, a fleet's machines) under their parent.")
def runs(experiment, limit, wide):
    """List the latest runs: id, name, status, model URI, key parameters and metrics."""
    tracking = quiet_tracking()
    table = tracking.runs_table(experiment, limit=limit)
    if table.empty:
        click.echo(f"no runs in experiment {experiment!r} yet; make one with `seqae demo` or `seqae fit`")
        return
    click.echo(tracking.format_runs(table, width=RUNS_WIDTH, wide=wide))


RUNS_WIDTH = 120  # the columns `seqae runs` fits its table to (without --wide)


@click.command(cls=SeqaeCommand)
@click.argument("pipeline_file", metavar="PIPELINE.toml", type=INPUT_FILE)
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False), metavar="DIR",
              help="The folder of the data files; replaces the pipeline's [data] directory.")
@click.option("--seeds", callback=split_seeds, metavar="0,1,2", help="Replace the pipeline's [run] seeds.")
@click.option("--experiment", help="MLflow experiment to log to; replaces the pipeline's [run] experiment.")
@click.option("--quiet", "-q", is_flag=True, help="No line per fitted file; print only the table.")
def run(pipeline_file, data_dir, seeds, experiment, quiet):
    """Run a pipeline file (pipelines/*.toml) end to end, logged to MLflow.

    Fits, scores and evaluates every file of the pipeline for each seed, pools the metrics over the
    files, and prints their mean and standard deviation over the seeds; one MLflow parent run with
    a child run per file and seed.
    """
    from seqae.pipeline import run_pipeline

    quiet_tracking()
    result = run_pipeline(pipeline_file, data_dir=data_dir, seeds=seeds, experiment=experiment, quiet=quiet)
    table = result.table()
    click.echo(table.T.to_string(header=False) if len(table.columns) > 4 else table.to_string())
    click.echo(f"mean ± std over seeds {', '.join(map(str, result.pipeline.seeds))}; "
               f"{len(result.pipeline.files)} files; run {result.run_id}: {result.run_url}")


@click.command(cls=SeqaeCommand)
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
    quiet_tracking()
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
    base, found, own = result.baseline, result.baseline_injected, result.injected
    missed = ", ".join(found.loc[~found["detected"], "kind"]) or "none"
    click.echo(f"\nWhat the network adds: the deviation baseline (each reading's distance from its sensor's "
               f"usual level, nothing learned) gets AUC-PR {base['auc_pr']:.3f}, F1 {base['f1']:.3f} on the same "
               f"rows, against the LSTM autoencoder's {evaluation.metrics['auc_pr']:.3f} and "
               f"{evaluation.metrics['f1']:.3f}.\nThe baseline's alerts cover {int(found['detected'].sum())} of "
               f"{len(found)} injected anomalies (missed: {missed}), the LSTM autoencoder's "
               f"{int(own['detected'].sum())}. On your own data, fit `--model deviation` too and compare.")
    click.echo(f"\nSee the run (losses, plots, model): seqae ui, then open {fit_result.run_url}")
    click.echo(f"Serve the model: seqae serve {fit_result.model_uri}")


COMMANDS = [serve, ui, runs, run, demo]
