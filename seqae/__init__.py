"""seqae: learn what normal multi-sensor sequences look like, flag what is not, say which sensors moved."""

from seqae.data import Scaler, read_sensor_csv
from seqae.detectors import (DETECTORS, BaseDetector, ConvAutoencoder, DenseAutoencoder, Detection,
                             LSTMAutoencoder, LSTMVAE, PCADetector, make_detector)
from seqae.errors import ConfigError, DataError, NotFittedError, SeqaeError, TrainingError
from seqae.thresholds import (FalseAlarmRateThreshold, FixedThreshold, PeaksOverThreshold,
                              QuantileThreshold, Threshold, UpperControlLimit, flags_to_intervals,
                              make_threshold, parse_threshold)

__version__ = "0.1.0"

__all__ = [
    "BaseDetector", "ConfigError", "ConvAutoencoder", "DETECTORS", "DataError", "DenseAutoencoder",
    "Detection", "FalseAlarmRateThreshold", "FixedThreshold", "PeaksOverThreshold", "LSTMAutoencoder", "LSTMVAE", "NotFittedError", "PCADetector",
    "QuantileThreshold", "Scaler", "SeqaeError", "Threshold", "TrainingError", "UpperControlLimit",
    "__version__", "flags_to_intervals", "make_detector", "make_threshold", "parse_threshold",
    "read_sensor_csv",
]
