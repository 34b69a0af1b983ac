"""An LSTM forecaster: a detector whose score is how badly the next reading was predicted.

Each window of `window_size` rows is read by an LSTM up to its second-to-last row; a linear head
predicts the last row from the LSTM's final state. The element score of a window is the squared
error of that prediction per sensor; with `score_reduction="last"` (the default) each row's score is
the error of the forecast made for it from the rows before it. This is the forecasting head of
TSB-AD's and PyOD's LSTM detectors: a shape that breaks its rhythm is predicted badly even when its
values stay in range, where a reconstruction autoencoder can rebuild such a window from its own
rows.

    frame --scaler_--> windows (batch, window, features) --LSTM over rows 0..w-2--> last hidden
      --linear--> forecast of row w-1 --squared error per sensor--> element scores (the same for every
      step of the window) --"last": the window ending on each row--> normalised, smoothed, summed

The network and its loss are `seqae.nets.LSTMForecastNet` and `nets.forecast_loss`; the class is
registered as `lstm-forecast`.
"""

from __future__ import annotations

import numpy as np
import torch

from seqae import nets
from seqae.detectors.neural import STACKED_LSTM, NeuralDetector
from seqae.params import Integer, Param
from seqae.training import LossFn
from seqae.windows import batched_windows


class LSTMForecaster(NeuralDetector):
    """LSTM next-step forecaster; the score is the squared forecast error of each row.

    Parameters as `LSTMAutoencoder` but `latent_dim`; `window_size` is `window_size - 1` rows of
    context, then the row forecast; `score_reduction` is `last` by default (each row scored by the
    forecast made for it), `mean` gives the mean forecast error of the windows covering the row (a
    forward-looking smoothing).
    """

    model_type = "lstm-forecast"
    net_class = nets.LSTMForecastNet
    batch_quantum = 16  # a window's forecast does not depend on its batch mates (windows.pad_batch)
    scoring_precisions = ("float32",)
    parameters = {
        "window_size": Param(32, Integer(2, message="window_size must be at least 2 (context rows + the row "
                                                    "forecast), got {value!r}"),
                             "rows per window: `window_size - 1` rows of context, then the row forecast."),
        **STACKED_LSTM,
    }
    defaults = {"score_reduction": "last"}

    def _net_args(self, n_features):
        return {"n_features": int(n_features), "hidden_size": int(self.hidden_size),
                "num_layers": int(self.num_layers), "dropout": float(self.dropout)}

    def _training_loss(self) -> LossFn:
        return nets.forecast_loss

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
