"""The estimators users hold: fit on normal data, then score, flag, explain and save.

    base.py        BaseDetector: fit, detect, alerts, checks, the declared shared parameters
    detection.py   Detection: what one scoring pass yields
    inputs.py      the checks a detector's input passes
    registry.py    DETECTORS (model type -> class) and make_detector
    persistence.py save and load: config.json + weights.pt
    scoring.py     the public scoring stages: element scores, normaliser, contributions, smoothing
    neural.py      the torch detectors: LSTM-AE, LSTM-VAE, dense and conv autoencoders
    baselines.py   PCA on windows and the level baseline (deviation)
    forest.py      the isolation forest and its tree walker
    neighbours.py  the distance of each window to its nearest normal windows (knn-window)
    forecast.py    the LSTM next-step forecaster (lstm-forecast)
    ensemble.py    the mean of several detectors' normalised scores (ensemble)
"""

from seqae.detectors.base import BaseDetector
from seqae.detectors.parameters import (NORMALIZATIONS, NORMALIZE_SOURCES, SCORE_PRECISIONS, SCORE_REDUCTIONS,
                                        THRESHOLD_SOURCES)
from seqae.detectors.detection import Detection, RawScores
from seqae.detectors.registry import DETECTORS, make_detector, name_model_types
from seqae.detectors.neural import (AutoencoderDetector, ConvAutoencoder, DenseAutoencoder, LSTMAutoencoder, LSTMVAE,
                                    NeuralDetector)
from seqae.detectors.baselines import DeviationDetector, PCADetector  # noqa: E402  (registry order)
from seqae.detectors.forest import IsolationForestDetector  # noqa: E402
from seqae.detectors.neighbours import NearestWindowsDetector  # noqa: E402
from seqae.detectors.forecast import LSTMForecaster  # noqa: E402
from seqae.detectors.ensemble import EnsembleDetector  # noqa: E402

name_model_types()  # every family is registered now

__all__ = [
    "DETECTORS", "NORMALIZATIONS", "NORMALIZE_SOURCES", "SCORE_PRECISIONS", "SCORE_REDUCTIONS", "THRESHOLD_SOURCES",
    "AutoencoderDetector", "BaseDetector", "ConvAutoencoder", "DenseAutoencoder", "Detection", "DeviationDetector",
    "EnsembleDetector", "IsolationForestDetector", "LSTMAutoencoder", "LSTMForecaster", "LSTMVAE",
    "NearestWindowsDetector", "NeuralDetector", "PCADetector", "RawScores", "make_detector",
]
