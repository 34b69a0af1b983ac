"""A textbook PyTorch LSTM autoencoder for anomaly detection: the reference seqae is measured against.

Written the way tutorials and most notebooks write it, plainly and correctly: a `Dataset` of
materialised windows, a shuffling `DataLoader`, a per-batch Python loop with `loss.item()` each step,
a validation pass per epoch that keeps the best weights, and scoring one window at a time.

The network is the architecture of `seqae.nets.LSTMSeq2Seq` (encoder LSTM -> last hidden state ->
linear to the latent -> repeated over the window -> decoder LSTM -> linear to the sensors), trained
with the same optimiser settings as seqae's defaults (Adam, learning rate 1e-3, gradient norm clipped
at 1), so that a benchmark compares engineering, not modelling.

The score of a time point is the mean, over the windows covering it, of that step's squared error
averaged over the sensors: the textbook reconstruction-error score.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class WindowDataset(Dataset):
    """Every window of a series, copied out once: `(n_windows, window_size, n_features)`."""

    def __init__(self, values: np.ndarray, window_size: int):
        self.windows = np.stack(
            [values[i:i + window_size] for i in range(len(values) - window_size + 1)]
        ).astype(np.float32)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor(self.windows[i])


class LSTMAutoencoder(nn.Module):
    def __init__(self, n_features: int, hidden_size: int = 64, latent_dim: int = 16):
        super().__init__()
        self.encoder = nn.LSTM(n_features, hidden_size, batch_first=True)
        self.to_latent = nn.Linear(hidden_size, latent_dim)
        self.decoder = nn.LSTM(latent_dim, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.encoder(x)
        z = self.to_latent(h[-1])
        repeated = z.unsqueeze(1).repeat(1, x.shape[1], 1)
        out, _ = self.decoder(repeated)
        return self.output(out)


class TextbookDetector:
    """Fit on normal rows, then score rows; standardised with the training rows' mean and std."""

    def __init__(self, window_size: int = 32, hidden_size: int = 64, latent_dim: int = 16,
                 epochs: int = 30, batch_size: int = 64, learning_rate: float = 1e-3,
                 validation_fraction: float = 0.2, seed: int = 0):
        self.window_size = window_size
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.seed = seed

    def fit(self, values: np.ndarray) -> "TextbookDetector":
        self.mean = values.mean(axis=0)
        self.std = values.std(axis=0) + 1e-8
        scaled = (values - self.mean) / self.std
        n_val = int(len(scaled) * self.validation_fraction)
        self.train_model(scaled[:len(scaled) - n_val], scaled[len(scaled) - n_val:])
        # Threshold: 99th percentile of the scores of the held-out validation rows.
        self.threshold = float(np.quantile(self._point_scores(scaled[len(scaled) - n_val:]), 0.99))
        return self

    def train_model(self, train_part: np.ndarray, validation_part: np.ndarray) -> None:
        """The epoch loop on standardised rows; keeps the weights of the best validation epoch."""
        torch.manual_seed(self.seed)
        train_loader = DataLoader(WindowDataset(train_part, self.window_size),
                                  batch_size=self.batch_size, shuffle=True)
        val_loader = DataLoader(WindowDataset(validation_part, self.window_size), batch_size=self.batch_size)

        self.model = LSTMAutoencoder(train_part.shape[1], self.hidden_size, self.latent_dim)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.learning_rate)
        criterion = nn.MSELoss()
        best_loss, best_state = float("inf"), None
        self.train_losses, self.val_losses = [], []
        for epoch in range(self.epochs):
            self.model.train()
            train_loss = 0.0
            for batch in train_loader:
                optimizer.zero_grad()
                output = self.model(batch)
                loss = criterion(output, batch)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optimizer.step()
                train_loss += loss.item() * len(batch)
            self.train_losses.append(train_loss / len(train_loader.dataset))

            self.model.eval()
            val_loss = 0.0
            with torch.no_grad():
                for batch in val_loader:
                    val_loss += criterion(self.model(batch), batch).item() * len(batch)
            val_loss /= len(val_loader.dataset)
            self.val_losses.append(val_loss)
            if val_loss < best_loss:
                best_loss, best_state = val_loss, copy.deepcopy(self.model.state_dict())
        self.model.load_state_dict(best_state)

    def score(self, values: np.ndarray) -> np.ndarray:
        """One score per row of `values`; higher = more anomalous."""
        return self._point_scores((values - self.mean) / self.std)

    def predict(self, values: np.ndarray) -> np.ndarray:
        return (self.score(values) > self.threshold).astype(int)

    def _point_scores(self, scaled: np.ndarray) -> np.ndarray:
        self.model.eval()
        n = len(scaled)
        sums, counts = np.zeros(n), np.zeros(n)
        with torch.no_grad():
            for i in range(n - self.window_size + 1):
                window = torch.tensor(scaled[i:i + self.window_size], dtype=torch.float32).unsqueeze(0)
                error = ((self.model(window) - window) ** 2).mean(dim=2)[0].numpy()  # (window,)
                sums[i:i + self.window_size] += error
                counts[i:i + self.window_size] += 1
        return sums / counts
