"""The detectors with a torch network: LSTM autoencoder, LSTM-VAE, dense and convolutional autoencoders.

    scaled windows (batch, window, n_features) --net--> reconstruction --squared error, or the
    VAE's -log p(x | z)--> element scores (batch, window, n_features) --> `seqae.detectors.scoring`

The estimator owns training (through `seqae.training.train`) and scoring; the `nn.Module`s and
their losses in `seqae.nets` only map tensors.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np
import pandas as pd
import torch

from seqae import nets
from seqae.detectors import scoring
from seqae.detectors.base import SCORE_PRECISIONS, BaseDetector, check_precision
from seqae.devices import is_device, resolve_device
from seqae.errors import ConfigError, DataError
from seqae.params import Boolean, Integer, NoneOr, OneOf, Param, Real, Satisfies
from seqae.training import History, LossFn, TrainConfig, seeded_generator, train
from seqae.windows import batched_windows, pad_batch, window_tensor

# The LSTM nets' depth (LSTM-AE, LSTM-VAE, the forecaster).
STACKED_LSTM = {"num_layers": Param(1, Integer(1), "stacked LSTM layers; dropout applies between them.")}


class NeuralDetector(BaseDetector):
    """A detector whose model is a torch network (`net_class`, built from `_net_args`) trained by
    `training.train` on the loss `_training_loss` gives, scored in float32 or, inside
    `scoring_precision("bfloat16")`, with its forward pass in bfloat16.

    Subclasses set `net_class`, give its arguments (`_net_args`) and the element scores of a batch
    of windows (`_window_scores`), and may replace the loss (`_training_loss`).
    """

    net_class: type[torch.nn.Module]
    scoring_precisions: tuple[str, ...] = SCORE_PRECISIONS  # what `scoring_precision` accepts
    batch_quantum = 16
    _precision = "float32"  # the scoring precision; another only inside a `scoring_precision` block

    parameters = {
        "hidden_size": Param(64, Integer(1), "hidden units of the network (the LSTMs'; the dense AE's hidden "
                                             "layer; the channels of the conv AE's outer convolutions)."),
        "dropout": Param(0.0, Real(0.0, 1.0, high_open=True),
                         "dropout in training: between stacked LSTM layers (num_layers > 1), after the "
                         "dense and conv AEs' hidden layers."),
        "epochs": Param(30, Integer(1), "maximum passes over the training windows."),
        "batch_size": Param(64, Integer(1), "windows per optimiser step."),
        "learning_rate": Param(1e-3, Real(0.0, low_open=True), "Adam's step size."),
        "weight_decay": Param(0.0, Real(0.0), "Adam's L2 penalty."),
        "grad_clip": Param(1.0, Real(0.0), "max gradient norm (0 = no clipping)."),
        "noise_std": Param(0.0, Real(0.0), "denoising training: Gaussian noise of this std on the inputs "
                                           "(scaled units)."),
        "patience": Param(5, Integer(0), "epochs without a better validation loss before stopping (0 = never)."),
        "rise_patience": Param(
            0, Integer(0),
            "stop after this many epochs without a better validation loss when the latest is above the best "
            "by more than `rise_tolerance` of it (0 = off): a loss that has clearly risen is given less time "
            "to come back than one on a plateau (benchmarks/README.md, Fit)."),
        "rise_tolerance": Param(0.05, Real(0.0), "the share of the best validation loss that counts as risen."),
        "max_epoch_windows": Param(
            None, NoneOr(Integer(1)),
            "the most training windows an epoch trains on, drawn at random afresh every epoch (None = all): "
            "a large training set stops costing epoch time in proportion to its size."),
        "max_validation_windows": Param(
            None, NoneOr(Integer(1)),
            "the most held-out windows whose loss decides early stopping, one random sample drawn before the "
            "first epoch (None = all)."),
        "train_stride": Param(1, Integer(1), "rows between training windows (2 halves an epoch's work; "
                                             "benchmarks/README.md, Fit, measures what it costs)."),
        "verbose": Param(False, Boolean(), "show a progress bar per epoch."),
        "device": Param(
            "auto", Satisfies(lambda value, _: is_device(value), "auto, cpu, cuda or cuda:N"),
            "where the network trains and scores: `auto` (a CUDA GPU when torch sees one, else the CPU), "
            "`cpu`, `cuda` or `cuda:N` (`seqae.devices`). Scores on the CPU do not depend on it; on a GPU "
            "they agree with the CPU's within the tolerance docs/benchmarks.md states."),
    }

    def _net_args(self, n_features: int) -> dict:
        """The keyword arguments of `net_class` for `n_features` sensors (saved beside the weights)."""
        raise NotImplementedError

    def _build_net(self, **net_args) -> torch.nn.Module:
        return self.net_class(**net_args)

    def _training_loss(self) -> LossFn:
        """The loss `training.train` minimises, `loss(net, inputs, targets)`; one per fit."""
        return nets.reconstruction_loss

    def _fit_model(self, train_parts, validation_parts) -> None:
        loss = self._training_loss()
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
            self.history_ = train(self.net_, loss, train_windows, val_windows, config, generator)

    @contextmanager
    def scoring_precision(self, precision: str = "float32"):
        """Score in `precision` inside the `with` block: "float32" (the default) or "bfloat16".

        bfloat16 runs the network's forward pass under torch's autocast (the errors are still
        computed in float32). It pays only on a CPU with native bfloat16 (AVX512-BF16 or AMX), and
        scores move by a few hundredths of their spread: benchmarks/README.md measures both. Where
        the CPU has no bfloat16 kernels for the network it is refused (`supports_precision`).
        """
        check_precision(precision, self.model_type, self.scoring_precisions)
        if not self.supports_precision(precision):
            raise ConfigError(f"this CPU cannot run model {self.model_type!r} in {precision} (torch's kernels "
                              "refused it; bfloat16 needs AVX512-BF16 or AMX); score it in float32")
        before, self._precision = self._precision, precision
        try:
            yield self
        finally:
            self._precision = before

    def supports_precision(self, precision: str) -> bool:
        """Whether this detector can score in `precision` on this machine: the forward pass in
        bfloat16 needs kernels for it (oneDNN's LSTM has none on a CPU without AVX512-BF16)."""
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
        """The forward pass's autocast context for the current scoring precision."""
        if self._precision == "bfloat16":
            return torch.autocast(self.compute_device().type, dtype=torch.bfloat16)
        return nullcontext()

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

    parameters = {"latent_dim": Param(16, Integer(1), "size of the vector one window is encoded to.")}

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            with self._autocast():
                reconstruction = self.net_(windows)
            return nets.squared_error(reconstruction.float(), windows).cpu().numpy()

    # ---- the encoder/decoder split: latent vectors and what the model expected --------------------

    def code_size(self) -> int:
        """Values per latent vector: `latent_dim`, and with the LSTM-AE's `window_norm` each
        window's mean (and log spread) per sensor after them."""
        self.check_fitted()
        return int(getattr(self.net_, "code_size", self.net_args_["latent_dim"]))

    def code_names(self) -> list[str]:
        """A name per value of a latent vector: `z0` .. for the code, then with `window_norm` each
        sensor's window mean (`level_<sensor>`) and log spread (`log_spread_<sensor>`)."""
        latent_dim = int(self.net_args_["latent_dim"])
        names = [f"z{k}" for k in range(latent_dim)]
        stats = self.code_size() - latent_dim
        if stats:
            names += [f"level_{name}" for name in self.feature_names_in_]
        if stats > self.n_features_in_:
            names += [f"log_spread_{name}" for name in self.feature_names_in_]
        return names

    def encode(self, X) -> np.ndarray:
        """The latent vector of each window of `X`, `(n_windows, code_size())`: windows every
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
        code_size = self.code_size()
        if z.ndim != 2 or z.shape[1] != code_size:
            raise DataError(f"expected latent vectors of shape (n_windows, {code_size}), got an array of "
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

    The parameters are those of every detector (`BaseDetector`), of the networks (`NeuralDetector`)
    and `latent_dim`, `num_layers`; `help(LSTMAutoencoder.__init__)` lists them with their defaults.
    """

    model_type = "lstm-ae"
    net_class = nets.LSTMSeq2Seq
    parameters = {
        **STACKED_LSTM,
        "decoder": Param("repeat", OneOf(nets.DECODERS),
                         "`repeat`: the decoder reads the code at every step (RepeatVector); `teacher_forcing`: "
                         "the code and the previous reading (the true one in training, its own output when "
                         "scoring), one step at a time."),
        "window_norm": Param("none", OneOf(nets.WINDOW_NORMS),
                             "`center`: each window's mean per sensor is taken out before the network and put "
                             "back after it (the network learns shapes, not levels); `standardize`: its spread "
                             "too; `none`. The code then carries those statistics (`code_size`)."),
    }
    # The caps leave training sets of up to ~1,300 rows whole (benchmarks/README.md, Fit).
    defaults = {"rise_patience": 3, "max_epoch_windows": 1024, "max_validation_windows": 256}

    def _net_args(self, n_features):
        args = {"n_features": n_features, "hidden_size": self.hidden_size, "latent_dim": self.latent_dim,
                "num_layers": self.num_layers, "dropout": self.dropout}
        # only the choices away from the network's defaults are saved with its arguments
        if self.decoder != "repeat":
            args["decoder"] = self.decoder
        if self.window_norm != "none":
            args["window_norm"] = self.window_norm
        return args


class LSTMVAE(AutoencoderDetector):
    """Recurrent variational autoencoder trained on the ELBO; the score is -log p(x | z) (or the
    ELBO), normalised on the training rows by default. Parameters as `LSTMAutoencoder`, and `beta`,
    `learn_variance`, `score`, `n_samples`."""

    model_type = "lstm-vae"
    net_class = nets.LSTMVAENet
    SCORES = ("reconstruction_probability", "elbo")
    parameters = {
        **STACKED_LSTM,
        "beta": Param(1.0, Real(0.0), "weight of the KL term in the ELBO."),
        "learn_variance": Param(True, Boolean(), "the decoder predicts a variance per step and sensor (else "
                                                 "it is fixed at 1)."),
        "score": Param("reconstruction_probability", OneOf(SCORES),
                       "`reconstruction_probability` (-log p(x | z), per step and sensor) or `elbo` (that plus "
                       "the window's KL spread evenly over its steps and sensors)."),
        "n_samples": Param(0, Integer(0), "latent draws averaged when scoring, seeded by `random_state` afresh "
                                          "for each batch of windows: the same batches give the same scores, but "
                                          "a feed scored in pieces batches its windows otherwise; 0 decodes the "
                                          "mean latent (one pass, deterministic, the same in any pieces)."),
    }
    defaults = {"normalize_on": "train", "max_epoch_windows": 1024, "max_validation_windows": 256}

    def _net_args(self, n_features):
        return {"n_features": n_features, "hidden_size": self.hidden_size, "latent_dim": self.latent_dim,
                "num_layers": self.num_layers, "dropout": self.dropout,
                "learn_variance": bool(self.learn_variance)}

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

    def _training_loss(self) -> LossFn:
        # The latents drawn in training come from their own generator, seeded from random_state + 1.
        generator = seeded_generator(None if self.random_state is None else self.random_state + 1)
        beta = self.beta

        def negative_elbo(net, inputs, targets):
            x_mean, x_logvar, z_mean, z_logvar = net(inputs, generator=generator, sample=net.training)
            return nets.elbo_loss(targets, x_mean, x_logvar, z_mean, z_logvar, beta=beta)
        return negative_elbo

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
    """Dense autoencoder on flattened windows (a textbook baseline). Parameters as `LSTMAutoencoder`
    but `num_layers`."""

    model_type = "dense-ae"
    net_class = nets.DenseAE

    def _net_args(self, n_features):
        return {"n_features": n_features, "window_size": self.window_size,
                "hidden_size": self.hidden_size, "latent_dim": self.latent_dim, "dropout": self.dropout}


class ConvAutoencoder(AutoencoderDetector):
    """1-D convolutional autoencoder over time (a textbook baseline). Parameters as `LSTMAutoencoder`
    but `num_layers`; `hidden_size` is the channel count of the outer convolutions, `latent_dim` that
    of the inner ones and the size of the linear bottleneck a window is encoded to (`nets.ConvAE`)."""

    model_type = "conv-ae"
    net_class = nets.ConvAE
    min_format_version = 2  # format 1 saved a net without the bottleneck: its weights do not fit
    defaults = {"hidden_size": 32}

    def _net_args(self, n_features):
        return {"n_features": n_features, "window_size": self.window_size, "hidden_size": self.hidden_size,
                "latent_dim": self.latent_dim, "dropout": self.dropout}
