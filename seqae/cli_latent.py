"""The latent-space commands: thin click commands over `seqae.latent`, registered on the `seqae`
group by `seqae.cli`.

    seqae encode MODEL DATA.csv -o latent.csv     a latent vector per window (autoencoders)
    seqae decode MODEL latent.csv -o windows.csv  latent vectors back to windows of readings
    seqae sample MODEL -n 100 -o samples.csv      windows drawn from an LSTM-VAE

Like `seqae.cli`, nothing here imports torch, pandas or MLflow until a command runs.
"""

from __future__ import annotations

import click

from seqae.cli_commands import SeqaeCommand
from seqae.cli_options import INPUT_FILE, OUTPUT_FILE, device_option, read_options


@click.command(cls=SeqaeCommand)
@click.argument("model_uri", metavar="MODEL_URI")
@click.argument("data", type=INPUT_FILE)
@click.option("--output", "-o", type=OUTPUT_FILE, required=True,
              help="Latent CSV: window_end (the time of each window's last row), then z0, z1, ... per window.")
@read_options
@device_option
def encode(model_uri, data, output, read, device):
    """Encode each window of DATA.csv to its latent vector (an autoencoder's, or the one in an ensemble).

    One row per window, windows every score_stride rows as the model scores them; the LSTM-VAE
    gives its mean latent. `seqae decode` turns the vectors back into readings.
    """
    from seqae.latent import encode_csv

    counts = encode_csv(_autoencoder(model_uri, device), data, output, options=read)
    click.echo(f"Encoded {counts['rows']} rows to {counts['windows']} latent vectors of {counts['code_size']} "
               f"values -> {output}")


@click.command(cls=SeqaeCommand)
@click.argument("model_uri", metavar="MODEL_URI")
@click.argument("latent", type=INPUT_FILE)
@click.option("--output", "-o", type=OUTPUT_FILE, required=True,
              help="Windows CSV: window, window_end, step, then one column per sensor in the sensors' units.")
@device_option
def decode(model_uri, latent, output, device):
    """Decode the latent vectors of LATENT.csv (as seqae encode writes it) back to windows of readings.

    Each vector becomes window_size rows (step 0 .. window_size - 1, the last step at window_end),
    in the sensors' own units; the LSTM-VAE gives its decoder's mean.
    """
    from seqae.latent import decode_csv

    counts = decode_csv(_autoencoder(model_uri, device), latent, output)
    click.echo(f"Decoded {counts['windows']} latent vectors to {counts['rows']} rows -> {output}")


@click.command(cls=SeqaeCommand)
@click.argument("model_uri", metavar="MODEL_URI")
@click.option("-n", "n_windows", type=click.IntRange(1), default=100, show_default=True, help="Windows to draw.")
@click.option("--output", "-o", type=OUTPUT_FILE, required=True,
              help="Samples CSV: window, step, then one column per sensor in the sensors' units.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed draws the same windows.")
@click.option("--mean", "mean_only", is_flag=True,
              help="The decoder's mean at each step (smoother than data), not a reading drawn around it.")
@device_option
def sample(model_uri, n_windows, output, seed, mean_only, device):
    """Draw windows from an LSTM-VAE: what normal looks like to the model.

    Each latent is drawn from the prior N(0, I) and decoded; each reading is drawn from the
    decoder's Gaussian (--mean: its mean).
    """
    from seqae.latent import sample_csv

    counts = sample_csv(_autoencoder(model_uri, device), n_windows, output, random_state=seed,
                        noise=not mean_only)
    click.echo(f"Sampled {counts['windows']} windows ({counts['rows']} rows) -> {output}")


COMMANDS = (encode, decode, sample)


def _autoencoder(model_uri: str, device: str):
    """The autoencoder of the model at `model_uri` (`seqae.latent.autoencoder_of`), on `device`."""
    from seqae import tracking
    from seqae.latent import autoencoder_of

    tracking.quiet_mlflow()
    model = autoencoder_of(tracking.load_detector(model_uri).detector)
    model.set_params(device=device)
    return model
