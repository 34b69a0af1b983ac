"""A fitted autoencoder's latent space as files: windows encoded, codes decoded, windows sampled.

    data.csv --read, the model's scaler, windows every score_stride rows--> encoder -->
      latent.csv: window_end (the time of each window's last row), then one column per code value
    latent.csv --decoder, the scaling undone--> windows.csv: window, window_end, step (0 .. window_size - 1;
      the last step is the row at window_end), then one column per sensor, in the sensors' units
    N(0, I) --the LSTM-VAE's decoder--> samples.csv (the layout of windows.csv, without window_end)

The model is an autoencoder (`lstm-ae`, `lstm-vae`, `dense-ae`, `conv-ae`), or an ensemble with
one among its members, whose encoder and decoder are then used. Every output is written whole or
not at all (`seqae.files`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seqae.data import ReadOptions, read_for_detector
from seqae.detectors import BaseDetector
from seqae.detectors.neural import AutoencoderDetector, LSTMVAE
from seqae.errors import ConfigError, DataError
from seqae.files import staged_files
from seqae.windows import window_starts

END_COLUMN = "window_end"
AUTOENCODERS = "lstm-ae, lstm-vae, dense-ae or conv-ae"


def autoencoder_of(detector: BaseDetector) -> AutoencoderDetector:
    """The detector whose encoder and decoder a model has: the model itself, or the one member of
    an ensemble that is an autoencoder (the first, when there are several). A one-line
    `ConfigError` for a model without one."""
    if isinstance(detector, AutoencoderDetector):
        return detector
    for member in getattr(detector, "members_", []):
        if isinstance(member, AutoencoderDetector):
            return member
    raise ConfigError(f"the model is a {detector.model_type} detector, which has no encoder and decoder; fit "
                      f"one with --model {AUTOENCODERS} (or `seqae fit` with no options, whose default holds "
                      "an LSTM autoencoder where it is kept)")


def encode_csv(detector: BaseDetector, path, output, *, options: ReadOptions | None = None) -> dict:
    """Write the latent vector of every window of the CSV at `path` to `output`, one row per
    window (every `score_stride` rows, as scored) with the time of its last row. Returns the
    counts: rows read, windows written, values per vector."""
    model = autoencoder_of(detector)
    frame = read_for_detector(model, path, options=options)
    if len(frame) < model.window_size:
        raise DataError(f"{path}: {len(frame)} rows, fewer than one window of {model.window_size}; give at least "
                        f"{model.window_size} rows")
    codes = model.encode(frame)  # (n_windows, code_size)
    ends = window_starts(len(frame), model.window_size, model.score_stride) + model.window_size - 1
    table = pd.DataFrame(codes, columns=model.code_names())
    table.insert(0, END_COLUMN, frame.index[ends])
    with staged_files([output]) as (staged,):
        table.to_csv(staged.handle, index=False)
    return {"rows": len(frame), "windows": len(table), "code_size": codes.shape[1]}


def decode_csv(detector: BaseDetector, latent_path, output) -> dict:
    """Decode every latent vector of the CSV at `latent_path` (as `encode_csv` writes it: the
    code columns by name, `window_end` kept when present) to a window in the sensors' units,
    written to `output` one row per window step. Returns the counts: windows, rows written."""
    model = autoencoder_of(detector)
    latent = _read_latent(latent_path, model.code_names())
    windows = model.decode(latent[model.code_names()].to_numpy(dtype=np.float32))  # (n, window, sensors)
    ends = latent[END_COLUMN] if END_COLUMN in latent else None
    table = windows_table(windows, list(model.feature_names_in_), ends)
    with staged_files([output]) as (staged,):
        table.to_csv(staged.handle, index=False)
    return {"windows": len(windows), "rows": len(table)}


def sample_csv(detector: BaseDetector, n: int, output, *, random_state: int | None = 0, noise: bool = True) -> dict:
    """Write `n` windows drawn from an LSTM-VAE (`LSTMVAE.sample`) to `output`, one row per
    window step, in the sensors' units. Returns the counts: windows, rows written."""
    model = autoencoder_of(detector)
    if not isinstance(model, LSTMVAE):
        raise ConfigError(f"sampling needs a model that learnt a distribution (lstm-vae); this one is "
                          f"{model.model_type}; fit one with --model lstm-vae")
    windows = model.sample(n, noise=noise, random_state=random_state)
    table = windows_table(windows, list(model.feature_names_in_))
    with staged_files([output]) as (staged,):
        table.to_csv(staged.handle, index=False)
    return {"windows": len(windows), "rows": len(table)}


def windows_table(windows: np.ndarray, sensors: list[str], ends: pd.Series | None = None) -> pd.DataFrame:
    """Windows `(n_windows, window_size, n_sensors)` as a long table: `window`, `window_end` (when
    `ends` is given), `step`, then a column per sensor.

    >>> windows_table(np.arange(8.0).reshape(2, 2, 2), ["a", "b"]).to_numpy().tolist()
    [[0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 4.0, 5.0], [1.0, 1.0, 6.0, 7.0]]
    """
    n_windows, window_size, n_sensors = windows.shape
    table = pd.DataFrame(windows.reshape(n_windows * window_size, n_sensors), columns=sensors)
    table.insert(0, "step", np.tile(np.arange(window_size), n_windows))
    if ends is not None:
        table.insert(0, END_COLUMN, np.repeat(np.asarray(ends), window_size))
    table.insert(0, "window", np.repeat(np.arange(n_windows), window_size))
    return table


def _read_latent(path, names: list[str]) -> pd.DataFrame:
    """The latent CSV at `path`, checked for the code columns `names`."""
    try:
        latent = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a CSV file of latent vectors ({exc}); write one with `seqae encode`") from None
    missing = [name for name in names if name not in latent.columns]
    if missing:
        raise DataError(f"{path}: expected the model's {len(names)} code columns ({names[0]} .. {names[-1]}), "
                        f"{len(missing)} missing (first: {missing[0]!r}); write the file with `seqae encode` "
                        "and the same model")
    values = latent[names].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        column = next(name for name in names if pd.isna(values.iloc[row][name]))
        raise DataError(f"{path}: column {column!r} is empty or not a number at row {row + 2} "
                        f"({latent.iloc[row][column]!r}); every code value must be a number")
    latent[names] = values
    return latent
