"""An LSTM forecaster: a detector whose score is how badly the next reading was predicted.

Each window of `window_size` rows is read by an LSTM up to its second-to-last row; a linear head
predicts the last row from the LSTM's final state. The element score of a window is the squared
error of that prediction per sensor; with `score_reduction="last"` (the default) each row's score is
the error of the forecast made for it from the rows before it. This is the forecasting head of
TSB-AD's and PyOD's LSTM detectors, which is what makes them strong on periodic physiological
signals (UCR), where a shape that breaks its rhythm is predicted badly even when its values stay in
range; a reconstruction autoencoder can rebuild such a window from its own rows.

    frame --scaler_--> windows (batch, window, features) --LSTM over rows 0..w-2--> last hidden
      --linear--> forecast of row w-1 --squared error per sensor--> element scores (the same for every
      step of the window) --"last": the window ending on each row--> normalised, smoothed, summed

The network and its loss are `seqae.nets.LSTMForecastNet` and `nets.forecast_loss`. The class is in
`seqae.detectors.DETECTORS` as `lstm-forecast` once this module is imported
(`import seqae.detectors`; BaseDetector registers every subclass), so `make_detector("lstm-forecast")` and `BaseDetector.load`
find it.
"""

from __future__ import annotations

import numpy as np
import torch

from seqae import nets
from seqae.detectors.neural import NeuralDetector
from seqae.params import Integer
from seqae.thresholds import Threshold
from seqae.windows import batched_windows


class LSTMForecaster(NeuralDetector):
    """LSTM next-step forecaster; the score is the squared forecast error of each row.

    Args:
        window_size: rows per window: `window_size - 1` rows of context, then the row forecast
            (at least 2).
        hidden_size: LSTM hidden units.
        num_layers: stacked LSTM layers; dropout applies between them.
        score_reduction: `last` (default: each row scored by the forecast made for it) or `mean`
            (the mean forecast error of the windows covering the row: a forward-looking smoothing).
        Other arguments as LSTMAutoencoder.
    """

    model_type = "lstm-forecast"
    batch_quantum = 16  # a window's forecast does not depend on its batch mates (windows.pad_batch)
    scoring_precisions = ("float32",)
    parameter_constraints = {
        "window_size": Integer(2, message="window_size must be at least 2 (context rows + the row forecast), "
                                          "got {value!r}"),
    }

    def __init__(self, window_size: int = 32, hidden_size: int = 64, num_layers: int = 1,
                 dropout: float = 0.0, epochs: int = 30, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 0.0, grad_clip: float = 1.0,
                 patience: int = 5, rise_patience: int = 0, rise_tolerance: float = 0.05,
                 validation_fraction: float = 0.2, noise_std: float = 0.0,
                 max_epoch_windows: int | None = None, max_validation_windows: int | None = None,
                 train_stride: int = 1, score_stride: int = 1, score_reduction: str = "last",
                 normalization: str = "robust", normalize_on: str = "validation",
                 scaling: str = "standard", smoothing: int = 1, threshold: Threshold | None = None,
                 threshold_on: str = "validation", random_state: int | None = None, verbose: bool = False,
                 device: str = "auto"):
        self.window_size = window_size
        self.hidden_size = hidden_size
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
        return {"n_features": int(n_features), "hidden_size": int(self.hidden_size),
                "num_layers": int(self.num_layers), "dropout": float(self.dropout)}

    def _build_net(self, **args):
        return nets.LSTMForecastNet(**args)

    def _loss(self, net, inputs, targets):
        return nets.forecast_loss(net, inputs, targets)

    def _window_scores(self, windows: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            error = (self.net_(windows) - windows[:, -1]) ** 2  # (batch, n_features)
        # every step of the window carries the forecast's error; "last" keeps the window ending on a row
        return error[:, None, :].expand(-1, windows.shape[1], -1).cpu().numpy()

    def forecast(self, X) -> np.ndarray:
        """The forecast of each row from the `window_size - 1` rows before it, in the data's units,
        `(n_windows, n_features)` for the rows `window_size - 1` onwards."""
        self.check_fitted()
        values, _ = self.check_input(X)
        scaled = self.scaler_.transform(values)
        out = []
        with torch.inference_mode():
            for windows, _ in batched_windows(scaled, self.window_size, 1, self.score_batch_size()):
                out.append(self.net_(windows.to(self.compute_device())).cpu().numpy())
        return self.scaler_.inverse_transform(np.concatenate(out))
