"""seqae: learn what normal multi-sensor sequences look like, flag what is not, say which sensors moved."""

import os

# torch's OpenMP threads spin while they wait for each other. When another process keeps a core
# busy, they spin against it: on two cores with one other busy process, fitting an LSTM-AE on 400
# SKAB rows took 211 s instead of 5 s with passive waiting. Passive waiting makes two threads
# slower than one (35k vs 47k rows/s alone, 36k vs 44k beside a busy process, benchmarks/README.md's
# thread table), so the CLI also uses one thread unless told otherwise (`seqae --threads`).
# OpenMP reads this once, when torch loads; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from seqae.data import Scaler, read_sensor_csv
from seqae.detectors import (DETECTORS, BaseDetector, ConvAutoencoder, DenseAutoencoder, Detection,
                             DeviationDetector, LSTMAutoencoder, LSTMVAE, PCADetector, make_detector)
from seqae.errors import ConfigError, DataError, DataWarning, NotFittedError, SeqaeError, TrainingError
from seqae.thresholds import (FalseAlarmRateThreshold, FixedThreshold, PeaksOverThreshold,
                              QuantileThreshold, Threshold, UpperControlLimit, flags_to_intervals,
                              make_threshold, parse_threshold)

__version__ = "0.1.0"

__all__ = [
    "BaseDetector", "ConfigError", "ConvAutoencoder", "DETECTORS", "DataError", "DataWarning",
    "DenseAutoencoder", "Detection", "DeviationDetector", "FalseAlarmRateThreshold", "FixedThreshold",
    "LSTMAutoencoder", "LSTMVAE", "NotFittedError", "PCADetector", "PeaksOverThreshold", "QuantileThreshold",
    "Scaler", "SeqaeError", "Threshold", "TrainingError", "UpperControlLimit", "flags_to_intervals",
    "make_detector", "make_threshold", "parse_threshold", "read_sensor_csv", "__version__",
]
