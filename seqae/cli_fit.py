"""`seqae fit`: thin click command over `seqae.tracking.fit_files_and_log`, registered on the
`seqae` group by `seqae.cli`. Like `seqae.cli`, nothing here imports torch, pandas or MLflow until
the command runs.
"""

from __future__ import annotations

import click

from seqae.cli_commands import SeqaeCommand, quiet_tracking
from seqae.cli_options import (EPOCHS_HELP, MODEL_TYPES, THRESHOLD_HELP, ThresholdType, device_option,
                                 experiment_option, parse_params, read_options, split_columns)


@click.command(cls=SeqaeCommand)
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
@click.option("--plots", type=click.Choice(["default", "all", "none"]), default="default", show_default=True,
              help="Figures logged with the run: default the loss curves and the scores over time; all also the "
                   "per-sensor contributions, the latent space and the expected readings of the largest alerts; "
                   "none no figure (the quickest fit).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or stage lines; print only the model URI.")
@device_option
def fit(data, model_type, window_size, epochs, hidden_size, latent_dim, batch_size, learning_rate, noise_std,
        seed, threshold, extra_params, columns, label_column, train_rows, train_until, asset_column, fallback, jobs,
        read, experiment, run_name, register, alias, compare, plots, quiet, device):
    """Fit a detector on DATA.csv (rows assumed normal) and log it as an MLflow run.

    Several files (or a directory of .csv files) are recordings of the same sensors: one detector
    on all of them, no window across two files, each file's last rows held out, every file a
    dataset of the run. With --asset-column, DATA.csv is a fleet export: one detector per machine.

    The run gets the parameters, the loss per epoch, the threshold and score quantiles, the CSV as
    its training dataset, plots (losses and scores; with --plots all also per-sensor contributions,
    latent space and expected readings), the effective config and the model, which `seqae score`,
    `seqae serve` and MLflow can load.
    """
    tracking = quiet_tracking()
    given = {"window_size": window_size, "epochs": epochs, "hidden_size": hidden_size,
             "latent_dim": latent_dim, "batch_size": batch_size, "learning_rate": learning_rate,
             "noise_std": noise_std, "random_state": seed, "threshold": threshold}
    params = {name: value for name, value in given.items() if value is not None}
    params.update(extra_params)
    result = tracking.fit_files_and_log(
        data, model_type=model_type, params=params, compare=compare, asset_column=asset_column,
        fallback=None if fallback == "none" else fallback, jobs=jobs, columns=columns, label_column=label_column,
        train_rows=train_rows, train_until=train_until, options=read, experiment=experiment, run_name=run_name,
        register=register, alias=alias, device=device, verbose=not quiet, plots=plots)
    if quiet:
        click.echo(result.registered_uri or result.model_uri)
        return
    where = f"experiment {experiment!r}" + (f"; a child run per {asset_column}" if asset_column is not None else "")
    click.echo(result.summary())
    click.echo(f"run:    {result.run_id}  ({where})")
    click.echo(f"model:  {result.model_uri}")
    if result.registered_uri:
        click.echo(f"        {result.registered_uri}")
    click.echo(f"score:  seqae score {result.registered_uri or result.model_uri} DATA.csv -o scores.csv")
    click.echo(f"view:   {tracking.how_to_view(result.run_url)}")


COMMANDS = [fit]
