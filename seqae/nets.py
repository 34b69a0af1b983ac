"""The networks, as plain `torch.nn.Module`s that map tensors to tensors, and their losses.

Every net takes windows `(batch, window_size, n_features)` of scaled readings: the autoencoders
reconstruct them, the forecaster predicts each window's last row from the rows before it. They know
nothing of pandas, scalers or thresholds: the detectors in `seqae.detectors` own those. Each net's
constructor arguments are plain numbers, saved beside its weights so it can be rebuilt. A training
loss is a function `loss(net, inputs, targets)` (`seqae.training.LossFn`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def _lstm(input_size: int, hidden_size: int, num_layers: int, dropout: float) -> nn.LSTM:
    return nn.LSTM(
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
    )


DECODERS = ("repeat", "teacher_forcing")
WINDOW_NORMS = ("none", "center", "standardize")
WINDOW_STD_FLOOR = 0.1  # the smallest spread a window is divided by, in scaled units (a sensor's spread is ~1)


class WindowNorm(nn.Module):
    """Per-window normalisation: each window's mean per sensor taken out (`center`), and its
    standard deviation too (`standardize`, floored at WINDOW_STD_FLOOR), before the net sees it; the
    statistics travel with the code, so decoding restores the window's level (and spread).

    The net then learns shapes alone; the level is left to the detectors that see levels."""

    def __init__(self, mode: str, n_features: int):
        super().__init__()
        if mode not in WINDOW_NORMS:
            raise ValueError(f"window_norm must be one of {', '.join(WINDOW_NORMS)}, got {mode!r}")
        self.mode = mode
        self.size = {"none": 0, "center": n_features, "standardize": 2 * n_features}[mode]  # values added to the code

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, window, n_features)` -> (normalised windows, statistics `(batch, size)`)."""
        if self.mode == "none":
            return x, x.new_zeros((len(x), 0))
        mean = x.mean(dim=1)  # (batch, n_features)
        if self.mode == "center":
            return x - mean[:, None], mean
        std = x.std(dim=1, unbiased=False).clamp_min(WINDOW_STD_FLOOR)
        return (x - mean[:, None]) / std[:, None], torch.cat([mean, std.log()], dim=1)

    def restore(self, x: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """Normalised windows back to the scaled units, from the statistics `split` gave."""
        if self.mode == "none":
            return x
        n_features = x.shape[2]
        mean = stats[:, :n_features]
        if self.mode == "center":
            return x + mean[:, None]
        return x * stats[:, n_features:].exp()[:, None] + mean[:, None]


class LSTMSeq2Seq(nn.Module):
    """LSTM sequence-to-sequence autoencoder.

    encoder LSTM -> last hidden state -> linear to `latent_dim` -> decoder LSTM -> linear back to
    the sensors. The decoder reads the code at every step (`repeat`, the RepeatVector decoder), or
    the code and the previous step's reading (`teacher_forcing`: the true previous reading in
    training, its own previous output when scoring or decoding a code, one step at a time).
    With `window_norm` other than `none` the net sees each window with its mean (and spread)
    taken out (`WindowNorm`); the code is then the `latent_dim` values and those statistics
    (`code_size`).
    """

    def __init__(self, n_features: int, hidden_size: int = 64, latent_dim: int = 16,
                 num_layers: int = 1, dropout: float = 0.0, decoder: str = "repeat", window_norm: str = "none"):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        self.latent_dim, self.decoder_kind = latent_dim, decoder
        self.norm = WindowNorm(window_norm, n_features)
        self.code_size = latent_dim + self.norm.size
        self.encoder = _lstm(n_features, hidden_size, num_layers, dropout)
        self.to_latent = nn.Linear(hidden_size, latent_dim)
        feedback = n_features if decoder == "teacher_forcing" else 0
        self.decoder = _lstm(latent_dim + feedback, hidden_size, num_layers, dropout)
        self.output = nn.Linear(hidden_size, n_features)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x, stats = self.norm.split(x)
        _, (h, _) = self.encoder(x)  # h: (num_layers, batch, hidden)
        return torch.cat([self.to_latent(h[-1]), stats], dim=1)  # (batch, code_size)

    def decode(self, z: torch.Tensor, window_size: int, teacher: torch.Tensor | None = None) -> torch.Tensor:
        """Windows `(batch, window, n_features)` from codes `(batch, code_size)`; `teacher`: the
        normalised windows whose previous steps a teacher-forcing decoder reads (training)."""
        code, stats = z[:, :self.latent_dim], z[:, self.latent_dim:]
        repeated = code.unsqueeze(1).expand(-1, window_size, -1)  # (batch, window, latent_dim)
        if self.decoder_kind == "repeat":
            out, _ = self.decoder(repeated)  # (batch, window, hidden)
            return self.norm.restore(self.output(out), stats)  # (batch, window, n_features)
        n_features = self.output.out_features
        if teacher is not None:
            previous = torch.cat([teacher.new_zeros(len(z), 1, n_features), teacher[:, :-1]], dim=1)
            out, _ = self.decoder(torch.cat([repeated, previous], dim=2))
            return self.norm.restore(self.output(out), stats)
        step = z.new_zeros(len(z), 1, n_features)
        state, steps = None, []
        for t in range(window_size):  # free-running: each step reads the one before
            out, state = self.decoder(torch.cat([repeated[:, t:t + 1], step], dim=2), state)
            step = self.output(out)  # (batch, 1, n_features)
            steps.append(step)
        return self.norm.restore(torch.cat(steps, dim=1), stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encode(x)
        teacher = self.norm.split(x)[0] if self.training and self.decoder_kind == "teacher_forcing" else None
        return self.decode(z, x.shape[1], teacher)


class LSTMVAENet(nn.Module):
    """Recurrent variational autoencoder.

    encoder LSTM -> mean and log-variance of a `latent_dim` Gaussian -> reparameterised sample ->
    repeated over the window -> decoder LSTM -> per-step Gaussian mean and log-variance per sensor.
    With `learn_variance=False` the decoder's variance is fixed at 1 (log-variance 0).
    """

    # Bounds on the decoder's log-variance: keeps the likelihood finite on a perfectly fitted step.
    MIN_LOGVAR, MAX_LOGVAR = -7.0, 7.0

    def __init__(self, n_features: int, hidden_size: int = 64, latent_dim: int = 16,
                 num_layers: int = 1, dropout: float = 0.0, learn_variance: bool = True):
        super().__init__()
        self.learn_variance = learn_variance
        self.encoder = _lstm(n_features, hidden_size, num_layers, dropout)
        self.to_mean = nn.Linear(hidden_size, latent_dim)
        self.to_logvar = nn.Linear(hidden_size, latent_dim)
        self.decoder = _lstm(latent_dim, hidden_size, num_layers, dropout)
        self.out_mean = nn.Linear(hidden_size, n_features)
        self.out_logvar = nn.Linear(hidden_size, n_features) if learn_variance else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, (h, _) = self.encoder(x)
        return self.to_mean(h[-1]), self.to_logvar(h[-1])  # (batch, latent_dim) each

    def decode(self, z: torch.Tensor, window_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        repeated = z.unsqueeze(1).expand(-1, window_size, -1)
        out, _ = self.decoder(repeated)  # (batch, window, hidden)
        mean = self.out_mean(out)  # (batch, window, n_features)
        if self.out_logvar is None:
            return mean, torch.zeros_like(mean)
        logvar = self.out_logvar(out).clamp(self.MIN_LOGVAR, self.MAX_LOGVAR)
        return mean, logvar

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                sample: bool = True):
        """Returns `(x_mean, x_logvar, z_mean, z_logvar)`; `sample=False` decodes the mean latent."""
        z_mean, z_logvar = self.encode(x)
        z = reparameterise(z_mean, z_logvar, generator) if sample else z_mean
        x_mean, x_logvar = self.decode(z, x.shape[1])
        return x_mean, x_logvar, z_mean, z_logvar


class DenseAE(nn.Module):
    """Dense autoencoder on flattened windows: (window × features) -> hidden -> latent -> back."""

    def __init__(self, n_features: int, window_size: int, hidden_size: int = 64,
                 latent_dim: int = 16, dropout: float = 0.0):
        super().__init__()
        self.n_features, self.window_size = n_features, window_size
        flat = n_features * window_size
        self.encoder = nn.Sequential(
            nn.Linear(flat, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, latent_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, flat)
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (batch, latent_dim)

    def decode(self, z: torch.Tensor, window_size: int) -> torch.Tensor:
        return self.decoder(z).view(len(z), window_size, self.n_features)  # (batch, window, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x.shape[1])


class ConvAE(nn.Module):
    """1-D convolutional autoencoder over time (two stride-2 convolutions down, two up), with a
    linear bottleneck: a window is encoded to exactly `latent_dim` values.

    The convolutions have the shape of SKAB's Conv-AE (32 then 16 channels, kernel 7); their
    `latent_dim` channels × `steps` (window / 4, rounded up) are mapped linearly to the `latent_dim`
    code and back. The output is cropped back to the window length, so any `window_size` works.
    """

    def __init__(self, n_features: int, window_size: int, hidden_size: int = 32, latent_dim: int = 16,
                 kernel_size: int = 7, dropout: float = 0.0):
        super().__init__()
        pad = kernel_size // 2
        self.latent_dim = latent_dim
        self.steps = _conv_length(_conv_length(window_size, kernel_size, pad), kernel_size, pad)
        self.encoder = nn.Sequential(
            nn.Conv1d(n_features, hidden_size, kernel_size, stride=2, padding=pad), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(hidden_size, latent_dim, kernel_size, stride=2, padding=pad), nn.ReLU(),
        )
        self.to_latent = nn.Linear(latent_dim * self.steps, latent_dim)
        self.from_latent = nn.Linear(latent_dim, latent_dim * self.steps)
        self.decoder = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose1d(latent_dim, latent_dim, kernel_size, stride=2, padding=pad, output_padding=1),
            nn.ReLU(), nn.Dropout(dropout),
            nn.ConvTranspose1d(latent_dim, hidden_size, kernel_size, stride=2, padding=pad, output_padding=1),
            nn.ReLU(),
            nn.Conv1d(hidden_size, n_features, kernel_size, padding=pad),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x.transpose(1, 2))  # (batch, latent_dim, steps)
        return self.to_latent(h.flatten(1))  # (batch, latent_dim)

    def decode(self, z: torch.Tensor, window_size: int) -> torch.Tensor:
        h = self.from_latent(z).view(len(z), self.latent_dim, self.steps)  # (batch, latent_dim, steps)
        out = self.decoder(h)[:, :, :window_size]  # (batch, n_features, window)
        return out.transpose(1, 2)  # (batch, window, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x.shape[1])


class LSTMForecastNet(nn.Module):
    """LSTM over the first `window - 1` rows of a window -> linear -> the window's last row."""

    def __init__(self, n_features: int, hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lstm = _lstm(n_features, hidden_size, num_layers, dropout)
        self.head = nn.Linear(hidden_size, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, window, n_features)` -> the forecast of the last row, `(batch, n_features)`."""
        _, (h, _) = self.lstm(x[:, :-1])  # h: (num_layers, batch, hidden)
        return self.head(h[-1])


def _conv_length(length: int, kernel_size: int, pad: int, stride: int = 2) -> int:
    """Output length of a strided convolution over `length` steps."""
    return (length + 2 * pad - kernel_size) // stride + 1


def reparameterise(mean: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mean + sigma * eps with eps ~ N(0, I): a sample the gradient flows through."""
    # Drawn where the generator lives (the CPU), then moved: a GPU fit draws the CPU's numbers.
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
    return mean + torch.exp(0.5 * logvar) * eps


def reconstruction_loss(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error of an autoencoder's reconstruction of `inputs` against `targets`."""
    return torch.nn.functional.mse_loss(net(inputs), targets)


def forecast_loss(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the forecast of each window's last row."""
    return torch.nn.functional.mse_loss(net(inputs), targets[:, -1])


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Element-wise squared reconstruction error, same shape as `x`."""
    return (x_hat - x).square()


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Element-wise -log N(x | mean, exp(logvar)), same shape as `x`."""
    return 0.5 * (LOG_2PI + logvar + (x - mean).square() * torch.exp(-logvar))


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) in closed form, summed over the latent: `(batch,)`."""
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def elbo_loss(x: torch.Tensor, x_mean: torch.Tensor, x_logvar: torch.Tensor,
              z_mean: torch.Tensor, z_logvar: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Negative ELBO per window element, averaged over the batch.

    (sum of the reconstruction NLL over the window + beta * KL) / (window_size * n_features), so
    its scale matches the autoencoders' mean squared error and does not move with the window.
    """
    n_elements = x.shape[1] * x.shape[2]
    nll = gaussian_nll(x, x_mean, x_logvar).sum(dim=(1, 2))  # (batch,)
    return ((nll + beta * gaussian_kl(z_mean, z_logvar)) / n_elements).mean()
