"""The detectors with a torch network: LSTM autoencoder, LSTM-VAE, dense and convolutional autoencoders.

    scaled windows (batch, window, n_features) --net--> reconstruction --squared error, or the
    VAE's -log p(x | z)--> element scores (batch, window, n_features) --> `seqae.detectors.scoring`

The estimator owns training (through `seqae.training.train`) and scoring; the `nn.Module`s in
`seqae.nets` only map tensors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from seqae import nets
from seqae.detectors import scoring
from seqae.detectors.base import SCORE_PRECISIONS, BaseDetector
from seqae.devices import is_device, resolve_device
from seqae.errors import ConfigError, DataError
from seqae.params import Boolean, Integer, NoneOr, OneOf, Real, Satisfies
from seqae.thresholds import Threshold
from seqae.training import History, TrainConfig, seeded_generator, train
from seqae.windows import batched_windows, pad_batch, window_tensor


class NeuralDetector(BaseDetector):
    """A detector whose model is a torch network trained by `training.train`.

    Subclasses build the network (`_build_net`, `_net_args`), give the element scores of a batch of
    windows (`_window_scores`) and may replace its loss (`_loss`)."""

    scoring_precisions = SCORE_PRECISIONS
    batch_quantum = 16
    parameter_constraints = {
        **{name: Integer(1) for name in ("hidden_size", "latent_dim", "epochs", "batch_size", "train_stride",
                                         "num_layers")},
        "patience": Integer(0),
        "rise_patience": Integer(0),
        "rise_tolerance": Real(0.0),
        "max_epoch_windows": NoneOr(Integer(1)),
        "max_validation_windows": NoneOr(Integer(1)),
        "learning_rate": Real(0.0, low_open=True),
        "weight_decay": Real(0.0),
        "grad_clip": Real(0.0),
        "dropout": Real(0.0, 1.0, high_open=True),
        "noise_std": Real(0.0),
        "verbose": Boolean(),
        "device": Satisfies(lambda value, _: is_device(value), "auto, cpu, cuda or cuda:N"),
    }

    def _build_net(self, n_features: int) -> torch.nn.Module:
        raise NotImplementedError

    def _net_args(self, n_features: int) -> dict:
        raise NotImplementedError

    def _loss(self, net, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(net(inputs), targets)

    def _fit_model(self, train_parts, validation_parts) -> None:
        generator = seeded_generator(self.random_state)
        with torch.random.fork_rng(devices=[]):
            # Weight init and dropout draw from torch's global generator: seed it, then restore it.
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
            self.net_args_ = self._net_args(self.n_features_in_)
            self.net_ = self._build_net(**self.net_args_).to(self.compute_device())  # initialised on the CPU
            train_windows = window_tensor(train_parts, self.window_size, self.train_stride)
            val_windows = None
            if validation_parts:
                val_windows = window_tensor(validation_parts, self.window_size, 1)
            config = TrainConfig(
                epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                weight_decay=self.weight_decay, grad_clip=self.grad_clip, patience=self.patience,
                rise_patience=self.rise_patience, rise_tolerance=self.rise_tolerance, noise_std=self.noise_std,
                max_epoch_windows=self.max_epoch_windows, max_validation_windows=self.max_validation_windows,
                verbose=self.verbose,
            )
            self.history_ = train(self.net_, self._loss, train_windows, val_windows, config, generator)

    def supports_precision(self, precision: str) -> bool:
        if precision == "float32" or precision not in self.scoring_precisions:
            return precision in self.scoring_precisions
        self.check_fitted()
        device = self.compute_device()
        probe = torch.zeros(self.batch_quantum, self.window_size, self.n_features_in_, device=device)
        try:  # the VAE's forward pass draws a latent: from a forked generator, so nothing changes
            with torch.random.fork_rng(devices=[]), torch.inference_mode(), \
                    torch.autocast(device.type, dtype=torch.bfloat16):
                self.net_(probe)
        except RuntimeError:
            return False
        return True

    def compute_device(self) -> torch.device:
        """The torch device of `device` (auto: a CUDA GPU when torch sees one, else the CPU), with the
        fitted network moved there if it is elsewhere (after `set_params(device=...)` or `load`)."""
        device = resolve_device(self.device)
        net = getattr(self, "net_", None)
        if net is not None and next(net.parameters()).device != device:
            net.to(device)
        return device

    def window_scores(self, windows: torch.Tensor) -> np.ndarray:
        """`BaseDetector.window_scores`, the windows moved to the network's device."""
        return super().window_scores(windows.to(self.compute_device()))

    def _autocast(self):
        if self._precision == "bfloat16":
            return torch.autocast(self.compute_device().type, dtype=torch.bfloat16)
        return super()._autocast()

    def model_state(self):
        return ({"net": type(self.net_).__name__, "net_args": self.net_args_,
                 "history": self.history_.to_dict()},
                {k: v.detach().cpu() for k, v in self.net_.state_dict().items()})

    def load_model_state(self, config, tensors):
        if not tensors:
            raise DataError(f"no weights.pt beside config.json; a {type(self).__name__} needs its weights")
        self.net_args_ = dict(config["net_args"])
        self.net_ = self._build_net(**self.net_args_)
        self.net_.load_state_dict(tensors)
        self.net_.eval()
        self.history_ = History.from_dict(config["history"])


class AutoencoderDetector(NeuralDetector):
    """A network that encodes a window to a latent vector and decodes it back; the score is how
    badly it reconstructs the window. Adds the encoder/decoder split: `encode`, `decode`,
    `reconstruct`."""

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            with self._autocast():
                reconstruction = self.net_(windows)
            return nets.squared_error(reconstruction.float(), windows).cpu().numpy()

    # ---- the encoder/decoder split: latent vectors and what the model expected --------------------

    def encode(self, X) -> np.ndarray:
        """The latent vector of each window of `X`, `(n_windows, latent_dim)`: windows every
        `score_stride` rows (as scored), the VAE's mean latent."""
        self.check_fitted()
        values, _ = self.check_input(X)
        scaled = self.scaler_.transform(values)
        out = [self.encode_windows(windows)
               for windows, _ in batched_windows(scaled, self.window_size, self.score_stride, self.score_batch_size())]
        return np.concatenate(out)  # (n_windows, latent_dim)

    def decode(self, z, scaled: bool = False) -> np.ndarray:
        """Windows `(n_windows, window_size, n_features)` decoded from latent vectors
        `(n_windows, latent_dim)` (from `encode`, or any): in the sensors' own units (the input
        scaling undone), or with `scaled=True` in the scaled units the network and its scores see.
        The LSTM-VAE decodes to its decoder's mean."""
        self.check_fitted()
        z = np.asarray(z, dtype=np.float32)
        latent_dim = int(self.net_args_["latent_dim"])
        if z.ndim != 2 or z.shape[1] != latent_dim:
            raise DataError(f"expected latent vectors of shape (n_windows, {latent_dim}), got an array of "
                            f"shape {z.shape}; pass what encode() returns")
        batch = self.score_batch_size()
        out = [self.decode_latent(torch.from_numpy(z[first:first + batch]))
               for first in range(0, len(z), batch)]
        windows = np.concatenate(out) if out else np.empty((0, self.window_size, self.n_features_in_), np.float32)
        return windows if scaled else self.scaler_.inverse_transform(windows)

    def reconstruct(self, X) -> pd.DataFrame:
        """What the model expected each row of `X` to read: a frame like `X` (its index, the
        fitted sensor columns) in the sensors' units. Each window is encoded and decoded (the
        VAE's mean latent to its decoder's mean), and the windows covering a row are combined as
        its scores are (`score_stride`, `score_reduction`), in the batches scoring uses, so a
        file reconstructed in chunks (`seqae score --reconstruction`) gives the same values."""
        self.check_fitted()
        values, index = self.check_input(X)
        scaled = self.scaler_.transform(values)
        expected = scoring.element_scores(self.window_reconstructions, scaled, self.window_size,
                                          self.score_stride, self.score_reduction, self.score_batch_size())
        return pd.DataFrame(self.scaler_.inverse_transform(expected), index=index,
                            columns=list(self.feature_names_in_))

    def encode_windows(self, windows: torch.Tensor) -> np.ndarray:
        """Latent vectors `(batch, latent_dim)` of scaled windows `(batch, window, n_features)`,
        run in a batch padded to a multiple of `batch_quantum` as scoring does."""
        with torch.inference_mode(), self._autocast():
            z = self.net_.encode(pad_batch(windows.to(self.compute_device()), self.batch_quantum))
        return (z[0] if isinstance(z, tuple) else z)[:len(windows)].float().cpu().numpy()

    def decode_latent(self, z: torch.Tensor) -> np.ndarray:
        """Scaled windows `(batch, window, n_features)` decoded from latent vectors `(batch, latent_dim)`,
        in a padded batch; the VAE's decoder mean."""
        with torch.inference_mode(), self._autocast():
            x = self.net_.decode(pad_batch(z.to(self.compute_device()), self.batch_quantum), self.window_size)
        return (x[0] if isinstance(x, tuple) else x)[:len(z)].float().cpu().numpy()

    def window_reconstructions(self, windows: torch.Tensor) -> np.ndarray:
        """Scaled windows in, their reconstructions out, `(batch, window, n_features)`: encode then
        decode, the same computation (and batch) as the scores' reconstruction."""
        z = torch.from_numpy(self.encode_windows(windows))
        return self.decode_latent(z)


class LSTMAutoencoder(AutoencoderDetector):
    """LSTM sequence-to-sequence autoencoder; the score is the reconstruction error.

    Args:
        window_size: rows per window.
        hidden_size: LSTM hidden units (encoder and decoder).
        latent_dim: size of the vector one window is encoded to.
        num_layers: stacked LSTM layers; dropout applies between them.
        dropout: dropout between LSTM layers (num_layers > 1).
        epochs: maximum passes over the training windows.
        batch_size: windows per optimiser step.
        learning_rate: Adam's step size.
        weight_decay: Adam's L2 penalty.
        grad_clip: max gradient norm (0 = no clipping).
        patience: epochs without a better validation loss before stopping (0 = never).
        rise_patience: stop after this many epochs without a better validation loss when the
            latest is above the best by more than `rise_tolerance` of it (0 = off; the LSTM-AE's
            default 3, the other nets' 0). A loss that has risen clearly is given less time to come
            back than one on a plateau: on SKAB's 400-row files the fits run 1.6× fewer epochs, at an
            AP on SKAB and nab-dev measured unchanged (benchmarks/README.md, Fit).
        rise_tolerance: the share of the best validation loss that counts as risen.
        validation_fraction: the last part of the training rows held out, in time order.
        noise_std: denoising training: Gaussian noise of this std on the inputs (scaled units).
        max_epoch_windows: the most training windows an epoch trains on, drawn at random afresh
            every epoch (None = all): a large training set stops costing epoch time in proportion
            to its size.
        max_validation_windows: the most held-out windows whose loss decides early stopping, one
            random sample drawn before the first epoch (None = all).
        train_stride: rows between training windows (2 halves an epoch's work on any training
            set: 7.5× the textbook loop's speed on SKAB's 400-row files, at an AP on nab-dev
            measured 0.009 lower over 3 seeds; benchmarks/README.md, Fit). The caps' defaults
            (1024, 256; the LSTM-VAE's too) leave training sets of up to ~1,300 rows as they
            were; `max_epoch_windows=None, max_validation_windows=None` trains on every window,
            as before the caps existed.
        score_stride: rows between scored windows (1 = every window; larger is faster).
        score_reduction: `mean` of all windows covering a row, the `last` (the one ending there),
            or `window`: each window's mean error over its steps, given to each of its rows, then
            the mean of the windows covering a row (BaseDetector.window_scores).
        normalization: per-sensor normalisation of the error before summing: `robust` (by its
            median and MAD on the rows `normalize_on` names; the default: a few anomalous rows
            there do not mute a sensor), `zscore` (mean and standard deviation) or `none`.
        normalize_on: the rows whose errors the normalisation is fitted on: `validation` (the
            held-out rows; the default of the LSTM-AE, dense and conv AEs: out-of-sample errors, the
            size of the errors new normal data gives, where a net's errors on the rows it was
            trained on are smaller; falls back to `train` when nothing is held out) or `train`
            (the rows the net was trained on; the default of the LSTM-VAE, PCA and the forest).
        scaling: the input scaler fitted on the training rows: `standard` (mean, standard
            deviation) or `robust` (median, IQR / 1.349; an IQR of 0 falls back to the deviation).
        smoothing: rows of the causal rolling mean applied to the score (and to each sensor's share
            of it); 1 = none. The smoothing itself adds no look-ahead, but with
            `score_reduction="mean"` a row's unsmoothed score already uses the rows up to
            `window_size - 1` after it (the windows covering it); `detect(X, causal=True)` scores
            each row from the rows up to it alone. A one-row spike is diluted by it.
        threshold: a `Threshold` fitted on the scores of normal data (default: 99th percentile).
        threshold_on: fit the threshold on the held-out `validation` rows or `all` training rows
            (either way sliced from the scores of all the training rows scored as one series).
        random_state: seed for weights, shuffling and noise; same seed, same model.
        verbose: show a progress bar per epoch.
        device: where the network trains and scores: `auto` (a CUDA GPU when torch sees one, else
            the CPU), `cpu`, `cuda` or `cuda:N` (`seqae.devices`). Scores on the CPU do not depend
            on it; on a GPU they agree with the CPU's within the tolerance docs/benchmarks.md states.
    """

    model_type = "lstm-ae"

    def __init__(self, window_size: int = 32, hidden_size: int = 64, latent_dim: int = 16,
                 num_layers: int = 1, dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, rise_patience: int = 3, rise_tolerance: float = 0.05,
                 validation_fraction: float = 0.2, noise_std: float = 0.0,
                 max_epoch_windows: int | None = 1024, max_validation_windows: int | None = 256,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "validation",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False,
                 device: str = "auto"):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.rise_patience = rise_patience
        self.rise_tolerance = rise_tolerance
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.max_epoch_windows = max_epoch_windows
        self.max_validation_windows = max_validation_windows
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def _net_args(self, n_features):
        return {"n_features": n_features, "hidden_size": self.hidden_size, "latent_dim": self.latent_dim,
                "num_layers": self.num_layers, "dropout": self.dropout}

    def _build_net(self, **args):
        return nets.LSTMSeq2Seq(**args)


class LSTMVAE(AutoencoderDetector):
    """Recurrent variational autoencoder trained on the ELBO.

    Takes the arguments of `LSTMAutoencoder`, and:
        beta: weight of the KL term in the ELBO.
        learn_variance: the decoder predicts a variance per step and sensor (else it is fixed at 1).
        score: `reconstruction_probability` (-log p(x | z), per step and sensor) or `elbo`
            (that plus the window's KL spread evenly over its steps and sensors).
        n_samples: latent draws averaged when scoring, seeded by `random_state` so that the same
            model gives the same scores; 0 decodes the mean latent (one pass, deterministic).
    """

    model_type = "lstm-vae"
    SCORES = ("reconstruction_probability", "elbo")
    parameter_constraints = {"beta": Real(0.0), "learn_variance": Boolean(), "score": OneOf(SCORES),
                             "n_samples": Integer(0)}

    def __init__(self, window_size: int = 32, hidden_size: int = 64, latent_dim: int = 16,
                 num_layers: int = 1, dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, rise_patience: int = 0, rise_tolerance: float = 0.05,
                 validation_fraction: float = 0.2, noise_std: float = 0.0,
                 max_epoch_windows: int | None = 1024, max_validation_windows: int | None = 256,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "train",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False,
                 device: str = "auto", beta: float = 1.0, learn_variance: bool = True,
                 score: str = "reconstruction_probability", n_samples: int = 0):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.rise_patience = rise_patience
        self.rise_tolerance = rise_tolerance
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.max_epoch_windows = max_epoch_windows
        self.max_validation_windows = max_validation_windows
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.beta = beta
        self.learn_variance = learn_variance
        self.score = score
        self.n_samples = n_samples

    def _net_args(self, n_features):
        return {"n_features": n_features, "hidden_size": self.hidden_size, "latent_dim": self.latent_dim,
                "num_layers": self.num_layers, "dropout": self.dropout,
                "learn_variance": bool(self.learn_variance)}

    def _build_net(self, **args):
        return nets.LSTMVAENet(**args)

    def _fit_model(self, train_parts, validation_parts):
        # Training draws latents from their own generator, seeded from random_state.
        self._train_generator = seeded_generator(None if self.random_state is None else self.random_state + 1)
        try:
            super()._fit_model(train_parts, validation_parts)
        finally:
            del self._train_generator

    def sample(self, n: int, noise: bool = True, random_state: int | None = 0) -> np.ndarray:
        """`n` windows `(n, window_size, n_features)` in the sensors' units drawn from the model:
        what normal looks like to it. A latent from the prior N(0, I), decoded; with `noise` (the
        default) a reading drawn from the decoder's Gaussian at each step and sensor (a draw from
        the model's p(x)), without it the decoder's mean (smoother than data). Seeded by
        `random_state`: the same seed, the same windows."""
        self.check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"n must be a whole number of windows >= 1, got {n!r}")
        generator = seeded_generator(random_state)
        latent_dim = int(self.net_args_["latent_dim"])
        z = torch.randn((int(n), latent_dim), generator=generator)  # (n, latent_dim)
        batch, out = self.score_batch_size(), []
        for first in range(0, int(n), batch):
            with torch.inference_mode(), self._autocast():
                chunk = z[first:first + batch].to(self.compute_device())
                mean, logvar = (t.float()[:len(chunk)] for t in
                                self.net_.decode(pad_batch(chunk, self.batch_quantum), self.window_size))
            if noise:
                mean = nets.reparameterise(mean, logvar, generator)
            out.append(mean.cpu().numpy())
        return self.scaler_.inverse_transform(np.concatenate(out))

    def _loss(self, net, inputs, targets):
        x_mean, x_logvar, z_mean, z_logvar = net(inputs, generator=self._train_generator, sample=net.training)
        return nets.elbo_loss(targets, x_mean, x_logvar, z_mean, z_logvar, beta=self.beta)

    def _window_scores(self, windows):
        with torch.inference_mode():
            with self._autocast():
                z_mean, z_logvar = (t.float() for t in self.net_.encode(windows))
            window_size = windows.shape[1]

            def decode(z):  # the network in the scoring precision, the likelihood in float32
                with self._autocast():
                    return (t.float() for t in self.net_.decode(z, window_size))
            if self.n_samples == 0:
                x_mean, x_logvar = decode(z_mean)
                nll = nets.gaussian_nll(windows, x_mean, x_logvar)
            else:
                # Seeded afresh for every batch: the same model scores the same data the same way.
                generator = seeded_generator(0 if self.random_state is None else self.random_state)
                nll = torch.zeros_like(windows)
                for _ in range(self.n_samples):
                    z = nets.reparameterise(z_mean, z_logvar, generator)
                    x_mean, x_logvar = decode(z)
                    nll += nets.gaussian_nll(windows, x_mean, x_logvar)
                nll /= self.n_samples
            if self.score == "elbo":
                n_elements = windows.shape[1] * windows.shape[2]
                nll = nll + (self.beta * nets.gaussian_kl(z_mean, z_logvar) / n_elements)[:, None, None]
            return nll.cpu().numpy()


class DenseAutoencoder(AutoencoderDetector):
    """Dense autoencoder on flattened windows (a textbook baseline). Arguments as LSTMAutoencoder."""

    model_type = "dense-ae"

    def __init__(self, window_size: int = 32, hidden_size: int = 64, latent_dim: int = 16,
                 dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, rise_patience: int = 0, rise_tolerance: float = 0.05,
                 validation_fraction: float = 0.2, noise_std: float = 0.0,
                 max_epoch_windows: int | None = None, max_validation_windows: int | None = None,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "validation",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False,
                 device: str = "auto"):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.rise_patience = rise_patience
        self.rise_tolerance = rise_tolerance
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.max_epoch_windows = max_epoch_windows
        self.max_validation_windows = max_validation_windows
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def _net_args(self, n_features):
        return {"n_features": n_features, "window_size": self.window_size,
                "hidden_size": self.hidden_size, "latent_dim": self.latent_dim, "dropout": self.dropout}

    def _build_net(self, **args):
        return nets.DenseAE(**args)


class ConvAutoencoder(AutoencoderDetector):
    """1-D convolutional autoencoder over time (a textbook baseline). Arguments as LSTMAutoencoder;
    `hidden_size` is the channel count of the outer convolutions, `latent_dim` that of the inner
    ones and the size of the linear bottleneck a window is encoded to (`nets.ConvAE`)."""

    model_type = "conv-ae"
    min_format_version = 2  # format 1 saved a net without the bottleneck: its weights do not fit

    def __init__(self, window_size: int = 32, hidden_size: int = 32, latent_dim: int = 16,
                 dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, rise_patience: int = 0, rise_tolerance: float = 0.05,
                 validation_fraction: float = 0.2, noise_std: float = 0.0,
                 max_epoch_windows: int | None = None, max_validation_windows: int | None = None,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "mean",
                 normalization: str = "robust", normalize_on: str = "validation",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False,
                 device: str = "auto"):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.rise_patience = rise_patience
        self.rise_tolerance = rise_tolerance
        self.validation_fraction = validation_fraction
        self.noise_std = noise_std
        self.max_epoch_windows = max_epoch_windows
        self.max_validation_windows = max_validation_windows
        self.train_stride = train_stride
        self.score_stride = score_stride
        self.score_reduction = score_reduction
        self.normalization = normalization
        self.normalize_on = normalize_on
        self.scaling = scaling
        self.smoothing = smoothing
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def _net_args(self, n_features):
        return {"n_features": n_features, "window_size": self.window_size, "hidden_size": self.hidden_size,
                "latent_dim": self.latent_dim, "dropout": self.dropout}

    def _build_net(self, **args):
        return nets.ConvAE(**args)
